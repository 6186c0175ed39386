//! What a run reports and returns: per-epoch records and the history, how a run ended, and the observer that
//! watches it (the core prints nothing itself).

use serde::{Deserialize, Serialize};

use crate::network::TwoLayerNet;

/// One epoch of the history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// The learning rate used during this epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's iterations.
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
}

/// The model evaluated at any point of a run, mid-epoch too ([`Trainer::evaluate_now`](crate::Trainer::evaluate_now)):
/// where a budget of a fraction of an epoch ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    /// Epochs done, fractional mid-epoch: steps done / steps per epoch (2.5 is half-way through the third epoch).
    pub epoch: f64,
    /// The learning rate of the epoch the point is in (of the last finished epoch at an epoch boundary).
    pub lr: f64,
    /// Mean training loss of that epoch's steps so far (of the whole last epoch at a boundary; NaN before any step).
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
}

/// Loss per iteration and accuracies per epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub iter_loss: Vec<f32>,
    pub epochs: Vec<EpochRecord>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    /// The loss became NaN, infinite, or far above its starting value.
    Diverged,
    /// The observer asked to stop (early stopping or an interrupt).
    Stopped,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::Stopped => "stopped",
        }
    }
}

/// Whether training goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Receives progress; the core prints nothing itself.
pub trait Observer {
    /// After every SGD step; `iteration` counts from 0 over the whole run.
    fn on_iteration(&mut self, _iteration: usize, _loss: f32) -> Control {
        Control::Continue
    }
    /// After every epoch's evaluation.
    fn on_epoch(&mut self, _record: &EpochRecord) -> Control {
        Control::Continue
    }
}

/// An observer that watches nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub status: Status,
    pub history: History,
    /// The epoch (1-based) with the best validation accuracy, if any epoch finished.
    pub best_epoch: Option<usize>,
    pub best_val_acc: f64,
    /// Parameters at the best validation epoch.
    pub best_net: Option<TwoLayerNet<f32>>,
    /// Wall-clock seconds spent training the job, over all its runs ([`TrainState::seconds`](crate::TrainState::seconds)).
    pub seconds: f64,
}
