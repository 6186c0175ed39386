//! Runs a sweep's jobs in parallel on one shared copy of the data, largest first, recording each as it ends.
//!
//! The work is a [`Schedule`]: brackets of rungs (one bracket of one rung for a plain sweep). The runner goes stage by
//! stage (rung r of every bracket); within a stage the jobs run in parallel, each from its saved training state if it
//! has one, saving it after every epoch. At the end of a stage each bracket keeps the best `ceil(n / eta)` by
//! validation accuracy (ties to the lower job index), read back from the rung records (`rungs/`), so that the decisions depend only on
//! the recorded numbers: not on the worker count, the finishing order, or whether the sweep was interrupted.

pub mod command;
pub mod states;

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sweep_core::cost::Shape;
use sweep_core::fused::{worth_fusing, FuseKey, FusedTrainer};
use sweep_core::train::{Control, EpochRecord, Observer, Trainer};
use sweep_core::{Dataset, Status};

use crate::config::grid::Job;
use crate::config::params::describe;
use crate::results::format::{JobStatus, Row};
use crate::results::{ResultsDir, ResultsError};
use crate::run::states::States;
use crate::search::{survivors_count, Bracket, Schedule};

/// Jobs trained together at most, unless `--fuse` says otherwise.
pub const DEFAULT_FUSE: usize = 8;

/// How to run.
pub struct RunOptions<'a> {
    pub workers: usize,
    /// Set by Ctrl-C: no job starts after it, running jobs stop (their state is saved) and are not recorded.
    pub stop: &'a AtomicBool,
    /// Draw progress bars (on a terminal); otherwise log a line per job.
    pub progress: bool,
    /// Bytes of saved training states to keep on disk at most (see [`crate::search::Search::state_limit`]).
    pub state_limit: u64,
    /// Per-job claims on the results directory, when other processes may run the same sweep: a job runs only
    /// under its claim, and one held or recorded by another process is skipped.
    pub claims: Option<&'a crate::cluster::claims::Claims>,
    /// Jobs trained together at most (`--fuse`; 1: each alone). See [`sweep_core::fused`].
    pub fuse: usize,
}

/// What happened.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Rows recorded in this run (finished, pruned, diverged, failed), in recording order.
    pub rows: Vec<Row>,
    /// Jobs skipped because a previous run had recorded them.
    pub skipped: usize,
    pub interrupted: bool,
    /// The most disk the saved training states used at once.
    pub peak_state_bytes: u64,
    /// Epochs trained in this run (all jobs, all rungs), and epochs retrained because a state had been dropped.
    pub epochs_trained: usize,
    pub epochs_retrained: usize,
    /// Jobs of the last stage skipped because another process held their claim.
    pub held_elsewhere: usize,
}

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

/// Work of one epoch of a job in kFLOP (the cost model), for scheduling and the progress bar's ETA.
fn epoch_cost(job: &Job, data: &Dataset) -> u64 {
    job_shape(job, data).epoch_flops() / 1_000
}

/// Whether progress bars should be drawn: stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

struct JobObserver<'a> {
    stop: &'a AtomicBool,
    bar: &'a ProgressBar,
    main: &'a ProgressBar,
    job: &'a Job,
    epoch_cost: u64,
}

impl Observer for JobObserver<'_> {
    fn on_iteration(&mut self, _: usize, _: f32) -> Control {
        if self.stop.load(Ordering::Relaxed) {
            Control::Stop
        } else {
            Control::Continue
        }
    }
    fn on_epoch(&mut self, r: &EpochRecord) -> Control {
        self.bar.set_position(r.epoch as u64);
        self.bar.set_message(format!("val {:.2}%", 100.0 * r.val_acc));
        self.main.inc(self.epoch_cost);
        tracing::debug!(
            "job {} epoch {}: lr {:.5} loss {:.4} train {:.4} val {:.4}",
            self.job.id,
            r.epoch,
            r.lr,
            r.loss,
            r.train_acc,
            r.val_acc
        );
        Control::Continue
    }
}

