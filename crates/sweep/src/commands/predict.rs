//! `sweep predict`: the class of images, with a checkpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use sweep_core::Model;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint (e.g. results/cifar/best.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Image files (JPEG or PNG of the model's input size).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let model = Model::load(&args.model)?;
    let paths: Vec<&Path> = args.images.iter().map(PathBuf::as_path).collect();
    for (p, pred) in paths.iter().zip(model.predict_files(&paths)?) {
        println!("{}\t{}\t{:.4}", p.display(), pred.class_name, pred.probabilities[pred.class_id]);
    }
    Ok(ExitCode::SUCCESS)
}
