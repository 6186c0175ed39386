//! Hyperparameter importance by fANOVA (Hutter, Hoos & Leyton-Brown, "An Efficient Approach for Assessing
//! Hyperparameter Importance", ICML 2014), computed with the `fanova` crate: a random forest is fitted to the
//! completed trials (axis values → objective), and an axis's importance is the fraction of the forest's variance
//! that the axis explains on its own (its main effect), averaged over the trees. What Optuna's default
//! `FanovaImportanceEvaluator` computes; the report and the dashboard both show this one computation.
//!
//! Inputs are as the axes are drawn: log-spaced axes as log10 of the value, named values (optimizer names, ...) as
//! their position in the axis. Axes that take a single value among the trials explain nothing and are given 0.
//! The forest's cost grows with the square of the trials and of the distinct values of an axis, so large sweeps are
//! subsampled (at most [`MAX_TRIALS`], picked by a hash of the sweep seed and each job id, so the answer does not
//! depend on file order) and an axis with more than [`LEVELS`] distinct values (a random or Sobol search) is binned
//! into that many quantiles, each value replaced by its bin's median. That keeps the computation near a second at
//! 10,000 trials; on the synthetic objectives below it moves no importance by more than 0.01.

use std::num::NonZeroUsize;

use serde::Serialize;

use sweep_grid::command::FreeAxis;
use sweep_grid::grid::Axis;
use sweep_params::params::Value;
use sweep_results::format::{JobStatus, Row};

/// At most this many trials enter the forest.
pub const MAX_TRIALS: usize = 500;
/// Trees of the forest (the `fanova` crate's default is 100).
pub const TREES: usize = 32;
/// An axis with more distinct values than this is binned into this many quantiles.
pub const LEVELS: usize = 32;
/// Fewer completed trials than this give no importance.
pub const MIN_TRIALS: usize = 4;

/// The importance of one axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// The axis (a parameter name).
    pub name: String,
    /// Its share of the axes' summed main effects (the axes' importances sum to 1), as Optuna normalises them.
    pub importance: f64,
    /// The fraction of the objective's variance (over the forest) explained by this axis alone.
    pub fraction: f64,
    /// Standard deviation of `fraction` over the trees.
    pub stddev: f64,
}

/// The importances of a sweep's axes, most important first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importances {
    /// Always "fANOVA".
    pub method: &'static str,
    /// Completed trials the forest was fitted to.
    pub trials: usize,
    /// Completed trials in all (more than `trials` when subsampled).
    pub of: usize,
    pub params: Vec<Importance>,
}

/// The numeric input of `row` on `axis`: log10 on a log axis, a name's position among the axis's values.
fn feature(axis: &Axis, row: &Row) -> Option<f64> {
    match axis.param.get(&row.config) {
        Value::Num(x) if axis.log => (x > 0.0).then(|| x.log10()),
        Value::Num(x) => x.is_finite().then_some(x),
        Value::Name(n) => axis
            .values
            .iter()
            .position(|v| matches!(v, Value::Name(m) if *m == n))
            .map(|i| i as f64),
    }
}

/// The numeric input of a command trial's row on a free-form axis: its value (log10 on a log axis), or a name's
/// (or a boolean's) position among the axis's values.
fn free_feature(axis: &FreeAxis, row: &Row) -> Option<f64> {
    let v = &row.trial.as_ref()?.values.iter().find(|(k, _)| *k == axis.name)?.1;
    match v.as_f64() {
        Some(x) if axis.log => (x > 0.0).then(|| x.log10()),
        Some(x) => x.is_finite().then_some(x),
        None => axis.values.iter().position(|a| a == v).map(|i| i as f64),
    }
}

/// fANOVA importance of `axes` over the completed rows with a finite objective (`objective` of a row), or None when
/// there are too few such rows, no axis varies, or the objective is the same for every trial.
pub fn importance(axes: &[Axis], rows: &[Row], objective: impl Fn(&Row) -> Option<f64>, seed: u64) -> Option<Importances> {
    let names: Vec<String> = axes.iter().map(|a| a.name().to_string()).collect();
    importance_of(&names, |k, r| feature(&axes[k], r), rows, objective, seed)
}

/// [`importance`] over a command sweep's free-form axes (its trials' own values).
pub fn importance_free(axes: &[FreeAxis], rows: &[Row], objective: impl Fn(&Row) -> Option<f64>, seed: u64) -> Option<Importances> {
    let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    importance_of(&names, |k, r| free_feature(&axes[k], r), rows, objective, seed)
}

