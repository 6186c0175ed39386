//! What to run next: a [`Scheduler`] reads the recorded rows and names the units of work that may start now. The
//! runner asks it again whenever a unit ends, so a scheduler can propose new jobs and promotions as results arrive.
//!
//! [`Driver`] is the one scheduler: the search's sampler and fidelity scheduler together. A sampler that knows its
//! configurations before the sweep (grid, random, Sobol) gives every job at once, and the fidelity scheduler
//! ([`sweep_search::Fidelity`]) decides their units from the records; an adaptive sampler (TPE) proposes a batch,
//! which the scheduler splits into brackets, and the next batch once every earlier one is recorded and decided.

use std::collections::HashSet;
use std::sync::Arc;

use sweep_grid::grid::{Axis, Grid, Job};
use sweep_grid::trials;
use sweep_params::{Decision, Proposal};
use sweep_results::format::JobStatus;
use sweep_search::decide;
use sweep_search::tpe::{self, Dim, Observation, Score};
use sweep_search::work::Unit;
use sweep_search::work::{Outcome, Work};
pub use sweep_search::work::{Poll, View};
use sweep_search::{Bracket, Schedule};

/// Proposes work from the recorded rows.
pub trait Scheduler {
    fn poll(&mut self, view: &View) -> Poll;

    /// The jobs known so far (a model-based search proposes more as it runs).
    fn jobs(&self) -> &[Arc<Job>];

    /// Whether its next units depend on every process's latest rows and decisions (an asynchronous search: what it
    /// proposes, and what fits in the budget): the runner then reads them again before each poll.
    fn reads_every_poll(&self) -> bool {
        false
    }
}

/// A sweep's search: its sampler's jobs, its fidelity scheduler's brackets over them, and (for an adaptive sampler)
/// the batches proposed so far. The trials depend on the sweep seed and the grid alone, not on the worker count,
/// timing or interruptions (but for ASHA's promotions, which are recorded): a resumed sweep proposes the same batches
/// again from the same rows.
pub struct Driver<'c> {
    grid: Grid,
    jobs: Vec<Arc<Job>>,
    /// The bracket of each job.
    bracket_of: Vec<usize>,
    schedule: Schedule,
    /// Work of one epoch of a job (the backend's cost model).
    epoch_cost: Box<dyn Fn(&Job) -> u64 + 'c>,
    /// The search's ladder of rungs (empty when nothing stops early).
    ladder: Vec<f64>,
    axes: Vec<Axis>,
    space: Vec<Dim>,
    /// How many configurations an adaptive sampler proposes in all.
    samples: usize,
    /// Batches proposed so far, and the batch of each job.
    batches: usize,
    batch_of: Vec<usize>,
    /// The ids proposed so far (a batch never repeats one).
    taken: HashSet<String>,
    /// The sampler found no new configuration: the space is exhausted.
    exhausted: bool,
    /// The finalists' bracket is added (or there are none): nothing more is proposed.
    finals: bool,
    /// The finalists are what runs now.
    in_finals: bool,
}

impl<'c> Driver<'c> {
    /// The search of `grid` over `jobs` (the grid's, or a shard's; an adaptive sampler proposes its own).
    pub fn new(grid: &Grid, jobs: Vec<Job>, epoch_cost: impl Fn(&Job) -> u64 + 'c) -> Self {
        let search = &grid.search;
        let adaptive = search.is_adaptive();
        let jobs = if adaptive { Vec::new() } else { jobs };
        let ladder = search.ladder(grid.base_config().epochs);
        let schedule = match adaptive {
            // An asynchronous search: one bracket of asha that grows with every proposal.
            true if search.asynchronous => Schedule {
                eta: search.eta,
                brackets: vec![Bracket {
                    jobs: Vec::new(),
                    rungs: ladder.clone(),
                }],
            },
            true => Schedule {
                eta: search.eta,
                brackets: Vec::new(),
            },
            false => search.schedule(&jobs, grid.seed),
        };
        let mut bracket_of = vec![0; jobs.len()];
        for (b, bracket) in schedule.brackets.iter().enumerate() {
            for &j in &bracket.jobs {
                bracket_of[j] = b;
            }
        }
        Driver {
            jobs: jobs.into_iter().map(Arc::new).collect(),
            bracket_of,
            schedule,
            epoch_cost: Box::new(epoch_cost),
            ladder,
            axes: grid.axes.clone(),
            space: match &grid.command {
                Some(c) => trials::space_of(&c.axes),
                None => tpe::space_of(&grid.axes),
            },
            samples: if adaptive { search.samples.unwrap_or(0) } else { 0 },
            batches: 0,
            batch_of: Vec::new(),
            taken: HashSet::new(),
            exhausted: false,
            finals: search.finalists == 0,
            in_finals: false,
            grid: grid.clone(),
        }
    }

