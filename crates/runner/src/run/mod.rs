//! The runner: trains a sweep's units of work on worker threads, recording each as it ends.
//!
//! It reads as three stages in a loop, on the calling thread:
//! 1. **plan**: the [`Scheduler`] reads the recorded rows and names the units that may start now (for synchronous
//!    successive halving, rung r of every bracket once every earlier rung is recorded and decided);
//! 2. **run**: free workers take groups of those units ([`Backend::groups`]), each under its claim when other
//!    processes may share the results directory, and the [`Backend`] advances them ([`Backend::advance`]);
//! 3. **decide**: each unit's one answer ([`Ended`]) is recorded (a row, a rung record, or nothing when stopped), its
//!    claim released, and the scheduler is asked again.
//!
//! Decisions come only from recorded rows (see [`sweep_search::decide`]), so they do not depend on the worker
//! count, the finishing order, or whether the sweep was interrupted. The rows are the truth: a job whose claim says
//! done but that no readable row records runs again.

pub mod builtin;
#[cfg(unix)]
pub mod process;
#[cfg(unix)]
pub mod program;
mod progress;
pub mod scheduler;
pub mod states;
pub mod trial;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use builtin::{job_shape, Network};
pub use scheduler::{Driver, Poll, Scheduler, View};
use sweep_search::work::Outcome;
pub use trial::{Backend, Ended, Record, Unit, Watch};

use progress::Progress;
use sweep_results::claims::{Attempt, Claim, Claims};
use sweep_results::decisions::{read_decisions, DecisionLog};
use sweep_results::format::Decision;
use sweep_results::format::{JobStatus, Row};
use sweep_results::progress::ProgressLog;
use sweep_results::{ResultsDir, ResultsError};

/// Jobs trained together at most, unless `--fuse` says otherwise.
pub const DEFAULT_FUSE: usize = 8;

/// How long to wait before looking again at units that other processes hold.
const HELD_RETRY: Duration = Duration::from_millis(500);

/// How to run.
pub struct RunOptions<'a> {
    pub workers: usize,
    /// Set by Ctrl-C: no unit starts after it, running units stop (their state is saved) and are not recorded.
    pub stop: &'a AtomicBool,
    /// Draw progress bars (on a terminal); otherwise log a line per unit.
    pub progress: bool,
    /// Per-unit claims on the results directory, when other processes may run the same sweep: a unit runs only
    /// under its claim, and one held or recorded by another process is skipped.
    pub claims: Option<&'a Claims>,
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
}

