//! What the API returns about a sweep, built once per refresh from its live state: the summary of `GET /api/sweeps`,
//! the detail of `GET /api/sweeps/{name}` (axes, objective, schedule, best, importance, rungs, and a multi-objective
//! sweep's front and hypervolume), and the trial and curve lists with the cursor each entry last changed at.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value as Json;

use super::discover::Found;
pub use super::trial::value_json;
use super::trial::{Objective, Status, Trial};
use super::{LiveSweep, ProgressOf};
use crate::importance::Importances;
use crate::load::{Plan, RungStat, Sweep};
use crate::pareto::{Front, Hypervolume};
use sweep_params::params::{full, Kind, Value};
use sweep_results::format::Row;

/// One trial's objective per epoch (downsampled), as `GET .../curves` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub points: Vec<[f64; 2]>,
    pub rung: Option<usize>,
    pub status: Status,
}

/// The best trial so far.
#[derive(Debug, Clone, Serialize)]
pub struct BestBrief {
    pub id: String,
    pub objective: Option<f64>,
}

/// A sweep in the list.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The name in URLs (`/api/sweeps/{key}`): the sweep's name, made unique among the served sweeps.
    pub key: String,
    pub name: String,
    /// The results directory, relative to the served directory it was found in.
    pub dir: String,
    /// "running", "finished", "stopped" (not finished, nothing running), "empty" (nothing recorded yet) or "error".
    pub state: &'static str,
    pub error: Option<String>,
    /// Trials by status (every status, zeros included).
    pub counts: BTreeMap<&'static str, usize>,
    pub total: usize,
    pub best: Option<BestBrief>,
    /// What `best.objective` is (its metric, mode, and whether it is shown in percent), so that the list shows it as
    /// the sweep's page does.
    pub objective: Objective,
    /// Unix seconds of the first start, and seconds from it to now (running) or to the last end.
    pub started: Option<f64>,
    pub elapsed: Option<f64>,
    /// Estimated seconds left while running (cost model over the remaining planned work), by the terminal's rule
    /// ([`sweep_results::progress::eta`]): `null` until it rests on enough finished work.
    pub eta: Option<f64>,
    /// The sweep's change cursor: `trials?after=cursor` returns nothing until something changes.
    pub cursor: u64,
    pub updated: f64,
}

/// An axis of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct AxisJson {
    pub name: String,
    pub label: String,
    pub short: String,
    /// Log-spaced values: plots use a log axis.
    pub log: bool,
    /// "number" or "name".
    pub kind: &'static str,
    pub integer: bool,
    /// The grid's values (empty for a sampled range).
    pub values: Vec<Json>,
    /// A sampled range's bounds.
    pub range: Option<(f64, f64)>,
}

/// The schedule of a halving or Hyperband sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleJson {
    pub method: String,
    pub eta: usize,
    /// Per bracket: its number of jobs and the epochs of its rungs.
    pub brackets: Vec<BracketJson>,
    /// Every epoch at which some rung ends (fractional where a rung ends mid-epoch).
    pub rung_epochs: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BracketJson {
    pub jobs: usize,
    pub rungs: Vec<f64>,
    pub planned: Vec<usize>,
}

/// The best trial with its whole configuration and test accuracy.
#[derive(Debug, Clone, Serialize)]
pub struct BestFull {
    pub trial: Trial,
    /// Every value of the trial: the built-in network's whole configuration, or a command trial's values (axes and
    /// `[train]`'s).
    pub config: BTreeMap<String, Json>,
    pub test_acc: Option<f64>,
}

/// `GET /api/sweeps/{key}`.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub axes: Vec<AxisJson>,
    /// Set when grid.toml is missing and the axes were inferred from the rows.
    pub axes_inferred: bool,
    pub schedule: Option<ScheduleJson>,
    pub best_trial: Option<BestFull>,
    pub importance: Option<Importances>,
    pub rungs: Vec<RungStat>,
    /// The metric keys trials carry.
    pub metrics: Vec<String>,
    /// A multi-objective sweep's Pareto front: its objectives, its members (as `best.json` lists them) and every
    /// trial that takes part with its values and rank. Absent for one objective, or while no trial takes part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub front: Option<Front>,
    /// A multi-objective sweep's hypervolume after each trial that takes part (against trials and epochs), and its
    /// reference point. Absent when `front` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypervolume: Option<Hypervolume>,
}

