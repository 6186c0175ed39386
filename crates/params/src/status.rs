//! How a job ended, and the promotions asynchronous halving decided: what the search reads of the recorded rows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A decision of asynchronous successive halving: job `id` goes on to rung `rung`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub rung: usize,
}

/// How a job ended, as written in `results.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Trained every epoch it was given.
    Completed,
    /// The loss became NaN, infinite, or far above its start.
    Diverged,
    /// Training failed unexpectedly; the sweep went on.
    Failed,
    /// Stopped early by the search (successive halving) because others were better.
    Pruned,
    /// Stopped from outside (an interrupt) before it finished.
    Stopped,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Completed,
        JobStatus::Diverged,
        JobStatus::Failed,
        JobStatus::Pruned,
        JobStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Completed => "completed",
            JobStatus::Diverged => "diverged",
            JobStatus::Failed => "failed",
            JobStatus::Pruned => "pruned",
            JobStatus::Stopped => "stopped",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown status \"{s}\""))
    }
}

impl From<sweep_core::Status> for JobStatus {
    fn from(s: sweep_core::Status) -> Self {
        match s {
            sweep_core::Status::Completed => JobStatus::Completed,
            sweep_core::Status::Diverged => JobStatus::Diverged,
            sweep_core::Status::Stopped => JobStatus::Stopped,
        }
    }
}
