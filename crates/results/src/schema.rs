//! The rows of a command sweep (issue 18) and how a results directory knows which kind of rows it holds.
//!
//! A built-in sweep's `results.csv` has the columns of the parameter table ([`Row::header`]), unchanged. A command
//! sweep's has `id`, the trial's values (the grid's axes, then its fixed values, each in file order), `seed`,
//! `status`, `rung`, `epochs_run`, `best_epoch`, the objective (the column is named by `metric`: its best value by
//! `mode`), `metrics` (every other metric of the best epoch, one JSON object, `null` for a value that is not finite),
//! `seconds` and `note` (why a trial failed or diverged). The header says which layout a file has; the objective's
//! direction comes from the directory's grid copy ([`Schema::of_dir`]), which every results directory keeps.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::format::{Cell, JobStatus, Row, GRID_COPY, RUNGS_DIR, WRITERS_DIR};
use sweep_grid::command::{Mode, Objective};
use sweep_grid::grid::Grid;
use sweep_grid::objectives::PARETO_RANK;

/// The trial's folders of a command sweep: `trials/<id>/` (see [`crate::trial_folder::TrialFiles`]).
pub const TRIALS_DIR: &str = "trials";

/// The last column of a command sweep's rows: it tells the layout apart from the built-in one.
const NOTE: &str = "note";
const METRICS: &str = "metrics";

/// A command trial's part of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRow {
    /// The trial's values, in the sweep's column order.
    pub values: Vec<(String, Json)>,
    pub objective: Objective,
    /// The objective's best value (by its mode) over the trial's points; `None` when no point had a finite one.
    pub best: Option<f64>,
    /// The other metrics of the best epoch's point.
    pub metrics: BTreeMap<String, f64>,
    /// Why the trial failed or diverged (or what else went wrong with its records).
    pub note: Option<String>,
    /// The grid's objectives after the first (empty with one objective): their values are in `metrics`, at the
    /// first objective's best epoch.
    pub others: Vec<Objective>,
    /// Its non-dominated rank among the sweep's rows (0: on the Pareto front), as `results.csv` publishes it for a
    /// multi-objective sweep; `None` for one objective, or a trial without every objective.
    pub pareto_rank: Option<usize>,
}

impl TrialRow {
    /// The best value as a score where higher is better.
    pub fn score(&self) -> Option<f64> {
        self.best.filter(|v| v.is_finite()).map(|v| self.objective.score(v))
    }

    /// Every objective's value (the first at its best, the others from `metrics`), in the grid's order; `None` when
    /// one is missing or not finite.
    pub fn objective_values(&self) -> Option<Vec<f64>> {
        std::iter::once(self.best)
            .chain(self.others.iter().map(|o| self.metrics.get(&o.metric).copied()))
            .map(|v| v.filter(|v| v.is_finite()))
            .collect()
    }

    /// [`Self::objective_values`] as scores where higher is better (a minimized one negated), for Pareto ranks; empty
    /// for one objective.
    pub fn objective_scores(&self) -> Vec<f64> {
        if self.others.is_empty() {
            return Vec::new();
        }
        let objectives = std::iter::once(&self.objective).chain(&self.others);
        self.objective_values()
            .map(|v| v.iter().zip(objectives).map(|(v, o)| o.score(*v)).collect())
            .unwrap_or_default()
    }

    /// Every objective, the first included.
    pub fn objectives(&self) -> impl Iterator<Item = &Objective> {
        std::iter::once(&self.objective).chain(&self.others)
    }

    /// A row's trial part with only these values (the results directory orders them and sets the objective).
    pub fn of_values(values: &Map<String, Json>) -> TrialRow {
        TrialRow {
            values: values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            objective: Objective {
                metric: String::new(),
                mode: Mode::Max,
            },
            best: None,
            metrics: BTreeMap::new(),
            note: None,
            others: Vec::new(),
            pareto_rank: None,
        }
    }

