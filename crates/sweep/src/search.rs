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

use std::collections::HashSet;

use sweep_core::TrainConfig;
use toml::{Spanned, Value};

use crate::error::GridError;
use crate::grid::{Axis, Job};
use crate::params::{Param, Value as PValue};

/// The keys of `[search]`, with what they take (the one list; messages and the README read it).
pub const SETTINGS: [(&str, &str); 6] = [
    ("method", "\"grid\" (default), \"random\", \"sobol\", \"halving\" or \"hyperband\""),
    (
        "samples",
        "how many configurations to draw (random, sobol; optional for halving and hyperband)",
    ),
    (
        "sampler",
        "how halving or hyperband draws `samples`: \"random\" (default) or \"sobol\"",
    ),
    (
        "eta",
        "halving/hyperband: keep the best 1/eta of each rung (integer >= 2, default 3)",
    ),
    (
        "min_epochs",
        "halving/hyperband: epochs of the first rung (default 1; the last rung is [train] epochs)",
    ),
    (
        "state_limit_gb",
        "halving/hyperband: disk for saved training states (default 2); beyond it survivors retrain",
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
}

/// How sampled configurations are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    Random,
    Sobol,
}

impl Method {
    const NAMES: [(&'static str, Method); 5] = [
        ("grid", Method::Grid),
        ("random", Method::Random),
        ("sobol", Method::Sobol),
        ("halving", Method::Halving),
        ("hyperband", Method::Hyperband),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, m)| *m == self).map_or("grid", |(n, _)| n)
    }

    /// Whether jobs are stopped early and promoted in rungs.
    pub fn is_multi_fidelity(self) -> bool {
        matches!(self, Method::Halving | Method::Hyperband)
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
    pub min_epochs: usize,
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
            min_epochs: 1,
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
                "min_epochs" => s.min_epochs = int_at(err, &key, v, 1, 1_000_000)?,
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
        if let (Some(at), false) = (sampler_set, s.method.is_multi_fidelity()) {
            return Err(err(
                at,
                "search.sampler",
                format!(
                    "only halving and hyperband take a sampler; method \"{}\" says how it samples",
                    s.method.name()
                ),
            ));
        }
        Ok(s)
    }

    /// How many configurations are drawn from the axes, or `None` for the grid's product: `samples` if given;
    /// Hyperband's own counts when an axis is a continuous range and `samples` is not given.
    pub fn draws(&self, axes: &[Axis], max_epochs: usize) -> Option<usize> {
        let continuous = axes.iter().any(|a| a.range.is_some());
        match (self.method, self.samples) {
            (Method::Grid, _) => None,
            (_, Some(n)) => Some(n),
            (Method::Hyperband, None) if continuous => Some(self.hyperband_counts(self.ladder(max_epochs).len() - 1).iter().sum()),
            _ => None,
        }
    }

    /// The epochs of the rungs of a full successive-halving ladder from `min_epochs` to `max`: `min_epochs * eta^r`
    /// for r < s = floor(log_eta(max / min_epochs)), then `max` (`[1, 3, 10]` for eta 3 from 1 to 10).
    pub fn ladder(&self, max: usize) -> Vec<usize> {
        let mut rungs = vec![];
        let mut e = self.min_epochs;
        while e.saturating_mul(self.eta) <= max {
            rungs.push(e);
            e *= self.eta;
        }
        rungs.push(max);
        rungs
    }

    /// Hyperband's bracket sizes: bracket s (index 0 = s_max, the most aggressive) starts this many configurations.
    fn hyperband_counts(&self, s_max: usize) -> Vec<usize> {
        (0..=s_max)
            .rev()
            .map(|s| ((s_max + 1) as f64 / (s + 1) as f64 * (self.eta as f64).powi(s as i32)).ceil() as usize)
            .collect()
    }

    /// The schedule of `jobs` (indices are job indices), for a sweep whose seed is `seed`.
    pub fn schedule(&self, jobs: &[Job], seed: u64) -> Schedule {
        let all: Vec<usize> = (0..jobs.len()).collect();
        if !self.method.is_multi_fidelity() || jobs.is_empty() {
            return Schedule {
                eta: self.eta,
                brackets: vec![Bracket { jobs: all, rungs: vec![] }],
            };
        }
        let max = jobs[0].config.epochs;
        let ladder = self.ladder(max);
        if self.method == Method::Halving {
            return Schedule {
                eta: self.eta,
                brackets: vec![Bracket { jobs: all, rungs: ladder }],
            };
        }
        let s_max = ladder.len() - 1;
        let counts = self.hyperband_counts(s_max);
        // Deal the jobs to brackets in proportion to Li et al.'s counts (largest remainder), in a seeded order.
        let total: usize = counts.iter().sum();
        let n = jobs.len();
        let mut sizes: Vec<usize> = counts.iter().map(|c| c * n / total).collect();
        let mut rest: Vec<(usize, usize)> = counts.iter().enumerate().map(|(i, c)| (c * n % total, i)).collect();
        rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in rest.iter().take(n - sizes.iter().sum::<usize>()) {
            sizes[*i] += 1;
        }
        let mut order = all;
        {
            use rand::seq::SliceRandom;
            order.shuffle(&mut sweep_core::rng::rng_for(seed, "hyperband-brackets"));
        }
        let mut brackets = Vec::new();
        let mut at = 0;
        for (b, size) in sizes.into_iter().enumerate() {
            let mut members: Vec<usize> = order[at..at + size].to_vec();
            members.sort_unstable();
            at += size;
            if !members.is_empty() {
                brackets.push(Bracket {
                    jobs: members,
                    rungs: ladder[b..].to_vec(),
                });
            }
        }
        Schedule { eta: self.eta, brackets }
    }

    /// Checks the search against the grid's axes and fixed values; `at(key)` gives the offset of a key for messages.
    pub(crate) fn check_grid(&self, axes: &[Axis], epochs: usize, err: &dyn Fn(&str, String) -> GridError) -> Result<(), GridError> {
        if matches!(self.method, Method::Random | Method::Sobol) && self.samples.is_none() {
            return Err(err(
                "search.samples",
                format!("missing: method \"{}\" needs samples = N", self.method.name()),
            ));
        }
        let continuous: Vec<&str> = axes.iter().filter(|a| a.range.is_some()).map(|a| a.name()).collect();
        if self.draws(axes, epochs).is_none() {
            if let Some(name) = continuous.first() {
                let how = if self.method == Method::Halving {
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
        if self.method.is_multi_fidelity() {
            if axes.iter().any(|a| a.name() == "epochs") {
                return Err(err(
                    "grid.epochs",
                    format!(
                        "{} decides how long each job trains: fix epochs in [train] (the last rung) and set \
                         [search] min_epochs (the first)",
                        self.method.name()
                    ),
                ));
            }
            if self.min_epochs > epochs {
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

/// One successive halving: its jobs and the epochs of its rungs (empty: one rung, each job to its own `epochs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bracket {
    pub jobs: Vec<usize>,
    pub rungs: Vec<usize>,
}

impl Bracket {
    /// Number of rungs (1 for a plain sweep).
    pub fn rung_count(&self) -> usize {
        self.rungs.len().max(1)
    }

    /// The epoch a job trains to in rung `r`.
    pub fn target(&self, r: usize, job: &Job) -> usize {
        self.rungs.get(r).copied().unwrap_or(job.config.epochs)
    }

    /// Whether rung `r` is the bracket's last.
    pub fn is_last(&self, r: usize) -> bool {
        r + 1 >= self.rung_count()
    }

    /// The planned number of jobs in each rung: n, ceil(n / eta), ...
    pub fn planned_counts(&self, eta: usize) -> Vec<usize> {
        let mut n = self.jobs.len();
        (0..self.rung_count())
            .map(|r| {
                if r > 0 {
                    n = survivors_count(n, eta);
                }
                n
            })
            .collect()
    }
}

/// How many of a rung's `n` jobs go on.
pub fn survivors_count(n: usize, eta: usize) -> usize {
    n.div_ceil(eta)
}

/// The jobs and their rungs; a plain sweep is one bracket of one rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub eta: usize,
    pub brackets: Vec<Bracket>,
}

impl Schedule {
    /// The most rungs of any bracket (the runner's stages).
    pub fn stages(&self) -> usize {
        self.brackets.iter().map(Bracket::rung_count).max().unwrap_or(0)
    }

    /// Whether jobs stop early.
    pub fn is_multi_fidelity(&self) -> bool {
        self.brackets.iter().any(|b| !b.rungs.is_empty())
    }
}

/// A value of `axis` at quantile `u` in [0, 1): list items uniformly, ranges log-uniformly or uniformly.
fn pick(axis: &Axis, u: f64) -> PValue {
    let u = u.clamp(0.0, 1.0 - f64::EPSILON);
    let Some((lo, hi)) = axis.range else {
        let i = ((u * axis.values.len() as f64) as usize).min(axis.values.len() - 1);
        return axis.values[i];
    };
    let p: &Param = axis.param;
    let x = if p.is_integer() {
        // Whole numbers with equal mass per number (linear) or per factor (log), both ends included.
        let (a, b) = (lo.round(), hi.round());
        let v = if axis.log {
            (a.ln() + u * ((b + 1.0).ln() - a.ln())).exp().floor()
        } else {
            a + (u * (b - a + 1.0)).floor()
        };
        v.clamp(a, b)
    } else {
        let v = if axis.log {
            (lo.ln() + u * (hi.ln() - lo.ln())).exp()
        } else {
            lo + u * (hi - lo)
        };
        // 12 significant digits, as for spaced grid values: readable ids, CSV and plots.
        format!("{v:.11e}").parse::<f64>().unwrap_or(v).clamp(lo, hi)
    };
    // The bounds passed the parameter's checks, and every value between them does too.
    p.number(x).unwrap_or(PValue::Num(x))
}

/// `n` configurations drawn from the axes on top of `base` (sample order), duplicates dropped.
pub fn sample_configs(base: &TrainConfig, axes: &[Axis], sampler: Sampler, n: usize, seed: u64) -> Vec<TrainConfig> {
    use rand::Rng;
    let mut rng = sweep_core::rng::rng_for(seed, "search-samples");
    let scramble = sweep_core::rng::derive_seed(seed, "sobol") as u32;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = base.clone();
        for (d, axis) in axes.iter().enumerate() {
            let u = match sampler {
                Sampler::Random => rng.gen::<f64>(),
                Sampler::Sobol => f64::from(sobol_burley::sample(i as u32, d as u32, scramble)),
            };
            axis.param.set(&mut c, pick(axis, u));
        }
        if seen.insert(crate::grid::job_id(&c)) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;
    use std::path::Path;

    fn grid(text: &str) -> Grid {
        Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ladder_ends_at_the_last_epoch() {
        let s = Search::default();
        assert_eq!(s.ladder(10), vec![1, 3, 10]);
        assert_eq!(s.ladder(9), vec![1, 3, 9]);
        assert_eq!(s.ladder(27), vec![1, 3, 9, 27]);
        assert_eq!(s.ladder(2), vec![2]);
        // Li et al.'s s_max = floor(log_eta(40 / 5)) = 1: a rung at 15 would be followed by one at 45 > 40.
        let five = Search {
            min_epochs: 5,
            ..s.clone()
        };
        assert_eq!(five.ladder(40), vec![5, 40]);
        assert_eq!(five.ladder(45), vec![5, 15, 45]);
        assert_eq!(Search { eta: 2, ..s }.ladder(8), vec![1, 2, 4, 8]);
    }

    #[test]
    fn hyperband_brackets_follow_li_et_al() {
        let s = Search {
            method: Method::Hyperband,
            ..Search::default()
        };
        // R = 27, eta = 3: s_max = 3, n = 27, 12, 6, 4 (Li et al. 2018, Table 1 with R = 81 scaled down by one rung).
        assert_eq!(s.hyperband_counts(3), vec![27, 12, 6, 4]);
        let g = grid("seed = 4\n[data]\nsource = \"toy\"\n[train]\nepochs = 27\n[search]\nmethod = \"hyperband\"\n[grid]\nlearning_rate = { log = [1e-3, 1.0] }\nreg = { log = [1e-6, 1e-2] }\n");
        let jobs = g.jobs();
        assert_eq!(jobs.len(), 49);
        let sched = g.search.schedule(&jobs, g.seed);
        let sizes: Vec<usize> = sched.brackets.iter().map(|b| b.jobs.len()).collect();
        assert_eq!(sizes, vec![27, 12, 6, 4]);
        let rungs: Vec<Vec<usize>> = sched.brackets.iter().map(|b| b.rungs.clone()).collect();
        assert_eq!(rungs, vec![vec![1, 3, 9, 27], vec![3, 9, 27], vec![9, 27], vec![27]]);
        let mut all: Vec<usize> = sched.brackets.iter().flat_map(|b| b.jobs.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..49).collect::<Vec<_>>(), "every job in exactly one bracket");
        assert_eq!(sched.brackets[0].planned_counts(3), vec![27, 9, 3, 1]);
    }

    #[test]
    fn the_same_file_gives_the_same_samples_and_log_samples_cover_the_range() {
        for method in ["random", "sobol"] {
            let text = format!(
                "seed = 7\n[data]\nsource = \"toy\"\n[search]\nmethod = \"{method}\"\nsamples = 400\n[grid]\n\
                 learning_rate = {{ log = [1e-4, 1.0] }}\nhidden_size = {{ log = [8, 64] }}\nreg = {{ linear = [0.0, 0.01] }}\nlr_decay = [0.9, 0.95, 1.0]\n"
            );
            let a = grid(&text).jobs();
            let b = grid(&text).jobs();
            assert_eq!(a, b, "{method}: same file, same jobs");
            assert_eq!(a.len(), 400, "{method}: continuous draws do not repeat");
            let other = grid(&text.replace("seed = 7", "seed = 8")).jobs();
            assert_ne!(
                a[0].config.learning_rate, other[0].config.learning_rate,
                "{method}: the seed matters"
            );
            let lrs: Vec<f64> = a.iter().map(|j| j.config.learning_rate).collect();
            assert!(lrs.iter().all(|&x| (1e-4..=1.0).contains(&x)), "{method}: in range");
            // Log-uniform: each decade of the four gets about a quarter; both ends are reached.
            for d in 0..4 {
                let (lo, hi) = (10f64.powi(d - 4), 10f64.powi(d - 3));
                let k = lrs.iter().filter(|&&x| x >= lo && x < hi).count();
                assert!((70..=130).contains(&k), "{method}: decade {lo}..{hi} has {k} of 400");
            }
            assert!(
                lrs.iter().any(|&x| x < 1.5e-4) && lrs.iter().any(|&x| x > 0.7),
                "{method}: both ends"
            );
            let hs: HashSet<usize> = a.iter().map(|j| j.config.hidden_size).collect();
            assert!(
                hs.contains(&8) && hs.contains(&64) && hs.iter().all(|h| (8..=64).contains(h)),
                "{method}: {hs:?}"
            );
            let regs: Vec<f64> = a.iter().map(|j| j.config.reg).collect();
            assert!(regs.iter().all(|&r| (0.0..=0.01).contains(&r)));
            assert!(regs.iter().filter(|&&r| r < 0.005).count() > 150, "{method}: linear is uniform");
            let decays: HashSet<u64> = a.iter().map(|j| j.config.lr_decay.to_bits()).collect();
            assert_eq!(decays.len(), 3, "{method}: every listed value drawn");
        }
    }

    #[test]
    fn sobol_points_are_better_spread_than_random_ones() {
        // 64 points in 1-D: a scrambled Sobol sequence puts exactly one point in each 1/64 cell.
        let text = |m: &str| {
            format!("[data]\nsource = \"toy\"\n[search]\nmethod = \"{m}\"\nsamples = 64\n[grid]\nreg = {{ linear = [0.0, 1.0] }}\n")
        };
        let cells = |m: &str| {
            let jobs = grid(&text(m)).jobs();
            jobs.iter().map(|j| (j.config.reg * 64.0) as usize).collect::<HashSet<_>>().len()
        };
        assert_eq!(cells("sobol"), 64);
        assert!(cells("random") < 64);
    }

    #[test]
    fn list_only_samples_are_deduplicated() {
        let g = grid(
            "[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 50\n[grid]\nlearning_rate = [0.1, 0.2]\nreg = [0.0, 0.1]\n",
        );
        let jobs = g.jobs();
        assert_eq!(jobs.len(), 4, "four distinct configurations at most");
        let ids: HashSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids.len(), 4);
    }

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
        ];
        for (body, want) in cases {
            let text = format!("[data]\nsource = \"toy\"\n{body}");
            let e = Grid::parse(Path::new("g.toml"), &text).expect_err(body).to_string();
            assert!(e.starts_with("g.toml:"), "{e}");
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }
}
