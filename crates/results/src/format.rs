//! The on-disk format of a results directory, written and read through the same types: a job's status, the rows of
//! `results.csv` (columns from the parameter table), the per-epoch and per-iteration history files, `best.json` and
//! `sweep.json`. Nothing else in the crate spells out a column or a file name.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use sweep_core::train::{EpochRecord, TrainOutcome};
use sweep_core::TrainConfig;

use crate::error::ResultsError;
use crate::schema::{self, Schema, TrialRow};
use sweep_grid::command::Objective;
use sweep_grid::grid::Job;
use sweep_grid::objectives::PARETO_RANK;
use sweep_params::params::{params, Kind, Value};

pub const RESULTS_CSV: &str = "results.csv";
pub const BEST_CHECKPOINT: &str = "best.safetensors";
pub const BEST_JSON: &str = "best.json";
pub const MANIFEST: &str = "sweep.json";
pub const GRID_COPY: &str = "grid.toml";
pub const HISTORY_DIR: &str = "history";
pub use crate::schema::TRIALS_DIR;
/// Successive halving: one row per job and finished non-final rung (same columns as `results.csv`) in `rungs/<writer>.csv`,
/// appended and flushed; the rung decisions are computed from them, so a resumed sweep decides exactly as before.
pub const RUNGS_DIR: &str = "rungs";
/// Training states of unfinished jobs, `state/<id>.safetensors`, removed when the sweep is done.
pub const STATE_DIR: &str = "state";
/// Per-writer row files (`writers/<writer>.csv`), one per `sweep run` process: see [`crate::writers`].
pub const WRITERS_DIR: &str = "writers";
/// Best-model candidates (`candidates/<job id>.safetensors` + `.json`), from which `best.*` is published.
pub const CANDIDATES_DIR: &str = "candidates";
/// The live progress log of each process, `progress/<writer>.jsonl` (one [`ProgressLine`] per line): what is
/// running and every evaluated point, for watching a sweep while it runs. Rows stay the truth for how jobs ended.
pub const PROGRESS_DIR: &str = "progress";
/// Asynchronous promotion's decisions, `decisions/<writer>.jsonl` (one [`Decision`] per line, appended and synced
/// before the promoted unit starts), so that a resumed sweep replays every promotion it made.
pub const DECISIONS_DIR: &str = "decisions";

pub use sweep_params::status::{Decision, JobStatus};

/// One line of `results.csv`: a job's configuration and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    /// Every hyperparameter and the job's seed.
    pub config: TrainConfig,
    pub status: JobStatus,
    /// The rung (0-based) of successive halving or Hyperband the job reached; `None` in plain sweeps.
    pub rung: Option<usize>,
    /// Epochs trained (fractional when a rung ended mid-epoch), and the epoch of the best validation accuracy.
    pub epochs_run: f64,
    pub best_epoch: Option<f64>,
    pub best_val_acc: Option<f64>,
    pub train_acc: Option<f64>,
    pub final_loss: Option<f64>,
    pub seconds: f64,
    /// A command trial's values, objective, metrics and note (`None` for the built-in network: then the columns are
    /// the parameter table's; see [`crate::schema`]).
    pub trial: Option<Box<TrialRow>>,
    /// A built-in sweep's objectives beyond validation accuracy (`objectives`): their measures and the Pareto rank;
    /// `None` with one objective (the columns are then exactly the parameter table's).
    pub measures: Option<Box<Measures>>,
}

/// What a multi-objective built-in sweep adds to a row: the objectives (validation accuracy first) and what it
/// measures for them. `seconds` is the row's own column; `params` and `predict_s` get columns of their own when they
/// are objectives, then `pareto_rank`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub objectives: Vec<Objective>,
    /// Weights and biases of the network: D x H + H + H x C + C.
    pub params: Option<f64>,
    /// Seconds to score one image (the median of three timings of a batch of validation images, divided by its size).
    pub predict_s: Option<f64>,
    /// Its non-dominated rank among the sweep's rows (0: on the front), as `results.csv` publishes it.
    pub pareto_rank: Option<usize>,
}

/// The built-in measures that have columns of their own when they are objectives.
pub const MEASURE_COLUMNS: [&str; 2] = ["params", "predict_s"];

