//! Grid files: TOML parsed with positions, checked key by key, and expanded into a deterministic list of jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sweep_core::TrainConfig;
use toml::{Spanned, Value};

pub use crate::axis::Axis;
use crate::axis::{axis_values, param_value};
use crate::command::{self, CommandGrid, Mode, Objective};
use crate::memory;
pub use sweep_params::job::{job_id, Job};
use sweep_params::params::{self, Value as PValue};
use sweep_params::text::hex;
pub use sweep_params::GridError;
use sweep_search::Search;

pub const TOP_KEYS: [&str; 8] = ["name", "seed", "objectives", "data", "train", "grid", "search", "command"];
pub const DATA_KEYS: [&str; 5] = ["path", "source", "val_size", "train_size", "test_size"];

/// Where the data come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// A path (official binary dir, .tar.gz or image folder), relative to the current directory.
    Path(PathBuf),
    /// The synthetic toy problem (D=4, 3 classes); needs no files.
    Toy,
}

/// The `[data]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSection {
    pub source: DataSource,
    pub val_size: usize,
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    /// Position of the data path key, for errors found when the data are loaded.
    pub path_pos: Option<(usize, usize)>,
    pub val_size_pos: Option<(usize, usize)>,
}

/// Sizes of the synthetic toy problem unless `[data]` says otherwise: (train, val, test).
pub const TOY_SIZES: (usize, usize, usize) = (600, 200, 200);

/// What a sweep's data will be, known before loading them (for `sweep plan`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedData {
    pub n_train: usize,
    pub n_val: usize,
    pub input: usize,
    pub classes: usize,
    /// The sizes assume CIFAR-10 (the files were not read).
    pub assumed_cifar: bool,
}

impl DataSection {
    /// (train, val, test) sizes of the toy problem.
    pub fn toy_sizes(&self) -> (usize, usize, usize) {
        let n_val = if self.val_size_pos.is_some() { self.val_size } else { TOY_SIZES.1 };
        (
            self.train_size.unwrap_or(TOY_SIZES.0),
            n_val.max(1),
            self.test_size.unwrap_or(TOY_SIZES.2),
        )
    }

    /// The data's sizes: the toy problem's (D=4, 3 classes), or CIFAR-10's (50,000 training images of 3,072 values,
    /// 10 classes) for a path, without reading it.
    pub fn planned(&self) -> PlannedData {
        match self.source {
            DataSource::Toy => {
                let (n_train, n_val, _) = self.toy_sizes();
                PlannedData {
                    n_train,
                    n_val,
                    input: 4,
                    classes: 3,
                    assumed_cifar: false,
                }
            }
            DataSource::Path(_) => PlannedData {
                n_train: self.train_size.unwrap_or(50_000usize.saturating_sub(self.val_size)),
                n_val: self.val_size,
                input: 3072,
                classes: 10,
                assumed_cifar: self.train_size.is_none(),
            },
        }
    }
}

/// A checked grid file.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub file: PathBuf,
    pub text: String,
    pub name: String,
    pub seed: u64,
    pub data: DataSection,
    /// Parameters fixed in `[train]`.
    pub fixed: BTreeMap<&'static str, PValue>,
    pub axes: Vec<Axis>,
    /// The `[search]` table: how configurations are chosen and how long each trains.
    pub search: Search,
    /// A command sweep's program and its free-form values (`[command]`, `[train]`, `[grid]`). Then `fixed` holds only
    /// the budget `epochs` (when it is fixed), `axes` is empty and `data` is unused: the program reads its own data.
    pub command: Option<CommandGrid>,
    /// What the sweep optimizes, in written order (`objectives`; else the one objective: validation accuracy, or a
    /// command sweep's `metric`): more than one makes trials compare by Pareto dominance.
    pub objectives: Vec<Objective>,
}

type Map = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    data: Option<Map>,
    #[serde(default)]
    train: Option<Map>,
    #[serde(default)]
    grid: Option<Map>,
    #[serde(default)]
    search: Option<Map>,
    #[serde(default)]
    command: Option<Map>,
}

