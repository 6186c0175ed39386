//! sweep-core: the two-layer network, CIFAR-10 data, training (SGD and other optimizers, with pause and continue),
//! gradient checks and checkpoints that `sweep` runs.
//!
//! This crate prints nothing and has no CLI: progress goes through [`train::Observer`], errors are typed.

pub mod checkpoint;
pub mod cost;
pub mod data;
pub mod error;
pub mod fused;
pub mod gradcheck;
pub mod linalg;
pub mod network;
pub mod optim;
pub mod rng;
pub mod state;
pub mod train;

pub use checkpoint::{Checkpoint, Model};
pub use data::{DataSpec, Dataset};
pub use error::{CheckpointError, ConfigError, DataError, TrainError};
pub use network::{Init, Params, TwoLayerNet};
pub use optim::Optimizer;
pub use train::{History, LrSchedule, Status, TrainConfig, TrainOutcome, TrainState, Trainer, ValidConfig};

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
