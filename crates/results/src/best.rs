//! `sweep best`: finds every results.csv below a directory, ranks the jobs by validation accuracy, and exports them.

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::error::BestError;
use crate::format::{read_best, read_manifest, read_rows, BestInfo, JobStatus, Row, BEST_CHECKPOINT, RESULTS_CSV};
use crate::schema::{metric_text, TrialBest, TrialRow};
use sweep_grid::command::Objective;
use sweep_grid::trials::value_text;
use sweep_params::params::{describe_all, params, Show};
use sweep_params::text::pct;

/// A row with the results directory it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub dir: PathBuf,
    #[serde(flatten)]
    pub row: Row,
}

/// The jobs of one sweep (one directory, or several holding the same grid), best first, and its best model.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRanking {
    /// The sweep's name (from its `sweep.json`), or its directory.
    pub sweep: String,
    pub rows: Vec<Ranked>,
    pub best: Option<BestModel>,
    /// The jobs the sweep plans (from its `sweep.json`; `None` for a directory without one).
    pub planned_jobs: Option<usize>,
    /// Of those, how many have no row yet (running, interrupted, or in a shard that has not run): the sweep is not
    /// done, and the best's test accuracy is not computed until it is.
    pub not_done: Option<usize>,
}

/// Every sweep found below a directory. Different sweeps (another grid, often other data) are ranked apart:
/// a toy model's 96 % says nothing against a CIFAR-10 model's 55 %.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    pub sweeps: Vec<SweepRanking>,
}

/// The best job of a sweep with its checkpoint, if one was saved.
#[derive(Debug, Clone, Serialize)]
pub struct BestModel {
    pub dir: PathBuf,
    pub checkpoint: Option<PathBuf>,
    pub info: Option<BestInfo>,
    /// A command sweep's best trial (then `checkpoint` is its checkpoint folder, when the program saved one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialBest>,
}

/// Every results.csv below `dir` (or `dir` itself if it is one), in sorted order: those of the sweeps that
/// [`crate::discover::find`] finds.
pub fn find_results(dir: &Path) -> Result<Vec<PathBuf>, BestError> {
    if !dir.exists() {
        return Err(BestError::Missing(dir.to_path_buf()));
    }
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = crate::discover::find(&[dir.to_path_buf()])
        .into_iter()
        .map(|f| f.dir.join(RESULTS_CSV))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

/// A job's status as `best` and the report show it: where a pruned job stopped (`pruned@3`, its epochs run), else the
/// status as written in results.csv.
pub fn status_text(r: &Row) -> String {
    match r.status {
        JobStatus::Pruned => format!("{}@{}", r.status, r.epochs_run),
        s => s.to_string(),
    }
}

/// Best first: completed jobs by validation accuracy, then pruned jobs, then the others (diverged, failed); ties by id.
pub fn ranking_order(a: &Row, b: &Row) -> std::cmp::Ordering {
    // A pruned job trained soundly but not to the end: after every finished job, before the ones that broke.
    let key = |r: &Row| {
        (
            r.is_candidate(),
            r.status == JobStatus::Pruned,
            r.score().filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY),
        )
    };
    key(b)
        .partial_cmp(&key(a))
        .unwrap_or(std::cmp::Ordering::Equal)
        .then(a.id.cmp(&b.id))
}

/// Sorts best first ([`ranking_order`]) and keeps one entry per job id, its best: the one ranking of `best` and the
/// report.
pub fn rank_rows<T>(items: &mut Vec<T>, row: impl Fn(&T) -> &Row) {
    items.sort_by(|a, b| ranking_order(row(a), row(b)));
    let mut seen = std::collections::HashSet::new();
    items.retain(|x| seen.insert(row(x).id.clone()));
}

/// The sweep a results directory belongs to: (grouping key, display name, jobs planned), from its `sweep.json` when
/// there is one.
fn sweep_of(dir: &Path) -> (String, String, Option<usize>) {
    match read_manifest(dir).ok().flatten() {
        Some(m) => (m.fingerprint, m.name, Some(m.jobs)),
        None => (dir.display().to_string(), dir.display().to_string(), None),
    }
}

