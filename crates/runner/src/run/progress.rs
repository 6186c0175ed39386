//! What a running sweep shows: on a terminal, a bar of the work done (epochs weighted by the cost model) with an ETA
//! and a bar per running job, and one line per finished job printed above the bars (as cargo does); off a terminal,
//! the same lines as log lines. The ETA is [`sweep_results::progress::eta`], the rule the dashboard uses too: the
//! work left (the cost model's, for every unit still to run, including the rungs planned after the current one) at
//! the rate measured over this run's units from their starts, shown once it rests on enough finished work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sweep_results::progress::{eta, Measured};

use super::trial::Unit;

/// The bars and lines of one run.
pub struct Progress {
    enabled: bool,
    multi: MultiProgress,
    main: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// Work done since the start (relative units of the cost model), and the work left at the last poll with the
    /// work done then.
    done: AtomicU64,
    left: Mutex<(u64, u64)>,
    /// The units running, with when each started, and the seconds the units that ended ran: the time the work done
    /// took.
    units: Mutex<(HashMap<String, Instant>, f64)>,
}

impl Progress {
    /// Bars drawn when `enabled` (stderr is a terminal); lines logged otherwise.
    pub fn new(enabled: bool) -> Progress {
        let multi = MultiProgress::with_draw_target(if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let main = multi.add(ProgressBar::new(1));
        main.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}, {prefix}").expect("valid template"));
        if enabled {
            main.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            enabled,
            multi,
            main,
            bars: Mutex::new(HashMap::new()),
            done: AtomicU64::new(0),
            left: Mutex::new((0, 0)),
            units: Mutex::new((HashMap::new(), 0.0)),
        }
    }

    /// One line about a finished unit: above the bars on a terminal, a log line otherwise.
    pub fn line(&self, text: String) {
        if self.enabled {
            let _ = self.multi.println(text);
        } else {
            tracing::info!("{text}");
        }
    }

    /// A unit starts at `epochs`.
    pub fn started(&self, unit: &Unit, epochs: f64) {
        self.units
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .insert(unit.key(), Instant::now());
        if !self.enabled {
            return;
        }
        // Hundredths of an epoch: budgets may end mid-epoch.
        let bar = self.multi.add(ProgressBar::new((unit.to * 100.0).round() as u64));
        bar.set_style(ProgressStyle::with_template("  {prefix} {bar:16} {msg}").expect("valid template"));
        bar.set_prefix(format!("{} ({})", unit.job.id, unit.job.describe()));
        bar.set_position((epochs * 100.0).round() as u64);
        bar.set_message(format!("epoch {epochs}/{}", unit.to));
        self.bars.lock().unwrap_or_else(|p| p.into_inner()).insert(unit.key(), bar);
    }

    /// A unit evaluated a point after `epoch` epochs; `work` is the work done since its last point.
    pub fn point(&self, unit: &Unit, epoch: f64, shown: Option<String>, work: u64) {
        self.done.fetch_add(work, Ordering::Relaxed);
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(&unit.key()) {
            bar.set_position((epoch * 100.0).round() as u64);
            let shown = shown.map_or(String::new(), |s| format!(", {s}"));
            bar.set_message(format!("epoch {epoch}/{}{shown}", unit.to));
        }
        self.draw_work();
    }

    /// A unit ended: its bar goes.
    pub fn ended(&self, unit: &Unit) {
        {
            let mut units = self.units.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = units.0.remove(&unit.key()) {
                units.1 += at.elapsed().as_secs_f64();
            }
        }
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(&unit.key()) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// The work left (everything not yet done, as the scheduler planned it just now) and the status message.
    pub fn status(&self, work_left: u64, message: String) {
        *self.left.lock().unwrap_or_else(|p| p.into_inner()) = (work_left, self.done.load(Ordering::Relaxed));
        self.main.set_message(message);
        self.draw_work();
    }

    /// The estimated time left, by the rule of [`sweep_results::progress::eta`] (the dashboard's too).
    pub fn eta(&self) -> Option<Duration> {
        let done = self.done.load(Ordering::Relaxed);
        let (left, done_then) = *self.left.lock().unwrap_or_else(|p| p.into_inner());
        let units = self.units.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = units.1 + units.0.values().map(|at| at.elapsed().as_secs_f64()).sum::<f64>();
        let measured = Measured {
            work: done as f64,
            seconds,
        };
        let left_now = left.saturating_sub(done - done_then) as f64;
        eta(measured, left_now, units.0.len()).map(Duration::from_secs_f64)
    }

    fn draw_work(&self) {
        if !self.enabled {
            return;
        }
        let done = self.done.load(Ordering::Relaxed);
        let (left, done_then) = *self.left.lock().unwrap_or_else(|p| p.into_inner());
        let left_now = left.saturating_sub(done - done_then);
        self.main.set_length((done + left_now).max(1));
        self.main.set_position(done);
        let eta = self.eta().map_or("ETA: not known yet".into(), |d| {
            format!("ETA ~{}", sweep_params::text::duration(d.as_secs_f64()))
        });
        self.main.set_prefix(eta);
    }

    /// Clears the bars.
    pub fn finish(&self) {
        for (_, bar) in self.bars.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            bar.finish_and_clear();
        }
        self.main.finish_and_clear();
    }
}
