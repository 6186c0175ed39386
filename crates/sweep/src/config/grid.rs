//! Grid files: TOML parsed with positions, checked key by key, and expanded into a deterministic list of jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sweep_core::TrainConfig;
use toml::{Spanned, Value};

use crate::config::params::{self, Param, Value as PValue};
pub use crate::error::GridError;
use crate::search::{sample_configs, Search};
use crate::text::hex;

const TOP_KEYS: [&str; 6] = ["name", "seed", "data", "train", "grid", "search"];
const DATA_KEYS: [&str; 5] = ["path", "source", "val_size", "train_size", "test_size"];

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

/// One sweep axis: a parameter and its values in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub param: &'static Param,
    pub values: Vec<PValue>,
    /// Values came from `{ log = [lo, hi], num = n }` (or a log range is sampled): plots use a log axis.
    pub log: bool,
    /// `{ log = [lo, hi] }` or `{ linear = [lo, hi] }` without `num`: a continuous range that random, Sobol, halving
    /// and Hyperband searches sample from (`values` is then empty).
    pub range: Option<(f64, f64)>,
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
}

/// One configuration to train.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Position in expansion order (first axis outermost).
    pub index: usize,
    /// Stable id: a hash of the full training configuration (same config, same id, on any machine).
    pub id: String,
    /// The configuration, its seed derived from the sweep seed and the id.
    pub config: TrainConfig,
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
}

