//! Uniform random draws from the sweep seed: one stream, draw by draw, axis by axis.

use rand::Rng;

use super::Sampler;

pub struct Random;

impl Sampler for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn about(&self) -> &'static str {
        "`samples` configurations drawn at random from the sweep seed"
    }

    fn unit_points(&self, n: usize, dims: usize, seed: u64) -> Option<Vec<Vec<f64>>> {
        let mut rng = sweep_core::rng::rng_for(seed, "search-samples");
        Some((0..n).map(|_| (0..dims).map(|_| rng.gen::<f64>()).collect()).collect())
    }
}