    /// How a job's rows score it, as Optuna ranks trials: the rung of the search's ladder it reached and its
    /// validation accuracy there; diverged and failed trials worst. `None` while the job is not recorded.
    fn score(&self, j: usize, view: &View) -> Option<Score> {
        let job = &self.jobs[j];
        let last = self.ladder.len().saturating_sub(1);
        // A bracket that starts higher on the ladder (Hyperband's) counts its rungs from there.
        let rungs = self.schedule.brackets.get(self.bracket_of[j]).map_or(0, |b| b.rungs.len());
        let offset = self.ladder.len().saturating_sub(rungs);
        // Higher is better: a command trial's minimized objective is negated ([`Row::score`]).
        let rung_value = |row: &Outcome| row.score.unwrap_or(f64::NAN);
        match view.finals.get(&job.id) {
            Some(row) => Some(match row.status {
                JobStatus::Completed => Score::Reached {
                    rung: last,
                    value: rung_value(row),
                },
                JobStatus::Pruned => Score::Reached {
                    rung: row.rung.unwrap_or(0) + offset,
                    value: rung_value(row),
                },
                _ => Score::Failed,
            }),
            None => (0..rungs.saturating_sub(1)).rev().find_map(|k| {
                view.rungs.get(&(k, job.id.clone())).map(|row| Score::Reached {
                    rung: k + offset,
                    value: rung_value(row),
                })
            }),
        }
    }

    /// Adds `members` (new jobs) as the fidelity scheduler's brackets of batch `batch`, over `ladder`.
    fn add_brackets(&mut self, members: Vec<usize>, ladder: &[f64], batch: usize) {
        let search = &self.grid.search;
        self.bracket_of.resize(self.jobs.len(), 0);
        for bracket in search.fidelity().brackets(search, members, ladder, self.grid.seed, batch) {
            for &j in &bracket.jobs {
                self.bracket_of[j] = self.schedule.brackets.len();
            }
            self.schedule.brackets.push(bracket);
        }
    }

    /// Proposes the next batch from every trial proposed before it; false when there is nothing left to propose.
    fn propose(&mut self, view: &View) -> bool {
        let done = self.jobs.len();
        if self.exhausted || done >= self.samples {
            return false;
        }
        // With `pipeline = K`, batch b is decided from the batches up to b - K (all recorded), never one still running.
        let known = (self.batches + 1).saturating_sub(self.grid.search.pipeline);
        let observations: Vec<Observation> = (0..self.jobs.len())
            .filter(|&j| self.batch_of.get(j).is_some_and(|&b| b < known))
            .filter_map(|j| {
                let (point, score) = self.observation(j, view)?;
                Some(Observation {
                    point,
                    score: score?,
                    objectives: self.objectives(j, view),
                })
            })
            .collect();
        let n = self.grid.search.batch.min(self.samples - done);
        let points = self.sample(&observations, n, self.batches as u64);
        self.exhausted = points.len() < n;
        if points.is_empty() {
            return false;
        }
        let mut members = Vec::with_capacity(points.len());
        for p in points {
            let Some(job) = self.job_at(&p, self.jobs.len()) else {
                // Not a configuration core takes (never, for values within the axes): not proposed.
                continue;
            };
            self.taken.insert(job.id.clone());
            members.push(self.jobs.len());
            self.jobs.push(Arc::new(job));
            self.batch_of.push(self.batches);
        }
        let ladder = self.ladder.clone();
        self.add_brackets(members, &ladder, self.batches);
        self.batches += 1;
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
        let last = self.ladder.len().saturating_sub(1);
        let mut ranked: Vec<(f64, usize)> = (0..self.jobs.len())
            .filter_map(|j| match self.score(j, view)? {
                Score::Reached { rung, value } if rung == last && value.is_finite() => Some((value, j)),
                _ => None,
            })
            .collect();
        ranked.sort_by(decide::rank_order);
        let mut base = self.grid.base_config();
        base.epochs = self.grid.search.final_epochs;
        let mut members = Vec::new();
        for &(_, j) in ranked.iter().take(self.grid.search.finalists) {
            let Some(point) = tpe::point_of(&self.axes, &self.jobs[j].config) else {
                continue;
            };
            let Ok(job) = self.grid.job(tpe::config_of(&self.axes, &base, &point), self.jobs.len()) else {
                continue;
            };
            if self.taken.insert(job.id.clone()) {
                members.push(self.jobs.len());
                self.jobs.push(Arc::new(job));
            }
        }
        if members.is_empty() {
            return false;
        }
        // Trained once each, to the end: a bracket without rungs.
        self.bracket_of.resize(self.jobs.len(), self.schedule.brackets.len());
        self.schedule.brackets.push(sweep_search::Bracket {
            jobs: members,
            rungs: Vec::new(),
        });
        self.in_finals = true;
        true
    }

