//! The benchmark's grids: LCBench's space as a command sweep (`grid.toml` beside this crate), one task and seed,
//! with a `[search]` table per method.

use std::path::Path;

use anyhow::{anyhow, Result};
use sweep_grid::grid::Grid;

/// The benchmark's grid file, as a user runs it with `sweep run`.
pub const GRID_TOML: &str = include_str!("../grid.toml");

/// The methods the benchmark runs on sweep's side: a name and its `[search]` table (`BUDGET` stands for the
/// benchmark's budget of epochs). `default` is what a grid with only `budget` runs;
/// `default-async` the same with `asynchronous = true`. A line `objectives = ...` goes to the top of the grid in
/// place of `metric` and `mode`: `default-mo` is the default search with objectives validation accuracy (max) and the
/// surrogate's training time (min), `random-mo` random draws through the same halving.
pub const METHODS: &[(&str, &str)] = &[
    ("default", "budget = BUDGET\n"),
    ("default-async", "budget = BUDGET\nasynchronous = true\n"),
    (
        "default-mo",
        "objectives = { val_accuracy = \"max\", time = \"min\" }\nbudget = BUDGET\n",
    ),
    (
        "random-mo",
        "objectives = { val_accuracy = \"max\", time = \"min\" }\nmethod = \"halving\"\nsampler = \"random\"\nbudget = BUDGET\n",
    ),
    (
        "tpe-halving",
        "method = \"tpe\"\nsamples = 1350\nbatch = 27\neta = 3\nmin_epochs = 1\n",
    ),
    (
        "tpe-hyperband",
        "method = \"tpe\"\nscheduler = \"hyperband\"\nsamples = 1350\nbatch = 27\neta = 3\nmin_epochs = 1\n",
    ),
    (
        "tpe-asha",
        "method = \"tpe\"\nscheduler = \"asha\"\nsamples = 1350\nbatch = 27\neta = 3\nmin_epochs = 1\n",
    ),
    (
        "random-hyperband",
        "method = \"hyperband\"\nsamples = 1350\neta = 3\nmin_epochs = 1\n",
    ),
    ("random-halving", "method = \"halving\"\nsamples = 1350\neta = 3\nmin_epochs = 1\n"),
    ("asha", "method = \"asha\"\nsamples = 1350\neta = 3\nmin_epochs = 1\n"),
    (
        "sobol-hyperband",
        "method = \"sobol\"\nscheduler = \"hyperband\"\nsamples = 1350\neta = 3\nmin_epochs = 1\n",
    ),
];

/// The `[search]` table of a method name, or of `name=TOML` (a table given inline, `;` for new lines).
pub fn search_of(spec: &str) -> Result<(String, String)> {
    if let Some((name, table)) = spec.split_once('=') {
        if !METHODS.iter().any(|(n, _)| *n == name) {
            return Ok((name.to_string(), table.replace(';', "\n") + "\n"));
        }
    }
    METHODS
        .iter()
        .find(|(n, _)| *n == spec)
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .ok_or_else(|| {
            let names: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
            anyhow!("unknown method {spec:?}: one of {} or NAME='key = value;...'", names.join(", "))
        })
}

/// The benchmark grid for `task` and `seed` with `search` as its `[search]` table (and `run` as its program, when
/// given: an absolute path to `yahpo-trial`, say).
pub fn grid_text(task: u32, seed: u64, search: &str, run: Option<&str>) -> String {
    let (top, search): (Vec<&str>, Vec<&str>) = search.lines().partition(|l| l.starts_with("objectives = "));
    let search: String = search.iter().map(|l| format!("{l}\n")).collect();
    let mut out = String::new();
    for line in GRID_TOML.lines() {
        if line.starts_with("[search]") {
            break;
        }
        if !top.is_empty() && (line.starts_with("metric = ") || line.starts_with("mode = ")) {
            continue;
        }
        if line.starts_with("[command]") {
            for l in &top {
                out.push_str(l);
                out.push_str("\n\n");
            }
        }
        let line = if line.starts_with("seed = ") {
            format!("seed = {seed}")
        } else if line.starts_with("task = ") {
            format!("task = {task}")
        } else if let (true, Some(run)) = (line.starts_with("run = "), run) {
            format!("run = [{}]", serde_json::Value::from(run))
        } else if line.starts_with("name = ") {
            format!("name = \"yahpo-lcbench-{task}\"")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("[search]\n");
    out.push_str(&search);
    out
}

/// Parses the benchmark grid (as if read from `file`).
pub fn grid(task: u32, seed: u64, search: &str, file: &Path) -> Result<Grid> {
    Grid::parse(file, &grid_text(task, seed, search, None)).map_err(|e| anyhow!("{e}"))
}
