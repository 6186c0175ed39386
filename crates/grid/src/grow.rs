//! Whether a results directory run with one grid can take another: the same sweep, or the same sweep grown (a value
//! added to an axis, a new axis whose values include the old setting, more `samples`), in which case only the new
//! jobs run and the old rows stay valid (ids are hashes of the configuration). Anything else is another sweep, and
//! [`Change`] says which key differs, with its old and new values.
//!
//! The old grid is the copy a results directory keeps (`grid.toml`, written beside `sweep.json` by every release),
//! so directories of earlier releases grow too.

use std::collections::HashSet;

use crate::grid::{base_config, DataSource, Grid};
use sweep_params::params::{params, Param, Value};

/// How a grid relates to the one a directory was run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// The same jobs.
    Same,
    /// Every job of the old grid, and more.
    Grew { before: usize, now: usize },
}

/// Why a grid cannot continue a directory's sweep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Change {
    /// A setting differs (a fixed value, an axis losing values, the seed, the data, the search).
    #[error("`{key}` is {new} in this grid but was {old} when the directory was run")]
    Setting { key: String, old: String, new: String },
    /// Successive halving or Hyperband with another job set.
    #[error(
        "{method} decides each rung from the whole set of jobs, so the rungs recorded there for {before} jobs would \
         have been decided otherwise among {now}: such a sweep cannot grow in place; run the grown grid into a new \
         directory (--out DIR, or another `name`)"
    )]
    Rungs { method: &'static str, before: usize, now: usize },
    /// Draws of a sampling search changed.
    #[error(
        "{missing} of the {of} configurations drawn there are not drawn by this grid: samples are drawn from all \
         axes together, so changing an axis draws others; only `samples` can grow (raise it to draw more)"
    )]
    Draws { missing: usize, of: usize },
    /// Jobs of the old grid are not jobs of this one, for a reason no single key explains.
    #[error("{missing} of the {of} jobs run there are not jobs of this grid (e.g. job {example})")]
    Jobs { missing: usize, of: usize, example: String },
}

/// What a parameter takes in a grid.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// Fixed in `[train]` (`true`) or left at its default (`false`).
    Fixed(Value, bool),
    List(Vec<Value>),
    Range(f64, f64, bool),
}

fn values(g: &Grid, p: &Param) -> Values {
    match g.axes.iter().find(|a| a.param == p) {
        Some(a) => match a.range {
            Some((lo, hi)) => Values::Range(lo, hi, a.log),
            None => Values::List(a.values.clone()),
        },
        None => match g.fixed.get(p.name) {
            Some(v) => Values::Fixed(*v, true),
            None => Values::Fixed(p.default_value(), false),
        },
    }
}

impl Values {
    fn list(&self) -> Option<Vec<Value>> {
        match self {
            Values::Fixed(v, _) => Some(vec![*v]),
            Values::List(v) => Some(v.clone()),
            Values::Range(..) => None,
        }
    }

    /// Every value of `self` is one of `other`'s.
    fn within(&self, other: &Values) -> bool {
        match (self.list(), other.list()) {
            (Some(a), Some(b)) => a.iter().all(|x| b.iter().any(|y| x.same(*y))),
            _ => self == other,
        }
    }

    fn text(&self) -> String {
        let list = |v: &[Value]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        match self {
            Values::Fixed(v, true) => v.to_string(),
            Values::Fixed(v, false) => format!("{v} (the default)"),
            Values::List(v) => format!("[{}]", list(v)),
            Values::Range(lo, hi, log) => format!("{{ {} = [{lo}, {hi}] }}", if *log { "log" } else { "linear" }),
        }
    }
}

fn source(s: &DataSource) -> String {
    match s {
        DataSource::Path(p) => format!("path = \"{}\"", p.display()),
        DataSource::Toy => "source = \"toy\"".into(),
    }
}

fn opt(n: Option<usize>) -> String {
    n.map_or("not set".into(), |n| n.to_string())
}