    /// Whether the next batch may be proposed while earlier ones run: `pipeline` > 1 and the batch `pipeline` before
    /// it has every job's final row.
    fn may_pipeline(&self, view: &View) -> bool {
        let k = self.grid.search.pipeline;
        if k <= 1 || self.batches == 0 {
            return false;
        }
        let Some(wait_for) = (self.batches + 1).checked_sub(k) else {
            return true;
        };
        self.batch_of
            .iter()
            .zip(&self.jobs)
            .filter(|(&b, _)| b < wait_for)
            .all(|(_, job)| view.finals.contains_key(&job.id))
    }

    /// Up to `n` new points from the sampler, from `observations`, its random draws from `(seed, index)`; never one
    /// whose job was proposed before.
    fn sample(&self, observations: &[Observation], n: usize, index: u64) -> Vec<tpe::Point> {
        let base = self.grid.base_config();
        let id_at = |p: &[f64]| match &self.grid.command {
            Some(c) => trials::trial_id(&trials::values_at(c, p)),
            None => sweep_grid::grid::job_id(&tpe::config_of(&self.axes, &base, p)),
        };
        let mut is_taken = |p: &[f64]| self.taken.contains(&id_at(p));
        self.grid
            .search
            .sampler()
            .propose(&self.space, observations, n, self.grid.seed, index, &mut is_taken)
    }

    /// The job at `point` of the search space, index `index`.
    fn job_at(&self, point: &[f64], index: usize) -> Option<Job> {
        match &self.grid.command {
            Some(c) => self.grid.trial_job(trials::values_at(c, point), index).ok(),
            None => self
                .grid
                .job(tpe::config_of(&self.axes, &self.grid.base_config(), point), index)
                .ok(),
        }
    }

    /// A multi-objective sweep's values of job `j` (higher is better), from the row [`Self::score`] reads: its final
    /// row, else its highest rung record; empty with one objective or before it has a row.
    fn objectives(&self, j: usize, view: &View) -> Vec<f64> {
        let id = &self.jobs[j].id;
        match view.finals.get(id) {
            Some(row) => row.objectives.clone(),
            None => (0..self.ladder.len())
                .rev()
                .find_map(|k| view.rungs.get(&(k, id.clone())))
                .map(|row| row.objectives.clone())
                .unwrap_or_default(),
        }
    }

    /// The search-space point of job `j` and how its rows score it (`None` before it has a row).
    fn observation(&self, j: usize, view: &View) -> Option<(Vec<f64>, Option<Score>)> {
        let job = &self.jobs[j];
        let point = match (&self.grid.command, &job.trial) {
            (Some(c), Some(t)) => trials::point_of(&c.axes, &t.values)?,
            _ => tpe::point_of(&self.axes, &job.config)?,
        };
        Some((point, self.score(j, view)))
    }

