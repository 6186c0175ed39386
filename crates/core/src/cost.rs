//! The one cost model: how much arithmetic a training step, an evaluation and an epoch take, and how fast this machine
//! does it. `sweep plan` estimates wall time with it, the runner schedules largest-first and draws its ETA with it, and
//! the benchmark reports GFLOP/s with it. It also says how much memory a job and its data hold ([`job_memory`],
//! [`data_memory`]) and how much this machine has ([`machine_memory`]), so that a grid whose model cannot fit is
//! refused before anything is allocated.

use std::time::{Duration, Instant};

use ndarray::Array2;

use crate::linalg::Precision;
use crate::network::{Init, TwoLayerNet, Workspace};
use crate::rng::rng_for;
use crate::train::{TrainConfig, TRAIN_ACC_SAMPLE};

/// The sizes that decide the work of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Training images.
    pub n_train: usize,
    /// Validation images (evaluated after every epoch).
    pub n_val: usize,
    /// Inputs per image (3,072 for CIFAR-10).
    pub input: usize,
    pub hidden: usize,
    pub classes: usize,
    pub batch: usize,
}

/// Floating-point operations of one SGD step: the two D×H GEMMs (forward X·W1, backward Xᵀ·dh fused into the W1
/// update) and the three H×C GEMMs (forward, dW2, dh). Elementwise work (ReLU, softmax, bias) is not counted.
pub fn step_flops(batch: usize, input: usize, hidden: usize, classes: usize) -> u64 {
    let (b, d, h, c) = (batch as u64, input as u64, hidden as u64, classes as u64);
    4 * b * d * h + 6 * b * h * c
}

/// Floating-point operations of scoring `n` images (the forward GEMMs).
pub fn eval_flops(n: usize, input: usize, hidden: usize, classes: usize) -> u64 {
    2 * n as u64 * (input as u64 * hidden as u64 + hidden as u64 * classes as u64)
}

impl Shape {
    /// SGD steps per epoch (a final partial batch is dropped; a set smaller than a batch is used whole).
    pub fn steps_per_epoch(&self) -> usize {
        let b = self.batch.min(self.n_train).max(1);
        (self.n_train / b).max(1)
    }

    /// Work of one epoch: its SGD steps, then the train-accuracy sample and the validation set scored.
    pub fn epoch_flops(&self) -> u64 {
        let b = self.batch.min(self.n_train).max(1);
        let steps = self.steps_per_epoch() as u64 * step_flops(b, self.input, self.hidden, self.classes);
        let scored = self.n_train.min(TRAIN_ACC_SAMPLE) + self.n_val;
        steps + eval_flops(scored, self.input, self.hidden, self.classes)
    }
}

/// This core's training throughput at one shape, in GFLOP/s: SGD steps on random data for about `budget`.
pub fn calibrate(shape: &Shape, budget: Duration) -> f64 {
    let b = shape.batch.min(shape.n_train).max(1);
    let mut rng = rng_for(0, "calibrate");
    let mut net = TwoLayerNet::<f32>::new(shape.input, shape.hidden, shape.classes, Init::Kaiming, &mut rng);
    let x = Array2::from_shape_fn((b, shape.input), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5);
    let y: Vec<u8> = (0..b).map(|i| (i % shape.classes) as u8).collect();
    let mut ws = Workspace::new(b, shape.hidden, shape.classes);
    net.sgd_step(x.view(), &y, 1e-4, 1e-3, &mut ws); // warm-up: page in the weights
    let started = Instant::now();
    let mut steps = 0u64;
    while steps < 2 || started.elapsed() < budget {
        net.sgd_step(x.view(), &y, 1e-4, 1e-3, &mut ws);
        steps += 1;
    }
    (steps * step_flops(b, shape.input, shape.hidden, shape.classes)) as f64 / started.elapsed().as_secs_f64() / 1e9
}

/// What one training job holds in memory at most, in bytes, by part (f32 values; see [`job_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobMemory {
    /// The network's parameters W1, b1, W2, b2.
    pub weights: u64,
    /// The optimizer's buffers (momentum: one copy of the parameters, Adam: two) and the gradient the non-SGD
    /// optimizers read (SGD fuses it into the update).
    pub optimizer: u64,
    /// The parameters of the best epoch so far.
    pub best: u64,
    /// One step's buffers (the minibatch, activations and their gradients, the dropout mask, bf16 copies), the
    /// evaluation's chunk and the index lists (epoch order, validation and train-accuracy samples).
    pub workspace: u64,
    /// The per-iteration loss and per-epoch records of every epoch, kept until the job ends.
    pub history: u64,
    /// The training state serialized after every epoch (parameters, buffers, best copy and history, once more).
    pub saved_state: u64,
}

