//! `sweep run`: every job of a grid file, resuming a partly finished sweep in the same directory; the steps a run
//! takes (data, workers, the stop flag, the scheduler, the summary) shared with a command sweep's ([`super::run_command`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{input, Context, OpsError, Result};
use crate::run as runner;
use sweep_core::data::{self, toy_dataset, DataSpec};
use sweep_core::{DataError, Dataset};
use sweep_grid::grid::{DataSource, Grid, Job};
use sweep_results::best;
use sweep_results::{check_dir, ResultsDir};

use super::cluster;
use super::num_cpus;
use crate::download::Source;

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit code of a sweep that ran to its end with every job recorded as `failed` (nothing completed, was pruned or
/// diverged): not a mistake in the input (2), but not a result either. A program path that is wrong, a data set the
/// program cannot read, or a bug in it. `--retry-failed` runs them again once the cause is fixed.
pub const EXIT_ALL_FAILED: u8 = 3;

#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Output directory [default: results/<name from the grid>].
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path (binary dir, .tar.gz or image folder).
    pub data: Option<PathBuf>,
    /// Parallel jobs [default: all cores; at most 1024].
    pub workers: Option<usize>,
    /// Train up to K jobs together when they share the minibatches and the hidden size: one GEMM for all their
    /// first layers, results bit-identical to training each alone. 1 turns it off.
    pub fuse: usize,
    /// Download CIFAR-10 to the data path if it does not exist (from --url).
    pub download: bool,
    pub source: Source,
    /// Also write the HTML report at the end.
    pub report: bool,
    /// Run only shard I of N (I/N, from 0), a cost-balanced part of the jobs; `auto` reads it from a Slurm array
    /// task or a Kubernetes Indexed Job. The best's test accuracy is then left to `sweep finish DIR`.
    pub shard: Option<crate::cluster::shard::ShardSpec>,
    /// The number of shards for `--shard auto` in a Kubernetes Indexed Job (its `completions`); unused without
    /// --shard.
    pub shard_count: Option<usize>,
    /// Run the jobs recorded as `failed` again (not pruned or diverged ones), their new rows replacing the old.
    pub retry_failed: bool,
    /// `--gpus 0,1,3`: the devices a command sweep's trials get (with `[command] gpus`), instead of those found.
    pub gpus: Option<String>,
}

/// The data a grid asks for, after `--data`; a missing path is an error that names the grid line and the fix.
fn resolve_data_path(grid: &Grid, args: &RunArgs) -> Result<Option<PathBuf>> {
    let path = match (&args.data, &grid.data.source) {
        (Some(p), _) if p.as_os_str() == "toy" => return Ok(None),
        (Some(p), _) => p.clone(),
        (None, DataSource::Toy) => return Ok(None),
        (None, DataSource::Path(p)) => p.clone(),
    };
    if !path.exists() {
        if args.download {
            tracing::info!("downloading CIFAR-10 from {} to {}", args.source.url, path.display());
            crate::download::fetch_cifar10(&args.source.options(path.clone()))?;
            return Ok(Some(path));
        }
        let at = match (&args.data, grid.data.path_pos) {
            (None, Some((line, col))) => format!("{}:{line}:{col}: data.path: ", grid.file.display()),
            _ => "--data: ".to_string(),
        };
        // A relative path is taken from the current directory (not from the grid file's folder), as it always was:
        // say where that led, so that `cd crates && sweep run ../sweeps/cifar.toml` is understood at once.
        let resolved = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let whence = if path.is_relative() {
            let cwd = std::env::current_dir().map_or_else(|_| "the current directory".into(), |d| d.display().to_string());
            format!(" (relative paths are taken from the current directory, {cwd}, not from the grid file's folder)")
        } else {
            String::new()
        };
        return Err(input!(
            "{at}{} does not exist: no file or directory at {}{whence}. Run from the directory the path is relative to, \
             point --data at an existing copy (binary dir, .tar.gz, or image folder), or download CIFAR-10 to {} with \
             `sweep run {} --download{}`",
            path.display(),
            resolved.display(),
            resolved.display(),
            grid.file.display(),
            args.data.as_ref().map_or(String::new(), |d| format!(" --data {}", d.display()))
        ));
    }
    Ok(Some(path))
}

