//! Reading a results directory: results.csv (ranked), best.json, the grid's axes (from the grid copy, or inferred from
//! the rows), the rungs of a halving or Hyperband sweep (schedule from the grid copy, records from rungs/*.csv) and the
//! jobs' history files.
//!
//! This is the one data layer of `sweep report` and `sweep serve`: both draw from a [`Sweep`], so the static page and
//! the live dashboard show the same numbers. The server keeps the [`Plan`] (what the grid copy says, costly for big
//! grids) while `grid.toml` is unchanged and reloads the rest as files change.
//!
//! Everything it reads goes through the crate's own format ([`sweep_results::format`]), parameter table and ranking.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sweep_core::train::EpochRecord;

use super::ReportError;
use crate::pareto::Pareto;
use serde_json::Value as Json;
use sweep_grid::command::{CommandGrid, FreeAxis, Objective};
use sweep_grid::grid::{Axis, Grid, Job, PlannedData};
use sweep_params::params::{params, Param, Value};
use sweep_results::best::rank_rows;
use sweep_results::format::{
    history_paths, read_best, read_history, read_rows, rows_in_dir, BestInfo, JobStatus, LossRecord, Row, BEST_CHECKPOINT, GRID_COPY,
    RESULTS_CSV, RUNGS_DIR,
};
use sweep_search::{Bracket, Schedule, Search};

/// What the grid copy (`grid.toml`) of a results directory says: the sweep's name, axes, planned jobs and schedule.
#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub seed: u64,
    /// The search's name (`"halving"`, `"tpe"`, `"tpe+asha"`).
    pub method: String,
    pub axes: Vec<Axis>,
    /// Every job the sweep will run, in grid order (their `index` is the trial number).
    pub jobs: Vec<Job>,
    /// The brackets and their rungs, as the runner computes them from the grid. For TPE, one bracket standing for
    /// all its batches, with no jobs listed (see `batches`), and its rungs when it has more than one.
    pub schedule: Schedule,
    /// TPE only: the sizes of the batches it proposes, `batch` at a time up to `samples`. Its jobs are proposed while
    /// the sweep runs (from the rows before them), so `jobs` is empty and every recorded trial belongs to the bracket.
    pub batches: Option<Vec<usize>>,
    /// The data sizes the cost model needs.
    pub data: PlannedData,
    /// The search, whose scheduler says how many of a rung's jobs go on (as `sweep plan` and the run count them).
    pub search: Search,
    /// A command sweep's `[command]`, `[train]` and free-form `[grid]` axes (its `axes` above are then empty).
    pub command: Option<CommandGrid>,
}

impl Plan {
    /// The plan of the results directory `dir`; None when it has no grid copy.
    pub fn load(dir: &Path) -> Result<Option<Plan>, ReportError> {
        let grid_path = dir.join(GRID_COPY);
        if !grid_path.is_file() {
            return Ok(None);
        }
        let grid = Grid::load(&grid_path)?;
        let jobs = grid.jobs()?;
        let (schedule, batches) = match grid.search.batches() {
            // As the runner's `Driver`: every batch goes through the search's ladder (one rung: no early stopping).
            Some(sizes) => {
                let ladder = grid.search.ladder(grid.base_config().epochs);
                let rungs = if ladder.len() > 1 { ladder } else { Vec::new() };
                let schedule = Schedule {
                    eta: grid.search.eta,
                    brackets: vec![Bracket { jobs: Vec::new(), rungs }],
                };
                (schedule, Some(sizes))
            }
            None => (grid.search.schedule(&jobs, grid.seed), None),
        };
        Ok(Some(Plan {
            data: grid.data.planned(),
            name: grid.name,
            seed: grid.seed,
            method: grid.search.name(),
            axes: grid.axes,
            jobs,
            schedule,
            batches,
            search: grid.search,
            command: grid.command,
        }))
    }

    /// How many jobs bracket `b` starts.
    pub fn bracket_size(&self, b: usize) -> usize {
        match &self.batches {
            Some(sizes) => sizes.iter().sum(),
            None => self.schedule.brackets.get(b).map_or(0, |br| br.jobs.len()),
        }
    }

