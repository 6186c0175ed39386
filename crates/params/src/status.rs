//! How a job ended, and the promotions asynchronous halving decided: what the search reads of the recorded rows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A decision of an asynchronous search: job `id` goes on to rung `rung` (asynchronous successive halving), or, with
/// a [`Proposal`] (rung 0), the asynchronous sampler proposed job `id` and it starts. Two decisions are the same when
/// their job and rung are: the proposal only carries what a resumed sweep needs to build the job again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub rung: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposal>,
}

impl Decision {
    /// A promotion (or any decision without a proposal).
    pub fn of(id: impl Into<String>, rung: usize) -> Decision {
        Decision {
            id: id.into(),
            rung,
            proposal: None,
        }
    }
}

impl PartialEq for Decision {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.rung == other.rung
    }
}

impl Eq for Decision {}

impl std::hash::Hash for Decision {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.rung.hash(state);
    }
}

/// A configuration an asynchronous sampler proposed: the `index`th proposal of the sweep, at `point` of the search
/// space (quantiles of each axis, as `f64` bits, so it is read back exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Proposal {
    pub index: usize,
    pub point: Vec<u64>,
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
