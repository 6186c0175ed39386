//! The update rules, with exactly torch.optim's semantics (checked against it by `tests/optim.rs`):
//!
//! - `sgd`: `p -= lr * g` (torch.optim.SGD). Trains through the fused step of
//!   [`TwoLayerNet::sgd_step`](crate::network::TwoLayerNet::sgd_step), which never materializes the (D,H) gradient.
//! - `momentum`: `b = momentum * b + g; p -= lr * b` (SGD(momentum), dampening 0; the first step has `b = g`).
//! - `nesterov`: as `momentum`, but `p -= lr * (g + momentum * b)` (SGD(momentum, nesterov=True)).
//! - `adam`: torch.optim.Adam (no amsgrad): `m = lerp(m, g, 1 - beta1)`, `v = beta2 v + (1 - beta2) g²`,
//!   `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
//! - `adamw`: torch.optim.AdamW: first `W *= 1 - lr * reg` on the weights (decoupled decay, not on biases), then the
//!   Adam update with a gradient that has no L2 term.
//!
//! For every rule but `adamw`, `g` includes the L2 term of the loss (`reg * W` for the weights, report eq. 5).

use ndarray::Zip;
use serde::{Deserialize, Serialize};

use crate::error::OptimStateError;
use crate::network::Params;

/// The update rule (`TrainConfig::optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Plain minibatch SGD (the report's).
    #[default]
    Sgd,
    /// SGD with (heavy-ball) momentum.
    Momentum,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// Adam, with `reg` as L2 in the loss.
    Adam,
    /// AdamW: Adam with decoupled weight decay `reg`.
    #[serde(rename = "adamw")]
    AdamW,
}

impl Optimizer {
    pub fn as_str(&self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Momentum => "momentum",
            Optimizer::Nesterov => "nesterov",
            Optimizer::Adam => "adam",
            Optimizer::AdamW => "adamw",
        }
    }

    /// How many per-parameter buffers the rule keeps (0, 1 or 2).
    pub fn buffers(&self) -> usize {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::Momentum | Optimizer::Nesterov => 1,
            Optimizer::Adam | Optimizer::AdamW => 2,
        }
    }

    /// Whether the L2 term `0.5 * reg * sum W²` is part of the loss (and `reg * W` of the gradient): all but AdamW.
    pub fn l2_in_loss(&self) -> bool {
        *self != Optimizer::AdamW
    }
}

/// The numbers an update reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    pub lr: f64,
    pub reg: f64,
    pub momentum: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

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

fn zeros_like(p: &Params<f32>) -> Params<f32> {
    Params {
        w1: ndarray::Array2::zeros(p.w1.dim()),
        b1: ndarray::Array1::zeros(p.b1.len()),
        w2: ndarray::Array2::zeros(p.w2.dim()),
        b2: ndarray::Array1::zeros(p.b2.len()),
    }
}

/// The four tensors as flat slices, weights first: (W1, b1, W2, b2) with `is_weight`.
fn slices_mut(p: &mut Params<f32>) -> [(&mut [f32], bool); 4] {
    let c = "parameters are contiguous";
    [
        (p.w1.as_slice_mut().expect(c), true),
        (p.b1.as_slice_mut().expect(c), false),
        (p.w2.as_slice_mut().expect(c), true),
        (p.b2.as_slice_mut().expect(c), false),
    ]
}

fn slices(p: &Params<f32>) -> [&[f32]; 4] {
    let c = "parameters are contiguous";
    [
        p.w1.as_slice().expect(c),
        p.b1.as_slice().expect(c),
        p.w2.as_slice().expect(c),
        p.b2.as_slice().expect(c),
    ]
}

impl OptimState {
    /// The zero state of `kind` for parameters shaped like `params` (a zero momentum buffer makes the first step
    /// `b = g` exactly, as torch's lazily created buffer).
    pub fn new(kind: Optimizer, params: &Params<f32>) -> Self {
        let n = kind.buffers();
        Self {
            step: 0,
            m: (n >= 1).then(|| zeros_like(params)),
            v: (n >= 2).then(|| zeros_like(params)),
        }
    }