    /// The jobs bracket `b` plans for each of its rungs (TPE: summed over its batches, each halved on its own).
    pub fn planned_counts(&self, b: usize) -> Vec<usize> {
        let Some(bracket) = self.schedule.brackets.get(b) else {
            return Vec::new();
        };
        let Some(sizes) = &self.batches else {
            return self.search.planned_counts(bracket);
        };
        let mut total = vec![0; bracket.rung_count()];
        for &n in sizes {
            let mut n = n;
            for (r, t) in total.iter_mut().enumerate() {
                if r > 0 {
                    n = self.search.survivors(n);
                }
                *t += n;
            }
        }
        total
    }
}

/// Everything the report needs from a results directory.
pub struct Sweep {
    pub dir: PathBuf,
    pub name: String,
    /// One row per job, best first (completed jobs by validation accuracy, then the rest).
    pub rows: Vec<Row>,
    pub best: Option<BestInfo>,
    /// The job whose curves are drawn: the one in best.json, else the top completed row.
    pub best_id: Option<String>,
    pub axes: Vec<Axis>,
    /// Set when grid.toml was missing and the axes were inferred from the rows.
    pub axes_inferred: bool,
    /// The grid copy's plan; None when grid.toml is missing.
    pub plan: Option<Arc<Plan>>,
    /// The rungs of a halving or Hyperband sweep; None for a plain sweep (or when grid.toml is missing).
    pub rungs: Option<Rungs>,
    /// A command sweep's own axes (its trials' values, from the grid copy or inferred from the rows) and objective;
    /// `axes` is then empty. None for a sweep of the built-in network.
    pub command: Option<CommandAxes>,
    /// A multi-objective sweep's front and hypervolume, from the rows in the order results.csv recorded them; None
    /// for one objective.
    pub pareto: Option<Pareto>,
}

/// What a command sweep is searched over and for: its free-form axes and its objective.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandAxes {
    pub axes: Vec<FreeAxis>,
    pub objective: Objective,
}

impl CommandAxes {
    /// From the grid copy's `[command]` and `[grid]`, else from the rows (their objective, and every value column
    /// that varies).
    fn of(plan: Option<&Plan>, rows: &[Row]) -> Option<CommandAxes> {
        if let Some(c) = plan.and_then(|p| p.command.as_ref()) {
            return Some(CommandAxes {
                axes: c.axes.clone(),
                objective: c.command.objective.clone(),
            });
        }
        let first = rows.iter().find_map(|r| r.trial.as_ref())?;
        let axes = first
            .values
            .iter()
            .filter_map(|(name, _)| {
                let mut values: Vec<Json> = Vec::new();
                for r in rows {
                    let v = r.trial.as_ref()?.values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())?;
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
                (values.len() > 1).then(|| FreeAxis {
                    name: name.clone(),
                    integer: values.iter().all(|v| v.is_i64() || v.is_u64()),
                    values,
                    log: false,
                    range: None,
                })
            })
            .collect();
        Some(CommandAxes {
            axes,
            objective: first.objective.clone(),
        })
    }
}

/// What a halving or Hyperband sweep planned and recorded rung by rung.
pub struct Rungs {
    /// The plan, whose schedule holds the brackets (of job indices) and their rungs.
    pub plan: Arc<Plan>,
    /// The rung records (`rungs/*.csv`, one file per writing process): one row per job and finished non-final rung.
    pub records: Vec<Row>,
}

/// One line of the rung table: a rung of a bracket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RungStat {
    /// 0-based bracket and rung.
    pub bracket: usize,
    pub rung: usize,
    /// Epochs a job has trained at the end of the rung (fractional: mid-epoch).
    pub epochs: f64,
    /// Jobs the schedule plans for the rung, and jobs that have a record of it.
    pub planned: usize,
    pub ran: usize,
    /// Jobs that ended at this rung, by how.
    pub pruned: usize,
    pub diverged: usize,
    pub failed: usize,
    /// The best validation accuracy (0-1) reached by the rung's jobs that did not diverge or fail.
    pub best_val_acc: Option<f64>,
}

impl Rungs {
    /// Every epoch at which some bracket ends a rung, ascending (for Hyperband the union of the brackets' rungs).
    pub fn schedule(&self) -> &Schedule {
        &self.plan.schedule
    }

