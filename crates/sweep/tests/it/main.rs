//! The `sweep` binary's integration tests, one test binary with a module per area (linked once): the real binary
//! run on real grids, data, programs, a browser, Slurm and HTTP clients.

mod chaos;
mod cli;
mod cluster;
#[cfg(target_os = "linux")]
mod command_process;
#[cfg(target_os = "linux")]
mod command_sweep;
#[allow(dead_code)]
mod common;
mod download;
mod fuse;
#[cfg(target_os = "linux")]
mod gpus;
mod grid_input;
mod grow;
#[cfg(target_os = "linux")]
mod objectives;
#[cfg(target_os = "linux")]
mod objectives_report;
mod precision;
mod publish;
mod report;
mod robust;
mod search;
mod serve;
mod slurm;
