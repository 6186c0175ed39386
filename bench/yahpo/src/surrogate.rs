//! The YAHPO Gym LCBench surrogate (Pfisterer et al., AutoML Conf 2022; `slds-lmu/yahpo_data`, Apache 2.0) read with
//! tract: a configuration's whole learning curve (52 epochs) in one query.
//!
//! A query is always the configuration's 52 rows, epochs 1..52 (`x_cat` int32 [52, 1] = the task's index in
//! `encoding.json`, `x_cont` float32 [52, 8] = epoch then the 7 values in [`PARAMS`] order, each f64 rounded to
//! f32), so a row never depends on which epochs were asked. tract's kernels and onnxruntime's (the Python side,
//! `surrogate.py`) agree to about 1e-4 relative, not bit for bit: the Rust side's rows (the command trial
//! `yahpo-trial` and the in-process replay) all come from here, so they agree with each other exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tract_onnx::prelude::*;

/// The model's continuous inputs after `epoch`, in its order.
pub const PARAMS: [&str; 7] = [
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
];

/// Its outputs, in order.
pub const OUTPUTS: [&str; 6] = [
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
];

/// Epochs of every curve.
pub const MAX_EPOCH: usize = 52;

/// LCBench's space (`config_space.json`): (name, low, high, integer, log).
pub const SPACE: [(&str, f64, f64, bool, bool); 7] = [
    ("batch_size", 16.0, 512.0, true, true),
    ("learning_rate", 1e-4, 0.1, false, true),
    ("momentum", 0.1, 0.99, false, false),
    ("weight_decay", 1e-5, 0.1, false, false),
    ("num_layers", 1.0, 5.0, true, false),
    ("max_units", 64.0, 1024.0, true, true),
    ("max_dropout", 0.0, 1.0, false, false),
];

/// The 26 tasks for development and tuning (the data's README); the other 8 are kept for evaluation.
pub const DEV_TASKS: [u32; 26] = [
    3945, 7593, 34539, 126026, 126029, 167104, 167149, 167152, 167168, 167181, 167184, 167185, 167190, 167200, 168329, 168331, 168335,
    168868, 168908, 168910, 189862, 189865, 189866, 189873, 189905, 189908,
];

/// One configuration's curve: per epoch 1..52, the [`OUTPUTS`].
pub type Curve = Vec<[f32; 6]>;

/// Where the data are: `$YAHPO_LCBENCH`, else `../shared/benchmarks/yahpo-lcbench` beside the project's root.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("YAHPO_LCBENCH") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/benchmarks/yahpo-lcbench"),
    }
}

/// The loaded model and the task encoding.
pub struct Surrogate {
    model: std::sync::Arc<TypedSimplePlan>,
    tasks: HashMap<String, i32>,
}

impl Surrogate {
    /// Loads `model.onnx` and `encoding.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Surrogate> {
        let path = dir.join("model.onnx");
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .and_then(|m| m.with_input_fact(0, i32::fact([MAX_EPOCH, 1]).into()))
            .and_then(|m| m.with_input_fact(1, f32::fact([MAX_EPOCH, 8]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .with_context(|| {
                format!(
                    "cannot load the LCBench surrogate {} (set YAHPO_LCBENCH to its folder)",
                    path.display()
                )
            })?;
        let enc_path = dir.join("encoding.json");
        let text = std::fs::read_to_string(&enc_path).with_context(|| format!("cannot read {}", enc_path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", enc_path.display()))?;
        let tasks = json["OpenML_task_id"]
            .as_object()
            .context("encoding.json has no OpenML_task_id")?
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), i32::try_from(v.as_i64()?).ok()?)))
            .collect();
        Ok(Surrogate { model, tasks })
    }

    /// Loads it from [`data_dir`].
    pub fn open() -> Result<Surrogate> {
        Surrogate::load(&data_dir())
    }

    /// The curve of `values` (in [`PARAMS`] order) on `task`.
    pub fn curve(&self, task: u32, values: &[f64; 7]) -> Result<Curve> {
        let Some(&index) = self.tasks.get(&task.to_string()) else {
            bail!("{task} is not an LCBench task");
        };
        check(values)?;
        let cat = tract_ndarray::Array2::<i32>::from_elem((MAX_EPOCH, 1), index);
        let cont = tract_ndarray::Array2::<f32>::from_shape_fn((MAX_EPOCH, 8), |(e, k)| match k {
            0 => (e + 1) as f32,
            k => values[k - 1] as f32,
        });
        let out = self.model.run(tvec!(Tensor::from(cat).into(), Tensor::from(cont).into()))?;
        let out = out[0].to_plain_array_view::<f32>()?;
        Ok((0..MAX_EPOCH).map(|e| std::array::from_fn(|k| out[[e, k]])).collect())
    }
}

/// Refuses values outside LCBench's space, or not whole where the space is integer.
pub fn check(values: &[f64; 7]) -> Result<()> {
    for (&v, &(name, low, high, integer, _)) in values.iter().zip(&SPACE) {
        if !v.is_finite() || v < low * (1.0 - 1e-9) || v > high * (1.0 + 1e-9) {
            bail!("{name} = {v} is outside [{low}, {high}]");
        }
        if integer && v != v.round() {
            bail!("{name} = {v} is not a whole number");
        }
    }
    Ok(())
}

/// Each task's best `val_accuracy` over YAHPO's 500,000 random configurations (`target_statistics.csv`): the
/// reference for regret.
pub fn targets(dir: &Path) -> Result<HashMap<u32, f64>> {
    let path = dir.join("target_statistics.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty target_statistics.csv")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.trim_matches('"') == name);
    let (task, target, stat, value) = (col("instance"), col("metric"), col("statistic"), col("value"));
    let mut out = HashMap::new();
    if let (Some(t), Some(g), Some(s), Some(v)) = (task, target, stat, value) {
        for line in lines {
            let f: Vec<&str> = line.split(',').map(|x| x.trim_matches('"')).collect();
            if f.get(g) == Some(&"val_accuracy") && f.get(s) == Some(&"max") {
                out.insert(f[t].parse()?, f[v].parse()?);
            }
        }
    }
    if out.is_empty() {
        bail!(
            "{} has no val_accuracy maxima (expected columns metric,statistic,value,scenario,instance)",
            path.display()
        );
    }
    Ok(out)
}
