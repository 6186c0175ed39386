//! `sweep slurm GRID --tasks N`: the sbatch script of a job array running the sweep as N shards (printed, or
//! submitted with the finishing job).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::ops::slurm::SlurmArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Array tasks (shards), run as `--array=0-(N-1)`.
    #[arg(long)]
    pub tasks: usize,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task, in Slurm's syntax (e.g. 02:00:00); SIGUSR1 comes 120 s before it.
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task, and so workers per task.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// At most this many tasks at once (`%M`).
    #[arg(long)]
    pub max_running: Option<usize>,
    /// Memory per task (e.g. 8G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Results directory, shared by every node [default: results/<name from the grid>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path; must be readable on every node.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Submit the array and the finishing job with sbatch and print their job ids, instead of printing the script.
    #[arg(long)]
    pub submit: bool,
    /// GPUs per task, requested as `--gres=gpu:N` [default: what one trial asks for, when the grid's [command] sets
    /// `gpus`]. Each task runs as many trials at once as its devices allow.
    #[arg(long, value_name = "N")]
    pub gpus_per_task: Option<usize>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    Ok(sweep_runner::ops::slurm::slurm(&SlurmArgs {
        grid: args.grid.clone(),
        tasks: args.tasks,
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        max_running: args.max_running,
        mem: args.mem.clone(),
        out: args.out.clone(),
        data: args.data.clone(),
        submit: args.submit,
        gpus_per_task: args.gpus_per_task,
    })?)
}
