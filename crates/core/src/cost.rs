//! The one cost model: how much arithmetic a training step, an evaluation and an epoch take, and how fast this machine
//! does it. `sweep plan` estimates wall time with it, the runner schedules largest-first and draws its ETA with it, and
//! the benchmark reports GFLOP/s with it.

use std::time::{Duration, Instant};

use ndarray::Array2;

use crate::network::{Init, TwoLayerNet, Workspace};
use crate::rng::rng_for;
use crate::train::TRAIN_ACC_SAMPLE;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_a_step_and_an_epoch() {
        // B=200, D=3072, H=512, C=10: 4·200·3072·512 + 6·200·512·10.
        assert_eq!(step_flops(200, 3072, 512, 10), 1_258_291_200 + 6_144_000);
        let s = Shape {
            n_train: 40_000,
            n_val: 10_000,
            input: 3072,
            hidden: 512,
            classes: 10,
            batch: 200,
        };
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
}
