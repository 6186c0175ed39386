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

#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Output directory [default: results/<name from the grid>].
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path (binary dir, .tar.gz or image folder).
    pub data: Option<PathBuf>,
    /// Parallel jobs [default: all cores].
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

/// `--workers`, or all cores.
pub(super) fn workers(args: &RunArgs) -> Result<usize> {
    match args.workers {
        Some(0) => Err(input!(
            "--workers 0 is invalid: give at least 1 (default: all {} cores)",
            num_cpus()
        )),
        Some(w) => Ok(w),
        None => Ok(num_cpus()),
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
    Ok(runner::run(
        scheduler.as_mut(),
        backend,
        results,
        &runner::RunOptions {
            workers,
            stop,
            progress: runner::stderr_is_terminal(),
            claims: Some(claims),
        },
    )?)
}

/// The run's last line: `24 jobs run in 3.1 s (0 were already done; 72 epochs trained); results in DIR`.
pub(super) fn print_summary(what: &str, work: &str, summary: &runner::RunSummary, started: std::time::Instant, out: &Path) {
    println!(
        "{} {what} run in {:.1} s ({} were already done; {} {work}); results in {}",
        summary.rows.len(),
        started.elapsed().as_secs_f64(),
        summary.skipped,
        summary.epochs_trained,
        out.display()
    );
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
    let (results, done) = ResultsDir::open(&out, &grid, &all_jobs)?;
    let claims = cluster::claims(&out, shard.as_ref())?;

    let stop = stop_flag();
    let usr1 = cluster::watch_usr1(&stop);
    if grid.search.is_adaptive() {
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
    let states = crate::run::states::States::open(&out, state_limit)?;
    let network = runner::Network::new(&data, states, args.fuse, workers);
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
    let best = results.finish(&data)?;
    let ranking = best::rank(&out)?;
    println!("{}", best::to_table(&ranking, 10));
    print_summary("jobs", "epochs trained", &summary, started, &out);
    if best.is_none() {
        tracing::warn!("no job completed, so there is no best model");
    }
    if args.report {
        let index = sweep_report::write_report(&out)?;
        println!("report: {}", index.display());
    }
    Ok(ExitCode::SUCCESS)
}
