//! Command sweeps through the real `sweep` binary (issue 18): a user's program as the trial. The light example
//! (`examples/light/train.py`, Python's standard library only) and small `sh` programs stand for the user's code:
//! `run`, `plan`, `best` by metric and mode, `report`, halving and Hyperband promotion continuing from checkpoints
//! (`SWEEP_RESUME=1`), failing, garbage-printing, diverging, SIGTERM-ignoring and hung programs, a SIGKILLed or
//! Ctrl-C'd sweep and its rerun. Processes left behind are looked for in `/proc` by the `SWEEP_TRIAL_DIR` every
//! process of a run carries in its environment (each test's results directory is its own).
//!
//! The PyTorch example runs too when a Python with torch is found (`SWEEP_TORCH_PYTHON`, else
//! `examples/pytorch/.venv/bin/python`); otherwise that one test says why it is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use sweep_results::format::{JobStatus, Row};

use crate::common;
use common::{count_rows, project_root, read_results, rows_without_time, shared_cifar, spawn_sweep, sweep, write};

fn light() -> PathBuf {
    project_root().join("examples/light/train.py").canonicalize().unwrap()
}

/// A grid running the light example (`python3 train.py`, then `extra` arguments) with `body` after `[command]`'s
/// `run` line (the rest of `[command]`, then `[train]`, `[grid]`, `[search]`).
fn light_grid(name: &str, extra: &[&str], body: &str) -> String {
    let mut run = vec!["python3".to_string(), light().display().to_string()];
    run.extend(extra.iter().map(|s| s.to_string()));
    let run: Vec<String> = run.iter().map(|a| format!("{a:?}")).collect();
    format!("name = \"{name}\"\nseed = 0\n[command]\nrun = [{}]\n{body}", run.join(", "))
}

/// `sweep <args>` in `dir` (at most 300 s).
fn run_sweep(dir: &Path, args: &[&str]) -> Output {
    sweep()
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

/// `sweep <args>` in `dir`, which must succeed: (stdout, stderr).
fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let o = run_sweep(dir, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(
        o.status.success(),
        "sweep {} failed ({:?}):\n{out}\n{err}",
        args.join(" "),
        o.status
    );
    (out, err)
}

/// Rows by trial id.
fn rows_by_id(dir: &Path) -> BTreeMap<String, Row> {
    read_results(dir).into_iter().map(|r| (r.id.clone(), r)).collect()
}

/// A row's value of `name` (a column of the trial's values).
fn value(r: &Row, name: &str) -> Value {
    let t = r.trial.as_ref().expect("a command trial's row");
    t.values.iter().find(|(k, _)| k == name).map_or(Value::Null, |(_, v)| v.clone())
}

fn note(r: &Row) -> String {
    r.trial.as_ref().and_then(|t| t.note.clone()).unwrap_or_default()
}

fn objective(r: &Row) -> Option<f64> {
    r.trial.as_ref().and_then(|t| t.best)
}

/// The row whose value of `name` is `v`.
fn row_with<'r>(rows: &'r BTreeMap<String, Row>, name: &str, v: Value) -> &'r Row {
    rows.values()
        .find(|r| value(r, name) == v)
        .unwrap_or_else(|| panic!("no row with {name} = {v}: {rows:#?}"))
}

/// Every JSON line of a trial's file (lines that are not JSON objects are skipped).
fn json_lines(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect()
}

/// The epochs a trial's program reported, in the order it appended them to `SWEEP_METRICS` (one per epoch it trained).
fn trained_epochs(out: &Path, id: &str) -> Vec<f64> {
    json_lines(&out.join("trials").join(id).join("metrics.jsonl"))
        .iter()
        .filter_map(|m| m.get("epoch")?.as_f64())
        .collect()
}

/// The runs of a trial as `records.jsonl` lists them: (budget, resumed).
fn runs(out: &Path, id: &str) -> Vec<(f64, bool)> {
    json_lines(&out.join("trials").join(id).join("records.jsonl"))
        .iter()
        .filter(|m| m.contains_key("sweep_run"))
        .map(|m| (m["budget"].as_f64().unwrap(), m["resume"].as_bool().unwrap()))
        .collect()
}

/// Live (not zombie) processes whose environment holds a `SWEEP_TRIAL_DIR` under `out`: every process of every run of
/// that sweep (the shepherd, the program, what it started), as (pid, command line).
fn processes_under(out: &Path) -> Vec<(u32, String)> {
    common::processes_with_env(&trial_dir_env(out))
}

/// Waits up to `limit` until no process of the sweep in `out` is alive; returns those still alive.
fn wait_until_none(out: &Path, limit: Duration) -> Vec<(u32, String)> {
    common::wait_until_no_process_with_env(&trial_dir_env(out), limit)
}

/// The environment entry every process of the sweep in `out` holds: `SWEEP_TRIAL_DIR=<absolute out>/...`.
fn trial_dir_env(out: &Path) -> String {
    format!("SWEEP_TRIAL_DIR={}/", std::path::absolute(out).unwrap().display())
}

