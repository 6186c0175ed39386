//! Minibatch SGD with per-epoch learning-rate decay: history, best-epoch parameters, divergence detection and an observer.

use ndarray::{Array2, ArrayView2, Axis, Zip};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::network::{Init, TwoLayerNet, Workspace};
use crate::rng::{derive_seed, rng_for};

/// Training images used for the per-epoch train accuracy: a fixed sample, so that it stays cheap.
pub const TRAIN_ACC_SAMPLE: usize = 5000;
/// A loss above this many times its starting value (or 1, if larger) counts as divergence.
pub const DIVERGENCE_FACTOR: f64 = 10.0;

/// Training hyperparameters as given (unchecked); [`TrainConfig::check`] turns them into a [`ValidConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub learning_rate: f64,
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
    /// [`epoch_order`]`(shuffle_seed, e)`, independent of earlier epochs, so training can pause after any epoch.
    #[serde(default)]
    pub shuffle_seed: u64,
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
        Ok(ValidConfig(self))
    }
}

/// What a training run reads: training and validation inputs (N,D) with labels, and the number of classes.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    pub x_train: ArrayView2<'a, f32>,
    pub y_train: &'a [u8],
    pub x_val: ArrayView2<'a, f32>,
    pub y_val: &'a [u8],
    pub num_classes: usize,
}

/// One epoch of the history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// The learning rate used during this epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's iterations.
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
}

/// Loss per iteration and accuracies per epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub iter_loss: Vec<f32>,
    pub epochs: Vec<EpochRecord>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    /// The loss became NaN, infinite, or far above its starting value.
    Diverged,
    /// The observer asked to stop (early stopping or an interrupt).
    Stopped,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::Stopped => "stopped",
        }
    }
}

/// Whether training goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Receives progress; the core prints nothing itself.
pub trait Observer {
    /// After every SGD step; `iteration` counts from 0 over the whole run.
    fn on_iteration(&mut self, _iteration: usize, _loss: f32) -> Control {
        Control::Continue
    }
    /// After every epoch's evaluation.
    fn on_epoch(&mut self, _record: &EpochRecord) -> Control {
        Control::Continue
    }
}

/// An observer that watches nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub status: Status,
    pub history: History,
    /// The epoch (1-based) with the best validation accuracy, if any epoch finished.
    pub best_epoch: Option<usize>,
    pub best_val_acc: f64,
    /// Parameters at the best validation epoch.
    pub best_net: Option<TwoLayerNet<f32>>,
}

/// Accuracy on the rows `idx` of `x`, evaluated in chunks without copying all of them at once.
fn accuracy_on(net: &TwoLayerNet<f32>, x: ArrayView2<'_, f32>, y: &[u8], idx: &[usize]) -> f64 {
    if idx.is_empty() {
        return 0.0;
    }
    let mut correct = 0usize;
    for chunk in idx.chunks(1000) {
        let xs = x.select(Axis(0), chunk);
        let pred = net.predict(xs.view());
        correct += pred.iter().zip(chunk).filter(|(p, &i)| **p == y[i] as usize).count();
    }
    correct as f64 / idx.len() as f64
}

/// The training-set order of `epoch` (1-based) under `shuffle_seed`: a permutation of `0..n` drawn from an RNG seeded
/// by (shuffle_seed, epoch) alone, so it is the same for every job sharing the seed and needs no earlier epoch.
pub fn epoch_order(shuffle_seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(derive_seed(shuffle_seed, "shuffle"), &format!("epoch-{epoch}")));
    order
}

/// The fixed sample of training rows (sorted) whose accuracy is reported each epoch; derived from `shuffle_seed`.
pub fn train_acc_sample(shuffle_seed: u64, n: usize) -> Vec<usize> {
    let mut r = rng_for(shuffle_seed, "train-acc-sample");
    let mut s = rand::seq::index::sample(&mut r, n, n.min(TRAIN_ACC_SAMPLE)).into_vec();
    s.sort_unstable();
    s
}