/// One job's part of a stage: train it to `target` epochs in rung `rung` of its bracket.
struct Unit<'a> {
    job: &'a Job,
    bracket: usize,
    rung: usize,
    target: usize,
    last: bool,
    /// Epochs it has at the start of the rung, and the seconds spent in earlier rungs.
    from: usize,
    seconds_before: f64,
}

/// The ranking of a rung's finished jobs, for dropping the states of jobs that can no longer go on.
struct Board {
    keep: usize,
    /// (best validation accuracy, job index, id), best first.
    finished: Vec<(f64, usize, String)>,
}

impl Board {
    fn insert(&mut self, score: f64, index: usize, id: &str) {
        self.finished.push((score, index, id.to_string()));
        self.finished.sort_by(|a, b| rung_order(&(a.0, a.1), &(b.0, b.1)));
    }
}

/// Rank order of a rung: best validation accuracy first, ties to the lower job index.
fn rung_order(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// The jobs of `bracket` that take part in rung `r`, deciding (from the recorded rung rows) every earlier rung; jobs
/// pruned there get their `pruned` row now unless they have one, and lose their saved state.
#[allow(clippy::too_many_arguments)]
fn active_at(
    bracket: &Bracket,
    r: usize,
    jobs: &[Job],
    finals: &HashMap<String, Row>,
    rungs: &HashMap<(usize, String), Row>,
    results: &ResultsDir,
    states: &States,
    recorded: &mut Vec<Row>,
    eta: usize,
) -> Result<Vec<usize>, ResultsError> {
    let mut active = bracket.jobs.clone();
    for k in 0..r {
        let keep = survivors_count(active.len(), eta);
        let mut ranked: Vec<(f64, usize)> = active
            .iter()
            .filter_map(|&j| {
                let row = rungs.get(&(k, jobs[j].id.clone()))?;
                // A job recorded as diverged or failed (at this rung) is out.
                if finals.get(&jobs[j].id).is_some_and(|f| f.status != JobStatus::Pruned) {
                    return None;
                }
                Some((row.best_val_acc.unwrap_or(f64::NEG_INFINITY), j))
            })
            .collect();
        ranked.sort_by(rung_order);
        let survivors: HashSet<usize> = ranked.iter().take(keep).map(|&(_, j)| j).collect();
        let mut pruned = Vec::new();
        for &(_, j) in ranked.iter().skip(keep) {
            let id = &jobs[j].id;
            if !finals.contains_key(id) {
                if let Some(row) = rungs.get(&(k, id.clone())) {
                    pruned.push(Row {
                        status: JobStatus::Pruned,
                        ..row.clone()
                    });
                }
            }
            states.remove(id);
        }
        // One append (and one publish of results.csv) for the whole rung's pruned rows.
        results.append_all(&pruned)?;
        recorded.extend(pruned);
        active.retain(|j| survivors.contains(j));
    }
    Ok(active)
}

/// Runs the schedule's jobs that are not recorded yet, recording each one in `results` as soon as it ends.
pub fn run(jobs: &[Job], schedule: &Schedule, data: &Dataset, results: &ResultsDir, opts: &RunOptions) -> Result<RunSummary, ResultsError> {
    let states = States::open(&results.dir, opts.state_limit)?;
    let start_finals = results.read_final()?;
    let skipped = jobs.iter().filter(|j| start_finals.contains_key(&j.id)).count();
    if skipped > 0 {
        tracing::info!("resuming: {skipped} of {} jobs already recorded", jobs.len());
    }
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut summary = RunSummary {
        skipped,
        ..RunSummary::default()
    };
    let stages = schedule.stages();
    let mut r = 0;
    while r < stages {
        let finals = results.read_final()?;
        let rungs = results.read_rungs()?;
        let mut units = Vec::new();
        let mut boards = Vec::new();
        for (b, bracket) in schedule.brackets.iter().enumerate() {
            let mut board = Board { keep: 0, finished: vec![] };
            if r < bracket.rung_count() {
                let active = active_at(bracket, r, jobs, &finals, &rungs, results, &states, &mut summary.rows, schedule.eta)?;
                board.keep = if bracket.is_last(r) {
                    usize::MAX
                } else {
                    survivors_count(active.len(), schedule.eta)
                };
                for &j in &active {
                    let job = &jobs[j];
                    if finals.contains_key(&job.id) {
                        states.remove(&job.id);
                        continue;
                    }
                    if let Some(row) = rungs.get(&(r, job.id.clone())) {
                        if !bracket.is_last(r) {
                            board.insert(row.best_val_acc.unwrap_or(f64::NEG_INFINITY), j, &job.id);
                            continue;
                        }
                    }
                    let prev = r.checked_sub(1).and_then(|k| rungs.get(&(k, job.id.clone())));
                    units.push(Unit {
                        job,
                        bracket: b,
                        rung: r,
                        target: bracket.target(r, job),
                        last: bracket.is_last(r),
                        from: prev.map_or(0, |p| p.epochs_run),
                        seconds_before: prev.map_or(0.0, |p| p.seconds),
                    });
                }
            }
            boards.push(board);
        }
        let boards = Mutex::new(boards);
        if !units.is_empty() {
            let label = if stages > 1 {
                let planned: usize = schedule
                    .brackets
                    .iter()
                    .filter(|b| r < b.rung_count())
                    .map(|b| b.planned_counts(schedule.eta)[r])
                    .sum();
                format!("rung {}/{stages} ({planned} jobs)", r + 1)
            } else {
                String::new()
            };
            run_stage(
                &units,
                &label,
                schedule.is_multi_fidelity(),
                data,
                results,
                &states,
                &boards,
                opts,
                &multi,
                &mut summary,
            )?;
        }
        if summary.interrupted {
            break;
        }
        if units.is_empty() {
            r += 1;
        } else if summary.held_elsewhere > 0 {
            // Other processes still run some of this rung's jobs (their claims made us skip them): the rung is
            // decided only when every one is recorded, so look again shortly (jobs of a dead process are taken over
            // when their claims go stale).
            summary.held_elsewhere = 0;
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    summary.peak_state_bytes = states.peak();
    if !summary.interrupted {
        let finals = results.read_final()?;
        states.remove_recorded(|id| finals.contains_key(id));
    }
    Ok(summary)
}

/// How a unit ended.
enum Ended {
    Recorded(Row),
    /// Finished a non-final rung; the row is its rung record.
    Rung(Row),
    Stopped,
}

#[allow(clippy::too_many_arguments)]
fn run_stage(
    units: &[Unit],
    label: &str,
    multi_fidelity: bool,
    data: &Dataset,
    results: &ResultsDir,
    states: &States,
    boards: &Mutex<Vec<Board>>,
    opts: &RunOptions,
    multi: &MultiProgress,
    summary: &mut RunSummary,
) -> Result<(), ResultsError> {
    let mut order: Vec<&Unit> = units.iter().collect();
    let work = |u: &Unit| epoch_cost(u.job, data) * (u.target - u.from.min(u.target)) as u64;
    order.sort_by(|a, b| stage_order(a, b, work));

    // The bar counts work (epochs weighted by the cost model), so its ETA holds while the first jobs still run.
    let main = multi.add(ProgressBar::new(order.iter().map(|u| work(u)).sum()));
    main.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}, ETA {eta}").expect("valid template"));
    let status = |done: usize| {
        let best = results.best().map_or("-".into(), |b| format!("{:.2}%", 100.0 * b.val_acc));
        let rung = if label.is_empty() { String::new() } else { format!("{label}: ") };
        format!("{rung}{done}/{} jobs, best val {best}", order.len())
    };
    main.set_message(status(0));
    main.enable_steady_tick(Duration::from_millis(200));
    let job_style = ProgressStyle::with_template("  {prefix} epoch {pos}/{len} {msg}").expect("valid template");

    let groups = fuse_groups(&order, opts.fuse, opts.workers.max(1));
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let held = AtomicUsize::new(0);
    let recorded = Mutex::new(Vec::new());
    let trained = AtomicUsize::new(0);
    let retrained = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let failure: Mutex<Option<ResultsError>> = Mutex::new(None);
    let fail = |e: ResultsError| {
        opts.stop.store(true, Ordering::Relaxed);
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    let workers = opts.workers.max(1).min(groups.len().max(1));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build().expect("thread pool");
    pool.scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| 'groups: loop {
                if opts.stop.load(Ordering::Relaxed) {
                    stopped.store(true, Ordering::Relaxed);
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = groups.get(i) else { break };
                // Each job of the group runs only under its claim (per job, or per job and rung when jobs go through rungs).
                let mut units = Vec::with_capacity(group.len());
                let mut claims = Vec::with_capacity(group.len());
                for &unit in group {
                    let job = unit.job;
                    let key = if multi_fidelity {
                        format!("{}-r{}", job.id, unit.rung)
                    } else {
                        job.id.clone()
                    };
                    match opts
                        .claims
                        .map(|c| c.claim_to_run(&key, || results.unit_recorded(&job.id, unit.rung, unit.last, multi_fidelity)))
                    {
                        None => claims.push(None),
                        Some(Ok(Some(claim))) => claims.push(Some(claim)),
                        Some(Ok(None)) => {
                            // Another process runs it, or recorded it.
                            held.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Some(Err(e)) => {
                            fail(e.into());
                            break 'groups;
                        }
                    }
                    units.push(unit);
                }
                if units.is_empty() {
                    continue;
                }
                let bars: Vec<ProgressBar> = units
                    .iter()
                    .map(|unit| {
                        let bar = multi.add(ProgressBar::new(unit.target as u64));
                        bar.set_style(job_style.clone());
                        bar.set_prefix(format!("{} ({})", unit.job.id, describe(&unit.job.config)));
                        bar
                    })
                    .collect();
                let started = Instant::now();
                let mut observers: Vec<JobObserver> = units
                    .iter()
                    .zip(&bars)
                    .map(|(unit, bar)| JobObserver {
                        stop: opts.stop,
                        bar,
                        main: &main,
                        job: unit.job,
                        epoch_cost: epoch_cost(unit.job, data),
                    })
                    .collect();
                let outcomes = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    train_group(&units, data, states, &mut observers, &trained, &retrained)
                }));
                for bar in &bars {
                    bar.finish_and_clear();
                    multi.remove(bar);
                }
                // Jobs trained together share the time they took.
                let share = started.elapsed().as_secs_f64() / units.len() as f64;
                let outcomes: Vec<Option<_>> = match outcomes {
                    Ok(v) => v.into_iter().map(Some).collect(),
                    Err(_) => units.iter().map(|_| None).collect(),
                };
                for ((unit, claim), outcome) in units.iter().zip(claims).zip(outcomes) {
                    let job = unit.job;
                    let seconds = unit.seconds_before + share;
                    let rung = multi_fidelity.then_some(unit.rung);
                    let ended = match outcome {
                        Some(Ok((_, None))) => Ok(Ended::Stopped),
                        // Taken over by another process (this one missed its heartbeats for a whole lease): theirs to record.
                        _ if claim.as_ref().is_some_and(|c| c.is_lost()) => continue,
                        Some(Ok((status, Some(o)))) => {
                            if unit.last || status != Status::Completed {
                                states.remove(&job.id);
                                results.record_at(job, &o, seconds, data, rung).map(Ended::Recorded)
                            } else {
                                results.record_rung(job, &o, seconds, unit.rung).map(Ended::Rung)
                            }
                        }
                        Some(Err(e)) => Err(e),
                        None => {
                            tracing::error!("job {} failed unexpectedly; recorded as failed, the sweep goes on", job.id);
                            states.remove(&job.id);
                            let row = Row {
                                rung,
                                ..Row::failed(job, seconds)
                            };
                            results.append(&row).map(|_| Ended::Recorded(row))
                        }
                    };
                    if let (Ok(Ended::Recorded(_) | Ended::Rung(_)), Some(claims), Some(claim)) = (&ended, opts.claims, claim) {
                        if let Err(e) = claims.release(claim) {
                            tracing::warn!("job {} is recorded but its claim could not be marked done: {e}", job.id);
                        }
                    }
                    let row = match ended {
                        Ok(Ended::Stopped) => {
                            stopped.store(true, Ordering::Relaxed);
                            continue;
                        }
                        Ok(Ended::Recorded(row)) => {
                            recorded.lock().unwrap_or_else(|p| p.into_inner()).push(row.clone());
                            row
                        }
                        Ok(Ended::Rung(row)) => {
                            let mut boards = boards.lock().unwrap_or_else(|p| p.into_inner());
                            let board = &mut boards[unit.bracket];
                            board.insert(row.best_val_acc.unwrap_or(f64::NEG_INFINITY), job.index, &job.id);
                            drop_states(board, states, opts.state_limit, opts.workers);
                            row
                        }
                        Err(e) => {
                            fail(e);
                            continue;
                        }
                    };
                    let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                    let val = row.best_val_acc.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
                    if opts.progress {
                        // Epochs a diverged job did not run are work done too.
                        main.inc(epoch_cost(job, data) * unit.target.saturating_sub(row.epochs_run) as u64);
                        main.set_message(status(n));
                    } else {
                        let what = if label.is_empty() {
                            "job".to_string()
                        } else {
                            format!("{label} job")
                        };
                        let with = if units.len() > 1 {
                            format!(", trained with {} others", units.len() - 1)
                        } else {
                            String::new()
                        };
                        tracing::info!(
                            "{what} {n}/{} {} {} after {} epochs: val {val}, {:.1} s{with} ({})",
                            order.len(),
                            job.id,
                            if matches!(row.status, JobStatus::Completed) && !unit.last {
                                "trained"
                            } else {
                                row.status.as_str()
                            },
                            row.epochs_run,
                            seconds,
                            describe(&job.config)
                        );
                    }
                }
            });
        }
    });
    main.finish_and_clear();
    multi.remove(&main);
    summary.rows.extend(recorded.into_inner().unwrap_or_else(|p| p.into_inner()));
    summary.epochs_trained += trained.load(Ordering::Relaxed);
    summary.epochs_retrained += retrained.load(Ordering::Relaxed);
    summary.held_elsewhere += held.load(Ordering::Relaxed);
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    summary.interrupted = stopped.load(Ordering::Relaxed) || opts.stop.load(Ordering::Relaxed);
    Ok(())
}

