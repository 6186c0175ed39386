//! Minibatch training (SGD or the optimizers of [`crate::optim`]) with a per-epoch learning-rate schedule, dropout and
//! augmentation: history, best-epoch parameters, divergence detection, an observer, and pause/continue through
//! [`Trainer`] and [`TrainState`].
//!
//! Randomness: the network's initialization and dropout masks come from the job's `seed`; the data order, the
//! train-accuracy sample and the augmentation draws from `shuffle_seed` (shared by all jobs of a sweep). Every draw
//! is seeded by (seed, epoch[, iteration]) alone, never by a stream consumed since the start, so a run can continue
//! from any saved state exactly.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, TrainError};
use crate::linalg::{gemm, Finish, Precision};
use crate::network::{Init, Params, TwoLayerNet, Upper, Workspace};
use crate::optim::{Hyper, OptimState, Optimizer};
use crate::rng::{derive_seed, rng_for};

/// Training images used for the per-epoch train accuracy: a fixed sample, so that it stays cheap.
pub const TRAIN_ACC_SAMPLE: usize = 5000;
/// A loss above this many times its starting value (or 1, if larger) counts as divergence.
pub const DIVERGENCE_FACTOR: f64 = 10.0;

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
    /// [`epoch_order`]`(shuffle_seed, e)`, independent of earlier epochs, so training can pause after any epoch.
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
    /// `1 / (1 - dropout)`), off at evaluation; masks drawn per job from [`dropout_mask`]`(seed, epoch, iteration)`.
    #[serde(default)]
    pub dropout: f64,
    /// How the learning rate changes from epoch to epoch (per epoch, constant within one); see [`epoch_lr`].
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Epochs of linear warmup at the start (0 = none); see [`epoch_lr`].
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Probability of flipping each training image horizontally, in [0, 1] (0 = off). See [`augment_image`].
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

/// What a training run reads: training and validation inputs (N,D) with labels, and the number of classes.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    pub x_train: ArrayView2<'a, f32>,
    pub y_train: &'a [u8],
    pub x_val: ArrayView2<'a, f32>,
    pub y_val: &'a [u8],
    pub num_classes: usize,
    /// The mean image (D values) subtracted from every input; augmentation needs it (may be empty otherwise).
    pub mean: ArrayView1<'a, f32>,
    /// Shape of one input before flattening: `[channels, height, width]` (channel-major) for images.
    pub input_shape: &'a [usize],
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

/// The learning rate of `epoch` (1-based): the schedule's rate times the warmup factor.
///
/// - schedule: [`LrSchedule::Step`] uses `step_lr`, the running product `learning_rate * lr_decay^(epoch - 1)` kept in
///   [`TrainState::lr`]; [`LrSchedule::Cosine`] is `learning_rate * 0.5 * (1 + cos(pi * min(epoch - 1, T) / T))`
///   with `T = cfg.epochs`.
/// - warmup: with `W = warmup_epochs > 0`, epochs `1..=W` are multiplied by `epoch / (W + 1)` (a linear ramp from
///   `1 / (W + 1)` of the rate up to the full rate in epoch `W + 1`); later epochs by 1. W = 0 is no warmup.
pub fn epoch_lr(cfg: &TrainConfig, epoch: usize, step_lr: f64) -> f64 {
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

/// One image's random transform: a horizontal flip and/or a translation by (`dy`, `dx`) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    pub flip: bool,
    /// Output pixel (i, j) shows input pixel (i + dy, j + dx) (before the flip), or padding outside the image.
    pub dy: isize,
    pub dx: isize,
}

/// Writes the transformed image `t(src)` into `out`, both centred (raw / 255 minus `mean`) and flattened channel-major
/// with `shape = [C, H, W]`.
///
/// The transform acts in pixel space, as torchvision's `RandomCrop(padding=N)` then `RandomHorizontalFlip` would on the
/// raw image before normalization: output pixel (c, i, j) is raw pixel (c, i + dy, j' + dx) with `j' = W - 1 - j` when
/// flipped (else `j`), or 0 (zero padding) outside the image; then the mean of the *output* position is subtracted.
/// So a kept pixel is `src[s] + mean[s] - mean[d]` and a padded one is `-mean[d]`.
pub fn augment_image(src: ArrayView1<'_, f32>, mean: ArrayView1<'_, f32>, shape: [usize; 3], t: Augment, mut out: ArrayViewMut1<'_, f32>) {
    let [c, h, w] = shape;
    if t == Augment::default() {
        out.assign(&src);
        return;
    }
    let (hi, wi) = (h as isize, w as isize);
    for ch in 0..c {
        for i in 0..h {
            let si = i as isize + t.dy;
            let row = ch * h * w + i * w;
            for j in 0..w {
                let sj = if t.flip { (w - 1 - j) as isize } else { j as isize } + t.dx;
                let d = row + j;
                out[d] = if (0..hi).contains(&si) && (0..wi).contains(&sj) {
                    let s = ch * h * w + si as usize * w + sj as usize;
                    src[s] + mean[s] - mean[d]
                } else {
                    -mean[d]
                };
            }
        }
    }
}

