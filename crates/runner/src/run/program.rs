//! The command backend (issue 18): a user's program as a trial. Each unit of work is one run of the program
//! ([`process::run`]) from wherever the trial's checkpoint left it to the unit's budget (`SWEEP_BUDGET` = `to`), with
//! `SWEEP_RESUME=1` when its checkpoint folder holds anything, in the trial's own folder `<results>/trials/<id>/`.
//! Every metric record the program reports becomes a progress line; the runner's stop flag (Ctrl-C, SIGTERM, Slurm's
//! USR1) stops the run (SIGTERM to its process group, SIGKILL after `grace_s`), and so does an objective that is not
//! a finite number.
//!
//! How a run ends, as the runner's seam says it ([`Ended`]): a non-finite objective in the trial's records is
//! `diverged` (checked first: a program may exit 0 after a NaN); reaching the budget finishes the rung, or the trial
//! on its last rung; a failure or a timeout is `failed`, with the reason in the row's note; a stop records nothing
//! (the rerun resumes the trial by itself); sweep's own trouble (the trial's folder, the shepherd) stops the sweep.
//! The row holds the best epoch and the best value of the objective by its mode over the trial's whole timeline
//! (every run of it, superseded points dropped), the other metrics of that point, and the last point's epoch as the
//! epochs run.
//!
//! With `[command] gpus` (issue 36), each run first takes a lease of its own devices from the sweep's
//! [`DevicePool`] and gets them in `CUDA_VISIBLE_DEVICES` and `SWEEP_GPUS`; the lease is dropped when the run has
//! ended, however it ended (a panic unwinding through the backend included), and the devices go to the next run.
//!
//! The checkpoint of a trial that can no longer go on (ranked out of its rung, or pruned) is deleted; finished,
//! diverged and failed trials keep theirs (a finished trial's checkpoint is the user's model).

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use super::process::{self, expand_argv, Failure, Outcome, Record as Point, RunResult, RunSpec, Shepherd, TrialFiles};
use super::trial::{Backend, Ended, Record, Unit, Watch};
use crate::devices::DevicePool;
use sweep_grid::command::{Command, CommandGrid};
use sweep_results::format::{JobStatus, Row, TRIALS_DIR};
use sweep_results::schema::{metric_text, TrialRow};
use sweep_results::ResultsError;
use sweep_search::round12;

/// A command sweep's program, run for each unit of work.
pub struct Program<'s> {
    command: Command,
    /// The columns of the trial's values in the rows.
    columns: Vec<String>,
    /// `<results>/trials` (absolute).
    trials: PathBuf,
    /// Where the program runs: sweep's current directory (as for every relative path of a grid).
    work_dir: PathBuf,
    shepherd: Shepherd,
    stop: &'s AtomicBool,
    /// The GPUs of a sweep whose `[command]` sets `gpus`: each run holds its own lease of them while it runs.
    devices: Option<DevicePool>,
    /// Trials whose last unit ended them (finished, diverged, failed): their checkpoints are kept.
    ended: Mutex<HashSet<String>>,
}

/// What a trial's points say about its objective.
struct Summary<'p> {
    /// The best point with a finite objective (by the mode; the earliest of equal ones), with that value.
    best: Option<(&'p Point, f64)>,
    /// The first point whose objective is not a finite number.
    broken: Option<&'p Point>,
    /// Some point carries the objective at all.
    has_metric: bool,
}

impl<'s> Program<'s> {
    /// The program of `grid`, run in `work_dir` with its trials' folders under `results_dir/trials/`, stopped when
    /// `stop` is raised (the runner's flag).
    pub fn new(grid: &CommandGrid, results_dir: &Path, work_dir: PathBuf, stop: &'s AtomicBool) -> std::io::Result<Self> {
        Ok(Program {
            command: grid.command.clone(),
            columns: grid.columns(),
            trials: std::path::absolute(results_dir)?.join(TRIALS_DIR),
            work_dir,
            shepherd: Shepherd::current_exe(),
            stop,
            devices: None,
            ended: Mutex::new(HashSet::new()),
        })
    }

    /// Gives each run its own devices from `pool` (in `CUDA_VISIBLE_DEVICES` and `SWEEP_GPUS`), held while it runs.
    /// The runner must run at most [`DevicePool::capacity`] units at once; a unit started beyond that waits for one
    /// to end.
    pub fn with_devices(mut self, pool: Option<DevicePool>) -> Self {
        self.devices = pool;
        self
    }

    /// A trial's folder.
    pub fn trial_dir(&self, id: &str) -> PathBuf {
        self.trials.join(id)
    }

