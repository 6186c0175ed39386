//! Checks that a checkpoint is read by Python's `safetensors.numpy.load_file` (the reference reader of the format).
//!
//! Needs `python3` with the `safetensors` and `numpy` packages (`.ci/run` installs them from PyPI and sets
//! `SWEEP_REQUIRE_PYTHON=1` so the test cannot silently skip there).

use std::process::Command;

use ndarray::Array1;
use rand::SeedableRng;
use sweep_core::checkpoint::ModelMeta;
use sweep_core::{Init, Model, TrainConfig, TwoLayerNet};

fn python_has_safetensors() -> bool {
    Command::new("python3")
        .args(["-c", "import safetensors.numpy, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_safetensors_reads_our_checkpoint() {
    if !python_has_safetensors() {
        assert!(
            std::env::var_os("SWEEP_REQUIRE_PYTHON").is_none(),
            "python3 with safetensors and numpy is required here"
        );
        eprintln!("skipped: python3 with safetensors + numpy not installed (pip install safetensors numpy)");
        return;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let net = TwoLayerNet::<f32>::new(3072, 7, 10, Init::Kaiming, &mut rng);
    let model = Model {
        mean: Array1::from_shape_fn(3072, |i| i as f32 / 3072.0),
        meta: ModelMeta {
            hyperparameters: TrainConfig::default(),
            class_names: (0..10).map(|i| format!("c{i}")).collect(),
            input_shape: vec![3, 32, 32],
            val_accuracy: 0.5,
            data_split: None,
        },
        net: net.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    let script = r#"
import sys
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], "np") as f:
    meta = f.metadata()
print(t["W1"].shape, t["b1"].shape, t["W2"].shape, t["b2"].shape, t["mean"].shape, t["W1"].dtype)
print(repr(float(t["W1"][5, 3])), repr(float(t["mean"][100])), meta["format"], meta["format_version"])
"#;
    let out = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "(3072, 7) (7,) (7, 10) (10,) (3072,) float32");
    let second: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(second[0].parse::<f32>().unwrap(), net.params.w1[[5, 3]]);
    assert_eq!(second[1].parse::<f32>().unwrap(), 100.0 / 3072.0);
    assert_eq!(&second[2..], ["sweep-two-layer", "1"]);
}
