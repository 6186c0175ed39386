//! Command sweeps (issue 18): a grid whose `[command]` table names the user's own program. `[train]` and `[grid]`
//! then hold free-form names (any name the program understands) with numbers, strings or booleans; `[train] epochs`
//! (or an `epochs` axis of a plain grid) is each trial's budget, the last rung. Every mistake is a [`GridError`]
//! naming the file, line, column and key. The trials themselves ([`CommandGrid::trials`]) live in
//! [`crate::trials`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value as Json};
use toml::{Spanned, Value};

use std::path::{Path, PathBuf};

use crate::argv::{expand_argv, ArgvError};
use crate::axis::spaced;
use crate::grid::{suggest, type_name, Ctx, DataSection, DataSource, Grid, MAX_JOBS};
use sweep_params::params::{self, Value as PValue};
use sweep_params::GridError;

/// SIGTERM, then SIGKILL this much later, unless `grace_s` says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
use sweep_search::Search;

/// The keys of `[command]`.
pub const COMMAND_KEYS: [&str; 6] = ["run", "metric", "mode", "timeout_s", "grace_s", "gpus"];

/// Most devices one trial may ask for (`gpus`).
pub const MAX_GPUS: u32 = 1024;

/// The devices each trial of a command sweep gets (`[command] gpus`, issue 36): whole devices of its own, or a share
/// of one device (`gpus = 0.5`: two trials on each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gpus {
    /// As written: a whole number >= 1, or a fraction in (0, 1).
    pub per_trial: f64,
    /// Where `gpus` is written, (line, column): a trial asking for more devices than are found is refused there.
    pub pos: (usize, usize),
}

impl Gpus {
    /// Devices a trial holds: `per_trial` when whole, else 1 (shared).
    pub fn devices(&self) -> usize {
        if self.per_trial >= 1.0 {
            self.per_trial as usize
        } else {
            1
        }
    }

    /// Trials one device takes at once: 1 for whole devices, floor(1 / per_trial) for a fraction.
    pub fn trials_per_device(&self) -> usize {
        if self.per_trial >= 1.0 {
            1
        } else {
            // A tolerance: 1/3 written as 0.3333333333333333 still gives 3.
            ((1.0 / self.per_trial) + 1e-9).floor() as usize
        }
    }

    /// Trials that can run at once on `devices` devices: floor(devices / gpus), or devices * floor(1 / gpus).
    pub fn capacity(&self, devices: usize) -> usize {
        if self.per_trial >= 1.0 {
            devices / self.devices()
        } else {
            devices * self.trials_per_device()
        }
    }
}

/// Names a trial's values cannot take: the columns `results.csv` has of its own for a command sweep.
pub const RESERVED: [&str; 9] = [
    "id",
    "seed",
    "status",
    "rung",
    "epochs_run",
    "best_epoch",
    "metrics",
    "seconds",
    "note",
];

/// Whether the objective is maximized or minimized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Max,
    Min,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Max => "max",
            Mode::Min => "min",
        }
    }
}

/// The objective of a command sweep: a key of the program's metric records, and its direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Objective {
    pub metric: String,
    pub mode: Mode,
}

impl Objective {
    /// `v` as a score where higher is better (the one direction rung decisions, TPE and rankings read).
    pub fn score(&self, v: f64) -> f64 {
        match self.mode {
            Mode::Max => v,
            Mode::Min => -v,
        }
    }
}

/// The checked `[command]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The argv template (no shell): `{name}` is replaced by a value, values named nowhere are appended.
    pub run: Vec<String>,
    /// The first objective (`metric` and `mode`, or the first of the grid's `objectives`): it picks a trial's best
    /// epoch.
    pub objective: Objective,
    /// Every objective, the first one included: more than one when the grid has `objectives` with several.
    pub objectives: Vec<Objective>,
    /// Per run of the program: SIGTERM after this long (then SIGKILL after `grace`).
    pub timeout: Option<Duration>,
    pub grace: Duration,
    /// Where `run` is written, (line, column), for what is found wrong with it later (the program not found).
    pub run_pos: (usize, usize),
    /// `gpus`: the devices each trial gets (none asked when `None`: trials see whatever sweep sees).
    pub gpus: Option<Gpus>,
}

/// One free-form `[grid]` axis: values in file order, or a continuous range for sampling searches.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeAxis {
    pub name: String,
    pub values: Vec<Json>,
    /// Log-spaced values, or a range sampled log-uniformly.
    pub log: bool,
    /// `{ log = [lo, hi] }` or `{ linear = [lo, hi] }` without `num` (then `values` is empty).
    pub range: Option<(f64, f64)>,
    /// A range of whole numbers (both bounds written as integers).
    pub integer: bool,
}

