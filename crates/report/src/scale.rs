//! Axis arithmetic for the charts: ranges that are never empty, round tick values, thinned tick lists, an axis whose
//! ticks sit at given values, and numbers written as on an axis.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// The largest magnitude an axis shows: values beyond it (up to ±1.8e308, which a program may report) are drawn at
/// its ends. Small enough that a padded range and its width stay finite, so that every loop over the axis (plotters'
/// key points, [`nice_ticks`]) ends.
pub(super) const AXIS_LIMIT: f64 = f64::MAX / 8.0;

/// `v` within ±[`AXIS_LIMIT`] (a NaN stays NaN).
pub(super) fn on_axis(v: f64) -> f64 {
    v.clamp(-AXIS_LIMIT, AXIS_LIMIT)
}

/// A range that is never empty: `pad` (at most 1) of its span on each side (or of its magnitude when all values are
/// equal), finite and of a finite width whatever the values: ends beyond ±[`AXIS_LIMIT`] are taken at it, and a range
/// without a finite end is (-1, 1).
pub(super) fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if lo.is_nan() || hi.is_nan() {
        return (-1.0, 1.0);
    }
    let (lo, hi, pad) = (on_axis(lo), on_axis(hi), pad.clamp(0.0, 1.0));
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

/// The smallest and largest finite values; None when there are none.
pub(super) fn min_max(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    v.filter(|x| x.is_finite())
        .fold(None, |acc, x| Some(acc.map_or((x, x), |(a, b): (f64, f64)| (a.min(x), b.max(x)))))
}

