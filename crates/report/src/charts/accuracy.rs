//! Figs. 3, 4 and 9: the best job's training and validation accuracy after each epoch, its best epoch marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::scale::{min_max, thin, ticked};
use crate::style::{self, Chart, DrawErr, GREEN_DARK, ORANGE};

/// Accuracy per epoch of one job.
pub(crate) struct AccuracyChart<'a> {
    pub(crate) id: &'a str,
    /// (epoch, train %, validation %).
    pub(crate) epochs: Vec<(f64, f64, f64)>,
    pub(crate) best_epoch: Option<usize>,
}

impl Chart for AccuracyChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let epochs = &self.epochs;
        let n = epochs.iter().map(|e| e.0).fold(1.0, f64::max);
        let (lo, hi) = min_max(epochs.iter().flat_map(|e| [e.1, e.2])).unwrap_or((0.0, 100.0));
        let (lo, hi) = ((lo - 5.0).max(0.0), (hi + 5.0).min(102.0));
        let ticks: Vec<f64> = thin(&epochs.iter().map(|e| e.0).collect::<Vec<_>>(), 20);
        let caption = format!("Train and validation accuracy per epoch, best job {}", self.id);
        let mut chart = style::frame(root, caption, 70, ticked(0.5..n + 0.5, ticks), lo..hi)?;
        style::mesh(&mut chart, "epoch", "accuracy (%)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| if *v > 100.0 + 1e-9 { String::new() } else { format!("{v:.0}") })
            .draw()?;
        if let Some(b) = self.best_epoch {
            let b = b as f64;
            chart
                .draw_series(DashedLineSeries::new([(b, lo), (b, hi)], 8, 5, GREEN_DARK.stroke_width(2)))?
                .label(format!("best epoch ({b})"))
                .legend(style::legend_line(GREEN_DARK));
        }
        let train: Vec<(f64, f64)> = epochs.iter().map(|e| (e.0, e.1)).collect();
        let val: Vec<(f64, f64)> = epochs.iter().map(|e| (e.0, e.2)).collect();
        chart
            .draw_series(LineSeries::new(train.iter().copied(), BLUE.stroke_width(2)))?
            .label("train (sample)")
            .legend(style::legend_line(BLUE));
        chart.draw_series(train.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
        chart
            .draw_series(LineSeries::new(val.iter().copied(), ORANGE.stroke_width(2)))?
            .label("validation")
            .legend(style::legend_line(ORANGE));
        chart.draw_series(val.iter().map(|&p| TriangleMarker::new(p, 5, ORANGE.filled())))?;
        style::legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}
