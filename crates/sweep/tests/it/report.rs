//! Checks `sweep report` as a person would see it: every PNG decodes and is not blank, SVGs are SVG, index.html only
//! links files that exist and renders in headless Chromium without console errors, for full, single-axis, single-job,
//! diverged and nothing-completed sweeps; also checks the nightly workflow, script and grid.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use sweep_core::checkpoint::ModelMeta;
use sweep_core::{Init, Model, TrainConfig, TwoLayerNet};
use sweep_grid::grid::{job_id, Grid};
use sweep_report::{write_report, ReportError, INDEX_HTML, REPORT_DIR};
use sweep_results::format::{read_rows, BestInfo, JobStatus, Row};

use crate::common;
use common::project_root;

// ---------------------------------------------------------------------------------------------------------------
// Building results directories through the library

/// One job of a synthetic sweep.
struct Job {
    config: TrainConfig,
    status: &'static str,
    /// Best validation accuracy (0-1) for jobs that have one.
    val: Option<f64>,
}

fn job(lr: f64, reg: f64, hidden: usize, status: &'static str, val: Option<f64>) -> Job {
    let config = TrainConfig {
        learning_rate: lr,
        reg,
        hidden_size: hidden,
        lr_decay: 0.95,
        epochs: 5,
        batch_size: 200,
        ..Default::default()
    };
    Job { config, status, val }
}

/// A deterministic jitter in [-0.5, 0.5).
fn noise(i: usize) -> f64 {
    let x = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((x >> 33) as f64 / (1u64 << 31) as f64) - 0.5
}

/// Writes results.csv, histories, grid.toml and, when a job completed, best.json and a CIFAR-shaped checkpoint.
fn build_dir(dir: &Path, grid: &str, jobs: &[Job]) {
    std::fs::create_dir_all(dir.join("history")).unwrap();
    std::fs::write(dir.join("grid.toml"), grid).unwrap();
    let mut csv = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    for (index, j) in jobs.iter().enumerate() {
        let id = job_id(&j.config);
        let epochs_run = if j.status == "diverged" { 2 } else { j.config.epochs };
        let best_epoch = j.val.map(|_| epochs_run.min(4));
        let row = Row {
            id: id.clone(),
            config: TrainConfig {
                seed: 7,
                ..j.config.clone()
            },
            status: j.status.parse::<JobStatus>().unwrap(),
            rung: None,
            epochs_run: epochs_run as f64,
            best_epoch: best_epoch.map(|e| e as f64),
            best_val_acc: j.val,
            train_acc: j.val.map(|v| (v + 0.05).min(1.0)),
            final_loss: if j.status == "diverged" { None } else { Some(1.4) },
            seconds: 1.5,
            trial: None,
            measures: None,
        };
        csv.extend(row.to_csv(index == 0));
        // Histories as the runner writes them.
        let top = j.val.unwrap_or(0.1);
        let mut epochs = String::from("epoch,lr,loss,train_acc,val_acc\n");
        for e in 1..=epochs_run {
            let f = e as f64 / epochs_run as f64;
            let loss = if j.status == "diverged" && e == epochs_run {
                f64::NAN
            } else {
                2.3 - f
            };
            epochs.push_str(&format!(
                "{e},{},{loss},{},{}\n",
                j.config.learning_rate * 0.95f64.powi(e as i32 - 1),
                top * f + 0.04,
                top * f
            ));
        }
        std::fs::write(dir.join("history").join(format!("{id}.csv")), epochs).unwrap();
        let mut iters = String::from("iteration,loss\n");
        for i in 0..300 {
            let loss = if j.status == "diverged" && i > 100 {
                f64::INFINITY
            } else {
                2.3 * (-(i as f64) / 150.0).exp() + 1.0 + 0.2 * noise(i)
            };
            iters.push_str(&format!("{i},{loss}\n"));
        }
        std::fs::write(dir.join("history").join(format!("{id}-loss.csv")), iters).unwrap();
        if let (true, Some(v)) = (j.status == "completed", j.val) {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((index, v));
            }
        }
    }
    std::fs::write(dir.join("results.csv"), csv).unwrap();
    if let Some((index, val)) = best {
        let j = &jobs[index];
        let info = BestInfo {
            id: job_id(&j.config),
            index,
            config: j.config.clone(),
            best_epoch: j.config.epochs.min(4),
            val_acc: val,
            test_acc: Some(val - 0.01),
            checkpoint: "best.safetensors".into(),
            objectives: Vec::new(),
            front: Vec::new(),
        };
        std::fs::write(dir.join("best.json"), serde_json::to_vec_pretty(&info).unwrap()).unwrap();
        cifar_model(j.config.hidden_size, &j.config)
            .save(&dir.join("best.safetensors"))
            .unwrap();
    }
}

