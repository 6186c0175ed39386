//! Successive halving and resumable jobs, driving the real binary: halving against the exhaustive sweep on a
//! CIFAR-10 subset, SIGKILL in the middle of a job and in the middle of a halving sweep.

use crate::common;

use common::{rows_without_time, run_on_cifar, shared_cifar, spawn_sweep, sweep, wait_until, write};
use std::collections::HashMap;
use std::path::Path;

/// The rows of a results CSV as maps of column -> value.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The same, by id.
fn rows_by_id(path: &Path) -> HashMap<String, HashMap<String, String>> {
    rows(path).into_iter().map(|m| (m["id"].clone(), m)).collect()
}

/// Rung records of every process (`rungs/*.csv`).
fn rung_records(dir: &Path) -> Vec<HashMap<String, String>> {
    let Ok(entries) = std::fs::read_dir(dir.join("rungs")) else {
        return vec![];
    };
    entries.flatten().flat_map(|e| rows(&e.path())).collect()
}

/// Each job's index in the grid's expansion order, from the results dir's grid copy (the library's expansion).
fn indices(dir: &Path) -> HashMap<String, usize> {
    let grid = sweep_grid::Grid::load(&dir.join("grid.toml")).unwrap();
    grid.jobs().unwrap().into_iter().map(|j| (j.id, j.index)).collect()
}

fn val(row: &HashMap<String, String>) -> f64 {
    row["best_val_acc"].parse().unwrap_or(f64::NEG_INFINITY)
}

/// 36 configurations on a CIFAR-10 subset, 9 epochs: rungs of 1, 3 and 9 epochs with eta 3.
fn subset_grid(method: &str) -> String {
    format!(
        "name = \"sub\"\nseed = 5\n[data]\npath = \"unused\"\nval_size = 500\ntrain_size = 2000\ntest_size = 500\n\
         [train]\nepochs = 9\nbatch_size = 100\n[search]\nmethod = \"{method}\"\n[grid]\n\
         learning_rate = [1e-3, 1e-2, 5e-2, 0.2]\nreg = [1e-4, 1e-2, 0.1]\nhidden_size = [16, 48, 96]\n"
    )
}