    /// The buffers in file order.
    pub fn buffers(&self) -> [Option<&Params<f32>>; 2] {
        [self.m.as_ref(), self.v.as_ref()]
    }

    /// Whether the buffers present are those `kind` keeps, each shaped like `params`.
    pub fn check_fits(&self, kind: Optimizer, params: &Params<f32>) -> Result<(), OptimStateError> {
        let found = usize::from(self.m.is_some()) + usize::from(self.v.is_some());
        if found != kind.buffers() || (self.v.is_some() && self.m.is_none()) {
            return Err(OptimStateError::Buffers {
                optimizer: kind.as_str(),
                wanted: kind.buffers(),
                found,
            });
        }
        let shaped = |b: &Params<f32>| {
            (b.w1.dim(), b.b1.len(), b.w2.dim(), b.b2.len()) == (params.w1.dim(), params.b1.len(), params.w2.dim(), params.b2.len())
        };
        if !self.buffers().into_iter().flatten().all(shaped) {
            return Err(OptimStateError::Shapes);
        }
        Ok(())
    }

    /// One update of `params` with the gradient `g` (which has the L2 term unless `kind` is AdamW).
    ///
    /// # Panics
    /// If the state does not fit `kind` ([`OptimState::new`] makes one that does), or for `Sgd`, which trains
    /// through the fused step instead: `p -= lr * g` is done here only for completeness.
    pub fn update(&mut self, kind: Optimizer, h: &Hyper, params: &mut Params<f32>, g: &Params<f32>) {
        self.step += 1;
        let lr = h.lr as f32;
        let gs = slices(g);
        match kind {
            Optimizer::Sgd => {
                for ((p, _), g) in slices_mut(params).into_iter().zip(gs) {
                    Zip::from(p).and(g).for_each(|p, &g| *p -= lr * g);
                }
            }
            Optimizer::Momentum | Optimizer::Nesterov => {
                let mu = h.momentum as f32;
                let nesterov = kind == Optimizer::Nesterov;
                let bufs = slices_mut(self.m.as_mut().expect("momentum buffer"));
                for (((p, _), g), (b, _)) in slices_mut(params).into_iter().zip(gs).zip(bufs) {
                    Zip::from(p).and(g).and(b).for_each(|p, &g, b| {
                        *b = *b * mu + g;
                        let d = if nesterov { g + mu * *b } else { *b };
                        *p += -lr * d;
                    });
                }
            }
            Optimizer::Adam | Optimizer::AdamW => {
                let t = self.step as i32;
                let bc1 = 1.0 - h.beta1.powi(t);
                let bc2_sqrt = (1.0 - h.beta2.powi(t)).sqrt() as f32;
                let step_size = -(h.lr / bc1) as f32;
                let (w1, w2, eps) = ((1.0 - h.beta1) as f32, h.beta2 as f32, h.eps as f32);
                let one_minus_b2 = (1.0 - h.beta2) as f32;
                let decay = (1.0 - h.lr * h.reg) as f32;
                let decoupled = kind == Optimizer::AdamW;
                let ms = slices_mut(self.m.as_mut().expect("first moment"));
                let vs = slices_mut(self.v.as_mut().expect("second moment"));
                for ((((p, is_weight), g), (m, _)), (v, _)) in slices_mut(params).into_iter().zip(gs).zip(ms).zip(vs) {
                    let decay = if decoupled && is_weight { Some(decay) } else { None };
                    Zip::from(p).and(g).and(m).and(v).for_each(|p, &g, m, v| {
                        if let Some(k) = decay {
                            *p *= k;
                        }
                        *m += w1 * (g - *m);
                        *v = *v * w2 + one_minus_b2 * g * g;
                        let denom = v.sqrt() / bc2_sqrt + eps;
                        *p += step_size * (*m / denom);
                    });
                }
            }
        }
    }
}
