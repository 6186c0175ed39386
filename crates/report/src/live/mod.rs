//! One sweep's live view, kept up to date by the watcher thread from the sweep's files: the rows and rung records
//! (through the report's data layer, [`Sweep`]), the progress logs (followed line by line), the claims, and the
//! history files of trials as they are recorded. Every refresh compares the new trial objects with the old ones;
//! those that differ get the next value of the sweep's change cursor, so a page asks only for what changed since
//! its last cursor. A refresh publishes an immutable [`View`] that request handlers read without waiting.
//!
//! Nothing here writes a file or takes a lock a writer needs: rows are replaced atomically or appended (readers take
//! complete lines only), progress logs are read up to their last complete line.

pub mod assets;
pub mod body;
pub mod claims;
pub mod discover;
pub mod trial;
pub mod view;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sweep_core::train::EpochRecord;

use self::claims::{unix, ClaimsView, JobClaims};
use self::discover::{check_sweep, confined, Found};
use self::trial::{epoch_cost, row_objective, Live as TrialLive, Status, Trial, OBJECTIVE};
use self::view::{Curve, View};
use crate::importance::{importance, importance_free, Importances};
use crate::load::{Plan, Sweep};
use sweep_results::format::{
    history_paths, read_history, read_manifest, Progress, Row, BEST_JSON, GRID_COPY, MANIFEST, RESULTS_CSV, RUNGS_DIR, WRITERS_DIR,
};
use sweep_results::progress::{Measured, ProgressReader};

/// At most this many points of a trial's curve are sent (rung ends, the first, the last and the best are kept).
pub const CURVE_POINTS: usize = 48;
/// Importance is recomputed at most this often while a sweep runs (and at once when it has finished).
pub const IMPORTANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// Without claims to say who is alive, a progress log's unrecorded unit counts as running for this long after its
/// last line.
pub const PROGRESS_ALIVE: f64 = 600.0;

/// Trials are recomputed at least this often even when no file changed.
pub const REBUILD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A file's length and modification time.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(p: &Path) -> Stamp {
    fs::metadata(p).ok().map(|m| (m.len(), m.modified().unwrap_or(UNIX_EPOCH)))
}

