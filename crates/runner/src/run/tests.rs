//! The runner on a fake backend: promotion across rungs, claims held by another process, a stop in the middle of a
//! stage, a panicking and a failing trial, and resume between rungs, without training anything.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use sweep_grid::grid::{Grid, Job};
use sweep_results::claims::{Claims, Owner};
use sweep_results::format::JobStatus;

/// A backend that "trains" by counting epochs: job j's validation accuracy after e epochs is `score(j, e)`; it keeps
/// each job's epochs as its state, logs every unit it advanced, and can panic, fail or raise the stop flag.
struct Fake<'s> {
    states: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<(String, usize, usize)>>,
    panic_on: Option<&'static str>,
    fail_on: Option<&'static str>,
    /// This job's unit cannot be carried out (a state that cannot be saved): sweep's error, not the job's.
    error_on: Option<&'static str>,
    /// Raise `stop` once this many epochs were trained, in the middle of a unit.
    stop_after: Option<(usize, &'s AtomicBool)>,
    epochs: AtomicUsize,
}

fn score(job: &Job, epochs: usize) -> f64 {
    // Higher learning rates learn faster in this fake: the ranking is known.
    (job.config.learning_rate * 100.0).round() / 1000.0 + epochs as f64 / 10_000.0
}

impl<'s> Fake<'s> {
    fn new() -> Self {
        Fake {
            states: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            panic_on: None,
            fail_on: None,
            error_on: None,
            stop_after: None,
            epochs: AtomicUsize::new(0),
        }
    }

    fn log(&self) -> Vec<(String, usize, usize)> {
        self.log.lock().unwrap().clone()
    }

    fn row(unit: &Unit, epochs: usize) -> Row {
        let v = score(&unit.job, epochs);
        Row {
            id: unit.job.id.clone(),
            config: (*unit.job.config).clone(),
            status: JobStatus::Completed,
            rung: None,
            epochs_run: epochs as f64,
            best_epoch: Some(epochs as f64),
            best_val_acc: Some(v),
            train_acc: Some(v),
            final_loss: Some(1.0),
            seconds: 0.5,
            trial: None,
            measures: None,
        }
    }
}

impl Backend for Fake<'_> {
    fn cost(&self, unit: &Unit) -> u64 {
        (unit.to - unit.from) as u64
    }

    fn advance(&self, group: &[Unit], watch: &dyn Watch) -> Vec<Ended> {
        group
            .iter()
            .map(|unit| {
                let id = unit.job.id.clone();
                if self.panic_on == Some(id.as_str()) {
                    panic!("the fake trial panics");
                }
                if self.error_on == Some(id.as_str()) && unit.rung == Some(1) {
                    return Ended::Error(ResultsError::Write {
                        path: format!("state/{id}.safetensors").into(),
                        source: std::io::Error::other("No space left on device"),
                    });
                }
                let from = self.states.lock().unwrap().get(&id).copied().unwrap_or(0);
                let to = unit.to as usize;
                watch.started(unit, from as f64);
                self.log.lock().unwrap().push((id.clone(), from, to));
                for e in from + 1..=to {
                    if watch.stopping() {
                        return Ended::Stopped;
                    }
                    let n = self.epochs.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some((at, stop)) = self.stop_after {
                        if n == at {
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    watch.point(unit, e as f64, &[("val_acc", score(&unit.job, e))]);
                    self.states.lock().unwrap().insert(id.clone(), e);
                }
                let record = Record {
                    row: Fake::row(unit, to),
                    history: None,
                    model: None,
                };
                if self.fail_on == Some(id.as_str()) {
                    return Ended::Failed {
                        reason: "the fake trial fails".into(),
                        record,
                    };
                }
                if unit.last {
                    Ended::Finished(record)
                } else {
                    Ended::Rung(record)
                }
            })
            .collect()
    }

    fn forget(&self, id: &str) {
        self.states.lock().unwrap().remove(id);
    }
}

/// A toy grid of 9 learning rates with halving at 1, 3 and 9 epochs (or a plain sweep).
fn grid(method: &str) -> Grid {
    let text = format!(
        "name = \"fake\"\nseed = 1\n[data]\nsource = \"toy\"\n[train]\nepochs = 9\n[search]\nmethod = \"{method}\"\n\
         [grid]\nlearning_rate = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]\n"
    );
    Grid::parse(Path::new("fake.toml"), &text).unwrap()
}

/// Runs the grid's schedule on `fake` into `dir`.
fn run_fake(dir: &Path, grid: &Grid, fake: &Fake, stop: &AtomicBool, claims: Option<&Claims>) -> RunSummary {
    let jobs = grid.jobs().unwrap();
    let (results, _) = ResultsDir::open(dir, grid, &jobs).unwrap();
    let mut stages = Driver::new(grid, jobs, |_| 1);
    let opts = RunOptions {
        workers: 2,
        stop,
        progress: false,
        claims,
    };
    run(&mut stages, fake, &results, &opts).unwrap()
}

/// (id, status, rung, epochs) of every row, sorted.
fn rows(dir: &Path) -> Vec<(String, JobStatus, Option<usize>, f64)> {
    let mut rows: Vec<_> = sweep_results::format::read_rows(&dir.join("results.csv"))
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.status, r.rung, r.epochs_run))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn uninterrupted(method: &str) -> Vec<(String, JobStatus, Option<usize>, f64)> {
    let dir = tempfile::tempdir().unwrap();
    run_fake(dir.path(), &grid(method), &Fake::new(), &AtomicBool::new(false), None);
    rows(dir.path())
}

