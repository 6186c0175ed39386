//! Fig. 2: the best job's training loss per iteration, with a moving average.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::scale::{min_max, on_axis, padded};
use crate::style::{self, Chart, DrawErr};

/// The loss of each mini-batch step of one job.
pub(crate) struct LossChart<'a> {
    pub(crate) id: &'a str,
    /// (iteration, loss), finite losses only.
    pub(crate) points: Vec<(f64, f64)>,
}

impl Chart for LossChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let points = &self.points;
        let (x0, x1) = min_max(points.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let (x0, x1) = if x1 > x0 && (x1 - x0).is_finite() {
            (on_axis(x0), on_axis(x1))
        } else {
            padded(x0, x1, 0.05)
        };
        let (y0, y1) = min_max(points.iter().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (y0, y1) = padded(y0, y1, 0.05);
        let caption = format!("Training loss per iteration, best job {}", self.id);
        let mut chart = style::frame(root, caption, 70, x0..x1, y0.max(0.0).min(y0)..y1)?;
        style::mesh(&mut chart, "iteration (mini-batch step)", "loss (cross-entropy + L2)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        let light = RGBColor(120, 160, 230);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), light.stroke_width(1)))?
            .label("loss per iteration")
            .legend(style::legend_line(light));
        let window = (points.len() / 50).max(1);
        if window > 1 {
            let smooth: Vec<(f64, f64)> = points
                .windows(window)
                .map(|w| (w[w.len() / 2].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64))
                .collect();
            chart
                .draw_series(LineSeries::new(smooth, BLUE.stroke_width(2)))?
                .label(format!("moving average over {window} iterations"))
                .legend(style::legend_line(BLUE));
        }
        style::legend(&mut chart, SeriesLabelPosition::MiddleRight)
    }
}
