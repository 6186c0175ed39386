//! A sweep's results directory: rows appended and flushed as each job ends, curves, the best checkpoint, resume.
//!
//! Layout of `results/<name>/`: `results.csv`, `history/<id>.csv` (per epoch), `history/<id>-loss.csv` (per
//! iteration), `best.safetensors` + `best.json` (replaced atomically), `grid.toml` (the grid as run), `sweep.json`
//! (what identifies the sweep, so that a different grid is refused).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sweep_core::checkpoint::{write_atomic, ModelMeta};
use sweep_core::train::TrainOutcome;
use sweep_core::{Dataset, Init, Model, Status, TrainConfig};

use crate::grid::{Grid, Job};

pub const RESULTS_CSV: &str = "results.csv";
pub const BEST_CHECKPOINT: &str = "best.safetensors";
pub const BEST_JSON: &str = "best.json";
pub const MANIFEST: &str = "sweep.json";
pub const GRID_COPY: &str = "grid.toml";

/// Errors of the results directory; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write to {path}: {source} (choose a writable --out directory)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
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
    #[error("cannot save the best checkpoint: {0}")]
    Checkpoint(#[from] sweep_core::CheckpointError),
}

/// One line of `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub learning_rate: f64,
    pub reg: f64,
    pub hidden_size: usize,
    pub lr_decay: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// `kaiming`, or the fixed standard deviation.
    pub init_std: String,
    pub seed: u64,
    pub status: String,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub best_val_acc: Option<f64>,
    pub train_acc: Option<f64>,
    pub final_loss: Option<f64>,
    pub seconds: f64,
}

impl Row {
    pub fn new(job: &Job, outcome: &TrainOutcome, seconds: f64) -> Row {
        let c = &job.config;
        let best = outcome.best_epoch.map(|e| outcome.history.epochs[e - 1]);
        Row {
            id: job.id.clone(),
            learning_rate: c.learning_rate,
            reg: c.reg,
            hidden_size: c.hidden_size,
            lr_decay: c.lr_decay,
            epochs: c.epochs,
            batch_size: c.batch_size,
            init_std: crate::grid::param_text(c, "init_std"),
            seed: c.seed,
            status: outcome.status.as_str().to_string(),
            epochs_run: outcome.history.epochs.len(),
            best_epoch: outcome.best_epoch,
            best_val_acc: best.map(|r| r.val_acc),
            train_acc: best.map(|r| r.train_acc),
            final_loss: outcome.history.iter_loss.last().map(|&l| f64::from(l)).filter(|l| l.is_finite()),
            seconds,
        }
    }

    /// A row that failed unexpectedly (the job panicked), kept so the sweep goes on.
    pub fn failed(job: &Job, seconds: f64) -> Row {
        let empty = TrainOutcome {
            status: Status::Completed,
            history: Default::default(),
            best_epoch: None,
            best_val_acc: 0.0,
            best_net: None,
        };
        Row {
            status: "failed".into(),
            ..Row::new(job, &empty, seconds)
        }
    }

    /// The configuration the row was trained with.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            learning_rate: self.learning_rate,
            reg: self.reg,
            hidden_size: self.hidden_size,
            lr_decay: self.lr_decay,
            epochs: self.epochs,
            batch_size: self.batch_size,
            init: self.init_std.parse().map_or(Init::Kaiming, Init::Std),
            seed: self.seed,
        }
    }

    /// Rows that may hold the best model: finished normally with at least one epoch.
    pub fn is_candidate(&self) -> bool {
        self.status == "completed" && self.best_val_acc.is_some()
    }
}

/// Contents of `best.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestInfo {
    pub id: String,
    pub index: usize,
    pub config: TrainConfig,
    pub best_epoch: usize,
    pub val_acc: f64,
    /// Accuracy of the best model on the test split, filled in when the sweep ends.
    pub test_acc: Option<f64>,
    /// Checkpoint file name, relative to this file.
    pub checkpoint: String,
}

impl BestInfo {
    /// Higher validation accuracy wins; ties go to the lower job index, so the result does not depend on finishing order.
    fn beats(&self, other: &BestInfo) -> bool {
        self.val_acc > other.val_acc || (self.val_acc == other.val_acc && self.index < other.index)
    }
}

/// What identifies a sweep in its directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub fingerprint: String,
    pub jobs: usize,
    pub grid_file: String,
}

/// An open results directory, safe to share between worker threads.
pub struct ResultsDir {
    pub dir: PathBuf,
    csv: Mutex<File>,
    best: Mutex<Option<BestInfo>>,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_line(row: &Row, header: bool) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().has_headers(header).from_writer(Vec::new());
    w.serialize(row).expect("rows serialize to CSV");
    w.into_inner().expect("in-memory writer")
}

/// The ids already in a results.csv; a last line cut off by a crash is removed.
fn repair_and_read_ids(path: &Path) -> Result<HashSet<String>, ResultsError> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| ResultsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !text.is_empty() && !text.ends_with(b"\n") {
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        f.set_len(keep as u64).map_err(werr(path))?;
        f.seek(SeekFrom::End(0)).map_err(werr(path))?;
        text.truncate(keep);
    }
    Ok(read_rows_from(&text, path)?.into_iter().map(|r| r.id).collect())
}