/// Copies the rows of minibatch `iteration` of `epoch` (per `order`, of `xb.nrows()` rows) into `xb`/`yb`, each image
/// transformed as `cfg.flip` and `cfg.crop` say. The transforms are drawn from (shuffle_seed, epoch, iteration) only,
/// so every job sharing the shuffle seed (and batch size) trains on the same augmented batches.
///
/// `shape` is the image shape `[C, H, W]`; it is only read when augmentation is on.
#[allow(clippy::too_many_arguments)]
pub fn gather_batch(
    cfg: &TrainConfig,
    data: &TrainData<'_>,
    shape: [usize; 3],
    epoch: usize,
    iteration: usize,
    order: &[usize],
    xb: &mut Array2<f32>,
    yb: &mut [u8],
) {
    let b = xb.nrows();
    let idx = &order[iteration * b..(iteration + 1) * b];
    if cfg.flip == 0.0 && cfg.crop == 0 {
        Zip::from(xb.rows_mut())
            .and(idx)
            .for_each(|mut row, &i| row.assign(&data.x_train.row(i)));
    } else {
        let mut rng = rng_for(
            derive_seed(cfg.shuffle_seed, "augment"),
            &format!("epoch-{epoch}-iteration-{iteration}"),
        );
        let c = cfg.crop as isize;
        for (row, &i) in xb.rows_mut().into_iter().zip(idx) {
            let flip = cfg.flip > 0.0 && rng.gen::<f64>() < cfg.flip;
            let (dy, dx) = if c > 0 {
                (rng.gen_range(-c..=c), rng.gen_range(-c..=c))
            } else {
                (0, 0)
            };
            augment_image(data.x_train.row(i), data.mean, shape, Augment { flip, dy, dx }, row);
        }
    }
    for (t, &i) in yb.iter_mut().zip(idx) {
        *t = data.y_train[i];
    }
}

/// Fills `mask` (B,H) with the dropout mask of job `seed` at (`epoch`, `iteration`): each entry independently 0 with
/// probability `p`, else `1 / (1 - p)`. Drawn from an RNG seeded by (seed, epoch, iteration) alone, so a run
/// continued from any point draws the same masks.
pub fn dropout_mask(seed: u64, epoch: usize, iteration: usize, p: f64, mask: &mut Array2<f32>) {
    let mut rng = rng_for(derive_seed(seed, "dropout"), &format!("epoch-{epoch}-iteration-{iteration}"));
    let (p, keep) = (p as f32, (1.0 / (1.0 - p)) as f32);
    mask.mapv_inplace(|_| if rng.gen::<f32>() < p { 0.0 } else { keep });
}

/// The fixed sample of training rows (sorted) whose accuracy is reported each epoch; derived from `shuffle_seed`.
pub fn train_acc_sample(shuffle_seed: u64, n: usize) -> Vec<usize> {
    let mut r = rng_for(shuffle_seed, "train-acc-sample");
    let mut s = rand::seq::index::sample(&mut r, n, n.min(TRAIN_ACC_SAMPLE)).into_vec();
    s.sort_unstable();
    s
}

/// Everything needed to continue a run exactly where it paused: after any epoch, or after any iteration if an
/// observer stopped it mid-epoch. Saved and loaded as one safetensors file by [`TrainState::save`] / [`TrainState::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// The configuration the run belongs to.
    pub config: TrainConfig,
    /// Current parameters.
    pub net: TwoLayerNet<f32>,
    /// The epoch (1-based) that runs next; `epochs_done() = next_epoch - 1`.
    pub next_epoch: usize,
    /// The iteration of `next_epoch` that runs next (0 at an epoch boundary; > 0 only after a stop mid-epoch).
    pub next_iteration: usize,
    /// Sum of the losses of `next_epoch`'s iterations done so far (0 at an epoch boundary).
    pub epoch_loss_sum: f64,
    /// The `step` schedule's learning rate for `next_epoch`: `learning_rate * lr_decay^(next_epoch - 1)`, kept as a
    /// running product (so that results stay bit-identical to multiplying once per epoch).
    pub lr: f64,
    pub history: History,
    /// The epoch (1-based) with the best validation accuracy so far.
    pub best_epoch: Option<usize>,
    pub best_val_acc: f64,
    /// Parameters at `best_epoch`.
    pub best_net: Option<TwoLayerNet<f32>>,
    /// The first iteration's loss, the reference of divergence detection.
    pub start_loss: Option<f64>,
    /// How the last call of [`Trainer::run_to`] ended (`Completed` also for a fresh state). A diverged run does not go on.
    pub status: Status,
    /// Training and validation set sizes the state was made with, checked when continuing.
    pub n_train: usize,
    pub n_val: usize,
    /// The optimizer's buffers and step count.
    pub optim: OptimState,
}

impl TrainState {
    /// Epochs finished so far.
    pub fn epochs_done(&self) -> usize {
        self.next_epoch - 1
    }

    /// The result so far, as [`train`] returns it.
    pub fn outcome(&self) -> TrainOutcome {
        TrainOutcome {
            status: self.status,
            history: self.history.clone(),
            best_epoch: self.best_epoch,
            best_val_acc: self.best_val_acc,
            best_net: self.best_net.clone(),
        }
    }

    /// The same, consuming the state (no copies).
    pub fn into_outcome(self) -> TrainOutcome {
        TrainOutcome {
            status: self.status,
            history: self.history,
            best_epoch: self.best_epoch,
            best_val_acc: self.best_val_acc,
            best_net: self.best_net,
        }
    }
}

/// Trains one job epoch by epoch; can stop after any epoch, hand out its [`TrainState`], and be rebuilt from a state
/// (e.g. loaded from disk) to continue, with results bit-identical to an uninterrupted run.
///
/// Each epoch visits [`epoch_order`]`(shuffle_seed, epoch)` of the training set in `N / batch_size` full batches (a
/// final partial batch is dropped; a training set smaller than one batch is used whole).
pub struct Trainer<'a> {
    cfg: ValidConfig,
    data: TrainData<'a>,
    state: TrainState,
    train_sample: Vec<usize>,
    val_idx: Vec<usize>,
    batch: usize,
    iters: usize,
    ws: Workspace<f32>,
    xb: Array2<f32>,
    yb: Vec<u8>,
    /// The full gradient, for optimizers other than plain SGD.
    grads: Option<Params<f32>>,
    /// The dropout mask (B,H), when dropout is on.
    mask: Option<Array2<f32>>,
    /// `[C, H, W]` of the inputs when augmentation is on (else unused).
    image_shape: [usize; 3],
}

