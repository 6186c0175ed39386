//! Asynchronous successive halving (ASHA; Li et al., MLSys 2020) over each bracket's jobs and the ladder of rungs: a
//! free worker takes the job that may go on from the highest rung (one in the best `floor(n / eta)` of the `n` jobs
//! recorded at its rung and not promoted yet), else the next job not started — in an order shuffled by the sweep
//! seed, so that a grid's first jobs (all of its first learning rate, say) are not the ones promoted first — so no
//! worker waits for a rung to fill. Each promotion is recorded ([`View::decisions`]) before it starts, so a resumed
//! sweep carries out every promotion it made; jobs stay eligible until the end, when the ones that did not go on get
//! their `pruned` row.
//!
//! What the rows depend on: every job's training is exactly as in a synchronous sweep (same data order, same state
//! continued), but which jobs are promoted depends on the order in which rung results arrived relative to free
//! workers, so on the worker count and the machine's timing; the decisions say what happened.

use std::collections::{HashMap, HashSet};

use super::Fidelity;
use crate::decide;
use crate::schedule::Bracket;
use crate::work::{Poll, Unit, View, Work};
use crate::Search;
use sweep_params::Decision;

pub struct Asha;

impl Fidelity for Asha {
    fn name(&self) -> &'static str {
        "asha"
    }

    fn about(&self) -> &'static str {
        "asynchronous successive halving"
    }

    /// The runner's rule (`bracket_poll`): the best `floor(n / eta)` of a rung's n jobs, at least.
    fn survivors(&self, n: usize, eta: usize) -> usize {
        n / eta.max(1)
    }

    fn brackets(&self, _search: &Search, jobs: Vec<usize>, ladder: &[f64], _seed: u64, _batch: usize) -> Vec<Bracket> {
        vec![Bracket {
            jobs,
            rungs: ladder.to_vec(),
        }]
    }

    fn poll(&self, work: &Work, view: &View) -> Poll {
        let mut poll = Poll {
            ordered: true,
            ..Poll::default()
        };
        let mut done = true;
        for (b, bracket) in work.schedule.brackets.iter().enumerate() {
            let part = bracket_poll(work, b, bracket, view);
            done &= part.done;
            poll.units.extend(part.units);
            poll.prune.extend(part.prune);
            poll.decide.extend(part.decide);
            poll.work_left += part.work_left;
        }
        poll.done = done;
        poll
    }
}

/// The poll of one bracket (a sampler's batch, or the sweep's one).
fn bracket_poll(work: &Work, b: usize, bracket: &Bracket, view: &View) -> Poll {
    let jobs = work.jobs;
    let ladder = &bracket.rungs;
    let eta = work.schedule.eta;
    let last = ladder.len() - 1;
    let recorded_at = |j: usize, k: usize| {
        let id = &jobs[j].id;
        view.rungs.contains_key(&(k, id.clone())) || view.finals.get(id).is_some_and(|f| f.rung.is_some_and(|r| r >= k))
    };
    let unit = |j: usize, rung: usize| {
        let job = &jobs[j];
        let prev = rung.checked_sub(1).and_then(|k| view.rungs.get(&(k, job.id.clone())));
        Unit {
            job: job.clone(),
            bracket: b,
            rung: Some(rung),
            from: prev.map_or(0.0, |p| p.epochs_run),
            to: ladder[rung],
            last: rung + 1 == ladder.len(),
            seconds_before: prev.map_or(0.0, |p| p.seconds),
        }
    };
    let mut poll = Poll::default();
    let mut queued = HashSet::new();
    let mut push = |poll: &mut Poll, unit: Unit, decide: bool| {
        if queued.insert(unit.key()) {
            if decide {
                poll.decide.insert(Decision::of(unit.job.id.clone(), unit.rung.unwrap_or(0)));
            }
            poll.work_left += work.of(&unit);
            poll.units.push(unit);
        }
    };
    let index: HashMap<&str, usize> = bracket.jobs.iter().map(|&j| (jobs[j].id.as_str(), j)).collect();
    // Promotions decided before (by this process or another, before a crash or now) and not carried out yet.
    let mut decided: Vec<(usize, usize)> = view
        .decisions
        .iter()
        .filter_map(|d| Some((d.rung, *index.get(d.id.as_str())?)))
        // A job with a final row has ended (a pruned row is final too), whatever was decided before it.
        .filter(|&(k, j)| k <= last && !recorded_at(j, k) && !view.finals.contains_key(&jobs[j].id))
        .collect();
    decided.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (k, j) in decided {
        push(&mut poll, unit(j, k), false);
    }
    // New promotions, from the highest rung down.
    let records = view.records();
    for k in (0..last).rev() {
        let ranked = decide::ranked(k, &bracket.jobs, jobs, &records);
        let top = ranked.len() / eta;
        for &(_, j) in ranked.iter().take(top) {
            let promoted = view.decisions.contains(&Decision::of(jobs[j].id.clone(), k + 1));
            // A job with a final row never goes on: in an asynchronous search, where the rung's count keeps growing,
            // a job pruned at the end of an earlier run could otherwise rank in the top again.
            if !promoted && !recorded_at(j, k + 1) && !view.finals.contains_key(&jobs[j].id) {
                push(&mut poll, unit(j, k + 1), true);
            }
        }
    }
    // Jobs not started, in their (shuffled) order.
    for j in start_order(bracket, b, work.seed) {
        if !recorded_at(j, 0) {
            push(&mut poll, unit(j, 0), false);
        }
    }
    if poll.units.is_empty() {
        // Nothing can go on any more: the jobs that stopped below the last rung were pruned there.
        poll.done = true;
        for &j in &bracket.jobs {
            let job = &jobs[j];
            if view.finals.contains_key(&job.id) {
                continue;
            }
            if let Some(k) = (0..last).rev().find(|&k| view.rungs.contains_key(&(k, job.id.clone()))) {
                poll.prune.push((job.id.clone(), k));
            }
        }
    }
    poll
}