/// The settings that identify a sweep besides its jobs: (key, old, new).
fn identity(old: &Grid, new: &Grid) -> Vec<(&'static str, String, String)> {
    let (o, n) = (&old.search, &new.search);
    let data_key = if matches!(old.data.source, DataSource::Toy) && matches!(new.data.source, DataSource::Toy) {
        "data.source"
    } else {
        "data.path"
    };
    let mut keys = vec![
        ("seed", old.seed.to_string(), new.seed.to_string()),
        (data_key, source(&old.data.source), source(&new.data.source)),
        ("data.val_size", old.data.val_size.to_string(), new.data.val_size.to_string()),
        ("data.train_size", opt(old.data.train_size), opt(new.data.train_size)),
        ("data.test_size", opt(old.data.test_size), opt(new.data.test_size)),
        ("search.method", format!("\"{}\"", o.name()), format!("\"{}\"", n.name())),
    ];
    // A command sweep's objective decides its columns and its every decision.
    let objective = |g: &Grid| {
        g.command
            .as_ref()
            .map_or(("none (the built-in network)".to_string(), String::new()), |c| {
                let o = &c.command.objective;
                (format!("\"{}\"", o.metric), format!("\"{}\"", o.mode.as_str()))
            })
    };
    let (om, nm) = (objective(old), objective(new));
    keys.push(("command.metric", om.0, nm.0));
    keys.push(("command.mode", om.1, nm.1));
    if o.is_multi_fidelity() {
        keys.push(("search.eta", o.eta.to_string(), n.eta.to_string()));
        keys.push(("search.min_epochs", o.min_epochs.to_string(), n.min_epochs.to_string()));
    }
    keys
}

/// What decides each rung: the search's fidelity scheduler, said in words.
fn rung_method(s: &sweep_search::Search) -> &'static str {
    s.fidelity().about()
}

