//! The LCBench surrogate as a command trial for `sweep run` (docs/own-program.md): the same protocol as
//! `bench/yahpo/trial.py`, with the surrogate evaluated by this crate (tract) rather than onnxruntime, so a real
//! `sweep run` of it and the in-process replay (`sweep_yahpo::sim`) see the same numbers.
//!
//! Values: the JSON object in the file `SWEEP_PARAMS` names, then `--name=value` arguments (which win): `task`, the 7 hyperparameters
//! and `epochs` (the budget without `SWEEP_BUDGET`). Budget: `SWEEP_BUDGET`, a whole number in 1..52. Resume: with
//! `SWEEP_RESUME=1`, from the epoch in `SWEEP_CHECKPOINT_DIR/state.json`. Records: for each epoch from there to the
//! budget, one JSON line `{"epoch", "time", "val_accuracy", ...}` appended to `SWEEP_METRICS` (or `SWEEP_METRIC
//! {...}` on stdout), then `state.json` is rewritten atomically. A mistake in the values exits 2.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use sweep_yahpo::surrogate::{Surrogate, MAX_EPOCH, OUTPUTS, PARAMS};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yahpo-trial: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let mut params: Map<String, Value> = match std::env::var_os("SWEEP_PARAMS") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read SWEEP_PARAMS {path:?}"))?;
            serde_json::from_str(&text).with_context(|| format!("SWEEP_PARAMS {path:?} is not a JSON object"))?
        }
        None => Map::new(),
    };
    for arg in std::env::args().skip(1) {
        let Some((name, value)) = arg.strip_prefix("--").and_then(|a| a.split_once('=')) else {
            bail!("unexpected argument {arg:?} (expected --name=value)");
        };
        let value = serde_json::from_str(value).with_context(|| format!("--{name}={value} is not a number"))?;
        params.insert(name.to_string(), value);
    }
    for name in params.keys() {
        if name != "task" && name != "epochs" && !PARAMS.contains(&name.as_str()) {
            bail!(
                "{name} is not an LCBench hyperparameter (expected task, epochs, {})",
                PARAMS.join(", ")
            );
        }
    }
    let number = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_f64)
            .with_context(|| format!("missing number {name}"))
    };
    let task = number("task")?;
    if task.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&task) {
        bail!("task = {task} is not an OpenML task id");
    }
    let mut values = [0.0; 7];
    for (slot, name) in values.iter_mut().zip(PARAMS) {
        *slot = number(name)?;
    }
    let budget = match std::env::var("SWEEP_BUDGET") {
        Ok(b) => b.parse::<f64>().with_context(|| format!("SWEEP_BUDGET={b} is not a number"))?,
        Err(_) => number("epochs")?,
    };
    if budget.fract() != 0.0 || !(1.0..=MAX_EPOCH as f64).contains(&budget) {
        bail!("the budget {budget} is not a whole number of epochs in 1..{MAX_EPOCH}");
    }
    let budget = budget as usize;
    let state = std::env::var_os("SWEEP_CHECKPOINT_DIR").map(|d| PathBuf::from(d).join("state.json"));
    let mut start = 0;
    if std::env::var("SWEEP_RESUME").as_deref() == Ok("1") {
        if let Some(Ok(text)) = state.as_ref().map(std::fs::read_to_string) {
            let saved: Value = serde_json::from_str(&text).context("state.json is not JSON")?;
            start = saved["epoch"].as_u64().context("state.json has no epoch")? as usize;
        }
    }
    let curve = Surrogate::open()?.curve(task as u32, &values)?;
    let mut lines = String::new();
    for e in start + 1..=budget {
        let mut record = Map::new();
        record.insert("epoch".into(), Value::from(e));
        for (k, name) in OUTPUTS.iter().enumerate() {
            record.insert(name.to_string(), Value::from(f64::from(curve[e - 1][k])));
        }
        lines.push_str(&Value::Object(record).to_string());
        lines.push('\n');
    }
    match std::env::var_os("SWEEP_METRICS") {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(lines.as_bytes())?;
            f.sync_all()?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            for line in lines.lines() {
                writeln!(out, "SWEEP_METRIC {line}")?;
            }
        }
    }
    if let Some(state) = state {
        let tmp = state.with_extension("json.tmp");
        let saved = serde_json::json!({"epoch": budget, "task": task as u32, "config": values});
        std::fs::write(&tmp, saved.to_string())?;
        std::fs::rename(&tmp, &state)?;
    }
    Ok(())
}
