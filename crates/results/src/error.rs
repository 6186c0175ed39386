//! The errors of a results directory, of `sweep best`, and of the claims directory; each names the path and the fix.

use std::path::PathBuf;

/// Errors of a results directory; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(
        "cannot write to {path} (choose a writable --out directory, or free some disk space and run the same command \
         again to resume)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{dir} holds a different sweep (its grid differs from {grid}); nothing was changed. \
         Use --out to write elsewhere, or delete {dir} to start over"
    )]
    DifferentSweep { dir: PathBuf, grid: PathBuf },
    #[error("cannot save the best checkpoint")]
    Checkpoint(#[from] sweep_core::CheckpointError),
    #[error("cannot save the training state of job {id}; free some disk space and run the same command again to resume")]
    State {
        id: String,
        #[source]
        source: sweep_core::CheckpointError,
    },
    #[error(transparent)]
    Claim(#[from] crate::claims::ClaimError),
    #[error(
        "{dir}: the recorded rows leave work that cannot start and that no other process holds; this is a bug: \
         please report it with the directory's results.csv, rungs/ and claims/"
    )]
    Stuck { dir: PathBuf },
    #[error("trial {id}: {reason}; nothing was recorded for it: fix that and run the same command again to resume")]
    Trial { id: String, reason: String },
    /// sweep's own files of a trial (its folder, its logs, its shepherd process) failed it: the environment's fault.
    #[error(
        "sweep could not carry out a trial; nothing was recorded for it: free some disk space (or fix what follows) \
         and run the same command again to resume"
    )]
    TrialIo {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot start {workers} worker threads (give fewer with --workers)")]
    Threads {
        workers: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

impl ResultsError {
    /// Whether the machine, not the user's input, is to blame (a full disk, a path that cannot be written, a process
    /// that cannot start): then a run that stops with it exits with an I/O error's code, not a usage error's.
    pub fn is_environmental(&self) -> bool {
        matches!(
            self,
            ResultsError::Write { .. }
                | ResultsError::State { .. }
                | ResultsError::TrialIo { .. }
                | ResultsError::Threads { .. }
                | ResultsError::Claim(ClaimError::Io { .. })
        )
    }
}

/// Errors of `sweep best`.
#[derive(Debug, thiserror::Error)]
pub enum BestError {
    #[error("{0} does not exist; give a results directory (e.g. results/ or results/cifar)")]
    Missing(PathBuf),
    #[error("no results.csv found below {0}; run `sweep run GRID` first or point at its --out directory")]
    Empty(PathBuf),
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Errors of the claims directory; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("cannot {op} {path} (every sweep process sharing the results directory must be able to write it)")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot claim jobs in {dir}: its file system does not support hard links; put the results directory on a \
         local file system or NFS"
    )]
    NoHardLinks {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{id:?} is not a job id: claims need letters, digits, `-` or `_` only")]
    BadId { id: String },
    #[error(
        "claim lease {lease:?} with heartbeat {heartbeat:?}: the lease must be at least {min:?} and at least \
         twice the heartbeat (default: lease {default:?}, heartbeat a tenth of it)",
        min = crate::claims::MIN_LEASE,
        default = crate::claims::DEFAULT_LEASE
    )]
    BadLease {
        lease: std::time::Duration,
        heartbeat: std::time::Duration,
    },
    #[error("{path} changed under us: {reason}; is something deleting claim files while sweeps run?")]
    Vanished { path: PathBuf, reason: String },
}
