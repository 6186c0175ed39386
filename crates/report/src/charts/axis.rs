//! Figs. 6-8: the best validation accuracy against one grid axis, with the jobs that have no accuracy (diverged,
//! failed) in a band of their own above the accuracies, never at 0 %.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::load::{distinct, outcome, param_of, same, Outcome};
use crate::scale::{fmt_num, min_max, nice_ticks, padded, thin, ticked};
use crate::style::{self, Chart, DrawErr, FONT, GREY, PURPLE};
use sweep_grid::grid::Axis;
use sweep_params::params::Param;
use sweep_results::format::Row;

/// Best validation accuracy against one grid axis.
pub(crate) struct AxisPlot {
    pub(crate) param: &'static Param,
    pub(crate) log: bool,
    /// The axis' values (raw, sorted).
    values: Vec<f64>,
    /// Every job with an accuracy: (raw x, %).
    points: Vec<(f64, f64)>,
    /// Max over the other axes at each value that has an accuracy.
    best: Vec<(f64, f64)>,
    /// Diverged and failed jobs per value: (raw x, count).
    pub(crate) diverged: Vec<(f64, usize)>,
    pub(crate) failed: Vec<(f64, usize)>,
    /// Set when this is the sweep's only plotted axis: each job is then drawn once, as the line.
    pub(crate) only_axis: bool,
}

impl AxisPlot {
    /// None when the jobs take fewer than two values of the axis.
    pub(crate) fn build(rows: &[Row], axis: &Axis, only_axis: bool) -> Option<AxisPlot> {
        let values = distinct(rows.iter().filter_map(|r| param_of(r, axis.param)));
        if values.len() < 2 {
            return None;
        }
        // Log-spaced in the grid, or listed values spanning a decade or more: a log axis.
        let log = values[0] > 0.0 && (axis.log || values[values.len() - 1] / values[0] >= 10.0);
        let (mut points, mut best, mut diverged, mut failed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &v in &values {
            let at: Vec<&Row> = rows
                .iter()
                .filter(|r| param_of(r, axis.param).is_some_and(|x| same(x, v)))
                .collect();
            let mut max = None::<f64>;
            let (mut d, mut f) = (0, 0);
            for r in at {
                match outcome(r) {
                    Outcome::Acc(a) => {
                        points.push((v, a));
                        max = Some(max.map_or(a, |m| m.max(a)));
                    }
                    Outcome::Diverged => d += 1,
                    Outcome::NoAcc => f += 1,
                }
            }
            if let Some(m) = max {
                best.push((v, m));
            }
            if d > 0 {
                diverged.push((v, d));
            }
            if f > 0 {
                failed.push((v, f));
            }
        }
        Some(AxisPlot {
            param: axis.param,
            log,
            values,
            points,
            best,
            diverged,
            failed,
            only_axis,
        })
    }

    /// Where the value `v` sits on the x axis (its log10 on a log axis).
    fn x(&self, v: f64) -> f64 {
        if self.log {
            v.log10()
        } else {
            v
        }
    }
}

impl Chart for AxisPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let xs: Vec<f64> = self.values.iter().map(|&v| self.x(v)).collect();
        let (x0, x1) = padded(xs[0], xs[xs.len() - 1], 0.06);
        let (lo, hi) = min_max(self.points.iter().map(|p| p.1)).unwrap_or((0.0, 100.0));
        let pad = ((hi - lo) * 0.1).max(1.0);
        let (lo, band_lo) = ((lo - pad).max(0.0), hi + pad);
        let mut yticks: Vec<f64> = nice_ticks(lo, band_lo.min(100.0), 10);
        // Jobs without an accuracy go into a band of their own above the accuracies, labelled as such, never at 0 %.
        let unfinished = !self.diverged.is_empty() || !self.failed.is_empty();
        let top = if unfinished { band_lo + 0.2 * (band_lo - lo) } else { band_lo };
        let band_y = (band_lo + top) / 2.0;
        if unfinished {
            yticks.push(band_y);
        }
        let log = self.log;
        let label = self.param.label.to_string();
        let x_desc = if log { format!("{label} (log scale)") } else { label.clone() };
        let caption = format!("Best validation accuracy vs {label}");
        let mut chart = style::frame(root, caption, 100, ticked(x0..x1, thin(&xs, 12)), ticked(lo..top, yticks))?;
        style::mesh(&mut chart, x_desc, "best validation accuracy (%)")
            .x_label_formatter(&|v| fmt_num(if log { 10f64.powf(*v) } else { *v }))
            .y_label_formatter(&|v| {
                if unfinished && *v == band_y {
                    "no accuracy".into()
                } else {
                    fmt_num(*v)
                }
            })
            .draw()?;
        if unfinished {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, band_lo), (x1, top)],
                RGBColor(253, 240, 240).filled(),
            )))?;
        }
        if !self.only_axis {
            chart
                .draw_series(self.points.iter().map(|&(v, a)| Circle::new((self.x(v), a), 3, GREY.filled())))?
                .label("each job")
                .legend(|(x, y)| Circle::new((x + 10, y), 3, GREY.filled()));
        }
        let best: Vec<(f64, f64)> = self.best.iter().map(|&(v, a)| (self.x(v), a)).collect();
        let best_label = if self.only_axis {
            "validation accuracy"
        } else {
            "best over the other axes"
        };
        chart
            .draw_series(LineSeries::new(best.iter().copied(), BLUE.stroke_width(2)))?
            .label(best_label)
            .legend(style::legend_line(BLUE));
        chart.draw_series(best.iter().map(|&p| Circle::new(p, 5, BLUE.filled())))?;
        // Failed jobs sit a little to the right of diverged ones at the same value.
        for (list, color, name, dx) in [(&self.diverged, RED, "diverged", 0), (&self.failed, PURPLE, "failed", 16)] {
            if list.is_empty() {
                continue;
            }
            let count = (FONT, 14).into_font().color(&color).pos(Pos::new(HPos::Left, VPos::Bottom));
            chart
                .draw_series(list.iter().map(|&(v, n)| {
                    let label = if n > 1 { format!("×{n}") } else { String::new() };
                    EmptyElement::at((self.x(v), band_y))
                        + Cross::new((dx, 0), 7, color.stroke_width(3))
                        + Text::new(label, (dx + 8, -6), count.clone())
                }))?
                .label(name)
                .legend(move |(x, y)| Cross::new((x + 10, y), 6, color.stroke_width(3)));
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