impl Measures {
    /// The value of objective `name` for `row`.
    pub fn value(&self, row: &Row, name: &str) -> Option<f64> {
        match name {
            "val_acc" => row.best_val_acc,
            "seconds" => Some(row.seconds),
            "params" => self.params,
            "predict_s" => self.predict_s,
            _ => None,
        }
        .filter(|v| v.is_finite())
    }

    /// Every objective's value, in order; `None` when one is missing.
    pub fn values(&self, row: &Row) -> Option<Vec<f64>> {
        self.objectives.iter().map(|o| self.value(row, &o.metric)).collect()
    }

    /// The columns it adds after the parameter table's: its measures that are objectives, then `pareto_rank`.
    pub fn columns(objectives: &[Objective]) -> Vec<&'static str> {
        MEASURE_COLUMNS
            .into_iter()
            .filter(|c| objectives.iter().any(|o| o.metric == *c))
            .chain([PARETO_RANK])
            .collect()
    }
}

/// One field of a row; serializes as its value (numbers as numbers, so CSV and JSON print them the same way).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Cell {
    Text(String),
    Int(u64),
    Float(f64),
    Empty(Option<()>),
    /// A command trial's value: a JSON number or boolean.
    Json(serde_json::Value),
}

fn opt_float(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty(None), Cell::Float)
}

/// Epochs as written: whole ones as integers (as every release wrote them), fractional ones as decimals.
fn epochs_cell(e: f64) -> Cell {
    if e.fract() == 0.0 && (0.0..1e15).contains(&e) {
        Cell::Int(e as u64)
    } else {
        Cell::Float(e)
    }
}

impl Row {
    /// What the search reads of the row.
    pub fn outcome(&self) -> sweep_search::work::Outcome {
        sweep_search::work::Outcome {
            status: self.status,
            rung: self.rung,
            score: self.score(),
            objectives: crate::front::scores_of(self),
            epochs_run: self.epochs_run,
            seconds: self.seconds,
        }
    }

    /// The row of a job that trained (to the end, or until it diverged).
    pub fn new(job: &Job, outcome: &TrainOutcome, seconds: f64) -> Row {
        let best = outcome.best_epoch.map(|e| outcome.history.epochs[e - 1]);
        Row {
            id: job.id.clone(),
            config: (*job.config).clone(),
            status: outcome.status.into(),
            rung: None,
            epochs_run: outcome.history.epochs.len() as f64,
            best_epoch: outcome.best_epoch.map(|e| e as f64),
            best_val_acc: best.map(|r| r.val_acc),
            train_acc: best.map(|r| r.train_acc),
            final_loss: outcome.history.iter_loss.last().map(|&l| f64::from(l)).filter(|l| l.is_finite()),
            seconds,
            trial: None,
            measures: None,
        }
    }

    /// The row of a job that failed unexpectedly (it panicked), kept so the sweep goes on. A command trial's row gets
    /// its values (the results directory puts them in its columns' order and sets the objective).
    pub fn failed(job: &Job, seconds: f64) -> Row {
        let trial = job.trial.as_ref().map(|t| Box::new(TrialRow::of_values(&t.values)));
        Row {
            id: job.id.clone(),
            config: (*job.config).clone(),
            status: JobStatus::Failed,
            rung: None,
            epochs_run: 0.0,
            best_epoch: None,
            best_val_acc: None,
            train_acc: None,
            final_loss: None,
            seconds,
            trial,
            measures: None,
        }
    }

    /// Rows that may hold the best model (or be the best trial): finished normally with a score.
    pub fn is_candidate(&self) -> bool {
        self.status == JobStatus::Completed && self.score().is_some()
    }

    /// How good the job is, higher is better: the built-in network's best validation accuracy, or a command trial's
    /// objective at its best (negated when it is minimized). What rung decisions, TPE and every ranking read.
    pub fn score(&self) -> Option<f64> {
        match &self.trial {
            Some(t) => t.score(),
            None => self.best_val_acc,
        }
    }

    /// `val 51.23 %`, or `loss 0.2513` for a command trial: the job's objective at its best, for log lines.
    pub fn objective_text(&self) -> String {
        match &self.trial {
            Some(t) => format!("{} {}", t.objective.metric, schema::metric_text(t.best)),
            None => format!(
                "val {}",
                self.best_val_acc.map_or("-".to_string(), |v| format!("{:.2} %", 100.0 * v))
            ),
        }
    }

