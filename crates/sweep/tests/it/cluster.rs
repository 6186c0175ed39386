//! Many processes on one sweep, driving the real binary: concurrent writers, shards and `sweep finish`, the
//! Slurm warning signal, and the Slurm script and Kubernetes manifests (no cluster needed; `tests/slurm.rs` runs
//! a real Slurm).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command as Std;
use std::time::{Duration, Instant};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::common;
use common::{count_rows, rows_without_time, spawn_sweep, sweep, write};
use sweep_results::format::{JobStatus, Row};

/// Toy data with enough images that three processes started together overlap: 24 jobs of a fraction of a second.
const GRID: &str = r#"
name = "many"
seed = 3
[data]
source = "toy"
train_size = 4000
[train]
epochs = 3
batch_size = 25
[grid]
learning_rate = [0.05, 0.2, 1e4]
reg = [1e-4, 1e-3]
hidden_size = [8, 16, 24, 32]
"#;
const JOBS: usize = 24;

fn spawn_run(dir: &Path, out: &str, extra: &[&str]) -> std::process::Child {
    let args: Vec<&str> = ["run", "grid.toml", "--out", out]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    spawn_sweep(dir, &args, true)
}

/// Rows per writer file: (file name, ids in it).
fn writer_ids(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("writers")) else {
        return out;
    };
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let ids = text.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
        out.push((e.file_name().to_string_lossy().into_owned(), ids));
    }
    out.sort();
    out
}

/// Every id recorded across all writers' files, with how often.
fn id_counts(dir: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (_, ids) in writer_ids(dir) {
        for id in ids {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

fn best_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("best.json")).unwrap()).unwrap()
}

#[test]
fn three_processes_on_one_directory_run_each_job_once_with_the_rows_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--workers", "1", "--out", "one"])
        .assert()
        .success();
    let one = tmp.path().join("one");

    let children: Vec<_> = (0..3).map(|_| spawn_run(tmp.path(), "three", &["--workers", "1"])).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let three = tmp.path().join("three");
    let counts = id_counts(&three);
    assert_eq!(counts.len(), JOBS, "every job recorded");
    assert!(counts.values().all(|&n| n == 1), "a job was run twice: {counts:?}");
    let writers = writer_ids(&three);
    assert!(
        writers.iter().filter(|(_, ids)| !ids.is_empty()).count() >= 2,
        "the processes did not overlap, so this test showed nothing: {writers:?}"
    );
    // The merged results.csv and the best model are those of one process.
    assert_eq!(count_rows(&three), JOBS);
    assert_eq!(rows_without_time(&three), rows_without_time(&one));
    let (b1, b3) = (best_json(&one), best_json(&three));
    assert_eq!(b3["id"], b1["id"]);
    assert_eq!(b3["val_acc"], b1["val_acc"]);
    assert_eq!(
        b3["test_acc"], b1["test_acc"],
        "the process that saw every job recorded evaluates the best"
    );
    assert_eq!(
        std::fs::read(three.join("best.safetensors")).unwrap(),
        std::fs::read(one.join("best.safetensors")).unwrap()
    );
    // best sees one sweep of 24 jobs.
    let out = sweep()
        .args(["best", three.to_str().unwrap(), "--format", "csv", "--top", "100"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), JOBS + 1);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--out", "three"])
        .assert()
        .success()
        .stdout(contains("0 jobs run"));
}

#[test]
fn shards_split_the_jobs_by_cost_and_finish_evaluates_the_best_once_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--out", "one"])
        .assert()
        .success();
    let (one, sharded) = (tmp.path().join("one"), tmp.path().join("sharded"));

    for i in 0..2 {
        sweep()
            .current_dir(tmp.path())
            .args(["run", "grid.toml", "--out", "sharded", "--shard", &format!("{i}/3")])
            .assert()
            .success()
            .stdout(contains(format!("shard {i}/3 done")).and(contains("sweep finish")));
        assert_eq!(
            best_json(&sharded)["test_acc"],
            serde_json::Value::Null,
            "a shard evaluated a partial best"
        );
    }
    sweep()
        .args(["finish", sharded.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("of 24 jobs are not recorded yet").and(contains("--shard I/N")));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--out", "sharded", "--shard", "2/3"])
        .assert()
        .success();
    assert_eq!(best_json(&sharded)["test_acc"], serde_json::Value::Null);
    // Each shard ran its own jobs: 8 each (costs differ by hidden size; LPT gives each shard the same total here).
    let writers = writer_ids(&sharded);
    assert_eq!(writers.len(), 3);
    assert!(writers.iter().all(|(_, ids)| ids.len() == JOBS / 3), "{writers:?}");
    let all: HashSet<&String> = writers.iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(all.len(), JOBS);
    assert!(std::fs::read_dir(sharded.join("claims")).unwrap().count() >= JOBS);

    sweep()
        .args(["finish", sharded.to_str().unwrap(), "--no-report"])
        .assert()
        .success()
        .stdout(contains("test accuracy"));
    // Every job is recorded: finish removes their claims, so claims/ does not grow with every sweep.
    assert!(!sharded.join("claims").exists(), "claims of recorded jobs were left behind");
    assert_eq!(rows_without_time(&sharded), rows_without_time(&one));
    let (b1, bs) = (best_json(&one), best_json(&sharded));
    assert_eq!((&bs["id"], &bs["test_acc"]), (&b1["id"], &b1["test_acc"]));
    // Only the best's candidate is kept.
    let candidates: Vec<_> = std::fs::read_dir(sharded.join("candidates")).unwrap().flatten().collect();
    assert_eq!(candidates.len(), 2, "{candidates:?}");
}