/// Polls `ready()` every 10 ms until it holds; fails if the child ends first or after 120 s.
fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("sweep ended ({st}) before {what}");
        }
        assert!(Instant::now() < deadline, "not in 120 s: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

const LIGHT_GRID: &str = "metric = \"val_acc\"\nmode = \"max\"\n[train]\nepochs = 3\n[grid]\nlr = [0.01, 0.3]\nreg = [1e-4, 1e-2]\n";

#[test]
fn a_grid_of_the_light_program_records_every_trial_and_best_plan_and_report_use_its_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "g.toml", &light_grid("light", &["--lr={lr}"], LIGHT_GRID));

    let (plan, _) = ok(dir, &["plan", "g.toml"]);
    for want in [
        "lr",
        "reg",
        "Objective: val_acc (higher is better)",
        &format!("{} --lr=0.01 --epochs=3 --reg=0.0001", light().display()),
        "4 trials over 2 axes (lr, reg); 12 epochs in all",
        "Estimated time: not estimated",
    ] {
        assert!(plan.contains(want), "plan lacks {want:?}:\n{plan}");
    }

    let (stdout, _) = ok(dir, &["run", "g.toml", "--out", "out", "--workers", "2", "--report"]);
    assert!(stdout.contains("4 trials run"), "{stdout}");
    let out = dir.join("out");
    let rows = rows_by_id(&out);
    assert_eq!(rows.len(), 4);
    for r in rows.values() {
        assert_eq!((r.status, r.epochs_run), (JobStatus::Completed, 3.0), "{r:?}");
        assert_eq!(value(r, "epochs"), Value::from(3));
        // The row's objective is the best over the trial's records, at its best epoch, with that epoch's metrics.
        let recs = json_lines(&out.join("trials").join(&r.id).join("records.jsonl"));
        let points: Vec<_> = recs.iter().filter(|m| m.contains_key("epoch")).collect();
        assert_eq!(points.len(), 3, "{points:?}");
        let best = points.iter().map(|m| m["val_acc"].as_f64().unwrap()).fold(f64::MIN, f64::max);
        assert_eq!(objective(r), Some(best));
        let at = points.iter().find(|m| m["val_acc"].as_f64() == Some(best)).unwrap();
        assert_eq!(r.best_epoch, at["epoch"].as_f64());
        let t = r.trial.as_ref().unwrap();
        assert_eq!(t.metrics.get("loss").copied(), at["loss"].as_f64());
        // params.json has every value, fixed and axis; the log says how each run went.
        let params: Value = serde_json::from_slice(&std::fs::read(out.join("trials").join(&r.id).join("params.json")).unwrap()).unwrap();
        assert_eq!(params["lr"], value(r, "lr"));
        assert_eq!(params["epochs"], 3);
        let stderr = std::fs::read_to_string(out.join("trials").join(&r.id).join("stderr.log")).unwrap();
        assert!(
            stderr.contains("==== sweep run 1 of trial") && stderr.contains("reached its budget"),
            "{stderr}"
        );
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "id,lr,reg,epochs,seed,status,rung,epochs_run,best_epoch,val_acc,metrics,seconds,note"
    );

    // best ranks by val_acc, highest first, and best.json names the best trial's folder.
    let best_json: Value = serde_json::from_slice(&std::fs::read(out.join("best.json")).unwrap()).unwrap();
    let top = &rows[best_json["id"].as_str().unwrap()];
    assert!(
        rows.values().all(|r| objective(r) <= objective(top)),
        "{best_json} is not the highest"
    );
    let (best, _) = ok(dir, &["best", "out"]);
    assert!(best.contains("trials ranked by val_acc (max)"), "{best}");
    assert!(best.contains(&format!("Best: {}", top.id)), "{best}");
    assert!(best.contains(&format!("Trial folder: out/trials/{}", top.id)), "{best}");
    assert_eq!(
        (&best_json["metric"], &best_json["mode"]),
        (&Value::from("val_acc"), &Value::from("max"))
    );
    assert_eq!(best_json["trial_dir"], format!("trials/{}", top.id).as_str());
    assert_eq!(best_json["value"].as_f64(), objective(top));

    // The report is built around the objective.
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(
        html.contains("ranked by <code>val_acc</code> (max)") && html.contains(&top.id),
        "{html}"
    );
    assert!(out.join("report/objective.png").is_file() && out.join("report/objective.svg").is_file());
    let (report, _) = ok(dir, &["report", "out"]);
    assert!(report.contains("index.html"), "{report}");

    // A second run finds every trial done.
    let (again, _) = ok(dir, &["run", "g.toml", "--out", "out"]);
    assert!(again.contains("0 trials run") && again.contains("4 were already done"), "{again}");

    // The same grid minimizing the loss: best ranks lowest first.
    write(
        dir,
        "min.toml",
        &light_grid(
            "light-min",
            &["--lr={lr}"],
            &LIGHT_GRID.replace("\"val_acc\"\nmode = \"max\"", "\"loss\"\nmode = \"min\""),
        ),
    );
    ok(dir, &["run", "min.toml", "--out", "min", "--workers", "2"]);
    let rows = rows_by_id(&dir.join("min"));
    let low = rows.values().map(|r| objective(r).unwrap()).fold(f64::INFINITY, f64::min);
    let (best, _) = ok(dir, &["best", "min"]);
    let named = best
        .lines()
        .find_map(|l| l.strip_prefix("Best: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert!(
        best.contains("trials ranked by loss (min)") && objective(&rows[named]) == Some(low),
        "{best}"
    );
    let mut scores: Vec<f64> = rows.values().filter_map(objective).collect();
    scores.sort_by(f64::total_cmp);
    let listed: Vec<usize> = scores
        .iter()
        .map(|s| best.find(&format!("{:.4}", s)).unwrap_or(usize::MAX))
        .collect();
    assert!(listed.windows(2).all(|w| w[0] <= w[1]), "not lowest first:\n{best}");
}