/// A model with CIFAR's input shape whose W1 columns are recognisable colour patterns plus noise.
fn cifar_model(hidden: usize, config: &TrainConfig) -> Model {
    let mut rng = sweep_core::rng::rng_for(0, "report-test");
    let mut net = TwoLayerNet::<f32>::new(3072, hidden, 10, Init::Kaiming, &mut rng);
    for u in 0..hidden {
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let phase = (u as f64) * 0.7 + c as f64 * 2.1;
                    let v = ((x as f64 / 5.0 + phase).sin() * (y as f64 / 7.0 - phase).cos()) * 0.02;
                    let i = c * 1024 + y * 32 + x;
                    net.params.w1[[i, u]] = v as f32 + 0.3 * net.params.w1[[i, u]];
                }
            }
        }
    }
    let mut mean = net.params.w1.column(0).to_owned();
    mean.fill(120.0);
    Model {
        net,
        mean,
        meta: ModelMeta {
            hyperparameters: config.clone(),
            class_names: [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ]
            .map(String::from)
            .to_vec(),
            input_shape: vec![3, 32, 32],
            val_accuracy: 0.5,
            data_split: None,
        },
    }
}

const HEAD: &str = "name = \"synthetic\"\nseed = 0\n[data]\nsource = \"toy\"\n[train]\nepochs = 5\nbatch_size = 200\n";

/// lr x reg x hidden with the largest learning rate diverging everywhere.
fn full_sweep(dir: &Path) {
    let grid =
        format!("{HEAD}[grid]\nlearning_rate = [0.05, 0.1, 0.3, 10.0]\nreg = {{ log = [1e-4, 1e-2], num = 3 }}\nhidden_size = [32, 64]\n");
    let g = Grid::parse(Path::new("grid.toml"), &grid).unwrap();
    let jobs: Vec<Job> = g
        .jobs()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let c = &j.config;
            if c.learning_rate > 1.0 {
                job(c.learning_rate, c.reg, c.hidden_size, "diverged", None)
            } else {
                let v = 0.35 + 0.3 * c.learning_rate - 4.0 * c.reg + 0.0005 * c.hidden_size as f64 + 0.02 * noise(i);
                job(c.learning_rate, c.reg, c.hidden_size, "completed", Some(v))
            }
        })
        .collect();
    build_dir(dir, &grid, &jobs);
}

// ---------------------------------------------------------------------------------------------------------------
// Checking a report

/// Decodes a PNG and asserts it shows something: several colours and a fair share of non-background pixels.
fn assert_not_blank(path: &Path, min_ink: f64) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8();
    assert!(
        img.width() >= 100 && img.height() >= 100,
        "{} is only {}x{}",
        path.display(),
        img.width(),
        img.height()
    );
    let background = *img.get_pixel(0, 0);
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    let ink = img.pixels().filter(|p| **p != background).count() as f64 / (img.width() * img.height()) as f64;
    assert!(colours.len() > 4, "{} has only {} colours", path.display(), colours.len());
    assert!(
        ink >= min_ink,
        "{}: only {:.2} % of the pixels differ from the background",
        path.display(),
        100.0 * ink
    );
}

/// Relative paths in src="..." and href="..." attributes.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("attribute closes");
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// With REPORT_TEST_KEEP=DIR set, copies each report to DIR/<n>/ so a person can look at the figures.
fn keep_for_inspection(report: &Path) {
    let Ok(keep) = std::env::var("REPORT_TEST_KEEP") else { return };
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dest = Path::new(&keep).join(N.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_string());
    std::fs::create_dir_all(&dest).unwrap();
    for e in std::fs::read_dir(report).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dest.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Writes the report and checks every file in it; returns index.html's text.
fn report_ok(dir: &Path) -> String {
    let index = write_report(dir).unwrap_or_else(|e| panic!("report of {} failed: {e}", dir.display()));
    assert_eq!(index, dir.join(REPORT_DIR).join(INDEX_HTML));
    let out = dir.join(REPORT_DIR);
    let html = std::fs::read_to_string(&index).unwrap();
    keep_for_inspection(&out);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for l in links(&html) {
        assert!(
            !l.contains("://") && !l.starts_with('/'),
            "index.html links outside the report: {l}"
        );
        assert!(out.join(&l).is_file(), "index.html references {l}, which does not exist");
    }
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("png") => assert_not_blank(&p, if p.ends_with("weights.png") { 0.3 } else { 0.02 }),
            Some("svg") => {
                let t = std::fs::read_to_string(&p).unwrap();
                assert!(
                    t.contains("<svg") && t.trim_end().ends_with("</svg>"),
                    "{} is not an SVG",
                    p.display()
                );
                assert!(t.contains("<text"), "{} has no text: axes and title missing", p.display());
                assert!(
                    t.matches('<').count() == t.matches('>').count(),
                    "{} has unbalanced tags",
                    p.display()
                );
            }
            _ => {}
        }
        if p.extension().is_some_and(|x| x == "png" || x == "svg") {
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(
                html.contains(&format!("\"{name}\"")),
                "{name} is written but not shown in index.html"
            );
        }
    }
    html
}

