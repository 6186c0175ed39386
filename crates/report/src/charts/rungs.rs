//! Successive halving and Hyperband: every job's validation accuracy after each epoch (what Optuna's dashboard calls
//! intermediate values), pruned jobs faint, finished jobs clear, the best job highlighted and the rung epochs marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::scale::{min_max, nice_ticks, on_axis, thin, ticked};
use crate::style::{self, Chart, DrawErr, GREEN_DARK, GREY, ORANGE};

/// A job's (epoch, validation %) points.
pub(crate) type Curve = Vec<(f64, f64)>;

/// Validation accuracy against epochs for every job of a multi-fidelity sweep.
pub(crate) struct RungCurves<'a> {
    /// Jobs stopped by the search, drawn faintly with a dot where they stopped.
    pub(crate) pruned: Vec<Curve>,
    /// Jobs that trained to their bracket's last rung.
    pub(crate) finished: Vec<Curve>,
    /// Jobs that diverged or failed, faint red with a cross where they ended.
    pub(crate) diverged: Vec<Curve>,
    /// The best job, drawn on top.
    pub(crate) best: Option<(&'a str, Curve)>,
    /// Epochs at which a rung ends (every bracket's).
    pub(crate) rung_epochs: Vec<f64>,
}

impl RungCurves<'_> {
    fn all(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.pruned
            .iter()
            .chain(&self.finished)
            .chain(&self.diverged)
            .chain(self.best.iter().map(|b| &b.1))
            .flatten()
    }
}

impl Chart for RungCurves<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let last = self.rung_epochs.iter().copied();
        let n = self.all().map(|p| p.0).chain(last).fold(1.0, f64::max);
        let (lo, hi) = min_max(self.all().map(|p| p.1)).unwrap_or((0.0, 100.0));
        let (lo, hi) = ((lo - 5.0).max(0.0), (hi + 8.0).min(108.0));
        let n = on_axis(n);
        // Every epoch a tick candidate when there are few; round ones over a long (or absurd) run.
        let epochs: Vec<f64> = if n <= 1000.0 {
            (1..=n as usize).map(|e| e as f64).collect()
        } else {
            nice_ticks(1.0, n, 20)
        };
        let caption = "Validation accuracy per epoch of every job, by rung";
        let mut chart = style::frame(root, caption, 70, ticked(0.5..n + 0.5, thin(&epochs, 20)), lo..hi)?;
        style::mesh(&mut chart, "epoch", "validation accuracy (%)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| if *v > 100.0 + 1e-9 { String::new() } else { format!("{v:.0}") })
            .draw()?;
        let list: Vec<String> = self.rung_epochs.iter().map(|e| e.to_string()).collect();
        for (i, &e) in self.rung_epochs.iter().enumerate() {
            let line = chart.draw_series(DashedLineSeries::new([(e, lo), (e, hi)], 8, 5, GREEN_DARK.stroke_width(2)))?;
            if i == 0 {
                line.label(format!("end of a rung (epoch {})", list.join(", ")))
                    .legend(style::legend_line(GREEN_DARK));
            }
        }
        let faint = GREY.mix(0.45);
        if !self.pruned.is_empty() {
            chart
                .draw_series(self.pruned.iter().map(|c| PathElement::new(c.clone(), faint.stroke_width(1))))?
                .label(format!("pruned ({})", self.pruned.len()))
                .legend(style::legend_line(GREY));
            chart.draw_series(
                self.pruned
                    .iter()
                    .filter_map(|c| c.last())
                    .map(|&p| Circle::new(p, 3, faint.filled())),
            )?;
        }
        if !self.diverged.is_empty() {
            let faint_red = RED.mix(0.45);
            chart
                .draw_series(self.diverged.iter().map(|c| PathElement::new(c.clone(), faint_red.stroke_width(1))))?
                .label(format!("diverged or failed ({})", self.diverged.len()))
                .legend(style::legend_line(RED));
            chart.draw_series(
                self.diverged
                    .iter()
                    .filter_map(|c| c.last())
                    .map(|&p| Cross::new(p, 5, faint_red.stroke_width(2))),
            )?;
        }
        if !self.finished.is_empty() {
            chart
                .draw_series(self.finished.iter().map(|c| PathElement::new(c.clone(), BLUE.stroke_width(2))))?
                .label(format!("finished, last rung ({})", self.finished.len()))
                .legend(style::legend_line(BLUE));
            chart.draw_series(self.finished.iter().flatten().map(|&p| Circle::new(p, 3, BLUE.filled())))?;
        }
        if let Some((id, curve)) = &self.best {
            chart
                .draw_series(LineSeries::new(curve.iter().copied(), ORANGE.stroke_width(4)))?
                .label(format!("best job {id}"))
                .legend(style::legend_line(ORANGE));
            chart.draw_series(curve.iter().map(|&p| TriangleMarker::new(p, 6, ORANGE.filled())))?;
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