/// fANOVA importance of the axes `names`, where `feature(k, row)` is a row's input on axis `k`.
fn importance_of(
    names: &[String],
    feature: impl Fn(usize, &Row) -> Option<f64>,
    rows: &[Row],
    objective: impl Fn(&Row) -> Option<f64>,
    seed: u64,
) -> Option<Importances> {
    let mut used: Vec<(&Row, f64)> = rows
        .iter()
        .filter(|r| r.status == JobStatus::Completed)
        .filter_map(|r| objective(r).filter(|v| v.is_finite()).map(|v| (r, v)))
        .filter(|(r, _)| (0..names.len()).all(|k| feature(k, r).is_some()))
        .collect();
    let of = used.len();
    if of < MIN_TRIALS || names.is_empty() {
        return None;
    }
    if used.len() > MAX_TRIALS {
        used.sort_by_key(|(r, _)| (sweep_core::rng::derive_seed(seed, &r.id), r.id.clone()));
        used.truncate(MAX_TRIALS);
    }
    let columns: Vec<Vec<f64>> = (0..names.len())
        .map(|k| used.iter().map(|(r, _)| feature(k, r).unwrap_or(0.0)).collect())
        .collect();
    let target: Vec<f64> = used.iter().map(|(_, v)| *v).collect();
    let fractions = fanova_fractions(&columns, &target, sweep_core::rng::derive_seed(seed, "importance"))?;
    let total: f64 = fractions.iter().map(|f| f.0).sum();
    let mut params: Vec<Importance> = names
        .iter()
        .zip(fractions)
        .map(|(name, (fraction, stddev))| Importance {
            name: name.clone(),
            importance: if total > 0.0 { fraction / total } else { 0.0 },
            fraction,
            stddev,
        })
        .collect();
    params.sort_by(|a, b| b.importance.total_cmp(&a.importance).then(a.name.cmp(&b.name)));
    Some(Importances {
        method: "fANOVA",
        trials: used.len(),
        of,
        params,
    })
}

/// For each column, (mean, standard deviation over the trees) of the fraction of variance it explains alone; a column
/// with a single value explains nothing and is left out of the forest. None when no column varies or the target is
/// constant.
pub fn fanova_fractions(columns: &[Vec<f64>], target: &[f64], seed: u64) -> Option<Vec<(f64, f64)>> {
    let varies = |c: &[f64]| c.iter().any(|x| *x != c[0]);
    if target.is_empty() || !varies(target) {
        return None;
    }
    let fitted: Vec<usize> = (0..columns.len()).filter(|&i| varies(&columns[i])).collect();
    if fitted.is_empty() {
        return None;
    }
    let binned: Vec<Vec<f64>> = fitted.iter().map(|&i| quantiles(&columns[i], LEVELS)).collect();
    let features: Vec<&[f64]> = binned.iter().map(Vec::as_slice).collect();
    let forest = fanova::RandomForestOptions::new()
        .seed(seed)
        .trees(NonZeroUsize::new(TREES).expect("TREES > 0"))
        // Every axis is a candidate at every split: sweeps have few axes, and sqrt(axes) would leave a lone
        // important axis out of most splits.
        .max_features(NonZeroUsize::new(fitted.len()).expect("at least one axis varies"));
    let mut model = fanova::FanovaOptions::new().random_forest(forest).fit(features, target).ok()?;
    let mut out = vec![(0.0, 0.0); columns.len()];
    for (k, &i) in fitted.iter().enumerate() {
        let imp = model.quantify_importance(&[k]);
        let (m, s) = (imp.mean, imp.stddev);
        out[i] = (if m.is_finite() { m.max(0.0) } else { 0.0 }, if s.is_finite() { s } else { 0.0 });
    }
    Some(out)
}

