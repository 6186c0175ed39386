//! The hyperparameter table: every training parameter a grid may fix or sweep, described once in
//! `assets/params.toml` (compiled in) and read from [`params`].
//!
//! The table drives grid parsing and validation (with the "did you mean"), job ids, the columns of `results.csv`,
//! `sweep best`'s table, the report's axes and labels, `sweep plan`, and the flags of `sweep train`. A parameter's value
//! is read from and written to its field of core's `TrainConfig` directly ([`Param::get`], [`Param::set`]: exact, a
//! NaN stays a NaN until `TrainConfig::check`, the one judge of what is valid, refuses it). A parameter that only
//! some configurations use says so (`only_when`): [`Param::matters`], [`effective`] and [`normalized`] read it, and a
//! job's id hashes only what matters, so two trainings that are the same have one id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value as Json;
use sweep_core::linalg::Precision;
use sweep_core::{Init, TrainConfig};

use crate::fields::{check_slot, slot, variant, variant_name, Slot};

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

    /// The same value, bit for bit (`-0` is not `0`, a NaN is itself): what "holds exactly the value written" means.
    pub fn same(self, other: Value) -> bool {
        match (self, other) {
            (Value::Num(a), Value::Num(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
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

/// When a parameter has an effect on training: only while the choice parameter `param` is one of `values`
/// (`momentum` only with `optimizer = "momentum"` or `"nesterov"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub param: &'static str,
    pub values: Vec<&'static str>,
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
    /// `None`: it always has an effect.
    pub only_when: Option<Condition>,
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
    only_when: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    param: Vec<Entry>,
}

/// The table file, compiled into the binary.
const TABLE: &str = include_str!("../assets/params.toml");

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Integers above this are not all representable in a value (an f64) and are refused.
pub const MAX_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Reads the table (a fault in it is a bug of this program, caught by the unit tests).
fn load_table(text: &str) -> Result<Vec<Param>, String> {
    let file: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out: Vec<Param> = Vec::new();
    for e in file.param {
        let kind = match (e.kind.as_str(), e.choices) {
            ("int", None) => Kind::Int,
            ("float", None) => Kind::Float,
            ("choice", Some(c)) => Kind::Choice(c.into_iter().map(leak).collect()),
            ("init", None) => Kind::Init,
            (k, ..) => return Err(format!("{}: kind \"{k}\" with these fields is not a kind", e.name)),
        };
        let name = leak(e.name);
        let field = e.field.map_or(name, leak);
        check_slot(name, field, &kind)?;
        let only_when = match e.only_when {
            None => None,
            Some(map) if map.len() == 1 => {
                let (param, values) = map.into_iter().next().unwrap_or_default();
                let values: Vec<&'static str> = values.into_iter().map(leak).collect();
                Some(Condition {
                    param: leak(param),
                    values,
                })
            }
            Some(_) => return Err(format!("{name}: only_when takes one parameter")),
        };
        out.push(Param {
            name,
            field,
            kind,
            short: leak(e.short),
            label: leak(e.label),
            flag: leak(e.flag),
            help: leak(e.help),
            width: e.width,
            show: e.show,
            id: e.id,
            only_when,
        });
    }
    for p in &out {
        if let Some(w) = &p.only_when {
            match out.iter().find(|q| q.name == w.param).map(|q| &q.kind) {
                Some(Kind::Choice(names)) if !w.values.is_empty() && w.values.iter().all(|v| names.contains(v)) => {}
                _ => {
                    return Err(format!(
                        "{}: only_when must name a choice parameter and some of its choices",
                        p.name
                    ))
                }
            }
        }
    }
    Ok(out)
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

impl Param {
    /// The value in a configuration, exactly as held.
    pub fn get(&self, c: &TrainConfig) -> Value {
        let mut c = c.clone();
        let name = |n: Option<String>| match &self.kind {
            Kind::Choice(names) => Value::Name(names.iter().find(|x| n.as_deref() == Some(**x)).copied().unwrap_or("?")),
            _ => Value::Name("?"),
        };
        match slot(&mut c, self.field) {
            Some(Slot::Real(x)) => Value::Num(*x),
            Some(Slot::Whole(n)) => Value::Num(*n as f64),
            Some(Slot::Init(Init::Std(s))) => Value::Num(*s),
            Some(Slot::Init(Init::Kaiming)) => Value::Name("kaiming"),
            Some(Slot::Optimizer(o)) => name(variant_name(o)),
            Some(Slot::Schedule(s)) => name(variant_name(s)),
            Some(Slot::Precision(p)) => name(variant_name(p)),
            None => Value::Name("?"),
        }
    }

    /// Sets the value in a configuration, exactly; an error if it is not a value of this parameter at all (a name for
    /// a number, a fraction or a negative number for a whole number, a name that is not a choice). Ranges are not
    /// judged here: that is `TrainConfig::check`'s (see [`Param::number`]).
    pub fn try_set(&self, c: &mut TrainConfig, v: Value) -> Result<(), ValueError> {
        let wrong = || ValueError(format!("{}: {v} is not a value of this parameter", self.name));
        match (slot(c, self.field), v) {
            (Some(Slot::Real(x)), Value::Num(v)) => *x = v,
            (Some(Slot::Whole(n)), Value::Num(v)) if v >= 0.0 && v.fract() == 0.0 && v <= MAX_INT => *n = v as usize,
            (Some(Slot::Init(i)), Value::Num(s)) => *i = Init::Std(s),
            (Some(Slot::Init(i)), Value::Name("kaiming")) => *i = Init::Kaiming,
            (Some(Slot::Optimizer(o)), Value::Name(n)) => *o = variant(n).ok_or_else(wrong)?,
            (Some(Slot::Schedule(s)), Value::Name(n)) => *s = variant(n).ok_or_else(wrong)?,
            (Some(Slot::Precision(p)), Value::Name(n)) => *p = variant(n).ok_or_else(wrong)?,
            _ => return Err(wrong()),
        }
        Ok(())
    }

    /// Sets the value in a configuration, exactly. `v` must be a value of this parameter, as every value returned by
    /// [`Param::number`], [`Param::name_value`], [`Param::parse`] and [`Param::get`] is; anything else is a bug of the
    /// caller and panics (it is never silently ignored). Use [`Param::try_set`] for values of unknown origin.
    pub fn set(&self, c: &mut TrainConfig, v: Value) {
        if let Err(e) = self.try_set(c, v) {
            panic!("{e}");
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

    /// Whether it has an effect on training `c` (`momentum` has none with `optimizer = "adam"`).
    pub fn matters(&self, c: &TrainConfig) -> bool {
        self.only_when
            .as_ref()
            .is_none_or(|w| param(w.param).is_some_and(|p| matches!(p.get(c), Value::Name(n) if w.values.contains(&n))))
    }

    /// When it has an effect, in words (`optimizer = "momentum" or "nesterov"`); `None` if always.
    pub fn used_with(&self) -> Option<String> {
        let w = self.only_when.as_ref()?;
        let values: Vec<String> = w.values.iter().map(|v| format!("\"{v}\"")).collect();
        Some(format!("{} = {}", w.param, values.join(" or ")))
    }

    /// Takes a number: whole numbers from 0 to 2^53 for integer parameters; the range is judged by core's
    /// `TrainConfig::check` (so NaN, infinities and every other out-of-range number are refused alike).
    pub fn number(&self, x: f64) -> Result<Value, ValueError> {
        match &self.kind {
            Kind::Choice(names) => Err(ValueError(format!("expected one of {}, found {x}", quoted(names)))),
            Kind::Int if x < 0.0 => {
                // The range core states for this parameter (checked at 0 and at the largest value), else >= 0.
                let valid = [0.0, MAX_INT]
                    .iter()
                    .find_map(|&probe| self.core_check(Value::Num(probe)).err())
                    .map_or("an integer >= 0", |e| e.valid);
                Err(ValueError(format!("{} = {x} is invalid: must be {valid}", self.name)))
            }
            Kind::Int if !x.is_finite() || x.fract() != 0.0 => {
                Err(ValueError(format!("{} = {x} is invalid: must be a whole number", self.name)))
            }
            Kind::Int if x > MAX_INT => Err(ValueError(format!(
                "{} = {x} is invalid: whole numbers above 2^53 = 9007199254740992 are not taken",
                self.name
            ))),
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

    /// Core's verdict on a default configuration with this one value set.
    fn core_check(&self, v: Value) -> Result<(), sweep_core::ConfigError> {
        let mut c = TrainConfig::default();
        match self.try_set(&mut c, v) {
            Ok(()) => c.check().map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    /// Range check by core's own rules, on a default configuration with this one value set.
    fn check(&self, v: Value) -> Result<Value, ValueError> {
        let mut c = TrainConfig::default();
        self.try_set(&mut c, v)?;
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
    let n = configs.into_iter().filter(|c| c.precision == Precision::Bf16).count();
    if n > 0 {
        tracing::warn!(
            "{n} job(s) with precision = bf16: emulated (GEMM inputs rounded to bfloat16, f32 products and sums: the \
             numerics of a bf16 kernel, not its speed; no native AMX / AVX512-BF16 kernel is built), so slower than f32"
        );
    }
}

/// The parameters that have an effect on training `c`, in table order: what `sweep plan` and descriptions show.
pub fn effective(c: &TrainConfig) -> impl Iterator<Item = &'static Param> + '_ {
    params().iter().filter(move |p| p.matters(c))
}

/// `c` with every parameter that has no effect on its training at the default (seeds kept): the same training as `c`,
/// written one way. Job ids hash it, so configurations that differ only where it does not matter share an id.
pub fn normalized(c: &TrainConfig) -> TrainConfig {
    let mut n = c.clone();
    for p in params().iter().filter(|p| !p.matters(c)) {
        p.set(&mut n, p.default_value());
    }
    n
}

/// The canonical JSON of a configuration that its job id hashes (seeds excluded): sorted keys, no spaces, each
/// parameter's field as core serializes it, of the [`normalized`] configuration.
pub fn canonical_json(c: &TrainConfig) -> String {
    let n = normalized(c);
    let json = serde_json::to_value(&n).unwrap_or(Json::Null);
    let map: serde_json::Map<String, Json> = params()
        .iter()
        .filter(|p| p.id == IdPart::Always || !p.get(&n).same(p.default_value()))
        .map(|p| (p.field.to_string(), json[p.field].clone()))
        .collect();
    Json::Object(map).to_string()
}

/// `lr=0.1 reg=0.0001 hidden=512 ...`: the parameters a job is told apart by (those that matter).
pub fn describe(c: &TrainConfig) -> String {
    effective(c)
        .filter(|p| p.shown(Show::Description) || p.get(c) != p.default_value())
        .map(|p| format!("{}={}", p.short, p.text(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole configuration as `short=value`, for the best configuration's line: every parameter that is always part
/// of the id, and the others where they differ from their default, of those that matter.
pub fn describe_all(c: &TrainConfig) -> String {
    full(c).map(|p| format!("{}={}", p.short, p.text(c))).collect::<Vec<_>>().join(" ")
}

/// The parameters that make up a configuration in full: those that matter and are always in the id or not at their
/// default.
pub fn full(c: &TrainConfig) -> impl Iterator<Item = &'static Param> + '_ {
    effective(c).filter(move |p| p.id == IdPart::Always || p.get(c) != p.default_value())
}

#[cfg(test)]
mod tests {
    use sweep_core::{LrSchedule, Optimizer};

    use super::*;

    #[test]
    fn every_parameter_round_trips_through_text_and_its_default_is_valid() {
        let c = TrainConfig::default();
        for p in params() {
            let v = p.get(&c);
            assert_ne!(v, Value::Name("?"), "{}", p.name);
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

    /// The old serde_json round trip turned NaN and infinities into "keep the previous value"; now every value is
    /// held as given, and each choice sets its own variant.
    #[test]
    fn get_and_set_are_exact_for_every_number_and_choice() {
        for p in params() {
            let mut c = TrainConfig::default();
            match &p.kind {
                Kind::Float | Kind::Init => {
                    for x in [
                        f64::NAN,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        -0.0,
                        0.0,
                        1e-300,
                        1e300,
                        -3.5,
                        0.1 + 0.2,
                    ] {
                        p.set(&mut c, Value::Num(x));
                        assert!(p.get(&c).same(Value::Num(x)), "{} = {x}", p.name);
                    }
                }
                Kind::Int => {
                    for x in [0.0, 1.0, 7.0, 4096.0, MAX_INT] {
                        p.set(&mut c, Value::Num(x));
                        assert!(p.get(&c).same(Value::Num(x)), "{} = {x}", p.name);
                    }
                    for x in [-1.0, 0.5, f64::NAN, f64::INFINITY, MAX_INT * 2.0] {
                        assert!(p.try_set(&mut c, Value::Num(x)).is_err(), "{} = {x}", p.name);
                    }
                }
                Kind::Choice(names) => {
                    for n in names {
                        p.set(&mut c, Value::Name(n));
                        assert_eq!(p.get(&c), Value::Name(n), "{}", p.name);
                    }
                    assert!(p.try_set(&mut c, Value::Name("nope")).is_err());
                    assert!(p.try_set(&mut c, Value::Num(1.0)).is_err());
                }
            }
        }
        let init = param("init_std").unwrap();
        let mut c = TrainConfig::default();
        init.set(&mut c, Value::Name("kaiming"));
        assert_eq!(c.init, Init::Kaiming);
    }

    #[test]
    fn values_are_checked_by_core_rules_with_the_range_in_the_message() {
        let lr = param("learning_rate").unwrap();
        assert_eq!(
            lr.number(0.0).unwrap_err().to_string(),
            "learning_rate = 0 is invalid: must be a finite number > 0"
        );
        assert_eq!(
            lr.number(f64::NAN).unwrap_err().to_string(),
            "learning_rate = NaN is invalid: must be a finite number > 0"
        );
        let hidden = param("hidden_size").unwrap();
        assert_eq!(
            hidden.number(0.0).unwrap_err().to_string(),
            "hidden_size = 0 is invalid: must be an integer >= 1"
        );
        assert_eq!(
            hidden.number(-5.0).unwrap_err().to_string(),
            "hidden_size = -5 is invalid: must be an integer >= 1"
        );
        assert_eq!(
            param("crop").unwrap().number(-1.0).unwrap_err().to_string(),
            "crop = -1 is invalid: must be an integer in 0..=16 (pixels)"
        );
        assert!(hidden.number(2.5).unwrap_err().to_string().contains("whole number"));
        assert!(hidden.number(MAX_INT * 2.0).unwrap_err().to_string().contains("2^53"));
        assert_eq!(hidden.parse("64").unwrap(), Value::Num(64.0));
        for (name, x) in [
            ("dropout", f64::INFINITY),
            ("momentum", f64::NAN),
            ("eps", f64::INFINITY),
            ("flip", f64::NAN),
        ] {
            let e = param(name).unwrap().number(x).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{name} = {x} is invalid")), "{e}");
        }
        let init = param("init_std").unwrap();
        assert_eq!(init.parse("kaiming").unwrap(), Value::Name("kaiming"));
        assert_eq!(init.parse("1e-4").unwrap(), Value::Num(1e-4));
        assert!(init.parse("nan").unwrap_err().to_string().contains("init_std = NaN is invalid"));
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
            ..c.clone()
        };
        assert!(canonical_json(&std).contains(r#""init":{"kind":"std","std":0.0001}"#));
        // Where a parameter has an effect, it is hashed as before.
        let nesterov = TrainConfig {
            optimizer: Optimizer::Nesterov,
            momentum: 0.5,
            ..c.clone()
        };
        assert!(canonical_json(&nesterov).contains(r#""momentum":0.5,"optimizer":"nesterov""#));
    }

    #[test]
    fn parameters_without_effect_are_named_and_left_out_of_ids_and_descriptions() {
        let c = TrainConfig::default();
        let momentum = param("momentum").unwrap();
        assert!(!momentum.matters(&c), "plain SGD has no momentum");
        assert_eq!(momentum.used_with().unwrap(), "optimizer = \"momentum\" or \"nesterov\"");
        for (name, optimizer, matters) in [
            ("momentum", Optimizer::Nesterov, true),
            ("momentum", Optimizer::Adam, false),
            ("beta1", Optimizer::AdamW, true),
            ("beta2", Optimizer::Momentum, false),
            ("eps", Optimizer::Adam, true),
        ] {
            let c = TrainConfig { optimizer, ..c.clone() };
            assert_eq!(param(name).unwrap().matters(&c), matters, "{name} with {optimizer:?}");
        }
        let cosine = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            lr_decay: 0.5,
            momentum: 0.3,
            ..c.clone()
        };
        assert!(!param("lr_decay").unwrap().matters(&cosine));
        let shown: Vec<&str> = effective(&cosine).map(|p| p.name).collect();
        assert!(!shown.contains(&"lr_decay") && !shown.contains(&"momentum") && shown.contains(&"lr_schedule"));
        let n = normalized(&cosine);
        assert_eq!((n.lr_decay, n.momentum, n.lr_schedule), (0.95, 0.9, LrSchedule::Cosine));
        let plain_cosine = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            ..c.clone()
        };
        assert_eq!(
            canonical_json(&cosine),
            canonical_json(&plain_cosine),
            "the same training, the same id"
        );
        assert_eq!(
            describe(&cosine),
            "lr=0.1 reg=0.0001 hidden=512 epochs=10 batch=200 schedule=cosine"
        );
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

    #[test]
    fn a_faulty_table_is_refused() {
        let entry = |extra: &str| {
            format!(
                "[[param]]\nname = \"optimizer\"\nkind = \"choice\"\nchoices = [\"sgd\", \"adam\"]\nshort = \"o\"\nlabel = \"o\"\n\
                 flag = \"o\"\nhelp = \"o\"\nwidth = 1\nshow = []\nid = \"always\"\n\
                 [[param]]\nname = \"momentum\"\nkind = \"float\"\nshort = \"m\"\nlabel = \"m\"\nflag = \"m\"\nhelp = \"m\"\n\
                 width = 1\nshow = []\nid = \"always\"\n{extra}"
            )
        };
        assert!(load_table(&entry("only_when = { optimizer = [\"adam\"] }\n")).is_ok());
        assert!(load_table(&entry("only_when = { optimizer = [\"rmsprop\"] }\n")).is_err());
        assert!(load_table(&entry("only_when = { momentum = [\"x\"] }\n")).is_err());
        assert!(
            load_table(&entry("").replace("name = \"momentum\"", "name = \"momentm\"")).is_err(),
            "no such field"
        );
        assert!(
            load_table(&entry("").replace("\"float\"", "\"int\"")).is_err(),
            "momentum is not whole"
        );
    }
}
