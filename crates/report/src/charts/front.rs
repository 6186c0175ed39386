//! A multi-objective sweep's Pareto front: every trial that takes part, one objective against another, the front's
//! members (rank 0) highlighted and the others grey. With two objectives the members are joined in order along the
//! front by the staircase that bounds what they dominate; with three or more, one panel per pair of objectives (a
//! member of the front need not be on the front of a pair, so no staircase is drawn there).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::pareto::{objective_label, FrontPoint};
use crate::scale::{fmt_num, min_max, on_axis, padded};
use crate::style::{self, Chart, DrawErr, CHART_SIZE, FONT, GREY, ORANGE};
use sweep_grid::command::{Mode, Objective};

/// Pixels of one panel of a figure of several pairs of objectives.
const PANEL: (u32, u32) = (450, 450);
/// Panels per row of a figure of several pairs of objectives.
const COLUMNS: usize = 2;
/// Pixels above the panels of a figure of several pairs, for its title (which says what the colours are).
const TITLE: u32 = 50;

/// The trials of a multi-objective sweep against its objectives, two at a time.
pub(crate) struct FrontChart<'a> {
    /// The objectives, in the grid's order.
    pub(crate) objectives: &'a [Objective],
    /// Every trial that takes part, with its values in the objectives' order and its rank.
    pub(crate) points: &'a [FrontPoint],
}

