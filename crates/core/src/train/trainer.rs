//! [`Trainer`]: one job trained step by step to any budget, evaluated after every epoch, paused and continued
//! through its [`TrainState`] with results bit-identical to an uninterrupted run.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::TrainError;
use crate::linalg::Parallel;
use crate::network::{Params, TwoLayerNet, Workspace};
use crate::optim::{OptimState, Optimizer};
use crate::rng::rng_for;
use crate::train::batches::{batching, dropout_mask, epoch_order, gather_batch, train_acc_sample};
use crate::train::{
    check_data, epoch_lr, Control, EpochRecord, History, Observer, PointRecord, Status, TrainData, TrainOutcome, TrainState, ValidConfig,
};

/// A loss above this many times its starting value (or 1, if larger) counts as divergence.
pub const DIVERGENCE_FACTOR: f64 = 10.0;

/// Accuracy on the rows `idx` of `x`, evaluated in chunks of 1,000 rows without copying all of them at once; the
/// chunks go to up to `threads` threads of the current rayon pool (each chunk computed as alone, so the same counts).
fn accuracy_on(net: &TwoLayerNet<f32>, x: ArrayView2<'_, f32>, y: &[u8], idx: &[usize], threads: usize) -> f64 {
    const CHUNK: usize = 1000;
    if idx.is_empty() {
        return 0.0;
    }
    let correct = |chunk: &[usize]| {
        let pred = net.predict(x.select(Axis(0), chunk).view());
        pred.iter().zip(chunk).filter(|(p, &i)| **p == y[i] as usize).count()
    };
    let chunks = idx.len().div_ceil(CHUNK);
    let right: usize = if threads > 1 && chunks > 1 {
        idx.par_chunks(CHUNK).with_min_len(chunks.div_ceil(threads)).map(correct).sum()
    } else {
        idx.chunks(CHUNK).map(correct).sum()
    };
    right as f64 / idx.len() as f64
}

/// Trains one job to any budget of SGD steps ([`Trainer::run_until`]), evaluating it after every epoch; it can stop
/// anywhere, hand out its [`TrainState`], and be rebuilt from a state (e.g. loaded from disk) to continue, with results
/// bit-identical to an uninterrupted run.
///
/// Each epoch visits `epoch_order(shuffle_seed, epoch)` of the training set in `N / batch_size` full batches (a
/// final partial batch is dropped; a training set smaller than one batch is used whole).
pub struct Trainer<'a> {
    pub(crate) cfg: ValidConfig,
    data: TrainData<'a>,
    pub(crate) state: TrainState,
    train_sample: Vec<usize>,
    val_idx: Vec<usize>,
    batch: usize,
    iters: usize,
    pub(crate) ws: Workspace<f32>,
    xb: Array2<f32>,
    yb: Vec<u8>,
    /// The full gradient, for optimizers other than plain SGD.
    pub(crate) grads: Option<Params<f32>>,
    /// The dropout mask (B,H), when dropout is on.
    pub(crate) mask: Option<Array2<f32>>,
    /// `[C, H, W]` of the inputs when augmentation is on (else unused).
    image_shape: [usize; 3],
    /// How the big products and the evaluation use idle threads.
    pub(crate) par: Parallel,
}

impl<'a> Trainer<'a> {
    /// A fresh run: the network initialized from `cfg.seed`, nothing trained yet.
    pub fn new(cfg: &ValidConfig, data: TrainData<'a>) -> Result<Self, TrainError> {
        let (n, d) = data.x_train.dim();
        if n == 0 {
            return Err(TrainError::NoData);
        }
        let mut init_rng = rng_for(cfg.seed, "init");
        let net = TwoLayerNet::<f32>::new(d, cfg.hidden_size, data.num_classes, cfg.init, &mut init_rng);
        let state = TrainState {
            config: (**cfg).clone(),
            optim: OptimState::new(cfg.optimizer, &net.params),
            net,
            next_epoch: 1,
            next_iteration: 0,
            epoch_loss_sum: 0.0,
            lr: cfg.learning_rate,
            history: History::default(),
            best_epoch: None,
            best_val_acc: 0.0,
            best_net: None,
            start_loss: None,
            status: Status::Completed,
            n_train: n,
            n_val: data.x_val.nrows(),
            seconds: 0.0,
        };
        Self::resume(state, data)
    }

