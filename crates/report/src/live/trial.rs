//! The one adapter from what a results directory records to the trial objects of the API and the dashboard:
//! `{id, number, values: {...}, status, rung, epochs_run, best_epoch, metrics: {...}, objective, seconds, started,
//! ended}`. Rows (results.csv and writers/, rung records in rungs/) say how a trial ended; progress logs and claims
//! say what runs now. When rows become command trials with free-form values and metrics (issue 18), this file is
//! what changes: the rest of the server and the page only see these objects.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;
use sweep_core::cost::Shape;
use sweep_core::TrainConfig;

use crate::load::{CommandAxes, Plan};
use sweep_grid::command::{FreeAxis, Mode};
use sweep_grid::grid::Axis;
use sweep_params::params::Value;
use sweep_results::format::{JobStatus, Row};

/// The objective of built-in jobs (contract 3): validation accuracy, maximized.
pub const OBJECTIVE: &str = "val_acc";

/// What a sweep optimizes, for the page's labels and sort order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// The metric key in `metrics`.
    pub metric: String,
    /// "max" or "min".
    pub mode: &'static str,
    pub label: String,
    /// The value is a fraction the page shows in percent.
    pub percent: bool,
}

/// The objective of a sweep of the built-in network: always `val_acc`, maximized.
pub fn objective() -> Objective {
    Objective {
        metric: OBJECTIVE.into(),
        mode: "max",
        label: "validation accuracy".into(),
        percent: true,
    }
}

/// The objective of a sweep: a command sweep's own metric and mode (shown in percent, as the built-in validation
/// accuracy is, when it is an accuracy: maximized, and named with `acc`), else the built-in one.
pub fn objective_of(command: Option<&CommandAxes>) -> Objective {
    let Some(c) = command else { return objective() };
    let o = &c.objective;
    Objective {
        metric: o.metric.clone(),
        mode: o.mode.as_str(),
        label: o.metric.clone(),
        percent: o.mode == Mode::Max && o.metric.to_ascii_lowercase().contains("acc"),
    }
}

/// The axes a trial's values are read on: the built-in network's parameters (from its configuration), or a command
/// sweep's free-form axes (from its row's values, or its planned job's).
#[derive(Debug, Clone, Copy)]
pub enum AxesOf<'a> {
    Network(&'a [Axis]),
    Command(&'a [FreeAxis]),
}

/// What the sweep says every trial is read against: its axes and its objective.
#[derive(Debug, Clone, Copy)]
pub struct On<'a> {
    pub axes: AxesOf<'a>,
    pub objective: &'a Objective,
}

/// What is known of a trial before any row: its configuration, and a command trial's values (the grid's job).
#[derive(Debug, Clone, Copy)]
pub struct Planned<'a> {
    pub config: &'a TrainConfig,
    pub values: Option<&'a serde_json::Map<String, Json>>,
}

/// A trial's state: how its row says it ended, or what it does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Pruned,
    Diverged,
    Failed,
    Stopped,
    /// Training now: a live claim, or a progress log that started a unit of work not recorded yet.
    Running,
    /// Between rungs of halving or Hyperband: a rung recorded, the next not started.
    Waiting,
    /// Planned by the grid, not started.
    Pending,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Completed,
        Status::Pruned,
        Status::Diverged,
        Status::Failed,
        Status::Stopped,
        Status::Running,
        Status::Waiting,
        Status::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Pruned => "pruned",
            Status::Diverged => "diverged",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Pending => "pending",
        }
    }

    /// A trial whose row is written: it will not change any more.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Running | Status::Waiting | Status::Pending)
    }
}

impl From<JobStatus> for Status {
    fn from(s: JobStatus) -> Status {
        match s {
            JobStatus::Completed => Status::Completed,
            JobStatus::Pruned => Status::Pruned,
            JobStatus::Diverged => Status::Diverged,
            JobStatus::Failed => Status::Failed,
            JobStatus::Stopped => Status::Stopped,
        }
    }
}

/// One trial as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    pub id: String,
    /// Its position in the grid's job list (0-based), when the grid copy is there.
    pub number: Option<usize>,
    /// The value of every axis of the sweep (numbers as numbers, names as strings).
    pub values: BTreeMap<String, Json>,
    pub status: Status,
    /// The rung (0-based) reached, in halving and Hyperband.
    pub rung: Option<usize>,
    pub epochs_run: f64,
    pub best_epoch: Option<f64>,
    /// The metrics of the best epoch (a non-finite one is `null`).
    pub metrics: BTreeMap<String, Option<f64>>,
    /// The objective's value (`metrics[objective.metric]`), when finite.
    pub objective: Option<f64>,
    /// Training time of the recorded row.
    pub seconds: Option<f64>,
    /// Unix seconds of its first start and of its end, when known (progress log, claims, history file).
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// The GPUs its latest run was given (its `CUDA_VISIBLE_DEVICES`), when the sweep assigns devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
}

