//! Typed errors of the core library, so that the binary can tell a user what went wrong and how to fix it.

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
    #[error("{path}: cannot decode image: {reason}")]
    BadImage { path: PathBuf, reason: String },
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
    #[error("{path} is not a valid sweep checkpoint: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// Errors from a shape mismatch between a model and its input.
#[derive(Debug, thiserror::Error)]
#[error("shape mismatch: {0}")]
pub struct ShapeError(pub String);

/// Errors when starting or continuing a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the training state's configuration is invalid: {0}")]
    Config(#[from] ConfigError),
    #[error("the training set is empty")]
    NoData,
    #[error("the training state does not fit the data: {0}")]
    Mismatch(String),
    #[error("cannot augment these data: {0}")]
    Augmentation(String),
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
