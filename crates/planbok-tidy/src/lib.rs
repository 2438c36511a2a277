//! Nothing to link: this crate exists for `tests/tidy.rs`, the invariants of
//! ARCHITECTURE.md that a test can check by reading the source tree and `cargo metadata`
//! (in the style of rust-analyzer's `xtask/src/tidy.rs`). It runs with
//! `cargo test --workspace`, so a change that breaks one fails CI like any other test.
