//! Multivariate TPE ([`crate::tpe`] with [`crate::tpe::OPTUNA5`]: Optuna 5's `TPESampler`): one kernel per trial over
//! every dimension at once, so values that went together are proposed together, and the constant liar within a
//! batch, so a batch's points spread out instead of repeating the model's best guess.

use super::Sampler;
use crate::tpe::{self, Dim, Observation, Point};

pub struct MultiTpe;

impl Sampler for MultiTpe {
    fn name(&self) -> &'static str {
        "mtpe"
    }

    fn about(&self) -> &'static str {
        "model-based: multivariate TPE (Optuna 5's), proposing `batch` configurations at a time from every trial \
         recorded before, each point of a batch counted as a bad trial while the next is chosen"
    }

    fn is_adaptive(&self) -> bool {
        true
    }

    fn propose(
        &self,
        space: &[Dim],
        observed: &[Observation],
        n: usize,
        seed: u64,
        batch: u64,
        taken: &mut dyn FnMut(&[f64]) -> bool,
    ) -> Vec<Point> {
        tpe::propose_with(&tpe::OPTUNA5, space, observed, n, seed, batch, taken)
    }
}