/// Whether `new` continues the sweep `old` was: the same, grown, or not (and why).
pub fn compare(old: &Grid, new: &Grid) -> Result<Growth, Change> {
    for (key, o, n) in identity(old, new) {
        if o != n {
            return Err(Change::Setting {
                key: key.into(),
                old: o,
                new: n,
            });
        }
    }
    let jobs = |g: &Grid| g.expand().map(|e| e.jobs).unwrap_or_default();
    let (before, now) = (jobs(old), jobs(new));
    let ids: HashSet<&str> = now.iter().map(|j| j.id.as_str()).collect();
    let missing: Vec<_> = before.iter().filter(|j| !ids.contains(j.id.as_str())).collect();
    let Some(first) = missing.first() else {
        return if before.len() == now.len() {
            Ok(Growth::Same)
        } else if old.search.is_multi_fidelity() {
            Err(Change::Rungs {
                method: rung_method(&old.search),
                before: before.len(),
                now: now.len(),
            })
        } else {
            Ok(Growth::Grew {
                before: before.len(),
                now: now.len(),
            })
        };
    };
    // Which setting drops them: the first parameter (of those that matter to some old job) losing values.
    for p in params() {
        if !before.iter().any(|j| p.matters(&j.config)) {
            continue;
        }
        let (o, n) = (values(old, p), values(new, p));
        if !o.within(&n) {
            let section = |g: &Grid| {
                if g.axes.iter().any(|a| a.param == p) {
                    Some("grid")
                } else {
                    g.fixed.contains_key(p.name).then_some("train")
                }
            };
            let at = section(new).or(section(old)).unwrap_or("train");
            return Err(Change::Setting {
                key: format!("{at}.{}", p.name),
                old: o.text(),
                new: n.text(),
            });
        }
    }
    if let (Some(o), Some(n)) = (old.search.samples, new.search.samples) {
        if n < o {
            return Err(Change::Setting {
                key: "search.samples".into(),
                old: o.to_string(),
                new: n.to_string(),
            });
        }
    }
    if old.search.is_multi_fidelity() {
        return Err(Change::Rungs {
            method: rung_method(&old.search),
            before: before.len(),
            now: now.len(),
        });
    }
    if old.search.draws(&old.axes, base_config(&old.fixed).epochs).is_some() {
        return Err(Change::Draws {
            missing: missing.len(),
            of: before.len(),
        });
    }
    Err(Change::Jobs {
        missing: missing.len(),
        of: before.len(),
        example: format!("{} ({})", first.id, first.describe()),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const OLD: &str = "seed = 1\n[data]\nsource = \"toy\"\n[train]\nepochs = 2\nhidden_size = 8\n[grid]\nlearning_rate = [0.1, 0.2]\n";

    fn grid(text: &str) -> Grid {
        Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn compare_with(text: &str) -> Result<Growth, Change> {
        compare(&grid(OLD), &grid(text))
    }

    #[test]
    fn added_values_new_axes_at_the_old_setting_and_more_samples_grow() {
        assert_eq!(compare_with(OLD), Ok(Growth::Same));
        assert_eq!(
            compare_with(&OLD.replace("[0.1, 0.2]", "[0.1, 0.2, 0.3]")),
            Ok(Growth::Grew { before: 2, now: 3 })
        );
        // A new axis including the default (dropout 0), a fixed value turned into an axis that keeps it.
        assert_eq!(
            compare_with(&format!("{OLD}dropout = [0.0, 0.2]\n")),
            Ok(Growth::Grew { before: 2, now: 4 })
        );
        assert_eq!(
            compare_with(
                &OLD.replace("hidden_size = 8\n", "")
                    .replace("[grid]\n", "[grid]\nhidden_size = [16, 8]\n")
            ),
            Ok(Growth::Grew { before: 2, now: 4 })
        );
        // An axis without effect on these jobs (sgd has no momentum) adds nothing.
        assert_eq!(compare_with(&format!("{OLD}momentum = [0.5, 0.9]\n")), Ok(Growth::Same));
        let sampled =
            "seed = 1\n[data]\nsource = \"toy\"\n[search]\nmethod = \"sobol\"\nsamples = 4\n[grid]\nreg = { log = [1e-5, 1e-2] }\n";
        assert_eq!(
            compare(&grid(sampled), &grid(&sampled.replace("samples = 4", "samples = 9"))),
            Ok(Growth::Grew { before: 4, now: 9 })
        );
    }

    #[test]
    fn a_changed_setting_is_named_with_its_old_and_new_values() {
        let changed = |text: &str| compare_with(text).unwrap_err().to_string();
        assert_eq!(
            changed(&OLD.replace("epochs = 2", "epochs = 3")),
            "`train.epochs` is 3 in this grid but was 2 when the directory was run"
        );
        assert_eq!(
            changed(&OLD.replace("epochs = 2\n", "")),
            "`train.epochs` is 10 (the default) in this grid but was 2 when the directory was run"
        );
        assert_eq!(
            changed(&OLD.replace("[0.1, 0.2]", "[0.1, 0.3]")),
            "`grid.learning_rate` is [0.1, 0.3] in this grid but was [0.1, 0.2] when the directory was run"
        );
        assert_eq!(
            changed(&format!("{OLD}dropout = [0.2]\n")),
            "`grid.dropout` is [0.2] in this grid but was 0 (the default) when the directory was run"
        );
        assert!(changed(&OLD.replace("seed = 1", "seed = 2")).starts_with("`seed` is 2 in this grid but was 1"));
        assert!(changed(&OLD.replace("source = \"toy\"", "path = \"d\"")).starts_with("`data.path` is path = \"d\""));
        let halving = format!("{OLD}[search]\nmethod = \"halving\"\n");
        assert!(changed(&halving).starts_with("`search.method` is \"halving\" in this grid but was \"grid\""));
        let e = compare(&grid(&halving), &grid(&halving.replace("[0.1, 0.2]", "[0.1, 0.2, 0.3]"))).unwrap_err();
        assert_eq!(
            e,
            Change::Rungs {
                method: "successive halving",
                before: 2,
                now: 3
            }
        );
        assert!(
            e.to_string()
                .contains("cannot grow in place; run the grown grid into a new directory"),
            "{e}"
        );
        let e = compare(
            &grid(&halving),
            &grid(&halving.replace("method = \"halving\"", "method = \"halving\"\neta = 2")),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("`search.eta` is 2 in this grid but was 3"), "{e}");
        // The scheduler that decides the rungs is named as it is: ASHA is not Hyperband.
        let asha = halving.replace("\"halving\"", "\"asha\"");
        let e = compare(&grid(&asha), &grid(&asha.replace("[0.1, 0.2]", "[0.1, 0.2, 0.3]"))).unwrap_err();
        assert!(
            e.to_string().starts_with("asynchronous successive halving decides each rung"),
            "{e}"
        );
        let sampled =
            "seed = 1\n[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nreg = { log = [1e-5, 1e-2] }\n";
        let e = compare(&grid(sampled), &grid(&format!("{sampled}hidden_size = [512, 8]\n"))).unwrap_err();
        assert!(matches!(e, Change::Draws { of: 4, .. }), "{e}");
        let e = compare(&grid(sampled), &grid(&sampled.replace("samples = 4", "samples = 2"))).unwrap_err();
        assert!(e.to_string().starts_with("`search.samples` is 2 in this grid but was 4"), "{e}");
    }
}