    /// The columns, in order, with this row's values: the one definition of `results.csv`.
    fn cells(&self) -> Vec<(String, Cell)> {
        if let Some(t) = &self.trial {
            return schema::trial_cells(self, t, epochs_cell);
        }
        let mut cells = vec![("id", Cell::Text(self.id.clone()))];
        for p in params() {
            let cell = match (p.get(&self.config), &p.kind) {
                (Value::Num(x), Kind::Int) => Cell::Int(x as u64),
                (Value::Num(x), Kind::Float) => Cell::Float(x),
                _ => Cell::Text(p.text(&self.config)),
            };
            cells.push((p.name, cell));
        }
        cells.extend([
            ("seed", Cell::Int(self.config.seed)),
            ("status", Cell::Text(self.status.as_str().to_string())),
            ("rung", self.rung.map_or(Cell::Empty(None), |r| Cell::Int(r as u64))),
            ("epochs_run", epochs_cell(self.epochs_run)),
            ("best_epoch", self.best_epoch.map_or(Cell::Empty(None), epochs_cell)),
            ("best_val_acc", opt_float(self.best_val_acc)),
            ("train_acc", opt_float(self.train_acc)),
            ("final_loss", opt_float(self.final_loss)),
            ("seconds", Cell::Float(self.seconds)),
        ]);
        if let Some(m) = &self.measures {
            for c in Measures::columns(&m.objectives) {
                let cell = match c {
                    "params" => opt_float(m.params),
                    "predict_s" => opt_float(m.predict_s),
                    _ => m.pareto_rank.map_or(Cell::Empty(None), |r| Cell::Int(r as u64)),
                };
                cells.push((c, cell));
            }
        }
        cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The header of `results.csv`.
    pub fn header() -> Vec<&'static str> {
        let mut cols = vec!["id"];
        cols.extend(params().iter().map(|p| p.name));
        cols.extend([
            "seed",
            "status",
            "rung",
            "epochs_run",
            "best_epoch",
            "best_val_acc",
            "train_acc",
            "final_loss",
            "seconds",
        ]);
        cols
    }

    /// The row as one CSV line (with the header line first if asked).
    pub fn to_csv(&self, header: bool) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let cells = self.cells();
        let written = (|| {
            if header {
                w.write_record(cells.iter().map(|(name, _)| name))?;
            }
            w.serialize(cells.iter().map(|(_, c)| c).collect::<Vec<_>>())
        })();
        written.expect("rows serialize to an in-memory CSV writer");
        w.into_inner().unwrap_or_default()
    }

    /// A row from a CSV record under `headers`; a column that is missing takes its default (older files). A command
    /// sweep's header is read as such, with its objective's direction from `schema`.
    fn from_record(headers: &csv::StringRecord, rec: &csv::StringRecord, schema: &dyn Fn() -> Schema) -> Result<Row, String> {
        if schema::is_trial_header(headers) {
            return schema::trial_from_record(headers, rec, &schema());
        }
        let field = |name: &str| headers.iter().position(|h| h == name).and_then(|i| rec.get(i));
        let need = |name: &str| field(name).ok_or_else(|| format!("missing column {name}"));
        fn parse<T: FromStr>(name: &str, s: &str) -> Result<T, String> {
            s.parse().map_err(|_| format!("{name}: cannot read \"{s}\""))
        }
        fn opt<T: FromStr>(name: &str, s: Option<&str>) -> Result<Option<T>, String> {
            match s {
                None | Some("") => Ok(None),
                Some(s) => parse(name, s).map(Some),
            }
        }
        let mut config = TrainConfig::default();
        for p in params() {
            if let Some(s) = field(p.name) {
                let v = p.parse(s).map_err(|e| format!("{}: {e}", p.name))?;
                p.set(&mut config, v);
            }
        }
        config.seed = parse("seed", need("seed")?)?;
        Ok(Row {
            id: need("id")?.to_string(),
            config,
            status: need("status")?.parse()?,
            rung: opt("rung", field("rung"))?,
            epochs_run: parse("epochs_run", need("epochs_run")?)?,
            best_epoch: opt("best_epoch", field("best_epoch"))?,
            best_val_acc: opt("best_val_acc", field("best_val_acc"))?,
            train_acc: opt("train_acc", field("train_acc"))?,
            final_loss: opt("final_loss", field("final_loss"))?,
            seconds: parse("seconds", need("seconds")?)?,
            trial: None,
            measures: match schema() {
                Schema::Measured(objectives) => Some(Box::new(Measures {
                    objectives,
                    params: opt("params", field("params"))?,
                    predict_s: opt("predict_s", field("predict_s"))?,
                    pareto_rank: opt(PARETO_RANK, field(PARETO_RANK))?,
                })),
                _ => None,
            },
        })
    }
}

