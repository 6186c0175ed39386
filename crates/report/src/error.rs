//! The errors of `sweep report`; each names the file concerned.

use std::path::PathBuf;

use sweep_core::CheckpointError;
use sweep_params::GridError;
use sweep_results::error::ResultsError;

/// Errors of `sweep report`; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0} holds no results.csv: it is not a results directory (run `sweep run GRID --out DIR` first, then `sweep report DIR`)")]
    NotResults(PathBuf),
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The grid copy (`grid.toml`) is invalid; the message names it, with line and key.
    #[error(transparent)]
    Grid(#[from] GridError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot write {path} (is the results directory writable?)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw {path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("the embedded font assets/DejaVuSans.ttf could not be loaded")]
    Font,
}
