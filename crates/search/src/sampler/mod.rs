//! Samplers: what to try. A sampler either draws its configurations before the sweep runs (the grid's product, random
//! or Sobol points: [`Sampler::unit_points`]) or proposes them in batches from the trials recorded before
//! ([`Sampler::propose`], TPE). Each is one file behind this trait; [`crate::SAMPLERS`] lists them, and
//! `[search]` picks one by name.

pub mod grid;
pub mod mtpe;
pub mod random;
pub mod sobol;
pub mod tpe;

use super::tpe::{Dim, Observation, Point};

/// What to try.
pub trait Sampler {
    /// Its name in `[search] sampler` (and `method`).
    fn name(&self) -> &'static str;

    /// What it does, for `SETTINGS` and messages.
    fn about(&self) -> &'static str;

    /// Points of `[0, 1)^dims` for draws `0..n`, quantiles of each axis; draw `i` depends only on `seed` and `i`, so
    /// raising `n` keeps the first draws. `None`: the sampler does not draw (the grid's product, or proposals).
    fn unit_points(&self, _n: usize, _dims: usize, _seed: u64) -> Option<Vec<Vec<f64>>> {
        None
    }

    /// Whether it proposes its configurations as trials are recorded (in batches), rather than before the sweep.
    fn is_adaptive(&self) -> bool {
        false
    }

    /// A batch of up to `n` new points of `space` from exactly `observed` (adaptive samplers), its random draws from
    /// `(seed, batch)`; never one for which `taken` is true. Fewer than `n` when the space is exhausted.
    fn propose(
        &self,
        _space: &[Dim],
        _observed: &[Observation],
        _n: usize,
        _seed: u64,
        _batch: u64,
        _taken: &mut dyn FnMut(&[f64]) -> bool,
    ) -> Vec<Point> {
        Vec::new()
    }
}
