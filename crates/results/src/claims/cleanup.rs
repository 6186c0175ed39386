//! Removing the claims of a finished sweep (`sweep finish`).

use std::fs;
use std::io;
use std::path::Path;

use super::CLAIMS_DIR;
use crate::error::ClaimError;

/// Once a sweep is finished (every job recorded, no process running on it): deletes the claims of the jobs that
/// `recorded` says are recorded (`<id>.<g>` and `<id>-r<rung>.<g>`, every generation), and the folder when nothing is
/// left in it, so that `claims/` does not grow with every sweep run into the directory. Returns how many files went.
pub fn remove_recorded_claims(results_dir: &Path, recorded: impl Fn(&str) -> bool) -> Result<usize, ClaimError> {
    let dir = results_dir.join(CLAIMS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(ClaimError::Io {
                op: "read",
                path: dir,
                source,
            })
        }
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((key, generation)) = name.rsplit_once('.') else { continue };
        let id = key.split_once("-r").map_or(key, |(id, _)| id);
        if name.starts_with('.') || generation.parse::<u32>().is_err() || !recorded(id) {
            continue;
        }
        match fs::remove_file(e.path()) {
            Ok(()) => removed += 1,
            Err(e2) if e2.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClaimError::Io {
                    op: "remove",
                    path: e.path(),
                    source,
                })
            }
        }
    }
    // Fails, as it should, while anything is left in it.
    let _ = fs::remove_dir(&dir);
    Ok(removed)
}