#[test]
fn halving_promotes_the_best_third_and_promoted_jobs_continue_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("halving");
    let fake = Fake::new();
    let summary = run_fake(dir.path(), &g, &fake, &AtomicBool::new(false), None);
    let jobs = g.jobs().unwrap();
    let id = |lr: f64| jobs.iter().find(|j| j.config.learning_rate == lr).unwrap().id.clone();
    let log = fake.log();
    // Rung 0: all 9 from scratch to 1; rung 1: the best 3 (0.07, 0.08, 0.09) from 1 to 3; rung 2: the best one from 3.
    assert_eq!(log.iter().filter(|u| (u.1, u.2) == (0, 1)).count(), 9);
    let mut rung1: Vec<_> = log.iter().filter(|u| u.2 == 3).cloned().collect();
    rung1.sort();
    let mut want = vec![(id(0.07), 1, 3), (id(0.08), 1, 3), (id(0.09), 1, 3)];
    want.sort();
    assert_eq!(rung1, want);
    assert_eq!(log.iter().filter(|u| u.2 == 9).cloned().collect::<Vec<_>>(), vec![(id(0.09), 3, 9)]);
    assert_eq!(summary.epochs_trained, 9 + 3 * 2 + 6, "no epoch trained twice");
    let rows = rows(dir.path());
    let count = |s: JobStatus, rung: usize| rows.iter().filter(|r| r.1 == s && r.2 == Some(rung)).count();
    assert_eq!((count(JobStatus::Pruned, 0), count(JobStatus::Pruned, 1)), (6, 2));
    assert_eq!(rows.iter().find(|r| r.0 == id(0.09)).unwrap().3, 9.0);
    assert_eq!(summary.rows.len(), 9);
}

#[test]
fn a_stop_in_the_middle_of_a_stage_records_nothing_unfinished_and_a_resume_gives_the_same_rows() {
    for method in ["grid", "halving"] {
        let dir = tempfile::tempdir().unwrap();
        let g = grid(method);
        let stop = AtomicBool::new(false);
        let mut fake = Fake::new();
        fake.stop_after = Some((5, &stop));
        let first = run_fake(dir.path(), &g, &fake, &stop, None);
        assert!(first.interrupted, "{method}");
        assert!(rows(dir.path()).len() < 9, "{method}: stopped before the end");
        // Resume with the states the fake kept: what was stopped continues from its last epoch.
        let mut again = Fake::new();
        again.states = Mutex::new(fake.states.lock().unwrap().clone());
        let second = run_fake(dir.path(), &g, &again, &AtomicBool::new(false), None);
        assert!(!second.interrupted);
        assert_eq!(rows(dir.path()), uninterrupted(method), "{method}");
        let trained = fake.epochs.load(Ordering::SeqCst) + again.epochs.load(Ordering::SeqCst);
        let straight = Fake::new();
        run_fake(tempfile::tempdir().unwrap().path(), &g, &straight, &AtomicBool::new(false), None);
        assert_eq!(trained, straight.epochs.load(Ordering::SeqCst), "{method}: no epoch trained twice");
    }
}

