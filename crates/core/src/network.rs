//! The two-layer network of the report (affine-ReLU-affine, softmax loss, L2 on weights): forward pass, loss and analytic gradients.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::ShapeError;
use crate::linalg::{gemm, matmul, rounded_bf16, Parallel, Precision};
use crate::Scalar;

/// How the weights are initialized. Biases always start at zero.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "std")]
pub enum Init {
    /// Kaiming-normal (He et al. 2015): `N(0, 2 / fan_in)`, suited to ReLU.
    #[default]
    Kaiming,
    /// A fixed standard deviation for both weight matrices (the report used 1e-4).
    Std(f64),
}

/// The four parameters (or their gradients): W1 (D,H), b1 (H), W2 (H,C), b2 (C).
#[derive(Debug, Clone, PartialEq)]
pub struct Params<F> {
    pub w1: Array2<F>,
    pub b1: Array1<F>,
    pub w2: Array2<F>,
    pub b2: Array1<F>,
}

/// The loss split into its parts (report eqs. 4-5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss<F> {
    /// Mean softmax cross-entropy over the batch.
    pub data: F,
    /// `0.5 * reg * (sum W1^2 + sum W2^2)`.
    pub reg: F,
    /// `data + reg`.
    pub total: F,
}

/// A two-layer fully connected network.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoLayerNet<F> {
    pub params: Params<F>,
}

impl<F: Scalar> TwoLayerNet<F> {
    /// A network with input size `d`, `h` hidden units and `c` classes, weights drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(d: usize, h: usize, c: usize, init: Init, rng: &mut R) -> Self {
        let draw = |rows: usize, cols: usize, std: f64, rng: &mut R| {
            let normal = Normal::new(0.0f64, std).expect("std is finite and positive");
            Array2::from_shape_simple_fn((rows, cols), || F::from_f64(normal.sample(rng)).expect("f64 converts"))
        };
        let (s1, s2) = match init {
            Init::Kaiming => ((2.0 / d as f64).sqrt(), (2.0 / h as f64).sqrt()),
            Init::Std(s) => (s, s),
        };
        let w1 = draw(d, h, s1, rng);
        let w2 = draw(h, c, s2, rng);
        Self {
            params: Params {
                w1,
                b1: Array1::zeros(h),
                w2,
                b2: Array1::zeros(c),
            },
        }
    }

    /// Builds a network from parameters, checking that their shapes agree.
    pub fn from_params(params: Params<F>) -> Result<Self, ShapeError> {
        let (d, h) = params.w1.dim();
        let (h2, c) = params.w2.dim();
        if params.b1.len() != h || h2 != h || params.b2.len() != c || d == 0 || h == 0 || c == 0 {
            return Err(ShapeError {
                w1: params.w1.dim(),
                b1: params.b1.len(),
                w2: params.w2.dim(),
                b2: params.b2.len(),
            });
        }
        Ok(Self { params })
    }

    pub fn input_size(&self) -> usize {
        self.params.w1.nrows()
    }
    pub fn hidden_size(&self) -> usize {
        self.params.w1.ncols()
    }
    pub fn num_classes(&self) -> usize {
        self.params.w2.ncols()
    }

    /// Class scores (N,C) for inputs `x` (N,D) (report eqs. 1-3).
    pub fn scores(&self, x: ArrayView2<'_, F>) -> Array2<F> {
        let p = &self.params;
        let mut a = matmul(&x, &p.w1);
        relu_with_bias(&mut a, p.b1.view());
        let mut s = matmul(&a, &p.w2);
        s += &p.b2;
        s
    }

    /// Predicted class per row, computed in chunks so that memory stays bounded for large inputs.
    pub fn predict(&self, x: ArrayView2<'_, F>) -> Vec<usize> {
        let mut out = Vec::with_capacity(x.nrows());
        for chunk in x.axis_chunks_iter(Axis(0), 1000) {
            let s = self.scores(chunk);
            out.extend(s.rows().into_iter().map(argmax));
        }
        out
    }

    /// Fraction of rows of `x` whose predicted class is `y`.
    pub fn accuracy(&self, x: ArrayView2<'_, F>, y: &[u8]) -> f64 {
        if y.is_empty() {
            return 0.0;
        }
        let pred = self.predict(x);
        let correct = pred.iter().zip(y).filter(|(p, &t)| **p == t as usize).count();
        correct as f64 / y.len() as f64
    }

    /// `0.5 * reg * (sum W1^2 + sum W2^2)`.
    pub fn reg_loss(&self, reg: F) -> F {
        let p = &self.params;
        let half = F::from_f64(0.5).expect("0.5 converts");
        half * reg * (p.w1.iter().map(|&w| w * w).sum::<F>() + p.w2.iter().map(|&w| w * w).sum::<F>())
    }

    /// Loss and analytic gradients of all four parameters on a batch (report eqs. 4-12).
    pub fn loss_and_grads(&self, x: ArrayView2<'_, F>, y: &[u8], reg: F) -> (Loss<F>, Params<F>) {
        self.loss_and_grads_masked(x, y, reg, None)
    }

    /// The same with dropout on the hidden layer: `mask` (N,H) multiplies the ReLU outputs, i.e. holds 0 for a
    /// dropped unit and `1 / (1 - p)` for a kept one (inverted dropout). `None` is no dropout.
    pub fn loss_and_grads_masked(&self, x: ArrayView2<'_, F>, y: &[u8], reg: F, mask: Option<ArrayView2<'_, F>>) -> (Loss<F>, Params<F>) {
        let p = &self.params;
        let mut a = matmul(&x, &p.w1);
        relu_with_bias(&mut a, p.b1.view());
        if let Some(m) = mask {
            a *= &m;
        }
        let mut dscores = matmul(&a, &p.w2);
        dscores += &p.b2;
        let data = softmax_loss_in_place(&mut dscores, y);
        let reg_loss = self.reg_loss(reg);
        let loss = Loss {
            data,
            reg: reg_loss,
            total: data + reg_loss,
        };

        let mut dw2 = p.w2.mapv(|w| w * reg);
        gemm(F::one(), a.t(), dscores.view(), F::one(), dw2.view_mut());
        let db2 = dscores.sum_axis(Axis(0));
        let mut dh = matmul(&dscores, &p.w2.t());
        relu_backward(&mut dh, &a);
        if let Some(m) = mask {
            dh *= &m;
        }
        let db1 = dh.sum_axis(Axis(0));
        let mut dw1 = p.w1.mapv(|w| w * reg);
        gemm(F::one(), x.t(), dh.view(), F::one(), dw1.view_mut());
        (
            loss,
            Params {
                w1: dw1,
                b1: db1,
                w2: dw2,
                b2: db2,
            },
        )
    }
}

