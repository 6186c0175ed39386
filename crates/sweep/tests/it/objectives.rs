//! Several objectives at once (issue 35), through the real `sweep` binary and a real program with known fronts
//! (`examples/objectives/synthetic.py`: ZDT1 with two objectives, DTLZ2 with three): the front a sweep reports
//! (`pareto_rank` in results.csv, `best.json`, `sweep best`) is the brute-force non-dominated set of its rows; halving
//! keeps the best non-dominated ranks of each rung; and a multi-objective halving gives the same rows for one and two
//! workers and after a SIGKILL and a rerun.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sweep_results::format::{JobStatus, Row};

use crate::common::{count_rows, project_root, read_results, rows_without_time, spawn_sweep, sweep, wait_until, write};

pub(crate) fn program() -> PathBuf {
    project_root().join("examples/objectives/synthetic.py").canonicalize().unwrap()
}

/// A grid of the synthetic program: `objectives`, then `[train]` values and `[search]`.
pub(crate) fn grid(name: &str, objectives: &str, train: &str, search: &str) -> String {
    format!(
        "name = \"{name}\"\nseed = 4\nobjectives = {{ {objectives} }}\n[command]\nrun = [\"python3\", {:?}]\n\
         [train]\n{train}\n[grid]\nx1 = {{ linear = [0.0, 1.0] }}\nx2 = {{ linear = [0.0, 1.0] }}\n\
         x3 = {{ linear = [0.0, 1.0] }}\n[search]\n{search}\n",
        program().display().to_string()
    )
}

pub(crate) fn run(dir: &Path, args: &[&str]) -> String {
    let o = sweep()
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "sweep {} failed:\n{out}\n{err}", args.join(" "));
    out.into_owned()
}

/// A row's objective values (the first is the objective column, the others from `metrics`), when it takes part in
/// the front (completed or pruned).
fn values(r: &Row, names: &[&str]) -> Option<Vec<f64>> {
    let t = r.trial.as_ref()?;
    if !matches!(r.status, JobStatus::Completed | JobStatus::Pruned) {
        return None;
    }
    names
        .iter()
        .enumerate()
        .map(|(i, n)| if i == 0 { t.best } else { t.metrics.get(*n).copied() })
        .collect()
}

/// Brute force, every objective minimized: `a` dominates `b`.
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Brute-force ranks by peeling: rank 0 is what nothing dominates, rank 1 what nothing left dominates, and so on.
fn peel(points: &[Vec<f64>]) -> Vec<usize> {
    let mut rank = vec![usize::MAX; points.len()];
    let mut r = 0;
    while rank.contains(&usize::MAX) {
        let left: Vec<usize> = (0..points.len()).filter(|&i| rank[i] == usize::MAX).collect();
        let front: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| !left.iter().any(|&j| dominates(&points[j], &points[i])))
            .collect();
        for i in front {
            rank[i] = r;
        }
        r += 1;
    }
    rank
}

fn value(r: &Row, name: &str) -> f64 {
    let t = r.trial.as_ref().unwrap();
    t.values.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_f64()).unwrap()
}

/// The front a sweep reports, three ways, against the brute-force non-dominated set of its rows.
fn assert_front(out: &Path, names: &[&str]) -> usize {
    let rows = read_results(out);
    let taking: Vec<(&Row, Vec<f64>)> = rows.iter().filter_map(|r| Some((r, values(r, names)?))).collect();
    let points: Vec<Vec<f64>> = taking.iter().map(|(_, p)| p.clone()).collect();
    let ranks = peel(&points);
    for ((row, _), rank) in taking.iter().zip(&ranks) {
        assert_eq!(row.trial.as_ref().unwrap().pareto_rank, Some(*rank), "{}", row.id);
    }
    for r in &rows {
        if values(r, names).is_none() {
            assert_eq!(
                r.trial.as_ref().unwrap().pareto_rank,
                None,
                "{}: no rank without every objective",
                r.id
            );
        }
    }
    let want: BTreeSet<String> = taking
        .iter()
        .zip(&ranks)
        .filter(|(_, &k)| k == 0)
        .map(|((r, _), _)| r.id.clone())
        .collect();
    assert!(want.len() >= 3, "a front of {} trials: {want:?}", want.len());
    let best: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    let front: BTreeSet<String> = best["front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(front, want, "best.json's front");
    for m in best["front"].as_array().unwrap() {
        assert_eq!(m["objectives"].as_object().unwrap().len(), names.len(), "{m}");
        assert!(out.join(m["trial_dir"].as_str().unwrap()).join("checkpoint").is_dir(), "{m}");
    }
    let table = run(out.parent().unwrap(), &["best", out.to_str().unwrap()]);
    assert!(table.contains(&format!("Pareto front ({} trials", want.len())), "{table}");
    for id in &want {
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(id.as_str())),
            "{id} not listed:\n{table}"
        );
    }
    want.len()
}

