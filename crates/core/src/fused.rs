//! Several jobs trained in one pass: jobs that see the same minibatches (same data, batch size, shuffle seed and
//! augmentation) and have the same hidden size share the first layer's two big products, `X · [W1_1 … W1_K]` forward
//! and `Xᵀ · [dh_1 … dh_K]` backward, one GEMM each per step instead of K; everything else (W2, the biases, the
//! loss, the optimizer, dropout, evaluation) runs per job.
//!
//! Each job's history, parameters and state are bit-identical to training it alone with [`Trainer`]: the shared
//! forward product is the same sum per output, and each job's W1 update is finished from the shared backward product
//! as the single-job GEMM would round it ([`Finish`]). Where that rounding is not known (not x86-64 with AVX, or a
//! batch larger than [`Finish::MAX_K`]) the backward product runs per job, still bit-identical.

use std::time::Instant;

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

pub use crate::error::FuseError;
use crate::linalg::{Finish, Parallel, Precision};
use crate::network::Upper;
use crate::train::{epoch_lr, epoch_order, gather_batch, Observer, Status, Trainer};

/// The largest hidden size at which training jobs together pays. Measured with `sweep run --fuse` on the 4-job
/// CIFAR-10 sweep of `bench/bench-vs-pytorch.sh` (2 workers, 2-core AMD EPYC Zen 3, matrixmultiply's AVX2 kernel):
/// fused/alone time 0.88 at H = 16, 0.95 at 64, 1.05-1.20 at 128, 1.02-1.04 at 256, 1.05-1.13 at 512. From 128 hidden
/// units on, one job's GEMMs already run at the kernel's full rate, and the fused step's extra passes over W1 (the
/// shared product, the copies) cost more than the shared packing of X saves.
pub const FUSE_MAX_HIDDEN: usize = 64;

/// What jobs must share to be trained together: the minibatches they see (batch size, shuffle seed, flip and crop),
/// the hidden size and the precision. Ordered, so that a runner can sort jobs that share a key next to each other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FuseKey {
    hidden: usize,
    batch: usize,
    shuffle_seed: u64,
    flip_bits: u64,
    crop: usize,
    precision: Precision,
}

impl FuseKey {
    /// The key of a configuration.
    pub fn of(cfg: &crate::TrainConfig) -> Self {
        Self {
            hidden: cfg.hidden_size,
            batch: cfg.batch_size,
            shuffle_seed: cfg.shuffle_seed,
            flip_bits: cfg.flip.to_bits(),
            crop: cfg.crop,
            precision: cfg.precision,
        }
    }
}

/// Whether training `cfg` with others pays: f32 (bf16 jobs train alone) and at most [`FUSE_MAX_HIDDEN`] hidden units.
pub fn worth_fusing(cfg: &crate::TrainConfig) -> bool {
    cfg.precision == Precision::F32 && cfg.hidden_size <= FUSE_MAX_HIDDEN
}

/// Jobs trained together (see the module docs). All must have the same [`FuseKey`], train on the same data and
/// stand at the same point (epoch and iteration).
pub struct FusedTrainer<'a> {
    members: Vec<Trainer<'a>>,
    /// How each member ended, once it did (diverged, or stopped); `None` while it trains.
    ended: Vec<Option<Status>>,
    finish: Option<Finish>,
    /// The W1 of the members still training, side by side: (D, K·H).
    w1: Array2<f32>,
    /// Which member each block of `w1` belongs to.
    blocks: Vec<usize>,
    a: Array2<f32>,
    dh: Array2<f32>,
    g: Array2<f32>,
    xb: Array2<f32>,
    yb: Vec<u8>,
    /// How the shared products use idle threads.
    par: Parallel,
}