/// Buffers for one SGD step, allocated once per training run so the hot loop allocates nothing of size D×H.
#[derive(Debug)]
pub struct Workspace<F> {
    /// `x · W1`, then the hidden activations (a fused step writes this job's share of the product here).
    pub(crate) a: Array2<F>,
    dscores: Array2<F>,
    /// dL/d(x · W1) after the backward pass.
    pub(crate) dh: Array2<F>,
    dw2: Array2<F>,
    db2: Array1<F>,
    db1: Array1<F>,
    /// With bf16 GEMM inputs: the rounded copies of each GEMM's inputs (`None`: f32, no copies).
    bf16: Option<Box<Rounded<F>>>,
    /// How the first layer's two big products (forward `x · W1`, W1's gradient `xᵀ · dh`) use idle threads.
    par: Parallel,
}

/// The bf16-rounded inputs of one step's GEMMs (see [`crate::linalg::Precision`]).
#[derive(Debug)]
struct Rounded<F> {
    x: Array2<F>,
    w1: Array2<F>,
    a: Array2<F>,
    w2: Array2<F>,
    dscores: Array2<F>,
    dh: Array2<F>,
}

impl<F: Scalar> Workspace<F> {
    pub fn new(batch: usize, hidden: usize, classes: usize) -> Self {
        Self {
            a: Array2::zeros((batch, hidden)),
            dscores: Array2::zeros((batch, classes)),
            dh: Array2::zeros((batch, hidden)),
            dw2: Array2::zeros((hidden, classes)),
            db2: Array1::zeros(classes),
            db1: Array1::zeros(hidden),
            bf16: None,
            par: Parallel::default(),
        }
    }

