//! Small text helpers shared by the crate: hex digests, percentages and error chains.

/// Lower-case hex of bytes (digests, ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An accuracy in percent with two decimals (`55.62`), or `-` when there is none.
pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", 100.0 * v))
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
    fn hex_and_percent() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(pct(Some(0.55625)), "55.62");
        assert_eq!(pct(None), "-");
    }
}
