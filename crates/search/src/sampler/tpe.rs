//! The Tree-structured Parzen Estimator ([`crate::tpe`], Optuna's `TPESampler` defaults) as a sampler:
//! `batch` configurations at a time, each batch from every trial recorded before it.

use super::Sampler;
use crate::tpe::{self, Dim, Observation, Point};

pub struct Tpe;

impl Sampler for Tpe {
    fn name(&self) -> &'static str {
        "tpe"
    }

    fn about(&self) -> &'static str {
        "model-based: a Tree-structured Parzen Estimator proposes `batch` configurations at a time from every trial \
         recorded before"
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
        tpe::propose(space, observed, n, seed, batch, taken)
    }
}
