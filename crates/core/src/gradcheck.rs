//! Numeric gradient check: analytic gradients against centered finite differences, per parameter (the report's Table I).

use ndarray::{Array2, ArrayView2};

use crate::network::{Params, TwoLayerNet};

/// Max relative error per parameter, `max |a - n| / max(1e-8, |a| + |n|)` over its entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    pub w1: f64,
    pub b1: f64,
    pub w2: f64,
    pub b2: f64,
}

impl GradCheck {
    /// (name, error) rows in the report's order.
    pub fn rows(&self) -> [(&'static str, f64); 4] {
        [("W1", self.w1), ("b1", self.b1), ("W2", self.w2), ("b2", self.b2)]
    }
    /// The largest error of the four.
    pub fn max(&self) -> f64 {
        self.rows().iter().map(|r| r.1).fold(0.0, f64::max)
    }
}

fn rel_error(a: &[f64], n: &[f64]) -> f64 {
    a.iter()
        .zip(n)
        .map(|(a, n)| (a - n).abs() / (a.abs() + n.abs()).max(1e-8))
        .fold(0.0, f64::max)
}

/// The parameter `which` (0 W1, 1 b1, 2 W2, 3 b2) as a flat slice.
fn flat(p: &mut Params<f64>, which: usize) -> &mut [f64] {
    let s = match which {
        0 => p.w1.as_slice_mut(),
        1 => p.b1.as_slice_mut(),
        2 => p.w2.as_slice_mut(),
        _ => p.b2.as_slice_mut(),
    };
    s.expect("parameters are contiguous")
}

/// Centered finite differences of the total loss with step `h`, for every parameter entry.
pub fn numeric_grads(net: &TwoLayerNet<f64>, x: ArrayView2<'_, f64>, y: &[u8], reg: f64, h: f64) -> Params<f64> {
    let mut probe = net.clone();
    let mut out = net.params.clone();
    for which in 0..4 {
        for i in 0..flat(&mut probe.params, which).len() {
            let old = flat(&mut probe.params, which)[i];
            flat(&mut probe.params, which)[i] = old + h;
            let plus = probe.loss_and_grads(x, y, reg).0.total;
            flat(&mut probe.params, which)[i] = old - h;
            let minus = probe.loss_and_grads(x, y, reg).0.total;
            flat(&mut probe.params, which)[i] = old;
            flat(&mut out, which)[i] = (plus - minus) / (2.0 * h);
        }
    }
    out
}

/// Per-parameter max relative error between two gradients.
pub fn compare(analytic: &Params<f64>, numeric: &Params<f64>) -> GradCheck {
    let (mut a, mut n) = (analytic.clone(), numeric.clone());
    let err = |w: usize, a: &mut Params<f64>, n: &mut Params<f64>| rel_error(flat(a, w), flat(n, w));
    GradCheck {
        w1: err(0, &mut a, &mut n),
        b1: err(1, &mut a, &mut n),
        w2: err(2, &mut a, &mut n),
        b2: err(3, &mut a, &mut n),
    }
}

/// Compares `net`'s analytic gradients on `(x, y, reg)` with centered differences of step `h`.
pub fn grad_check(net: &TwoLayerNet<f64>, x: ArrayView2<'_, f64>, y: &[u8], reg: f64, h: f64) -> GradCheck {
    let (_, analytic) = net.loss_and_grads(x, y, reg);
    compare(&analytic, &numeric_grads(net, x, y, reg, h))
}

/// A random small problem drawn from `seed` (the report used N=5, D=4, H=10, C=3): net, inputs and labels.
pub fn random_problem(seed: u64, n: usize, d: usize, h: usize, c: usize) -> (TwoLayerNet<f64>, Array2<f64>, Vec<u8>) {
    use rand::Rng;
    use rand_distr::{Distribution, Normal};
    let mut rng = crate::rng::rng_for(seed, "gradcheck");
    let mut net = TwoLayerNet::<f64>::new(d, h, c, crate::Init::Std(0.5), &mut rng);
    let normal = Normal::new(0.0, 1.0).expect("valid normal");
    net.params.b1.mapv_inplace(|_| 0.1 * normal.sample(&mut rng));
    net.params.b2.mapv_inplace(|_| 0.1 * normal.sample(&mut rng));
    let x = Array2::from_shape_simple_fn((n, d), || normal.sample(&mut rng));
    let y = (0..n).map(|_| rng.gen_range(0..c) as u8).collect();
    (net, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_gradients_match_finite_differences_on_random_small_nets() {
        for seed in 0..10 {
            let (net, x, y) = random_problem(seed, 5, 4, 10, 3);
            let r = grad_check(&net, x.view(), &y, 0.05, 1e-5);
            for (name, err) in r.rows() {
                assert!(err < 1e-7, "seed {seed}: {name} relative error {err:e}");
            }
        }
    }

    #[test]
    fn a_gradient_missing_its_regularization_term_is_caught() {
        let (net, x, y) = random_problem(1, 5, 4, 10, 3);
        let (_, mut analytic) = net.loss_and_grads(x.view(), &y, 0.05);
        analytic.w1 = &analytic.w1 - &(&net.params.w1 * 0.05); // the bug: forgetting reg * W1
        let r = compare(&analytic, &numeric_grads(&net, x.view(), &y, 0.05, 1e-5));
        assert!(r.w1 > 1e-3, "{r:?}");
        assert!(r.b1 < 1e-7 && r.w2 < 1e-7 && r.b2 < 1e-7, "{r:?}");
    }
}
