//! How a sweep chooses its configurations and how long each one trains: the grid file's `[search]` table, as a
//! **sampler** (what to try: [`sampler`]) and a **fidelity scheduler** (when to stop: [`fidelity`]), as Optuna
//! separates samplers from pruners.
//!
//! * Samplers: `grid` (every combination, the default), `random`, `sobol` (`samples` draws before the sweep runs),
//!   `tpe` (proposed in batches from the trials recorded before).
//! * Schedulers: `none` (each job to its epochs), `halving` (synchronous successive halving), `hyperband` (Li et al.'s
//!   brackets), `asha` (asynchronous successive halving).
//! * `method` names a usual pair: grid, random and sobol with no early stopping; halving, hyperband and asha over the
//!   grid's product or `samples` draws of `sampler`; tpe with halving (`min_epochs` for rungs). `sampler` and
//!   `scheduler` set either part where `method` leaves it open, so any pair can be written (`method = "tpe"`,
//!   `scheduler = "asha"`; `method = "sobol"`, `scheduler = "hyperband"`).
//!
//! [`SAMPLERS`] and [`SCHEDULERS`] are the one place a name becomes an implementation; [`SETTINGS`] is the one list of
//! the table's keys; [`Schedule`] is what the runner, `sweep plan` and the report read. Nothing outside this module
//! asks which method a sweep uses: it asks the search what it does.

pub mod decide;
pub mod fidelity;
pub mod pareto;
mod sample;
pub mod sampler;
mod schedule;
pub mod tpe;
pub mod work;

pub use fidelity::Fidelity;
pub use sample::sample_configs;
pub use sampler::Sampler;
pub use schedule::{round12, survivors_count, Bracket, Schedule};

use toml::{Spanned, Value};

use sweep_params::Axis;
use sweep_params::GridError;

/// Every sampler, by name: a new one is a file in `sampler/` and a line here.
pub const SAMPLERS: [&dyn Sampler; 5] = [
    &sampler::grid::Grid,
    &sampler::random::Random,
    &sampler::sobol::Sobol,
    &sampler::tpe::Tpe,
    &sampler::mtpe::MultiTpe,
];

/// Every fidelity scheduler, by name: a new one is a file in `fidelity/` and a line here.
pub const SCHEDULERS: [&dyn Fidelity; 4] = [
    &fidelity::none::NoStop,
    &fidelity::halving::Halving,
    &fidelity::hyperband::Hyperband,
    &fidelity::asha::Asha,
];

/// The `method` shorthands: (name, sampler, scheduler). A sampler of `None` is left to the `sampler` key (random by
/// default; the grid's product when no `samples` are given); a written sampler fixes it (the `sampler` key is then
/// refused), and the scheduler is the default that the `scheduler` key may replace unless the method is a scheduler.
const METHODS: [(&str, Option<&str>, &str); 7] = [
    ("grid", Some("grid"), "none"),
    ("random", Some("random"), "none"),
    ("sobol", Some("sobol"), "none"),
    ("halving", None, "halving"),
    ("hyperband", None, "hyperband"),
    ("asha", None, "asha"),
    ("tpe", Some("tpe"), "halving"),
];

/// The keys of `[search]`, with what they take (the one list; messages and the reference read it).
pub const SETTINGS: [(&str, &str); 13] = [
    (
        "method",
        "\"grid\" (default without `budget`), \"random\", \"sobol\", \"halving\", \"asha\", \"hyperband\" or \"tpe\": a \
         sampler and a scheduler in one word",
    ),
    (
        "budget",
        "epochs to spend in all (summed over every trial and rung, on the scale of [train] epochs): without `method`, \
         `sampler` or `scheduler` it runs the default search (multivariate TPE, `mtpe`, in batches of 9 through halving \
         from a first rung of [train] epochs / 16), proposing as many trials as fit; with \
         one it sets `samples` so the planned epochs stay within it (not with asha, whose promotions are not known \
         before)",
    ),
    (
        "sampler",
        "what to try: one of the samplers (SAMPLERS; halving, asha and hyperband draw `samples` with \"random\" by \
         default)",
    ),
    (
        "scheduler",
        "when to stop: one of the schedulers (SCHEDULERS; default: the method's, tpe's halving)",
    ),
    (
        "samples",
        "how many configurations to draw or propose (random, sobol, tpe; optional for halving and hyperband)",
    ),
    (
        "batch",
        "tpe: configurations proposed at a time, each batch from every trial recorded before it (default 8)",
    ),
    (
        "pipeline",
        "tpe/mtpe: batches in flight at once (default 1): batch b is proposed once batch b - pipeline is recorded, from \
         the batches up to it, so more workers have work; the trials still depend on the grid alone",
    ),
    (
        "asynchronous",
        "tpe/mtpe (and the default search): true proposes one configuration whenever a worker is free, from every \
         trial recorded so far (the ones still running counted as bad), and promotes with asha, so no worker waits for \
         a batch or a rung; with budget = N, each unit starts only if the epochs started so far plus its own stay \
         within N. The proposals and promotions depend on the order results arrive: each is recorded before it \
         starts, so a resumed sweep builds and carries out the same ones (default false)",
    ),
    (
        "eta",
        "halving/asha/hyperband/tpe: keep the best 1/eta of each rung (integer >= 2, default 3)",
    ),
    (
        "min_epochs",
        "halving/asha/hyperband/tpe: epochs of the first rung, fractional ones (0.1) ending mid-epoch (default 1; tpe: \
         no rungs); the last rung is [train] epochs",
    ),
    (
        "finalists",
        "tpe: after the last batch, the best this many trials (by validation) train again from the start, with seeds \
         of their own, for final_epochs (default 0: none)",
    ),
    (
        "final_epochs",
        "tpe with finalists: how long the finalists train (more than [train] epochs)",
    ),
    (
        "state_limit_gb",
        "halving/asha/hyperband/tpe: disk for saved training states (default 2); beyond it survivors retrain",
    ),
];

