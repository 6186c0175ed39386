//! The JSON bodies of the dashboard's API, computed from a sweep's published [`View`]: the trials and curves since a
//! cursor, and one trial with its history and log. `sweep serve` answers with them, and the report's static copy of
//! the dashboard embeds them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;
use sweep_results::format::{history_paths, read_history, LossRecord};

use super::trial::Trial;
use super::view::View;
use super::{downsample, read_epochs};

/// At most this many points of a trial's per-iteration loss are returned.
pub const LOSS_POINTS: usize = 2000;

/// Whether a client at cursor `after` must start over, and whether entry `changed` is news to it.
fn fresh(v: &View, after: u64) -> (bool, impl Fn(u64) -> bool) {
    let reset = after == 0 || after < v.reset_at || after > v.cursor;
    (reset, move |changed: u64| reset || changed > after)
}

#[derive(Serialize)]
pub struct TrialsOut<'a> {
    cursor: u64,
    /// The answer holds every trial: forget what you had.
    reset: bool,
    total: usize,
    trials: Vec<&'a Trial>,
}

/// `GET .../trials?after=N`.
pub fn trials_body(v: &View, after: u64) -> TrialsOut<'_> {
    let (reset, news) = fresh(v, after);
    TrialsOut {
        cursor: v.cursor,
        reset,
        total: v.trials.len(),
        trials: v.trials.iter().filter(|(c, _)| news(*c)).map(|(_, t)| t.as_ref()).collect(),
    }
}

#[derive(Serialize)]
struct CurveOut<'a> {
    id: &'a str,
    #[serde(flatten)]
    curve: &'a super::view::Curve,
}

#[derive(Serialize)]
pub struct CurvesOut<'a> {
    cursor: u64,
    reset: bool,
    curves: Vec<CurveOut<'a>>,
}

/// `GET .../curves?after=N`.
pub fn curves_body(v: &View, after: u64) -> CurvesOut<'_> {
    let (reset, news) = fresh(v, after);
    CurvesOut {
        cursor: v.cursor,
        reset,
        curves: v
            .curves
            .iter()
            .filter(|(_, c, _)| news(*c))
            .map(|(id, _, c)| CurveOut { id, curve: c })
            .collect(),
    }
}

/// One evaluated epoch of a trial's history.
#[derive(Serialize)]
struct EpochOut {
    epoch: f64,
    /// Unix seconds, when the progress log says.
    t: Option<f64>,
    metrics: BTreeMap<String, Option<f64>>,
}

#[derive(Serialize)]
struct LogLine {
    t: Option<f64>,
    text: String,
}

#[derive(Serialize)]
pub struct TrialOut<'a> {
    trial: &'a Trial,
    config: BTreeMap<String, Json>,
    /// Every evaluated point: the history file's epochs, then the progress log's points beyond them.
    history: Vec<EpochOut>,
    /// (iteration, loss), downsampled.
    loss: Vec<[f64; 2]>,
    /// The trial's record at the end of each finished rung but its last (halving and Hyperband).
    rung_records: Vec<Trial>,
    log: Vec<LogLine>,
}

