//! Owen-scrambled Sobol points (the `sobol_burley` crate), scrambled by the sweep seed: better spread than random
//! draws for the same number of samples.

use super::Sampler;

pub struct Sobol;

impl Sampler for Sobol {
    fn name(&self) -> &'static str {
        "sobol"
    }

    fn about(&self) -> &'static str {
        "`samples` points of the Owen-scrambled Sobol sequence, scrambled by the sweep seed"
    }

    fn unit_points(&self, n: usize, dims: usize, seed: u64) -> Option<Vec<Vec<f64>>> {
        let scramble = sweep_core::rng::derive_seed(seed, "sobol") as u32;
        Some(
            (0..n)
                .map(|i| {
                    (0..dims)
                        .map(|d| f64::from(sobol_burley::sample(i as u32, d as u32, scramble)))
                        .collect()
                })
                .collect(),
        )
    }
}
