//! Helpers shared by the integration tests: the binary, the project's paths, files and the rows of a results.csv.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `sweep` binary built for these tests.
pub fn sweep() -> Command {
    Command::cargo_bin("sweep").expect("the sweep binary is built for integration tests")
}

/// The workspace root (where `sweeps/` and `README.md` are).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/cifar10` beside the project.
pub fn shared_cifar() -> PathBuf {
    project_root().join("../shared/cifar10")
}

/// Runs `sweep <args> --data ../shared/cifar10` in `dir` (at most 300 s), asserts that it succeeded, and returns its
/// log (stderr).
pub fn run_on_cifar(dir: &Path, args: &[&str]) -> String {
    let run = sweep()
        .current_dir(dir)
        .args(args)
        .arg("--data")
        .arg(shared_cifar())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "sweep {} failed:\n{log}", args.join(" "));
    log
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Rows of a results.csv without the timing column, sorted by id: what must be identical between runs.
pub fn rows_without_time(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let sec = header.iter().position(|h| *h == "seconds").unwrap();
    let mut rows: Vec<String> = lines
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != sec)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    rows.sort();
    rows
}

/// Rows in a results.csv (lines after the header).
pub fn count_rows(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("results.csv")).map_or(0, |t| t.lines().count().saturating_sub(1))
}

/// `sweep run GRID` in `dir` succeeds and finds every job already recorded.
pub fn rerun_does_nothing(dir: &Path, grid: &str) {
    sweep()
        .current_dir(dir)
        .args(["run", grid])
        .assert()
        .success()
        .stdout(predicates::str::contains("0 jobs run"));
}

/// Runs a toy sweep of 18 jobs with `method` ("halving" or "hyperband"; rungs at 1, 3 and 9 epochs, the largest
/// learning rates diverging) into `dir/out` and returns that directory.
pub fn run_toy_search(dir: &Path, method: &str) -> PathBuf {
    let grid = format!(
        "name = \"toy-{method}\"\nseed = 3\n[data]\nsource = \"toy\"\n[train]\nepochs = 9\nhidden_size = 16\n\
         [search]\nmethod = \"{method}\"\n[grid]\nlearning_rate = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]\nreg = [1e-4, 1e-3, 1e-2]\n"
    );
    write(dir, "search.toml", &grid);
    let run = sweep()
        .current_dir(dir)
        .args(["run", "search.toml", "--out", "out", "--workers", "2"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(run.status.success(), "sweep run failed:\n{}", String::from_utf8_lossy(&run.stderr));
    dir.join("out")
}