    /// Continues from `state` on the same data it was made with (checked: sizes and shapes).
    pub fn resume(state: TrainState, data: TrainData<'a>) -> Result<Self, TrainError> {
        let cfg = state.config.clone().check()?;
        let (n, d) = data.x_train.dim();
        if n == 0 {
            return Err(TrainError::NoData);
        }
        let net = &state.net;
        let mismatch = |what, state_has: String, data_has: String| Err(TrainError::Mismatch { what, state_has, data_has });
        if (net.input_size(), net.num_classes()) != (d, data.num_classes) {
            return mismatch(
                "input size and classes",
                format!("{} and {}", net.input_size(), net.num_classes()),
                format!("{d} and {}", data.num_classes),
            );
        }
        if net.hidden_size() != cfg.hidden_size {
            return Err(TrainError::HiddenSize {
                weights: net.hidden_size(),
                config: cfg.hidden_size,
            });
        }
        if (state.n_train, state.n_val) != (n, data.x_val.nrows()) {
            return mismatch(
                "training and validation images",
                format!("{} and {}", state.n_train, state.n_val),
                format!("{n} and {}", data.x_val.nrows()),
            );
        }
        (state.optim.check_fits(cfg.optimizer, &net.params)).map_err(|source| TrainError::Optimizer { source })?;
        let image_shape = check_data(&cfg, &data)?;
        let (batch, iters) = batching(cfg.batch_size, n);
        if state.next_epoch == 0 || state.next_iteration > iters {
            return Err(TrainError::Position {
                epoch: state.next_epoch,
                iteration: state.next_iteration,
                iterations: iters,
            });
        }
        Ok(Self {
            train_sample: train_acc_sample(cfg.shuffle_seed, n),
            val_idx: (0..data.x_val.nrows()).collect(),
            batch,
            iters,
            ws: Workspace::with_precision(batch, cfg.hidden_size, data.num_classes, cfg.precision),
            xb: Array2::zeros((batch, d)),
            yb: vec![0; batch],
            grads: (cfg.optimizer != Optimizer::Sgd).then(|| state.net.params.clone()),
            mask: (cfg.dropout > 0.0).then(|| Array2::zeros((batch, cfg.hidden_size))),
            image_shape,
            par: Parallel::default(),
            cfg,
            data,
            state,
        })
    }

    /// The state so far.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Hands out the state (to save it, or to resume later).
    pub fn into_state(self) -> TrainState {
        self.state
    }

    /// The result so far.
    pub fn outcome(&self) -> TrainOutcome {
        self.state.outcome()
    }

    /// SGD iterations per epoch.
    pub fn iterations_per_epoch(&self) -> usize {
        self.iters
    }

    /// SGD steps taken since the start, across epochs and resumes.
    pub fn iterations_done(&self) -> usize {
        self.state.iterations_done()
    }

    /// The steps of a budget of `epochs`, fractional ones too: see [`TrainState::iterations_for`].
    pub fn iterations_for(&self, epochs: f64) -> usize {
        self.state.iterations_for(epochs)
    }

    /// Lets this job's big matrix multiplies (the first layer's forward product and W1's update or gradient) and its
    /// evaluation use up to `threads` threads of the current rayon pool, with results bit-identical to one thread
    /// (see [`Parallel`], which also says when to turn it on). 1, the default, is one thread; it is not part of the
    /// state, so a resumed job starts at 1 again.
    pub fn set_parallel(&mut self, threads: usize) {
        self.set_parallel_with(Parallel::new(threads));
    }

    /// [`Trainer::set_parallel`] with a given splitting rule.
    pub(crate) fn set_parallel_with(&mut self, par: Parallel) {
        self.par = par;
        self.ws.set_parallel(par);
    }

    /// The threads this job's products and evaluation may use ([`Trainer::set_parallel`]).
    pub fn parallel(&self) -> usize {
        self.par.threads()
    }

    /// Rows per minibatch (`batch_size`, or the whole training set if smaller).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Trains until `last_epoch` (1-based, inclusive) is finished — also past the config's `epochs`, e.g. for
    /// successive halving — or until divergence or the observer says stop: `run_until(last_epoch *
    /// iterations_per_epoch())`.
    pub fn run_to(&mut self, last_epoch: usize, observer: &mut dyn Observer) -> Status {
        self.run_until(last_epoch * self.iters, observer)
    }

