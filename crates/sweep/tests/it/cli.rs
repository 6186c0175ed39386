//! Drives the real `sweep` binary: bad grids, plans, toy and real CIFAR-10 sweeps, resume after SIGKILL, determinism.

use std::path::Path;
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::common;
use common::{count_rows, project_root, rerun_does_nothing, rows_without_time, shared_cifar, sweep, write};

const TOY: &str = r#"
name = "toy"
seed = 1
[data]
source = "toy"
[train]
epochs = 4
batch_size = 50
[grid]
learning_rate = [0.1, 1e4]
reg = { log = [1e-4, 1e-2], num = 3 }
hidden_size = [8, 16]
"#;

/// Every grid mistake is a unit test of the parser (grid.rs); here a few show the binary's side: exit code 2, the
/// message on stderr, and nothing written.
#[test]
fn bad_grids_exit_2_with_a_message_naming_line_and_key_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "name = \"g\"\n[data]\nsource = \"toy\"\n[train]\nepochs = 1\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{base}[grid]\nlearnig_rate = [0.1]\n"),
            "g.toml:7:1: grid.learnig_rate: unknown key; did you mean `learning_rate`?",
        ),
        (
            format!("{base}[grid]\nlearning_rate = [0.1, 0]\n"),
            "grid.learning_rate: learning_rate = 0 is invalid: must be a finite number > 0",
        ),
        (format!("{base}[grid\n"), "g.toml:6:6: TOML syntax error"),
        (
            "[data]\npath = \"no/such/dir\"\n".to_string(),
            "g.toml:2:8: data.path: no/such/dir does not exist: no file or directory at ",
        ),
    ];
    for (text, want) in cases {
        let grid = write(tmp.path(), "g.toml", &text);
        let out = tmp.path().join("out");
        let assert = sweep()
            .current_dir(tmp.path())
            .args(["run", "g.toml", "--out"])
            .arg(&out)
            .assert()
            .code(2);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(stderr.contains(want), "grid:\n{text}\nwanted: {want}\ngot: {stderr}");
        assert_eq!(stderr.matches(want).count(), 1, "each cause printed once: {stderr}");
        assert!(!out.exists(), "a bad grid must write nothing ({})", grid.display());
        assert!(!tmp.path().join("results").exists());
    }
}

/// Grids that `plan` promised something `run` could not do (or that panicked in the schedule: exit 101) are refused by
/// both when read: exit 2, the key named, nothing written.
#[test]
fn plan_and_run_refuse_grids_whose_schedule_cannot_be_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let toy = "[data]\nsource = \"toy\"\n[train]\nbatch_size = 50\nepochs = 3\n";
    let cases = [
        (
            format!("{toy}[search]\nmethod = \"hyperband\"\nmin_epochs = 1e-19\n[grid]\nreg = [0.1, 0.2]\n"),
            "g.toml:8:14: search.min_epochs: min_epochs = 0.0000000000000000001 with eta = 3 gives 41 rungs",
        ),
        (
            format!("{toy}[search]\nmethod = \"hyperband\"\nmin_epochs = 1e-19\n[grid]\nreg = {{ log = [1e-4, 1.0] }}\n"),
            "g.toml:8:14: search.min_epochs: min_epochs = 0.0000000000000000001 with eta = 3 gives 41 rungs",
        ),
        (
            format!("{toy}[search]\nmethod = \"asha\"\n[grid]\nreg = [0.1, 0.2]\n"),
            "search.min_epochs: asha promotes the best floor(n / eta) of the n jobs recorded at a rung: 2 jobs",
        ),
    ];
    for (text, want) in cases {
        write(tmp.path(), "g.toml", &text);
        let out = tmp.path().join("out");
        for args in [&["plan", "g.toml"][..], &["run", "g.toml", "--out", "out"][..]] {
            let assert = sweep().current_dir(tmp.path()).args(args).assert().code(2);
            let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
            assert!(stderr.contains(want), "{args:?} on\n{text}\nwanted: {want}\ngot: {stderr}");
            assert_eq!(stderr.matches(want).count(), 1, "said once: {stderr}");
            assert!(!out.exists(), "{args:?}: a refused grid writes nothing");
            assert!(!tmp.path().join("results").exists());
        }
    }
}

