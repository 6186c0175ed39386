//! `sweep report`: draws a results directory's figures (loss, accuracy, first-layer weights, accuracy against every
//! grid axis) as PNG and SVG into `DIR/report/` and ties them together in an `index.html` that works opened from disk.
//!
//! People judge the network by looking at these figures (the report's Figs. 2-9), so every sweep can produce them.
//! Edge cases give a sensible page rather than an empty figure: a sweep without axes skips the axis figures and says
//! so, diverged jobs are drawn as red crosses in a band of their own (never as 0 %), and a sweep where no job
//! completed says that there is no best model.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;
use sweep_core::checkpoint::write_atomic;
use sweep_core::{CheckpointError, Model};

use crate::grid::{Axis, Grid, GridError};
use crate::results::{read_best, read_rows, BestInfo, ResultsError, Row, BEST_CHECKPOINT, GRID_COPY, RESULTS_CSV};

/// The report's folder inside a results directory.
pub const REPORT_DIR: &str = "report";
/// The page that ties the figures together.
pub const INDEX_HTML: &str = "index.html";
/// At most this many hidden units are drawn as weight tiles.
pub const MAX_TILES: usize = 256;
/// Tiles per row of the weight figure.
const TILE_COLUMNS: usize = 16;
/// Rows of the top table.
const TOP_K: usize = 10;

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const CHART_SIZE: (u32, u32) = (900, 600);
const ORANGE: RGBColor = RGBColor(230, 120, 20);
const GREY: RGBColor = RGBColor(150, 150, 150);
const PURPLE: RGBColor = RGBColor(130, 40, 170);
const GREEN_DARK: RGBColor = RGBColor(30, 130, 60);

/// Errors of `sweep report`; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0} holds no results.csv: it is not a results directory (run `sweep run GRID --out DIR` first, then `sweep report DIR`)")]
    NotResults(PathBuf),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("grid copy of the sweep is invalid: {0}")]
    Grid(#[from] GridError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source} (is the results directory writable?)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw {path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("the embedded font assets/DejaVuSans.ttf could not be loaded")]
    Font,
}

/// Writes `DIR/report/` (PNG and SVG figures and `index.html`) from the results directory `dir`; returns the path of
/// `index.html`.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    register_font()?;
    let sweep = Sweep::load(dir)?;
    let out = dir.join(REPORT_DIR);
    fs::create_dir_all(&out).map_err(|source| ReportError::Write { path: out.clone(), source })?;
    remove_old_figures(&out)?;

    let mut page = Page::default();
    best_job_figures(&sweep, &out, &mut page)?;
    axis_figures(&sweep, &out, &mut page)?;

    let index = out.join(INDEX_HTML);
    let html = page.html(&sweep);
    write_atomic(&index, html.as_bytes()).map_err(|source| ReportError::Write {
        path: index.clone(),
        source,
    })?;
    Ok(index)
}

fn register_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Font)
    }
}

