//! Runs a sweep's jobs in parallel on one shared copy of the data, largest first, recording each as it ends.

use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sweep_core::cost::Shape;
use sweep_core::train::{train, Control, EpochRecord, Observer};
use sweep_core::Dataset;

use crate::format::Row;
use crate::grid::Job;
use crate::params::describe;
use crate::results::{ResultsDir, ResultsError};

/// How to run.
pub struct RunOptions<'a> {
    pub workers: usize,
    /// Set by Ctrl-C: no job starts after it, running jobs stop and are not recorded.
    pub stop: &'a AtomicBool,
    /// Draw progress bars (on a terminal); otherwise log a line per job.
    pub progress: bool,
    /// Per-job claims on the results directory, when other processes may run the same sweep: a job runs only
    /// under its claim, and one held or recorded by another process is skipped.
    pub claims: Option<&'a crate::claims::Claims>,
}

/// What happened.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Rows recorded in this run, in finishing order.
    pub rows: Vec<Row>,
    /// Jobs skipped because a previous run had recorded them.
    pub skipped: usize,
    pub interrupted: bool,
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

/// Work of one epoch of a job in kFLOP (the cost model), for the progress bar's ETA.
fn epoch_cost(job: &Job, data: &Dataset) -> u64 {
    job_shape(job, data).epoch_flops() / 1_000
}

/// Work of a job, for largest-first scheduling.
fn cost(job: &Job, data: &Dataset) -> u64 {
    epoch_cost(job, data) * job.config.epochs as u64
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

/// Runs `jobs` minus those in `done`, recording each one in `results` as soon as it ends.
pub fn run(
    jobs: &[Job],
    done: &std::collections::HashSet<String>,
    data: &Dataset,
    results: &ResultsDir,
    opts: &RunOptions,
) -> Result<RunSummary, ResultsError> {
    let mut todo: Vec<&Job> = jobs.iter().filter(|j| !done.contains(&j.id)).collect();
    todo.sort_by(|a, b| cost(b, data).cmp(&cost(a, data)).then(a.index.cmp(&b.index)));
    let skipped = jobs.len() - todo.len();
    if skipped > 0 {
        tracing::info!("resuming: {skipped} of {} jobs already recorded, {} to run", jobs.len(), todo.len());
    }

    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    // The bar counts work (epochs weighted by hidden size), so its ETA holds while the first jobs are still running.
    let main = multi.add(ProgressBar::new(todo.iter().map(|j| cost(j, data)).sum()));
    main.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}, ETA {eta}").expect("valid template"));
    let status = |done: usize| {
        let best = results.best().map_or("-".into(), |b| format!("{:.2}%", 100.0 * b.val_acc));
        format!("{done}/{} jobs, best val {best}", jobs.len())
    };
    main.set_message(status(skipped));
    main.enable_steady_tick(Duration::from_millis(200));
    let job_style = ProgressStyle::with_template("  {prefix} epoch {pos}/{len} {msg}").expect("valid template");

    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(skipped);
    let rows = Mutex::new(Vec::new());
    let failure: Mutex<Option<ResultsError>> = Mutex::new(None);
    let total = jobs.len();
    let workers = opts.workers.max(1).min(todo.len().max(1));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build().expect("thread pool");
    pool.scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| loop {
                if opts.stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = todo.get(i) else { break };
                let claim = match opts
                    .claims
                    .map(|c| c.claim_to_run(&job.id, || crate::writers::is_recorded(&results.dir, &job.id)))
                {
                    None => None,
                    Some(Ok(Some(claim))) => Some(claim),
                    Some(Ok(None)) => continue, // another process runs it, or recorded it
                    Some(Err(e)) => {
                        opts.stop.store(true, Ordering::Relaxed);
                        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.into());
                        break;
                    }
                };
                let bar = multi.add(ProgressBar::new(job.config.epochs as u64));
                bar.set_style(job_style.clone());
                bar.set_prefix(format!("{} ({})", job.id, describe(&job.config)));
                let started = Instant::now();
                let cfg = job.config.clone().check();
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let cfg = cfg.expect("grid values were checked when the grid was read");
                    let mut obs = JobObserver {
                        stop: opts.stop,
                        bar: &bar,
                        main: &main,
                        job,
                        epoch_cost: epoch_cost(job, data),
                    };
                    train(&cfg, data.train_data(), &mut obs)
                }));
                bar.finish_and_clear();
                multi.remove(&bar);
                let seconds = started.elapsed().as_secs_f64();
                let recorded = match outcome {
                    Ok(o) if o.status == sweep_core::Status::Stopped => continue, // interrupted: not recorded, rerun on resume
                    // Taken over by another process (this one missed its heartbeats for a whole lease): theirs to record.
                    _ if claim.as_ref().is_some_and(|c| c.is_lost()) => continue,
                    Ok(o) => results.record(job, &o, seconds, data),
                    Err(_) => {
                        tracing::error!("job {} failed unexpectedly; recorded as failed, the sweep goes on", job.id);
                        results.append(&Row::failed(job, seconds)).map(|_| Row::failed(job, seconds))
                    }
                };
                match recorded {
                    Ok(row) => {
                        if let (Some(claims), Some(claim)) = (opts.claims, claim) {
                            if let Err(e) = claims.release(claim) {
                                tracing::warn!("job {} is recorded but its claim could not be marked done: {e}", job.id);
                            }
                        }
                        let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                        let val = row.best_val_acc.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
                        if opts.progress {
                            // Epochs a diverged job did not run are work done too.
                            main.inc(epoch_cost(job, data) * (job.config.epochs - row.epochs_run) as u64);
                            main.set_message(status(n));
                        } else {
                            tracing::info!(
                                "job {n}/{total} {} {}: val {val}, {:.1} s ({})",
                                job.id,
                                row.status,
                                seconds,
                                describe(&job.config)
                            );
                        }
                        rows.lock().unwrap_or_else(|p| p.into_inner()).push(row);
                    }
                    Err(e) => {
                        opts.stop.store(true, Ordering::Relaxed);
                        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                }
            });
        }
    });
    main.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let rows = rows.into_inner().unwrap_or_else(|p| p.into_inner());
    let interrupted = opts.stop.load(Ordering::Relaxed) && finished.load(Ordering::Relaxed) < total;
    Ok(RunSummary {
        rows,
        skipped,
        interrupted,
    })
}
