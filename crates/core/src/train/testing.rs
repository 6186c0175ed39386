//! Small seeded problems shared by the unit tests of training and fused training.

use ndarray::{s, Array1, Array2};
use rand::Rng;

use crate::network::Init;
use crate::rng::rng_for;
use crate::train::{TrainConfig, TrainData, TrainState, ValidConfig};

/// The toy problem's configuration (hidden 10, batch 50: 6 steps per epoch on 300 toy images) at `lr`.
pub(crate) fn cfg(lr: f64, epochs: usize) -> ValidConfig {
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
    .expect("valid")
}

/// `n` inputs of `d` values in 3 classes told apart by which third of the inputs is raised, and a mean image
/// (`d = 48` makes them 3x4x4 images, each class a colour).
pub(crate) fn inputs(n: usize, d: usize, tag: &str) -> (Array2<f32>, Vec<u8>, Array1<f32>) {
    let mut r = rng_for(1, tag);
    let y: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| (j * 3 / d == y[i] as usize) as u8 as f32 + r.gen::<f32>() - 0.8);
    (x, y, Array1::from_shape_fn(d, |j| j as f32 / 100.0))
}

/// The toy configuration with flips and crops, in batches of 30 (for 90 training images of [`IMAGE`]).
pub(crate) fn augmented() -> TrainConfig {
    TrainConfig {
        flip: 0.5,
        crop: 1,
        batch_size: 30,
        ..(*cfg(0.1, 4)).clone()
    }
}

/// The shape of the 48-value inputs as images.
pub(crate) const IMAGE: [usize; 3] = [3, 4, 4];

/// The first `n_train` rows of `x` to train on and the rest to validate on, images of `shape` (or none: `&[]`).
pub(crate) fn split<'a>(x: &'a Array2<f32>, y: &'a [u8], mean: &'a Array1<f32>, n_train: usize, shape: &'a [usize]) -> TrainData<'a> {
    TrainData {
        x_train: x.slice(s![..n_train, ..]),
        y_train: &y[..n_train],
        x_val: x.slice(s![n_train.., ..]),
        y_val: &y[n_train..],
        num_classes: 3,
        mean: mean.view(),
        input_shape: shape,
    }
}

/// Every optimizer with a learning rate that suits it on the toy problem (plain SGD first).
pub(crate) const OPTIMIZER_LRS: [(crate::Optimizer, f64); 5] = [
    (crate::Optimizer::Sgd, 0.5),
    (crate::Optimizer::Momentum, 0.05),
    (crate::Optimizer::Nesterov, 0.05),
    (crate::Optimizer::Adam, 0.01),
    (crate::Optimizer::AdamW, 0.01),
];

/// The state's bytes with its wall time left out: what two runs of the same job must agree on bit for bit.
pub(crate) fn timeless(state: &TrainState) -> Vec<u8> {
    TrainState {
        seconds: 0.0,
        ..state.clone()
    }
    .to_bytes()
}

/// A configuration with every feature on: `optimizer` at `lr`, dropout 0.2, flips, batches of 40.
pub(crate) fn featured(optimizer: crate::Optimizer, lr: f64, epochs: usize) -> ValidConfig {
    let c = TrainConfig {
        optimizer,
        dropout: 0.2,
        flip: 0.5,
        batch_size: 40,
        ..(*cfg(lr, epochs)).clone()
    };
    c.check().expect("valid")
}