/// A row serializes (JSON of `sweep best`) as the same flat fields as its CSV line, but for the 64-bit `seed`, which is
/// written as a string: JSON readers that hold numbers as doubles (JavaScript, jq) would round a seed above 2^53.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cells = self.cells();
        let mut m = s.serialize_map(Some(cells.len()))?;
        for (k, v) in &cells {
            match (k.as_str(), v) {
                ("seed", Cell::Int(seed)) => m.serialize_entry(k, &seed.to_string())?,
                ("metrics", _) if self.trial.is_some() => {
                    let metrics = self.trial.as_ref().map(|t| schema::metrics_json(&t.metrics));
                    m.serialize_entry(k, &metrics)?
                }
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

/// Rows from CSV bytes (complete lines only).
pub fn rows_from_bytes(bytes: &[u8], path: &Path) -> Result<Vec<Row>, ResultsError> {
    let corrupt = |reason: String| ResultsError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = csv::Reader::from_reader(bytes);
    let headers = r.headers().map_err(|e| corrupt(format!("header: {e}")))?.clone();
    // A command sweep's objective direction, read once per file from the directory's grid copy.
    let known = std::cell::OnceCell::new();
    let schema = || known.get_or_init(|| Schema::of_file(path)).clone();
    r.records()
        .enumerate()
        .map(|(i, rec)| {
            rec.map_err(|e| e.to_string())
                .and_then(|rec| Row::from_record(&headers, &rec, &schema))
                .map_err(|e| corrupt(format!("row {}: {e}", i + 1)))
        })
        .collect()
}

/// The length of the complete lines of a file: a last line cut off by a crash is not a row.
pub fn complete_lines(bytes: &[u8]) -> usize {
    if bytes.ends_with(b"\n") {
        bytes.len()
    } else {
        bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ResultsError> {
    fs::read(path).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// All rows of a results.csv, merged with the per-writer files beside it (`writers/*.csv`, in name order) so that
/// rows of every process on the directory are one sweep; one row per job id, the first found.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ResultsError> {
    let bytes = read(path)?;
    let mut rows = rows_from_bytes(&bytes[..complete_lines(&bytes)], path)?;
    if let (Some(dir), true) = (path.parent(), path.file_name().is_some_and(|n| n == RESULTS_CSV)) {
        rows.extend(rows_in_dir(&dir.join(WRITERS_DIR))?);
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert(r.id.clone()));
    }
    Ok(rows)
}

/// The rows of every `*.csv` of a folder of per-process row files (`writers/`, `rungs/`), files in name order; none
/// if the folder does not exist (yet).
pub fn rows_in_dir(dir: &Path) -> Result<Vec<Row>, ResultsError> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        let bytes = read(&f)?;
        rows.extend(rows_from_bytes(&bytes[..complete_lines(&bytes)], &f)?);
    }
    Ok(rows)
}

/// Where a job's per-epoch and per-iteration curves are.
pub fn history_paths(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    let h = dir.join(HISTORY_DIR);
    (h.join(format!("{id}.csv")), h.join(format!("{id}-loss.csv")))
}

/// One line of a `history/<id>-loss.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossRecord {
    pub iteration: usize,
    pub loss: f32,
}

/// CSV text of records, header first.
fn to_csv<T: Serialize>(records: impl IntoIterator<Item = T>, header: &[&str]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let written = (|| {
        w.write_record(header)?;
        for r in records {
            w.serialize(r)?;
        }
        Ok::<_, csv::Error>(())
    })();
    written.expect("records serialize to an in-memory CSV writer");
    w.into_inner().unwrap_or_default()
}