    /// The values as a JSON object.
    pub fn values_map(&self) -> Map<String, Json> {
        self.values.iter().cloned().collect()
    }
}

/// The columns of a command sweep's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialColumns {
    /// The value columns, in order.
    pub values: Vec<String>,
    pub objective: Objective,
    /// The grid's objectives after the first (empty for one): a multi-objective sweep's rows add `pareto_rank`.
    pub others: Vec<Objective>,
}

/// Which rows a results directory holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    /// The built-in network's: the parameter table's columns.
    Network,
    /// A command sweep's.
    Trials(TrialColumns),
    /// The built-in network's with several objectives (validation accuracy first): the parameter table's columns,
    /// then those of [`crate::format::Measures::columns`].
    Measured(Vec<Objective>),
}

impl Schema {
    /// The schema of a grid's sweep.
    pub fn of_grid(grid: &Grid) -> Schema {
        match &grid.command {
            Some(c) => Schema::Trials(TrialColumns {
                values: c.columns(),
                objective: c.command.objective.clone(),
                others: c.command.objectives[1..].to_vec(),
            }),
            None if grid.objectives.len() > 1 => Schema::Measured(grid.objectives.clone()),
            None => Schema::Network,
        }
    }

    /// The schema of a results directory, from its grid copy (`grid.toml`): built-in rows when it has none or it has
    /// no `[command]` table.
    pub fn of_dir(dir: &Path) -> Schema {
        let copy = dir.join(GRID_COPY);
        let Ok(text) = std::fs::read_to_string(&copy) else {
            return Schema::Network;
        };
        // Only a command grid, or a built-in one with objectives, is parsed in full (other built-in rows need nothing
        // from it).
        let needed = toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("command") || t.contains_key("objectives"));
        if !needed {
            return Schema::Network;
        }
        match Grid::parse(&copy, &text) {
            Ok(g) => Schema::of_grid(&g),
            Err(e) => {
                tracing::warn!("{e}: the rows are read without their objective's direction (taken as max)");
                Schema::Network
            }
        }
    }

    /// The schema of the results directory a row file belongs to (`results.csv`, `writers/*.csv`, `rungs/*.csv`).
    pub fn of_file(path: &Path) -> Schema {
        let Some(parent) = path.parent() else { return Schema::Network };
        let in_subfolder = parent.file_name().is_some_and(|n| n == WRITERS_DIR || n == RUNGS_DIR);
        match (in_subfolder, parent.parent()) {
            (true, Some(root)) => Schema::of_dir(root),
            _ => Schema::of_dir(parent),
        }
    }

    /// The header of the rows.
    pub fn header(&self) -> Vec<String> {
        match self {
            Schema::Network => Row::header().into_iter().map(String::from).collect(),
            Schema::Measured(objectives) => Row::header()
                .into_iter()
                .chain(crate::format::Measures::columns(objectives))
                .map(String::from)
                .collect(),
            Schema::Trials(c) => {
                let mut h = vec!["id".to_string()];
                h.extend(c.values.iter().cloned());
                h.extend(["seed", "status", "rung", "epochs_run", "best_epoch"].map(String::from));
                h.push(c.objective.metric.clone());
                h.extend([METRICS, "seconds"].map(String::from));
                if !c.others.is_empty() {
                    h.push(PARETO_RANK.to_string());
                }
                h.push(NOTE.to_string());
                h
            }
        }
    }

    /// The header as the first line of a row file.
    pub fn header_line(&self) -> String {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let _ = w.write_record(self.header());
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// Whether a header is a command sweep's (it ends with `note` and has `metrics`).
pub fn is_trial_header(headers: &csv::StringRecord) -> bool {
    headers.iter().next_back() == Some(NOTE) && headers.iter().any(|h| h == METRICS)
}

/// A value as a cell: numbers as numbers, booleans and strings as they are.
fn value_cell(v: &Json) -> Cell {
    match v {
        Json::String(s) => Cell::Text(s.clone()),
        other => Cell::Json(other.clone()),
    }
}

/// A value read back from a cell: a number or a boolean when it reads as one, else the text.
fn value_from(text: &str) -> Json {
    match serde_json::from_str::<Json>(text) {
        Ok(v @ (Json::Number(_) | Json::Bool(_))) => v,
        _ => Json::String(text.to_string()),
    }
}

/// The metrics as one JSON object (a value that is not finite as `null`).
pub fn metrics_json(metrics: &BTreeMap<String, f64>) -> Json {
    Json::Object(
        metrics
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Number::from_f64(*v).map_or(Json::Null, Json::Number)))
            .collect(),
    )
}

