//! A sweep's results directory: rows appended and flushed as each job ends, curves, the best checkpoint, resume.
//!
//! Layout of `results/<name>/`: `results.csv`, `history/<id>.csv` (per epoch), `history/<id>-loss.csv` (per
//! iteration), `best.safetensors` + `best.json` (replaced atomically), `grid.toml` (the grid as run), `sweep.json`
//! (what identifies the sweep, so that a different grid is refused); with successive halving also `rungs.csv` (a row
//! per finished non-final rung) and `state/` (training states of unfinished jobs, see [`crate::states`]).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sweep_core::checkpoint::{write_atomic, ModelMeta};
use sweep_core::train::TrainOutcome;
use sweep_core::{Dataset, Model};

pub use crate::error::ResultsError;
use crate::format::{
    complete_lines, history_csv, history_paths, read_best, read_manifest, read_rows, rows_from_bytes, BestInfo, JobStatus, Manifest, Row,
    BEST_CHECKPOINT, BEST_JSON, GRID_COPY, HISTORY_DIR, MANIFEST, RESULTS_CSV, RUNGS_CSV,
};
use crate::grid::{Grid, Job};

/// An open results directory, safe to share between worker threads.
pub struct ResultsDir {
    pub dir: PathBuf,
    csv: Mutex<File>,
    /// `rungs.csv`, opened at the first rung record.
    rungs: Mutex<Option<File>>,
    best: Mutex<Option<BestInfo>>,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |cause| ResultsError::Write {
        path: path.to_path_buf(),
        cause,
    }
}

