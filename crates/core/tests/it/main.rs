//! sweep-core's integration tests, one test binary with a module per area: data loading, dropout and optimizers
//! against PyTorch fixtures, the f64 oracle, and checkpoints read by Python.

#[allow(dead_code)]
mod common;
mod data;
mod dropout;
mod optim;
mod oracle;
mod python_interop;