#[test]
fn halving_finds_the_exhaustive_best_and_its_finalists_train_exactly_as_exhaustively() {
    let data = shared_cifar();
    assert!(data.is_dir(), "{} is missing", data.display());
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", &subset_grid("grid"));
    write(tmp.path(), "halving.toml", &subset_grid("halving"));
    for (grid, out) in [("grid.toml", "full"), ("halving.toml", "half")] {
        sweep()
            .current_dir(tmp.path())
            .args(["run", grid, "--out", out, "--data"])
            .arg(&data)
            .assert()
            .success();
    }
    let (full, half) = (tmp.path().join("full"), tmp.path().join("half"));
    let exhaustive = rows_by_id(&full.join("results.csv"));
    let halving = rows_by_id(&half.join("results.csv"));
    assert_eq!(exhaustive.len(), 36);
    assert_eq!(halving.len(), 36, "every job has one row, pruned ones included");

    // Rungs: 36 -> 12 -> 4; pruned rows say where they stopped.
    let count = |status: &str, rung: &str| halving.values().filter(|r| r["status"] == status && r["rung"] == rung).count();
    let out_at_0 = count("pruned", "0") + count("diverged", "0") + count("failed", "0");
    assert_eq!(36 - out_at_0, 12, "rung 0 keeps ceil(36/3)");
    assert_eq!(count("completed", "2"), 4 - count("diverged", "2"), "rung 2 has ceil(12/3) jobs");
    for r in halving.values().filter(|r| r["status"] == "pruned") {
        let want = if r["rung"] == "0" { "1" } else { "3" };
        assert_eq!(r["epochs_run"], want, "{r:?}");
    }

    // The survivors of rung 0 are exactly the 12 best by validation accuracy after one epoch (ties to the lower index).
    let rung_rows = rung_records(&half);
    assert_eq!(
        rung_rows.iter().filter(|r| r["rung"] == "0").count(),
        36 - (count("diverged", "0") + count("failed", "0"))
    );
    assert_eq!(
        rung_rows.iter().filter(|r| r["rung"] == "1").count(),
        12 - (count("diverged", "1") + count("failed", "1"))
    );
    let index = indices(&full);
    let mut by_val: Vec<(f64, usize, String)> = rung_rows
        .iter()
        .filter(|r| r["rung"] == "0")
        .map(|r| (val(r), index[&r["id"]], r["id"].clone()))
        .collect();
    by_val.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let promoted: std::collections::HashSet<String> = rung_rows.iter().filter(|r| r["rung"] == "1").map(|r| r["id"].clone()).collect();
    let best12: std::collections::HashSet<String> = by_val.iter().take(12).map(|t| t.2.clone()).collect();
    assert!(
        promoted.is_subset(&best12),
        "rung 1 ran jobs that were not among the 12 best of rung 0"
    );

    // Finalists trained exactly as in the exhaustive sweep: same per-epoch and per-iteration histories, bit for bit.
    let finalists: Vec<&String> = halving
        .iter()
        .filter(|(_, r)| r["status"] == "completed")
        .map(|(id, _)| id)
        .collect();
    assert!(!finalists.is_empty());
    for id in &finalists {
        for name in [format!("{id}.csv"), format!("{id}-loss.csv")] {
            let a = std::fs::read(full.join("history").join(&name)).unwrap();
            let b = std::fs::read(half.join("history").join(&name)).unwrap();
            assert!(a == b, "history {name} differs between halving and exhaustive");
        }
        for col in ["best_val_acc", "best_epoch", "train_acc", "final_loss", "epochs_run", "seed"] {
            assert_eq!(halving[*id][col], exhaustive[*id][col], "{id} {col}");
        }
    }
    // A pruned job's history is the exhaustive one cut at its rung.
    for (id, r) in halving.iter().filter(|(_, r)| r["status"] == "pruned") {
        let a = std::fs::read_to_string(full.join("history").join(format!("{id}.csv"))).unwrap();
        let b = std::fs::read_to_string(half.join("history").join(format!("{id}.csv"))).unwrap();
        let n: usize = r["epochs_run"].parse().unwrap();
        let cut: Vec<&str> = a.lines().take(n + 1).collect();
        assert_eq!(b.lines().collect::<Vec<_>>(), cut, "{id}");
    }

    // The best of halving is the exhaustive best, or within 0.5 points of its validation accuracy.
    let best = |rows: &HashMap<String, HashMap<String, String>>| {
        rows.values()
            .filter(|r| r["status"] == "completed")
            .max_by(|a, b| val(a).total_cmp(&val(b)))
            .unwrap()
            .clone()
    };
    let (be, bh) = (best(&exhaustive), best(&halving));
    assert!(
        be["id"] == bh["id"] || val(&be) - val(&bh) <= 0.005,
        "halving's best {} ({}) vs exhaustive best {} ({})",
        bh["id"],
        val(&bh),
        be["id"],
        val(&be)
    );
    let best_json: serde_json::Value = serde_json::from_slice(&std::fs::read(half.join("best.json")).unwrap()).unwrap();
    assert_eq!(best_json["id"], bh["id"].as_str());
    assert!(best_json["test_acc"].as_f64().is_some(), "the best is tested once at the end");
    assert!(!half.join("state").exists(), "states are removed when the sweep is done");
    // Less work than exhaustive: 36 + 12*2 + 4*6 = 84 epochs at most instead of 324.
    let epochs: usize = halving.values().map(|r| r["epochs_run"].parse::<usize>().unwrap()).sum();
    assert!(epochs <= 84, "{epochs}");

    // A state budget of 3 MB, too small for the survivors' states (up to 2.4 MB each at 96 hidden units): the
    // lowest-ranked states are dropped and saves that do not fit are skipped, so the states never take more than the
    // budget, and the promoted jobs that lost theirs retrain to the very same rows and histories.
    let tight = subset_grid("halving").replace("[search]\n", "[search]\nstate_limit_gb = 0.003\n");
    write(tmp.path(), "tight.toml", &tight);
    let log = run_on_cifar(tmp.path(), &["run", "tight.toml", "--out", "tight"]);
    let line = log
        .lines()
        .find(|l| l.contains("training states took at most"))
        .unwrap_or_else(|| panic!("no state summary in the log:\n{log}"));
    let between = |from: &str, to: &str| -> f64 {
        let rest = &line[line.find(from).unwrap() + from.len()..];
        rest[..rest.find(to).unwrap()].trim().parse().unwrap()
    };
    let (again, peak_mb) = (between("(", " of them again"), between("at most", " MB"));
    assert!(again > 0.0, "nothing was retrained, so the budget was not tight: {line}");
    assert!(peak_mb > 0.0 && peak_mb <= 3.0, "the states took more than their 3 MB: {line}");
    let tight = tmp.path().join("tight");
    assert_eq!(rows_without_time(&tight), rows_without_time(&half));
    for e in std::fs::read_dir(half.join("history")).unwrap().flatten() {
        let a = std::fs::read(e.path()).unwrap();
        let b = std::fs::read(tight.join("history").join(e.file_name())).unwrap();
        assert!(a == b, "history {:?} differs under a tight state budget", e.file_name());
    }
}

