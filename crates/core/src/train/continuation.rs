//! Pausing and continuing: a run saved at any point, loaded and continued equals the uninterrupted run bit for bit.

use std::time::Instant;

use crate::data::toy_dataset;
use crate::train::testing::{augmented, cfg, featured, inputs, split, timeless, IMAGE, OPTIMIZER_LRS};
use crate::train::{train, Control, LrSchedule, Observer, Quiet, Status, TrainConfig, TrainState, Trainer, ValidConfig};

/// Trains `cfg` on the toy problem to `pause` (saving, loading and resuming there) and then to `to`; compares
/// everything with a run straight to `to`.
fn assert_pause_continue_is_exact(cfg: &ValidConfig, pause: usize, to: usize) {
    let ds = toy_dataset(0, 300, 100, 100);
    let mut straight = Trainer::new(cfg, ds.train_data()).unwrap();
    assert_eq!(straight.run_to(to, &mut Quiet), Status::Completed);

    let mut first = Trainer::new(cfg, ds.train_data()).unwrap();
    assert_eq!(first.run_to(pause, &mut Quiet), Status::Completed);
    assert_eq!(first.state().epochs_done(), pause);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.safetensors");
    first.state().save(&path).unwrap();
    let loaded = TrainState::load(&path).unwrap();
    assert_eq!(&loaded, first.state());
    // The best parameters are stored once when they are the current ones (the best epoch is the last).
    let stored_twice = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains("\"best.W1\"");
    assert_eq!(
        stored_twice,
        loaded.best_epoch != Some(pause),
        "best epoch {:?} of {pause}",
        loaded.best_epoch
    );
    drop(first);
    let mut second = Trainer::resume(loaded, ds.train_data()).unwrap();
    assert_eq!(second.run_to(to, &mut Quiet), Status::Completed);

    let (a, b) = (straight.state(), second.state());
    assert_eq!(a.history, b.history);
    assert_eq!(a.history.epochs.len(), to);
    assert_eq!(a.net, b.net);
    assert_eq!(a.optim, b.optim);
    assert!(timeless(a) == timeless(b));
    let (oa, ob) = (straight.outcome(), second.outcome());
    assert_eq!(ob.status, Status::Completed);
    assert_eq!((oa.best_epoch, oa.best_val_acc), (ob.best_epoch, ob.best_val_acc));
    assert_eq!(oa.best_net, ob.best_net);
    assert!(ob.best_net.is_some());
    // And the simple API gives the same run.
    if to == cfg.epochs {
        let t = train(cfg, ds.train_data(), &mut Quiet);
        assert_eq!(t.history, ob.history);
        assert_eq!(t.best_net, ob.best_net);
    }
}

#[test]
fn every_optimizer_with_dropout_or_a_cosine_warmup_pauses_and_continues_bit_for_bit() {
    let mut configs = vec![cfg(0.5, 9)];
    for (optimizer, lr) in OPTIMIZER_LRS.into_iter().skip(1) {
        configs.push(
            TrainConfig {
                optimizer,
                ..(*cfg(lr, 9)).clone()
            }
            .check()
            .unwrap(),
        );
    }
    configs.push(
        TrainConfig {
            dropout: 0.3,
            ..(*cfg(0.5, 9)).clone()
        }
        .check()
        .unwrap(),
    );
    let cosine = TrainConfig {
        lr_schedule: LrSchedule::Cosine,
        warmup_epochs: 2,
        ..(*cfg(0.5, 9)).clone()
    };
    configs.push(cosine.check().unwrap());
    for c in &configs {
        assert_pause_continue_is_exact(c, 3, 9);
    }
}

#[test]
fn a_state_continues_past_its_configured_epochs_as_if_configured_longer() {
    // Successive halving: a job configured for 1 epoch, continued to 3 and then 9, follows the step schedule
    // lr * decay^(epoch-1) exactly as a 9-epoch job.
    let ds = toy_dataset(0, 300, 100, 100);
    let mut long = Trainer::new(&cfg(0.5, 9), ds.train_data()).unwrap();
    long.run_to(9, &mut Quiet);
    let mut short = Trainer::new(&cfg(0.5, 1), ds.train_data()).unwrap();
    short.run_to(1, &mut Quiet);
    let mut short = Trainer::resume(short.into_state(), ds.train_data()).unwrap();
    short.run_to(3, &mut Quiet);
    assert_eq!(short.state().history.epochs.len(), 3);
    short.run_to(9, &mut Quiet);
    assert_eq!(short.state().history, long.state().history);
    assert_eq!(short.state().net, long.state().net);
    assert!((short.state().history.epochs[8].lr - 0.5 * 0.95f64.powi(8)).abs() < 1e-15);
    // Asking for an epoch already done trains nothing.
    let before = short.state().clone();
    assert_eq!(short.run_to(5, &mut Quiet), Status::Completed);
    assert!(timeless(short.state()) == timeless(&before));
}

