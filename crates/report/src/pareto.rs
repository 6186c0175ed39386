//! What the report and the dashboard show of a multi-objective sweep (issue 35): its Pareto front (every trial that
//! takes part, with its objective values and non-dominated rank, and the front's members as `best.json` lists them)
//! and its hypervolume after each trial, against trials and against epochs trained.
//!
//! Everything comes from [`sweep_results::front`]: which rows take part, their values, ranks, the reference point and
//! the hypervolume. This file only arranges it for the figures and the API, from the rows in the order results.csv
//! recorded them, so that the static page and the live view show the same numbers.

use serde::Serialize;

use sweep_grid::command::{Mode, Objective};
use sweep_results::format::Row;
use sweep_results::front::{self, FrontMember};

/// A multi-objective sweep's front and hypervolume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pareto {
    pub front: Front,
    pub hypervolume: Hypervolume,
}

/// The trials that take part in the front, and its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Front {
    /// The objectives, in the grid's order: a point's `values` follow it.
    pub objectives: Vec<Objective>,
    /// The front (rank 0) as `best.json` lists it: best first by the first objective, ties by id.
    pub members: Vec<FrontMember>,
    /// Every trial that takes part (completed or pruned, with every objective), in recording order.
    pub points: Vec<FrontPoint>,
}

/// One trial that takes part in the front.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontPoint {
    pub id: String,
    /// Its objective values as written (not negated), in the grid's order.
    pub values: Vec<f64>,
    /// Its non-dominated rank: 0 on the front, 1 on the front of the rest, and so on.
    pub rank: usize,
}

/// The hypervolume the trials dominate, after each one that takes part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypervolume {
    /// The reference point, in the objectives' own values (not negated): each objective's worst over the trials that
    /// take part, 10 % of its span further.
    pub reference: Vec<f64>,
    /// One point per trial that takes part, in recording order.
    pub points: Vec<HypervolumePoint>,
}

/// The hypervolume after one more trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HypervolumePoint {
    /// The trial just counted.
    pub id: String,
    /// How many trials that take part were recorded up to this one (1 for the first).
    pub trial: usize,
    /// Epochs trained by every trial recorded up to this one, those that take no part included (what the sweep spent).
    pub epochs: f64,
    /// The hypervolume of the trials counted so far, above the reference point.
    pub hypervolume: f64,
}

impl Pareto {
    /// The front and hypervolume of `rows`, taken in the order given (results.csv's: the order they were recorded);
    /// `None` for a sweep of one objective, or while no row takes part.
    pub fn of(rows: &[Row]) -> Option<Pareto> {
        let objectives = front::objectives_of(rows)?;
        let reference = front::reference(rows)?;
        let ranks = front::ranks(rows);
        let mut points = Vec::new();
        // The budget spent by the time each taking row was recorded: every row's epochs up to it.
        let mut spent = Vec::new();
        let mut epochs = 0.0;
        for (row, rank) in rows.iter().zip(&ranks) {
            epochs += finite_or_zero(row.epochs_run);
            if let (Some(values), Some(rank)) = (front::values(row), rank) {
                points.push(FrontPoint {
                    id: row.id.clone(),
                    values,
                    rank: *rank,
                });
                spent.push(epochs);
            }
        }
        let series = front::hypervolume_by_row(rows, &reference);
        let hv_points = points
            .iter()
            .zip(&spent)
            .zip(series)
            .enumerate()
            .map(|(k, ((p, &epochs), hypervolume))| HypervolumePoint {
                id: p.id.clone(),
                trial: k + 1,
                epochs,
                hypervolume,
            })
            .collect();
        let reference = objectives.iter().zip(&reference).map(|(o, &s)| value_of(o, s)).collect();
        Some(Pareto {
            front: Front {
                members: front::front(rows),
                objectives,
                points,
            },
            hypervolume: Hypervolume {
                reference,
                points: hv_points,
            },
        })
    }

    /// The objectives, in the grid's order.
    pub fn objectives(&self) -> &[Objective] {
        &self.front.objectives
    }
}

/// An objective's value from its score (higher is better): a minimized objective's score is its value negated.
fn value_of(o: &Objective, score: f64) -> f64 {
    match o.mode {
        Mode::Max => score,
        Mode::Min => -score,
    }
}

/// Epochs as a sum counts them: a value that is not finite (a corrupt row) adds nothing.
fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

