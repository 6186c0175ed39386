//! The built-in backend: the two-layer network of `sweep_core`, each job alone or several fused in one pass, each
//! from its saved training state when it has one. The rule for states lives here once: after every epoch that is not
//! the job's very last, its state is saved ([`States`]), so a killed job continues from its last epoch and a
//! promoted one from the end of its rung.

use std::time::Instant;

use sweep_core::checkpoint::ModelMeta;
use sweep_core::cost::Shape;
use sweep_core::fused::{worth_fusing, FuseKey, FusedTrainer};
use sweep_core::train::{Control, EpochRecord, Observer, TrainOutcome, Trainer};
use sweep_core::{Dataset, Model, Status};

use super::states::States;
use super::trial::{Backend, Ended, Record, Unit, Watch};
use crate::config::grid::Job;
use crate::results::format::{history_csv, Row};

/// The sizes that decide a job's work on these data.
pub fn job_shape(job: &Job, data: &Dataset) -> Shape {
    Shape {
        n_train: data.x_train.nrows(),
        n_val: data.x_val.nrows(),
        input: data.input_size(),
        hidden: job.config.hidden_size,
        classes: data.class_names.len(),
        batch: job.config.batch_size,
    }
}

/// The network on one shared copy of the data.
pub struct Network<'d> {
    data: &'d Dataset,
    states: States,
    /// Jobs trained together at most.
    fuse: usize,
    /// Workers that may save a state at once (room kept free within the state budget).
    workers: usize,
}

impl<'d> Network<'d> {
    pub fn new(data: &'d Dataset, states: States, fuse: usize, workers: usize) -> Self {
        Network {
            data,
            states,
            fuse: fuse.max(1),
            workers: workers.max(1),
        }
    }

    /// Work of one epoch of a job, in kFLOP (the cost model).
    fn epoch_cost(&self, job: &Job) -> u64 {
        job_shape(job, self.data).epoch_flops() / 1_000
    }