impl<'a> FusedTrainer<'a> {
    /// Groups `members` (each a fresh or resumed [`Trainer`]) to train together.
    pub fn new(members: Vec<Trainer<'a>>) -> Result<Self, FuseError> {
        let first = members.first().ok_or(FuseError::Empty)?;
        let key = FuseKey::of(first.config());
        if first.config().precision != Precision::F32 {
            return Err(FuseError::Precision);
        }
        let at = |t: &Trainer| (t.state().next_epoch, t.state().next_iteration);
        let data = |t: &Trainer| {
            let d = t.data();
            (
                d.x_train.as_ptr(),
                d.x_train.dim(),
                d.x_val.as_ptr(),
                d.x_val.dim(),
                d.y_train.as_ptr(),
            )
        };
        // A diverged member never trains again: where it stands does not matter.
        let training = |t: &&Trainer| t.state().status != Status::Diverged;
        let position = members.iter().find(training).map(at);
        for (i, t) in members.iter().enumerate().skip(1) {
            if FuseKey::of(t.config()) != key {
                return Err(FuseError::Key(i));
            }
            if training(&t) && Some(at(t)) != position {
                return Err(FuseError::Position(i));
            }
            if data(t) != data(first) {
                return Err(FuseError::Data(i));
            }
        }
        let (_, _, batch, _) = first.fused_shape();
        let d = first.data().x_train.ncols();
        let ended = members
            .iter()
            .map(|t| (t.state().status == Status::Diverged).then_some(Status::Diverged))
            .collect();
        let mut fused = Self {
            finish: Finish::detect().filter(|_| batch <= Finish::MAX_K),
            ended,
            w1: Array2::zeros((0, 0)),
            blocks: Vec::new(),
            a: Array2::zeros((0, 0)),
            dh: Array2::zeros((0, 0)),
            g: Array2::zeros((0, 0)),
            xb: Array2::zeros((batch, d)),
            yb: vec![0; batch],
            par: Parallel::default(),
            members,
        };
        fused.regroup();
        Ok(fused)
    }

    /// Lays out the shared buffers for the members still training.
    fn regroup(&mut self) {
        self.blocks = (0..self.members.len()).filter(|&i| self.ended[i].is_none()).collect();
        let Some(&first) = self.blocks.first() else { return };
        let (d, h) = self.members[first].state().net.params.w1.dim();
        let (k, b) = (self.blocks.len(), self.xb.nrows());
        self.w1 = Array2::zeros((d, k * h));
        for (j, &i) in self.blocks.iter().enumerate() {
            self.w1
                .slice_mut(s![.., j * h..(j + 1) * h])
                .assign(&self.members[i].state().net.params.w1);
        }
        self.a = Array2::zeros((b, k * h));
        self.dh = Array2::zeros((b, k * h));
        self.g = if self.finish.is_some() {
            Array2::zeros((d, k * h))
        } else {
            Array2::zeros((0, 0))
        };
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[Trainer<'a>] {
        &self.members
    }

    /// Hands the members back (to save their states, or to go on alone).
    pub fn into_members(self) -> Vec<Trainer<'a>> {
        self.members
    }

    /// Lets the group's shared products, and each member's own products and evaluation, use up to `threads` threads
    /// of the current rayon pool, bit-identical to one thread (see [`Trainer::set_parallel`]).
    pub fn set_parallel(&mut self, threads: usize) {
        self.set_parallel_with(Parallel::new(threads));
    }

    pub(crate) fn set_parallel_with(&mut self, par: Parallel) {
        self.par = par;
        for t in &mut self.members {
            t.set_parallel_with(par);
        }
    }

    /// SGD steps taken since the start by the members still training (they all stand at the same point); by the
    /// first member once none trains.
    pub fn iterations_done(&self) -> usize {
        self.members[self.blocks.first().copied().unwrap_or(0)].iterations_done()
    }

    /// SGD steps per epoch (the same for every member).
    pub fn iterations_per_epoch(&self) -> usize {
        self.members[0].iterations_per_epoch()
    }

    /// Trains every member still training through the current epoch (from the iteration they stand at):
    /// [`FusedTrainer::run_until`] the epoch's end.
    pub fn run_epoch(&mut self, observers: &mut [&mut dyn Observer]) -> Vec<Status> {
        let lead = &self.members[self.blocks.first().copied().unwrap_or(0)];
        let end = lead.state().next_epoch * lead.iterations_per_epoch();
        self.run_until(end, observers)
    }