impl JobMemory {
    /// All parts together (saturating: an absurd configuration gives `u64::MAX`, never a wrapped number).
    pub fn total(&self) -> u64 {
        [self.optimizer, self.best, self.workspace, self.history, self.saved_state]
            .into_iter()
            .fold(self.weights, u64::saturating_add)
    }
}

/// Bytes of `count` f32 values, saturating.
fn f32s(count: u128) -> u64 {
    u64::try_from(count.saturating_mul(4)).unwrap_or(u64::MAX)
}

/// Rows scored at once by an evaluation (`TwoLayerNet::predict`'s chunk).
const EVAL_CHUNK: u128 = 1000;

/// The memory one job of `cfg` holds while it trains on data of `shape` (its `hidden` and `batch` are the job's):
/// the weights, the optimizer's buffers, the best copy, one step's workspace, the history of `cfg.epochs` epochs and
/// the saved state. The data themselves are shared by every job and counted apart ([`data_memory`]).
pub fn job_memory(shape: &Shape, cfg: &TrainConfig) -> JobMemory {
    let (d, h, c) = (shape.input as u128, shape.hidden as u128, shape.classes as u128);
    let b = shape.batch.min(shape.n_train).max(1) as u128;
    let params = d
        .saturating_mul(h)
        .saturating_add(h)
        .saturating_add(h.saturating_mul(c))
        .saturating_add(c);
    let buffers = cfg.optimizer.buffers() as u128 + u128::from(cfg.optimizer != crate::optim::Optimizer::Sgd);
    let sum = |parts: &[u128]| parts.iter().fold(0u128, |a, &x| a.saturating_add(x));
    let (bh, bd) = (b.saturating_mul(h), b.saturating_mul(d));
    // a and dh (B×H), the score gradient (B×C), dW2, db1, db2, and the minibatch (B×D).
    let mut step = sum(&[bh, bh, b * c, h * c, h, c, bd]);
    if cfg.dropout > 0.0 {
        step = sum(&[step, bh]);
    }
    if cfg.precision == Precision::Bf16 {
        // Rounded copies of the batch, W1, the activations, W2, the score gradient and dh.
        step = sum(&[step, bd, d.saturating_mul(h), bh, bh, h * c, b * c]);
    }
    let eval = EVAL_CHUNK.saturating_mul(sum(&[d, h, c]));
    let indices = (shape.n_train as u128 + shape.n_val as u128 + TRAIN_ACC_SAMPLE as u128).saturating_mul(8);
    let epochs = cfg.epochs as u128;
    let iters = shape.steps_per_epoch() as u128;
    // 4 bytes per iteration's loss, 5 f64 per epoch record.
    let history = u64::try_from(epochs.saturating_mul(iters.saturating_mul(4).saturating_add(40))).unwrap_or(u64::MAX);
    let weights = f32s(params);
    let optimizer = f32s(params.saturating_mul(buffers));
    let mem = JobMemory {
        weights,
        optimizer,
        best: weights,
        workspace: f32s(step.saturating_add(eval)).saturating_add(u64::try_from(indices).unwrap_or(u64::MAX)),
        history,
        saved_state: 0,
    };
    JobMemory {
        saved_state: weights.saturating_mul(2).saturating_add(optimizer).saturating_add(history),
        ..mem
    }
}

/// The memory of a data set of `images` inputs of `input` values (f32, with their labels and the mean image), loaded
/// once and shared by every job.
pub fn data_memory(images: usize, input: usize) -> u64 {
    let n = images as u128;
    u64::try_from(
        n.saturating_mul(input as u128)
            .saturating_mul(4)
            .saturating_add(n)
            .saturating_add(4 * input as u128),
    )
    .unwrap_or(u64::MAX)
}

/// How much memory this process may use, and where that figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineMemory {
    pub bytes: u64,
    /// `"MemTotal in /proc/meminfo"`, or the cgroup limit when it is lower.
    pub source: &'static str,
}

