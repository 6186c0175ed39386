//! Small text helpers shared by every crate: hex digests, percentages, durations and error chains.

/// Lower-case hex of bytes (digests, ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An accuracy in percent with two decimals (`55.62`), or `-` when there is none.
pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", 100.0 * v))
}

/// A duration as people read it: `45 s`, `4 min 05 s`, `85 min`, `1 h 57 min` (`under 1 s` below half a second).
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0 => "under 1 s".to_string(),
        1..60 => format!("{s} s"),
        60..600 => format!("{} min {:02} s", s / 60, s % 60),
        600..3600 => format!("{} min", (s + 30) / 60),
        _ => {
            let m = (s + 30) / 60;
            format!("{} h {:02} min", m / 60, m % 60)
        }
    }
}

/// An error and its causes on one line (`a: b: c`), for log lines: each cause once, as the binary prints errors.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_units_that_suit_them() {
        assert_eq!(duration(44.6), "45 s");
        assert_eq!(duration(0.2), "under 1 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(5100.0), "1 h 25 min");
        assert_eq!(duration(7055.0), "1 h 58 min");
        assert_eq!(duration(1800.0), "30 min");
    }

    #[test]
    fn hex_and_percent() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(pct(Some(0.55625)), "55.62");
        assert_eq!(pct(None), "-");
    }
}
