//! What a multi-objective sweep (issue 35) shows, through the real `sweep` binary and a real program with a known
//! front (`examples/objectives/synthetic.py`, ZDT1): `sweep report` draws the front and the hypervolume (against
//! trials and epochs) and lists the front as `best.json` does, and `sweep serve` answers the same front and a
//! hypervolume series with one point per trial that takes part, never falling.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sweep_results::format::{JobStatus, Row};

use crate::common::{read_results, write};
use crate::objectives::{grid, run};

/// ZDT1 with both objectives minimized and the default search, 150 epochs of budget.
fn zdt_grid() -> String {
    grid(
        "zdt",
        "f1 = \"min\", f2 = \"min\"",
        "problem = \"zdt1\"\nepochs = 9",
        "budget = 150",
    )
}

/// The rows that take part in the front, by the brute-force rule: completed or pruned, with both objectives finite.
fn taking_part(rows: &[Row]) -> Vec<&Row> {
    rows.iter()
        .filter(|r| matches!(r.status, JobStatus::Completed | JobStatus::Pruned))
        .filter(|r| {
            let t = r.trial.as_ref().unwrap();
            t.best.is_some_and(f64::is_finite) && t.metrics.get("f2").is_some_and(|v| v.is_finite())
        })
        .collect()
}

