//! Small text helpers shared by the crate: hex digests and percentages.

/// Lower-case hex of bytes (digests, ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An accuracy in percent with two decimals (`55.62`), or `-` when there is none.
pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", 100.0 * v))
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