/// The contents of the two history files of a job. Numbers are written as Rust prints them (`45835588`, `0.00001`),
/// as every earlier version wrote these files.
pub fn history_csv(epochs: &[EpochRecord], iter_loss: &[f32]) -> (Vec<u8>, Vec<u8>) {
    let text = |r: &EpochRecord| {
        [
            r.epoch.to_string(),
            r.lr.to_string(),
            r.loss.to_string(),
            r.train_acc.to_string(),
            r.val_acc.to_string(),
        ]
    };
    let epochs = to_csv(epochs.iter().map(text), &EPOCH_COLUMNS);
    let losses = to_csv(
        iter_loss.iter().enumerate().map(|(i, l)| [i.to_string(), l.to_string()]),
        &["iteration", "loss"],
    );
    (epochs, losses)
}

const EPOCH_COLUMNS: [&str; 5] = ["epoch", "lr", "loss", "train_acc", "val_acc"];

/// Reads a history file; `None` when it does not exist (a job that recorded no curve).
pub fn read_history<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<Vec<T>>, ResultsError> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read(path)?;
    let mut r = csv::Reader::from_reader(&bytes[..complete_lines(&bytes)]);
    r.deserialize()
        .enumerate()
        .map(|(i, rec)| {
            rec.map_err(|e| ResultsError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("line {}: {e}", i + 2),
            })
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
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
    /// A multi-objective sweep's objectives and Pareto front (every job no other dominates; a member's `trial_dir` is
    /// its checkpoint, `candidates/<id>.safetensors`, or `candidates/<id>-rung.safetensors` for one pruned at a rung);
    /// absent with one objective.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub front: Vec<crate::front::FrontMember>,
}

impl BestInfo {
    /// Higher validation accuracy wins; ties go to the lower job id (as `sweep best` ranks), so the result depends
    /// neither on finishing order nor on the order in which a search proposed its jobs.
    pub fn beats(&self, other: &BestInfo) -> bool {
        self.val_acc > other.val_acc || (self.val_acc == other.val_acc && self.id < other.id)
    }
}

/// One line of a progress log: when, which job, in which rung (`None` outside halving and Hyperband), and what.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressLine {
    /// Seconds since 1970 (the writing process's clock).
    pub t: f64,
    pub id: String,
    pub rung: Option<usize>,
    pub what: Progress,
}

/// What a progress line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A unit of work started: the job trains from `from` epochs to `to` (both may be fractional); `gpus`: the
    /// devices a command trial's run was given (its `CUDA_VISIBLE_DEVICES`), when the sweep assigns them.
    Start { from: f64, to: f64, gpus: Option<String> },
    /// A point was evaluated after `epoch` epochs (fractional where a rung ends mid-epoch): its metrics (for the
    /// built-in network `val_acc`, `train_acc`, `loss`, `lr`; a program's own keys for command trials). A metric
    /// that is not a finite number is written as `null` and read back as NaN.
    Point {
        epoch: f64,
        metrics: std::collections::BTreeMap<String, f64>,
    },
}

/// The JSON form of a progress line (flat, so that each line reads on its own).
#[derive(Serialize, Deserialize)]
struct ProgressJson {
    t: f64,
    id: String,
    rung: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metrics: Option<std::collections::BTreeMap<String, Option<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gpus: Option<String>,
}

impl ProgressLine {
    /// The line as written (JSON and a newline).
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut j = ProgressJson {
            t: self.t,
            id: self.id.clone(),
            rung: self.rung,
            event: None,
            from: None,
            to: None,
            epoch: None,
            metrics: None,
            gpus: None,
        };
        match &self.what {
            Progress::Start { from, to, gpus } => {
                j.event = Some("start".into());
                (j.from, j.to) = (Some(*from), Some(*to));
                j.gpus = gpus.clone();
            }
            Progress::Point { epoch, metrics } => {
                j.epoch = Some(*epoch);
                j.metrics = Some(metrics.iter().map(|(k, v)| (k.clone(), v.is_finite().then_some(*v))).collect());
            }
        }
        let mut line = serde_json::to_vec(&j).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// A line of a progress log; `None` for one that is not (torn, or written by something else).
    pub fn parse(line: &[u8]) -> Option<ProgressLine> {
        let j: ProgressJson = serde_json::from_slice(line).ok()?;
        let what = match (j.event.as_deref(), j.from, j.to, j.epoch, j.metrics) {
            (Some("start"), Some(from), Some(to), _, _) => Progress::Start { from, to, gpus: j.gpus },
            (None, _, _, Some(epoch), Some(m)) => Progress::Point {
                epoch,
                metrics: m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect(),
            },
            _ => return None,
        };
        Some(ProgressLine {
            t: j.t,
            id: j.id,
            rung: j.rung,
            what,
        })
    }
}