#[test]
fn val_size_larger_than_the_data_names_the_grid_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("imgs");
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..3 {
                image::RgbImage::from_pixel(4, 4, image::Rgb([i * 50, 0, 0]))
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    write(tmp.path(), "g.toml", "[data]\npath = \"imgs\"\nval_size = 60\n");
    sweep()
        .current_dir(tmp.path())
        .args(["run", "g.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(contains("g.toml:3:12: data.val_size: val_size = 60 is out of range: 0..=5"));
    assert!(!tmp.path().join("out").exists());
}

/// An axis without effect for some jobs (momentum means nothing to sgd and adam) is warned about once, naming the
/// parameter and the jobs, and the configurations that would train the same are planned once.
#[test]
fn plan_warns_once_about_a_parameter_without_effect_and_plans_each_training_once() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "g.toml",
        "[data]\nsource = \"toy\"\n[train]\nepochs = 1\n[grid]\nmomentum = [0.5, 0.9]\noptimizer = [\"sgd\", \"adam\", \"nesterov\"]\n",
    );
    let out = sweep().current_dir(tmp.path()).args(["plan", "g.toml"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    // sgd once, adam once, nesterov at 0.5 and at 0.9.
    assert!(stdout.contains("4 jobs over 2 axes (momentum, optimizer)"), "{stdout}");
    let warning = "momentum has no effect in 4 of the 6 configurations (those with optimizer = sgd or adam); it is used \
                   only with optimizer = \"momentum\" or \"nesterov\": jobs ";
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("2 of the 6 configurations would train exactly as another").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn plan_shows_jobs_and_total_work_of_the_report_grid() {
    sweep()
        .current_dir(project_root())
        .args(["plan", "sweeps/seed-table3.toml"])
        .assert()
        .success()
        .stdout(contains(
            "1,512 jobs over 4 axes (learning_rate, reg, hidden_size, lr_decay); 15,120 epochs in all, 40,000 training images each",
        ));
}

/// What `plan` says of a budget is what `run` does: the trials it promises are the rows, within the epochs.
#[test]
fn plan_of_a_budget_names_the_trials_and_epochs_that_run_keeps_to() {
    sweep()
        .current_dir(project_root())
        .args(["plan", "sweeps/toy-budget.toml"])
        .assert()
        .success()
        .stdout(contains("budget = 400 epochs: 126 trials fit, planned to spend 392 epochs in all"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    sweep()
        .current_dir(project_root())
        .args(["run", "sweeps/toy-budget.toml", "--out", out.to_str().unwrap()])
        .assert()
        .success();
    let rows = sweep_results::format::read_rows(&out.join("results.csv")).unwrap();
    assert_eq!(rows.len(), 126);
    let epochs: f64 = rows.iter().map(|r| r.epochs_run).sum();
    assert!(epochs <= 392.0, "{epochs} epochs");
}

#[test]
fn toy_sweep_writes_csv_histories_best_checkpoint_and_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "toy.toml", TOY);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "toy.toml", "--workers", "2"])
        .assert()
        .success()
        .stdout(contains("Best:"));
    let dir = tmp.path().join("results/toy");
    let rows = rows_without_time(&dir);
    assert_eq!(rows.len(), 12);
    assert_eq!(rows.iter().filter(|r| r.contains(",diverged,")).count(), 6, "{rows:?}");
    for f in ["best.safetensors", "best.json", "grid.toml", "sweep.json"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let best: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("best.json")).unwrap()).unwrap();
    assert!(best["test_acc"].as_f64().unwrap() > 0.5, "{best}");
    let id = best["id"].as_str().unwrap();
    let hist = std::fs::read_to_string(dir.join(format!("history/{id}.csv"))).unwrap();
    assert_eq!(hist.lines().count(), 5, "{hist}");
    assert!(dir.join(format!("history/{id}-loss.csv")).exists());
    // `sweep best` from the parent finds it, in every format.
    sweep()
        .current_dir(tmp.path())
        .args(["best", "results/"])
        .assert()
        .success()
        .stdout(contains(id))
        .stdout(contains("best.safetensors"));
    let json = sweep()
        .current_dir(tmp.path())
        .args(["best", "results", "--format", "json", "--top", "3"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["sweeps"].as_array().unwrap().len(), 1);
    assert_eq!(v["sweeps"][0]["sweep"], "toy");
    assert_eq!(v["sweeps"][0]["rows"].as_array().unwrap().len(), 3);
    assert_eq!(v["sweeps"][0]["rows"][0]["id"], id);
    let csv = sweep()
        .current_dir(tmp.path())
        .args(["best", "results", "--format", "csv"])
        .assert()
        .success();
    let text = String::from_utf8(csv.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("sweep,dir,id,"), "{text}");
    assert_eq!(text.lines().count(), 11);
    // The same grid again: nothing to do. A different grid into the same directory: refused.
    rerun_does_nothing(tmp.path(), "toy.toml");
    write(tmp.path(), "other.toml", &TOY.replace("num = 3", "num = 2"));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "other.toml", "--out", "results/toy"])
        .assert()
        .code(2)
        .stderr(contains("holds a different sweep"));
    assert_eq!(rows_without_time(&dir).len(), 12);
    // Another sweep beside it is ranked apart, each with its own best.
    write(
        tmp.path(),
        "other.toml",
        &TOY.replace("name = \"toy\"", "name = \"other\"").replace("num = 3", "num = 1"),
    );
    sweep().current_dir(tmp.path()).args(["run", "other.toml"]).assert().success();
    let out = sweep().current_dir(tmp.path()).args(["best", "results"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("== sweep other ==") && text.contains("== sweep toy =="), "{text}");
    assert_eq!(text.matches("Best: ").count(), 2, "{text}");
    assert!(text.contains(&format!("Best: {id} ")), "{text}");
}

