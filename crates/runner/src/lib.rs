//! Runs sweeps: the runner that trains a search's units on worker threads and records each as it ends, its backends
//! (the built-in network, alone and fused; a user's program as a command trial), the training states it keeps, and
//! what many processes on one sweep need (shards, Slurm job arrays, Kubernetes Indexed Jobs), plus the CIFAR-10
//! download. The binary's commands call it; it reads grids (`sweep-grid`), asks the search (`sweep-search`) what to
//! run, and writes the results directory (`sweep-results`).
//!
//! * [`run`]: the runner, its scheduler (the search's sampler and fidelity scheduler together) and backends.
//! * [`cluster`]: shards, Slurm job arrays, Kubernetes Indexed Jobs.
//! * [`devices`]: the GPUs a command sweep finds, and each running trial's own share of them.
//! * [`ops`]: the operations the commands call (run, finish, plan), as cargo's `ops`.
//! * [`download`]: the CIFAR-10 download; [`error`]: the errors of these.

pub mod cluster;
pub mod devices;
pub mod download;
pub mod error;
pub mod ops;
pub mod run;