/// Figures of an earlier report would linger beside the new ones: remove the files this module writes.
fn remove_old_figures(out: &Path) -> Result<(), ReportError> {
    let entries = fs::read_dir(out).map_err(|source| ReportError::Read {
        path: out.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let p = e.path();
        let ours = p.extension().is_some_and(|x| x == "png" || x == "svg" || x == "html");
        if ours && p.is_file() {
            fs::remove_file(&p).map_err(|source| ReportError::Write { path: p.clone(), source })?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the results directory

/// Everything the report needs from a results directory.
struct Sweep {
    dir: PathBuf,
    name: String,
    /// One row per job, best first (completed jobs by validation accuracy, then the rest).
    rows: Vec<Row>,
    best: Option<BestInfo>,
    /// The job whose curves are drawn: the one in best.json, else the top completed row.
    best_id: Option<String>,
    axes: Vec<Axis>,
    /// Set when grid.toml was missing and the axes were inferred from the rows.
    axes_inferred: bool,
}

impl Sweep {
    fn load(dir: &Path) -> Result<Sweep, ReportError> {
        let csv = dir.join(RESULTS_CSV);
        if !csv.is_file() {
            return Err(ReportError::NotResults(dir.to_path_buf()));
        }
        let mut rows = read_rows(&csv)?;
        rank_rows(&mut rows);
        let best = read_best(dir)?;
        let best_id = best
            .as_ref()
            .map(|b| b.id.clone())
            .or_else(|| rows.first().filter(|r| r.is_candidate()).map(|r| r.id.clone()));

        let grid_path = dir.join(GRID_COPY);
        let (name, axes, axes_inferred) = if grid_path.is_file() {
            let text = fs::read_to_string(&grid_path).map_err(|source| ReportError::Read {
                path: grid_path.clone(),
                source,
            })?;
            let grid = Grid::parse(&grid_path, &text)?;
            (grid.name, grid.axes, false)
        } else {
            let name = dir.file_name().map_or("sweep".to_string(), |n| n.to_string_lossy().into_owned());
            (name, infer_axes(&rows), true)
        };
        Ok(Sweep {
            dir: dir.to_path_buf(),
            name,
            rows,
            best,
            best_id,
            axes,
            axes_inferred,
        })
    }

    fn best_row(&self) -> Option<&Row> {
        let id = self.best_id.as_ref()?;
        self.rows.iter().find(|r| &r.id == id)
    }

    fn count(&self, status: &str) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// Completed jobs by validation accuracy (best first), then the others; one row per job id.
fn rank_rows(rows: &mut Vec<Row>) {
    rows.sort_by(crate::best::ranking_order);
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert(r.id.clone()));
}

/// Without grid.toml: every parameter that takes more than one value is an axis, log-spaced if it spans a decade or more.
fn infer_axes(rows: &[Row]) -> Vec<Axis> {
    crate::grid::PARAMS
        .iter()
        .filter_map(|&name| {
            let values = distinct(rows.iter().filter_map(|r| param_of(r, name)));
            if values.len() < 2 {
                return None;
            }
            let (lo, hi) = (values[0], values[values.len() - 1]);
            let log = lo > 0.0 && hi / lo >= 10.0;
            Some(Axis {
                name: name.to_string(),
                values,
                log,
            })
        })
        .collect()
}

/// The value of a grid parameter in a row (None for the default `kaiming` init).
fn param_of(r: &Row, name: &str) -> Option<f64> {
    match name {
        "learning_rate" => Some(r.learning_rate),
        "reg" => Some(r.reg),
        "hidden_size" => Some(r.hidden_size as f64),
        "lr_decay" => Some(r.lr_decay),
        "epochs" => Some(r.epochs as f64),
        "batch_size" => Some(r.batch_size as f64),
        "init_std" => r.init_std.parse().ok(),
        _ => None,
    }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Sorted distinct finite values.
fn distinct(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// What a job gives to the accuracy plots.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Best validation accuracy, in percent.
    Acc(f64),
    Diverged,
    /// Failed, or no epoch finished: nothing to plot.
    NoAcc,
}

fn outcome(r: &Row) -> Outcome {
    if r.status == "diverged" {
        return Outcome::Diverged;
    }
    match r.best_val_acc {
        Some(v) if v.is_finite() && r.status != "failed" => Outcome::Acc(100.0 * v),
        _ => Outcome::NoAcc,
    }
}

#[derive(Debug, Deserialize)]
struct EpochLine {
    epoch: usize,
    #[allow(dead_code)]
    lr: f64,
    #[allow(dead_code)]
    loss: f64,
    train_acc: f64,
    val_acc: f64,
}

#[derive(Debug, Deserialize)]
struct LossLine {
    iteration: usize,
    loss: f64,
}

/// Rows of a history CSV; None when the file does not exist.
fn read_history<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<Vec<T>>, ReportError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut r = csv::Reader::from_reader(&bytes[..]);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| ReportError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("row {}: {e}", i + 1),
            })
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

// ---------------------------------------------------------------------------------------------------------------
// The page

/// One figure on the page.
struct Shown {
    title: String,
    caption: String,
    png: String,
    svg: Option<String>,
    size: (u32, u32),
}

#[derive(Default)]
struct Page {
    figures: Vec<Shown>,
    /// Why a figure is missing, in plain text.
    notes: Vec<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{:.2} %", 100.0 * v))
}

/// A number as people write it on an axis: 512, 0.95, 1e-4, 3.16e-3.
fn fmt_num(v: f64) -> String {
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

/// How a parameter is called on an axis.
fn param_label(name: &str) -> &str {
    match name {
        "learning_rate" => "learning rate",
        "reg" => "regularization strength (reg)",
        "hidden_size" => "hidden layer size",
        "lr_decay" => "learning-rate decay per epoch",
        "epochs" => "epochs",
        "batch_size" => "batch size",
        "init_std" => "initial weight std",
        other => other,
    }
}

impl Page {
    fn add(&mut self, title: String, caption: String, stem: &str, svg: bool, size: (u32, u32)) {
        let svg = svg.then(|| format!("{stem}.svg"));
        self.figures.push(Shown {
            title,
            caption,
            png: format!("{stem}.png"),
            svg,
            size,
        });
    }

    fn html(&self, s: &Sweep) -> String {
        let mut h = String::new();
        let name = esc(&s.name);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Sweep report: {name}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
             <h1>Sweep report: {name}</h1>\n"
        );
        let (done, div, failed) = (s.count("completed"), s.count("diverged"), s.count("failed"));
        let other = s.rows.len() - done - div - failed;
        let _ = writeln!(
            h,
            "<p class=\"summary\">{} jobs: {done} completed, {div} diverged, {failed} failed{}. From <code>{}</code>.</p>",
            s.rows.len(),
            if other > 0 {
                format!(", {other} stopped early")
            } else {
                String::new()
            },
            esc(&s.dir.display().to_string())
        );

        h.push_str("<h2>Best configuration</h2>\n");
        match (s.best_row(), &s.best) {
            (Some(r), best) => {
                let test = best.as_ref().and_then(|b| b.test_acc);
                let _ = writeln!(
                    h,
                    "<table class=\"best\">\n<tr><th>job</th><td><code>{}</code></td></tr>\n\
                     <tr><th>learning rate</th><td>{}</td></tr>\n<tr><th>regularization (reg)</th><td>{}</td></tr>\n\
                     <tr><th>hidden size</th><td>{}</td></tr>\n<tr><th>learning-rate decay</th><td>{}</td></tr>\n\
                     <tr><th>epochs</th><td>{}</td></tr>\n<tr><th>batch size</th><td>{}</td></tr>\n\
                     <tr><th>initialization</th><td>{}</td></tr>\n<tr><th>best epoch</th><td>{}</td></tr>\n\
                     <tr><th>validation accuracy</th><td><b>{}</b></td></tr>\n<tr><th>test accuracy</th><td><b>{}</b>{}</td></tr>\n</table>",
                    esc(&r.id),
                    fmt_num(r.learning_rate),
                    fmt_num(r.reg),
                    r.hidden_size,
                    fmt_num(r.lr_decay),
                    r.epochs,
                    r.batch_size,
                    esc(&r.init_std),
                    r.best_epoch.map_or("–".into(), |e| e.to_string()),
                    pct(r.best_val_acc),
                    pct(test),
                    if test.is_none() { " (not measured yet: it is filled in when the sweep ends)" } else { "" }
                );
            }
            _ => h.push_str(
                "<p class=\"none\">No job completed, so there is no best model: the loss, accuracy and weight figures \
                 are left out. See the jobs that did not finish below.</p>\n",
            ),
        }

        h.push_str("<h2>Figures</h2>\n");
        if self.figures.is_empty() {
            h.push_str("<p class=\"none\">No figure could be drawn from these results.</p>\n");
        }
        for f in &self.figures {
            let svg = f.svg.as_ref().map_or(String::new(), |p| format!(" <a href=\"{}\">SVG</a>", esc(p)));
            let _ = writeln!(
                h,
                "<figure>\n<img src=\"{}\" alt=\"{}\" width=\"{}\" height=\"{}\">\n<figcaption><b>{}</b> {}{svg}</figcaption>\n</figure>",
                esc(&f.png),
                esc(&f.title),
                f.size.0,
                f.size.1,
                esc(&f.title),
                esc(&f.caption)
            );
        }
        if !self.notes.is_empty() {
            h.push_str("<ul class=\"notes\">\n");
            for n in &self.notes {
                let _ = writeln!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>\n");
        }

        let _ = writeln!(h, "<h2>Top {TOP_K} jobs</h2>");
        h.push_str(&jobs_table(s.rows.iter().take(TOP_K), true));
        let unfinished: Vec<&Row> = s.rows.iter().filter(|r| !matches!(outcome(r), Outcome::Acc(_))).collect();
        if !unfinished.is_empty() {
            h.push_str("<h2>Jobs that did not finish</h2>\n<p>Diverged jobs have no accuracy worth plotting; the figures draw them as red crosses in a band above the accuracies, never as 0 %.</p>\n");
            h.push_str(&jobs_table(unfinished.into_iter(), false));
        }
        h.push_str("<footer>Written by <code>sweep report</code>. Every file is local: this page works opened straight from disk.</footer>\n</body>\n</html>\n");
        h
    }
}

fn jobs_table<'a>(rows: impl Iterator<Item = &'a Row>, ranked: bool) -> String {
    let mut h = String::from("<table class=\"jobs\">\n<tr>");
    if ranked {
        h.push_str("<th>rank</th>");
    }
    h.push_str(
        "<th>job</th><th>learning rate</th><th>reg</th><th>hidden</th><th>decay</th><th>epochs</th><th>batch</th>\
         <th>status</th><th>epochs run</th><th>val. acc.</th><th>train acc.</th><th>seconds</th></tr>\n",
    );
    for (i, r) in rows.enumerate() {
        let class = match r.status.as_str() {
            "completed" => "ok",
            "diverged" => "diverged",
            _ => "other",
        };
        let _ = write!(h, "<tr class=\"{class}\">");
        if ranked {
            let _ = write!(h, "<td>{}</td>", i + 1);
        }
        let val = match outcome(r) {
            Outcome::Diverged => "diverged".to_string(),
            _ => pct(r.best_val_acc),
        };
        let _ = writeln!(
            h,
            "<td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&r.id),
            fmt_num(r.learning_rate),
            fmt_num(r.reg),
            r.hidden_size,
            fmt_num(r.lr_decay),
            r.epochs,
            r.batch_size,
            esc(&r.status),
            r.epochs_run,
            val,
            pct(r.train_acc),
            r.seconds
        );
    }
    h.push_str("</table>\n");
    h
}

const CSS: &str = "body { font-family: sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
table.best th { text-align: left; background: #f4f4f4; }
tr.diverged td { color: #c00; } tr.other td { color: #777; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
.none, .notes { color: #555; } footer { margin-top: 3em; font-size: 0.8em; color: #777; }
";

// ---------------------------------------------------------------------------------------------------------------
// Figures

/// A chart drawn the same way into PNG and SVG.
enum Figure<'a> {
    Loss {
        id: &'a str,
        points: Vec<(f64, f64)>,
    },
    Accuracy {
        id: &'a str,
        epochs: Vec<(f64, f64, f64)>,
        best_epoch: Option<usize>,
    },
    Axis(AxisPlot),
    Heatmap(Heatmap),
}

type DrawErr<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

/// Draws `fig` into `out/<stem>.png` and `out/<stem>.svg`.
fn render(fig: &Figure, out: &Path, stem: &str) -> Result<(), ReportError> {
    let png = out.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, CHART_SIZE).into_drawing_area();
        fig.draw(&root).and_then(|_| root.present()).map_err(|e| ReportError::Draw {
            path: png.clone(),
            reason: e.to_string(),
        })?;
    }
    let svg = out.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, CHART_SIZE).into_drawing_area();
        fig.draw(&root).and_then(|_| root.present()).map_err(|e| ReportError::Draw {
            path: svg.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// A range that is never empty: `pad` of its span on each side (or of its magnitude when all values are equal).
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

fn min_max(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    v.filter(|x| x.is_finite())
        .fold(None, |acc, x| Some(acc.map_or((x, x), |(a, b): (f64, f64)| (a.min(x), b.max(x)))))
}

/// Up to about `max` of `points`, evenly picked, first and last kept.
fn thin(points: &[f64], max: usize) -> Vec<f64> {
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

fn caption_style() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&BLACK)
}

/// A linear f64 axis whose ticks sit exactly at given values (the grid's values, epochs, heatmap cells).
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

fn ticked(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
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

impl Figure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        root.fill(&WHITE)?;
        match self {
            Figure::Loss { id, points } => draw_loss(root, id, points),
            Figure::Accuracy { id, epochs, best_epoch } => draw_accuracy(root, id, epochs, *best_epoch),
            Figure::Axis(a) => a.draw(root),
            Figure::Heatmap(m) => m.draw(root),
        }
    }
}

fn draw_loss<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, id: &str, points: &[(f64, f64)]) -> Result<(), DrawErr<DB>> {
    let (x0, x1) = min_max(points.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { padded(x0, x1, 0.05) };
    let (y0, y1) = min_max(points.iter().map(|p| p.1)).unwrap_or((0.0, 1.0));
    let (y0, y1) = padded(y0, y1, 0.05);
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Training loss per iteration, best job {id}"), caption_style())
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0.max(0.0).min(y0)..y1)?;
    chart
        .configure_mesh()
        .x_desc("iteration (mini-batch step)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .bold_line_style(BLACK.mix(0.12))
        .y_desc("loss (cross-entropy + L2)")
        .light_line_style(BLACK.mix(0.04))
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    let light = RGBColor(120, 160, 230);
    chart
        .draw_series(LineSeries::new(points.iter().copied(), light.stroke_width(1)))?
        .label("loss per iteration")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], light.stroke_width(2)));
    let window = (points.len() / 50).max(1);
    if window > 1 {
        let smooth: Vec<(f64, f64)> = points
            .windows(window)
            .map(|w| (w[w.len() / 2].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(smooth, BLUE.stroke_width(2)))?
            .label(format!("moving average over {window} iterations"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw_accuracy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    id: &str,
    epochs: &[(f64, f64, f64)],
    best_epoch: Option<usize>,
) -> Result<(), DrawErr<DB>> {
    let n = epochs.iter().map(|e| e.0).fold(1.0, f64::max);
    let (lo, hi) = min_max(epochs.iter().flat_map(|e| [e.1, e.2])).unwrap_or((0.0, 100.0));
    let (lo, hi) = ((lo - 5.0).max(0.0), (hi + 5.0).min(102.0));
    let ticks: Vec<f64> = thin(&epochs.iter().map(|e| e.0).collect::<Vec<_>>(), 20);
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Train and validation accuracy per epoch, best job {id}"), caption_style())
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(ticked(0.5..n + 0.5, ticks), lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .bold_line_style(BLACK.mix(0.12))
        .y_desc("accuracy (%)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| if *v > 100.0 + 1e-9 { String::new() } else { format!("{v:.0}") })
        .light_line_style(BLACK.mix(0.04))
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    if let Some(b) = best_epoch {
        let b = b as f64;
        chart
            .draw_series(DashedLineSeries::new([(b, lo), (b, hi)], 8, 5, GREEN_DARK.stroke_width(2)))?
            .label(format!("best epoch ({b})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN_DARK.stroke_width(2)));
    }
    let train: Vec<(f64, f64)> = epochs.iter().map(|e| (e.0, e.1)).collect();
    let val: Vec<(f64, f64)> = epochs.iter().map(|e| (e.0, e.2)).collect();
    chart
        .draw_series(LineSeries::new(train.iter().copied(), BLUE.stroke_width(2)))?
        .label("train (sample)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart.draw_series(train.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    chart
        .draw_series(LineSeries::new(val.iter().copied(), ORANGE.stroke_width(2)))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    chart.draw_series(val.iter().map(|&p| TriangleMarker::new(p, 5, ORANGE.filled())))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Best validation accuracy against one grid axis.
struct AxisPlot {
    name: String,
    log: bool,
    /// The axis' values (raw, sorted).
    values: Vec<f64>,
    /// Every job with an accuracy: (raw x, %).
    points: Vec<(f64, f64)>,
    /// Max over the other axes at each value that has an accuracy.
    best: Vec<(f64, f64)>,
    /// Diverged and failed jobs per value: (raw x, count).
    diverged: Vec<(f64, usize)>,
    failed: Vec<(f64, usize)>,
    only_axis: bool,
}

impl AxisPlot {
    fn build(rows: &[Row], axis: &Axis, only_axis: bool) -> Option<AxisPlot> {
        let values = distinct(rows.iter().filter_map(|r| param_of(r, &axis.name)));
        if values.len() < 2 {
            return None;
        }
        // Log-spaced in the grid, or listed values spanning a decade or more: a log axis.
        let log = values[0] > 0.0 && (axis.log || values[values.len() - 1] / values[0] >= 10.0);
        let (mut points, mut best, mut diverged, mut failed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &v in &values {
            let at: Vec<&Row> = rows
                .iter()
                .filter(|r| param_of(r, &axis.name).is_some_and(|x| same(x, v)))
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
            name: axis.name.clone(),
            log,
            values,
            points,
            best,
            diverged,
            failed,
            only_axis,
        })
    }

    fn x(&self, v: f64) -> f64 {
        if self.log {
            v.log10()
        } else {
            v
        }
    }

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
        let label = param_label(&self.name).to_string();
        let x_desc = if log { format!("{label} (log scale)") } else { label.clone() };
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Best validation accuracy vs {label}"), caption_style())
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(100)
            .build_cartesian_2d(ticked(x0..x1, thin(&xs, 12)), ticked(lo..top, yticks))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("best validation accuracy (%)")
            .x_label_formatter(&|v| fmt_num(if log { 10f64.powf(*v) } else { *v }))
            .y_label_formatter(&|v| {
                if unfinished && *v == band_y {
                    "no accuracy".into()
                } else {
                    fmt_num(*v)
                }
            })
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
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
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) inside [lo, hi], at most about `max` of them.
fn nice_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / max.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A heatmap cell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Acc(f64),
    Diverged,
    Failed,
    NotRun,
}

/// Max validation accuracy over learning rate x regularization.
struct Heatmap {
    lrs: Vec<f64>,
    regs: Vec<f64>,
    /// cells[i][j]: learning rate i, reg j.
    cells: Vec<Vec<Cell>>,
}

impl Heatmap {
    fn build(rows: &[Row]) -> Option<Heatmap> {
        let lrs = distinct(rows.iter().map(|r| r.learning_rate));
        let regs = distinct(rows.iter().map(|r| r.reg));
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
                            .filter(|r| same(r.learning_rate, lr) && same(r.reg, reg))
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

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
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
        let mut chart = ChartBuilder::on(root)
            .caption("Best validation accuracy (%): learning rate x regularization", caption_style())
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(ticked(-0.5..nx as f64 - 0.5, xt), ticked(-0.5..ny as f64 - 0.5, yt))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("learning rate")
            .y_desc("regularization strength (reg)")
            .x_label_formatter(&|v| lrs.get(v.round().max(0.0) as usize).map_or(String::new(), |x| fmt_num(*x)))
            .y_label_formatter(&|v| regs.get(v.round().max(0.0) as usize).map_or(String::new(), |x| fmt_num(*x)))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .draw()?;
        let cell_px = (780 / nx.max(1)).min(480 / ny.max(1)) as i32;
        let size = (cell_px / 4).clamp(9, 22);
        for (i, col) in self.cells.iter().enumerate() {
            for (j, c) in col.iter().enumerate() {
                let (x, y) = (i as f64, j as f64);
                let (fill, text, ink): (RGBColor, String, RGBColor) = match *c {
                    Cell::Acc(a) => {
                        let t = if amax > amin { (a - amin) / (amax - amin) } else { 0.6 };
                        let ink = if t < 0.55 { WHITE } else { BLACK };
                        (ViridisRGB::get_color(t), format!("{a:.1}"), ink)
                    }
                    Cell::Diverged => (RGBColor(250, 220, 220), "diverged".into(), RED),
                    Cell::Failed => (RGBColor(230, 230, 230), "failed".into(), PURPLE),
                    Cell::NotRun => (WHITE, "not run".into(), GREY),
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    fill.filled(),
                )))?;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    WHITE.stroke_width(1),
                )))?;
                let style = (FONT, size).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(text, (x, y), style)))?;
            }
        }
        Ok(())
    }
}

/// First-layer weights as colour tiles: one per hidden unit, each rescaled to 0-255 on its own.
fn draw_weights(model: &Model, path: &Path, title: &str) -> Result<Option<(u32, u32)>, ReportError> {
    let shape = &model.meta.input_shape;
    let (channels, h, w) = match shape[..] {
        [c, h, w] if c == 1 || c == 3 => (c, h, w),
        [h, w] => (1, h, w),
        _ => return Ok(None),
    };
    let w1 = &model.net.params.w1;
    if w1.shape()[0] != channels * h * w || h == 0 || w == 0 {
        return Ok(None);
    }
    let units = w1.shape()[1].min(MAX_TILES);
    if units == 0 {
        return Ok(None);
    }
    let cols = units.min(TILE_COLUMNS);
    let rows = units.div_ceil(cols);
    let scale = (64 / h.max(w)).max(1);
    let (tw, th, gap, top, side) = (w * scale, h * scale, 4usize, 56usize, 20usize);
    let width = (side * 2 + cols * (tw + gap) - gap).max(760);
    let height = top + rows * (th + gap) - gap + side;
    let left = (width - (cols * (tw + gap) - gap)) / 2;
    let size = (width as u32, height as u32);
    let draw_err = |e: DrawingAreaErrorKind<_>| ReportError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let centered = (FONT, 20).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(title.to_string(), (width as i32 / 2, 10), centered))
        .map_err(draw_err)?;
    let plane = h * w;
    for u in 0..units {
        let col = w1.column(u);
        let (lo, hi) = min_max(col.iter().map(|&v| f64::from(v))).unwrap_or((0.0, 0.0));
        let level = |v: f32| -> u8 {
            let v = f64::from(v);
            if hi > lo && v.is_finite() {
                (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8
            } else {
                128
            }
        };
        let (ox, oy) = (left + (u % cols) * (tw + gap), top + (u / cols) * (th + gap));
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let color = if channels == 3 {
                    RGBColor(level(col[i]), level(col[plane + i]), level(col[2 * plane + i]))
                } else {
                    let g = level(col[i]);
                    RGBColor(g, g, g)
                };
                for dy in 0..scale {
                    for dx in 0..scale {
                        root.draw_pixel(((ox + x * scale + dx) as i32, (oy + y * scale + dy) as i32), &color)
                            .map_err(draw_err)?;
                    }
                }
            }
        }
    }
    root.present().map_err(draw_err)?;
    Ok(Some(size))
}