pub(super) fn load_data(grid: &Grid, path: Option<&Path>) -> Result<Dataset> {
    let d = &grid.data;
    let Some(path) = path else {
        let (n_train, n_val, n_test) = d.toy_sizes();
        return Ok(toy_dataset(grid.seed, n_train, n_val, n_test));
    };
    let spec = DataSpec {
        val_size: d.val_size,
        train_size: d.train_size,
        test_size: d.test_size,
        seed: grid.seed,
    };
    let started = std::time::Instant::now();
    let ds = data::load(path, &spec).map_err(|e| match (&e, d.val_size_pos) {
        (DataError::Split { what: "val_size", .. }, Some((line, col))) => {
            input!("{}:{line}:{col}: data.val_size: {e}", grid.file.display())
        }
        _ => OpsError::from(e),
    })?;
    tracing::info!("loaded {} in {:.1} s", ds.description, started.elapsed().as_secs_f64());
    Ok(ds)
}

/// The most workers a run takes (`--workers`): each is a thread, started before anything runs, so a mistyped count
/// would otherwise spend minutes starting threads. A fixed number, so that a command line valid on one machine is
/// valid on every other; a command sweep whose trials run elsewhere may still use many more workers than cores.
pub const MAX_WORKERS: usize = 1024;

/// `--workers`, or all cores (at most [`MAX_WORKERS`]).
pub(super) fn workers(args: &RunArgs) -> Result<usize> {
    checked_workers(args.workers)
}

/// A `--workers` given (`sweep run`, `sweep plan`): at least 1 and at most [`MAX_WORKERS`]; all cores when not given.
pub(super) fn checked_workers(workers: Option<usize>) -> Result<usize> {
    match workers {
        Some(0) => Err(input!(
            "--workers 0 is invalid: give at least 1 (default: all {} cores)",
            num_cpus()
        )),
        Some(w) if w > MAX_WORKERS => Err(input!(
            "--workers {w} is too many: give at most {MAX_WORKERS} (this machine has {} cores, the default)",
            num_cpus()
        )),
        Some(w) => Ok(w),
        None => Ok(num_cpus().min(MAX_WORKERS)),
    }
}

/// The stop flag: the first Ctrl-C (or SIGTERM) raises it, and running units stop at their next step (they are not
/// recorded and rerun on resume); a second one exits at once.
pub(super) fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        eprintln!("\ninterrupted: stopping; finished rows are kept, run the same command again to resume (Ctrl-C again quits now)");
    });
    stop
}

/// An error once a run has started writing its results: the machine's (a full disk, a path that cannot be written)
/// becomes [`OpsError::Environment`] (exit 74: nothing was recorded for the work it hit, the rerun resumes it); the
/// rest stay as they are.
pub(super) fn during_run(e: impl Into<OpsError>) -> OpsError {
    match e.into() {
        OpsError::Results(e) | OpsError::Best(best::BestError::Results(e)) if e.is_environmental() => OpsError::Environment(e),
        other => other,
    }
}

/// A run stopped once every row was recorded, before its last steps (the best, the report): exit 130, and the rerun
/// takes them.
pub(super) fn stopped_before_finish(out: &Path) -> ExitCode {
    eprintln!(
        "stopped with every row recorded in {}; run the same command again to finish (the best and the report)",
        out.display()
    );
    ExitCode::from(EXIT_INTERRUPTED)
}

/// What proposes the units of a sweep: the search's sampler and fidelity scheduler over `jobs`; `epoch_cost` is one
/// epoch's work of a job (for the order of the work and the progress bar).
pub(super) fn scheduler<'c>(grid: &Grid, jobs: &[Job], epoch_cost: impl Fn(&Job) -> u64 + 'c) -> Box<dyn runner::Scheduler + 'c> {
    Box::new(runner::Driver::new(grid, jobs.to_vec(), epoch_cost))
}

/// Logs how much of a resumed sweep is recorded.
/// The grid's scheduler over `jobs` run on `backend` into `results` (built-in and command sweeps alike), after
/// saying what a resume finds.
#[allow(clippy::too_many_arguments)]
pub(super) fn schedule_and_run(
    grid: &Grid,
    jobs: &[Job],
    done: &HashSet<String>,
    epoch_cost: impl Fn(&Job) -> u64,
    backend: &dyn runner::Backend,
    results: &ResultsDir,
    workers: usize,
    stop: &AtomicBool,
    claims: &sweep_results::claims::Claims,
) -> Result<runner::RunSummary> {
    let mut scheduler = scheduler(grid, jobs, epoch_cost);
    log_resume(grid, jobs, done);
    runner::run(
        scheduler.as_mut(),
        backend,
        results,
        &runner::RunOptions {
            workers,
            stop,
            progress: runner::stderr_is_terminal(),
            claims: Some(claims),
        },
    )
    .map_err(during_run)
}

