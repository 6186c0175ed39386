//! Minibatch training (SGD or the optimizers of [`crate::optim`]) with a per-epoch learning-rate schedule, dropout and
//! augmentation: history, best-epoch parameters, divergence detection, an observer, and pause/continue through
//! [`Trainer`] and [`TrainState`].
//!
//! Randomness: the network's initialization and dropout masks come from the job's `seed`; the data order, the
//! train-accuracy sample and the augmentation draws from `shuffle_seed` (shared by all jobs of a sweep). Every draw
//! is seeded by (seed, epoch[, iteration]) alone, never by a stream consumed since the start, so a run can continue
//! from any saved state exactly.
//!
//! The parts: `config` (the hyperparameters, their check and the learning-rate schedules), `observe` (records,
//! status, the observer), `batches` (the data a run reads and its seeded draws), `trainer` (the training loop);
//! the state a run pauses in lives in [`crate::state`], the fused training of several jobs in [`crate::fused`].

mod batches;
mod config;
mod observe;
mod trainer;

#[cfg(test)]
mod continuation;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::state::TrainState;
pub(crate) use batches::{batching, epoch_order, gather_batch};
pub use batches::{check_data, TrainData, TRAIN_ACC_SAMPLE};
pub(crate) use config::epoch_lr;
pub use config::{LrSchedule, TrainConfig, ValidConfig, MAX_CROP};
pub use observe::{Control, EpochRecord, History, Observer, PointRecord, Quiet, Status, TrainOutcome};
pub use trainer::{train, Trainer, DIVERGENCE_FACTOR};