/// The checked `[search]` table: a sampler and a fidelity scheduler, and their settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The `method` written, if any (a shorthand for the pair).
    pub method: Option<&'static str>,
    /// The sampler's name, one of [`SAMPLERS`].
    pub sampler: &'static str,
    /// The scheduler's name, one of [`SCHEDULERS`].
    pub scheduler: &'static str,
    /// `samples` must be given (the method or the sampler key draws or proposes).
    pub samples_required: bool,
    /// Configurations to draw; `None`: the grid's product (or Hyperband's own counts).
    pub samples: Option<usize>,
    pub eta: usize,
    pub min_epochs: f64,
    /// `min_epochs` was written (TPE without it trains every configuration to the end: no rungs).
    pub min_epochs_given: bool,
    /// TPE: configurations proposed at a time.
    pub batch: usize,
    /// TPE: how many of the best trials train again, for `final_epochs`, after the last batch (0: none).
    pub finalists: usize,
    /// TPE: the finalists' epochs (checked to be more than `[train] epochs` when there are finalists).
    pub final_epochs: usize,
    /// Bytes of saved training states kept at most (halving/hyperband).
    pub state_limit: u64,
    /// TPE: batches in flight at once (1: each batch waits for every earlier one).
    pub pipeline: usize,
    /// `budget`: epochs to spend in all; `samples` is fitted to it by [`Search::fit_budget`].
    pub budget: Option<usize>,
    /// The default search (`budget` without `method`, `sampler` or `scheduler`).
    pub is_default: bool,
    /// `asynchronous = true`: an adaptive sampler proposes one configuration per free worker, promoted by asha.
    pub asynchronous: bool,
}

/// The default search (`[search] budget = N` alone), chosen on the LCBench benchmark (bench/yahpo, BENCHMARKS.md):
/// multivariate TPE proposing `DEFAULT_BATCH` trials at a time, each batch through synchronous successive halving with
/// eta 3 from a first rung of [`default_min_epochs`].
pub const DEFAULT_SAMPLER: &str = "mtpe";
pub const DEFAULT_SCHEDULER: &str = "halving";
pub const DEFAULT_BATCH: usize = 9;

/// The default search's first rung for jobs of `max` epochs: `max / 16` (rounded to whole epochs, at least 1), so the
/// first rung is past the first epochs, whose ranking says little of the last (on LCBench the first epoch's is
/// uncorrelated with the final one), and the ladder has three or four rungs.
pub fn default_min_epochs(max: usize) -> f64 {
    ((max as f64 / 16.0).round()).max(1.0)
}

impl Default for Search {
    fn default() -> Self {
        Search {
            method: None,
            sampler: "grid",
            scheduler: "none",
            samples_required: false,
            samples: None,
            eta: 3,
            min_epochs: 1.0,
            min_epochs_given: false,
            batch: 8,
            finalists: 0,
            final_epochs: 0,
            state_limit: 2_000_000_000,
            pipeline: 1,
            budget: None,
            is_default: false,
            asynchronous: false,
        }
    }
}

/// Most samples: the Sobol sequence's length in `sobol_burley`.
pub const MAX_SAMPLES: usize = 1 << 16;

