//! The report's `index.html`: summary, best configuration, the figures with their captions, notes on what is missing,
//! and the job tables. The style sheet is `assets/report.css`, inlined so that the page works opened from disk.

use std::fmt::Write as _;

use super::load::{outcome, Outcome, RungStat, Sweep};
use super::scale::fmt_num;
use sweep_params::params::{full, params, Param, Show, Value};
use sweep_results::best::status_text;
use sweep_results::format::{JobStatus, Row};

/// Rows of the top table.
const TOP_K: usize = 10;
const CSS: &str = include_str!("../assets/report.css");

/// One figure on the page.
struct Shown {
    title: String,
    caption: String,
    png: String,
    svg: Option<String>,
    size: (u32, u32),
}

/// The figures and notes of the page, in the order they were added.
#[derive(Default)]
pub(super) struct Page {
    figures: Vec<Shown>,
    /// Why a figure is missing, in plain text.
    notes: Vec<String>,
    /// A multi-objective sweep's section listing its front (HTML), shown after the best configuration.
    front: Option<String>,
}

/// A results table's row up to its values: `<tr>` coloured by status, the rank (when ranked) and the id.
pub(super) fn row_start(h: &mut String, r: &Row, rank: Option<usize>) {
    let class = match r.status {
        JobStatus::Completed => "ok",
        JobStatus::Diverged => "diverged",
        _ => "other",
    };
    let _ = write!(h, "<tr class=\"{class}\">");
    if let Some(rank) = rank {
        let _ = write!(h, "<td>{rank}</td>");
    }
    let _ = write!(h, "<td><code>{}</code></td>", esc(&r.id));
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An accuracy (0-1) in percent with two decimals and a thin space, or a dash: the page's own typography.
fn pct(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{:.2} %", 100.0 * v))
}

impl Page {
    /// Shows the figure `<stem>.png` (and `<stem>.svg` when `svg`), drawn at `size`.
    pub(super) fn add(&mut self, title: String, caption: String, stem: &str, svg: bool, size: (u32, u32)) {
        let svg = svg.then(|| format!("{stem}.svg"));
        self.figures.push(Shown {
            title,
            caption,
            png: format!("{stem}.png"),
            svg,
            size,
        });
    }

    /// Says why a figure is missing.
    pub(super) fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Shows a multi-objective sweep's front (the HTML of its section) after the best configuration.
    pub(super) fn front(&mut self, html: String) {
        self.front = Some(html);
    }

    pub(super) fn html(&self, s: &Sweep) -> String {
        let mut h = String::new();
        let name = esc(&s.name);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Sweep report: {name}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
             <h1>Sweep report: {name}</h1>\n"
        );
        summary(&mut h, s);
        h.push_str(
            "<p class=\"interactive\">Interactive views (optimization history, parallel coordinates, intermediate values, slices, \
             importance, a sortable trial table): <a href=\"dashboard.html\">dashboard.html</a>, the page of <code>sweep serve</code> \
             with this report's data.</p>\n",
        );
        h.push_str("<h2>Best configuration</h2>\n");
        match s.best_row() {
            Some(r) => best_table(&mut h, r, s.best.as_ref().and_then(|b| b.test_acc)),
            None => h.push_str(
                "<p class=\"none\">No job completed, so there is no best model: the loss, accuracy and weight figures \
                 are left out. See the jobs that did not finish below.</p>\n",
            ),
        }
        if let Some(front) = &self.front {
            h.push_str(front);
        }
        self.figures_html(&mut h);
        if let Some(rungs) = &s.rungs {
            rung_table(&mut h, &rungs.table(&s.rows), rungs.schedule().brackets.len() > 1);
        }
        let _ = writeln!(h, "<h2>Top {TOP_K} jobs</h2>");
        h.push_str(&jobs_table(s.rows.iter().take(TOP_K), &s.rows, true));
        let unfinished: Vec<&Row> = s.rows.iter().filter(|r| !matches!(outcome(r), Outcome::Acc(_))).collect();
        if !unfinished.is_empty() {
            h.push_str("<h2>Jobs that did not finish</h2>\n<p>Diverged jobs have no accuracy worth plotting; the figures draw them as red crosses in a band above the accuracies, never as 0 %.</p>\n");
            h.push_str(&jobs_table(unfinished.into_iter(), &s.rows, false));
        }
        h.push_str("<footer>Written by <code>sweep report</code>. Every file is local: this page works opened straight from disk.</footer>\n</body>\n</html>\n");
        h
    }

    /// The figures with their captions, then the notes.
    fn figures_html(&self, h: &mut String) {
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
    }
}

