//! The report of a command sweep (issue 18): a user's program reports metrics of its own choosing, so the page is
//! built around the objective, whatever it is called: every trial's objective per epoch (from the points sweep
//! accepted, `trials/<id>/records.jsonl`), the rung ends of a halving or Hyperband sweep, the best trial with its
//! values and folder, the top trials and those that did not finish, with why. A sweep of several objectives (issue
//! 35) adds its Pareto front and hypervolume figures and the list of the front ([`super::pareto_page`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use sweep_core::checkpoint::write_atomic;

use super::page::esc;
use super::pareto_page;
use super::scale::{fmt_num, min_max, on_axis, padded};
use super::style::{self, Chart, DrawErr, CHART_SIZE, GREEN_DARK, GREY, ORANGE};
use super::{remove_old_figures, ReportError, INDEX_HTML, REPORT_DIR};
use crate::pareto::Pareto;
use sweep_grid::grid::Grid;
use sweep_grid::trials::value_text;
use sweep_results::best::{rank_rows, status_text};
use sweep_results::format::{read_rows, JobStatus, Row, GRID_COPY, RESULTS_CSV, TRIALS_DIR};
use sweep_results::schema::{metric_text, Schema};
use sweep_results::trial_folder::TrialFiles;

const CSS: &str = include_str!("../assets/report.css");
const TOP_K: usize = 10;

/// Whether `dir` holds a command sweep's results.
pub(super) fn is_command(dir: &Path) -> bool {
    matches!(Schema::of_dir(dir), Schema::Trials(_))
}

/// A trial's (epoch, objective) points.
type Curve = Vec<(f64, f64)>;

/// Every trial's objective per epoch: pruned ones faint, finished ones blue, the best orange, rung ends dashed.
struct ObjectiveCurves {
    metric: String,
    finished: Vec<Curve>,
    pruned: Vec<Curve>,
    broken: Vec<Curve>,
    best: Option<(String, Curve)>,
    rung_epochs: Vec<f64>,
}

impl ObjectiveCurves {
    fn all(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.finished
            .iter()
            .chain(&self.pruned)
            .chain(&self.broken)
            .chain(self.best.iter().map(|b| &b.1))
            .flatten()
    }
}

