//! `sweep finish DIR`: once every shard of a sweep is done, evaluates the overall best on the test split (once)
//! and writes the report. The last step of a Slurm array (a job with `--dependency=afterok`) or of an Indexed Job.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::ops::finish::FinishArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results directory shared by the shards (`sweep run --out DIR`).
    pub dir: PathBuf,
    /// Data path, overriding the grid's [data] path (needed for the test split).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Do not write the HTML report.
    #[arg(long)]
    pub no_report: bool,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    Ok(sweep_runner::ops::finish::finish(&FinishArgs {
        dir: args.dir.clone(),
        data: args.data.clone(),
        no_report: args.no_report,
    })?)
}