#[test]
fn resume_between_rungs_decides_from_the_records_and_continues_the_survivors() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("halving");
    let stop = AtomicBool::new(false);
    let mut fake = Fake::new();
    // Nine epochs are rung 0 exactly: the stop comes as the ninth ends, so rung 1 never starts.
    fake.stop_after = Some((9, &stop));
    run_fake(dir.path(), &g, &fake, &stop, None);
    assert!(fake.log().iter().all(|u| u.2 == 1), "only rung 0 ran");
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_fake(dir.path(), &g, &again, &AtomicBool::new(false), None);
    assert!(again.log().iter().all(|u| u.2 != 1), "rung 0 did not run again");
    assert_eq!(again.log().iter().filter(|u| (u.1, u.2) == (1, 3)).count(), 3);
    assert_eq!(rows(dir.path()), uninterrupted("halving"));
}

#[test]
fn a_panicking_and_a_failing_trial_are_recorded_as_failed_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("grid");
    let jobs = g.jobs().unwrap();
    let (a, b): (&'static str, &'static str) = (
        Box::leak(jobs[2].id.clone().into_boxed_str()),
        Box::leak(jobs[5].id.clone().into_boxed_str()),
    );
    let mut fake = Fake::new();
    fake.panic_on = Some(a);
    fake.fail_on = Some(b);
    let summary = run_fake(dir.path(), &g, &fake, &AtomicBool::new(false), None);
    assert!(!summary.interrupted);
    let rows = rows(dir.path());
    assert_eq!(rows.len(), 9);
    let status = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().1;
    assert_eq!((status(a), status(b)), (JobStatus::Failed, JobStatus::Failed));
    assert_eq!(rows.iter().filter(|r| r.1 == JobStatus::Completed).count(), 7);
}

/// A unit sweep could not carry out (the machine's fault): nothing recorded for it, no row blamed, the run returns the
/// error, and a resume gives the rows of an uninterrupted run.
#[test]
fn a_unit_that_sweep_could_not_carry_out_records_nothing_stops_the_run_and_a_resume_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("halving");
    let jobs = g.jobs().unwrap();
    let best = jobs.iter().find(|j| j.config.learning_rate == 0.09).unwrap();
    let mut fake = Fake::new();
    fake.error_on = Some(Box::leak(best.id.clone().into_boxed_str()));
    let (results, _) = ResultsDir::open(dir.path(), &g, &jobs).unwrap();
    let stop = AtomicBool::new(false);
    let opts = RunOptions {
        workers: 2,
        stop: &stop,
        progress: false,
        claims: None,
    };
    let e = run(&mut Driver::new(&g, jobs.clone(), |_| 1), &fake, &results, &opts).unwrap_err();
    assert!(e.is_environmental() && e.to_string().contains("cannot write to state/"), "{e}");
    let recorded = rows(dir.path());
    assert!(recorded.iter().all(|r| r.0 != best.id && r.1 != JobStatus::Failed), "{recorded:?}");
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_fake(dir.path(), &g, &again, &AtomicBool::new(false), None);
    assert_eq!(rows(dir.path()), uninterrupted("halving"));
}

/// A stop while the workers start: no more start, and the run returns at once (100 000 threads would take minutes).
#[test]
fn a_stop_before_the_workers_start_returns_at_once_without_starting_them() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("grid");
    let jobs = g.jobs().unwrap();
    let (results, _) = ResultsDir::open(dir.path(), &g, &jobs).unwrap();
    let stop = AtomicBool::new(true);
    let opts = RunOptions {
        workers: 100_000,
        stop: &stop,
        progress: false,
        claims: None,
    };
    let started = std::time::Instant::now();
    let summary = run(&mut Driver::new(&g, jobs, |_| 1), &Fake::new(), &results, &opts).unwrap();
    assert!(summary.interrupted && summary.rows.is_empty());
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn a_unit_held_by_another_process_is_left_to_it_and_its_record_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("halving");
    let jobs = g.jobs().unwrap();
    let held = jobs[8].clone();
    // Another process holds job 8's rung-0 claim (heartbeating) and records it a little later.
    let other = Claims::open(dir.path(), Owner::current(None), Duration::from_secs(60)).unwrap();
    let claim = other.try_claim(&format!("{}-r0", held.id)).unwrap().won().unwrap();
    let mine = Claims::open(dir.path(), Owner::current(None), Duration::from_secs(60)).unwrap();
    let fake = Fake::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            let (results, _) = ResultsDir::open(dir.path(), &g, &jobs).unwrap();
            let unit = Unit {
                job: Arc::new(held.clone()),
                bracket: 0,
                rung: Some(0),
                from: 0.0,
                to: 1.0,
                last: false,
                seconds_before: 0.0,
            };
            let mut row = Fake::row(&unit, 1);
            row.rung = Some(0);
            let record = Record {
                row,
                history: None,
                model: None,
            };
            results.record_rung(&held, &record).unwrap();
            other.release(claim).unwrap();
        });
        run_fake(dir.path(), &g, &fake, &AtomicBool::new(false), Some(&mine));
    });
    let log = fake.log();
    assert!(
        !log.iter().any(|u| u.0 == held.id && u.2 == 1),
        "this process trained the unit another one held"
    );
    // Job 8 has the best score: promoted on the other process's record, and trained on here.
    assert!(log.iter().any(|u| u.0 == held.id && u.2 == 3));
    assert_eq!(rows(dir.path()), uninterrupted("halving"));
}