/// Up to about `max` of `points`, evenly picked, first and last kept.
pub(super) fn thin(points: &[f64], max: usize) -> Vec<f64> {
    if points.len() <= max {
        return points.to_vec();
    }
    let step = points.len().div_ceil(max);
    let mut v: Vec<f64> = points.iter().copied().step_by(step).collect();
    if let Some(&last) = points.last() {
        if v.last() != Some(&last) {
            v.push(last);
        }
    }
    v
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) inside [lo, hi], at most about `max` of them.
/// Never more than `max` + 2 of them, whatever the range (a range too wide or too narrow for its magnitude to step
/// through gives its ends).
pub(super) fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let max = max.max(1);
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let last = (hi / step + 1e-9).floor();
    // Each bound a finite whole number, and few enough of them between (not so for infinite or subnormal steps).
    if !(step.is_finite() && step > 0.0 && first.is_finite() && last.is_finite()) || last - first > (max + 2) as f64 {
        return vec![lo, hi];
    }
    let (first, last) = (first as i64, last as i64);
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A number as people write it on an axis: 512, 0.95, 1e-4, 3.16e-3.
pub(super) fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e5 {
        return format!("{}", v as i64);
    }
    if !(1e-2..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        return format!("{m}e{e}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A linear f64 axis whose ticks sit exactly at given values (the grid's values, epochs, heatmap cells).
pub(super) struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

/// The axis over `range` with ticks at `ticks`.
pub(super) fn ticked(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
    Ticked {
        lo: range.start,
        hi: range.end,
        ticks,
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.5
        };
        let t = t.clamp(-1.0, 2.0);
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

#[cfg(test)]
mod tests {
    use plotters::coord::ranged1d::{BoldPoints, LightPoints};

    use super::*;

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn nice_ticks_step_by_one_two_or_five_times_a_power_of_ten() {
        assert_close(&nice_ticks(0.0, 1.0, 6), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_close(
            &nice_ticks(0.0, 100.0, 10),
            &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
        );
        // Ticks start at the first multiple of the step inside the range and end at the last.
        assert_close(&nice_ticks(23.0, 57.0, 10), &[25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0]);
        // A raw step of 0.01025 rounds up to 0.02.
        assert_close(&nice_ticks(0.03, 0.071, 4), &[0.04, 0.06]);
        // Accuracy axes: 62-88 % in about ten ticks goes by 5.
        assert_close(&nice_ticks(62.0, 88.0, 10), &[65.0, 70.0, 75.0, 80.0, 85.0]);
        // max = 0 counts as 1: a raw step of 7 rounds up to 10.
        assert_close(&nice_ticks(0.0, 7.0, 0), &[0.0]);
    }

    #[test]
    fn nice_ticks_of_an_empty_or_reversed_range_is_its_start() {
        assert_eq!(nice_ticks(5.0, 5.0, 10), vec![5.0]);
        assert_eq!(nice_ticks(5.0, 1.0, 10), vec![5.0]);
        assert_eq!(nice_ticks(0.0, f64::NAN, 10), vec![0.0]);
    }

    /// A program may report any finite number: every range over them stays finite, of a finite width, and has a
    /// handful of ticks (plotters' key points loop forever over an infinite range).
    #[test]
    fn ranges_of_the_largest_numbers_stay_finite_and_their_ticks_few() {
        for (lo, hi) in [
            (-1e308, 1e308),
            (-f64::MAX, f64::MAX),
            (f64::MAX, f64::MAX),
            (-1e308, -1e308),
            (1e308, 1e308 * 1.0000000001),
            (0.0, f64::INFINITY),
            (f64::NEG_INFINITY, f64::INFINITY),
            (f64::NAN, 1.0),
            (5e-324, 1e-323),
        ] {
            let (a, b) = padded(lo, hi, 0.08);
            assert!(
                a.is_finite() && b.is_finite() && (b - a).is_finite() && b > a,
                "{lo}..{hi} -> {a}..{b}"
            );
            let ticks = nice_ticks(a, b, 10);
            assert!(!ticks.is_empty() && ticks.len() <= 12, "{lo}..{hi}: {} ticks", ticks.len());
        }
        // A range whose step would be subnormal, or far smaller than its magnitude, gives its ends.
        assert_eq!(nice_ticks(5e-324, 1e-323, 10), vec![5e-324, 1e-323]);
        assert!(nice_ticks(-1e308, 1e308, 10).len() <= 12);
    }

    #[test]
    fn padded_widens_a_range_and_never_leaves_it_empty() {
        assert_close(&<[f64; 2]>::from(padded(2.0, 4.0, 0.05)), &[1.9, 4.1]);
        // Zero width: one unit around 0, a tenth of the magnitude elsewhere.
        assert_eq!(padded(0.0, 0.0, 0.05), (-1.0, 1.0));
        assert_close(&<[f64; 2]>::from(padded(5.0, 5.0, 0.05)), &[4.5, 5.5]);
        assert_close(&<[f64; 2]>::from(padded(-2.0, -2.0, 0.05)), &[-2.2, -1.8]);
    }

    #[test]
    fn min_max_skips_values_that_are_not_finite() {
        assert_eq!(min_max([3.0, f64::NAN, -1.0, f64::INFINITY, 2.0].into_iter()), Some((-1.0, 3.0)));
        assert_eq!(min_max([4.0].into_iter()), Some((4.0, 4.0)));
        assert_eq!(min_max([f64::NAN].into_iter()), None);
        assert_eq!(min_max(std::iter::empty()), None);
    }

    #[test]
    fn thin_keeps_first_and_last() {
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        let mut want: Vec<f64> = (0..10).map(|i| f64::from(3 * i)).collect();
        want.push(29.0);
        assert_eq!(thin(&v, 10), want);
        // When the last point falls on the step it is not repeated.
        assert_eq!(thin(&v[..28], 10), (0..10).map(|i| f64::from(3 * i)).collect::<Vec<_>>());
        // Few enough points are kept as they are.
        assert_eq!(thin(&v[..3], 10), vec![0.0, 1.0, 2.0]);
        assert_eq!(thin(&[], 10), Vec::<f64>::new());
    }

    #[test]
    fn numbers_read_as_on_an_axis() {
        assert_eq!(fmt_num(512.0), "512");
        assert_eq!(fmt_num(0.95), "0.95");
        assert_eq!(fmt_num(1e-4), "1e-4");
        assert_eq!(fmt_num(0.001_000_000_000_000_2), "1e-3");
        assert_eq!(fmt_num(3.162e-3), "3.16e-3");
        assert_eq!(fmt_num(0.1), "0.1");
        assert_eq!(fmt_num(1e4), "10000");
        assert_eq!(fmt_num(1e5), "1e5");
        assert_eq!(fmt_num(1.5e6), "1.5e6");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-0.25), "-0.25");
    }

    #[test]
    fn ticked_maps_linearly_and_shows_only_its_ticks() {
        let axis = ticked(-0.5..9.5, vec![0.0, 3.0, 9.0]);
        assert_eq!(axis.range(), -0.5..9.5);
        assert_eq!(axis.map(&-0.5, (0, 100)), 0);
        assert_eq!(axis.map(&4.5, (0, 100)), 50);
        assert_eq!(axis.map(&9.5, (100, 0)), 0);
        // Far outside values are clamped to one range width beyond either end.
        assert_eq!(axis.map(&1e9, (0, 100)), 200);
        assert_eq!(axis.map(&-1e9, (0, 100)), -100);
        // The ticks are the bold key points; there are no light ones.
        assert_eq!(axis.key_points(BoldPoints(2)), vec![0.0, 3.0, 9.0]);
        assert!(axis.key_points(LightPoints::new(2, 20)).is_empty());
        // A zero-width axis puts everything in the middle.
        assert_eq!(ticked(1.0..1.0, vec![1.0]).map(&7.0, (0, 100)), 50);
    }
}
