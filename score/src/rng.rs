//! A small seedable random number generator.