/// The ids of best.json's front, in its order.
fn best_front(out: &Path) -> Vec<String> {
    let best: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    best["front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The trial ids the report's front table lists, in order.
fn listed_front(html: &str) -> Vec<String> {
    let section = html
        .split("<h2>Pareto front</h2>")
        .nth(1)
        .unwrap_or_else(|| panic!("no front section:\n{html}"));
    let table = section.split("</table>").next().unwrap();
    table
        .split("<tr><td><code>")
        .skip(1)
        .map(|r| r.split("</code>").next().unwrap().to_string())
        .collect()
}

/// A `sweep serve` child process on a free port, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(root: &Path) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("sweep"))
            .arg("serve")
            .arg(root)
            .args(["--port", "0"])
            .env_remove("SWEEP_SERVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sweep serve starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // The first line is the address; the rest is read to the end (a closed pipe would kill the server).
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let url = line
            .trim()
            .strip_prefix("sweep serve: ")
            .unwrap_or_else(|| panic!("sweep serve printed {line:?}"));
        let port = url.trim_end_matches('/').rsplit(':').next().unwrap().to_string();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// GET `path`, which must answer 200 with JSON.
    fn json(&self, path: &str) -> Value {
        let resp = ureq::get(&format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        serde_json::from_str(&resp.into_string().unwrap()).unwrap()
    }

    /// Polls `path` until `done` holds (at most `limit`).
    fn wait_for(&self, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let v = self.json(path);
            if done(&v) {
                return v;
            }
            assert!(start.elapsed() < limit, "GET {path} never got there; last: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_report_and_the_server_show_the_front_best_json_lists_and_a_hypervolume_per_trial_that_takes_part() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "zdt.toml", &zdt_grid());
    run(dir, &["run", "zdt.toml", "--out", "zdt", "--workers", "2"]);
    let out = dir.join("zdt");
    let rows = read_results(&out);
    let taking = taking_part(&rows);
    let front = best_front(&out);
    assert!(front.len() >= 3, "a front of {} trials: {front:?}", front.len());

    // The report: the three figures, in PNG and SVG, on the page, and the front listed as best.json lists it.
    run(dir, &["report", "zdt"]);
    let report = out.join("report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for stem in ["front", "hypervolume", "hypervolume_epochs"] {
        let svg = report.join(format!("{stem}.svg"));
        assert!(
            std::fs::metadata(&svg).is_ok_and(|m| m.len() > 1000),
            "{} is missing or empty",
            svg.display()
        );
        // The PNG decodes at the size the page gives it, and is not blank.
        let png = image::open(report.join(format!("{stem}.png"))).unwrap().to_rgb8();
        let size = format!("<img src=\"{stem}.png\" alt=\"");
        let tag = html.split(&size).nth(1).unwrap_or_else(|| panic!("index.html shows no {stem}.png"));
        assert!(
            tag.contains(&format!("width=\"{}\" height=\"{}\"", png.width(), png.height())),
            "{stem}.png is {}x{}: {tag:.200}",
            png.width(),
            png.height()
        );
        let ink = png.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count();
        assert!(ink * 100 > (png.width() * png.height()) as usize, "{stem}.png is nearly blank");
    }
    for needle in [
        "Pareto front of f1 (min), f2 (min)",
        "The reference point is each objective's worst value",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }
    assert_eq!(listed_front(&html), front, "the report's front is best.json's, in its order");
    // The front figure names both objectives with their directions.
    let svg = std::fs::read_to_string(report.join("front.svg")).unwrap();
    assert!(svg.contains("f1 (min)") && svg.contains("f2 (min)"));

    // The server: the same front, and one hypervolume point per trial that takes part, in order, never falling.
    let server = Server::start(dir);
    let d = server.wait_for("/api/sweeps/zdt", Duration::from_secs(30), |v| v["front"].is_object());
    let members: Vec<String> = d["front"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(members, front, "the served front is best.json's");
    let objectives: Vec<&str> = d["front"]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metric"].as_str().unwrap())
        .collect();
    assert_eq!(objectives, ["f1", "f2"]);
    let points = d["front"]["points"].as_array().unwrap();
    assert_eq!(points.len(), taking.len(), "every trial that takes part is a point");
    let on_front: Vec<&str> = points
        .iter()
        .filter(|p| p["rank"] == 0)
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(on_front.len(), front.len());
    assert!(on_front.iter().all(|id| front.iter().any(|f| f == id)), "{on_front:?}");
    let hv = d["hypervolume"]["points"].as_array().unwrap();
    assert_eq!(hv.len(), taking.len(), "one hypervolume point per trial that takes part");
    let ids: Vec<&str> = hv.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = taking.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want, "in the order results.csv recorded them");
    let volumes: Vec<f64> = hv.iter().map(|p| p["hypervolume"].as_f64().unwrap()).collect();
    assert!(volumes[0] > 0.0 && volumes.windows(2).all(|w| w[1] >= w[0]), "{volumes:?}");
    let epochs: Vec<f64> = hv.iter().map(|p| p["epochs"].as_f64().unwrap()).collect();
    assert!(epochs.windows(2).all(|w| w[1] > w[0]), "{epochs:?}");
    let spent: f64 = rows.iter().map(|r| r.epochs_run).sum();
    assert!(*epochs.last().unwrap() <= spent + 1e-9, "{epochs:?} vs {spent}");
    assert_eq!(d["hypervolume"]["reference"].as_array().unwrap().len(), 2);

    // The dashboard draws both views from it, without a console error.
    if let Some((dom, errors)) = dashboard_in_chromium(&format!("{}/#/s/zdt", server.base)) {
        assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
        for needle in [
            "id=\"view-front\"".to_string(),
            "id=\"view-hypervolume\"".to_string(),
            format!(
                "{} trials take part (completed or pruned, with every objective); {} are on the front",
                taking.len(),
                front.len()
            ),
            format!("after each of the {} that take part", taking.len()),
        ] {
            assert!(dom.contains(&needle), "the dashboard lacks {needle:?}");
        }
    }
}

/// The DOM of `url` in headless Chromium after 10 s of the page's time, and its console errors; `None` (the test
/// skips this part) when Chromium is not installed, unless `SWEEP_REQUIRE_BROWSER` is set, as `.ci/run` sets it.
fn dashboard_in_chromium(url: &str) -> Option<(String, Vec<String>)> {
    const CHROMIUM: &str = "/usr/bin/chromium";
    if !Path::new(CHROMIUM).exists() {
        assert!(std::env::var_os("SWEEP_REQUIRE_BROWSER").is_none(), "{CHROMIUM} is required here");
        eprintln!("skipped: chromium is not installed");
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,2200",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let errors = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load resource"))
        .map(String::from)
        .collect();
    Some((String::from_utf8_lossy(&o.stdout).into_owned(), errors))
}