/// A halving sweep slow enough to be killed at many points: toy data, but many images per job.
const SLOW_HALVING: &str = r#"
name = "slowh"
seed = 2
[data]
source = "toy"
train_size = 20000
[train]
epochs = 9
batch_size = 25
[search]
method = "halving"
[grid]
learning_rate = [0.02, 0.05, 0.1, 0.2, 0.4, 1e4]
hidden_size = [8, 24, 40]
"#;

fn spawn(dir: &Path, grid: &str, out: &str) -> std::process::Child {
    spawn_sweep(dir, &["run", grid, "--workers", "2", "--out", out], false)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

/// Rung records written so far, by every process.
fn rung_lines(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("rungs")).map_or(0, |d| d.flatten().map(|e| lines(&e.path())).sum())
}

#[test]
fn sigkill_at_many_points_of_a_halving_sweep_then_resume_gives_the_rows_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "slowh.toml", SLOW_HALVING);
    let killed = tmp.path().join("killed");
    // Kill during rung 0, right after rung 0 is complete (between rungs), during rung 1, and during the last rung.
    let points: [&dyn Fn() -> bool; 4] = [
        &|| rung_lines(&killed) >= 3,
        &|| rung_lines(&killed) >= 15,
        &|| rung_lines(&killed) >= 17,
        &|| rung_lines(&killed) >= 21 && lines(&killed.join("results.csv")) >= 14,
    ];
    let mut kills = 0;
    for ready in points {
        let mut child = spawn(tmp.path(), "slowh.toml", "killed");
        if wait_until(&mut child, ready) {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "the sweep finished before it could be killed ({kills} kills)");
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slowh.toml", "--workers", "2", "--out", "killed"])
        .assert()
        .success();
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slowh.toml", "--workers", "1", "--out", "clean"])
        .assert()
        .success();
    let clean = tmp.path().join("clean");
    let (a, b) = (rows_without_time(&killed), rows_without_time(&clean));
    assert_eq!(a.len(), 18);
    let ids: std::collections::HashSet<&str> = a.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 18, "a job was recorded twice");
    assert_eq!(a, b, "rows after kills and resumes differ from one uninterrupted run");
    for r in &a {
        let id = r.split(',').next().unwrap();
        let h = |d: &Path| std::fs::read(d.join("history").join(format!("{id}-loss.csv"))).unwrap();
        assert!(h(&killed) == h(&clean), "{id}: per-iteration history differs");
    }
    assert_eq!(
        std::fs::read_to_string(killed.join("best.json")).unwrap().replace("killed", "X"),
        std::fs::read_to_string(clean.join("best.json")).unwrap().replace("clean", "X")
    );
}

/// A TPE sweep with finalists, slow enough to be killed at many points: 12 trials in batches of 4 through rungs of 1,
/// 3 and 9 epochs, then the best 2 trained for 12.
const SLOW_TPE: &str = r#"
name = "slowtpe"
seed = 5
[data]
source = "toy"
train_size = 60000
[train]
epochs = 9
batch_size = 25
[search]
method = "tpe"
samples = 12
batch = 4
min_epochs = 1
finalists = 2
final_epochs = 12
[grid]
learning_rate = [0.02, 0.05, 0.1, 0.2, 0.4, 1e4]
hidden_size = [8, 24, 40]
"#;

