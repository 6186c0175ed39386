//! `sweep run` of a command sweep (a grid with `[command]`, issue 18): the user's program is the trial. Everything
//! but the backend is the built-in sweep's: the schedulers, claims, shards, resume, Ctrl-C and Slurm's USR1; no data
//! are loaded (the program reads its own), and the best is the best trial, named with its folder in `best.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{input, Context, Result};
use crate::run::program::Program;
use sweep_grid::command::CommandGrid;
use sweep_grid::grid::Grid;
use sweep_results::{best, check_dir, ResultsDir};

use super::cluster;
use super::run::{
    during_run, exit_code, print_summary, retry_or_count_failed, schedule_and_run, stop_flag, stopped_before_finish, workers, RunArgs,
    EXIT_INTERRUPTED,
};

/// Where the program is: `run`'s first argument, a path (relative to the current directory) when it holds a `/`,
/// else a name looked up on the PATH. A program that is not there is the grid's mistake, refused before anything is
/// written (else every trial would be recorded as failed).
pub fn find_program(grid: &Grid, c: &CommandGrid) -> Result<PathBuf> {
    let program = Path::new(&c.command.run[0]);
    let (line, col) = c.command.run_pos;
    let at = format!("{}:{line}:{col}: command.run", grid.file.display());
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if c.command.run[0].contains('/') {
        let resolved = std::path::absolute(program).unwrap_or_else(|_| program.to_path_buf());
        if executable(&resolved) {
            return Ok(resolved);
        }
        let cwd = std::env::current_dir().map_or_else(|_| "the current directory".into(), |d| d.display().to_string());
        let what = if resolved.exists() {
            "is not an executable file"
        } else {
            "does not exist"
        };
        return Err(input!(
            "{at}: the program {} {what} ({}; relative paths are taken from the current directory, {cwd}, not from the \
             grid file's folder): run sweep from the folder `run` is written for, or give an absolute path",
            program.display(),
            resolved.display()
        ));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(found) = std::env::split_paths(&path).map(|d| d.join(program)).find(|p| executable(p)) {
        return Ok(found);
    }
    Err(input!(
        "{at}: the program `{}` is not on the PATH ({}); install it, or give its path",
        program.display(),
        std::env::var("PATH").unwrap_or_default()
    ))
}

/// `sweep run` of a command sweep.
pub fn run(args: &RunArgs, grid: Grid) -> Result<ExitCode> {
    let Some(c) = grid.command.clone() else {
        return Err(input!("{}: not a command sweep", grid.file.display()));
    };
    if args.data.is_some() || args.download {
        return Err(input!(
            "--data and --download are for the built-in network: the program of a command sweep reads its own data \
             (give its path in {}'s [command] run, or as a value in [train])",
            grid.file.display()
        ));
    }
    let jobs = grid.jobs()?;
    let out = args.out.clone().unwrap_or_else(|| Path::new("results").join(&grid.name));
    let asked = Some(workers(args)?).filter(|_| args.workers.is_some());
    let program = find_program(&grid, &c)?;
    // The devices before anything is written: none found, or fewer than one trial needs, is refused here.
    let devices = super::gpus::pool(&grid, &c, args.gpus.as_deref())?;
    let workers = match &devices {
        Some(pool) => {
            let w = super::gpus::workers(pool, asked);
            tracing::info!(
                "GPUs: {}; each trial gets its own in CUDA_VISIBLE_DEVICES, {w} at a time",
                pool.found()
            );
            w
        }
        None => workers(args)?,
    };
    check_dir(&out, &grid, &grid.fingerprint(&jobs))?;
    let all_jobs = jobs;
    let multi_fidelity = grid.search.is_multi_fidelity();
    // Every epoch of a program costs the same as far as sweep knows: shards are balanced on epochs.
    let (jobs, shard) = cluster::select(
        args.shard,
        args.shard_count,
        all_jobs.clone(),
        &|j| j.config.epochs as u64,
        !multi_fidelity,
    )?;
    // The directory first: of two grids started on it at once, the one refused has written nothing, claims included.
    let (results, mut done) = ResultsDir::open(&out, &grid, &all_jobs)?;
    let failed_before = retry_or_count_failed(args, &results, &mut done)?;
    let claims = cluster::claims(&out, shard.as_ref())?;
    let stop = stop_flag();
    let usr1 = cluster::watch_usr1(&stop);
    let work_dir = std::env::current_dir().context("cannot read the current directory, where the program runs")?;
    let trials = if grid.search.asynchronous {
        format!(
            "up to {} trials (proposed by {} one per free worker)",
            grid.search.samples.unwrap_or(0),
            grid.search.sampler().name().to_uppercase()
        )
    } else if grid.search.is_adaptive() {
        // Its trials are proposed as results arrive.
        format!(
            "{} trials (proposed by {} in batches of {})",
            grid.search.samples.unwrap_or(0),
            grid.search.sampler().name().to_uppercase(),
            grid.search.batch
        )
    } else {
        format!("{} trials", jobs.len())
    };
    tracing::info!(
        "sweep {}: {trials} of {} ({} done), {workers} at a time, in {}; results in {}",
        grid.name,
        program.display(),
        done.len(),
        work_dir.display(),
        out.display()
    );
    let started = std::time::Instant::now();
    let backend = Program::new(&c, &out, work_dir, &stop)
        .with_context(|| format!("cannot use {}", out.display()))?
        .with_devices(devices);
    // Every trial costs the same to the scheduler: nothing is known of the program's cost.
    let summary = schedule_and_run(&grid, &jobs, &done, |_| 1000, &backend, &results, workers, &stop, &claims)?;
    if summary.interrupted {
        eprintln!(
            "stopped after {} new trials; {} recorded in {}; the trials that were running resume from their checkpoints \
             when the same command runs again",
            summary.rows.len(),
            summary.rows.len() + summary.skipped,
            out.display()
        );
        cluster::requeue_if_warned(&usr1);
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(stopped_before_finish(&out));
    }
    let best = results.trial_best().map_err(during_run)?;
    if let Some(why) = cluster::why_not_finish(&out, &all_jobs, shard.as_ref())? {
        println!(
            "{} trials run in {:.1} s; {why}",
            summary.rows.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", best::to_table(&best::rank(&out).map_err(during_run)?, 10));
    print_summary("trials", "points reported", &summary, started, &out, failed_before);
    if best.is_none() {
        tracing::warn!(
            "no trial completed with a finite {}, so there is no best trial",
            c.command.objective.metric
        );
    }
    if args.report && !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let index = sweep_report::write_report(&out)?;
        println!("report: {}", index.display());
    }
    exit_code(&results, &grid, "trials")
}
