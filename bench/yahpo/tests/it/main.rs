//! The Rust side of the LCBench benchmark: the surrogate's numbers, and the in-process replay against a real `sweep
//! run` of the same command sweep (needs the `sweep` binary beside this test's: `cargo test --workspace` builds it).

mod replay;
mod surrogate;
