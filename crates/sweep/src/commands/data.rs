//! `sweep data fetch`: download and unpack a data set, checking its checksum.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_runner::download::{fetch_cifar10, OFFICIAL_URL};

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
    /// The runner's form of these flags.
    pub fn to_ops(&self) -> sweep_runner::download::Source {
        sweep_runner::download::Source {
            url: self.url.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

pub fn exec(cmd: &Command) -> Result<ExitCode> {
    match cmd {
        Command::Fetch(args) => {
            let dest = fetch_cifar10(&args.source.to_ops().options(args.dir.clone()))?;
            println!("CIFAR-10 is in {}", dest.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