/// How many jobs ended how, and where the results are.
fn summary(h: &mut String, s: &Sweep) {
    let (done, div, failed) = (
        s.count(JobStatus::Completed),
        s.count(JobStatus::Diverged),
        s.count(JobStatus::Failed),
    );
    let pruned = s.count(JobStatus::Pruned);
    let other = s.rows.len() - done - div - failed - pruned;
    let _ = writeln!(
        h,
        "<p class=\"summary\">{} jobs: {done} completed, {div} diverged, {failed} failed{}{}. From <code>{}</code>.</p>",
        s.rows.len(),
        if pruned > 0 {
            format!(", {pruned} pruned by the search")
        } else {
            String::new()
        },
        if other > 0 {
            format!(", {other} stopped early")
        } else {
            String::new()
        },
        esc(&s.dir.display().to_string())
    );
}

/// The rungs of a halving or Hyperband sweep: per bracket (shown when there are several) and rung, the epochs, the
/// jobs planned and run, how many ended there and how, and the best validation accuracy reached.
fn rung_table(h: &mut String, stats: &[RungStat], brackets: bool) {
    h.push_str(
        "<h2>Rungs</h2>\n<p>Each rung trains its jobs to the given epoch; the best of them by validation accuracy go on to \
         the next rung, the others are pruned there. <i>Ran</i> counts the jobs with a record of the rung.</p>\n\
         <table class=\"rungs\">\n<tr>",
    );
    if brackets {
        h.push_str("<th>bracket</th>");
    }
    h.push_str(
        "<th>rung</th><th>epochs</th><th>planned</th><th>ran</th><th>pruned</th><th>diverged</th><th>failed</th>\
         <th>best val. acc.</th></tr>\n",
    );
    for r in stats {
        h.push_str("<tr>");
        if brackets {
            let _ = write!(h, "<td>{}</td>", r.bracket + 1);
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.rung + 1,
            r.epochs,
            r.planned,
            r.ran,
            r.pruned,
            r.diverged,
            r.failed,
            pct(r.best_val_acc)
        );
    }
    h.push_str("</table>\n");
}

/// The best job's parameters and accuracies; `test` is the best model's test accuracy once measured.
fn best_table(h: &mut String, r: &Row, test: Option<f64>) {
    let _ = writeln!(
        h,
        "<table class=\"best\">\n<tr><th>job</th><td><code>{}</code></td></tr>",
        esc(&r.id)
    );
    // The whole configuration: what is always part of a job's id, and anything else not at its default.
    for p in full(&r.config) {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(p.label), value_cell(p, r));
    }
    let _ = writeln!(
        h,
        "<tr><th>best epoch</th><td>{}</td></tr>\n\
         <tr><th>validation accuracy</th><td><b>{}</b></td></tr>\n<tr><th>test accuracy</th><td><b>{}</b>{}</td></tr>\n</table>",
        r.best_epoch.map_or("–".into(), |e| e.to_string()),
        pct(r.best_val_acc),
        pct(test),
        if test.is_none() {
            " (not measured yet: it is filled in when the sweep ends)"
        } else {
            ""
        }
    );
}

/// A parameter's value as the page shows it: numbers as on the axes, names as they are.
fn value_cell(p: &Param, r: &Row) -> String {
    match p.get(&r.config) {
        Value::Num(x) => fmt_num(x),
        Value::Name(n) => esc(n),
    }
}

/// A table of jobs, numbered when `ranked`: the parameters jobs are described by, and any that vary among `all`.
fn jobs_table<'a>(rows: impl Iterator<Item = &'a Row>, all: &[Row], ranked: bool) -> String {
    let varies = |p: &Param| all.iter().any(|r| p.get(&r.config) != p.get(&all[0].config));
    let shown: Vec<&Param> = params().iter().filter(|p| p.shown(Show::Description) || varies(p)).collect();
    let mut h = String::from("<table class=\"jobs\">\n<tr>");
    if ranked {
        h.push_str("<th>rank</th>");
    }
    h.push_str("<th>job</th>");
    for p in &shown {
        let _ = write!(h, "<th>{}</th>", esc(p.short));
    }
    h.push_str("<th>status</th><th>epochs run</th><th>val. acc.</th><th>train acc.</th><th>seconds</th></tr>\n");
    for (i, r) in rows.enumerate() {
        row_start(&mut h, r, ranked.then_some(i + 1));
        for p in &shown {
            let _ = write!(h, "<td>{}</td>", value_cell(p, r));
        }
        let val = match outcome(r) {
            Outcome::Diverged => "diverged".to_string(),
            _ => pct(r.best_val_acc),
        };
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            status_text(r),
            r.epochs_run,
            val,
            pct(r.train_acc),
            r.seconds
        );
    }
    h.push_str("</table>\n");
    h
}