    /// Trains until `iterations` SGD steps are done in all (counted from the start of the run, across epochs and
    /// resumes), or until divergence or the observer says stop. Every epoch whose last step is taken is evaluated and
    /// recorded (and the observer told) before this returns, also when `iterations` ends exactly there; a budget
    /// inside an epoch stops after that step, mid-epoch, and a later call continues from exactly there. Returns how it
    /// ended (also kept in the state) and adds the time it took to the state's `seconds`. A diverged state does not
    /// train further; a state already at or past
    /// `iterations` trains nothing and returns `Completed`.
    pub fn run_until(&mut self, iterations: usize, observer: &mut dyn Observer) -> Status {
        if self.state.status == Status::Diverged {
            return Status::Diverged;
        }
        let started = Instant::now();
        let status = self.train_until(iterations, observer);
        self.state.status = status;
        self.state.seconds += started.elapsed().as_secs_f64();
        status
    }

    fn train_until(&mut self, iterations: usize, observer: &mut dyn Observer) -> Status {
        loop {
            let epoch = self.state.next_epoch;
            let before = (epoch - 1) * self.iters;
            if iterations <= before {
                return Status::Completed;
            }
            // This epoch's steps up to the budget (all of them if it lies beyond the epoch).
            let end = (iterations - before).min(self.iters);
            let lr = epoch_lr(&self.cfg, epoch, self.state.lr);
            if self.state.next_iteration < end {
                let order = epoch_order(self.cfg.shuffle_seed, epoch, self.data.x_train.nrows());
                for it in self.state.next_iteration..end {
                    let loss = self.step(epoch, it, lr, &order);
                    if let Some(end) = self.after_step(it, loss, observer) {
                        return end;
                    }
                }
            }
            if end < self.iters {
                return Status::Completed;
            }
            if let Some(end) = self.end_epoch(epoch, lr, observer) {
                return end;
            }
        }
    }

    /// Step `it` of `epoch` (in the epoch's `order`) at learning rate `lr`; returns its loss.
    fn step(&mut self, epoch: usize, it: usize, lr: f64, order: &[usize]) -> f32 {
        gather_batch(
            &self.cfg,
            &self.data,
            self.image_shape,
            epoch,
            it,
            order,
            &mut self.xb,
            &mut self.yb,
        );
        self.prepare_step(epoch, it);
        let st = &mut self.state;
        let mask = self.mask.as_ref().map(|m| m.view());
        let (x, y, ws) = (self.xb.view(), &self.yb, &mut self.ws);
        match &mut self.grads {
            None => st.net.sgd_step_masked(x, y, self.cfg.reg as f32, lr as f32, mask, ws).total,
            Some(g) => {
                let loss = st.net.loss_and_grads_into(x, y, self.cfg.l2_in_loss(), mask, ws, g);
                st.optim.update(self.cfg.optimizer, &self.cfg.hyper(lr), &mut st.net.params, g);
                loss.total
            }
        }
    }

    /// The current parameters evaluated as at the end of an epoch (train-sample and validation accuracy), with the
    /// epoch's learning rate and the mean loss of its steps so far, without changing anything: the point where a
    /// budget ends mid-epoch. At an epoch boundary it is the last epoch's record (the same numbers); before the
    /// first step the loss is NaN.
    pub fn evaluate_now(&self) -> PointRecord {
        let st = &self.state;
        let (lr, loss) = match (st.next_iteration, st.history.epochs.last()) {
            (0, Some(last)) => (last.lr, last.loss),
            (0, None) => (epoch_lr(&self.cfg, st.next_epoch, st.lr), f64::NAN),
            (done, _) => (epoch_lr(&self.cfg, st.next_epoch, st.lr), st.epoch_loss_sum / done as f64),
        };
        let (train_acc, val_acc) = self.accuracies();
        PointRecord {
            epoch: st.epochs_run(),
            lr,
            loss,
            train_acc,
            val_acc,
        }
    }

    /// Accuracy of the current parameters on the fixed train-accuracy sample and on the validation set.
    fn accuracies(&self) -> (f64, f64) {
        let (net, d, threads) = (&self.state.net, &self.data, self.par.threads());
        (
            accuracy_on(net, d.x_train, d.y_train, &self.train_sample, threads),
            accuracy_on(net, d.x_val, d.y_val, &self.val_idx, threads),
        )
    }
}

