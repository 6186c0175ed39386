//! The hyperparameter table: every training parameter a grid may fix or sweep, described once in
//! `assets/params.toml` (compiled in) and read from [`params`].
//!
//! The table drives grid parsing and validation (with the "did you mean"), job ids, the columns of `results.csv`,
//! `sweep best`'s table, the report's axes and labels, `sweep plan`, and the flags of `sweep train`. A parameter's value
//! is read from and written to core's `TrainConfig` through its serde form (the field of the same name), so adding a
//! hyperparameter is one entry in the table plus its field and effect in core; `TrainConfig::check` stays the one judge
//! of what is valid.

use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value as Json;
use sweep_core::{Init, TrainConfig};

/// What values a parameter takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A whole number (sizes, counts).
    Int,
    /// A real number.
    Float,
    /// One of a few names.
    Choice(Vec<&'static str>),
    /// Core's weight initialization: a fixed standard deviation, or the name of the default (`kaiming`).
    Init,
}

/// One value of a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Num(f64),
    Name(&'static str),
}

impl Value {
    /// The number, if it is one (names have no position on a numeric axis).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Num(x) => Some(x),
            Value::Name(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(x) => write!(f, "{x}"),
            Value::Name(s) => f.write_str(s),
        }
    }
}

/// How a parameter enters a job's id (a hash of the configuration; ids of existing results must never change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdPart {
    /// Always (the parameters ids have hashed since the first release).
    Always,
    /// Only when it differs from the default, so adding a parameter keeps every earlier id.
    UnlessDefault,
}

/// Where a parameter is shown even when every job has the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Show {
    /// A column of `sweep best`'s table.
    Table,
    /// Part of a job's one-line description.
    Description,
    /// Listed by `sweep plan`.
    Plan,
}

/// One hyperparameter, as described in `assets/params.toml`.
#[derive(Debug)]
pub struct Param {
    /// Key in `[train]`/`[grid]`, column of `results.csv`.
    pub name: &'static str,
    /// Its field in core's `TrainConfig` (serde name).
    pub field: &'static str,
    pub kind: Kind,
    /// Short name in tables and job descriptions (`lr`, `hidden`).
    pub short: &'static str,
    /// Axis label in the report.
    pub label: &'static str,
    /// Flag of `sweep train` (`--lr`).
    pub flag: &'static str,
    /// Help of that flag, with the valid range.
    pub help: &'static str,
    /// Column width in `sweep best`'s table.
    pub width: usize,
    pub show: Vec<Show>,
    pub id: IdPart,
}

/// Parameters are the same when they have the same name (names are unique: a test checks it).
impl PartialEq for Param {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// An entry of the table file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    field: Option<String>,
    kind: String,
    choices: Option<Vec<String>>,
    short: String,
    label: String,
    flag: String,
    help: String,
    width: usize,
    show: Vec<Show>,
    id: IdPart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    param: Vec<Entry>,
}

/// The table file, compiled into the binary.
const TABLE: &str = include_str!("../../assets/params.toml");

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Reads the table (a fault in it is a bug of this program, caught by the unit tests).
fn load_table(text: &str) -> Result<Vec<Param>, String> {
    let file: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
    file.param
        .into_iter()
        .map(|e| {
            let kind = match (e.kind.as_str(), e.choices) {
                ("int", None) => Kind::Int,
                ("float", None) => Kind::Float,
                ("choice", Some(c)) => Kind::Choice(c.into_iter().map(leak).collect()),
                ("init", None) => Kind::Init,
                (k, ..) => return Err(format!("{}: kind \"{k}\" with these fields is not a kind", e.name)),
            };
            let name = leak(e.name);
            Ok(Param {
                name,
                field: e.field.map_or(name, leak),
                kind,
                short: leak(e.short),
                label: leak(e.label),
                flag: leak(e.flag),
                help: leak(e.help),
                width: e.width,
                show: e.show,
                id: e.id,
            })
        })
        .collect()
}

/// Every hyperparameter, in the order of `results.csv`'s columns.
pub fn params() -> &'static [Param] {
    static PARAMS: OnceLock<Vec<Param>> = OnceLock::new();
    PARAMS.get_or_init(|| load_table(TABLE).unwrap_or_else(|e| panic!("assets/params.toml: {e}")))
}

/// The parameter called `name`.
pub fn param(name: &str) -> Option<&'static Param> {
    params().iter().find(|p| p.name == name)
}

/// Every parameter name, for "did you mean" and messages.
pub fn names() -> Vec<&'static str> {
    params().iter().map(|p| p.name).collect()
}