/// The ids already in a results.csv; a last line cut off by a crash is removed, and a file written before the
/// current columns existed is rewritten (atomically) with them, its missing columns at their defaults.
fn repair_and_read_ids(path: &Path) -> Result<HashSet<String>, ResultsError> {
    let rerr = |source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new().read(true).write(true).open(path).map_err(rerr)?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(rerr)?;
    let keep = complete_lines(&text);
    if keep < text.len() {
        f.set_len(keep as u64).map_err(werr(path))?;
        f.seek(SeekFrom::End(0)).map_err(werr(path))?;
        text.truncate(keep);
    }
    let rows = rows_from_bytes(&text, path)?;
    let header = format!("{}\n", Row::header().join(","));
    if !text.is_empty() && !text.starts_with(header.as_bytes()) {
        let mut upgraded = header.into_bytes();
        for r in &rows {
            upgraded.extend(r.to_csv(false));
        }
        write_atomic(path, &upgraded).map_err(werr(path))?;
    }
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Cuts a last line left incomplete by a crash, so that the next append starts a line of its own.
fn cut_partial_line(path: &Path) -> Result<(), ResultsError> {
    let bytes = fs::read(path).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let keep = complete_lines(&bytes);
    if keep < bytes.len() {
        let f = OpenOptions::new().write(true).open(path).map_err(werr(path))?;
        f.set_len(keep as u64).map_err(werr(path))?;
    }
    Ok(())
}

/// Checks that `dir` can take this sweep (new, or the same sweep partly done) without changing anything.
pub fn check_dir(dir: &Path, grid: &Grid, fingerprint: &str) -> Result<(), ResultsError> {
    if let Some(m) = read_manifest(dir)? {
        if m.fingerprint != fingerprint {
            return Err(ResultsError::DifferentSweep {
                dir: dir.to_path_buf(),
                grid: grid.file.clone(),
            });
        }
    } else if dir.join(RESULTS_CSV).exists() {
        return Err(ResultsError::DifferentSweep {
            dir: dir.to_path_buf(),
            grid: grid.file.clone(),
        });
    }
    Ok(())
}

impl ResultsDir {
    /// Opens (creating, or resuming) the results directory; returns it and the ids of jobs already done.
    pub fn open(dir: &Path, grid: &Grid, jobs: &[Job]) -> Result<(ResultsDir, HashSet<String>), ResultsError> {
        let fingerprint = grid.fingerprint(jobs);
        check_dir(dir, grid, &fingerprint)?;
        fs::create_dir_all(dir.join(HISTORY_DIR)).map_err(werr(dir))?;
        let manifest = Manifest {
            name: grid.name.clone(),
            fingerprint,
            jobs: jobs.len(),
            grid_file: grid.file.display().to_string(),
        };
        let mpath = dir.join(MANIFEST);
        write_atomic(&mpath, &serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(werr(&mpath))?;
        let gpath = dir.join(GRID_COPY);
        write_atomic(&gpath, grid.text.as_bytes()).map_err(werr(&gpath))?;

        let csv_path = dir.join(RESULTS_CSV);
        let done = if csv_path.exists() {
            repair_and_read_ids(&csv_path)?
        } else {
            HashSet::new()
        };
        let rungs_path = dir.join(RUNGS_CSV);
        if rungs_path.exists() {
            cut_partial_line(&rungs_path)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&csv_path)
            .map_err(werr(&csv_path))?;
        if file.metadata().map_err(werr(&csv_path))?.len() == 0 {
            file.write_all(format!("{}\n", Row::header().join(",")).as_bytes())
                .map_err(werr(&csv_path))?;
            file.sync_data().map_err(werr(&csv_path))?;
        }
        let best = read_best(dir)?;
        Ok((
            ResultsDir {
                dir: dir.to_path_buf(),
                csv: Mutex::new(file),
                rungs: Mutex::new(None),
                best: Mutex::new(best),
            },
            done,
        ))
    }

    /// Records a finished job: curves, the best checkpoint if it beats the best so far, then its row (flushed).
    ///
    /// The row is written last, so a crash at any point leaves either the whole job or none of it.
    pub fn record(&self, job: &Job, outcome: &TrainOutcome, seconds: f64, data: &Dataset) -> Result<Row, ResultsError> {
        self.record_at(job, outcome, seconds, data, None)
    }

    /// [`ResultsDir::record`] for a job that ended in successive-halving rung `rung`.
    pub fn record_at(
        &self,
        job: &Job,
        outcome: &TrainOutcome,
        seconds: f64,
        data: &Dataset,
        rung: Option<usize>,
    ) -> Result<Row, ResultsError> {
        self.write_history(job, outcome)?;
        let row = Row {
            rung,
            ..Row::new(job, outcome, seconds)
        };
        if let (true, Some(net), Some(epoch)) = (row.is_candidate(), &outcome.best_net, outcome.best_epoch) {
            let info = BestInfo {
                id: job.id.clone(),
                index: job.index,
                config: job.config.clone(),
                best_epoch: epoch,
                val_acc: outcome.best_val_acc,
                test_acc: None,
                checkpoint: BEST_CHECKPOINT.into(),
            };
            let mut best = self.best.lock().unwrap_or_else(|p| p.into_inner());
            if best.as_ref().is_none_or(|b| info.beats(b)) {
                let model = Model {
                    net: net.clone(),
                    mean: data.mean.clone(),
                    meta: ModelMeta {
                        hyperparameters: job.config.clone(),
                        class_names: data.class_names.clone(),
                        input_shape: data.input_shape.clone(),
                        val_accuracy: outcome.best_val_acc,
                        data_split: data.spec.clone(),
                    },
                };
                model.save(&self.dir.join(BEST_CHECKPOINT))?;
                self.write_best(&info)?;
                *best = Some(info);
            }
        }
        self.append(&row)?;
        Ok(row)
    }

    /// Records that a job finished rung `rung` (not its last): its curves so far, then its line in `rungs.csv`.
    pub fn record_rung(&self, job: &Job, outcome: &TrainOutcome, seconds: f64, rung: usize) -> Result<Row, ResultsError> {
        self.write_history(job, outcome)?;
        let row = Row {
            rung: Some(rung),
            ..Row::new(job, outcome, seconds)
        };
        let path = self.dir.join(RUNGS_CSV);
        let mut f = self.rungs.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(werr(&path))?;
            if file.metadata().map_err(werr(&path))?.len() == 0 {
                file.write_all(format!("{}\n", Row::header().join(",")).as_bytes())
                    .map_err(werr(&path))?;
            }
            *f = Some(file);
        }
        if let Some(file) = f.as_mut() {
            file.write_all(&row.to_csv(false)).map_err(werr(&path))?;
            file.sync_data().map_err(werr(&path))?;
        }
        Ok(row)
    }

    /// The rows of `results.csv` by id (the jobs that are done: finished, pruned, diverged or failed).
    pub fn read_final(&self) -> Result<HashMap<String, Row>, ResultsError> {
        let rows = read_rows(&self.dir.join(RESULTS_CSV))?;
        Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
    }

    /// The rung records of `rungs.csv` by (rung, id).
    pub fn read_rungs(&self) -> Result<HashMap<(usize, String), Row>, ResultsError> {
        let path = self.dir.join(RUNGS_CSV);
        if !path.exists() {
            return Ok(HashMap::new());
        }
        let rows = read_rows(&path)?;
        Ok(rows.into_iter().filter_map(|r| Some(((r.rung?, r.id.clone()), r))).collect())
    }

    /// Appends the row of a job pruned at its rung record.
    pub fn record_pruned(&self, at_rung: &Row) -> Result<Row, ResultsError> {
        let row = Row {
            status: JobStatus::Pruned,
            ..at_rung.clone()
        };
        self.append(&row)?;
        Ok(row)
    }

    /// Appends a row and flushes it to disk.
    pub fn append(&self, row: &Row) -> Result<(), ResultsError> {
        let path = self.dir.join(RESULTS_CSV);
        let mut f = self.csv.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&row.to_csv(false)).map_err(werr(&path))?;
        f.sync_data().map_err(werr(&path))
    }

    fn write_best(&self, info: &BestInfo) -> Result<(), ResultsError> {
        let path = self.dir.join(BEST_JSON);
        write_atomic(&path, &serde_json::to_vec_pretty(info).unwrap_or_default()).map_err(werr(&path))
    }

    fn write_history(&self, job: &Job, outcome: &TrainOutcome) -> Result<(), ResultsError> {
        let (epochs, iters) = history_csv(&outcome.history.epochs, &outcome.history.iter_loss);
        let (pe, pl) = history_paths(&self.dir, &job.id);
        write_atomic(&pe, &epochs).map_err(werr(&pe))?;
        write_atomic(&pl, &iters).map_err(werr(&pl))
    }

    /// The best so far.
    pub fn best(&self) -> Option<BestInfo> {
        self.best.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Evaluates the best checkpoint on the test split once and stores its accuracy in `best.json`.
    pub fn finish(&self, data: &Dataset) -> Result<Option<BestInfo>, ResultsError> {
        let Some(mut info) = self.best() else { return Ok(None) };
        let model = Model::load(&self.dir.join(BEST_CHECKPOINT))?;
        info.test_acc = Some(model.net.accuracy(data.x_test.view(), &data.y_test));
        self.write_best(&info)?;
        *self.best.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
        Ok(Some(info))
    }
}
