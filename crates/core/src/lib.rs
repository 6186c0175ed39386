//! sweep-core: the two-layer network, CIFAR-10 data, training (SGD and other optimizers, with pause and continue),
//! gradient checks and checkpoints that `sweep` runs.
//!
//! This crate prints nothing and has no CLI: progress goes through [`train::Observer`], errors are typed.

pub mod checkpoint;
pub mod cost;
pub mod data;
mod error;
mod file;
pub mod fused;
pub mod gradcheck;
pub mod linalg;
pub mod network;
pub mod optim;
pub mod rng;
mod state;
pub mod train;

// The surface most users need, in one place: a model and its file, the data, the network, training and its state,
// and every error the crate returns (all defined in the private `error` module).
pub use checkpoint::{Checkpoint, Model, ModelMeta, Prediction};
pub use data::{DataSpec, Dataset};
pub use error::{CheckpointError, ConfigError, DataError, FormatError, FuseError, OptimStateError, ShapeError, TrainError, CIFAR10_HINT};
pub use fused::FusedTrainer;
pub use linalg::Precision;
pub use network::{Init, Params, TwoLayerNet};
pub use optim::Optimizer;
pub use train::{
    check_data, train, Control, EpochRecord, History, LrSchedule, Observer, PointRecord, Quiet, Status, TrainConfig, TrainData,
    TrainOutcome, TrainState, Trainer, ValidConfig,
};

/// The floating-point types the network runs in: f32 for training, f64 for checks.
pub trait Scalar:
    num_traits::Float
    + num_traits::NumAssign
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + std::iter::Sum
    + std::fmt::Debug
    + std::fmt::Display
    + Send
    + Sync
    + 'static
{
}

impl Scalar for f32 {}
impl Scalar for f64 {}