/// The cells of a command trial's row, in order.
pub(crate) fn trial_cells(row: &Row, t: &TrialRow, epochs: impl Fn(f64) -> Cell) -> Vec<(String, Cell)> {
    let mut cells = vec![("id".to_string(), Cell::Text(row.id.clone()))];
    cells.extend(t.values.iter().map(|(k, v)| (k.clone(), value_cell(v))));
    cells.extend([
        ("seed".to_string(), Cell::Int(row.config.seed)),
        ("status".to_string(), Cell::Text(row.status.as_str().to_string())),
        ("rung".to_string(), row.rung.map_or(Cell::Empty(None), |r| Cell::Int(r as u64))),
        ("epochs_run".to_string(), epochs(row.epochs_run)),
        ("best_epoch".to_string(), row.best_epoch.map_or(Cell::Empty(None), &epochs)),
        (t.objective.metric.clone(), t.best.map_or(Cell::Empty(None), Cell::Float)),
        (METRICS.to_string(), Cell::Text(metrics_json(&t.metrics).to_string())),
        ("seconds".to_string(), Cell::Float(row.seconds)),
    ]);
    if !t.others.is_empty() {
        let rank = t.pareto_rank.map_or(Cell::Empty(None), |r| Cell::Int(r as u64));
        cells.push((PARETO_RANK.to_string(), rank));
    }
    cells.push((NOTE.to_string(), Cell::Text(t.note.clone().unwrap_or_default())));
    cells
}

/// A command trial's row from a CSV record: the values are the columns between `id` and `seed`, the objective the
/// column after `best_epoch`; its direction from `schema` (taken as max when the directory does not say).
pub(crate) fn trial_from_record(headers: &csv::StringRecord, rec: &csv::StringRecord, schema: &Schema) -> Result<Row, String> {
    let names: Vec<&str> = headers.iter().collect();
    let at = |name: &str| names.iter().position(|h| *h == name);
    let (Some(seed_at), Some(best_at)) = (at("seed"), at("best_epoch")) else {
        return Err("missing column seed or best_epoch".into());
    };
    let field = |i: usize| rec.get(i).unwrap_or("");
    let metric = names.get(best_at + 1).copied().unwrap_or_default().to_string();
    let (mode, others) = match schema {
        Schema::Trials(c) if c.objective.metric == metric => (c.objective.mode, c.others.clone()),
        _ => (Mode::Max, Vec::new()),
    };
    let num = |name: &str, s: &str| s.parse::<f64>().map_err(|_| format!("{name}: cannot read \"{s}\""));
    let opt = |name: &str, s: &str| if s.is_empty() { Ok(None) } else { num(name, s).map(Some) };
    let get = |name: &str| at(name).map(field).ok_or_else(|| format!("missing column {name}"));
    let metrics: BTreeMap<String, f64> = match serde_json::from_str::<Json>(get(METRICS)?) {
        Ok(Json::Object(m)) => m.into_iter().map(|(k, v)| (k, v.as_f64().unwrap_or(f64::NAN))).collect(),
        Ok(Json::Null) | Err(_) if get(METRICS)?.is_empty() => BTreeMap::new(),
        _ => return Err(format!("metrics: not a JSON object: \"{}\"", get(METRICS)?)),
    };
    let note = get(NOTE)?;
    let config = sweep_core::TrainConfig {
        seed: field(seed_at)
            .parse()
            .map_err(|_| format!("seed: cannot read \"{}\"", field(seed_at)))?,
        ..Default::default()
    };
    let trial = TrialRow {
        values: (1..seed_at).map(|i| (names[i].to_string(), value_from(field(i)))).collect(),
        objective: Objective {
            metric: metric.clone(),
            mode,
        },
        best: opt(&metric, field(best_at + 1))?,
        metrics,
        note: (!note.is_empty()).then(|| note.to_string()),
        others,
        pareto_rank: match at(PARETO_RANK).map(field) {
            Some(s) if !s.is_empty() => Some(s.parse().map_err(|_| format!("{PARETO_RANK}: cannot read \"{s}\""))?),
            _ => None,
        },
    };
    Ok(Row {
        id: field(0).to_string(),
        config,
        status: get("status")?.parse()?,
        rung: match get("rung")? {
            "" => None,
            s => Some(s.parse().map_err(|_| format!("rung: cannot read \"{s}\""))?),
        },
        epochs_run: num("epochs_run", get("epochs_run")?)?,
        best_epoch: opt("best_epoch", field(best_at))?,
        best_val_acc: None,
        train_acc: None,
        final_loss: None,
        seconds: num("seconds", get("seconds")?)?,
        trial: Some(Box::new(trial)),
        measures: None,
    })
}