pub(crate) struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn pos(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
        (line, column)
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

fn suggest(word: &str, candidates: &[&str]) -> String {
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

fn type_name(v: &Value) -> &'static str {
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

/// Checks one value of a training parameter against the parameter table.
fn param_value(ctx: &Ctx, p: &Param, key: &str, v: &Value, offset: usize) -> Result<PValue, GridError> {
    let checked = match (v, p.is_integer()) {
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

fn spaced(lo: f64, hi: f64, num: usize, log: bool) -> Vec<f64> {
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

/// An axis's values (and whether they are log-spaced); a range without `num` is returned as `range`.
#[allow(clippy::type_complexity)]
fn axis_values(ctx: &Ctx, p: &Param, v: &Spanned<Value>) -> Result<(Vec<PValue>, bool, Option<(f64, f64)>), GridError> {
    let key = format!("grid.{}", p.name);
    let off = v.span().start;
    let shape = "a list of values like [0.1, 0.2] or { log = [1e-5, 1e-2], num = 4 } (or linear = [lo, hi])";
    match v.get_ref() {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ctx.err(off, Some(&key), format!("the axis is empty; give at least one value, as {shape}")));
            }
            let vals = items
                .iter()
                .map(|i| param_value(ctx, p, &key, i, off))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((vals, false, None))
        }
        Value::Table(t) => {
            let unknown: Vec<&String> = t.keys().filter(|k| !["log", "linear", "num"].contains(&k.as_str())).collect();
            if let Some(k) = unknown.first() {
                return Err(ctx.err(off, Some(&format!("{key}.{k}")), suggest(k, &["log", "linear", "num"])));
            }
            let (kind, log) = match (t.get("log"), t.get("linear")) {
                (Some(r), None) => (r, true),
                (None, Some(r)) => (r, false),
                _ => {
                    return Err(ctx.err(
                        off,
                        Some(&key),
                        format!("a range table needs exactly one of `log` or `linear`; expected {shape}"),
                    ))
                }
            };
            let range: Vec<f64> = match kind {
                Value::Array(a) if a.len() == 2 => a
                    .iter()
                    .map(|x| match x {
                        Value::Integer(i) => Some(*i as f64),
                        Value::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| ctx.err(off, Some(&key), "the range must be two numbers [lo, hi]"))?,
                _ => return Err(ctx.err(off, Some(&key), "the range must be two numbers [lo, hi]")),
            };
            let (lo, hi) = (range[0], range[1]);
            if log && !(lo > 0.0 && hi > 0.0) {
                return Err(ctx.err(off, Some(&key), format!("log-spaced bounds must be > 0, got [{lo}, {hi}]")));
            }
            if matches!(p.kind, params::Kind::Choice(_)) {
                return Err(ctx.err(off, Some(&key), "a range needs a numeric parameter; list the names instead"));
            }
            let num = match t.get("num") {
                Some(Value::Integer(n)) if *n >= 1 => *n as usize,
                Some(other) => {
                    return Err(ctx.err(off, Some(&format!("{key}.num")), format!("must be an integer >= 1, found {other}")));
                }
                None => {
                    // A continuous range, for sampling searches ([search] checks that the method samples).
                    if lo > hi {
                        return Err(ctx.err(off, Some(&key), format!("the range [{lo}, {hi}] is empty: give [low, high]")));
                    }
                    for x in [lo, hi] {
                        let x = if p.is_integer() { x.round() } else { x };
                        p.number(x).map_err(|e| ctx.err(off, Some(&key), e.to_string()))?;
                    }
                    return Ok((vec![], log, Some((lo, hi))));
                }
            };
            let mut vals = spaced(lo, hi, num, log);
            if p.is_integer() {
                vals = vals.into_iter().map(f64::round).collect();
                vals.dedup();
            }
            let vals = vals
                .into_iter()
                .map(|x| p.number(x).map_err(|e| ctx.err(off, Some(&key), e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((vals, log, None))
        }
        other => Err(ctx.err(
            off,
            Some(&key),
            format!("expected {shape}, found {}; a single value belongs in [train]", type_name(other)),
        )),
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
        for (k, v) in &top {
            let key = k.get_ref().as_str();
            match key {
                "name" => match v.get_ref() {
                    Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => {
                        name = s.clone()
                    }
                    Value::String(s) => {
                        return Err(ctx.err(
                            v.span().start,
                            Some("name"),
                            format!("\"{s}\" is not usable as a folder name: use letters, digits, '-', '_' or '.'"),
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
                "data" | "train" | "grid" | "search" if !matches!(v.get_ref(), Value::Table(_)) => {
                    return Err(ctx.err(
                        k.span().start,
                        Some(key),
                        format!("expected a table [{key}], found {}", type_name(v.get_ref())),
                    ));
                }
                "data" | "train" | "grid" | "search" => {}
                _ => return Err(ctx.err(k.span().start, Some(key), suggest(key, &TOP_KEYS))),
            }
        }

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
        for (k, v) in &data_map {
            let key = format!("data.{}", k.get_ref());
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
                    data.val_size = usize_value(&ctx, &key, v, 0)?;
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
        }
        let mut entries: Vec<(&Spanned<String>, &Spanned<Value>)> = sections.grid.iter().flatten().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut axes = Vec::new();
        let mut key_offsets: Vec<(String, usize)> = Vec::new();
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
        let search = Search::parse(&search_map, &err_at, &suggest)?;
        for (k, v) in &search_map {
            key_offsets.push((format!("search.{}", k.get_ref()), v.span().start));
        }
        let table_start = text.find("[search]").unwrap_or(0);
        let epochs = match fixed.get("epochs") {
            Some(PValue::Num(e)) => *e as usize,
            _ => TrainConfig::default().epochs,
        };
        search.check_grid(&axes, epochs, &|key: &str, msg: String| {
            let off = key_offsets
                .iter()
                .find(|(k, _)| key == k || key.starts_with(&format!("{k}.")))
                .map_or(table_start, |(_, o)| *o);
            ctx.err(off, Some(key), msg)
        })?;
        Ok(Grid {
            file: file.to_path_buf(),
            text: text.to_string(),
            name,
            seed,
            data,
            fixed,
            axes,
            search,
        })
    }

    /// The jobs, in deterministic order: the cartesian product of the axes, first axis outermost.
    pub fn jobs(&self) -> Vec<Job> {
        let mut base = TrainConfig::default();
        for (k, &v) in &self.fixed {
            if let Some(p) = params::param(k) {
                p.set(&mut base, v);
            }
        }
        let configs = match self.search.draws(&self.axes, base.epochs) {
            Some(n) => sample_configs(&base, &self.axes, self.search.sampler, n, self.seed),
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
        };
        configs
            .into_iter()
            .enumerate()
            .map(|(index, mut config)| {
                let id = job_id(&config);
                config.seed = sweep_core::rng::derive_seed(self.seed, &id);
                // Every job of a sweep sees the same data order (and augmentation): fairer comparisons, and jobs that
                // can be paused, continued and trained together.
                config.shuffle_seed = self.seed;
                Job { index, id, config }
            })
            .collect()
    }

    /// Identifies the sweep: same data settings, seed and job set give the same fingerprint.
    pub fn fingerprint(&self, jobs: &[Job]) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "seed={};data={:?},{},{:?},{:?};",
            self.seed, self.data.source, self.data.val_size, self.data.train_size, self.data.test_size
        ));
        if self.search.method.is_multi_fidelity() {
            // The rungs decide which rows exist: another eta or first rung is another sweep. (Grid sweeps hash as
            // before, so results directories of earlier releases still resume.)
            let s = &self.search;
            h.update(format!("search={},eta={},min_epochs={};", s.method.name(), s.eta, s.min_epochs));
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

/// Stable id of a configuration (its seed excluded): the first 12 hex digits of the SHA-256 of its canonical JSON.
pub fn job_id(config: &TrainConfig) -> String {
    hex(&Sha256::digest(params::canonical_json(config).as_bytes()))[..12].to_string()
}

impl Axis {
    /// The axis's parameter name.
    pub fn name(&self) -> &'static str {
        self.param.name
    }
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
        let jobs = g.jobs();
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
        let a = parse(GOOD).unwrap().jobs();
        // The same configuration written differently (axes reordered, a fixed value) has the same id.
        let b = parse(
            &GOOD
                .replace("learning_rate = [0.1, 0.2]\n", "")
                .replace("hidden_size = [8, 16, 32]", "hidden_size = [8, 16, 32]\nlearning_rate = [0.1, 0.2]"),
        )
        .unwrap()
        .jobs();
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
        let other_seed = parse(&GOOD.replace("seed = 3", "seed = 4")).unwrap().jobs();
        assert_eq!(other_seed[0].id, a[0].id);
        assert_ne!(other_seed[0].config.seed, a[0].config.seed);
    }

    /// The ids of the report's Table III grid as every earlier version computed them (SHA-256 of the 1,512 ids joined
    /// by commas, in job order, taken from `sweep plan sweeps/seed-table3.toml` before the parameter table existed):
    /// existing results directories keep resuming.
    #[test]
    fn ids_of_the_shipped_table_iii_grid_never_change() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps/seed-table3.toml");
        let jobs = Grid::load(&path).unwrap().jobs();
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
        let jobs = g.jobs();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].config.optimizer, sweep_core::optim::Optimizer::Nesterov);
        let plain = parse("seed = 3\n[train]\nepochs = 2\n").unwrap().jobs();
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

    #[test]
    fn integer_log_axis_is_rounded_and_deduplicated() {
        let g = parse("[grid]\nhidden_size = { log = [16, 1024], num = 7 }\n").unwrap();
        let v: Vec<f64> = g.axes[0].values.iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(v, [16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]);
        assert!(g.axes[0].log);
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

    #[test]
    fn errors_point_at_line_and_key() {
        let e = parse("seed = 1\n[grid]\nlearnig_rate = [0.1]\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "g.toml:3:1: grid.learnig_rate: unknown key; did you mean `learning_rate`?"
        );
    }
}
