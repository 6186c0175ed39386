//! One `[grid]` axis and one `[train]` value, checked against the parameter table: a list, a spaced range
//! (`{ log = [lo, hi], num = n }`, `{ linear = ... }`) or a continuous range for sampling searches. Every number is
//! judged by core's rules (so NaN and infinities are refused like any other out-of-range value), and an axis that
//! would give the same value twice is refused: it would train the same configuration twice.

use toml::{Spanned, Value};

use crate::grid::{suggest, type_name, Ctx};
use sweep_params::params::{self, Param, Value as PValue};
use sweep_params::GridError;

pub use sweep_params::axis::{Axis, MAX_AXIS_VALUES};

/// Checks one value of a training parameter against the parameter table.
pub(crate) fn param_value(ctx: &Ctx, p: &Param, key: &str, v: &Value, offset: usize) -> Result<PValue, GridError> {
    let checked = match (v, p.is_integer()) {
        (Value::Integer(i), _) if i.unsigned_abs() > 1u64 << 53 => Err(params::ValueError(format!(
            "{} = {i} is invalid: whole numbers beyond 2^53 = 9007199254740992 are not taken",
            p.name
        ))),
        (Value::Integer(i), _) => p.number(*i as f64),
        (Value::Float(f), false) => p.number(*f),
        (Value::String(s), _) if !matches!(p.kind, params::Kind::Int | params::Kind::Float) => p.name_value(s),
        (other, int) => {
            let want = if int { "an integer" } else { "a number" };
            return Err(ctx.err(offset, Some(key), format!("expected {want}, found {}", type_name(other))));
        }
    };
    checked.map_err(|e| ctx.err(offset, Some(key), e.to_string()))
}

/// `num` values from `lo` to `hi`, rounded to 12 significant digits.
pub(crate) fn spaced(lo: f64, hi: f64, num: usize, log: bool) -> Vec<f64> {
    if num == 1 {
        return vec![lo];
    }
    (0..num)
        .map(|i| {
            let t = i as f64 / (num - 1) as f64;
            let v = if log {
                (lo.ln() + t * (hi.ln() - lo.ln())).exp()
            } else {
                lo + t * (hi - lo)
            };
            // 12 significant digits: 1e-3 rather than 0.0010000000000000002, in ids, CSV and plots alike.
            format!("{v:.11e}").parse().unwrap_or(v)
        })
        .collect()
}

/// The first value that occurs twice, if any.
fn repeated(values: &[PValue]) -> Option<PValue> {
    values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)).map(|(_, v)| *v)
}

/// A range table's bounds and whether they are logarithmic: exactly one of `log` or `linear`, and `num` the only
/// other key (built-in and command axes alike); `shape` says what was expected.
pub(crate) fn range_table<'t>(ctx: &Ctx, off: usize, key: &str, t: &'t toml::Table, shape: &str) -> Result<(&'t Value, bool), GridError> {
    if let Some(k) = t.keys().find(|k| !["log", "linear", "num"].contains(&k.as_str())) {
        return Err(ctx.err(off, Some(&format!("{key}.{k}")), suggest(k, &["log", "linear", "num"])));
    }
    match (t.get("log"), t.get("linear")) {
        (Some(r), None) => Ok((r, true)),
        (None, Some(r)) => Ok((r, false)),
        _ => Err(ctx.err(
            off,
            Some(key),
            format!("a range table needs exactly one of `log` or `linear`; expected {shape}"),
        )),
    }
}

/// An axis list holds 1 to [`MAX_AXIS_VALUES`] values; else what is wrong (`shape`: what was expected).
pub(crate) fn list_size(n: usize, shape: &str) -> Result<(), String> {
    if n == 0 {
        return Err(format!("the axis is empty; give at least one value, as {shape}"));
    }
    if n > MAX_AXIS_VALUES {
        return Err(format!("{n} values; an axis takes at most {MAX_AXIS_VALUES}"));
    }
    Ok(())
}

