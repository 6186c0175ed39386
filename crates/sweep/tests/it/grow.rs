//! A sweep can grow: a value added to an axis, a new axis whose values keep the old setting, or more `samples` runs
//! only the new jobs into the same results directory, and its rows are those of a fresh run of the grown grid. Any
//! other change is refused naming the key with its old and new values; a halving sweep cannot grow, and says why.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use predicates::str::contains;

use common::{rows_without_time, sweep, write};

const HEAD: &str = "name = \"toy\"\nseed = 5\n[data]\nsource = \"toy\"\n[train]\nepochs = 2\nbatch_size = 50\n";

/// `sweep run GRID --out OUT` in `dir`; returns (stdout, stderr).
fn run(dir: &Path, grid: &str, out: &str) -> (String, String) {
    let o = sweep()
        .current_dir(dir)
        .args(["run", grid, "--out", out, "--workers", "2"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert!(o.status.success(), "sweep run {grid} failed:\n{stderr}");
    (stdout, stderr)
}

/// `sweep run GRID --out out` in `dir` finds every job already recorded.
fn rerun_does_nothing(dir: &Path, grid: &str) {
    let (stdout, _) = run(dir, grid, "out");
    assert!(stdout.contains("0 jobs run"), "{stdout}");
}

/// results.csv's lines by id (the whole line, `seconds` included: rows already there must not be rewritten).
fn lines_by_id(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| (l.split(',').next().unwrap().to_string(), l.to_string()))
        .collect()
}

#[test]
fn a_grown_grid_runs_only_the_new_jobs_and_gives_the_rows_of_a_fresh_run() {
    let tmp = tempfile::tempdir().unwrap();
    let first = format!("{HEAD}[grid]\nlearning_rate = [0.1, 0.3]\nhidden_size = [8, 16]\n");
    write(tmp.path(), "g.toml", &first);
    run(tmp.path(), "g.toml", "out");
    let out = tmp.path().join("out");
    let before = lines_by_id(&out);
    assert_eq!(before.len(), 4);

    // One value more on an axis and a new axis whose first value is the default: 3 x 2 x 2 = 12 jobs, 4 of them run.
    let grown = format!("{HEAD}[grid]\nlearning_rate = [0.1, 0.3, 1.0]\nhidden_size = [8, 16]\ndropout = [0.0, 0.25]\n");
    write(tmp.path(), "g.toml", &grown);
    let (stdout, stderr) = run(tmp.path(), "g.toml", "out");
    assert!(stdout.contains("8 jobs run"), "{stdout}");
    assert!(stderr.contains("the sweep grows from 4 to 12 jobs"), "{stderr}");
    assert!(stderr.contains("12 jobs (4 done)"), "{stderr}");
    let after = lines_by_id(&out);
    assert_eq!(after.len(), 12);
    for (id, line) in &before {
        assert_eq!(after.get(id), Some(line), "the row of {id} stays as it was");
    }
    rerun_does_nothing(tmp.path(), "g.toml");
    assert_eq!(
        std::fs::read_to_string(out.join("grid.toml")).unwrap(),
        grown,
        "the copy is the grown grid"
    );

    // The same rows as the grown grid run from scratch.
    run(tmp.path(), "g.toml", "fresh");
    assert_eq!(rows_without_time(&out), rows_without_time(&tmp.path().join("fresh")));

    // A changed fixed value is another sweep: refused, naming the key and both values, nothing written.
    write(tmp.path(), "changed.toml", &grown.replace("epochs = 2", "epochs = 3"));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "changed.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(contains(
            "holds a different sweep than changed.toml: `train.epochs` is 3 in this grid but was 2 when the directory was run",
        ));
    // So is a value taken off an axis, and another seed.
    write(tmp.path(), "changed.toml", &grown.replace("[0.1, 0.3, 1.0]", "[0.1, 1.0]"));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "changed.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(contains("`grid.learning_rate` is [0.1, 1] in this grid but was [0.1, 0.3, 1]"));
    write(tmp.path(), "changed.toml", &grown.replace("seed = 5", "seed = 6"));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "changed.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(contains("`seed` is 6 in this grid but was 5"));
    assert_eq!(lines_by_id(&out), after, "a refused grid changes nothing");
    assert_eq!(std::fs::read_to_string(out.join("grid.toml")).unwrap(), grown);
}

#[test]
fn more_samples_run_only_the_new_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = |n: usize| {
        format!("{HEAD}hidden_size = 8\n[search]\nmethod = \"sobol\"\nsamples = {n}\n[grid]\nlearning_rate = {{ log = [0.01, 1.0] }}\n")
    };
    write(tmp.path(), "g.toml", &grid(3));
    run(tmp.path(), "g.toml", "out");
    let before = lines_by_id(&tmp.path().join("out"));
    write(tmp.path(), "g.toml", &grid(5));
    let (stdout, _) = run(tmp.path(), "g.toml", "out");
    assert!(stdout.contains("2 jobs run"), "{stdout}");
    let after = lines_by_id(&tmp.path().join("out"));
    assert_eq!(after.len(), 5);
    assert!(before.iter().all(|(id, l)| after.get(id) == Some(l)));
    run(tmp.path(), "g.toml", "fresh");
    assert_eq!(
        rows_without_time(&tmp.path().join("out")),
        rows_without_time(&tmp.path().join("fresh"))
    );
}

#[test]
fn a_halving_sweep_cannot_grow_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = format!("{HEAD}hidden_size = 8\n[search]\nmethod = \"halving\"\neta = 2\n[grid]\nlearning_rate = [0.1, 0.3]\n");
    write(tmp.path(), "g.toml", &grid);
    run(tmp.path(), "g.toml", "out");
    write(tmp.path(), "g.toml", &grid.replace("[0.1, 0.3]", "[0.1, 0.3, 1.0]"));
    sweep()
        .current_dir(tmp.path())
        .args(["run", "g.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(contains(
            "successive halving decides each rung from the whole set of jobs, so the rungs recorded there for 2 jobs \
             would have been decided otherwise among 3",
        ))
        .stderr(contains("run the grown grid into a new directory (--out DIR, or another `name`)"));
}

/// A directory whose sweep.json an earlier release wrote for the very same grid file resumes, even where this release
/// plans other jobs for it (configurations differing only where a parameter has no effect are one job now).
#[test]
fn the_same_grid_file_resumes_whatever_fingerprint_an_earlier_release_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = format!("{HEAD}hidden_size = 8\n[grid]\nlearning_rate = [0.1, 0.3]\nmomentum = [0.5, 0.9]\n");
    write(tmp.path(), "g.toml", &grid);
    let (stdout, stderr) = run(tmp.path(), "g.toml", "out");
    // momentum means nothing to plain SGD: 4 configurations, 2 trainings, and the warning says so once.
    assert!(stdout.contains("2 jobs run"), "{stdout}");
    assert_eq!(
        stderr.matches("momentum has no effect in 4 of the 4 configurations").count(),
        1,
        "{stderr}"
    );
    let manifest = tmp.path().join("out/sweep.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old = v["fingerprint"].as_str().unwrap().to_string();
    std::fs::write(&manifest, text.replace(&old, "0123456789abcdef")).unwrap();
    rerun_does_nothing(tmp.path(), "g.toml");
}