#[test]
fn random_search_draws_its_samples_and_records_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let body = "metric = \"val_acc\"\n[train]\nepochs = 2\n[grid]\nlr = { log = [0.01, 1.0] }\nbatch_size = [16, 32, 64]\n\
                [search]\nmethod = \"random\"\nsamples = 5\n";
    write(dir, "r.toml", &light_grid("light-random", &[], body));
    let (plan, _) = ok(dir, &["plan", "r.toml"]);
    assert!(plan.contains("5 trials over 2 axes"), "{plan}");
    ok(dir, &["run", "r.toml", "--out", "out", "--workers", "2"]);
    let rows = rows_by_id(&dir.join("out"));
    assert_eq!(rows.len(), 5);
    for r in rows.values() {
        let lr = value(r, "lr").as_f64().unwrap();
        assert!((0.01..=1.0).contains(&lr), "{r:?}");
        assert!([16, 32, 64].contains(&value(r, "batch_size").as_i64().unwrap()), "{r:?}");
        assert_eq!(r.status, JobStatus::Completed, "{r:?}");
        // Axes named nowhere in `run` were appended as --name=value.
        let params: Value =
            serde_json::from_slice(&std::fs::read(dir.join("out/trials").join(&r.id).join("params.json")).unwrap()).unwrap();
        assert_eq!(params["lr"].as_f64(), Some(lr));
    }
    // The same file draws the same samples.
    ok(dir, &["run", "r.toml", "--out", "again"]);
    assert_eq!(rows_without_time(&dir.join("out")), rows_without_time(&dir.join("again")));
}

/// Trials of a halving or Hyperband sweep that ran more than once continued from their checkpoint: every run after
/// the first was started with `SWEEP_RESUME=1`, no epoch was trained twice, and the curve is an uninterrupted one's.
fn assert_promotions_continue(out: &Path, straight: &Path) -> usize {
    let straight = rows_by_id(straight);
    let mut promoted = 0;
    for r in rows_by_id(out).values() {
        let runs = runs(out, &r.id);
        let trained = trained_epochs(out, &r.id);
        let want: Vec<f64> = (1..=r.epochs_run as usize).map(|e| e as f64).collect();
        assert_eq!(trained, want, "trial {}: epochs trained, in order (runs {runs:?})", r.id);
        assert!(
            !runs[0].1 && runs[1..].iter().all(|(_, resumed)| *resumed),
            "trial {}: {runs:?}",
            r.id
        );
        if runs.len() > 1 {
            promoted += 1;
            let log = std::fs::read_to_string(out.join("trials").join(&r.id).join("stderr.log")).unwrap();
            assert!(
                log.contains("SWEEP_RESUME=1") && log.contains("train.py: resuming at epoch"),
                "{log}"
            );
        }
        // The same values trained straight through to the end reported the same numbers for the same epochs.
        let s = straight
            .values()
            .find(|s| value(s, "lr") == value(r, "lr") && value(s, "reg") == value(r, "reg"))
            .unwrap();
        let curve = |dir: &Path, id: &str| -> Vec<String> {
            json_lines(&dir.join("trials").join(id).join("metrics.jsonl"))
                .iter()
                .map(|m| serde_json::to_string(m).unwrap())
                .collect()
        };
        let straight_dir = out.parent().unwrap().join("straight");
        let full = curve(&straight_dir, &s.id);
        assert_eq!(curve(out, &r.id), full[..trained.len()], "trial {} against a straight run", r.id);
    }
    promoted
}

