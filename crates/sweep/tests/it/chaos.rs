//! Kill chaos (issue 37): three `sweep run` processes on one results directory, one of them SIGKILLed at random
//! (seeded) every 0.3 to 1.5 s and started again, then one clean run: the rows must equal an uninterrupted run's, none
//! missing, none twice. A built-in halving sweep on toy data and a command-trial halving sweep of the light example
//! (checkpointing Python), each bounded to a few seconds of kills.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::common;
use common::{project_root, read_results, rows_without_time, sweep, write};

/// How long processes are killed before the clean run.
const CHAOS: Duration = Duration::from_secs(8);

/// `sweep run GRID --out OUT --workers 1` in `dir`, its output to `dir/logs/<n>.log`.
fn spawn(dir: &Path, grid: &str, out: &str, n: usize) -> (Child, PathBuf) {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join(format!("{out}-{n}.log"));
    let file = File::create(&log).unwrap();
    let child = Std::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(dir)
        .args(["run", grid, "--out", out, "--workers", "1"])
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    (child, log)
}

/// Runs the chaos on `grid` into `dir/out` with the RNG seeded by `seed`; returns how many processes were killed.
/// A process that ends by itself must succeed (the sweep is done); then the chaos ends early.
fn chaos(dir: &Path, grid: &str, out: &str, seed: u64) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut started = 0;
    let mut procs: Vec<(Child, PathBuf)> = (0..3)
        .map(|_| {
            started += 1;
            spawn(dir, grid, out, started)
        })
        .collect();
    let t = Instant::now();
    let mut kills = 0;
    let mut done = false;
    while t.elapsed() < CHAOS && !done {
        std::thread::sleep(Duration::from_secs_f64(rng.gen_range(0.3..1.5)));
        for (child, log) in &mut procs {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&*log).unwrap_or_default();
                assert!(status.success(), "a sweep process failed by itself ({status}):\n{text}");
                done = true;
            }
        }
        if done {
            break;
        }
        let i = rng.gen_range(0..procs.len());
        procs[i].0.kill().unwrap();
        procs[i].0.wait().unwrap();
        kills += 1;
        started += 1;
        procs[i] = spawn(dir, grid, out, started);
    }
    // The ones left end as a kill would end them too, and the clean run is alone.
    for (child, _) in &mut procs {
        let _ = child.kill();
        let _ = child.wait();
    }
    kills
}

/// Rows by id: each id once.
fn ids_once(out: &Path) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in read_results(out) {
        *counts.entry(r.id).or_default() += 1;
    }
    counts
}

/// The straight run of `grid` into `dir/straight`, the chaos into `dir/chaos`, the clean run, and the comparison.
fn straight_chaos_clean(dir: &Path, grid: &str, seed: u64, jobs: usize) {
    let run = |out: &str| {
        let o = sweep()
            .current_dir(dir)
            .args(["run", grid, "--out", out, "--workers", "1"])
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "sweep run --out {out} failed ({}):\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run("straight");
    let straight = dir.join("straight");
    assert_eq!(read_results(&straight).len(), jobs);

    let kills = chaos(dir, grid, "chaos", seed);
    eprintln!("chaos: {kills} kills");
    assert!(kills >= 3, "the sweep ended after {kills} kills: too short to show anything");
    let out = dir.join("chaos");
    run("chaos");
    let counts = ids_once(&out);
    assert!(counts.values().all(|&n| n == 1), "a row recorded twice: {counts:?}");
    assert_eq!(counts.len(), jobs, "rows missing: {counts:?}");
    let (got, want) = (rows_without_time(&out), rows_without_time(&straight));
    let only = |a: &[String], b: &[String]| a.iter().filter(|r| !b.contains(r)).cloned().collect::<Vec<_>>();
    assert!(
        got == want,
        "after {kills} kills and a clean run, the rows differ from an uninterrupted run's:\nonly after the chaos:\n{}\n\
         only in the uninterrupted run:\n{}",
        only(&got, &want).join("\n"),
        only(&want, &got).join("\n")
    );
    // `sweep best` agrees with the straight run's.
    let best = |d: &Path| {
        let o = sweep()
            .args(["best", d.to_str().unwrap(), "--format", "csv", "--top", "100"])
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split(',').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(best(&out), best(&straight));
}

#[test]
fn three_processes_killed_at_random_then_one_clean_run_give_a_builtin_halving_sweeps_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 18 jobs, rungs at 1, 3, 9 and 27 epochs; enough toy images that an epoch takes a noticeable part of a second,
    // and the whole sweep several seconds.
    let grid = "name = \"chaos-builtin\"\nseed = 3\n[data]\nsource = \"toy\"\ntrain_size = 80000\n[train]\nepochs = 27\n\
                batch_size = 25\nhidden_size = 64\n[search]\nmethod = \"halving\"\n[grid]\n\
                learning_rate = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]\nreg = [1e-4, 1e-3, 1e-2]\n";
    write(dir, "grid.toml", grid);
    straight_chaos_clean(dir, "grid.toml", 37, 18);
}

#[cfg(target_os = "linux")]
#[test]
fn three_processes_killed_at_random_then_one_clean_run_give_a_command_halving_sweeps_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let light = project_root().join("examples/light/train.py").canonicalize().unwrap();
    // 18 trials of the light example (0.1 s an epoch, a checkpoint after each), rungs at 1, 3 and 9 epochs.
    let grid = format!(
        "name = \"chaos-command\"\nseed = 0\n[command]\nrun = [\"python3\", {:?}]\nmetric = \"val_acc\"\n[train]\n\
         epochs = 9\nsleep = 0.1\n[grid]\nlr = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]\nreg = [1e-4, 1e-3, 1e-2]\n[search]\n\
         method = \"halving\"\neta = 3\nmin_epochs = 1\n",
        light.display().to_string()
    );
    write(dir, "grid.toml", &grid);
    straight_chaos_clean(dir, "grid.toml", 18, 18);
}
