//! Helpers shared by the integration tests: the binary (run, or started in the background and watched), the
//! project's paths, files, and the rows of a results directory read through the library's own reader.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use sweep_results::format::{read_rows, Row};

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

/// Every row of a results directory (results.csv merged with every writer's file), through the library's reader.
pub fn read_results(dir: &Path) -> Vec<Row> {
    read_rows(&dir.join("results.csv")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// The rows of a results directory as CSV lines without the timing column, sorted: what must be identical between
/// runs.
pub fn rows_without_time(dir: &Path) -> Vec<String> {
    let mut rows: Vec<String> = read_results(dir)
        .into_iter()
        .map(|r| String::from_utf8(Row { seconds: 0.0, ..r }.to_csv(false)).unwrap())
        .collect();
    rows.sort();
    rows
}

/// Rows recorded in a results directory (0 before it has any).
pub fn count_rows(dir: &Path) -> usize {
    read_rows(&dir.join("results.csv")).map_or(0, |r| r.len())
}

/// Starts `sweep <args>` in `dir` in the background, its output discarded (or piped, to read it later).
pub fn spawn_sweep(dir: &Path, args: &[&str], piped: bool) -> Child {
    let out = || if piped { Stdio::piped() } else { Stdio::null() };
    Std::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(dir)
        .args(args)
        .stdout(out())
        .stderr(out())
        .spawn()
        .unwrap()
}

/// Polls `ready()` every 5 ms until it holds (true) or the child ends first (false); fails after 120 s.
pub fn wait_until(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "nothing happened in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    true
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

/// Live (not zombie) processes whose environment holds `entry` (such as `SWEEP_TRIAL_ID=abc\0`), as (pid, command
/// line).
pub fn processes_with_env(entry: &str) -> Vec<(u32, String)> {
    let needle = entry.as_bytes();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if !env.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.rsplit_once(") ").map_or("", |(_, rest)| rest).starts_with('Z') {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
    }
    found
}

/// Waits up to `limit` until no process of [`processes_with_env`]`(entry)` is alive; returns those still alive.
pub fn wait_until_no_process_with_env(entry: &str, limit: Duration) -> Vec<(u32, String)> {
    let t = Instant::now();
    loop {
        let left = processes_with_env(entry);
        if left.is_empty() || t.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
