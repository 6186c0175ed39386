//! Drawing configurations from the axes: a static sampler's points in the unit cube, mapped to each axis's values.

use sweep_core::TrainConfig;

use crate::config::grid::Axis;
use crate::config::params::{Param, Value as PValue};

use super::Sampler;

/// A value of `axis` at quantile `u` in [0, 1): list items uniformly, ranges log-uniformly or uniformly.
fn pick(axis: &Axis, u: f64) -> PValue {
    let u = u.clamp(0.0, 1.0 - f64::EPSILON);
    let Some((lo, hi)) = axis.range else {
        let i = ((u * axis.values.len() as f64) as usize).min(axis.values.len() - 1);
        return axis.values[i];
    };
    let p: &Param = axis.param;
    let x = if p.is_integer() {
        // Whole numbers with equal mass per number (linear) or per factor (log), both ends included.
        let (a, b) = (lo.round(), hi.round());
        let v = if axis.log {
            (a.ln() + u * ((b + 1.0).ln() - a.ln())).exp().floor()
        } else {
            a + (u * (b - a + 1.0)).floor()
        };
        v.clamp(a, b)
    } else {
        let v = if axis.log {
            (lo.ln() + u * (hi.ln() - lo.ln())).exp()
        } else {
            lo + u * (hi - lo)
        };
        // 12 significant digits, as for spaced grid values: readable ids, CSV and plots.
        format!("{v:.11e}").parse::<f64>().unwrap_or(v).clamp(lo, hi)
    };
    // The bounds passed the parameter's checks, and every value between them does too.
    p.number(x).unwrap_or(PValue::Num(x))
}

/// `n` configurations drawn from the axes on top of `base`, in sample order. Draws that repeat one another are all
/// returned: the grid keeps one job per training ([`crate::config::expand`]). Draw `i` depends only on the seed, the
/// axes and `i`, so raising `n` keeps the first `n` draws (a sweep can grow).
pub fn sample_configs(base: &TrainConfig, axes: &[Axis], sampler: &dyn Sampler, n: usize, seed: u64) -> Vec<TrainConfig> {
    let points = sampler.unit_points(n, axes.len(), seed).unwrap_or_default();
    points
        .into_iter()
        .map(|u| {
            let mut c = base.clone();
            for (axis, u) in axes.iter().zip(u) {
                axis.param.set(&mut c, pick(axis, u));
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::config::grid::Grid;
    use crate::search::SAMPLERS;

    fn grid(text: &str) -> Grid {
        Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_same_file_gives_the_same_samples_and_log_samples_cover_the_range() {
        for method in ["random", "sobol"] {
            let text = format!(
                "seed = 7\n[data]\nsource = \"toy\"\n[search]\nmethod = \"{method}\"\nsamples = 400\n[grid]\n\
                 learning_rate = {{ log = [1e-4, 1.0] }}\nhidden_size = {{ log = [8, 64] }}\nreg = {{ linear = [0.0, 0.01] }}\nlr_decay = [0.9, 0.95, 1.0]\n"
            );
            let a = grid(&text).jobs().unwrap();
            let b = grid(&text).jobs().unwrap();
            assert_eq!(a, b, "{method}: same file, same jobs");
            assert_eq!(a.len(), 400, "{method}: continuous draws do not repeat");
            let other = grid(&text.replace("seed = 7", "seed = 8")).jobs().unwrap();
            assert_ne!(
                a[0].config.learning_rate, other[0].config.learning_rate,
                "{method}: the seed matters"
            );
            let lrs: Vec<f64> = a.iter().map(|j| j.config.learning_rate).collect();
            assert!(lrs.iter().all(|&x| (1e-4..=1.0).contains(&x)), "{method}: in range");
            // Log-uniform: each decade of the four gets about a quarter; both ends are reached.
            for d in 0..4 {
                let (lo, hi) = (10f64.powi(d - 4), 10f64.powi(d - 3));
                let k = lrs.iter().filter(|&&x| x >= lo && x < hi).count();
                assert!((70..=130).contains(&k), "{method}: decade {lo}..{hi} has {k} of 400");
            }
            assert!(
                lrs.iter().any(|&x| x < 1.5e-4) && lrs.iter().any(|&x| x > 0.7),
                "{method}: both ends"
            );
            let hs: HashSet<usize> = a.iter().map(|j| j.config.hidden_size).collect();
            assert!(
                hs.contains(&8) && hs.contains(&64) && hs.iter().all(|h| (8..=64).contains(h)),
                "{method}: {hs:?}"
            );
            let regs: Vec<f64> = a.iter().map(|j| j.config.reg).collect();
            assert!(regs.iter().all(|&r| (0.0..=0.01).contains(&r)));
            assert!(regs.iter().filter(|&&r| r < 0.005).count() > 150, "{method}: linear is uniform");
            let decays: HashSet<u64> = a.iter().map(|j| j.config.lr_decay.to_bits()).collect();
            assert_eq!(decays.len(), 3, "{method}: every listed value drawn");
        }
    }

    #[test]
    fn sobol_points_are_better_spread_than_random_ones() {
        // 64 points in 1-D: a scrambled Sobol sequence puts exactly one point in each 1/64 cell.
        let text = |m: &str| {
            format!("[data]\nsource = \"toy\"\n[search]\nmethod = \"{m}\"\nsamples = 64\n[grid]\nreg = {{ linear = [0.0, 1.0] }}\n")
        };
        let cells = |m: &str| {
            let jobs = grid(&text(m)).jobs().unwrap();
            jobs.iter().map(|j| (j.config.reg * 64.0) as usize).collect::<HashSet<_>>().len()
        };
        assert_eq!(cells("sobol"), 64);
        assert!(cells("random") < 64);
    }

    #[test]
    fn list_only_samples_are_deduplicated() {
        let g = grid(
            "[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 50\n[grid]\nlearning_rate = [0.1, 0.2]\nreg = [0.0, 0.1]\n",
        );
        let jobs = g.jobs().unwrap();
        assert_eq!(jobs.len(), 4, "four distinct configurations at most");
        let ids: HashSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids.len(), 4);
    }

    /// Raising `samples` keeps every earlier draw, so a sampled sweep can grow into the same results directory.
    #[test]
    fn more_samples_keep_the_first_ones() {
        let axes = grid("[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 3\n[grid]\nreg = { linear = [0.0, 1.0] }\nhidden_size = [8, 16]\n").axes;
        for sampler in SAMPLERS.into_iter().filter(|s| s.unit_points(1, 1, 0).is_some()) {
            let few = sample_configs(&TrainConfig::default(), &axes, sampler, 5, 9);
            let many = sample_configs(&TrainConfig::default(), &axes, sampler, 12, 9);
            assert_eq!(few[..], many[..5], "{}", sampler.name());
        }
    }
}