/// A results.csv written before the optimizer, dropout and augmentation columns existed resumes: nothing reruns, and
/// the file is rewritten with the new columns at their defaults, so later rows line up with the header.
#[test]
fn a_results_file_from_before_the_new_columns_resumes_and_is_upgraded() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "toy.toml", TOY);
    sweep().current_dir(tmp.path()).args(["run", "toy.toml"]).assert().success();
    let dir = tmp.path().join("results/toy");
    let before = rows_without_time(&dir);
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| {
            !(header.iter().position(|h| *h == "optimizer").unwrap()..header.iter().position(|h| *h == "seed").unwrap()).contains(&i)
        })
        .collect();
    let old: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",") + "\n"
        })
        .collect();
    assert!(
        old.starts_with("id,learning_rate,reg,hidden_size,lr_decay,epochs,batch_size,init_std,seed,status,"),
        "{old}"
    );
    std::fs::write(dir.join("results.csv"), old).unwrap();
    rerun_does_nothing(tmp.path(), "toy.toml");
    assert_eq!(rows_without_time(&dir), before);
}

#[test]
fn one_and_two_workers_give_identical_rows_and_best_model() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "toy.toml", TOY);
    for w in ["1", "2"] {
        sweep()
            .current_dir(tmp.path())
            .args(["run", "toy.toml", "--out", w, "--workers", w])
            .assert()
            .success();
    }
    let (a, b) = (tmp.path().join("1"), tmp.path().join("2"));
    assert_eq!(rows_without_time(&a), rows_without_time(&b));
    assert_eq!(
        std::fs::read(a.join("best.safetensors")).unwrap(),
        std::fs::read(b.join("best.safetensors")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("best.json")).unwrap(),
        std::fs::read(b.join("best.json")).unwrap()
    );
}

/// A sweep slow enough to be killed in the middle: toy data, but many images per job.
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

fn start(tmp: &Path, out: &str) -> std::process::Child {
    Std::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(tmp)
        .args(["run", "slow.toml", "--workers", "2", "--out", out])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_rows(dir: &Path, n: usize, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_rows(dir) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "no rows after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_mid_sweep_then_rerun_gives_the_rows_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "slow.toml", SLOW);
    let killed = tmp.path().join("killed");
    let mut child = start(tmp.path(), "killed");
    wait_for_rows(&killed, 3, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = count_rows(&killed);
    assert!(at_kill < 12, "the kill came after the sweep had finished");
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slow.toml", "--workers", "2", "--out", "killed"])
        .assert()
        .success();
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slow.toml", "--workers", "2", "--out", "clean"])
        .assert()
        .success();
    let (a, b) = (rows_without_time(&killed), rows_without_time(&tmp.path().join("clean")));
    assert_eq!(a.len(), 12);
    let ids: std::collections::HashSet<&str> = a.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 12, "a job was recorded twice");
    assert_eq!(a, b);
}

#[test]
fn ctrl_c_stops_cleanly_keeping_finished_rows() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "slow.toml", SLOW);
    let dir = tmp.path().join("int");
    let mut child = start(tmp.path(), "int");
    wait_for_rows(&dir, 2, &mut child);
    Std::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let kept = count_rows(&dir);
    assert!((2..12).contains(&kept), "{kept}");
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(text.ends_with('\n'));
}