/// `column` with each value replaced by the median of its quantile bin, when it has more than `levels` distinct values.
fn quantiles(column: &[f64], levels: usize) -> Vec<f64> {
    let mut sorted = column.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    if distinct.len() <= levels {
        return column.to_vec();
    }
    let n = sorted.len();
    column
        .iter()
        .map(|x| {
            let bin = sorted.partition_point(|v| v < x) * levels / n;
            sorted[((2 * bin + 1) * n / (2 * levels)).min(n - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Uniform samples of three inputs in [0, 1).
    fn inputs(n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..3).map(|_| (0..n).map(|_| rng.gen::<f64>()).collect()).collect()
    }

    #[test]
    fn an_additive_objective_splits_its_variance_as_its_terms_do() {
        // y = 3 x0 + x1 (x2 unused), x uniform: Var(3 x0) = 9/12 and Var(x1) = 1/12, so the main effects explain
        // 90 % and 10 % of the variance and x2 none.
        let x = inputs(400, 1);
        let y: Vec<f64> = (0..400).map(|i| 3.0 * x[0][i] + x[1][i]).collect();
        let f = fanova_fractions(&x, &y, 7).unwrap();
        assert!((f[0].0 - 0.9).abs() < 0.05, "{f:?}");
        assert!((f[1].0 - 0.1).abs() < 0.04, "{f:?}");
        assert!(f[2].0 < 0.02, "{f:?}");
        // Deterministic for a seed.
        assert_eq!(fanova_fractions(&x, &y, 7).unwrap(), f);
    }

    /// A command sweep's importance is over its own free-form axes, read from its rows' values (a named value by its
    /// position among the axis's): the axis the objective follows is the important one.
    #[test]
    fn a_command_sweep_s_axes_are_weighed_on_its_own_values() {
        use serde_json::json;
        use sweep_grid::command::{Mode, Objective};
        use sweep_results::schema::TrialRow;
        let lr: [f64; 3] = [0.01, 0.1, 1.0];
        let opt = ["sgd", "adam"];
        let rows: Vec<Row> = (0..12)
            .map(|i| {
                let (l, o) = (lr[i % 3], opt[(i / 3) % 2]);
                Row {
                    id: format!("t{i}"),
                    config: sweep_core::TrainConfig::default(),
                    status: JobStatus::Completed,
                    rung: None,
                    epochs_run: 1.0,
                    best_epoch: Some(1.0),
                    best_val_acc: None,
                    train_acc: None,
                    final_loss: None,
                    seconds: 1.0,
                    trial: Some(Box::new(TrialRow {
                        values: vec![("lr".into(), json!(l)), ("opt".into(), json!(o))],
                        objective: Objective {
                            metric: "acc".into(),
                            mode: Mode::Max,
                        },
                        best: Some(l.log10() + 0.001 * i as f64),
                        metrics: Default::default(),
                        note: None,
                        others: Vec::new(),
                        pareto_rank: None,
                    })),
                    measures: None,
                }
            })
            .collect();
        let axes = [
            FreeAxis {
                name: "lr".into(),
                values: lr.iter().map(|x| json!(x)).collect(),
                log: true,
                range: None,
                integer: false,
            },
            FreeAxis {
                name: "opt".into(),
                values: opt.iter().map(|x| json!(x)).collect(),
                log: false,
                range: None,
                integer: false,
            },
        ];
        let objective = |r: &Row| r.trial.as_ref()?.best;
        let imp = importance_free(&axes, &rows, objective, 0).expect("12 completed trials over 2 axes");
        assert_eq!(imp.trials, 12);
        assert_eq!(imp.params[0].name, "lr", "{imp:?}");
        assert!(imp.params[0].importance > 0.9, "{imp:?}");
        // The built-in network's axes see nothing in these rows.
        assert!(importance(&[], &rows, objective, 0).is_none());
    }

    #[test]
    fn a_pure_interaction_has_no_main_effect() {
        // y = (x0 - 0.5)(x1 - 0.5): all of its variance is the interaction, none is either input's alone.
        let x = inputs(600, 2);
        let y: Vec<f64> = (0..600).map(|i| (x[0][i] - 0.5) * (x[1][i] - 0.5)).collect();
        let f = fanova_fractions(&x, &y, 3).unwrap();
        assert!(f.iter().all(|(m, _)| *m < 0.15), "{f:?}");
    }

    #[test]
    fn many_distinct_values_are_binned_into_quantiles() {
        let c: Vec<f64> = (0..100).map(f64::from).collect();
        let q = quantiles(&c, 10);
        let mut d = q.clone();
        d.dedup();
        assert_eq!(d.len(), 10, "{q:?}");
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "order is kept");
        assert_eq!(quantiles(&[3.0, 1.0, 3.0], 10), [3.0, 1.0, 3.0], "few values are kept as they are");
    }

    #[test]
    fn constant_columns_and_targets_are_handled() {
        let x = vec![vec![1.0; 10], (0..10).map(f64::from).collect()];
        let y: Vec<f64> = (0..10).map(|i| (i * i) as f64).collect();
        let f = fanova_fractions(&x, &y, 0).unwrap();
        assert_eq!(f[0], (0.0, 0.0), "a constant axis explains nothing");
        assert!(f[1].0 > 0.9, "{f:?}");
        assert!(
            fanova_fractions(&x, &[2.0; 10], 0).is_none(),
            "a constant objective has no importance"
        );
        assert!(fanova_fractions(&[vec![1.0; 10]], &y, 0).is_none(), "no axis varies");
    }
}
