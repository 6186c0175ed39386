//! What a unit of work leaves to record: the job's row, its curves, and the model at its best epoch.

use sweep_core::Model;

use crate::format::Row;

/// What a unit leaves to record: the job's row (the runner sets its status and rung), its curves, and the best
/// parameters for a model that may be the sweep's best.
#[derive(Debug, Clone)]
pub struct Record {
    pub row: Row,
    /// The per-epoch and per-iteration history files (CSV bytes), if the backend keeps curves.
    pub history: Option<(Vec<u8>, Vec<u8>)>,
    /// The model at the job's best epoch (offered as the sweep's best when the job completes).
    pub model: Option<Model>,
}