/// The physical memory of this machine (Linux: `MemTotal` of `/proc/meminfo`), or the memory limit of this process's
/// cgroup when that is lower; `None` where neither can be read.
pub fn machine_memory() -> Option<MachineMemory> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t))
        .map(|bytes| MachineMemory {
            bytes,
            source: "MemTotal in /proc/meminfo",
        });
    let limits = [
        ("/sys/fs/cgroup/memory.max", "the cgroup limit in /sys/fs/cgroup/memory.max"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "the cgroup limit in /sys/fs/cgroup/memory/memory.limit_in_bytes",
        ),
    ];
    let limit = limits.iter().find_map(|(path, source)| {
        let bytes = std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok()?;
        Some(MachineMemory { bytes, source })
    });
    match (total, limit) {
        (Some(t), Some(l)) if l.bytes < t.bytes => Some(l),
        (None, l) => l,
        (t, _) => t,
    }
}

/// `MemTotal: 24568132 kB` -> bytes.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CIFAR-10's split at 512 hidden units, batch 200.
    const CIFAR_512: Shape = Shape {
        n_train: 40_000,
        n_val: 10_000,
        input: 3072,
        hidden: 512,
        classes: 10,
        batch: 200,
    };

    #[test]
    fn flops_of_a_step_and_an_epoch() {
        // B=200, D=3072, H=512, C=10: 4·200·3072·512 + 6·200·512·10.
        assert_eq!(step_flops(200, 3072, 512, 10), 1_258_291_200 + 6_144_000);
        let s = CIFAR_512;
        assert_eq!(s.steps_per_epoch(), 200);
        assert_eq!(
            s.epoch_flops(),
            200 * step_flops(200, 3072, 512, 10) + eval_flops(15_000, 3072, 512, 10)
        );
        let tiny = Shape { n_train: 50, ..s };
        assert_eq!(tiny.steps_per_epoch(), 1);
        assert!(
            calibrate(
                &Shape {
                    hidden: 8,
                    input: 16,
                    ..tiny
                },
                Duration::from_millis(5)
            ) > 0.0
        );
    }

    #[test]
    fn memory_of_a_job_counts_weights_buffers_best_copy_workspace_and_history() {
        let s = CIFAR_512;
        let cfg = TrainConfig {
            epochs: 10,
            ..TrainConfig::default()
        };
        let p = 3072 * 512 + 512 + 512 * 10 + 10;
        let m = job_memory(&s, &cfg);
        assert_eq!(m.weights, 4 * p);
        assert_eq!((m.best, m.optimizer), (4 * p, 0), "plain SGD keeps no buffer");
        assert_eq!(m.history, 10 * (200 * 4 + 40));
        let step = 2 * 200 * 512 + 200 * 10 + 512 * 10 + 512 + 10 + 200 * 3072;
        let eval = 1000 * (3072 + 512 + 10);
        assert_eq!(m.workspace, 4 * (step + eval) + 8 * (40_000 + 10_000 + 5000));
        assert_eq!(m.saved_state, 2 * m.weights + m.history);
        let adam = job_memory(
            &s,
            &TrainConfig {
                optimizer: crate::optim::Optimizer::Adam,
                ..cfg.clone()
            },
        );
        assert_eq!(adam.optimizer, 3 * 4 * p, "two moments and the gradient");
        assert!(m.total() > 4 * 4 * p && m.total() < 50_000_000, "{m:?}");
        // The report's failure: a trillion hidden units need terabytes, counted without overflow.
        let huge = job_memory(
            &Shape {
                hidden: 1_000_000_000_000,
                ..s
            },
            &cfg,
        );
        assert!(huge.weights > 12_000_000_000_000_000, "{huge:?}");
        assert_eq!(job_memory(&Shape { hidden: usize::MAX, ..s }, &cfg).total(), u64::MAX);
        assert_eq!(data_memory(60_000, 3072), 60_000 * (3072 * 4 + 1) + 4 * 3072);
    }

    #[test]
    fn machine_memory_reads_meminfo() {
        assert_eq!(
            parse_meminfo("MemFree: 1 kB\nMemTotal:       24568132 kB\n"),
            Some(24_568_132 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
        if cfg!(target_os = "linux") {
            assert!(machine_memory().is_some_and(|m| m.bytes > 1 << 26), "{:?}", machine_memory());
        }
    }
}
