//! `sweep report`: draws a results directory's figures (loss, accuracy, first-layer weights, accuracy against every
//! grid axis) as PNG and SVG into `DIR/report/` and ties them together in an `index.html` that works opened from disk.
//!
//! People judge the network by looking at these figures (the report's Figs. 2-9), so every sweep can produce them.
//! Edge cases give a sensible page rather than an empty figure: a sweep without axes skips the axis figures and says
//! so, diverged jobs are drawn as red crosses in a band of their own (never as 0 %), and a sweep where no job
//! completed says that there is no best model.
//!
//! One concern per file, as in hyperfine's `src/export/`: `load.rs` reads the results directory, `page.rs` writes the
//! HTML (its style sheet is `assets/report.css`), `charts/` holds one file per figure, `style.rs` the look they share
//! and `scale.rs` the axis arithmetic. A multi-objective sweep's front and hypervolume come from `pareto.rs` (for the
//! report and the dashboard alike); `pareto_page.rs` draws them and lists the front for either page. This file only
//! decides which figures and notes the page gets.

mod charts;
mod command_page;
mod dashboard;
pub mod error;
pub mod importance;
pub mod live;
pub mod load;
mod page;
pub mod pareto;
mod pareto_page;
mod scale;
mod style;

use std::fs;
use std::path::{Path, PathBuf};

use sweep_core::checkpoint::write_atomic;

use charts::{AccuracyChart, AxisPlot, Curve, Heatmap, ImportanceChart, LossChart, RungCurves, WeightTiles};
use load::{distinct, outcome, param_of, History, Outcome, Sweep};
use page::Page;
use scale::fmt_num;
use style::Chart;

/// The report's folder inside a results directory.
pub const REPORT_DIR: &str = "report";
/// The page that ties the figures together.
pub use crate::error::ReportError;
use sweep_results::error::ResultsError;
use sweep_results::format::JobStatus;

pub const INDEX_HTML: &str = "index.html";
/// The interactive views: the dashboard of `sweep serve` with this sweep's data embedded.
pub use dashboard::DASHBOARD_HTML;
/// At most this many hidden units are drawn as weight tiles.
pub const MAX_TILES: usize = 256;

/// Writes `DIR/report/` (PNG and SVG figures and `index.html`) from the results directory `dir`; returns the path of
/// `index.html`.
pub fn write_report(dir: &Path) -> Result<PathBuf, ReportError> {
    style::register_font()?;
    if command_page::is_command(dir) {
        // A command sweep's metrics are its program's own: its page is built around the objective.
        return command_page::write(dir);
    }
    let sweep = Sweep::load(dir)?;
    let out = dir.join(REPORT_DIR);
    fs::create_dir_all(&out).map_err(|source| ReportError::Write { path: out.clone(), source })?;
    remove_old_figures(&out)?;

    let mut page = Page::default();
    pareto_figures(&sweep, &out, &mut page)?;
    best_job_figures(&sweep, &out, &mut page)?;
    rung_figure(&sweep, &out, &mut page)?;
    axis_figures(&sweep, &out, &mut page)?;
    importance_figure(&sweep, &out, &mut page)?;

    dashboard::write_dashboard(dir, &sweep.name, &out)?;
    let index = out.join(INDEX_HTML);
    let html = page.html(&sweep);
    write_atomic(&index, html.as_bytes()).map_err(|source| ReportError::Write {
        path: index.clone(),
        source,
    })?;
    Ok(index)
}

