//! The built-in backend: the two-layer network of `sweep_core`, each job alone or several fused in one pass, each
//! from its saved training state when it has one. The rule for states lives here once: after every epoch that is not
//! the job's very last, its state is saved ([`States`]), so a killed job continues from its last epoch and a
//! promoted one from the end of its rung.

use sweep_core::checkpoint::ModelMeta;
use sweep_core::cost::Shape;
use sweep_core::fused::{worth_fusing, FuseKey, FusedTrainer};
use sweep_core::train::{Control, EpochRecord, Observer, PointRecord, Trainer};
use sweep_core::{Dataset, Model, Status, TrainState};

use super::states::States;
use super::trial::{Backend, Ended, Record, Unit, Watch};
use sweep_core::{Init, TwoLayerNet};
use sweep_grid::command::Objective;
use sweep_grid::grid::Job;
use sweep_results::format::{history_csv, Measures, Row};
use sweep_results::ResultsError;
use sweep_search::round12;

/// Validation images a multi-objective sweep times the scoring of (`predict_s`).
const PREDICT_BATCH: usize = 500;

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
    /// A multi-objective sweep's objectives (`objectives`): its rows get the measures they name.
    objectives: Vec<Objective>,
}

impl<'d> Network<'d> {
    pub fn new(data: &'d Dataset, states: States, fuse: usize, workers: usize) -> Self {
        Network {
            data,
            states,
            fuse: fuse.max(1),
            workers: workers.max(1),
            objectives: Vec::new(),
        }
    }

    /// Measures `objectives` (when there are several) for every row.
    pub fn with_objectives(mut self, objectives: &[Objective]) -> Self {
        if objectives.len() > 1 {
            self.objectives = objectives.to_vec();
        }
        self
    }

    /// A multi-objective row's measures: the parameter count, and the seconds to score one image, timed the same way
    /// for every job (a network of its shape scoring a batch of validation images, the median of three timings).
    fn measures(&self, job: &Job) -> Option<Box<Measures>> {
        if self.objectives.is_empty() {
            return None;
        }
        let shape = job_shape(job, self.data);
        let params = (shape.input * shape.hidden + shape.hidden + shape.hidden * shape.classes + shape.classes) as f64;
        let wants = |m: &str| self.objectives.iter().any(|o| o.metric == m);
        let predict_s = wants("predict_s").then(|| {
            let n = self.data.x_val.nrows().min(PREDICT_BATCH);
            let mut rng = sweep_core::rng::rng_for(0, "predict-timing");
            let net = TwoLayerNet::<f32>::new(shape.input, shape.hidden, shape.classes, Init::Std(1e-3), &mut rng);
            let x = self.data.x_val.slice(ndarray::s![..n, ..]);
            let mut times: Vec<f64> = (0..3)
                .map(|_| {
                    let t = std::time::Instant::now();
                    std::hint::black_box(net.predict(x));
                    t.elapsed().as_secs_f64() / n.max(1) as f64
                })
                .collect();
            times.sort_by(f64::total_cmp);
            times[1]
        });
        Some(Box::new(Measures {
            objectives: self.objectives.clone(),
            params: wants("params").then_some(params),
            predict_s,
            pareto_rank: None,
        }))
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
            .filter(|s| s.config == *job.config && s.epochs_run() <= unit.to && s.status != Status::Diverged);
        match saved.map(|s| Trainer::resume(s, self.data.train_data())) {
            Some(Ok(t)) => return Ok(t),
            Some(Err(e)) => tracing::warn!(
                "job {}: its saved state does not fit ({}); it retrains from the start",
                job.id,
                sweep_params::text::chain(&e)
            ),
            None => {}
        }
        Trainer::new(&job.config, self.data.train_data()).map_err(|e| sweep_params::text::chain(&e))
    }