impl<'a> Trainer<'a> {
    /// After step `it` of the current epoch with loss `loss`: records it, checks for divergence and asks the
    /// observer. `Some` ends the run.
    pub(crate) fn after_step(&mut self, it: usize, loss: f32, observer: &mut dyn Observer) -> Option<Status> {
        let st = &mut self.state;
        st.history.iter_loss.push(loss);
        st.next_iteration = it + 1;
        let l = f64::from(loss);
        let start = *st.start_loss.get_or_insert(l);
        if !l.is_finite() || l > DIVERGENCE_FACTOR * start.max(1.0) {
            return Some(Status::Diverged);
        }
        st.epoch_loss_sum += l;
        if observer.on_iteration(st.history.iter_loss.len() - 1, loss) == Control::Stop {
            return Some(Status::Stopped);
        }
        None
    }

    /// After the last step of `epoch` (trained at `lr`): evaluates, records the epoch, keeps the best parameters,
    /// moves to the next epoch and asks the observer. `Some` ends the run.
    pub(crate) fn end_epoch(&mut self, epoch: usize, lr: f64, observer: &mut dyn Observer) -> Option<Status> {
        let (train_acc, val_acc) = self.accuracies();
        let st = &mut self.state;
        let record = EpochRecord {
            epoch,
            lr,
            loss: st.epoch_loss_sum / self.iters as f64,
            train_acc,
            val_acc,
        };
        st.history.epochs.push(record);
        if st.best_epoch.is_none() || record.val_acc > st.best_val_acc {
            st.best_epoch = Some(epoch);
            st.best_val_acc = record.val_acc;
            st.best_net = Some(st.net.clone());
        }
        st.next_epoch += 1;
        st.next_iteration = 0;
        st.epoch_loss_sum = 0.0;
        st.lr *= self.cfg.lr_decay;
        (observer.on_epoch(&record) == Control::Stop).then_some(Status::Stopped)
    }

    /// The configuration.
    pub fn config(&self) -> &ValidConfig {
        &self.cfg
    }

    /// What step `it` of `epoch` needs of this job before its first product (alone, or the shared one of a fused
    /// step): its dropout mask.
    pub(crate) fn prepare_step(&mut self, epoch: usize, it: usize) {
        if let Some(m) = &mut self.mask {
            dropout_mask(self.cfg.seed, epoch, it, self.cfg.dropout, m);
        }
    }

    /// The training set size, the epoch's iterations, the batch size and the image shape, for fused training.
    pub(crate) fn fused_shape(&self) -> (usize, usize, usize, [usize; 3]) {
        (self.data.x_train.nrows(), self.iters, self.batch, self.image_shape)
    }

    /// The data this job trains on.
    pub(crate) fn data(&self) -> TrainData<'a> {
        self.data
    }

    /// Marks how the last run ended, as [`Trainer::run_until`] does.
    pub(crate) fn set_status(&mut self, status: Status) {
        self.state.status = status;
    }
}