/// `GET .../trials/{id}` of the trial at position `k` (reads its history files).
pub fn trial_body(v: &View, k: usize) -> TrialOut<'_> {
    let t = v.trials[k].1.as_ref();
    let dir = &v.found.dir;
    let config = v.config_json(&t.id);
    let mut history: Vec<EpochOut> = read_epochs(dir, &t.id)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let f = |x: f64| x.is_finite().then_some(x);
            let metrics = [("val_acc", e.val_acc), ("train_acc", e.train_acc), ("loss", e.loss), ("lr", e.lr)]
                .into_iter()
                .map(|(k, x)| (k.to_string(), f(x)))
                .collect();
            EpochOut {
                epoch: e.epoch as f64,
                t: None,
                metrics,
            }
        })
        .collect();
    let command = v.sweep.as_ref().is_some_and(|s| s.command.is_some());
    let objective_text = |x: f64| {
        let o = &v.detail.summary.objective;
        if o.percent {
            format!("{} {:.2} %", o.label, 100.0 * x)
        } else {
            format!("{} {}", o.label, sweep_results::schema::metric_text(Some(x)))
        }
    };
    if history.is_empty() {
        // A command trial: the points sweep accepted from its program (`trials/<id>/records.jsonl`).
        let files = sweep_results::trial_folder::TrialFiles::new(dir.join(sweep_results::format::TRIALS_DIR).join(&t.id));
        if super::discover::confined(dir, &files.dir) && super::discover::confined(dir, &files.records) {
            history = files
                .load_records()
                .unwrap_or_default()
                .into_iter()
                .map(|r| EpochOut {
                    epoch: r.epoch,
                    t: None,
                    metrics: r.metrics.iter().map(|(k, x)| (k.clone(), x.is_finite().then_some(*x))).collect(),
                })
                .collect();
        }
    }
    let progress = v.progress.get(&t.id);
    if let Some(p) = progress {
        let last = history.last().map_or(0.0, |e| e.epoch);
        history.extend(p.points.iter().filter(|(_, e, _)| *e > last).map(|(time, e, m)| EpochOut {
            epoch: *e,
            t: Some(*time),
            metrics: m.iter().map(|(k, x)| (k.clone(), x.is_finite().then_some(*x))).collect(),
        }));
    }
    let (_, loss_path) = history_paths(dir, &t.id);
    let loss: Vec<(f64, f64)> = if super::discover::confined(dir, &loss_path) {
        read_history::<LossRecord>(&loss_path)
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.loss.is_finite())
            .map(|l| (l.iteration as f64, f64::from(l.loss)))
            .collect()
    } else {
        Vec::new()
    };
    let rung_records: Vec<Trial> = v
        .sweep
        .as_ref()
        .and_then(|s| s.rungs.as_ref())
        .map(|r| {
            let mut recs: Vec<Trial> = r
                .records
                .iter()
                .filter(|x| x.id == t.id)
                .map(|x| {
                    let on = super::trial::On {
                        axes: super::trial::AxesOf::Network(&[]),
                        objective: &v.detail.summary.objective,
                    };
                    let planned = super::trial::Planned {
                        config: &x.config,
                        values: None,
                    };
                    super::trial::trial(&t.id, t.number, on, planned, None, Some(x), &Default::default())
                })
                .collect();
            recs.sort_by_key(|x| x.rung);
            recs
        })
        .unwrap_or_default();
    // The log: each unit's start before the epochs it trained, then the rung records and the end.
    let mut log = Vec::new();
    let mut starts: Vec<&super::Start> = progress.map(|p| p.starts.iter().collect()).unwrap_or_default();
    starts.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.total_cmp(&b.0)));
    let mut starts = starts.into_iter().peekable();
    let start_line = |(time, rung, from, to, gpus): &super::Start| LogLine {
        t: Some(*time),
        text: format!(
            "started: epochs {from} to {to}{}{}",
            rung.map_or(String::new(), |r| format!(" (rung {})", r + 1)),
            gpus.as_ref().map_or(String::new(), |g| format!(" on GPUs {g}"))
        ),
    };
    for e in &history {
        while let Some(s) = starts.next_if(|s| s.2 < e.epoch) {
            log.push(start_line(s));
        }
        let m = |k: &str| e.metrics.get(k).copied().flatten();
        let pct = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.2} %", 100.0 * x));
        let text = if command {
            // A command trial's own metrics, its objective first, as its records name them.
            let o = &v.detail.summary.objective;
            let shown = |k: &str, x: Option<f64>| match x {
                Some(x) if k == o.metric && o.percent => format!("{k} {}", pct(Some(x))),
                x => format!("{k} {}", sweep_results::schema::metric_text(x)),
            };
            let mut parts = vec![shown(&o.metric, m(&o.metric))];
            parts.extend(e.metrics.iter().filter(|(k, _)| **k != o.metric).map(|(k, x)| shown(k, *x)));
            format!("epoch {}: {}", e.epoch, parts.join(", "))
        } else {
            format!(
                "epoch {}: validation {}, train {}, loss {}",
                e.epoch,
                pct(m("val_acc")),
                pct(m("train_acc")),
                m("loss").map_or("-".into(), |x| format!("{x:.4}"))
            )
        };
        log.push(LogLine { t: e.t, text });
    }
    log.extend(starts.map(start_line));
    for r in &rung_records {
        log.push(LogLine {
            t: None,
            text: format!(
                "rung {} recorded after {} epochs: {}",
                r.rung.map_or(1, |x| x + 1),
                r.epochs_run,
                r.objective.map_or("no value".into(), objective_text)
            ),
        });
    }
    if t.status.is_final() {
        log.push(LogLine {
            t: t.ended,
            text: format!(
                "{} after {} epochs{}{}",
                t.status.as_str(),
                t.epochs_run,
                t.objective.map_or(String::new(), |o| format!(", best {}", objective_text(o))),
                t.seconds.map_or(String::new(), |s| format!(", {s:.1} s of training"))
            ),
        });
    }
    TrialOut {
        trial: t,
        config,
        history,
        loss: downsample(&loss, &[], LOSS_POINTS),
        rung_records,
        log,
    }
}