/// Whether `cfg` can train on `data`, without training: a training set that is not empty, and images (with their
/// mean) when flip or crop is asked for. Returns the `[C, H, W]` image shape (zeros when augmentation is off). Cheap:
/// a sweep checks every job with it before it starts.
pub fn check_data(cfg: &TrainConfig, data: &TrainData<'_>) -> Result<[usize; 3], TrainError> {
    let (n, d) = data.x_train.dim();
    if n == 0 {
        return Err(TrainError::NoData);
    }
    let mut image_shape = [0; 3];
    if cfg.flip > 0.0 || cfg.crop > 0 {
        let shape = data.input_shape;
        let fits = shape.len() == 3 && shape.iter().product::<usize>() == d && data.mean.len() == d;
        if !fits {
            return Err(TrainError::Augmentation(format!(
                "flip and crop need images: an input shape [C, H, W] with C*H*W = {d} and a mean image of {d} \
                 values; the data have shape {shape:?} and a mean of {} values",
                data.mean.len()
            )));
        }
        image_shape = [shape[0], shape[1], shape[2]];
        if cfg.crop >= shape[1].min(shape[2]) {
            return Err(TrainError::Augmentation(format!(
                "crop = {} must be smaller than the image ({}x{})",
                cfg.crop, shape[2], shape[1]
            )));
        }
    }
    Ok(image_shape)
}

impl<'a> Trainer<'a> {
    /// A fresh run: the network initialized from `cfg.seed`, nothing trained yet.
    pub fn new(cfg: &ValidConfig, data: TrainData<'a>) -> Result<Self, TrainError> {
        let (n, d) = data.x_train.dim();
        if n == 0 {
            return Err(TrainError::NoData);
        }
        let mut init_rng = rng_for(cfg.seed, "init");
        let net = TwoLayerNet::<f32>::new(d, cfg.hidden_size, data.num_classes, cfg.init, &mut init_rng);
        let state = TrainState {
            config: (**cfg).clone(),
            optim: OptimState::new(cfg.optimizer, &net.params),
            net,
            next_epoch: 1,
            next_iteration: 0,
            epoch_loss_sum: 0.0,
            lr: cfg.learning_rate,
            history: History::default(),
            best_epoch: None,
            best_val_acc: 0.0,
            best_net: None,
            start_loss: None,
            status: Status::Completed,
            n_train: n,
            n_val: data.x_val.nrows(),
        };
        Self::resume(state, data)
    }

    /// Continues from `state` on the same data it was made with (checked: sizes and shapes).
    pub fn resume(state: TrainState, data: TrainData<'a>) -> Result<Self, TrainError> {
        let cfg = state.config.clone().check()?;
        let (n, d) = data.x_train.dim();
        if n == 0 {
            return Err(TrainError::NoData);
        }
        let net = &state.net;
        let mismatch = |what: &str, state_has: String, data_has: String| {
            Err(TrainError::Mismatch(format!(
                "{what}: the state has {state_has}, the data have {data_has}"
            )))
        };
        if (net.input_size(), net.num_classes()) != (d, data.num_classes) {
            return mismatch(
                "input size and classes",
                format!("{} and {}", net.input_size(), net.num_classes()),
                format!("{d} and {}", data.num_classes),
            );
        }
        if net.hidden_size() != cfg.hidden_size {
            return mismatch("hidden units", net.hidden_size().to_string(), format!("config {}", cfg.hidden_size));
        }
        if (state.n_train, state.n_val) != (n, data.x_val.nrows()) {
            return mismatch(
                "training and validation images",
                format!("{} and {}", state.n_train, state.n_val),
                format!("{n} and {}", data.x_val.nrows()),
            );
        }
        state.optim.check_fits(cfg.optimizer).map_err(TrainError::Mismatch)?;
        for p in state.optim.buffers().into_iter().flatten() {
            if p.w1.dim() != state.net.params.w1.dim() || p.w2.dim() != state.net.params.w2.dim() {
                return Err(TrainError::Mismatch(
                    "the optimizer buffers have other shapes than the parameters".into(),
                ));
            }
        }
        let image_shape = check_data(&cfg, &data)?;
        let batch = cfg.batch_size.min(n).max(1);
        let iters = (n / batch).max(1);
        if state.next_epoch == 0 || state.next_iteration > iters {
            return Err(TrainError::Mismatch(format!(
                "the state is at epoch {} iteration {}, but an epoch has {iters} iterations",
                state.next_epoch, state.next_iteration
            )));
        }
        Ok(Self {
            train_sample: train_acc_sample(cfg.shuffle_seed, n),
            val_idx: (0..data.x_val.nrows()).collect(),
            batch,
            iters,
            ws: Workspace::with_precision(batch, cfg.hidden_size, data.num_classes, cfg.precision),
            xb: Array2::zeros((batch, d)),
            yb: vec![0; batch],
            grads: (cfg.optimizer != Optimizer::Sgd).then(|| state.net.params.clone()),
            mask: (cfg.dropout > 0.0).then(|| Array2::zeros((batch, cfg.hidden_size))),
            image_shape,
            cfg,
            data,
            state,
        })
    }

    /// The state so far.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Hands out the state (to save it, or to resume later).
    pub fn into_state(self) -> TrainState {
        self.state
    }

    /// The result so far.
    pub fn outcome(&self) -> TrainOutcome {
        self.state.outcome()
    }

    /// SGD iterations per epoch.
    pub fn iterations_per_epoch(&self) -> usize {
        self.iters
    }

    /// Rows per minibatch (`batch_size`, or the whole training set if smaller).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Trains until `last_epoch` (1-based, inclusive) is finished — also past the config's `epochs`, e.g. for
    /// successive halving — or until divergence or the observer says stop. Returns how it ended (also kept in the
    /// state). A diverged state does not train further; a state already at `last_epoch` returns `Completed`.
    pub fn run_to(&mut self, last_epoch: usize, observer: &mut dyn Observer) -> Status {
        if self.state.status == Status::Diverged {
            return Status::Diverged;
        }
        let status = self.run_epochs(last_epoch, observer);
        self.state.status = status;
        status
    }