/// After a job finished a rung: drops the states of the rung's finished jobs that can no longer go on, then, while
/// the states would leave less than a state per worker of the `limit` bytes free, those of the lowest-ranked finished
/// jobs (they would retrain if promoted). The room left is for the states the running jobs save next: a save that
/// does not fit is skipped ([`States::save`]), so the limit holds, and the room keeps such skips for rare cases.
fn drop_states(board: &Board, states: &States, limit: u64, workers: usize) {
    for (_, _, id) in board.finished.iter().skip(board.keep) {
        states.remove(id);
    }
    let room = states.largest().saturating_mul(workers as u64);
    for (_, _, id) in board.finished.iter().take(board.keep).rev() {
        if states.total().saturating_add(room) <= limit {
            break;
        }
        if states.has(id) {
            tracing::debug!("job {id}: state dropped to stay within the state disk limit; it retrains if promoted");
            states.remove(id);
        }
    }
}

/// The units of a stage in groups that train together: units next to each other in `order` with the same
/// [`FuseKey`] (the same minibatches and hidden size; only jobs [`worth_fusing`]), start and target, at most
/// `fuse` per group, and split finer when that leaves workers idle (a run of n such units makes groups of
/// `ceil(n / workers)`).
fn fuse_groups<'u, 'j>(order: &[&'u Unit<'j>], fuse: usize, workers: usize) -> Vec<Vec<&'u Unit<'j>>> {
    let same = |a: &Unit, b: &Unit| {
        worth_fusing(&a.job.config) && FuseKey::of(&a.job.config) == FuseKey::of(&b.job.config) && (a.from, a.target) == (b.from, b.target)
    };
    let mut groups = Vec::new();
    let mut i = 0;
    while i < order.len() {
        // At least the unit itself (a wide one is alone).
        let run = 1 + order[i + 1..].iter().take_while(|u| same(order[i], u)).count();
        let size = fuse.max(1).min(run.div_ceil(workers).max(1));
        groups.extend(order[i..i + run].chunks(size).map(<[_]>::to_vec));
        i += run;
    }
    groups
}

