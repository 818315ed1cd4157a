//! Placeholder until the benchmark lands in this session.
fn main() {}