    /// Trains every member still training until `iterations` steps in all, as [`Trainer::run_until`] trains one job
    /// (epochs finished on the way are evaluated and recorded per member; a budget inside an epoch stops there), one
    /// observer per member. Returns each member's status: `Completed` (the budget reached), `Diverged` (now or
    /// before: it no longer trains), or `Stopped` for all when any observer asked to stop (every member then stands
    /// at the same iteration, states ready to save and continue). Each member's `seconds` grows by its share of the
    /// time: a step's time split equally among the members it trained, and its own evaluations.
    pub fn run_until(&mut self, iterations: usize, observers: &mut [&mut dyn Observer]) -> Vec<Status> {
        assert_eq!(observers.len(), self.members.len(), "one observer per member");
        let stopped = self.train_until(iterations, observers);
        let statuses: Vec<Status> = self
            .ended
            .iter()
            .map(|e| match e {
                Some(s) => *s,
                None if stopped => Status::Stopped,
                None => Status::Completed,
            })
            .collect();
        for (t, &s) in self.members.iter_mut().zip(&statuses) {
            t.set_status(s);
        }
        statuses
    }

    /// Returns whether an observer stopped the run.
    fn train_until(&mut self, iterations: usize, observers: &mut [&mut dyn Observer]) -> bool {
        loop {
            let Some(&first) = self.blocks.first() else { return false };
            let lead = &self.members[first];
            let (n, iters, _, shape) = lead.fused_shape();
            let (epoch, start) = (lead.state().next_epoch, lead.state().next_iteration);
            let before = (epoch - 1) * iters;
            if iterations <= before {
                return false;
            }
            let end = (iterations - before).min(iters);
            let lrs: Vec<f64> = self.members.iter().map(|t| epoch_lr(t.config(), epoch, t.state().lr)).collect();
            if start < end {
                let started = Instant::now();
                let batches = Batches {
                    cfg: lead.config().clone(),
                    data: lead.data(),
                    shape,
                    order: epoch_order(lead.config().shuffle_seed, epoch, n),
                };
                self.share(started);
                for it in start..end {
                    if self.step(&batches, epoch, it, &lrs, observers) {
                        return true;
                    }
                    if self.blocks.is_empty() {
                        return false;
                    }
                }
            }
            if end < iters {
                return false;
            }
            let mut stop = false;
            for &i in &self.blocks {
                let started = Instant::now();
                let member = &mut self.members[i];
                stop |= member.end_epoch(epoch, lrs[i], observers[i]).is_some();
                member.state.seconds += started.elapsed().as_secs_f64();
            }
            if stop {
                return true;
            }
        }
    }

    /// Step `it` of `epoch` for every member still training (a member that diverges leaves the group); returns
    /// whether an observer asked to stop.
    fn step(&mut self, batches: &Batches<'a>, epoch: usize, it: usize, lrs: &[f64], observers: &mut [&mut dyn Observer]) -> bool {
        let started = Instant::now();
        let h = batches.cfg.hidden_size;
        gather_batch(
            &batches.cfg,
            &batches.data,
            batches.shape,
            epoch,
            it,
            &batches.order,
            &mut self.xb,
            &mut self.yb,
        );
        self.par.gemm(1.0, self.xb.view(), self.w1.view(), 0.0, self.a.view_mut());
        let mut losses = Vec::with_capacity(self.blocks.len());
        for (j, &i) in self.blocks.iter().enumerate() {
            let t = &mut self.members[i];
            t.prepare_step(epoch, it);
            t.fused_hidden().assign(&self.a.slice(s![.., j * h..(j + 1) * h]));
            losses.push(t.fused_upper(&self.yb, lrs[i]));
            self.dh.slice_mut(s![.., j * h..(j + 1) * h]).assign(&t.fused_dh());
        }
        if let Some(finish) = &self.finish {
            self.par.gemm(1.0, self.xb.t(), self.dh.view(), 0.0, self.g.view_mut());
            for (j, &i) in self.blocks.iter().enumerate() {
                let cols = s![.., j * h..(j + 1) * h];
                self.members[i].fused_w1(W1Source::Shared(finish, self.g.slice(cols)), lrs[i], self.w1.slice_mut(cols));
            }
        } else {
            for (j, &i) in self.blocks.iter().enumerate() {
                let cols = s![.., j * h..(j + 1) * h];
                self.members[i].fused_w1(W1Source::Alone(self.xb.view()), lrs[i], self.w1.slice_mut(cols));
            }
        }
        self.share(started);
        let mut stop = false;
        let mut diverged = false;
        for (j, &i) in self.blocks.iter().enumerate() {
            match self.members[i].after_step(it, losses[j], observers[i]) {
                Some(Status::Diverged) => {
                    self.ended[i] = Some(Status::Diverged);
                    diverged = true;
                }
                Some(_) => stop = true,
                None => {}
            }
        }
        if diverged {
            self.regroup();
        }
        stop
    }
}