    pub fn epochs(&self) -> Vec<f64> {
        let mut e: Vec<f64> = self.schedule().brackets.iter().flat_map(|b| b.rungs.iter().copied()).collect();
        e.sort_by(f64::total_cmp);
        e.dedup();
        e
    }

    /// The rung table: per bracket and rung, the plan and what the rows of results.csv (`finals`) and the rung records say.
    /// A job ran rung r if it has a record of rung r in either file; it ended there if its results.csv row says so.
    pub fn table(&self, finals: &[Row]) -> Vec<RungStat> {
        let mut out = Vec::new();
        let schedule = self.schedule();
        for (b, bracket) in schedule.brackets.iter().enumerate() {
            let members: Option<std::collections::HashSet<&str>> = self.plan.batches.is_none().then(|| {
                bracket
                    .jobs
                    .iter()
                    .filter_map(|&j| self.plan.jobs.get(j))
                    .map(|j| j.id.as_str())
                    .collect()
            });
            let planned = self.plan.planned_counts(b);
            for (r, &epochs) in bracket.rungs.iter().enumerate() {
                let at = |row: &&Row| row.rung == Some(r) && members.as_ref().is_none_or(|m| m.contains(row.id.as_str()));
                let ended: Vec<&Row> = finals.iter().filter(at).collect();
                let mut ran: Vec<&Row> = self.records.iter().filter(at).chain(ended.iter().copied()).collect();
                let ended_as = |s: JobStatus| ended.iter().filter(|row| row.status == s).count();
                let best_val_acc = ran
                    .iter()
                    .filter(|row| !matches!(row.status, JobStatus::Diverged | JobStatus::Failed))
                    .filter_map(|row| row.best_val_acc.filter(|v| v.is_finite()))
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
                ran.sort_by(|a, b| a.id.cmp(&b.id));
                ran.dedup_by(|a, b| a.id == b.id);
                out.push(RungStat {
                    bracket: b,
                    rung: r,
                    epochs,
                    planned: planned.get(r).copied().unwrap_or(0),
                    ran: ran.len(),
                    pruned: ended_as(JobStatus::Pruned),
                    diverged: ended_as(JobStatus::Diverged),
                    failed: ended_as(JobStatus::Failed),
                    best_val_acc,
                });
            }
        }
        out
    }
}

impl Sweep {
    /// The report's reading of `dir`, which must hold a results.csv.
    pub fn load(dir: &Path) -> Result<Sweep, ReportError> {
        if !dir.join(RESULTS_CSV).is_file() {
            return Err(ReportError::NotResults(dir.to_path_buf()));
        }
        Sweep::load_with(dir, Plan::load(dir)?.map(Arc::new))
    }

    /// Reads `dir` with a plan already loaded from its grid copy; a sweep that has recorded no row yet (no results.csv)
    /// has no rows.
    pub fn load_with(dir: &Path, plan: Option<Arc<Plan>>) -> Result<Sweep, ReportError> {
        let csv = dir.join(RESULTS_CSV);
        let mut rows = if csv.is_file() { read_rows(&csv)? } else { Vec::new() };
        // Before ranking: the hypervolume follows the order the rows were recorded in.
        let pareto = Pareto::of(&rows);
        rank_rows(&mut rows, |r| r);
        // A command sweep's best.json names a trial (`results::schema::TrialBest`), not a model: its best is its
        // first-ranked row.
        let best = if rows.iter().any(|r| r.trial.is_some()) {
            None
        } else {
            read_best(dir)?
        };
        let best_id = best
            .as_ref()
            .map(|b| b.id.clone())
            .or_else(|| rows.first().filter(|r| r.is_candidate()).map(|r| r.id.clone()));

        let (name, axes, axes_inferred, rungs) = match &plan {
            Some(plan) => {
                let rungs = if plan.schedule.is_multi_fidelity() {
                    Some(Rungs {
                        plan: plan.clone(),
                        records: read_rung_records(dir)?,
                    })
                } else {
                    None
                };
                (plan.name.clone(), plan.axes.clone(), false, rungs)
            }
            None => {
                let name = dir.file_name().map_or("sweep".to_string(), |n| n.to_string_lossy().into_owned());
                (name, infer_axes(&rows), true, None)
            }
        };
        let command = CommandAxes::of(plan.as_deref(), &rows);
        Ok(Sweep {
            dir: dir.to_path_buf(),
            name,
            command,
            rows,
            best,
            best_id,
            axes,
            axes_inferred,
            plan,
            rungs,
            pareto,
        })
    }