#[test]
fn the_front_a_sweep_reports_is_the_brute_force_non_dominated_set_of_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two objectives (ZDT1) with the default search, and three (DTLZ2) with random draws through ASHA.
    let cases = [
        (
            "zdt",
            "f1 = \"min\", f2 = \"min\"",
            "problem = \"zdt1\"\nepochs = 9",
            "budget = 150",
            vec!["f1", "f2"],
        ),
        (
            "dtlz",
            "f1 = \"min\", f2 = \"min\", f3 = \"min\"",
            "problem = \"dtlz2\"\nepochs = 9",
            "method = \"asha\"\nsamples = 40\nmin_epochs = 1",
            vec!["f1", "f2", "f3"],
        ),
    ];
    for (name, objectives, train, search, names) in cases {
        write(dir, &format!("{name}.toml"), &grid(name, objectives, train, search));
        let plan = run(dir, &["plan", &format!("{name}.toml")]);
        assert!(plan.contains("Objectives: f1 (lower is better), f2 (lower is better)"), "{plan}");
        run(dir, &["run", &format!("{name}.toml"), "--out", name, "--workers", "2"]);
        let header = std::fs::read_to_string(dir.join(name).join("results.csv")).unwrap();
        assert!(header.lines().next().unwrap().ends_with(",seconds,pareto_rank,note"), "{header}");
        assert_front(&dir.join(name), &names);
    }
}

#[test]
fn multi_objective_halving_keeps_the_best_ranks_and_gives_the_same_rows_for_any_worker_count_and_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = grid(
        "mo-halving",
        "f1 = \"min\", f2 = \"min\"",
        "problem = \"zdt1\"\nepochs = 9\nsleep = 0.02",
        "method = \"halving\"\nsampler = \"random\"\nsamples = 27\neta = 3\nmin_epochs = 1",
    );
    write(dir, "h.toml", &text);
    run(dir, &["run", "h.toml", "--out", "one", "--workers", "1"]);
    run(dir, &["run", "h.toml", "--out", "two", "--workers", "2"]);
    let one = dir.join("one");
    assert_eq!(count_rows(&one), 27);
    assert_eq!(rows_without_time(&one), rows_without_time(&dir.join("two")), "1 vs 2 workers");

    // Rung 0 kept the best non-dominated ranks: every trial that went on ranks no worse than every trial stopped
    // there (dominance is the same at every epoch: each record scales the objectives by one factor).
    let rows = read_results(&one);
    let truth = |r: &Row| {
        let (x1, g) = (value(r, "x1"), 1.0 + 9.0 * (value(r, "x2") + value(r, "x3")) / 2.0);
        vec![x1, g * (1.0 - (x1 / g).sqrt())]
    };
    let ranks = peel(&rows.iter().map(truth).collect::<Vec<_>>());
    let went_on = rows.iter().zip(&ranks).filter(|(r, _)| r.epochs_run > 1.0).map(|(_, k)| *k);
    let stopped = rows.iter().zip(&ranks).filter(|(r, _)| r.epochs_run == 1.0).map(|(_, k)| *k);
    let (worst_kept, best_stopped) = (went_on.max().unwrap(), stopped.min().unwrap());
    assert!(worst_kept <= best_stopped, "kept rank {worst_kept}, stopped rank {best_stopped}");
    // Not what the first objective alone keeps: the 9 trials with the lowest x1.
    let mut by_f1: Vec<&Row> = rows.iter().collect();
    by_f1.sort_by(|a, b| value(a, "x1").total_cmp(&value(b, "x1")));
    let kept: BTreeSet<&str> = rows.iter().filter(|r| r.epochs_run > 1.0).map(|r| r.id.as_str()).collect();
    let first_only: BTreeSet<&str> = by_f1.iter().take(9).map(|r| r.id.as_str()).collect();
    assert_ne!(kept, first_only, "halving ranked by f1 alone");

    // SIGKILL in the middle of rung 1, then the same command again.
    let mut child = spawn_sweep(dir, &["run", "h.toml", "--out", "killed", "--workers", "2"], false);
    let killed = dir.join("killed");
    // Rung 0 decided (its 18 stopped trials recorded): rung 1 runs.
    assert!(
        wait_until(&mut child, || count_rows(&killed) >= 18),
        "the sweep ended before rung 1"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(count_rows(&killed) < 27, "killed after the end");
    run(dir, &["run", "h.toml", "--out", "killed", "--workers", "2"]);
    assert_eq!(rows_without_time(&one), rows_without_time(&killed), "after SIGKILL and a rerun");
}

