//! The optimizers against torch.optim: `fixtures/optim_fixture.json` holds three float32 steps of each (same small
//! net, same batch) as computed by `fixtures/make_optim_fixture.py`. Every parameter must agree to 1e-6 after every step.

use ndarray::Array2;
use serde::Deserialize;
use sweep_core::network::Workspace;
use sweep_core::optim::{Hyper, OptimState, Optimizer};
use sweep_core::{Params, TrainConfig, TwoLayerNet};

use crate::common;
use common::TorchParams as P;

#[derive(Deserialize)]
struct Step {
    loss: f64,
    #[serde(flatten)]
    p: P,
}

#[derive(Deserialize)]
struct Fixture {
    lr: f64,
    reg: f64,
    momentum: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    #[serde(rename = "X")]
    x: Vec<Vec<f64>>,
    y: Vec<u8>,
    init: P,
    steps: std::collections::BTreeMap<String, Vec<Step>>,
}

fn mat(rows: &[Vec<f64>]) -> Array2<f32> {
    common::mat(rows).mapv(|v| v as f32)
}

/// Max of |a - b| / max(1, |b|) over every entry of the four tensors.
fn max_err(a: &Params<f32>, b: &Params<f32>) -> f64 {
    let pairs =
        a.w1.iter()
            .zip(&b.w1)
            .chain(a.b1.iter().zip(&b.b1))
            .chain(a.w2.iter().zip(&b.w2))
            .chain(a.b2.iter().zip(&b.b2));
    pairs
        .map(|(u, v)| f64::from(u - v).abs() / f64::from(v.abs()).max(1.0))
        .fold(0.0, f64::max)
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/optim_fixture.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_optimizer_matches_torch_optim_step_by_step() {
    let f = fixture();
    let x = mat(&f.x);
    let h = Hyper {
        lr: f.lr,
        reg: f.reg,
        momentum: f.momentum,
        beta1: f.beta1,
        beta2: f.beta2,
        eps: f.eps,
    };
    let (n, hidden, c) = (f.x.len(), f.init.b1.len(), f.init.b2.len());
    assert_eq!(f.steps.len(), 5);
    for (name, steps) in &f.steps {
        let kind: Optimizer = serde_json::from_value(serde_json::Value::String(name.clone())).unwrap();
        assert_eq!(kind.as_str(), name);
        let mut net = TwoLayerNet::from_params(f.init.to_f32()).unwrap();
        let mut state = OptimState::new(kind, &net.params);
        let mut ws = Workspace::new(n, hidden, c);
        let mut g = net.params.clone();
        let start = net.params.clone();
        assert_eq!(steps.len(), 3);
        for (i, want) in steps.iter().enumerate() {
            let reg = if kind.l2_in_loss() { f.reg as f32 } else { 0.0 };
            let loss = if kind == Optimizer::Sgd {
                // Plain SGD trains through the fused step: that is what must match torch.
                net.sgd_step(x.view(), &f.y, reg, f.lr as f32, &mut ws)
            } else {
                let loss = net.loss_and_grads_into(x.view(), &f.y, reg, None, &mut ws, &mut g);
                state.update(kind, &h, &mut net.params, &g);
                loss
            };
            assert!(
                (f64::from(loss.total) - want.loss).abs() < 1e-6,
                "{name} step {i}: loss {} vs {}",
                loss.total,
                want.loss
            );
            let err = max_err(&net.params, &want.p.to_f32());
            assert!(err <= 1e-6, "{name} step {}: max error {err:e}", i + 1);
        }
        assert!(max_err(&net.params, &start) > 1e-3, "{name}: parameters barely moved");
    }
}

#[test]
fn the_generic_sgd_update_equals_the_fused_step() {
    let f = fixture();
    let x = mat(&f.x);
    let mut fused = TwoLayerNet::from_params(f.init.to_f32()).unwrap();
    let mut plain = fused.clone();
    let mut ws = Workspace::new(f.x.len(), f.init.b1.len(), f.init.b2.len());
    let mut g = plain.params.clone();
    let mut state = OptimState::new(Optimizer::Sgd, &plain.params);
    let h = Hyper {
        lr: f.lr,
        reg: f.reg,
        momentum: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    for _ in 0..3 {
        fused.sgd_step(x.view(), &f.y, f.reg as f32, f.lr as f32, &mut ws);
        plain.loss_and_grads_into(x.view(), &f.y, f.reg as f32, None, &mut ws, &mut g);
        state.update(Optimizer::Sgd, &h, &mut plain.params, &g);
    }
    assert!(max_err(&fused.params, &plain.params) < 1e-6);
}

#[test]
fn optimizer_names_and_defaults_are_torchs() {
    let c: TrainConfig =
        serde_json::from_str(r#"{"learning_rate":0.1,"reg":0.0,"hidden_size":5,"lr_decay":1.0,"epochs":1,"batch_size":4}"#).unwrap();
    assert_eq!(c.optimizer, Optimizer::Sgd);
    assert_eq!((c.momentum, c.beta1, c.beta2, c.eps), (0.9, 0.9, 0.999, 1e-8));
    // A config written before the new fields existed (e.g. in an old checkpoint) reads as today's training.
    let expected = TrainConfig {
        learning_rate: 0.1,
        reg: 0.0,
        hidden_size: 5,
        lr_decay: 1.0,
        epochs: 1,
        batch_size: 4,
        ..TrainConfig::default()
    };
    assert_eq!(c, expected);
    assert_eq!(
        (c.shuffle_seed, c.dropout, c.lr_schedule, c.warmup_epochs, c.flip, c.crop),
        (0, 0.0, sweep_core::LrSchedule::Step, 0, 0.0, 0)
    );
    let json = serde_json::to_value(TrainConfig {
        optimizer: Optimizer::AdamW,
        lr_schedule: sweep_core::LrSchedule::Cosine,
        ..expected
    })
    .unwrap();
    assert_eq!(
        (json["optimizer"].as_str(), json["lr_schedule"].as_str()),
        (Some("adamw"), Some("cosine"))
    );
    for (name, kind) in [
        ("sgd", Optimizer::Sgd),
        ("momentum", Optimizer::Momentum),
        ("nesterov", Optimizer::Nesterov),
        ("adam", Optimizer::Adam),
        ("adamw", Optimizer::AdamW),
    ] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
    }
}