#[test]
fn a_job_whose_claim_says_done_but_which_no_row_records_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("grid");
    let claims = Claims::open(dir.path(), Owner::current(None), Duration::from_secs(60)).unwrap();
    run_fake(dir.path(), &g, &Fake::new(), &AtomicBool::new(false), Some(&claims));
    // Lose one row: rewrite every row file without it (the claim still says done).
    let lost = g.jobs().unwrap()[4].id.clone();
    for f in std::iter::once(dir.path().join("results.csv"))
        .chain(std::fs::read_dir(dir.path().join("writers")).unwrap().map(|e| e.unwrap().path()))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        let kept: String = text.lines().filter(|l| !l.starts_with(&lost)).map(|l| format!("{l}\n")).collect();
        std::fs::write(&f, kept).unwrap();
    }
    assert!(claims.is_done(&lost).unwrap());
    let fake = Fake::new();
    run_fake(dir.path(), &g, &fake, &AtomicBool::new(false), Some(&claims));
    assert_eq!(fake.log().iter().map(|u| u.0.clone()).collect::<Vec<_>>(), vec![lost]);
    assert_eq!(rows(dir.path()), uninterrupted("grid"));
}

/// A TPE search of 24 configurations in batches of 6 over 9 learning rates x 4 regularizations, each batch through
/// rungs of 1, 3 and 9 epochs.
fn tpe_grid() -> Grid {
    tpe_grid_with("")
}

/// [`tpe_grid`] with more `[search]` keys.
fn tpe_grid_with(search: &str) -> Grid {
    let text = format!(
        "name = \"tpe\"\nseed = 4\n[data]\nsource = \"toy\"\n[train]\nepochs = 9\n[search]\nmethod = \"tpe\"\n\
         samples = 24\nbatch = 6\nmin_epochs = 1\n{search}[grid]\n\
         learning_rate = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]\nreg = [0.0, 1e-4, 1e-3, 1e-2]\n"
    );
    Grid::parse(Path::new("tpe.toml"), &text).unwrap()
}

fn run_tpe(dir: &Path, fake: &Fake, workers: usize, stop: &AtomicBool) -> RunSummary {
    run_tpe_grid(&tpe_grid(), dir, fake, workers, stop)
}

fn run_tpe_grid(g: &Grid, dir: &Path, fake: &Fake, workers: usize, stop: &AtomicBool) -> RunSummary {
    let (results, _) = ResultsDir::open(dir, g, &[]).unwrap();
    let mut tpe = Driver::new(g, Vec::new(), |_| 1);
    let opts = RunOptions {
        workers,
        stop,
        progress: false,
        claims: None,
    };
    run(&mut tpe, fake, &results, &opts).unwrap()
}