/// The order in which a stage's units are handed out: most work first, units that can train together next to each
/// other, then by job index.
fn stage_order(a: &Unit, b: &Unit, work: impl Fn(&Unit) -> u64) -> std::cmp::Ordering {
    let fuse = |u: &Unit| (FuseKey::of(&u.job.config), u.from, u.target);
    work(b)
        .cmp(&work(a))
        .then(fuse(a).cmp(&fuse(b)))
        .then(a.job.index.cmp(&b.job.index))
}

type UnitResult = Result<(Status, Option<sweep_core::train::TrainOutcome>), ResultsError>;

/// A unit's trainer: from its saved state, or from the start.
fn load_trainer<'d>(unit: &Unit, data: &'d Dataset, states: &States, bar: &ProgressBar, retrained: &AtomicUsize) -> Trainer<'d> {
    let job = unit.job;
    let saved = states
        .load(&job.id)
        .filter(|s| s.config == job.config && s.epochs_done() <= unit.target && s.status != Status::Diverged);
    let trainer = match saved.map(|s| Trainer::resume(s, data.train_data())) {
        Some(Ok(t)) => t,
        other => {
            if let Some(Err(e)) = other {
                tracing::warn!("job {}: its saved state does not fit ({e}); it retrains from the start", job.id);
            }
            let cfg = job.config.clone().check().expect("grid values were checked when the grid was read");
            Trainer::new(&cfg, data.train_data()).expect("the data were checked before the sweep started")
        }
    };
    let start = trainer.state().epochs_done();
    if start > unit.from || trainer.state().next_iteration > 0 {
        tracing::info!(
            "job {} continues from epoch {start} (iteration {}) of its saved state",
            job.id,
            trainer.state().next_iteration
        );
    }
    if start < unit.from {
        retrained.fetch_add(unit.from - start, Ordering::Relaxed);
    }
    bar.set_position(start as u64);
    trainer
}

