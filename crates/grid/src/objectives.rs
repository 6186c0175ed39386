//! The grid's top-level `objectives = { val_acc = "max", seconds = "min" }`: the metrics a sweep optimizes at once,
//! each with its direction, in the order written (the first one picks a trial's best epoch, as a single objective
//! does; the others are read at that epoch). One objective is exactly a single-objective sweep; two to
//! [`MAX_OBJECTIVES`] make a multi-objective one, whose trials are compared by Pareto dominance.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::command::{Mode, Objective, RESERVED};
use crate::grid::Ctx;
use sweep_params::GridError;

/// Most objectives at once: the exact hypervolume the report and TPE compute grows quickly beyond it.
pub const MAX_OBJECTIVES: usize = 4;

/// The key.
pub const KEY: &str = "objectives";

/// The column results.csv adds for a multi-objective sweep: each trial's non-dominated rank (0: on the front).
pub const PARETO_RANK: &str = "pareto_rank";

/// The built-in network's objectives, with the direction each must have.
pub const BUILTIN: [(&str, Mode, &str); 4] = [
    ("val_acc", Mode::Max, "the best validation accuracy"),
    ("seconds", Mode::Min, "the trial's training seconds"),
    ("params", Mode::Min, "the number of weights and biases"),
    (
        "predict_s",
        Mode::Min,
        "seconds to score one image, measured the same way for every trial",
    ),
];

#[derive(Deserialize)]
struct Only {
    objectives: Option<BTreeMap<Spanned<String>, Spanned<Value>>>,
}

/// Reads `objectives`, in written order, each with the offset of its key; `None` when the grid has none. `top_offset`
/// is where the key is (for a value that is not a table).
pub(crate) fn parse(ctx: &Ctx, top: Option<(&Value, usize)>) -> Result<Option<Vec<(Objective, usize)>>, GridError> {
    let Some((value, offset)) = top else { return Ok(None) };
    let table = match value {
        Value::Table(_) => toml::from_str::<Only>(ctx.text())
            .ok()
            .and_then(|o| o.objectives)
            .unwrap_or_default(),
        other => {
            return Err(ctx.err(
                offset,
                Some(KEY),
                format!(
                    "expected a table of metrics and directions, e.g. objectives = {{ val_acc = \"max\", seconds = \
                     \"min\" }}, found {}",
                    crate::grid::type_name(other)
                ),
            ))
        }
    };
    let mut out: Vec<(Objective, usize)> = Vec::new();
    for (k, v) in &table {
        let metric = k.get_ref().clone();
        let key = format!("{KEY}.{metric}");
        let off = k.span().start;
        let mode = match v.get_ref() {
            Value::String(s) if s == "max" => Mode::Max,
            Value::String(s) if s == "min" => Mode::Min,
            other => {
                return Err(ctx.err(
                    v.span().start,
                    Some(&key),
                    format!("expected \"max\" or \"min\" (the direction of `{metric}`), found {other}"),
                ))
            }
        };
        if metric.trim().is_empty() || metric == "epoch" || metric.contains(['\n', '\r', '"']) {
            return Err(ctx.err(
                off,
                Some(&key),
                "an objective is a key of the program's records other than \"epoch\", without quotes or line breaks",
            ));
        }
        if metric == PARETO_RANK {
            return Err(ctx.err(
                off,
                Some(&key),
                format!("\"{metric}\" is a column results.csv has of its own; the objective needs another name"),
            ));
        }
        out.push((Objective { metric, mode }, off));
    }
    out.sort_by_key(|o| o.1);
    if out.is_empty() {
        return Err(ctx.err(
            offset,
            Some(KEY),
            "empty: name at least one metric and its direction, e.g. objectives = { val_acc = \"max\", seconds = \"min\" }",
        ));
    }
    if out.len() > MAX_OBJECTIVES {
        return Err(ctx.err(
            out[MAX_OBJECTIVES].1,
            Some(KEY),
            format!(
                "{} objectives: at most {MAX_OBJECTIVES} (the hypervolume that compares fronts is exact, and its cost \
                 grows fast with more)",
                out.len()
            ),
        ));
    }
    Ok(Some(out))
}