#[test]
fn tpe_proposes_the_same_trials_for_one_and_two_workers_and_after_a_stop() {
    let one = tempfile::tempdir().unwrap();
    run_tpe(one.path(), &Fake::new(), 1, &AtomicBool::new(false));
    let rows_one = rows(one.path());
    assert_eq!(rows_one.len(), 24, "every proposal recorded once");
    let two = tempfile::tempdir().unwrap();
    run_tpe(two.path(), &Fake::new(), 2, &AtomicBool::new(false));
    assert_eq!(rows(two.path()), rows_one, "1 and 2 workers");
    // Stopped in the middle of the second batch, then resumed: the same batches again.
    let cut = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let mut fake = Fake::new();
    fake.stop_after = Some((20, &stop));
    assert!(run_tpe(cut.path(), &fake, 2, &stop).interrupted);
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_tpe(cut.path(), &again, 2, &AtomicBool::new(false));
    assert_eq!(rows(cut.path()), rows_one, "resumed");
    // The model learns: later batches propose faster learning rates (this fake's better ones) than the random first.
    let rows = sweep_results::format::read_rows(&one.path().join("results.csv")).unwrap();
    let mean_lr = |rs: &[Row]| rs.iter().map(|r| r.config.learning_rate).sum::<f64>() / rs.len() as f64;
    // Rows are recorded batch by batch (each batch's pruned rows, then its finalist): the first 6 are the random
    // start, the last 6 the fourth batch.
    assert!(
        mean_lr(&rows[18..]) > mean_lr(&rows[..6]),
        "TPE did not move toward higher learning rates"
    );
}

#[test]
fn tpe_finalists_are_the_best_completed_trials_trained_longer_after_the_last_batch() {
    let g = tpe_grid_with("finalists = 2\nfinal_epochs = 12\n");
    let one = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    run_tpe_grid(&g, one.path(), &fake, 1, &AtomicBool::new(false));
    let recorded = sweep_results::format::read_rows(&one.path().join("results.csv")).unwrap();
    assert_eq!(recorded.len(), 26, "24 trials and 2 finalists");
    let (trials, finals) = recorded.split_at(24);
    assert!(trials.iter().all(|r| r.config.epochs == 9));
    // The two best completed trials by validation (this fake ranks by learning rate, ties to the earlier trial).
    let mut done: Vec<&Row> = trials.iter().filter(|r| r.status == JobStatus::Completed).collect();
    done.sort_by(|a, b| b.best_val_acc.partial_cmp(&a.best_val_acc).unwrap());
    let values = |r: &Row| (r.config.learning_rate, r.config.reg);
    for f in finals {
        let t = done
            .iter()
            .find(|t| values(t) == values(f))
            .expect("a finalist is a completed trial's values");
        assert!(t.best_val_acc >= done[1].best_val_acc, "a finalist is one of the two best trials");
        assert_eq!((f.config.epochs, f.epochs_run, f.status), (12, 12.0, JobStatus::Completed));
        assert_ne!(
            (&f.id, f.config.seed),
            (&t.id, t.config.seed),
            "a finalist is a new job, with its own seed"
        );
    }
    // Trained from the start, after every trial of the last batch.
    let log = fake.log();
    let first_final = log.iter().position(|u| u.2 == 12).unwrap();
    assert_eq!(log[first_final].1, 0);
    assert_eq!(log.iter().skip(first_final).filter(|u| u.2 != 12).count(), 0, "{log:?}");
    // The same rows for two workers, and after a stop among the finalists.
    let two = tempfile::tempdir().unwrap();
    run_tpe_grid(&g, two.path(), &Fake::new(), 2, &AtomicBool::new(false));
    assert_eq!(rows(two.path()), rows(one.path()));
    let cut = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let mut fake = Fake::new();
    let trained: usize = log.iter().map(|u| u.2 - u.1).sum();
    fake.stop_after = Some((trained - 5, &stop));
    assert!(run_tpe_grid(&g, cut.path(), &fake, 2, &stop).interrupted);
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_tpe_grid(&g, cut.path(), &again, 2, &AtomicBool::new(false));
    assert_eq!(rows(cut.path()), rows(one.path()), "resumed");
}

fn run_asha(dir: &Path, fake: &Fake, workers: usize, stop: &AtomicBool) -> RunSummary {
    let g = grid("asha");
    let jobs = g.jobs().unwrap();
    let (results, _) = ResultsDir::open(dir, &g, &jobs).unwrap();
    let mut asha = Driver::new(&g, jobs, |_| 1);
    let opts = RunOptions {
        workers,
        stop,
        progress: false,
        claims: None,
    };
    run(&mut asha, fake, &results, &opts).unwrap()
}