impl FusedTrainer<'_> {
    /// Adds the time since `started` to the members still training, in equal shares.
    fn share(&mut self, started: Instant) {
        let share = started.elapsed().as_secs_f64() / self.blocks.len() as f64;
        for &i in &self.blocks {
            self.members[i].state.seconds += share;
        }
    }
}

/// What the minibatches of one epoch are drawn from (shared by every member).
struct Batches<'a> {
    cfg: crate::ValidConfig,
    data: crate::TrainData<'a>,
    shape: [usize; 3],
    order: Vec<usize>,
}

/// Where a fused step takes W1's gradient product from (see [`Trainer::fused_w1`]).
enum W1Source<'g> {
    /// This job's block of `xᵀ · [dh_1 … dh_K]`, finished with the backend's rounding.
    Shared(&'g Finish, ArrayView2<'g, f32>),
    /// The batch `x`: multiply `xᵀ · dh` for this job alone.
    Alone(ArrayView2<'g, f32>),
}

impl<'a> Trainer<'a> {
    /// This job's `x · W1`, to be filled by the fused step.
    fn fused_hidden(&mut self) -> &mut Array2<f32> {
        &mut self.ws.a
    }

    /// The step of this job once its `x · W1` is in place: everything but W1, as [`TwoLayerNet::sgd_step_masked`] or
    /// [`TwoLayerNet::loss_and_grads_into`] would do it. Returns the loss; `dL/d(x · W1)` is then [`Trainer::fused_dh`].
    fn fused_upper(&mut self, yb: &[u8], lr: f64) -> f32 {
        let reg = self.cfg.reg as f32;
        let mask = self.mask.as_ref().map(|m| m.view());
        let net = &mut self.state.net;
        let (l2, upper) = match &mut self.grads {
            None => (reg, Upper::Sgd(lr as f32)),
            Some(g) => (self.cfg.l2_in_loss(), Upper::Grads(g)),
        };
        let reg_loss = net.reg_loss(l2);
        let data = net.step_from_hidden(yb, l2, mask, &mut self.ws, upper);
        data + reg_loss
    }