#[test]
fn halving_and_hyperband_promote_trials_that_continue_from_their_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let axes = "[grid]\nlr = [0.01, 0.1, 0.3, 1.0]\nreg = [1e-4, 1e-2]\n";
    write(
        dir,
        "straight.toml",
        &light_grid("light-straight", &[], &format!("metric = \"val_acc\"\n[train]\nepochs = 9\n{axes}")),
    );
    ok(dir, &["run", "straight.toml", "--out", "straight", "--workers", "2"]);

    for method in ["halving", "hyperband"] {
        let body = format!("metric = \"val_acc\"\n[train]\nepochs = 9\n{axes}[search]\nmethod = \"{method}\"\neta = 3\nmin_epochs = 1\n");
        write(dir, &format!("{method}.toml"), &light_grid(&format!("light-{method}"), &[], &body));
        let (plan, _) = ok(dir, &["plan", &format!("{method}.toml")]);
        assert!(plan.contains("epochs to") && plan.contains("as planned"), "{plan}");
        ok(dir, &["run", &format!("{method}.toml"), "--out", method, "--workers", "2"]);
        let out = dir.join(method);
        let rows = rows_by_id(&out);
        let statuses: Vec<(String, f64)> = rows.values().map(|r| (format!("{:?}", r.status), r.epochs_run)).collect();
        let completed = rows.values().filter(|r| r.status == JobStatus::Completed).count();
        let pruned = rows.values().filter(|r| r.status == JobStatus::Pruned).count();
        if method == "halving" {
            // 8 trials: all train 1 epoch, the best 3 go on to 3, the best of those to 9.
            assert_eq!(rows.len(), 8, "{statuses:?}");
            assert_eq!((completed, pruned), (1, 7), "{statuses:?}");
            let mut reached: Vec<f64> = rows.values().map(|r| r.epochs_run).collect();
            reached.sort_by(f64::total_cmp);
            assert_eq!(reached, [1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 9.0]);
        } else {
            assert!(completed >= 1 && completed + pruned == rows.len(), "{statuses:?}");
            assert!(
                rows.values().any(|r| r.epochs_run == 9.0) && rows.values().any(|r| r.epochs_run < 9.0),
                "{statuses:?}"
            );
        }
        let promoted = assert_promotions_continue(&out, &dir.join("straight"));
        assert!(promoted >= 1, "{method}: no trial was promoted");
        // The finished trial keeps its checkpoint (the user's model); pruned ones lose theirs.
        for r in rows.values() {
            let kept = out.join("trials").join(&r.id).join("checkpoint/state.json").exists();
            assert_eq!(kept, r.status == JobStatus::Completed, "{method} trial {} ({:?})", r.id, r.status);
        }
        let (best, _) = ok(dir, &["best", method]);
        assert!(best.contains("ranked by val_acc (max)"), "{best}");
        ok(dir, &["report", method]);
        assert!(out.join("report/index.html").is_file());
    }
}

#[test]
fn failing_garbage_diverging_and_short_programs_each_give_a_clear_row_and_the_sweep_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // `how` is one more argument of train.py: its misbehaviour switches.
    let body = "metric = \"val_acc\"\n[train]\nepochs = 3\n[grid]\n\
                how = [\"--report=file\", \"--fail_at=2\", \"--garbage=true\", \"--nan_at=2\", \"--exit_early_at=1\"]\n";
    write(dir, "g.toml", &light_grid("light-broken", &["--lr=0.3", "{how}"], body));
    let (stdout, stderr) = ok(dir, &["run", "g.toml", "--out", "out", "--workers", "2"]);
    let out = dir.join("out");
    let rows = rows_by_id(&out);
    assert_eq!(rows.len(), 5, "{stdout}\n{stderr}");
    let get = |how: &str| row_with(&rows, "how", Value::from(how));

    let fine = get("--report=file");
    assert_eq!(
        (fine.status, fine.epochs_run, note(fine)),
        (JobStatus::Completed, 3.0, String::new())
    );

    let failed = get("--fail_at=2");
    assert_eq!((failed.status, failed.epochs_run), (JobStatus::Failed, 1.0));
    let n = note(failed);
    assert!(
        n.contains("exited with code 3") && n.contains("RuntimeError: failing at epoch 2 as asked"),
        "{n}"
    );

    let garbage = get("--garbage=true");
    assert_eq!((garbage.status, garbage.epochs_run), (JobStatus::Completed, 3.0), "{garbage:?}");
    assert_eq!(objective(garbage), objective(fine), "garbage lines changed the numbers");
    let n = note(garbage);
    assert!(n.contains("warning(s) about its output (first: "), "{n}");
    // Each malformed line is a warning naming the trial and the line, never a crash.
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN") && l.contains(&garbage.id)).collect();
    assert!(warned.iter().any(|l| l.contains("epoch 1 val_acc")), "{stderr}");
    assert!(
        warned
            .iter()
            .any(|l| l.contains("metrics.jsonl line 3: not a JSON object, skipped: [1, 2, 3]")),
        "{stderr}"
    );
    assert!(
        warned
            .iter()
            .any(|l| l.contains("stdout of run 1, line 1: not JSON") && l.ends_with("{\"epoch\": 1, \"val_acc\":")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("100%|####"),
        "a line without the marker is not a warning: {stderr}"
    );

    let nan = get("--nan_at=2");
    assert_eq!((nan.status, note(nan)), (JobStatus::Diverged, "val_acc = NaN at epoch 2".into()));
    // The NaN stops the run; a program this fast may have reported its last epoch by then.
    assert!(nan.epochs_run >= 2.0, "{nan:?}");
    assert!(objective(nan).is_some_and(f64::is_finite), "the best finite point is kept: {nan:?}");

    let short = get("--exit_early_at=1");
    assert_eq!(short.status, JobStatus::Failed);
    assert!(
        note(short).contains("exited 0 at epoch 1, short of its budget 3"),
        "{}",
        note(short)
    );

    // best ranks only trials that finished; the failed and diverged ones are listed after them.
    let (best, _) = ok(dir, &["best", "out"]);
    let top = [fine, garbage]
        .into_iter()
        .max_by(|a, b| objective(a).partial_cmp(&objective(b)).unwrap())
        .unwrap();
    assert!(best.contains(&format!("Best: {}", top.id)), "{best}");
    ok(dir, &["report", "out"]);
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(
        html.contains("Trials that did not finish") && html.contains("exited with code 3"),
        "{html}"
    );
}