#[test]
fn real_image_folder_sweep_on_a_cifar10_subset_then_best_predict_eval() {
    let data = shared_cifar();
    assert!(data.is_dir(), "{} is missing", data.display());
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "sub.toml",
        "name = \"sub\"\n[data]\npath = \"unused\"\nval_size = 1000\ntrain_size = 4000\ntest_size = 1000\n\
         [train]\nepochs = 3\nbatch_size = 100\n[grid]\nlearning_rate = [0.1, 0.3]\nhidden_size = [64]\n",
    );
    sweep()
        .current_dir(tmp.path())
        .args(["run", "sub.toml", "--data"])
        .arg(&data)
        .assert()
        .success();
    let dir = tmp.path().join("results/sub");
    let best: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("best.json")).unwrap()).unwrap();
    assert!(best["val_acc"].as_f64().unwrap() > 0.25, "{best}");
    assert!(best["test_acc"].as_f64().unwrap() > 0.25, "{best}");
    let ckpt = dir.join("best.safetensors");
    let img = data.join("test/ship/0001.jpg");
    sweep()
        .arg("predict")
        .arg("--model")
        .arg(&ckpt)
        .arg(&img)
        .assert()
        .success()
        .stdout(contains("0001.jpg\t"));
    sweep()
        .args(["eval", "--model"])
        .arg(&ckpt)
        .arg("--data")
        .arg(&data)
        .assert()
        .success()
        .stdout(contains("Test accuracy:"))
        .stdout(contains("(10000 images)"));
    // The checkpoint records its split, so the validation accuracy is reproduced exactly.
    let val = best["val_acc"].as_f64().unwrap();
    sweep()
        .args(["eval", "--split", "val", "--model"])
        .arg(&ckpt)
        .arg("--data")
        .arg(&data)
        .assert()
        .success()
        .stdout(contains(format!("Val accuracy: {:.2} % (1000 images)", 100.0 * val)))
        .stderr(contains("WARN").not());
    sweep()
        .arg("predict")
        .arg("--model")
        .arg(&ckpt)
        .arg(dir.join("best.json"))
        .assert()
        .code(2)
        .stderr(contains("best.json"));
}

#[test]
fn gradcheck_prints_table_one_below_1e_7() {
    let out = sweep().arg("gradcheck").assert().success().stdout(contains("Max Relative Error"));
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for name in ["W1", "b1", "W2", "b2"] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        let err: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(err < 1e-7, "{line}");
    }
}

#[test]
fn init_writes_a_grid_that_plan_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    sweep()
        .current_dir(tmp.path())
        .arg("init")
        .assert()
        .success()
        .stdout(contains("grids/cifar.toml"));
    assert!(tmp.path().join("results").is_dir());
    sweep()
        .current_dir(tmp.path())
        .args(["plan", "grids/cifar.toml"])
        .assert()
        .success()
        .stdout(contains("jobs over"));
    sweep()
        .current_dir(tmp.path())
        .arg("init")
        .assert()
        .code(2)
        .stderr(contains("--force"));
}

#[test]
fn train_command_trains_the_toy_problem_and_saves_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("m.safetensors");
    sweep()
        .args([
            "train",
            "--data",
            "toy",
            "--hidden",
            "10",
            "--epochs",
            "20",
            "--lr",
            "0.5",
            "--batch-size",
            "50",
            "--save",
        ])
        .arg(&ckpt)
        .assert()
        .success()
        .stdout(contains("completed: best val"));
    assert!(ckpt.exists());
    sweep()
        .args(["train", "--data", "toy", "--lr=-1"])
        .assert()
        .code(2)
        .stderr(contains("learning_rate = -1 is invalid"));
}

