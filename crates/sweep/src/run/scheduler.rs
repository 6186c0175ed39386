//! What to run next: a [`Scheduler`] reads the recorded rows and names the units of work that may start now. The
//! runner asks it again whenever a unit ends, so a scheduler can propose new jobs and promotions as results arrive;
//! [`Stages`] is synchronous successive halving (and Hyperband, and a plain sweep as one rung): rung r of every
//! bracket, each rung decided from its records ([`crate::search::decide`]) once all of them are in.

use std::collections::HashMap;

use super::trial::Unit;
use crate::config::grid::Job;
use crate::results::format::{JobStatus, Row};
use crate::search::decide::{self, Records};
use crate::search::{survivors_count, Schedule};

/// The rows recorded so far, by every process: final rows by id, rung records by (rung, id).
pub struct View<'a> {
    pub finals: &'a HashMap<String, Row>,
    pub rungs: &'a HashMap<(usize, String), Row>,
}

impl View<'_> {
    fn records(&self) -> Records<'_> {
        Records {
            finals: self.finals,
            rungs: self.rungs,
        }
    }
}

/// A scheduler's answer.
#[derive(Debug, Default)]
pub struct Poll<'j> {
    /// Units not yet recorded that may run now, most urgent first (some may be running already, here or elsewhere).
    pub units: Vec<Unit<'j>>,
    /// `pruned` rows the decisions call for that are not written yet.
    pub prune: Vec<Row>,
    /// Per rung being run: its finished jobs' ids best first, and how many of the rung's jobs go on.
    pub ranked: Vec<(Vec<String>, usize)>,
    /// Nothing is left to run.
    pub done: bool,
    /// What is running, for the progress bar (`rung 2/3 (168 jobs)`; empty for a plain sweep).
    pub label: String,
    /// Work not yet done by the units above and everything planned after them (relative, as [`super::Backend::cost`]).
    pub work_left: u64,
}

/// Proposes work from the recorded rows.
pub trait Scheduler<'j> {
    fn poll(&mut self, view: &View) -> Poll<'j>;
}

/// Synchronous successive halving over a [`Schedule`] (one bracket of one rung for a plain sweep).
pub struct Stages<'j> {
    jobs: &'j [Job],
    schedule: &'j Schedule,
    /// Work of one epoch of a job (the backend's cost model).
    epoch_cost: Box<dyn Fn(&Job) -> u64 + 'j>,
}

impl<'j> Stages<'j> {
    pub fn new(jobs: &'j [Job], schedule: &'j Schedule, epoch_cost: impl Fn(&Job) -> u64 + 'j) -> Self {
        Stages {
            jobs,
            schedule,
            epoch_cost: Box::new(epoch_cost),
        }
    }

    /// Work planned after rung `r` of every bracket: the planned survivors, each costing its bracket's mean job.
    fn planned_after(&self, r: usize) -> u64 {
        let eta = self.schedule.eta;
        let mut work = 0u64;
        for bracket in &self.schedule.brackets {
            let n = bracket.jobs.len().max(1) as u64;
            let mean = bracket.jobs.iter().map(|&j| (self.epoch_cost)(&self.jobs[j])).sum::<u64>() / n;
            let counts = bracket.planned_counts(eta);
            for (k, count) in counts.iter().enumerate().skip(r + 1) {
                let epochs = bracket.rungs[k] - bracket.rungs[k - 1];
                work += *count as u64 * epochs as u64 * mean;
            }
        }
        work
    }
}

impl<'j> Scheduler<'j> for Stages<'j> {
    fn poll(&mut self, view: &View) -> Poll<'j> {
        let (jobs, schedule) = (self.jobs, self.schedule);
        let records = view.records();
        let multi = schedule.is_multi_fidelity();
        let stages = schedule.stages();
        let mut prune = Vec::new();
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
                    if !view.finals.contains_key(id) && !prune.iter().any(|p: &Row| &p.id == id) {
                        if let Some(row) = view.rungs.get(&(k, id.clone())) {
                            prune.push(Row {
                                status: JobStatus::Pruned,
                                ..row.clone()
                            });
                        }
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
                        job,
                        bracket: b,
                        rung: multi.then_some(r),
                        from: prev.map_or(0, |p| p.epochs_run),
                        to: bracket.target(r, job),
                        last,
                        seconds_before: prev.map_or(0.0, |p| p.seconds),
                    };
                    poll.work_left += (self.epoch_cost)(job) * unit.to.saturating_sub(unit.from) as u64;
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
                poll.work_left += self.planned_after(r);
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
}
