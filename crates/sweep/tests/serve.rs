//! `sweep serve` as its users meet it: a real server (the binary, on 127.0.0.1 and a random port) answering a real
//! HTTP client. Every endpoint on a sweep the binary ran; the change cursor while rows and progress lines are
//! appended; bad requests, path traversal, symbolic links pointing out, a wrong or missing token when bound
//! elsewhere, requests that try to change files, garbage input; then the dashboard in headless Chromium (WebDriver,
//! Debian's chromium and chromium-driver): a CIFAR-10 subset sweep whose trials appear on the open page while it
//! runs, every view drawn, no console error; and the figures at 10,000 trials.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sweep::config::grid::Grid;
use sweep::results::format::{history_csv, JobStatus, Manifest, Row};
use sweep::results::progress::ProgressLog;
use sweep_core::train::EpochRecord;

mod common;

// ---------------------------------------------------------------------------------------------------------------
// A server and a client

/// A `sweep serve` child process, killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    port: u16,
    /// The token in the printed address, if any.
    token: Option<String>,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Server {
    fn start(dirs: &[&Path], extra: &[&str]) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let stderr = logs.path().join("stderr");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("sweep"))
            .arg("serve")
            .args(dirs)
            .args(["--port", "0"])
            .args(extra)
            .env_remove("SWEEP_SERVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
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
        let url = line.trim().strip_prefix("sweep serve: ").unwrap_or_else(|| {
            panic!(
                "sweep serve printed {line:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        let (addr, token) = match url.split_once("/?token=") {
            Some((a, t)) => (a.to_string(), Some(t.to_string())),
            None => (url.trim_end_matches('/').to_string(), None),
        };
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            token,
            stderr,
            _logs: logs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with a real HTTP client: (status, body, headers).
    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, BTreeMap<String, String>) {
        let mut req = ureq::get(&self.url(path)).timeout(Duration::from_secs(30));
        if let Some(t) = &self.token {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}; the server's stderr:\n{}", self.stderr()),
        };
        let status = resp.status();
        let hdrs = resp
            .headers_names()
            .into_iter()
            .map(|h| (h.to_ascii_lowercase(), resp.header(&h).unwrap_or_default().to_string()))
            .collect();
        (status, resp.into_string().unwrap_or_default(), hdrs)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let (s, b, _) = self.get_with(path, &[]);
        (s, b)
    }

    /// GET that must succeed with JSON.
    fn json(&self, path: &str) -> Value {
        let (status, body, h) = self.get_with(path, &[]);
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(h["content-type"].starts_with("application/json"), "{path}: {h:?}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
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

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request written byte for byte (no client normalises its path): (status, body).
fn raw(port: u16, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

fn raw_get(port: u16, target: &str) -> (u16, String) {
    raw(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// The error message of a JSON error body.
fn error_of(status: u16, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("status {status}: not a JSON error: {body:?}"));
    v["error"].as_str().unwrap_or_else(|| panic!("no \"error\" in {body}")).to_string()
}

// ---------------------------------------------------------------------------------------------------------------
// Results directories written through the library

/// A sweep written the way the runner writes it: grid copy, sweep.json, rows in a writer's file merged into
/// results.csv, history files, progress lines.
struct Fixture {
    dir: PathBuf,
    grid: Grid,
    rows: Vec<Row>,
}

const FIXTURE_GRID: &str = "name = \"fix\"\nseed = 5\n[data]\nsource = \"toy\"\n[train]\nepochs = 4\nbatch_size = 50\n\
                            [grid]\nlearning_rate = [0.01, 0.1, 1.0]\nhidden_size = [8, 16]\n";

impl Fixture {
    fn new(dir: &Path, grid: &str) -> Fixture {
        std::fs::create_dir_all(dir.join("history")).unwrap();
        std::fs::create_dir_all(dir.join("writers")).unwrap();
        std::fs::write(dir.join("grid.toml"), grid).unwrap();
        let g = Grid::parse(&dir.join("grid.toml"), grid).unwrap();
        let jobs = g.jobs();
        let m = Manifest {
            name: g.name.clone(),
            fingerprint: g.fingerprint(&jobs),
            jobs: jobs.len(),
            grid_file: "grid.toml".into(),
        };
        std::fs::write(dir.join("sweep.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        Fixture {
            dir: dir.to_path_buf(),
            grid: g,
            rows: Vec::new(),
        }
    }

    /// The synthetic objective of job `i`: higher for larger learning rates, a little for hidden units.
    fn objective(&self, i: usize) -> f64 {
        let c = &self.grid.jobs()[i].config;
        0.3 + 0.1 * c.learning_rate.log10() + 0.002 * c.hidden_size as f64
    }

    /// Records job `i` as the runner does: history files, a row in writers/w.csv, results.csv republished.
    fn record(&mut self, i: usize, status: JobStatus) {
        let job = self.grid.jobs()[i].clone();
        let val = self.objective(i) + 0.3;
        let epochs: Vec<EpochRecord> = (1..=job.config.epochs)
            .map(|e| EpochRecord {
                epoch: e,
                lr: job.config.learning_rate,
                loss: 2.0 / e as f64,
                train_acc: val * e as f64 / job.config.epochs as f64 + 0.01,
                val_acc: val * e as f64 / job.config.epochs as f64,
            })
            .collect();
        let (h, l) = history_csv(&epochs, &[2.0, 1.5, 1.0]);
        std::fs::write(self.dir.join(format!("history/{}.csv", job.id)), h).unwrap();
        std::fs::write(self.dir.join(format!("history/{}-loss.csv", job.id)), l).unwrap();
        let row = Row {
            id: job.id.clone(),
            config: job.config.clone(),
            status,
            rung: None,
            epochs_run: job.config.epochs,
            best_epoch: Some(job.config.epochs),
            best_val_acc: (status == JobStatus::Completed).then_some(val),
            train_acc: Some(val),
            final_loss: Some(0.5),
            seconds: 2.0,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("writers/w.csv"))
            .unwrap();
        f.write_all(&row.to_csv(self.rows.is_empty())).unwrap();
        self.rows.push(row);
        let all: Vec<u8> = self.rows.iter().enumerate().flat_map(|(k, r)| r.to_csv(k == 0)).collect();
        sweep_core::checkpoint::write_atomic(&self.dir.join("results.csv"), &all).unwrap();
    }

    fn id(&self, i: usize) -> String {
        self.grid.jobs()[i].id.clone()
    }
}

/// Every file under `dir` with its length, modification time and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                let bytes = if m.is_file() { std::fs::read(&p).unwrap() } else { Vec::new() };
                out.insert(p, (m.len(), m.modified().unwrap(), bytes));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// API tests

#[test]
fn every_endpoint_answers_json_that_agrees_with_the_files_of_a_sweep_the_binary_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_toy_search(tmp.path(), "halving");
    let rows = sweep::results::format::read_rows(&out.join("results.csv")).unwrap();
    let server = Server::start(&[tmp.path()], &[]);
    assert!(server.token.is_none(), "no token on the loopback address");

    // The list.
    let list = server.wait_for("/api/sweeps", Duration::from_secs(20), |v| v[0]["cursor"].as_u64() > Some(0));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let s = &list[0];
    assert_eq!(
        (s["key"].as_str(), s["name"].as_str(), s["dir"].as_str()),
        (Some("toy-halving"), Some("toy-halving"), Some("out"))
    );
    assert_eq!(s["state"], "finished");
    assert_eq!(s["total"], 18);
    for status in [JobStatus::Completed, JobStatus::Pruned, JobStatus::Diverged] {
        let n = rows.iter().filter(|r| r.status == status).count();
        assert_eq!(s["counts"][status.as_str()], n, "{status}");
        assert!(n > 0, "the toy search has {status} jobs");
    }
    let best: Value = serde_json::from_slice(&std::fs::read(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(s["best"]["id"], best["id"]);

    // The detail: axes, objective, schedule, best, importance, rungs.
    let d = server.json("/api/sweeps/toy-halving");
    let axes: Vec<&str> = d["axes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(axes, ["learning_rate", "reg"]);
    assert_eq!(d["objective"]["metric"], "val_acc");
    assert_eq!(d["schedule"]["method"], "halving");
    assert_eq!(d["schedule"]["rung_epochs"], json!([1, 3, 9]));
    assert_eq!(d["best_trial"]["trial"]["id"], best["id"]);
    assert_eq!(d["best_trial"]["config"]["hidden_size"], 16);
    assert_eq!(d["rungs"].as_array().unwrap().len(), 3, "one rung table row per rung");
    assert_eq!(d["rungs"][0]["planned"], 18);

    // Every trial, as the rows say.
    let t = server.json("/api/sweeps/toy-halving/trials?after=0");
    assert_eq!((t["reset"].as_bool(), t["total"].as_u64()), (Some(true), Some(18)));
    let cursor = t["cursor"].as_u64().unwrap();
    let trials = t["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 18);
    for r in &rows {
        let x = trials.iter().find(|x| x["id"] == r.id.as_str()).unwrap();
        assert_eq!(x["status"], r.status.as_str());
        assert_eq!(x["rung"], json!(r.rung));
        assert_eq!(x["epochs_run"].as_f64(), Some(r.epochs_run as f64));
        assert_eq!(x["objective"].as_f64(), r.best_val_acc);
        assert_eq!(x["values"]["learning_rate"].as_f64(), Some(r.config.learning_rate));
        assert!(x["ended"].as_f64().is_some(), "{x}");
    }
    // Nothing changed since: nothing new.
    let again = server.json(&format!("/api/sweeps/toy-halving/trials?after={cursor}"));
    assert_eq!(
        (again["reset"].as_bool(), again["trials"].as_array().unwrap().len()),
        (Some(false), 0)
    );
    // A cursor from the future (another server's) starts over.
    let future = server.json(&format!("/api/sweeps/toy-halving/trials?after={}", cursor + 100));
    assert_eq!(
        (future["reset"].as_bool(), future["trials"].as_array().unwrap().len()),
        (Some(true), 18)
    );

    // Curves: every epoch of the history files (at most 48 points each, and these have at most 9).
    let c = server.json("/api/sweeps/toy-halving/curves?after=0");
    for r in rows.iter().filter(|r| r.status != JobStatus::Diverged) {
        let curve = c["curves"].as_array().unwrap().iter().find(|x| x["id"] == r.id.as_str()).unwrap();
        let hist = std::fs::read_to_string(out.join(format!("history/{}.csv", r.id))).unwrap();
        let last: Vec<&str> = hist.lines().last().unwrap().split(',').collect();
        let pts = curve["points"].as_array().unwrap();
        assert_eq!(pts.len(), hist.lines().count() - 1, "{}", r.id);
        assert_eq!(pts.last().unwrap()[1].as_f64(), last[4].parse().ok());
    }

    // One trial: configuration, history, loss, rung records and a log.
    let id = best["id"].as_str().unwrap();
    let one = server.json(&format!("/api/sweeps/toy-halving/trials/{id}"));
    assert_eq!(one["trial"]["id"], id);
    assert_eq!(one["trial"]["status"], "completed");
    assert_eq!(one["history"].as_array().unwrap().len(), 9);
    assert!(one["history"][8]["metrics"]["val_acc"].as_f64().is_some());
    assert!(!one["loss"].as_array().unwrap().is_empty());
    assert_eq!(
        one["rung_records"].as_array().unwrap().len(),
        2,
        "a finalist has records of rungs 1 and 2"
    );
    assert_eq!(one["config"]["learning_rate"].as_f64(), best["config"]["learning_rate"].as_f64());
    assert!(one["log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["text"].as_str().unwrap().starts_with("completed after 9 epochs")));

    // Exports: one row (object) per trial.
    let (status, csv, h) = server.get_with("/api/sweeps/toy-halving/export.csv", &[]);
    assert_eq!(status, 200);
    assert!(h["content-type"].starts_with("text/csv") && h["content-disposition"].contains("toy-halving-trials.csv"));
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert!(
        header.contains(&"learning_rate".to_string()) && header.contains(&"val_acc".to_string()),
        "{header:?}"
    );
    assert_eq!(r.records().count(), 18);
    let j = server.json("/api/sweeps/toy-halving/export.json");
    assert_eq!(j.as_array().unwrap().len(), 18);

    // The page and its assets, compiled in.
    let (status, page, h) = server.get_with("/", &[]);
    assert_eq!(status, 200);
    assert!(h["content-type"].starts_with("text/html") && page.contains("assets/app.js"));
    assert!(h["content-security-policy"].contains("script-src 'self'"));
    let (status, js, h) = server.get_with("/assets/echarts.min.js", &[]);
    assert_eq!(status, 200);
    assert!(js.len() > 500_000 && js.contains("Apache"));
    let (status, _, _) = server.get_with("/assets/echarts.min.js", &[("If-None-Match", &h["etag"])]);
    assert_eq!(status, 304, "assets are validated by their ETag");
    let (status, lic) = server.get("/assets/LICENSE-echarts");
    assert!(status == 200 && lic.contains("Apache License"));
    assert!(!server.stderr().contains("panicked"));
}

#[test]
fn the_cursor_returns_only_what_changed_while_rows_and_progress_lines_are_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fix");
    let mut f = Fixture::new(&dir, FIXTURE_GRID);
    f.record(0, JobStatus::Completed);
    f.record(1, JobStatus::Diverged);
    let server = Server::start(&[tmp.path()], &[]);
    let first = server.wait_for("/api/sweeps/fix/trials", Duration::from_secs(20), |v| v["total"] == 6);
    let statuses: Vec<&str> = first["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "diverged", "pending", "pending", "pending", "pending"]);
    assert_eq!(
        server.json("/api/sweeps").as_array().unwrap()[0]["state"],
        "stopped",
        "nothing runs and jobs are left"
    );
    let c0 = first["cursor"].as_u64().unwrap();

    // Job 2 starts and reports two epochs in the progress log; job 3 is recorded.
    let log = ProgressLog::new(&dir, "w");
    log.start(&f.id(2), None, 0.0, 4.0);
    log.point(
        &f.id(2),
        None,
        1.0,
        [("val_acc", 0.2), ("train_acc", 0.25), ("loss", 1.5), ("lr", 0.1)],
    );
    log.point(
        &f.id(2),
        None,
        2.0,
        [("val_acc", 0.35), ("train_acc", 0.4), ("loss", 1.2), ("lr", 0.1)],
    );
    f.record(3, JobStatus::Completed);
    let next = server.wait_for(&format!("/api/sweeps/fix/trials?after={c0}"), Duration::from_secs(20), |v| {
        v["trials"].as_array().unwrap().len() == 2
    });
    assert_eq!(next["reset"], false);
    let changed: BTreeMap<&str, &Value> = next["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t))
        .collect();
    let running = changed[f.id(2).as_str()];
    assert_eq!(running["status"], "running");
    assert_eq!(
        (running["epochs_run"].as_f64(), running["objective"].as_f64()),
        (Some(2.0), Some(0.35))
    );
    assert_eq!(changed[f.id(3).as_str()]["status"], "completed");
    let c1 = next["cursor"].as_u64().unwrap();
    assert!(c1 > c0);
    let s = server.json("/api/sweeps/fix");
    assert_eq!((s["state"].as_str(), s["counts"]["running"].as_u64()), (Some("running"), Some(1)));
    // The running trial's curve comes from its progress points, and its page shows them.
    let curves = server.json(&format!("/api/sweeps/fix/curves?after={c0}"));
    let cv = curves["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == f.id(2).as_str())
        .unwrap();
    assert_eq!(cv["points"], json!([[1.0, 0.2], [2.0, 0.35]]));
    let one = server.json(&format!("/api/sweeps/fix/trials/{}", f.id(2)));
    assert_eq!(one["history"].as_array().unwrap().len(), 2);
    assert!(one["history"][1]["t"].as_f64().is_some(), "progress points carry their time");
    assert!(one["log"][0]["text"].as_str().unwrap().starts_with("started: epochs 0 to 4"));
    // A torn last line is not read until it is whole.
    let path = dir.join("progress/w.jsonl");
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    let line = format!(
        "{{\"t\":1.0,\"id\":\"{}\",\"rung\":null,\"epoch\":3.0,\"metrics\":{{\"val_acc\":0.4}}}}\n",
        f.id(2)
    );
    file.write_all(&line.as_bytes()[..20]).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let same = server.json(&format!("/api/sweeps/fix/trials?after={c1}"));
    assert_eq!(same["trials"].as_array().unwrap().len(), 0, "a torn line changes nothing: {same}");
    file.write_all(&line.as_bytes()[20..]).unwrap();
    file.flush().unwrap();
    let later = server.wait_for(&format!("/api/sweeps/fix/trials?after={c1}"), Duration::from_secs(20), |v| {
        !v["trials"].as_array().unwrap().is_empty()
    });
    assert_eq!(later["trials"][0]["epochs_run"].as_f64(), Some(3.0));
    // Its row written, the trial is recorded and its progress points give way to the history file.
    f.record(2, JobStatus::Completed);
    server.wait_for("/api/sweeps/fix", Duration::from_secs(20), |v| v["counts"]["completed"] == 3);
    let t = server.json(&format!("/api/sweeps/fix/trials/{}", f.id(2)));
    assert_eq!(
        (t["trial"]["status"].as_str(), t["history"].as_array().unwrap().len()),
        (Some("completed"), 4)
    );
}

#[test]
fn bad_requests_get_a_4xx_with_a_json_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(&tmp.path().join("fix"), FIXTURE_GRID);
    f.record(0, JobStatus::Completed);
    let server = Server::start(&[tmp.path()], &[]);
    server.wait_for("/api/sweeps", Duration::from_secs(20), |v| v[0]["cursor"].as_u64() > Some(0));
    let id = f.id(0);
    let cases: &[(&str, u16, &str)] = &[
        ("/api/sweeps/nope", 404, "no sweep \"nope\""),
        ("/api/sweeps/nope/trials", 404, "no sweep"),
        ("/api/sweeps/fix/trials?after=abc", 400, "after=\"abc\""),
        ("/api/sweeps/fix/trials?after=-1", 400, "whole number"),
        ("/api/sweeps/fix/curves?after=99999999999999999999999", 400, "whole number"),
        ("/api/sweeps/fix/trials/000000000000", 404, "has no trial"),
        ("/api/sweeps/fix/trials/a%20b", 400, "not a trial id"),
        ("/api/sweeps/fi%20x", 400, "not a sweep name"),
        ("/api/nothing", 404, "no such page"),
        ("/assets/nothing.js", 404, "no asset"),
        ("/api/sweeps/fix/trials/x/y", 404, "no such page"),
    ];
    for (path, want, says) in cases {
        let (status, body, h) = server.get_with(path, &[]);
        assert_eq!(status, *want, "{path}: {body}");
        assert!(h["content-type"].starts_with("application/json"), "{path}");
        let e = error_of(status, &body);
        assert!(e.contains(says), "{path}: {e}");
    }
    // Only GET and HEAD.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let (status, body) = raw(
            server.port,
            format!(
                "{method} /api/sweeps/fix/trials/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        );
        assert_eq!(status, 405, "{method}");
        assert!(error_of(status, &body).contains("only reads"));
    }
    let head = raw(
        server.port,
        b"HEAD /api/sweeps HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.0, 200);
}

#[test]
fn nothing_outside_the_served_directories_is_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("served");
    let mut f = Fixture::new(&root.join("fix"), FIXTURE_GRID);
    f.record(0, JobStatus::Completed);
    // Outside: a secret file, and a whole sweep whose rows carry a marker id.
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-MARKER\n").unwrap();
    let other = FIXTURE_GRID
        .replace("\"fix\"", "\"outside\"")
        .replace("[0.01, 0.1, 1.0]", "[0.02, 0.2, 2.0]");
    let mut outside = Fixture::new(&tmp.path().join("outside"), &other);
    outside.record(1, JobStatus::Completed);
    let marker = outside.id(1);
    std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("linked")).unwrap();
    // A sweep inside whose results.csv links to the outside sweep's, and whose history links to the secret.
    let mut evil = Fixture::new(&root.join("evil"), &FIXTURE_GRID.replace("\"fix\"", "\"evil\""));
    evil.record(2, JobStatus::Completed);
    std::fs::remove_file(root.join("evil/results.csv")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside/results.csv"), root.join("evil/results.csv")).unwrap();
    let hist = root.join(format!("fix/history/{}.csv", f.id(0)));
    std::fs::remove_file(&hist).unwrap();
    std::fs::write(
        tmp.path().join("outside-history.csv"),
        "epoch,lr,loss,train_acc,val_acc\n1,0.1,1,0.123456789,0.987654321\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside-history.csv"), &hist).unwrap();

    let server = Server::start(&[&root], &[]);
    let list = server.wait_for("/api/sweeps", Duration::from_secs(20), |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|s| s["cursor"].as_u64() > Some(0) || s["state"] == "error")
            && v.as_array().unwrap().len() == 2
    });
    let keys: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["evil", "fix"], "the linked sweep outside is not served");
    let evil_s = list.as_array().unwrap().iter().find(|s| s["key"] == "evil").unwrap();
    assert_eq!(evil_s["state"], "error");
    assert!(
        evil_s["error"]
            .as_str()
            .unwrap()
            .contains("results.csv is a symbolic link pointing outside"),
        "{evil_s}"
    );
    let t = server.json(&format!("/api/sweeps/fix/trials/{}", f.id(0)));
    assert_eq!(t["history"], json!([]), "a history file linking out is not read");

    let attempts = [
        "/assets/../../../../etc/passwd".to_string(),
        "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd".into(),
        "/assets/..%2f..%2f..%2fetc%2fpasswd".into(),
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt".into(),
        "/%2e%2e/%2e%2e/secret.txt".into(),
        "/../secret.txt".into(),
        "//etc/passwd".into(),
        "/etc/passwd".into(),
        format!("/{}", secret.display()),
        "/api/sweeps/..".into(),
        "/api/sweeps/%2e%2e/trials".into(),
        "/api/sweeps/..%2foutside/trials".into(),
        "/api/sweeps/linked/trials".into(),
        "/api/sweeps/outside".into(),
        "/api/sweeps/evil/trials".into(),
        format!("/api/sweeps/fix/trials/..%2f..%2foutside%2fhistory%2f{marker}"),
        format!("/api/sweeps/evil/trials/{marker}"),
        "/api/sweeps/fix/trials/%2e%2e".into(),
        format!("http://127.0.0.1:{}/../secret.txt", server.port),
        "/assets/%00".into(),
    ];
    for a in &attempts {
        let (status, body) = raw_get(server.port, a);
        assert!((400..500).contains(&status), "{a}: {status} {body}");
        // (An error may name what was asked for, so the marker id is looked for in the answers below instead.)
        for leaked in ["TOP-SECRET", "root:", "0.987654321"] {
            assert!(!body.contains(leaked), "{a} returned {leaked}: {body}");
        }
    }
    // Nor through any legitimate endpoint.
    assert_eq!(server.get(&format!("/api/sweeps/fix/trials/{marker}")).0, 404);
    for path in [
        "/api/sweeps",
        "/api/sweeps/evil",
        "/api/sweeps/fix/trials",
        "/api/sweeps/fix/curves",
        "/api/sweeps/fix/export.csv",
    ] {
        let (_, body) = server.get(path);
        assert!(!body.contains(&marker) && !body.contains("0.987654321"), "{path}: {body}");
    }
    assert!(!server.stderr().contains("panicked"));
}

#[test]
fn a_server_bound_beyond_the_loopback_address_needs_its_token_on_every_request() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(&tmp.path().join("fix"), FIXTURE_GRID);
    f.record(0, JobStatus::Completed);
    let server = Server::start(&[tmp.path()], &["--bind", "0.0.0.0"]);
    let token = server.token.clone().expect("a token is generated and printed");
    assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    for path in ["/", "/assets/app.js", "/api/sweeps", "/api/sweeps/fix/trials", "/api/nothing"] {
        let (status, body, _) = server.get_with(path, &[("Authorization", "")]);
        assert_eq!(status, 401, "{path} without a token");
        assert!(error_of(status, &body).contains("needs its token"));
        let (status, body, _) = server.get_with(path, &[("Authorization", "Bearer 0123")]);
        assert_eq!(status, 403, "{path} with a wrong token");
        assert!(error_of(status, &body).contains("wrong token"));
        let (status, _, _) = server.get_with(&format!("{path}?token={token}x"), &[("Authorization", "")]);
        assert_eq!(status, 403, "{path} with a longer token");
    }
    let (status, _, _) = server.get_with("/api/sweeps", &[]);
    assert_eq!(status, 200, "the bearer header");
    let (status, _, h) = server.get_with(&format!("/?token={token}"), &[("Authorization", "")]);
    assert_eq!(status, 200, "the printed address");
    let cookie = h["set-cookie"].split(';').next().unwrap().to_string();
    assert!(cookie.starts_with(&format!("sweep_token_{}=", server.port)) && h["set-cookie"].contains("HttpOnly"));
    let (status, _, _) = server.get_with("/api/sweeps", &[("Authorization", ""), ("Cookie", &cookie)]);
    assert_eq!(status, 200, "the cookie the page got");
    // Any Host is fine with a token.
    let (status, _) = raw(
        server.port,
        format!("GET /api/sweeps HTTP/1.1\r\nHost: sweeps.example\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status, 200);

    // --token on the loopback address is required too.
    let server = Server::start(&[tmp.path()], &["--token", "s3cret-token"]);
    assert_eq!(server.token.as_deref(), Some("s3cret-token"));
    assert_eq!(server.get_with("/api/sweeps", &[("Authorization", "")]).0, 401);
    assert_eq!(server.get("/api/sweeps").0, 200);
}

#[test]
fn without_a_token_only_requests_for_the_loopback_name_are_answered() {
    let tmp = tempfile::tempdir().unwrap();
    Fixture::new(&tmp.path().join("fix"), FIXTURE_GRID);
    let server = Server::start(&[tmp.path()], &[]);
    for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "10.1.2.3"] {
        let (status, body) = raw(
            server.port,
            format!("GET /api/sweeps HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 403, "{host}");
        assert!(error_of(status, &body).contains("loopback"), "{body}");
    }
    for host in ["localhost:1", "127.0.0.1", "[::1]:8080"] {
        let (status, _) = raw(
            server.port,
            format!("GET /api/sweeps HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 200, "{host}");
    }
}

#[test]
fn no_request_changes_a_file_and_no_input_makes_the_server_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_toy_search(tmp.path(), "hyperband");
    std::thread::sleep(Duration::from_millis(50));
    let before = snapshot(tmp.path());
    let server = Server::start(&[tmp.path()], &[]);
    let d = server.wait_for("/api/sweeps/toy-hyperband", Duration::from_secs(20), |v| {
        v["cursor"].as_u64() > Some(0)
    });
    let id = d["best_trial"]["trial"]["id"].as_str().unwrap().to_string();
    for path in [
        "/".to_string(),
        "/api/sweeps".into(),
        "/api/sweeps/toy-hyperband".into(),
        "/api/sweeps/toy-hyperband/trials".into(),
        "/api/sweeps/toy-hyperband/curves".into(),
        format!("/api/sweeps/toy-hyperband/trials/{id}"),
        "/api/sweeps/toy-hyperband/export.csv".into(),
        "/api/sweeps/toy-hyperband/export.json".into(),
    ] {
        assert_eq!(server.get(&path).0, 200, "{path}");
    }
    // Writes of every kind, and garbage: seeded random paths, queries and bytes.
    let mut rng = sweep_core::rng::rng_for(7, "serve-fuzz");
    use rand::Rng;
    let pieces = [
        "/api/sweeps/",
        "toy-hyperband",
        "/trials",
        "/curves",
        "/",
        "?after=",
        "%",
        "%2e",
        "..",
        "%ff",
        "%00",
        "\u{e9}",
        &id,
        "?token=",
        "&",
        "=",
        "export.csv",
        "/assets/",
        "app.js",
        "-1",
        "18446744073709551616",
        "#",
        ";",
        "\\",
    ];
    for _ in 0..400 {
        let n = rng.gen_range(1..8);
        let target: String = (0..n).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
        let method = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "GET"][rng.gen_range(0..7)];
        let target = if target.starts_with('/') { target } else { format!("/{target}") };
        let (status, _) = raw(
            server.port,
            format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc").as_bytes(),
        );
        assert!(status == 0 || (200..500).contains(&status), "{method} {target}: {status}");
    }
    for _ in 0..50 {
        let len = rng.gen_range(1..300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let _ = raw(server.port, &bytes);
    }
    let _ = raw(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \xff\xfe\r\n\r\n");
    assert_eq!(server.get("/api/sweeps").0, 200, "the server still answers");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
    drop(server);
    let after = snapshot(tmp.path());
    assert_eq!(before.len(), after.len(), "files were added or removed");
    for (p, b) in &before {
        assert!(after.get(p) == Some(b), "{} changed", p.display());
    }
    assert!(out.join("results.csv").is_file());
}
