//! `sweep plan`: the jobs of a grid, the total work and the time it will take here, without running anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use sweep::config::grid::Grid;
use sweep::config::params::{params, Show};
use sweep::search::Schedule;
use sweep_core::cost::{calibrate, Shape};

use super::num_cpus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The grid file (TOML).
    pub grid: PathBuf,
}

/// Time spent measuring this machine's training rate, over all hidden sizes of the grid.
const CALIBRATION: Duration = Duration::from_millis(1200);

pub fn exec(args: &Args) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    let jobs = grid.jobs()?;
    let axes: Vec<&str> = grid.axes.iter().map(|a| a.name()).collect();
    let shown: Vec<_> = params().iter().filter(|p| p.shown(Show::Plan) || axes.contains(&p.name)).collect();
    let mut out = format!("{:>5}  {:<12}", "job", "id");
    for p in &shown {
        out.push_str(&format!("  {:>13}", p.name));
    }
    out.push('\n');
    for j in &jobs {
        out.push_str(&format!("{:>5}  {:<12}", j.index + 1, j.id));
        for p in &shown {
            out.push_str(&format!("  {:>13}", p.text(&j.config)));
        }
        out.push('\n');
    }
    let data = grid.data.planned();
    let shape = |c: &sweep_core::TrainConfig| Shape {
        n_train: data.n_train,
        n_val: data.n_val,
        input: data.input,
        hidden: c.hidden_size,
        classes: data.classes,
        batch: c.batch_size,
    };
    let epochs: usize = jobs.iter().map(|j| j.config.epochs).sum();
    let flops = |c: &sweep_core::TrainConfig| shape(c).epoch_flops() as f64 * c.epochs as f64;
    let gflop: f64 = jobs.iter().map(|j| flops(&j.config)).sum::<f64>() / 1e9;
    out.push_str(&format!(
        "\n{} jobs over {} axes ({}); {} epochs in all, {} training images each{}; about {:.0} GFLOP of training.\n",
        jobs.len(),
        grid.axes.len(),
        if axes.is_empty() { "none".to_string() } else { axes.join(", ") },
        epochs,
        data.n_train,
        if data.assumed_cifar {
            " (assuming CIFAR-10's 50,000 training images)"
        } else {
            ""
        },
        gflop
    ));
    // The rate of this machine, measured now at each (hidden, batch) of the grid: small layers run far below peak.
    let mut rates: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for j in &jobs {
        rates.entry((j.config.hidden_size, j.config.batch_size)).or_insert(0.0);
    }
    let budget = CALIBRATION / rates.len().max(1) as u32;
    for ((h, b), rate) in rates.iter_mut() {
        let mut s = shape(&jobs[0].config);
        (s.hidden, s.batch) = (*h, *b);
        *rate = calibrate(&s, budget);
    }
    let cores = num_cpus();
    let epoch_seconds = |c: &sweep_core::TrainConfig| shape(c).epoch_flops() as f64 / 1e9 / rates[&(c.hidden_size, c.batch_size)];
    let exhaustive: f64 = jobs.iter().map(|j| j.config.epochs as f64 * epoch_seconds(&j.config)).sum::<f64>() / cores as f64;
    let schedule = grid.search.schedule(&jobs, grid.seed);
    let seconds = if schedule.is_multi_fidelity() {
        let (text, seconds) = rungs_table(&schedule, &jobs, &epoch_seconds, exhaustive, cores);
        out.push_str(&text);
        seconds
    } else {
        exhaustive
    };
    let (lo, hi) = rates.values().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let rate = if hi - lo < 0.5 {
        format!("{hi:.0} GFLOP/s per core")
    } else {
        format!("{lo:.0}-{hi:.0} GFLOP/s per core over the grid's layer sizes")
    };
    out.push_str(&format!(
        "Estimated time: about {} on {cores} cores, at the training rate measured here just now ({rate}); \
         data loading not included.\n",
        human(seconds)
    ));
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The rungs of a halving or Hyperband sweep: jobs and epochs per rung, epochs in all against training every job to
/// the end, and the estimated time (survivors assumed to cost what the bracket's jobs cost on average: which jobs
/// survive is not known before they run). Returns the text and the estimated seconds.
fn rungs_table(
    schedule: &Schedule,
    jobs: &[sweep::config::grid::Job],
    epoch_seconds: &dyn Fn(&sweep_core::TrainConfig) -> f64,
    exhaustive: f64,
    cores: usize,
) -> (String, f64) {
    let mut out = format!(
        "\n{:>7}  {:>4}  {:>7}  {:>9}  {:>12}\n",
        "bracket", "rung", "jobs", "epochs to", "epochs added"
    );
    let (mut epochs, mut all_epochs, mut seconds) = (0.0f64, 0.0f64, 0.0f64);
    for (b, bracket) in schedule.brackets.iter().enumerate() {
        let n = bracket.jobs.len().max(1) as f64;
        let mean: f64 = bracket.jobs.iter().map(|&j| epoch_seconds(&jobs[j].config)).sum::<f64>() / n;
        let mut before = 0.0;
        for (r, (count, to)) in bracket.planned_counts(schedule.eta).into_iter().zip(&bracket.rungs).enumerate() {
            let added = sweep::search::round12(count as f64 * (to - before));
            out.push_str(&format!("{:>7}  {:>4}  {count:>7}  {to:>9}  {added:>12}\n", b + 1, r + 1));
            epochs += added;
            seconds += added * mean / cores as f64;
            before = *to;
        }
        all_epochs += bracket.jobs.len() as f64 * bracket.rungs.last().copied().unwrap_or(0.0);
    }
    out.push_str(&format!(
        "{} with eta {}: {epochs} epochs in all, {:.0} % of the {all_epochs} of training every job to the end \
         (about {:.0} % of its time: survivors are assumed average jobs; exhaustive: about {}).\n",
        if schedule.brackets.len() > 1 {
            "Hyperband"
        } else {
            "Successive halving"
        },
        schedule.eta,
        100.0 * epochs / all_epochs.max(1.0),
        100.0 * seconds / exhaustive.max(1e-9),
        human(exhaustive)
    ));
    (out, seconds)
}

fn human(seconds: f64) -> String {
    let minutes = seconds / 60.0;
    if minutes < 1.0 {
        format!("{seconds:.0} s")
    } else if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}