/// A failed trial's row names what was wrong with its records, not a symptom of it: a number past an f64 (`1e400`),
/// a record on a line over 1 MiB (once dropped without a word), a metric sent as a string.
#[test]
fn a_record_that_cannot_be_taken_is_named_in_the_failed_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let script = "import os, sys\n\
                  case = sys.argv[1]\n\
                  line = {'huge': '{\"epoch\": 1, \"val_acc\": 1e400}',\n\
                          'long': '{\"epoch\": 1, \"val_acc\": 0.5, \"pad\": \"' + 'x' * (1 << 21) + '\"}',\n\
                          'quoted': '{\"epoch\": 1, \"val_acc\": \"0.5\"}'}[case]\n\
                  open(os.environ['SWEEP_METRICS'], 'a').write(line + '\\n')\n"
        // Braces are literal in a `run` argument when doubled.
        .replace('{', "{{")
        .replace('}', "}}");
    let grid = format!(
        "name = \"records\"\nseed = 0\n[command]\nrun = [\"python3\", \"-c\", {script:?}, \"{{case}}\"]\n\
         metric = \"val_acc\"\n[train]\nepochs = 1\n[grid]\ncase = [\"huge\", \"long\", \"quoted\"]\n"
    );
    write(dir, "r.toml", &grid);
    let o = run_sweep(dir, &["run", "r.toml", "--out", "out", "--workers", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let rows = rows_by_id(&dir.join("out"));
    assert_eq!(rows.len(), 3, "{stderr}");
    // Every trial failed: the sweep says so and exits 3.
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error: every one of the 3 trials failed"), "{stderr}");
    let get = |case: &str| note(row_with(&rows, "case", Value::from(case)));
    for case in ["huge", "long", "quoted"] {
        assert_eq!(row_with(&rows, "case", Value::from(case)).status, JobStatus::Failed, "{stderr}");
    }
    let huge = get("huge");
    assert!(
        huge.contains("metrics.jsonl line 1: a number is beyond the range of a 64-bit float"),
        "{huge}"
    );
    assert!(!huge.contains("without reporting any epoch"), "{huge}");
    let long = get("long");
    assert!(long.contains("metrics.jsonl line 1 is longer than 1 MiB and was skipped"), "{long}");
    assert!(!long.contains("without reporting any epoch"), "{long}");
    let quoted = get("quoted");
    assert!(quoted.contains("`val_acc` is the string \"0.5\", not a number"), "{quoted}");
    assert!(!quoted.contains("no metric"), "{quoted}");
    // Each cause once: the row's note does not repeat the trial's id.
    for n in [&huge, &long, &quoted] {
        assert!(!n.contains("trial "), "{n}");
    }
}

/// A sweep whose every trial failed exits 3; its rerun says that the trials already done failed and how to run
/// them again; `--retry-failed` does, and each trial then has one row, in results.csv and in the writers' files.
#[test]
fn a_sweep_of_failed_trials_exits_3_and_retry_failed_runs_them_again_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Fails until the file `fixed` exists in the directory sweep runs in (a wrong path, fixed by the user).
    let script = "test -f fixed || { echo 'no such file: data' >&2; exit 1; }; \
                  printf '{\"epoch\": 1, \"val_acc\": 0.%s}\\n' \"$0\" >> \"$SWEEP_METRICS\""
        .replace('{', "{{")
        .replace('}', "}}");
    let grid = format!(
        "name = \"retry\"\nseed = 0\n[command]\nrun = [\"sh\", \"-c\", {script:?}, \"{{x}}\"]\nmetric = \"val_acc\"\n\
         [train]\nepochs = 1\n[grid]\nx = [4, 7]\n"
    );
    write(dir, "f.toml", &grid);
    let args = ["run", "f.toml", "--out", "out", "--workers", "1"];
    let first = run_sweep(dir, &args);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("every one of the 2 trials failed (one of them, "), "{stderr}");
    assert!(stderr.contains("exited with code 1; stderr: no such file: data"), "{stderr}");
    assert!(stderr.contains("`sweep run f.toml --retry-failed`"), "{stderr}");
    // Rerun as it is: nothing runs, and the summary says how to run the failed trials again.
    let again = run_sweep(dir, &args);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(3));
    assert!(
        stdout.contains("0 trials run") && stdout.contains("(2 were already done, 2 of them failed: add --retry-failed"),
        "{stdout}"
    );
    write(dir, "fixed", "");
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let (stdout, _) = ok(dir, &retry);
    assert!(stdout.contains("2 trials run"), "{stdout}");
    let out = dir.join("out");
    let rows = rows_by_id(&out);
    assert_eq!(rows.len(), 2);
    for r in rows.values() {
        assert_eq!(r.status, JobStatus::Completed, "{r:?}");
    }
    assert_eq!(objective(row_with(&rows, "x", Value::from(7))), Some(0.7));
    // One row per trial everywhere: results.csv and the writers' files together hold each id once.
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count() - 1;
    assert_eq!(lines(&out.join("results.csv")), 2);
    let mut in_writers = 0;
    for f in std::fs::read_dir(out.join("writers")).unwrap().flatten() {
        in_writers += lines(&f.path());
    }
    assert_eq!(in_writers, 2, "the failed rows were left in a writer's file");
    // Nothing failed any more: the hint is gone.
    let (stdout, _) = ok(dir, &args);
    assert!(stdout.contains("(2 were already done;"), "{stdout}");
}

