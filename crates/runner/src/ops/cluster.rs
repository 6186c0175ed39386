//! What `sweep run` does differently when other processes share its results directory: the shard's jobs, the
//! per-job claims, Slurm's warning signal (SIGUSR1: stop and requeue), and whether this run finishes the sweep.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{Context, Result};
use crate::cluster::shard::{ShardContext, ShardSpec};
use crate::run as runner;
use sweep_core::Dataset;
use sweep_grid::grid::Job;
use sweep_results::claims::{Claims, Owner, DEFAULT_LEASE};
use sweep_results::format::{read_rows, RESULTS_CSV};

/// Work of a job in FLOPs, the runner's cost model: what shards are balanced on.
pub fn job_cost(job: &Job, data: &Dataset) -> u64 {
    runner::job_shape(job, data).epoch_flops().saturating_mul(job.config.epochs as u64)
}

/// The shard's jobs (all of them without `--shard`) and the shard, resolved from the flag or the environment; shards
/// are balanced on `cost` (the built-in network's [`job_cost`], a command trial's epochs).
pub fn select(
    spec: Option<ShardSpec>,
    count: Option<usize>,
    jobs: Vec<Job>,
    cost: &dyn Fn(&Job) -> u64,
    split: bool,
) -> Result<(Vec<Job>, Option<ShardContext>)> {
    let Some(spec) = spec else { return Ok((jobs, None)) };
    let ctx = spec.resolve(count)?;
    if !split {
        tracing::info!(
            "shard {} ({}): successive halving, so every shard works on every rung, taking the jobs no other shard has claimed",
            ctx.shard,
            ctx.identity()
        );
        return Ok((jobs, Some(ctx)));
    }
    let costs: Vec<u64> = jobs.iter().map(cost).collect();
    let mine = ctx.shard.select(&costs);
    let total = jobs.len();
    let selected: Vec<Job> = jobs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mine.contains(i))
        .map(|(_, j)| j)
        .collect();
    tracing::info!("shard {} ({}): {} of {total} jobs", ctx.shard, ctx.identity(), selected.len());
    Ok((selected, Some(ctx)))
}

/// This process's claims on `out`, named after its shard so that a restarted shard takes its own claims back.
pub fn claims(out: &Path, shard: Option<&ShardContext>) -> Result<Claims> {
    Ok(Claims::open(out, Owner::current(shard.map(ShardContext::identity)), DEFAULT_LEASE)?)
}

/// SIGUSR1 (Slurm's warning before the time limit, `--signal=B:USR1@secs`) sets `stop`, as Ctrl-C does; the
/// returned flag tells that it came.
pub fn watch_usr1(stop: &Arc<AtomicBool>) -> Arc<AtomicBool> {
    let usr1 = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    for flag in [&usr1, stop] {
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGUSR1, flag.clone()) {
            tracing::warn!("cannot watch SIGUSR1 ({e}): a Slurm time-limit warning will not stop this run cleanly");
        }
    }
    usr1
}

/// After a stop on SIGUSR1 inside a Slurm job: requeue this task (`scontrol requeue`), so that it runs again and
/// resumes where it stopped. Slurm does not requeue a task that reaches its time limit by itself.
pub fn requeue_if_warned(usr1: &AtomicBool) {
    if !usr1.load(Ordering::SeqCst) {
        return;
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let id = match (env("SLURM_ARRAY_JOB_ID"), env("SLURM_ARRAY_TASK_ID"), env("SLURM_JOB_ID")) {
        (Some(a), Some(t), _) => format!("{a}_{t}"),
        (_, _, Some(j)) => j,
        _ => {
            eprintln!("stopped on SIGUSR1 (not inside a Slurm job, so not requeued); run the same command again to resume");
            return;
        }
    };
    eprintln!("stopped on SIGUSR1 (Slurm's time-limit warning): requeueing {id}; it resumes with the jobs not recorded");
    match Command::new("scontrol").args(["requeue", &id]).status() {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("scontrol requeue {id} failed ({s}); resubmit the task or run `sweep run ... --shard` again"),
        Err(e) => eprintln!("cannot run scontrol ({e}); resubmit the task or run `sweep run ... --shard` again"),
    }
}

/// An adaptive (TPE) sweep's work left, replaying its proposals from the recorded rows (its jobs are not known before
/// it runs):
/// how many of its `samples` trials have no row, and the ids of those it would run or prune next (both empty when the
/// search is finished).
pub fn proposed_unfinished(out: &Path, grid: &sweep_grid::Grid) -> Result<(usize, Vec<String>)> {
    use sweep_results::format::{rows_in_dir, RUNGS_DIR, WRITERS_DIR};
    let path = out.join(RESULTS_CSV);
    // Before any process published results.csv, the rows are in the writers' files alone.
    let rows = if path.exists() {
        read_rows(&path)?
    } else {
        rows_in_dir(&out.join(WRITERS_DIR))?
    };
    let finals: std::collections::HashMap<String, _> = rows.iter().map(|r| (r.id.clone(), r.outcome())).collect();
    let rungs = rows_in_dir(&out.join(RUNGS_DIR))?
        .into_iter()
        .filter_map(|r| Some(((r.rung?, r.id.clone()), r.outcome())))
        .collect();
    let decisions = sweep_results::decisions::read_decisions(out)?;
    let mut search = runner::Driver::new(grid, Vec::new(), |_| 1);
    let poll = runner::Scheduler::poll(
        &mut search,
        &runner::View {
            finals: &finals,
            rungs: &rungs,
            decisions: &decisions,
            idle: 1,
        },
    );
    let mut next: Vec<String> = poll.units.iter().map(|u| u.job.id.clone()).collect();
    next.extend(poll.prune.iter().map(|(id, _)| id.clone()));
    let missing = if next.is_empty() {
        0
    } else if grid.search.asynchronous {
        // How many more it proposes depends on the results and the budget: the units it would start now, at least.
        next.len()
    } else {
        grid.search.samples.unwrap_or(0).saturating_sub(finals.len()).max(next.len())
    };
    Ok((missing, next))
}

/// Jobs of `jobs` without a row in `out` (any writer's).
pub fn unrecorded<'a>(out: &Path, jobs: &'a [Job]) -> Result<Vec<&'a Job>> {
    let path = out.join(RESULTS_CSV);
    let rows = read_rows(&path).with_context(|| format!("reading the rows of {}", out.display()))?;
    let ids: std::collections::HashSet<String> = rows.into_iter().map(|r| r.id).collect();
    Ok(jobs.iter().filter(|j| !ids.contains(&j.id)).collect())
}

/// Why this run does not compute the best's test accuracy (a shard, or jobs still running elsewhere), if so.
pub fn why_not_finish(out: &Path, all_jobs: &[Job], shard: Option<&ShardContext>) -> Result<Option<String>> {
    let left = unrecorded(out, all_jobs)?.len();
    let finish = format!("sweep finish {}", out.display());
    Ok(match shard {
        Some(ctx) => Some(format!(
            "shard {} done; {} of {} jobs of the sweep recorded. Once every shard is done, `{finish}` computes the best's \
             test accuracy and writes the report",
            ctx.shard,
            all_jobs.len() - left,
            all_jobs.len()
        )),
        None if left > 0 => Some(format!(
            "{left} of {} jobs are not recorded yet: other processes are running them (or ran them and died: their claims \
             are taken over after {} s; run the same command again then). When all are recorded, `{finish}` computes the \
             best's test accuracy",
            all_jobs.len(),
            DEFAULT_LEASE.as_secs()
        )),
        None => None,
    })
}
