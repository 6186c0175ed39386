//! Rung decisions of successive halving, as pure functions over the recorded rows: which jobs of a bracket take part
//! in a rung, and which were pruned before it. They read only the records (`rungs/` and the final rows), so every
//! process, every worker count and every resume takes the same decisions.

use std::borrow::Borrow;
use std::collections::HashMap;

use sweep_params::Job;
use sweep_params::JobStatus;

use crate::pareto;
use crate::work::Outcome;

use super::schedule::{survivors_count, Bracket};

/// The recorded rows a decision reads: each job's final row by id, and its rung records by (rung, id).
pub struct Records<'a> {
    pub finals: &'a HashMap<String, Outcome>,
    pub rungs: &'a HashMap<(usize, String), Outcome>,
}

/// A job's score in a rung: the best validation accuracy it reached so far, or a command trial's objective at its
/// best, negated when it is minimized: higher is better.
pub fn score(row: &Outcome) -> f64 {
    row.score.unwrap_or(f64::NEG_INFINITY)
}

/// Orders a rung's rows (with their jobs' indices) best first, as (score, job index): by [`score`], ties to the lower
/// index; or, when rows have several objectives, by [`pareto::order`] (non-dominated rank, then crowding distance
/// within a rank, larger first, then the lower index), rows without every objective last by score. The order depends
/// on the rows alone, so every process, worker count and resume keeps the same jobs.
pub fn rank_rows(mut rows: Vec<(&Outcome, usize)>) -> Vec<(f64, usize)> {
    let complete = |o: &Outcome| !o.objectives.is_empty() && o.objectives.iter().all(|v| v.is_finite());
    if !rows.iter().any(|(o, _)| complete(o)) {
        let mut ranked: Vec<(f64, usize)> = rows.iter().map(|(o, j)| (score(o), *j)).collect();
        ranked.sort_by(rank_order);
        return ranked;
    }
    rows.sort_by_key(|r| r.1);
    let (with, without): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(o, _)| complete(o));
    let points: Vec<Vec<f64>> = with.iter().map(|(o, _)| o.objectives.clone()).collect();
    let mut rest: Vec<(f64, usize)> = without.iter().map(|(o, j)| (score(o), *j)).collect();
    rest.sort_by(rank_order);
    pareto::order(&points)
        .into_iter()
        .map(|i| (score(with[i].0), with[i].1))
        .chain(rest)
        .collect()
}

/// Rank order of a rung: the better score first, ties to the lower job index.
pub fn rank_order(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// What deciding the rungs before `rung` of a bracket gives.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decided {
    /// The jobs (indices) that take part in `rung`.
    pub active: Vec<usize>,
    /// Jobs pruned at an earlier rung, with the rung they stopped in (their `pruned` row is that rung's record).
    pub pruned: Vec<(usize, usize)>,
    /// Whether every earlier rung was complete (all its jobs recorded); if not, `active` is the last complete
    /// rung's survivors and `rung` cannot run yet.
    pub complete: bool,
}

/// Decides every rung of `bracket` before `rung` from the records: after rung k the best `ceil(n / eta)` of its n
/// jobs by [`score`] go on (ties to the lower index); a job recorded as diverged or failed there is out.
pub fn active_at<J: Borrow<Job>>(bracket: &Bracket, rung: usize, eta: usize, jobs: &[J], records: &Records) -> Decided {
    let mut active = bracket.jobs.clone();
    let mut pruned = Vec::new();
    for k in 0..rung {
        let keep = survivors_count(active.len(), eta);
        let mut rows = Vec::with_capacity(active.len());
        for &j in &active {
            let id = &jobs[j].borrow().id;
            match (records.rungs.get(&(k, id.clone())), records.finals.get(id)) {
                // Ended at this rung (diverged or failed): out, with its own row.
                (_, Some(f)) if f.status != JobStatus::Pruned && f.rung == Some(k) => {}
                (Some(row), _) => rows.push((row, j)),
                // A final row but no record of this rung (the rung file lost): the row stands in for it (a pruned
                // row is its rung's record; any other reached this rung and more).
                (None, Some(f)) => rows.push((f, j)),
                // Not recorded at rung k yet: rung k is not decided.
                (None, None) => {
                    return Decided {
                        active,
                        pruned,
                        complete: false,
                    }
                }
            }
        }
        let mut ranked = rank_rows(rows);
        pruned.extend(ranked.iter().skip(keep).map(|&(_, j)| (j, k)));
        ranked.truncate(keep);
        let mut survivors: Vec<usize> = ranked.into_iter().map(|(_, j)| j).collect();
        survivors.sort_unstable();
        active = survivors;
    }
    Decided {
        active,
        pruned,
        complete: true,
    }
}

/// The finished jobs of a rung ranked best first, with how many of all `n` jobs in it go on: those ranked at or below
/// `keep` can no longer go on, whatever the rung's unfinished jobs do.
pub fn ranked<J: Borrow<Job>>(rung: usize, active: &[usize], jobs: &[J], records: &Records) -> Vec<(f64, usize)> {
    rank_rows(
        active
            .iter()
            .filter_map(|&j| records.rungs.get(&(rung, jobs[j].borrow().id.clone())).map(|r| (r, j)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_core::TrainConfig;

    fn job(i: usize) -> Job {
        Job {
            index: i,
            id: format!("j{i}"),
            config: TrainConfig::default().check().unwrap(),
            trial: None,
        }
    }

    fn row(_id: &str, rung: usize, val: f64, status: JobStatus) -> Outcome {
        Outcome {
            status,
            rung: Some(rung),
            score: Some(val),
            objectives: Vec::new(),
            epochs_run: (rung + 1) as f64,
            seconds: 1.0,
        }
    }

    #[test]
    fn a_rung_keeps_the_best_third_ties_to_the_lower_index_and_waits_for_every_record() {
        let jobs: Vec<Job> = (0..6).map(job).collect();
        let bracket = Bracket {
            jobs: (0..6).collect(),
            rungs: vec![1.0, 3.0, 9.0],
        };
        let vals = [0.2, 0.5, 0.5, 0.1, 0.4, 0.3];
        let mut rungs = HashMap::new();
        let mut finals = HashMap::new();
        for (j, v) in vals.iter().enumerate().take(5) {
            rungs.insert((0, format!("j{j}")), row(&format!("j{j}"), 0, *v, JobStatus::Completed));
        }
        let rec = Records {
            finals: &finals,
            rungs: &rungs,
        };
        let d = active_at(&bracket, 1, 3, &jobs, &rec);
        assert!(!d.complete, "job 5 is not recorded at rung 0 yet");
        assert_eq!(d.active, (0..6).collect::<Vec<_>>());
        // Job 5 diverged in rung 0: it is out with its own row, and 5 jobs are ranked for ceil(6/3) = 2 places.
        finals.insert("j5".to_string(), row("j5", 0, 0.9, JobStatus::Diverged));
        let rec = Records {
            finals: &finals,
            rungs: &rungs,
        };
        let d = active_at(&bracket, 1, 3, &jobs, &rec);
        assert!(d.complete);
        assert_eq!(d.active, vec![1, 2], "0.5 and 0.5: the two best, the tie kept by index");
        assert_eq!(d.pruned, vec![(4, 0), (0, 0), (3, 0)]);
        assert_eq!(
            ranked(0, &bracket.jobs, &jobs, &rec).iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![1, 2, 4, 0, 3]
        );
    }
}
