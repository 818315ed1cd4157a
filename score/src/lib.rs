//! The pure scheduling engine.

pub mod quantity;
pub mod rng;