/// The run's last line: `24 jobs run in 3.1 s (0 were already done; 72 epochs trained); results in DIR`; when some
/// of the jobs already done had failed (`failed_before`), it says so and how to run them again.
pub(super) fn print_summary(
    what: &str,
    work: &str,
    summary: &runner::RunSummary,
    started: std::time::Instant,
    out: &Path,
    failed_before: usize,
) {
    let failed = if failed_before > 0 {
        format!(", {failed_before} of them failed: add --retry-failed to run those again")
    } else {
        String::new()
    };
    println!(
        "{} {what} run in {:.1} s ({} were already done{failed}; {} {work}); results in {}",
        summary.rows.len(),
        started.elapsed().as_secs_f64(),
        summary.skipped,
        summary.epochs_trained,
        out.display()
    );
}

/// With `--retry-failed`, forgets the failed jobs' rows so that they run again (and takes them out of `done`),
/// returning 0; without it, returns how many recorded jobs failed (for the summary's hint).
pub(super) fn retry_or_count_failed(args: &RunArgs, results: &ResultsDir, done: &mut HashSet<String>) -> Result<usize> {
    if !args.retry_failed {
        let rows = results.read_final()?;
        return Ok(rows
            .values()
            .filter(|r| r.status == sweep_results::format::JobStatus::Failed)
            .count());
    }
    let ids = results.forget_failed()?;
    if !ids.is_empty() {
        tracing::info!("--retry-failed: {} failed job(s) run again: {}", ids.len(), ids.join(", "));
    }
    for id in &ids {
        done.remove(id);
    }
    Ok(0)
}

/// The exit code of a finished sweep: [`EXIT_ALL_FAILED`] (with a message naming the first failure and the way
/// out) when every recorded job failed, else success.
pub(super) fn exit_code(results: &ResultsDir, grid: &Grid, what: &str) -> Result<ExitCode> {
    let rows = results.read_final()?;
    let failed = rows
        .values()
        .filter(|r| r.status == sweep_results::format::JobStatus::Failed)
        .count();
    if rows.is_empty() || failed < rows.len() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut ids: Vec<&String> = rows.keys().collect();
    ids.sort();
    let first = ids
        .first()
        .and_then(|id| rows.get(*id))
        .map(|r| {
            let note = r.trial.as_ref().and_then(|t| t.note.clone()).unwrap_or_default();
            format!(
                " (one of them, {}: {})",
                r.id,
                if note.is_empty() { "no reason recorded" } else { note.as_str() }
            )
        })
        .unwrap_or_default();
    eprintln!(
        "error: every one of the {failed} {what} failed{first}; fix the cause, then `sweep run {} --retry-failed` \
         runs them again (exit status {EXIT_ALL_FAILED})",
        grid.file.display()
    );
    Ok(ExitCode::from(EXIT_ALL_FAILED))
}

pub(super) fn log_resume(grid: &Grid, jobs: &[Job], done: &HashSet<String>) {
    if done.is_empty() {
        return;
    }
    let adaptive = grid.search.is_adaptive();
    let of: String = if adaptive {
        format!("{} proposed", grid.search.samples.unwrap_or(0))
    } else {
        jobs.len().to_string()
    };
    let recorded = if adaptive {
        done.len()
    } else {
        jobs.iter().filter(|j| done.contains(&j.id)).count()
    };
    tracing::info!("resuming: {recorded} of {of} jobs already recorded");
}

