//! A multi-objective sweep's Pareto front over its rows: each row's non-dominated rank (`pareto_rank` in
//! `results.csv`) and the front's members (`best.json`, `sweep best`). A row takes part when it trained soundly
//! (completed, or pruned at a rung: a cheaper model is a trade-off too) and has every objective; diverged and failed
//! rows have no rank. Ranks come from the rows alone, so every reader computes the same ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use sweep_search::pareto;

use crate::format::{JobStatus, Row};
use crate::schema::TRIALS_DIR;
use sweep_grid::command::{Mode, Objective};

/// The objectives of a multi-objective sweep's rows (in the grid's order), from the first row that says; `None` for
/// one objective.
pub fn objectives_of(rows: &[Row]) -> Option<Vec<Objective>> {
    rows.iter().find_map(|r| match (&r.trial, &r.measures) {
        (Some(t), _) if !t.others.is_empty() => Some(t.objectives().cloned().collect()),
        (None, Some(m)) => Some(m.objectives.clone()),
        _ => None,
    })
}

/// A row's objective values as written (not negated), in the grid's order, when it has every one; empty with one
/// objective.
fn all_values(row: &Row) -> Option<Vec<f64>> {
    match (&row.trial, &row.measures) {
        (Some(t), _) if !t.others.is_empty() => t.objective_values(),
        (None, Some(m)) => m.values(row),
        _ => None,
    }
}

/// The directions of a row's objectives.
fn modes(row: &Row) -> Vec<Mode> {
    match (&row.trial, &row.measures) {
        (Some(t), _) => t.objectives().map(|o| o.mode).collect(),
        (None, Some(m)) => m.objectives.iter().map(|o| o.mode).collect(),
        _ => Vec::new(),
    }
}

/// A multi-objective row's values as scores (higher is better), whatever its status; empty with one objective or
/// when one is missing: what the search reads ([`sweep_search::work::Outcome::objectives`]).
pub fn scores_of(row: &Row) -> Vec<f64> {
    let Some(values) = all_values(row) else { return Vec::new() };
    values
        .iter()
        .zip(modes(row))
        .map(|(v, m)| if m == Mode::Max { *v } else { -v })
        .collect()
}

/// A row's objective values as written (not negated), in the grid's order, when it takes part in the front.
pub fn values(row: &Row) -> Option<Vec<f64>> {
    scores(row)?;
    all_values(row)
}

/// The hypervolume reference point of a sweep's rows, each objective's worst value over the rows that take part,
/// moved 10 % of its span (at least 1e-9) further, as scores (higher is better); `None` without such rows. It depends
/// on the rows alone, so the report and the dashboard agree.
pub fn reference(rows: &[Row]) -> Option<Vec<f64>> {
    let points: Vec<Vec<f64>> = rows.iter().filter_map(scores).collect();
    let dims = points.first()?.len();
    Some(
        (0..dims)
            .map(|d| {
                let lo = points.iter().map(|p| p[d]).fold(f64::INFINITY, f64::min);
                let hi = points.iter().map(|p| p[d]).fold(f64::NEG_INFINITY, f64::max);
                lo - (0.1 * (hi - lo)).max(1e-9)
            })
            .collect(),
    )
}

/// The hypervolume of the first k rows that take part, for every k (rows in recording order), above `reference`.
pub fn hypervolume_by_row(rows: &[Row], reference: &[f64]) -> Vec<f64> {
    let mut points: Vec<Vec<f64>> = Vec::new();
    let mut out = Vec::new();
    let mut last = 0.0;
    for p in rows.iter().filter_map(scores) {
        // A point the front already covers (dominated by or equal to a member) adds nothing.
        let covered = points.iter().any(|q| q.iter().zip(&p).all(|(a, b)| a >= b));
        if !covered {
            // Only the front counts: keep it small.
            points.retain(|q| !pareto::dominates(&p, q));
            points.push(p);
            last = pareto::hypervolume(&points, reference);
        }
        out.push(last);
    }
    out
}

/// A row's objectives as scores (higher is better) when it takes part in the front.
pub fn scores(row: &Row) -> Option<Vec<f64>> {
    let s = scores_of(row);
    let sound = matches!(row.status, JobStatus::Completed | JobStatus::Pruned);
    (sound && !s.is_empty()).then_some(s)
}

/// Each row's non-dominated rank (0: on the front); `None` for a row that takes no part.
pub fn ranks(rows: &[Row]) -> Vec<Option<usize>> {
    let taking: Vec<(usize, Vec<f64>)> = rows.iter().enumerate().filter_map(|(i, r)| Some((i, scores(r)?))).collect();
    let points: Vec<Vec<f64>> = taking.iter().map(|(_, p)| p.clone()).collect();
    let mut out = vec![None; rows.len()];
    for ((i, _), r) in taking.iter().zip(pareto::ranks(&points)) {
        out[*i] = Some(r);
    }
    out
}

/// Sets every row's `pareto_rank` in a multi-objective sweep (rows of one objective are left as they are).
pub fn set_ranks(rows: &mut [Row]) {
    if objectives_of(rows).is_none() {
        return;
    }
    let ranks = ranks(rows);
    for (row, rank) in rows.iter_mut().zip(ranks) {
        if let Some(t) = row.trial.as_mut() {
            t.pareto_rank = rank;
        }
        if let Some(m) = row.measures.as_mut() {
            m.pareto_rank = rank;
        }
    }
}

