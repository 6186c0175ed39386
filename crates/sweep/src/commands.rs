//! One function per `sweep` command: each turns validated arguments into work on the library and prints the result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use sweep_core::data::{self, toy_dataset, DataSpec};
use sweep_core::train::{train, Control, EpochRecord, Observer};
use sweep_core::{DataError, Dataset, Init, Model, TrainConfig};

use crate::cli::{BestArgs, EvalArgs, FetchArgs, Format, GradcheckArgs, InitArgs, PlanArgs, PredictArgs, RunArgs, Split, TrainArgs};
use crate::download::{fetch_cifar10, Expected, FetchOptions};
use crate::grid::{DataSource, Grid, PARAMS};
use crate::results::{check_dir, ResultsDir};
use crate::{best, runner};

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// What the downloaded archive must match: the given SHA-256, or else the official archive's size and checksums
/// (a mirror given with --url serves the same file).
fn expected(sha256: &Option<String>) -> Expected {
    sha256.as_ref().map_or_else(Expected::official, |s| Expected::sha256(s.clone()))
}

/// The data a grid asks for, after `--data`; a missing path is an error that names the grid line and the fix.
fn resolve_data_path(grid: &Grid, args: &RunArgs) -> Result<Option<PathBuf>> {
    let path = match (&args.data, &grid.data.source) {
        (Some(p), _) if p.as_os_str() == "toy" => return Ok(None),
        (Some(p), _) => p.clone(),
        (None, DataSource::Toy) => return Ok(None),
        (None, DataSource::Path(p)) => p.clone(),
    };
    if !path.exists() {
        if args.download {
            let opts = FetchOptions {
                url: args.url.clone(),
                dest: path.clone(),
                expected: expected(&args.sha256),
                progress: runner::stderr_is_terminal(),
            };
            tracing::info!("downloading CIFAR-10 from {} to {}", args.url, path.display());
            fetch_cifar10(&opts)?;
            return Ok(Some(path));
        }
        let at = match (&args.data, grid.data.path_pos) {
            (None, Some((line, col))) => format!("{}:{line}:{col}: data.path: ", grid.file.display()),
            _ => "--data: ".to_string(),
        };
        bail!(
            "{at}{} does not exist. Download CIFAR-10 there with `sweep run {} --download{}`, or point --data at an existing copy \
             (binary dir, .tar.gz, or image folder)",
            path.display(),
            grid.file.display(),
            args.data.as_ref().map_or(String::new(), |d| format!(" --data {}", d.display()))
        );
    }
    Ok(Some(path))
}

fn load_data(grid: &Grid, path: Option<&Path>) -> Result<Dataset> {
    let d = &grid.data;
    let Some(path) = path else {
        let n_val = if d.val_size_pos.is_some() { d.val_size } else { 200 };
        return Ok(toy_dataset(
            grid.seed,
            d.train_size.unwrap_or(600),
            n_val.max(1),
            d.test_size.unwrap_or(200),
        ));
    };
    let spec = DataSpec {
        val_size: d.val_size,
        train_size: d.train_size,
        test_size: d.test_size,
        seed: grid.seed,
    };
    let started = std::time::Instant::now();
    let ds = data::load(path, &spec).map_err(|e| match (&e, d.val_size_pos) {
        (DataError::Split { what: "val_size", .. }, Some((line, col))) => {
            anyhow::anyhow!("{}:{line}:{col}: data.val_size: {e}", grid.file.display())
        }
        _ => anyhow::Error::new(e),
    })?;
    tracing::info!("loaded {} in {:.1} s", ds.description, started.elapsed().as_secs_f64());
    Ok(ds)
}

