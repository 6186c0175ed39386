//! Many processes on one sweep: per-job claims on the shared results directory ([`claims`]), which jobs a shard
//! runs ([`shard`]), and the Slurm job-array script and Kubernetes manifests that start them ([`slurm`], [`k8s`]).

pub use sweep_results::{claims, identity};
pub mod k8s;
pub mod shard;
pub mod slurm;
