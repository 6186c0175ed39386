//! The trials of a command sweep: each a map of values (fixed and axes), its id the hash of those values written
//! canonically, drawn from the axes as built-in jobs are (the cartesian product, random or Sobol draws, or TPE's
//! proposals through [`space_of`], [`values_at`] and [`point_of`]).

use std::sync::Arc;

use serde_json::{Number, Value as Json};
use sweep_core::TrainConfig;

use crate::command::{CommandGrid, FreeAxis};
use crate::expand::Expansion;
use crate::grid::{Grid, Job};
use sweep_params::GridError;
use sweep_search::round12;
use sweep_search::tpe::{Dim, Point};
use sweep_search::Sampler;

pub use sweep_params::job::{trial_id, value_text, Trial, Values};

/// The search space of the axes, as TPE and the samplers see it: a list is a choice among its values, a range a real
/// or whole-number interval.
pub fn space_of(axes: &[FreeAxis]) -> Vec<Dim> {
    axes.iter()
        .map(|a| match a.range {
            None => Dim::Choice { n: a.values.len() },
            Some((lo, hi)) if a.integer => Dim::Int {
                lo: lo.round() as i64,
                hi: hi.round() as i64,
                log: a.log,
            },
            Some((lo, hi)) => Dim::Real { lo, hi, log: a.log },
        })
        .collect()
}

/// The value of `axis` at coordinate `x` of its dimension: a listed value, a whole number, or a real number to 12
/// significant digits within the range.
fn value_of(axis: &FreeAxis, dim: Dim, x: f64) -> Json {
    match dim {
        Dim::Choice { n } => axis.values[(x.max(0.0) as usize).min(n.saturating_sub(1))].clone(),
        Dim::Int { lo, hi, .. } => Json::from((x.round() as i64).clamp(lo, hi)),
        Dim::Real { lo, hi, .. } => Number::from_f64(round12(x).clamp(lo, hi)).map_or(Json::Null, Json::Number),
    }
}

/// The trial's values at `point` (one coordinate per axis), with the fixed values.
pub fn values_at(grid: &CommandGrid, point: &[f64]) -> Values {
    let mut values: Values = grid.fixed.iter().cloned().collect();
    for ((axis, dim), &x) in grid.axes.iter().zip(space_of(&grid.axes)).zip(point) {
        values.insert(axis.name.clone(), value_of(axis, dim, x));
    }
    values
}

/// The point of a trial's values, or `None` when one is not on its axis (a list value not listed, a number out of
/// range).
pub fn point_of(axes: &[FreeAxis], values: &Values) -> Option<Point> {
    axes.iter()
        .zip(space_of(axes))
        .map(|(axis, dim)| {
            let v = values.get(&axis.name)?;
            let x = match dim {
                Dim::Choice { .. } => axis.values.iter().position(|w| w == v)? as f64,
                _ => v.as_f64()?,
            };
            dim.contains(x).then_some(x)
        })
        .collect()
}

impl CommandGrid {
    /// The values of every configuration before duplicates are dropped: the cartesian product of the axes (first axis
    /// outermost) or `draws` samples, on top of the fixed values. Draw `i` depends only on the seed, the axes and `i`,
    /// with the built-in sampler's streams.
    fn configs(&self, draws: Option<usize>, sampler: &dyn Sampler, seed: u64) -> Vec<Values> {
        let base: Values = self.fixed.iter().cloned().collect();
        let Some(n) = draws else {
            return self.axes.iter().fold(vec![base], |configs, axis| {
                configs
                    .into_iter()
                    .flat_map(|c| {
                        axis.values.iter().map(move |v| {
                            let mut c = c.clone();
                            c.insert(axis.name.clone(), v.clone());
                            c
                        })
                    })
                    .collect()
            });
        };
        let space = space_of(&self.axes);
        let points = sampler.unit_points(n, space.len(), seed).unwrap_or_default();
        points
            .into_iter()
            .map(|u| {
                let point: Point = space
                    .iter()
                    .zip(u)
                    .map(|(dim, u)| dim.at_quantile(u.clamp(0.0, 1.0 - f64::EPSILON)))
                    .collect();
                values_at(self, &point)
            })
            .collect()
    }

