//! Hyperparameter importance: each axis's share of the variance explained by main effects (fANOVA), one bar per
//! axis, the most important on top; the same numbers the dashboard shows.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::importance::Importances;
use crate::style::{self, Chart, DrawErr, FONT};
use sweep_params::params::param;

/// The importance bar chart.
pub(crate) struct ImportanceChart<'a> {
    pub(crate) importances: &'a Importances,
}

impl Chart for ImportanceChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        // Bottom to top: least important first.
        let params: Vec<_> = self.importances.params.iter().rev().collect();
        let n = params.len().max(1) as f64;
        let labels: Vec<String> = params
            .iter()
            .map(|p| param(&p.name).map_or(p.name.clone(), |q| q.short.to_string()))
            .collect();
        let caption = format!("Hyperparameter importance (fANOVA, {} completed jobs)", self.importances.trials);
        let mut chart = style::frame(root, caption, 110, 0.0..1.08, -0.5..n - 0.5)?;
        style::mesh(&mut chart, "share of the variance explained by main effects", "")
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(params.len().max(1))
            .x_label_formatter(&|v| format!("{:.0} %", 100.0 * v))
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()?;
        let blue = RGBColor(37, 99, 235);
        for (i, p) in params.iter().enumerate() {
            let y = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.32), (p.importance, y + 0.32)],
                blue.filled(),
            )))?;
            let style = (FONT, 15).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            let text = format!("{:.1} %", 100.0 * p.importance);
            chart.draw_series(std::iter::once(Text::new(text, (p.importance + 0.01, y), style)))?;
        }
        Ok(())
    }
}