/// What a view is built from.
pub struct Input<'a> {
    pub key: &'a str,
    pub found: &'a Found,
    pub sweep: Option<Arc<Sweep>>,
    pub plan: Option<Arc<Plan>>,
    pub manifest_jobs: Option<usize>,
    pub trials: Vec<(u64, Arc<Trial>)>,
    pub curves: Vec<(String, u64, Arc<Curve>)>,
    pub progress: Arc<HashMap<String, Arc<ProgressOf>>>,
    pub cursor: u64,
    pub reset_at: u64,
    pub importance: Option<Importances>,
    pub error: Option<String>,
    /// The sweep points out of its directory: its data are refused.
    pub refused: bool,
    pub now: f64,
}

/// A sweep as the handlers see it: immutable, replaced by the next refresh.
pub struct View {
    pub found: Found,
    pub detail: Detail,
    /// Trials in number order, each with the cursor it last changed at.
    pub trials: Vec<(u64, Arc<Trial>)>,
    pub index: HashMap<String, usize>,
    pub curves: Vec<(String, u64, Arc<Curve>)>,
    pub progress: Arc<HashMap<String, Arc<ProgressOf>>>,
    pub sweep: Option<Arc<Sweep>>,
    pub plan: Option<Arc<Plan>>,
    pub cursor: u64,
    /// A client whose cursor is older than this must start over (trials were removed).
    pub reset_at: u64,
    /// Set when a file of the sweep points outside its directory: nothing of it is served but the error.
    pub refused: bool,
}

impl View {
    /// The view of a sweep not read yet.
    pub fn empty(key: &str, found: &Found) -> View {
        View::build(Input {
            key,
            found,
            sweep: None,
            plan: None,
            manifest_jobs: None,
            trials: Vec::new(),
            curves: Vec::new(),
            progress: Arc::new(HashMap::new()),
            cursor: 0,
            reset_at: 0,
            importance: None,
            error: None,
            refused: false,
            now: 0.0,
        })
    }

