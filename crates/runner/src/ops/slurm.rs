//! `sweep slurm GRID --tasks N`: the sbatch script of a job array running the sweep as N shards (printed, or
//! submitted with the finishing job).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{input, Context, Result};
use crate::cluster::slurm::{finish_script, sbatch_script, submit, SlurmOptions};
use sweep_core::checkpoint::write_atomic;
use sweep_grid::grid::{DataSource, Grid};
use sweep_results::check_dir;

#[derive(Debug, Clone)]
pub struct SlurmArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Array tasks (shards), run as `--array=0-(N-1)`.
    pub tasks: usize,
    /// Slurm partition.
    pub partition: Option<String>,
    /// Time limit per task, in Slurm's syntax (e.g. 02:00:00); SIGUSR1 comes 120 s before it.
    pub time: Option<String>,
    /// CPUs per task, and so workers per task.
    pub cpus_per_task: usize,
    /// At most this many tasks at once (`%M`).
    pub max_running: Option<usize>,
    /// Memory per task (e.g. 8G).
    pub mem: Option<String>,
    /// Results directory, shared by every node [default: results/<name from the grid>].
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path; must be readable on every node.
    pub data: Option<PathBuf>,
    /// Submit the array and the finishing job with sbatch and print their job ids, instead of printing the script.
    pub submit: bool,
    /// GPUs per task (`--gres=gpu:N`) [default: one trial's, when `[command] gpus` is set].
    pub gpus_per_task: Option<usize>,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()))
}

/// `sweep slurm`.
pub fn slurm(args: &SlurmArgs) -> Result<ExitCode> {
    if args.tasks == 0 {
        return Err(input!("--tasks 0: a job array needs at least 1 task (e.g. --tasks 4)"));
    }
    if args.max_running == Some(0) || args.cpus_per_task == 0 {
        return Err(input!("--max-running and --cpus-per-task must be at least 1"));
    }
    let grid = Grid::load(&args.grid)?;
    let gpus = super::gpus::per_task(&grid, "--gpus-per-task", args.gpus_per_task)?;
    let jobs = grid.jobs()?;
    let out = absolute(&args.out.clone().unwrap_or_else(|| Path::new("results").join(&grid.name)))?;
    check_dir(&out, &grid, &grid.fingerprint(&jobs))?;
    if args.tasks > jobs.len() {
        tracing::warn!(
            "{} tasks for {} jobs: {} tasks will have nothing to do",
            args.tasks,
            jobs.len(),
            args.tasks - jobs.len()
        );
    }
    // Tasks run on other nodes, in other directories: every path absolute.
    let data = match (&args.data, &grid.data.source) {
        // A command sweep's program reads its own data; its tasks run in this directory, as `run` is written for.
        (Some(_), _) if grid.command.is_some() => {
            return Err(input!(
                "--data is for the built-in network: a command sweep's program reads its own data"
            ))
        }
        _ if grid.command.is_some() => None,
        (Some(p), _) if p.as_os_str() == "toy" => None,
        (Some(p), _) => Some(absolute(p)?),
        (None, DataSource::Path(p)) if p.is_relative() => Some(absolute(p)?),
        _ => None,
    };
    let exe = std::env::current_exe().context("cannot find the path of this sweep binary")?;
    let grid_file = absolute(&args.grid)?;
    let name: String = grid
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let opts = SlurmOptions {
        tasks: args.tasks,
        max_running: args.max_running,
        job_name: format!("sweep-{name}"),
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        gpus,
        ..SlurmOptions::default()
    };
    let script = sbatch_script(&opts, &exe, &grid_file, &out, data.as_deref());
    // Slurm opens each task's log before the task runs: the directory must exist.
    let logs = out.join("slurm");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create the log directory {}", logs.display()))?;
    if !args.submit {
        print!("{script}");
        eprintln!(
            "(logs go to {}; submit with --submit, which also queues `sweep finish` after every task succeeded)",
            logs.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let array = submit(&script)?;
    let finish = finish_script(&opts, &array, &exe, &out, data.as_deref());
    let finish_id = submit(&finish)?;
    for (file, text) in [("array.sbatch", &script), ("finish.sbatch", &finish)] {
        let p = logs.join(format!("{array}-{file}"));
        write_atomic(&p, text.as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    println!("array job: {array}");
    println!("finish job: {finish_id}");
    println!(
        "{} tasks of sweep {} into {}; logs in {}; `squeue -j {array},{finish_id}` to follow",
        args.tasks,
        grid.name,
        out.display(),
        logs.display()
    );
    Ok(ExitCode::SUCCESS)
}
