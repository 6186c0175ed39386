//! The sweep engine: grid files and the parameter table, jobs, the parallel runner, the results directory and its
//! format, ranking, reports and the CIFAR-10 download, used by the `sweep` binary (whose commands live in
//! `src/commands/`).

pub mod best;
pub mod download;
pub mod error;
pub mod format;
pub mod grid;
pub mod params;
pub mod report;
pub mod results;
pub mod runner;
pub mod text;
