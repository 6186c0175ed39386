//! A sweep replayed on the surrogate in process: sweep's own scheduler ([`sweep_runner::run::Driver`], the one `sweep
//! run` uses) decides every unit of work, each unit's outcome is read off the configuration's surrogate curve, and a
//! discrete-event clock stands in for the workers: `workers` units run at once, each taking the seconds the surrogate
//! predicts for its epochs (`time[to] - time[from]`).
//!
//! It carries out a poll's answer as the runner does (`crates/runner/src/run/mod.rs`): the pruned rows first, then
//! the poll's units in order while a worker is free (a promotion the poll decides is recorded as its unit starts),
//! then the earliest unit to end is recorded (a rung record, or the job's final row) and the scheduler is asked
//! again. A command trial's row holds the best value of its objective over every epoch so far and its last epoch, as
//! `run/program.rs` writes it, so the replay's rows are the rows `sweep run` records with `yahpo-trial` as the
//! program (the test `replay_equals_sweep_run`).

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};
use sweep_grid::grid::{Grid, Job};
use sweep_params::{Decision, JobStatus};
use sweep_runner::run::{Driver, Scheduler, View};
use sweep_search::work::{Outcome, Unit};

use crate::surrogate::{Curve, Surrogate, MAX_EPOCH, OUTPUTS, PARAMS};
use sweep_grid::command::Mode;

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Units at once.
    pub workers: usize,
    /// Stop once this many epochs are spent (counted in the order they are trained; the unit in which the budget
    /// runs out is cut there).
    pub budget: usize,
    /// Budgets at which the curve gets a point even if the best did not change (as `optuna_side.py` does).
    pub marks: Vec<usize>,
}

/// A point of the anytime curve: after `epochs` epochs (and `sim_seconds` of training on the surrogate's clock, by
/// the last epoch each unit reached), the best validation accuracy found.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub epochs: usize,
    pub sim_seconds: f64,
    pub best: f64,
}

/// One row as the search reads it, with the job's id and the epoch of its best value.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRow {
    pub id: String,
    pub outcome: Outcome,
    pub best_epoch: Option<usize>,
    /// Epochs spent by the whole replay when the row was recorded.
    pub spent: usize,
    /// Every objective's value at the best epoch, as written (not negated), in the grid's order.
    pub values: Vec<f64>,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Replay {
    /// The anytime curve in epochs (meaningful for one worker: epochs are then spent one after another).
    pub curve: Vec<Point>,
    /// The best found against simulated wall time: (seconds since the start, best), at each unit's end that raised
    /// it.
    pub by_time: Vec<(f64, f64)>,
    /// Final rows in recording order (finished and pruned), and rung records in recording order.
    pub rows: Vec<SimRow>,
    pub rung_rows: Vec<(usize, SimRow)>,
    /// Epochs spent, trials started, units run.
    pub epochs: usize,
    pub trials: usize,
    pub units: usize,
    /// Simulated seconds: the last unit's end, and the sum of every unit's duration (busy = busy / (workers x end)).
    pub end: f64,
    pub busy: f64,
}

struct Running {
    unit: Unit,
    start: f64,
    end: f64,
    seq: usize,
}

/// The seven LCBench values of a command trial's job.
pub fn values_of(job: &Job) -> Result<[f64; 7]> {
    let trial = job.trial.as_ref().context("not a command trial")?;
    let mut out = [0.0; 7];
    for (slot, name) in out.iter_mut().zip(PARAMS) {
        *slot = trial
            .values
            .get(name)
            .and_then(|v| v.as_f64())
            .with_context(|| format!("trial {} has no number {name}", job.id))?;
    }
    Ok(out)
}

/// The LCBench task of a command grid: its fixed value `task`.
pub fn task_of(grid: &Grid) -> Result<u32> {
    let c = grid.command.as_ref().context("not a command grid")?;
    c.fixed
        .iter()
        .find(|(k, _)| k == "task")
        .and_then(|(_, v)| v.as_u64())
        .and_then(|t| u32::try_from(t).ok())
        .context("the grid fixes no task")
}

