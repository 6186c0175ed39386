//! `sweep finish DIR`: once every shard of a sweep is done, evaluates the overall best on the test split (once)
//! and writes the report. The last step of a Slurm array (a job with `--dependency=afterok`) or of an Indexed Job.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{input, Result};
use sweep_grid::grid::{DataSource, Grid};
use sweep_results::format::{read_manifest, GRID_COPY};
use sweep_results::{best, writers};

use super::cluster;

#[derive(Debug, Clone)]
pub struct FinishArgs {
    /// The results directory shared by the shards (`sweep run --out DIR`).
    pub dir: PathBuf,
    /// Data path, overriding the grid's [data] path (needed for the test split).
    pub data: Option<PathBuf>,
    /// Do not write the HTML report.
    pub no_report: bool,
}

/// `sweep finish DIR`.
pub fn finish(args: &FinishArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    let grid_path = dir.join(GRID_COPY);
    if read_manifest(dir)?.is_none() || !grid_path.is_file() {
        return Err(input!(
            "{} is not a sweep's results directory (no sweep.json and grid.toml); give the --out directory of `sweep run`",
            dir.display()
        ));
    }
    let grid = Grid::load(&grid_path)?;
    let jobs = grid.jobs()?;
    let (missing, left): (usize, Vec<String>) = if grid.search.is_adaptive() {
        cluster::proposed_unfinished(dir, &grid)?
    } else {
        let left: Vec<String> = cluster::unrecorded(dir, &jobs)?.into_iter().map(|j| j.id.clone()).collect();
        (left.len(), left)
    };
    if missing > 0 {
        let ids: Vec<&str> = left.iter().take(5).map(String::as_str).collect();
        return Err(input!(
            "{}: {} of {}{} jobs are not recorded yet ({}{}); nothing was evaluated. Run the missing shards again \
             (`sweep run GRID --out {} --shard I/N`, or without --shard for all), then `sweep finish {}`",
            dir.display(),
            missing,
            if grid.search.asynchronous { "up to " } else { "" },
            if grid.search.is_adaptive() {
                grid.search.samples.unwrap_or(0)
            } else {
                jobs.len()
            },
            ids.join(", "),
            if missing > ids.len() { ", …" } else { "" },
            dir.display(),
            dir.display()
        ));
    }
    if grid.command.is_some() {
        // A command sweep: no test split to evaluate; the best trial is named in best.json.
        writers::publish_results(dir)?;
        let best = writers::publish_trial_best(dir)?;
        println!("{}", best::to_table(&best::rank(dir)?, 10));
        if best.is_none() {
            println!("no trial completed, so there is no best trial");
        }
        if !args.no_report {
            let index = sweep_report::write_report(dir)?;
            println!("report: {}", index.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let path = match (&args.data, &grid.data.source) {
        (Some(p), _) if p.as_os_str() == "toy" => None,
        (Some(p), _) => Some(p.clone()),
        (None, DataSource::Toy) => None,
        (None, DataSource::Path(p)) => Some(p.clone()),
    };
    if let Some(p) = path.as_ref().filter(|p| !p.exists()) {
        return Err(input!(
            "{}: data path {} does not exist here; give it with --data (the test split is needed)",
            dir.display(),
            p.display()
        ));
    }
    let data = super::run::load_data(&grid, path.as_deref())?;
    let rows = writers::publish_results(dir)?;
    let info = writers::finish_best(dir, &data)?;
    // Every job is recorded and no shard runs any more: their claims have served.
    let recorded: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    sweep_results::claims::remove_recorded_claims(dir, |id| recorded.contains(id))?;
    println!("{}", best::to_table(&best::rank(dir)?, 10));
    match &info {
        Some(b) => println!(
            "best {}: validation {:.2} %, test accuracy: {:.2} %",
            b.id,
            100.0 * b.val_acc,
            100.0 * b.test_acc.unwrap_or(f64::NAN)
        ),
        None => println!("no job completed, so there is no best model"),
    }
    if !args.no_report {
        let index = sweep_report::write_report(dir)?;
        println!("report: {}", index.display());
    }
    Ok(ExitCode::SUCCESS)
}
