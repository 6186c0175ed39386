//! The best validation accuracy over learning rate x regularization, one labelled cell per pair; cells without an
//! accuracy say why (diverged, failed, not run). A colour bar at the right gives the scale of the colours.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::load::{distinct, outcome, same, Outcome};
use crate::scale::{fmt_num, min_max, thin, ticked};
use crate::style::{self, Chart, DrawErr, FONT, GREY, PURPLE};
use sweep_results::format::Row;

/// A heatmap cell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Acc(f64),
    Diverged,
    Failed,
    NotRun,
}

/// Max validation accuracy over learning rate x regularization.
pub(crate) struct Heatmap {
    lrs: Vec<f64>,
    regs: Vec<f64>,
    /// cells[i][j]: learning rate i, reg j.
    cells: Vec<Vec<Cell>>,
}

impl Heatmap {
    /// None when there is a single cell, or no cell has an accuracy.
    pub(crate) fn build(rows: &[Row]) -> Option<Heatmap> {
        let lrs = distinct(rows.iter().map(|r| r.config.learning_rate));
        let regs = distinct(rows.iter().map(|r| r.config.reg));
        if lrs.len() * regs.len() < 2 {
            return None;
        }
        let cells: Vec<Vec<Cell>> = lrs
            .iter()
            .map(|&lr| {
                regs.iter()
                    .map(|&reg| {
                        let at: Vec<Outcome> = rows
                            .iter()
                            .filter(|r| same(r.config.learning_rate, lr) && same(r.config.reg, reg))
                            .map(outcome)
                            .collect();
                        let max = at
                            .iter()
                            .filter_map(|o| if let Outcome::Acc(a) = o { Some(*a) } else { None })
                            .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
                        match max {
                            Some(a) => Cell::Acc(a),
                            None if at.contains(&Outcome::Diverged) => Cell::Diverged,
                            None if !at.is_empty() => Cell::Failed,
                            None => Cell::NotRun,
                        }
                    })
                    .collect()
            })
            .collect();
        cells
            .iter()
            .flatten()
            .any(|c| matches!(c, Cell::Acc(_)))
            .then_some(Heatmap { lrs, regs, cells })
    }
}

/// Width of the colour bar and its labels, in pixels.
const BAR_WIDTH: i32 = 120;

/// The colour of accuracy `a` on the scale `amin..amax` (mid-scale when every cell has the same accuracy).
fn colour(a: f64, amin: f64, amax: f64) -> RGBColor {
    ViridisRGB::get_color(if amax > amin { (a - amin) / (amax - amin) } else { 0.6 })
}

/// The colour bar: the accuracies from `amin` (bottom) to `amax` (top) and their colours.
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, amin: f64, amax: f64) -> Result<(), DrawErr<DB>> {
    let (lo, hi) = if amax > amin { (amin, amax) } else { (amin - 0.5, amax + 0.5) };
    let mut bar = ChartBuilder::on(area)
        .margin_top(52)
        .margin_bottom(65)
        .margin_right(8)
        .right_y_label_area_size(58)
        .build_cartesian_2d(0.0..1.0, lo..hi)?;
    bar.configure_mesh()
        .disable_x_axis()
        .disable_mesh()
        .y_desc("val. acc. (%)")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 14))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    const STEPS: usize = 120;
    bar.draw_series((0..STEPS).map(|k| {
        let (y0, y1) = (
            lo + (hi - lo) * k as f64 / STEPS as f64,
            lo + (hi - lo) * (k + 1) as f64 / STEPS as f64,
        );
        Rectangle::new([(0.0, y0), (1.0, y1)], colour((y0 + y1) / 2.0, amin, amax).filled())
    }))?;
    bar.draw_series(std::iter::once(Rectangle::new([(0.0, lo), (1.0, hi)], BLACK.stroke_width(1))))?;
    Ok(())
}

impl Chart for Heatmap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let (width, _) = root.dim_in_pixel();
        let (root, bar_area) = root.split_horizontally(width as i32 - BAR_WIDTH);
        let root = &root;
        let (nx, ny) = (self.lrs.len(), self.regs.len());
        let (amin, amax) = min_max(
            self.cells
                .iter()
                .flatten()
                .filter_map(|c| if let Cell::Acc(a) = c { Some(*a) } else { None }),
        )
        .unwrap_or((0.0, 100.0));
        let xt: Vec<f64> = thin(&(0..nx).map(|i| i as f64).collect::<Vec<_>>(), 12);
        let yt: Vec<f64> = thin(&(0..ny).map(|i| i as f64).collect::<Vec<_>>(), 12);
        let (lrs, regs) = (&self.lrs, &self.regs);
        let caption = "Best validation accuracy (%): learning rate x regularization";
        let (x, y) = (ticked(-0.5..nx as f64 - 0.5, xt), ticked(-0.5..ny as f64 - 0.5, yt));
        let mut chart = style::frame(root, caption, 90, x, y)?;
        style::mesh(&mut chart, "learning rate", "regularization strength (reg)")
            .disable_mesh()
            .x_label_formatter(&|v| lrs.get(v.round().max(0.0) as usize).map_or(String::new(), |x| fmt_num(*x)))
            .y_label_formatter(&|v| regs.get(v.round().max(0.0) as usize).map_or(String::new(), |x| fmt_num(*x)))
            .draw()?;
        let cell_px = (660 / nx.max(1)).min(480 / ny.max(1)) as i32;
        let size = (cell_px / 4).clamp(9, 22);
        for (i, col) in self.cells.iter().enumerate() {
            for (j, c) in col.iter().enumerate() {
                let (x, y) = (i as f64, j as f64);
                let (fill, text, ink): (RGBColor, String, RGBColor) = match *c {
                    Cell::Acc(a) => {
                        let t = if amax > amin { (a - amin) / (amax - amin) } else { 0.6 };
                        let ink = if t < 0.55 { WHITE } else { BLACK };
                        (colour(a, amin, amax), format!("{a:.1}"), ink)
                    }
                    Cell::Diverged => (RGBColor(250, 220, 220), "diverged".into(), RED),
                    Cell::Failed => (RGBColor(230, 230, 230), "failed".into(), PURPLE),
                    Cell::NotRun => (WHITE, "not run".into(), GREY),
                };
                let corners = [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)];
                chart.draw_series(std::iter::once(Rectangle::new(corners, fill.filled())))?;
                chart.draw_series(std::iter::once(Rectangle::new(corners, WHITE.stroke_width(1))))?;
                let style = (FONT, size).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(text, (x, y), style)))?;
            }
        }
        colour_bar(&bar_area, amin, amax)
    }
}