impl Chart for ObjectiveCurves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let x_max = on_axis(self.all().map(|p| p.0).chain(self.rung_epochs.iter().copied()).fold(1.0, f64::max));
        let (lo, hi) = min_max(self.all().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (lo, hi) = padded(lo, hi, 0.08);
        let caption = format!("{} per epoch of every trial", self.metric);
        let mut chart = style::frame(root, caption, 80, 0.0..x_max * 1.02, lo..hi)?;
        style::mesh(&mut chart, "epoch", self.metric.clone())
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        for (i, &e) in self.rung_epochs.iter().enumerate() {
            let line = chart.draw_series(DashedLineSeries::new([(e, lo), (e, hi)], 8, 5, GREEN_DARK.stroke_width(2)))?;
            if i == 0 {
                line.label("end of a rung").legend(style::legend_line(GREEN_DARK));
            }
        }
        let series: [(&Vec<Curve>, RGBAColor, &str, u32); 3] = [
            (&self.pruned, GREY.mix(0.5), "pruned", 1),
            (&self.broken, RED.mix(0.5), "diverged or failed", 1),
            (&self.finished, BLUE.mix(1.0), "finished", 2),
        ];
        for (curves, color, label, width) in series {
            if curves.is_empty() {
                continue;
            }
            chart
                .draw_series(curves.iter().map(|c| PathElement::new(c.clone(), color.stroke_width(width))))?
                .label(format!("{label} ({})", curves.len()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(curves.iter().filter_map(|c| c.last()).map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        if let Some((id, curve)) = &self.best {
            chart
                .draw_series(LineSeries::new(curve.iter().copied(), ORANGE.stroke_width(4)))?
                .label(format!("best trial {id}"))
                .legend(style::legend_line(ORANGE));
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

/// Writes `DIR/report/index.html` (and the curves' PNG and SVG) for the command sweep in `dir`.
pub(super) fn write(dir: &Path) -> Result<PathBuf, ReportError> {
    if !dir.join(RESULTS_CSV).is_file() {
        return Err(ReportError::NotResults(dir.to_path_buf()));
    }
    let out = &dir.join(REPORT_DIR);
    std::fs::create_dir_all(out).map_err(|source| ReportError::Write { path: out.clone(), source })?;
    remove_old_figures(out)?;
    let mut rows = read_rows(&dir.join(RESULTS_CSV))?;
    // Before ranking: the hypervolume follows the order the rows were recorded in.
    let pareto = Pareto::of(&rows);
    rank_rows(&mut rows, |r| r);
    let grid = Grid::load(&dir.join(GRID_COPY)).ok();
    let name = grid.as_ref().map_or_else(|| dir.display().to_string(), |g| g.name.clone());
    let metric = rows
        .iter()
        .find_map(|r| r.trial.as_ref().map(|t| t.objective.metric.clone()))
        .or_else(|| {
            grid.as_ref()
                .and_then(|g| g.command.as_ref())
                .map(|c| c.command.objective.metric.clone())
        })
        .unwrap_or_default();
    let best = rows.first().filter(|r| r.is_candidate()).map(|r| r.id.clone());
    let rung_epochs = grid.as_ref().map_or_else(Vec::new, |g| {
        let jobs = g.jobs().unwrap_or_default();
        let mut e: Vec<f64> = g
            .search
            .schedule(&jobs, g.seed)
            .brackets
            .iter()
            .flat_map(|b| b.rungs.clone())
            .collect();
        e.sort_by(f64::total_cmp);
        e.dedup();
        e.pop(); // the last rung is the end of the budget
        e
    });
    let mut chart = ObjectiveCurves {
        metric: metric.clone(),
        finished: vec![],
        pruned: vec![],
        broken: vec![],
        best: None,
        rung_epochs,
    };
    let mut notes = Vec::new();
    for r in &rows {
        let records = TrialFiles::new(dir.join(TRIALS_DIR).join(&r.id)).load_records().unwrap_or_default();
        let curve: Curve = records
            .iter()
            .filter_map(|p| Some((p.epoch, p.get(&metric).filter(|v| v.is_finite())?)))
            .collect();
        if curve.is_empty() {
            continue;
        }
        match r.status {
            _ if best.as_deref() == Some(r.id.as_str()) => chart.best = Some((r.id.clone(), curve)),
            JobStatus::Completed => chart.finished.push(curve),
            JobStatus::Pruned | JobStatus::Stopped => chart.pruned.push(curve),
            JobStatus::Diverged | JobStatus::Failed => chart.broken.push(curve),
        }
    }
    let mut figure = String::new();
    if let Some(p) = &pareto {
        for d in pareto_page::figures(p, out)? {
            figure.push_str(&pareto_page::figure_html(&d));
        }
    }
    if chart.all().next().is_some() {
        style::render(&chart, out, "objective")?;
        let _ = write!(
            figure,
            "<figure>\n<img src=\"objective.png\" alt=\"{m} per epoch\" width=\"{}\" height=\"{}\">\n<figcaption><b>{m} per \
             epoch of every trial</b> The points each trial's program reported (superseded ones dropped); pruned trials \
             grey, finished ones blue, the best orange, rung ends dashed. <a href=\"objective.svg\">SVG</a></figcaption>\n</figure>\n",
            CHART_SIZE.0,
            CHART_SIZE.1,
            m = esc(&metric)
        );
    } else {
        notes.push(format!("No trial reported a finite {metric}, so there are no curves."));
    }
    let front = pareto.as_ref().map(pareto_page::front_section);
    let html = page(dir, &name, &metric, &rows, &figure, &notes, front.as_deref());
    let index = out.join(INDEX_HTML);
    write_atomic(&index, html.as_bytes()).map_err(|source| ReportError::Write {
        path: index.clone(),
        source,
    })?;
    Ok(index)
}

/// The page: summary, best trial, a multi-objective sweep's front (`front`, its section's HTML), the figures, the top
/// trials and those that did not finish.
fn page(dir: &Path, name: &str, metric: &str, rows: &[Row], figure: &str, notes: &[String], front: Option<&str>) -> String {
    let mut h = String::new();
    let count = |s: JobStatus| rows.iter().filter(|r| r.status == s).count();
    let mode = rows
        .iter()
        .find_map(|r| r.trial.as_ref())
        .map_or("max", |t| t.objective.mode.as_str());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Sweep report: {n}</title>\n\
         <style>\n{CSS}</style>\n</head>\n<body>\n<h1>Sweep report: {n}</h1>\n<p class=\"summary\">{} trials of a program, \
         ranked by <code>{}</code> ({mode}): {} completed, {} pruned by the search, {} diverged, {} failed. From \
         <code>{}</code>.</p>\n",
        rows.len(),
        esc(metric),
        count(JobStatus::Completed),
        count(JobStatus::Pruned),
        count(JobStatus::Diverged),
        count(JobStatus::Failed),
        esc(&dir.display().to_string()),
        n = esc(name),
    );
    h.push_str("<h2>Best trial</h2>\n");
    match rows.first().filter(|r| r.is_candidate()).and_then(|r| Some((r, r.trial.as_ref()?))) {
        Some((r, t)) => {
            let _ = writeln!(
                h,
                "<table class=\"best\">\n<tr><th>trial</th><td><code>{}</code></td></tr>",
                esc(&r.id)
            );
            for (k, v) in &t.values {
                let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&value_text(v)));
            }
            let folder = format!("{TRIALS_DIR}/{}", r.id);
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td><b>{}</b></td></tr>\n<tr><th>best epoch</th><td>{}</td></tr>\n\
                 <tr><th>folder</th><td><a href=\"../{f}\"><code>{f}</code></a></td></tr>\n</table>",
                esc(metric),
                metric_text(t.best),
                r.best_epoch.map_or("–".into(), |e| e.to_string()),
                f = esc(&folder)
            );
        }
        None => h.push_str("<p class=\"none\">No trial completed with a finite objective: there is no best trial.</p>\n"),
    }
    if let Some(front) = front {
        h.push_str(front);
    }
    h.push_str("<h2>Figures</h2>\n");
    h.push_str(figure);
    if !notes.is_empty() {
        h.push_str("<ul class=\"notes\">\n");
        for n in notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
    let _ = writeln!(h, "<h2>Top {TOP_K} trials</h2>");
    h.push_str(&table(rows.iter().take(TOP_K), metric, true));
    let unfinished: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.status, JobStatus::Diverged | JobStatus::Failed))
        .collect();
    if !unfinished.is_empty() {
        h.push_str("<h2>Trials that did not finish</h2>\n");
        h.push_str(&table(unfinished.into_iter(), metric, false));
    }
    h.push_str("<footer>Written by <code>sweep report</code>. Every file is local: this page works opened straight from disk.</footer>\n</body>\n</html>\n");
    h
}

/// A table of trials: their values, status, epochs, objective, seconds and note.
fn table<'a>(rows: impl Iterator<Item = &'a Row>, metric: &str, ranked: bool) -> String {
    let rows: Vec<&Row> = rows.collect();
    let names: Vec<String> = rows
        .first()
        .and_then(|r| r.trial.as_ref())
        .map_or_else(Vec::new, |t| t.values.iter().map(|(k, _)| k.clone()).collect());
    let mut h = String::from("<table class=\"jobs\">\n<tr>");
    if ranked {
        h.push_str("<th>rank</th>");
    }
    h.push_str("<th>trial</th>");
    for n in &names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    let _ = writeln!(
        h,
        "<th>status</th><th>epochs run</th><th>best epoch</th><th>{}</th><th>seconds</th><th>note</th></tr>",
        esc(metric)
    );
    for (i, r) in rows.iter().enumerate() {
        super::page::row_start(&mut h, r, ranked.then_some(i + 1));
        let t = r.trial.as_ref();
        for n in &names {
            let v = t
                .and_then(|t| t.values.iter().find(|(k, _)| k == n))
                .map_or("–".into(), |(_, v)| value_text(v));
            let _ = write!(h, "<td>{}</td>", esc(&v));
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            status_text(r),
            r.epochs_run,
            r.best_epoch.map_or("–".into(), |e| e.to_string()),
            metric_text(t.and_then(|t| t.best)),
            r.seconds,
            esc(t.and_then(|t| t.note.as_deref()).unwrap_or(""))
        );
    }
    h.push_str("</table>\n");
    h
}