    pub fn build(i: Input) -> View {
        let mut counts: BTreeMap<&'static str, usize> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for (_, t) in &i.trials {
            *counts.entry(t.status.as_str()).or_default() += 1;
        }
        let total = i.trials.len().max(i.manifest_jobs.unwrap_or(0));
        // Jobs sweep.json counts that no row, claim or grid copy shows yet are pending too.
        *counts.entry("pending").or_default() += total - i.trials.len();
        let running = counts["running"];
        let unfinished = counts["running"] + counts["waiting"] + counts["pending"];
        let recorded = total - unfinished;
        let state = if i.error.is_some() {
            "error"
        } else if running > 0 {
            "running"
        } else if total > 0 && unfinished == 0 {
            "finished"
        } else if recorded == 0 && counts["waiting"] == 0 {
            "empty"
        } else {
            "stopped"
        };
        let sweep = i.sweep.as_deref();
        let best_id = sweep.and_then(|s| s.best_id.clone());
        let index: HashMap<String, usize> = i.trials.iter().enumerate().map(|(k, (_, t))| (t.id.clone(), k)).collect();
        let best_trial = best_id.as_ref().and_then(|id| index.get(id)).map(|&k| i.trials[k].1.clone());
        let started = i.trials.iter().filter_map(|(_, t)| t.started).reduce(f64::min);
        let last = i.trials.iter().filter_map(|(_, t)| t.ended).reduce(f64::max);
        let elapsed = started.map(|s| if state == "running" { i.now - s } else { last.unwrap_or(s) - s }.max(0.0));
        // The terminal's rule ([`sweep_results::progress::eta`]): shown once it rests on enough finished work.
        let eta = match (state, i.plan.as_deref(), sweep) {
            ("running", Some(plan), Some(s)) => LiveSweep::work(plan, &i.trials, s, &i.progress, i.now)
                .and_then(|(remaining, measured)| sweep_results::progress::eta(measured, remaining, running)),
            _ => None,
        };
        let objective = super::trial::objective_of(sweep.and_then(|s| s.command.as_ref()));
        let summary = Summary {
            key: i.key.to_string(),
            name: sweep.map_or_else(
                || i.found.dir.file_name().map_or("sweep".into(), |n| n.to_string_lossy().into_owned()),
                |s| s.name.clone(),
            ),
            dir: i.found.rel.clone(),
            state,
            error: i.error.clone(),
            counts,
            total,
            best: best_trial.as_ref().map(|t| BestBrief {
                id: t.id.clone(),
                objective: t.objective,
            }),
            objective,
            started,
            elapsed,
            eta,
            cursor: i.cursor,
            updated: i.now,
        };
        let axes = sweep.map_or_else(Vec::new, |s| match &s.command {
            Some(c) => c
                .axes
                .iter()
                .map(|a| AxisJson {
                    name: a.name.clone(),
                    label: a.name.clone(),
                    short: a.name.clone(),
                    log: a.log,
                    kind: if a.range.is_some() || a.values.iter().all(Json::is_number) {
                        "number"
                    } else {
                        "name"
                    },
                    integer: a.integer || (a.range.is_none() && a.values.iter().all(|v| v.is_i64() || v.is_u64())),
                    values: a.values.clone(),
                    range: a.range,
                })
                .collect(),
            None => s
                .axes
                .iter()
                .map(|a| AxisJson {
                    name: a.name().to_string(),
                    label: a.param.label.to_string(),
                    short: a.param.short.to_string(),
                    log: a.log,
                    kind: if a.values.iter().any(|v| matches!(v, Value::Name(_))) || matches!(a.param.kind, Kind::Choice(_)) {
                        "name"
                    } else {
                        "number"
                    },
                    integer: a.param.is_integer(),
                    values: a.values.iter().map(|v| value_json(*v)).collect(),
                    range: a.range,
                })
                .collect(),
        });
        let schedule = i.plan.as_deref().map(|p| ScheduleJson {
            method: p.method.clone(),
            eta: p.schedule.eta,
            brackets: p
                .schedule
                .brackets
                .iter()
                .enumerate()
                .map(|(n, b)| BracketJson {
                    jobs: p.bracket_size(n),
                    rungs: b.rungs.clone(),
                    planned: p.planned_counts(n),
                })
                .collect(),
            rung_epochs: sweep.and_then(|s| s.rungs.as_ref()).map(|r| r.epochs()).unwrap_or_default(),
        });
        let best_full = best_trial.map(|t| {
            let config = sweep
                .and_then(|s| s.rows.iter().find(|r| r.id == t.id))
                .map(config_json)
                .unwrap_or_default();
            BestFull {
                trial: (*t).clone(),
                config,
                test_acc: sweep
                    .and_then(|s| s.best.as_ref())
                    .filter(|b| best_id.as_deref() == Some(b.id.as_str()))
                    .and_then(|b| b.test_acc),
            }
        });
        let rungs = sweep.and_then(|s| s.rungs.as_ref().map(|r| r.table(&s.rows))).unwrap_or_default();
        let mut metrics: Vec<String> = i.trials.iter().flat_map(|(_, t)| t.metrics.keys().cloned()).collect();
        metrics.sort();
        metrics.dedup();
        let detail = Detail {
            summary,
            axes,
            axes_inferred: sweep.is_some_and(|s| s.axes_inferred),
            schedule,
            best_trial: best_full,
            importance: i.importance,
            rungs,
            metrics,
            front: sweep.and_then(|s| s.pareto.as_ref()).map(|p| p.front.clone()),
            hypervolume: sweep.and_then(|s| s.pareto.as_ref()).map(|p| p.hypervolume.clone()),
        };
        View {
            found: i.found.clone(),
            detail,
            trials: i.trials,
            index,
            curves: i.curves,
            progress: i.progress,
            sweep: i.sweep,
            plan: i.plan,
            cursor: i.cursor,
            reset_at: i.reset_at,
            refused: i.refused,
        }
    }

    /// The whole configuration of trial `id` as the API shows it ([`config_json`]): its row's, its rung record's, or
    /// the grid's job's.
    pub fn config_json(&self, id: &str) -> BTreeMap<String, Json> {
        let Some(s) = self.sweep.as_deref() else { return BTreeMap::new() };
        let recorded = s
            .rows
            .iter()
            .find(|r| r.id == id)
            .or_else(|| s.rungs.as_ref().and_then(|r| r.records.iter().find(|r| r.id == id)));
        if let Some(r) = recorded {
            return config_json(r);
        }
        let Some(job) = self.plan.as_ref().and_then(|p| p.jobs.iter().find(|j| j.id == id)) else {
            return BTreeMap::new();
        };
        match &job.trial {
            Some(t) => t.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => full(&job.config)
                .map(|p| (p.name.to_string(), value_json(p.get(&job.config))))
                .collect(),
        }
    }

    pub fn summary(&self) -> &Summary {
        &self.detail.summary
    }
}

/// A row's whole configuration as the API shows it: a command trial's own values (its axes and `[train]`'s), else
/// every parameter of the built-in network.
pub fn config_json(r: &Row) -> BTreeMap<String, Json> {
    match &r.trial {
        Some(t) => t.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => full(&r.config)
            .map(|p| (p.name.to_string(), value_json(p.get(&r.config))))
            .collect(),
    }
}
