//! `sweep report`: draw a results directory's figures into DIR/report/index.html.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A results directory (with results.csv).
    pub dir: PathBuf,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let index = sweep_report::write_report(&args.dir)?;
    println!("report: {}", index.display());
    Ok(ExitCode::SUCCESS)
}