/// Trains a group of units, each from its saved state (or from the start), saving each state after every epoch that
/// is not the job's last. Units standing at the same point train together ([`FusedTrainer`]), a unit alone by
/// itself. Returns, per unit, how it ended and the outcome (`None` when stopped from outside: the state is saved,
/// nothing else).
fn train_group(
    units: &[&Unit],
    data: &Dataset,
    states: &States,
    observers: &mut [JobObserver],
    trained: &AtomicUsize,
    retrained: &AtomicUsize,
) -> Vec<UnitResult> {
    let mut trainers: Vec<Option<Trainer>> = units
        .iter()
        .zip(observers.iter())
        .map(|(u, o)| Some(load_trainer(u, data, states, o.bar, retrained)))
        .collect();
    let mut results: Vec<Option<UnitResult>> = units.iter().map(|_| None).collect();
    let mut observers: Vec<Option<&mut JobObserver>> = observers.iter_mut().map(Some).collect();
    for i in 0..units.len() {
        let Some(t) = &trainers[i] else { continue };
        let at = (t.state().next_epoch, t.state().next_iteration);
        let members: Vec<usize> = (i..units.len())
            .filter(|&j| {
                trainers[j]
                    .as_ref()
                    .is_some_and(|t| (t.state().next_epoch, t.state().next_iteration) == at)
            })
            .collect();
        let group_units: Vec<&Unit> = members.iter().map(|&j| units[j]).collect();
        let group_trainers: Vec<Trainer> = members.iter().filter_map(|&j| trainers[j].take()).collect();
        let mut group_observers: Vec<&mut JobObserver> = members.iter().filter_map(|&j| observers[j].take()).collect();
        let ended = if group_trainers.len() == 1 {
            let trainer = group_trainers.into_iter().next().expect("one trainer");
            vec![train_alone(group_units[0], trainer, states, &mut *group_observers[0], trained)]
        } else {
            train_fused(&group_units, group_trainers, states, &mut group_observers, trained)
        };
        for (&j, r) in members.iter().zip(ended) {
            results[j] = Some(r);
        }
    }
    results.into_iter().map(|r| r.expect("every unit trained")).collect()
}

