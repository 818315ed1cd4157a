//! End-to-end tests live in `tests/tests/e2e/`, one test binary (`main.rs`
//! names a module per file).