/// Ranks the jobs below `dir`, per sweep: completed jobs by validation accuracy, then pruned ones, then the rest
/// (diverged, failed).
pub fn rank(dir: &Path) -> Result<Ranking, BestError> {
    let files = find_results(dir)?;
    if files.is_empty() {
        return Err(BestError::Empty(dir.to_path_buf()));
    }
    let mut groups: Vec<(String, String, Option<usize>, Vec<Ranked>)> = Vec::new();
    for f in &files {
        let parent = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        let (key, name, planned) = sweep_of(&parent);
        let rows = read_rows(f)?.into_iter().map(|row| Ranked { dir: parent.clone(), row });
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => {
                g.2 = g.2.max(planned);
                g.3.extend(rows)
            }
            None => groups.push((key, name, planned, rows.collect())),
        }
    }
    let mut sweeps = Vec::new();
    for (_, sweep, planned_jobs, mut rows) in groups {
        // Directories of the same sweep may hold the same job twice; keep its best row.
        rank_rows(&mut rows, |r| &r.row);
        // Several objectives: by non-dominated rank first (the front on top), then as above.
        let plain: Vec<Row> = rows.iter().map(|r| r.row.clone()).collect();
        let pareto = crate::front::ranks(&plain);
        let multi = crate::front::objectives_of(&plain).is_some();
        if multi {
            let mut keyed: Vec<(Option<usize>, Ranked)> = pareto.into_iter().zip(rows).collect();
            keyed.sort_by_key(|(r, _)| r.unwrap_or(usize::MAX));
            rows = keyed
                .into_iter()
                .map(|(rank, mut x)| {
                    if let Some(t) = x.row.trial.as_mut() {
                        t.pareto_rank = rank;
                    }
                    if let Some(m) = x.row.measures.as_mut() {
                        m.pareto_rank = rank;
                    }
                    x
                })
                .collect();
        }
        let best = match rows.first() {
            Some(_) if rows.iter().any(|x| x.row.is_candidate() && x.row.trial.is_some()) => {
                // The best by the first objective (the top row, with one objective).
                let top = best_candidate(&rows);
                let plain: Vec<Row> = rows.iter().map(|r| r.row.clone()).collect();
                let trial = TrialBest::of(&top.row).map(|t| t.with_front(&plain));
                let checkpoint = trial
                    .as_ref()
                    .map(|t| top.dir.join(&t.trial_dir).join("checkpoint"))
                    .filter(|p| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some()));
                Some(BestModel {
                    dir: top.dir.clone(),
                    checkpoint,
                    info: None,
                    trial,
                })
            }
            Some(_) if rows.iter().any(|x| x.row.is_candidate()) => {
                // The best by validation accuracy (the top row, with one objective).
                let top = best_candidate(&rows);
                let info = read_best(&top.dir)?.filter(|b| b.id == top.row.id);
                let checkpoint = info.as_ref().map(|_| top.dir.join(BEST_CHECKPOINT)).filter(|p| p.exists());
                Some(BestModel {
                    dir: top.dir.clone(),
                    checkpoint,
                    info,
                    trial: None,
                })
            }
            _ => None,
        };
        let not_done = planned_jobs.map(|n| n.saturating_sub(rows.len()));
        sweeps.push(SweepRanking {
            sweep,
            rows,
            best,
            planned_jobs,
            not_done,
        });
    }
    Ok(Ranking { sweeps })
}

/// The best candidate of ranked rows by [`ranking_order`] (the first row, with one objective); there must be one.
fn best_candidate(rows: &[Ranked]) -> &Ranked {
    rows.iter()
        .filter(|x| x.row.is_candidate())
        .min_by(|a, b| ranking_order(&a.row, &b.row))
        .expect("a candidate")
}

/// A plain-text table of the top `k` and the best configuration, per sweep.
pub fn to_table(r: &Ranking, k: usize) -> String {
    let mut out = String::new();
    for (n, sw) in r.sweeps.iter().enumerate() {
        if r.sweeps.len() > 1 {
            out.push_str(&format!("{}== sweep {} ==\n", if n > 0 { "\n" } else { "" }, sw.sweep));
        }
        out.push_str(&sweep_table(sw, k));
    }
    out
}

