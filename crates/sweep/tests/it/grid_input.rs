//! Input is never silently changed: for every parameter of the table and every class of value (NaN, +-inf,
//! negative, zero, fractional, huge, ordinary, a name), written in `[train]` or as a `[grid]` axis, the grid is either
//! refused with a positioned message (`g.toml:line:col: key: ...`; exit 2 through the binary, nothing written) or
//! every job's configuration holds exactly the value written. Earlier releases set parameters through a serde_json
//! round trip that has no NaN or infinity and ignored its failure: `learning_rate = [nan]` planned a job with 0.1.

use crate::common;

use std::path::Path;

use proptest::prelude::*;
use sweep_grid::grid::Grid;
use sweep_params::params::{params, Kind, Param, Value};

use common::{sweep, write};

/// What a case writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Nan,
    PosInf,
    NegInf,
    Negative(f64),
    Zero,
    Fractional(f64),
    Huge(f64),
    Ordinary(f64),
    /// A choice by position (past the end: a name that is no choice).
    Name(usize),
}

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Nan),
        Just(Class::PosInf),
        Just(Class::NegInf),
        (1e-9..1e9f64).prop_map(Class::Negative),
        Just(Class::Zero),
        (0.0..64.0f64)
            .prop_filter("a fraction", |x| x.fract() != 0.0)
            .prop_map(Class::Fractional),
        (1e12..1e300f64).prop_map(Class::Huge),
        (1e-6..0.999f64).prop_map(Class::Ordinary),
        (0..8usize).prop_map(Class::Name),
    ]
}

/// The TOML literal of `class` for `p`, and the value it stands for (`None`: not a value of `p` at all).
fn literal(p: &Param, class: Class) -> (String, Option<Value>) {
    let float = |x: f64| -> (String, Option<Value>) {
        let text = if x.is_nan() {
            "nan".to_string()
        } else if x.is_infinite() {
            if x > 0.0 { "inf" } else { "-inf" }.to_string()
        } else {
            format!("{x:?}") // the shortest text that reads back as x, in TOML's syntax
        };
        (text, Some(Value::Num(x)))
    };
    let whole = |n: i64| (n.to_string(), Some(Value::Num(n as f64)));
    match (&p.kind, class) {
        (Kind::Choice(names), Class::Name(i)) => match names.get(i) {
            Some(n) => (format!("\"{n}\""), Some(Value::Name(n))),
            None => ("\"no-such-choice\"".into(), None),
        },
        (Kind::Init, Class::Name(0)) => ("\"kaiming\"".into(), Some(Value::Name("kaiming"))),
        (_, Class::Name(_)) => ("\"fast\"".into(), None),
        (_, Class::Nan) => float(f64::NAN),
        (_, Class::PosInf) => float(f64::INFINITY),
        (_, Class::NegInf) => float(f64::NEG_INFINITY),
        (Kind::Int, Class::Negative(x)) => whole(-(x.ceil() as i64)),
        (Kind::Int, Class::Zero) => whole(0),
        (Kind::Int, Class::Huge(x)) => whole(x.min(9.2e18) as i64),
        (Kind::Int, Class::Ordinary(x)) => whole((x * 64.0) as i64 + 1),
        (_, Class::Negative(x)) => float(-x),
        (_, Class::Zero) => float(0.0),
        (_, Class::Fractional(x)) | (_, Class::Huge(x)) | (_, Class::Ordinary(x)) => float(x),
    }
}

