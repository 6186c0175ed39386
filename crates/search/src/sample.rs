//! Drawing configurations from the axes: a static sampler's points in the unit cube, mapped to each axis's values.

use sweep_core::TrainConfig;

use sweep_params::params::{Param, Value as PValue};
use sweep_params::Axis;

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
/// returned: the grid keeps one job per training (the grid's expansion). Draw `i` depends only on the seed, the
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