/// Trains a fresh network on `data` with `cfg` straight through its `epochs`. Same config (seeds included) and data
/// give bit-identical results. See [`Trainer`] to pause and continue.
///
/// # Panics
/// If [`Trainer::new`] refuses the data (an empty training set).
pub fn train(cfg: &ValidConfig, data: TrainData<'_>, observer: &mut dyn Observer) -> TrainOutcome {
    let mut trainer = match Trainer::new(cfg, data) {
        Ok(t) => t,
        Err(e) => panic!("cannot train: {e}"),
    };
    trainer.run_to(cfg.epochs, observer);
    trainer.into_state().into_outcome()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::toy_dataset;
    use crate::train::testing::{cfg, featured, inputs, split, timeless, IMAGE, OPTIMIZER_LRS};
    use crate::train::{LrSchedule, Quiet, TrainConfig};

    #[test]
    fn toy_problem_with_report_shapes_trains_below_one() {
        // The report's toy setup: D=4, H=10, C=3; it reached a final loss of 0.52.
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&cfg(0.5, 40), ds.train_data(), &mut Quiet);
        assert_eq!(out.status, Status::Completed);
        let last = *out.history.iter_loss.last().unwrap();
        assert!(last < 1.0, "final loss {last}");
        assert!(out.best_val_acc > 0.8, "val acc {}", out.best_val_acc);
        assert_eq!(out.history.epochs.len(), 40);
        assert_eq!(out.history.iter_loss.len(), 40 * 6);
        // lr decays once per epoch
        assert!((out.history.epochs[1].lr - 0.5 * 0.95).abs() < 1e-12);
    }

    #[test]
    fn same_seed_gives_bit_identical_results_and_another_seed_does_not() {
        let ds = toy_dataset(0, 300, 100, 100);
        let a = train(&cfg(0.5, 5), ds.train_data(), &mut Quiet);
        let b = train(&cfg(0.5, 5), ds.train_data(), &mut Quiet);
        assert_eq!(a.history, b.history);
        assert_eq!(a.best_net, b.best_net);
        let mut other = (*cfg(0.5, 5)).clone();
        other.seed = 8;
        let c = train(&other.check().unwrap(), ds.train_data(), &mut Quiet);
        assert_ne!(a.history.iter_loss, c.history.iter_loss);
    }

    #[test]
    fn shuffle_seed_changes_the_history() {
        let ds = toy_dataset(0, 300, 100, 100);
        let base = (*cfg(0.5, 2)).clone();
        let a = train(&base.clone().check().unwrap(), ds.train_data(), &mut Quiet);
        let other = TrainConfig {
            shuffle_seed: 4,
            ..base.clone()
        };
        let b = train(&other.check().unwrap(), ds.train_data(), &mut Quiet);
        // Same init (seed), another data order.
        assert_ne!(a.history.iter_loss, b.history.iter_loss);
    }

    #[test]
    fn huge_learning_rate_ends_as_diverged_without_panic() {
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&cfg(1e4, 5), ds.train_data(), &mut Quiet);
        assert_eq!(out.status, Status::Diverged);
        assert!(!out.history.iter_loss.is_empty());
    }

    #[test]
    fn best_epoch_parameters_are_kept_and_observer_can_stop() {
        struct StopAfter(usize, usize);
        impl Observer for StopAfter {
            fn on_iteration(&mut self, _: usize, _: f32) -> Control {
                self.1 += 1;
                Control::Continue
            }
            fn on_epoch(&mut self, r: &EpochRecord) -> Control {
                if r.epoch >= self.0 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            }
        }
        let ds = toy_dataset(0, 300, 100, 100);
        let mut obs = StopAfter(3, 0);
        let out = train(&cfg(0.5, 10), ds.train_data(), &mut obs);
        assert_eq!(out.status, Status::Stopped);
        assert_eq!(out.history.epochs.len(), 3);
        assert_eq!(obs.1, 18);
        let best = out.best_net.unwrap();
        let e = out.best_epoch.unwrap();
        assert_eq!(out.history.epochs[e - 1].val_acc, out.best_val_acc);
        assert_eq!(best.accuracy(ds.x_val.view(), &ds.y_val), out.best_val_acc);
    }

    #[test]
    fn every_optimizer_learns_the_toy_problem_and_they_differ() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut finals = Vec::new();
        for (optimizer, lr) in OPTIMIZER_LRS {
            let c = TrainConfig {
                optimizer,
                ..(*cfg(lr, 20)).clone()
            };
            let out = train(&c.check().unwrap(), ds.train_data(), &mut Quiet);
            assert_eq!(out.status, Status::Completed, "{optimizer:?}");
            assert!(out.best_val_acc > 0.8, "{optimizer:?}: val acc {}", out.best_val_acc);
            finals.push(out.best_net.unwrap());
        }
        for i in 0..finals.len() {
            for j in 0..i {
                assert_ne!(finals[i], finals[j], "optimizers {i} and {j} trained the same");
            }
        }
    }

    #[test]
    fn a_state_on_other_data_or_with_an_inconsistent_config_is_refused() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut t = Trainer::new(&cfg(0.5, 2), ds.train_data()).unwrap();
        t.run_to(1, &mut Quiet);
        let other = toy_dataset(0, 200, 100, 100);
        match Trainer::resume(t.state().clone(), other.train_data()) {
            Err(e @ TrainError::Mismatch { .. }) => assert!(e.to_string().contains("300 and 100"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("resumed on other data"),
        }
        // A state whose hidden size disagrees with its config.
        let mut s = t.state().clone();
        s.config.hidden_size = 11;
        assert!(matches!(
            Trainer::resume(s.clone(), ds.train_data()),
            Err(TrainError::HiddenSize { .. })
        ));
        // An invalid config inside a state.
        s.config.learning_rate = -1.0;
        s.config.hidden_size = 10;
        assert!(matches!(Trainer::resume(s, ds.train_data()), Err(TrainError::Config { .. })));
        // Flips on data that are not images.
        let flip = TrainConfig {
            flip: 0.5,
            ..(*cfg(0.1, 1)).clone()
        };
        assert!(matches!(
            Trainer::new(&flip.check().unwrap(), ds.train_data()),
            Err(TrainError::NotImages { .. })
        ));
    }

    #[test]
    fn dropout_trains_reproducibly_and_is_off_at_evaluation() {
        let ds = toy_dataset(0, 300, 100, 100);
        let c = TrainConfig {
            dropout: 0.3,
            ..(*cfg(0.5, 6)).clone()
        }
        .check()
        .unwrap();
        let with = train(&c, ds.train_data(), &mut Quiet);
        let without = train(&cfg(0.5, 6), ds.train_data(), &mut Quiet);
        assert_ne!(with.history.iter_loss, without.history.iter_loss);
        assert!(with.best_val_acc > 0.8, "{}", with.best_val_acc);
        // Evaluation has no dropout: the recorded accuracy is the deterministic accuracy of the best parameters.
        let best = with.best_net.unwrap();
        assert_eq!(best.accuracy(ds.x_val.view(), &ds.y_val), with.best_val_acc);
        // Masks are per job: another init seed draws other masks even with the same data order.
        let other = TrainConfig { seed: 99, ..(*c).clone() };
        let mut t = Trainer::new(&other.check().unwrap(), ds.train_data()).unwrap();
        t.state.net = Trainer::new(&c, ds.train_data()).unwrap().state.net.clone();
        t.run_to(1, &mut Quiet);
        assert_ne!(t.state().history.iter_loss[..6], with.history.iter_loss[..6]);
    }

    #[test]
    fn training_records_the_scheduled_rates_under_cosine_with_warmup() {
        let c = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            warmup_epochs: 2,
            ..(*cfg(0.5, 6)).clone()
        }
        .check()
        .unwrap();
        let ds = toy_dataset(0, 300, 100, 100);
        let out = train(&c, ds.train_data(), &mut Quiet);
        for r in &out.history.epochs {
            assert_eq!(r.lr, epoch_lr(&c, r.epoch, 0.0));
        }
        assert!((out.history.epochs[0].lr - 0.5 / 3.0).abs() < 1e-15);
        assert!(out.best_val_acc > 0.8);
        // Step decay with warmup: epoch 2 runs at 0.5 * 0.95 * 2/3.
        let s = TrainConfig {
            warmup_epochs: 2,
            ..(*cfg(0.5, 3)).clone()
        };
        let out = train(&s.check().unwrap(), ds.train_data(), &mut Quiet);
        assert!((out.history.epochs[1].lr - 0.5 * 0.95 * 2.0 / 3.0).abs() < 1e-15);
        assert!((out.history.epochs[2].lr - 0.5 * 0.95 * 0.95).abs() < 1e-15);
    }

    /// A job whose products and evaluation are cut for 4 threads (in a pool of 4) trains bit for bit as on one:
    /// every optimizer, with dropout and flips, through a pause mid-epoch.
    #[test]
    fn a_job_on_idle_threads_trains_bit_for_bit_as_on_one() {
        let (x, y, mean) = inputs(2330, 48, "parallel");
        let data = split(&x, &y, &mean, 2280, &IMAGE);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        for (optimizer, lr) in OPTIMIZER_LRS {
            let c = featured(optimizer, lr, 2);
            let mut one = Trainer::new(&c, data).unwrap();
            one.run_to(2, &mut Quiet);
            let mut four = Trainer::new(&c, data).unwrap();
            four.set_parallel_with(Parallel::new(4).min_piece(1));
            assert_eq!(four.parallel(), 4);
            pool.install(|| four.run_until(four.iterations_for(0.5), &mut Quiet));
            let mut four = Trainer::resume(four.into_state(), data).unwrap();
            four.set_parallel_with(Parallel::new(4).min_piece(1));
            pool.install(|| four.run_to(2, &mut Quiet));
            assert!(timeless(four.state()) == timeless(one.state()), "{optimizer:?}");
            // The 3 chunks of the train-accuracy sample (2,280 rows) went to different threads, with the same counts.
            assert_eq!(four.evaluate_now(), one.evaluate_now());
        }
    }
}