#[test]
fn a_wrong_shard_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--shard", "3/3"])
        .assert()
        .code(2)
        .stderr(contains("the last of 3 shards is 2/3"));
    // SWEEP_SHARD_COUNT set in the environment (as in a Slurm task) does not make a plain run a shard.
    sweep()
        .current_dir(tmp.path())
        .env("SWEEP_SHARD_COUNT", "4")
        .args(["run", "grid.toml", "--out", "plain"])
        .assert()
        .success()
        .stdout(contains("24 jobs run"));
    sweep()
        .current_dir(tmp.path())
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .args(["run", "grid.toml", "--shard", "auto"])
        .assert()
        .code(2)
        .stderr(contains("not inside a Slurm job array"));
    assert!(!tmp.path().join("results").exists(), "a wrong shard writes nothing");
}

/// Slow enough to be signalled in the middle.
const SLOW: &str = r#"
name = "slow"
seed = 2
[data]
source = "toy"
train_size = 30000
[train]
epochs = 3
batch_size = 20
[grid]
learning_rate = [0.05, 0.1, 0.2]
hidden_size = [16, 32, 48, 64]
"#;

#[test]
fn sigusr1_stops_the_run_leaves_jobs_in_flight_unrecorded_and_unclaimed() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", SLOW);
    let dir = tmp.path().join("warned");
    let mut child = spawn_run(tmp.path(), "warned", &["--workers", "2"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_rows(&dir) < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before the signal");
        assert!(Instant::now() < deadline, "no rows after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Std::new("kill").args(["-USR1", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped on SIGUSR1"));
    let kept = count_rows(&dir);
    assert!((2..12).contains(&kept), "{kept}");
    // Jobs in flight were given up: no claim is left running, so anyone takes them at once.
    for e in std::fs::read_dir(dir.join("claims")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        assert_ne!(rec["state"], "running", "{}", e.path().display());
    }
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--out", "warned"])
        .assert()
        .success();
    assert_eq!(id_counts(&dir).len(), 12);
    assert!(id_counts(&dir).values().all(|&n| n == 1));
}

#[test]
fn slurm_prints_a_job_array_that_runs_shards_with_the_warning_signal_and_requeue() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    let out = sweep()
        .current_dir(tmp.path())
        .args([
            "slurm",
            "grid.toml",
            "--tasks",
            "4",
            "--max-running",
            "2",
            "--time",
            "10",
            "--partition",
            "debug",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let script = String::from_utf8(out.stdout).unwrap();
    for d in ["--array=0-3%2", "--time=10", "--partition=debug", "--signal=B:USR1@", "--requeue"] {
        assert!(script.lines().any(|l| l.starts_with(&format!("#SBATCH {d}"))), "{d}:\n{script}");
    }
    // Absolute paths: tasks start on other nodes.
    let (grid, out_dir) = (tmp.path().join("grid.toml"), tmp.path().join("results/many"));
    let run = format!("run {} --out {} --shard auto", grid.display(), out_dir.display());
    assert!(
        script.lines().any(|l| l.starts_with("exec /") && l.contains(&run)),
        "{run}:\n{script}"
    );
    assert!(
        tmp.path().join("results/many/slurm").is_dir(),
        "the log directory exists before submission"
    );
    sweep()
        .current_dir(tmp.path())
        .args(["slurm", "grid.toml", "--tasks", "0"])
        .assert()
        .code(2)
        .stderr(contains("--tasks 0"));
}

#[test]
fn k8s_prints_an_indexed_job_and_a_finishing_job_that_parse_as_yaml() {
    let root = common::project_root();
    let out = sweep()
        .args([
            "k8s",
            root.join("sweeps/toy.toml").to_str().unwrap(),
            "--tasks",
            "4",
            "--parallelism",
            "2",
        ])
        .args(["--image", "registry.example/sweep:1", "--pvc", "sweep-results", "--cpu", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_yaml::Value| !v.is_null())
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    let (job, finish) = (&docs[0], &docs[1]);
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 2);
    assert_eq!(spec["backoffLimitPerIndex"], 3);
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["type"],
        "DisruptionTarget"
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "sweep-results");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example/sweep:1");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/results");
    let cmd: Vec<&str> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(c["args"].as_sequence().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cmd[..5], ["sweep", "run", "/results/toy.toml", "--out", "/results/toy"]);
    assert!(cmd.windows(2).any(|w| w == ["--shard", "auto"]), "{cmd:?}");
    let env = c["env"].as_sequence().unwrap();
    assert!(env.iter().any(|e| e["name"] == "SWEEP_SHARD_COUNT" && e["value"] == "4"));
    let fc = &finish["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(fc["args"][0], "finish");
    assert_eq!(fc["args"][1], "/results/toy");
    assert_eq!(finish["spec"]["template"]["spec"]["volumes"], pod["volumes"]);
}