impl FrontChart<'_> {
    /// The pairs of objectives drawn, one panel each: (x, y) as indices of the objectives, in the grid's order.
    pub(crate) fn pairs(&self) -> Vec<(usize, usize)> {
        let n = self.objectives.len();
        (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect()
    }

    /// The figure's size: the report's chart size for one pair, a grid of square panels for more.
    pub(crate) fn size(&self) -> (u32, u32) {
        let pairs = self.pairs().len();
        if pairs <= 1 {
            return CHART_SIZE;
        }
        let rows = pairs.div_ceil(COLUMNS) as u32;
        (PANEL.0 * COLUMNS as u32, TITLE + PANEL.1 * rows)
    }

    /// The ids of the trials drawn as the front's members, in recording order.
    pub(crate) fn highlighted(&self) -> Vec<&str> {
        self.points.iter().filter(|p| p.rank == 0).map(|p| p.id.as_str()).collect()
    }

    /// A point's (x, y) on the objectives `x` and `y`, within what an axis shows; `None` when it lacks one.
    fn at(p: &FrontPoint, x: usize, y: usize) -> Option<(f64, f64)> {
        Some((on_axis(*p.values.get(x)?), on_axis(*p.values.get(y)?)))
    }

    /// The staircase through the front's members on objectives `x` and `y`: the members in order of x, each one
    /// joined to the next through the corner that is worse than both in each objective (the boundary of what the
    /// front dominates).
    pub(crate) fn staircase(&self, x: usize, y: usize) -> Vec<(f64, f64)> {
        let (Some(ox), Some(oy)) = (self.objectives.get(x), self.objectives.get(y)) else {
            return Vec::new();
        };
        let mut members: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.rank == 0)
            .filter_map(|p| Self::at(p, x, y))
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        members.dedup();
        let mut path = Vec::with_capacity(2 * members.len());
        for (k, &p) in members.iter().enumerate() {
            if let Some(&prev) = k.checked_sub(1).and_then(|j| members.get(j)) {
                path.push((worse(ox.mode, prev.0, p.0), worse(oy.mode, prev.1, p.1)));
            }
            path.push(p);
        }
        path
    }

    /// One panel: objective `y` against objective `x`; with `single`, the whole figure (its members joined, with a
    /// legend), else one of several under a title that says what the colours are.
    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, x: usize, y: usize, single: bool) -> Result<(), DrawErr<DB>> {
        let (Some(ox), Some(oy)) = (self.objectives.get(x), self.objectives.get(y)) else {
            return Ok(());
        };
        let all: Vec<(f64, f64, bool)> = self
            .points
            .iter()
            .filter_map(|p| Self::at(p, x, y).map(|(a, b)| (a, b, p.rank == 0)))
            .collect();
        let (x0, x1) = min_max(all.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let (y0, y1) = min_max(all.iter().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (x0, x1) = padded(x0, x1, 0.06);
        let (y0, y1) = padded(y0, y1, 0.08);
        let members = all.iter().filter(|p| p.2).count();
        let caption = if single {
            format!("Pareto front: {} of {} trials", members, all.len())
        } else {
            format!("{} against {}", oy.metric, ox.metric)
        };
        let mut chart = style::frame(area, caption, 80, x0..x1, y0..y1)?;
        style::mesh(&mut chart, objective_label(ox), objective_label(oy))
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        let others = all.len() - members;
        let faint = GREY.mix(0.7);
        let dominated = chart.draw_series(all.iter().filter(|p| !p.2).map(|p| Circle::new((p.0, p.1), 3, faint.filled())))?;
        if single && others > 0 {
            dominated
                .label(format!("dominated ({others})"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, faint.filled()));
        }
        if single {
            chart.draw_series(LineSeries::new(self.staircase(x, y), ORANGE.stroke_width(2)))?;
        }
        let front = chart.draw_series(all.iter().filter(|p| p.2).map(|p| Circle::new((p.0, p.1), 5, ORANGE.filled())))?;
        if !single {
            return Ok(());
        }
        front
            .label(format!("on the front ({members})"))
            .legend(|(x, y)| Circle::new((x + 10, y), 5, ORANGE.filled()));
        // The legend goes where the front is not: the corner worse in both objectives.
        let position = match (ox.mode, oy.mode) {
            (Mode::Min, Mode::Min) => SeriesLabelPosition::UpperRight,
            (Mode::Max, Mode::Min) => SeriesLabelPosition::UpperLeft,
            (Mode::Min, Mode::Max) => SeriesLabelPosition::LowerRight,
            (Mode::Max, Mode::Max) => SeriesLabelPosition::LowerLeft,
        };
        style::legend(&mut chart, position)
    }
}

/// The worse of two values of an objective in direction `mode`.
fn worse(mode: Mode, a: f64, b: f64) -> f64 {
    match mode {
        Mode::Max => a.min(b),
        Mode::Min => a.max(b),
    }
}

impl Chart for FrontChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let pairs = self.pairs();
        if let [(x, y)] = pairs[..] {
            return self.panel(root, x, y, true);
        }
        let members = self.highlighted().len();
        let title = format!(
            "Pareto front: {members} of {} trials on it (orange), the others grey",
            self.points.len()
        );
        let (top, panels) = root.split_vertically(TITLE);
        top.titled(&title, (FONT, 22).into_font().color(&BLACK))?;
        let areas = panels.split_evenly((pairs.len().div_ceil(COLUMNS), COLUMNS));
        for (area, (x, y)) in areas.iter().zip(pairs) {
            self.panel(area, x, y, false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::tests::{rows_in, two_objectives};
    use crate::pareto::Pareto;

    #[test]
    fn the_highlighted_points_are_exactly_the_front() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Pareto::of(&two_objectives(tmp.path())).unwrap();
        let chart = FrontChart {
            objectives: p.objectives(),
            points: &p.front.points,
        };
        let mut shown = chart.highlighted();
        shown.sort_unstable();
        let mut members: Vec<&str> = p.front.members.iter().map(|m| m.id.as_str()).collect();
        members.sort_unstable();
        assert_eq!(shown, members);
        assert_eq!(chart.points.len(), 5, "every trial that takes part is drawn");
        assert_eq!(chart.pairs(), [(0, 1)]);
        assert_eq!(chart.size(), CHART_SIZE);
    }

    /// Members a (0.1, 0.9), c (0.4, 0.4) and e (0.9, 0.1), both minimized: each step goes through the corner worse
    /// in both, the larger f1 and the larger f2.
    #[test]
    fn the_staircase_joins_the_members_in_order_through_the_corners_they_dominate() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Pareto::of(&two_objectives(tmp.path())).unwrap();
        let chart = FrontChart {
            objectives: p.objectives(),
            points: &p.front.points,
        };
        assert_eq!(chart.staircase(0, 1), [(0.1, 0.9), (0.4, 0.9), (0.4, 0.4), (0.9, 0.4), (0.9, 0.1)]);
        // Maximized, the corner is the smaller value.
        assert_eq!(worse(Mode::Max, 0.4, 0.9), 0.4);
        assert_eq!(worse(Mode::Min, 0.4, 0.9), 0.9);
    }

    #[test]
    fn three_objectives_get_one_panel_per_pair_and_every_figure_is_drawn() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = rows_in(
            tmp.path(),
            &["f1", "f2", "f3"],
            &[
                ("a", "completed", 2.0, vec![Some(0.1), Some(0.5), Some(0.9)]),
                ("b", "completed", 2.0, vec![Some(0.9), Some(0.5), Some(0.1)]),
                ("c", "completed", 2.0, vec![Some(0.95), Some(0.6), Some(0.2)]),
            ],
        );
        let p = Pareto::of(&rows).unwrap();
        let chart = FrontChart {
            objectives: p.objectives(),
            points: &p.front.points,
        };
        assert_eq!(chart.pairs(), [(0, 1), (0, 2), (1, 2)]);
        assert_eq!(chart.size(), (900, 950));
        assert_eq!(chart.highlighted(), ["a", "b"]);
        crate::style::register_font().unwrap();
        let out = tmp.path().join("figures");
        std::fs::create_dir_all(&out).unwrap();
        crate::style::render_sized(&chart, &out, "front", chart.size()).unwrap();
        for f in ["front.png", "front.svg"] {
            assert!(std::fs::metadata(out.join(f)).unwrap().len() > 1000, "{f}");
        }
        let svg = std::fs::read_to_string(out.join("front.svg")).unwrap();
        for label in ["f1 (min)", "f2 (min)", "f3 (min)", "f3 against f2"] {
            assert!(svg.contains(label), "{label}");
        }
    }
}