fn best_job_figures(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    let Some(id) = s.best_id.as_deref() else {
        page.notes
            .push("No job completed: there is no best job, so its loss, accuracy and weight figures are left out.".into());
        return Ok(());
    };
    let history = s.dir.join("history");

    // Fig. 2: loss per iteration.
    let loss_path = history.join(format!("{id}-loss.csv"));
    let loss: Vec<(f64, f64)> = read_history::<LossLine>(&loss_path)?
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.loss.is_finite())
        .map(|l| (l.iteration as f64, l.loss))
        .collect();
    if loss.is_empty() {
        page.notes.push(format!(
            "No loss history for the best job {id} ({} is missing or empty).",
            loss_path.display()
        ));
    } else {
        render(&Figure::Loss { id, points: loss }, out, "loss")?;
        page.add(
            format!("Training loss of the best job ({id})"),
            "Loss on each mini-batch during training (report Fig. 2); the dark line is a moving average.".into(),
            "loss",
            true,
            CHART_SIZE,
        );
    }

    // Figs. 3, 4, 9: accuracy per epoch.
    let epochs_path = history.join(format!("{id}.csv"));
    let epochs: Vec<(f64, f64, f64)> = read_history::<EpochLine>(&epochs_path)?
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.train_acc.is_finite() && e.val_acc.is_finite())
        .map(|e| (e.epoch as f64, 100.0 * e.train_acc, 100.0 * e.val_acc))
        .collect();
    if epochs.is_empty() {
        page.notes.push(format!(
            "No per-epoch history for the best job {id} ({} is missing or empty).",
            epochs_path.display()
        ));
    } else {
        let best_epoch = s.best_row().and_then(|r| r.best_epoch).or(s.best.as_ref().map(|b| b.best_epoch));
        render(&Figure::Accuracy { id, epochs, best_epoch }, out, "accuracy")?;
        page.add(
            format!("Accuracy per epoch of the best job ({id})"),
            "Training accuracy (on a sample of the training set) and validation accuracy after each epoch (report Figs. 3, 4 and 9)."
                .into(),
            "accuracy",
            true,
            CHART_SIZE,
        );
    }

    // Fig. 5: first-layer weights.
    let Some(best) = &s.best else {
        page.notes
            .push("best.json is missing, so the best model's weights are not drawn.".into());
        return Ok(());
    };
    let name = if best.checkpoint.is_empty() {
        BEST_CHECKPOINT
    } else {
        best.checkpoint.as_str()
    };
    let ck = s.dir.join(name);
    if !ck.is_file() {
        page.notes.push(format!(
            "The best checkpoint {} is missing, so the first-layer weights are not drawn.",
            ck.display()
        ));
        return Ok(());
    }
    let model = Model::load(&ck)?;
    let hidden = model.net.params.w1.shape()[1];
    let shown = hidden.min(MAX_TILES);
    let title = if shown < hidden {
        format!("First-layer weights of the best model: {shown} of {hidden} hidden units")
    } else {
        format!("First-layer weights of the best model: all {hidden} hidden units")
    };
    let png = out.join("weights.png");
    match draw_weights(&model, &png, &title)? {
        Some(size) => page.add(
            title,
            "Each tile is one hidden unit's column of W1 shown as an image, rescaled on its own to the full 0-255 range (report Fig. 5)."
                .into(),
            "weights",
            false,
            size,
        ),
        None => page.notes.push(format!(
            "The inputs have shape {:?}, not images, so the first-layer weights are not drawn as tiles.",
            model.meta.input_shape
        )),
    }
    Ok(())
}

