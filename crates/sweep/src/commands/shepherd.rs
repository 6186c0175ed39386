//! `sweep __shepherd -- PROGRAM ARGS...` (hidden): the process that leads one run of a command trial's program, started
//! by sweep itself with a socket on its stdin. See `sweep_runner::run::process` for what it guarantees.

use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_parser = clap::value_parser!(OsString))]
    pub argv: Vec<OsString>,
}

pub fn exec(args: &Args) -> anyhow::Result<ExitCode> {
    Ok(sweep_runner::run::process::shepherd_main(&args.argv))
}