/// Checks a command sweep's objectives: keys of its program's records, none a column results.csv has of its own.
pub(crate) fn check_command(ctx: &Ctx, objectives: &[(Objective, usize)]) -> Result<(), GridError> {
    for (o, off) in objectives {
        if RESERVED.contains(&o.metric.as_str()) {
            return Err(ctx.err(
                *off,
                Some(&format!("{KEY}.{}", o.metric)),
                format!(
                    "\"{}\" is a column results.csv has of its own; the objective needs another name (have the program \
                     report it under another key)",
                    o.metric
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the built-in network's objectives: each one it can measure, in its only direction.
pub(crate) fn check_builtin(ctx: &Ctx, objectives: &[(Objective, usize)]) -> Result<(), GridError> {
    if let Some((first, off)) = objectives.first().filter(|(o, _)| o.metric != "val_acc") {
        return Err(ctx.err(
            *off,
            Some(&format!("{KEY}.{}", first.metric)),
            "the built-in network's best epoch is its best validation accuracy: write val_acc = \"max\" first, then the \
             other objectives",
        ));
    }
    for (o, off) in objectives {
        let key = format!("{KEY}.{}", o.metric);
        match BUILTIN.iter().find(|b| b.0 == o.metric) {
            Some((name, mode, what)) if *mode != o.mode => {
                return Err(ctx.err(
                    *off,
                    Some(&key),
                    format!(
                        "`{name}` ({what}) can only be {}: write {name} = \"{}\"",
                        if *mode == Mode::Max { "maximized" } else { "minimized" },
                        mode.as_str()
                    ),
                ))
            }
            Some(_) => {}
            None => {
                return Err(ctx.err(
                    *off,
                    Some(&key),
                    format!(
                        "the built-in network has no metric `{}`; it measures {}",
                        o.metric,
                        BUILTIN
                            .iter()
                            .map(|(n, m, w)| format!("{n} (\"{}\", {w})", m.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::grid::Grid;

    fn parse(text: &str) -> Result<Grid, String> {
        Grid::parse(Path::new("g.toml"), text).map_err(|e| e.to_string())
    }

    const COMMAND: &str = "[command]\nrun = [\"python3\", \"t.py\"]\n[train]\nepochs = 3\n[grid]\nx = [1, 2]\n";
    const BUILTIN: &str = "[data]\nsource = \"toy\"\n[grid]\nlearning_rate = [0.1, 0.3]\n";

    #[test]
    fn objectives_keep_their_written_order_and_take_the_place_of_metric() {
        let g = parse(&format!(
            "objectives = {{ zeta = \"min\", alpha = \"max\", mid = \"min\" }}\n{COMMAND}"
        ))
        .unwrap();
        let names: Vec<&str> = g.objectives.iter().map(|o| o.metric.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"], "written order, not sorted");
        let c = g.command.unwrap();
        assert_eq!(c.command.objective.metric, "zeta");
        assert_eq!(c.command.objectives.len(), 3);
        // One objective: the same grid as metric and mode.
        let one = parse(&format!("objectives = {{ loss = \"min\" }}\n{COMMAND}")).unwrap();
        let classic = parse(&COMMAND.replace("[train]", "metric = \"loss\"\nmode = \"min\"\n[train]")).unwrap();
        assert_eq!(one.objectives, classic.objectives);
        assert_eq!(one.command.unwrap().command.objective, classic.command.unwrap().command.objective);
        let b = parse(&format!("objectives = {{ val_acc = \"max\", params = \"min\" }}\n{BUILTIN}")).unwrap();
        assert_eq!(b.objectives.len(), 2);
    }

    #[test]
    fn mistakes_name_the_key() {
        let cases = [
            (
                format!("objectives = {{ a = \"up\" }}\n{COMMAND}"),
                "g.toml:1:20: objectives.a: expected \"max\" or \"min\"",
            ),
            (format!("objectives = {{}}\n{COMMAND}"), "objectives: empty"),
            (format!("objectives = 3\n{COMMAND}"), "objectives: expected a table"),
            (
                format!("objectives = {{ a = \"min\", b = \"min\", c = \"min\", d = \"min\", e = \"min\" }}\n{COMMAND}"),
                "5 objectives: at most 4",
            ),
            (
                format!("objectives = {{ pareto_rank = \"min\" }}\n{COMMAND}"),
                "objectives.pareto_rank",
            ),
            (
                format!("objectives = {{ seconds = \"min\", a = \"max\" }}\n{COMMAND}"),
                "objectives.seconds: \"seconds\" is a column",
            ),
            (
                format!(
                    "objectives = {{ a = \"min\", b = \"max\" }}\n{}",
                    COMMAND.replace("[train]", "metric = \"a\"\n[train]")
                ),
                "command.metric: the grid's `objectives` names what to optimize",
            ),
            (
                format!("objectives = {{ a = \"min\", x = \"max\" }}\n{COMMAND}"),
                "grid.x: `x` is an objective's column",
            ),
            (
                format!("objectives = {{ params = \"min\", val_acc = \"max\" }}\n{BUILTIN}"),
                "write val_acc = \"max\" first",
            ),
            (
                format!("objectives = {{ val_acc = \"max\", params = \"max\" }}\n{BUILTIN}"),
                "can only be minimized",
            ),
            (
                format!("objectives = {{ val_acc = \"max\", loss = \"min\" }}\n{BUILTIN}"),
                "has no metric `loss`",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).expect_err(&text);
            assert!(e.contains(want), "{text}\nwanted: {want}\ngot: {e}");
        }
    }
}
