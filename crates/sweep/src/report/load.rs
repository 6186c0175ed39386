//! Reading a results directory: results.csv (ranked), best.json, the grid's axes (from the grid copy, or inferred from
//! the rows) and the best job's history files.
//!
//! Everything it reads goes through the crate's own format ([`crate::format`]), parameter table and ranking.

use std::path::{Path, PathBuf};

use sweep_core::train::EpochRecord;

use super::ReportError;
use crate::best::rank_rows;
use crate::format::{
    history_paths, read_best, read_history, read_rows, BestInfo, JobStatus, LossRecord, Row, BEST_CHECKPOINT, GRID_COPY, RESULTS_CSV,
};
use crate::grid::{Axis, Grid};
use crate::params::{params, Param, Value};

/// Everything the report needs from a results directory.
pub(super) struct Sweep {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    /// One row per job, best first (completed jobs by validation accuracy, then the rest).
    pub(super) rows: Vec<Row>,
    pub(super) best: Option<BestInfo>,
    /// The job whose curves are drawn: the one in best.json, else the top completed row.
    pub(super) best_id: Option<String>,
    pub(super) axes: Vec<Axis>,
    /// Set when grid.toml was missing and the axes were inferred from the rows.
    pub(super) axes_inferred: bool,
}

impl Sweep {
    pub(super) fn load(dir: &Path) -> Result<Sweep, ReportError> {
        let csv = dir.join(RESULTS_CSV);
        if !csv.is_file() {
            return Err(ReportError::NotResults(dir.to_path_buf()));
        }
        let mut rows = read_rows(&csv)?;
        rank_rows(&mut rows, |r| r);
        let best = read_best(dir)?;
        let best_id = best
            .as_ref()
            .map(|b| b.id.clone())
            .or_else(|| rows.first().filter(|r| r.is_candidate()).map(|r| r.id.clone()));

        let grid_path = dir.join(GRID_COPY);
        let (name, axes, axes_inferred) = if grid_path.is_file() {
            let grid = Grid::load(&grid_path)?;
            (grid.name, grid.axes, false)
        } else {
            let name = dir.file_name().map_or("sweep".to_string(), |n| n.to_string_lossy().into_owned());
            (name, infer_axes(&rows), true)
        };
        Ok(Sweep {
            dir: dir.to_path_buf(),
            name,
            rows,
            best,
            best_id,
            axes,
            axes_inferred,
        })
    }

    pub(super) fn best_row(&self) -> Option<&Row> {
        let id = self.best_id.as_ref()?;
        self.rows.iter().find(|r| &r.id == id)
    }

    /// The best job's best epoch: from its row, else from best.json.
    pub(super) fn best_epoch(&self) -> Option<usize> {
        self.best_row()
            .and_then(|r| r.best_epoch)
            .or(self.best.as_ref().map(|b| b.best_epoch))
    }

    /// The best model's checkpoint named by best.json (the default name when it names none).
    pub(super) fn checkpoint_path(&self, best: &BestInfo) -> PathBuf {
        let name = if best.checkpoint.is_empty() {
            BEST_CHECKPOINT
        } else {
            best.checkpoint.as_str()
        };
        self.dir.join(name)
    }
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
pub(super) fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Sorted distinct finite values.
pub(super) fn distinct(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// What a job gives to the accuracy plots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Outcome {
    /// Best validation accuracy, in percent.
    Acc(f64),
    Diverged,
    /// Failed, or no epoch finished: nothing to plot.
    NoAcc,
}

pub(super) fn outcome(r: &Row) -> Outcome {
    if r.status == JobStatus::Diverged {
        return Outcome::Diverged;
    }
    match r.best_val_acc {
        Some(v) if v.is_finite() && r.status != JobStatus::Failed => Outcome::Acc(100.0 * v),
        _ => Outcome::NoAcc,
    }
}

/// The numeric value of a parameter in a row (None for a name, such as the default `kaiming` init).
pub(super) fn param_of(r: &Row, p: &Param) -> Option<f64> {
    p.get(&r.config).as_f64()
}

impl Sweep {
    /// How many jobs have `status`.
    pub(super) fn count(&self, status: JobStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// A history file of a job and the points read from it; no points when the file does not exist.
pub(super) struct History<P> {
    pub(super) path: PathBuf,
    pub(super) points: Vec<P>,
}

impl Sweep {
    /// The job's loss history: its finite (iteration, loss) points.
    pub(super) fn loss_history(&self, id: &str) -> Result<History<(f64, f64)>, ReportError> {
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
    pub(super) fn epoch_history(&self, id: &str) -> Result<History<(f64, f64, f64)>, ReportError> {
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
