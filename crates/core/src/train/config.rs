//! The training hyperparameters: [`TrainConfig`] as given, [`TrainConfig::check`] into the [`ValidConfig`] that
//! training takes, the learning-rate schedules, and what an optimizer step reads from them.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::linalg::Precision;
use crate::network::Init;
use crate::optim::{Hyper, Optimizer};

/// Training hyperparameters as given (unchecked); [`TrainConfig::check`] turns them into a [`ValidConfig`].
///
/// This is the one place where each hyperparameter is defined (field docs) and range-checked ([`TrainConfig::check`]).
/// Every field added after the report's (from `shuffle_seed` on) has a serde default that keeps the report's plain
/// SGD training: `optimizer = sgd`, `dropout = 0`, `lr_schedule = step`, `warmup_epochs = 0`, `flip = 0`, `crop = 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub learning_rate: f64,
    /// L2 strength: `0.5 * reg * (sum W1² + sum W2²)` in the loss (biases not regularized) for every optimizer but
    /// `adamw`, for which it is the decoupled weight decay `W -= lr * reg * W` instead (and the loss has no L2 term).
    pub reg: f64,
    pub hidden_size: usize,
    pub lr_decay: f64,
    pub epochs: usize,
    pub batch_size: usize,
    #[serde(default)]
    pub init: Init,
    /// Seed of the network's initialization (per job).
    #[serde(default)]
    pub seed: u64,
    /// Seed of the data order (and of the fixed train-accuracy sample): the sweep sets it to the sweep seed, so that
    /// every job of a sweep sees the same minibatches. Epoch `e`'s order is a fresh permutation drawn from
    /// `epoch_order(shuffle_seed, e)`, independent of earlier epochs, so training can pause after any epoch.
    #[serde(default)]
    pub shuffle_seed: u64,
    /// The update rule (see [`crate::optim`]); `sgd` is plain minibatch SGD.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Momentum factor of `momentum` and `nesterov`, in [0, 1) (torch.optim.SGD's `momentum`).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Adam's decay rate of the first moment, in [0, 1).
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam's decay rate of the second moment, in [0, 1).
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam's denominator term, > 0.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Dropout probability of each hidden unit during training, in [0, 1): inverted dropout (kept units scaled by
    /// `1 / (1 - dropout)`), off at evaluation; masks drawn per job from (seed, epoch, iteration).
    #[serde(default)]
    pub dropout: f64,
    /// How the learning rate changes from epoch to epoch (per epoch, constant within one); see `epoch_lr`.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Epochs of linear warmup at the start (0 = none); see `epoch_lr`.
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Probability of flipping each training image horizontally, in [0, 1] (0 = off). See `augment_image`.
    #[serde(default)]
    pub flip: f64,
    /// Random translation of each training image by up to `crop` pixels in each direction, with zero padding
    /// (torchvision's `RandomCrop(size, padding=crop)`), in `0..=MAX_CROP` and below the image size (0 = off).
    #[serde(default)]
    pub crop: usize,
    /// The GEMM inputs' precision: f32, or bf16 (mixed precision, emulated; see [`Precision`]).
    #[serde(default)]
    pub precision: Precision,
}

/// The largest `crop` accepted.
pub const MAX_CROP: usize = 16;

/// The learning-rate schedule (`TrainConfig::lr_schedule`); the rate is set once per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// `learning_rate * lr_decay^(epoch - 1)` (the report's per-epoch decay). Needs no horizon, so a run can be
    /// continued past its configured epochs on the same curve.
    #[default]
    Step,
    /// Cosine annealing over the config's `epochs` as horizon T: `learning_rate * 0.5 * (1 + cos(pi * (epoch - 1) / T))`,
    /// i.e. the full rate in epoch 1, down to 0 at epoch T + 1; epochs past T (a run continued beyond its
    /// configured epochs) train at rate 0. `lr_decay` is ignored.
    Cosine,
}

fn default_momentum() -> f64 {
    0.9
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 0.1,
            reg: 1e-4,
            hidden_size: 512,
            lr_decay: 0.95,
            epochs: 10,
            batch_size: 200,
            init: Init::Kaiming,
            seed: 0,
            shuffle_seed: 0,
            optimizer: Optimizer::Sgd,
            momentum: default_momentum(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            dropout: 0.0,
            lr_schedule: LrSchedule::Step,
            warmup_epochs: 0,
            flip: 0.0,
            crop: 0,
            precision: Precision::F32,
        }
    }
}

/// A configuration whose every value is in range.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig(TrainConfig);

impl std::ops::Deref for ValidConfig {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl TrainConfig {
    /// Checks every value; the error names the parameter, its valid range and the value given.
    pub fn check(self) -> Result<ValidConfig, ConfigError> {
        let err = |name, value: String, valid| Err(ConfigError { name, value, valid });
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return err("learning_rate", self.learning_rate.to_string(), "a finite number > 0");
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return err("reg", self.reg.to_string(), "a finite number >= 0");
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return err("lr_decay", self.lr_decay.to_string(), "in (0, 1]");
        }
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
        ] {
            if v < 1 {
                return err(name, v.to_string(), "an integer >= 1");
            }
        }
        if let Init::Std(s) = self.init {
            if !(s.is_finite() && s > 0.0) {
                return err("init_std", s.to_string(), "a finite number > 0");
            }
        }
        for (name, v) in [("momentum", self.momentum), ("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return err(name, v.to_string(), "in [0, 1)");
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return err("eps", self.eps.to_string(), "a finite number > 0");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return err("dropout", self.dropout.to_string(), "in [0, 1)");
        }
        if !(0.0..=1.0).contains(&self.flip) {
            return err("flip", self.flip.to_string(), "in [0, 1]");
        }
        if self.crop > MAX_CROP {
            return err("crop", self.crop.to_string(), "an integer in 0..=16 (pixels)");
        }
        Ok(ValidConfig(self))
    }
}