    pub fn best_row(&self) -> Option<&Row> {
        let id = self.best_id.as_ref()?;
        self.rows.iter().find(|r| &r.id == id)
    }

    /// The best job's best epoch: from its row, else from best.json.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_row()
            .and_then(|r| r.best_epoch)
            .map(|e| e as usize)
            .or(self.best.as_ref().map(|b| b.best_epoch))
    }

    /// The best model's checkpoint named by best.json (the default name when it names none).
    pub fn checkpoint_path(&self, best: &BestInfo) -> PathBuf {
        let name = if best.checkpoint.is_empty() {
            BEST_CHECKPOINT
        } else {
            best.checkpoint.as_str()
        };
        self.dir.join(name)
    }
}

/// Every rung record of the directory (`rungs/*.csv` in name order; none before the first rung ended).
fn read_rung_records(dir: &Path) -> Result<Vec<Row>, ReportError> {
    Ok(rows_in_dir(&dir.join(RUNGS_DIR))?)
}

/// Without grid.toml: every parameter that takes more than one value is an axis, log-spaced if it spans a decade or more.
fn infer_axes(rows: &[Row]) -> Vec<Axis> {
    params()
        .iter()
        .filter_map(|param| {
            let values = distinct(rows.iter().filter_map(|r| param_of(r, param)));
            if values.len() < 2 {
                return None;
            }
            let (lo, hi) = (values[0], values[values.len() - 1]);
            let log = lo > 0.0 && hi / lo >= 10.0;
            Some(Axis {
                param,
                values: values.into_iter().map(Value::Num).collect(),
                log,
                range: None,
            })
        })
        .collect()
}

/// Whether two parameter values are the same grid value (equal up to rounding).
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Sorted distinct finite values.
pub fn distinct(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// What a job gives to the accuracy plots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Best validation accuracy, in percent.
    Acc(f64),
    Diverged,
    /// Failed, or no epoch finished: nothing to plot.
    NoAcc,
}

pub fn outcome(r: &Row) -> Outcome {
    if r.status == JobStatus::Diverged {
        return Outcome::Diverged;
    }
    match r.best_val_acc {
        Some(v) if v.is_finite() && r.status != JobStatus::Failed => Outcome::Acc(100.0 * v),
        _ => Outcome::NoAcc,
    }
}

/// The numeric value of a parameter in a row (None for a name, such as the default `kaiming` init).
pub fn param_of(r: &Row, p: &Param) -> Option<f64> {
    p.get(&r.config).as_f64()
}

impl Sweep {
    /// How many jobs have `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// A history file of a job and the points read from it; no points when the file does not exist.
pub struct History<P> {
    pub path: PathBuf,
    pub points: Vec<P>,
}

impl Sweep {
    /// The job's loss history: its finite (iteration, loss) points.
    pub fn loss_history(&self, id: &str) -> Result<History<(f64, f64)>, ReportError> {
        let (_, path) = history_paths(&self.dir, id);
        let points = read_history::<LossRecord>(&path)?
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.loss.is_finite())
            .map(|l| (l.iteration as f64, f64::from(l.loss)))
            .collect();
        Ok(History { path, points })
    }

    /// The job's per-epoch history: (epoch, train %, validation %) where both accuracies are finite.
    pub fn epoch_history(&self, id: &str) -> Result<History<(f64, f64, f64)>, ReportError> {
        let (path, _) = history_paths(&self.dir, id);
        let points = read_history::<EpochRecord>(&path)?
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.train_acc.is_finite() && e.val_acc.is_finite())
            .map(|e| (e.epoch as f64, 100.0 * e.train_acc, 100.0 * e.val_acc))
            .collect();
        Ok(History { path, points })
    }
}
