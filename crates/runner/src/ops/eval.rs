//! `sweep eval`: a saved model's accuracy on the train, validation or test split.

use std::path::PathBuf;
use std::process::ExitCode;

use sweep_core::data::{self, DataSpec, DEFAULT_VAL_SIZE};
use sweep_core::Model;

use super::{input, Result};

/// Which split to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

/// What `sweep eval` was asked.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    pub model: PathBuf,
    pub data: PathBuf,
    pub split: Split,
    /// Validation images held out (default: as recorded in the checkpoint).
    pub val_size: Option<usize>,
    /// Seed of the train/val split (default: as recorded in the checkpoint).
    pub seed: Option<u64>,
}

/// `sweep eval`: the accuracy of a saved model on a split of the data, drawn as in its training.
pub fn eval(args: &EvalArgs) -> Result<ExitCode> {
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
        return Err(input!(
            "{} does not fit the data at {}: model classes {:?} with {} inputs, data classes {:?} with {} inputs",
            args.model.display(),
            args.data.display(),
            model.meta.class_names,
            model.net.input_size(),
            ds.class_names,
            ds.input_size()
        ));
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
    println!("{:?} accuracy: {:.2} % ({} images)", args.split, 100.0 * acc, y.len());
    Ok(ExitCode::SUCCESS)
}
