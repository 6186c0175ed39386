//! How a sweep chooses its configurations and how long each one trains: the grid file's `[search]` table.
//!
//! * `method = "grid"` (the default): every combination of the axes, each trained for its `epochs`.
//! * `"random"` / `"sobol"`: `samples` configurations drawn from the axes: a list uniformly, `{ log = [a, b] }`
//!   log-uniformly and `{ linear = [a, b] }` uniformly (continuous for real parameters, whole numbers for integer
//!   ones). Random draws come from the sweep seed; Sobol points are the Owen-scrambled sequence of the
//!   `sobol_burley` crate, scrambled by the sweep seed. The same file gives the same jobs.
//! * `"halving"`: synchronous successive halving over the jobs (the grid's, or `samples` drawn by `sampler`).
//!   Rung r < s trains the survivors to `min_epochs * eta^r` epochs and the last rung, r = s, to `[train] epochs`,
//!   where s = floor(log_eta(epochs / min_epochs)) (Li et al.'s s_max: 1, 3, 10 for eta 3 from 1 to 10); the best
//!   `ceil(n / eta)` of a rung's n jobs by validation accuracy (the best reached so far) go on, ties to the lower
//!   job index, diverged and failed jobs never. Promoted jobs continue from their saved training state.
//! * `"hyperband"`: the brackets of Li et al. (JMLR 2018): bracket s (s = s_max..0) starts
//!   `ceil((s_max + 1) / (s + 1) * eta^s)` configurations at the ladder's rung s_max - s, each bracket a successive
//!   halving; grid jobs are dealt to the brackets in those proportions by a seeded shuffle.
//!
//! [`SETTINGS`] is the one list of the table's keys; [`Schedule`] is what the runner, `sweep plan` and the report
//! read.

pub mod decide;
mod sample;
mod schedule;
pub mod tpe;

pub use sample::sample_configs;
pub use schedule::{round12, survivors_count, Bracket, Schedule};

use toml::{Spanned, Value};

use crate::config::grid::Axis;
use crate::error::GridError;

/// The keys of `[search]`, with what they take (the one list; messages and the README read it).
pub const SETTINGS: [(&str, &str); 9] = [
    (
        "method",
        "\"grid\" (default), \"random\", \"sobol\", \"halving\", \"asha\", \"hyperband\" or \"tpe\"",
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
        "sampler",
        "how halving, asha or hyperband draws `samples`: \"random\" (default) or \"sobol\"",
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

/// `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Grid,
    Random,
    Sobol,
    Halving,
    Hyperband,
    /// Asynchronous successive halving: a job goes on as soon as it is among the best 1/eta recorded at its rung.
    Asha,
    /// Model-based: a Tree-structured Parzen Estimator proposes `batch` configurations at a time from every trial
    /// recorded before ([`tpe`]); each batch goes through the rungs of successive halving when `min_epochs` is set.
    Tpe,
}

/// How sampled configurations are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    Random,
    Sobol,
}

impl Method {
    const NAMES: [(&'static str, Method); 7] = [
        ("grid", Method::Grid),
        ("random", Method::Random),
        ("sobol", Method::Sobol),
        ("halving", Method::Halving),
        ("hyperband", Method::Hyperband),
        ("asha", Method::Asha),
        ("tpe", Method::Tpe),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, m)| *m == self).map_or("grid", |(n, _)| n)
    }

    /// Whether the work is decided as the sweep runs (rungs, or proposals): jobs may stop early and be promoted,
    /// shards share every job through the claims instead of each taking a fixed part, and the rows depend on the
    /// whole job set.
    pub fn is_multi_fidelity(self) -> bool {
        matches!(self, Method::Halving | Method::Asha | Method::Hyperband | Method::Tpe)
    }
}

/// The checked `[search]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub method: Method,
    /// Configurations to draw; `None`: the grid's product (or Hyperband's own counts).
    pub samples: Option<usize>,
    pub sampler: Sampler,
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
}