pub(crate) struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// The grid's text.
    pub(crate) fn text(&self) -> &str {
        self.text
    }

    /// Where `needle` (a table header such as `[train]`) first occurs.
    pub(crate) fn text_offset(&self, needle: &str) -> Option<usize> {
        self.text.find(needle)
    }

    pub(crate) fn pos(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
        (line, column)
    }
    /// The error for `key` at its entry's offset in `offsets` (or its table's: `a.b` for `a.b.c`), else at `fallback`.
    pub(crate) fn err_at_key(&self, offsets: &[(String, usize)], fallback: usize, key: &str, message: String) -> GridError {
        let entry = offsets.iter().find(|(k, _)| key == k || key.starts_with(&format!("{k}.")));
        self.err(entry.map_or(fallback, |(_, o)| *o), Some(key), message)
    }

    pub(crate) fn err(&self, offset: usize, key: Option<&str>, message: impl Into<String>) -> GridError {
        let (line, column) = self.pos(offset);
        GridError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.map(String::from),
            message: message.into(),
        }
    }
}

pub(crate) fn suggest(word: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!("unknown key; did you mean `{c}`?"),
        None => format!("unknown key; valid keys here: {}", candidates.join(", ")),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn usize_value(ctx: &Ctx, key: &str, v: &Spanned<Value>, min: i64) -> Result<usize, GridError> {
    match v.get_ref() {
        Value::Integer(i) if *i >= min => Ok(*i as usize),
        Value::Integer(i) => Err(ctx.err(
            v.span().start,
            Some(key),
            format!("{key} = {i} is out of range: must be an integer >= {min}"),
        )),
        other => Err(ctx.err(
            v.span().start,
            Some(key),
            format!("expected an integer, found {}", type_name(other)),
        )),
    }
}

impl Grid {
    /// Reads and checks a grid file.
    pub fn load(file: &Path) -> Result<Grid, GridError> {
        if file.is_dir() {
            return Err(GridError {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
                key: None,
                message: "is a directory, not a grid file: give the path of a .toml file".into(),
            });
        }
        let text = std::fs::read_to_string(file).map_err(|e| GridError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the grid file: {e}"),
        })?;
        Self::parse(file, &text)
    }

    /// Checks grid text; `file` is used in messages.
    pub fn parse(file: &Path, text: &str) -> Result<Grid, GridError> {
        let ctx = Ctx { file, text };
        let syntax = |e: toml::de::Error| {
            let off = e.span().map_or(0, |s| s.start);
            ctx.err(off, None, format!("TOML syntax error: {}", e.message()))
        };
        let top: Map = toml::from_str(text).map_err(syntax)?;
        let sections: Sections = toml::from_str(text).map_err(syntax)?;
        let mut name = file.file_stem().map_or("sweep".to_string(), |s| s.to_string_lossy().into_owned());
        let mut seed = 0u64;
        let mut objectives_at = None;
        for (k, v) in &top {
            let key = k.get_ref().as_str();
            match key {
                "objectives" => objectives_at = Some((v.get_ref(), k.span().start)),
                "name" => match v.get_ref() {
                    Value::String(s) if is_folder_name(s) => name = s.clone(),
                    Value::String(s) => {
                        return Err(ctx.err(
                            v.span().start,
                            Some("name"),
                            format!(
                                "{s:?} is not usable as a folder name: use letters, digits, '-', '_' or '.' (not \".\" \
                                 or \"..\", which name folders that exist already)"
                            ),
                        ))
                    }
                    other => {
                        return Err(ctx.err(
                            v.span().start,
                            Some("name"),
                            format!("expected a string, found {}", type_name(other)),
                        ))
                    }
                },
                "seed" => seed = usize_value(&ctx, "seed", v, 0)? as u64,
                "data" | "train" | "grid" | "search" | "command" if !matches!(v.get_ref(), Value::Table(_)) => {
                    return Err(ctx.err(
                        k.span().start,
                        Some(key),
                        format!("expected a table [{key}], found {}", type_name(v.get_ref())),
                    ));
                }
                "data" | "train" | "grid" | "search" | "command" => {}
                _ => return Err(ctx.err(k.span().start, Some(key), suggest(key, &TOP_KEYS))),
            }
        }

        let objectives = crate::objectives::parse(&ctx, objectives_at)?;
        if let Some(table) = &sections.command {
            let key_of = |name: &str| top.keys().find(|k| k.get_ref() == name).map(|k| k.span().start);
            if let Some(off) = key_of("data") {
                return Err(ctx.err(
                    off,
                    Some("data"),
                    "a command sweep's program reads its own data: give its path in [command] run (or as a value in \
                     [train]) and remove [data]",
                ));
            }
            let offset = text.find("[command]").or(key_of("command")).unwrap_or(0);
            let sections = [sections.train.as_ref(), sections.grid.as_ref(), sections.search.as_ref()];
            return command::grid(&ctx, (file, text), name, seed, (table, offset), sections, objectives);
        }

        let objectives = match objectives {
            None => vec![Objective {
                metric: "val_acc".into(),
                mode: Mode::Max,
            }],
            Some(o) => {
                crate::objectives::check_builtin(&ctx, &o)?;
                o.into_iter().map(|o| o.0).collect()
            }
        };

        // [data]
        let mut data = DataSection {
            source: DataSource::Path(PathBuf::new()),
            val_size: sweep_core::data::DEFAULT_VAL_SIZE,
            train_size: None,
            test_size: None,
            path_pos: None,
            val_size_pos: None,
        };
        let mut have_source = false;
        let data_map = sections.data.unwrap_or_default();
        // Where each key's value is, for messages about what the keys give together (the search, the memory).
        let mut key_offsets: Vec<(String, usize)> = Vec::new();
        for (k, v) in &data_map {
            let key = format!("data.{}", k.get_ref());
            key_offsets.push((key.clone(), v.span().start));
            match k.get_ref().as_str() {
                "path" | "source" => {
                    if have_source {
                        return Err(ctx.err(k.span().start, Some(&key), "give either `path` or `source = \"toy\"`, not both"));
                    }
                    data.source = match (k.get_ref().as_str(), v.get_ref()) {
                        ("path", Value::String(s)) if !s.is_empty() => DataSource::Path(PathBuf::from(s)),
                        ("source", Value::String(s)) if s == "toy" => DataSource::Toy,
                        ("path", other) => {
                            let msg = format!("expected a non-empty path string, found {other}");
                            return Err(ctx.err(v.span().start, Some(&key), msg));
                        }
                        (_, other) => {
                            let msg = format!("the only named source is \"toy\" (found {other}); for files use path = \"...\"");
                            return Err(ctx.err(v.span().start, Some(&key), msg));
                        }
                    };
                    if k.get_ref() == "path" {
                        data.path_pos = Some(ctx.pos(v.span().start));
                    }
                    have_source = true;
                }
                "val_size" => {
                    // Every built-in sweep ranks its jobs (the best, the rungs, TPE) by validation accuracy: none
                    // without validation examples.
                    data.val_size = usize_value(&ctx, &key, v, 1)?;
                    data.val_size_pos = Some(ctx.pos(v.span().start));
                }
                "train_size" => data.train_size = Some(usize_value(&ctx, &key, v, 1)?),
                "test_size" => data.test_size = Some(usize_value(&ctx, &key, v, 1)?),
                other => return Err(ctx.err(k.span().start, Some(&key), suggest(other, &DATA_KEYS))),
            }
        }
        if !have_source {
            data.source = DataSource::Path(PathBuf::from("../shared/cifar10"));
        }

        // [train] then [grid]
        let mut fixed = BTreeMap::new();
        let mut fixed_line = BTreeMap::new();
        for (k, v) in sections.train.iter().flatten() {
            let pname = k.get_ref().as_str();
            let key = format!("train.{pname}");
            let Some(p) = params::param(pname) else {
                return Err(ctx.err(k.span().start, Some(&key), suggest(pname, &params::names())));
            };
            fixed.insert(p.name, param_value(&ctx, p, &key, v.get_ref(), v.span().start)?);
            fixed_line.insert(p.name, ctx.pos(k.span().start).0);
            key_offsets.push((key, v.span().start));
        }
        let mut entries: Vec<(&Spanned<String>, &Spanned<Value>)> = sections.grid.iter().flatten().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut axes = Vec::new();
        for (k, v) in entries {
            let pname = k.get_ref().as_str();
            let key = format!("grid.{pname}");
            let Some(p) = params::param(pname) else {
                return Err(ctx.err(k.span().start, Some(&key), suggest(pname, &params::names())));
            };
            if let Some(line) = fixed_line.get(pname) {
                return Err(ctx.err(
                    k.span().start,
                    Some(&key),
                    format!("`{pname}` is both fixed in [train] (line {line}) and an axis in [grid]; keep only one"),
                ));
            }
            let (values, log, range) = axis_values(&ctx, p, v)?;
            axes.push(Axis {
                param: p,
                values,
                log,
                range,
            });
            key_offsets.push((key.clone(), v.span().start));
        }

        // [search], checked against the axes
        let search_map = sections.search.unwrap_or_default();
        let err_at = |off: usize, key: &str, msg: String| ctx.err(off, Some(key), msg);
        let mut search = Search::parse(&search_map, &err_at, &suggest)?;
        for (k, v) in &search_map {
            key_offsets.push((format!("search.{}", k.get_ref()), v.span().start));
        }
        let table_start = text.find("[search]").unwrap_or(0);
        let base = base_config(&fixed);
        let at = |key: &str, msg: String| ctx.err_at_key(&key_offsets, table_start, key, msg);
        let distinct = space_size(axes.iter().map(|a| a.range.is_none().then_some(a.values.len())));
        search.fit_budget(base.epochs, distinct).map_err(|m| at("search.budget", m))?;
        search.check_grid(&axes, base.epochs, &at)?;
        search.check_space(distinct, &at)?;
        check_first_rung(&search, &base, &axes, &data, &at)?;
        check_augmentation(&base, &axes, &data, &at)?;
        if search.draws(&axes, base.epochs).is_none() {
            let count = axes.iter().fold(1usize, |n, a| n.saturating_mul(a.values.len()));
            if count > MAX_JOBS {
                let lens: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
                let off = text.find("[grid]").unwrap_or(0);
                return Err(ctx.err(
                    off,
                    Some("grid"),
                    format!(
                        "the axes give {} jobs ({}); a grid takes at most {MAX_JOBS}: use fewer values, or draw                          configurations with [search] method = \"random\" or \"sobol\" and samples = N",
                        if count == usize::MAX { "too many".to_string() } else { count.to_string() },
                        lens.join(" x ")
                    ),
                ));
            }
        }
        // Before anything is allocated: the largest job must fit in this machine's memory.
        memory::check(memory::machine(), &base, &axes, &data, &|key: &str| fixed.contains_key(key), &at)?;
        Ok(Grid {
            file: file.to_path_buf(),
            text: text.to_string(),
            name,
            seed,
            data,
            fixed,
            axes,
            search,
            command: None,
            objectives,
        })
    }

    /// The error for `key` (`search.min_epochs`) at its value in the file, or at its table's header when it is not
    /// written: for what only the expanded jobs show.
    pub(crate) fn key_error(&self, key: &str, message: String) -> GridError {
        let ctx = Ctx {
            file: &self.file,
            text: &self.text,
        };
        let (table, name) = key.split_once('.').unwrap_or((key, ""));
        let sections: Option<Sections> = toml::from_str(&self.text).ok();
        let map = sections.and_then(|s| match table {
            "data" => s.data,
            "train" => s.train,
            "grid" => s.grid,
            "search" => s.search,
            "command" => s.command,
            _ => None,
        });
        let offset = map
            .and_then(|m| m.iter().find(|(k, _)| k.get_ref() == name).map(|(_, v)| v.span().start))
            .or_else(|| self.text.find(&format!("[{table}]")))
            .unwrap_or(0);
        ctx.err(offset, Some(key), message)
    }

    /// Identifies the sweep: same data settings, seed and job set give the same fingerprint.
    pub fn fingerprint(&self, jobs: &[Job]) -> String {
        let mut h = Sha256::new();
        if self.objectives.len() > 1 {
            // Several objectives decide the rows' columns and every decision (one objective hashes as it always did).
            let all: Vec<String> = self
                .objectives
                .iter()
                .map(|o| format!("{:?}={}", o.metric, o.mode.as_str()))
                .collect();
            h.update(format!("objectives={};", all.join(",")));
        }
        if let Some(c) = &self.command {
            // A command sweep: its objective decides the rows' columns and every decision; `run` is left out, so a
            // program moved to another path (a venv elsewhere) continues the sweep.
            let s = &self.search;
            let o = &c.command.objective;
            h.update(format!(
                "command;seed={};metric={:?};mode={};search={},eta={},min_epochs={},batch={};",
                self.seed,
                o.metric,
                o.mode.as_str(),
                s.name(),
                s.eta,
                s.min_epochs,
                s.batch
            ));
            if s.pipeline > 1 {
                h.update(format!("pipeline={};", s.pipeline));
            }
            if s.asynchronous {
                h.update("asynchronous;");
            }
        } else {
            h.update(format!(
                "seed={};data={:?},{},{:?},{:?};",
                self.seed, self.data.source, self.data.val_size, self.data.train_size, self.data.test_size
            ));
        }
        if self.command.is_none() && self.search.is_multi_fidelity() {
            // The rungs decide which rows exist: another eta or first rung is another sweep. (Grid sweeps hash as
            // before, so results directories of earlier releases still resume.)
            let s = &self.search;
            h.update(format!("search={},eta={},min_epochs={};", s.name(), s.eta, s.min_epochs));
            if s.is_adaptive() {
                // Another batch size proposes other configurations.
                h.update(format!("batch={};", s.batch));
                if s.pipeline > 1 {
                    // Batches decided from fewer trials are other batches.
                    h.update(format!("pipeline={};", s.pipeline));
                }
                if s.asynchronous {
                    h.update("asynchronous;");
                }
                if s.finalists > 0 {
                    // Other finalists' epochs are other jobs (more finalists only add some).
                    h.update(format!("final_epochs={};", s.final_epochs));
                }
            }
        }
        let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort_unstable();
        for id in ids {
            h.update(id.as_bytes());
            h.update(b",");
        }
        hex(&h.finalize())[..16].to_string()
    }
}