#[test]
fn best_ranks_pruned_jobs_after_finished_ones_and_says_where_they_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_toy_search(tmp.path(), "halving");
    let text = String::from_utf8(sweep().arg("best").arg(&out).args(["--top", "18"]).output().unwrap().stdout).unwrap();
    let rows = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = rows.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    // id -> how results.csv says the job ended, with the epochs it ran.
    let ended: std::collections::HashMap<String, (String, String)> = rows
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (f[col("status")].to_string(), f[col("epochs_run")].to_string()))
        })
        .collect();
    // The status column of each ranked line, in rank order.
    let shown: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (status, _) = ended.get(*w.get(1)?)?;
            let cell = w.iter().find(|c| c.starts_with(status.as_str()))?;
            Some((status.clone(), cell.to_string()))
        })
        .collect();
    assert_eq!(shown.len(), 18, "{text}");
    let tier = |s: &str| match s {
        "completed" => 0,
        "pruned" => 1,
        _ => 2,
    };
    assert!(
        shown.windows(2).all(|w| tier(&w[0].0) <= tier(&w[1].0)),
        "finished, then pruned, then the rest:\n{text}"
    );
    assert!(shown.iter().any(|s| s.0 == "pruned"), "{text}");
    for (id, (status, epochs)) in &ended {
        let line = text.lines().find(|l| l.contains(id.as_str())).unwrap();
        if status == "pruned" {
            assert!(line.contains(&format!(" pruned@{epochs} ")), "{line}");
        } else {
            assert!(!line.contains('@'), "{line}");
        }
    }
}

#[test]
fn best_on_a_directory_without_results_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    sweep()
        .arg("best")
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(contains("no results.csv found"));
    sweep()
        .arg("best")
        .arg(tmp.path().join("nope"))
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
}

#[test]
fn output_cut_short_by_a_closed_pipe_is_not_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("sweep");
    let out = Std::new("bash")
        .arg("-c")
        .arg(format!("'{}' plan sweeps/seed-table3.toml | head -n 1", bin.display()))
        .current_dir(project_root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("internal error") && !stderr.contains("panicked"), "{stderr}");
}