#[test]
fn sigkill_of_a_tpe_sweep_with_finalists_then_resume_gives_the_rows_of_one_uninterrupted_worker() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "slowtpe.toml", SLOW_TPE);
    let killed = tmp.path().join("killed");
    let finals = |d: &Path| lines(&d.join("results.csv"));
    // Kill in the first batch, in a later one, and while the finalists train (every trial recorded).
    let points: [&dyn Fn() -> bool; 3] = [&|| rung_lines(&killed) >= 2, &|| finals(&killed) >= 6, &|| finals(&killed) >= 12];
    let mut kills = 0;
    for ready in points {
        let mut child = spawn(tmp.path(), "slowtpe.toml", "killed");
        if wait_until(&mut child, ready) {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert_eq!(kills, 3, "the sweep finished before it could be killed at every point");
    for (out, workers) in [("killed", "2"), ("clean", "1")] {
        sweep()
            .current_dir(tmp.path())
            .args(["run", "slowtpe.toml", "--workers", workers, "--out", out])
            .assert()
            .success();
    }
    let (a, b) = (rows_without_time(&killed), rows_without_time(&tmp.path().join("clean")));
    assert_eq!(a.len(), 14, "12 trials and 2 finalists");
    let ids: std::collections::HashSet<&str> = a.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 14, "a job was recorded twice");
    assert_eq!(a, b, "rows after kills and resumes differ from one uninterrupted worker's");
    let trained_12 = common::read_results(&killed)
        .iter()
        .filter(|r| r.config.epochs == 12 && r.epochs_run == 12.0)
        .count();
    assert_eq!(trained_12, 2, "the finalists train 12 epochs");
}

/// One long job: toy data, many images, many epochs.
const LONG_JOB: &str = r#"
name = "long"
seed = 4
[data]
source = "toy"
train_size = 40000
[train]
epochs = 12
batch_size = 20
learning_rate = 0.05
[grid]
hidden_size = [32]
"#;

