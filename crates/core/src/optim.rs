//! Optimizers and their state.

use crate::network::Params;
use crate::train::TrainConfig;

/// What an optimizer carries from step to step: the step count and up to two per-parameter buffers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimState {
    /// Steps taken so far.
    pub step: u64,
    /// First buffer: the momentum buffer (momentum, nesterov) or the first moment (adam, adamw).
    pub m: Option<Params<f32>>,
    /// Second buffer: the second moment (adam, adamw).
    pub v: Option<Params<f32>>,
}

impl OptimState {
    /// The buffers in file order.
    pub fn buffers(&self) -> [Option<&Params<f32>>; 2] {
        [self.m.as_ref(), self.v.as_ref()]
    }

    /// Whether the buffers present are those the config's optimizer keeps.
    pub fn check_fits(&self, _cfg: &TrainConfig) -> Result<(), String> {
        if self.m.is_some() || self.v.is_some() {
            return Err("plain SGD keeps no buffers".into());
        }
        Ok(())
    }
}