fn figures(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(REPORT_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------------------
// Tests

#[test]
fn full_sweep_gives_every_figure_and_the_top_table() {
    let tmp = tempfile::tempdir().unwrap();
    full_sweep(tmp.path());
    let html = report_ok(tmp.path());
    assert_eq!(
        figures(tmp.path()),
        [
            "accuracy.png",
            "heatmap_lr_reg.png",
            "importance.png",
            "loss.png",
            "val_acc_vs_hidden_size.png",
            "val_acc_vs_learning_rate.png",
            "val_acc_vs_reg.png",
            "weights.png"
        ]
    );
    for stem in [
        "accuracy",
        "heatmap_lr_reg",
        "importance",
        "loss",
        "val_acc_vs_hidden_size",
        "val_acc_vs_learning_rate",
        "val_acc_vs_reg",
    ] {
        assert!(
            tmp.path().join(REPORT_DIR).join(format!("{stem}.svg")).is_file(),
            "{stem}.svg missing"
        );
    }
    // 64 hidden units: 16 columns x 4 rows of colour tiles.
    let w = image::open(tmp.path().join("report/weights.png")).unwrap().to_rgb8();
    assert!(w.width() > 16 * 32 && w.height() > 4 * 32);
    assert!(
        w.pixels().any(|p| p.0[0] != p.0[1] || p.0[1] != p.0[2]),
        "weight tiles are not in colour"
    );
    // Top-10 table, best configuration and test accuracy.
    assert_eq!(html.matches("<tr class=").count(), 10 + 6, "top 10 plus 6 diverged jobs");
    assert!(html.contains("test accuracy"));
    assert!(html.contains("Top 10 jobs"));
    let best: BestInfo = serde_json::from_slice(&std::fs::read(tmp.path().join("best.json")).unwrap()).unwrap();
    assert!(html.contains(&best.id));
    assert!(html.contains(&format!("{:.2} %", 100.0 * best.test_acc.unwrap())));
    // Log axis is said so; diverged jobs are not 0 %.
    assert!(html.contains("regularization strength (reg) on a log axis"));
    assert!(!html.contains(">0.00 %"), "a job shown at 0 %");
    // The heatmap has a colour bar: the viridis scale in a column at its right, labelled.
    let hm = image::open(tmp.path().join("report/heatmap_lr_reg.png")).unwrap().to_rgb8();
    let bar: HashSet<[u8; 3]> = (0..hm.height()).map(|y| hm.get_pixel(hm.width() - 90, y).0).collect();
    assert!(bar.len() > 40, "no colour bar: {} colours in the column", bar.len());
    let svg = std::fs::read_to_string(tmp.path().join("report/heatmap_lr_reg.svg")).unwrap();
    assert!(svg.contains("val. acc. (%)"), "the colour bar is labelled");
    // Importance: the learning rate explains most of the synthetic objective's variance, then reg, then hidden.
    let svg = std::fs::read_to_string(tmp.path().join("report/importance.svg")).unwrap();
    let at = |label: &str| {
        svg.match_indices(label)
            .find(|(i, _)| svg[..*i].trim_end().ends_with('>') && svg[i + label.len()..].trim_start().starts_with('<'))
            .unwrap_or_else(|| panic!("no text {label} in importance.svg"))
            .0
    };
    assert!(
        at("hidden") < at("reg") && at("reg") < at("lr"),
        "bars drawn bottom-up, least important first"
    );
    // The interactive views: the dashboard's page with this sweep's data embedded, and its assets beside it.
    let dash = std::fs::read_to_string(tmp.path().join("report/dashboard.html")).unwrap();
    assert!(html.contains("href=\"dashboard.html\""));
    for a in [
        "app.js",
        "style.css",
        "echarts.min.js",
        "LICENSE-echarts",
        "NOTICE-echarts",
        "LICENSE-d3",
    ] {
        assert!(tmp.path().join("report/assets").join(a).is_file(), "report/assets/{a}");
        assert!(
            a.starts_with("LICENSE") || a.starts_with("NOTICE") || dash.contains(&format!("assets/{a}")),
            "{a}"
        );
    }
    let start = dash
        .find("<script id=\"sweep-data\" type=\"application/json\">")
        .expect("embedded data")
        + 48;
    let data: serde_json::Value = serde_json::from_str(&dash[start..start + dash[start..].find("</script>").unwrap()]).unwrap();
    let trials = data["/api/sweeps/synthetic/trials"]["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 24, "every job");
    assert_eq!(
        data["/api/sweeps/synthetic"]["best_trial"]["trial"]["id"].as_str(),
        Some(best.id.as_str())
    );
    let imp = &data["/api/sweeps/synthetic"]["importance"]["params"];
    assert_eq!(
        imp[0]["name"], "learning_rate",
        "the synthetic objective depends most on the learning rate: {imp}"
    );
    assert!(
        data[format!("/api/sweeps/synthetic/trials/{}", best.id)]["history"].is_array(),
        "the best trial's page"
    );
    // A second report replaces the first without leaving stale files.
    report_ok(tmp.path());
}

#[test]
fn single_axis_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = format!("{HEAD}[grid]\nhidden_size = [16, 32, 64, 128]\n");
    let jobs: Vec<Job> = [16, 32, 64, 128]
        .iter()
        .map(|&h| job(0.1, 1e-4, h, "completed", Some(0.3 + h as f64 / 1000.0)))
        .collect();
    build_dir(tmp.path(), &grid, &jobs);
    let html = report_ok(tmp.path());
    assert_eq!(
        figures(tmp.path()),
        ["accuracy.png", "loss.png", "val_acc_vs_hidden_size.png", "weights.png"]
    );
    assert!(!html.contains("Jobs that did not finish"));
}

#[test]
fn single_job_has_no_axis_figures_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    build_dir(tmp.path(), HEAD, &[job(0.1, 1e-4, 20, "completed", Some(0.42))]);
    let html = report_ok(tmp.path());
    assert_eq!(figures(tmp.path()), ["accuracy.png", "loss.png", "weights.png"]);
    assert!(html.contains("no axes"), "{html}");
    assert!(html.contains("42.00 %"));
}

#[test]
fn diverged_jobs_are_shown_as_diverged_not_as_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = format!("{HEAD}[grid]\nlearning_rate = [0.01, 0.1, 1e3, 1e4]\nreg = [1e-4, 1e-3]\n");
    let mut jobs = Vec::new();
    for lr in [0.01, 0.1, 1e3, 1e4] {
        for reg in [1e-4, 1e-3] {
            jobs.push(if lr > 1.0 {
                job(lr, reg, 32, "diverged", None)
            } else {
                job(lr, reg, 32, "completed", Some(0.3 + lr))
            });
        }
    }
    // A diverged job that had reached an accuracy before blowing up is still a diverged job.
    jobs[5] = job(1e3, 1e-3, 32, "diverged", Some(0.2));
    build_dir(tmp.path(), &grid, &jobs);
    let html = report_ok(tmp.path());
    assert!(figures(tmp.path()).contains(&"val_acc_vs_learning_rate.png".to_string()));
    assert!(figures(tmp.path()).contains(&"heatmap_lr_reg.png".to_string()));
    assert!(html.contains("Jobs that did not finish"));
    assert_eq!(
        html.matches("<td>diverged</td>").count(),
        4 * 2 * 2,
        "status and accuracy columns say diverged, in both tables"
    );
    assert!(!html.contains(">0.00 %"), "a job shown at 0 %");
    // The learning-rate figure marks the diverged jobs in red.
    let img = image::open(tmp.path().join("report/val_acc_vs_learning_rate.png"))
        .unwrap()
        .to_rgb8();
    assert!(img.pixels().filter(|p| p.0 == [255, 0, 0]).count() > 20, "no red diverged markers");
    let svg = std::fs::read_to_string(tmp.path().join("report/val_acc_vs_learning_rate.svg")).unwrap();
    assert!(svg.contains("diverged"));
}

