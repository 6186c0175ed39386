//! Dropout's loss and gradients against PyTorch autograd in float64 with a fixed mask (`fixtures/dropout_fixture.json`,
//! made by `fixtures/make_dropout_fixture.py`): loss and all four gradients to 1e-9 relative.

use serde::Deserialize;
use sweep_core::network::Workspace;
use sweep_core::{Params, TwoLayerNet};

use crate::common;
use common::{mat, TorchParams as Grads};

#[derive(Deserialize)]
struct Case {
    name: String,
    p: f64,
    reg: f64,
    #[serde(rename = "X")]
    x: Vec<Vec<f64>>,
    y: Vec<u8>,
    keep: Vec<Vec<f64>>,
    #[serde(flatten)]
    params: Grads,
    loss: f64,
    data_loss: f64,
    grads: Grads,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / (a.abs() + b.abs()).max(1e-12)
}

fn max_rel(a: &Params<f64>, b: &Params<f64>) -> [f64; 4] {
    let m = |x: &mut dyn Iterator<Item = (&f64, &f64)>| x.map(|(u, v)| rel(*u, *v)).fold(0.0, f64::max);
    [
        m(&mut a.w1.iter().zip(&b.w1)),
        m(&mut a.b1.iter().zip(&b.b1)),
        m(&mut a.w2.iter().zip(&b.w2)),
        m(&mut a.b2.iter().zip(&b.b2)),
    ]
}

#[test]
fn dropout_loss_and_gradients_match_pytorch_autograd() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dropout_fixture.json");
    let f: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(f.cases.len(), 3);
    for c in &f.cases {
        let net = TwoLayerNet::from_params(c.params.to_f64()).unwrap();
        let x = mat(&c.x);
        let mask = mat(&c.keep).mapv(|k| k / (1.0 - c.p));
        let (loss, g) = net.loss_and_grads_masked(x.view(), &c.y, c.reg, Some(mask.view()));
        assert!(rel(loss.total, c.loss) <= 1e-9, "{}: loss {} vs {}", c.name, loss.total, c.loss);
        assert!(rel(loss.data, c.data_loss) <= 1e-9, "{}", c.name);
        let want = c.grads.to_f64();
        for (err, name) in max_rel(&g, &want).iter().zip(["W1", "b1", "W2", "b2"]) {
            assert!(*err <= 1e-9, "{}: d{name} relative error {err:e}", c.name);
        }
        // The buffered path the optimizers use gives the same.
        let mut ws = Workspace::new(x.nrows(), net.hidden_size(), net.num_classes());
        let mut g2 = net.params.clone();
        let l2 = net.loss_and_grads_into(x.view(), &c.y, c.reg, Some(mask.view()), &mut ws, &mut g2);
        assert!(rel(l2.total, c.loss) <= 1e-9);
        assert!(max_rel(&g2, &want).iter().all(|e| *e <= 1e-9), "{}", c.name);
        // And the fused SGD step moves the parameters by exactly -lr times that gradient.
        let (lr, mut stepped) = (0.1, net.clone());
        stepped.sgd_step_masked(x.view(), &c.y, c.reg, lr, Some(mask.view()), &mut ws);
        let expected = Params {
            w1: &net.params.w1 - &(&want.w1 * lr),
            b1: &net.params.b1 - &(&want.b1 * lr),
            w2: &net.params.w2 - &(&want.w2 * lr),
            b2: &net.params.b2 - &(&want.b2 * lr),
        };
        let diff = |a: &Params<f64>, b: &Params<f64>| {
            a.w1.iter()
                .zip(&b.w1)
                .chain(a.b1.iter().zip(&b.b1))
                .chain(a.w2.iter().zip(&b.w2))
                .chain(a.b2.iter().zip(&b.b2))
                .map(|(u, v)| (u - v).abs())
                .fold(0.0, f64::max)
        };
        assert!(diff(&stepped.params, &expected) < 1e-12, "{}", c.name);
    }
    // A mask that drops units changes the result (the fixture's p > 0 cases are not trivially mask-free).
    let c = &f.cases[0];
    let net = TwoLayerNet::from_params(c.params.to_f64()).unwrap();
    let (_, plain) = net.loss_and_grads(mat(&c.x).view(), &c.y, c.reg);
    assert!(max_rel(&plain, &c.grads.to_f64()).iter().all(|e| *e > 1e-3));
}