/// Replays `grid`'s search on the surrogate.
pub fn replay(grid: &Grid, surrogate: &Surrogate, opts: &Options) -> Result<Replay> {
    let task = task_of(grid)?;
    // The objectives' columns of a curve: the first must be val_accuracy, maximized (it picks the best epoch and is
    // the anytime curve's value); the others are read at its best epoch.
    let columns: Vec<(usize, Mode)> = grid
        .objectives
        .iter()
        .map(|o| Some((OUTPUTS.iter().position(|n| *n == o.metric)?, o.mode)))
        .collect::<Option<_>>()
        .with_context(|| format!("an objective is not one of the surrogate's outputs {OUTPUTS:?}"))?;
    if columns.first() != Some(&(1, Mode::Max)) {
        bail!("the replay's first objective must be val_accuracy = \"max\"");
    }
    let jobs = grid.jobs().map_err(|e| anyhow::anyhow!("{}", e))?;
    // The command backend's cost model (`ops/run_command.rs`): every epoch of every trial alike.
    let mut driver = Driver::new(grid, jobs, |_| 1000);
    let workers = opts.workers.max(1);
    let mut curves: HashMap<String, Curve> = HashMap::new();
    let mut finals: HashMap<String, Outcome> = HashMap::new();
    let mut rungs: HashMap<(usize, String), Outcome> = HashMap::new();
    let mut decisions: HashSet<Decision> = HashSet::new();
    let mut best_epochs: HashMap<String, usize> = HashMap::new();
    let mut running: Vec<Running> = Vec::new();
    let mut out = Replay::default();
    let (mut now, mut seq, mut best, mut spent) = (0.0f64, 0usize, f64::NEG_INFINITY, 0usize);
    let mut started: HashSet<String> = HashSet::new();
    let mut out_of_budget = false;
    loop {
        let poll = driver.poll(&View {
            finals: &finals,
            rungs: &rungs,
            decisions: &decisions,
            idle: workers.saturating_sub(running.len()),
        });
        let mut wrote = false;
        for (id, k) in &poll.prune {
            if finals.contains_key(id) {
                continue;
            }
            let Some(o) = rungs.get(&(*k, id.clone())) else { continue };
            let o = Outcome {
                status: JobStatus::Pruned,
                ..o.clone()
            };
            finals.insert(id.clone(), o.clone());
            let rung_row = out.rung_rows.iter().rev().find(|(r, row)| r == k && row.id == *id);
            out.rows.push(SimRow {
                id: id.clone(),
                outcome: o,
                best_epoch: best_epochs.get(id).copied(),
                spent,
                values: rung_row.map(|(_, row)| row.values.clone()).unwrap_or_default(),
            });
            wrote = true;
        }
        if !out_of_budget {
            for unit in poll.units {
                if running.len() >= workers {
                    break;
                }
                let key = unit.key();
                if running.iter().any(|r| r.unit.key() == key) {
                    continue;
                }
                let decided = Decision::of(unit.job.id.clone(), unit.rung.unwrap_or(0));
                if let Some(decision) = poll.decide.get(&decided) {
                    decisions.insert(decision.clone());
                }
                let (from, to) = (unit.from, unit.to);
                if from.fract() != 0.0 || to.fract() != 0.0 || to < 1.0 || to > MAX_EPOCH as f64 || from >= to {
                    bail!("unit {key} trains {from}..{to} epochs: the surrogate has whole epochs 1..{MAX_EPOCH}");
                }
                if !curves.contains_key(&unit.job.id) {
                    let c = surrogate.curve(task, &values_of(&unit.job)?)?;
                    curves.insert(unit.job.id.clone(), c);
                }
                if started.insert(unit.job.id.clone()) {
                    out.trials += 1;
                }
                let c = &curves[&unit.job.id];
                let took = (seconds_at(c, to) - seconds_at(c, from)).max(0.0);
                running.push(Running {
                    unit,
                    start: now,
                    end: now + took,
                    seq,
                });
                seq += 1;
            }
        }
        if running.is_empty() {
            if poll.done || out_of_budget {
                break;
            }
            if wrote {
                continue;
            }
            bail!("the scheduler proposes nothing and nothing runs: the replay is stuck");
        }
        // The next unit to end (ties: the one started first).
        let next = (0..running.len())
            .min_by(|&a, &b| running[a].end.total_cmp(&running[b].end).then(running[a].seq.cmp(&running[b].seq)))
            .expect("running is not empty");
        let r = running.swap_remove(next);
        now = r.end;
        out.units += 1;
        out.busy += r.end - r.start;
        let unit = &r.unit;
        let c = &curves[&unit.job.id];
        // Its epochs, in order: the budget and the curve (the simulated seconds of every earlier unit, then this one's
        // up to the epoch).
        let before = best;
        let busy_before = out.busy - (r.end - r.start);
        for e in unit.from as usize + 1..=unit.to as usize {
            if spent >= opts.budget {
                out_of_budget = true;
                break;
            }
            spent += 1;
            best = best.max(f64::from(c[e - 1][1]));
            if opts.marks.contains(&spent) {
                out.curve.push(Point {
                    epochs: spent,
                    sim_seconds: busy_before + seconds_at(c, e as f64) - seconds_at(c, unit.from),
                    best,
                });
            }
        }
        if spent >= opts.budget {
            out_of_budget = true;
        }
        if best > before {
            if out.curve.last().is_none_or(|p| p.epochs != spent) {
                out.curve.push(Point {
                    epochs: spent,
                    sim_seconds: out.busy,
                    best,
                });
            }
            out.by_time.push((now, best));
        }
        // Its row: the best value of the objective over epochs 1..to (the earliest of equal ones), its last epoch.
        let (mut top, mut at) = (f64::NEG_INFINITY, 0);
        for (e, row) in c.iter().enumerate().take(unit.to as usize) {
            if f64::from(row[1]) > top {
                top = f64::from(row[1]);
                at = e + 1;
            }
        }
        best_epochs.insert(unit.job.id.clone(), at);
        let values: Vec<f64> = columns.iter().map(|&(col, _)| f64::from(c[at - 1][col])).collect();
        let objectives = match columns.len() {
            1 => Vec::new(),
            _ => values
                .iter()
                .zip(&columns)
                .map(|(v, (_, mode))| if *mode == Mode::Max { *v } else { -v })
                .collect(),
        };
        let outcome = Outcome {
            status: JobStatus::Completed,
            rung: unit.rung,
            score: Some(top),
            objectives,
            epochs_run: unit.to,
            seconds: seconds_at(c, unit.to),
        };
        let row = SimRow {
            id: unit.job.id.clone(),
            outcome: outcome.clone(),
            best_epoch: Some(at),
            spent,
            values,
        };
        if unit.last {
            finals.insert(unit.job.id.clone(), outcome);
            out.rows.push(row);
        } else if let Some(k) = unit.rung {
            rungs.insert((k, unit.job.id.clone()), outcome);
            out.rung_rows.push((k, row));
        }
    }
    // A search that ended within the budget has found at the later marks what it found by its end.
    for &mark in opts.marks.iter().filter(|&&m| m > spent && best.is_finite()) {
        out.curve.push(Point {
            epochs: mark,
            sim_seconds: out.busy,
            best,
        });
    }
    out.epochs = spent;
    out.end = now;
    Ok(out)
}

/// The surrogate's cumulative training seconds after `epochs` whole epochs (0 at the start).
fn seconds_at(c: &Curve, epochs: f64) -> f64 {
    if epochs < 1.0 {
        0.0
    } else {
        f64::from(c[epochs as usize - 1][0])
    }
}