/// Whether progress bars should be drawn: stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Runs the units `scheduler` proposes with `backend` until it says it is done (or a stop), recording each unit in
/// `results` as soon as it ends.
pub fn run(
    scheduler: &mut dyn Scheduler,
    backend: &dyn Backend,
    results: &ResultsDir,
    opts: &RunOptions,
) -> Result<RunSummary, ResultsError> {
    let mut view = Rows::read(results)?;
    let skipped = view.finals.len();
    let progress = Progress::new(opts.progress);
    let log = ProgressLog::new(&results.dir, &results.writer_name());
    let decisions = DecisionLog::new(&results.dir, &results.writer_name());
    let watcher = Watcher {
        stop: opts.stop,
        progress: &progress,
        log: &log,
        backend,
        trained: AtomicUsize::new(0),
        retrained: AtomicUsize::new(0),
    };
    let mut run = Runner {
        decisions: &decisions,
        backend,
        results,
        opts,
        watcher: &watcher,
        in_flight: HashMap::new(),
        running: HashSet::new(),
        held: HashMap::new(),
        shared: scheduler.reads_every_poll(),
        next_group: 0,
        finished: 0,
        summary: RunSummary {
            skipped,
            ..RunSummary::default()
        },
        failure: None,
        waiting_since: None,
    };
    let workers = opts.workers.max(1);
    // The threads start one by one, each only while no stop is asked: a stop while many start is honoured at once.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .spawn_handler(|thread| {
            if opts.stop.load(Ordering::SeqCst) {
                return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "stopped"));
            }
            std::thread::Builder::new()
                .name(format!("sweep-worker-{}", thread.index()))
                .spawn(|| thread.run())
                .map(|_| ())
        })
        .build();
    let pool = match pool {
        Ok(p) => p,
        Err(_) if opts.stop.load(Ordering::SeqCst) => {
            return Ok(RunSummary {
                skipped,
                interrupted: true,
                ..RunSummary::default()
            })
        }
        Err(source) => return Err(ResultsError::Threads { workers, source }),
    };
    let (tx, rx) = mpsc::channel::<Message>();
    pool.in_place_scope(|scope| {
        loop {
            // Plan.
            let stopping = opts.stop.load(Ordering::SeqCst) || run.failure.is_some();
            let mut done = false;
            let mut wrote = false;
            if !stopping {
                if run.shared {
                    match Rows::read(results) {
                        Ok(v) => view = v,
                        Err(e) => run.fail(e),
                    }
                }
                let poll = scheduler.poll(&View {
                    idle: workers.saturating_sub(run.in_flight.len()),
                    ..view.view()
                });
                done = poll.done;
                wrote = run.plan(poll, &mut view, workers, |group, id| {
                    let tx = tx.clone();
                    let watcher = &watcher;
                    scope.spawn(move |_| {
                        let ended = std::panic::catch_unwind(AssertUnwindSafe(|| backend.advance(&group, watcher))).unwrap_or_else(|p| {
                            let msg = panic_text(&p);
                            group.iter().map(|_| Ended::Panicked(msg.clone())).collect()
                        });
                        let _ = tx.send(Message { id, ended });
                    });
                });
            }
            if run.in_flight.is_empty() {
                if stopping || done {
                    break;
                }
                if wrote {
                    continue;
                }
                if run.held.is_empty() && !run.shared {
                    // Nothing runs, nothing can start, nobody else holds anything: the rows cannot move on.
                    run.fail(ResultsError::Stuck { dir: results.dir.clone() });
                    break;
                }
                // Nothing runs here and nothing could start: other processes hold the rest.
                run.wait_for_others(&mut view);
                continue;
            }
            // Decide.
            let timeout = if run.held.is_empty() {
                Duration::from_secs(3600)
            } else {
                HELD_RETRY
            };
            match rx.recv_timeout(timeout) {
                Ok(msg) => run.ended(msg, &mut view),
                Err(mpsc::RecvTimeoutError::Timeout) => run.shared = true,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    progress.finish();
    let mut summary = run.summary;
    summary.epochs_trained = watcher.trained.load(Ordering::Relaxed);
    summary.epochs_retrained = watcher.retrained.load(Ordering::Relaxed);
    if let Some(e) = run.failure {
        return Err(e);
    }
    summary.interrupted = opts.stop.load(Ordering::SeqCst);
    let finals = if summary.interrupted {
        HashMap::new()
    } else {
        results.read_final()?
    };
    summary.peak_state_bytes = backend.close(&|id| finals.contains_key(id));
    Ok(summary)
}

/// The recorded rows, and what the scheduler reads of them ([`Outcome`]s, kept in step).
struct Rows {
    finals: HashMap<String, Row>,
    rungs: HashMap<(usize, String), Row>,
    final_outcomes: HashMap<String, Outcome>,
    rung_outcomes: HashMap<(usize, String), Outcome>,
    decisions: HashSet<Decision>,
}

impl Rows {
    fn read(results: &ResultsDir) -> Result<Rows, ResultsError> {
        let finals = results.read_final()?;
        let rungs = results.read_rungs()?;
        Ok(Rows {
            final_outcomes: finals.iter().map(|(k, r)| (k.clone(), r.outcome())).collect(),
            rung_outcomes: rungs.iter().map(|(k, r)| (k.clone(), r.outcome())).collect(),
            finals,
            rungs,
            decisions: read_decisions(&results.dir)?,
        })
    }

    fn insert_final(&mut self, row: Row) {
        self.final_outcomes.insert(row.id.clone(), row.outcome());
        self.finals.insert(row.id.clone(), row);
    }

    fn insert_rung(&mut self, rung: usize, row: Row) {
        self.rung_outcomes.insert((rung, row.id.clone()), row.outcome());
        self.rungs.insert((rung, row.id.clone()), row);
    }

    fn view(&self) -> View<'_> {
        View {
            finals: &self.final_outcomes,
            rungs: &self.rung_outcomes,
            decisions: &self.decisions,
            idle: 0,
        }
    }
}

/// A group's answer, from a worker.
struct Message {
    id: usize,
    ended: Vec<Ended>,
}

/// A group being trained.
struct Flight {
    units: Vec<Unit>,
    claims: Vec<Option<Claim>>,
    started: Instant,
}

/// The runner's own state between the stages.
struct Runner<'r> {
    decisions: &'r DecisionLog,
    backend: &'r dyn Backend,
    results: &'r ResultsDir,
    opts: &'r RunOptions<'r>,
    watcher: &'r Watcher<'r>,
    in_flight: HashMap<usize, Flight>,
    /// Keys of the units running here.
    running: HashSet<String>,
    /// Units another process holds, with when this one last tried to claim them.
    held: HashMap<String, Instant>,
    /// Another process shares the directory (its claims were seen): read the rows again before each plan.
    shared: bool,
    next_group: usize,
    finished: usize,
    summary: RunSummary,
    failure: Option<ResultsError>,
    waiting_since: Option<Instant>,
}

impl Runner<'_> {
    fn fail(&mut self, e: ResultsError) {
        self.opts.stop.store(true, Ordering::SeqCst);
        self.failure.get_or_insert(e);
    }

    /// Writes what the scheduler decided and starts as many groups of its units as there are free workers.
    /// Returns whether it wrote rows (then the scheduler may have more to say at once).
    fn plan(&mut self, poll: Poll, view: &mut Rows, workers: usize, mut spawn: impl FnMut(Vec<Unit>, usize)) -> bool {
        // A pruned job's row is its record of the rung it stopped in.
        let pruned: Vec<Row> = poll
            .prune
            .iter()
            .filter_map(|(id, k)| {
                let row = view.rungs.get(&(*k, id.clone()))?;
                Some(Row {
                    status: JobStatus::Pruned,
                    ..row.clone()
                })
            })
            .collect();
        // Every process sharing the directory takes the same decisions: one writes each pruned row.
        let (pruned, claims) = match self.claim_pruned(pruned) {
            Ok(mine) => mine,
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        let wrote = !pruned.is_empty();
        if wrote {
            // One append (and one publish of results.csv) for the whole rung's pruned rows.
            match self.results.append_all(&pruned) {
                Ok(()) => {
                    for row in pruned {
                        self.backend.forget(&row.id);
                        view.insert_final(row.clone());
                        self.summary.rows.push(row);
                    }
                }
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
        if let Some(c) = self.opts.claims {
            for claim in claims {
                if let Err(e) = c.release(claim) {
                    self.fail(e.into());
                    return false;
                }
            }
        }
        for (ids, keep) in &poll.ranked {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            self.backend.rung_ranked(&ids, *keep);
        }
        let best = self.results.best_text();
        let label = if poll.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", poll.label)
        };
        self.watcher
            .progress
            .status(poll.work_left, format!("{label}{} finished, {best}", self.finished));
        if self.in_flight.len() >= workers {
            return wrote;
        }
        let now = Instant::now();
        self.held.retain(|_, at| now.duration_since(*at) < HELD_RETRY);
        let free: Vec<Unit> = poll
            .units
            .into_iter()
            .filter(|u| {
                let key = u.key();
                !self.running.contains(&key) && !self.held.contains_key(&key)
            })
            .collect();
        if free.is_empty() {
            return wrote;
        }
        for group in self.backend.groups(free, workers, poll.ordered) {
            if self.in_flight.len() >= workers || self.failure.is_some() {
                break;
            }
            let mut units = Vec::with_capacity(group.len());
            let mut claims = Vec::with_capacity(group.len());
            for unit in group {
                let key = Decision::of(unit.job.id.clone(), unit.rung.unwrap_or(0));
                if let (Some(decision), false) = (poll.decide.get(&key), view.decisions.contains(&key)) {
                    // Recorded before the unit starts, so that a resumed sweep carries out the promotion (or builds
                    // the proposed job again).
                    if let Err(e) = self.decisions.record(decision) {
                        self.fail(e);
                        return wrote;
                    }
                    match decision.proposal {
                        Some(_) => tracing::debug!("job {} proposed", decision.id),
                        None => tracing::debug!("job {} promoted to rung {}", decision.id, decision.rung + 1),
                    }
                    view.decisions.insert(decision.clone());
                }
                match self.claim(&unit, view) {
                    Ok(Some(claim)) => claims.push(claim),
                    Ok(None) => continue,
                    Err(e) => {
                        self.fail(e);
                        return wrote;
                    }
                }
                self.running.insert(unit.key());
                units.push(unit);
            }
            if units.is_empty() {
                continue;
            }
            let id = self.next_group;
            self.next_group += 1;
            self.in_flight.insert(
                id,
                Flight {
                    units: units.clone(),
                    claims,
                    started: Instant::now(),
                },
            );
            self.waiting_since = None;
            spawn(units, id);
        }
        wrote
    }

    /// The pruned rows this process writes, and their claims: with claims, a row whose claim another
    /// process holds or has done is left to it, and one recorded since the rows were read is not written again.
    fn claim_pruned(&mut self, pruned: Vec<Row>) -> Result<(Vec<Row>, Vec<Claim>), ResultsError> {
        let Some(claims) = self.opts.claims else {
            return Ok((pruned, Vec::new()));
        };
        if pruned.is_empty() {
            return Ok((pruned, Vec::new()));
        }
        let mut won = Vec::new();
        for row in pruned {
            // `<id>-r<rung>-pruned`: read as the job's claim by those that clear a finished sweep's claims.
            match claims.try_claim(&format!("{}-r{}-pruned", row.id, row.rung.unwrap_or(0)))? {
                Attempt::Won(c) => won.push((row, c)),
                Attempt::Held(_) | Attempt::Done(_) => self.shared = true,
            }
        }
        if won.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let recorded = self.results.read_final()?;
        let (mut rows, mut mine) = (Vec::new(), Vec::new());
        for (row, claim) in won {
            if !recorded.contains_key(&row.id) {
                rows.push(row);
            }
            mine.push(claim);
        }
        Ok((rows, mine))
    }

    /// Takes the unit's claim: `Some(None)` without claims, `Some(Some(claim))` when won, `None` when another process
    /// holds it or recorded it.
    fn claim(&mut self, unit: &Unit, view: &mut Rows) -> Result<Option<Option<Claim>>, ResultsError> {
        let Some(claims) = self.opts.claims else { return Ok(Some(None)) };
        let key = unit.key();
        let claim = match claims.try_claim(&key)? {
            Attempt::Won(c) => c,
            Attempt::Held(_) => {
                self.shared = true;
                self.held.insert(key, Instant::now());
                return Ok(None);
            }
            Attempt::Done(_) => {
                // Recorded by another process since the rows were read, or its row was lost: the rows decide.
                *view = Rows::read(self.results)?;
                if self.recorded(unit, view) {
                    self.shared = true;
                    return Ok(None);
                }
                tracing::warn!(
                    "job {}: its claim {key} says done, but no readable row records it (a row lost to a crash in the \
                     middle of an append, or deleted to run it again); it runs again",
                    unit.job.id
                );
                match claims.claim_unrecorded(&key)? {
                    Attempt::Won(c) => c,
                    _ => {
                        self.shared = true;
                        self.held.insert(key, Instant::now());
                        return Ok(None);
                    }
                }
            }
        };
        // A claim taken over (stale, released or done): its owner may have recorded the unit and died before
        // marking it; another process may share the directory.
        if claim.took_over().is_some() || self.shared {
            *view = Rows::read(self.results)?;
            if self.recorded(unit, view) {
                claims.release(claim)?;
                return Ok(None);
            }
        }
        Ok(Some(Some(claim)))
    }

    /// Whether the rows record the unit: the job's final row, or its record of this rung when that is not the last.
    fn recorded(&self, unit: &Unit, view: &Rows) -> bool {
        view.finals.contains_key(&unit.job.id)
            || (!unit.last && unit.rung.is_some_and(|r| view.rungs.contains_key(&(r, unit.job.id.clone()))))
    }

    /// Nothing can start here until other processes record what they hold: wait a little and read their rows.
    fn wait_for_others(&mut self, view: &mut Rows) {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        if since.elapsed() < HELD_RETRY || since.elapsed().as_secs() % 30 == 0 {
            let claims = self.opts.claims.map_or(0, |_| self.held.len());
            tracing::info!(
                "waiting for {claims} unit(s) of work that other processes hold (their claims in claims/); looking again \
                 every {} ms, and a dead process's claims are taken over when they go stale",
                HELD_RETRY.as_millis()
            );
        }
        std::thread::sleep(HELD_RETRY);
        self.shared = true;
        match Rows::read(self.results) {
            Ok(v) => *view = v,
            Err(e) => self.fail(e),
        }
    }

    /// Records how each unit of a group ended and releases its claim.
    fn ended(&mut self, msg: Message, view: &mut Rows) {
        let Some(flight) = self.in_flight.remove(&msg.id) else { return };
        // Jobs trained together share the time they took (for a unit that panicked).
        let share = flight.started.elapsed().as_secs_f64() / flight.units.len() as f64;
        let together = flight.units.len();
        for ((unit, claim), ended) in flight.units.iter().zip(flight.claims).zip(msg.ended) {
            self.running.remove(&unit.key());
            self.watcher.progress.ended(unit);
            if matches!(ended, Ended::Stopped | Ended::Error(_)) {
                if let (Some(claims), Some(c)) = (self.opts.claims, claim) {
                    let _ = claims.abandon(c);
                }
                if let Ended::Error(e) = ended {
                    self.fail(e);
                }
                continue;
            }
            // Taken over by another process (this one missed its heartbeats for a whole lease): theirs to record.
            if claim.as_ref().is_some_and(|c| c.is_lost()) {
                continue;
            }
            let recorded = self.record(unit, ended, share, together, view);
            match recorded {
                Ok(()) => {
                    if let (Some(claims), Some(c)) = (self.opts.claims, claim) {
                        if let Err(e) = claims.release(c) {
                            tracing::warn!("job {} is recorded but its claim could not be marked done: {e}", unit.job.id);
                        }
                    }
                }
                Err(e) => self.fail(e),
            }
        }
    }

    fn record(&mut self, unit: &Unit, ended: Ended, share: f64, together: usize, view: &mut Rows) -> Result<(), ResultsError> {
        let job = &unit.job;
        let (mut record, rung_record) = match ended {
            Ended::Finished(r) | Ended::Diverged(r) => (r, false),
            Ended::Rung(r) => (r, true),
            Ended::Failed { reason, mut record } => {
                // A command trial's reason says "failed: ..." already (its row's note): said once.
                let why = reason.strip_prefix("failed: ").unwrap_or(&reason);
                tracing::error!("job {} failed: {why}; recorded as failed, the sweep goes on", job.id);
                record.row.status = JobStatus::Failed;
                if let Some(t) = record.row.trial.as_mut() {
                    t.note.get_or_insert(reason);
                }
                (record, false)
            }
            Ended::Panicked(msg) => {
                tracing::error!("job {} failed unexpectedly ({msg}); recorded as failed, the sweep goes on", job.id);
                let mut row = Row::failed(job, unit.seconds_before + share);
                if let Some(t) = row.trial.as_mut() {
                    t.note = Some(format!("failed unexpectedly: {msg}"));
                }
                (
                    Record {
                        row,
                        history: None,
                        model: None,
                    },
                    false,
                )
            }
            Ended::Stopped | Ended::Error(_) => return Ok(()),
        };
        record.row.rung = unit.rung;
        if rung_record {
            self.results.record_rung(job, &record)?;
            if let Some(r) = unit.rung {
                view.insert_rung(r, record.row.clone());
            }
        } else {
            self.backend.forget(&job.id);
            self.results.record(job, &record)?;
            view.insert_final(record.row.clone());
            self.summary.rows.push(record.row.clone());
        }
        self.finished += 1;
        let row = &record.row;
        let what = match unit.rung {
            Some(r) => format!("rung {} job", r + 1),
            None => "job".to_string(),
        };
        let with = if together > 1 {
            format!(", trained with {} others", together - 1)
        } else {
            String::new()
        };
        let status = if rung_record { "trained" } else { row.status.as_str() };
        self.watcher.progress.line(format!(
            "{what} {} {} {status} after {} epochs: {}, {:.1} s{with} ({})",
            self.finished,
            job.id,
            row.epochs_run,
            row.objective_text(),
            row.seconds,
            job.describe()
        ));
        Ok(())
    }
}

/// The runner's side of the seam: the stop flag, the progress log and bars, the epoch counts.
struct Watcher<'a> {
    stop: &'a AtomicBool,
    progress: &'a Progress,
    log: &'a ProgressLog,
    backend: &'a dyn Backend,
    trained: AtomicUsize,
    retrained: AtomicUsize,
}

impl Watch for Watcher<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn started(&self, unit: &Unit, epochs: f64) {
        self.started_on(unit, epochs, None);
    }

    fn started_on(&self, unit: &Unit, epochs: f64, gpus: Option<&str>) {
        if epochs < unit.from {
            self.retrained.fetch_add((unit.from - epochs).ceil() as usize, Ordering::Relaxed);
        }
        self.log.start_on(&unit.job.id, unit.rung, epochs, unit.to, gpus);
        self.progress.started(unit, epochs);
    }

    fn point(&self, unit: &Unit, epoch: f64, metrics: &[(&str, f64)]) {
        self.trained.fetch_add(1, Ordering::Relaxed);
        self.log.point(&unit.job.id, unit.rung, epoch, metrics.iter().copied());
        tracing::debug!("job {} epoch {epoch}: {metrics:?}", unit.job.id);
        let per_epoch = (self.backend.cost(unit) as f64 / (unit.to - unit.from).max(1.0)) as u64;
        self.progress.point(unit, epoch, self.backend.point_text(metrics), per_epoch);
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}
