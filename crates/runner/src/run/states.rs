//! Training states of a sweep's unfinished jobs: `<results>/state/<id>.safetensors`, one file per job, replaced
//! atomically after every epoch. A job killed mid-training continues from its last finished epoch; a job promoted
//! by successive halving continues from the end of its rung. The files are a cache: a missing or unreadable state
//! only means the job retrains from its start, to bit-identical results, so the runner may drop states to keep the
//! directory within a disk budget, and a save that would break the budget is skipped.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sweep_core::train::TrainState;

use sweep_results::error::ResultsError;
use sweep_results::format::STATE_DIR;

/// The state directory of a results directory, with the size of every file in it.
pub struct States {
    dir: PathBuf,
    /// Bytes this process keeps on disk at most, counting files being written.
    limit: u64,
    inner: Mutex<Sizes>,
}

#[derive(Default)]
struct Sizes {
    files: HashMap<String, u64>,
    total: u64,
    /// Bytes of files being written (a replaced state is on disk twice until the rename).
    writing: u64,
    peak: u64,
    largest: u64,
}

impl Sizes {
    fn set(&mut self, id: &str, size: Option<u64>) {
        let old = match size {
            Some(s) => self.files.insert(id.to_string(), s),
            None => self.files.remove(id),
        };
        self.total = self.total - old.unwrap_or(0) + size.unwrap_or(0);
        self.largest = self.largest.max(size.unwrap_or(0));
        self.peak = self.peak.max(self.total + self.writing);
    }
}

impl States {
    /// Opens (creating) `<results>/state/`, counting the states a previous run left, to keep at most `limit` bytes
    /// in it (see [`States::save`]).
    pub fn open(results_dir: &Path, limit: u64) -> Result<States, ResultsError> {
        let dir = results_dir.join(STATE_DIR);
        fs::create_dir_all(&dir).map_err(|source| ResultsError::Write { path: dir.clone(), source })?;
        let mut sizes = Sizes::default();
        for e in fs::read_dir(&dir)
            .map_err(|source| ResultsError::Read { path: dir.clone(), source })?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".safetensors") {
                Some(id) if !name.starts_with('.') => sizes.set(id, Some(e.metadata().map_or(0, |m| m.len()))),
                // A temporary file of a write cut short by a crash.
                _ => {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(States {
            dir,
            limit,
            inner: Mutex::new(sizes),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sizes> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.safetensors"))
    }

    /// The saved state of a job, if there is a readable one (an unreadable one is removed: the job retrains).
    pub fn load(&self, id: &str) -> Option<TrainState> {
        if !self.lock().files.contains_key(id) {
            return None;
        }
        match TrainState::load(&self.path(id)) {
            Ok(s) => Some(s),
            Err(e) => {
                let why = sweep_params::text::chain(&e);
                tracing::warn!("job {id}: ignoring its saved training state ({why}); it retrains from the start");
                self.remove(id);
                None
            }
        }
    }

    /// Saves a job's state atomically (replacing the previous one), unless the new file would take the bytes on disk
    /// (with the files other workers are writing) over the limit: then nothing is written and the job keeps its
    /// previous state, if any, which is still a valid point to continue from.
    pub fn save(&self, id: &str, state: &TrainState) -> Result<(), ResultsError> {
        let bytes = state.to_bytes();
        let size = bytes.len() as u64;
        {
            // While the new file is written, the old one is still there.
            let mut s = self.lock();
            if s.total + s.writing + size > self.limit {
                tracing::debug!("job {id}: state not saved, it would take the states over their disk limit");
                return Ok(());
            }
            s.writing += size;
            s.peak = s.peak.max(s.total + s.writing);
        }
        // Another process on the directory removes the folder when it finds it empty at its end: create it again, and
        // retry if it went away between the creation and the write.
        let mut written = Ok(());
        for _ in 0..3 {
            written = fs::create_dir_all(&self.dir).and_then(|_| sweep_core::checkpoint::write_atomic(&self.path(id), &bytes));
            if !matches!(&written, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
                break;
            }
        }
        let mut s = self.lock();
        s.writing -= size;
        if written.is_ok() {
            s.set(id, Some(size));
        }
        drop(s);
        written.map_err(|source| ResultsError::State {
            id: id.to_string(),
            source: sweep_core::CheckpointError::Write {
                path: self.path(id),
                source,
            },
        })
    }

    /// Drops a job's state (finished, pruned, or evicted to stay within the budget).
    pub fn remove(&self, id: &str) {
        let mut s = self.lock();
        if s.files.contains_key(id) {
            let _ = fs::remove_file(self.path(id));
            s.set(id, None);
        }
    }

    /// Whether a job has a saved state.
    pub fn has(&self, id: &str) -> bool {
        self.lock().files.contains_key(id)
    }

    /// The most bytes this process keeps on disk.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes on disk now.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// The most bytes on disk at any time since [`States::open`] (counting a file being replaced twice).
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    /// Bytes of the largest state saved or found so far.
    pub fn largest(&self) -> u64 {
        self.lock().largest
    }

    /// Once this process is done: drops the states of the jobs that are recorded (`is_recorded`), and the folder if
    /// nothing is left in it. States of jobs other processes still run stay.
    pub fn remove_recorded(&self, is_recorded: impl Fn(&str) -> bool) {
        let ids: Vec<String> = self.lock().files.keys().filter(|id| is_recorded(id)).cloned().collect();
        for id in ids {
            self.remove(&id);
        }
        // Fails, as it should, while another process has a state (or a state being written) in it.
        let _ = fs::remove_dir(&self.dir);
    }
}