/// A range table's `num`: `None` when absent (a continuous range), else 1 to [`MAX_AXIS_VALUES`].
pub(crate) fn range_num(ctx: &Ctx, off: usize, key: &str, t: &toml::Table) -> Result<Option<usize>, GridError> {
    match t.get("num") {
        None => Ok(None),
        Some(Value::Integer(n)) if (1..=MAX_AXIS_VALUES as i64).contains(n) => Ok(Some(*n as usize)),
        Some(other) => Err(ctx.err(
            off,
            Some(&format!("{key}.num")),
            format!("must be an integer from 1 to {MAX_AXIS_VALUES}, found {other}"),
        )),
    }
}

/// An axis's values (and whether they are log-spaced); a range without `num` is returned as `range`.
#[allow(clippy::type_complexity)]
pub(crate) fn axis_values(ctx: &Ctx, p: &Param, v: &Spanned<Value>) -> Result<(Vec<PValue>, bool, Option<(f64, f64)>), GridError> {
    let key = format!("grid.{}", p.name);
    let off = v.span().start;
    let err = |msg: String| ctx.err(off, Some(&key), msg);
    let shape = "a list of values like [0.1, 0.2] or { log = [1e-5, 1e-2], num = 4 } (or linear = [lo, hi])";
    match v.get_ref() {
        Value::Array(items) => {
            list_size(items.len(), shape).map_err(err)?;
            let vals = items
                .iter()
                .map(|i| param_value(ctx, p, &key, i, off))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(twice) = repeated(&vals) {
                return Err(err(format!(
                    "{twice} is listed twice: the same configurations would train twice; list each value once"
                )));
            }
            Ok((vals, false, None))
        }
        Value::Table(t) => {
            let (kind, log) = range_table(ctx, off, &key, t, shape)?;
            let range: Vec<f64> = match kind {
                Value::Array(a) if a.len() == 2 => a
                    .iter()
                    .map(|x| match x {
                        Value::Integer(i) => Some(*i as f64),
                        Value::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| err("the range must be two numbers [lo, hi]".into()))?,
                _ => return Err(err("the range must be two numbers [lo, hi]".into())),
            };
            let (lo, hi) = (range[0], range[1]);
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(err(format!("the range's bounds must be finite numbers, got [{lo}, {hi}]")));
            }
            if log && !(lo > 0.0 && hi > 0.0) {
                return Err(err(format!("log-spaced bounds must be > 0, got [{lo}, {hi}]")));
            }
            if matches!(p.kind, params::Kind::Choice(_)) {
                return Err(err("a range needs a numeric parameter; list the names instead".into()));
            }
            let num = match range_num(ctx, off, &key, t)? {
                Some(n) => n,
                None => {
                    // A continuous range, for sampling searches ([search] checks that the method samples).
                    if lo > hi {
                        return Err(err(format!("the range [{lo}, {hi}] is empty: give [low, high]")));
                    }
                    for x in [lo, hi] {
                        let x = if p.is_integer() { x.round() } else { x };
                        p.number(x).map_err(|e| err(e.to_string()))?;
                    }
                    return Ok((vec![], log, Some((lo, hi))));
                }
            };
            let mut vals = spaced(lo, hi, num, log);
            if let Some(x) = vals.iter().find(|x| !x.is_finite()) {
                return Err(err(format!("the range [{lo}, {hi}] is too wide to space: it gives {x}")));
            }
            if p.is_integer() {
                vals = vals.into_iter().map(f64::round).collect();
            }
            let vals = vals
                .into_iter()
                .map(|x| p.number(x).map_err(|e| err(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(twice) = repeated(&vals) {
                let how = if p.is_integer() {
                    "after rounding to whole numbers"
                } else {
                    "at 12 significant digits"
                };
                return Err(err(format!(
                    "{num} values from {lo} to {hi} give {twice} twice {how}: the same configurations would train \
                     twice; ask for fewer values (num) or a wider range"
                )));
            }
            Ok((vals, log, None))
        }
        other => Err(err(format!(
            "expected {shape}, found {}; a single value belongs in [train]",
            type_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::grid::Grid;

    fn refused(text: &str) -> String {
        Grid::parse(Path::new("g.toml"), text).expect_err(text).to_string()
    }

    #[test]
    fn integer_log_axis_is_rounded_and_a_range_giving_a_value_twice_is_refused() {
        let g = Grid::parse(Path::new("g.toml"), "[grid]\nhidden_size = { log = [16, 1024], num = 7 }\n").unwrap();
        let v: Vec<f64> = g.axes[0].values.iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(v, [16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]);
        assert!(g.axes[0].log);
        // Earlier releases dropped the repeats silently (and a float range gave jobs with one id).
        assert_eq!(
            refused("[grid]\nhidden_size = { log = [16, 20], num = 7 }\n"),
            "g.toml:2:15: grid.hidden_size: 7 values from 16 to 20 give 17 twice after rounding to whole numbers: the \
             same configurations would train twice; ask for fewer values (num) or a wider range"
        );
        assert!(
            refused("[grid]\nreg = { linear = [0.1, 0.1], num = 3 }\n").contains("grid.reg: 3 values from 0.1 to 0.1 give 0.1 twice at 12")
        );
        assert!(refused("[grid]\nreg = { linear = [1, 1.0000000000001], num = 2 }\n").contains("give 1 twice at 12 significant digits"));
        assert!(refused("[grid]\nlearning_rate = [0.1, 0.2, 0.1]\n").contains("grid.learning_rate: 0.1 is listed twice"));
        assert!(refused("[grid]\noptimizer = [\"adam\", \"adam\"]\n").contains("adam is listed twice"));
        assert!(refused("[grid]\nreg = { linear = [0, 1], num = 100000 }\n").contains("grid.reg.num: must be an integer from 1 to 65536"));
    }

    #[test]
    fn non_finite_bounds_and_values_are_refused_where_they_are_written() {
        let cases = [
            (
                "[grid]\nreg = { linear = [0, inf], num = 3 }\n",
                "g.toml:2:7: grid.reg: the range's bounds must be finite numbers, got [0, inf]",
            ),
            (
                "[grid]\nreg = { log = [nan, 1] }\n",
                "g.toml:2:7: grid.reg: the range's bounds must be finite numbers, got [NaN, 1]",
            ),
            (
                "[grid]\nlearning_rate = { linear = [-inf, 1] }\n",
                "grid.learning_rate: the range's bounds must be finite",
            ),
            (
                "[grid]\nlearning_rate = [nan]\n",
                "g.toml:2:17: grid.learning_rate: learning_rate = NaN is invalid: must be a finite number > 0",
            ),
            (
                "[train]\ndropout = inf\n",
                "g.toml:2:11: train.dropout: dropout = inf is invalid: must be in [0, 1)",
            ),
            (
                "[train]\noptimizer = \"nesterov\"\nmomentum = nan\n",
                "g.toml:3:12: train.momentum: momentum = NaN is invalid: must be in [0, 1)",
            ),
            (
                "[train]\ninit_std = -inf\n",
                "train.init_std: init_std = -inf is invalid: must be a finite number > 0",
            ),
            ("[grid]\nreg = { linear = [-1.7e308, 1.7e308], num = 3 }\n", "grid.reg: the range"),
            ("[grid]\nreg = { linear = [-1.7e308, 1.7e308], num = 3 }\n", "is too wide to space"),
            (
                "[train]\nepochs = 9007199254740993\n",
                "train.epochs: epochs = 9007199254740993 is invalid: whole numbers beyond 2^53",
            ),
            (
                "[train]\nhidden_size = -3\n",
                "train.hidden_size: hidden_size = -3 is invalid: must be an integer >= 1",
            ),
            (
                "[train]\nhidden_size = 2.5\n",
                "train.hidden_size: expected an integer, found a float",
            ),
        ];
        for (text, want) in cases {
            let e = refused(text);
            assert!(e.contains(want), "{text}\nwanted: {want}\ngot: {e}");
        }
    }
}