#[test]
fn exponents_nan_and_infinities_parse_and_a_non_finite_objective_is_diverged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Each trial reports loss = v at epoch 1, once in the metrics file and once on stdout.
    let script = "echo \"{{\\\"epoch\\\": 1, \\\"loss\\\": {v}, \\\"acc\\\": 5E-1}}\" >> \"$SWEEP_METRICS\"; \
                  echo \"progress 50% SWEEP_METRIC {{\\\"epoch\\\": 1, \\\"loss\\\": {v}, \\\"acc\\\": 5E-1}}\"; \
                  echo 'SWEEP_METRIC {{\"epoch\": 1, \"loss\": 0.1'";
    let grid = format!(
        "name = \"numbers\"\nseed = 0\n[command]\nrun = [\"sh\", \"-c\", {script:?}]\nmetric = \"loss\"\nmode = \"min\"\n\
         [train]\nepochs = 1\n[grid]\nv = [\"1e-3\", \"2.5E+2\", \"-7\", \"NaN\", \"Infinity\", \"-Infinity\"]\n"
    );
    write(dir, "n.toml", &grid);
    let (_, stderr) = ok(dir, &["run", "n.toml", "--out", "out", "--workers", "2"]);
    let rows = rows_by_id(&dir.join("out"));
    let get = |v: &str| row_with(&rows, "v", Value::from(v));
    // (results.csv has no types: a string that reads as a number comes back as one.)
    for (v, want) in [(Value::from(1e-3), 1e-3), (Value::from(250.0), 250.0), (Value::from(-7), -7.0)] {
        let r = row_with(&rows, "v", v);
        assert_eq!((r.status, objective(r)), (JobStatus::Completed, Some(want)), "{r:?}");
        assert_eq!(r.trial.as_ref().unwrap().metrics.get("acc"), Some(&0.5), "{r:?}");
        // The torn line is a warning naming the trial and the line; the sweep goes on.
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("trial {}: stdout of run 1, line 2: not JSON", r.id))
                    && l.ends_with("skipped: {\"epoch\": 1, \"loss\": 0.1")),
            "{stderr}"
        );
    }
    for v in ["NaN", "Infinity", "-Infinity"] {
        let r = get(v);
        assert_eq!(r.status, JobStatus::Diverged, "{r:?}");
        assert!(note(r).starts_with("loss = "), "{r:?}");
    }
    let (best, _) = ok(dir, &["best", "out"]);
    assert!(
        best.contains(&format!("Best: {}", row_with(&rows, "v", Value::from(-7)).id)),
        "{best}"
    );
}

