//! A multi-objective sweep's progress: the hypervolume its trials dominate after each trial that takes part in the
//! front, against the number of such trials or against the epochs the sweep has trained by then. It never falls: a
//! step up is a trial that pushed the front forward.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::pareto::HypervolumePoint;
use crate::scale::{fmt_num, min_max, on_axis, padded};
use crate::style::{self, Chart, DrawErr, ORANGE};

/// What the hypervolume is drawn against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Against {
    /// The trials that take part, in recording order.
    Trials,
    /// The epochs trained by every trial recorded so far.
    Epochs,
}

/// The hypervolume after each trial that takes part.
pub(crate) struct HypervolumeChart<'a> {
    pub(crate) points: &'a [HypervolumePoint],
    pub(crate) against: Against,
}

impl HypervolumeChart<'_> {
    /// The (x, hypervolume) points drawn, in recording order.
    pub(crate) fn series(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .map(|p| {
                let x = match self.against {
                    Against::Trials => p.trial as f64,
                    Against::Epochs => p.epochs,
                };
                (on_axis(x), on_axis(p.hypervolume))
            })
            .collect()
    }

    /// The step line through `series`: the hypervolume holds until the next point, then rises to it.
    fn steps(series: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let mut path = Vec::with_capacity(2 * series.len());
        for (k, &p) in series.iter().enumerate() {
            if let Some(&(_, before)) = k.checked_sub(1).and_then(|j| series.get(j)) {
                path.push((p.0, before));
            }
            path.push(p);
        }
        path
    }
}

impl Chart for HypervolumeChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let series = self.series();
        let x_max = series.iter().map(|p| p.0).fold(1.0, f64::max);
        let (lo, hi) = min_max(series.iter().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (lo, hi) = padded(lo.min(0.0), hi, 0.05);
        let (caption, x_desc) = match self.against {
            Against::Trials => (
                "Hypervolume after each trial",
                "trials that take part in the front, in recording order",
            ),
            Against::Epochs => ("Hypervolume against epochs trained", "epochs trained by every trial so far"),
        };
        let mut chart = style::frame(root, caption, 80, 0.0..x_max * 1.02, lo.max(0.0)..hi)?;
        style::mesh(&mut chart, x_desc, "hypervolume")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        chart
            .draw_series(LineSeries::new(Self::steps(&series), BLUE.stroke_width(2)))?
            .label("hypervolume of the trials so far")
            .legend(style::legend_line(BLUE));
        // The trials that raised it.
        let raised: Vec<(f64, f64)> = series
            .iter()
            .enumerate()
            .filter(|(k, p)| k.checked_sub(1).and_then(|j| series.get(j)).is_none_or(|q| p.1 > q.1))
            .map(|(_, p)| *p)
            .collect();
        chart
            .draw_series(raised.iter().map(|&p| Circle::new(p, 4, ORANGE.filled())))?
            .label(format!("a trial that pushed the front forward ({})", raised.len()))
            .legend(|(x, y)| Circle::new((x + 10, y), 4, ORANGE.filled()));
        style::legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::tests::two_objectives;
    use crate::pareto::Pareto;
    use sweep_results::front;

    #[test]
    fn the_series_is_hypervolume_by_row_against_trials_or_epochs_and_never_falls() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = two_objectives(tmp.path());
        let p = Pareto::of(&rows).unwrap();
        let want = front::hypervolume_by_row(&rows, &front::reference(&rows).unwrap());
        let by_trial = HypervolumeChart {
            points: &p.hypervolume.points,
            against: Against::Trials,
        }
        .series();
        let by_epoch = HypervolumeChart {
            points: &p.hypervolume.points,
            against: Against::Epochs,
        }
        .series();
        assert_eq!(by_trial.iter().map(|p| p.1).collect::<Vec<_>>(), want);
        assert_eq!(by_epoch.iter().map(|p| p.1).collect::<Vec<_>>(), want);
        assert_eq!(by_trial.iter().map(|p| p.0).collect::<Vec<_>>(), [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(by_epoch.iter().map(|p| p.0).collect::<Vec<_>>(), [3.0, 6.0, 7.0, 12.0, 18.0]);
        assert!(by_trial.windows(2).all(|w| w[1].1 >= w[0].1), "{by_trial:?}");
        // Steps: flat to the next x, then up.
        let steps = HypervolumeChart::steps(&[(1.0, 1.0), (2.0, 3.0)]);
        assert_eq!(steps, [(1.0, 1.0), (2.0, 1.0), (2.0, 3.0)]);
        crate::style::register_font().unwrap();
        for (against, stem) in [(Against::Trials, "hv"), (Against::Epochs, "hv_epochs")] {
            let chart = HypervolumeChart {
                points: &p.hypervolume.points,
                against,
            };
            crate::style::render(&chart, tmp.path(), stem).unwrap();
            assert!(std::fs::metadata(tmp.path().join(format!("{stem}.png"))).unwrap().len() > 1000);
        }
    }
}