#[test]
fn asha_promotes_as_results_arrive_and_every_job_ends_with_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    run_asha(dir.path(), &fake, 1, &AtomicBool::new(false));
    let log = fake.log();
    // With one worker the first promotion to rung 1 happens once 3 jobs are recorded at rung 0, long before the
    // ninth starts: no waiting for the rung to fill.
    let first_promotion = log.iter().position(|u| u.2 == 3).unwrap();
    let ninth_start = log
        .iter()
        .filter(|u| u.2 == 1)
        .nth(8)
        .map(|u| log.iter().position(|x| x == u).unwrap())
        .unwrap();
    assert!(first_promotion < ninth_start, "{log:?}");
    let rows = rows(dir.path());
    assert_eq!(rows.len(), 9, "every job has a row");
    assert!(rows.iter().any(|r| r.1 == JobStatus::Completed && r.3 == 9.0));
    assert!(rows.iter().any(|r| r.1 == JobStatus::Pruned));
    // No unit ran twice, and every promotion was recorded before it ran.
    let mut units: Vec<_> = log.iter().map(|u| (u.0.clone(), u.2)).collect();
    units.sort();
    units.dedup();
    assert_eq!(units.len(), log.len());
    let decided = sweep_results::decisions::read_decisions(dir.path()).unwrap();
    assert_eq!(decided.len(), log.iter().filter(|u| u.2 > 1).count());
}

#[test]
fn a_stopped_asha_sweep_carries_out_every_recorded_promotion_on_resume() {
    for at in [4, 7, 11] {
        let dir = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        let mut fake = Fake::new();
        fake.stop_after = Some((at, &stop));
        run_asha(dir.path(), &fake, 2, &stop);
        let before = sweep_results::decisions::read_decisions(dir.path()).unwrap();
        let mut again = Fake::new();
        again.states = Mutex::new(fake.states.lock().unwrap().clone());
        run_asha(dir.path(), &again, 2, &AtomicBool::new(false));
        let rungs: HashSet<(usize, String)> = sweep_results::format::rows_in_dir(&dir.path().join("rungs"))
            .unwrap()
            .into_iter()
            .map(|r| (r.rung.unwrap(), r.id))
            .collect();
        let finals = sweep_results::format::read_rows(&dir.path().join("results.csv")).unwrap();
        for d in &before {
            let done = rungs.contains(&(d.rung, d.id.clone())) || finals.iter().any(|f| f.id == d.id && f.rung >= Some(d.rung));
            assert!(
                done,
                "stop after {at} epochs: promotion of {} to rung {} was not carried out",
                d.id, d.rung
            );
        }
        assert_eq!(finals.len(), 9, "stop after {at} epochs");
    }
}

