//! Metric records: one JSON object per evaluated point (`{"epoch": 3, "val_acc": 0.51}`), parsed leniently, and the
//! trial's timeline of points, where a point reported again replaces what it supersedes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// The key every record must carry: the epochs done at that point (a number >= 0; fractional mid-epoch).
pub const EPOCH_KEY: &str = "epoch";

/// One evaluated point a program reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Epochs done at this point (`3`, or `0.5` where a fractional budget ends mid-epoch).
    pub epoch: f64,
    /// Every other numeric value of the record, by key (`val_acc`, `loss`, ...); NaN and infinities included.
    /// Values that are not numbers (strings, booleans, null, arrays, objects) are not metrics and are left out.
    pub metrics: BTreeMap<String, f64>,
}

impl Record {
    /// The value of one metric, if the record has it.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).copied()
    }

    /// The record as one line of lenient JSON (non-finite values written `NaN`, `Infinity`, `-Infinity`, as Python's
    /// `json` module writes them), which [`parse_record`] reads back exactly.
    pub fn to_json_line(&self) -> String {
        let mut s = String::from("{");
        push_key_value(&mut s, EPOCH_KEY, self.epoch);
        for (k, v) in &self.metrics {
            s.push_str(", ");
            push_key_value(&mut s, k, *v);
        }
        s.push('}');
        s
    }
}

fn push_key_value(s: &mut String, key: &str, v: f64) {
    // serde_json escapes the key; a String never fails to serialize.
    s.push_str(&serde_json::to_string(key).unwrap_or_default());
    s.push_str(": ");
    if v.is_nan() {
        s.push_str("NaN");
    } else if v.is_infinite() {
        s.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Rust's shortest round-trip form: `3`, `0.51`, `0.000001`.
        let _ = write!(s, "{v}");
    }
}

/// Why a line is not a metric record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("not JSON ({message})")]
    Json { message: String },
    #[error(
        "a number is beyond the range of a 64-bit float (about ±1.8e308; {message}): write `inf` (or `-inf`) for an \
         infinite value, or a smaller number"
    )]
    OutOfRange { message: String },
    #[error("not a JSON object")]
    NotAnObject,
    #[error("no \"epoch\" key (every record needs the epochs done at its point)")]
    NoEpoch,
    #[error("\"epoch\" must be a finite number >= 0, found {found}")]
    BadEpoch { found: String },
}

/// Parses one metric record: a JSON object with a numeric `epoch`, read leniently.
///
/// Numbers may have exponents (`1e-3`, `2.5E+2`) and be integers of any size; the non-JSON tokens `NaN`,
/// `Infinity`, `-Infinity` (what Python's `json.dumps` writes) and `nan`, `inf`, `-inf` (what an f-string of a float
/// writes), in any case, are accepted outside strings. Surrounding whitespace is ignored.
pub fn parse_record(line: &str) -> Result<Record, RecordError> {
    parse_record_noting(line).map(|(record, _)| record)
}

/// [`parse_record`], also returning the keys whose value is a string that holds a number (`"val_acc": "0.51"`):
/// such a value is not a metric, and a program that sends one almost always meant the number, so the caller warns.
pub fn parse_record_noting(line: &str) -> Result<(Record, Vec<(String, String)>), RecordError> {
    let text = line.trim();
    let value: Value = serde_json::from_str(&accept_non_finite(text)).map_err(|e| {
        let message = e.to_string();
        // serde_json refuses a number that overflows an f64 (`1e400`) with this wording, and says nothing else so.
        if message.starts_with("number out of range") {
            RecordError::OutOfRange { message }
        } else {
            RecordError::Json { message }
        }
    })?;
    let Value::Object(map) = value else {
        return Err(RecordError::NotAnObject);
    };
    let mut epoch = None;
    let mut metrics = BTreeMap::new();
    let mut quoted = Vec::new();
    for (key, v) in map {
        let number = number_of(&v);
        if let Value::String(text) = &v {
            if number.is_none() && text.trim().parse::<f64>().is_ok() {
                quoted.push((key.clone(), text.clone()));
            }
        }
        if key == EPOCH_KEY {
            match number {
                Some(e) if e.is_finite() && e >= 0.0 => epoch = Some(e),
                // A non-finite token is shown as the number it stands for (NaN), not as its stand-in string.
                _ => {
                    return Err(RecordError::BadEpoch {
                        found: number.map_or_else(|| v.to_string(), |x| x.to_string()),
                    })
                }
            }
        } else if let Some(x) = number {
            metrics.insert(key, x);
        }
    }
    let epoch = epoch.ok_or(RecordError::NoEpoch)?;
    Ok((Record { epoch, metrics }, quoted))
}

