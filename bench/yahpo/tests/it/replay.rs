//! The replay's rows are `sweep run`'s: the same small command sweeps run both ways, by the real binary with
//! `yahpo-trial` as the program (2 workers; ASHA 1) and in process (1 worker), give the same rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sweep_yahpo::grid::grid_text;
use sweep_yahpo::sim::{replay, Options};
use sweep_yahpo::surrogate::Surrogate;

/// The `sweep` binary built beside this test (`target/<profile>/sweep`), or `$SWEEP_BIN`.
fn sweep_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SWEEP_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("sweep");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test --workspace` (or `cargo build -p sweep` first)",
        bin.display()
    );
    bin
}

/// (id, status, rung, epochs_run, best_epoch, val_accuracy) of every row: results.csv and the rung records.
type Rows = BTreeMap<(String, String), (String, String, String, String)>;

fn read_csv(path: &Path, kind: &str, rows: &mut Rows) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let at = |n: &str| {
        h.iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no column {n} in {}", path.display()))
    };
    for rec in r.records() {
        let rec = rec.unwrap();
        let status = if kind == "rung" {
            "rung".to_string()
        } else {
            rec[at("status")].to_string()
        };
        let rung = rec[at("rung")].to_string();
        let key = (rec[at("id")].to_string(), format!("{kind}{rung}"));
        let num = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{}", s.parse::<f64>().unwrap())
            }
        };
        let old = rows.insert(
            key.clone(),
            (
                status,
                num(&rec[at("epochs_run")]),
                num(&rec[at("best_epoch")]),
                num(&rec[at("val_accuracy")]),
            ),
        );
        assert!(old.is_none(), "{key:?} recorded twice");
    }
}

fn sweep_rows(dir: &Path) -> Rows {
    let mut rows = Rows::new();
    read_csv(&dir.join("results.csv"), "final", &mut rows);
    for f in std::fs::read_dir(dir.join("rungs")).into_iter().flatten() {
        read_csv(&f.unwrap().path(), "rung", &mut rows);
    }
    rows
}

fn replay_rows(r: &sweep_yahpo::sim::Replay) -> Rows {
    let mut rows = Rows::new();
    let cell = |o: &sweep_search::work::Outcome, best_epoch: Option<usize>| {
        (
            format!("{}", o.epochs_run),
            best_epoch.map_or(String::new(), |e| format!("{}", e as f64)),
            o.score.map_or(String::new(), |v| format!("{v}")),
        )
    };
    for row in &r.rows {
        let (e, b, v) = cell(&row.outcome, row.best_epoch);
        let rung = row.outcome.rung.map_or(String::new(), |k| k.to_string());
        rows.insert(
            (row.id.clone(), format!("final{rung}")),
            (row.outcome.status.as_str().to_string(), e, b, v),
        );
    }
    for (k, row) in &r.rung_rows {
        let (e, b, v) = cell(&row.outcome, row.best_epoch);
        rows.insert((row.id.clone(), format!("rung{k}")), ("rung".to_string(), e, b, v));
    }
    rows
}

fn both_ways(search: &str, workers: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let trial = env!("CARGO_BIN_EXE_yahpo-trial");
    let text = grid_text(7593, 3, search, Some(trial));
    let file = tmp.path().join("grid.toml");
    std::fs::write(&file, &text).unwrap();
    let out = tmp.path().join("out");
    let status = Command::new(sweep_bin())
        .args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "-j", workers])
        .status()
        .unwrap();
    assert!(status.success(), "sweep run failed");
    let ran = sweep_rows(&out);
    let grid = sweep_grid::grid::Grid::parse(&file, &text).unwrap();
    let r = replay(
        &grid,
        &Surrogate::open().unwrap(),
        &Options {
            workers: 1,
            budget: usize::MAX,
            marks: vec![],
        },
    )
    .unwrap();
    let replayed = replay_rows(&r);
    assert!(ran.len() > 10, "{} rows", ran.len());
    assert_eq!(ran, replayed);
}

#[test]
fn replay_equals_sweep_run_tpe_halving() {
    both_ways("method = \"tpe\"\nsamples = 18\nbatch = 9\neta = 3\nmin_epochs = 2\n", "2");
}

#[test]
fn replay_equals_sweep_run_random_hyperband() {
    both_ways("method = \"hyperband\"\nsamples = 12\neta = 3\nmin_epochs = 6\n", "2");
}

/// ASHA promotes as results arrive, so its rows depend on the order units end: one worker both ways.
#[test]
fn replay_equals_sweep_run_asha() {
    both_ways("method = \"asha\"\nsamples = 9\neta = 3\nmin_epochs = 6\n", "1");
}

/// The asynchronous default (`asynchronous = true`) proposes and promotes as results arrive: one worker both ways, so
/// the order of events, and with it every proposal (recorded with its point) and promotion, is the same.
#[test]
fn replay_equals_sweep_run_asynchronous_default() {
    both_ways("budget = 120\nasynchronous = true\n", "1");
}

/// Two objectives (validation accuracy up, the surrogate's training time down): the default search with multi-objective
/// TPE and halving by non-dominated rank, the same trials and rows in process as through `sweep run`.
#[test]
fn replay_equals_sweep_run_multi_objective_default() {
    both_ways("objectives = { val_accuracy = \"max\", time = \"min\" }\nbudget = 300\n", "2");
}