/// Any sampler goes with any scheduler: TPE's batches each split into Hyperband's brackets, and each run by ASHA;
/// Sobol draws under Hyperband. The synchronous pairs give the same rows for 1 and 2 workers; every proposal gets
/// exactly one final row; and the schedulers really stop some trials early.
#[test]
fn samplers_and_schedulers_combine() {
    let run_grid = |g: &Grid, workers: usize| {
        let dir = tempfile::tempdir().unwrap();
        let jobs = g.jobs().unwrap();
        let (results, _) = ResultsDir::open(dir.path(), g, &jobs).unwrap();
        let mut driver = Driver::new(g, jobs, |_| 1);
        let opts = RunOptions {
            workers,
            stop: &AtomicBool::new(false),
            progress: false,
            claims: None,
        };
        run(&mut driver, &Fake::new(), &results, &opts).unwrap();
        rows(dir.path())
    };
    let tpe_hyperband = tpe_grid_with("scheduler = \"hyperband\"\n");
    assert_eq!(tpe_hyperband.search.name(), "tpe+hyperband");
    let one = run_grid(&tpe_hyperband, 1);
    assert_eq!(one.len(), 24, "every proposal recorded once");
    assert_eq!(run_grid(&tpe_hyperband, 2), one, "1 and 2 workers");
    // Hyperband's brackets start at rungs 1, 3 and 9 epochs: some trials ran 9 epochs from their first rung.
    assert!(one.iter().any(|r| r.1 == JobStatus::Pruned), "{one:?}");
    assert!(
        one.iter().any(|r| r.1 == JobStatus::Completed && r.2 == Some(0)),
        "a bracket of one rung: {one:?}"
    );

    // ASHA promotes floor(n / eta) of a rung's n: batches of 12 fill the rungs 1, 3 and 9 (12, 4, 1); batches of 6
    // would complete no trial and are refused when the jobs are read.
    let six = tpe_grid_with("scheduler = \"asha\"\n");
    assert!(six.jobs().unwrap_err().to_string().contains("search.min_epochs: asha promotes"));
    let tpe_asha = Grid::parse(Path::new("tpe.toml"), &six.text.replace("batch = 6", "batch = 12")).unwrap();
    assert_eq!(tpe_asha.search.name(), "tpe+asha");
    let asha = run_grid(&tpe_asha, 2);
    assert_eq!(asha.len(), 24, "every proposal recorded once");
    let pruned = asha.iter().filter(|r| r.1 == JobStatus::Pruned).count();
    assert!(pruned >= 12, "ASHA keeps about a third of each rung of each batch: {asha:?}");
    assert!(
        asha.iter().any(|r| r.1 == JobStatus::Completed),
        "each batch completes a trial: {asha:?}"
    );

    let sobol = Grid::parse(
        Path::new("sobol.toml"),
        "seed = 3\n[data]\nsource = \"toy\"\n[train]\nepochs = 9\n[search]\nmethod = \"sobol\"\nscheduler = \"hyperband\"\n\
         samples = 20\n[grid]\nlearning_rate = { log = [0.01, 0.1] }\n",
    )
    .unwrap();
    assert_eq!(
        sobol.search.name(),
        "hyperband",
        "sobol draws under hyperband: method hyperband with sampler sobol"
    );
    assert!(sobol.search.schedule(&sobol.jobs().unwrap(), sobol.seed).brackets.len() > 1);
    let sobol_rows = run_grid(&sobol, 1);
    assert_eq!(sobol_rows.len(), 20);
    assert_eq!(run_grid(&sobol, 2), sobol_rows, "1 and 2 workers");
    assert!(sobol_rows.iter().any(|r| r.1 == JobStatus::Pruned));
}

/// The default search (`budget` alone: multivariate TPE in batches through halving) keeps the promise: the same rows
/// for 1 and 2 workers and after a stop and resume, every proposal recorded once, within the budget.
#[test]
fn the_default_search_gives_the_same_rows_for_any_worker_count_and_after_a_stop() {
    let g = Grid::parse(
        Path::new("default.toml"),
        "name = \"default\"\nseed = 5\n[data]\nsource = \"toy\"\n[train]\nepochs = 16\n[search]\nbudget = 300\n[grid]\n\
         learning_rate = { log = [0.005, 0.5] }\nreg = { log = [1e-5, 1e-2] }\n",
    )
    .unwrap();
    assert_eq!(g.search.name(), "mtpe+halving");
    let samples = g.search.samples.unwrap();
    let one = tempfile::tempdir().unwrap();
    run_tpe_grid(&g, one.path(), &Fake::new(), 1, &AtomicBool::new(false));
    let rows_one = rows(one.path());
    assert_eq!(rows_one.len(), samples, "every proposal recorded once");
    let spent: f64 = rows_one.iter().map(|r| r.3).sum();
    assert!(spent <= 300.0, "within the budget: {spent} epochs");
    let two = tempfile::tempdir().unwrap();
    run_tpe_grid(&g, two.path(), &Fake::new(), 2, &AtomicBool::new(false));
    assert_eq!(rows(two.path()), rows_one, "1 and 2 workers");
    let cut = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let mut fake = Fake::new();
    fake.stop_after = Some((25, &stop));
    assert!(run_tpe_grid(&g, cut.path(), &fake, 2, &stop).interrupted);
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_tpe_grid(&g, cut.path(), &again, 2, &AtomicBool::new(false));
    assert_eq!(rows(cut.path()), rows_one, "resumed");
    // With batches in flight (`pipeline = 3`), still the same rows for 1 and 3 workers: each batch is decided from the
    // batches recorded three before it, whenever it starts.
    let piped = Grid::parse(
        Path::new("default.toml"),
        &g.text.replace("budget = 300", "budget = 300\npipeline = 3"),
    )
    .unwrap();
    assert_eq!(piped.search.pipeline, 3);
    let p1 = tempfile::tempdir().unwrap();
    run_tpe_grid(&piped, p1.path(), &Fake::new(), 1, &AtomicBool::new(false));
    let p3 = tempfile::tempdir().unwrap();
    run_tpe_grid(&piped, p3.path(), &Fake::new(), 3, &AtomicBool::new(false));
    assert_eq!(rows(p3.path()), rows(p1.path()), "pipelined: 1 and 3 workers");
    assert_eq!(rows(p1.path()).len(), samples);
    assert_ne!(rows(p1.path()), rows_one, "later batches are decided from fewer trials");
}

