//! Fused training (`--fuse`), driving the real binary on a CIFAR-10 subset: jobs trained together give the rows,
//! histories and best model of the same jobs trained one by one.

use crate::common;

use std::path::Path;

use common::{rows_without_time, run_on_cifar, shared_cifar, sweep, write};

/// 24 configurations: two hidden sizes (so two kinds of groups), every optimizer family, dropout on and off, random
/// flips (so the minibatches are augmented), and an Adam rate that diverges inside its group.
const GRID: &str = "name = \"fuse\"\nseed = 2\n[data]\npath = \"unused\"\nval_size = 300\ntrain_size = 1000\ntest_size = 300\n\
[train]\nepochs = 3\nbatch_size = 100\nflip = 0.5\n[grid]\nhidden_size = [16, 40]\n\
optimizer = [\"sgd\", \"nesterov\", \"adam\"]\ndropout = [0.0, 0.2]\nlearning_rate = [0.01, 0.5]\n";

fn run(dir: &Path, out: &str, fuse: &str) -> String {
    run_on_cifar(dir, &["run", "grid.toml", "--out", out, "--workers", "2", "--fuse", fuse])
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn jobs_trained_together_give_the_rows_histories_and_best_model_of_jobs_trained_alone() {
    assert!(shared_cifar().is_dir(), "{} is missing", shared_cifar().display());
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    let alone_log = run(tmp.path(), "alone", "1");
    let fused_log = run(tmp.path(), "fused", "8");
    // Fusion happened (12 jobs per hidden size on 2 workers: groups of 6), and not with --fuse 1.
    assert!(fused_log.contains("trained with 5 others"), "no fused groups in:\n{fused_log}");
    assert!(!alone_log.contains("trained with"));
    let (alone, fused) = (tmp.path().join("alone"), tmp.path().join("fused"));
    let rows = rows_without_time(&alone);
    assert_eq!(rows.len(), 24);
    assert!(
        rows.iter().any(|r| r.contains("diverged")),
        "the grid should have a diverging job: {rows:#?}"
    );
    assert_eq!(rows, rows_without_time(&fused));
    assert!(files(&alone.join("history")) == files(&fused.join("history")), "histories differ");
    assert!(std::fs::read(alone.join("best.safetensors")).unwrap() == std::fs::read(fused.join("best.safetensors")).unwrap());
}

#[test]
fn fuse_zero_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "grid.toml", GRID);
    sweep()
        .current_dir(tmp.path())
        .args(["run", "grid.toml", "--fuse", "0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--fuse 0 is invalid: give at least 1"));
}