#[test]
fn a_program_ignoring_sigterm_is_killed_after_the_grace_and_a_slow_one_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // sleep 0: 10 quick epochs (under a second; 3 s on a loaded machine), within the timeout; sleep 1: over 10 s, so
    // the 6 s timeout sends SIGTERM. train.py saves and exits at its next step (within its 1 s sleep), unless it
    // ignores SIGTERM: then SIGKILL 2 s later, still short of its budget. Every trial leaves a `sleep` grandchild.
    let body = "metric = \"val_acc\"\ntimeout_s = 6\ngrace_s = 2\n[train]\nepochs = 10\nspawn_child = true\n\
                [grid]\nsleep = [0.0, 1.0]\nignore_sigterm = [false, true]\n";
    write(dir, "t.toml", &light_grid("light-timeout", &[], body));
    let started = Instant::now();
    ok(dir, &["run", "t.toml", "--out", "out", "--workers", "4"]);
    let took = started.elapsed();
    let out = dir.join("out");
    assert_eq!(
        wait_until_none(&out, Duration::from_secs(5)),
        [],
        "processes of the sweep outlived it"
    );
    let rows = rows_by_id(&out);
    assert_eq!(rows.len(), 4);
    for r in rows.values() {
        let (slow, ignores) = (value(r, "sleep") == 1.0, value(r, "ignore_sigterm") == true);
        let log = std::fs::read_to_string(out.join("trials").join(&r.id).join("stderr.log")).unwrap();
        if !slow {
            assert_eq!((r.status, r.epochs_run), (JobStatus::Completed, 10.0), "{r:?}");
            continue;
        }
        assert_eq!(r.status, JobStatus::Failed, "{r:?}");
        let n = note(r);
        if ignores {
            assert_eq!(n, "timed out after 6 s (SIGKILLed after the grace)", "{r:?}");
            assert!(!log.contains("SIGTERM: saved"), "{log}");
        } else {
            assert_eq!(n, "timed out after 6 s", "{r:?}");
            assert!(log.contains("train.py: SIGTERM: saved at epoch"), "{log}");
        }
        assert!(log.contains("timed out after 6 s"), "{log}");
        assert!(r.epochs_run >= 1.0 && r.epochs_run < 10.0, "{r:?}");
    }
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_hung_program_times_out_and_its_row_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let body = "metric = \"val_acc\"\ntimeout_s = 1.5\ngrace_s = 0.5\n[train]\nepochs = 3\n[grid]\nhang_at = [1, 99]\n";
    write(dir, "h.toml", &light_grid("light-hang", &[], body));
    ok(dir, &["run", "h.toml", "--out", "out", "--workers", "2"]);
    let out = dir.join("out");
    assert_eq!(wait_until_none(&out, Duration::from_secs(5)), []);
    let rows = rows_by_id(&out);
    let hung = row_with(&rows, "hang_at", Value::from(1));
    assert_eq!((hung.status, hung.epochs_run), (JobStatus::Failed, 1.0), "{hung:?}");
    // sleep() in Python resumes after the SIGTERM handler, so the hung program is killed after the grace.
    assert_eq!(note(hung), "timed out after 1.5 s (SIGKILLed after the grace)");
    assert_eq!(row_with(&rows, "hang_at", Value::from(99)).status, JobStatus::Completed);
}

/// Some trial of the sweep in `out` is in the middle of a run that resumed from its checkpoint: its last run started
/// with `SWEEP_RESUME=1` and has reported a point short of its budget.
fn mid_resumed_run(out: &Path) -> bool {
    let trials = std::fs::read_dir(out.join("trials")).into_iter().flatten().flatten();
    trials.into_iter().any(|t| {
        let lines = json_lines(&t.path().join("records.jsonl"));
        let Some(start) = lines.iter().rposition(|m| m.contains_key("sweep_run")) else {
            return false;
        };
        let (budget, resumed) = (lines[start]["budget"].as_f64(), lines[start]["resume"] == true);
        let last = lines[start + 1..].last().and_then(|m| m.get("epoch")?.as_f64());
        resumed && matches!((last, budget), (Some(e), Some(b)) if e < b)
    })
}

