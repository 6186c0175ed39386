//! One file per `sweep` command, as cargo's `src/bin/cargo/commands/`: each holds its flags (clap) and a thin `exec`
//! that turns them into work on the library and prints the result.

pub mod best;
pub mod data;
pub mod eval;
pub mod finish;
pub mod gradcheck;
pub mod init;
pub mod k8s;
pub mod plan;
pub mod predict;
pub mod report;
pub mod run;
pub mod serve;
#[cfg(unix)]
pub mod shepherd;
pub mod slurm;
pub mod train;