/// `sweep run`: every job of the grid (a command sweep's trials through [`super::run_command`]), resuming what the
/// directory holds; the best, its test accuracy and the report unless other shards still run.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    #[cfg(unix)]
    if grid.command.is_some() {
        return super::run_command::run(args, grid);
    }
    super::gpus::check_unused(&grid, args.gpus.as_deref())?;
    let jobs = grid.jobs()?;
    let out = args.out.clone().unwrap_or_else(|| Path::new("results").join(&grid.name));
    let workers = workers(args)?;
    if args.fuse == 0 {
        return Err(input!(
            "--fuse 0 is invalid: give at least 1 (1 trains every job alone; default {})",
            runner::DEFAULT_FUSE
        ));
    }
    // Everything the user can get wrong is checked before anything is written.
    check_dir(&out, &grid, &grid.fingerprint(&jobs))?;
    let data_path = resolve_data_path(&grid, args)?;
    let data = load_data(&grid, data_path.as_deref())?;
    for job in &jobs {
        sweep_core::train::check_data(&job.config, &data.train_data()).with_context(|| {
            format!(
                "{}: job {} ({}) cannot train on {}",
                grid.file.display(),
                job.id,
                sweep_params::params::describe(&job.config),
                data.description
            )
        })?;
    }
    sweep_params::params::warn_emulated_bf16(jobs.iter().map(|j| &*j.config));
    let all_jobs = jobs;
    // With halving or Hyperband every rung needs the whole rung decided: shards then share all jobs, rung by rung,
    // through per-(job, rung) claims, instead of each taking a fixed part.
    let (jobs, shard) = cluster::select(
        args.shard,
        args.shard_count,
        all_jobs.clone(),
        &|j| cluster::job_cost(j, &data),
        !grid.search.is_multi_fidelity(),
    )?;
    // The directory first: of two grids started on it at once, the one refused has written nothing, claims included.
    let (results, mut done) = ResultsDir::open(&out, &grid, &all_jobs)?;
    let failed_before = retry_or_count_failed(args, &results, &mut done)?;
    let claims = cluster::claims(&out, shard.as_ref())?;

    let stop = stop_flag();
    let usr1 = cluster::watch_usr1(&stop);
    if grid.search.asynchronous {
        tracing::info!(
            "sweep {}: {}, asynchronous, up to {} trials, one per free worker ({} recorded), {workers} workers, results in {}",
            grid.name,
            grid.search.sampler().name().to_uppercase(),
            grid.search.samples.unwrap_or(0),
            done.len(),
            out.display()
        );
    } else if grid.search.is_adaptive() {
        // Its trials are proposed as results arrive.
        tracing::info!(
            "sweep {}: {}, {} trials, {} at a time ({} recorded), {workers} workers, results in {}",
            grid.name,
            grid.search.sampler().name().to_uppercase(),
            grid.search.samples.unwrap_or(0),
            grid.search.batch,
            done.len(),
            out.display()
        );
    } else {
        tracing::info!(
            "sweep {}: {} jobs ({} done), {workers} workers, results in {}",
            grid.name,
            jobs.len(),
            done.len(),
            out.display()
        );
    }
    let started = std::time::Instant::now();
    let multi_fidelity = grid.search.is_multi_fidelity();
    // A grid sweep keeps only the running jobs' states, and none of them is ever skipped.
    let state_limit = if multi_fidelity { grid.search.state_limit } else { u64::MAX };
    let states = crate::run::states::States::open(&out, state_limit).map_err(during_run)?;
    let network = runner::Network::new(&data, states, args.fuse, workers).with_objectives(&grid.objectives);
    let epoch_cost = |job: &sweep_grid::Job| runner::job_shape(job, &data).epoch_flops() / 1_000;
    let summary = schedule_and_run(&grid, &jobs, &done, epoch_cost, &network, &results, workers, &stop, &claims)?;
    if multi_fidelity {
        tracing::info!(
            "{} epochs trained ({} of them again, for survivors whose state had been dropped); training states took at most {:.1} MB",
            summary.epochs_trained,
            summary.epochs_retrained,
            summary.peak_state_bytes as f64 / 1e6
        );
    }
    if summary.interrupted {
        eprintln!(
            "stopped after {} new jobs; {} recorded in {}",
            summary.rows.len(),
            summary.rows.len() + summary.skipped,
            out.display()
        );
        cluster::requeue_if_warned(&usr1);
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if let Some(why) = cluster::why_not_finish(&out, &all_jobs, shard.as_ref())? {
        println!("{} jobs run in {:.1} s; {why}", summary.rows.len(), started.elapsed().as_secs_f64());
        return Ok(ExitCode::SUCCESS);
    }
    // A stop after the last row: the best's test accuracy (and the report) are left to the rerun.
    if stop.load(Ordering::SeqCst) {
        return Ok(stopped_before_finish(&out));
    }
    let best = results.finish(&data).map_err(during_run)?;
    let ranking = best::rank(&out).map_err(during_run)?;
    println!("{}", best::to_table(&ranking, 10));
    print_summary("jobs", "epochs trained", &summary, started, &out, failed_before);
    if best.is_none() {
        tracing::warn!("no job completed, so there is no best model");
    }
    if args.report && !stop.load(Ordering::SeqCst) {
        let index = sweep_report::write_report(&out)?;
        println!("report: {}", index.display());
    }
    exit_code(&results, &grid, "jobs")
}