    fn run_epochs(&mut self, last_epoch: usize, observer: &mut dyn Observer) -> Status {
        let iters = self.iters;
        let n = self.data.x_train.nrows();
        let reg = self.cfg.reg as f32;
        while self.state.next_epoch <= last_epoch {
            let epoch = self.state.next_epoch;
            let lr = epoch_lr(&self.cfg, epoch, self.state.lr);
            let order = epoch_order(self.cfg.shuffle_seed, epoch, n);
            for it in self.state.next_iteration..iters {
                gather_batch(
                    &self.cfg,
                    &self.data,
                    self.image_shape,
                    epoch,
                    it,
                    &order,
                    &mut self.xb,
                    &mut self.yb,
                );
                self.prepare_step(epoch, it);
                let st = &mut self.state;
                let mask = self.mask.as_ref().map(|m| m.view());
                let loss = match &mut self.grads {
                    None => st.net.sgd_step_masked(self.xb.view(), &self.yb, reg, lr as f32, mask, &mut self.ws),
                    Some(g) => {
                        let loss = st
                            .net
                            .loss_and_grads_into(self.xb.view(), &self.yb, l2_in_loss(&self.cfg), mask, &mut self.ws, g);
                        st.optim.update(self.cfg.optimizer, &hyper(&self.cfg, lr), &mut st.net.params, g);
                        loss
                    }
                }
                .total;
                if let Some(end) = self.after_step(it, loss, observer) {
                    return end;
                }
            }
            if let Some(end) = self.end_epoch(epoch, lr, observer) {
                return end;
            }
        }
        Status::Completed
    }
}

/// The numbers an optimizer step at `lr` reads from the configuration.
fn hyper(cfg: &TrainConfig, lr: f64) -> Hyper {
    Hyper {
        lr,
        reg: cfg.reg,
        momentum: cfg.momentum,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
    }
}

/// The L2 strength inside the loss (and the gradient): `reg`, except for AdamW, whose decay is decoupled.
fn l2_in_loss(cfg: &TrainConfig) -> f32 {
    if cfg.optimizer.l2_in_loss() {
        cfg.reg as f32
    } else {
        0.0
    }
}

/// Where a fused step takes W1's gradient product from (see [`Trainer::fused_w1`]).
pub(crate) enum W1Source<'g> {
    /// This job's block of `xᵀ · [dh_1 … dh_K]`, finished with the backend's rounding.
    Shared(&'g Finish, ArrayView2<'g, f32>),
    /// The batch `x`: multiply `xᵀ · dh` for this job alone.
    Alone(ArrayView2<'g, f32>),
}

impl<'a> Trainer<'a> {
    /// After step `it` of the current epoch with loss `loss`: records it, checks for divergence and asks the
    /// observer. `Some` ends the run.
    pub(crate) fn after_step(&mut self, it: usize, loss: f32, observer: &mut dyn Observer) -> Option<Status> {
        let st = &mut self.state;
        st.history.iter_loss.push(loss);
        st.next_iteration = it + 1;
        let l = f64::from(loss);
        let start = *st.start_loss.get_or_insert(l);
        if !l.is_finite() || l > DIVERGENCE_FACTOR * start.max(1.0) {
            return Some(Status::Diverged);
        }
        st.epoch_loss_sum += l;
        if observer.on_iteration(st.history.iter_loss.len() - 1, loss) == Control::Stop {
            return Some(Status::Stopped);
        }
        None
    }

    /// After the last step of `epoch` (trained at `lr`): evaluates, records the epoch, keeps the best parameters,
    /// moves to the next epoch and asks the observer. `Some` ends the run.
    pub(crate) fn end_epoch(&mut self, epoch: usize, lr: f64, observer: &mut dyn Observer) -> Option<Status> {
        let st = &mut self.state;
        let record = EpochRecord {
            epoch,
            lr,
            loss: st.epoch_loss_sum / self.iters as f64,
            train_acc: accuracy_on(&st.net, self.data.x_train, self.data.y_train, &self.train_sample),
            val_acc: accuracy_on(&st.net, self.data.x_val, self.data.y_val, &self.val_idx),
        };
        st.history.epochs.push(record);
        if st.best_epoch.is_none() || record.val_acc > st.best_val_acc {
            st.best_epoch = Some(epoch);
            st.best_val_acc = record.val_acc;
            st.best_net = Some(st.net.clone());
        }
        st.next_epoch += 1;
        st.next_iteration = 0;
        st.epoch_loss_sum = 0.0;
        st.lr *= self.cfg.lr_decay;
        (observer.on_epoch(&record) == Control::Stop).then_some(Status::Stopped)
    }

    /// The configuration.
    pub fn config(&self) -> &ValidConfig {
        &self.cfg
    }

    /// What step `it` of `epoch` needs of this job before its first product (alone, or the shared one of a fused
    /// step): its dropout mask.
    pub(crate) fn prepare_step(&mut self, epoch: usize, it: usize) {
        if let Some(m) = &mut self.mask {
            dropout_mask(self.cfg.seed, epoch, it, self.cfg.dropout, m);
        }
    }

    /// This job's `x · W1`, to be filled by the fused step.
    pub(crate) fn fused_hidden(&mut self) -> &mut Array2<f32> {
        &mut self.ws.a
    }

    /// The step of this job once its `x · W1` is in place: everything but W1, as [`TwoLayerNet::sgd_step_masked`] or
    /// [`TwoLayerNet::loss_and_grads_into`] would do it. Returns the loss; `dL/d(x · W1)` is then [`Trainer::fused_dh`].
    pub(crate) fn fused_upper(&mut self, yb: &[u8], lr: f64) -> f32 {
        let reg = self.cfg.reg as f32;
        let mask = self.mask.as_ref().map(|m| m.view());
        let net = &mut self.state.net;
        let (l2, upper) = match &mut self.grads {
            None => (reg, Upper::Sgd(lr as f32)),
            Some(g) => (l2_in_loss(&self.cfg), Upper::Grads(g)),
        };
        let reg_loss = net.reg_loss(l2);
        let data = net.step_from_hidden(yb, l2, mask, &mut self.ws, upper);
        data + reg_loss
    }