/// The learning rate of `epoch` (1-based): the schedule's rate times the warmup factor.
///
/// - schedule: [`LrSchedule::Step`] uses `step_lr`, the running product `learning_rate * lr_decay^(epoch - 1)` kept in
///   [`TrainState::lr`](crate::TrainState::lr); [`LrSchedule::Cosine`] is
///   `learning_rate * 0.5 * (1 + cos(pi * min(epoch - 1, T) / T))` with `T = cfg.epochs`.
/// - warmup: with `W = warmup_epochs > 0`, epochs `1..=W` are multiplied by `epoch / (W + 1)` (a linear ramp from
///   `1 / (W + 1)` of the rate up to the full rate in epoch `W + 1`); later epochs by 1. W = 0 is no warmup.
pub(crate) fn epoch_lr(cfg: &TrainConfig, epoch: usize, step_lr: f64) -> f64 {
    let base = match cfg.lr_schedule {
        LrSchedule::Step => step_lr,
        LrSchedule::Cosine => {
            let t = cfg.epochs as f64;
            let e = ((epoch - 1) as f64).min(t);
            cfg.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * e / t).cos())
        }
    };
    if epoch <= cfg.warmup_epochs {
        base * epoch as f64 / (cfg.warmup_epochs + 1) as f64
    } else {
        base
    }
}

impl TrainConfig {
    /// The numbers an optimizer step at `lr` reads from the configuration.
    pub(crate) fn hyper(&self, lr: f64) -> Hyper {
        Hyper {
            lr,
            reg: self.reg,
            momentum: self.momentum,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }

    /// The L2 strength inside the loss (and the gradient): `reg`, except for AdamW, whose decay is decoupled.
    pub(crate) fn l2_in_loss(&self) -> f32 {
        if self.optimizer.l2_in_loss() {
            self.reg as f32
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_each_out_of_range_value_with_its_range() {
        let with = |set: fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            set(&mut c);
            c
        };
        let cases: [(TrainConfig, &str); 15] = [
            (
                with(|c| c.learning_rate = 0.0),
                "learning_rate = 0 is invalid: must be a finite number > 0",
            ),
            (with(|c| c.reg = -1.0), "reg = -1 is invalid: must be a finite number >= 0"),
            (with(|c| c.lr_decay = 1.5), "lr_decay = 1.5 is invalid: must be in (0, 1]"),
            (with(|c| c.lr_decay = 0.0), "lr_decay = 0 is invalid: must be in (0, 1]"),
            (with(|c| c.hidden_size = 0), "hidden_size = 0 is invalid: must be an integer >= 1"),
            (with(|c| c.epochs = 0), "epochs = 0 is invalid: must be an integer >= 1"),
            (with(|c| c.batch_size = 0), "batch_size = 0 is invalid: must be an integer >= 1"),
            (
                with(|c| c.init = Init::Std(0.0)),
                "init_std = 0 is invalid: must be a finite number > 0",
            ),
            (with(|c| c.dropout = 1.0), "dropout = 1 is invalid: must be in [0, 1)"),
            (with(|c| c.flip = 1.5), "flip = 1.5 is invalid: must be in [0, 1]"),
            (with(|c| c.crop = 17), "crop = 17 is invalid: must be an integer in 0..=16 (pixels)"),
            (with(|c| c.momentum = 1.0), "momentum = 1 is invalid: must be in [0, 1)"),
            (with(|c| c.beta1 = -0.1), "beta1 = -0.1 is invalid: must be in [0, 1)"),
            (with(|c| c.beta2 = 1.0), "beta2 = 1 is invalid: must be in [0, 1)"),
            (with(|c| c.eps = 0.0), "eps = 0 is invalid: must be a finite number > 0"),
        ];
        for (c, msg) in cases {
            assert_eq!(c.check().unwrap_err().to_string(), msg);
        }
        assert!(TrainConfig::default().check().is_ok());
    }

    #[test]
    fn learning_rate_schedules_and_warmup_follow_their_definitions() {
        let base = TrainConfig {
            learning_rate: 0.4,
            lr_decay: 0.5,
            epochs: 4,
            ..TrainConfig::default()
        };
        // step: the running product.
        assert_eq!(epoch_lr(&base, 3, 0.1), 0.1);
        let cos = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            ..base.clone()
        };
        let want = [
            0.4,
            0.2 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
            0.2,
            0.2 * (1.0 - (std::f64::consts::PI / 4.0).cos()),
            0.0,
            0.0,
        ];
        for (e, w) in want.iter().enumerate() {
            assert!(
                (epoch_lr(&cos, e + 1, 123.0) - w).abs() < 1e-15,
                "epoch {}: {}",
                e + 1,
                epoch_lr(&cos, e + 1, 123.0)
            );
        }
        let warm = TrainConfig {
            warmup_epochs: 3,
            ..base.clone()
        };
        for (e, w) in [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0), (9, 1.0)] {
            assert!((epoch_lr(&warm, e, 0.2) - 0.2 * w).abs() < 1e-15, "epoch {e}");
        }
        let cos_warm = TrainConfig {
            warmup_epochs: 1,
            ..cos.clone()
        };
        assert!((epoch_lr(&cos_warm, 1, 0.0) - 0.2).abs() < 1e-15);
        assert_eq!(epoch_lr(&cos_warm, 3, 0.0), epoch_lr(&cos, 3, 0.0));
    }
}
