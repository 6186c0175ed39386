//! The trial seam: what the runner asks of a backend — advance these units of work to their budgets, reporting each
//! evaluated point, stopping when told, keeping each job's state — and the one answer it gets back per unit,
//! [`Ended`]. The built-in network ([`super::builtin`], alone and fused) is one backend; the runner's unit tests
//! have a fake one; a user's training program is another.

pub use sweep_search::work::Unit;

pub use sweep_results::record::Record;
use sweep_results::ResultsError;

/// How a unit of work ended: the one answer of [`Backend::advance`].
#[derive(Debug)]
pub enum Ended {
    /// Reached the job's last budget.
    Finished(Record),
    /// Reached the budget of a rung that is not its last; its state is kept, so a promotion continues from there.
    Rung(Record),
    /// The loss went to infinity (or far above its start); the job is over.
    Diverged(Record),
    /// The trial failed (a program's non-zero exit, an unreadable state, ...); the job is over.
    Failed { reason: String, record: Record },
    /// Stopped from outside (Ctrl-C, SIGTERM, a Slurm warning) before its budget: its state is saved, nothing recorded.
    Stopped,
    /// The backend panicked while training the unit; the job is recorded as failed and the sweep goes on.
    Panicked(String),
    /// sweep itself could not carry out the unit (a training state could not be saved, a disk is full, a command
    /// trial's folder could not be written, its shepherd process could not start): nothing is recorded, since the
    /// trial is not to blame, and the sweep stops with this error; a rerun resumes the unit.
    Error(ResultsError),
}

/// What a backend tells the runner while it trains, and asks it.
pub trait Watch: Sync {
    /// Whether to stop now (checked at every step): the unit then ends as [`Ended::Stopped`].
    fn stopping(&self) -> bool;
    /// The unit starts training at `epochs` (its saved state's; below `unit.from` when a dropped state retrains).
    fn started(&self, unit: &Unit, epochs: f64);
    /// As [`Watch::started`], for a command trial's run given these GPUs (its `CUDA_VISIBLE_DEVICES`).
    fn started_on(&self, unit: &Unit, epochs: f64, gpus: Option<&str>) {
        let _ = gpus;
        self.started(unit, epochs);
    }
    /// A point was evaluated after `epoch` epochs, with these metrics (the built-in network: `val_acc`, `train_acc`,
    /// `loss`, `lr`; a command trial: whatever its program reports).
    fn point(&self, unit: &Unit, epoch: f64, metrics: &[(&str, f64)]);
}

/// A kind of trial. Implementations must be usable from several worker threads at once.
pub trait Backend: Sync {
    /// The work of training `unit` (relative: for the order of the work, largest first, and the progress bar).
    fn cost(&self, unit: &Unit) -> u64;

    /// What a running unit's progress bar says of a point's metrics (`val 51.23 %` for the built-in network).
    fn point_text(&self, metrics: &[(&str, f64)]) -> Option<String> {
        let val = metrics.iter().find(|(k, _)| *k == "val_acc")?.1;
        Some(format!("val {:.2} %", 100.0 * val))
    }

    /// The units of a stage in groups that advance together, each unit in exactly one group, in the order they should
    /// start (the backend may put the most work first unless `ordered`: then it keeps the order given); `workers` is
    /// how many groups can run at once. The default: each unit alone, in the order given.
    fn groups(&self, units: Vec<Unit>, _workers: usize, _ordered: bool) -> Vec<Vec<Unit>> {
        units.into_iter().map(|u| vec![u]).collect()
    }

    /// Advances each unit of `group` to its budget, reporting through `watch`; one [`Ended`] per unit, in order.
    fn advance(&self, group: &[Unit], watch: &dyn Watch) -> Vec<Ended>;

    /// The job will not train again (recorded, or pruned): forget its saved state.
    fn forget(&self, id: &str);

    /// The finished jobs of a rung, best first, of which the first `keep` may go on: the backend may drop what it
    /// keeps for the others (their states), and more to stay within its budget (a dropped job retrains if promoted).
    fn rung_ranked(&self, _ranked: &[&str], _keep: usize) {}

    /// This process is done: drop what is kept for jobs that `recorded` says are recorded. Returns the most bytes of
    /// saved states the backend held at once.
    fn close(&self, _recorded: &dyn Fn(&str) -> bool) -> u64 {
        0
    }
}