/// Stand-ins for the non-finite tokens, as strings JSON can carry: a raw control character cannot occur inside a valid
/// JSON string, so a program's own string value can only equal one by spelling it with a `\u0001` escape.
const NAN: &str = "\u{1}nan";
const POS_INF: &str = "\u{1}inf";
const NEG_INF: &str = "\u{1}-inf";

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == NAN => Some(f64::NAN),
        Value::String(s) if s == POS_INF => Some(f64::INFINITY),
        Value::String(s) if s == NEG_INF => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Rewrites the non-finite tokens outside strings into the quoted stand-ins above, so serde_json (strict JSON, which
/// has no NaN or infinity) can parse the rest. Hand-written because the only crate accepting these tokens (json5)
/// also accepts a much looser language (comments, single quotes, trailing commas) that we do not want to promise.
fn accept_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'n' | b'N' | b'i' | b'I')) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some((len, stand_in)) = non_finite_at(&bytes[i..]) {
            // Only where a value starts: after `:`, `[` or `,` (whitespace aside), never inside a bare word.
            let prev = bytes[..i].iter().rev().find(|c| !c.is_ascii_whitespace());
            if matches!(prev, Some(b':' | b'[' | b',')) {
                out.push('"');
                out.push_str(&stand_in.replace('\u{1}', "\\u0001"));
                out.push('"');
                i += len;
                continue;
            }
        }
        // Copy one whole UTF-8 character (its continuation bytes never match the ASCII tests above).
        let end = (i + 1..=bytes.len()).find(|&j| text.is_char_boundary(j)).unwrap_or(bytes.len());
        out.push_str(&text[i..end]);
        i = end;
    }
    out.into()
}

/// The length and stand-in of a non-finite token at the start of `s`, if one is there and ends at a word boundary.
fn non_finite_at(s: &[u8]) -> Option<(usize, &'static str)> {
    let (sign, rest) = match s.first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (0, s),
    };
    let word_len = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let word = std::str::from_utf8(&rest[..word_len]).ok()?.to_ascii_lowercase();
    let stand_in = match (word.as_str(), sign) {
        ("nan", _) => NAN,
        ("infinity" | "inf", -1) => NEG_INF,
        ("infinity" | "inf", _) => POS_INF,
        _ => return None,
    };
    let len = usize::from(sign != 0) + word_len;
    match s.get(len) {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => None,
        _ => Some((len, stand_in)),
    }
}

