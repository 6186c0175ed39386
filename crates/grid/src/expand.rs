//! A checked grid expanded into its jobs: the cartesian product of the axes (or the configurations a sampling search
//! draws), one job per training. Configurations that differ only in parameters without effect on them (`momentum`
//! with `optimizer = "adam"`) are one training with one id ([`sweep_params::params::normalized`]): the first in
//! expansion order is planned, and the grid is warned, once, naming the parameter and the jobs.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use sweep_core::TrainConfig;

use crate::grid::{base_config, job_id, Grid, Job};
use sweep_params::params::{param, params, Param, Value};
use sweep_params::GridError;
use sweep_search::sample_configs;

/// A parameter the grid sets that has no effect in some of its configurations.
#[derive(Debug, Clone, PartialEq)]
pub struct NoEffect {
    pub param: &'static Param,
    /// Configurations of the grid (before merging) in which it has no effect, of `of`.
    pub configs: usize,
    pub of: usize,
    /// The values of the parameter it depends on in those configurations (`["sgd", "adam"]` for `optimizer`).
    pub with: Vec<&'static str>,
    /// Ids of the planned jobs in which it has no effect.
    pub jobs: Vec<String>,
}

/// The jobs of a grid, and what was merged on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    pub jobs: Vec<Job>,
    /// Configurations left out because they train exactly as an earlier one, differing only where it has no effect.
    pub merged: usize,
    pub no_effect: Vec<NoEffect>,
    /// Other warnings (a command sweep's repeated draws).
    pub notes: Vec<String>,
}

impl NoEffect {
    /// The warning: the parameter, where it has no effect and where it would, and the jobs concerned.
    pub fn message(&self) -> String {
        let with = self
            .param
            .only_when
            .as_ref()
            .map_or(String::new(), |w| format!(" (those with {} = {})", w.param, self.with.join(" or ")));
        let used = self
            .param
            .used_with()
            .map_or(String::new(), |u| format!("; it is used only with {u}"));
        let mut ids = self.jobs.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        if self.jobs.len() > 5 {
            ids.push_str(&format!(" and {} more", self.jobs.len() - 5));
        }
        format!(
            "{} has no effect in {} of the {} configurations{with}{used}: job{} {ids}",
            self.param.name,
            self.configs,
            self.of,
            if self.jobs.len() == 1 { "" } else { "s" },
        )
    }
}

impl Expansion {
    /// Every warning: one per parameter without effect, and what was merged.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.no_effect.iter().map(NoEffect::message).collect();
        out.extend(self.notes.iter().cloned());
        if self.merged > 0 {
            out.push(format!(
                "{} of the {} configurations would train exactly as another (they differ only where a parameter has \
                 no effect) and are planned once: {} jobs",
                self.merged,
                self.jobs.len() + self.merged,
                self.jobs.len()
            ));
        }
        out
    }
}

/// Logs each message once per process (`jobs()` is called by several steps of one command).
fn warn_once(messages: Vec<String>) {
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    let seen = warned.get_or_insert_with(HashSet::new);
    for m in messages {
        if seen.insert(m.clone()) {
            tracing::warn!("{m}");
        }
    }
}

impl Grid {
    /// The configurations before merging: the cartesian product of the axes, first axis outermost, or the draws of a
    /// sampling search, on top of `[train]`.
    fn configs(&self) -> Vec<TrainConfig> {
        let base = base_config(&self.fixed);
        match self.search.draws(&self.axes, base.epochs) {
            Some(n) => sample_configs(&base, &self.axes, self.search.sampler(), n, self.seed),
            None => self.axes.iter().fold(vec![base], |configs, axis| {
                configs
                    .into_iter()
                    .flat_map(|c| {
                        axis.values.iter().map(move |&v| {
                            let mut c = c.clone();
                            axis.param.set(&mut c, v);
                            c
                        })
                    })
                    .collect()
            }),
        }
    }