/// A name that is one plain folder: not empty, not `.` or `..`, of letters, digits, '-', '_' and '.' (so no `/` and no
/// NUL).
pub(crate) fn is_folder_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The number of distinct configurations of axes that are all lists (each `Some(length)`), `None` when one is a
/// continuous range (saturating).
pub(crate) fn space_size(mut lens: impl Iterator<Item = Option<usize>>) -> Option<usize> {
    lens.try_fold(1usize, |n, l| Some(n.saturating_mul(l?)))
}

/// The first rung of a ladder must train at least one optimizer step, else it trains nothing and its survivors are
/// picked by position. The steps of an epoch need the training set's size: known for the toy problem and for a path
/// with `train_size`; for a path without it (CIFAR-10's 50,000 images assumed, an image folder of any size) the size
/// is known only when the data are read, so nothing is checked here.
fn check_first_rung(
    search: &Search,
    base: &TrainConfig,
    axes: &[Axis],
    data: &DataSection,
    at: &dyn Fn(&str, String) -> GridError,
) -> Result<(), GridError> {
    let ladder = search.ladder(base.epochs);
    let planned = data.planned();
    if ladder.len() < 2 || planned.assumed_cifar {
        return Ok(());
    }
    // The largest batch gives the fewest steps an epoch (as core batches: n / min(batch, n), at least 1).
    let batch = match axes.iter().find(|a| a.name() == "batch_size") {
        Some(a) => a
            .values
            .iter()
            .filter_map(|v| v.as_f64())
            .chain(a.range.map(|r| r.1))
            .fold(1.0, f64::max) as usize,
        None => base.batch_size,
    };
    let n = planned.n_train;
    let steps = (n / batch.min(n).max(1)).max(1);
    // (A tolerance for a rung written to 12 digits: 0.333333333333 of 3 steps is one step.)
    if ladder[0] * (steps as f64) < 1.0 - 1e-9 {
        return Err(at(
            "search.min_epochs",
            format!(
                "min_epochs = {} is less than one optimizer step: an epoch of {n} training examples in batches of \
                 {batch} is {steps} step{}, so the first rung would train {} steps and pick its survivors by position; \
                 use min_epochs >= {}",
                ladder[0],
                if steps == 1 { "" } else { "s" },
                sweep_search::round12(ladder[0] * steps as f64),
                sweep_search::round12(1.0 / steps as f64),
            ),
        ));
    }
    Ok(())
}