    /// `lr=0.01 width=256` of a trial's values.
    fn describe(&self, values: &Values) -> String {
        let names: Vec<&str> = if self.axes.is_empty() {
            self.fixed.iter().map(|(k, _)| k.as_str()).collect()
        } else {
            self.axes.iter().map(|a| a.name.as_str()).collect()
        };
        names
            .iter()
            .filter_map(|n| Some(format!("{n}={}", value_text(values.get(*n)?))))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Grid {
    /// The trials of a command grid, in expansion order, one per distinct set of values.
    pub(crate) fn command_expansion(&self, c: &CommandGrid) -> Result<Expansion, GridError> {
        let draws = self
            .search
            .draws_for(c.axes.iter().any(|a| a.range.is_some()), self.base_config().epochs);
        let configs = self.search_configs(c, draws);
        let of = configs.len();
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::new();
        for values in configs {
            if seen.insert(trial_id(&values)) {
                jobs.push(self.trial_job(values, jobs.len())?);
            }
        }
        let mut notes = Vec::new();
        if jobs.len() < of {
            notes.push(format!(
                "{} of the {of} configurations drawn repeat an earlier one and are planned once: {} trials",
                of - jobs.len(),
                jobs.len()
            ));
        }
        Ok(Expansion {
            jobs,
            merged: 0,
            no_effect: vec![],
            notes,
        })
    }

    fn search_configs(&self, c: &CommandGrid, draws: Option<usize>) -> Vec<Values> {
        c.configs(draws, self.search.sampler(), self.seed)
    }

    /// The job of a command trial with these values at position `index`: its id hashes the values, its seed derives
    /// from the sweep's and the id, and its configuration holds only the budget (`epochs`) and that seed.
    pub fn trial_job(&self, values: Values, index: usize) -> Result<Job, GridError> {
        let Some(c) = &self.command else {
            return Err(GridError {
                file: self.file.clone(),
                line: 0,
                column: 0,
                key: None,
                message: "not a command sweep (no [command] table)".into(),
            });
        };
        let id = trial_id(&values);
        let epochs = values
            .get("epochs")
            .and_then(Json::as_u64)
            .map_or(self.base_config().epochs, |e| e as usize);
        let config = TrainConfig {
            epochs,
            seed: sweep_core::rng::derive_seed(self.seed, &id),
            shuffle_seed: self.seed,
            ..TrainConfig::default()
        };
        let config = config.check().map_err(|e| GridError {
            file: self.file.clone(),
            line: 0,
            column: 0,
            key: None,
            message: format!("trial {id}: {e}"),
        })?;
        let described = c.describe(&values);
        Ok(Job {
            index,
            id,
            config,
            trial: Some(Arc::new(Trial { values, described })),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;

    fn grid(text: &str) -> Grid {
        Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    const HEAD: &str = "seed = 5\n[command]\nrun = [\"python3\", \"t.py\"]\nmetric = \"loss\"\nmode = \"min\"\n";

    #[test]
    fn trials_are_the_product_with_ids_that_hash_every_value() {
        let g = grid(&format!(
            "{HEAD}[train]\nepochs = 4\nopt = \"adam\"\n[grid]\nlr = [0.1, 0.01]\nwidth = [16, 32, 64]\n"
        ));
        let jobs = g.jobs().unwrap();
        assert_eq!(jobs.len(), 6);
        let t = |j: &Job| j.trial.as_ref().unwrap().values.clone();
        assert_eq!(t(&jobs[0])["lr"], 0.1);
        assert_eq!(t(&jobs[1])["width"], 32);
        assert_eq!(t(&jobs[3])["lr"], 0.01);
        assert!(jobs
            .iter()
            .all(|j| j.config.epochs == 4 && t(j)["opt"] == "adam" && t(j)["epochs"] == 4));
        assert_eq!(jobs[0].trial.as_ref().unwrap().described, "lr=0.1 width=16");
        // Golden id: SHA-256 of {"epochs":4,"lr":0.1,"opt":"adam","width":16}, first 12 hex digits (Python:
        // hashlib.sha256(json.dumps(v, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]).
        assert_eq!(
            serde_json::to_string(&t(&jobs[0])).unwrap(),
            r#"{"epochs":4,"lr":0.1,"opt":"adam","width":16}"#
        );
        assert_eq!(jobs[0].id, trial_id(&t(&jobs[0])));
        assert_eq!(jobs[0].id, "7a048bab9087");
        // The same values written in another order (or fixed instead of an axis of one value) are the same trial.
        let again = grid(&format!(
            "{HEAD}[train]\nopt = \"adam\"\nlr = 0.1\nepochs = 4\n[grid]\nwidth = [16]\n"
        ))
        .jobs()
        .unwrap();
        assert_eq!(again[0].id, jobs[0].id);
        assert_eq!(again[0].config.seed, jobs[0].config.seed);
        // Another value anywhere, another trial; another sweep seed, the same id and another seed.
        let other = grid(&format!(
            "{HEAD}[train]\nopt = \"sgd\"\nlr = 0.1\nepochs = 4\n[grid]\nwidth = [16]\n"
        ));
        assert_ne!(other.jobs().unwrap()[0].id, jobs[0].id);
        let reseeded = grid(&format!(
            "{}[train]\nopt = \"adam\"\nlr = 0.1\nepochs = 4\nwidth = 16\n",
            HEAD.replace("seed = 5", "seed = 6")
        ));
        let r = reseeded.jobs().unwrap();
        assert_eq!(r[0].id, jobs[0].id);
        assert_ne!(r[0].config.seed, jobs[0].config.seed);
    }

    #[test]
    fn samples_cover_their_ranges_and_repeat_nothing_but_what_repeats() {
        let g = grid(&format!(
            "{HEAD}[train]\nepochs = 2\n[search]\nmethod = \"sobol\"\nsamples = 64\n[grid]\n\
             lr = {{ log = [1e-4, 1.0] }}\nwidth = {{ log = [8, 64] }}\ndrop = {{ linear = [0.0, 0.5] }}\nact = [\"relu\", \"tanh\"]\n"
        ));
        let jobs = g.jobs().unwrap();
        assert_eq!(jobs.len(), 64);
        assert_eq!(jobs, g.jobs().unwrap(), "the same file, the same trials");
        let v = |j: &Job, k: &str| j.trial.as_ref().unwrap().values[k].clone();
        assert!(
            jobs.iter().all(|j| v(j, "width").is_i64()),
            "whole-number bounds sample whole numbers"
        );
        let widths: HashSet<i64> = jobs.iter().map(|j| v(j, "width").as_i64().unwrap()).collect();
        assert!(widths.contains(&8) && widths.iter().all(|w| (8..=64).contains(w)), "{widths:?}");
        let lrs: Vec<f64> = jobs.iter().map(|j| v(j, "lr").as_f64().unwrap()).collect();
        assert!(lrs.iter().all(|x| (1e-4..=1.0).contains(x)));
        assert!(lrs.iter().filter(|&&x| x < 1e-2).count() > 20, "log-uniform: half below 1e-2");
        assert!(jobs.iter().all(|j| (0.0..=0.5).contains(&v(j, "drop").as_f64().unwrap())));
        let acts: HashSet<String> = jobs.iter().map(|j| v(j, "act").as_str().unwrap().to_string()).collect();
        assert_eq!(acts.len(), 2);
        // Lists only: 12 draws of 12 combinations repeat some (more draws than combinations are refused).
        let g = grid(&format!(
            "{HEAD}[train]\nepochs = 2\n[search]\nmethod = \"random\"\nsamples = 12\n[grid]\na = [1, 2]\nb = [true, false]\n\
             c = [1, 2, 3]\n"
        ));
        let e = g.expand().unwrap();
        let n = e.jobs.len();
        assert!(n < 12, "{n}");
        assert_eq!(
            e.warnings(),
            [format!(
                "{} of the 12 configurations drawn repeat an earlier one and are planned once: {n} trials",
                12 - n
            )]
        );
    }

    #[test]
    fn points_and_values_map_onto_each_other() {
        let g = grid(&format!(
            "{HEAD}[train]\nepochs = 2\n[search]\nmethod = \"tpe\"\nsamples = 8\n[grid]\n\
             lr = {{ log = [1e-4, 1.0] }}\nwidth = {{ linear = [8, 64] }}\nact = [\"relu\", \"tanh\"]\n"
        ));
        let c = g.command.as_ref().unwrap();
        assert_eq!(g.jobs().unwrap().len(), 0, "TPE proposes its trials as it runs");
        let values = values_at(c, &[0.01, 17.4, 1.0]);
        assert_eq!(values["width"], 17);
        assert_eq!(values["act"], "tanh");
        assert_eq!(values["epochs"], 2);
        assert_eq!(point_of(&c.axes, &values), Some(vec![0.01, 17.0, 1.0]));
        let mut off = values.clone();
        off.insert("act".into(), "gelu".into());
        assert_eq!(point_of(&c.axes, &off), None);
    }
}
