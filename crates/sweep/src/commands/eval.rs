//! `sweep eval`: accuracy of a checkpoint on a split of a data set.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;
use sweep_runner::ops::eval::{EvalArgs, Split as OpsSplit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint (e.g. results/cifar/best.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Data path (binary dir, .tar.gz or image folder).
    #[arg(long, default_value = "../shared/cifar10")]
    pub data: PathBuf,
    /// Which split to score; train and val are re-drawn as in training (the checkpoint records how).
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Validation images held out [default: as recorded in the checkpoint, else 10000].
    #[arg(long)]
    pub val_size: Option<usize>,
    /// Seed of the train/val split [default: as recorded in the checkpoint, else 0].
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let split = match args.split {
        Split::Train => OpsSplit::Train,
        Split::Val => OpsSplit::Val,
        Split::Test => OpsSplit::Test,
    };
    Ok(sweep_runner::ops::eval::eval(&EvalArgs {
        model: args.model.clone(),
        data: args.data.clone(),
        split,
        val_size: args.val_size,
        seed: args.seed,
    })?)
}