/// The order in which bracket `b`'s jobs start: shuffled by the sweep seed (and the bracket, after the first).
fn start_order(bracket: &Bracket, b: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..bracket.jobs.len()).collect();
    let tag = match b {
        0 => "asha-order".to_string(),
        b => format!("asha-order-{b}"),
    };
    order.shuffle(&mut sweep_core::rng::rng_for(seed, &tag));
    order.into_iter().map(|i| bracket.jobs[i]).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use super::*;
    use crate::schedule::Schedule;
    use crate::work::Outcome;
    use sweep_core::TrainConfig;
    use sweep_params::{Job, JobStatus};

    fn outcome(rung: usize, score: f64, status: JobStatus) -> Outcome {
        Outcome {
            status,
            rung: Some(rung),
            score: Some(score),
            objectives: Vec::new(),
            epochs_run: (rung + 1) as f64,
            seconds: 1.0,
        }
    }

    /// A job with a final row (pruned when an earlier run ended) is not promoted again when the rung's count grows
    /// (an asynchronous search continued with a larger budget), even if it ranks in the top; nor is a promotion
    /// decided before its prune carried out.
    #[test]
    fn a_job_with_a_final_row_is_never_promoted() {
        let jobs: Vec<Arc<Job>> = (0..6)
            .map(|i| {
                Arc::new(Job {
                    index: i,
                    id: format!("j{i}"),
                    config: TrainConfig::default().check().unwrap(),
                    trial: None,
                })
            })
            .collect();
        let schedule = Schedule {
            eta: 3,
            brackets: vec![Bracket {
                jobs: (0..6).collect(),
                rungs: vec![1.0, 3.0, 9.0],
            }],
        };
        let cost = |_: &Job| 1u64;
        let work = Work {
            jobs: &jobs,
            schedule: &schedule,
            seed: 0,
            epoch_cost: &cost,
        };
        // Rung 0: j0 is the best but was pruned there when a first run ended (3 jobs then: none promoted); j1..j5
        // came after. 6 recorded: the top 2 go on, j0 and j3 by score.
        let scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.4];
        let rungs: HashMap<(usize, String), Outcome> = (0..6)
            .map(|j| ((0, format!("j{j}")), outcome(0, scores[j], JobStatus::Completed)))
            .collect();
        let mut finals = HashMap::new();
        finals.insert("j0".to_string(), outcome(0, 0.9, JobStatus::Pruned));
        let mut decisions = HashSet::new();
        decisions.insert(Decision::of("j0", 1));
        let view = View {
            finals: &finals,
            rungs: &rungs,
            decisions: &decisions,
            idle: 1,
        };
        let poll = Asha.poll(&work, &view);
        let ids: Vec<(String, Option<usize>)> = poll.units.iter().map(|u| (u.job.id.clone(), u.rung)).collect();
        assert_eq!(ids, vec![("j3".to_string(), Some(1))], "only j3 goes on");
        assert!(!poll.decide.contains(&Decision::of("j0", 1)));
    }
}
