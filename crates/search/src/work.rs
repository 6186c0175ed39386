//! The vocabulary between a search and the runner: a [`Unit`] of work (a job trained from one budget to the next), the
//! recorded rows a scheduler reads ([`View`]), and its answer ([`Poll`]). Samplers and fidelity schedulers speak it;
//! the runner only carries units out and records them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sweep_params::Job;
use sweep_params::{Decision, JobStatus};

use super::decide::Records;
use super::schedule::Schedule;

/// One unit of work: train `job` from `from` epochs to `to`, in rung `rung` of bracket `bracket`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub job: Arc<Job>,
    pub bracket: usize,
    /// The rung of successive halving or Hyperband; `None` in a plain sweep (the job trains once, to its epochs).
    pub rung: Option<usize>,
    /// Epochs the job has when the unit starts (as its last record says), and the budget it trains to; fractional
    /// ones end mid-epoch.
    pub from: f64,
    pub to: f64,
    /// `to` is the job's last budget: reaching it finishes the job.
    pub last: bool,
    /// Training seconds the job spent before this unit (in its earlier rungs).
    pub seconds_before: f64,
}

impl Unit {
    /// The name of the unit's claim: the job's id, or `<id>-r<rung>` when jobs go through rungs.
    pub fn key(&self) -> String {
        match self.rung {
            Some(r) => format!("{}-r{r}", self.job.id),
            None => self.job.id.clone(),
        }
    }
}

/// What the search reads of a recorded row: how the job ended (or that it reached a rung), where, and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: JobStatus,
    /// The rung (0-based) of its bracket the row records; `None` in a plain sweep.
    pub rung: Option<usize>,
    /// The best validation accuracy it reached, or a command trial's objective at its best, negated when it is
    /// minimized: higher is better; `None` when there is none.
    pub score: Option<f64>,
    /// A multi-objective sweep's values, each as a score where higher is better (the first is `score`), compared by
    /// Pareto dominance ([`crate::pareto`]); empty with one objective, or when the row lacks one.
    pub objectives: Vec<f64>,
    /// Epochs trained (fractional when a rung ended mid-epoch).
    pub epochs_run: f64,
    /// Training seconds so far.
    pub seconds: f64,
}

/// The rows recorded so far, by every process: final rows by id, rung records by (rung, id), and the promotions
/// decided by an asynchronous search.
pub struct View<'a> {
    pub finals: &'a HashMap<String, Outcome>,
    pub rungs: &'a HashMap<(usize, String), Outcome>,
    pub decisions: &'a HashSet<Decision>,
    /// Workers of this process free to start a unit now: how many new configurations an asynchronous sampler
    /// proposes beyond the units already waiting.
    pub idle: usize,
}

impl View<'_> {
    pub(crate) fn records(&self) -> Records<'_> {
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
    /// Jobs the decisions prune that have no final row yet, with the rung they stopped in: their `pruned` row is
    /// that rung's record.
    pub prune: Vec<(String, usize)>,
    /// Per rung being run: its finished jobs' ids best first, and how many of the rung's jobs go on.
    pub ranked: Vec<(Vec<String>, usize)>,
    /// Nothing is left to run.
    pub done: bool,
    /// What is running, for the progress bar (`rung 2/3 (168 jobs)`; empty for a plain sweep).
    pub label: String,
    /// Work not yet done by the units above and everything planned after them (relative, as the backend's cost).
    pub work_left: u64,
    /// The units must start in this order (the backend may group neighbours but not reorder them).
    pub ordered: bool,
    /// Promotions among `units` that are decided now: each is recorded durably before its unit starts.
    pub decide: HashSet<Decision>,
}

/// What a fidelity scheduler decides over: the jobs known so far, their brackets, the sweep seed and the work of one
/// epoch of a job (the backend's cost model, for the order of the work and the progress bar).
pub struct Work<'a> {
    pub jobs: &'a [Arc<Job>],
    pub schedule: &'a Schedule,
    pub seed: u64,
    pub epoch_cost: &'a dyn Fn(&Job) -> u64,
}

impl Work<'_> {
    /// The work of a unit: its epochs times one epoch's cost.
    pub fn of(&self, unit: &Unit) -> u64 {
        ((self.epoch_cost)(&unit.job) as f64 * (unit.to - unit.from).max(0.0)) as u64
    }
}
