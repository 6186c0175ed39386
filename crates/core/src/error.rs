//! Every error of the core library, in one place (re-exported at the crate root), so that the binary can tell a user
//! what went wrong and how to fix it.
//!
//! One policy: errors are typed (no `Result<_, String>` in any public API); a cause is a field named `source`,
//! marked `#[source]` (or `#[from]`), and is never also written into the message: whoever shows the error prints the
//! chain (the binary does, with each message once).

use std::path::PathBuf;

/// Where CIFAR-10 can be had, quoted in every "not found" error.
pub const CIFAR10_HINT: &str = "CIFAR-10 is at https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz \
(`sweep data fetch cifar10 DIR` downloads it), or use an image folder laid out as <root>/{train,test}/<class>/*.jpg";

/// Errors while reading a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data not found: {path}: looked for {looked_for}. {hint}", hint = CIFAR10_HINT)]
    NotFound { path: PathBuf, looked_for: String },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: size {size} bytes is not a whole number of {record}-byte records (1 label byte + 3,072 pixel bytes): the file is truncated or not a CIFAR-10 batch")]
    BadSize { path: PathBuf, size: u64, record: usize },
    #[error("{path}: record {record} has label {label}, but there are only {classes} classes (valid labels 0..={max})", max = classes.saturating_sub(1))]
    LabelOutOfRange {
        path: PathBuf,
        record: usize,
        label: u8,
        classes: usize,
    },
    #[error("{path} is not a readable .tar.gz archive")]
    Archive {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot decode the image")]
    BadImage {
        path: PathBuf,
        #[source]
        source: Box<image::ImageError>,
    },
    #[error(
        "{path}: image is {got_w}x{got_h}, expected {want_w}x{want_h} (the size of the data set's other images, or of the model's input)"
    )]
    ImageSize {
        path: PathBuf,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error(
        "this model's input is not an image (input shape {input_shape:?}): it was trained on the toy data set; predict \
         classifies images with a model trained on CIFAR-10 or an image folder"
    )]
    NotAnImageModel { input_shape: Vec<usize> },
    #[error("{path}: class folder is empty (no .jpg, .jpeg or .png files); remove it or add its images")]
    EmptyClass { path: PathBuf },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{what} = {value} is out of range: {valid}")]
    Split { what: &'static str, value: usize, valid: String },
}

/// An invalid training hyperparameter: names the parameter, the valid range and the value given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} = {value} is invalid: must be {valid}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub valid: &'static str,
}

/// Errors while writing or reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write checkpoint {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read checkpoint {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is there but is not what it should be: `kind` says what (a sweep checkpoint, a training state).
    /// (The cause is boxed to keep every `Result` carrying this error small.)
    #[error("{path} is not a valid {kind}")]
    Format {
        path: PathBuf,
        kind: &'static str,
        #[source]
        source: Box<FormatError>,
    },
}

/// What is wrong inside a file that should be a sweep checkpoint or training state.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a safetensors file")]
    Safetensors {
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("the file has no metadata, so sweep did not write it")]
    NoMetadata,
    #[error("metadata format is `{found}`, expected `{expected}`")]
    Kind { found: String, expected: &'static str },
    #[error("format_version {found} is not supported (this build reads {supported})")]
    Version { found: String, supported: String },
    #[error("metadata lacks `{key}`")]
    MissingKey { key: &'static str },
    #[error("metadata `{key}` does not parse")]
    BadKey {
        key: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("metadata `{key}` is `{value}`, not a number")]
    NotANumber { key: &'static str, value: String },
    #[error("tensor `{name}` is missing")]
    MissingTensor { name: String },
    #[error("tensor `{name}` is {found}, expected {expected}")]
    Dtype {
        name: String,
        found: String,
        expected: &'static str,
    },
    #[error("tensor `{name}` has shape {shape:?}, expected {expected}")]
    Shape {
        name: String,
        shape: Vec<usize>,
        expected: &'static str,
    },
    #[error("tensors `{prefix}*` do not form a network")]
    Network {
        prefix: String,
        #[source]
        source: ShapeError,
    },
    #[error("the optimizer buffers do not fit the configuration")]
    Optimizer {
        #[source]
        source: OptimStateError,
    },
    /// Values that contradict each other (what is named in the message).
    #[error("{what}")]
    Inconsistent { what: String },
}

/// Parameters whose shapes do not make a two-layer network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("W1 {w1:?}, b1 {b1}, W2 {w2:?}, b2 {b2}: expected W1 (D,H), b1 (H), W2 (H,C), b2 (C), each size at least 1")]
pub struct ShapeError {
    pub w1: (usize, usize),
    pub b1: usize,
    pub w2: (usize, usize),
    pub b2: usize,
}

/// Optimizer buffers that do not belong to an optimizer or to the parameters they are paired with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptimStateError {
    #[error("{optimizer} keeps {wanted} buffers, the state has {found}")]
    Buffers {
        optimizer: &'static str,
        wanted: usize,
        found: usize,
    },
    #[error("the optimizer buffers have other shapes than the parameters")]
    Shapes,
}

/// Errors when starting or continuing a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the training state's configuration is invalid")]
    Config {
        #[from]
        source: ConfigError,
    },
    #[error("the training set is empty")]
    NoData,
    #[error("the training state does not fit the data: {what}: the state has {state_has}, the data have {data_has}")]
    Mismatch {
        what: &'static str,
        state_has: String,
        data_has: String,
    },
    #[error("the training state's W1 has {weights} hidden units, its configuration {config}")]
    HiddenSize { weights: usize, config: usize },
    #[error("the training state's optimizer buffers do not fit it")]
    Optimizer {
        #[source]
        source: OptimStateError,
    },
    #[error("the training state stands at epoch {epoch} iteration {iteration}, but an epoch has {iterations} iterations")]
    Position { epoch: usize, iteration: usize, iterations: usize },
    #[error(
        "flip and crop need images: an input shape [C, H, W] with C*H*W = {inputs} and a mean image of {inputs} \
         values; the data have shape {shape:?} and a mean of {mean} values"
    )]
    NotImages { inputs: usize, shape: Vec<usize>, mean: usize },
    #[error("crop = {crop} must be smaller than the image ({width}x{height})")]
    CropTooLarge { crop: usize, width: usize, height: usize },
}