/// The job table and summary of `sweep plan` as printed (stdout), after checking it succeeded.
fn plan_text(dir: &Path, grid: &str) -> String {
    let out = sweep().current_dir(dir).args(["plan", grid]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `plan` shows the settings every job shares where they differ from the defaults, hides the parameters that have no
/// effect (cosine does not use `lr_decay`), prints numbers with separators and the work in a unit that suits it.
#[test]
fn plan_shows_shared_settings_hides_parameters_without_effect_and_separates_thousands() {
    let best = plan_text(&project_root(), "sweeps/cifar-best.toml");
    let header = best.lines().next().unwrap();
    assert!(
        header.contains("learning_rate") && header.contains("dropout") && !header.contains("lr_decay"),
        "{best}"
    );
    let every = best
        .lines()
        .find(|l| l.starts_with("Every job: "))
        .unwrap_or_else(|| panic!("{best}"));
    for want in [
        "optimizer = \"nesterov\"",
        "momentum = 0.9",
        "lr_schedule = \"cosine\"",
        "flip = 0.5",
    ] {
        assert!(every.contains(want), "{want} not in {every}");
    }
    assert!(!every.contains("lr_decay") && !every.contains("dropout"), "{every}");
    // 4 jobs x 40 epochs of a 2,048-unit layer on 40,000 images.
    assert!(
        best.contains("4 jobs over 2 axes (learning_rate, dropout); 160 epochs in all, 40,000 training images each"),
        "{best}"
    );
    let summary = best.lines().find(|l| l.contains(" jobs over ")).unwrap();
    let work = summary.rsplit("; ").next().unwrap();
    assert!(
        work.ends_with(" GFLOP of training.") && work.contains(','),
        "thousands separated: {work}"
    );
    // Halving: the rungs with their time; all four jobs cost the same, so one figure.
    assert!(best.contains("epochs added        time       up to"), "{best}");
    assert!(
        best.contains("Estimated time: about ") && !best.contains("most expensive"),
        "{best}"
    );
    // Jobs of different sizes: two figures, as which survive is not known in advance.
    let halving = plan_text(&project_root(), "sweeps/seed-table3-halving.toml");
    assert!(halving.contains("1,512 jobs over 4 axes"), "{halving}");
    assert!(
        halving.contains(" if each rung's survivors cost what an average job of their bracket costs, up to "),
        "{halving}"
    );
    assert!(halving.contains("      1     1    1,512      0.148       223.776"), "{halving}");
    assert!(halving.contains("      1     5       19         12       152.076"), "{halving}");
    // A tiny problem: its work in MFLOP, not "about 0 GFLOP"; a parameter without effect in a job is shown as `-`.
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "g.toml",
        "[data]\nsource = \"toy\"\n[train]\nepochs = 2\n[grid]\noptimizer = [\"sgd\", \"nesterov\"]\nmomentum = [0.5]\n",
    );
    let toy = plan_text(tmp.path(), "g.toml");
    assert!(toy.contains(" MFLOP of training.") || toy.contains(" kFLOP of training."), "{toy}");
    assert!(!toy.contains(" 0 GFLOP"), "{toy}");
    let sgd = toy.lines().find(|l| l.contains(" sgd")).unwrap_or_else(|| panic!("{toy}"));
    assert!(sgd.trim_end().ends_with(" -"), "momentum means nothing to sgd: {sgd}");
    assert!(toy.contains("(-: the parameter has no effect on that job)"), "{toy}");
}

/// A relative data path is taken from the current directory: the error says the absolute path it looked at, and
/// that rule, so `cd crates && sweep run ../g.toml` is understood at once.
#[test]
fn a_missing_data_path_names_the_resolved_absolute_path_and_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("crates");
    std::fs::create_dir(&sub).unwrap();
    write(tmp.path(), "g.toml", "[data]\npath = \"shared/cifar10\"\n");
    let out = sweep()
        .current_dir(&sub)
        .args(["run", "../g.toml", "--out", "out"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let cwd = std::fs::canonicalize(&sub).unwrap();
    let resolved = cwd.join("shared/cifar10");
    assert!(
        stderr.contains(&format!(
            "../g.toml:2:8: data.path: shared/cifar10 does not exist: no file or directory at {}",
            resolved.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("relative paths are taken from the current directory, {}", cwd.display())),
        "{stderr}"
    );
    assert!(!sub.join("out").exists());
    // --data the same way; an absolute path is said as given.
    let out = sweep()
        .current_dir(&sub)
        .args(["run", "../g.toml", "--out", "out", "--data", "nowhere"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "--data: nowhere does not exist: no file or directory at {}",
            cwd.join("nowhere").display()
        )),
        "{stderr}"
    );
    let absolute = tmp.path().join("gone");
    let out = sweep()
        .current_dir(&sub)
        .args(["run", "../g.toml", "--data"])
        .arg(&absolute)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist: no file or directory at") && !stderr.contains("relative paths"),
        "{stderr}"
    );
}

/// Half of a sweep recorded (one shard of two): `best` says how many jobs are not done and why the test accuracy is
/// missing, in the table and (on stderr) for JSON, which also writes the 64-bit seed as a string. With every job
/// recorded it says that `sweep finish` computes the test accuracy; after it, `best.json` ends with a newline.
#[test]
fn best_on_an_unfinished_sweep_says_how_many_jobs_are_not_done_and_why_test_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "toy.toml", TOY);
    let shard = |i: usize| {
        sweep()
            .current_dir(tmp.path())
            .args(["run", "toy.toml", "--out", "out", "--shard", &format!("{i}/2")])
            .assert()
            .success();
    };
    shard(0);
    let dir = tmp.path().join("out");
    let done = count_rows(&dir);
    assert!(done > 0 && done < 12, "{done}");
    let best = |args: &[&str]| {
        let out = sweep().current_dir(tmp.path()).arg("best").arg("out").args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (table, _) = best(&[]);
    let missing = format!("{} of 12 jobs are not done", 12 - done);
    assert!(table.contains(&missing), "{table}");
    assert!(
        table.contains(&format!(
            "test not computed yet: the test accuracy is computed once every job is recorded, and {} of 12 are not",
            12 - done
        )),
        "{table}"
    );
    assert!(!table.contains("test - %"), "{table}");
    let (json, stderr) = best(&["--format", "json", "--top", "20"]);
    assert!(stderr.contains(&missing), "told on stderr too: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["sweeps"][0]["planned_jobs"], 12);
    assert_eq!(v["sweeps"][0]["not_done"], 12 - done);
    // The seed as a string, exactly the one results.csv holds (CSV keeps the number).
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let (id_col, seed_col) = (0, header.iter().position(|h| *h == "seed").unwrap());
    let seeds: std::collections::HashMap<&str, &str> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[id_col], f[seed_col])
        })
        .collect();
    let rows = v["sweeps"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), done);
    for r in rows {
        let seed = r["seed"].as_str().unwrap_or_else(|| panic!("seed is a string: {r}"));
        assert!(seed.parse::<u64>().is_ok(), "{seed}");
        assert_eq!(seeds[r["id"].as_str().unwrap()], seed);
    }
    assert!(
        seeds.values().any(|s| s.parse::<u64>().unwrap() > 1 << 53),
        "seeds use all 64 bits: {seeds:?}"
    );
    // Every job recorded, no shard computes the test accuracy: `sweep finish` does.
    shard(1);
    let (table, _) = best(&[]);
    assert!(!table.contains("are not done"), "{table}");
    assert!(
        table.contains(
            "test not computed yet: the test accuracy is computed once every job is recorded; they are, so `sweep finish out` computes it"
        ),
        "{table}"
    );
    sweep()
        .current_dir(tmp.path())
        .args(["finish", "out", "--no-report"])
        .assert()
        .success();
    let (table, _) = best(&[]);
    assert!(table.contains(", test ") && !table.contains("not computed"), "{table}");
    let text = std::fs::read_to_string(dir.join("best.json")).unwrap();
    assert!(text.ends_with("}\n"), "best.json ends with a newline: {text:?}");
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(info["test_acc"].as_f64().is_some(), "{info}");
}