    /// Lets the first layer's big products use idle threads (bit-identical results; see [`Parallel`]).
    pub fn set_parallel(&mut self, par: Parallel) {
        self.par = par;
    }

    /// The same, with the GEMM inputs in `precision`.
    pub fn with_precision(batch: usize, hidden: usize, classes: usize, precision: Precision) -> Self {
        let empty = || Array2::zeros((0, 0));
        Self {
            bf16: (precision == Precision::Bf16).then(|| {
                Box::new(Rounded {
                    x: empty(),
                    w1: empty(),
                    a: empty(),
                    w2: empty(),
                    dscores: empty(),
                    dh: empty(),
                })
            }),
            ..Self::new(batch, hidden, classes)
        }
    }
}

/// `x · W1` into `a`, with the inputs rounded to bf16 first when `r` is given.
fn first_layer<F: Scalar>(par: &Parallel, x: ArrayView2<'_, F>, w1: ArrayView2<'_, F>, a: &mut Array2<F>, r: Option<&mut Rounded<F>>) {
    match r {
        None => par.gemm(F::one(), x, w1, F::zero(), a.view_mut()),
        Some(r) => {
            let x = rounded_bf16(x, &mut r.x);
            let w1 = rounded_bf16(w1, &mut r.w1);
            par.gemm(F::one(), x, w1, F::zero(), a.view_mut());
        }
    }
}

/// `alpha xᵀ · dh + beta c` (W1's gradient product), with `x` as rounded by [`first_layer`] and `dh` rounded to
/// bf16 when `r` is given.
fn first_layer_back<F: Scalar>(
    par: &Parallel,
    alpha: F,
    x: ArrayView2<'_, F>,
    dh: ArrayView2<'_, F>,
    beta: F,
    c: ArrayViewMut2<'_, F>,
    r: Option<&mut Rounded<F>>,
) {
    match r {
        None => par.gemm(alpha, x.t(), dh, beta, c),
        Some(r) => {
            let dh = rounded_bf16(dh, &mut r.dh);
            par.gemm(alpha, r.x.t(), dh, beta, c);
        }
    }
}

impl<F: Scalar> TwoLayerNet<F> {
    /// One SGD step on a batch: computes the loss and updates the parameters in place with learning rate `lr`.
    ///
    /// The W1 update is fused into one GEMM: `W1 <- (1 - lr*reg) W1 - lr X^T dh`, which is exactly
    /// `W1 - lr (X^T dh + reg W1)` without materializing the (D,H) gradient. Returns the loss before the step.
    pub fn sgd_step(&mut self, x: ArrayView2<'_, F>, y: &[u8], reg: F, lr: F, ws: &mut Workspace<F>) -> Loss<F> {
        self.sgd_step_masked(x, y, reg, lr, None, ws)
    }

    /// [`TwoLayerNet::sgd_step`] with a dropout mask on the hidden layer (see [`TwoLayerNet::loss_and_grads_masked`]).
    pub fn sgd_step_masked(
        &mut self,
        x: ArrayView2<'_, F>,
        y: &[u8],
        reg: F,
        lr: F,
        mask: Option<ArrayView2<'_, F>>,
        ws: &mut Workspace<F>,
    ) -> Loss<F> {
        let reg_loss = self.reg_loss(reg);
        first_layer(&ws.par, x, self.params.w1.view(), &mut ws.a, ws.bf16.as_deref_mut());
        let data = self.step_from_hidden(y, reg, mask, ws, Upper::Sgd(lr));
        first_layer_back(
            &ws.par,
            -lr,
            x,
            ws.dh.view(),
            F::one() - lr * reg,
            self.params.w1.view_mut(),
            ws.bf16.as_deref_mut(),
        );
        Loss {
            data,
            reg: reg_loss,
            total: data + reg_loss,
        }
    }