/// Figures of an earlier report would linger beside the new ones: remove the files this module writes.
fn remove_old_figures(out: &Path) -> Result<(), ReportError> {
    let entries = fs::read_dir(out).map_err(|source| ResultsError::Read {
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

/// A multi-objective sweep's front and hypervolume figures, and the section listing the front; nothing for one
/// objective.
fn pareto_figures(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    let Some(p) = &s.pareto else { return Ok(()) };
    for d in pareto_page::figures(p, out)? {
        page.add(d.title, d.caption, d.stem, true, d.size);
    }
    page.front(pareto_page::front_section(p));
    Ok(())
}

/// The best job's loss, accuracy and weight figures (Figs. 2-5 and 9), or notes saying why they are missing.
fn best_job_figures(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    let Some(id) = s.best_id.as_deref() else {
        page.note("No job completed: there is no best job, so its loss, accuracy and weight figures are left out.");
        return Ok(());
    };
    // Fig. 2: loss per iteration.
    if let Some(points) = points_or_note(page, "loss history", id, s.loss_history(id)?) {
        let title = format!("Training loss of the best job ({id})");
        let caption = "Loss on each mini-batch during training (report Fig. 2); the dark line is a moving average.";
        show(page, out, "loss", &LossChart { id, points }, title, caption.into())?;
    }
    // Figs. 3, 4, 9: accuracy per epoch.
    if let Some(epochs) = points_or_note(page, "per-epoch history", id, s.epoch_history(id)?) {
        let chart = AccuracyChart {
            id,
            epochs,
            best_epoch: s.best_epoch(),
        };
        let title = format!("Accuracy per epoch of the best job ({id})");
        let caption =
            "Training accuracy (on a sample of the training set) and validation accuracy after each epoch (report Figs. 3, 4 and 9).";
        show(page, out, "accuracy", &chart, title, caption.into())?;
    }
    weights_figure(s, out, page)
}

/// The points of a history of the best job `id`, or None after noting that its file is missing or empty.
fn points_or_note<P>(page: &mut Page, what: &str, id: &str, history: History<P>) -> Option<Vec<P>> {
    if history.points.is_empty() {
        page.note(format!(
            "No {what} for the best job {id} ({} is missing or empty).",
            history.path.display()
        ));
        return None;
    }
    Some(history.points)
}

/// Draws `chart` into `<stem>.png` and `<stem>.svg` and shows it on the page.
fn show(page: &mut Page, out: &Path, stem: &str, chart: &impl Chart, title: String, caption: String) -> Result<(), ReportError> {
    style::render(chart, out, stem)?;
    page.add(title, caption, stem, true, style::CHART_SIZE);
    Ok(())
}

/// Fig. 5: first-layer weights of the best model.
fn weights_figure(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    let Some(best) = &s.best else {
        page.note("best.json is missing, so the best model's weights are not drawn.");
        return Ok(());
    };
    let ck = s.checkpoint_path(best);
    if !ck.is_file() {
        page.note(format!(
            "The best checkpoint {} is missing, so the first-layer weights are not drawn.",
            ck.display()
        ));
        return Ok(());
    }
    let model = sweep_core::Model::load(&ck)?;
    let hidden = model.net.params.w1.shape()[1];
    let shown = hidden.min(MAX_TILES);
    let title = if shown < hidden {
        format!("First-layer weights of the best model: {shown} of {hidden} hidden units")
    } else {
        format!("First-layer weights of the best model: all {hidden} hidden units")
    };
    let Some(tiles) = WeightTiles::new(&model, &title) else {
        page.note(format!(
            "The inputs have shape {:?}, not images, so the first-layer weights are not drawn as tiles.",
            model.meta.input_shape
        ));
        return Ok(());
    };
    let size = tiles.size();
    style::render_png(&tiles, &out.join("weights.png"), size)?;
    page.add(
        title.clone(),
        "Each tile is one hidden unit's column of W1 shown as an image, rescaled on its own to the full 0-255 range (report Fig. 5)."
            .into(),
        "weights",
        false,
        size,
    );
    Ok(())
}

/// Successive halving and Hyperband: every job's validation accuracy per epoch, with the rung epochs marked. Plain
/// sweeps have no rungs and no such figure.
fn rung_figure(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    let Some(rungs) = &s.rungs else {
        if s.rows.iter().any(|r| r.rung.is_some()) {
            page.note("grid.toml is missing, so the rungs of this halving or Hyperband sweep are not known: no rung figure or table.");
        }
        return Ok(());
    };
    let mut chart = RungCurves {
        pruned: vec![],
        finished: vec![],
        diverged: vec![],
        best: None,
        rung_epochs: rungs.epochs(),
    };
    let (mut missing, mut no_epoch) = (0, 0);
    for r in &s.rows {
        let curve: Curve = s.epoch_history(&r.id)?.points.into_iter().map(|(e, _, val)| (e, val)).collect();
        if curve.is_empty() {
            // A job that diverged or failed in its first epoch has no point to draw.
            if r.epochs_run == 0.0 {
                no_epoch += 1;
            } else {
                missing += 1;
            }
            continue;
        }
        if s.best_id.as_deref() == Some(r.id.as_str()) {
            chart.best = Some((r.id.as_str(), curve));
            continue;
        }
        match r.status {
            JobStatus::Completed => chart.finished.push(curve),
            JobStatus::Pruned | JobStatus::Stopped => chart.pruned.push(curve),
            JobStatus::Diverged | JobStatus::Failed => chart.diverged.push(curve),
        }
    }
    if missing + no_epoch == s.rows.len() {
        page.note("No job has a per-epoch history, so validation accuracy is not drawn rung by rung.");
        return Ok(());
    }
    if missing > 0 {
        page.note(format!(
            "{missing} jobs have no per-epoch history and are left out of the rung figure."
        ));
    }
    let epochs: Vec<String> = chart.rung_epochs.iter().map(|e| e.to_string()).collect();
    let unfinished = if no_epoch > 0 {
        format!(" {no_epoch} jobs diverged or failed before their first epoch ended and have no curve.")
    } else {
        String::new()
    };
    let caption = format!(
        "Validation accuracy after each epoch of every job. Green lines mark the ends of the rungs (epochs {}), where the best 1/{} of a rung's jobs go on; \
         pruned jobs (grey, a dot where they stopped) are drawn faintly, jobs that finished their last rung in blue, the best job in orange.{unfinished}",
        epochs.join(", "),
        rungs.schedule().eta
    );
    show(
        page,
        out,
        "rungs",
        &chart,
        "Validation accuracy per epoch, rung by rung".into(),
        caption,
    )
}

/// Hyperparameter importance (fANOVA) over two or more axes; with a single axis it would be 100 % by construction.
fn importance_figure(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    if s.axes.len() < 2 {
        return Ok(());
    }
    let seed = s.plan.as_ref().map_or(0, |p| p.seed);
    match importance::importance(&s.axes, &s.rows, crate::live::trial::row_objective, seed) {
        Some(imp) => {
            let sampled = if imp.trials < imp.of {
                format!(" (a sample of {} of the {} completed jobs)", imp.trials, imp.of)
            } else {
                String::new()
            };
            let caption = format!(
                "fANOVA (Hutter et al., 2014): a random forest fitted to the completed jobs{sampled}; each axis's share of the \
                 variance of the best validation accuracy that the axis explains alone. `sweep serve` shows the same numbers."
            );
            show(
                page,
                out,
                "importance",
                &ImportanceChart { importances: &imp },
                "Hyperparameter importance".into(),
                caption,
            )
        }
        None => {
            page.note(format!(
                "Hyperparameter importance needs at least {} completed jobs whose validation accuracy varies.",
                importance::MIN_TRIALS
            ));
            Ok(())
        }
    }
}

/// Figs. 6-8: best validation accuracy against every grid axis, and the learning rate x reg heatmap.
fn axis_figures(s: &Sweep, out: &Path, page: &mut Page) -> Result<(), ReportError> {
    if s.axes.is_empty() {
        page.note("The grid has no axes (a single configuration), so there are no accuracy-against-parameter figures.");
        return Ok(());
    }
    if s.axes_inferred {
        page.note("grid.toml is missing: the axes were inferred from the parameters that vary in results.csv.");
    }
    if !s.rows.iter().any(|r| matches!(outcome(r), Outcome::Acc(_))) {
        page.note("No job reached a validation accuracy, so accuracy is not plotted against the grid axes.");
        return Ok(());
    }
    let plotted: Vec<AxisPlot> = s
        .axes
        .iter()
        .filter_map(|axis| {
            if axis.values.iter().any(|v| v.as_f64().is_none()) {
                let names: Vec<String> = axis.values.iter().map(|v| v.to_string()).collect();
                page.note(format!(
                    "The axis {} takes names ({}), not numbers: compare them in the job tables.",
                    axis.name(),
                    names.join(", ")
                ));
                return None;
            }
            let p = AxisPlot::build(&s.rows, axis, false);
            if p.is_none() {
                let v = distinct(s.rows.iter().filter_map(|r| param_of(r, axis.param)));
                page.note(format!(
                    "The axis {} takes a single value ({}) among the jobs: nothing to plot against it.",
                    axis.name(),
                    v.first().map_or("none".into(), |x| fmt_num(*x))
                ));
            }
            p
        })
        .collect();
    let only = plotted.len() == 1;
    for mut p in plotted {
        p.only_axis = only;
        let stem = format!("val_acc_vs_{}", p.param.name);
        let label = p.param.label.to_string();
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
        let title = format!("Best validation accuracy vs {label}");
        let caption = format!("For each value of {label}{log}: {what} (report Figs. 6-8).{unfinished}");
        show(page, out, &stem, &p, title, caption)?;
    }
    let is_axis = |n: &str| s.axes.iter().any(|a| a.name() == n);
    if is_axis("learning_rate") && is_axis("reg") {
        match Heatmap::build(&s.rows) {
            Some(m) => show(
                page,
                out,
                "heatmap_lr_reg",
                &m,
                "Best validation accuracy: learning rate x regularization".into(),
                "Each cell is the best validation accuracy (%) over the other axes; cells where every job diverged say so.".into(),
            )?,
            None => page.note("Learning rate and reg take a single value each among the jobs: no heatmap."),
        }
    }
    Ok(())
}
