//! `sweep eval`: accuracy of a checkpoint on a split of a data set.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::ValueEnum;
use sweep_core::data::{self, DataSpec, DEFAULT_VAL_SIZE};
use sweep_core::Model;

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
    let model = Model::load(&args.model)?;
    // The train/val split is re-drawn as it was in training: flags, else what the checkpoint recorded.
    let recorded = model.meta.data_split.as_ref();
    let spec = DataSpec {
        val_size: args.val_size.or(recorded.map(|s| s.val_size)).unwrap_or(DEFAULT_VAL_SIZE),
        train_size: None,
        test_size: None,
        seed: args.seed.or(recorded.map(|s| s.seed)).unwrap_or(0),
    };
    let ds = data::load(&args.data, &spec)?;
    if ds.class_names != model.meta.class_names || ds.input_size() != model.net.input_size() {
        bail!(
            "{} does not fit the data at {}: model classes {:?} with {} inputs, data classes {:?} with {} inputs",
            args.model.display(),
            args.data.display(),
            model.meta.class_names,
            model.net.input_size(),
            ds.class_names,
            ds.input_size()
        );
    }
    let as_trained = recorded.is_some_and(|r| (r.seed, r.val_size) == (spec.seed, spec.val_size));
    if args.split != Split::Test && !as_trained {
        tracing::warn!(
            "the {:?} split is drawn with seed {} and val_size {}, not as recorded for this model ({}): \
             it may contain images the model was trained on",
            args.split,
            spec.seed,
            spec.val_size,
            recorded.map_or("nothing recorded".to_string(), |r| format!(
                "seed {}, val_size {}",
                r.seed, r.val_size
            ))
        );
    }
    let (x, y) = match args.split {
        Split::Train => (&ds.x_train, &ds.y_train),
        Split::Val => (&ds.x_val, &ds.y_val),
        Split::Test => (&ds.x_test, &ds.y_test),
    };
    // The data were centred with their own training mean; re-centre with the model's.
    let shift = &ds.mean - &model.mean;
    let x = x + &shift;
    let acc = model.net.accuracy(x.view(), y);
    println!("{:?} accuracy: {:.2}% ({} images)", args.split, 100.0 * acc, y.len());
    Ok(ExitCode::SUCCESS)
}