/// `best.json` of a command sweep: the best trial, its values and its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialBest {
    pub id: String,
    pub metric: String,
    pub mode: Mode,
    /// The objective's best value, at `best_epoch`.
    pub value: f64,
    pub best_epoch: Option<f64>,
    pub epochs_run: f64,
    pub status: JobStatus,
    pub values: Map<String, Json>,
    /// The trial's folder (its checkpoint, logs and records), relative to this file: `trials/<id>`.
    pub trial_dir: String,
    /// A multi-objective sweep's objectives, in the grid's order, and its Pareto front (every trial no other
    /// dominates, best first by the first objective); the fields above are then the front's best by the first
    /// objective. Absent with one objective.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub front: Vec<crate::front::FrontMember>,
}

impl TrialBest {
    /// With the front of `rows` when they have several objectives.
    pub fn with_front(mut self, rows: &[Row]) -> TrialBest {
        if let Some(t) = rows.iter().find_map(|r| r.trial.as_ref().filter(|t| !t.others.is_empty())) {
            self.objectives = t.objectives().cloned().collect();
            self.front = crate::front::front(rows);
        }
        self
    }

    /// The record of a ranked-first row, if it is a completed command trial.
    pub fn of(row: &Row) -> Option<TrialBest> {
        let t = row.trial.as_ref()?;
        Some(TrialBest {
            id: row.id.clone(),
            metric: t.objective.metric.clone(),
            mode: t.objective.mode,
            value: t.best?,
            best_epoch: row.best_epoch,
            epochs_run: row.epochs_run,
            status: row.status,
            values: t.values_map(),
            trial_dir: format!("{TRIALS_DIR}/{}", row.id),
            objectives: Vec::new(),
            front: Vec::new(),
        })
        .filter(|_| row.is_candidate())
    }
}