    /// The part of a step after the first layer's product: with `ws.a = x · W1`, runs the rest of the forward pass
    /// and the backward pass down to `ws.dh` (dL/d(x·W1), what W1's gradient `xᵀ · dh` needs), and updates W2, b2
    /// and b1 by SGD or writes their gradients (with `reg * W2`) into `g`, as `upper` says. Returns the data loss.
    ///
    /// Single-job steps and fused steps (several jobs sharing `x`, see `crate::fused`) both go through it, so the
    /// two cannot drift apart.
    pub fn step_from_hidden(&mut self, y: &[u8], reg: F, mask: Option<ArrayView2<'_, F>>, ws: &mut Workspace<F>, upper: Upper<'_, F>) -> F {
        match upper {
            Upper::Sgd(lr) => {
                let Workspace {
                    a,
                    dscores,
                    dh,
                    dw2,
                    db2,
                    db1,
                    bf16,
                    ..
                } = ws;
                let data = self.upper_grads(y, reg, mask, [a, dscores, dh], [dw2], [db2, db1], bf16.as_deref_mut());
                let p = &mut self.params;
                p.w2.scaled_add(-lr, dw2);
                p.b2.scaled_add(-lr, db2);
                p.b1.scaled_add(-lr, db1);
                data
            }
            Upper::Grads(g) => self.grads_from_hidden(y, reg, mask, ws, g),
        }
    }

    /// [`TwoLayerNet::step_from_hidden`] writing the gradients of W2, b2 and b1 into `g`, without a step.
    pub fn grads_from_hidden(&self, y: &[u8], reg: F, mask: Option<ArrayView2<'_, F>>, ws: &mut Workspace<F>, g: &mut Params<F>) -> F {
        let Workspace { a, dscores, dh, bf16, .. } = ws;
        self.upper_grads(
            y,
            reg,
            mask,
            [a, dscores, dh],
            [&mut g.w2],
            [&mut g.b2, &mut g.b1],
            bf16.as_deref_mut(),
        )
    }

    /// The forward pass from `a = x · W1` and the backward pass: the gradients of W2 (with `reg * W2`), b2 and b1
    /// into the given buffers, dL/d(x · W1) into `dh`. Returns the data loss.
    #[allow(clippy::too_many_arguments)]
    fn upper_grads(
        &self,
        y: &[u8],
        reg: F,
        mask: Option<ArrayView2<'_, F>>,
        [a, dscores, dh]: [&mut Array2<F>; 3],
        [dw2]: [&mut Array2<F>; 1],
        [db2, db1]: [&mut Array1<F>; 2],
        mut bf16: Option<&mut Rounded<F>>,
    ) -> F {
        let p = &self.params;
        relu_with_bias(a, p.b1.view());
        if let Some(m) = mask {
            *a *= &m;
        }
        // The GEMM inputs: as they are, or rounded to bf16 (the activations, W2, and below dscores).
        let (ar, w2r) = match bf16.as_deref_mut() {
            None => (a.view(), p.w2.view()),
            Some(r) => (rounded_bf16(a.view(), &mut r.a), rounded_bf16(p.w2.view(), &mut r.w2)),
        };
        gemm(F::one(), ar, w2r, F::zero(), dscores.view_mut());
        *dscores += &p.b2;
        let data = softmax_loss_in_place(dscores, y);

        dw2.assign(&p.w2);
        let (ar, w2r, dsr) = match bf16 {
            None => (a.view(), p.w2.view(), dscores.view()),
            Some(r) => (r.a.view(), r.w2.view(), rounded_bf16(dscores.view(), &mut r.dscores)),
        };
        gemm(F::one(), ar.t(), dsr, reg, dw2.view_mut());
        db2.assign(&dscores.sum_axis(Axis(0)));
        gemm(F::one(), dsr, w2r.t(), F::zero(), dh.view_mut());
        relu_backward(dh, a);
        if let Some(m) = mask {
            *dh *= &m;
        }
        db1.assign(&dh.sum_axis(Axis(0)));
        data
    }
}

/// What [`TwoLayerNet::step_from_hidden`] does with W2, b2 and b1: an SGD update with this learning rate, or their
/// gradients into the given buffers (whose W1 the caller fills).
pub enum Upper<'g, F> {
    Sgd(F),
    Grads(&'g mut Params<F>),
}