/// Two epochs closer than this (relative, at least 1e-9 absolute) are the same point: `0.30000000000000004` is `0.3`.
pub fn same_epoch(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// A trial's points in epoch order, each epoch once, across its runs.
///
/// The newest record of an epoch wins. A record of a run for epoch `e` also drops the points at `e` or later that
/// *earlier runs* reported: a program that resumes from a checkpoint at epoch 2 after reporting epochs 3 and 4 (and
/// crashing) reports 3 again, and its new 3 is the truth while the old 3 and 4 belong to a run that no longer counts.
/// Within one run records may arrive out of order (the metrics file and stdout are read apart), so there they only
/// replace their own epoch. Nothing is counted twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Each point with the run that reported it.
    points: Vec<(Record, u32)>,
    run: u32,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records pushed from now on belong to a new run.
    pub fn begin_run(&mut self) {
        self.run += 1;
    }

    /// Adds a record of the current run; returns how many points it superseded (0 for a new epoch).
    pub fn push(&mut self, record: Record) -> usize {
        let (e, run) = (record.epoch, self.run);
        let before = self.points.len();
        self.points.retain(|(p, r)| !(same_epoch(p.epoch, e) || (*r < run && p.epoch > e)));
        let superseded = before - self.points.len();
        let at = self.points.partition_point(|(p, _)| p.epoch < e);
        self.points.insert(at, (record, run));
        superseded
    }

    /// The points, in increasing epoch.
    pub fn points(&self) -> impl ExactSizeIterator<Item = &Record> + '_ {
        self.points.iter().map(|(p, _)| p)
    }

    pub fn into_points(self) -> Vec<Record> {
        self.points.into_iter().map(|(p, _)| p).collect()
    }

    /// The furthest point.
    pub fn last(&self) -> Option<&Record> {
        self.points.last().map(|(p, _)| p)
    }

    /// Whether the furthest point is at `budget` or past it.
    pub fn reaches(&self, budget: f64) -> bool {
        self.last().is_some_and(|p| p.epoch >= budget || same_epoch(p.epoch, budget))
    }

    /// Forgets every point (a run that starts the trial afresh).
    pub fn clear(&mut self) {
        self.points.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: f64, v: f64) -> Record {
        Record {
            epoch,
            metrics: BTreeMap::from([("v".to_string(), v)]),
        }
    }

    #[test]
    fn parses_numbers_in_every_form() {
        let r = parse_record(r#" {"epoch": 3, "val_acc": 0.51, "loss": 1e-3, "lr": 2.5E+2, "n": 12345678901234567890123} "#).unwrap();
        assert_eq!(r.epoch, 3.0);
        assert_eq!(r.get("val_acc"), Some(0.51));
        assert_eq!(r.get("loss"), Some(0.001));
        assert_eq!(r.get("lr"), Some(250.0));
        assert_eq!(r.get("n"), Some(1.2345678901234568e22));
        assert_eq!(parse_record(r#"{"epoch": 0.5}"#).unwrap().epoch, 0.5);
        assert_eq!(parse_record(r#"{"epoch": -0.0}"#).unwrap().epoch, 0.0);
    }

    #[test]
    fn accepts_nan_and_infinities_outside_strings_only() {
        let r =
            parse_record(r#"{"epoch": 2, "a": NaN, "b": Infinity, "c": -Infinity, "d": nan, "e": -inf, "f": +inf, "g": [NaN]}"#).unwrap();
        assert!(r.get("a").unwrap().is_nan());
        assert_eq!(r.get("b"), Some(f64::INFINITY));
        assert_eq!(r.get("c"), Some(f64::NEG_INFINITY));
        assert!(r.get("d").unwrap().is_nan());
        assert_eq!(r.get("e"), Some(f64::NEG_INFINITY));
        assert_eq!(r.get("f"), Some(f64::INFINITY));
        assert_eq!(r.get("g"), None, "arrays are not metrics");
        // Inside strings the words stay words (and strings are not metrics).
        let r = parse_record(r#"{"epoch": 1, "note": "NaN: Infinity, \"inf\"", "NaN": 4, "phase": "val ü"}"#).unwrap();
        assert_eq!(r.metrics.keys().collect::<Vec<_>>(), ["NaN"]);
        assert_eq!(r.get("NaN"), Some(4.0));
        // A bare word that only starts like a token is still an error, as is a token where no value starts.
        assert!(matches!(parse_record(r#"{"epoch": 1, "a": nanx}"#), Err(RecordError::Json { .. })));
        assert!(matches!(parse_record(r#"{"epoch": 1 NaN}"#), Err(RecordError::Json { .. })));
    }

    /// A number past an f64 (`1e400`) is named as such, not as "not JSON" or as a missing epoch; a number sent as a
    /// string is not a metric, and is noted so that the program's author hears about it.
    #[test]
    fn overflowing_numbers_and_quoted_numbers_are_named() {
        let err = parse_record(r#"{"epoch": 1, "val_acc": 1e400}"#).unwrap_err();
        assert!(matches!(err, RecordError::OutOfRange { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("a number is beyond the range of a 64-bit float"),
            "{err}"
        );
        let (r, quoted) = parse_record_noting(r#"{"epoch": 1, "val_acc": "0.51", "phase": "val", "loss": 2}"#).unwrap();
        assert_eq!(r.get("val_acc"), None);
        assert_eq!(r.get("loss"), Some(2.0));
        assert_eq!(quoted, [("val_acc".to_string(), "0.51".to_string())]);
    }

    #[test]
    fn rejects_what_is_not_a_record() {
        assert!(matches!(parse_record("epoch 3 val 0.5"), Err(RecordError::Json { .. })));
        assert!(matches!(
            parse_record(r#"{"epoch": 3, "val_acc": 0.5"#),
            Err(RecordError::Json { .. })
        ));
        assert_eq!(parse_record("[1, 2]"), Err(RecordError::NotAnObject));
        assert_eq!(parse_record(r#"{"val_acc": 0.5}"#), Err(RecordError::NoEpoch));
        assert!(matches!(parse_record(r#"{"epoch": NaN}"#), Err(RecordError::BadEpoch { .. })));
        let nan = parse_record(r#"{"epoch": NaN}"#).unwrap_err().to_string();
        assert_eq!(nan, "\"epoch\" must be a finite number >= 0, found NaN");
        let inf = parse_record(r#"{"epoch": -inf}"#).unwrap_err().to_string();
        assert_eq!(inf, "\"epoch\" must be a finite number >= 0, found -inf");
        assert!(matches!(parse_record(r#"{"epoch": -1}"#), Err(RecordError::BadEpoch { .. })));
        assert!(matches!(parse_record(r#"{"epoch": "3"}"#), Err(RecordError::BadEpoch { .. })));
    }

    #[test]
    fn a_record_round_trips_through_its_line() {
        let r = parse_record(r#"{"epoch": 0.1, "a": NaN, "b": -Infinity, "c": 1e-300, "we\"ird": 0.30000000000000004}"#).unwrap();
        let back = parse_record(&r.to_json_line()).unwrap();
        assert_eq!(back.epoch, 0.1);
        assert!(back.get("a").unwrap().is_nan());
        assert_eq!(back.get("b"), Some(f64::NEG_INFINITY));
        assert_eq!(back.get("c"), Some(1e-300));
        assert_eq!(back.get("we\"ird"), Some(0.30000000000000004));
    }

    #[test]
    fn a_rerun_supersedes_the_points_past_its_checkpoint() {
        let mut t = Timeline::new();
        t.begin_run();
        for e in 1..=4 {
            assert_eq!(t.push(rec(e as f64, e as f64)), 0);
        }
        // Resumed from the checkpoint at 2: the new 3 replaces the old 3 and 4.
        t.begin_run();
        assert_eq!(t.push(rec(3.0, 30.0)), 2);
        let values = |t: &Timeline| t.points().map(|p| (p.epoch, p.get("v").unwrap())).collect::<Vec<_>>();
        assert_eq!(values(&t), [(1.0, 1.0), (2.0, 2.0), (3.0, 30.0)]);
        // The same epoch computed another way is the same point; the newest wins.
        assert_eq!(t.push(rec(0.1 + 0.2 + 2.7, 31.0)), 1);
        assert_eq!(values(&t), [(1.0, 1.0), (2.0, 2.0), (3.0, 31.0)]);
        assert!(t.reaches(3.0) && !t.reaches(3.5) && t.reaches(2.0));
        // Within a run, a record arriving late (stdout and the file are read apart) does not drop later ones.
        assert_eq!(t.push(rec(5.0, 5.0)), 0);
        assert_eq!(t.push(rec(4.0, 4.0)), 0);
        assert_eq!(t.points().map(|p| p.epoch).collect::<Vec<_>>(), [1.0, 2.0, 3.0, 4.0, 5.0]);
        // The next run's first record drops what the earlier runs reported past it.
        t.begin_run();
        assert_eq!(t.push(rec(0.5, 0.0)), 5);
        assert_eq!(t.points().len(), 1);
    }
}