/// Most rungs of a ladder: 20 rungs at eta = 2 already span a factor of half a million from the first rung to the
/// last; more come only from a `min_epochs` far below one optimizer step, and Hyperband's bracket counts grow as
/// eta^rungs.
pub const MAX_RUNGS: usize = 20;

/// `x` rounded up to two significant digits (a bound a message can suggest).
fn up2(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let p = 10f64.powi(x.log10().floor() as i32 - 1);
    schedule::round12((x / p).ceil() * p)
}

type ErrAt<'a> = &'a dyn Fn(usize, &str, String) -> GridError;

fn int_at(err: ErrAt, key: &str, v: &Spanned<Value>, min: i64, max: i64) -> Result<usize, GridError> {
    match v.get_ref() {
        Value::Integer(i) if (min..=max).contains(i) => Ok(*i as usize),
        other => Err(err(
            v.span().start,
            key,
            format!("expected an integer from {min} to {max}, found {other}"),
        )),
    }
}

fn names<T: ?Sized>(list: &[&T], name: impl Fn(&T) -> &'static str) -> String {
    let quoted: Vec<String> = list.iter().map(|x| format!("\"{}\"", name(x))).collect();
    quoted.join(", ")
}

impl Search {
    /// The sampler: what to try.
    pub fn sampler(&self) -> &'static dyn Sampler {
        SAMPLERS.into_iter().find(|s| s.name() == self.sampler).unwrap_or(SAMPLERS[0])
    }

    /// The fidelity scheduler: when to stop.
    pub fn fidelity(&self) -> &'static dyn Fidelity {
        SCHEDULERS.into_iter().find(|s| s.name() == self.scheduler).unwrap_or(SCHEDULERS[0])
    }

    /// The search's name: the method that names its pair (`"halving"`, `"tpe"`), else `sampler+scheduler`. It is in
    /// the sweep's fingerprint and shown by the report and the dashboard.
    pub fn name(&self) -> String {
        let is_static = !self.is_adaptive();
        METHODS
            .iter()
            .find(|(_, s, f)| *f == self.scheduler && s.map_or(is_static, |s| s == self.sampler))
            .map_or_else(|| format!("{}+{}", self.sampler, self.scheduler), |(m, _, _)| m.to_string())
    }

    /// Whether configurations are proposed as trials are recorded (in batches), not known before the sweep runs.
    pub fn is_adaptive(&self) -> bool {
        self.sampler().is_adaptive()
    }

    /// Whether the work is decided as the sweep runs (rungs, or proposals): jobs may stop early and be promoted,
    /// shards share every job through the claims instead of each taking a fixed part, and the rows depend on the
    /// whole job set.
    pub fn is_multi_fidelity(&self) -> bool {
        self.fidelity().stops_early() || self.is_adaptive()
    }

    /// The epochs of the rungs for jobs of `max` epochs (empty when nothing stops early).
    pub fn ladder(&self, max: usize) -> Vec<f64> {
        self.fidelity().ladder(self, max)
    }

    /// An adaptive sampler's batch sizes, `batch` at a time up to `samples` (`None`: its jobs are known before).
    pub fn batches(&self) -> Option<Vec<usize>> {
        if !self.is_adaptive() {
            return None;
        }
        if self.asynchronous {
            // One bracket of asha over every proposal.
            return Some(vec![self.samples.unwrap_or(0)]);
        }
        let (samples, batch) = (self.samples.unwrap_or(0), self.batch.max(1));
        Some((0..samples.div_ceil(batch)).map(|i| batch.min(samples - i * batch)).collect())
    }

    /// The epochs a search of `samples` configurations is planned to spend on jobs of `max_epochs`: every bracket's
    /// planned jobs per rung ([`Search::planned_counts`]) times the epochs each trains in that rung (promoted jobs
    /// continue from their last rung). For an adaptive sampler, its batches one after another.
    pub fn planned_epochs(&self, samples: usize, max_epochs: usize) -> f64 {
        let ladder = self.ladder(max_epochs);
        let sizes = match self.is_adaptive() {
            true => Search {
                samples: Some(samples),
                ..self.clone()
            }
            .batches()
            .unwrap_or_default(),
            false => vec![samples],
        };
        let mut total = 0.0;
        for (i, n) in sizes.into_iter().enumerate() {
            for bracket in self.fidelity().brackets(self, (0..n).collect(), &ladder, 0, i) {
                let counts = self.planned_counts(&bracket);
                let rungs = match bracket.rungs.is_empty() {
                    true => vec![max_epochs as f64],
                    false => bracket.rungs.clone(),
                };
                let mut before = 0.0;
                for (c, r) in counts.iter().zip(&rungs) {
                    total += *c as f64 * (r - before);
                    before = *r;
                }
            }
        }
        total
    }

    /// With `budget`: the default search's first rung (unless written), and `samples` = the most configurations
    /// whose planned epochs ([`Search::planned_epochs`]) stay within the budget, and at most the `distinct`
    /// configurations a space of lists has (`None`: a range, so no limit). An error (for `search.budget`) when not
    /// even one configuration fits.
    pub fn fit_budget(&mut self, max_epochs: usize, distinct: Option<usize>) -> Result<(), String> {
        let Some(budget) = self.budget else { return Ok(()) };
        if self.is_default && !self.min_epochs_given {
            self.min_epochs = default_min_epochs(max_epochs);
            self.min_epochs_given = true;
        }
        if self.asynchronous {
            // Kept at run time: a unit starts only if it fits. At most the trials whose first rung fits.
            let first = self.ladder(max_epochs).first().copied().unwrap_or(max_epochs as f64);
            if first > budget as f64 {
                return Err(format!(
                    "budget = {budget} epochs is less than one configuration's first rung ({} epochs); raise budget or \
                     lower min_epochs",
                    first
                ));
            }
            // ASHA takes a trial to the last rung once eta^(rungs - 1) trials reached the first: the budget must
            // cover that much.
            let ladder = self.ladder(max_epochs);
            let mut n = (self.eta as f64).powi(ladder.len() as i32 - 1);
            let (mut need, mut before) = (0.0, 0.0);
            for r in &ladder {
                need += n * (r - before);
                before = *r;
                n = (n / self.eta as f64).floor().max(1.0);
            }
            if need > budget as f64 {
                return Err(format!(
                    "budget = {budget} epochs cannot take one trial to the last rung: asynchronous halving over rungs \
                     of {} epochs (eta {}) needs {} trials at the first rung for one to go on to the last, {} epochs; \
                     raise budget, or min_epochs (fewer rungs)",
                    ladder.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "),
                    self.eta,
                    (self.eta as f64).powi(ladder.len() as i32 - 1),
                    need.ceil()
                ));
            }
            let most = ((budget as f64 / first).floor() as usize).clamp(1, MAX_SAMPLES);
            self.samples = Some(distinct.map_or(most, |d| d.clamp(1, most)));
            return Ok(());
        }
        let fits = |n: usize| self.planned_epochs(n, max_epochs) <= budget as f64;
        if !fits(1) {
            return Err(format!(
                "budget = {budget} epochs is less than one configuration costs ({} epochs of [train] epochs = \
                 {max_epochs}); raise budget or lower [train] epochs",
                self.planned_epochs(1, max_epochs)
            ));
        }
        // The planned epochs grow with the samples: the largest that fits, by bisection.
        let (mut lo, mut hi) = (1usize, distinct.unwrap_or(MAX_SAMPLES).clamp(1, MAX_SAMPLES));
        if fits(hi) {
            lo = hi;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.samples = Some(lo);
        Ok(())
    }

    /// Reads `[search]` (keys and values; how they fit the grid is checked by [`Search::check_grid`]).
    pub fn parse(
        table: &std::collections::BTreeMap<Spanned<String>, Spanned<Value>>,
        err: ErrAt,
        suggest: &dyn Fn(&str, &[&str]) -> String,
    ) -> Result<Search, GridError> {
        let mut s = Search::default();
        let mut method = None;
        let mut sampler_set = None;
        let mut scheduler_set = None;
        let mut samples_set = None;
        let mut batch_set = None;
        let mut finals_set = None;
        let mut budget_set = None;
        let mut pipeline_set = None;
        let mut async_set = None;
        for (k, v) in table {
            let name = k.get_ref().as_str();
            let key = format!("search.{name}");
            let text = |v: &Spanned<Value>| match v.get_ref() {
                Value::String(t) => Some(t.clone()),
                _ => None,
            };
            match name {
                "method" => {
                    let t = text(v).unwrap_or_default();
                    let m = METHODS.iter().find(|(n, _, _)| *n == t).ok_or_else(|| {
                        err(
                            v.span().start,
                            &key,
                            format!("expected one of {}, found {}", SETTINGS[0].1, v.get_ref()),
                        )
                    })?;
                    method = Some(*m);
                }
                "sampler" => {
                    let t = text(v).unwrap_or_default();
                    let found = SAMPLERS.into_iter().find(|x| x.name() == t).ok_or_else(|| {
                        err(
                            v.span().start,
                            &key,
                            format!("expected one of {}, found {}", names(&SAMPLERS, |x| x.name()), v.get_ref()),
                        )
                    })?;
                    sampler_set = Some((v.span().start, found.name()));
                }
                "scheduler" => {
                    let t = text(v).unwrap_or_default();
                    let found = SCHEDULERS.into_iter().find(|x| x.name() == t).ok_or_else(|| {
                        err(
                            v.span().start,
                            &key,
                            format!("expected one of {}, found {}", names(&SCHEDULERS, |x| x.name()), v.get_ref()),
                        )
                    })?;
                    scheduler_set = Some((v.span().start, found.name()));
                }
                "samples" => {
                    s.samples = Some(int_at(err, &key, v, 1, MAX_SAMPLES as i64)?);
                    samples_set = Some(v.span().start);
                }
                "batch" => {
                    s.batch = int_at(err, &key, v, 1, MAX_SAMPLES as i64)?;
                    batch_set = Some(v.span().start);
                }
                "finalists" => {
                    s.finalists = int_at(err, &key, v, 0, 1000)?;
                    finals_set = finals_set.or(Some((v.span().start, key.clone())));
                }
                "final_epochs" => {
                    s.final_epochs = int_at(err, &key, v, 1, 1_000_000)?;
                    finals_set = finals_set.or(Some((v.span().start, key.clone())));
                }
                "eta" => s.eta = int_at(err, &key, v, 2, 100)?,
                "pipeline" => {
                    s.pipeline = int_at(err, &key, v, 1, 64)?;
                    pipeline_set = Some(v.span().start);
                }
                "asynchronous" => {
                    s.asynchronous = match v.get_ref() {
                        Value::Boolean(b) => *b,
                        other => return Err(err(v.span().start, &key, format!("expected true or false, found {other}"))),
                    };
                    async_set = Some(v.span().start);
                }
                "budget" => {
                    s.budget = Some(int_at(err, &key, v, 1, 1_000_000_000)?);
                    budget_set = Some(v.span().start);
                }
                "min_epochs" => {
                    let e = match v.get_ref() {
                        Value::Integer(i) => *i as f64,
                        Value::Float(f) => *f,
                        other => return Err(err(v.span().start, &key, format!("expected a number of epochs, found {other}"))),
                    };
                    if !(e.is_finite() && e > 0.0 && e <= 1e6) {
                        return Err(err(
                            v.span().start,
                            &key,
                            format!("must be a number of epochs > 0 (fractional, such as 0.1, ends mid-epoch), found {e}"),
                        ));
                    }
                    s.min_epochs = schedule::round12(e);
                    s.min_epochs_given = true;
                }
                "state_limit_gb" => {
                    let gb = match v.get_ref() {
                        Value::Integer(i) => *i as f64,
                        Value::Float(f) => *f,
                        other => return Err(err(v.span().start, &key, format!("expected a number of gigabytes, found {other}"))),
                    };
                    if !(gb >= 0.0 && gb.is_finite()) {
                        return Err(err(v.span().start, &key, format!("must be a size >= 0 in GB, found {gb}")));
                    }
                    s.state_limit = (gb * 1e9) as u64;
                }
                other => {
                    let keys: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
                    return Err(err(k.span().start, &key, suggest(other, &keys)));
                }
            }
        }
        if budget_set.is_some() && method.is_none() && sampler_set.is_none() && scheduler_set.is_none() {
            // The default search: its pair, and its batch unless written.
            s.is_default = true;
            sampler_set = Some((0, DEFAULT_SAMPLER));
            scheduler_set = Some((0, DEFAULT_SCHEDULER));
            if batch_set.is_none() {
                s.batch = DEFAULT_BATCH;
            }
        }
        if s.asynchronous && method.is_none() && scheduler_set.is_none_or(|(at, _)| at == 0 && s.is_default) {
            // Asynchronous proposals are promoted asynchronously.
            scheduler_set = Some((0, "asha"));
        }
        if s.asynchronous && method.is_none() && sampler_set.is_none() {
            // Proposals need an adaptive sampler: the default's.
            sampler_set = Some((0, DEFAULT_SAMPLER));
        }
        s.resolve(method, sampler_set, scheduler_set, err)?;
        if let (Some(at), true) = (async_set, s.asynchronous) {
            let why = if !s.is_adaptive() {
                Some(format!(
                    "method \"{}\" knows its configurations before it runs; asynchronous proposals need sampler \"tpe\" \
                     or \"mtpe\" (or budget alone, the default search)",
                    s.name()
                ))
            } else if s.scheduler != "asha" {
                Some(format!(
                    "asynchronous proposals are promoted by asha as results arrive, not by \"{}\": drop scheduler (or \
                     method) or set scheduler = \"asha\"",
                    s.scheduler
                ))
            } else if let Some(b) = batch_set {
                return Err(err(
                    b,
                    "search.batch",
                    "an asynchronous search proposes one configuration per free worker, not batches: remove batch".into(),
                ));
            } else if let Some(p) = pipeline_set {
                return Err(err(
                    p,
                    "search.pipeline",
                    "an asynchronous search has no batches to pipeline: remove pipeline".into(),
                ));
            } else if let Some((f, key)) = &finals_set {
                return Err(err(
                    *f,
                    key,
                    "an asynchronous search has no last batch for finalists to follow: remove finalists and \
                     final_epochs (or asynchronous)"
                        .into(),
                ));
            } else {
                None
            };
            if let Some(why) = why {
                return Err(err(at, "search.asynchronous", why));
            }
        }
        if let Some(at) = budget_set {
            if let Some(at_samples) = samples_set {
                return Err(err(
                    at_samples.max(at),
                    "search.samples",
                    "give samples or budget, not both: with budget = N the search proposes as many trials as fit in N \
                     epochs"
                        .into(),
                ));
            }
            let why = match (s.sampler, s.scheduler) {
                ("grid", _) => Some("the grid tries every combination of the axes' values, whatever the budget"),
                (_, "asha") if !s.asynchronous => Some("asha promotes as results arrive, so the epochs it spends are not known before"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(err(
                    at,
                    "search.budget",
                    format!(
                        "method \"{}\" cannot be fitted to a budget: {why}; set samples = N instead{}",
                        s.name(),
                        match s.scheduler == "asha" && s.is_adaptive() {
                            true => ", or asynchronous = true (each unit then starts only if it fits in the budget)",
                            false => "",
                        }
                    ),
                ));
            }
            s.samples_required = false;
        }
        if let (Some(at), "grid") = (samples_set, s.sampler) {
            return Err(err(
                at,
                "search.samples",
                "the grid tries every combination of the axes' values, so samples has no effect: draw configurations \
                 with method = \"random\" or \"sobol\" (or a sampler), or remove samples"
                    .into(),
            ));
        }
        let what = s.name();
        if let (Some(at), false) = (batch_set, s.is_adaptive()) {
            return Err(err(
                at,
                "search.batch",
                format!("only tpe proposes configurations in batches; method \"{what}\" knows its jobs before it runs"),
            ));
        }
        if let (Some(at), false) = (pipeline_set, s.is_adaptive()) {
            return Err(err(
                at,
                "search.pipeline",
                format!("only tpe and mtpe propose in batches; method \"{what}\" knows its jobs before it runs"),
            ));
        }
        if let (Some((at, key)), false) = (&finals_set, s.is_adaptive()) {
            return Err(err(
                *at,
                key,
                format!(
                    "only tpe has finalists (its best trials trained again after the last batch), not method \"{what}\"; \
                     for longer jobs raise [train] epochs"
                ),
            ));
        }
        if let (Some((at, _)), true) = (&finals_set, s.finalists > 0 && !matches!(s.scheduler, "none" | "halving")) {
            return Err(err(
                *at,
                "search.finalists",
                format!(
                    "finalists follow the last batch of a synchronous search: use scheduler \"halving\" or \"none\", \
                     not \"{}\"",
                    s.scheduler
                ),
            ));
        }
        if let (Some((at, _)), true) = (&finals_set, s.finalists > 0 && s.final_epochs == 0) {
            return Err(err(
                *at,
                "search.final_epochs",
                "missing: finalists need final_epochs = N, how long they train (more than [train] epochs)".into(),
            ));
        }
        if let (Some(samples), true) = (s.samples, s.finalists > 0) {
            if s.finalists > samples {
                let at = table
                    .iter()
                    .find(|(k, _)| k.get_ref() == "finalists")
                    .map_or(0, |(_, v)| v.span().start);
                return Err(err(
                    at,
                    "search.finalists",
                    format!(
                        "finalists = {} is more than samples = {samples}: the finalists are the best of the trials the \
                         search proposes, so there are at most samples of them",
                        s.finalists
                    ),
                ));
            }
        }
        if let (Some((at, _)), true) = (&finals_set, s.finalists == 0 && s.final_epochs > 0) {
            return Err(err(
                *at,
                "search.finalists",
                "missing: final_epochs has no effect without finalists = N, how many of the best trials train again".into(),
            ));
        }
        Ok(s)
    }

    /// Turns `method`, `sampler` and `scheduler` into the pair: the one place that reads the method's name.
    fn resolve(
        &mut self,
        method: Option<(&'static str, Option<&'static str>, &'static str)>,
        sampler_set: Option<(usize, &'static str)>,
        scheduler_set: Option<(usize, &'static str)>,
        err: ErrAt,
    ) -> Result<(), GridError> {
        self.method = method.map(|m| m.0);
        let fixed_scheduler = method.is_some_and(|(_, s, _)| s.is_none());
        if let (Some((at, _)), Some((m, Some(_), _))) = (sampler_set, method) {
            return Err(err(
                at,
                "search.sampler",
                format!(
                    "only halving, asha and hyperband take a sampler; method \"{m}\" says how it samples (use \
                     `sampler` with `scheduler` instead of `method` for another pair)"
                ),
            ));
        }
        if let (Some((at, _)), true) = (scheduler_set, fixed_scheduler) {
            return Err(err(
                at,
                "search.scheduler",
                format!(
                    "method \"{}\" is a scheduler already; write `sampler` and `scheduler` without `method`, or drop \
                     `scheduler`",
                    self.method.unwrap_or_default()
                ),
            ));
        }
        self.scheduler = scheduler_set.map(|s| s.1).or(method.map(|m| m.2)).unwrap_or("none");
        let method_sampler = method.and_then(|m| m.1);
        self.sampler = match (sampler_set, method_sampler) {
            (Some((_, s)), _) => s,
            (None, Some(s)) => s,
            // A scheduler over drawn configurations: random draws by default (the grid's product without samples).
            (None, None) if self.scheduler != "none" => "random",
            (None, None) => "grid",
        };
        self.samples_required = self.sampler != "grid" && (method_sampler.is_some() || (method.is_none() && sampler_set.is_some()));
        Ok(())
    }

    /// How many configurations are drawn from the axes, or `None` for the grid's product: `samples` if given;
    /// Hyperband's own counts when an axis is a continuous range and `samples` is not given.
    pub fn draws(&self, axes: &[Axis], max_epochs: usize) -> Option<usize> {
        self.draws_for(axes.iter().any(|a| a.range.is_some()), max_epochs)
    }

    /// [`Search::draws`] for axes of which some are continuous ranges (`continuous`).
    pub fn draws_for(&self, continuous: bool, max_epochs: usize) -> Option<usize> {
        if self.is_adaptive() {
            // Proposed while the sweep runs, from the trials recorded before.
            return Some(0);
        }
        if self.sampler == "grid" {
            return None;
        }
        match self.samples {
            Some(n) => Some(n),
            None if continuous => self.fidelity().default_samples(self, max_epochs),
            None => None,
        }
    }

    /// Checks the search against the grid's axes and fixed values; `at(key)` gives the offset of a key for messages.
    pub fn check_grid(&self, axes: &[Axis], epochs: usize, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        let shapes: Vec<(&str, bool)> = axes.iter().map(|a| (a.name(), a.range.is_some())).collect();
        self.check_axes(&shapes, epochs, err)
    }

    /// [`Search::check_grid`] for axes given as (name, is a continuous range): the built-in parameters' or a command
    /// sweep's free-form ones.
    pub fn check_axes(&self, axes: &[(&str, bool)], epochs: usize, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        if self.samples_required && self.samples.is_none() {
            return Err(err(
                "search.samples",
                match self.method {
                    Some(m) => format!("missing: method \"{m}\" needs samples = N"),
                    None => format!("missing: sampler \"{}\" needs samples = N", self.sampler),
                },
            ));
        }
        let continuous: Vec<&str> = axes.iter().filter(|a| a.1).map(|a| a.0).collect();
        if self.draws_for(!continuous.is_empty(), epochs).is_none() {
            if let Some(name) = continuous.first() {
                let how = if self.fidelity().stops_early() {
                    "or add `samples = N` to [search] to draw from the range"
                } else {
                    "or set [search] method = \"random\" or \"sobol\" with samples = N"
                };
                return Err(err(
                    &format!("grid.{name}.num"),
                    format!("missing: a grid needs a number of values, e.g. num = 4; {how}"),
                ));
            }
        }
        if self.finalists > 0 && self.final_epochs <= epochs {
            return Err(err(
                "search.final_epochs",
                format!(
                    "final_epochs = {} is not more than [train] epochs = {epochs}; the finalists train longer than the \
                     trials they were chosen from (a finalist is its trial's values with these epochs)",
                    self.final_epochs
                ),
            ));
        }
        if self.is_multi_fidelity() {
            if axes.iter().any(|a| a.0 == "epochs") {
                return Err(err(
                    "grid.epochs",
                    format!(
                        "{} decides how long each job trains: fix epochs in [train] (the last rung) and set \
                         [search] min_epochs (the first)",
                        self.name()
                    ),
                ));
            }
            if self.min_epochs > epochs as f64 {
                return Err(err(
                    "search.min_epochs",
                    format!(
                        "min_epochs = {} is more than [train] epochs = {epochs}; the first rung must not be longer than the last",
                        self.min_epochs
                    ),
                ));
            }
            let rungs = self.ladder(epochs).len();
            if rungs > MAX_RUNGS {
                // With min_epochs = epochs / eta^(MAX_RUNGS - 1) the ladder has exactly MAX_RUNGS rungs.
                let least = up2(epochs as f64 / (self.eta as f64).powi(MAX_RUNGS as i32 - 1));
                return Err(err(
                    "search.min_epochs",
                    format!(
                        "min_epochs = {} with eta = {} gives {rungs} rungs up to [train] epochs = {epochs}; a ladder has \
                         at most {MAX_RUNGS}: raise min_epochs to at least {least} (or raise eta)",
                        self.min_epochs, self.eta
                    ),
                ));
            }
            if self.scheduler == "hyperband" && self.draws_for(!continuous.is_empty(), epochs).is_some_and(|n| n > MAX_SAMPLES) {
                return Err(err(
                    "search.min_epochs",
                    format!(
                        "Hyperband's brackets over {rungs} rungs (min_epochs = {} to [train] epochs = {epochs}, eta = {}) \
                         start {} configurations; at most {MAX_SAMPLES} are drawn: give samples = N, or fewer rungs \
                         (a larger min_epochs)",
                        self.min_epochs,
                        self.eta,
                        fidelity::hyperband::total(self.eta, rungs - 1)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks `samples` against a space of `distinct` configurations (`None`: an axis is a continuous range, so the
    /// draws never run out): asking for more than there are would quietly give fewer jobs than written.
    pub fn check_space(&self, distinct: Option<usize>, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        match (self.samples, distinct) {
            (Some(samples), Some(distinct)) if self.sampler != "grid" && samples > distinct => Err(err(
                "search.samples",
                format!(
                    "samples = {samples} is more than the {distinct} distinct configurations the axes' lists give: \
                     use samples = {distinct} or fewer, or method = \"grid\" to try every one (or a range, \
                     {{ log = [lo, hi] }}, to draw from)"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// How many of a rung's `n` jobs the scheduler promises to promote (halving and Hyperband: `ceil(n / eta)`; ASHA:
    /// at least `floor(n / eta)`, more as the order of arrivals allows).
    pub fn survivors(&self, n: usize) -> usize {
        self.fidelity().survivors(n, self.eta)
    }

    /// The jobs `bracket` is planned to have in each rung, by the scheduler's own rule ([`Search::survivors`]): what
    /// `sweep plan` shows is what the run does.
    pub fn planned_counts(&self, bracket: &Bracket) -> Vec<usize> {
        let mut n = bracket.jobs.len();
        (0..bracket.rung_count())
            .map(|r| {
                if r > 0 {
                    n = self.survivors(n);
                }
                n
            })
            .collect()
    }

    /// Checks that a sweep of `jobs` jobs (an adaptive sampler's: each batch) can fill every rung of its ladder: ASHA
    /// promotes only `floor(n / eta)` of a rung's n jobs, so a small grid over many rungs would never reach the last
    /// one (and no job would complete).
    pub fn check_jobs(&self, jobs: usize, epochs: usize, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        if !self.fidelity().stops_early() {
            return Ok(());
        }
        let ladder = self.ladder(epochs);
        if ladder.len() < 2 {
            return Ok(());
        }
        let sizes = self.batches().unwrap_or_else(|| vec![jobs]);
        for n in sizes {
            let bracket = Bracket {
                jobs: (0..n).collect(),
                rungs: ladder.clone(),
            };
            let counts = self.planned_counts(&bracket);
            if n > 0 && counts.last() == Some(&0) {
                let need = (self.eta as f64).powi(ladder.len() as i32 - 1);
                let show = |xs: Vec<String>| xs.join(", ");
                return Err(err(
                    "search.min_epochs",
                    format!(
                        "{} promotes the best floor(n / eta) of the n jobs recorded at a rung: {n} {} with eta = {} \
                         over rungs of {} epochs give {} jobs, so no job would reach the last rung; use fewer rungs \
                         (a larger min_epochs), a smaller eta, or at least {need} jobs",
                        self.scheduler,
                        if self.is_adaptive() { "jobs in a batch" } else { "jobs" },
                        self.eta,
                        show(ladder.iter().map(|r| r.to_string()).collect()),
                        show(counts.iter().map(|c| c.to_string()).collect()),
                    ),
                ));
            }
        }
        Ok(())
    }
}