/// `flip` and `crop` move pixels of images: the toy data set's inputs are 4 numbers, not an image, so `run` could
/// train none of the jobs that set them. Refused here, at the key, so that `plan` (which reads no data) refuses what
/// `run` would.
fn check_augmentation(
    base: &TrainConfig,
    axes: &[Axis],
    data: &DataSection,
    at: &dyn Fn(&str, String) -> GridError,
) -> Result<(), GridError> {
    if data.source != DataSource::Toy {
        return Ok(());
    }
    for name in ["flip", "crop"] {
        let (key, value) = match axes.iter().find(|a| a.name() == name) {
            Some(a) => {
                let top = a
                    .values
                    .iter()
                    .filter_map(|v| v.as_f64())
                    .chain(a.range.map(|r| r.1))
                    .fold(0.0, f64::max);
                (format!("grid.{name}"), top)
            }
            None => (format!("train.{name}"), if name == "flip" { base.flip } else { base.crop as f64 }),
        };
        if value > 0.0 {
            return Err(at(
                &key,
                format!(
                    "{name} = {value} needs images, but the toy data set's inputs are 4 numbers, not an image: remove \
                     {name}, or train on images ([data] path = a CIFAR-10 folder or an image folder)"
                ),
            ));
        }
    }
    Ok(())
}