#[test]
fn no_completed_job_says_there_is_no_best_model() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = format!("{HEAD}[grid]\nlearning_rate = [1e3, 1e4]\n");
    build_dir(
        tmp.path(),
        &grid,
        &[job(1e3, 1e-4, 16, "diverged", None), job(1e4, 1e-4, 16, "diverged", None)],
    );
    assert!(!tmp.path().join("best.json").exists());
    let html = report_ok(tmp.path());
    assert!(figures(tmp.path()).is_empty(), "{:?}", figures(tmp.path()));
    assert!(html.contains("No job completed, so there is no best model"));
    assert!(html.contains("No job reached a validation accuracy"));
}

#[test]
fn a_directory_without_results_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let e = write_report(tmp.path()).unwrap_err();
    assert!(matches!(e, ReportError::NotResults(_)));
    assert!(e.to_string().contains(&tmp.path().display().to_string()), "{e}");
    // A corrupt grid copy names its file.
    full_sweep(tmp.path());
    std::fs::write(tmp.path().join("grid.toml"), "[grid]\nlearnig_rate = [1]\n").unwrap();
    let e = write_report(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("grid.toml") && e.contains("learnig_rate"), "{e}");
}

#[test]
fn toy_sweep_run_by_the_binary_gives_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = "name = \"t\"\nseed = 0\n[data]\nsource = \"toy\"\n[train]\nepochs = 3\nbatch_size = 50\n[grid]\n\
                learning_rate = [0.1, 1e4]\nreg = { log = [1e-4, 1e-2], num = 3 }\nhidden_size = [8, 16]\n";
    std::fs::write(tmp.path().join("t.toml"), grid).unwrap();
    let out = tmp.path().join("out");
    let run = common::sweep()
        .current_dir(tmp.path())
        .args(["run", "t.toml", "--out", "out", "--workers", "2", "--report"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(run.status.success(), "sweep run failed:\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(out.join("report/index.html").is_file(), "sweep run --report wrote no report");
    // `sweep report DIR` rewrites it; the toy inputs (shape [4]) have no weight tiles.
    let rep = common::sweep()
        .args(["report"])
        .arg(&out)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        rep.status.success(),
        "sweep report failed:\n{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let html = report_ok(&out);
    let figs = figures(&out);
    for f in [
        "loss.png",
        "accuracy.png",
        "val_acc_vs_learning_rate.png",
        "val_acc_vs_reg.png",
        "val_acc_vs_hidden_size.png",
        "heatmap_lr_reg.png",
    ] {
        assert!(figs.contains(&f.to_string()), "{f} missing from {figs:?}");
    }
    assert!(!figs.contains(&"weights.png".to_string()));
    assert!(!figs.contains(&"rungs.png".to_string()), "a plain sweep has no rungs");
    assert!(
        !html.contains("Rungs") && !html.contains("pruned"),
        "a plain sweep has no rung table"
    );
    assert!(html.contains("not images"), "the page says why there are no weight tiles");
    assert!(html.contains("diverged"));
}

/// The cells of the rung table's body rows.
fn rung_table(html: &str) -> Vec<Vec<String>> {
    let start = html.find("<table class=\"rungs\">").expect("a rung table");
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    table
        .split("<tr>")
        .filter(|r| r.contains("<td>"))
        .map(|r| r.split("<td>").skip(1).map(|c| c[..c.find("</td>").unwrap()].to_string()).collect())
        .collect()
}

#[test]
fn halving_and_hyperband_reports_draw_every_job_by_rung_and_count_the_rungs_as_the_rows_do() {
    for method in ["halving", "hyperband"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = common::run_toy_search(tmp.path(), method);
        let rep = common::sweep()
            .arg("report")
            .arg(&out)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(rep.status.success(), "{method}: {}", String::from_utf8_lossy(&rep.stderr));
        let html = report_ok(&out);
        assert!(figures(&out).contains(&"rungs.png".to_string()), "{method}: {:?}", figures(&out));
        assert!(out.join("report/rungs.svg").is_file());

        // The table, recomputed here from the files: per bracket and rung, the jobs with a record of the rung in
        // the rung records (rungs/*.csv) or results.csv, the jobs whose results.csv row ended there, and the best accuracy reached.
        let finals = read_rows(&out.join("results.csv")).unwrap();
        let records: Vec<Row> = std::fs::read_dir(out.join("rungs"))
            .unwrap()
            .flat_map(|e| read_rows(&e.unwrap().path()).unwrap())
            .collect();
        let grid = Grid::load(&out.join("grid.toml")).unwrap();
        let jobs = grid.jobs().unwrap();
        let schedule = grid.search.schedule(&jobs, grid.seed);
        let several = schedule.brackets.len() > 1;
        assert_eq!(several, method == "hyperband");
        let mut want = Vec::new();
        for (b, bracket) in schedule.brackets.iter().enumerate() {
            let ids: HashSet<&str> = bracket.jobs.iter().map(|&j| jobs[j].id.as_str()).collect();
            let planned = bracket.planned_counts(schedule.eta);
            for (r, epochs) in bracket.rungs.iter().enumerate() {
                let at = |row: &&Row| row.rung == Some(r) && ids.contains(row.id.as_str());
                let ran: HashSet<&str> = records.iter().chain(&finals).filter(at).map(|x| x.id.as_str()).collect();
                let ended = |s: JobStatus| finals.iter().filter(at).filter(|x| x.status == s).count();
                let best = records
                    .iter()
                    .chain(&finals)
                    .filter(at)
                    .filter(|x| matches!(x.status, JobStatus::Completed | JobStatus::Pruned))
                    .filter_map(|x| x.best_val_acc)
                    .fold(f64::NEG_INFINITY, f64::max);
                let mut cells = if several { vec![(b + 1).to_string()] } else { vec![] };
                cells.extend([
                    (r + 1).to_string(),
                    epochs.to_string(),
                    planned[r].to_string(),
                    ran.len().to_string(),
                    ended(JobStatus::Pruned).to_string(),
                    ended(JobStatus::Diverged).to_string(),
                    ended(JobStatus::Failed).to_string(),
                    format!("{:.2} %", 100.0 * best),
                ]);
                want.push(cells);
            }
        }
        let got = rung_table(&html);
        assert_eq!(got, want, "{method}: rung table");
        // What this toy sweep is known to do, so that the comparison above is not between two empty tables.
        let col = |name: &str| {
            let at = ["rung", "epochs", "planned", "ran", "pruned", "diverged"]
                .iter()
                .position(|c| *c == name)
                .unwrap();
            at + usize::from(several)
        };
        let sum = |name: &str| got.iter().map(|r| r[col(name)].parse::<usize>().unwrap()).sum::<usize>();
        let completed = finals.iter().filter(|x| x.status == JobStatus::Completed).count();
        assert_eq!(
            sum("pruned") + sum("diverged") + completed,
            18,
            "{method}: every job ends somewhere"
        );
        assert!(sum("pruned") > 0 && sum("diverged") > 0 && completed > 0, "{method}: {got:?}");
        if method == "halving" {
            let epochs_planned: Vec<(&str, &str, &str)> = got.iter().map(|r| (r[1].as_str(), r[2].as_str(), r[3].as_str())).collect();
            assert_eq!(epochs_planned, [("1", "18", "18"), ("3", "6", "6"), ("9", "2", "2")]);
        }

        // The figure: the best job in orange on top, the finished ones in blue, the pruned ones faint, the rungs marked.
        let img = image::open(out.join("report/rungs.png")).unwrap().to_rgb8();
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(count([230, 120, 20]) > 300, "{method}: no best-job line");
        assert!(count([30, 130, 60]) > 100, "{method}: no rung lines");
        let svg = std::fs::read_to_string(out.join("report/rungs.svg")).unwrap();
        let pruned = finals.iter().filter(|x| x.status == JobStatus::Pruned).count();
        assert!(
            svg.contains(&format!("pruned ({pruned})")),
            "{method}: legend counts the pruned jobs"
        );
        assert!(svg.contains("end of a rung (epoch 1, 3, 9)"), "{method}");
        // Pruned jobs in the job tables say where they stopped.
        let listed: Vec<&Row> = finals
            .iter()
            .filter(|x| x.status == JobStatus::Pruned && html.contains(&x.id))
            .collect();
        assert!(
            !listed.is_empty(),
            "{method}: the top table shows pruned jobs after the finished ones"
        );
        for x in listed {
            let line = html.lines().find(|l| l.starts_with("<tr") && l.contains(&x.id)).unwrap();
            assert!(line.contains(&format!("<td>pruned@{}</td>", x.epochs_run)), "{line}");
        }
        assert!(html.contains(&format!("{pruned} pruned by the search")));
        if method == "halving" && chromium_available() {
            // loss, accuracy, rungs, two axes and the heatmap; the toy inputs have no weight tiles.
            check_in_browser(&out, 6);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Headless Chromium

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs chromium with a fresh profile; fails the test if it does not finish within `limit`.
fn chromium(args: &[String], limit: Duration) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Std::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdin(Stdio::null());
    let outdir = tempfile::tempdir().unwrap();
    let (so, se) = (outdir.path().join("stdout"), outdir.path().join("stderr"));
    cmd.stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap());
    let mut child = cmd.spawn().expect("chromium starts");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&se).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        std::fs::read_to_string(&so).unwrap_or_default(),
        std::fs::read_to_string(&se).unwrap_or_default(),
    )
}

/// Console errors and failed loads in chromium's log.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Failed to load resource")
                || l.contains("Uncaught")
                || l.contains("ERR_FILE_NOT_FOUND")
                || l.contains("Not allowed to load local resource")
        })
        .collect()
}