/// Parses the grid with `p` written as `class`; panics unless it is refused where it is written or every job holds
/// exactly the value. Returns the grid text and whether it was refused.
fn check_case(p: &Param, class: Class, axis: bool) -> (String, bool) {
    let (lit, value) = literal(p, class);
    let text = if axis {
        format!("[data]\nsource = \"toy\"\n[grid]\n{} = [{lit}]\n", p.name)
    } else {
        format!("[data]\nsource = \"toy\"\n[train]\n{} = {lit}\n", p.name)
    };
    let key = format!("{}.{}", if axis { "grid" } else { "train" }, p.name);
    match Grid::parse(Path::new("g.toml"), &text) {
        Err(e) => {
            assert_eq!((e.line, e.key.as_deref()), (4, Some(key.as_str())), "{text}\n{e}");
            assert!(e.column > p.name.len(), "{text}\n{e}");
            assert!(e.to_string().starts_with(&format!("g.toml:4:{}: {key}: ", e.column)), "{e}");
            (text, true)
        }
        Ok(g) => {
            let value = value.unwrap_or_else(|| panic!("{text}: not a value of {}, yet taken", p.name));
            assert!(value.as_f64().is_none_or(f64::is_finite), "{text}: a non-finite number was taken");
            let jobs = g.jobs().unwrap();
            assert_eq!(jobs.len(), 1, "{text}");
            for j in &jobs {
                let held = p.get(&j.config);
                assert!(held.same(value), "{text}: the job holds {held}, not {value}");
            }
            (text, false)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_value_is_refused_where_it_is_written_or_held_exactly(
        which in 0..params().len(),
        class in class(),
        axis in any::<bool>(),
    ) {
        check_case(&params()[which], class, axis);
    }
}

/// Every class for every parameter once, in both places, so that no combination depends on the draws above; and
/// the classes that must be refused are.
#[test]
fn every_parameter_and_class_in_train_and_as_an_axis() {
    let classes = [
        Class::Nan,
        Class::PosInf,
        Class::NegInf,
        Class::Negative(0.5),
        Class::Zero,
        Class::Fractional(2.5),
        Class::Huge(1e300),
        Class::Ordinary(0.5),
        Class::Name(0),
        Class::Name(99),
    ];
    let mut taken = 0;
    for p in params() {
        for class in classes {
            for axis in [false, true] {
                let (text, refused) = check_case(p, class, axis);
                if matches!(class, Class::Nan | Class::PosInf | Class::NegInf) {
                    assert!(refused, "{text}: a non-finite number must be refused");
                }
                taken += usize::from(!refused);
            }
        }
    }
    assert!(taken > params().len() * 2, "ordinary values are taken ({taken})");
}

/// The binary's side, for the cases and a sample of the classes: exit 2, the positioned message on stderr
/// (once), nothing written; `plan` and `run` alike.
#[test]
fn refused_values_exit_2_through_the_binary_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let head = "[data]\nsource = \"toy\"\n";
    let cases = [
        (
            format!("{head}[grid]\nlearning_rate = [nan]\n"),
            "g.toml:4:17: grid.learning_rate: learning_rate = NaN is invalid: must be a finite number > 0",
        ),
        (
            format!("{head}[train]\ndropout = inf\n"),
            "g.toml:4:11: train.dropout: dropout = inf is invalid: must be in [0, 1)",
        ),
        (
            format!("{head}[train]\noptimizer = \"nesterov\"\nmomentum = nan\n"),
            "g.toml:5:12: train.momentum: momentum = NaN is invalid: must be in [0, 1)",
        ),
        (
            format!("{head}[grid]\nreg = {{ linear = [0, inf], num = 3 }}\n"),
            "g.toml:4:7: grid.reg: the range's bounds must be finite numbers, got [0, inf]",
        ),
        (
            format!("{head}[grid]\nhidden_size = {{ linear = [1, 2], num = 3 }}\n"),
            "g.toml:4:15: grid.hidden_size: 3 values from 1 to 2 give 2 twice after rounding to whole numbers",
        ),
        (
            format!("{head}[train]\nepochs = -inf\n"),
            "g.toml:4:10: train.epochs: expected an integer, found a float",
        ),
        (
            format!("{head}[grid]\ninit_std = [-inf]\n"),
            "g.toml:4:12: grid.init_std: init_std = -inf is invalid",
        ),
        (
            format!("{head}[train]\neps = inf\n"),
            "g.toml:4:7: train.eps: eps = inf is invalid: must be a finite number > 0",
        ),
        (
            format!("{head}[search]\nstate_limit_gb = nan\n"),
            "g.toml:4:18: search.state_limit_gb: must be a size >= 0 in GB, found NaN",
        ),
        (
            "[data]\nsource = \"toy\"\nval_size = nan\n".to_string(),
            "g.toml:3:12: data.val_size: expected an integer, found a float",
        ),
        (
            format!("{head}[train]\nhidden_size = 1000000000000\n"),
            "g.toml:4:15: train.hidden_size: a job with hidden_size = 1000000000000 needs ",
        ),
        (
            "[train]\nhidden_size = 1000000000000\n".to_string(),
            "g.toml:2:15: train.hidden_size: a job with hidden_size = 1000000000000 needs ",
        ),
    ];
    for (text, want) in &cases {
        write(tmp.path(), "g.toml", text);
        for command in ["plan", "run"] {
            let out = sweep()
                .current_dir(tmp.path())
                .args(
                    [command, "g.toml", "--out", "out"]
                        .iter()
                        .take(if command == "plan" { 2 } else { 4 }),
                )
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "sweep {command}, grid:\n{text}\n{stderr}");
            assert_eq!(
                stderr.matches(want).count(),
                1,
                "sweep {command}, grid:\n{text}\nwanted: {want}\ngot: {stderr}"
            );
            assert!(!tmp.path().join("out").exists() && !tmp.path().join("results").exists(), "{text}");
        }
    }
    // The memory message names what this machine has.
    write(tmp.path(), "g.toml", &cases.last().unwrap().0);
    let out = sweep().current_dir(tmp.path()).args(["plan", "g.toml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("more than this machine has: ") && stderr.contains("use a smaller hidden_size"),
        "{stderr}"
    );
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// What the library refuses, the binary refuses with exit 2 and the same message (a sample of the classes).
    #[test]
    fn the_binary_refuses_what_the_library_refuses(
        which in 0..params().len(),
        class in class(),
        axis in any::<bool>(),
    ) {
        let p = &params()[which];
        let (text, refused) = check_case(p, class, axis);
        prop_assume!(refused);
        let message = Grid::parse(Path::new("g.toml"), &text).unwrap_err().to_string();
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "g.toml", &text);
        let out = sweep().current_dir(tmp.path()).args(["run", "g.toml", "--out", "out"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        prop_assert_eq!(out.status.code(), Some(2), "{}", stderr);
        prop_assert!(stderr.contains(&message), "{}\nwanted: {}\ngot: {}", text, message, stderr);
        prop_assert!(!tmp.path().join("out").exists());
    }
}