fn axis_figures(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    if s.axes.is_empty() {
        page.notes
            .push("The grid has no axes (a single configuration), so there are no accuracy-against-parameter figures.".into());
        return Ok(());
    }
    if s.axes_inferred {
        page.notes
            .push("grid.toml is missing: the axes were inferred from the parameters that vary in results.csv.".into());
    }
    if !s.rows.iter().any(|r| matches!(outcome(r), Outcome::Acc(_))) {
        page.notes
            .push("No job reached a validation accuracy, so accuracy is not plotted against the grid axes.".into());
        return Ok(());
    }
    let plotted: Vec<AxisPlot> = s
        .axes
        .iter()
        .filter_map(|axis| {
            let p = AxisPlot::build(&s.rows, axis, false);
            if p.is_none() {
                let v = distinct(s.rows.iter().filter_map(|r| param_of(r, &axis.name)));
                page.notes.push(format!(
                    "The axis {} takes a single value ({}) among the jobs: nothing to plot against it.",
                    axis.name,
                    v.first().map_or("none".into(), |x| fmt_num(*x))
                ));
            }
            p
        })
        .collect();
    let only = plotted.len() == 1;
    for mut p in plotted {
        p.only_axis = only;
        let stem = format!("val_acc_vs_{}", p.name);
        let label = param_label(&p.name).to_string();
        let log = if p.log { " on a log axis" } else { "" };
        let unfinished = if p.diverged.is_empty() && p.failed.is_empty() {
            String::new()
        } else {
            " Jobs without an accuracy (diverged: red crosses; failed: purple) sit in the top band, not at 0 %.".into()
        };
        let what = if only {
            "best validation accuracy of each job"
        } else {
            "each job's best validation accuracy (grey) and the best over the other axes (blue)"
        };
        render(&Figure::Axis(p), out, &stem)?;
        page.add(
            format!("Best validation accuracy vs {label}"),
            format!("For each value of {label}{log}: {what} (report Figs. 6-8).{unfinished}"),
            &stem,
            true,
            CHART_SIZE,
        );
    }
    let is_axis = |n: &str| s.axes.iter().any(|a| a.name == n);
    if is_axis("learning_rate") && is_axis("reg") {
        match Heatmap::build(&s.rows) {
            Some(m) => {
                render(&Figure::Heatmap(m), out, "heatmap_lr_reg")?;
                page.add(
                    "Best validation accuracy: learning rate x regularization".into(),
                    "Each cell is the best validation accuracy (%) over the other axes; cells where every job diverged say so.".into(),
                    "heatmap_lr_reg",
                    true,
                    CHART_SIZE,
                );
            }
            None => page
                .notes
                .push("Learning rate and reg take a single value each among the jobs: no heatmap.".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn thin_keeps_ends() {
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        let t = thin(&v, 10);
        assert!(t.len() <= 11 && t[0] == 0.0 && *t.last().unwrap() == 29.0);
        assert_eq!(thin(&v[..3], 10), vec![0.0, 1.0, 2.0]);
    }
}