/// One member of the front, as `best.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontMember {
    pub id: String,
    pub status: JobStatus,
    /// Each objective's value (the first at its best epoch, the others at that epoch).
    pub objectives: BTreeMap<String, f64>,
    pub best_epoch: Option<f64>,
    pub epochs_run: f64,
    pub values: Map<String, Json>,
    /// A command trial's folder (its checkpoint, logs and records), relative to `best.json`: `trials/<id>`; absent for
    /// the built-in network, whose member retrains exactly from `values` (`sweep best` prints the command).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trial_dir: String,
}

/// The front of `rows` (rank 0), best first by the first objective, ties by id; empty with one objective. A built-in
/// sweep's member has no folder: its `values` are its hyperparameters and seed (a pruned member trained `epochs_run`
/// of its `epochs`).
pub fn front(rows: &[Row]) -> Vec<FrontMember> {
    let Some(objectives) = objectives_of(rows) else { return Vec::new() };
    let ranks = ranks(rows);
    let mut members: Vec<(&Row, f64)> = rows
        .iter()
        .zip(&ranks)
        .filter(|(_, r)| **r == Some(0))
        .filter_map(|(row, _)| Some((row, *scores(row)?.first()?)))
        .collect();
    members.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
    members
        .into_iter()
        .filter_map(|(row, _)| {
            let values = all_values(row)?;
            let (values_map, trial_dir) = match &row.trial {
                Some(t) => (t.values_map(), format!("{TRIALS_DIR}/{}", row.id)),
                None => (config_values(row), String::new()),
            };
            Some(FrontMember {
                id: row.id.clone(),
                status: row.status,
                objectives: objectives.iter().map(|o| o.metric.clone()).zip(values).collect(),
                best_epoch: row.best_epoch,
                epochs_run: row.epochs_run,
                values: values_map,
                trial_dir,
            })
        })
        .collect()
}

/// A built-in row's hyperparameters as JSON values (the parameter table's names), its seed included.
fn config_values(row: &Row) -> Map<String, Json> {
    let json = serde_json::to_value(row).unwrap_or(Json::Null);
    let Json::Object(cells) = json else { return Map::new() };
    sweep_params::params::params()
        .iter()
        .map(|p| p.name)
        .chain(["seed"])
        .filter_map(|n| Some((n.to_string(), cells.get(n)?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TrialRow;

    fn row(id: &str, status: JobStatus, acc: f64, secs: Option<f64>) -> Row {
        let objective = |m: &str, mode| Objective { metric: m.into(), mode };
        Row {
            id: id.into(),
            config: Default::default(),
            status,
            rung: None,
            epochs_run: 3.0,
            best_epoch: Some(2.0),
            best_val_acc: None,
            train_acc: None,
            final_loss: None,
            seconds: 1.0,
            trial: Some(Box::new(TrialRow {
                values: vec![],
                objective: objective("acc", Mode::Max),
                best: Some(acc),
                metrics: secs.map(|s| ("secs".to_string(), s)).into_iter().collect(),
                note: None,
                others: vec![objective("secs", Mode::Min)],
                pareto_rank: None,
            })),
            measures: None,
        }
    }

    #[test]
    fn ranks_and_front_follow_dominance_and_leave_out_broken_rows() {
        let rows = vec![
            row("a", JobStatus::Completed, 0.9, Some(10.0)),
            row("b", JobStatus::Pruned, 0.5, Some(1.0)),
            row("c", JobStatus::Completed, 0.8, Some(12.0)), // dominated by a
            row("d", JobStatus::Diverged, 0.99, Some(0.1)),  // broken: no rank
            row("e", JobStatus::Completed, 0.95, None),      // lacks an objective: no rank
            row("f", JobStatus::Completed, 0.4, Some(13.0)), // dominated by a, b and c: rank 2
        ];
        assert_eq!(ranks(&rows), vec![Some(0), Some(0), Some(1), None, None, Some(2)]);
        let f = front(&rows);
        assert_eq!(f.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(f[1].objectives["secs"], 1.0);
        let mut rows = rows;
        set_ranks(&mut rows);
        assert_eq!(rows[2].trial.as_ref().unwrap().pareto_rank, Some(1));
        // The reference: worst accuracy 0.4 and worst seconds 13, 10 % of the spans (0.5, 12) further.
        let r = reference(&rows).unwrap();
        assert!((r[0] - 0.35).abs() < 1e-12 && (r[1] + 14.2).abs() < 1e-12, "{r:?}");
        // By row: a (0.9, 10) alone; b adds (0.5, 1); c and f are dominated and add nothing.
        let hv = hypervolume_by_row(&rows, &r);
        let a = (0.9 - 0.35) * (14.2 - 10.0);
        let ab = a + (0.5 - 0.35) * (10.0 - 1.0);
        assert_eq!(hv.len(), 4);
        for (got, want) in hv.iter().zip([a, ab, ab, ab]) {
            assert!((got - want).abs() < 1e-9, "{hv:?}");
        }
    }
}