#[test]
fn a_run_stopped_mid_epoch_continues_exactly() {
    struct StopAt(usize);
    impl Observer for StopAt {
        fn on_iteration(&mut self, i: usize, _: f32) -> Control {
            if i == self.0 {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    }
    let ds = toy_dataset(0, 300, 100, 100);
    let c = cfg(0.5, 4);
    let straight = train(&c, ds.train_data(), &mut Quiet);
    let mut t = Trainer::new(&c, ds.train_data()).unwrap();
    assert_eq!(t.run_to(4, &mut StopAt(8)), Status::Stopped);
    assert_eq!((t.state().next_epoch, t.state().next_iteration), (2, 3));
    let bytes = t.state().to_bytes();
    let mut t = Trainer::resume(TrainState::from_bytes(&bytes).unwrap(), ds.train_data()).unwrap();
    assert_eq!(t.run_to(4, &mut Quiet), Status::Completed);
    let out = t.outcome();
    assert_eq!(out.history, straight.history);
    assert_eq!(out.best_net, straight.best_net);
}

#[test]
fn augmented_training_pauses_and_continues_exactly_and_differs_from_unaugmented() {
    let (x, y, mean) = inputs(120, 48, "augmented-training");
    let data = split(&x, &y, &mean, 90, &IMAGE);
    let c = augmented();
    let valid = c.clone().check().unwrap();
    let mut straight = Trainer::new(&valid, data).unwrap();
    straight.run_to(4, &mut Quiet);
    let mut first = Trainer::new(&valid, data).unwrap();
    first.run_to(2, &mut Quiet);
    let mut second = Trainer::resume(TrainState::from_bytes(&first.state().to_bytes()).unwrap(), data).unwrap();
    second.run_to(4, &mut Quiet);
    assert!(timeless(second.state()) == timeless(straight.state()));
    let plain = TrainConfig { flip: 0.0, crop: 0, ..c };
    let unaugmented = train(&plain.check().unwrap(), data, &mut Quiet);
    assert_ne!(unaugmented.history.iter_loss, straight.state().history.iter_loss);
}

#[test]
fn a_diverged_state_does_not_train_on() {
    let ds = toy_dataset(0, 300, 100, 100);
    let mut t = Trainer::new(&cfg(1e4, 5), ds.train_data()).unwrap();
    assert_eq!(t.run_to(5, &mut Quiet), Status::Diverged);
    let before = t.state().clone();
    let mut t = Trainer::resume(TrainState::from_bytes(&before.to_bytes()).unwrap(), ds.train_data()).unwrap();
    assert_eq!(t.run_to(5, &mut Quiet), Status::Diverged);
    assert_eq!(t.state().history, before.history);
    assert_eq!(t.outcome().status, Status::Diverged);
}

/// A job paused at 0.37 epochs and in the middle of its second epoch, saved to bytes and loaded each time, and
/// continued to 3 epochs ends in the very state of the straight run: every optimizer, with dropout and flips.
#[test]
fn a_job_paused_at_fractional_budgets_continues_bit_for_bit_for_every_optimizer_with_dropout_and_flips() {
    let (x, y, mean) = inputs(330, 48, "fractional-budgets");
    let data = split(&x, &y, &mean, 280, &IMAGE);
    for (optimizer, lr) in OPTIMIZER_LRS {
        let c = featured(optimizer, lr, 3);
        let mut straight = Trainer::new(&c, data).unwrap();
        assert_eq!(straight.iterations_per_epoch(), 7);
        assert_eq!(straight.run_until(straight.iterations_for(3.0), &mut Quiet), Status::Completed);
        let mut t = Trainer::new(&c, data).unwrap();
        // 0.37 epochs of 7 steps are 3 steps; 1.5 epochs are 11, the fourth step of epoch 2.
        for (budget, steps, epochs_recorded) in [(0.37, 3, 0), (1.5, 11, 1), (3.0, 21, 3)] {
            assert_eq!(t.iterations_for(budget), steps);
            assert_eq!(t.run_until(steps, &mut Quiet), Status::Completed);
            assert_eq!((t.iterations_done(), t.state().history.epochs.len()), (steps, epochs_recorded));
            t = Trainer::resume(TrainState::from_bytes(&t.state().to_bytes()).unwrap(), data).unwrap();
        }
        assert!(timeless(t.state()) == timeless(straight.state()), "{optimizer:?}");
    }
}

#[test]
fn a_budget_on_an_epoch_boundary_records_the_epoch_and_a_smaller_budget_trains_nothing() {
    struct Epochs(Vec<usize>);
    impl Observer for Epochs {
        fn on_epoch(&mut self, r: &crate::train::EpochRecord) -> Control {
            self.0.push(r.epoch);
            Control::Continue
        }
    }
    let ds = toy_dataset(0, 300, 100, 100);
    let mut t = Trainer::new(&cfg(0.5, 3), ds.train_data()).unwrap();
    let mut seen = Epochs(Vec::new());
    // 6 steps per epoch: 4 steps, then to the end of epoch 2 (evaluated at its last step), then less than done.
    for (target, done) in [(4, 4), (12, 12), (7, 12), (12, 12)] {
        assert_eq!(t.run_until(target, &mut seen), Status::Completed);
        assert_eq!(t.iterations_done(), done);
    }
    assert_eq!(seen.0, [1, 2]);
    assert_eq!((t.state().next_epoch, t.state().next_iteration), (3, 0));
    assert_eq!(t.state().epochs_run(), 2.0);
    assert_eq!(t.iterations_for(-1.0), 0);
    assert_eq!(t.iterations_for(f64::NAN), 0);
    assert_eq!(t.iterations_for(2.5), 15);
}

#[test]
fn evaluate_now_changes_nothing_and_at_an_epoch_boundary_gives_the_epochs_record() {
    let ds = toy_dataset(0, 300, 100, 100);
    let mut c = (*cfg(0.5, 3)).clone();
    c.dropout = 0.2;
    let c = c.check().unwrap();
    let mut plain = Trainer::new(&c, ds.train_data()).unwrap();
    plain.run_until(plain.iterations_for(3.0), &mut Quiet);

    let mut t = Trainer::new(&c, ds.train_data()).unwrap();
    let start = t.evaluate_now();
    assert!(start.epoch == 0.0 && start.loss.is_nan() && start.lr == 0.5, "{start:?}");
    for budget in [1.0, 1.5, 3.0] {
        t.run_until(t.iterations_for(budget), &mut Quiet);
        let before = t.state().to_bytes();
        let p = t.evaluate_now();
        assert!(t.state().to_bytes() == before, "evaluate_now changed the state at {budget} epochs");
        assert_eq!(p.epoch, budget);
        assert_eq!(p.val_acc, t.state().net.accuracy(ds.x_val.view(), &ds.y_val));
        let st = t.state();
        if st.next_iteration == 0 {
            let last = *st.history.epochs.last().unwrap();
            assert_eq!(
                (p.lr, p.loss, p.train_acc, p.val_acc),
                (last.lr, last.loss, last.train_acc, last.val_acc)
            );
        } else {
            // 1.5 epochs: the 3 steps of epoch 2 so far, at epoch 2's rate.
            let steps = &st.history.iter_loss[6..9];
            assert_eq!(p.loss, steps.iter().map(|&l| f64::from(l)).sum::<f64>() / 3.0);
            assert_eq!(p.lr, 0.5 * 0.95);
        }
    }
    assert!(timeless(t.state()) == timeless(plain.state()));
}

#[test]
fn a_jobs_training_seconds_add_up_over_its_runs_and_survive_its_state_file() {
    let ds = toy_dataset(0, 3000, 1000, 100);
    let mut t = Trainer::new(&cfg(0.5, 3), ds.train_data()).unwrap();
    assert_eq!(t.state().seconds, 0.0);
    let wall = Instant::now();
    t.run_until(t.iterations_for(1.5), &mut Quiet);
    let first = t.state().seconds;
    assert!(first > 0.0 && first <= wall.elapsed().as_secs_f64(), "{first}");
    let loaded = TrainState::from_bytes(&t.state().to_bytes()).unwrap();
    assert_eq!(loaded.seconds.to_bits(), first.to_bits());
    let mut t = Trainer::resume(loaded, ds.train_data()).unwrap();
    let wall = Instant::now();
    t.run_until(t.iterations_for(3.0), &mut Quiet);
    let total = t.state().seconds;
    assert!(
        total > first && total - first <= wall.elapsed().as_secs_f64(),
        "{first} then {total}"
    );
    assert_eq!(t.into_state().into_outcome().seconds, total);
}