/// Why a value cannot be taken: the message names the valid values (the caller adds file, line and key).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// The configuration in its serde form, where every parameter is a field.
fn config_json(c: &TrainConfig) -> Json {
    serde_json::to_value(c).unwrap_or(Json::Null)
}

impl Param {
    /// The value in a configuration.
    pub fn get(&self, c: &TrainConfig) -> Value {
        self.decode(&config_json(c)[self.field])
    }

    fn decode(&self, json: &Json) -> Value {
        match &self.kind {
            Kind::Int | Kind::Float => Value::Num(json.as_f64().unwrap_or(f64::NAN)),
            Kind::Choice(names) => Value::Name(names.iter().find(|n| json.as_str() == Some(n)).copied().unwrap_or("?")),
            Kind::Init => match serde_json::from_value::<Init>(json.clone()) {
                Ok(Init::Std(s)) => Value::Num(s),
                _ => Value::Name("kaiming"),
            },
        }
    }

    fn encode(&self, v: Value) -> Json {
        match (&self.kind, v) {
            (Kind::Int, Value::Num(x)) => Json::from(x as u64),
            (Kind::Init, Value::Num(s)) => serde_json::to_value(Init::Std(s)).unwrap_or(Json::Null),
            (Kind::Init, Value::Name(_)) => serde_json::to_value(Init::Kaiming).unwrap_or(Json::Null),
            (_, Value::Num(x)) => Json::from(x),
            (_, Value::Name(n)) => Json::from(n),
        }
    }

    /// Sets the value in a configuration (the value must have passed [`Param::number`] or [`Param::name_value`]).
    pub fn set(&self, c: &mut TrainConfig, v: Value) {
        let mut json = config_json(c);
        json[self.field] = self.encode(v);
        if let Ok(changed) = serde_json::from_value(json) {
            *c = changed;
        }
    }

    /// The default (the value in `TrainConfig::default()`).
    pub fn default_value(&self) -> Value {
        self.get(&TrainConfig::default())
    }

    /// Whether this is a whole-number parameter.
    pub fn is_integer(&self) -> bool {
        self.kind == Kind::Int
    }

    /// Whether it is shown at `place` even when every job has the same value.
    pub fn shown(&self, place: Show) -> bool {
        self.show.contains(&place)
    }

    /// Takes a number: integers for integer parameters; the range is judged by core's `TrainConfig::check`.
    pub fn number(&self, x: f64) -> Result<Value, ValueError> {
        match &self.kind {
            Kind::Choice(names) => Err(ValueError(format!("expected one of {}, found {x}", quoted(names)))),
            Kind::Int if x < 0.0 || x.fract() != 0.0 => Err(ValueError(format!("{} = {x} is invalid: must be a whole number", self.name))),
            _ => self.check(Value::Num(x)),
        }
    }

    /// Takes a name: one of the choices (or the named default).
    pub fn name_value(&self, s: &str) -> Result<Value, ValueError> {
        match &self.kind {
            Kind::Choice(names) => match names.iter().find(|n| **n == s) {
                Some(n) => self.check(Value::Name(n)),
                None => Err(ValueError(format!("expected one of {}, found \"{s}\"", quoted(names)))),
            },
            Kind::Init if s == "kaiming" => Ok(Value::Name("kaiming")),
            Kind::Init => Err(ValueError(format!("expected a number or \"kaiming\", found \"{s}\""))),
            _ => Err(ValueError(format!("expected a number, found \"{s}\""))),
        }
    }

    /// A value as written in `results.csv` or on the command line.
    pub fn parse(&self, text: &str) -> Result<Value, ValueError> {
        match text.trim().parse::<f64>() {
            Ok(x) if !matches!(self.kind, Kind::Choice(_)) => self.number(x),
            _ => self.name_value(text.trim()),
        }
    }

    /// Range check by core's own rules, on a default configuration with this one value set.
    fn check(&self, v: Value) -> Result<Value, ValueError> {
        let mut c = TrainConfig::default();
        self.set(&mut c, v);
        c.check().map(|_| v).map_err(|e| ValueError(e.to_string()))
    }

