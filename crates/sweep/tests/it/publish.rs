//! The results directory's publish step and the start of a sweep in a directory (issue 37, items 1 and 2), through
//! the real binary: a results.csv left without its last row (a kill between a writer's append and the publish) is
//! published again by the rerun, for a built-in and a command sweep; of two different grids started together on a
//! new directory exactly one runs, the other is refused (exit 2) and the directory holds the rows of one grid.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common;
use common::{project_root, read_results, sweep, write};

/// `sweep <args>` in `dir` (at most 300 s), which must succeed: its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = sweep()
        .current_dir(dir)
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(
        o.status.success(),
        "sweep {} failed ({:?}):\n{out}\n{err}",
        args.join(" "),
        o.status
    );
    out.into_owned()
}

/// Runs `grid` into `dir/out`, drops the last row of its results.csv (what a kill between the writer's append and
/// the publish leaves), runs the same command again and checks that results.csv is again what the first run left,
/// byte for byte, and that `sweep best` lists the dropped row.
fn rerun_republishes_the_last_row(dir: &Path, grid: &str) {
    let args = ["run", grid, "--out", "out", "--workers", "2"];
    ok(dir, &args);
    let csv = dir.join("out/results.csv");
    let full = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    assert!(lines.len() >= 3, "{full}");
    let last = lines[lines.len() - 1];
    let id = last.split(',').next().unwrap().to_string();
    std::fs::write(&csv, format!("{}\n", lines[..lines.len() - 1].join("\n"))).unwrap();

    ok(dir, &args);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), full, "the rerun left results.csv stale");
    let best = ok(dir, &["best", "out", "--format", "csv", "--top", "1000"]);
    assert!(best.lines().any(|l| l.contains(&id)), "`sweep best` lacks {id}:\n{best}");
    assert_eq!(read_results(&dir.join("out")).len(), lines.len() - 1);
}

#[test]
fn a_rerun_publishes_the_row_a_kill_left_out_of_results_csv_for_a_built_in_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "toy.toml",
        "name = \"toy\"\nseed = 1\n[data]\nsource = \"toy\"\n[train]\nepochs = 2\nhidden_size = 8\n\
         [grid]\nlearning_rate = [0.03, 0.1, 0.3]\n",
    );
    rerun_republishes_the_last_row(tmp.path(), "toy.toml");
}

#[cfg(target_os = "linux")]
#[test]
fn a_rerun_publishes_the_row_a_kill_left_out_of_results_csv_for_a_command_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let light = project_root().join("examples/light/train.py").canonicalize().unwrap();
    write(
        tmp.path(),
        "light.toml",
        &format!(
            "name = \"light\"\nseed = 0\n[command]\nrun = [\"python3\", {:?}, \"--lr={{lr}}\"]\nmetric = \"val_acc\"\n\
             mode = \"max\"\n[train]\nepochs = 2\n[grid]\nlr = [0.01, 0.3, 1.0]\n",
            light.display().to_string()
        ),
    );
    rerun_republishes_the_last_row(tmp.path(), "light.toml");
}

/// A built-in toy grid (every grid of the race has the same name, as two sweeps meant for one directory would).
fn toy(seed: u64, epochs: u32, axis: &str) -> String {
    format!("name = \"race\"\nseed = {seed}\n[data]\nsource = \"toy\"\n[train]\nepochs = {epochs}\nhidden_size = 8\n[grid]\n{axis}\n")
}

#[test]
fn of_two_grids_started_together_on_a_new_directory_one_runs_and_the_other_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let texts = [toy(1, 1, "learning_rate = [0.05, 0.1]"), toy(2, 2, "reg = [1e-4, 1e-3, 1e-2]")];
    write(dir, "a.toml", &texts[0]);
    write(dir, "b.toml", &texts[1]);
    // The ids of each grid's jobs.
    let ids: Vec<BTreeSet<String>> = ["a.toml", "b.toml"]
        .iter()
        .zip(&texts)
        .map(|(f, t)| {
            let g = sweep_grid::grid::Grid::parse(Path::new(f), t).unwrap();
            g.jobs().unwrap().into_iter().map(|j| j.id).collect()
        })
        .collect();
    for round in 0..20 {
        let out = format!("out{round}");
        let start = |grid: &str| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
                .current_dir(dir)
                .args(["run", grid, "--out", &out, "--workers", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children = [start("a.toml"), start("b.toml")];
        let ended: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let codes: Vec<_> = ended.iter().map(|o| o.status.code()).collect();
        let logs: Vec<_> = ended.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
        let winner = match codes[..] {
            [Some(0), Some(2)] => 0,
            [Some(2), Some(0)] => 1,
            _ => panic!(
                "round {round}: exit codes {codes:?}, not one 0 and one 2:\n{}\n---\n{}",
                logs[0], logs[1]
            ),
        };
        let loser = 1 - winner;
        assert!(logs[loser].contains("holds a different sweep"), "round {round}:\n{}", logs[loser]);
        let out = dir.join(&out);
        let rows: BTreeSet<String> = read_results(&out).into_iter().map(|r| r.id).collect();
        assert_eq!(rows, ids[winner], "round {round}: the rows are not those of the grid that ran");
        assert_eq!(std::fs::read_to_string(out.join("grid.toml")).unwrap(), texts[winner]);
    }
}
