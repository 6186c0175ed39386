//! `sweep plan`: the jobs of a grid, the settings they share, the total work and the time it will take here, without
//! running anything (the estimate is `sweep_runner::ops::plan`'s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::ops::plan::PlanArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Parallel jobs to plan for, as `sweep run --workers` [default: all cores; at most 1024].
    #[arg(long, short = 'j')]
    pub workers: Option<usize>,
    /// The GPUs to plan a command sweep with `[command] gpus` for, as `sweep run --gpus` (e.g. 0,1,3).
    #[arg(long, value_name = "IDS")]
    pub gpus: Option<String>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    Ok(sweep_runner::ops::plan::plan(&PlanArgs {
        grid: args.grid.clone(),
        workers: args.workers,
        gpus: args.gpus.clone(),
    })?)
}