    /// What is recorded of a unit that trained: the row (with the job's whole training time, and, for a rung that
    /// ended mid-epoch, the point evaluated there), the curves, and (finished normally) the best model.
    fn record(&self, job: &Job, state: &TrainState, point: Option<&PointRecord>) -> Record {
        let outcome = state.outcome();
        let mut row = Row::new(job, &outcome, outcome.seconds);
        row.measures = self.measures(job);
        // Trained so far, fractional mid-epoch; a diverged job keeps the epochs it completed before the step that
        // diverged, as rows always said.
        if outcome.status != Status::Diverged {
            row.epochs_run = round12(state.epochs_run());
        }
        // The best model: the best epoch's, or the network as it is when the point evaluated mid-epoch beats it
        // (a rung that ends inside an epoch; its model is what a multi-objective sweep keeps of a pruned job).
        let mut best_net = outcome.best_net;
        let mut best_val = outcome.best_val_acc;
        if let Some(p) = point {
            if row.best_val_acc.is_none_or(|best| p.val_acc > best) {
                row.best_val_acc = Some(p.val_acc);
                row.train_acc = Some(p.train_acc);
                row.best_epoch = Some(round12(p.epoch));
                best_net = Some(state.net.clone());
                best_val = p.val_acc;
            }
        }
        let history = Some(history_csv(&outcome.history.epochs, &outcome.history.iter_loss));
        let model = match (outcome.status, best_net) {
            (Status::Completed, Some(net)) => Some(Model {
                net,
                mean: self.data.mean.clone(),
                meta: ModelMeta {
                    hyperparameters: (*job.config).clone(),
                    class_names: self.data.class_names.clone(),
                    input_shape: self.data.input_shape.clone(),
                    val_accuracy: best_val,
                    data_split: self.data.spec.clone(),
                },
            }),
            _ => None,
        };
        Record { row, history, model }
    }

    /// How a unit that trained to its budget (or diverged) ended. A budget inside an epoch is evaluated there: the
    /// rung's decision needs its validation accuracy.
    fn ended(&self, unit: &Unit, trainer: &Trainer, status: Status, watch: &dyn Watch) -> Ended {
        let point = (status != Status::Diverged && trainer.iterations_done() % trainer.iterations_per_epoch() != 0).then(|| {
            let p = trainer.evaluate_now();
            watch.point(unit, round12(p.epoch), &metrics(p.val_acc, p.train_acc, p.loss, p.lr));
            p
        });
        let record = self.record(&unit.job, trainer.state(), point.as_ref());
        match status {
            Status::Diverged => Ended::Diverged(record),
            _ if unit.last => Ended::Finished(record),
            _ => Ended::Rung(record),
        }
    }

    /// After a stretch of training that ended at `iterations`: the state is saved unless the job just finished. A
    /// state that cannot be written (a full disk, a path that is not a file) is not the job's fault: the unit ends as
    /// [`Ended::Error`], nothing is recorded, and the rerun resumes it.
    fn after(&self, unit: &Unit, trainer: &Trainer, target: usize) -> Result<(), ResultsError> {
        if unit.last && trainer.iterations_done() >= target {
            return Ok(());
        }
        self.states.save(&unit.job.id, trainer.state())
    }

    /// A unit stopped from outside: its state is saved, so that the rerun continues from here.
    fn stopped(&self, unit: &Unit, trainer: &Trainer) -> Ended {
        match self.states.save(&unit.job.id, trainer.state()) {
            Ok(()) => Ended::Stopped,
            Err(e) => Ended::Error(e),
        }
    }

    /// The next point to stop at: the end of the current epoch, or the budget if it comes first.
    fn next_stop(trainer: &Trainer, target: usize) -> usize {
        let per = trainer.iterations_per_epoch();
        ((trainer.iterations_done() / per + 1) * per).min(target)
    }

    /// One unit by itself, epoch by epoch (saving its state after each), to its budget.
    fn alone(&self, unit: &Unit, mut trainer: Trainer<'d>, watch: &dyn Watch) -> Ended {
        trainer.set_parallel(self.workers);
        let target = trainer.iterations_for(unit.to);
        let mut obs = JobObserver { watch, unit };
        let status = loop {
            if trainer.iterations_done() >= target {
                break Status::Completed;
            }
            match trainer.run_until(Self::next_stop(&trainer, target), &mut obs) {
                Status::Completed => {
                    if let Err(e) = self.after(unit, &trainer, target) {
                        return Ended::Error(e);
                    }
                }
                Status::Stopped => return self.stopped(unit, &trainer),
                Status::Diverged => break Status::Diverged,
            }
        };
        self.ended(unit, &trainer, status, watch)
    }