/// A tiny image folder (`<root>/{train,test}/<class>/*.png`, 4x4 pixels) for commands that need images.
fn tiny_images(root: &Path) {
    for split in ["train", "test"] {
        for (c, class) in ["cat", "dog"].iter().enumerate() {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..4u8 {
                image::RgbImage::from_fn(4, 4, |x, y| image::Rgb([i * 40 + c as u8 * 100, x as u8 * 30, y as u8 * 30]))
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

/// `predict` prints a header saying which column is the probability, then one line per image with a number in [0, 1].
#[test]
fn predict_prints_a_header_naming_the_probability_column() {
    let tmp = tempfile::tempdir().unwrap();
    let imgs = tmp.path().join("imgs");
    tiny_images(&imgs);
    let model = tmp.path().join("m.safetensors");
    sweep()
        .args([
            "train",
            "--val-size",
            "2",
            "--epochs",
            "2",
            "--hidden",
            "8",
            "--batch-size",
            "2",
            "--data",
        ])
        .arg(&imgs)
        .arg("--save")
        .arg(&model)
        .assert()
        .success();
    let image = imgs.join("test/dog/1.png");
    // An image of another size than the model's input (4x4 here) is resized, not refused.
    let odd = tmp.path().join("odd.png");
    image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 90]))
        .save(&odd)
        .unwrap();
    let out = sweep()
        .arg("predict")
        .arg("--model")
        .arg(&model)
        .arg(&image)
        .arg(imgs.join("test/cat/0.png"))
        .arg(&odd)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("odd.png: resized to the model's input, 4x4"), "{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "image\tclass\tprobability", "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[3].starts_with(&format!("{}\t", odd.display())), "{text}");
    let fields: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(fields[0], image.display().to_string());
    assert!(["cat", "dog"].contains(&fields[1]), "{text}");
    let p: f64 = fields[2].parse().unwrap();
    assert!((0.0..=1.0).contains(&p), "{text}");
}

/// `sweep train` refuses, as a grid is refused, a model that cannot fit in this machine's memory, before anything is
/// allocated (earlier: an allocation failure and an abort), naming the flag.
#[test]
fn train_refuses_a_model_too_large_for_this_machine() {
    let out = sweep()
        .args(["train", "--data", "toy", "--hidden", "1000000000000"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--hidden 1000000000000: this job needs "), "{stderr}");
    assert!(
        stderr.contains("more than this machine has: ") && stderr.contains("use a smaller --hidden"),
        "{stderr}"
    );
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}
