//! Fidelity schedulers: how long each configuration trains, and which units start, continue or stop. A scheduler
//! splits a set of jobs into [`Bracket`]s over a ladder of rungs and, from the recorded rows, names the units that may
//! run now ([`Fidelity::poll`]). Each is one file behind this trait; [`crate::SCHEDULERS`] lists them, and
//! `[search]` picks one by name.

pub mod asha;
pub mod halving;
pub mod hyperband;
pub mod none;

use std::collections::HashSet;

use super::decide;
use super::schedule::{round12, survivors_count, Bracket};
use super::work::{Poll, Unit, View, Work};
use super::Search;

/// When to stop.
pub trait Fidelity {
    /// Its name in `[search] scheduler` (and `method`).
    fn name(&self) -> &'static str;

    /// What it does, for `SETTINGS` and messages ("successive halving decides each rung").
    fn about(&self) -> &'static str;

    /// Whether jobs may stop before `[train] epochs` (then `eta`, `min_epochs` and saved states apply).
    fn stops_early(&self) -> bool {
        true
    }

    /// The epochs of the rungs for a sweep whose jobs train `max` epochs at most (empty: no rungs).
    fn ladder(&self, search: &Search, max: usize) -> Vec<f64> {
        halving_ladder(search, max)
    }

    /// How many configurations to draw when the axes are continuous and `samples` is not given (`None`: it must be).
    fn default_samples(&self, _search: &Search, _max: usize) -> Option<usize> {
        None
    }

    /// How many of a rung's `n` jobs go on (at least): `ceil(n / eta)` for the synchronous schedulers.
    fn survivors(&self, n: usize, eta: usize) -> usize {
        survivors_count(n, eta)
    }

    /// The brackets of a set of jobs (indices; `batch` counts the sets a sampler proposed before this one).
    fn brackets(&self, search: &Search, jobs: Vec<usize>, ladder: &[f64], seed: u64, batch: usize) -> Vec<Bracket>;

    /// The units that may run now over `work`'s brackets, from the recorded rows.
    fn poll(&self, work: &Work, view: &View) -> Poll {
        synchronous_poll(work, view)
    }
}

/// The epochs of the rungs of a full successive-halving ladder from `min_epochs` to `max`: `min_epochs * eta^r` for
/// r < s = floor(log_eta(max / min_epochs)), then `max` (`[1, 3, 10]` for eta 3 from 1 to 10; `[0.1, 0.3, 0.9, 2.7,
/// 20]` from 0.1 to 20). A fractional rung ends mid-epoch. An adaptive sampler without `min_epochs` trains every
/// configuration to the end: one rung, `[max]`.
pub fn halving_ladder(search: &Search, max: usize) -> Vec<f64> {
    let max = max as f64;
    if search.is_adaptive() && !search.min_epochs_given {
        return vec![max];
    }
    let mut rungs = vec![];
    let mut e = search.min_epochs;
    while round12(e * search.eta as f64) <= max {
        rungs.push(e);
        e = round12(e * search.eta as f64);
    }
    rungs.push(max);
    rungs
}

/// Work planned after rung `r` of every bracket: the planned survivors, each costing its bracket's mean job.
fn planned_after(work: &Work, r: usize) -> u64 {
    let eta = work.schedule.eta;
    let mut total = 0u64;
    for bracket in &work.schedule.brackets {
        let n = bracket.jobs.len().max(1) as u64;
        let mean = bracket.jobs.iter().map(|&j| (work.epoch_cost)(&work.jobs[j])).sum::<u64>() / n;
        let counts = bracket.planned_counts(eta);
        for (k, count) in counts.iter().enumerate().skip(r + 1) {
            let epochs = bracket.rungs[k] - bracket.rungs[k - 1];
            total += (*count as f64 * epochs * mean as f64) as u64;
        }
    }
    total
}

/// Synchronous successive halving over every bracket, stage by stage (a plain sweep is one bracket of one rung): rung
/// r of every bracket, each rung decided from its records ([`decide`]) once all of them are in.
pub fn synchronous_poll(work: &Work, view: &View) -> Poll {
    let (jobs, schedule) = (work.jobs, work.schedule);
    let records = view.records();
    let multi = schedule.is_multi_fidelity();
    let stages = schedule.stages();
    let mut prune = Vec::new();
    let mut pruned_ids = HashSet::new();
    for r in 0..stages {
        let mut poll = Poll::default();
        let mut undecided = false;
        for (b, bracket) in schedule.brackets.iter().enumerate() {
            if r >= bracket.rung_count() {
                continue;
            }
            let decided = decide::active_at(bracket, r, schedule.eta, jobs, &records);
            undecided |= !decided.complete;
            for &(j, k) in &decided.pruned {
                let id = &jobs[j].id;
                if !view.finals.contains_key(id) && pruned_ids.insert(id.clone()) && view.rungs.contains_key(&(k, id.clone())) {
                    prune.push((id.clone(), k));
                }
            }
            let last = bracket.is_last(r);
            if multi && !last {
                let ranked = decide::ranked(r, &decided.active, jobs, &records);
                let ids = ranked.iter().map(|&(_, j)| jobs[j].id.clone()).collect();
                poll.ranked.push((ids, survivors_count(decided.active.len(), schedule.eta)));
            }
            for &j in &decided.active {
                let job = &jobs[j];
                if view.finals.contains_key(&job.id) || (!last && view.rungs.contains_key(&(r, job.id.clone()))) {
                    continue;
                }
                let prev = r.checked_sub(1).and_then(|k| view.rungs.get(&(k, job.id.clone())));
                let unit = Unit {
                    job: job.clone(),
                    bracket: b,
                    // A bracket without rungs in a sweep with them (TPE's finalists) trains each job once, as a
                    // plain sweep does.
                    rung: (multi && !bracket.rungs.is_empty()).then_some(r),
                    from: prev.map_or(0.0, |p| p.epochs_run),
                    to: bracket.target(r, job),
                    last,
                    seconds_before: prev.map_or(0.0, |p| p.seconds),
                };
                poll.work_left += work.of(&unit);
                poll.units.push(unit);
            }
        }
        if !poll.units.is_empty() || undecided {
            if stages > 1 {
                let planned: usize = schedule
                    .brackets
                    .iter()
                    .filter(|b| r < b.rung_count())
                    .map(|b| b.planned_counts(schedule.eta)[r])
                    .sum();
                poll.label = format!("rung {}/{stages} ({planned} jobs)", r + 1);
            }
            poll.work_left += planned_after(work, r);
            poll.prune = prune;
            return poll;
        }
    }
    Poll {
        prune,
        done: true,
        ..Poll::default()
    }
}