/// `sweep run`.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    let jobs = grid.jobs();
    let out = args.out.clone().unwrap_or_else(|| Path::new("results").join(&grid.name));
    let workers = match args.workers {
        Some(0) => bail!("--workers 0 is invalid: give at least 1 (default: all {} cores)", num_cpus()),
        Some(w) => w,
        None => num_cpus(),
    };
    // Everything the user can get wrong is checked before anything is written.
    check_dir(&out, &grid, &grid.fingerprint(&jobs))?;
    let data_path = resolve_data_path(&grid, args)?;
    let data = load_data(&grid, data_path.as_deref())?;
    let (results, done) = ResultsDir::open(&out, &grid, &jobs)?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // The first Ctrl-C stops the running jobs at their next step (they are not recorded and rerun on resume);
        // a second one exits at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            eprintln!("\ninterrupted: stopping; finished rows are kept, run the same command again to resume (Ctrl-C again quits now)");
        });
    }
    tracing::info!(
        "sweep {}: {} jobs ({} done), {workers} workers, results in {}",
        grid.name,
        jobs.len(),
        done.len(),
        out.display()
    );
    let started = std::time::Instant::now();
    let summary = runner::run(
        &jobs,
        &done,
        &data,
        &results,
        &runner::RunOptions {
            workers,
            stop: &stop,
            progress: runner::stderr_is_terminal(),
        },
    )?;
    if summary.interrupted {
        eprintln!(
            "stopped after {} new jobs; {} recorded in {}",
            summary.rows.len(),
            summary.rows.len() + summary.skipped,
            out.display()
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    let best = results.finish(&data)?;
    let ranking = best::rank(&out)?;
    println!("{}", best::to_table(&ranking, 10));
    println!(
        "{} jobs run in {:.1} s ({} were already done); results in {}",
        summary.rows.len(),
        started.elapsed().as_secs_f64(),
        summary.skipped,
        out.display()
    );
    if best.is_none() {
        tracing::warn!("no job completed, so there is no best model");
    }
    if args.report {
        let index = crate::report::write_report(&out)?;
        println!("report: {}", index.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `sweep plan`.
pub fn plan(args: &PlanArgs) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    let jobs = grid.jobs();
    let axes: Vec<&str> = grid.axes.iter().map(|a| a.name.as_str()).collect();
    let shown: Vec<&str> = PARAMS.iter().copied().filter(|p| axes.contains(p) || *p != "init_std").collect();
    let mut out = format!("{:>5}  {:<12}", "job", "id");
    for p in &shown {
        out.push_str(&format!("  {p:>13}"));
    }
    out.push('\n');
    for j in &jobs {
        out.push_str(&format!("{:>5}  {:<12}", j.index + 1, j.id));
        for p in &shown {
            out.push_str(&format!("  {:>13}", crate::grid::param_text(&j.config, p)));
        }
        out.push('\n');
    }
    let (n_train, assumed) = match (&grid.data.source, grid.data.train_size) {
        (_, Some(t)) => (t, ""),
        (DataSource::Toy, None) => (600, ""),
        (DataSource::Path(_), None) => (
            50_000usize.saturating_sub(grid.data.val_size),
            " (assuming CIFAR-10's 50,000 training images)",
        ),
    };
    let epochs: usize = jobs.iter().map(|j| j.config.epochs).sum();
    // Per image and epoch: forward X·W1 and the W1 gradient dominate: 2 GEMMs of 2·D·H FLOPs (D = 3,072).
    let gflop: f64 = jobs
        .iter()
        .map(|j| (j.config.epochs * n_train) as f64 * 4.0 * 3072.0 * j.config.hidden_size as f64 / 1e9)
        .sum();
    out.push_str(&format!(
        "\n{} jobs over {} axes ({}); {} epochs in all, {} training images each{}; about {:.0} GFLOP of training.\n",
        jobs.len(),
        grid.axes.len(),
        if axes.is_empty() { "none".to_string() } else { axes.join(", ") },
        epochs,
        n_train,
        assumed,
        gflop
    ));
    // The measured training throughput on an AVX-512 core (README, Performance), validation passes included.
    const GFLOPS_PER_CORE: f64 = 130.0;
    let cores = num_cpus();
    let minutes = gflop / (GFLOPS_PER_CORE * cores as f64) / 60.0;
    out.push_str(&format!(
        "Estimated time: about {} on {cores} cores at ~{GFLOPS_PER_CORE:.0} GFLOP/s per core (a rough guide; CPUs differ).\n",
        if minutes < 120.0 {
            format!("{minutes:.0} min")
        } else {
            format!("{:.1} h", minutes / 60.0)
        }
    ));
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `sweep best`.
pub fn best(args: &BestArgs) -> Result<ExitCode> {
    let ranking = best::rank(&args.dir)?;
    let text = match args.format {
        Format::Table => best::to_table(&ranking, args.top),
        Format::Csv => best::to_csv(&ranking, args.top),
        Format::Json => best::to_json(&ranking, args.top),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

struct PrintEpochs;
impl Observer for PrintEpochs {
    fn on_epoch(&mut self, r: &EpochRecord) -> Control {
        println!(
            "epoch {:>3}  lr {:.5}  loss {:.4}  train {:.2}%  val {:.2}%",
            r.epoch,
            r.lr,
            r.loss,
            100.0 * r.train_acc,
            100.0 * r.val_acc
        );
        Control::Continue
    }
}

/// `sweep train`.
pub fn train_one(args: &TrainArgs) -> Result<ExitCode> {
    let cfg = TrainConfig {
        learning_rate: args.learning_rate,
        reg: args.reg,
        hidden_size: args.hidden_size,
        lr_decay: args.lr_decay,
        epochs: args.epochs,
        batch_size: args.batch_size,
        init: args.init_std.map_or(Init::Kaiming, Init::Std),
        seed: args.seed,
    }
    .check()
    .context("invalid training flag")?;
    let ds = if args.data.as_os_str() == "toy" {
        toy_dataset(args.seed, args.train_size.unwrap_or(600), 200, 200)
    } else {
        data::load(
            &args.data,
            &DataSpec {
                val_size: args.val_size,
                train_size: args.train_size,
                test_size: None,
                seed: args.seed,
            },
        )?
    };
    tracing::info!("{}", ds.description);
    let started = std::time::Instant::now();
    let out = train(&cfg, ds.train_data(), &mut PrintEpochs);
    let Some(net) = out.best_net else {
        bail!("training {} before the first epoch ended: no model", out.status.as_str())
    };
    let test = net.accuracy(ds.x_test.view(), &ds.y_test);
    println!(
        "{}: best val {:.2}% at epoch {}, test {:.2}%, {:.1} s",
        out.status.as_str(),
        100.0 * out.best_val_acc,
        out.best_epoch.unwrap_or(0),
        100.0 * test,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.save {
        let meta = sweep_core::checkpoint::ModelMeta {
            hyperparameters: (*cfg).clone(),
            class_names: ds.class_names.clone(),
            input_shape: ds.input_shape.clone(),
            val_accuracy: out.best_val_acc,
            data_split: ds.spec.clone(),
        };
        Model {
            net,
            mean: ds.mean.clone(),
            meta,
        }
        .save(path)?;
        println!("saved {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep gradcheck`.
pub fn gradcheck(args: &GradcheckArgs) -> Result<ExitCode> {
    let (net, x, y) = sweep_core::gradcheck::random_problem(args.seed, 5, 4, 10, 3);
    let r = sweep_core::gradcheck::grad_check(&net, x.view(), &y, args.reg, 1e-5);
    println!(
        "Gradient check (N=5, D=4, H=10, C=3, reg={}, f64, centered differences h=1e-5)",
        args.reg
    );
    println!("{:<10} {:>20}", "Parameter", "Max Relative Error");
    for (name, err) in r.rows() {
        println!("{name:<10} {err:>20.6e}");
    }
    if r.max() >= 1e-7 {
        bail!("max relative error {:.3e} is above 1e-7: the analytic gradients are wrong", r.max());
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep predict`.
pub fn predict(args: &PredictArgs) -> Result<ExitCode> {
    let model = Model::load(&args.model)?;
    let paths: Vec<&Path> = args.images.iter().map(PathBuf::as_path).collect();
    for (p, pred) in paths.iter().zip(model.predict_files(&paths)?) {
        println!("{}\t{}\t{:.4}", p.display(), pred.class_name, pred.probabilities[pred.class_id]);
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep eval`.
pub fn eval(args: &EvalArgs) -> Result<ExitCode> {
    let model = Model::load(&args.model)?;
    // The train/val split is re-drawn as it was in training: flags, else what the checkpoint recorded.
    let recorded = model.meta.data_split.as_ref();
    let spec = DataSpec {
        val_size: args.val_size.or(recorded.map(|s| s.val_size)).unwrap_or(10_000),
        train_size: None,
        test_size: None,
        seed: args.seed.or(recorded.map(|s| s.seed)).unwrap_or(0),
    };
    let ds = data::load(&args.data, &spec)?;
    if ds.class_names != model.meta.class_names || ds.input_size() != model.net.input_size() {
        bail!(
            "{} does not fit the data at {}: model classes {:?} with {} inputs, data classes {:?} with {} inputs",
            args.model.display(),
            args.data.display(),
            model.meta.class_names,
            model.net.input_size(),
            ds.class_names,
            ds.input_size()
        );
    }
    let as_trained = recorded.is_some_and(|r| (r.seed, r.val_size) == (spec.seed, spec.val_size));
    if args.split != Split::Test && !as_trained {
        tracing::warn!(
            "the {:?} split is drawn with seed {} and val_size {}, not as recorded for this model ({}): \
             it may contain images the model was trained on",
            args.split,
            spec.seed,
            spec.val_size,
            recorded.map_or("nothing recorded".to_string(), |r| format!(
                "seed {}, val_size {}",
                r.seed, r.val_size
            ))
        );
    }
    let (x, y) = match args.split {
        Split::Train => (&ds.x_train, &ds.y_train),
        Split::Val => (&ds.x_val, &ds.y_val),
        Split::Test => (&ds.x_test, &ds.y_test),
    };
    // The data were centred with their own training mean; re-centre with the model's.
    let shift = &ds.mean - &model.mean;
    let x = x + &shift;
    let acc = model.net.accuracy(x.view(), y);
    println!("{:?} accuracy: {:.2}% ({} images)", args.split, 100.0 * acc, y.len());
    Ok(ExitCode::SUCCESS)
}

/// The grid `sweep init` writes (the shipped sweeps/cifar.toml with its data path chosen for this directory).
const CIFAR_GRID: &str = include_str!("../../../sweeps/cifar.toml");

/// `sweep init`.
pub fn init(args: &InitArgs) -> Result<ExitCode> {
    let grid_path = Path::new("grids/cifar.toml");
    if grid_path.exists() && !args.force {
        bail!("{} already exists; pass --force to overwrite it", grid_path.display());
    }
    let data = if Path::new("../shared/cifar10").is_dir() {
        "../shared/cifar10"
    } else {
        "data/cifar-10-batches-bin"
    };
    let text = CIFAR_GRID.replace("path = \"../shared/cifar10\"", &format!("path = \"{data}\""));
    std::fs::create_dir_all("grids").context("cannot create grids/ in the current directory")?;
    std::fs::create_dir_all("results").context("cannot create results/ in the current directory")?;
    sweep_core::checkpoint::write_atomic(grid_path, text.as_bytes()).with_context(|| format!("cannot write {}", grid_path.display()))?;
    println!("wrote {} (data: {data}) and results/", grid_path.display());
    if !Path::new(data).exists() {
        println!("CIFAR-10 is not at {data} yet: `sweep run grids/cifar.toml --download` fetches it.");
    }
    println!("next: sweep run grids/cifar.toml   then: sweep best results/");
    Ok(ExitCode::SUCCESS)
}

/// `sweep data fetch`.
pub fn fetch(args: &FetchArgs) -> Result<ExitCode> {
    let opts = FetchOptions {
        url: args.url.clone(),
        dest: args.dir.clone(),
        expected: expected(&args.sha256),
        progress: runner::stderr_is_terminal(),
    };
    let dest = fetch_cifar10(&opts)?;
    println!("CIFAR-10 is in {}", dest.display());
    Ok(ExitCode::SUCCESS)
}

/// `sweep report`.
pub fn report(dir: &Path) -> Result<ExitCode> {
    let index = crate::report::write_report(dir)?;
    println!("report: {}", index.display());
    Ok(ExitCode::SUCCESS)
}