    /// The value as text for tables, descriptions and `sweep plan`.
    pub fn text(&self, c: &TrainConfig) -> String {
        self.get(c).to_string()
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// Warns once when some of `configs` train with bf16 GEMM inputs, which are emulated (see
/// [`sweep_core::linalg::Precision`]).
pub fn warn_emulated_bf16<'c>(configs: impl IntoIterator<Item = &'c TrainConfig>) {
    let n = configs
        .into_iter()
        .filter(|c| c.precision == sweep_core::linalg::Precision::Bf16)
        .count();
    if n > 0 {
        tracing::warn!(
            "{n} job(s) with precision = bf16: emulated (GEMM inputs rounded to bfloat16, f32 products and sums: the \
             numerics of a bf16 kernel, not its speed; no native AMX / AVX512-BF16 kernel is built), so slower than f32"
        );
    }
}

/// The canonical JSON of a configuration that its job id hashes (seeds excluded): sorted keys, no spaces, each
/// parameter's field as core serializes it.
pub fn canonical_json(c: &TrainConfig) -> String {
    let json = config_json(c);
    let map: serde_json::Map<String, Json> = params()
        .iter()
        .filter(|p| p.id == IdPart::Always || p.get(c) != p.default_value())
        .map(|p| (p.field.to_string(), json[p.field].clone()))
        .collect();
    Json::Object(map).to_string()
}

/// `lr=0.1 reg=0.0001 hidden=512 ...`: the parameters a job is told apart by.
pub fn describe(c: &TrainConfig) -> String {
    params()
        .iter()
        .filter(|p| p.shown(Show::Description) || p.get(c) != p.default_value())
        .map(|p| format!("{}={}", p.short, p.text(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole configuration as `short=value`, for the best configuration's line: every parameter that is always part
/// of the id, and the others where they differ from their default.
pub fn describe_all(c: &TrainConfig) -> String {
    full(c).map(|p| format!("{}={}", p.short, p.text(c))).collect::<Vec<_>>().join(" ")
}

/// The parameters that make up a configuration in full: those always in the id, and the others not at their default.
pub fn full(c: &TrainConfig) -> impl Iterator<Item = &'static Param> + '_ {
    params()
        .iter()
        .filter(move |p| p.id == IdPart::Always || p.get(c) != p.default_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_round_trips_through_text_and_its_default_is_valid() {
        let c = TrainConfig::default();
        for p in params() {
            let v = p.get(&c);
            assert_eq!(p.parse(&p.text(&c)).unwrap(), v, "{}", p.name);
            let mut d = TrainConfig {
                learning_rate: 0.5,
                ..TrainConfig::default()
            };
            p.set(&mut d, v);
            assert_eq!(p.get(&d), v, "{}", p.name);
        }
        let names = names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "parameter names are unique");
    }

    #[test]
    fn values_are_checked_by_core_rules_with_the_range_in_the_message() {
        let lr = param("learning_rate").unwrap();
        assert_eq!(
            lr.number(0.0).unwrap_err().to_string(),
            "learning_rate = 0 is invalid: must be a finite number > 0"
        );
        let hidden = param("hidden_size").unwrap();
        assert_eq!(
            hidden.number(0.0).unwrap_err().to_string(),
            "hidden_size = 0 is invalid: must be an integer >= 1"
        );
        assert_eq!(hidden.parse("64").unwrap(), Value::Num(64.0));
        let init = param("init_std").unwrap();
        assert_eq!(init.parse("kaiming").unwrap(), Value::Name("kaiming"));
        assert_eq!(init.parse("1e-4").unwrap(), Value::Num(1e-4));
        assert!(init.parse("xavier").unwrap_err().to_string().contains("\"kaiming\""));
    }

    #[test]
    fn canonical_json_is_the_one_ids_have_always_hashed() {
        // As hashed since the first release (also pinned by grid's golden id test); the default configuration is the
        // report's lr 0.1, reg 1e-4, hidden 512, decay 0.95, 10 epochs, batch 200.
        let c = TrainConfig::default();
        assert_eq!(
            canonical_json(&c),
            r#"{"batch_size":200,"epochs":10,"hidden_size":512,"init":{"kind":"kaiming"},"learning_rate":0.1,"lr_decay":0.95,"reg":0.0001}"#
        );
        let std = TrainConfig {
            init: Init::Std(1e-4),
            ..c
        };
        assert!(canonical_json(&std).contains(r#""init":{"kind":"std","std":0.0001}"#));
    }

    #[test]
    fn descriptions_use_the_short_names() {
        let c = TrainConfig::default();
        assert_eq!(describe(&c), "lr=0.1 reg=0.0001 hidden=512 decay=0.95 epochs=10 batch=200");
        assert_eq!(
            describe_all(&c),
            "lr=0.1 reg=0.0001 hidden=512 decay=0.95 epochs=10 batch=200 init=kaiming"
        );
    }
}
