//! `sweep run`: every job of a grid file, resuming a partly finished sweep in the same directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::cluster::shard::{ShardSpec, SHARD_COUNT_ENV};
use sweep_runner::ops::run::RunArgs;
use sweep_runner::run::DEFAULT_FUSE;

use super::data::Source;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the sweep ran (or resumed) to its end; 2 for a mistake in the input (the \
grid, a flag, the data path, the output directory); 3 when it ran to its end and every job failed (fix the cause, \
then run it again with --retry-failed); 130 when stopped by Ctrl-C or SIGTERM (run the same command to resume)."
)]
pub struct Args {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Output directory [default: results/<name from the grid>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path (binary dir, .tar.gz or image folder).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Parallel jobs [default: all cores; at most 1024].
    #[arg(long, short = 'j')]
    pub workers: Option<usize>,
    /// Train up to K jobs together when they share the minibatches and the hidden size: one GEMM for all their
    /// first layers, results bit-identical to training each alone. 1 turns it off.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_FUSE)]
    pub fuse: usize,
    /// Download CIFAR-10 to the data path if it does not exist (from --url).
    #[arg(long)]
    pub download: bool,
    #[command(flatten)]
    pub source: Source,
    /// Also write the HTML report at the end.
    #[arg(long)]
    pub report: bool,
    /// Run only shard I of N (I/N, from 0), a cost-balanced part of the jobs; `auto` reads it from a Slurm array
    /// task or a Kubernetes Indexed Job. The best's test accuracy is then left to `sweep finish DIR`.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<ShardSpec>,
    /// The number of shards for `--shard auto` in a Kubernetes Indexed Job (its `completions`); unused without
    /// --shard.
    #[arg(long, env = SHARD_COUNT_ENV)]
    pub shard_count: Option<usize>,
    /// Run the jobs recorded as failed again (not pruned or diverged ones); their new rows replace the old. Run it
    /// while no other process writes the results directory.
    #[arg(long)]
    pub retry_failed: bool,
    /// The GPUs a command sweep with `[command] gpus` gives its trials (e.g. 0,1,3), instead of those found
    /// (CUDA_VISIBLE_DEVICES, else HIP_VISIBLE_DEVICES, else nvidia-smi -L).
    #[arg(long, value_name = "IDS")]
    pub gpus: Option<String>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    Ok(sweep_runner::ops::run::run(&RunArgs {
        grid: args.grid.clone(),
        out: args.out.clone(),
        data: args.data.clone(),
        workers: args.workers,
        fuse: args.fuse,
        download: args.download,
        source: args.source.to_ops(),
        report: args.report,
        shard: args.shard,
        shard_count: args.shard_count,
        retry_failed: args.retry_failed,
        gpus: args.gpus.clone(),
    })?)
}