/// One unit by itself.
fn train_alone(unit: &Unit, mut trainer: Trainer, states: &States, obs: &mut JobObserver, trained: &AtomicUsize) -> UnitResult {
    let job = unit.job;
    let status = loop {
        let done = trainer.state().epochs_done();
        if done >= unit.target {
            break Status::Completed;
        }
        match trainer.run_to(done + 1, obs) {
            Status::Completed => {
                trained.fetch_add(1, Ordering::Relaxed);
                if !(unit.last && done + 1 == unit.target) {
                    states.save(&job.id, trainer.state())?;
                }
            }
            Status::Stopped => {
                states.save(&job.id, trainer.state())?;
                return Ok((Status::Stopped, None));
            }
            Status::Diverged => break Status::Diverged,
        }
    };
    Ok((status, Some(trainer.into_state().into_outcome())))
}

/// Units at the same point with the same minibatches and hidden size, trained together, epoch by epoch.
fn train_fused(
    units: &[&Unit],
    trainers: Vec<Trainer>,
    states: &States,
    observers: &mut [&mut JobObserver],
    trained: &AtomicUsize,
) -> Vec<UnitResult> {
    let mut fused = FusedTrainer::new(trainers).expect("grouped by fuse key and position");
    let mut ended: Vec<Option<UnitResult>> = units.iter().map(|_| None).collect();
    let outcome_of = |fused: &FusedTrainer, i: usize| fused.members()[i].state().outcome();
    let target = units[0].target;
    loop {
        let open: Vec<usize> = (0..units.len()).filter(|&i| ended[i].is_none()).collect();
        let Some(&first) = open.first() else { break };
        let done = fused.members()[first].state().epochs_done();
        if done >= target {
            for &i in &open {
                ended[i] = Some(Ok((Status::Completed, Some(outcome_of(&fused, i)))));
            }
            break;
        }
        let mut obs: Vec<&mut dyn Observer> = observers.iter_mut().map(|o| &mut **o as &mut dyn Observer).collect();
        let statuses = fused.run_epoch(&mut obs);
        for &i in &open {
            let save = || states.save(&units[i].job.id, fused.members()[i].state());
            ended[i] = match statuses[i] {
                Status::Completed => {
                    trained.fetch_add(1, Ordering::Relaxed);
                    if units[i].last && done + 1 == target {
                        None
                    } else {
                        save().err().map(Err)
                    }
                }
                Status::Stopped => Some(save().map(|_| (Status::Stopped, None))),
                Status::Diverged => Some(Ok((Status::Diverged, Some(outcome_of(&fused, i))))),
            };
        }
    }
    ended.into_iter().map(|r| r.expect("every member ended")).collect()
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

    fn unit(job: &Job) -> Unit<'_> {
        Unit {
            job,
            bracket: 0,
            rung: 0,
            target: 3,
            last: true,
            from: 0,
            seconds_before: 0.0,
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
        let units: Vec<Unit> = jobs.iter().map(unit).collect();
        let mut order: Vec<&Unit> = units.iter().collect();
        order.sort_by(|a, b| stage_order(a, b, |u| epoch_cost_of(u.job.config.hidden_size)));
        let sizes = |fuse, workers| -> Vec<Vec<usize>> {
            fuse_groups(&order, fuse, workers)
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

    fn epoch_cost_of(hidden: usize) -> u64 {
        hidden as u64
    }
}