/// The page with a probe appended that records, after load, how many images failed to decode.
fn probe_page(index: &Path) -> PathBuf {
    let html = std::fs::read_to_string(index).unwrap();
    let probe = "<script>window.addEventListener('load', function () {\
                 var imgs = Array.from(document.images);\
                 var bad = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.src; });\
                 var d = document.createElement('pre'); d.id = 'probe';\
                 d.textContent = 'PROBE images=' + imgs.length + ' broken=' + bad.length + ' ' + bad.join(' ');\
                 document.body.appendChild(d); });</script>";
    let page = index.with_file_name("probe.html");
    std::fs::write(&page, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    page
}

fn check_in_browser(dir: &Path, expect_images: usize) {
    let index = dir.join(REPORT_DIR).join(INDEX_HTML);
    let url = format!("file://{}", index.canonicalize().unwrap().display());
    let shot = dir.join("screenshot.png");
    let (_, stderr) = chromium(
        &[format!("--screenshot={}", shot.display()), "--window-size=1200,2000".into(), url],
        Duration::from_secs(90),
    );
    let errors = console_errors(&stderr);
    assert!(
        errors.is_empty(),
        "console errors opening {}:\n{}",
        index.display(),
        errors.join("\n")
    );
    assert!(shot.is_file(), "chromium wrote no screenshot; stderr:\n{stderr}");
    assert_not_blank(&shot, 0.01);

    // Every image decodes in the browser.
    let probe = probe_page(&index);
    let url = format!("file://{}", probe.canonicalize().unwrap().display());
    let (dom, stderr) = chromium(
        &["--virtual-time-budget=5000".into(), "--dump-dom".into(), url],
        Duration::from_secs(90),
    );
    std::fs::remove_file(&probe).unwrap();
    let line = dom
        .lines()
        .find(|l| l.contains("<pre id=\"probe\">"))
        .unwrap_or_else(|| panic!("probe did not run; stderr:\n{stderr}"));
    assert!(line.contains(&format!("PROBE images={expect_images} broken=0")), "{line}");
    let errors = console_errors(&stderr);
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
}

/// Whether Chromium is there; without it the browser tests skip with a message, except where
/// `SWEEP_REQUIRE_BROWSER` is set (`.ci/run` sets it after installing Debian's chromium), where they fail.
fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("SWEEP_REQUIRE_BROWSER").is_none(),
        "{CHROMIUM} is required here (apt-get install chromium)"
    );
    eprintln!("skipped: chromium not installed (apt-get install chromium)");
    false
}

