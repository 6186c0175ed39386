//! `sweep predict`: the class of images, with a checkpoint. Prints a header, then one tab-separated line per image: the
//! file, the predicted class and the probability the model gives that class (0 to 1).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use sweep_core::Model;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Checkpoint (e.g. results/cifar/best.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Image files (JPEG or PNG); an image of another size than the model's input (32x32 for CIFAR-10) is scaled to
    /// it with a Catmull-Rom (bicubic) filter.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// The header line: the columns are tab-separated, and the number is a probability (the softmax of the model's scores
/// for the class it predicts), not a score or a percentage.
pub const HEADER: &str = "image\tclass\tprobability";

pub fn exec(args: &Args) -> Result<ExitCode> {
    let model = Model::load(&args.model)?;
    let paths: Vec<&Path> = args.images.iter().map(PathBuf::as_path).collect();
    let (predictions, resized) = model.predict_files(&paths)?;
    if let Some((h, w)) = sweep_core::data::image_size(&model.meta.input_shape) {
        for p in resized {
            tracing::info!("{}: resized to the model's input, {w}x{h}", p.display());
        }
    }
    println!("{HEADER}");
    for (p, pred) in paths.iter().zip(predictions) {
        println!("{}\t{}\t{:.4}", p.display(), pred.class_name, pred.probabilities[pred.class_id]);
    }
    Ok(ExitCode::SUCCESS)
}