    /// An asynchronous search: the configurations proposed so far (recorded with their points, by this process or
    /// another, before a stop or now) join the one asha bracket, in the order they were proposed.
    fn adopt_proposals(&mut self, view: &View) {
        let mut new: Vec<(&Proposal, &str)> = view
            .decisions
            .iter()
            .filter(|d| !self.taken.contains(&d.id))
            .filter_map(|d| Some((d.proposal.as_ref()?, d.id.as_str())))
            .collect();
        if new.is_empty() {
            return;
        }
        new.sort_by(|a, b| a.0.index.cmp(&b.0.index).then(a.1.cmp(b.1)));
        for (proposal, id) in new {
            let point: Vec<f64> = proposal.point.iter().map(|&b| f64::from_bits(b)).collect();
            // (Another grid's proposal cannot be here: the results directory belongs to one sweep.)
            let Some(job) = self.job_at(&point, self.jobs.len()).filter(|job| job.id == id) else {
                if self.taken.insert(id.to_string()) {
                    tracing::warn!("a recorded proposal ({id}) is not a configuration of this grid (were its axes edited?); skipped");
                }
                continue;
            };
            self.taken.insert(job.id.clone());
            self.schedule.brackets[0].jobs.push(self.jobs.len());
            self.bracket_of.push(0);
            self.batch_of.push(0);
            self.jobs.push(Arc::new(job));
        }
    }

    /// Epochs an asynchronous search has started: every proposal's first rung and every promotion's rung.
    fn committed_epochs(&self, view: &View) -> f64 {
        let ladder = &self.ladder;
        let first = ladder.first().copied().unwrap_or(0.0);
        let promoted: f64 = view
            .decisions
            .iter()
            .filter(|d| d.proposal.is_none() && d.rung > 0 && d.rung < ladder.len() && self.taken.contains(&d.id))
            .map(|d| ladder[d.rung] - ladder[d.rung - 1])
            .sum();
        self.jobs.len() as f64 * first + promoted
    }