/// A metric's value as a log line or a table shows it: up to 4 decimals (6 significant digits for small ones).
pub fn metric_text(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if v.is_nan() => "NaN".into(),
        Some(v) if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e7) => format!("{v:.4e}"),
        Some(v) => {
            let t = format!("{v:.4}");
            let t = t.trim_end_matches('0').trim_end_matches('.');
            if t.is_empty() || t == "-" {
                "0".into()
            } else {
                t.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::rows_from_bytes;

    fn row() -> Row {
        let config = sweep_core::TrainConfig {
            seed: 77,
            ..Default::default()
        };
        Row {
            id: "abc".into(),
            config,
            status: JobStatus::Completed,
            rung: Some(1),
            epochs_run: 3.0,
            best_epoch: Some(2.5),
            best_val_acc: None,
            train_acc: None,
            final_loss: None,
            seconds: 1.25,
            trial: Some(Box::new(TrialRow {
                values: vec![
                    ("lr".into(), Json::from(0.001)),
                    ("act".into(), Json::from("relu, with a comma")),
                    ("flag".into(), Json::from(true)),
                    ("width".into(), Json::from(256)),
                ],
                objective: Objective {
                    metric: "loss".into(),
                    mode: Mode::Min,
                },
                best: Some(0.25),
                metrics: BTreeMap::from([("acc".to_string(), 0.5), ("lr".to_string(), f64::NAN)]),
                note: Some("a \"quoted\" note".into()),
                others: Vec::new(),
                pareto_rank: None,
            })),
            measures: None,
        }
    }

    #[test]
    fn a_trial_row_is_written_and_read_back_through_its_columns() {
        let schema = Schema::Trials(TrialColumns {
            values: vec!["lr".into(), "act".into(), "flag".into(), "width".into()],
            objective: Objective {
                metric: "loss".into(),
                mode: Mode::Min,
            },
            others: Vec::new(),
        });
        let text = String::from_utf8(row().to_csv(true)).unwrap();
        assert_eq!(
            text,
            "id,lr,act,flag,width,seed,status,rung,epochs_run,best_epoch,loss,metrics,seconds,note\n\
             abc,0.001,\"relu, with a comma\",true,256,77,completed,1,3,2.5,0.25,\"{\"\"acc\"\":0.5,\"\"lr\"\":null}\",1.25,\"a \"\"quoted\"\" note\"\n"
        );
        assert_eq!(schema.header_line(), format!("{}\n", text.lines().next().unwrap()));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers().unwrap().clone();
        assert!(is_trial_header(&headers));
        let rec = r.records().next().unwrap().unwrap();
        let back = trial_from_record(&headers, &rec, &schema).unwrap();
        let (t, b) = (row().trial.unwrap(), back.trial.clone().unwrap());
        assert_eq!(
            (&b.values, b.best, &b.note, b.objective.mode),
            (&t.values, t.best, &t.note, Mode::Min)
        );
        assert!(b.metrics["lr"].is_nan() && b.metrics["acc"] == 0.5);
        assert_eq!(back.to_csv(false), row().to_csv(false));
        assert_eq!(back.score(), Some(-0.25), "min: lower is better");
        // JSON (sweep best --format json): values keep their types, the metrics are an object, the seed a string.
        let json = serde_json::to_value(row()).unwrap();
        assert_eq!(
            (&json["width"], &json["flag"], &json["seed"]),
            (&Json::from(256), &Json::from(true), &Json::from("77"))
        );
        assert_eq!(json["metrics"]["acc"], 0.5);
        // Without the grid copy (a results.csv on its own), the direction is unknown: max.
        let alone = rows_from_bytes(text.as_bytes(), Path::new("/nonexistent/results.csv")).unwrap();
        assert_eq!(alone[0].trial.as_ref().unwrap().objective.mode, Mode::Max);
    }

    #[test]
    fn metrics_read_as_people_read_them() {
        assert_eq!(metric_text(Some(0.51234567)), "0.5123");
        assert_eq!(metric_text(Some(2.0)), "2");
        assert_eq!(metric_text(Some(1.5e-5)), "1.5000e-5");
        assert_eq!(metric_text(Some(f64::NAN)), "NaN");
        assert_eq!(metric_text(None), "-");
        assert_eq!(metric_text(Some(-0.00001)), "-1.0000e-5");
    }
}
