//! Matches the network against an independent reference: PyTorch autograd in float64 (`two_layer_oracle.json`).
//!
//! The fixture is read from `$TWO_LAYER_ORACLE`, default `../shared/fixtures/two_layer_oracle.json` relative to the
//! project root; its format is described in `../shared/fixtures/README.md`. Any file in that format works.

use std::path::PathBuf;

use ndarray::Array1;
use serde::Deserialize;
use sweep_core::{Params, TwoLayerNet};

use crate::common;
use common::{mat, TorchParams as Grads};

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    reg: f64,
    #[serde(rename = "X")]
    x: Vec<Vec<f64>>,
    y: Vec<u8>,
    #[serde(rename = "W1")]
    w1: Vec<Vec<f64>>,
    b1: Vec<f64>,
    #[serde(rename = "W2")]
    w2: Vec<Vec<f64>>,
    b2: Vec<f64>,
    scores: Vec<Vec<f64>>,
    data_loss: f64,
    loss: f64,
    grads: Grads,
}

/// max |diff| / max(1, max |ref|), the tolerance measure.
fn rel(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "shape mismatch");
    let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    diff / want.iter().map(|v| v.abs()).fold(1.0, f64::max)
}

fn fixture_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("TWO_LAYER_ORACLE") {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_absolute() || p.exists() {
                p
            } else {
                root.join(p)
            }
        }
        None => root.join("../shared/fixtures/two_layer_oracle.json"),
    }
}

#[test]
fn matches_pytorch_autograd_oracle_to_1e_9() {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read oracle fixture {}: {e} (set TWO_LAYER_ORACLE)", path.display()));
    let fixture: Fixture = serde_json::from_str(&text).expect("fixture in the format of ../shared/fixtures/README.md");
    assert!(!fixture.cases.is_empty(), "fixture has no cases");
    const TOL: f64 = 1e-9;
    for c in &fixture.cases {
        let net = TwoLayerNet::from_params(Params {
            w1: mat(&c.w1),
            b1: Array1::from(c.b1.clone()),
            w2: mat(&c.w2),
            b2: Array1::from(c.b2.clone()),
        })
        .expect("consistent shapes");
        let x = mat(&c.x);
        let scores = net.scores(x.view());
        let (loss, g) = net.loss_and_grads(x.view(), &c.y, c.reg);
        let checks = [
            ("scores", rel(scores.as_slice().unwrap(), &c.scores.concat())),
            ("data_loss", rel(&[loss.data], &[c.data_loss])),
            ("loss", rel(&[loss.total], &[c.loss])),
            ("dW1", rel(g.w1.as_slice().unwrap(), &c.grads.w1.concat())),
            ("db1", rel(g.b1.as_slice().unwrap(), &c.grads.b1)),
            ("dW2", rel(g.w2.as_slice().unwrap(), &c.grads.w2.concat())),
            ("db2", rel(g.b2.as_slice().unwrap(), &c.grads.b2)),
        ];
        for (what, err) in checks {
            assert!(err <= TOL, "case {}: {what} differs from the oracle by {err:e} (> {TOL:e})", c.name);
        }
    }
}