/// What identifies a sweep in its directory (`sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub fingerprint: String,
    pub jobs: usize,
    pub grid_file: String,
}

/// Reads a JSON file of the directory, if there is one.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ResultsError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| ResultsError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ResultsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads `best.json` in `dir`, if there is one.
pub fn read_best(dir: &Path) -> Result<Option<BestInfo>, ResultsError> {
    read_json(&dir.join(BEST_JSON))
}

/// Reads `sweep.json` in `dir`, if there is one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, ResultsError> {
    read_json(&dir.join(MANIFEST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            id: "abc".into(),
            config: TrainConfig {
                reg: 1e-5,
                seed: 42,
                ..TrainConfig::default()
            },
            status: JobStatus::Completed,
            rung: Some(1),
            epochs_run: 3.0,
            best_epoch: Some(2.0),
            best_val_acc: Some(0.5),
            train_acc: Some(0.625),
            final_loss: None,
            seconds: 1.5,
            trial: None,
            measures: None,
        }
    }

    #[test]
    fn a_row_is_written_and_read_back_through_the_same_columns() {
        let text = String::from_utf8(row().to_csv(true)).unwrap();
        assert_eq!(
            text,
            "id,learning_rate,reg,hidden_size,lr_decay,epochs,batch_size,init_std,optimizer,momentum,beta1,beta2,eps,dropout,\
             lr_schedule,warmup_epochs,flip,crop,precision,seed,status,rung,epochs_run,best_epoch,best_val_acc,train_acc,final_loss,\
             seconds\n\
             abc,0.1,0.00001,512,0.95,10,200,kaiming,sgd,0.9,0.9,0.999,1e-8,0.0,step,0,0.0,0,f32,42,completed,1,3,2,0.5,0.625,,1.5\n"
        );
        assert_eq!(Row::header().join(","), text.lines().next().unwrap());
        let back = rows_from_bytes(text.as_bytes(), Path::new("r.csv")).unwrap();
        assert_eq!(back, vec![row()]);
        let json = serde_json::to_value(row()).unwrap();
        assert_eq!(json["init_std"], "kaiming");
        assert_eq!(json["hidden_size"], 512);
        assert_eq!(json["final_loss"], serde_json::Value::Null);
    }

    #[test]
    fn statuses_are_snake_case_and_unknown_ones_are_corrupt() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let text = String::from_utf8(row().to_csv(true)).unwrap().replace("completed", "finished");
        let e = rows_from_bytes(text.as_bytes(), Path::new("r.csv")).unwrap_err();
        assert_eq!(e.to_string(), "r.csv: row 1: unknown status \"finished\"");
    }

    #[test]
    fn history_files_round_trip_and_keep_their_columns() {
        let epochs = [EpochRecord {
            epoch: 1,
            lr: 0.1,
            loss: 2.5,
            train_acc: 0.25,
            val_acc: 0.2,
        }];
        let (e, l) = history_csv(&epochs, &[2.5, 2.25]);
        assert_eq!(
            String::from_utf8(e.clone()).unwrap(),
            "epoch,lr,loss,train_acc,val_acc\n1,0.1,2.5,0.25,0.2\n"
        );
        assert_eq!(String::from_utf8(l.clone()).unwrap(), "iteration,loss\n0,2.5\n1,2.25\n");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("e.csv"), &e).unwrap();
        fs::write(dir.path().join("l.csv"), &l).unwrap();
        assert_eq!(read_history::<EpochRecord>(&dir.path().join("e.csv")).unwrap().unwrap(), epochs);
        let losses = read_history::<LossRecord>(&dir.path().join("l.csv")).unwrap().unwrap();
        assert_eq!(losses[1], LossRecord { iteration: 1, loss: 2.25 });
        assert!(read_history::<LossRecord>(&dir.path().join("none.csv")).unwrap().is_none());
    }
}