/// The stamps of a folder's files with extension `ext`, by name.
fn stamps_in(dir: &Path, ext: &str) -> Vec<(PathBuf, Stamp)> {
    let mut v: Vec<(PathBuf, Stamp)> = fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .map(|p| {
                    let s = stamp(&p);
                    (p, s)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A unit of work started, as a progress log says: (t, rung, from, to, the GPUs its run was given).
pub type Start = (f64, Option<usize>, f64, f64, Option<String>);

/// What the progress logs said about one job.
#[derive(Debug, Clone, Default)]
pub struct ProgressOf {
    /// Every unit of work started: (t, rung, from, to, the GPUs its run was given).
    pub starts: Vec<Start>,
    /// The last line's time.
    pub last_t: f64,
    /// Evaluated points not yet covered by a recorded row: (t, epoch, metrics).
    pub points: Vec<(f64, f64, BTreeMap<String, f64>)>,
}

/// A sweep being watched.
pub struct LiveSweep {
    pub key: String,
    pub found: Found,
    plan: Option<(Stamp, Arc<Plan>)>,
    rows_stamp: Vec<(PathBuf, Stamp)>,
    sweep: Option<Arc<Sweep>>,
    manifest_jobs: Option<usize>,
    progress: ProgressReader,
    prog: HashMap<String, Arc<ProgressOf>>,
    prog_view: Arc<HashMap<String, Arc<ProgressOf>>>,
    claims: ClaimsView,
    /// What the claims said at the last rebuild, and when that was: trials are recomputed only when an input changed
    /// (or every [`REBUILD_EVERY`], for what only time changes: a progress log going quiet).
    last_claims: HashMap<String, JobClaims>,
    last_rebuild: Option<Instant>,
    /// The history file's modification time of recorded trials (their end, when nothing better says it).
    ended_hint: HashMap<String, Option<f64>>,
    trials: HashMap<String, (u64, Arc<Trial>)>,
    order: Vec<String>,
    curves: HashMap<String, (u64, Arc<Curve>)>,
    cursor: u64,
    reset_at: u64,
    importance: Option<(usize, Option<Importances>)>,
    importance_at: Option<Instant>,
    error: Option<String>,
    /// The error is a file pointing out of the sweep: its data are refused, not just missing.
    refused: bool,
    view: Arc<View>,
}

impl LiveSweep {
    pub fn new(key: String, found: Found) -> LiveSweep {
        let progress = ProgressReader::new(&found.dir);
        let view = Arc::new(View::empty(&key, &found));
        LiveSweep {
            key,
            found,
            plan: None,
            rows_stamp: Vec::new(),
            sweep: None,
            manifest_jobs: None,
            progress,
            prog: HashMap::new(),
            prog_view: Arc::new(HashMap::new()),
            claims: ClaimsView::default(),
            last_claims: HashMap::new(),
            last_rebuild: None,
            ended_hint: HashMap::new(),
            trials: HashMap::new(),
            order: Vec::new(),
            curves: HashMap::new(),
            cursor: 0,
            reset_at: 0,
            importance: None,
            importance_at: None,
            error: None,
            refused: false,
            view,
        }
    }

    pub fn view(&self) -> Arc<View> {
        self.view.clone()
    }

    fn dir(&self) -> &Path {
        &self.found.dir
    }

    /// Forgets every trial (the directory became unreadable or was replaced): pages start over.
    fn clear(&mut self) {
        if !self.trials.is_empty() || !self.curves.is_empty() {
            self.cursor += 1;
            self.reset_at = self.cursor;
        }
        self.trials.clear();
        self.order.clear();
        self.curves.clear();
        self.sweep = None;
        self.rows_stamp.clear();
        self.plan = None;
        self.prog.clear();
        self.prog_view = Arc::new(HashMap::new());
        self.progress = ProgressReader::new(&self.found.dir);
        self.ended_hint.clear();
        self.importance = None;
        self.last_rebuild = None;
    }

    /// Re-reads what changed and publishes a new view; `now` is the wall clock.
    pub fn refresh(&mut self, now: SystemTime) -> Arc<View> {
        self.refused = false;
        match self.reload(now) {
            Ok(()) => self.error = None,
            Err(e) => {
                if self.error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("{}: {e}", self.found.rel);
                }
                self.clear();
                self.error = Some(e);
            }
        }
        self.publish(now);
        self.view.clone()
    }

    fn reload(&mut self, now: SystemTime) -> Result<(), String> {
        let dir = self.found.dir.clone();
        if let Err(p) = check_sweep(&dir) {
            self.refused = true;
            let rel = p.strip_prefix(&dir).unwrap_or(&p).display().to_string();
            return Err(format!(
                "{rel} is a symbolic link pointing outside the sweep's directory: the sweep is not served (replace the link by the file)"
            ));
        }
        // The grid copy, kept while it is unchanged.
        let grid_stamp = stamp(&dir.join(GRID_COPY));
        if self.plan.as_ref().map(|p| &p.0) != Some(&grid_stamp) || (grid_stamp.is_none() && self.plan.is_some()) {
            self.plan = Plan::load(&dir).map_err(|e| e.to_string())?.map(|p| (grid_stamp, Arc::new(p)));
            self.rows_stamp.clear();
        }
        // Rows, rung records, best.json and sweep.json: reread when any changed.
        let mut stamps = vec![
            (dir.join(RESULTS_CSV), stamp(&dir.join(RESULTS_CSV))),
            (dir.join(BEST_JSON), stamp(&dir.join(BEST_JSON))),
            (dir.join(MANIFEST), stamp(&dir.join(MANIFEST))),
        ];
        stamps.extend(stamps_in(&dir.join(WRITERS_DIR), "csv"));
        stamps.extend(stamps_in(&dir.join(RUNGS_DIR), "csv"));
        let rows_changed = stamps != self.rows_stamp || self.sweep.is_none();
        if rows_changed {
            let plan = self.plan.as_ref().map(|p| p.1.clone());
            let sweep = Sweep::load_with(&dir, plan).map_err(|e| e.to_string())?;
            self.manifest_jobs = read_manifest(&dir).ok().flatten().map(|m| m.jobs);
            self.sweep = Some(Arc::new(sweep));
            self.rows_stamp = stamps;
        }
        // Progress logs: only the lines added since the last refresh.
        let lines = self.progress.poll().map_err(|e| e.to_string())?;
        let mut touched: HashSet<String> = HashSet::new();
        for l in lines {
            let p = Arc::make_mut(self.prog.entry(l.id.clone()).or_default());
            p.last_t = p.last_t.max(l.t);
            match l.what {
                Progress::Start { from, to, gpus } => p.starts.push((l.t, l.rung, from, to, gpus)),
                Progress::Point { epoch, metrics } => {
                    // A rerun of the same epochs (a resumed or retrained unit) replaces the earlier points.
                    p.points.retain(|(_, e, _)| *e < epoch);
                    p.points.push((l.t, epoch, metrics));
                }
            }
            touched.insert(l.id);
        }
        let claims = self.claims.scan(&dir, now);
        let stale = self.last_rebuild.is_none_or(|t| t.elapsed() >= REBUILD_EVERY);
        if rows_changed || !touched.is_empty() || claims != self.last_claims || stale {
            self.rebuild(rows_changed, &touched, &claims, now);
            self.last_claims = claims;
            self.last_rebuild = Some(Instant::now());
        }
        Ok(())
    }

    /// Recomputes the trial objects; those that changed get the next cursor.
    fn rebuild(&mut self, rows_changed: bool, touched: &HashSet<String>, claims: &HashMap<String, JobClaims>, now: SystemTime) {
        let Some(sweep) = self.sweep.clone() else { return };
        let plan = self.plan.as_ref().map(|p| p.1.clone());
        let finals: HashMap<&str, &Row> = sweep.rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut rung_rec: HashMap<&str, &Row> = HashMap::new();
        if let Some(r) = &sweep.rungs {
            for rec in &r.records {
                let e = rung_rec.entry(rec.id.as_str()).or_insert(rec);
                if rec.rung > e.rung {
                    *e = rec;
                }
            }
        }
        // Every trial: the grid's jobs in order, then rows and progress of jobs the grid does not list.
        let mut order: Vec<(String, Option<usize>)> = Vec::new();
        let mut listed: HashSet<&str> = HashSet::new();
        if let Some(p) = &plan {
            for j in &p.jobs {
                order.push((j.id.clone(), Some(j.index)));
                listed.insert(j.id.as_str());
            }
        }
        let mut extra: Vec<&str> = finals
            .keys()
            .copied()
            .chain(self.prog.keys().map(String::as_str))
            .filter(|id| !listed.contains(id))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        order.extend(extra.into_iter().map(|id| (id.to_string(), None)));

        let now_s = unix(now);
        let next = self.cursor + 1;
        let mut changed = false;
        let mut seen: HashSet<&str> = HashSet::new();
        let jobs: HashMap<&str, &sweep_grid::Job> = plan.iter().flat_map(|p| p.jobs.iter().map(|j| (j.id.as_str(), j))).collect();
        let default_config = sweep_core::TrainConfig::default();
        let objective = trial::objective_of(sweep.command.as_ref());
        let on = trial::On {
            axes: match &sweep.command {
                Some(c) => trial::AxesOf::Command(&c.axes),
                None => trial::AxesOf::Network(&sweep.axes),
            },
            objective: &objective,
        };
        for (id, number) in &order {
            seen.insert(id.as_str());
            let row = finals.get(id.as_str()).copied();
            let rec = rung_rec.get(id.as_str()).copied();
            let prog = self.prog.get(id).cloned();
            let claim = claims.get(id);
            let job = jobs.get(id.as_str()).copied();
            let planned = trial::Planned {
                config: job.map_or(&default_config, |j| &*j.config),
                values: job.and_then(|j| j.trial.as_ref()).map(|t| &t.values),
            };
            let live = self.trial_live(id, row, rec, prog.as_ref(), claim, now_s);
            let t = trial::trial(id, *number, on, planned, row, rec, &live);
            if self.trials.get(id).is_none_or(|(_, old)| **old != t) {
                self.trials.insert(id.clone(), (next, Arc::new(t)));
                changed = true;
            }
        }
        let before = self.trials.len();
        self.trials.retain(|id, _| seen.contains(id.as_str()));
        self.curves.retain(|id, _| seen.contains(id.as_str()));
        if self.trials.len() != before {
            changed = true;
            self.reset_at = next;
        }
        // Curves of the trials that changed or were touched by progress lines.
        for (id, _) in &order {
            let Some((c, t)) = self.trials.get(id) else { continue };
            if *c != next && !touched.contains(id) && self.curves.contains_key(id) {
                continue;
            }
            let curve = self.curve_of(t, &objective.metric, sweep.rungs.as_ref().map(|r| r.epochs()).unwrap_or_default());
            if self.curves.get(id).is_none_or(|(_, old)| **old != curve) {
                self.curves.insert(id.clone(), (next, Arc::new(curve)));
                changed = true;
            }
        }
        // Points of recorded units are in the history files now: keep only what running units need.
        for (id, p) in self.prog.iter_mut() {
            if finals.contains_key(id.as_str()) && !p.points.is_empty() {
                Arc::make_mut(p).points.clear();
            }
        }
        if changed || rows_changed || !touched.is_empty() {
            self.prog_view = Arc::new(self.prog.clone());
        }
        if changed {
            self.cursor = next;
            self.order = order.into_iter().map(|(id, _)| id).collect();
        }
    }

    /// Liveness and times of one trial from its progress log, claims and history file.
    fn trial_live(
        &mut self,
        id: &str,
        row: Option<&Row>,
        rec: Option<&Row>,
        prog: Option<&Arc<ProgressOf>>,
        claim: Option<&JobClaims>,
        now: f64,
    ) -> TrialLive {
        let recorded_to = row.or(rec).map_or(0.0, |r| r.epochs_run);
        let last_start = prog.and_then(|p| p.starts.last());
        let unit_open = last_start.is_some_and(|s| s.3 > recorded_to + 1e-9);
        let running = row.is_none()
            && (claim.is_some_and(|c| c.running)
                || (!self.claims.present && unit_open && prog.is_some_and(|p| now - p.last_t < PROGRESS_ALIVE)));
        let started = [prog.and_then(|p| p.starts.first()).map(|s| s.0), claim.and_then(|c| c.claimed)]
            .into_iter()
            .flatten()
            .reduce(f64::min);
        let ended = if row.is_some() {
            let from_log = prog.map(|p| p.last_t).filter(|t| *t > 0.0);
            from_log.or_else(|| self.history_time(id)).or(claim.and_then(|c| c.done))
        } else {
            None
        };
        let point = prog
            .and_then(|p| p.points.last())
            .map(|(_, e, m)| (*e, m.clone()))
            .filter(|_| running);
        TrialLive {
            running,
            started: started.or_else(|| ended.zip(row.map(|r| r.seconds)).map(|(e, s)| e - s)),
            ended,
            point,
            rung: last_start.and_then(|s| s.1).or(claim.and_then(|c| c.rung)),
            gpus: last_start.and_then(|s| s.4.clone()),
        }
    }

    /// The modification time of a recorded trial's history file, looked up once.
    fn history_time(&mut self, id: &str) -> Option<f64> {
        if let Some(t) = self.ended_hint.get(id) {
            return *t;
        }
        let (path, _) = history_paths(&self.found.dir, id);
        let t = confined(&self.found.dir, &path)
            .then(|| fs::metadata(&path).ok()?.modified().ok().map(unix))
            .flatten();
        self.ended_hint.insert(id.to_string(), t);
        t
    }

    /// The objective (`metric`) per epoch of a trial: its progress points while it runs, else its history file (a
    /// command trial's: the points sweep accepted, `trials/<id>/records.jsonl`), downsampled.
    fn curve_of(&self, t: &Trial, metric: &str, rung_epochs: Vec<f64>) -> Curve {
        let mut points: Vec<(f64, f64)> = Vec::new();
        if t.status.is_final() || t.status == Status::Waiting || t.status == Status::Running {
            if let Some(h) = read_epochs(self.dir(), &t.id) {
                points = h
                    .into_iter()
                    .filter(|e| e.val_acc.is_finite())
                    .map(|e| (e.epoch as f64, e.val_acc))
                    .collect();
            } else if metric != OBJECTIVE || self.sweep.as_ref().is_some_and(|s| s.command.is_some()) {
                let files = sweep_results::trial_folder::TrialFiles::new(self.dir().join(sweep_results::format::TRIALS_DIR).join(&t.id));
                if confined(self.dir(), &files.dir) && confined(self.dir(), &files.records) {
                    let records = files.load_records().unwrap_or_default();
                    points = records
                        .iter()
                        .filter_map(|r| r.get(metric).filter(|v| v.is_finite()).map(|v| (r.epoch, v)))
                        .collect();
                }
            }
        }
        if let Some(p) = self.prog.get(&t.id) {
            let last = points.last().map_or(0.0, |p| p.0);
            points.extend(
                p.points
                    .iter()
                    .filter(|(_, e, _)| *e > last)
                    .filter_map(|(_, e, m)| m.get(metric).filter(|v| v.is_finite()).map(|v| (*e, *v))),
            );
        }
        Curve {
            points: downsample(&points, &rung_epochs, CURVE_POINTS),
            rung: t.rung,
            status: t.status,
        }
    }

    /// Publishes a new view from the current state.
    fn publish(&mut self, now: SystemTime) {
        let trials: Vec<(u64, Arc<Trial>)> = self.order.iter().filter_map(|id| self.trials.get(id).cloned()).collect();
        let curves: Vec<(String, u64, Arc<Curve>)> = self
            .order
            .iter()
            .filter_map(|id| self.curves.get(id).map(|(c, v)| (id.clone(), *c, v.clone())))
            .collect();
        self.update_importance();
        let input = view::Input {
            key: &self.key,
            found: &self.found,
            sweep: self.sweep.clone(),
            plan: self.plan.as_ref().map(|p| p.1.clone()),
            manifest_jobs: self.manifest_jobs,
            trials,
            curves,
            progress: self.prog_view.clone(),
            cursor: self.cursor,
            reset_at: self.reset_at,
            importance: self.importance.as_ref().and_then(|i| i.1.clone()),
            error: self.error.clone(),
            refused: self.refused,
            now: unix(now),
        };
        self.view = Arc::new(View::build(input));
    }

    /// fANOVA over the completed trials, when their number changed (at most every [`IMPORTANCE_EVERY`] while the
    /// sweep runs).
    fn update_importance(&mut self) {
        let Some(sweep) = &self.sweep else { return };
        let completed = self.trials.values().filter(|(_, t)| t.status == Status::Completed).count();
        if self.importance.as_ref().is_some_and(|i| i.0 == completed) {
            return;
        }
        let running = self.trials.values().any(|(_, t)| !t.status.is_final());
        if running && self.importance_at.is_some_and(|t| t.elapsed() < IMPORTANCE_EVERY) {
            return;
        }
        let seed = self.plan.as_ref().map_or(0, |p| p.1.seed);
        let started = Instant::now();
        let imp = match &sweep.command {
            Some(c) => importance_free(&c.axes, &sweep.rows, row_objective, seed),
            None => importance(&sweep.axes, &sweep.rows, row_objective, seed),
        };
        tracing::debug!("{}: importance of {completed} trials in {:?}", self.found.rel, started.elapsed());
        self.importance = Some((completed, imp));
        self.importance_at = Some(Instant::now());
    }

    /// The remaining work's cost and the work measured so far, for the time estimate
    /// ([`sweep_results::progress::eta`], the terminal's rule too): each recorded row's work and training time, and
    /// each running unit's work since it started (its progress log's start and latest point) and the seconds since
    /// then (to `now`, unix seconds). None without a grid copy.
    pub fn work(
        plan: &Plan,
        trials: &[(u64, Arc<Trial>)],
        sweep: &Sweep,
        progress: &HashMap<String, Arc<ProgressOf>>,
        now: f64,
    ) -> Option<(f64, Measured)> {
        // The planned jobs' configurations, and the recorded ones' (TPE plans none: its jobs are proposed as it runs).
        let configs: HashMap<&str, &sweep_core::TrainConfig> = (sweep.rows.iter().map(|r| (r.id.as_str(), &r.config)))
            .chain(plan.jobs.iter().map(|j| (j.id.as_str(), &*j.config)))
            .collect();
        let cost = |id: &str| configs.get(id).map_or(0.0, |c| epoch_cost(Some(plan), c));
        let mut measured = Measured::default();
        for r in &sweep.rows {
            if r.seconds > 0.0 {
                measured.add(r.epochs_run * cost(&r.id), r.seconds);
            }
        }
        for (_, t) in trials.iter().filter(|(_, t)| t.status == Status::Running) {
            let Some(&(started, _, from, _, _)) = progress.get(&t.id).and_then(|p| p.starts.iter().max_by(|a, b| a.0.total_cmp(&b.0)))
            else {
                continue;
            };
            measured.add((t.epochs_run - from).max(0.0) * cost(&t.id), (now - started).max(0.0));
        }
        let remaining = if let (true, Some(budget)) = (plan.search.asynchronous, plan.search.budget) {
            // An asynchronous search spends its budget, whatever it proposes: the epochs not trained yet, each the
            // average epoch so far.
            let spent: f64 = trials.iter().map(|(_, t)| t.epochs_run).sum();
            let mean = trials.iter().map(|(_, t)| cost(&t.id)).sum::<f64>() / trials.len().max(1) as f64;
            (budget as f64 - spent).max(0.0) * mean
        } else if plan.schedule.is_multi_fidelity() {
            // Per bracket and rung: the planned jobs not yet through the rung, each the bracket's average job.
            let mut reached: HashMap<&str, f64> = HashMap::new();
            for (_, t) in trials {
                reached.insert(t.id.as_str(), if t.status.is_final() { f64::INFINITY } else { t.epochs_run });
            }
            let mut rem = 0.0;
            for (n, b) in plan.schedule.brackets.iter().enumerate() {
                // The bracket's jobs known so far: planned ones, or for TPE the ones it has proposed.
                let members: Vec<&str> = match plan.batches {
                    Some(_) => trials.iter().map(|(_, t)| t.id.as_str()).collect(),
                    None => b.jobs.iter().filter_map(|&j| plan.jobs.get(j)).map(|j| j.id.as_str()).collect(),
                };
                let mean = members.iter().map(|id| cost(id)).sum::<f64>() / members.len().max(1) as f64;
                let mut before = 0.0;
                for (count, &to) in plan.planned_counts(n).into_iter().zip(&b.rungs) {
                    let through = members.iter().filter(|id| reached.get(*id).is_some_and(|&e| e >= to)).count();
                    rem += count.saturating_sub(through) as f64 * (to - before) * mean;
                    before = to;
                }
            }
            rem
        } else {
            let left: f64 = trials
                .iter()
                .filter(|(_, t)| !t.status.is_final())
                .map(|(_, t)| {
                    let planned = configs.get(t.id.as_str()).map_or(0.0, |c| c.epochs as f64);
                    (planned - t.epochs_run).max(0.0) * cost(&t.id)
                })
                .sum();
            // TPE's trials not proposed yet: each the average recorded one, trained to its epochs.
            let unproposed = plan.bracket_size(0).saturating_sub(trials.len());
            let recorded: Vec<f64> = sweep.rows.iter().map(|r| r.config.epochs as f64 * cost(&r.id)).collect();
            let mean = recorded.iter().sum::<f64>() / recorded.len().max(1) as f64;
            left + if plan.batches.is_some() { unproposed as f64 * mean } else { 0.0 }
        };
        Some((remaining, measured))
    }
}

/// A trial's per-epoch history file, if it is there and inside the sweep.
pub fn read_epochs(dir: &Path, id: &str) -> Option<Vec<EpochRecord>> {
    let (path, _) = history_paths(dir, id);
    if !confined(dir, &path) {
        return None;
    }
    read_history::<EpochRecord>(&path).ok().flatten()
}

/// At most `max` of `points`: the first, the last, the best, the points at `keep` epochs and evenly spread others.
pub fn downsample(points: &[(f64, f64)], keep: &[f64], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max {
        return points.iter().map(|p| [p.0, p.1]).collect();
    }
    let best = points
        .iter()
        .enumerate()
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .map_or(0, |(i, _)| i);
    let step = points.len() as f64 / (max.saturating_sub(2).max(1)) as f64;
    let mut chosen: Vec<usize> = (0..max.saturating_sub(2)).map(|k| (k as f64 * step) as usize).collect();
    chosen.extend([0, points.len() - 1, best]);
    chosen.extend(
        points
            .iter()
            .enumerate()
            .filter(|(_, p)| keep.iter().any(|&e| (p.0 - e).abs() < 1e-9))
            .map(|(i, _)| i),
    );
    chosen.sort_unstable();
    chosen.dedup();
    chosen
        .into_iter()
        .filter(|&i| i < points.len())
        .map(|i| [points[i].0, points[i].1])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_ends_the_best_and_the_rungs() {
        let pts: Vec<(f64, f64)> = (1..=200).map(|e| (e as f64, if e == 77 { 2.0 } else { 1.0 / e as f64 })).collect();
        let d = downsample(&pts, &[50.0, 133.0], 20);
        assert!(d.len() <= 20 + 4, "{}", d.len());
        for e in [1.0, 200.0, 77.0, 50.0, 133.0] {
            assert!(d.iter().any(|p| p[0] == e), "epoch {e} kept");
        }
        assert!(d.windows(2).all(|w| w[0][0] < w[1][0]), "in order");
        assert_eq!(downsample(&pts[..5], &[], 20).len(), 5);
    }
}