impl<F: Scalar> TwoLayerNet<F> {
    /// Loss and full gradient on a batch into `g` (reusing its buffers), for optimizers that need the gradient
    /// itself. With `reg = 0` neither the loss nor the gradient has an L2 term (AdamW). Same values as
    /// [`TwoLayerNet::loss_and_grads`].
    /// `mask` is the dropout mask as in [`TwoLayerNet::loss_and_grads_masked`].
    pub fn loss_and_grads_into(
        &self,
        x: ArrayView2<'_, F>,
        y: &[u8],
        reg: F,
        mask: Option<ArrayView2<'_, F>>,
        ws: &mut Workspace<F>,
        g: &mut Params<F>,
    ) -> Loss<F> {
        let reg_loss = self.reg_loss(reg);
        first_layer(&ws.par, x, self.params.w1.view(), &mut ws.a, ws.bf16.as_deref_mut());
        let data = self.grads_from_hidden(y, reg, mask, ws, g);
        g.w1.assign(&self.params.w1);
        first_layer_back(&ws.par, F::one(), x, ws.dh.view(), reg, g.w1.view_mut(), ws.bf16.as_deref_mut());
        Loss {
            data,
            reg: reg_loss,
            total: data + reg_loss,
        }
    }
}

/// `a <- max(0, a + b)` row-wise.
fn relu_with_bias<F: Scalar>(a: &mut Array2<F>, b: ArrayView1<'_, F>) {
    Zip::from(a.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row).and(&b).for_each(|v, &bb| {
            let t = *v + bb;
            *v = if t > F::zero() { t } else { F::zero() };
        })
    });
}

/// `dh <- dh ⊙ (a > 0)` (eq. 10; `a > 0` exactly where `h > 0`).
fn relu_backward<F: Scalar>(dh: &mut Array2<F>, a: &Array2<F>) {
    Zip::from(dh).and(a).for_each(|d, &av| {
        if av <= F::zero() {
            *d = F::zero();
        }
    });
}

/// Turns scores (N,C) into `dL/dscores = (softmax - onehot) / N` in place and returns the mean cross-entropy.
///
/// Numerically stable: each row's maximum is subtracted before exponentiating.
fn softmax_loss_in_place<F: Scalar>(scores: &mut Array2<F>, y: &[u8]) -> F {
    let n = scores.nrows();
    assert_eq!(n, y.len(), "one label per row");
    let inv_n = F::one() / F::from_usize(n).expect("usize converts");
    let mut total = F::zero();
    Zip::from(scores.rows_mut()).and(y).for_each(|mut row, &label| {
        let max = row.fold(F::neg_infinity(), |m, &v| if v > m { v } else { m });
        let yi = label as usize;
        let shifted_y = row[yi] - max;
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        // -log softmax_y = log(sum of exp(s - max)) - (s_y - max): no exp of s_y alone, so no underflow to log(0).
        total += sum.ln() - shifted_y;
        let scale = inv_n / sum;
        row.mapv_inplace(|v| v * scale);
        row[yi] -= inv_n;
    });
    total * inv_n
}