#[test]
fn sigkill_in_the_middle_of_a_job_resumes_from_its_last_epoch_not_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "long.toml", LONG_JOB);
    let dir = tmp.path().join("killed");
    let state = dir.join("state");
    // The job's saved state, once there is one.
    let state_file = || {
        std::fs::read_dir(&state)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "safetensors"))
    };
    let mut child = spawn(tmp.path(), "long.toml", "killed");
    // The state is saved after every epoch; wait for the eighth save (the file's mtime changes), then SIGKILL: the
    // resumed run trains the last few of the 12 epochs.
    let mut saves = 0;
    let mut last = None;
    let running = wait_until(&mut child, || {
        let m = state_file().and_then(|p| p.metadata().ok()?.modified().ok());
        if m.is_some() && m != last {
            saves += 1;
            last = m;
        }
        saves >= 8
    });
    assert!(running, "the job finished before it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(common::count_rows(&dir), 0, "killed mid-job: no row yet");
    // The training seconds the state holds: what the killed run spent on the epochs it saved.
    let saved = state_file().expect("a saved state");
    let saved_s = sweep_core::TrainState::load(&saved).unwrap().seconds;
    assert!(saved_s > 0.0, "the state holds {saved_s} s of training");

    let started = std::time::Instant::now();
    let resumed = sweep()
        .current_dir(tmp.path())
        .args(["run", "long.toml", "--out", "killed"])
        .assert()
        .success();
    let resume_wall = started.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&resumed.get_output().stderr).to_string();
    let out = String::from_utf8_lossy(&resumed.get_output().stdout).to_string();
    let from: usize = err
        .split("continues from epoch ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the resumed job did not continue from its state:\n{err}"));
    assert!(from >= 2, "continued from epoch {from}");
    let trained: usize = out
        .split("epochs trained")
        .next()
        .and_then(|s| s.rsplit(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(trained, 12 - from, "the resumed run trained only the epochs that were missing");

    sweep()
        .current_dir(tmp.path())
        .args(["run", "long.toml", "--out", "clean"])
        .assert()
        .success();
    let clean = tmp.path().join("clean");
    assert_eq!(rows_without_time(&dir), rows_without_time(&clean));
    // The row holds the job's whole training time, across the kill (issue 21: it held only the resumed run's): the
    // seconds the state carried plus at most the resumed command's wall time. No bound on the machine's speed.
    let resumed_s = common::read_results(&dir)[0].seconds;
    assert!(
        resumed_s > saved_s && resumed_s - saved_s <= resume_wall,
        "the row says {resumed_s} s; the state held {saved_s} s and the resumed run took {resume_wall} s"
    );
    let id = rows_without_time(&clean)[0].split(',').next().unwrap().to_string();
    for name in [format!("{id}.csv"), format!("{id}-loss.csv")] {
        assert!(
            std::fs::read(dir.join("history").join(&name)).unwrap() == std::fs::read(clean.join("history").join(&name)).unwrap(),
            "{name} differs"
        );
    }
    assert!(!state.exists(), "the state is removed once the job is recorded and the sweep done");
}

#[test]
fn halving_and_sampled_searches_are_planned_with_their_rungs() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "h.toml", SLOW_HALVING);
    let out = sweep().current_dir(tmp.path()).args(["plan", "h.toml"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // 18 jobs: 18 x 1 epoch, 6 to 3 epochs, 2 to 9 epochs = 18 + 12 + 12 = 42 epochs of 162.
    for want in [
        "      1     1       18          1            18",
        "      1     3        2          9            12",
        "42 epochs in all",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let bad = write(
        tmp.path(),
        "bad.toml",
        "[data]\nsource = \"toy\"\n[search]\nmethod = \"halving\"\neta = 1\n",
    );
    sweep()
        .current_dir(tmp.path())
        .args(["run", "bad.toml", "--out", "never"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "bad.toml:5:7: search.eta: expected an integer from 2 to 100, found 1",
        ));
    assert!(!tmp.path().join("never").exists(), "nothing is written for a bad grid");
    let _ = bad;
    // The shipped sampled example: the same file gives the same jobs.
    let plan = |f: &str| {
        let o = sweep().current_dir(common::project_root()).args(["plan", f]).assert().success();
        // The job table, up to the blank line before the timing (which is measured, so it varies).
        let text = String::from_utf8_lossy(&o.get_output().stdout).to_string();
        text.split("\n\n").next().unwrap_or_default().to_string()
    };
    let a = plan("sweeps/cifar-sobol.toml");
    assert_eq!(a, plan("sweeps/cifar-sobol.toml"));
    assert_eq!(a.lines().count(), 17, "a header and 16 sampled jobs:\n{a}");
    // TPE's trials are proposed as results arrive: plan says how, costs one random batch through the rungs, and
    // times the batches one after the other (it planned nothing and a negative load before).
    let o = sweep()
        .current_dir(common::project_root())
        .args(["plan", "sweeps/seed-table3-tpe.toml"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&o.get_output().stdout).to_string();
    for want in [
        "TPE proposes 189 trials, 27 at a time (7 batches)",
        "Then the best 2 trials by validation train again from the start, with seeds of their own, for 25 epochs",
        "the first 27 at random",
        "rungs of 0.44, 1.32, 3.96, 12 epochs",
        "Every trial: optimizer = \"nesterov\", momentum = 0.9, flip = 0.5",
        "27 random trials (one batch) over 4 axes",
        "      1     1       27       0.44         11.88",
        "      1     4        1         12          8.04",
        "for the 7 batches and the 2 finalists (",
        "25 epochs each at 1,024 units) if each costs what this random one does",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains("-0 %") && !text.contains("inf times"), "{text}");
}

/// A halving sweep whose rungs end mid-epoch (0.5 and 1.5 epochs, then 5): toy data, two fused sizes and one alone.
const FRACTIONAL: &str = r#"
name = "frac"
seed = 6
[data]
source = "toy"
train_size = 3000
[train]
epochs = 5
batch_size = 50
[search]
method = "halving"
min_epochs = 0.5
[grid]
learning_rate = [0.02, 0.05, 0.1, 0.3, 1e4]
hidden_size = [8, 16, 128]
"#;

#[test]
fn rungs_ending_mid_epoch_promote_jobs_that_train_on_exactly_as_a_straight_run() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "frac.toml", FRACTIONAL);
    let run = sweep()
        .current_dir(tmp.path())
        .args(["run", "frac.toml", "--out", "half", "--workers", "2"])
        .output()
        .unwrap();
    assert!(run.status.success());
    // 3,000 images in batches of 50: 60 steps an epoch, so the first rung ends after step 30 and promoted jobs go on
    // from there (not from the start).
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("continues from epoch 0 (iteration 30) of its saved state"), "{log}");
    let half = tmp.path().join("half");
    let rungs = rung_records(&half);
    let at = |r: &str| rungs.iter().filter(|x| x["rung"] == r).count();
    assert!(at("0") >= 5, "{rungs:?}");
    assert_eq!(at("1"), 5, "ceil(15 / 3) of rung 0 go on to 1.5 epochs");
    assert!(
        rungs.iter().filter(|x| x["rung"] == "0").all(|x| x["epochs_run"] == "0.5"),
        "{rungs:?}"
    );
    assert!(
        rungs.iter().filter(|x| x["rung"] == "1").all(|x| x["epochs_run"] == "1.5"),
        "{rungs:?}"
    );
    let rows = rows_by_id(&half.join("results.csv"));
    assert!(rows.values().any(|r| r["status"] == "pruned" && r["epochs_run"] == "0.5"));
    // The same configurations trained straight to 5 epochs: every finalist's curves and the best model are the same
    // bytes, so the stops at 0.5 and 1.5 epochs (and their evaluations) changed nothing.
    let straight = FRACTIONAL.replace("[search]\nmethod = \"halving\"\nmin_epochs = 0.5\n", "");
    write(tmp.path(), "straight.toml", &straight);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "straight.toml", "--out", "full", "--workers", "2"])
        .assert()
        .success();
    let full = tmp.path().join("full");
    let finalists: Vec<&String> = rows.iter().filter(|(_, r)| r["status"] == "completed").map(|(id, _)| id).collect();
    assert!(!finalists.is_empty());
    for id in finalists {
        for name in [format!("{id}.csv"), format!("{id}-loss.csv")] {
            let a = std::fs::read(full.join("history").join(&name)).unwrap();
            let b = std::fs::read(half.join("history").join(&name)).unwrap();
            assert!(
                a == b,
                "history {name} of a job paused at 0.5 and 1.5 epochs differs from the straight run"
            );
        }
    }
    let best = |d: &Path| serde_json::from_slice::<serde_json::Value>(&std::fs::read(d.join("best.json")).unwrap()).unwrap();
    if best(&full)["id"] == best(&half)["id"] {
        assert_eq!(
            std::fs::read(full.join("best.safetensors")).unwrap(),
            std::fs::read(half.join("best.safetensors")).unwrap()
        );
    }
}