    /// A unit's trainer: from its saved state, or from the start.
    fn load_trainer(&self, unit: &Unit) -> Result<Trainer<'d>, String> {
        let job = &unit.job;
        let saved = self
            .states
            .load(&job.id)
            .filter(|s| s.config == job.config && s.epochs_done() <= unit.to && s.status != Status::Diverged);
        match saved.map(|s| Trainer::resume(s, self.data.train_data())) {
            Some(Ok(t)) => return Ok(t),
            Some(Err(e)) => tracing::warn!("job {}: its saved state does not fit ({e}); it retrains from the start", job.id),
            None => {}
        }
        let cfg = job.config.clone().check().map_err(|e| e.to_string())?;
        Trainer::new(&cfg, self.data.train_data()).map_err(|e| e.to_string())
    }

    /// What is recorded of a unit that trained: the row, the curves, and (finished normally) the best model.
    fn record(&self, job: &Job, outcome: TrainOutcome, seconds: f64) -> Record {
        let row = Row::new(job, &outcome, seconds);
        let history = Some(history_csv(&outcome.history.epochs, &outcome.history.iter_loss));
        let model = match (outcome.status, outcome.best_net) {
            (Status::Completed, Some(net)) => Some(Model {
                net,
                mean: self.data.mean.clone(),
                meta: ModelMeta {
                    hyperparameters: job.config.clone(),
                    class_names: self.data.class_names.clone(),
                    input_shape: self.data.input_shape.clone(),
                    val_accuracy: outcome.best_val_acc,
                    data_split: self.data.spec.clone(),
                },
            }),
            _ => None,
        };
        Record { row, history, model }
    }

    /// How a unit that trained ended, from the status of its last run.
    fn ended(&self, unit: &Unit, status: Status, outcome: TrainOutcome, seconds: f64) -> Ended {
        let record = self.record(&unit.job, outcome, seconds);
        match status {
            Status::Diverged => Ended::Diverged(record),
            _ if unit.last => Ended::Finished(record),
            _ => Ended::Rung(record),
        }
    }

    /// After an epoch of a unit: its state is saved unless that epoch was the job's very last.
    fn after_epoch(&self, unit: &Unit, trainer: &Trainer) -> Result<(), String> {
        if unit.last && trainer.state().epochs_done() >= unit.to {
            return Ok(());
        }
        self.states.save(&unit.job.id, trainer.state()).map_err(|e| format!("{e:#}"))
    }

    /// One unit by itself.
    fn alone(&self, unit: &Unit, mut trainer: Trainer<'d>, watch: &dyn Watch, started: Instant) -> Ended {
        let mut obs = JobObserver { watch, unit };
        let status = loop {
            let done = trainer.state().epochs_done();
            if done >= unit.to {
                break Status::Completed;
            }
            match trainer.run_to(done + 1, &mut obs) {
                Status::Completed => {
                    if let Err(reason) = self.after_epoch(unit, &trainer) {
                        return self.failed(unit, reason, trainer.into_state().into_outcome(), started);
                    }
                }
                Status::Stopped => {
                    return match self.states.save(&unit.job.id, trainer.state()) {
                        Ok(()) => Ended::Stopped,
                        Err(e) => self.failed(unit, format!("{e:#}"), trainer.into_state().into_outcome(), started),
                    };
                }
                Status::Diverged => break Status::Diverged,
            }
        };
        let seconds = unit.seconds_before + started.elapsed().as_secs_f64();
        self.ended(unit, status, trainer.into_state().into_outcome(), seconds)
    }

    /// Units at the same point with the same minibatches and hidden size, trained together, epoch by epoch.
    fn fused(&self, units: &[&Unit], trainers: Vec<Trainer<'d>>, watch: &dyn Watch, started: Instant) -> Vec<Ended> {
        let n = units.len();
        let mut fused = match FusedTrainer::new(trainers) {
            Ok(f) => f,
            Err(e) => {
                return units
                    .iter()
                    .map(|_| Ended::Panicked(format!("cannot train together: {e}")))
                    .collect()
            }
        };
        let mut ended: Vec<Option<Ended>> = (0..n).map(|_| None).collect();
        let mut observers: Vec<JobObserver> = units.iter().map(|u| JobObserver { watch, unit: u }).collect();
        let target = units[0].to;
        // Jobs trained together share the time they took.
        let seconds = |u: &Unit| u.seconds_before + started.elapsed().as_secs_f64() / n as f64;
        loop {
            let open: Vec<usize> = (0..n).filter(|&i| ended[i].is_none()).collect();
            let Some(&first) = open.first() else { break };
            if fused.members()[first].state().epochs_done() >= target {
                for &i in &open {
                    let o = fused.members()[i].state().outcome();
                    ended[i] = Some(self.ended(units[i], Status::Completed, o, seconds(units[i])));
                }
                break;
            }
            let mut obs: Vec<&mut dyn Observer> = observers.iter_mut().map(|o| o as &mut dyn Observer).collect();
            let statuses = fused.run_epoch(&mut obs);
            for &i in &open {
                let member = &fused.members()[i];
                let outcome = || member.state().outcome();
                ended[i] = match statuses[i] {
                    Status::Completed => self
                        .after_epoch(units[i], member)
                        .err()
                        .map(|reason| self.failed(units[i], reason, outcome(), started)),
                    Status::Stopped => Some(match self.states.save(&units[i].job.id, member.state()) {
                        Ok(()) => Ended::Stopped,
                        Err(e) => self.failed(units[i], format!("{e:#}"), outcome(), started),
                    }),
                    Status::Diverged => Some(self.ended(units[i], Status::Diverged, outcome(), seconds(units[i]))),
                };
            }
        }
        ended.into_iter().map(|e| e.unwrap_or(Ended::Stopped)).collect()
    }

    fn failed(&self, unit: &Unit, reason: String, outcome: TrainOutcome, started: Instant) -> Ended {
        let record = self.record(&unit.job, outcome, unit.seconds_before + started.elapsed().as_secs_f64());
        Ended::Failed { reason, record }
    }
}