/// What the live view knows beside the rows about one trial.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub running: bool,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// The last evaluated point of a running unit: (epochs, metrics).
    pub point: Option<(f64, BTreeMap<String, f64>)>,
    pub rung: Option<usize>,
    /// The GPUs of its latest run (progress log).
    pub gpus: Option<String>,
}

fn num(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A parameter value as JSON: whole numbers as integers (`512`, not `512.0`), names as strings.
pub fn value_json(v: Value) -> Json {
    match v {
        Value::Num(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Json::from(x as i64),
        Value::Num(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
        Value::Name(n) => Json::String(n.to_string()),
    }
}

/// The value of `axis` in a configuration.
pub fn axis_value(axis: &Axis, config: &TrainConfig) -> Json {
    value_json(axis.param.get(config))
}

/// A trial's value on each axis: from its recorded row (`row`) when there is one, else from what was planned.
fn values(axes: AxesOf<'_>, row: Option<&Row>, planned: Planned<'_>) -> BTreeMap<String, Json> {
    match axes {
        AxesOf::Network(axes) => {
            let config = row.map_or(planned.config, |r| &r.config);
            axes.iter().map(|a| (a.name().to_string(), axis_value(a, config))).collect()
        }
        AxesOf::Command(axes) => {
            let recorded = row.and_then(|r| r.trial.as_ref());
            let value = |name: &str| {
                recorded
                    .and_then(|t| t.values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                    .or_else(|| planned.values.and_then(|v| v.get(name).cloned()))
            };
            axes.iter().filter_map(|a| Some((a.name.clone(), value(&a.name)?))).collect()
        }
    }
}

/// A row's metrics (its best epoch's): a command trial's objective and the other metrics of its best point.
fn row_metrics(r: &Row) -> BTreeMap<String, Option<f64>> {
    if let Some(t) = &r.trial {
        let mut m: BTreeMap<String, Option<f64>> = t.metrics.iter().map(|(k, v)| (k.clone(), num(*v))).collect();
        m.insert(t.objective.metric.clone(), t.best.and_then(num));
        return m;
    }
    let mut m = BTreeMap::new();
    m.insert(OBJECTIVE.to_string(), r.best_val_acc.and_then(num));
    m.insert("train_acc".to_string(), r.train_acc.and_then(num));
    m.insert("final_loss".to_string(), r.final_loss.and_then(num));
    m
}

/// The objective of a row (the report's and the ranking's: best validation accuracy).
pub fn row_objective(r: &Row) -> Option<f64> {
    match &r.trial {
        // A command trial's objective is its program's metric, in its own units.
        Some(t) => t.best.and_then(num),
        None => r.best_val_acc.and_then(num),
    }
}

/// The trial of job `id`: from its final row when there is one, else from its last rung record and what runs now,
/// else a pending job of the grid (`config`).
pub fn trial(
    id: &str,
    number: Option<usize>,
    on: On<'_>,
    planned: Planned<'_>,
    row: Option<&Row>,
    rung_record: Option<&Row>,
    live: &Live,
) -> Trial {
    let recorded = row.or(rung_record);
    let mut t = Trial {
        id: id.to_string(),
        number,
        values: values(on.axes, recorded, planned),
        status: Status::Pending,
        rung: recorded.and_then(|r| r.rung),
        epochs_run: recorded.map_or(0.0, |r| r.epochs_run),
        best_epoch: recorded.and_then(|r| r.best_epoch),
        metrics: recorded.map(row_metrics).unwrap_or_default(),
        objective: recorded.and_then(row_objective),
        seconds: recorded.map(|r| r.seconds),
        started: live.started,
        ended: None,
        gpus: live.gpus.clone(),
    };
    if let Some(r) = row {
        t.status = r.status.into();
        t.ended = live.ended;
        return t;
    }
    t.status = if live.running {
        Status::Running
    } else if rung_record.is_some() {
        Status::Waiting
    } else {
        Status::Pending
    };
    if live.running {
        t.rung = live.rung.or(t.rung);
        if let Some((epoch, metrics)) = &live.point {
            if *epoch > t.epochs_run {
                t.epochs_run = *epoch;
                t.metrics = metrics.iter().map(|(k, v)| (k.clone(), num(*v))).collect();
                // The best so far of a running unit is not known until its row is written; its latest point stands in.
                let now = metrics.get(&on.objective.metric).copied().and_then(num);
                let min = on.objective.mode == "min";
                t.objective = match (now, t.objective) {
                    (Some(a), Some(b)) if min => Some(a.min(b)),
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    t
}

/// Work of one epoch of `config` in the cost model's FLOPs (the unit of the time estimate); for a sweep without a
/// grid copy, one per epoch.
pub fn epoch_cost(plan: Option<&Plan>, config: &TrainConfig) -> f64 {
    match plan {
        Some(p) => Shape {
            n_train: p.data.n_train,
            n_val: p.data.n_val,
            input: p.data.input,
            hidden: config.hidden_size,
            classes: p.data.classes,
            batch: config.batch_size,
        }
        .epoch_flops() as f64,
        None => 1.0,
    }
}

/// The columns of the trial table's export, in order, and one trial's cells.
pub fn export_header(axes: &[String], metrics: &[String]) -> Vec<String> {
    let mut h = vec!["id".to_string(), "number".into()];
    h.extend(axes.iter().cloned());
    h.extend(["status", "rung", "epochs_run", "best_epoch"].map(String::from));
    h.extend(metrics.iter().cloned());
    h.extend(["seconds", "started", "ended"].map(String::from));
    h
}

/// One trial's cells under [`export_header`].
pub fn export_cells(t: &Trial, axes: &[String], metrics: &[String]) -> Vec<String> {
    let opt = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
    let mut c = vec![t.id.clone(), t.number.map_or(String::new(), |n| n.to_string())];
    c.extend(axes.iter().map(|a| match t.values.get(a) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }));
    c.extend([
        t.status.as_str().to_string(),
        t.rung.map_or(String::new(), |r| r.to_string()),
        t.epochs_run.to_string(),
        opt(t.best_epoch),
    ]);
    c.extend(metrics.iter().map(|m| opt(t.metrics.get(m).copied().flatten())));
    c.extend([t.seconds, t.started, t.ended].map(opt));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    static OBJ: std::sync::LazyLock<Objective> = std::sync::LazyLock::new(objective);

    fn on() -> On<'static> {
        On {
            axes: AxesOf::Network(&[]),
            objective: &OBJ,
        }
    }

    fn planned(config: &TrainConfig) -> Planned<'_> {
        Planned { config, values: None }
    }

    fn row(status: JobStatus, val: Option<f64>, rung: Option<usize>) -> Row {
        Row {
            id: "abc".into(),
            config: TrainConfig::default(),
            status,
            rung,
            epochs_run: 3.0,
            best_epoch: Some(2.0),
            best_val_acc: val,
            train_acc: Some(0.6),
            final_loss: Some(f64::NAN),
            seconds: 1.5,
            trial: None,
            measures: None,
        }
    }

    #[test]
    fn a_recorded_row_is_the_trial_whatever_runs() {
        let r = row(JobStatus::Completed, Some(0.5), None);
        let live = Live {
            running: true,
            ended: Some(10.0),
            ..Live::default()
        };
        let t = trial("abc", Some(4), on(), planned(&r.config), Some(&r), None, &live);
        assert_eq!(t.status, Status::Completed);
        assert_eq!(
            (t.objective, t.epochs_run, t.best_epoch, t.ended),
            (Some(0.5), 3.0, Some(2.0), Some(10.0))
        );
        assert_eq!(t.metrics["final_loss"], None, "a NaN metric is null");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["status"], "completed");
        assert_eq!(json["number"], 4);
    }

    #[test]
    fn unrecorded_trials_are_waiting_running_or_pending() {
        let rec = row(JobStatus::Completed, Some(0.4), Some(0));
        let c = TrainConfig::default();
        assert_eq!(
            trial("abc", None, on(), planned(&c), None, None, &Live::default()).status,
            Status::Pending
        );
        let waiting = trial("abc", None, on(), planned(&c), None, Some(&rec), &Live::default());
        assert_eq!(
            (waiting.status, waiting.rung, waiting.objective),
            (Status::Waiting, Some(0), Some(0.4))
        );
        let live = Live {
            running: true,
            rung: Some(1),
            point: Some((
                5.0,
                [("val_acc".to_string(), 0.45), ("loss".to_string(), 1.2)].into_iter().collect(),
            )),
            ..Live::default()
        };
        let running = trial("abc", None, on(), planned(&c), None, Some(&rec), &live);
        assert_eq!((running.status, running.rung, running.epochs_run), (Status::Running, Some(1), 5.0));
        assert_eq!((running.objective, running.metrics["loss"]), (Some(0.45), Some(1.2)));
    }

    #[test]
    fn the_export_has_one_cell_per_column() {
        let r = row(JobStatus::Pruned, None, Some(1));
        let t = trial("abc", Some(0), on(), planned(&r.config), Some(&r), None, &Live::default());
        let (axes, metrics) = (vec![], vec!["val_acc".to_string(), "train_acc".to_string()]);
        let h = export_header(&axes, &metrics);
        let c = export_cells(&t, &axes, &metrics);
        assert_eq!(h.len(), c.len());
        assert_eq!(c[h.iter().position(|x| x == "status").unwrap()], "pruned");
        assert_eq!(c[h.iter().position(|x| x == "val_acc").unwrap()], "");
        assert_eq!(c[h.iter().position(|x| x == "train_acc").unwrap()], "0.6");
    }
}
