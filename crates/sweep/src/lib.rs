//! The sweep engine: grid files, jobs, the parallel runner, results, ranking and reports, used by the `sweep` binary.

pub mod best;
pub mod claims;
pub mod cli;
pub mod commands;
pub mod download;
pub mod grid;
pub mod k8s;
pub mod report;
pub mod results;
pub mod runner;
pub mod shard;
pub mod slurm;
