//! The errors of the runner's own work: the download, Slurm submission, shards and Kubernetes manifests. Each names
//! the file, line, key or URL concerned and what would fix it. A cause is a `#[source]` field named
//! `source` and is never also part of the message: the binary prints the message and its causes once (`{:#}`).

use std::path::PathBuf;

use crate::download::{HINT_NETWORK, MEMBER_DIR};

/// Why a download failed; every message names the URL or path and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot download {url}: {reason}; {HINT_NETWORK}")]
    Request { url: String, reason: String },
    #[error("{url} answered HTTP {status} {status_text}; check the URL or pass --url to a mirror")]
    Status { url: String, status: u16, status_text: String },
    #[error("download of {url} was cut off after {got} of {expected} bytes (Content-Length); retry, or {HINT_NETWORK}")]
    Truncated { url: String, got: u64, expected: u64 },
    #[error("download of {url} failed after {got} bytes; retry, or {HINT_NETWORK}")]
    Read {
        url: String,
        got: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} is {got} bytes, expected {expected}: not the expected archive; pass --url to a mirror of the official release")]
    Size { url: String, expected: u64, got: u64 },
    #[error("{algo} checksum mismatch for {url}: expected {expected}, got {got}; the download is corrupt or not the expected archive: retry, or pass --url to another mirror")]
    Checksum {
        url: String,
        algo: &'static str,
        expected: String,
        got: String,
    },
    #[error("expected {algo} {value:?} is not a {len}-digit hex string; fix the checksum given")]
    BadChecksum { algo: &'static str, value: String, len: usize },
    #[error("cannot write {path}; check that the directory is writable and has space (CIFAR-10 needs about 350 MB while unpacking)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} is not a readable .tar.gz archive; retry, or pass --url to a mirror of the official release")]
    Archive {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "archive from {url} has an unsafe or invalid member {member:?}: {reason}; refusing to unpack it, pass --url to a trusted mirror"
    )]
    UnsafeMember { url: String, member: String, reason: String },
    #[error("archive from {url} lacks {missing} (expected {MEMBER_DIR}/<name> members); it is not the CIFAR-10 binary release, pass --url to one", missing = .missing.join(", "))]
    MissingMembers { url: String, missing: Vec<String> },
    #[error("{path} already exists but holds no data_batch_1.bin; remove it or choose a new destination directory")]
    DestExists { path: PathBuf },
}

/// `sbatch` failed, or its answer was not a job id.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("cannot run sbatch (is Slurm installed and on PATH? `scripts/slurm-local.sh` starts a local one)")]
    Spawn(#[source] std::io::Error),
    #[error("sbatch failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("sbatch printed {0:?}, not a job id")]
    NoJobId(String),
}

/// A wrong `--shard` value or shard environment; the message names the flag or variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(pub String);

/// An option Kubernetes would refuse, named with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct K8sError(pub String);
