//! `sweep data fetch`: download and unpack a data set, checking its checksum.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::download::{fetch_cifar10, Expected, FetchOptions, OFFICIAL_URL};
use sweep_runner::run::stderr_is_terminal;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Download and unpack a data set (only cifar10), checking its checksum.
    Fetch(FetchArgs),
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Which data set.
    #[arg(value_parser = ["cifar10"])]
    pub dataset: String,
    /// Where to unpack it.
    #[arg(default_value = "data/cifar-10-batches-bin")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub source: Source,
}

/// Where an archive comes from; shared with `sweep run --download`.
#[derive(Debug, Clone, clap::Args)]
pub struct Source {
    /// Archive URL.
    #[arg(long, env = "SWEEP_CIFAR10_URL", default_value = OFFICIAL_URL, hide_default_value = true)]
    pub url: String,
    /// Expected SHA-256 of the archive at --url [default: the official archive's].
    #[arg(long, env = "SWEEP_CIFAR10_SHA256")]
    pub sha256: Option<String>,
}

impl Source {
    /// Download options into `dest`: the given SHA-256, or else the official archive's size and checksums (a mirror
    /// given with --url serves the same file).
    pub fn options(&self, dest: PathBuf) -> FetchOptions {
        FetchOptions {
            url: self.url.clone(),
            dest,
            expected: self
                .sha256
                .as_ref()
                .map_or_else(Expected::official, |s| Expected::sha256(s.clone())),
            progress: stderr_is_terminal(),
        }
    }
}

pub fn exec(cmd: &Command) -> Result<ExitCode> {
    match cmd {
        Command::Fetch(args) => {
            let dest = fetch_cifar10(&args.source.options(args.dir.clone()))?;
            println!("CIFAR-10 is in {}", dest.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