fn read_rows_from(bytes: &[u8], path: &Path) -> Result<Vec<Row>, ResultsError> {
    let mut r = csv::Reader::from_reader(bytes);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| ResultsError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("row {}: {e}", i + 1),
            })
        })
        .collect()
}

/// All rows of a results.csv.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ResultsError> {
    let bytes = fs::read(path).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // A final line cut off by a crash is not a row.
    let end = if bytes.ends_with(b"\n") {
        bytes.len()
    } else {
        bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
    };
    read_rows_from(&bytes[..end], path)
}

/// Reads `best.json` in `dir`, if there is one.
pub fn read_best(dir: &Path) -> Result<Option<BestInfo>, ResultsError> {
    let path = dir.join(BEST_JSON);
    match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| ResultsError::Corrupt {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ResultsError::Read { path, source }),
    }
}

/// Checks that `dir` can take this sweep (new, or the same sweep partly done) without changing anything.
pub fn check_dir(dir: &Path, grid: &Grid, fingerprint: &str) -> Result<(), ResultsError> {
    let manifest = dir.join(MANIFEST);
    if manifest.exists() {
        let bytes = fs::read(&manifest).map_err(|source| ResultsError::Read {
            path: manifest.clone(),
            source,
        })?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| ResultsError::Corrupt {
            path: manifest.clone(),
            reason: e.to_string(),
        })?;
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
        fs::create_dir_all(dir.join("history")).map_err(werr(dir))?;
        let manifest = Manifest {
            name: grid.name.clone(),
            fingerprint,
            jobs: jobs.len(),
            grid_file: grid.file.display().to_string(),
        };
        let mpath = dir.join(MANIFEST);
        write_atomic(&mpath, &serde_json::to_vec_pretty(&manifest).expect("manifest serializes")).map_err(werr(&mpath))?;
        let gpath = dir.join(GRID_COPY);
        write_atomic(&gpath, grid.text.as_bytes()).map_err(werr(&gpath))?;

        let csv_path = dir.join(RESULTS_CSV);
        let done = if csv_path.exists() {
            repair_and_read_ids(&csv_path)?
        } else {
            HashSet::new()
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&csv_path)
            .map_err(werr(&csv_path))?;
        if file.metadata().map_err(werr(&csv_path))?.len() == 0 {
            let header = String::from_utf8(csv_line(&Row::failed(&jobs[0], 0.0), true)).expect("utf8");
            let first = header.lines().next().unwrap_or_default();
            file.write_all(format!("{first}\n").as_bytes()).map_err(werr(&csv_path))?;
            file.sync_data().map_err(werr(&csv_path))?;
        }
        let best = read_best(dir)?;
        Ok((
            ResultsDir {
                dir: dir.to_path_buf(),
                csv: Mutex::new(file),
                best: Mutex::new(best),
            },
            done,
        ))
    }

    /// Records a finished job: curves, the best checkpoint if it beats the best so far, then its row (flushed).
    ///
    /// The row is written last, so a crash at any point leaves either the whole job or none of it.
    pub fn record(&self, job: &Job, outcome: &TrainOutcome, seconds: f64, data: &Dataset) -> Result<Row, ResultsError> {
        self.write_history(job, outcome)?;
        let row = Row::new(job, outcome, seconds);
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

    /// Appends a row and flushes it to disk.
    pub fn append(&self, row: &Row) -> Result<(), ResultsError> {
        let path = self.dir.join(RESULTS_CSV);
        let mut f = self.csv.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&csv_line(row, false)).map_err(werr(&path))?;
        f.sync_data().map_err(werr(&path))
    }

    fn write_best(&self, info: &BestInfo) -> Result<(), ResultsError> {
        let path = self.dir.join(BEST_JSON);
        write_atomic(&path, &serde_json::to_vec_pretty(info).expect("best info serializes")).map_err(werr(&path))
    }

    fn write_history(&self, job: &Job, outcome: &TrainOutcome) -> Result<(), ResultsError> {
        let mut epochs = String::from("epoch,lr,loss,train_acc,val_acc\n");
        for r in &outcome.history.epochs {
            epochs.push_str(&format!("{},{},{},{},{}\n", r.epoch, r.lr, r.loss, r.train_acc, r.val_acc));
        }
        let p = self.dir.join("history").join(format!("{}.csv", job.id));
        write_atomic(&p, epochs.as_bytes()).map_err(werr(&p))?;
        let mut iters = String::from("iteration,loss\n");
        for (i, l) in outcome.history.iter_loss.iter().enumerate() {
            iters.push_str(&format!("{i},{l}\n"));
        }
        let p = self.dir.join("history").join(format!("{}-loss.csv", job.id));
        write_atomic(&p, iters.as_bytes()).map_err(werr(&p))
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
