//! The sweep engine, used by the `sweep` binary (whose thin commands live in `src/commands/`). Its folders are its
//! architecture:
//!
//! * [`config`]: the hyperparameter table and grid files, checked into jobs.
//! * [`search`]: how configurations are chosen and how long each trains: sampling, the schedule of brackets and
//!   rungs, and the rung decisions.
//! * [`run`]: the runner that trains a schedule's jobs on worker threads, and the training states it keeps.
//! * [`results`]: the results directory, its on-disk format, the per-process writers and the ranking (`best`).
//! * [`cluster`]: many processes on one sweep: per-job claims, shards, Slurm job arrays, Kubernetes Indexed Jobs.
//! * [`report`]: the HTML report; [`download`]: the CIFAR-10 download; [`error`]: every error, in one place.

pub mod cluster;
pub use sweep_grid as config;
pub mod download;
pub mod error;
pub use sweep_report as report;
pub use sweep_results as results;
pub mod run;
pub use sweep_params::text;
pub use sweep_search as search;
pub use sweep_serve as server;