fn sweep_table(r: &SweepRanking, k: usize) -> String {
    if r.rows.first().is_some_and(|x| x.row.trial.is_some()) {
        return trial_table(r, k);
    }
    // The usual columns, and any other parameter that differs between this sweep's jobs.
    let varies = |p: &sweep_params::params::Param| r.rows.iter().any(|x| p.get(&x.row.config) != p.get(&r.rows[0].row.config));
    let shown: Vec<_> = params().iter().filter(|p| p.shown(Show::Table) || varies(p)).collect();
    // Several objectives: each beyond validation accuracy, and the Pareto rank.
    let plain: Vec<Row> = r.rows.iter().map(|x| x.row.clone()).collect();
    let objectives = crate::front::objectives_of(&plain).unwrap_or_default();
    let extra: Vec<&Objective> = objectives.iter().skip(1).collect();
    let mut out = format!("{:>4}  {:<12}", "rank", "id");
    for p in &shown {
        out.push_str(&format!("  {:>w$}", p.short, w = p.width));
    }
    out.push_str(&format!("  {:>9}  {:>8}  {:>8}", "status", "val %", "train %"));
    for o in &extra {
        out.push_str(&format!("  {:>10}", o.metric));
    }
    if !extra.is_empty() {
        out.push_str(&format!("  {:>5}", "front"));
    }
    out.push_str("  dir\n");
    for (i, x) in r.rows.iter().take(k).enumerate() {
        let w = &x.row;
        out.push_str(&format!("{:>4}  {:<12}", i + 1, w.id));
        for p in &shown {
            out.push_str(&format!("  {:>w$}", p.text(&w.config), w = p.width));
        }
        out.push_str(&format!(
            "  {:>9}  {:>8}  {:>8}",
            status_text(w),
            pct(w.best_val_acc),
            pct(w.train_acc)
        ));
        if let Some(m) = &w.measures {
            for o in &extra {
                out.push_str(&format!("  {:>10}", metric_text(m.value(w, &o.metric))));
            }
            out.push_str(&format!("  {:>5}", m.pareto_rank.map_or("-".into(), |r| r.to_string())));
        }
        out.push_str(&format!("  {}\n", x.dir.display()));
    }
    out.push_str(&format!("\n{} jobs ranked.\n", r.rows.len()));
    if !extra.is_empty() {
        let by: Vec<String> = objectives.iter().map(|o| format!("{} ({})", o.metric, o.mode.as_str())).collect();
        out.push_str(&format!(
            "Ranked by Pareto front (0: no other job is better in every objective) over {}, then by validation accuracy.\n",
            by.join(", ")
        ));
        let front = crate::front::front(&plain);
        out.push_str(&format!("Pareto front ({} jobs, best val_acc first):\n", front.len()));
        for m in &front {
            let row = &r.rows.iter().find(|x| x.row.id == m.id).expect("a front member is a row").row;
            let values: Vec<String> = objectives
                .iter()
                .map(|o| match o.metric.as_str() {
                    "val_acc" => format!("val {} %", pct(m.objectives.get("val_acc").copied())),
                    name => format!("{name} {}", metric_text(m.objectives.get(name).copied())),
                })
                .collect();
            let dir = &r.rows.iter().find(|x| x.row.id == m.id).expect("a front member is a row").dir;
            let rung_model = crate::writers::rung_model_path(dir, &m.id);
            let checkpoint = match row.status {
                JobStatus::Completed => format!("candidates/{}.safetensors", m.id),
                _ if rung_model.exists() => format!("{} after {} epochs: {}", row.status, row.epochs_run, rung_model.display()),
                _ => format!("no checkpoint: {} after {} epochs", row.status, row.epochs_run),
            };
            out.push_str(&format!(
                "  {}  {}  ({}; {checkpoint})\n",
                m.id,
                values.join(", "),
                describe_all(&row.config)
            ));
        }
    }
    if let Some(note) = unfinished(r) {
        out.push_str(&format!("{note}\n"));
    }
    let top = r.rows.iter().any(|x| x.row.is_candidate()).then(|| best_candidate(&r.rows));
    match (&r.best, top) {
        (Some(b), Some(top)) => {
            let w = &top.row;
            let test = match b.info.as_ref().and_then(|i| i.test_acc) {
                Some(t) => format!("test {} %", pct(Some(t))),
                None => format!("test not computed yet: {}", why_no_test(r, &b.dir)),
            };
            out.push_str(&format!(
                "Best: {} {}: val {} %, {test}\n",
                w.id,
                describe_all(&w.config),
                pct(w.best_val_acc),
            ));
            match &b.checkpoint {
                Some(c) => out.push_str(&format!("Checkpoint: {}\n", c.display())),
                None => out.push_str("Checkpoint: none saved for this job (its sweep did not save one)\n"),
            }
        }
        _ => out.push_str("No job completed: no best model.\n"),
    }
    out
}