#[test]
fn report_opens_in_headless_chromium_without_errors_or_missing_images() {
    if !chromium_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    full_sweep(&full);
    report_ok(&full);
    check_in_browser(&full, 8);

    let none = tmp.path().join("none");
    build_dir(
        &none,
        &format!("{HEAD}[grid]\nlearning_rate = [1e3, 1e4]\n"),
        &[job(1e3, 1e-4, 16, "diverged", None), job(1e4, 1e-4, 16, "diverged", None)],
    );
    report_ok(&none);
    check_in_browser(&none, 0);
}

#[test]
fn the_reports_dashboard_opens_from_disk_and_draws_every_view() {
    if !chromium_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    full_sweep(tmp.path());
    report_ok(tmp.path());
    let page = tmp.path().join("report/dashboard.html");
    // A probe appended to the page writes what the dashboard drew into the DOM once it is ready.
    let probe = "<script>(function wait() { var d = window.sweepDashboard; if (!d || !d.ready) return setTimeout(wait, 100); \
                 var p = document.createElement('pre'); p.id = 'probe'; p.textContent = 'PROBE ' + JSON.stringify(d); \
                 document.body.appendChild(p); })();</script>";
    let probed = page.with_file_name("dashboard-probe.html");
    std::fs::write(
        &probed,
        std::fs::read_to_string(&page)
            .unwrap()
            .replace("</body>", &format!("{probe}</body>")),
    )
    .unwrap();
    let url = format!("file://{}", probed.canonicalize().unwrap().display());
    let (dom, stderr) = chromium(
        &[
            "--virtual-time-budget=20000".into(),
            "--window-size=1400,2400".into(),
            "--dump-dom".into(),
            url,
        ],
        Duration::from_secs(120),
    );
    let errors = console_errors(&stderr);
    assert!(errors.is_empty(), "console errors opening dashboard.html:\n{}", errors.join("\n"));
    let line = dom
        .lines()
        .find(|l| l.contains("<pre id=\"probe\">PROBE "))
        .unwrap_or_else(|| panic!("the dashboard never got ready; stderr:\n{stderr}"));
    let at = line.find("<pre id=\"probe\">PROBE ").unwrap() + 22;
    let json = &line[at..at + line[at..].find("</pre>").unwrap()]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let d: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!((d["page"].as_str(), d["state"].as_str()), (Some("sweep"), Some("finished")), "{d}");
    // 18 completed jobs (the 6 with learning rate 10 diverged), 3 axes.
    let v = &d["views"];
    for (view, want) in [("parallel", 18), ("history", 18), ("slices", 18), ("importance", 3), ("table", 24)] {
        assert_eq!(v[view], want, "{view}: {d}");
    }
    assert!(v["intermediate"].as_u64().unwrap() >= 18, "{d}");
    assert_eq!(d["errors"], serde_json::json!([]));
}