impl Default for Search {
    fn default() -> Self {
        Search {
            method: Method::Grid,
            samples: None,
            sampler: Sampler::Random,
            eta: 3,
            min_epochs: 1.0,
            min_epochs_given: false,
            batch: 8,
            finalists: 0,
            final_epochs: 0,
            state_limit: 2_000_000_000,
        }
    }
}

/// Most samples: the Sobol sequence's length in `sobol_burley`.
pub const MAX_SAMPLES: usize = 1 << 16;

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

impl Search {
    /// Reads `[search]` (keys and values; how they fit the grid is checked by [`Search::check_grid`]).
    pub(crate) fn parse(
        table: &std::collections::BTreeMap<Spanned<String>, Spanned<Value>>,
        err: ErrAt,
        suggest: &dyn Fn(&str, &[&str]) -> String,
    ) -> Result<Search, GridError> {
        let mut s = Search::default();
        let mut sampler_set = None;
        let mut batch_set = None;
        let mut finals_set = None;
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
                    s.method = Method::NAMES.iter().find(|(n, _)| *n == t).map(|(_, m)| *m).ok_or_else(|| {
                        err(
                            v.span().start,
                            &key,
                            format!("expected one of {}, found {}", SETTINGS[0].1, v.get_ref()),
                        )
                    })?;
                }
                "samples" => s.samples = Some(int_at(err, &key, v, 1, MAX_SAMPLES as i64)?),
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
                "sampler" => {
                    s.sampler = match text(v).as_deref() {
                        Some("random") => Sampler::Random,
                        Some("sobol") => Sampler::Sobol,
                        _ => {
                            return Err(err(
                                v.span().start,
                                &key,
                                format!("expected \"random\" or \"sobol\", found {}", v.get_ref()),
                            ))
                        }
                    };
                    sampler_set = Some(v.span().start);
                }
                "eta" => s.eta = int_at(err, &key, v, 2, 100)?,
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
        match s.method {
            Method::Random => s.sampler = Sampler::Random,
            Method::Sobol => s.sampler = Sampler::Sobol,
            _ => {}
        }
        if let (Some(at), false) = (batch_set, s.method == Method::Tpe) {
            return Err(err(
                at,
                "search.batch",
                format!(
                    "only tpe proposes configurations in batches; method \"{}\" knows its jobs before it runs",
                    s.method.name()
                ),
            ));
        }
        if let (Some((at, key)), false) = (&finals_set, s.method == Method::Tpe) {
            return Err(err(
                *at,
                key,
                format!(
                    "only tpe has finalists (its best trials trained again after the last batch), not method \"{}\"; \
                     for longer jobs raise [train] epochs",
                    s.method.name()
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
        if let (Some((at, _)), true) = (&finals_set, s.finalists == 0 && s.final_epochs > 0) {
            return Err(err(
                *at,
                "search.finalists",
                "missing: final_epochs has no effect without finalists = N, how many of the best trials train again".into(),
            ));
        }
        if let (Some(at), false) = (sampler_set, matches!(s.method, Method::Halving | Method::Asha | Method::Hyperband)) {
            return Err(err(
                at,
                "search.sampler",
                format!(
                    "only halving, asha and hyperband take a sampler; method \"{}\" says how it samples",
                    s.method.name()
                ),
            ));
        }
        Ok(s)
    }

    /// How many configurations are drawn from the axes, or `None` for the grid's product: `samples` if given;
    /// Hyperband's own counts when an axis is a continuous range and `samples` is not given.
    pub fn draws(&self, axes: &[Axis], max_epochs: usize) -> Option<usize> {
        self.draws_for(axes.iter().any(|a| a.range.is_some()), max_epochs)
    }

    /// [`Search::draws`] for axes of which some are continuous ranges (`continuous`).
    pub fn draws_for(&self, continuous: bool, max_epochs: usize) -> Option<usize> {
        match (self.method, self.samples) {
            (Method::Grid, _) => None,
            // Proposed while the sweep runs, from the trials recorded before.
            (Method::Tpe, _) => Some(0),
            (_, Some(n)) => Some(n),
            (Method::Hyperband, None) if continuous => Some(self.hyperband_counts(self.ladder(max_epochs).len() - 1).iter().sum()),
            _ => None,
        }
    }

    /// Checks the search against the grid's axes and fixed values; `at(key)` gives the offset of a key for messages.
    pub(crate) fn check_grid(&self, axes: &[Axis], epochs: usize, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        let shapes: Vec<(&str, bool)> = axes.iter().map(|a| (a.name(), a.range.is_some())).collect();
        self.check_axes(&shapes, epochs, err)
    }

    /// [`Search::check_grid`] for axes given as (name, is a continuous range): the built-in parameters' or a command
    /// sweep's free-form ones.
    pub(crate) fn check_axes(
        &self,
        axes: &[(&str, bool)],
        epochs: usize,
        err: &dyn Fn(&str, String) -> GridError,
    ) -> Result<(), GridError> {
        if matches!(self.method, Method::Random | Method::Sobol | Method::Tpe) && self.samples.is_none() {
            return Err(err(
                "search.samples",
                format!("missing: method \"{}\" needs samples = N", self.method.name()),
            ));
        }
        let continuous: Vec<&str> = axes.iter().filter(|a| a.1).map(|a| a.0).collect();
        if self.draws_for(!continuous.is_empty(), epochs).is_none() {
            if let Some(name) = continuous.first() {
                let how = if matches!(self.method, Method::Halving | Method::Asha) {
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
        if self.method.is_multi_fidelity() {
            if axes.iter().any(|a| a.0 == "epochs") {
                return Err(err(
                    "grid.epochs",
                    format!(
                        "{} decides how long each job trains: fix epochs in [train] (the last rung) and set \
                         [search] min_epochs (the first)",
                        self.method.name()
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
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::grid::Grid;
    use std::path::Path;

    #[test]
    fn bad_search_tables_name_the_key() {
        let cases = [
            ("[search]\nmethod = \"bayes\"\n", "search.method"),
            ("[search]\nmethod = \"random\"\n[grid]\nreg = [0.1]\n", "search.samples"),
            ("[search]\nmetod = \"random\"\n", "did you mean `method`"),
            ("[search]\nmethod = \"halving\"\neta = 1\n", "search.eta"),
            (
                "[train]\nepochs = 4\n[search]\nmethod = \"halving\"\nmin_epochs = 5\n",
                "search.min_epochs",
            ),
            ("[search]\nmethod = \"halving\"\n[grid]\nepochs = [1, 2]\n", "grid.epochs"),
            ("[grid]\nreg = { log = [1e-4, 1e-2] }\n", "grid.reg.num"),
            ("[search]\nsampler = \"sobol\"\n", "search.sampler"),
            ("[search]\nmethod = \"sobol\"\nsamples = 70000\n", "search.samples"),
            ("[search]\nstate_limit_gb = -1\n", "search.state_limit_gb"),
            ("[search]\nmethod = \"halving\"\nfinalists = 2\n", "search.finalists"),
            (
                "[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 2\n[grid]\nreg = [0.1, 0.2]\n",
                "search.final_epochs: missing",
            ),
            (
                "[search]\nmethod = \"tpe\"\nsamples = 4\nfinal_epochs = 20\n[grid]\nreg = [0.1, 0.2]\n",
                "search.finalists: missing",
            ),
            (
                "[train]\nepochs = 4\n[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 1\nfinal_epochs = 4\n[grid]\nreg = [0.1, 0.2]\n",
                "is not more than [train] epochs = 4",
            ),
        ];
        for (body, want) in cases {
            let text = format!("[data]\nsource = \"toy\"\n{body}");
            let e = Grid::parse(Path::new("g.toml"), &text).expect_err(body).to_string();
            assert!(e.starts_with("g.toml:"), "{e}");
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }
}