/// A command sweep's table: the values that differ between its trials (all of them when none does), the status, the
/// objective at its best and where; then the best trial and its folder.
fn trial_table(r: &SweepRanking, k: usize) -> String {
    let trials: Vec<(&Ranked, &TrialRow)> = r.rows.iter().filter_map(|x| Some((x, x.row.trial.as_deref()?))).collect();
    let Some(&(_, first)) = trials.first() else { return String::new() };
    let metric = &first.objective.metric;
    let mut names: Vec<&str> = first
        .values
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| trials.iter().any(|(_, t)| value(t, n) != value(first, n)))
        .collect();
    if names.is_empty() {
        names = first.values.iter().map(|(n, _)| n.as_str()).collect();
    }
    let widths: Vec<usize> = names
        .iter()
        .map(|n| {
            trials
                .iter()
                .take(k)
                .map(|(_, t)| value(t, n).len())
                .chain([n.len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    // Every objective's column (one, or the grid's `objectives`), and a multi-objective sweep's Pareto rank.
    let objectives: Vec<&Objective> = first.objectives().collect();
    let multi = objectives.len() > 1;
    let widths_m: Vec<usize> = objectives.iter().map(|o| o.metric.len().max(8)).collect();
    let mut out = format!("{:>4}  {:<12}", "rank", "id");
    for (n, w) in names.iter().zip(&widths) {
        out.push_str(&format!("  {n:>w$}"));
    }
    out.push_str(&format!("  {:>9}", "status"));
    for (o, mw) in objectives.iter().zip(&widths_m) {
        out.push_str(&format!("  {:>mw$}", o.metric));
    }
    if multi {
        out.push_str(&format!("  {:>5}", "front"));
    }
    out.push_str(&format!("  {:>10}  {}\n", "best epoch", "dir"));
    for (i, (x, t)) in trials.iter().take(k).enumerate() {
        out.push_str(&format!("{:>4}  {:<12}", i + 1, x.row.id));
        for (n, w) in names.iter().zip(&widths) {
            out.push_str(&format!("  {:>w$}", value(t, n)));
        }
        let epoch = x.row.best_epoch.map_or("-".into(), |e| e.to_string());
        out.push_str(&format!("  {:>9}", status_text(&x.row)));
        for (j, (o, mw)) in objectives.iter().zip(&widths_m).enumerate() {
            let v = if j == 0 { t.best } else { t.metrics.get(&o.metric).copied() };
            out.push_str(&format!("  {:>mw$}", metric_text(v)));
        }
        if multi {
            let rank = t.pareto_rank.map_or("-".into(), |r| r.to_string());
            out.push_str(&format!("  {rank:>5}"));
        }
        out.push_str(&format!("  {epoch:>10}  {}\n", x.dir.display()));
    }
    let by: Vec<String> = objectives.iter().map(|o| format!("{} ({})", o.metric, o.mode.as_str())).collect();
    if multi {
        out.push_str(&format!(
            "\n{} trials ranked by Pareto front (0: no other trial is better in every objective) over {}, then by {metric}.\n",
            r.rows.len(),
            by.join(", ")
        ));
    } else {
        out.push_str(&format!("\n{} trials ranked by {}.\n", r.rows.len(), by.join(", ")));
    }
    if let Some(note) = unfinished(r) {
        out.push_str(&format!("{note}\n"));
    }
    match r.best.as_ref().and_then(|b| Some((b, b.trial.as_ref()?))) {
        Some((b, t)) => {
            let values: Vec<String> = t.values.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect();
            if !t.front.is_empty() {
                out.push_str(&format!("Pareto front ({} trials, best {metric} first):\n", t.front.len()));
                for m in &t.front {
                    let objectives: Vec<String> = t
                        .objectives
                        .iter()
                        .map(|o| format!("{} {}", o.metric, metric_text(m.objectives.get(&o.metric).copied())))
                        .collect();
                    let values: Vec<String> = m.values.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect();
                    out.push_str(&format!(
                        "  {}  {}  ({}; {})\n",
                        m.id,
                        objectives.join(", "),
                        values.join(" "),
                        b.dir.join(&m.trial_dir).display()
                    ));
                }
            }
            out.push_str(&format!(
                "{}: {} {}: {metric} {} at epoch {}\nTrial folder: {}\n",
                if t.front.is_empty() {
                    "Best".to_string()
                } else {
                    format!("The completed trial with the best {metric}")
                },
                t.id,
                values.join(" "),
                metric_text(Some(t.value)),
                t.best_epoch.map_or("-".into(), |e| e.to_string()),
                b.dir.join(&t.trial_dir).display()
            ));
        }
        None => out.push_str("No trial completed: no best trial.\n"),
    }
    out
}

/// A trial's value of `name` as the table shows it.
fn value(t: &TrialRow, name: &str) -> String {
    t.values.iter().find(|(n, _)| n == name).map_or("-".into(), |(_, v)| value_text(v))
}

/// `2 of 6 jobs are not done ...` for a sweep some of whose jobs have no row yet; `None` when every planned job is
/// recorded (or the directory says nothing of its plan).
pub fn unfinished(r: &SweepRanking) -> Option<String> {
    let (missing, of) = (r.not_done?, r.planned_jobs?);
    (missing > 0).then(|| {
        format!(
            "{missing} of {of} jobs are not done (no row yet: still running, interrupted, or in a shard that has not \
             run); the ranking is of the {} recorded. Run the same `sweep run` again (or the shards left) to finish them.",
            of - missing
        )
    })
}

/// Why the best has no test accuracy: it is computed once, when every job of the sweep is recorded.
fn why_no_test(r: &SweepRanking, dir: &Path) -> String {
    match (r.not_done, r.planned_jobs) {
        (Some(missing), Some(of)) if missing > 0 => {
            format!("the test accuracy is computed once every job is recorded, and {missing} of {of} are not")
        }
        _ => format!(
            "the test accuracy is computed once every job is recorded; they are, so `sweep finish {}` computes it",
            dir.display()
        ),
    }
}

/// One CSV field, quoted where needed.
fn csv_field(s: &str) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    match w.write_record([s]) {
        Ok(()) => String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).trim_end().to_string(),
        Err(_) => s.to_string(),
    }
}

/// CSV of the top `k` rows of each sweep, with the sweep and directory in front.
pub fn to_csv(r: &Ranking, k: usize) -> String {
    // The two extra columns go in front of each row as `results.csv` writes it.
    // A header before the first row, and again where the columns change (a command sweep's are its own).
    let mut out = String::new();
    let mut header = String::new();
    for (sw, x) in r.sweeps.iter().flat_map(|sw| sw.rows.iter().take(k).map(move |x| (sw, x))) {
        let text = String::from_utf8_lossy(&x.row.to_csv(true)).into_owned();
        let mut lines = text.lines();
        let this = lines.next().unwrap_or_default();
        if this != header {
            out.push_str(&format!("sweep,dir,{this}\n"));
            header = this.to_string();
        }
        let (name, dir) = (csv_field(&sw.sweep), csv_field(&x.dir.display().to_string()));
        out.push_str(&format!("{name},{dir},{}\n", lines.next().unwrap_or_default()));
    }
    out
}

/// JSON with the top `k` rows and the best model of each sweep.
pub fn to_json(r: &Ranking, k: usize) -> String {
    let sweeps = r
        .sweeps
        .iter()
        .map(|sw| SweepRanking {
            sweep: sw.sweep.clone(),
            rows: sw.rows.iter().take(k).cloned().collect(),
            best: sw.best.clone(),
            planned_jobs: sw.planned_jobs,
            not_done: sw.not_done,
        })
        .collect();
    serde_json::to_string_pretty(&Ranking { sweeps }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_core::TrainConfig;

    fn row(id: &str, status: JobStatus, epochs_run: usize, val: Option<f64>) -> Row {
        Row {
            id: id.into(),
            config: TrainConfig::default(),
            status,
            rung: Some(0),
            epochs_run: epochs_run as f64,
            best_epoch: val.map(|_| epochs_run as f64),
            best_val_acc: val,
            train_acc: val,
            final_loss: None,
            seconds: 1.0,
            trial: None,
            measures: None,
        }
    }

    #[test]
    fn pruned_jobs_say_where_they_stopped_and_rank_after_finished_ones() {
        let mut rows = vec![
            row("a", JobStatus::Pruned, 3, Some(0.9)),
            row("b", JobStatus::Completed, 9, Some(0.5)),
            row("c", JobStatus::Diverged, 1, Some(0.95)),
            row("d", JobStatus::Pruned, 1, Some(0.4)),
            row("e", JobStatus::Completed, 9, Some(0.6)),
        ];
        rank_rows(&mut rows, |r| r);
        let order: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            order,
            ["e", "b", "a", "d", "c"],
            "finished first, then pruned, then broken jobs, whatever their accuracy"
        );
        let shown: Vec<String> = rows.iter().map(status_text).collect();
        assert_eq!(shown, ["completed", "completed", "pruned@3", "pruned@1", "diverged"]);
    }
}