    /// The jobs, in deterministic order, one per training (see the module doc), with what was merged; nothing is
    /// logged (see [`Grid::jobs`]).
    pub fn expand(&self) -> Result<Expansion, GridError> {
        let e = match &self.command {
            Some(c) => self.command_expansion(c)?,
            None => self.grid_expansion()?,
        };
        // Only the jobs show whether every rung can fill (ASHA promotes floor(n / eta) of a rung's n).
        let at = |key: &str, message: String| self.key_error(key, message);
        self.search.check_jobs(e.jobs.len(), self.base_config().epochs, &at)?;
        Ok(e)
    }

    /// [`Grid::expand`] of a grid of the built-in network's parameters.
    fn grid_expansion(&self) -> Result<Expansion, GridError> {
        let configs = self.configs();
        let of = configs.len();
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut merged = 0;
        let mut job_of = Vec::with_capacity(of);
        for c in &configs {
            let id = job_id(c);
            let index = match first.get(&id) {
                Some(&index) => {
                    // A draw that repeats another exactly is no news; one that differs where nothing matters is.
                    let kept = &jobs[index].config;
                    merged += usize::from(!params().iter().all(|p| p.get(c).same(p.get(kept))));
                    index
                }
                None => {
                    first.insert(id, jobs.len());
                    jobs.push(self.job(c.clone(), jobs.len())?);
                    jobs.len() - 1
                }
            };
            job_of.push(index);
        }
        let set_by_grid = |p: &Param| self.fixed.contains_key(p.name) || self.axes.iter().any(|a| a.param == p);
        let no_effect = params()
            .iter()
            .filter(|p| p.only_when.is_some() && set_by_grid(p))
            .filter_map(|p| {
                let cond = param(p.only_when.as_ref()?.param)?;
                let idle: Vec<usize> = (0..of).filter(|&i| !p.matters(&configs[i])).collect();
                if idle.is_empty() {
                    return None;
                }
                let mut with: Vec<&'static str> = Vec::new();
                let mut ids: Vec<String> = Vec::new();
                for &i in &idle {
                    if let Value::Name(n) = cond.get(&configs[i]) {
                        if !with.contains(&n) {
                            with.push(n);
                        }
                    }
                    let id = &jobs[job_of[i]].id;
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
                Some(NoEffect {
                    param: p,
                    configs: idle.len(),
                    of,
                    with,
                    jobs: ids,
                })
            })
            .collect();
        Ok(Expansion {
            jobs,
            merged,
            no_effect,
            notes: vec![],
        })
    }

    /// The job of `config` at position `index`: its id (a hash of what trains) and its seeds, from the sweep's.
    /// Every value was checked when the grid was read, so the check only fails for a combination core refuses.
    pub fn job(&self, mut config: TrainConfig, index: usize) -> Result<Job, GridError> {
        let id = job_id(&config);
        config.seed = sweep_core::rng::derive_seed(self.seed, &id);
        // Every job of a sweep sees the same data order (and augmentation): fairer comparisons, and jobs that can be
        // paused, continued and trained together.
        config.shuffle_seed = self.seed;
        let config = config.check().map_err(|e| GridError {
            file: self.file.clone(),
            line: 0,
            column: 0,
            key: None,
            message: format!("job {id}: {e}"),
        })?;
        Ok(Job {
            index,
            id,
            config,
            trial: None,
        })
    }

    /// The configuration every job starts from: the defaults with the values of `[train]`.
    pub fn base_config(&self) -> TrainConfig {
        crate::grid::base_config(&self.fixed)
    }

    /// The jobs, in deterministic order: the cartesian product of the axes, first axis outermost (or the search's
    /// draws), one per training. A parameter the grid sets where it has no effect is warned about, once per process.
    pub fn jobs(&self) -> Result<Vec<Job>, GridError> {
        let e = self.expand()?;
        warn_once(e.warnings());
        Ok(e.jobs)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn grid(text: &str) -> Grid {
        Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The case: momentum means nothing to sgd and adam, so 4 configurations are 2 trainings.
    #[test]
    fn an_axis_without_effect_is_trained_once_and_named_in_a_warning() {
        let g = grid("seed = 1\n[train]\nepochs = 2\n[grid]\nmomentum = [0.5, 0.9]\noptimizer = [\"sgd\", \"adam\"]\n");
        let e = g.expand().unwrap();
        assert_eq!(e.jobs.len(), 2);
        assert_eq!(e.merged, 2);
        let plain = grid("seed = 1\n[train]\nepochs = 2\n[grid]\noptimizer = [\"sgd\", \"adam\"]\n")
            .jobs()
            .unwrap();
        let ids = |jobs: &[Job]| jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&e.jobs), ids(&plain), "the ids of the trainings without momentum");
        // Each job holds the value written first (nothing rewritten), at consecutive indices.
        assert!(e.jobs.iter().all(|j| j.config.momentum == 0.5));
        assert_eq!(e.jobs.iter().map(|j| j.index).collect::<Vec<_>>(), [0, 1]);
        let w = e.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0],
            format!(
                "momentum has no effect in 4 of the 4 configurations (those with optimizer = sgd or adam); it is used \
                 only with optimizer = \"momentum\" or \"nesterov\": jobs {}, {}",
                e.jobs[0].id, e.jobs[1].id
            )
        );
        assert!(
            w[1].starts_with("2 of the 4 configurations would train exactly as another"),
            "{w:?}"
        );
    }

    #[test]
    fn where_every_parameter_matters_nothing_is_merged_and_ids_stay() {
        let g = grid("[train]\nepochs = 2\n[grid]\noptimizer = [\"sgd\", \"nesterov\"]\nmomentum = [0.5, 0.9]\n");
        let e = g.expand().unwrap();
        // sgd x {0.5, 0.9} is one training; nesterov x {0.5, 0.9} are two.
        assert_eq!(e.jobs.len(), 3);
        assert_eq!(e.merged, 1);
        assert_eq!(e.no_effect.len(), 1);
        assert_eq!((e.no_effect[0].configs, e.no_effect[0].with.clone()), (2, vec!["sgd"]));
        let ids: HashSet<&str> = e.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        let one = grid("[train]\nepochs = 2\noptimizer = \"nesterov\"\nmomentum = 0.5\n")
            .jobs()
            .unwrap();
        assert!(ids.contains(one[0].id.as_str()), "nesterov at 0.5 keeps its id");
        // Under cosine, lr_decay does nothing: one job, warned; under step both train.
        let cosine = grid("[train]\nlr_schedule = \"cosine\"\n[grid]\nlr_decay = [0.9, 0.95]\n")
            .expand()
            .unwrap();
        assert_eq!((cosine.jobs.len(), cosine.merged), (1, 1));
        assert_eq!(grid("[grid]\nlr_decay = [0.9, 0.95]\n").expand().unwrap().jobs.len(), 2);
        // A fixed value without effect merges nothing but is still named.
        let fixed = grid("[train]\nbeta1 = 0.5\n[grid]\nlearning_rate = [0.1, 0.2]\n").expand().unwrap();
        assert_eq!((fixed.jobs.len(), fixed.merged), (2, 0));
        assert_eq!(fixed.warnings().len(), 1);
        assert!(fixed.warnings()[0].starts_with("beta1 has no effect in 2 of the 2 configurations (those with optimizer = sgd)"));
    }

    #[test]
    fn samples_that_differ_only_where_nothing_matters_are_one_job() {
        let g = grid(
            "[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 40\n[grid]\noptimizer = [\"sgd\", \"adam\"]\n\
             beta1 = { linear = [0.5, 0.9] }\n",
        );
        let e = g.expand().unwrap();
        let sgd = e.jobs.iter().filter(|j| j.config.optimizer == sweep_core::Optimizer::Sgd).count();
        assert_eq!(sgd, 1, "every sgd draw is the same training");
        assert!(e.merged > 10 && e.jobs.len() + e.merged == 40, "{} + {}", e.jobs.len(), e.merged);
    }
}