/// Why jobs cannot be trained together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FuseError {
    #[error("no jobs to train")]
    Empty,
    #[error("job {0} sees other minibatches or has another hidden size than the first job")]
    Key(usize),
    #[error("job {0} stands at another epoch or iteration than the first job")]
    Position(usize),
    #[error("job {0} trains on other data than the first job")]
    Data(usize),
    #[error("only f32 jobs train together (bf16 jobs train alone)")]
    Precision,
}

/// The message of `e` and of each of its causes, joined by ": " (what the binary prints), for tests' assertions.
#[cfg(test)]
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out += &format!(": {c}");
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No message repeats its cause: the chain shows each once.
    #[test]
    fn a_cause_is_never_also_in_the_message() {
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied (os error 13)");
        let config = ConfigError {
            name: "learning_rate",
            value: "-1".into(),
            valid: "a finite number > 0",
        };
        let json = || serde_json::from_str::<u32>("x").unwrap_err();
        let path = PathBuf::from("/r/state/abc.safetensors");
        type Error = Box<dyn std::error::Error>;
        let with_path: [fn(PathBuf, std::io::Error) -> Error; 4] = [
            |path, source| Box::new(DataError::Io { path, source }),
            |path, source| Box::new(DataError::Archive { path, source }),
            |path, source| Box::new(CheckpointError::Write { path, source }),
            |path, source| Box::new(CheckpointError::Read { path, source }),
        ];
        let mut errors: Vec<Error> = with_path.iter().map(|e| e(path.clone(), io())).collect();
        let shapes = ShapeError {
            w1: (4, 3),
            b1: 2,
            w2: (3, 3),
            b2: 3,
        };
        let bad_key = FormatError::BadKey {
            key: "config",
            source: json(),
        };
        errors.push(Box::new(CheckpointError::Format {
            path,
            kind: "sweep training state",
            source: Box::new(bad_key),
        }));
        errors.push(Box::new(FormatError::Network {
            prefix: "best.".into(),
            source: shapes,
        }));
        errors.push(Box::new(FormatError::Optimizer {
            source: OptimStateError::Shapes,
        }));
        errors.push(Box::new(TrainError::Config { source: config }));
        errors.push(Box::new(TrainError::Optimizer {
            source: OptimStateError::Shapes,
        }));
        for e in errors {
            let cause = e.source().expect("has a cause").to_string();
            assert!(!e.to_string().contains(&cause), "{e} repeats its cause {cause}");
            assert!(chain(e.as_ref()).contains(&format!(": {cause}")));
        }
    }

    /// Errors travel inside callers' `Result`s and their own error enums: each stays well under the 128 bytes at
    /// which clippy's `result_large_err` refuses a `Result` (the sweep crate wraps `CheckpointError` in its own).
    #[test]
    fn errors_stay_small() {
        use std::mem::size_of;
        let sizes = [
            ("CheckpointError", size_of::<CheckpointError>()),
            ("DataError", size_of::<DataError>()),
            ("TrainError", size_of::<TrainError>()),
            ("FormatError", size_of::<FormatError>()),
        ];
        for (name, size) in sizes {
            assert!(size <= 80, "{name} takes {size} bytes");
        }
    }
}
