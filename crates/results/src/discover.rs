//! Finding the sweeps below some directories: the one walk that `sweep best`, `sweep serve` and the report use. A
//! results directory holds a results.csv or the sweep.json a run writes before its first row; the walk does not go
//! into a sweep's own folders, stays within a few levels and a bounded number of folders, and follows a linked
//! folder only when it resolves inside a root.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::format::{CANDIDATES_DIR, HISTORY_DIR, MANIFEST, PROGRESS_DIR, RESULTS_CSV, RUNGS_DIR, STATE_DIR, WRITERS_DIR};

/// How deep below a root the search for results directories goes.
pub const MAX_DEPTH: usize = 4;
/// At most this many directories are looked at per scan (a root that is a whole disk stays cheap).
pub const MAX_DIRS: usize = 20_000;

/// A results directory found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Canonical path.
    pub dir: PathBuf,
    /// Its path relative to its root, for display (`.` for the root itself).
    pub rel: String,
}

/// Whether `dir` holds a sweep: a results.csv, or the sweep.json a run writes before its first row.
fn is_sweep(dir: &Path) -> bool {
    [RESULTS_CSV, MANIFEST].iter().any(|f| dir.join(f).is_file())
}

/// Folders a sweep writes inside its directory: never results directories themselves.
fn is_sweep_part(name: &str) -> bool {
    [
        HISTORY_DIR,
        WRITERS_DIR,
        RUNGS_DIR,
        PROGRESS_DIR,
        STATE_DIR,
        CANDIDATES_DIR,
        "claims",
        "report",
        "slurm",
    ]
    .contains(&name)
}

/// The results directories under `roots` (canonical paths), each once, in path order.
pub fn find(roots: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut visited = 0;
    for root in roots {
        let mut stack = vec![(root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            visited += 1;
            if visited > MAX_DIRS || !seen.insert(dir.clone()) {
                continue;
            }
            if is_sweep(&dir) {
                let rel = dir
                    .strip_prefix(root)
                    .map_or_else(|_| dir.display().to_string(), |p| p.display().to_string());
                found.push(Found {
                    dir,
                    rel: if rel.is_empty() { ".".into() } else { rel },
                });
                continue;
            }
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || is_sweep_part(&name) {
                    continue;
                }
                let Ok(kind) = e.file_type() else { continue };
                let path = e.path();
                let sub = if kind.is_dir() {
                    path
                } else if kind.is_symlink() {
                    // A linked folder is followed only when it resolves inside a served root.
                    match path.canonicalize() {
                        Ok(c) if c.is_dir() && roots.iter().any(|r| c.starts_with(r)) => c,
                        _ => continue,
                    }
                } else {
                    continue;
                };
                stack.push((sub, depth + 1));
            }
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    found
}