impl Backend for Network<'_> {
    fn cost(&self, unit: &Unit) -> u64 {
        self.epoch_cost(&unit.job) * unit.to.saturating_sub(unit.from).max(1) as u64
    }

    /// Units next to each other (after ordering most work first, units that can train together side by side) with the
    /// same [`FuseKey`] (the same minibatches and hidden size; only jobs [`worth_fusing`]), start and target, at most
    /// `fuse` per group, split finer when that leaves workers idle (a run of n such units makes groups of
    /// `ceil(n / workers)`).
    fn groups(&self, mut units: Vec<Unit>, workers: usize, ordered: bool) -> Vec<Vec<Unit>> {
        let key = |u: &Unit| (FuseKey::of(&u.job.config), u.from, u.to);
        if !ordered {
            units.sort_by(|a, b| {
                self.cost(b)
                    .cmp(&self.cost(a))
                    .then(key(a).cmp(&key(b)))
                    .then(a.job.index.cmp(&b.job.index))
            });
        }
        let same = |a: &Unit, b: &Unit| worth_fusing(&a.job.config) && key(a) == key(b);
        let mut groups = Vec::new();
        let mut rest = units.into_iter().peekable();
        while let Some(first) = rest.next() {
            let mut run = vec![first];
            while let Some(next) = rest.next_if(|u| same(&run[0], u)) {
                run.push(next);
            }
            let size = self.fuse.min(run.len().div_ceil(workers.max(1)).max(1));
            let mut run = run.into_iter().peekable();
            while run.peek().is_some() {
                groups.push(run.by_ref().take(size).collect());
            }
        }
        groups
    }

    /// Each unit from its saved state (or the start); units standing at the same point train together
    /// ([`FusedTrainer`]), a unit alone by itself.
    fn advance(&self, group: &[Unit], watch: &dyn Watch) -> Vec<Ended> {
        let started = Instant::now();
        let mut trainers: Vec<Option<Trainer>> = Vec::with_capacity(group.len());
        let mut ended: Vec<Option<Ended>> = (0..group.len()).map(|_| None).collect();
        for (i, unit) in group.iter().enumerate() {
            match self.load_trainer(unit) {
                Ok(t) => {
                    let start = t.state().epochs_done();
                    if start > unit.from || t.state().next_iteration > 0 {
                        tracing::info!(
                            "job {} continues from epoch {start} (iteration {}) of its saved state",
                            unit.job.id,
                            t.state().next_iteration
                        );
                    }
                    watch.started(unit, start);
                    trainers.push(Some(t));
                }
                Err(reason) => {
                    let outcome = TrainOutcome {
                        status: Status::Completed,
                        history: Default::default(),
                        best_epoch: None,
                        best_val_acc: 0.0,
                        best_net: None,
                    };
                    ended[i] = Some(self.failed(unit, reason, outcome, started));
                    trainers.push(None);
                }
            }
        }
        for i in 0..group.len() {
            let Some(t) = &trainers[i] else { continue };
            let at = (t.state().next_epoch, t.state().next_iteration);
            let members: Vec<usize> = (i..group.len())
                .filter(|&j| {
                    trainers[j]
                        .as_ref()
                        .is_some_and(|t| (t.state().next_epoch, t.state().next_iteration) == at)
                })
                .collect();
            let units: Vec<&Unit> = members.iter().map(|&j| &group[j]).collect();
            let mut together: Vec<Trainer> = members.iter().filter_map(|&j| trainers[j].take()).collect();
            let results = if together.len() == 1 {
                vec![self.alone(units[0], together.remove(0), watch, started)]
            } else {
                self.fused(&units, together, watch, started)
            };
            for (&j, r) in members.iter().zip(results) {
                ended[j] = Some(r);
            }
        }
        ended.into_iter().map(|e| e.unwrap_or(Ended::Stopped)).collect()
    }

    fn forget(&self, id: &str) {
        self.states.remove(id);
    }

    /// Drops the states of the rung's finished jobs that can no longer go on, then, while the states would leave less
    /// than a state per worker of the budget free, those of the lowest-ranked finished jobs (they would retrain if
    /// promoted). The room left is for the states the running jobs save next: a save that does not fit is skipped
    /// ([`States::save`]), so the budget holds, and the room keeps such skips for rare cases.
    fn rung_ranked(&self, ranked: &[&str], keep: usize) {
        for id in ranked.iter().skip(keep) {
            self.states.remove(id);
        }
        let room = self.states.largest().saturating_mul(self.workers as u64);
        for id in ranked.iter().take(keep).rev() {
            if self.states.total().saturating_add(room) <= self.states.limit() {
                break;
            }
            if self.states.has(id) {
                tracing::debug!("job {id}: state dropped to stay within the state disk limit; it retrains if promoted");
                self.states.remove(id);
            }
        }
    }

    fn close(&self, recorded: &dyn Fn(&str) -> bool) -> u64 {
        self.states.remove_recorded(recorded);
        self.states.peak()
    }
}

