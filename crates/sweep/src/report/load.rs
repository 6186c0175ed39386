//! Reading a results directory: results.csv (ranked), best.json, the grid's axes (from the grid copy, or inferred from
//! the rows) and the best job's history files.
//!
//! The last part of this file gathers the report's own stand-ins for things that are about to be shared across the
//! crate (the parameter table, the job statuses, the history format, the ranking): they are kept together so that they
//! can be replaced in one place.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ReportError;
use crate::grid::{Axis, Grid};
use crate::results::{read_best, read_rows, BestInfo, Row, BEST_CHECKPOINT, GRID_COPY, RESULTS_CSV};

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
        rank_rows(&mut rows);
        let best = read_best(dir)?;
        let best_id = best
            .as_ref()
            .map(|b| b.id.clone())
            .or_else(|| rows.first().filter(|r| r.is_candidate()).map(|r| r.id.clone()));

        let grid_path = dir.join(GRID_COPY);
        let (name, axes, axes_inferred) = if grid_path.is_file() {
            let text = fs::read_to_string(&grid_path).map_err(|source| ReportError::Read {
                path: grid_path.clone(),
                source,
            })?;
            let grid = Grid::parse(&grid_path, &text)?;
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
    crate::grid::PARAMS
        .iter()
        .filter_map(|&name| {
            let values = distinct(rows.iter().filter_map(|r| param_of(r, name)));
            if values.len() < 2 {
                return None;
            }
            let (lo, hi) = (values[0], values[values.len() - 1]);
            let log = lo > 0.0 && hi / lo >= 10.0;
            Some(Axis {
                name: name.to_string(),
                values,
                log,
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
    let status = status(r);
    if status == Status::Diverged {
        return Outcome::Diverged;
    }
    match r.best_val_acc {
        Some(v) if v.is_finite() && status != Status::Failed => Outcome::Acc(100.0 * v),
        _ => Outcome::NoAcc,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Stand-ins, to be replaced by the crate's shared parameter table, statuses and history format

/// The value of a grid parameter in a row (None for the default `kaiming` init).
/// Stand-in for the shared parameter table.
pub(super) fn param_of(r: &Row, name: &str) -> Option<f64> {
    match name {
        "learning_rate" => Some(r.learning_rate),
        "reg" => Some(r.reg),
        "hidden_size" => Some(r.hidden_size as f64),
        "lr_decay" => Some(r.lr_decay),
        "epochs" => Some(r.epochs as f64),
        "batch_size" => Some(r.batch_size as f64),
        "init_std" => r.init_std.parse().ok(),
        _ => None,
    }
}

/// How a parameter is called on an axis. Stand-in for the shared parameter table.
pub(super) fn param_label(name: &str) -> &str {
    match name {
        "learning_rate" => "learning rate",
        "reg" => "regularization strength (reg)",
        "hidden_size" => "hidden layer size",
        "lr_decay" => "learning-rate decay per epoch",
        "epochs" => "epochs",
        "batch_size" => "batch size",
        "init_std" => "initial weight std",
        other => other,
    }
}

/// A job's status as the report tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Completed,
    Diverged,
    Failed,
    /// Any other status: the job stopped early.
    Other,
}

/// Stand-in: the one place that compares results.csv's status strings.
pub(super) fn status(r: &Row) -> Status {
    match r.status.as_str() {
        "completed" => Status::Completed,
        "diverged" => Status::Diverged,
        "failed" => Status::Failed,
        _ => Status::Other,
    }
}

impl Sweep {
    /// How many jobs have `status`.
    pub(super) fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| self::status(r) == status).count()
    }
}

/// Completed jobs by validation accuracy (best first), then the others; one row per job id.
/// Stand-in for a shared ranking of results rows.
fn rank_rows(rows: &mut Vec<Row>) {
    rows.sort_by(crate::best::ranking_order);
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.id.clone()));
}

/// A line of `history/<id>.csv`. Stand-in for the shared history format.
#[derive(Debug, Deserialize)]
struct EpochLine {
    epoch: usize,
    #[allow(dead_code)]
    lr: f64,
    #[allow(dead_code)]
    loss: f64,
    train_acc: f64,
    val_acc: f64,
}

/// A line of `history/<id>-loss.csv`. Stand-in for the shared history format.
#[derive(Debug, Deserialize)]
struct LossLine {
    iteration: usize,
    loss: f64,
}

/// A history file of a job and the points read from it; no points when the file does not exist.
pub(super) struct History<P> {
    pub(super) path: PathBuf,
    pub(super) points: Vec<P>,
}

impl Sweep {
    /// The job's loss history: its finite (iteration, loss) points.
    pub(super) fn loss_history(&self, id: &str) -> Result<History<(f64, f64)>, ReportError> {
        let path = self.dir.join("history").join(format!("{id}-loss.csv"));
        let points = read_history::<LossLine>(&path)?
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.loss.is_finite())
            .map(|l| (l.iteration as f64, l.loss))
            .collect();
        Ok(History { path, points })
    }

    /// The job's per-epoch history: (epoch, train %, validation %) where both accuracies are finite.
    pub(super) fn epoch_history(&self, id: &str) -> Result<History<(f64, f64, f64)>, ReportError> {
        let path = self.dir.join("history").join(format!("{id}.csv"));
        let points = read_history::<EpochLine>(&path)?
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.train_acc.is_finite() && e.val_acc.is_finite())
            .map(|e| (e.epoch as f64, 100.0 * e.train_acc, 100.0 * e.val_acc))
            .collect();
        Ok(History { path, points })
    }
}

/// Rows of a history CSV; None when the file does not exist. Stand-in for the shared history format.
fn read_history<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<Vec<T>>, ReportError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut r = csv::Reader::from_reader(&bytes[..]);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| ReportError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("row {}: {e}", i + 1),
            })
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}