    /// Units at the same point with the same minibatches and hidden size, trained together, epoch by epoch.
    fn fused(&self, units: &[&Unit], trainers: Vec<Trainer<'d>>, watch: &dyn Watch) -> Vec<Ended> {
        let n = units.len();
        let mut fused = match FusedTrainer::new(trainers) {
            Ok(f) => f,
            Err(e) => {
                return units
                    .iter()
                    .map(|_| Ended::Panicked(format!("cannot train together: {}", sweep_params::text::chain(&e))))
                    .collect()
            }
        };
        fused.set_parallel(self.workers);
        let mut ended: Vec<Option<Ended>> = (0..n).map(|_| None).collect();
        let mut observers: Vec<JobObserver> = units.iter().map(|u| JobObserver { watch, unit: u }).collect();
        let target = fused.members()[0].iterations_for(units[0].to);
        loop {
            let open: Vec<usize> = (0..n).filter(|&i| ended[i].is_none()).collect();
            let Some(&first) = open.first() else { break };
            if fused.members()[first].iterations_done() >= target {
                for &i in &open {
                    ended[i] = Some(self.ended(units[i], &fused.members()[i], Status::Completed, watch));
                }
                break;
            }
            let stop = Self::next_stop(&fused.members()[first], target);
            let mut obs: Vec<&mut dyn Observer> = observers.iter_mut().map(|o| o as &mut dyn Observer).collect();
            let statuses = fused.run_until(stop, &mut obs);
            for &i in &open {
                let member = &fused.members()[i];
                ended[i] = match statuses[i] {
                    Status::Completed => self.after(units[i], member, target).err().map(Ended::Error),
                    Status::Stopped => Some(self.stopped(units[i], member)),
                    Status::Diverged => Some(self.ended(units[i], member, Status::Diverged, watch)),
                };
            }
        }
        ended.into_iter().map(|e| e.unwrap_or(Ended::Stopped)).collect()
    }
}

/// The metrics of an evaluated point, as the progress log writes them.
fn metrics(val_acc: f64, train_acc: f64, loss: f64, lr: f64) -> [(&'static str, f64); 4] {
    [("val_acc", val_acc), ("train_acc", train_acc), ("loss", loss), ("lr", lr)]
}

impl Backend for Network<'_> {
    fn cost(&self, unit: &Unit) -> u64 {
        (self.epoch_cost(&unit.job) as f64 * (unit.to - unit.from).max(0.01)) as u64
    }

    /// Units next to each other (after ordering most work first, units that can train together side by side) with the
    /// same [`FuseKey`] (the same minibatches and hidden size; only jobs [`worth_fusing`]), start and target, at most
    /// `fuse` per group, split finer when that leaves workers idle (a run of n such units makes groups of
    /// `ceil(n / workers)`).
    fn groups(&self, mut units: Vec<Unit>, workers: usize, ordered: bool) -> Vec<Vec<Unit>> {
        let key = |u: &Unit| (FuseKey::of(&u.job.config), u.from.to_bits(), u.to.to_bits());
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
        let mut trainers: Vec<Option<Trainer>> = Vec::with_capacity(group.len());
        let mut ended: Vec<Option<Ended>> = (0..group.len()).map(|_| None).collect();
        for (i, unit) in group.iter().enumerate() {
            match self.load_trainer(unit) {
                Ok(t) => {
                    let start = t.state().epochs_done();
                    if t.state().epochs_run() > unit.from || t.state().next_iteration > 0 {
                        tracing::info!(
                            "job {} continues from epoch {start} (iteration {}) of its saved state",
                            unit.job.id,
                            t.state().next_iteration
                        );
                    }
                    watch.started(unit, round12(t.state().epochs_run()));
                    trainers.push(Some(t));
                }
                Err(reason) => {
                    tracing::error!("job {}: cannot start training: {reason}", unit.job.id);
                    let mut row = Row::failed(&unit.job, unit.seconds_before);
                    row.epochs_run = unit.from;
                    ended[i] = Some(Ended::Failed {
                        reason,
                        record: Record {
                            row,
                            history: None,
                            model: None,
                        },
                    });
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
                vec![self.alone(units[0], together.remove(0), watch)]
            } else {
                self.fused(&units, together, watch)
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
        // With several objectives a rung's order among its finished jobs can still change (crowding distance), so a
        // job ranked out now may go on: its state stays until the rung is decided (then `forget` drops it).
        let skip = if self.objectives.is_empty() { keep } else { ranked.len() };
        for id in ranked.iter().skip(skip) {
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
        self.watch
            .point(self.unit, r.epoch as f64, &metrics(r.val_acc, r.train_acc, r.loss, r.lr));
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
            }
            .check()
            .unwrap(),
            trial: None,
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
                    from: 0.0,
                    to: 3.0,
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