/// Passes a trainer's progress to the runner's [`Watch`].
struct JobObserver<'w, 'u> {
    watch: &'w dyn Watch,
    unit: &'u Unit,
}

impl Observer for JobObserver<'_, '_> {
    fn on_iteration(&mut self, _: usize, _: f32) -> Control {
        if self.watch.stopping() {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn on_epoch(&mut self, r: &EpochRecord) -> Control {
        self.watch.point(
            self.unit,
            r.epoch as f64,
            &[("val_acc", r.val_acc), ("train_acc", r.train_acc), ("loss", r.loss), ("lr", r.lr)],
        );
        Control::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_core::fused::FUSE_MAX_HIDDEN;
    use sweep_core::TrainConfig;

    fn job(index: usize, hidden: usize, flip: f64) -> Job {
        Job {
            index,
            id: format!("j{index}"),
            config: TrainConfig {
                hidden_size: hidden,
                flip,
                ..TrainConfig::default()
            },
        }
    }

    /// Groups of jobs with the same minibatches and hidden size, split so both workers get work, capped by --fuse;
    /// wide jobs (beyond FUSE_MAX_HIDDEN) and jobs with other augmentation alone.
    #[test]
    fn groups_share_minibatches_and_small_hidden_sizes_and_keep_every_worker_busy() {
        let jobs: Vec<Job> = (0..5)
            .map(|i| job(i, 16, 0.0))
            .chain((5..8).map(|i| job(i, 16, 0.5)))
            .chain((8..11).map(|i| job(i, FUSE_MAX_HIDDEN * 2, 0.0)))
            .collect();
        let data = sweep_core::data::toy_dataset(0, 30, 10, 10);
        let sizes = |fuse, workers| -> Vec<Vec<usize>> {
            let dir = tempfile::tempdir().unwrap();
            let net = Network::new(&data, States::open(dir.path(), u64::MAX).unwrap(), fuse, workers);
            let units: Vec<Unit> = jobs
                .iter()
                .map(|job| Unit {
                    job: std::sync::Arc::new(job.clone()),
                    bracket: 0,
                    rung: None,
                    from: 0,
                    to: 3,
                    last: true,
                    seconds_before: 0.0,
                })
                .collect();
            net.groups(units, workers, false)
                .iter()
                .map(|g| g.iter().map(|u| u.job.index).collect())
                .collect()
        };
        assert_eq!(
            sizes(8, 2),
            vec![vec![8], vec![9], vec![10], vec![0, 1, 2], vec![3, 4], vec![5, 6], vec![7]]
        );
        assert_eq!(
            sizes(2, 1),
            vec![vec![8], vec![9], vec![10], vec![0, 1], vec![2, 3], vec![4], vec![5, 6], vec![7]]
        );
        assert!(sizes(1, 2).iter().all(|g| g.len() == 1));
    }
}