fn send(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

#[test]
fn sweep_killed_or_interrupted_mid_trial_leaves_no_process_and_its_rerun_gives_an_uninterrupted_runs_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Halving over 6 trials, 0.1 s an epoch, each trial with a grandchild.
    let body = "metric = \"val_acc\"\n[train]\nepochs = 9\nsleep = 0.1\nspawn_child = true\n\
                [grid]\nlr = [0.01, 0.1, 1.0]\nreg = [1e-4, 1e-2]\n[search]\nmethod = \"halving\"\neta = 3\nmin_epochs = 1\n";
    write(dir, "k.toml", &light_grid("light-kill", &[], body));
    let args = |out: &str| ["run", "k.toml", "--out", out, "--workers", "2"].map(String::from);
    ok(dir, &args("straight").each_ref().map(String::as_str));
    let straight = dir.join("straight");
    assert_eq!(wait_until_none(&straight, Duration::from_secs(5)), []);
    assert_eq!(count_rows(&straight), 6);

    for (name, signal) in [
        ("killed", nix::sys::signal::Signal::SIGKILL),
        ("interrupted", nix::sys::signal::Signal::SIGINT),
    ] {
        let out = dir.join(name);
        let argv = args(name);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut child = spawn_sweep(dir, &argv, true);
        // In the middle of a promoted trial's run: rung 1 recorded, a run with SWEEP_RESUME=1 started and has
        // reported an epoch but not reached its budget.
        wait_for(&mut child, "a promoted trial runs", || mid_resumed_run(&out));
        let before = processes_under(&out);
        assert!(before.iter().any(|(_, c)| c.contains("sleep 100000")), "{before:?}");
        send(&child, signal);
        let status = child.wait().unwrap();
        let stderr = {
            use std::io::Read;
            let mut s = String::new();
            child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
            s
        };
        assert_eq!(
            wait_until_none(&out, Duration::from_secs(5)),
            [],
            "{name}: alive after the signal (were {before:?})"
        );
        if name == "interrupted" {
            assert_eq!(status.code(), Some(130), "{stderr}");
            assert!(
                stderr.contains("resume from their checkpoints when the same command runs again"),
                "{stderr}"
            );
        } else {
            assert_eq!(status.code(), None, "killed by SIGKILL");
        }
        let (stdout, _) = ok(dir, &argv);
        assert!(stdout.contains("were already done"), "{stdout}");
        assert_eq!(wait_until_none(&out, Duration::from_secs(5)), []);
        assert_eq!(
            rows_without_time(&out),
            rows_without_time(&straight),
            "{name}: rows after the rerun"
        );
        // The trial stopped mid-run was run once more than in the straight sweep, resuming from its checkpoint.
        let again: Vec<String> = rows_by_id(&out)
            .into_keys()
            .filter(|id| runs(&out, id).len() > runs(&straight, id).len())
            .collect();
        assert!(!again.is_empty(), "{name}: no trial was run again");
        for id in &again {
            let r = runs(&out, id);
            assert!(r[1..].iter().all(|(_, resumed)| *resumed), "{name}: trial {id}: {r:?}");
        }
    }
}

/// A Python with torch: `SWEEP_TORCH_PYTHON`, else the example's own virtual environment.
fn torch_python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = std::env::var_os("SWEEP_TORCH_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([project_root().join("examples/pytorch/.venv/bin/python")])
        .collect();
    for p in &candidates {
        let ok = std::process::Command::new(p)
            .args(["-c", "import torch, numpy, PIL"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(p.clone());
        }
    }
    Err(format!(
        "no Python with torch, numpy and pillow (tried {}; run examples/pytorch/setup.sh or set SWEEP_TORCH_PYTHON)",
        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

#[test]
fn the_pytorch_example_trains_under_halving_and_promoted_trials_resume() {
    let python = match torch_python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let cifar = shared_cifar().canonicalize().expect("../shared/cifar10 is needed");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train = project_root().join("examples/pytorch/train.py").canonicalize().unwrap();
    let grid = format!(
        "name = \"torch-small\"\nseed = 0\n[command]\nrun = [{:?}, {:?}, \"--data\", {:?}]\nmetric = \"val_acc\"\n\
         [train]\nepochs = 3\nbatch_size = 100\nhidden_size = 64\ntrain_size = 2000\nval_size = 500\nthreads = 1\n\
         [grid]\nlearning_rate = [0.01, 0.1]\nreg = [1e-4]\n[search]\nmethod = \"halving\"\neta = 2\nmin_epochs = 1\n",
        python.display().to_string(),
        train.display().to_string(),
        cifar.display().to_string()
    );
    write(dir, "t.toml", &grid);
    ok(dir, &["run", "t.toml", "--out", "out", "--workers", "2"]);
    let out = dir.join("out");
    let rows = rows_by_id(&out);
    assert_eq!(rows.len(), 2);
    let done: Vec<&Row> = rows.values().filter(|r| r.status == JobStatus::Completed).collect();
    assert_eq!(done.len(), 1, "{rows:#?}");
    let best = done[0];
    assert_eq!(best.epochs_run, 3.0);
    assert!(objective(best).unwrap() > 0.15, "{best:?}");
    let runs = runs(&out, &best.id);
    assert_eq!(runs, [(1.0, false), (3.0, true)]);
    assert_eq!(trained_epochs(&out, &best.id), [1.0, 2.0, 3.0], "an epoch was trained twice");
}

#[test]
fn the_readmes_worked_example_runs_from_the_project_root() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("light");
    let root = project_root().canonicalize().unwrap();
    let (plan, _) = ok(&root, &["plan", "examples/light/grid.toml"]);
    assert!(
        plan.contains("python3 examples/light/train.py --lr=0.01 --batch_size=32 --epochs=9 --reg=0.0001")
            && plan.contains("10 trials over 2 axes (lr, reg); 30 epochs in all"),
        "{plan}"
    );
    ok(
        &root,
        &["run", "examples/light/grid.toml", "--out", out.to_str().unwrap(), "--workers", "2"],
    );
    let rows = rows_by_id(&out);
    let reached = |e: f64| rows.values().filter(|r| r.epochs_run == e).count();
    assert_eq!((rows.len(), reached(1.0), reached(3.0), reached(9.0)), (10, 6, 2, 2), "{rows:#?}");
    let (best, _) = ok(&root, &["best", out.to_str().unwrap()]);
    assert!(best.contains("10 trials ranked by val_acc (max)"), "{best}");
}