    /// `dL/d(x · W1)` of the last [`Trainer::fused_upper`].
    pub(crate) fn fused_dh(&self) -> ArrayView2<'_, f32> {
        self.ws.dh.view()
    }

    /// Finishes the step on W1 from `src` (this job's share of the shared backward product, finished as the
    /// single-job step's GEMM would round it, or the batch to multiply alone), and copies the new W1 into `mirror`
    /// (its block of the fused W1).
    pub(crate) fn fused_w1(&mut self, src: W1Source<'_>, lr: f64, mut mirror: ArrayViewMut2<'_, f32>) {
        let reg = self.cfg.reg as f32;
        let st = &mut self.state;
        let dh = self.ws.dh.view();
        match &mut self.grads {
            None => {
                let lr = lr as f32;
                let beta = 1.0 - lr * reg;
                match src {
                    W1Source::Shared(finish, g) => finish.apply(-lr, g, beta, st.net.params.w1.view_mut(), Some(mirror)),
                    W1Source::Alone(x) => {
                        gemm(-lr, x.t(), dh, beta, st.net.params.w1.view_mut());
                        mirror.assign(&st.net.params.w1);
                    }
                }
            }
            Some(grads) => {
                let l2 = l2_in_loss(&self.cfg);
                grads.w1.assign(&st.net.params.w1);
                match src {
                    W1Source::Shared(finish, g) => finish.apply(1.0, g, l2, grads.w1.view_mut(), None),
                    W1Source::Alone(x) => gemm(1.0, x.t(), dh, l2, grads.w1.view_mut()),
                }
                st.optim
                    .update(self.cfg.optimizer, &hyper(&self.cfg, lr), &mut st.net.params, grads);
                mirror.assign(&st.net.params.w1);
            }
        }
    }

    /// The training set size, the epoch's iterations, the batch size and the image shape, for fused training.
    pub(crate) fn fused_shape(&self) -> (usize, usize, usize, [usize; 3]) {
        (self.data.x_train.nrows(), self.iters, self.batch, self.image_shape)
    }

    /// The data this job trains on.
    pub(crate) fn data(&self) -> TrainData<'a> {
        self.data
    }

    /// Marks how the last run ended, as [`Trainer::run_to`] does.
    pub(crate) fn set_status(&mut self, status: Status) {
        self.state.status = status;
    }
}