/// The built-in network with two objectives (validation accuracy up, parameters down) under halving on the toy data:
/// the measures' columns and ranks in results.csv, the front in best.json and `sweep best` equal to the brute-force
/// front of the rows, every completed member's checkpoint kept (and no other candidate), the same rows for 1 and 2
/// workers.
#[test]
fn the_built_in_network_finds_the_front_of_accuracy_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = "name = \"toy-front\"\nseed = 2\nobjectives = { val_acc = \"max\", params = \"min\" }\n\
                [data]\nsource = \"toy\"\n[train]\nepochs = 9\n\
                [grid]\nlearning_rate = [0.01, 0.1, 0.3, 1.0]\nhidden_size = [1, 2, 4, 16, 64]\nreg = [1e-4, 1e-2]\n\
                [search]\nmethod = \"halving\"\n";
    write(dir, "t.toml", text);
    run(dir, &["run", "t.toml", "--out", "one", "--workers", "1"]);
    run(dir, &["run", "t.toml", "--out", "two", "--workers", "2"]);
    let out = dir.join("one");
    assert_eq!(rows_without_time(&out), rows_without_time(&dir.join("two")), "1 vs 2 workers");
    let header = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(header.lines().next().unwrap().ends_with(",seconds,params,pareto_rank"), "{header}");

    let rows = read_results(&out);
    // Parameters: 4 inputs, 3 classes: 4h + h + 3h + 3.
    let taking: Vec<(&Row, Vec<f64>)> = rows
        .iter()
        .filter(|r| matches!(r.status, JobStatus::Completed | JobStatus::Pruned))
        .map(|r| {
            let params = r.measures.as_ref().unwrap().params.unwrap();
            assert_eq!(params, (8 * r.config.hidden_size + 3) as f64, "{}", r.id);
            (r, vec![-r.best_val_acc.unwrap(), params])
        })
        .collect();
    let ranks = peel(&taking.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
    for ((r, _), k) in taking.iter().zip(&ranks) {
        assert_eq!(r.measures.as_ref().unwrap().pareto_rank, Some(*k), "{}", r.id);
    }
    let want: BTreeSet<String> = taking
        .iter()
        .zip(&ranks)
        .filter(|(_, &k)| k == 0)
        .map(|((r, _), _)| r.id.clone())
        .collect();
    assert!(want.len() >= 2, "{want:?}");
    let best: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    let front: BTreeSet<String> = best["front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(front, want, "best.json's front");
    // Each completed member keeps its checkpoint; no other candidate is left once the sweep finished.
    let kept: BTreeSet<String> = std::fs::read_dir(out.join("candidates"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".safetensors").map(String::from))
        .collect();
    let completed: BTreeSet<String> = rows
        .iter()
        .filter(|r| want.contains(&r.id) && r.status == JobStatus::Completed)
        .map(|r| r.id.clone())
        .collect();
    assert!(!completed.is_empty());
    assert!(kept.is_superset(&completed), "kept {kept:?}, front {completed:?}");
    let best_id = best["id"].as_str().unwrap().to_string();
    let id_of = |k: &str| k.strip_suffix("-rung").unwrap_or(k).to_string();
    assert!(kept.iter().all(|k| want.contains(&id_of(k)) || *k == best_id), "kept {kept:?}");
    // Every member has a checkpoint: a completed one its candidate, a pruned one its model at the rung it stopped.
    // With training seconds as the other objective, the quickest pruned job is always on the front.
    write(dir, "s.toml", &text.replace("params = \"min\"", "seconds = \"min\""));
    run(dir, &["run", "s.toml", "--out", "secs", "--workers", "2"]);
    let best: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("secs/best.json")).unwrap()).unwrap();
    for m in best["front"].as_array().unwrap() {
        let path = m["trial_dir"].as_str().unwrap();
        assert!(dir.join("secs").join(path).is_file(), "{m}");
        let pruned = m["status"] == "pruned";
        assert_eq!(path.ends_with("-rung.safetensors"), pruned, "{m}");
    }
    assert!(
        best["front"].as_array().unwrap().iter().any(|m| m["status"] == "pruned"),
        "no pruned member: {best}"
    );
    let table = run(dir, &["best", "one"]);
    assert!(table.contains(&format!("Pareto front ({} jobs", want.len())), "{table}");
    // Ranked by Pareto rank first: the front on top, ranks never decreasing down the list.
    let json: Value = serde_json::from_str(&run(dir, &["best", "one", "--format", "json"])).unwrap();
    let listed: Vec<u64> = json["sweeps"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["pareto_rank"].as_u64())
        .collect();
    assert!(listed.len() >= 5 && listed[0] == 0, "{json}");
    assert!(listed.windows(2).all(|w| w[0] <= w[1]), "{listed:?}");
    let plan = run(dir, &["plan", "t.toml"]);
    assert!(
        plan.contains("Objectives: val_acc (higher is better), params (lower is better)"),
        "{plan}"
    );
    // The same grid with other objectives is another sweep: refused, nothing changed.
    write(
        dir,
        "plain.toml",
        &text.replace("objectives = { val_acc = \"max\", params = \"min\" }\n", ""),
    );
    let before = std::fs::read(out.join("results.csv")).unwrap();
    let o = sweep()
        .current_dir(dir)
        .args(["run", "plain.toml", "--out", "one"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("its objectives were { val_acc = \"max\", params = \"min\" }, now { val_acc = \"max\" }"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("results.csv")).unwrap(), before);
}
