//! Many processes on one sweep: which jobs a shard runs ([`shard`]), and the Slurm job-array script and Kubernetes
//! manifests that start them ([`slurm`], [`k8s`]). The per-job claims they share are the results directory's
//! (`sweep_results::claims`).

pub mod k8s;
pub mod shard;
pub mod slurm;