/// Trains a fresh network on `data` with `cfg` straight through its `epochs`. Same config (seeds included) and data
/// give bit-identical results. See [`Trainer`] to pause and continue.
///
/// # Panics
/// If [`Trainer::new`] refuses the data (an empty training set).
pub fn train(cfg: &ValidConfig, data: TrainData<'_>, observer: &mut dyn Observer) -> TrainOutcome {
    let mut trainer = match Trainer::new(cfg, data) {
        Ok(t) => t,
        Err(e) => panic!("cannot train: {e}"),
    };
    trainer.run_to(cfg.epochs, observer);
    trainer.into_state().into_outcome()
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
            ..TrainConfig::default()
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
            (
                TrainConfig {
                    dropout: 1.0,
                    ..base.clone()
                },
                "dropout = 1 is invalid: must be in [0, 1)",
            ),
            (
                TrainConfig { flip: 1.5, ..base.clone() },
                "flip = 1.5 is invalid: must be in [0, 1]",
            ),
            (
                TrainConfig { crop: 17, ..base.clone() },
                "crop = 17 is invalid: must be an integer in 0..=16 (pixels)",
            ),
            (
                TrainConfig {
                    momentum: 1.0,
                    ..base.clone()
                },
                "momentum = 1 is invalid: must be in [0, 1)",
            ),
            (
                TrainConfig {
                    beta1: -0.1,
                    ..base.clone()
                },
                "beta1 = -0.1 is invalid: must be in [0, 1)",
            ),
            (
                TrainConfig {
                    beta2: 1.0,
                    ..base.clone()
                },
                "beta2 = 1 is invalid: must be in [0, 1)",
            ),
            (
                TrainConfig { eps: 0.0, ..base.clone() },
                "eps = 0 is invalid: must be a finite number > 0",
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

    /// Trains `cfg` on the toy problem to `pause` (saving, loading and resuming there) and then to `to`; compares
    /// everything with a run straight to `to`.
    fn assert_pause_continue_is_exact(cfg: &ValidConfig, pause: usize, to: usize) {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut straight = Trainer::new(cfg, ds.train_data()).unwrap();
        assert_eq!(straight.run_to(to, &mut Quiet), Status::Completed);

        let mut first = Trainer::new(cfg, ds.train_data()).unwrap();
        assert_eq!(first.run_to(pause, &mut Quiet), Status::Completed);
        assert_eq!(first.state().epochs_done(), pause);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.safetensors");
        first.state().save(&path).unwrap();
        let loaded = TrainState::load(&path).unwrap();
        assert_eq!(&loaded, first.state());
        // The best parameters are stored once when they are the current ones (the best epoch is the last).
        let stored_twice = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains("\"best.W1\"");
        assert_eq!(
            stored_twice,
            loaded.best_epoch != Some(pause),
            "best epoch {:?} of {pause}",
            loaded.best_epoch
        );
        drop(first);
        let mut second = Trainer::resume(loaded, ds.train_data()).unwrap();
        assert_eq!(second.run_to(to, &mut Quiet), Status::Completed);

        let (a, b) = (straight.state(), second.state());
        assert_eq!(a.history, b.history);
        assert_eq!(a.history.epochs.len(), to);
        assert_eq!(a.net, b.net);
        assert_eq!(a.optim, b.optim);
        assert_eq!(a, b);
        let (oa, ob) = (straight.outcome(), second.outcome());
        assert_eq!(ob.status, Status::Completed);
        assert_eq!((oa.best_epoch, oa.best_val_acc), (ob.best_epoch, ob.best_val_acc));
        assert_eq!(oa.best_net, ob.best_net);
        assert!(ob.best_net.is_some());
        // And the simple API gives the same run.
        if to == cfg.epochs {
            let t = train(cfg, ds.train_data(), &mut Quiet);
            assert_eq!(t.history, ob.history);
            assert_eq!(t.best_net, ob.best_net);
        }
    }

    /// Every optimizer with a learning rate that suits it on the toy problem (plain SGD first).
    const OPTIMIZER_LRS: [(Optimizer, f64); 5] = [
        (Optimizer::Sgd, 0.5),
        (Optimizer::Momentum, 0.05),
        (Optimizer::Nesterov, 0.05),
        (Optimizer::Adam, 0.01),
        (Optimizer::AdamW, 0.01),
    ];

    #[test]
    fn trained_to_3_saved_loaded_and_continued_to_9_equals_straight_to_9_bit_for_bit() {
        assert_pause_continue_is_exact(&cfg(0.5, 9), 3, 9);
    }

    #[test]
    fn every_optimizer_pauses_and_continues_bit_for_bit_with_its_state() {
        for (optimizer, lr) in OPTIMIZER_LRS.into_iter().skip(1) {
            let c = TrainConfig {
                optimizer,
                learning_rate: lr,
                ..(*cfg(lr, 9)).clone()
            }
            .check()
            .unwrap();
            assert_pause_continue_is_exact(&c, 3, 9);
        }
    }

    #[test]
    fn every_optimizer_learns_the_toy_problem_and_they_differ() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut finals = Vec::new();
        for (optimizer, lr) in OPTIMIZER_LRS {
            let c = TrainConfig {
                optimizer,
                ..(*cfg(lr, 20)).clone()
            };
            let out = train(&c.check().unwrap(), ds.train_data(), &mut Quiet);
            assert_eq!(out.status, Status::Completed, "{optimizer:?}");
            assert!(out.best_val_acc > 0.8, "{optimizer:?}: val acc {}", out.best_val_acc);
            finals.push(out.best_net.unwrap());
        }
        for i in 0..finals.len() {
            for j in 0..i {
                assert_ne!(finals[i], finals[j], "optimizers {i} and {j} trained the same");
            }
        }
    }

    #[test]
    fn a_state_continues_past_its_configured_epochs_as_if_configured_longer() {
        // Successive halving: a job configured for 1 epoch, continued to 3 and then 9, follows the step schedule
        // lr * decay^(epoch-1) exactly as a 9-epoch job.
        let ds = toy_dataset(0, 300, 100, 100);
        let mut long = Trainer::new(&cfg(0.5, 9), ds.train_data()).unwrap();
        long.run_to(9, &mut Quiet);
        let mut short = Trainer::new(&cfg(0.5, 1), ds.train_data()).unwrap();
        short.run_to(1, &mut Quiet);
        let mut short = Trainer::resume(short.into_state(), ds.train_data()).unwrap();
        short.run_to(3, &mut Quiet);
        assert_eq!(short.state().history.epochs.len(), 3);
        short.run_to(9, &mut Quiet);
        assert_eq!(short.state().history, long.state().history);
        assert_eq!(short.state().net, long.state().net);
        assert!((short.state().history.epochs[8].lr - 0.5 * 0.95f64.powi(8)).abs() < 1e-15);
        // Asking for an epoch already done trains nothing.
        let before = short.state().clone();
        assert_eq!(short.run_to(5, &mut Quiet), Status::Completed);
        assert_eq!(short.state(), &before);
    }

    #[test]
    fn a_run_stopped_mid_epoch_continues_exactly() {
        struct StopAt(usize);
        impl Observer for StopAt {
            fn on_iteration(&mut self, i: usize, _: f32) -> Control {
                if i == self.0 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            }
        }
        let ds = toy_dataset(0, 300, 100, 100);
        let c = cfg(0.5, 4);
        let straight = train(&c, ds.train_data(), &mut Quiet);
        let mut t = Trainer::new(&c, ds.train_data()).unwrap();
        assert_eq!(t.run_to(4, &mut StopAt(8)), Status::Stopped);
        assert_eq!((t.state().next_epoch, t.state().next_iteration), (2, 3));
        let bytes = t.state().to_bytes();
        let mut t = Trainer::resume(TrainState::from_bytes(&bytes).unwrap(), ds.train_data()).unwrap();
        assert_eq!(t.run_to(4, &mut Quiet), Status::Completed);
        let out = t.outcome();
        assert_eq!(out.history, straight.history);
        assert_eq!(out.best_net, straight.best_net);
    }

    #[test]
    fn corrupt_foreign_and_mismatched_states_are_typed_errors() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut t = Trainer::new(&cfg(0.5, 2), ds.train_data()).unwrap();
        t.run_to(1, &mut Quiet);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.safetensors");
        let bytes = t.state().to_bytes();
        // Truncated.
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = TrainState::load(&path).unwrap_err();
        assert!(matches!(e, crate::CheckpointError::Format { .. }), "{e}");
        // A model checkpoint is not a training state.
        let model = crate::Model {
            net: t.state().net.clone(),
            mean: ndarray::Array1::zeros(4),
            meta: crate::checkpoint::ModelMeta {
                hyperparameters: TrainConfig::default(),
                class_names: vec!["a".into(), "b".into(), "c".into()],
                input_shape: vec![4],
                val_accuracy: 0.0,
                data_split: None,
            },
        };
        model.save(&path).unwrap();
        let e = TrainState::load(&path).unwrap_err().to_string();
        assert!(e.contains("expected `sweep-train-state`"), "{e}");
        // Missing file.
        let e = TrainState::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(e, crate::CheckpointError::Read { .. }), "{e}");
        // A state on other data.
        let other = toy_dataset(0, 200, 100, 100);
        match Trainer::resume(t.state().clone(), other.train_data()) {
            Err(TrainError::Mismatch(m)) => assert!(m.contains("300 and 100"), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("resumed on other data"),
        }
        // A state whose hidden size disagrees with its config.
        let mut s = t.state().clone();
        s.config.hidden_size = 11;
        assert!(matches!(Trainer::resume(s.clone(), ds.train_data()), Err(TrainError::Mismatch(_))));
        let e = TrainState::from_bytes(&s.to_bytes()).unwrap_err();
        assert!(e.contains("hidden units"), "{e}");
        // An invalid config inside a state.
        s.config.learning_rate = -1.0;
        s.config.hidden_size = 10;
        assert!(matches!(Trainer::resume(s, ds.train_data()), Err(TrainError::Config(_))));
    }

    #[test]
    fn a_diverged_state_does_not_train_on() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut t = Trainer::new(&cfg(1e4, 5), ds.train_data()).unwrap();
        assert_eq!(t.run_to(5, &mut Quiet), Status::Diverged);
        let before = t.state().clone();
        let mut t = Trainer::resume(TrainState::from_bytes(&before.to_bytes()).unwrap(), ds.train_data()).unwrap();
        assert_eq!(t.run_to(5, &mut Quiet), Status::Diverged);
        assert_eq!(t.state().history, before.history);
        assert_eq!(t.outcome().status, Status::Diverged);
    }

    #[test]
    fn dropout_masks_have_rate_p_scale_1_over_1_minus_p_and_depend_on_seed_epoch_iteration() {
        let mut m = Array2::zeros((200, 100));
        dropout_mask(1, 2, 3, 0.25, &mut m);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "{dropped}");
        assert!(m.iter().all(|&v| v == 0.0 || v == (1.0f64 / 0.75) as f32));
        let mut again = Array2::zeros((200, 100));
        dropout_mask(1, 2, 3, 0.25, &mut again);
        assert_eq!(m, again);
        for (s, e, i) in [(2, 2, 3), (1, 3, 3), (1, 2, 4)] {
            dropout_mask(s, e, i, 0.25, &mut again);
            assert_ne!(m, again, "{s} {e} {i}");
        }
    }

    #[test]
    fn dropout_trains_reproducibly_pauses_exactly_and_is_off_at_evaluation() {
        let ds = toy_dataset(0, 300, 100, 100);
        let c = TrainConfig {
            dropout: 0.3,
            ..(*cfg(0.5, 6)).clone()
        }
        .check()
        .unwrap();
        assert_pause_continue_is_exact(&c, 2, 6);
        let with = train(&c, ds.train_data(), &mut Quiet);
        let without = train(&cfg(0.5, 6), ds.train_data(), &mut Quiet);
        assert_ne!(with.history.iter_loss, without.history.iter_loss);
        assert!(with.best_val_acc > 0.8, "{}", with.best_val_acc);
        // Evaluation has no dropout: the recorded accuracy is the deterministic accuracy of the best parameters.
        let best = with.best_net.unwrap();
        assert_eq!(best.accuracy(ds.x_val.view(), &ds.y_val), with.best_val_acc);
        // Masks are per job: another init seed draws other masks even with the same data order.
        let other = TrainConfig { seed: 99, ..(*c).clone() };
        let mut t = Trainer::new(&other.check().unwrap(), ds.train_data()).unwrap();
        t.state.net = Trainer::new(&c, ds.train_data()).unwrap().state.net.clone();
        t.run_to(1, &mut Quiet);
        assert_ne!(t.state().history.iter_loss[..6], with.history.iter_loss[..6]);
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

    #[test]
    fn training_records_the_scheduled_rates_and_pauses_exactly_under_cosine_with_warmup() {
        let c = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            warmup_epochs: 2,
            ..(*cfg(0.5, 6)).clone()
        }
        .check()
        .unwrap();
        assert_pause_continue_is_exact(&c, 2, 6);
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&c, ds.train_data(), &mut Quiet);
        for r in &out.history.epochs {
            assert_eq!(r.lr, epoch_lr(&c, r.epoch, 0.0));
        }
        assert!((out.history.epochs[0].lr - 0.5 / 3.0).abs() < 1e-15);
        assert!(out.best_val_acc > 0.8);
        // Step decay with warmup: epoch 2 runs at 0.5 * 0.95 * 2/3.
        let s = TrainConfig {
            warmup_epochs: 2,
            ..(*cfg(0.5, 3)).clone()
        };
        let out = train(&s.check().unwrap(), ds.train_data(), &mut Quiet);
        assert!((out.history.epochs[1].lr - 0.5 * 0.95 * 2.0 / 3.0).abs() < 1e-15);
        assert!((out.history.epochs[2].lr - 0.5 * 0.95 * 0.95).abs() < 1e-15);
    }

    #[test]
    fn flip_and_crop_of_a_known_image_pixel_by_pixel() {
        // One channel, 2x3 pixels: raw values (already / 255) and a mean image; inputs are stored centred.
        let raw = ndarray::array![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mean = ndarray::array![0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
        let x = &raw - &mean;
        let run = |t: Augment| {
            let mut out = ndarray::Array1::zeros(6);
            augment_image(x.view(), mean.view(), [1, 2, 3], t, out.view_mut());
            out
        };
        let close = |got: ndarray::Array1<f32>, want: [f32; 6]| {
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!((g - w).abs() < 1e-6, "pixel {k}: {g} vs {w}");
            }
        };
        let t = |flip, dy, dx| Augment { flip, dy, dx };
        // Nothing: the input itself, bit for bit.
        assert_eq!(run(Augment::default()), x);
        // Flip: raw [[3,2,1],[6,5,4]] minus the mean.
        close(run(t(true, 0, 0)), [2.9, 1.8, 0.7, 5.6, 4.5, 3.4]);
        // Shift by (1, 1): raw [[5,6,0],[0,0,0]] (zero padding in pixel space) minus the mean.
        close(run(t(false, 1, 1)), [4.9, 5.8, -0.3, -0.4, -0.5, -0.6]);
        // Shift by (-1, 0): raw [[0,0,0],[1,2,3]].
        close(run(t(false, -1, 0)), [-0.1, -0.2, -0.3, 0.6, 1.5, 2.4]);
        // Crop then flip (torchvision's order): raw [[0,3,2],[0,6,5]].
        close(run(t(true, 0, 1)), [-0.1, 2.8, 1.7, -0.4, 5.5, 4.4]);
        // Channels are transformed alike and independently (2 channels of 1x2).
        let x2 = ndarray::array![1.0f32, 2.0, 10.0, 20.0];
        let mut out = ndarray::Array1::zeros(4);
        augment_image(
            x2.view(),
            ndarray::Array1::zeros(4).view(),
            [2, 1, 2],
            t(true, 0, 0),
            out.view_mut(),
        );
        assert_eq!(out, ndarray::array![2.0f32, 1.0, 20.0, 10.0]);
    }

    /// A small image data set: 3x4x4 images (D = 48), 3 classes told apart by their mean colour.
    fn images() -> (Array2<f32>, Vec<u8>, ndarray::Array1<f32>) {
        let mut r = rng_for(1, "test-images");
        let y: Vec<u8> = (0..120).map(|i| (i % 3) as u8).collect();
        let x = Array2::from_shape_fn((120, 48), |(i, j)| (j / 16 == y[i] as usize) as u8 as f32 + r.gen::<f32>() - 0.8);
        (x, y, ndarray::Array1::from_shape_fn(48, |j| j as f32 / 100.0))
    }

    #[test]
    fn augmented_batches_depend_on_shuffle_seed_only_and_training_with_them_continues_exactly() {
        let (x, y, mean) = images();
        let shape = [3usize, 4, 4];
        let data = TrainData {
            x_train: x.slice(ndarray::s![..90, ..]),
            y_train: &y[..90],
            x_val: x.slice(ndarray::s![90.., ..]),
            y_val: &y[90..],
            num_classes: 3,
            mean: mean.view(),
            input_shape: &shape,
        };
        let c = TrainConfig {
            flip: 0.5,
            crop: 1,
            batch_size: 30,
            ..(*cfg(0.1, 4)).clone()
        };
        let batch = |c: &TrainConfig, epoch, it| {
            let (mut xb, mut yb) = (Array2::zeros((30, 48)), vec![0; 30]);
            let order = epoch_order(c.shuffle_seed, epoch, 90);
            gather_batch(c, &data, shape, epoch, it, &order, &mut xb, &mut yb);
            (xb, yb)
        };
        let (a, ya) = batch(&c, 2, 1);
        // Another job (other init seed, other dropout) of the same sweep sees the same augmented batch.
        let other_job = TrainConfig {
            seed: 1234,
            dropout: 0.2,
            ..c.clone()
        };
        assert_eq!(batch(&other_job, 2, 1), (a.clone(), ya.clone()));
        // Another sweep seed, epoch or iteration: another batch.
        let other_sweep = TrainConfig {
            shuffle_seed: 1234,
            ..c.clone()
        };
        assert_ne!(batch(&other_sweep, 2, 1).0, a);
        assert_ne!(batch(&c, 3, 1).0, a);
        // Some rows are transformed, and the labels follow the rows.
        let plain = TrainConfig {
            flip: 0.0,
            crop: 0,
            ..c.clone()
        };
        let (p, yp) = batch(&plain, 2, 1);
        assert_eq!(ya, yp);
        let changed = a.rows().into_iter().zip(p.rows()).filter(|(u, v)| u != v).count();
        assert!(changed > 10, "{changed} of 30 rows transformed");

        let valid = c.check().unwrap();
        let mut straight = Trainer::new(&valid, data).unwrap();
        straight.run_to(4, &mut Quiet);
        let mut first = Trainer::new(&valid, data).unwrap();
        first.run_to(2, &mut Quiet);
        let mut second = Trainer::resume(TrainState::from_bytes(&first.state().to_bytes()).unwrap(), data).unwrap();
        second.run_to(4, &mut Quiet);
        assert_eq!(second.state(), straight.state());
        let unaugmented = train(&plain.check().unwrap(), data, &mut Quiet);
        assert_ne!(unaugmented.history.iter_loss, straight.state().history.iter_loss);
    }

    #[test]
    fn augmentation_needs_image_data_and_a_crop_smaller_than_the_image() {
        let ds = toy_dataset(0, 300, 100, 100);
        let flip = TrainConfig {
            flip: 0.5,
            ..(*cfg(0.1, 1)).clone()
        };
        assert!(matches!(
            Trainer::new(&flip.check().unwrap(), ds.train_data()),
            Err(TrainError::Augmentation(_))
        ));
        let (x, y, mean) = images();
        let data = TrainData {
            x_train: x.view(),
            y_train: &y,
            x_val: x.view(),
            y_val: &y,
            num_classes: 3,
            mean: mean.view(),
            input_shape: &[3, 4, 4],
        };
        let crop = |n| {
            TrainConfig {
                crop: n,
                ..(*cfg(0.1, 1)).clone()
            }
            .check()
            .unwrap()
        };
        assert!(Trainer::new(&crop(3), data).is_ok());
        match Trainer::new(&crop(4), data) {
            Err(e) => assert!(e.to_string().contains("crop = 4 must be smaller than the image (4x4)"), "{e}"),
            Ok(_) => panic!("crop 4 of a 4x4 image accepted"),
        }
    }
}