    /// The poll of an asynchronous search (`[search] asynchronous = true`): asha's units over every configuration
    /// proposed so far (recorded promotions, new promotions, proposals to start again after a stop), then one new
    /// proposal per idle worker, each from every trial recorded (the ones started and not recorded yet counted as
    /// bad, Optuna's constant liar). With a budget, a new unit starts only if the epochs started so far and its own
    /// fit in it. Proposals and promotions are recorded as they start ([`Poll::decide`]), so a resumed sweep has the
    /// same jobs and carries out the same promotions.
    fn poll_async(&mut self, view: &View) -> Poll {
        self.adopt_proposals(view);
        let mut poll = self.poll_brackets(view);
        let budget = self.grid.search.budget.map_or(f64::INFINITY, |b| b as f64 + 1e-9);
        let mut committed = self.committed_epochs(view);
        let cost = self.jobs.first().map_or(1000, |j| (self.epoch_cost)(j));
        // Promotions decided now start only if they fit (those decided before are committed already).
        let mut kept = Vec::with_capacity(poll.units.len());
        for unit in std::mem::take(&mut poll.units) {
            let key = Decision::of(unit.job.id.clone(), unit.rung.unwrap_or(0));
            if poll.decide.contains(&key) {
                let epochs = unit.to - unit.from;
                if committed + epochs > budget {
                    poll.decide.remove(&key);
                    continue;
                }
                committed += epochs;
            }
            kept.push(unit);
        }
        poll.units = kept;
        // New proposals, one per idle worker (the runner takes the units in order: the ones above come first).
        let first = self.ladder.first().copied().unwrap_or(0.0);
        // (The promotions decided now start before any proposal; other units may be running already.)
        let mut n = view
            .idle
            .saturating_sub(poll.decide.len())
            .min(self.samples.saturating_sub(self.jobs.len()));
        if budget.is_finite() && first > 0.0 {
            n = n.min(((budget - committed) / first).floor().max(0.0) as usize);
        }
        let mut proposed = 0;
        if n > 0 && !self.exhausted {
            let mut observations = Vec::new();
            let mut pending = Vec::new();
            for j in 0..self.jobs.len() {
                match self.observation(j, view) {
                    Some((point, Some(score))) => observations.push(Observation {
                        point,
                        score,
                        objectives: self.objectives(j, view),
                    }),
                    Some((point, None)) => pending.push(Observation {
                        point,
                        score: Score::Failed,
                        objectives: Vec::new(),
                    }),
                    None => {}
                }
            }
            // As Optuna: at random until `startup` trials are recorded; then the running ones count as bad ones.
            if observations.len() >= tpe::OPTUNA5.startup {
                observations.extend(pending);
            }
            let index = self.jobs.len();
            let points = self.sample(&observations, n, index as u64);
            // (n is at most the samples left, so fewer points than asked means the space ran out.)
            self.exhausted = points.len() < n;
            let last = self.ladder.len() <= 1;
            for (i, point) in points.into_iter().enumerate() {
                let Some(job) = self.job_at(&point, index + i) else { continue };
                let decision = Decision {
                    id: job.id.clone(),
                    rung: 0,
                    proposal: Some(Proposal {
                        index: index + i,
                        point: point.iter().map(|x| x.to_bits()).collect(),
                    }),
                };
                poll.decide.insert(decision);
                poll.units.push(Unit {
                    job: Arc::new(job),
                    bracket: 0,
                    rung: Some(0),
                    from: 0.0,
                    to: first,
                    last,
                    seconds_before: 0.0,
                });
                proposed += 1;
            }
        }
        let can_propose = !self.exhausted && self.jobs.len() < self.samples && (!budget.is_finite() || committed + first <= budget);
        // Done when nothing runs, fits or can be proposed: the jobs that stopped below the last rung were pruned
        // there (asha's own prunes are only final when no proposal can follow).
        poll.done = poll.units.is_empty() && !(can_propose && view.idle == 0);
        poll.prune = match poll.done {
            true => self.unfinished(view),
            false => Vec::new(),
        };
        let left = match budget.is_finite() {
            true => (budget - committed).max(0.0),
            false => (self.samples.saturating_sub(self.jobs.len() + proposed)) as f64 * first,
        };
        poll.work_left += (left * cost as f64) as u64;
        poll.label = format!("asynchronous, {} trials proposed", self.jobs.len());
        poll
    }

    /// Jobs with a rung's record and no final row, with their highest rung recorded: pruned there.
    fn unfinished(&self, view: &View) -> Vec<(String, usize)> {
        let last = self.ladder.len().saturating_sub(1);
        self.jobs
            .iter()
            .filter(|job| !view.finals.contains_key(&job.id))
            .filter_map(|job| {
                Some((
                    job.id.clone(),
                    (0..last).rev().find(|&k| view.rungs.contains_key(&(k, job.id.clone())))?,
                ))
            })
            .collect()
    }

    /// The fidelity scheduler's poll over the brackets so far.
    fn poll_brackets(&self, view: &View) -> Poll {
        let work = Work {
            jobs: &self.jobs,
            schedule: &self.schedule,
            seed: self.grid.seed,
            epoch_cost: &*self.epoch_cost,
        };
        self.grid.search.fidelity().poll(&work, view)
    }
}

impl Scheduler for Driver<'_> {
    fn jobs(&self) -> &[Arc<Job>] {
        &self.jobs
    }

    fn reads_every_poll(&self) -> bool {
        self.grid.search.asynchronous
    }

    fn poll(&mut self, view: &View) -> Poll {
        if !self.grid.search.is_adaptive() {
            return self.poll_brackets(view);
        }
        if self.grid.search.asynchronous {
            return self.poll_async(view);
        }
        loop {
            let mut poll = self.poll_brackets(view);
            // With `pipeline = K`, the next batch starts while the K - 1 before it run, once the one K before it is
            // recorded (every job's final row), so more units can run at once; which batches is fixed by the grid.
            if !poll.done && !self.in_finals && self.may_pipeline(view) && self.propose(view) {
                continue;
            }
            if !poll.done {
                let of = self.samples.div_ceil(self.grid.search.batch);
                let what = match self.in_finals {
                    true => format!("{} finalists", self.grid.search.finalists),
                    false => format!("batch {} of {of}", self.batches),
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
