//! The operations the `sweep` commands call, as cargo's `ops`: each command's `exec` reads its flags, fills one of
//! these argument structs and calls one function here, which does the work and prints what the user reads.
//!
//! * [`run`]: a sweep of the built-in network ([`run_command`]: of a user's program), from the grid to the best.
//! * [`finish`]: the last step of a sharded sweep; [`plan`]: the jobs, the work and the time, without running.
//! * [`train`] and [`eval`]: one configuration trained from flags, and a saved model scored.
//! * [`gpus`]: the devices of a command sweep that sets `[command] gpus`, for `run` and `plan`.
//! * [`cluster`]: what a run does differently when other processes share its results directory; [`slurm`] and
//!   [`k8s`]: the job array and the Indexed Job that run a sweep as shards.

pub mod cluster;
pub mod eval;
pub mod finish;
pub mod gpus;
pub mod k8s;
pub mod plan;
pub mod run;
#[cfg(unix)]
pub mod run_command;
pub mod slurm;
pub mod train;

use std::fmt::Display;

use sweep_params::GridError;
use sweep_report::ReportError;
use sweep_results::error::{BestError, ClaimError, ResultsError};

use crate::error::{DownloadError, K8sError, ShardError, SubmitError};

/// An operation's error: a mistake in the input said with its fix (exit code 2), or a library's typed error.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A mistake in the flags, the grid or the data, with what would fix it.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Grid(#[from] GridError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The machine failed a run under way (a full disk, a path that cannot be written, a process that cannot start):
    /// nothing is recorded for the unit it hit, and the rerun resumes it. Not the user's mistake: its exit code is
    /// [`EXIT_IO`], not 2.
    #[error(transparent)]
    Environment(ResultsError),
    #[error(transparent)]
    Best(#[from] BestError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Data(#[from] sweep_core::DataError),
    #[error(transparent)]
    Checkpoint(#[from] sweep_core::CheckpointError),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    K8s(#[from] K8sError),
    #[error(transparent)]
    Argv(#[from] sweep_grid::argv::ArgvError),
    /// What was being done, and why it failed (the cause is printed after it, once).
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Exit code of a run that the machine failed ([`OpsError::Environment`]): `EX_IOERR` of sysexits.h.
pub const EXIT_IO: u8 = 74;

impl OpsError {
    /// Whether the machine failed a run under way (exit [`EXIT_IO`]) rather than the user's input (exit 2).
    pub fn is_environmental(&self) -> bool {
        matches!(self, OpsError::Environment(_))
    }
}

/// The result of an operation.
pub type Result<T, E = OpsError> = std::result::Result<T, E>;

/// An [`OpsError::Input`] from a format string.
macro_rules! input {
    ($($t:tt)*) => {
        $crate::ops::OpsError::Input(format!($($t)*))
    };
}
pub(crate) use input;

/// What was being done when an error happened, as `anyhow`'s `context`: the message, then the cause.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| OpsError::Context {
            context: what.to_string(),
            source: Box::new(e),
        })
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| OpsError::Context {
            context: what().to_string(),
            source: Box::new(e),
        })
    }
}

/// The cores this process may use: the default worker count.
pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