#[test]
fn the_browser_check_sees_a_missing_image() {
    if !chromium_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    build_dir(tmp.path(), HEAD, &[job(0.1, 1e-4, 20, "completed", Some(0.42))]);
    report_ok(tmp.path());
    std::fs::remove_file(tmp.path().join("report/loss.png")).unwrap();
    let r = std::panic::catch_unwind(|| check_in_browser(tmp.path(), 3));
    assert!(r.is_err(), "a missing image went unnoticed");
}

// ---------------------------------------------------------------------------------------------------------------
// Nightly sweep: workflow, script and grid

#[test]
fn nightly_workflow_is_scheduled_caches_runs_the_script_and_uploads() {
    let path = project_root().join(".github/workflows/nightly.yml");
    let y: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let on = &y["on"];
    let cron = on["schedule"][0]["cron"].as_str().expect("on.schedule[0].cron");
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    assert!(on.as_mapping().unwrap().contains_key("workflow_dispatch"));
    let jobs = y["jobs"].as_mapping().expect("jobs");
    let steps: Vec<&serde_yaml::Value> = jobs
        .values()
        .flat_map(|j| j["steps"].as_sequence().expect("steps").iter())
        .collect();
    let uses = |prefix: &str| {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .collect::<Vec<_>>()
    };
    assert!(steps
        .iter()
        .any(|s| s["run"].as_str().is_some_and(|r| r.contains("scripts/nightly.sh"))));
    let upload = uses("actions/upload-artifact@");
    assert_eq!(upload.len(), 1);
    assert_eq!(
        upload[0]["if"].as_str(),
        Some("always()"),
        "results are uploaded even when the threshold fails"
    );
    assert!(upload[0]["with"]["path"].as_str().unwrap().contains("results/nightly"));
    let caches = uses("actions/cache@");
    assert!(caches.len() >= 2, "a cache for cargo and one for the data");
    assert!(caches
        .iter()
        .any(|c| c["with"]["path"].as_str().unwrap_or_default().contains("cifar-10-batches-bin")));
    assert!(!uses("actions/checkout@").is_empty());
}

#[test]
fn nightly_script_and_grid_are_valid() {
    let root = project_root();
    let script = root.join("scripts/nightly.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("set -euo pipefail"));
    assert!(text.contains("MIN_TEST_ACC"));
    assert!(text.contains("sweeps/nightly.toml") && text.contains("--report"));
    let syntax = Std::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
    let g = Grid::load(&root.join("sweeps/nightly.toml")).unwrap();
    let jobs = g.jobs().unwrap();
    assert!((2..=12).contains(&jobs.len()), "{} jobs: keep the nightly sweep small", jobs.len());
    assert!(g.axes.iter().any(|a| a.name() == "learning_rate") && g.axes.iter().any(|a| a.name() == "reg"));
}
