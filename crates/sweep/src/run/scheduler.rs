//! What to run next: a [`Scheduler`] reads the recorded rows and names the units of work that may start now. The
//! runner asks it again whenever a unit ends, so a scheduler can propose new jobs and promotions as results arrive.
//! [`Stages`] is synchronous successive halving (and Hyperband, and a plain sweep as one rung): rung r of every
//! bracket, each rung decided from its records ([`crate::search::decide`]) once all of them are in. [`Tpe`] adds a
//! batch of model-based proposals, as one more bracket, each time every earlier batch is recorded and decided.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::trial::Unit;
use crate::config::grid::{Axis, Grid, Job};
use crate::config::trials;
use crate::results::format::{Decision, JobStatus, Row};
use crate::search::decide::{self, Records};
use crate::search::tpe::{self, Dim, Observation, Score};
use crate::search::{survivors_count, Bracket, Schedule};

/// The rows recorded so far, by every process: final rows by id, rung records by (rung, id), and the promotions
/// decided by asynchronous halving.
pub struct View<'a> {
    pub finals: &'a HashMap<String, Row>,
    pub rungs: &'a HashMap<(usize, String), Row>,
    pub decisions: &'a HashSet<Decision>,
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
pub struct Poll {
    /// Units not yet recorded that may run now, most urgent first (some may be running already, here or elsewhere).
    pub units: Vec<Unit>,
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
    /// The units must start in this order (the backend may group neighbours but not reorder them).
    pub ordered: bool,
    /// Promotions among `units` that are decided now: each is recorded durably before its unit starts.
    pub decide: HashSet<Decision>,
}

/// The work of a unit: its epochs times one epoch's cost.
fn work(epoch_cost: &dyn Fn(&Job) -> u64, unit: &Unit) -> u64 {
    (epoch_cost(&unit.job) as f64 * (unit.to - unit.from).max(0.0)) as u64
}

/// Proposes work from the recorded rows.
pub trait Scheduler {
    fn poll(&mut self, view: &View) -> Poll;

    /// The jobs known so far (a model-based search proposes more as it runs).
    fn jobs(&self) -> &[Arc<Job>];
}

/// Synchronous successive halving over a [`Schedule`] (one bracket of one rung for a plain sweep).
pub struct Stages<'c> {
    jobs: Vec<Arc<Job>>,
    schedule: Schedule,
    /// Work of one epoch of a job (the backend's cost model).
    epoch_cost: Box<dyn Fn(&Job) -> u64 + 'c>,
}

impl<'c> Stages<'c> {
    pub fn new(jobs: Vec<Job>, schedule: Schedule, epoch_cost: impl Fn(&Job) -> u64 + 'c) -> Self {
        Stages {
            jobs: jobs.into_iter().map(Arc::new).collect(),
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
                work += (*count as f64 * epochs * mean as f64) as u64;
            }
        }
        work
    }
}