/// Most jobs a grid expands to (the product of its axes): more would fill the memory with the job list alone.
pub const MAX_JOBS: usize = 1_000_000;

/// The default configuration with the values of `[train]` set.
pub(crate) fn base_config(fixed: &BTreeMap<&'static str, PValue>) -> TrainConfig {
    let mut base = TrainConfig::default();
    for (k, &v) in fixed {
        if let Some(p) = params::param(k) {
            p.set(&mut base, v);
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Grid, GridError> {
        Grid::parse(Path::new("g.toml"), text)
    }

    const GOOD: &str = r#"
name = "cifar"
seed = 3
[data]
source = "toy"
[train]
epochs = 2
[grid]
learning_rate = [0.1, 0.2]
reg = { log = [1e-5, 1e-2], num = 4 }
hidden_size = [8, 16, 32]
"#;

    #[test]
    fn expands_cartesian_product_first_axis_outermost() {
        let g = parse(GOOD).unwrap();
        assert_eq!(
            g.axes.iter().map(|a| a.name()).collect::<Vec<_>>(),
            ["learning_rate", "reg", "hidden_size"]
        );
        let reg: Vec<f64> = g.axes[1].values.iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(reg, [1e-5, 1e-4, 1e-3, 1e-2]);
        let jobs = g.jobs().unwrap();
        assert_eq!(jobs.len(), 2 * 4 * 3);
        assert_eq!(jobs[0].config.learning_rate, 0.1);
        assert_eq!(jobs[0].config.hidden_size, 8);
        assert_eq!(jobs[1].config.hidden_size, 16);
        assert_eq!(Some(jobs[3].config.reg), g.axes[1].values[1].as_f64());
        assert_eq!(jobs[12].config.learning_rate, 0.2);
        assert!(jobs.iter().all(|j| j.config.epochs == 2));
        let ids: std::collections::HashSet<_> = jobs.iter().map(|j| &j.id).collect();
        assert_eq!(ids.len(), jobs.len());
    }

    #[test]
    fn ids_depend_only_on_the_configuration_and_seeds_on_the_sweep_seed() {
        let a = parse(GOOD).unwrap().jobs().unwrap();
        // The same configuration written differently (axes reordered, a fixed value) has the same id.
        let b = parse(
            &GOOD
                .replace("learning_rate = [0.1, 0.2]\n", "")
                .replace("hidden_size = [8, 16, 32]", "hidden_size = [8, 16, 32]\nlearning_rate = [0.1, 0.2]"),
        )
        .unwrap()
        .jobs()
        .unwrap();
        let mut ia: Vec<_> = a.iter().map(|j| (&j.id, j.config.seed)).collect();
        let mut ib: Vec<_> = b.iter().map(|j| (&j.id, j.config.seed)).collect();
        ia.sort();
        ib.sort();
        assert_eq!(ia, ib);
        // Golden id: SHA-256 (first 12 hex) of the canonical JSON, computed independently with Python's json + hashlib:
        // {"batch_size":200,"epochs":10,"hidden_size":512,"init":{"kind":"kaiming"},"learning_rate":0.1,"lr_decay":0.95,"reg":0.0001}
        // (core's default configuration is exactly that one: the report's settings)
        let c = TrainConfig::default();
        assert_eq!(
            (c.learning_rate, c.reg, c.hidden_size, c.lr_decay, c.epochs, c.batch_size),
            (0.1, 1e-4, 512, 0.95, 10, 200)
        );
        assert_eq!(job_id(&c), "7430e0317f8f");
        assert_eq!(job_id(&c).len(), 12);
        let other_seed = parse(&GOOD.replace("seed = 3", "seed = 4")).unwrap().jobs().unwrap();
        assert_eq!(other_seed[0].id, a[0].id);
        assert_ne!(other_seed[0].config.seed, a[0].config.seed);
    }

    /// The ids of the report's Table III grid as every earlier version computed them (SHA-256 of the 1,512 ids joined
    /// by commas, in job order, taken from `sweep plan sweeps/seed-table3.toml` before the parameter table existed):
    /// existing results directories keep resuming.
    #[test]
    fn ids_of_the_shipped_table_iii_grid_never_change() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/seed-table3.toml");
        let jobs = Grid::load(&path).unwrap().jobs().unwrap();
        assert_eq!(jobs.len(), 1512);
        assert_eq!((jobs[0].id.as_str(), jobs[1].id.as_str()), ("8fe1c7a7adfe", "cb6950f08611"));
        let joined = jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>().join(",");
        assert_eq!(
            hex(&Sha256::digest(joined.as_bytes())),
            "2b0fd23486f78077b21630b0579852933cd652a8314b03fd4ac554fb73360968"
        );
    }

    /// A hyperparameter added after the first release (a named choice here) is an axis like the others, and a job at
    /// its default keeps the id it always had.
    #[test]
    fn choice_axes_expand_and_default_jobs_keep_their_ids() {
        let g = parse("seed = 3\n[train]\nepochs = 2\n[grid]\noptimizer = [\"sgd\", \"nesterov\"]\nmomentum = [0.9]\n").unwrap();
        let jobs = g.jobs().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].config.optimizer, sweep_core::optim::Optimizer::Nesterov);
        let plain = parse("seed = 3\n[train]\nepochs = 2\n").unwrap().jobs().unwrap();
        assert_eq!(jobs[0].id, plain[0].id, "sgd with momentum 0.9 is the default configuration");
        assert_ne!(jobs[1].id, jobs[0].id);
        assert!(
            jobs.iter().all(|j| j.config.shuffle_seed == 3),
            "every job shares the sweep's data order"
        );
        let e = parse("[grid]\noptimizer = [\"rmsprop\"]\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "g.toml:2:13: grid.optimizer: expected one of \"sgd\", \"momentum\", \"nesterov\", \"adam\", \"adamw\", found \"rmsprop\""
        );
        let e = parse("[train]\ndropout = 1.0\n").unwrap_err().to_string();
        assert_eq!(e, "g.toml:2:11: train.dropout: dropout = 1 is invalid: must be in [0, 1)");
    }

    /// Every mistake the parser can find: its message names file, line, column and key, and says what would fix it.
    #[test]
    fn bad_grids_give_a_message_naming_line_and_key() {
        let base = "name = \"g\"\n[data]\nsource = \"toy\"\n[train]\nepochs = 1\n";
        let cases: Vec<(String, &str)> = vec![
            ("nmae = \"x\"\n".to_string(), "g.toml:1:1: nmae: unknown key; did you mean `name`?"),
            (
                format!("{base}[grid]\nlearnig_rate = [0.1]\n"),
                "g.toml:7:1: grid.learnig_rate: unknown key; did you mean `learning_rate`?",
            ),
            (
                format!("{base}[grid]\nlearning_rate = [\"fast\"]\n"),
                "g.toml:7:17: grid.learning_rate: expected a number, found a string",
            ),
            (
                format!("{base}[grid]\nhidden_size = []\n"),
                "g.toml:7:15: grid.hidden_size: the axis is empty",
            ),
            (
                format!("{base}[grid]\nlearning_rate = [0.1, 0]\n"),
                "grid.learning_rate: learning_rate = 0 is invalid: must be a finite number > 0",
            ),
            (
                format!("{base}[grid]\nreg = [-0.001]\n"),
                "grid.reg: reg = -0.001 is invalid: must be a finite number >= 0",
            ),
            (
                format!("{base}[grid]\nlr_decay = [0.9, 1.5]\n"),
                "grid.lr_decay: lr_decay = 1.5 is invalid: must be in (0, 1]",
            ),
            (
                format!("{base}[grid]\nhidden_size = [0]\n"),
                "grid.hidden_size: hidden_size = 0 is invalid: must be an integer >= 1",
            ),
            (
                format!("{base}batch_size = 0\n"),
                "g.toml:6:14: train.batch_size: batch_size = 0 is invalid: must be an integer >= 1",
            ),
            (
                "[train]\nepochs = 0\n".to_string(),
                "g.toml:2:10: train.epochs: epochs = 0 is invalid: must be an integer >= 1",
            ),
            (
                format!("{base}[grid]\nepochs = [1, 2]\n"),
                "g.toml:7:1: grid.epochs: `epochs` is both fixed in [train] (line 5) and an axis in [grid]; keep only one",
            ),
            (format!("{base}[grid\n"), "g.toml:6:6: TOML syntax error"),
            (
                format!("{base}[grid]\nhidden_size = [1.5]\n"),
                "grid.hidden_size: expected an integer, found a float",
            ),
            (
                format!("{base}[grid]\nreg = {{ log = [0, 1e-2], num = 3 }}\n"),
                "grid.reg: log-spaced bounds must be > 0, got [0, 0.01]",
            ),
            (format!("{base}[grid]\nreg = 0.1\n"), "grid.reg: expected a list of values"),
            ("[data]\nsize = 3\n".to_string(), "g.toml:2:1: data.size: unknown key"),
            (
                "[data]\nsource = \"toy\"\nval_size = 0\n".to_string(),
                "g.toml:3:12: data.val_size: data.val_size = 0 is out of range: must be an integer >= 1",
            ),
            (
                // What `run` cannot train, `plan` does not promise: flip and crop need images.
                "[data]\nsource = \"toy\"\n[train]\nflip = 0.5\n".to_string(),
                "g.toml:4:8: train.flip: flip = 0.5 needs images, but the toy data set's inputs are 4 numbers",
            ),
            (
                "[data]\nsource = \"toy\"\n[grid]\ncrop = [0, 2]\n".to_string(),
                "g.toml:4:8: grid.crop: crop = 2 needs images",
            ),
            (
                "[data]\npath = \"cifar\"\nval_size = 0\n".to_string(),
                "g.toml:3:12: data.val_size: data.val_size = 0 is out of range",
            ),
            (
                "name = \"..\"\n".to_string(),
                "g.toml:1:8: name: \"..\" is not usable as a folder name",
            ),
            (
                "name = \".\"\n".to_string(),
                "g.toml:1:8: name: \".\" is not usable as a folder name",
            ),
            ("name = \"\"\n".to_string(), "g.toml:1:8: name: \"\" is not usable as a folder name"),
            ("name = \"a/b\"\n".to_string(), "g.toml:1:8: name: \"a/b\" is not usable"),
            ("name = \"a\\u0000\"\n".to_string(), "g.toml:1:8: name: \"a\\0\" is not usable"),
            (
                "seed = -1\n".to_string(),
                "g.toml:1:8: seed: seed = -1 is out of range: must be an integer >= 0",
            ),
            (
                format!("{base}[grid]\ninit_std = [\"xavier\"]\n"),
                "g.toml:7:12: grid.init_std: expected a number or \"kaiming\", found \"xavier\"",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).expect_err(&text).to_string();
            assert!(e.contains(want), "grid:\n{text}\nwanted: {want}\ngot: {e}");
        }
    }

    /// A grid path that is a directory says so, without a made-up position.
    #[test]
    fn a_directory_is_not_a_grid_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let e = Grid::load(dir).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: is a directory, not a grid file: give the path of a .toml file", dir.display())
        );
        // A name made of dots is refused; one that only holds dots is a plain folder.
        assert!(is_folder_name("a..b") && is_folder_name(".hidden") && !is_folder_name(".."));
    }

    #[test]
    fn errors_point_at_line_and_key() {
        let e = parse("seed = 1\n[grid]\nlearnig_rate = [0.1]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "g.toml:3:1: grid.learnig_rate: unknown key; did you mean `learning_rate`?"
        );
    }
}
