//! Synthetic z2jh-like clusters.