impl Scheduler for Stages<'_> {
    fn jobs(&self) -> &[Arc<Job>] {
        &self.jobs
    }

    fn poll(&mut self, view: &View) -> Poll {
        let (jobs, schedule) = (&self.jobs, &self.schedule);
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
                    if !view.finals.contains_key(id) && pruned_ids.insert(id.clone()) {
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
                    poll.work_left += work(&self.epoch_cost, &unit);
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

/// A model-based search: batches of configurations proposed by a Tree-structured Parzen Estimator
/// ([`crate::search::tpe`]), each batch one bracket of successive halving over the search's ladder, and each batch
/// decided from every trial of the batches before it once all of them are recorded. So the trials depend on the
/// sweep seed and the grid alone, not on the worker count, timing or interruptions: a resumed sweep proposes the same
/// batches again from the same rows.
pub struct Tpe<'c> {
    stages: Stages<'c>,
    grid: Grid,
    axes: Vec<Axis>,
    space: Vec<Dim>,
    ladder: Vec<f64>,
    /// How many configurations to propose in all.
    samples: usize,
    /// The ids proposed so far (a batch never repeats one).
    taken: HashSet<String>,
    /// The estimator found no new configuration: the space is exhausted.
    exhausted: bool,
    /// The finalists' bracket is added (or there are none): nothing more is proposed.
    finals: bool,
}

impl<'c> Tpe<'c> {
    pub fn new(grid: &Grid, epoch_cost: impl Fn(&Job) -> u64 + 'c) -> Self {
        let epochs = grid.base_config().epochs;
        let schedule = Schedule {
            eta: grid.search.eta,
            brackets: Vec::new(),
        };
        Tpe {
            stages: Stages::new(Vec::new(), schedule, epoch_cost),
            axes: grid.axes.clone(),
            space: match &grid.command {
                Some(c) => trials::space_of(&c.axes),
                None => tpe::space_of(&grid.axes),
            },
            ladder: grid.search.ladder(epochs),
            samples: grid.search.samples.unwrap_or(0),
            taken: HashSet::new(),
            exhausted: false,
            finals: grid.search.finalists == 0,
            grid: grid.clone(),
        }
    }

    /// How a job's rows score it, as Optuna ranks trials: the rung it reached and its validation accuracy there;
    /// diverged and failed trials worst. `None` while the job is not recorded.
    fn score(&self, job: &Job, view: &View) -> Option<Score> {
        let last = self.ladder.len() - 1;
        // Higher is better: a command trial's minimized objective is negated ([`Row::score`]).
        let rung_value = |row: &Row| row.score().unwrap_or(f64::NAN);
        match view.finals.get(&job.id) {
            Some(row) => Some(match row.status {
                JobStatus::Completed => Score::Reached {
                    rung: last,
                    value: rung_value(row),
                },
                JobStatus::Pruned => Score::Reached {
                    rung: row.rung.unwrap_or(0),
                    value: rung_value(row),
                },
                _ => Score::Failed,
            }),
            None => (0..last).rev().find_map(|k| {
                view.rungs.get(&(k, job.id.clone())).map(|row| Score::Reached {
                    rung: k,
                    value: rung_value(row),
                })
            }),
        }
    }

    /// Proposes the next batch from every trial proposed before it; false when there is nothing left to propose.
    fn propose(&mut self, view: &View) -> bool {
        let done = self.stages.jobs.len();
        if self.exhausted || done >= self.samples {
            return false;
        }
        let observations: Vec<Observation> = self
            .stages
            .jobs
            .iter()
            .filter_map(|job| {
                let point = match (&self.grid.command, &job.trial) {
                    (Some(c), Some(t)) => trials::point_of(&c.axes, &t.values)?,
                    _ => tpe::point_of(&self.axes, &job.config)?,
                };
                Some(Observation {
                    point,
                    score: self.score(job, view)?,
                })
            })
            .collect();
        let n = self.grid.search.batch.min(self.samples - done);
        let index = self.stages.schedule.brackets.len() as u64;
        let base = self.grid.base_config();
        let (axes, taken, command) = (&self.axes, &self.taken, &self.grid.command);
        let id_at = |p: &[f64]| match command {
            Some(c) => trials::trial_id(&trials::values_at(c, p)),
            None => crate::config::grid::job_id(&tpe::config_of(axes, &base, p)),
        };
        let points = tpe::propose(&self.space, &observations, n, self.grid.seed, index, |p| taken.contains(&id_at(p)));
        self.exhausted = points.len() < n;
        if points.is_empty() {
            return false;
        }
        let mut members = Vec::with_capacity(points.len());
        for p in points {
            let job = match &self.grid.command {
                Some(c) => self.grid.trial_job(trials::values_at(c, &p), self.stages.jobs.len()),
                None => self.grid.job(tpe::config_of(&self.axes, &base, &p), self.stages.jobs.len()),
            };
            let Ok(job) = job else {
                // Not a configuration core takes (never, for values within the axes): not proposed.
                continue;
            };
            self.taken.insert(job.id.clone());
            members.push(self.stages.jobs.len());
            self.stages.jobs.push(Arc::new(job));
        }
        self.stages.schedule.brackets.push(Bracket {
            jobs: members,
            rungs: self.ladder.clone(),
        });
        true
    }

    /// After the last batch: the best `finalists` trials that completed (by validation, ties to the lower index) as
    /// new jobs of `final_epochs`, one bracket that trains each from the start to its end. A finalist is its trial's
    /// values with the longer budget, so another id and another seed: a fresh draw of the initialization, whose
    /// validation accuracy is not the luck it was chosen for. False when there is nothing to add.
    fn add_finalists(&mut self, view: &View) -> bool {
        // (A command sweep never has finalists: its grid is refused when parsed.)
        if std::mem::replace(&mut self.finals, true) {
            return false;
        }
        let last = self.ladder.len() - 1;
        let mut ranked: Vec<(f64, usize)> = (0..self.stages.jobs.len())
            .filter_map(|j| match self.score(&self.stages.jobs[j], view)? {
                Score::Reached { rung, value } if rung == last && value.is_finite() => Some((value, j)),
                _ => None,
            })
            .collect();
        ranked.sort_by(decide::rank_order);
        let mut base = self.grid.base_config();
        base.epochs = self.grid.search.final_epochs;
        let mut members = Vec::new();
        for &(_, j) in ranked.iter().take(self.grid.search.finalists) {
            let Some(point) = tpe::point_of(&self.axes, &self.stages.jobs[j].config) else {
                continue;
            };
            let Ok(job) = self.grid.job(tpe::config_of(&self.axes, &base, &point), self.stages.jobs.len()) else {
                continue;
            };
            if self.taken.insert(job.id.clone()) {
                members.push(self.stages.jobs.len());
                self.stages.jobs.push(Arc::new(job));
            }
        }
        if members.is_empty() {
            return false;
        }
        self.stages.schedule.brackets.push(Bracket {
            jobs: members,
            rungs: Vec::new(),
        });
        true
    }
}

impl Scheduler for Tpe<'_> {
    fn jobs(&self) -> &[Arc<Job>] {
        &self.stages.jobs
    }

    fn poll(&mut self, view: &View) -> Poll {
        loop {
            let mut poll = self.stages.poll(view);
            if !poll.done {
                let (batches, of) = (self.stages.schedule.brackets.len(), self.samples.div_ceil(self.grid.search.batch));
                // The finalists' bracket is the one without rungs (every batch has the ladder's).
                let finalists = self.stages.schedule.brackets.last().is_some_and(|b| b.rungs.is_empty());
                let what = match finalists {
                    true => format!("{} finalists", self.grid.search.finalists),
                    false => format!("batch {batches} of {of}"),
                };
                poll.label = if poll.label.is_empty() {
                    what
                } else {
                    format!("{what}, {}", poll.label)
                };
                return poll;
            }
            // Every batch so far is recorded and decided (its pruned rows are in `poll.prune`, written by the runner
            // before the next poll): the next batch is proposed from them.
            if !poll.prune.is_empty() || !(self.propose(view) || self.add_finalists(view)) {
                return Poll {
                    done: poll.prune.is_empty(),
                    ..poll
                };
            }
        }
    }
}

