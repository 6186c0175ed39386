//! The decisions of asynchronous promotion (`decisions/<writer>.jsonl`, one [`Decision`] per line): each process
//! appends and syncs a line before the promoted unit starts, so whatever happens next (a crash, a kill, Ctrl-C), a
//! resumed sweep — or another shard — finds the promotion and carries it out.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::ResultsError;
use crate::format::{complete_lines, Decision, DECISIONS_DIR};

/// This process's decision log (created with its first decision).
pub struct DecisionLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DecisionLog {
    /// The log of writer `writer` (its `writers/<writer>.csv` name) in results directory `dir`.
    pub fn new(dir: &Path, writer: &str) -> DecisionLog {
        DecisionLog {
            path: dir.join(DECISIONS_DIR).join(format!("{writer}.jsonl")),
            file: Mutex::new(None),
        }
    }

    /// Records a decision durably (appended, then synced).
    pub fn record(&self, d: &Decision) -> Result<(), ResultsError> {
        let werr = |source| ResultsError::Write {
            path: self.path.clone(),
            source,
        };
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            if let Some(dir) = self.path.parent() {
                fs::create_dir_all(dir).map_err(werr)?;
            }
            *f = Some(OpenOptions::new().create(true).append(true).open(&self.path).map_err(werr)?);
        }
        let file = f.as_mut().expect("opened above");
        let mut line = serde_json::to_vec(d).unwrap_or_default();
        line.push(b'\n');
        file.write_all(&line).map_err(werr)?;
        file.sync_data().map_err(werr)
    }
}

/// Every decision of every process on a results directory (a torn last line, from a crash in the middle of an
/// append, is not a decision: the unit never started).
pub fn read_decisions(results_dir: &Path) -> Result<HashSet<Decision>, ResultsError> {
    let dir = results_dir.join(DECISIONS_DIR);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(HashSet::new());
    };
    let mut out = HashSet::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let bytes = fs::read(&path).map_err(|source| ResultsError::Read {
            path: path.clone(),
            source,
        })?;
        for line in bytes[..complete_lines(&bytes)].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Decision>(line) {
                Ok(d) => {
                    out.insert(d);
                }
                Err(e) => tracing::warn!("{}: skipping a line that is not a decision ({e})", path.display()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_of_every_process_are_read_back_and_a_torn_line_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let a = DecisionLog::new(dir.path(), "a");
        a.record(&Decision::of("j1", 1)).unwrap();
        a.record(&Decision::of("j2", 2)).unwrap();
        fs::write(
            dir.path().join(DECISIONS_DIR).join("b.jsonl"),
            "{\"id\":\"j3\",\"rung\":1}\n{\"id\":\"j4\",\"ru",
        )
        .unwrap();
        let all = read_decisions(dir.path()).unwrap();
        assert_eq!(all.len(), 3);
        assert!(all.contains(&Decision::of("j3", 1)));
        assert!(!all.iter().any(|d| d.id == "j4"));
    }
}