/// Rung records across all processes' `rungs/` files: (rung, id) -> how often.
fn rung_counts(dir: &Path) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for e in std::fs::read_dir(dir.join("rungs")).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let rung = header.iter().position(|h| *h == "rung").unwrap();
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            *counts.entry((f[rung].to_string(), f[0].to_string())).or_default() += 1;
        }
    }
    counts
}

#[test]
fn three_shards_of_a_halving_sweep_share_every_rung_and_give_the_rows_of_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = GRID
        .replace("epochs = 3", "epochs = 9")
        .replace("[grid]", "[search]\nmethod = \"halving\"\n[grid]");
    write(tmp.path(), "grid.toml", &grid);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--workers", "1", "--out", "one"])
        .assert()
        .success();
    let one = tmp.path().join("one");
    let children: Vec<_> = (0..3)
        .map(|i| spawn_run(tmp.path(), "three", &["--workers", "1", "--shard", &format!("{i}/3")]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let three = tmp.path().join("three");
    // Each job trained once per rung, whichever process took it.
    let rungs = rung_counts(&three);
    assert!(!rungs.is_empty());
    assert!(rungs.values().all(|&n| n == 1), "a rung of a job ran twice: {rungs:?}");
    let writers = writer_ids(&three);
    assert!(
        std::fs::read_dir(three.join("rungs")).unwrap().count() >= 2,
        "the processes did not share the rungs, so this test showed nothing: {writers:?}"
    );
    assert_eq!(count_rows(&three), JOBS);
    assert_eq!(rows_without_time(&three), rows_without_time(&one));
    assert_eq!(best_json(&three)["id"], best_json(&one)["id"]);
    sweep().current_dir(tmp.path()).args(["finish", "three"]).assert().success();
    assert_eq!(best_json(&three)["test_acc"], best_json(&one)["test_acc"]);
}

/// A TPE sweep: its trials are proposed as it runs, so `finish` knows it is complete by replaying the proposals; its
/// two best trained again for 5 epochs after the last batch.
const TPE: &str = r#"
name = "tpe"
seed = 1
[data]
source = "toy"
train_size = 2000
[train]
epochs = 3
[search]
method = "tpe"
samples = 12
batch = 4
min_epochs = 1
finalists = 2
final_epochs = 5
[grid]
learning_rate = { log = [1e-3, 1.0] }
hidden_size = [8, 16, 32]
"#;

#[test]
fn two_shards_of_a_tpe_sweep_give_the_rows_of_one_process_and_finish_clears_their_claims() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", TPE);
    let shards: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|s| spawn_run(tmp.path(), "sharded", &["--shard", s]))
        .collect();
    for mut c in shards {
        assert!(c.wait().unwrap().success());
    }
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--out", "one"])
        .assert()
        .success();
    let dir = tmp.path().join("sharded");
    assert_eq!(rows_without_time(&dir), rows_without_time(&tmp.path().join("one")));
    assert_eq!(rows_without_time(&dir).len(), 14, "12 trials and 2 finalists");
    // The finalists: the two best completed trials' values, trained for 5 epochs as jobs of their own.
    let rows = common::read_results(&dir);
    let mut trials: Vec<_> = rows
        .iter()
        .filter(|r| r.config.epochs == 3 && r.status == JobStatus::Completed)
        .collect();
    trials.sort_by(|a, b| b.best_val_acc.partial_cmp(&a.best_val_acc).unwrap());
    let finals: Vec<_> = rows.iter().filter(|r| r.config.epochs == 5).collect();
    assert_eq!(finals.len(), 2);
    for f in finals {
        let values = |r: &Row| (r.config.learning_rate, r.config.hidden_size);
        let t = trials
            .iter()
            .find(|t| values(t) == values(f))
            .expect("a finalist has a completed trial's values");
        assert!(t.best_val_acc >= trials[1].best_val_acc, "a finalist is one of the two best trials");
        assert_eq!((f.epochs_run, f.status, f.rung), (5.0, JobStatus::Completed, None));
    }
    sweep().current_dir(tmp.path()).args(["finish", "sharded"]).assert().success();
    assert!(!dir.join("claims").exists(), "finish removes the claims of a finished sweep");
    // An unfinished TPE sweep is refused, naming how many trials are missing.
    let part = tmp.path().join("part");
    std::fs::create_dir_all(&part).unwrap();
    for entry in ["grid.toml", "sweep.json"] {
        std::fs::copy(dir.join(entry), part.join(entry)).unwrap();
    }
    sweep()
        .current_dir(tmp.path())
        .args(["finish", "part"])
        .assert()
        .failure()
        .stderr(contains("part: 12 of 12 jobs are not recorded yet ("));
}