/// Asynchronous successive halving (ASHA; Li et al., MLSys 2020) over a fixed list of jobs and a ladder of rungs: a
/// free worker takes the job that may go on from the highest rung (one in the best `floor(n / eta)` of the `n` jobs
/// recorded at its rung and not promoted yet), else the next job not started — in an order shuffled by the sweep
/// seed, so that a grid's first jobs (all of its first learning rate, say) are not the ones promoted first — so no
/// worker waits for a rung to fill. Each promotion is recorded ([`View::decisions`]) before it starts, so a resumed sweep carries out every
/// promotion it made; jobs stay eligible until the end, when the ones that did not go on get their `pruned` row.
///
/// What the rows depend on: every job's training is exactly as in a synchronous sweep (same data order, same state
/// continued), but which jobs are promoted depends on the order in which rung results arrived relative to free
/// workers, so on the worker count and the machine's timing; the decisions say what happened.
pub struct Asha<'c> {
    jobs: Vec<Arc<Job>>,
    /// The order in which jobs start.
    order: Vec<usize>,
    ladder: Vec<f64>,
    eta: usize,
    epoch_cost: Box<dyn Fn(&Job) -> u64 + 'c>,
}

impl<'c> Asha<'c> {
    pub fn new(jobs: Vec<Job>, ladder: Vec<f64>, eta: usize, seed: u64, epoch_cost: impl Fn(&Job) -> u64 + 'c) -> Self {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.shuffle(&mut sweep_core::rng::rng_for(seed, "asha-order"));
        Asha {
            order,
            jobs: jobs.into_iter().map(Arc::new).collect(),
            ladder,
            eta,
            epoch_cost: Box::new(epoch_cost),
        }
    }