/// The slow halving grid with asynchronous promotion.
fn slow_asha() -> String {
    SLOW_HALVING
        .replace("method = \"halving\"", "method = \"asha\"")
        .replace("\"slowh\"", "\"slowa\"")
}

/// Every decision recorded in `dir/decisions/` (job id, rung).
fn decisions(dir: &Path) -> Vec<(String, usize)> {
    let Ok(entries) = std::fs::read_dir(dir.join("decisions")) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .map(|v| (v["id"].as_str().unwrap().to_string(), v["rung"].as_u64().unwrap() as usize))
        .collect()
}

#[test]
fn an_asynchronous_sweep_killed_at_several_points_carries_out_every_recorded_promotion() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "slowa.toml", &slow_asha());
    let killed = tmp.path().join("killed");
    let points: [&dyn Fn() -> bool; 3] = [&|| !decisions(&killed).is_empty(), &|| decisions(&killed).len() >= 4, &|| {
        decisions(&killed).iter().any(|d| d.1 == 2)
    }];
    let mut kills = 0;
    let mut decided = Vec::new();
    for ready in points {
        let mut child = spawn(tmp.path(), "slowa.toml", "killed");
        if wait_until(&mut child, ready) {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        decided = decisions(&killed);
    }
    assert!(kills >= 2, "the sweep finished before it could be killed ({kills} kills)");
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slowa.toml", "--workers", "2", "--out", "killed"])
        .assert()
        .success();
    let rows = rows_by_id(&killed.join("results.csv"));
    assert_eq!(rows.len(), 18, "every job has one row");
    let rungs = rung_records(&killed);
    for (id, rung) in &decided {
        let carried_out = rungs.iter().any(|r| &r["id"] == id && r["rung"] == rung.to_string())
            || rows[id]["rung"].parse::<usize>().is_ok_and(|r| r >= *rung);
        assert!(
            carried_out,
            "the promotion of {id} to rung {} recorded before a kill was not carried out",
            rung + 1
        );
    }
    // No unit was recorded twice.
    let mut units: Vec<(String, String)> = rungs.iter().map(|r| (r["id"].clone(), r["rung"].clone())).collect();
    let n = units.len();
    units.sort();
    units.dedup();
    assert_eq!(units.len(), n, "a rung of a job was recorded twice");
}
