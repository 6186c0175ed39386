//! The sweep engine: grid files and the parameter table, jobs, the parallel runner, the results directory and its
//! format, ranking, reports and the CIFAR-10 download, used by the `sweep` binary (whose commands live in
//! `src/commands/`). `claims`, `shard`, `slurm` and `k8s` are the building blocks of running one sweep as many
//! processes (per-job claims, shards, job-array and Indexed-Job manifests), and `writers` how several processes'
//! rows and best models meet in one results directory.

pub mod best;
pub mod claims;
pub mod download;
pub mod error;
pub mod format;
pub mod grid;
pub mod k8s;
pub mod params;
pub mod report;
pub mod results;
pub mod runner;
pub mod search;
pub mod shard;
pub mod slurm;
pub mod states;
pub mod text;
pub mod writers;