    /// `dL/d(x · W1)` of the last [`Trainer::fused_upper`].
    fn fused_dh(&self) -> ArrayView2<'_, f32> {
        self.ws.dh.view()
    }

    /// Finishes the step on W1 from `src` (this job's share of the shared backward product, finished as the
    /// single-job step's GEMM would round it, or the batch to multiply alone), and copies the new W1 into `mirror`
    /// (its block of the fused W1).
    fn fused_w1(&mut self, src: W1Source<'_>, lr: f64, mut mirror: ArrayViewMut2<'_, f32>) {
        let reg = self.cfg.reg as f32;
        let st = &mut self.state;
        let dh = self.ws.dh.view();
        match &mut self.grads {
            None => {
                let lr = lr as f32;
                let beta = 1.0 - lr * reg;
                match src {
                    W1Source::Shared(finish, g) => finish.apply(-lr, g, beta, st.net.params.w1.view_mut(), Some(mirror)),
                    W1Source::Alone(x) => {
                        self.par.gemm(-lr, x.t(), dh, beta, st.net.params.w1.view_mut());
                        mirror.assign(&st.net.params.w1);
                    }
                }
            }
            Some(grads) => {
                let l2 = self.cfg.l2_in_loss();
                grads.w1.assign(&st.net.params.w1);
                match src {
                    W1Source::Shared(finish, g) => finish.apply(1.0, g, l2, grads.w1.view_mut(), None),
                    W1Source::Alone(x) => self.par.gemm(1.0, x.t(), dh, l2, grads.w1.view_mut()),
                }
                st.optim.update(self.cfg.optimizer, &self.cfg.hyper(lr), &mut st.net.params, grads);
                mirror.assign(&st.net.params.w1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::testing::{inputs, split, timeless, IMAGE};
    use crate::train::{Quiet, TrainState};
    use crate::{Optimizer, TrainConfig, ValidConfig};

    fn configs(hidden: usize, flip: f64) -> Vec<ValidConfig> {
        let base = TrainConfig {
            hidden_size: hidden,
            batch_size: 40,
            epochs: 3,
            shuffle_seed: 11,
            flip,
            ..TrainConfig::default()
        };
        let variants = [
            (Optimizer::Sgd, 0.05, 1e-3, 0.0, 0.95),
            (Optimizer::Sgd, 0.2, 1e-2, 0.0, 0.9),
            (Optimizer::Sgd, 0.01, 0.0, 0.3, 1.0),
            (Optimizer::Momentum, 0.02, 1e-3, 0.0, 0.95),
            (Optimizer::Nesterov, 0.02, 5e-4, 0.2, 0.95),
            (Optimizer::Adam, 1e-3, 1e-3, 0.0, 1.0),
            (Optimizer::AdamW, 1e-3, 1e-2, 0.0, 1.0),
            // Diverges within the first epoch: it drops out of the group, the others go on.
            (Optimizer::Sgd, 1e4, 0.0, 0.0, 1.0),
        ];
        variants
            .iter()
            .enumerate()
            .map(|(i, &(optimizer, learning_rate, reg, dropout, lr_decay))| {
                TrainConfig {
                    optimizer,
                    learning_rate,
                    reg,
                    dropout,
                    lr_decay,
                    seed: 100 + i as u64,
                    ..base.clone()
                }
                .check()
                .expect("valid")
            })
            .collect()
    }

    /// Trains `cfgs` alone to `epochs`, and fused in one group (pausing mid-epoch once), and compares every job's
    /// state byte for byte.
    fn assert_fused_equals_alone(d: usize, hidden: usize, flip: f64) {
        let (x, y, mean) = inputs(330, d, "fused-data");
        let train = split(&x, &y, &mean, 280, if d == 48 { &IMAGE } else { &[] });
        let cfgs = configs(hidden, flip);
        let alone: Vec<Vec<u8>> = cfgs
            .iter()
            .map(|c| {
                let mut t = Trainer::new(c, train).expect("trains");
                t.run_to(3, &mut Quiet);
                timeless(t.state())
            })
            .collect();

        struct StopAt(usize, usize);
        impl Observer for StopAt {
            fn on_iteration(&mut self, i: usize, _: f32) -> crate::train::Control {
                if i == self.0 && self.1 == 0 {
                    self.1 = 1;
                    crate::train::Control::Stop
                } else {
                    crate::train::Control::Continue
                }
            }
        }
        let members = cfgs.iter().map(|c| Trainer::new(c, train).expect("trains")).collect();
        let mut fused = FusedTrainer::new(members).expect("same key");
        let mut stops: Vec<StopAt> = (0..cfgs.len()).map(|i| StopAt(if i == 2 { 9 } else { usize::MAX }, 0)).collect();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let mut obs: Vec<&mut dyn Observer> = stops.iter_mut().map(|o| o as &mut dyn Observer).collect();
            statuses.push(fused.run_epoch(&mut obs));
            if fused.members()[0].state().epochs_done() == 3 {
                break;
            }
        }
        // The stop in epoch 2 (iteration 9 overall) stops everyone still training, mid-epoch; the diverged job is out.
        assert_eq!(statuses[1][0], Status::Stopped);
        assert_eq!(statuses[1][7], Status::Diverged);
        assert_eq!(statuses.last().expect("epochs")[0], Status::Completed);
        let fused: Vec<Vec<u8>> = fused.members().iter().map(|t| timeless(t.state())).collect();
        assert_same_states(
            &alone,
            &fused,
            &format!("stopped by an observer (d={d}, hidden={hidden}, flip={flip})"),
        );

        // Budgets inside epochs (0.37 and 1.5 epochs), each member saved to bytes and resumed there, ...
        let mut members: Vec<Trainer> = cfgs.iter().map(|c| Trainer::new(c, train).expect("trains")).collect();
        let mut wall = 0.0;
        // ... with the shared products (and the members' own) cut for 3 threads of a pool of 3.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("a pool");
        for budget in [0.37, 1.5, 3.0] {
            let mut fused = FusedTrainer::new(members).expect("same key and position");
            fused.set_parallel_with(Parallel::new(3).min_piece(1));
            let target = fused.members()[0].iterations_for(budget);
            let started = Instant::now();
            let statuses = pool.install(|| {
                let mut quiet: Vec<Quiet> = (0..cfgs.len()).map(|_| Quiet).collect();
                let mut obs: Vec<&mut dyn Observer> = quiet.iter_mut().map(|o| o as &mut dyn Observer).collect();
                fused.run_until(target, &mut obs)
            });
            wall += started.elapsed().as_secs_f64();
            assert_eq!((statuses[0], statuses[7]), (Status::Completed, Status::Diverged));
            assert_eq!(fused.iterations_done(), target);
            members = fused
                .into_members()
                .into_iter()
                .map(|t| Trainer::resume(TrainState::from_bytes(&t.into_state().to_bytes()).expect("reads"), train).expect("fits"))
                .collect();
        }
        // Each member has its share of the group's time: the job that diverged early the least, none more than all.
        let seconds: Vec<f64> = members.iter().map(|t| t.state().seconds).collect();
        assert!(seconds.iter().sum::<f64>() <= wall, "{seconds:?} for {wall} s");
        assert!(seconds[..7].iter().all(|&s| s > seconds[7] && seconds[7] > 0.0), "{seconds:?}");
        let fused: Vec<Vec<u8>> = members.iter().map(|t| timeless(t.state())).collect();
        assert_same_states(
            &alone,
            &fused,
            &format!("paused at 0.37 and 1.5 epochs, on 3 threads (d={d}, hidden={hidden}, flip={flip})"),
        );
    }

    fn assert_same_states(alone: &[Vec<u8>], fused: &[Vec<u8>], how: &str) {
        for (i, (a, f)) in alone.iter().zip(fused).enumerate() {
            assert!(a == f, "job {i} differs fused, {how}");
        }
    }

    #[test]
    fn fused_jobs_train_bit_for_bit_as_alone_for_every_optimizer_with_dropout_flip_and_divergence() {
        assert_fused_equals_alone(48, 16, 0.5);
        // Partial GEMM tiles: 20 hidden units, 50 inputs.
        assert_fused_equals_alone(50, 20, 0.0);
    }

    #[test]
    fn jobs_that_see_other_batches_or_stand_elsewhere_are_refused() {
        let (x, y, mean) = inputs(100, 50, "fused-data");
        let train = split(&x, &y, &mean, 80, &[]);
        let cfgs = configs(16, 0.0);
        let other_hidden = TrainConfig {
            hidden_size: 24,
            ..(*cfgs[0]).clone()
        }
        .check()
        .expect("valid");
        let t = |c: &ValidConfig| Trainer::new(c, train).expect("trains");
        assert_eq!(
            FusedTrainer::new(vec![t(&cfgs[0]), t(&other_hidden)]).err(),
            Some(FuseError::Key(1))
        );
        let mut ahead = t(&cfgs[1]);
        ahead.run_to(1, &mut Quiet);
        assert_eq!(FusedTrainer::new(vec![t(&cfgs[0]), ahead]).err(), Some(FuseError::Position(1)));
        assert_eq!(FusedTrainer::new(vec![]).err(), Some(FuseError::Empty));
    }
}