/// `asynchronous = true`: proposals on demand, promoted by asha. With one worker the order of events is fixed, so the
/// rows are too, and a stop and resume replays the recorded proposals and promotions: the same rows. With two workers
/// the proposals depend on timing, but every unit stays within the budget and every proposal has one row.
#[test]
fn an_asynchronous_search_stays_within_its_budget_and_a_resume_replays_its_proposals() {
    let g = Grid::parse(
        Path::new("async.toml"),
        "name = \"async\"\nseed = 5\n[data]\nsource = \"toy\"\n[train]\nepochs = 16\n[search]\nbudget = 300\n\
         asynchronous = true\n[grid]\nlearning_rate = { log = [0.005, 0.5] }\nreg = { log = [1e-5, 1e-2] }\n",
    )
    .unwrap();
    assert_eq!(g.search.name(), "mtpe+asha");
    assert!(g.search.asynchronous);
    let ladder = g.search.ladder(16);
    assert_eq!(ladder, vec![1.0, 3.0, 16.0]);
    let one = tempfile::tempdir().unwrap();
    run_tpe_grid(&g, one.path(), &Fake::new(), 1, &AtomicBool::new(false));
    let rows_one = rows(one.path());
    // Epochs started: every proposal's first rung and every promotion's rung; the rows record where each stopped.
    let started: f64 = rows_one.iter().map(|r| r.3).sum();
    assert!(
        (300.0 - 16.0..=300.0).contains(&started),
        "close to the budget, within it: {started} epochs"
    );
    let proposals: Vec<_> = sweep_results::decisions::read_decisions(one.path())
        .unwrap()
        .into_iter()
        .filter(|d| d.proposal.is_some())
        .collect();
    assert_eq!(
        proposals.len(),
        rows_one.len(),
        "each proposal recorded with its point, and one row each"
    );
    assert!(rows_one.iter().any(|r| r.1 == JobStatus::Completed) && rows_one.iter().any(|r| r.1 == JobStatus::Pruned));
    // The same directory continued with a larger budget: more proposals, and a job pruned before never trains again
    // (its rung's count grows, so it could rank in the top again) nor gets a second row.
    let more = Grid::parse(Path::new("async.toml"), &g.text.replace("budget = 300", "budget = 450")).unwrap();
    run_tpe_grid(&more, one.path(), &Fake::new(), 1, &AtomicBool::new(false));
    let grown = rows(one.path());
    let ids: HashSet<&String> = grown.iter().map(|r| &r.0).collect();
    assert_eq!(ids.len(), grown.len(), "one row per job");
    assert!(grown.len() > rows_one.len());
    for r in &rows_one {
        assert!(grown.contains(r), "kept as it was: {r:?}");
    }
    let cut = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let mut fake = Fake::new();
    fake.stop_after = Some((60, &stop));
    assert!(run_tpe_grid(&g, cut.path(), &fake, 1, &stop).interrupted);
    assert!(rows(cut.path()).len() < rows_one.len());
    let mut again = Fake::new();
    again.states = Mutex::new(fake.states.lock().unwrap().clone());
    run_tpe_grid(&g, cut.path(), &again, 1, &AtomicBool::new(false));
    assert_eq!(rows(cut.path()), rows_one, "resumed: the same proposals and promotions");
    let two = tempfile::tempdir().unwrap();
    run_tpe_grid(&g, two.path(), &Fake::new(), 2, &AtomicBool::new(false));
    let rows_two = rows(two.path());
    let started: f64 = rows_two.iter().map(|r| r.3).sum();
    assert!(started <= 300.0, "2 workers: within the budget: {started} epochs");
    let proposed = sweep_results::decisions::read_decisions(two.path())
        .unwrap()
        .into_iter()
        .filter(|d| d.proposal.is_some())
        .count();
    assert_eq!(proposed, rows_two.len(), "2 workers: one row per proposal");
}