    fn unit(&self, j: usize, rung: usize, view: &View) -> Unit {
        let job = &self.jobs[j];
        let prev = rung.checked_sub(1).and_then(|k| view.rungs.get(&(k, job.id.clone())));
        Unit {
            job: job.clone(),
            bracket: 0,
            rung: Some(rung),
            from: prev.map_or(0.0, |p| p.epochs_run),
            to: self.ladder[rung],
            last: rung + 1 == self.ladder.len(),
            seconds_before: prev.map_or(0.0, |p| p.seconds),
        }
    }
}

impl Scheduler for Asha<'_> {
    fn jobs(&self) -> &[Arc<Job>] {
        &self.jobs
    }

    fn poll(&mut self, view: &View) -> Poll {
        let last = self.ladder.len() - 1;
        let recorded_at = |j: usize, k: usize| {
            let id = &self.jobs[j].id;
            view.rungs.contains_key(&(k, id.clone())) || view.finals.get(id).is_some_and(|f| f.rung.is_some_and(|r| r >= k))
        };
        let mut poll = Poll {
            ordered: true,
            ..Poll::default()
        };
        let mut queued = HashSet::new();
        let mut push = |poll: &mut Poll, unit: Unit, decide: bool| {
            if queued.insert(unit.key()) {
                if decide {
                    poll.decide.insert(Decision {
                        id: unit.job.id.clone(),
                        rung: unit.rung.unwrap_or(0),
                    });
                }
                poll.work_left += work(&self.epoch_cost, &unit);
                poll.units.push(unit);
            }
        };
        let index: HashMap<&str, usize> = self.jobs.iter().enumerate().map(|(i, j)| (j.id.as_str(), i)).collect();
        // Promotions decided before (by this process or another, before a crash or now) and not carried out yet.
        let mut decided: Vec<(usize, usize)> = view
            .decisions
            .iter()
            .filter_map(|d| Some((d.rung, *index.get(d.id.as_str())?)))
            .filter(|&(k, j)| k <= last && !recorded_at(j, k))
            .collect();
        decided.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (k, j) in decided {
            push(&mut poll, self.unit(j, k, view), false);
        }
        // New promotions, from the highest rung down.
        let all: Vec<usize> = (0..self.jobs.len()).collect();
        let records = view.records();
        for k in (0..last).rev() {
            let ranked = decide::ranked(k, &all, &self.jobs, &records);
            let top = ranked.len() / self.eta;
            for &(_, j) in ranked.iter().take(top) {
                let promoted = view.decisions.contains(&Decision {
                    id: self.jobs[j].id.clone(),
                    rung: k + 1,
                });
                if !promoted && !recorded_at(j, k + 1) {
                    push(&mut poll, self.unit(j, k + 1, view), true);
                }
            }
        }
        // Jobs not started, in their (shuffled) order.
        for &j in &self.order {
            if !recorded_at(j, 0) {
                push(&mut poll, self.unit(j, 0, view), false);
            }
        }
        if poll.units.is_empty() {
            // Nothing can go on any more: the jobs that stopped below the last rung were pruned there.
            poll.done = true;
            for job in &self.jobs {
                if view.finals.contains_key(&job.id) {
                    continue;
                }
                if let Some(row) = (0..last).rev().find_map(|k| view.rungs.get(&(k, job.id.clone()))) {
                    poll.prune.push(Row {
                        status: JobStatus::Pruned,
                        ..row.clone()
                    });
                }
            }
        }
        poll
    }
}