/// Trains a fresh network on `data` with `cfg`. Same config (seed included) and data give bit-identical results.
///
/// Each epoch visits [`epoch_order`]`(cfg.shuffle_seed, epoch)` of the training set in `N / batch_size` full batches (a final partial batch
/// is dropped; a training set smaller than one batch is used whole).
pub fn train(cfg: &ValidConfig, data: TrainData<'_>, observer: &mut dyn Observer) -> TrainOutcome {
    let (n, d) = data.x_train.dim();
    let mut init_rng = rng_for(cfg.seed, "init");
    let mut net = TwoLayerNet::<f32>::new(d, cfg.hidden_size, data.num_classes, cfg.init, &mut init_rng);
    let train_sample = train_acc_sample(cfg.shuffle_seed, n);
    let val_idx: Vec<usize> = (0..data.x_val.nrows()).collect();

    let b = cfg.batch_size.min(n).max(1);
    let iters = (n / b).max(1);
    let mut ws = Workspace::new(b, cfg.hidden_size, data.num_classes);
    let mut xb = Array2::<f32>::zeros((b, d));
    let mut yb = vec![0u8; b];
    let reg = cfg.reg as f32;
    let mut lr = cfg.learning_rate;

    let mut history = History::default();
    let mut out = TrainOutcome {
        status: Status::Completed,
        history: History::default(),
        best_epoch: None,
        best_val_acc: 0.0,
        best_net: None,
    };
    let mut start_loss: Option<f64> = None;
    'epochs: for epoch in 1..=cfg.epochs {
        let order = epoch_order(cfg.shuffle_seed, epoch, n);
        let mut sum = 0.0f64;
        for it in 0..iters {
            let idx = &order[it * b..(it + 1) * b];
            Zip::from(xb.rows_mut())
                .and(idx)
                .for_each(|mut row, &i| row.assign(&data.x_train.row(i)));
            for (t, &i) in yb.iter_mut().zip(idx) {
                *t = data.y_train[i];
            }
            let loss = net.sgd_step(xb.view(), &yb, reg, lr as f32, &mut ws).total;
            history.iter_loss.push(loss);
            let l = f64::from(loss);
            let start = *start_loss.get_or_insert(l);
            if !l.is_finite() || l > DIVERGENCE_FACTOR * start.max(1.0) {
                out.status = Status::Diverged;
                break 'epochs;
            }
            sum += l;
            if observer.on_iteration(history.iter_loss.len() - 1, loss) == Control::Stop {
                out.status = Status::Stopped;
                break 'epochs;
            }
        }
        let record = EpochRecord {
            epoch,
            lr,
            loss: sum / iters as f64,
            train_acc: accuracy_on(&net, data.x_train, data.y_train, &train_sample),
            val_acc: accuracy_on(&net, data.x_val, data.y_val, &val_idx),
        };
        history.epochs.push(record);
        if out.best_epoch.is_none() || record.val_acc > out.best_val_acc {
            out.best_epoch = Some(epoch);
            out.best_val_acc = record.val_acc;
            out.best_net = Some(net.clone());
        }
        if observer.on_epoch(&record) == Control::Stop {
            out.status = Status::Stopped;
            break;
        }
        lr *= cfg.lr_decay;
    }
    out.history = history;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::toy_dataset;

    fn cfg(lr: f64, epochs: usize) -> ValidConfig {
        TrainConfig {
            learning_rate: lr,
            reg: 1e-3,
            hidden_size: 10,
            lr_decay: 0.95,
            epochs,
            batch_size: 50,
            init: Init::Kaiming,
            seed: 7,
            shuffle_seed: 3,
        }
        .check()
        .unwrap()
    }

    #[test]
    fn check_rejects_each_out_of_range_value_with_its_range() {
        let base = TrainConfig::default();
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    learning_rate: 0.0,
                    ..base.clone()
                },
                "learning_rate = 0 is invalid: must be a finite number > 0",
            ),
            (
                TrainConfig { reg: -1.0, ..base.clone() },
                "reg = -1 is invalid: must be a finite number >= 0",
            ),
            (
                TrainConfig {
                    lr_decay: 1.5,
                    ..base.clone()
                },
                "lr_decay = 1.5 is invalid: must be in (0, 1]",
            ),
            (
                TrainConfig {
                    lr_decay: 0.0,
                    ..base.clone()
                },
                "lr_decay = 0 is invalid: must be in (0, 1]",
            ),
            (
                TrainConfig {
                    hidden_size: 0,
                    ..base.clone()
                },
                "hidden_size = 0 is invalid: must be an integer >= 1",
            ),
            (
                TrainConfig { epochs: 0, ..base.clone() },
                "epochs = 0 is invalid: must be an integer >= 1",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..base.clone()
                },
                "batch_size = 0 is invalid: must be an integer >= 1",
            ),
            (
                TrainConfig {
                    init: Init::Std(0.0),
                    ..base.clone()
                },
                "init_std = 0 is invalid: must be a finite number > 0",
            ),
        ];
        for (c, msg) in cases {
            assert_eq!(c.check().unwrap_err().to_string(), msg);
        }
        assert!(base.check().is_ok());
    }

    #[test]
    fn toy_problem_with_report_shapes_trains_below_one() {
        // The report's toy setup: D=4, H=10, C=3; it reached a final loss of 0.52.
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&cfg(0.5, 40), ds.train_data(), &mut Quiet);
        assert_eq!(out.status, Status::Completed);
        let last = *out.history.iter_loss.last().unwrap();
        assert!(last < 1.0, "final loss {last}");
        assert!(out.best_val_acc > 0.8, "val acc {}", out.best_val_acc);
        assert_eq!(out.history.epochs.len(), 40);
        assert_eq!(out.history.iter_loss.len(), 40 * 6);
        // lr decays once per epoch
        assert!((out.history.epochs[1].lr - 0.5 * 0.95).abs() < 1e-12);
    }

    #[test]
    fn same_seed_gives_bit_identical_results_and_another_seed_does_not() {
        let ds = toy_dataset(0, 300, 100, 100);
        let a = train(&cfg(0.5, 5), ds.train_data(), &mut Quiet);
        let b = train(&cfg(0.5, 5), ds.train_data(), &mut Quiet);
        assert_eq!(a.history, b.history);
        assert_eq!(a.best_net, b.best_net);
        let mut other = (*cfg(0.5, 5)).clone();
        other.seed = 8;
        let c = train(&other.check().unwrap(), ds.train_data(), &mut Quiet);
        assert_ne!(a.history.iter_loss, c.history.iter_loss);
    }

    #[test]
    fn epoch_order_depends_on_shuffle_seed_and_epoch_only() {
        let a3 = epoch_order(5, 3, 100);
        // A permutation, drawn afresh per epoch: the same without drawing epochs 1 and 2 first.
        let mut sorted = a3.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 3, 100), a3);
        assert_ne!(epoch_order(5, 2, 100), a3);
        assert_ne!(epoch_order(6, 3, 100), a3);
        assert_ne!(a3, (0..100).collect::<Vec<_>>());
        assert_eq!(train_acc_sample(0, 10_000).len(), TRAIN_ACC_SAMPLE);
        assert_eq!(train_acc_sample(9, 300), (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn shuffle_seed_changes_the_history() {
        let ds = toy_dataset(0, 300, 100, 100);
        let base = (*cfg(0.5, 2)).clone();
        let a = train(&base.clone().check().unwrap(), ds.train_data(), &mut Quiet);
        let other = TrainConfig {
            shuffle_seed: 4,
            ..base.clone()
        };
        let b = train(&other.check().unwrap(), ds.train_data(), &mut Quiet);
        // Same init (seed), another data order.
        assert_ne!(a.history.iter_loss, b.history.iter_loss);
    }

    #[test]
    fn huge_learning_rate_ends_as_diverged_without_panic() {
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&cfg(1e4, 5), ds.train_data(), &mut Quiet);
        assert_eq!(out.status, Status::Diverged);
        assert!(!out.history.iter_loss.is_empty());
    }

    #[test]
    fn best_epoch_parameters_are_kept_and_observer_can_stop() {
        struct StopAfter(usize, usize);
        impl Observer for StopAfter {
            fn on_iteration(&mut self, _: usize, _: f32) -> Control {
                self.1 += 1;
                Control::Continue
            }
            fn on_epoch(&mut self, r: &EpochRecord) -> Control {
                if r.epoch >= self.0 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            }
        }
        let ds = toy_dataset(0, 300, 100, 100);
        let mut obs = StopAfter(3, 0);
        let out = train(&cfg(0.5, 10), ds.train_data(), &mut obs);
        assert_eq!(out.status, Status::Stopped);
        assert_eq!(out.history.epochs.len(), 3);
        assert_eq!(obs.1, 18);
        let best = out.best_net.unwrap();
        let e = out.best_epoch.unwrap();
        assert_eq!(out.history.epochs[e - 1].val_acc, out.best_val_acc);
        assert_eq!(best.accuracy(ds.x_val.view(), &ds.y_val), out.best_val_acc);
    }
}