/// Index of the largest entry (the first one on ties).
pub fn argmax<F: PartialOrd + Copy>(row: ArrayView1<'_, F>) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Row-wise softmax probabilities of scores (N,C).
pub fn softmax<F: Scalar>(scores: &Array2<F>) -> Array2<F> {
    let mut p = scores.clone();
    for mut row in p.rows_mut() {
        let max = row.fold(F::neg_infinity(), |m, &v| if v > m { v } else { m });
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn toy() -> (TwoLayerNet<f64>, Array2<f64>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = TwoLayerNet::<f64>::new(4, 10, 3, Init::Std(0.5), &mut rng);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let x = Array2::from_shape_simple_fn((7, 4), || normal.sample(&mut rng));
        (net, x, vec![0, 1, 2, 2, 1, 0, 1])
    }

    /// The batch shape of the f32 tests: 64 rows, 96 inputs, 48 hidden units, 10 classes (batch, hidden, classes).
    const BATCH: (usize, usize, usize) = (64, 48, 10);

    /// A Kaiming-initialized network and a batch of normal inputs with labels, of [`BATCH`]'s shape.
    fn batch(seed: u64) -> (TwoLayerNet<f64>, Array2<f64>, Vec<u8>) {
        let ((n, h, c), d) = (BATCH, 96);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = TwoLayerNet::<f64>::new(d, h, c, Init::Kaiming, &mut rng);
        let x = Array2::from_shape_simple_fn((n, d), || Normal::new(0.0, 1.0).expect("valid").sample(&mut rng));
        (net, x, (0..n).map(|i| (i * 7 % c) as u8).collect())
    }

    fn as_f32(net: &TwoLayerNet<f64>) -> TwoLayerNet<f32> {
        let p = &net.params;
        let params = Params {
            w1: p.w1.mapv(|v| v as f32),
            b1: p.b1.mapv(|v| v as f32),
            w2: p.w2.mapv(|v| v as f32),
            b2: p.b2.mapv(|v| v as f32),
        };
        TwoLayerNet::from_params(params).expect("shapes")
    }

    #[test]
    fn fused_sgd_step_equals_explicit_gradient_step() {
        let (mut net, x, y) = toy();
        let mut with_bias = net.clone();
        with_bias.params.b1.fill(0.1);
        net.params.b1.fill(0.1);
        let (loss, g) = with_bias.loss_and_grads(x.view(), &y, 0.05);
        let (lr, reg) = (0.3, 0.05);
        let mut ws = Workspace::new(7, 10, 3);
        let step_loss = net.sgd_step(x.view(), &y, reg, lr, &mut ws);
        assert!((step_loss.total - loss.total).abs() < 1e-12);
        let p = &with_bias.params;
        let close = |a: &Array2<f64>, b: &Array2<f64>| a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-12);
        assert!(close(&net.params.w1, &(&p.w1 - &(&g.w1 * lr))));
        assert!(close(&net.params.w2, &(&p.w2 - &(&g.w2 * lr))));
        assert!((&net.params.b1 - &(&p.b1 - &(&g.b1 * lr))).iter().all(|d| d.abs() < 1e-12));
        assert!((&net.params.b2 - &(&p.b2 - &(&g.b2 * lr))).iter().all(|d| d.abs() < 1e-12));
    }

    /// bf16 GEMM inputs against the f64 gradients: every gradient within the error bf16's 8-bit significand allows
    /// (a relative error of a few 1e-3 over a tensor), and measurably further off than f32 (so the inputs are
    /// rounded); the SGD step in bf16 moves W1 by lr times the bf16 gradient.
    #[test]
    fn bf16_gradients_match_f64_within_bf16_precision_and_f32_ones_far_closer() {
        let (net64, x64, y) = batch(3);
        let (n, h, c) = BATCH;
        let reg = 1e-3;
        let (loss64, g64) = net64.loss_and_grads(x64.view(), &y, reg);
        let (net32, x32) = (as_f32(&net64), x64.mapv(|v| v as f32));
        let p32 = net32.params.clone();
        let rel = |a: &[f32], b: &[f64]| {
            let num: f64 = a.iter().zip(b).map(|(&u, &v)| (f64::from(u) - v).powi(2)).sum();
            let den: f64 = b.iter().map(|v| v * v).sum();
            (num / den).sqrt()
        };
        let errors = |precision| {
            let mut ws = Workspace::with_precision(n, h, c, precision);
            let mut g = p32.clone();
            let loss = net32.loss_and_grads_into(x32.view(), &y, reg as f32, None, &mut ws, &mut g);
            let sl = |a: &Array2<f32>| a.as_slice().expect("contiguous").to_vec();
            let sl1 = |a: &Array1<f32>| a.as_slice().expect("contiguous").to_vec();
            let e = [
                rel(&sl(&g.w1), g64.w1.as_slice().expect("contiguous")),
                rel(&sl1(&g.b1), g64.b1.as_slice().expect("contiguous")),
                rel(&sl(&g.w2), g64.w2.as_slice().expect("contiguous")),
                rel(&sl1(&g.b2), g64.b2.as_slice().expect("contiguous")),
            ];
            ((f64::from(loss.total) - loss64.total).abs() / loss64.total, e, g)
        };
        let (l32, e32, _) = errors(Precision::F32);
        let (l16, e16, g16) = errors(Precision::Bf16);
        eprintln!("relative errors against f64 (W1, b1, W2, b2): bf16 {e16:?}, f32 {e32:?}; loss bf16 {l16:.1e}, f32 {l32:.1e}");
        assert!(l32 < 1e-6 && l16 < 1e-2, "loss: f32 {l32:e}, bf16 {l16:e}");
        for (k, name) in ["W1", "b1", "W2", "b2"].iter().enumerate() {
            assert!(e32[k] < 1e-5, "{name}: f32 relative error {:e}", e32[k]);
            assert!(e16[k] < 1e-2, "{name}: bf16 relative error {:e}", e16[k]);
            assert!(
                e16[k] > 10.0 * e32[k],
                "{name}: bf16 ({:e}) should be visibly coarser than f32 ({:e})",
                e16[k],
                e32[k]
            );
        }
        let mut stepped = net32.clone();
        let mut ws = Workspace::with_precision(n, h, c, Precision::Bf16);
        stepped.sgd_step(x32.view(), &y, reg as f32, 0.1, &mut ws);
        let moved = &net32.params.w1 - &stepped.params.w1;
        let want = &g16.w1 * 0.1;
        assert!(moved.iter().zip(&want).all(|(m, w)| (m - w).abs() <= 1e-6 + 1e-3 * w.abs()));
    }

    #[test]
    fn softmax_loss_is_stable_for_huge_scores() {
        let mut s = ndarray::array![[1000.0f64, 0.0, -1000.0], [0.0, 0.0, 0.0]];
        let loss = softmax_loss_in_place(&mut s, &[0, 1]);
        // row 0: loss 0; row 1: ln 3. Mean = ln(3)/2.
        assert!((loss - 3f64.ln() / 2.0).abs() < 1e-12, "{loss}");
        // The true class far below the maximum: loss 2000, finite (exp(-2000) alone would underflow to 0).
        let mut s = ndarray::array![[1000.0f32, 0.0, -1000.0]];
        let loss = softmax_loss_in_place(&mut s, &[2]);
        assert!((loss - 2000.0).abs() < 1e-3, "{loss}");
        assert!(s.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn from_params_rejects_mismatched_shapes() {
        let (net, _, _) = toy();
        let mut p = net.params.clone();
        p.b1 = Array1::zeros(3);
        assert!(TwoLayerNet::from_params(p).is_err());
        assert!(TwoLayerNet::from_params(net.params).is_ok());
    }

    #[test]
    fn kaiming_init_has_the_expected_scale() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let net = TwoLayerNet::<f64>::new(3072, 64, 10, Init::Kaiming, &mut rng);
        let n = net.params.w1.len() as f64;
        let var = net.params.w1.iter().map(|w| w * w).sum::<f64>() / n;
        assert!((var - 2.0 / 3072.0).abs() < 0.05 * 2.0 / 3072.0, "{var}");
        assert!(net.params.b1.iter().all(|&b| b == 0.0));
    }

    /// One step's products cut for idle threads (4, in a pool of 4) give the single-threaded step's bits: the SGD
    /// step and the gradient, in f32 and bf16.
    #[test]
    fn a_step_on_idle_threads_gives_the_bits_of_one_thread() {
        let (net, x, y) = batch(4);
        let (net, x, (n, h, c)) = (as_f32(&net), x.mapv(|v| v as f32), BATCH);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("a pool");
        let bits = |p: &Params<f32>| {
            [&p.w1, &p.w2]
                .iter()
                .flat_map(|a| a.iter().map(|v| v.to_bits()))
                .chain(p.b1.iter().chain(&p.b2).map(|v| v.to_bits()))
                .collect::<Vec<_>>()
        };
        for precision in [Precision::F32, Precision::Bf16] {
            let run = |par: Parallel| {
                let mut ws = Workspace::with_precision(n, h, c, precision);
                ws.set_parallel(par);
                let mut net = net.clone();
                let mut g = net.params.clone();
                pool.install(|| {
                    for _ in 0..3 {
                        net.sgd_step(x.view(), &y, 1e-3, 0.05, &mut ws);
                    }
                    net.loss_and_grads_into(x.view(), &y, 1e-3, None, &mut ws, &mut g);
                });
                (bits(&net.params), bits(&g))
            };
            assert!(run(Parallel::new(4).min_piece(1)) == run(Parallel::new(1)), "{precision:?}");
        }
    }
}