/// What a command grid holds besides the sections every grid has.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandGrid {
    pub command: Command,
    /// `[train]`, in file order.
    pub fixed: Vec<(String, Json)>,
    /// `[grid]`, in file order.
    pub axes: Vec<FreeAxis>,
}

impl CommandGrid {
    /// The columns of the trial's values in `results.csv`: the axes, then the fixed values, each in file order.
    pub fn columns(&self) -> Vec<String> {
        self.axes
            .iter()
            .map(|a| a.name.clone())
            .chain(self.fixed.iter().map(|(k, _)| k.clone()))
            .collect()
    }
}

type TomlMap = BTreeMap<Spanned<String>, Spanned<Value>>;

/// `[command] run`'s elements with their positions (a `toml::Value` keeps none inside an array).
#[derive(Deserialize)]
struct RunSpans {
    command: Option<RunOnly>,
}

#[derive(Deserialize)]
struct RunOnly {
    run: Option<Vec<Spanned<Value>>>,
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A name a trial's value may take: letters, digits, `_`, `-` and `.`, starting with a letter or `_`.
fn check_name(ctx: &Ctx, key: &str, name: &str, metrics: &[String], offset: usize) -> Result<(), GridError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !ok {
        return Err(ctx.err(
            offset,
            Some(key),
            format!(
                "`{name}` cannot name a value: use letters, digits, '_', '-' or '.', starting with a letter or '_' (the \
                 program gets it as --{name}=VALUE and it is a column of results.csv)"
            ),
        ));
    }
    if name == "seed" {
        return Err(ctx.err(
            offset,
            Some(key),
            "`seed` is the column of each trial's own seed, derived from the sweep's `seed` and the trial's id (the \
             program gets it as SWEEP_SEED): name your value another way, e.g. `init_seed`, or `repeat = [0, 1, 2]` to \
             run a configuration several times",
        ));
    }
    let objective = metrics.iter().any(|m| m == name);
    if RESERVED.contains(&name) || objective || (metrics.len() > 1 && name == crate::objectives::PARETO_RANK) {
        let why = if objective && metrics.len() == 1 {
            "the objective's column (`metric`)"
        } else if objective {
            "an objective's column (`objectives`)"
        } else {
            "a column results.csv has of its own"
        };
        return Err(ctx.err(
            offset,
            Some(key),
            format!(
                "`{name}` is {why} ({}): name the value another way",
                RESERVED.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(())
}

/// One value of the program: a finite number, a string or a boolean.
fn scalar(ctx: &Ctx, key: &str, v: &Value, offset: usize) -> Result<Json, GridError> {
    let err = |m: String| ctx.err(offset, Some(key), m);
    match v {
        Value::Integer(i) => Ok(Json::from(*i)),
        Value::Float(f) => Number::from_f64(*f).map(Json::Number).ok_or_else(|| {
            err(format!(
                "{f} is not a finite number (the program reads its values as JSON, which has no {f})"
            ))
        }),
        // The value goes into the program's arguments (`--name=VALUE`, `{name}`), where a NUL byte cannot be.
        Value::String(s) if s.contains('\0') => Err(err(
            "a value cannot hold a NUL byte (\\u0000): the program gets its values as arguments, which cannot hold one".into(),
        )),
        Value::String(s) => Ok(Json::String(s.clone())),
        Value::Boolean(b) => Ok(Json::Bool(*b)),
        other => Err(err(format!("expected a number, a string or a boolean, found {}", type_name(other)))),
    }
}

/// The first value that occurs twice.
fn repeated(values: &[Json]) -> Option<&Json> {
    values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)).map(|(_, v)| v)
}

/// A `[grid]` axis of a command sweep.
fn free_axis(ctx: &Ctx, name: &str, v: &Spanned<Value>) -> Result<FreeAxis, GridError> {
    let key = format!("grid.{name}");
    let off = v.span().start;
    let err = |m: String| ctx.err(off, Some(&key), m);
    let shape = "a list of values like [0.1, 0.2] or [\"adam\", \"sgd\"], or { log = [1e-5, 1e-2], num = 4 } (or linear = [lo, hi])";
    let mut axis = FreeAxis {
        name: name.to_string(),
        values: vec![],
        log: false,
        range: None,
        integer: false,
    };
    match v.get_ref() {
        Value::Array(items) => {
            crate::axis::list_size(items.len(), shape).map_err(err)?;
            axis.values = items.iter().map(|i| scalar(ctx, &key, i, off)).collect::<Result<_, _>>()?;
            if let Some(twice) = repeated(&axis.values) {
                return Err(err(format!(
                    "{twice} is listed twice: the same trials would run twice; list each value once"
                )));
            }
            Ok(axis)
        }
        Value::Table(t) => {
            let (bounds, log) = crate::axis::range_table(ctx, off, &key, t, shape)?;
            let pair = match bounds {
                Value::Array(a) if a.len() == 2 => a.iter().map(number_of).collect::<Option<Vec<f64>>>(),
                _ => None,
            }
            .ok_or_else(|| err("the range must be two numbers [lo, hi]".into()))?;
            let (lo, hi) = (pair[0], pair[1]);
            axis.log = log;
            axis.integer = matches!(bounds, Value::Array(a) if a.iter().all(|x| matches!(x, Value::Integer(_))));
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(err(format!("the range's bounds must be finite numbers, got [{lo}, {hi}]")));
            }
            if log && !(lo > 0.0 && hi > 0.0) {
                return Err(err(format!("log-spaced bounds must be > 0, got [{lo}, {hi}]")));
            }
            if lo > hi {
                return Err(err(format!("the range [{lo}, {hi}] is empty: give [low, high]")));
            }
            let Some(num) = crate::axis::range_num(ctx, off, &key, t)? else {
                // A continuous range, for sampling searches ([search] checks that the method samples).
                axis.range = Some((lo, hi));
                return Ok(axis);
            };
            let xs = spaced(lo, hi, num, log);
            if let Some(x) = xs.iter().find(|x| !x.is_finite()) {
                return Err(err(format!("the range [{lo}, {hi}] is too wide to space: it gives {x}")));
            }
            axis.values = xs
                .into_iter()
                .map(|x| {
                    if axis.integer {
                        Json::from(x.round() as i64)
                    } else {
                        Number::from_f64(x).map_or(Json::Null, Json::Number)
                    }
                })
                .collect();
            if let Some(twice) = repeated(&axis.values) {
                let how = if axis.integer {
                    "after rounding to whole numbers (write the bounds as 1.0, 2.0 for real numbers)"
                } else {
                    "at 12 significant digits"
                };
                return Err(err(format!(
                    "{num} values from {lo} to {hi} give {twice} twice {how}: the same trials would run twice; ask for \
                     fewer values (num) or a wider range"
                )));
            }
            Ok(axis)
        }
        other => Err(err(format!(
            "expected {shape}, found {}; a single value belongs in [train]",
            type_name(other)
        ))),
    }
}

/// The budget `epochs` must be a whole number >= 1 wherever it is given.
fn check_epochs(ctx: &Ctx, key: &str, v: &Json, offset: usize) -> Result<usize, GridError> {
    match v.as_u64() {
        Some(e) if (1..=(1 << 53)).contains(&e) => Ok(e as usize),
        _ => Err(ctx.err(
            offset,
            Some(key),
            format!("epochs = {v} is invalid: the budget (each trial's last rung) must be an integer >= 1"),
        )),
    }
}

/// Reads `[command]`, `[train]` and `[grid]` of a command sweep. Returns the grid and the budget (`epochs`, fixed;
/// `None` when it is an axis).
pub(crate) fn parse(
    ctx: &Ctx,
    command: &TomlMap,
    command_offset: usize,
    train: Option<&TomlMap>,
    grid: Option<&TomlMap>,
    objectives: Option<Vec<Objective>>,
) -> Result<(CommandGrid, Option<usize>), GridError> {
    let mut run: Option<&Spanned<Value>> = None;
    let (mut metric, mut mode, mut timeout, mut grace) = (None, Mode::Max, None, DEFAULT_GRACE);
    let metric_written = command.keys().any(|k| k.get_ref() == "metric");
    let mode_written = command.keys().any(|k| k.get_ref() == "mode");
    let mut gpus = None;
    for (k, v) in command {
        let name = k.get_ref().as_str();
        let key = format!("command.{name}");
        let off = v.span().start;
        let seconds = |min_exclusive: bool| -> Result<Duration, GridError> {
            match number_of(v.get_ref()) {
                Some(s) if s.is_finite() && (s > 0.0 || (!min_exclusive && s == 0.0)) && s <= MAX_SECONDS as f64 => {
                    Ok(Duration::from_secs_f64(s))
                }
                _ => Err(ctx.err(
                    off,
                    Some(&key),
                    format!(
                        "expected a number of seconds {} and at most {MAX_SECONDS} (about 31 years), found {}",
                        if min_exclusive { "> 0" } else { ">= 0" },
                        v.get_ref()
                    ),
                )),
            }
        };
        match name {
            "run" => run = Some(v),
            "metric" => match v.get_ref() {
                Value::String(s) if !s.trim().is_empty() && s != "epoch" => metric = Some((s.clone(), off)),
                other => {
                    return Err(ctx.err(
                        off,
                        Some(&key),
                        format!(
                            "expected the name of the objective, a key of the program's records other than \"epoch\" \
                             (e.g. metric = \"val_acc\"), found {other}"
                        ),
                    ))
                }
            },
            "mode" => {
                mode = match v.get_ref() {
                    Value::String(s) if s == "max" => Mode::Max,
                    Value::String(s) if s == "min" => Mode::Min,
                    other => return Err(ctx.err(off, Some(&key), format!("expected \"max\" or \"min\", found {other}"))),
                }
            }
            "timeout_s" => timeout = Some(seconds(true)?),
            "grace_s" => grace = seconds(false)?,
            "gpus" => gpus = Some(parse_gpus(ctx, v)?),
            other => return Err(ctx.err(k.span().start, Some(&key), suggest(other, &COMMAND_KEYS))),
        }
    }
    let objectives = match (objectives, metric) {
        (Some(o), None) if !mode_written => o,
        (Some(_), _) => {
            let off = command.iter().find(|(k, _)| k.get_ref() == "metric" || k.get_ref() == "mode");
            return Err(ctx.err(
                off.map_or(command_offset, |(k, _)| k.span().start),
                Some(if metric_written { "command.metric" } else { "command.mode" }),
                "the grid's `objectives` names what to optimize: remove [command] metric and mode (or remove \
                 `objectives` and keep them, for one objective)",
            ));
        }
        (None, Some((metric, off))) => {
            check_metric_name(ctx, &metric, off)?;
            vec![Objective { metric, mode }]
        }
        (None, None) => {
            return Err(ctx.err(
                command_offset,
                Some("command.metric"),
                "missing: name the objective, a key of the program's records (e.g. metric = \"val_acc\", and mode = \
                 \"max\" or \"min\"), or several at once at the top of the file: objectives = { val_acc = \"max\", \
                 seconds = \"min\" }",
            ))
        }
    };
    let metrics: Vec<String> = objectives.iter().map(|o| o.metric.clone()).collect();
    let run_value = run.ok_or_else(|| {
        ctx.err(
            command_offset,
            Some("command.run"),
            "missing: the program to run, as a list (e.g. run = [\"python3\", \"train.py\", \"--lr={lr}\"])",
        )
    })?;
    let run_off = run_value.span().start;
    let argv: Vec<String> = match run_value.get_ref() {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(index, i)| match i {
                // An argument is a C string for the system: a NUL byte would end it (the program could not start).
                Value::String(s) if s.contains('\0') => Err(ctx.err(
                    run_arg_offset(ctx, index).unwrap_or(run_off),
                    Some("command.run"),
                    format!("argument {index} holds a NUL byte (\\u0000), which no program argument can hold"),
                )),
                Value::String(s) => Ok(s.clone()),
                other => Err(ctx.err(
                    run_off,
                    Some("command.run"),
                    format!("every argument must be a string, found {} ({other})", type_name(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Value::Array(_) => {
            return Err(ctx.err(
                run_off,
                Some("command.run"),
                "the list is empty: give at least the program to start",
            ));
        }
        other => {
            return Err(ctx.err(
                run_off,
                Some("command.run"),
                format!(
                    "expected a list of arguments (no shell), e.g. run = [\"python3\", \"train.py\"], found {}",
                    type_name(other)
                ),
            ))
        }
    };
    if argv[0].is_empty() {
        return Err(ctx.err(run_off, Some("command.run"), "the program (the first argument) is empty"));
    }

    let mut fixed = Vec::new();
    let mut fixed_line: BTreeMap<String, usize> = BTreeMap::new();
    let mut budget = None;
    let mut entries: Vec<(&Spanned<String>, &Spanned<Value>)> = train.into_iter().flatten().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let name = k.get_ref().as_str();
        let key = format!("train.{name}");
        check_name(ctx, &key, name, &metrics, k.span().start)?;
        let value = match v.get_ref() {
            Value::Array(_) | Value::Table(_) => {
                return Err(ctx.err(
                    v.span().start,
                    Some(&key),
                    format!(
                        "a fixed value is a number, a string or a boolean, found {}; values to try belong in [grid]",
                        type_name(v.get_ref())
                    ),
                ))
            }
            other => scalar(ctx, &key, other, v.span().start)?,
        };
        if name == "epochs" {
            budget = Some(check_epochs(ctx, &key, &value, v.span().start)?);
        }
        fixed_line.insert(name.to_string(), ctx.pos(k.span().start).0);
        fixed.push((name.to_string(), value));
    }
    let mut entries: Vec<(&Spanned<String>, &Spanned<Value>)> = grid.into_iter().flatten().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut axes = Vec::new();
    for (k, v) in entries {
        let name = k.get_ref().as_str();
        let key = format!("grid.{name}");
        check_name(ctx, &key, name, &metrics, k.span().start)?;
        if let Some(line) = fixed_line.get(name) {
            return Err(ctx.err(
                k.span().start,
                Some(&key),
                format!("`{name}` is both fixed in [train] (line {line}) and an axis in [grid]; keep only one"),
            ));
        }
        let axis = free_axis(ctx, name, v)?;
        if name == "epochs" {
            if axis.range.is_some() {
                return Err(ctx.err(v.span().start, Some(&key), "the budget cannot be sampled: list the epochs to try"));
            }
            for e in &axis.values {
                check_epochs(ctx, &key, e, v.span().start)?;
            }
        }
        axes.push(axis);
    }
    if budget.is_none() && !axes.iter().any(|a| a.name == "epochs") {
        let off = ctx.text_offset("[train]").unwrap_or(command_offset);
        return Err(ctx.err(
            off,
            Some("train.epochs"),
            "missing: a command sweep needs the budget, the epochs each trial trains to in all (its last rung), e.g. \
             epochs = 10 in [train]; the program gets it as SWEEP_BUDGET for each run",
        ));
    }
    let grid = CommandGrid {
        command: Command {
            run: argv,
            objective: objectives[0].clone(),
            objectives,
            timeout,
            grace,
            run_pos: ctx.pos(run_off),
            gpus,
        },
        fixed,
        axes,
    };
    check_run(ctx, &grid, run_off)?;
    Ok((grid, budget))
}

/// The rest of a grid with a `[command]` table: free-form `[train]` and `[grid]`, and `[search]` checked against
/// them. No memory check: the program's memory is its own.
pub(crate) fn grid(
    ctx: &Ctx,
    (file, text): (&Path, &str),
    name: String,
    seed: u64,
    (table, offset): (&TomlMap, usize),
    [train, grid, search_table]: [Option<&TomlMap>; 3],
    objectives: Option<Vec<(Objective, usize)>>,
) -> Result<Grid, GridError> {
    if let Some(o) = &objectives {
        crate::objectives::check_command(ctx, o)?;
    }
    let objectives = objectives.map(|o| o.into_iter().map(|o| o.0).collect());
    let (cgrid, budget) = parse(ctx, table, offset, train, grid, objectives)?;
    let search_map = search_table.cloned().unwrap_or_default();
    let err_at = |off: usize, key: &str, msg: String| ctx.err(off, Some(key), msg);
    let mut search = Search::parse(&search_map, &err_at, &suggest)?;
    let mut key_offsets: Vec<(String, usize)> = Vec::new();
    for (section, map) in [("train", train), ("grid", grid), ("search", search_table)] {
        for (k, v) in map.into_iter().flatten() {
            key_offsets.push((format!("{section}.{}", k.get_ref()), v.span().start));
        }
    }
    let table_start = text.find("[search]").unwrap_or(offset);
    let at = |key: &str, msg: String| ctx.err_at_key(&key_offsets, table_start, key, msg);
    let shapes: Vec<(&str, bool)> = cgrid.axes.iter().map(|a| (a.name.as_str(), a.range.is_some())).collect();
    let epochs = budget.unwrap_or(1);
    let distinct = crate::grid::space_size(cgrid.axes.iter().map(|a| a.range.is_none().then_some(a.values.len())));
    search.fit_budget(epochs, distinct).map_err(|m| at("search.budget", m))?;
    search.check_axes(&shapes, epochs, &at)?;
    search.check_space(distinct, &at)?;
    if search.finalists > 0 {
        return Err(at(
            "search.finalists",
            "a command sweep has no finalists: its trials are its program's values, and a longer run of one is another \
             trial; raise [train] epochs (the last rung) instead"
                .into(),
        ));
    }
    let continuous = shapes.iter().any(|s| s.1);
    if search.draws_for(continuous, epochs).is_none() {
        let count = cgrid.axes.iter().fold(1usize, |n, a| n.saturating_mul(a.values.len()));
        if count > MAX_JOBS {
            return Err(ctx.err(
                text.find("[grid]").unwrap_or(0),
                Some("grid"),
                format!(
                    "the axes give {} trials; a grid takes at most {MAX_JOBS}: use fewer values, or draw \
                     configurations with [search] method = \"random\" or \"sobol\" and samples = N",
                    if count == usize::MAX {
                        "too many".to_string()
                    } else {
                        count.to_string()
                    }
                ),
            ));
        }
    }
    let mut fixed = BTreeMap::new();
    if let (Some(e), Some(p)) = (budget, params::param("epochs")) {
        fixed.insert(p.name, PValue::Num(e as f64));
    }
    Ok(Grid {
        objectives: cgrid.command.objectives.clone(),
        file: file.to_path_buf(),
        text: text.to_string(),
        name,
        seed,
        data: DataSection {
            source: DataSource::Path(PathBuf::new()),
            val_size: 0,
            train_size: None,
            test_size: None,
            path_pos: None,
            val_size_pos: None,
        },
        fixed,
        axes: vec![],
        search,
        command: Some(cgrid),
    })
}

/// `gpus`: a whole number of devices (1 to [`MAX_GPUS`]) or a fraction of one in (0, 1).
fn parse_gpus(ctx: &Ctx, v: &Spanned<Value>) -> Result<Gpus, GridError> {
    let off = v.span().start;
    let err = |m: String| ctx.err(off, Some("command.gpus"), m);
    let g = match number_of(v.get_ref()) {
        Some(g) if g.is_finite() => g,
        _ => {
            return Err(err(format!(
                "expected the GPUs each trial gets, a number such as 1, 2 or 0.5 (two trials on one device), found {}",
                v.get_ref()
            )))
        }
    };
    if g <= 0.0 {
        return Err(err(format!(
            "gpus = {g}: give at least a share of one device (e.g. 0.5), or leave gpus out to run the trials without \
             assigning devices"
        )));
    }
    if g > 1.0 && g.fract() != 0.0 {
        return Err(err(format!(
            "gpus = {g}: above 1 a trial takes whole devices; give {} or {}",
            g.floor(),
            g.ceil()
        )));
    }
    if g > f64::from(MAX_GPUS) {
        return Err(err(format!("gpus = {g}: at most {MAX_GPUS} devices per trial")));
    }
    Ok(Gpus {
        per_trial: g,
        pos: ctx.pos(off),
    })
}

fn check_metric_name(ctx: &Ctx, metric: &str, offset: usize) -> Result<(), GridError> {
    if RESERVED.contains(&metric) {
        return Err(ctx.err(
            offset,
            Some("command.metric"),
            format!("\"{metric}\" is a column results.csv has of its own; the objective needs another name"),
        ));
    }
    if metric.contains(['\n', '\r', '"']) {
        return Err(ctx.err(
            offset,
            Some("command.metric"),
            "the metric's name cannot hold quotes or line breaks",
        ));
    }
    Ok(())
}

/// Most seconds of `timeout_s` and `grace_s`.
const MAX_SECONDS: u64 = 1_000_000_000;

/// Where `run`'s argument `index` is written.
fn run_arg_offset(ctx: &Ctx, index: usize) -> Option<usize> {
    let spans: RunSpans = toml::from_str(ctx.text()).ok()?;
    Some(spans.command?.run?.get(index)?.span().start)
}

/// `run` expands for every trial: each `{name}` names a value of the grid.
fn check_run(ctx: &Ctx, grid: &CommandGrid, run_off: usize) -> Result<(), GridError> {
    let names: Map<String, Json> = grid.columns().into_iter().map(|c| (c, Json::Null)).collect();
    match expand_argv(&grid.command.run, &names) {
        Ok(_) => Ok(()),
        Err(e) => {
            // The argument's own position when toml can give it.
            let index = match &e {
                ArgvError::Unknown { index, .. } | ArgvError::Unbalanced { index, .. } => Some(*index),
                ArgvError::Empty => None,
            };
            let off = index.and_then(|i| run_arg_offset(ctx, i)).unwrap_or(run_off);
            Err(ctx.err(off, Some("command.run"), e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests;