    fn summary<'p>(&self, points: &'p [Point]) -> Summary<'p> {
        let o = &self.command.objective;
        let mut s = Summary {
            best: None,
            broken: None,
            has_metric: false,
        };
        for p in points {
            let Some(v) = p.get(&o.metric) else { continue };
            s.has_metric = true;
            if !v.is_finite() {
                s.broken = s.broken.or(Some(p));
            } else if s.best.is_none_or(|(_, b)| o.score(v) > o.score(b)) {
                s.best = Some((p, v));
            }
        }
        s
    }

    /// The trial's row after a run: its values, the best point's epoch, objective and other metrics, the last point's
    /// epoch as the epochs run.
    fn row(&self, unit: &Unit, points: &[Point], status: JobStatus, note: Option<String>, seconds: f64) -> Row {
        let job = &unit.job;
        let summary = self.summary(points);
        let o = &self.command.objective;
        let values = job.trial.as_ref().map(|t| &t.values);
        let trial = TrialRow {
            values: self
                .columns
                .iter()
                .map(|c| (c.clone(), values.and_then(|v| v.get(c)).cloned().unwrap_or_default()))
                .collect(),
            objective: o.clone(),
            best: summary.best.map(|(_, v)| v),
            metrics: summary.best.map_or_else(BTreeMap::new, |(p, _)| {
                p.metrics
                    .iter()
                    .filter(|(k, _)| **k != o.metric)
                    .map(|(k, v)| (k.clone(), *v))
                    .collect()
            }),
            note,
            others: self.command.objectives[1..].to_vec(),
            pareto_rank: None,
        };
        Row {
            id: job.id.clone(),
            config: (*job.config).clone(),
            status,
            rung: None,
            epochs_run: points.last().map_or(0.0, |p| round12(p.epoch)),
            best_epoch: summary.best.map(|(p, _)| round12(p.epoch)),
            best_val_acc: None,
            train_acc: None,
            final_loss: None,
            seconds,
            trial: Some(Box::new(trial)),
            measures: None,
        }
    }

    /// How a run ended, for the runner.
    fn ended(&self, unit: &Unit, result: &RunResult) -> Ended {
        let seconds = unit.seconds_before + result.elapsed.as_secs_f64();
        let points = &result.records;
        let record = |status, note| Record {
            row: self.row(unit, points, status, note, seconds),
            history: None,
            model: None,
        };
        let metric = &self.command.objective.metric;
        let summary = self.summary(points);
        if let Some(p) = summary.broken {
            let v = p.get(metric).unwrap_or(f64::NAN);
            let note = format!("{metric} = {} at epoch {}", metric_text(Some(v)), p.epoch);
            return Ended::Diverged(record(JobStatus::Diverged, Some(note)));
        }
        // What the program wrote that was not taken as a record: often the actual mistake behind a failure (a number
        // past an f64, a metric sent as a string, a line too long), so a failure that may stem from it says it.
        let warned = (result.warning_count > 0).then(|| {
            let first = result.warnings.first().map_or("", String::as_str);
            let first = first.strip_prefix(&format!("trial {}: ", unit.job.id)).unwrap_or(first);
            format!("{} warning(s) about its output (first: {first})", result.warning_count)
        });
        let failed = |reason: String| Ended::Failed {
            record: record(JobStatus::Failed, Some(reason.clone())),
            reason,
        };
        match &result.outcome {
            Outcome::Reached if !summary.has_metric => {
                let mut keys: Vec<&str> = points.iter().flat_map(|p| p.metrics.keys().map(String::as_str)).collect();
                keys.sort_unstable();
                keys.dedup();
                let mut reason = format!("reached its budget, but no record carries the metric `{metric}` as a number");
                if !keys.is_empty() {
                    reason.push_str(&format!(" (its records have: {})", keys.join(", ")));
                }
                if let Some(w) = &warned {
                    reason.push_str(&format!("; {w}"));
                }
                failed(reason)
            }
            Outcome::Reached if unit.last => Ended::Finished(record(JobStatus::Completed, warned)),
            Outcome::Reached => Ended::Rung(record(JobStatus::Completed, warned)),
            Outcome::Failed(Failure::ShortOfBudget { budget, reached }) => failed(match (reached, &warned) {
                (None, Some(w)) => format!("failed: exited 0, but none of its records could be read (budget {budget}): {w}"),
                (Some(_), Some(w)) => format!("{}; {w}", result.outcome),
                (_, None) => result.outcome.to_string(),
            }),
            Outcome::Failed(_) | Outcome::TimedOut { .. } => failed(result.outcome.to_string()),
            Outcome::Stopped { .. } => Ended::Stopped,
        }
    }

    /// One unit: one run of the program.
    fn advance_one(&self, unit: &Unit, watch: &dyn Watch) -> Ended {
        let job = &unit.job;
        let Some(trial) = &job.trial else {
            return Ended::Error(ResultsError::Trial {
                id: job.id.clone(),
                reason: "not a command trial: the program backend runs only command sweeps".into(),
            });
        };
        let argv = match expand_argv(&self.command.run, &trial.values) {
            Ok(a) => a,
            Err(e) => {
                return Ended::Error(ResultsError::Trial {
                    id: job.id.clone(),
                    reason: e.to_string(),
                })
            }
        };
        let dir = self.trial_dir(&job.id);
        let files = TrialFiles::new(&dir);
        let from = if files.has_checkpoint() {
            files.load_records().ok().and_then(|r| r.last().map(|p| p.epoch)).unwrap_or(0.0)
        } else {
            0.0
        };
        // The run's devices, given back when `lease` drops: when this function returns, however the run ended, or
        // when a panic unwinds through it.
        let lease = match &self.devices {
            Some(pool) => match pool.lease(self.stop) {
                Some(l) => Some(l),
                None => return Ended::Stopped,
            },
            None => None,
        };
        let gpus = lease.as_ref().map(|l| l.visible());
        watch.started_on(unit, round12(from.min(unit.to)), gpus.as_deref());
        let mut spec = RunSpec::new(job.id.clone(), dir, argv.into_iter().map(OsString::from).collect(), unit.to);
        spec.work_dir = self.work_dir.clone();
        spec.env = vec![("SWEEP_SEED".into(), job.config.seed.to_string().into())];
        for (k, v) in lease.iter().flat_map(|l| l.env()) {
            spec.env.push((k.into(), v.into()));
        }
        spec.gpus = gpus;
        spec.params = trial.values.clone();
        spec.timeout = self.command.timeout;
        spec.grace = self.command.grace;
        spec.shepherd = self.shepherd.clone();
        let metric = self.command.objective.metric.as_str();
        let mut on_record = |p: &Point| {
            let metrics: Vec<(&str, f64)> = p.metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            watch.point(unit, p.epoch, &metrics);
            // A NaN or infinite objective: the trial diverged, nothing more to learn from it.
            match p.get(metric) {
                Some(v) if !v.is_finite() => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        };
        let result = match process::run(&spec, self.stop, &mut on_record) {
            Ok(r) => r,
            // Sweep's side of the run (the trial's folder, its logs, the shepherd): not the trial's fault.
            Err(process::CommandError::Invalid { what, .. }) => {
                return Ended::Error(ResultsError::Trial {
                    id: job.id.clone(),
                    reason: what,
                })
            }
            Err(e) => return Ended::Error(ResultsError::TrialIo { source: Box::new(e) }),
        };
        if result.resumed {
            tracing::debug!("trial {}: run {} resumed from its checkpoint", job.id, result.run);
        }
        drop(lease);
        let ended = self.ended(unit, &result);
        if matches!(ended, Ended::Finished(_) | Ended::Diverged(_) | Ended::Failed { .. }) {
            self.ended.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id.clone());
        }
        ended
    }

    /// Deletes a trial's checkpoint (it can never go on). A multi-objective sweep keeps every one: a trial stopped at
    /// a rung is a cheaper model, and may be on the Pareto front (`best.json` lists its folder).
    fn drop_checkpoint(&self, id: &str) {
        if self.command.objectives.len() > 1 {
            return;
        }
        let path = TrialFiles::new(self.trial_dir(id)).checkpoint;
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::debug!("trial {id}: checkpoint deleted (it cannot go on)"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("trial {id}: cannot delete its checkpoint {}: {e}", path.display()),
        }
    }
}

impl Backend for Program<'_> {
    /// A unit's epochs (every epoch of a program costs the same, as far as sweep knows).
    fn cost(&self, unit: &Unit) -> u64 {
        ((unit.to - unit.from).max(0.01) * 1000.0) as u64
    }

    fn point_text(&self, metrics: &[(&str, f64)]) -> Option<String> {
        let metric = &self.command.objective.metric;
        let v = metrics.iter().find(|(k, _)| k == metric)?.1;
        Some(format!("{metric} {}", metric_text(Some(v))))
    }

    fn advance(&self, group: &[Unit], watch: &dyn Watch) -> Vec<Ended> {
        group.iter().map(|unit| self.advance_one(unit, watch)).collect()
    }

    /// A trial pruned (or recorded): a pruned one's checkpoint goes, a trial that ended keeps its own.
    fn forget(&self, id: &str) {
        if !self.ended.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            self.drop_checkpoint(id);
        }
    }

    /// The finished trials of a rung ranked below its survivors can never go on: their checkpoints go at once.
    fn rung_ranked(&self, ranked: &[&str], keep: usize) {
        for id in ranked.iter().skip(keep) {
            self.drop_checkpoint(id);
        }
    }
}
