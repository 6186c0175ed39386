//! `report/dashboard.html`: the dashboard of `sweep serve` as a file that opens from disk, with the API's answers
//! for this sweep embedded (a `<script type="application/json">` the page reads instead of asking a server) and the
//! page's scripts, style sheet and chart library copied to `report/assets/`. The answers are computed by the server's
//! own code from the same files, so the report and the live page draw the same things from the same data.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Map, Value};
use sweep_core::checkpoint::write_atomic;

use super::ReportError;
use crate::live::assets::{asset, ASSETS};
use crate::live::body::{curves_body, trial_body, trials_body};
use crate::live::discover::{url_name, Found};
use crate::live::LiveSweep;

/// The dashboard's file in the report folder.
pub const DASHBOARD_HTML: &str = "dashboard.html";
/// Trial pages embedded (the best trials by the objective); the others are only in `sweep serve`.
pub const TRIAL_PAGES: usize = 20;

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Writes `out/dashboard.html` and `out/assets/` for the results directory `dir` named `name`; returns the page.
pub(crate) fn write_dashboard(dir: &Path, name: &str, out: &Path) -> Result<PathBuf, ReportError> {
    let canonical = dir.canonicalize().map_err(|source| sweep_results::error::ResultsError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = url_name(name);
    let found = Found {
        dir: canonical,
        rel: dir.display().to_string(),
    };
    let view = LiveSweep::new(key.clone(), found).refresh(SystemTime::now());
    let base = format!("/api/sweeps/{key}");
    let mut data = Map::new();
    data.insert("start".into(), json!(key));
    data.insert("/api/sweeps".into(), json!([value(view.summary())]));
    data.insert(base.clone(), value(&view.detail));
    data.insert(format!("{base}/trials"), value(&trials_body(&view, 0)));
    data.insert(format!("{base}/curves"), value(&curves_body(&view, 0)));
    let mut ranked: Vec<usize> = (0..view.trials.len()).filter(|&k| view.trials[k].1.objective.is_some()).collect();
    ranked.sort_by(|&a, &b| {
        let (x, y) = (view.trials[a].1.objective, view.trials[b].1.objective);
        y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal)
    });
    for k in ranked.into_iter().take(TRIAL_PAGES) {
        data.insert(format!("{base}/trials/{}", view.trials[k].1.id), value(&trial_body(&view, k)));
    }
    // Inside a script element "</script>" would end it: JSON never needs a raw '<'.
    let embedded = Value::Object(data).to_string().replace('<', "\\u003c");
    let page = asset("index.html")
        .map(|a| String::from_utf8_lossy(a.bytes).into_owned())
        .unwrap_or_default();
    let page = page
        .replace(
            "<!--SWEEP_STATIC-->",
            &format!("<script id=\"sweep-data\" type=\"application/json\">{embedded}</script>"),
        )
        .replace(
            "Served by <code>sweep serve</code>, read-only.",
            "Written by <code>sweep report</code>: a snapshot of what <code>sweep serve</code> shows live.",
        )
        .replace("<title>sweep</title>", &format!("<title>sweep: {}</title>", html_escape(name)));
    let path = out.join(DASHBOARD_HTML);
    write_atomic(&path, page.as_bytes()).map_err(werr(&path))?;
    let assets = out.join("assets");
    std::fs::create_dir_all(&assets).map_err(werr(&assets))?;
    for a in ASSETS.iter().filter(|a| a.name != "index.html") {
        let p = assets.join(a.name);
        write_atomic(&p, a.bytes).map_err(werr(&p))?;
    }
    Ok(path)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