/// An objective as an axis or a column names it: `f1 (min)`.
pub fn objective_label(o: &Objective) -> String {
    format!("{} ({})", o.metric, o.mode.as_str())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use sweep_results::format::read_rows;

    /// A command grid of two or three minimized objectives, as `sweep run` copies it into a results directory.
    fn grid(objectives: &[&str]) -> String {
        let list: Vec<String> = objectives.iter().map(|o| format!("{o} = \"min\"")).collect();
        format!(
            "name = \"mo\"\nobjectives = {{ {} }}\n[command]\nrun = [\"python3\", \"train.py\"]\n[train]\nepochs = 3\n[grid]\nx = [1, 2, 3]\n",
            list.join(", ")
        )
    }

    /// Rows of a results directory holding `grid.toml` and `results.csv` as `sweep run` writes them: (id, status,
    /// epochs run, the objectives' values; `None` for one the trial did not report). Each trial has two values: `x`
    /// (1, 2, 3 in turn) and `k` (7 for all).
    pub(crate) fn rows_in(dir: &Path, objectives: &[&str], rows: &[(&str, &str, f64, Vec<Option<f64>>)]) -> Vec<Row> {
        std::fs::write(dir.join("grid.toml"), grid(objectives)).unwrap();
        let mut csv = format!(
            "id,x,k,seed,status,rung,epochs_run,best_epoch,{},metrics,seconds,pareto_rank,note\n",
            objectives[0]
        );
        for (i, (id, status, epochs, values)) in rows.iter().enumerate() {
            let first = values[0].map_or(String::new(), |v| v.to_string());
            let others: Vec<String> = objectives[1..]
                .iter()
                .zip(&values[1..])
                .filter_map(|(name, v)| Some(format!("\"\"{name}\"\":{}", (*v)?)))
                .collect();
            csv.push_str(&format!(
                "{id},{},7,1,{status},,{epochs},{epochs},{first},\"{{{}}}\",1.0,,\n",
                i % 3 + 1,
                others.join(",")
            ));
        }
        std::fs::write(dir.join("results.csv"), csv).unwrap();
        read_rows(&dir.join("results.csv")).unwrap()
    }

    /// Seven trials of two minimized objectives: a front of three (a, c, e), two dominated, two that take no part.
    pub(crate) fn two_objectives(dir: &Path) -> Vec<Row> {
        rows_in(
            dir,
            &["f1", "f2"],
            &[
                ("a", "completed", 3.0, vec![Some(0.1), Some(0.9)]),
                ("b", "completed", 3.0, vec![Some(0.5), Some(0.95)]), // dominated by a
                ("c", "pruned", 1.0, vec![Some(0.4), Some(0.4)]),
                ("d", "diverged", 2.0, vec![Some(0.0), Some(0.0)]), // takes no part
                ("e", "completed", 3.0, vec![Some(0.9), Some(0.1)]),
                ("f", "completed", 3.0, vec![Some(0.2), None]),       // lacks f2: no part
                ("g", "completed", 3.0, vec![Some(0.95), Some(0.5)]), // dominated by e
            ],
        )
    }

    #[test]
    fn the_points_are_the_rows_that_take_part_and_the_members_are_the_front() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = two_objectives(tmp.path());
        let p = Pareto::of(&rows).unwrap();
        let ids = |v: &[FrontPoint]| v.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&p.front.points), ["a", "b", "c", "e", "g"]);
        assert_eq!(p.front.points.iter().map(|p| p.rank).collect::<Vec<_>>(), [0, 1, 0, 0, 1]);
        assert_eq!(p.front.points[3].values, [0.9, 0.1]);
        let members: Vec<&str> = p.front.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(members, ["a", "c", "e"], "best.json's order: best f1 first");
        assert_eq!(
            p.objectives().iter().map(objective_label).collect::<Vec<_>>(),
            ["f1 (min)", "f2 (min)"]
        );
    }

    #[test]
    fn the_hypervolume_is_hypervolume_by_row_monotone_with_the_epochs_of_every_row_so_far() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = two_objectives(tmp.path());
        let p = Pareto::of(&rows).unwrap();
        let want = front::hypervolume_by_row(&rows, &front::reference(&rows).unwrap());
        let got: Vec<f64> = p.hypervolume.points.iter().map(|h| h.hypervolume).collect();
        assert_eq!(got, want);
        assert!(got.windows(2).all(|w| w[1] >= w[0]), "{got:?}");
        assert!(got[0] > 0.0);
        let trials: Vec<usize> = p.hypervolume.points.iter().map(|h| h.trial).collect();
        assert_eq!(trials, [1, 2, 3, 4, 5]);
        // a 3, b 3, c 1, (d 2) e 3, (f 3) g 3: the rows that take no part count too.
        let epochs: Vec<f64> = p.hypervolume.points.iter().map(|h| h.epochs).collect();
        assert_eq!(epochs, [3.0, 6.0, 7.0, 12.0, 18.0]);
        // The reference in the objectives' own values: worst 0.95 each, 10 % of the span (0.85) further.
        for r in &p.hypervolume.reference {
            assert!((r - 1.035).abs() < 1e-12, "{:?}", p.hypervolume.reference);
        }
    }

    #[test]
    fn one_objective_or_no_row_that_takes_part_has_no_front() {
        let tmp = tempfile::tempdir().unwrap();
        let none = rows_in(tmp.path(), &["f1", "f2"], &[("a", "failed", 0.0, vec![None, None])]);
        assert_eq!(Pareto::of(&none), None);
        assert_eq!(Pareto::of(&[]), None);
        std::fs::write(
            tmp.path().join("grid.toml"),
            "name = \"one\"\n[command]\nrun = [\"python3\", \"train.py\"]\nmetric = \"f1\"\nmode = \"min\"\n[train]\nepochs = 3\n[grid]\nx = [1, 2]\n",
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("results.csv"),
            "id,x,seed,status,rung,epochs_run,best_epoch,f1,metrics,seconds,note\na,1,1,completed,,3,3,0.5,{},1.0,\n",
        )
        .unwrap();
        let one = read_rows(&tmp.path().join("results.csv")).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(Pareto::of(&one), None);
    }
}
