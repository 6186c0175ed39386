//! The argv of a trial from `[command] run`: `"{name}"` replaced by the value, every value named nowhere appended as
//! `--name=value`.

use serde_json::{Map, Value};

/// Why a `run` template cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error("`run` is empty: it needs at least the program to start")]
    Empty,
    #[error("`run` argument {index} (`{arg}`) names `{{{name}}}`, which is not a value of the trial; known: {known}")]
    Unknown {
        index: usize,
        arg: String,
        name: String,
        known: String,
    },
    #[error("`run` argument {index} (`{arg}`) has an unmatched `{{` or `}}` (write `{{{{` or `}}}}` for a literal brace)")]
    Unbalanced { index: usize, arg: String },
}

/// Expands a `run` template against the trial's values.
///
/// `{name}` anywhere inside an argument is replaced by the value of `name` (`--lr={lr}`, or `{lr}` alone);
/// `{{` and `}}` stand for literal braces. Every value that no argument names is appended as `--name=value`, in the
/// map's (sorted) order. Values print as the program would read them back: numbers in their shortest round-trip form
/// (`0.001`, `256`), strings as they are, booleans as `true`/`false`, anything else as JSON.
pub fn expand_argv(template: &[String], params: &Map<String, Value>) -> Result<Vec<String>, ArgvError> {
    if template.is_empty() {
        return Err(ArgvError::Empty);
    }
    let mut used = vec![false; params.len()];
    let mut argv = Vec::with_capacity(template.len() + params.len());
    for (index, arg) in template.iter().enumerate() {
        let mut out = String::with_capacity(arg.len());
        let mut rest = arg.as_str();
        while let Some(pos) = rest.find(['{', '}']) {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                out.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            let unbalanced = || ArgvError::Unbalanced { index, arg: arg.clone() };
            if tail.starts_with('}') {
                return Err(unbalanced());
            }
            let close = tail.find('}').ok_or_else(unbalanced)?;
            let name = &tail[1..close];
            if name.contains('{') {
                return Err(unbalanced());
            }
            let i = params.keys().position(|k| k == name).ok_or_else(|| ArgvError::Unknown {
                index,
                arg: arg.clone(),
                name: name.to_string(),
                known: params.keys().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", "),
            })?;
            used[i] = true;
            out.push_str(&value_text(&params[name]));
            rest = &tail[close + 1..];
        }
        out.push_str(rest);
        argv.push(out);
    }
    for ((name, value), used) in params.iter().zip(used) {
        if !used {
            argv.push(format!("--{name}={}", value_text(value)));
        }
    }
    Ok(argv)
}

pub use sweep_params::job::value_text;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> Map<String, Value> {
        let Value::Object(m) = json!({"lr": 0.001, "width": 256, "opt": "adam", "flip": true, "reg": 1e-5}) else {
            unreachable!()
        };
        m
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn named_values_are_replaced_and_the_rest_appended() {
        let argv = expand_argv(&s(&["python3", "train.py", "--lr={lr}", "{width}", "a{{b}}c"]), &params()).unwrap();
        assert_eq!(
            argv,
            s(&[
                "python3",
                "train.py",
                "--lr=0.001",
                "256",
                "a{b}c",
                "--flip=true",
                "--opt=adam",
                "--reg=0.00001"
            ])
        );
    }

    #[test]
    fn mistakes_name_the_argument() {
        let e = expand_argv(&s(&["p", "--lr={learning_rate}"]), &params()).unwrap_err();
        assert!(
            matches!(&e, ArgvError::Unknown { index: 1, name, .. } if name == "learning_rate"),
            "{e}"
        );
        assert!(e.to_string().contains("{lr}"), "{e}");
        for bad in ["{lr", "lr}", "{a{lr}}"] {
            assert!(
                matches!(expand_argv(&s(&["p", bad]), &params()), Err(ArgvError::Unbalanced { index: 1, .. })),
                "{bad}"
            );
        }
        assert_eq!(expand_argv(&[], &params()), Err(ArgvError::Empty));
    }
}
