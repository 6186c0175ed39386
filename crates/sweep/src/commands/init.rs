//! `sweep init`: a commented grids/cifar.toml and an empty results/ in the current directory.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing grids/cifar.toml.
    #[arg(long)]
    pub force: bool,
}

/// The grid `sweep init` writes (the shipped sweeps/cifar.toml with its data path chosen for this directory).
const CIFAR_GRID: &str = include_str!("../../../../sweeps/cifar.toml");

pub fn exec(args: &Args) -> Result<ExitCode> {
    let grid_path = Path::new("grids/cifar.toml");
    if grid_path.exists() && !args.force {
        bail!("{} already exists; pass --force to overwrite it", grid_path.display());
    }
    let data = if Path::new("../shared/cifar10").is_dir() {
        "../shared/cifar10"
    } else {
        "data/cifar-10-batches-bin"
    };
    let text = CIFAR_GRID.replace("path = \"../shared/cifar10\"", &format!("path = \"{data}\""));
    std::fs::create_dir_all("grids").context("cannot create grids/ in the current directory")?;
    std::fs::create_dir_all("results").context("cannot create results/ in the current directory")?;
    sweep_core::checkpoint::write_atomic(grid_path, text.as_bytes()).with_context(|| format!("cannot write {}", grid_path.display()))?;
    println!("wrote {} (data: {data}) and results/", grid_path.display());
    if !Path::new(data).exists() {
        println!("CIFAR-10 is not at {data} yet: `sweep run grids/cifar.toml --download` fetches it.");
    }
    println!("next: sweep run grids/cifar.toml   then: sweep best results/");
    Ok(ExitCode::SUCCESS)
}
