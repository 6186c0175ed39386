//! `sweep train`: one configuration, given by flags, trained on the data and saved.

use std::path::PathBuf;
use std::process::ExitCode;

use sweep_core::data::{self, toy_dataset, DataSpec};
use sweep_core::train::{train, Control, EpochRecord, Observer};
use sweep_core::{Model, TrainConfig};
use sweep_grid::grid::{DataSection, DataSource};
use sweep_grid::memory;
use sweep_params::params::{param, Value};

use super::{input, Context, Result};

/// What `sweep train` was asked.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    /// Data path, or "toy" for the synthetic problem.
    pub data: PathBuf,
    /// The configuration the flags give (checked here).
    pub config: TrainConfig,
    pub seed: u64,
    pub val_size: usize,
    pub train_size: Option<usize>,
    /// Where to write the best-epoch model.
    pub save: Option<PathBuf>,
}

/// The data `args` ask for, as a grid's `[data]` would say it (for the memory estimate, before anything is loaded).
fn data_section(args: &TrainArgs) -> DataSection {
    let toy = args.data.as_os_str() == "toy";
    DataSection {
        source: if toy {
            DataSource::Toy
        } else {
            DataSource::Path(args.data.clone())
        },
        val_size: args.val_size,
        train_size: args.train_size,
        test_size: None,
        path_pos: None,
        // The toy problem of `sweep train` always holds out 200 images, its default.
        val_size_pos: (!toy).then_some((0, 0)),
    }
}

/// Refuses a configuration whose job and data cannot fit in this machine's memory, as a grid is refused, before the
/// data are loaded or a weight is allocated; the message names the flag whose smallest value would save the most.
fn check_memory(cfg: &TrainConfig, args: &TrainArgs) -> Result<()> {
    let data = data_section(args);
    let need = memory::need(cfg, &data);
    let Some(machine) = memory::machine() else { return Ok(()) };
    if need.total() <= machine.bytes {
        return Ok(());
    }
    let mut blame: Vec<(u64, String)> = Vec::new();
    for name in ["hidden_size", "epochs", "batch_size"] {
        if let Some(p) = param(name) {
            let mut small = cfg.clone();
            if p.try_set(&mut small, Value::Num(1.0)).is_ok() {
                let saved = need.total().saturating_sub(memory::need(&small, &data).total());
                blame.push((saved, format!("--{} {}", p.flag, p.text(cfg))));
            }
        }
    }
    if let Some(n) = args.train_size {
        let small = DataSection {
            train_size: Some(1),
            ..data.clone()
        };
        let saved = need.total().saturating_sub(memory::need(cfg, &small).total());
        blame.push((saved, format!("--train-size {n}")));
    }
    let culprit = blame
        .into_iter()
        .max_by_key(|(saved, _)| *saved)
        .map_or_else(|| "this configuration".to_string(), |(_, flag)| flag);
    let flag = culprit.split(' ').next().unwrap_or("the flags").to_string();
    Err(input!("{culprit}: this job {}", need.too_much(&machine, &flag)))
}

struct PrintEpochs;
impl Observer for PrintEpochs {
    fn on_epoch(&mut self, r: &EpochRecord) -> Control {
        println!(
            "epoch {:>3}  lr {:.5}  loss {:.4}  train {:.2} %  val {:.2} %",
            r.epoch,
            r.lr,
            r.loss,
            100.0 * r.train_acc,
            100.0 * r.val_acc
        );
        Control::Continue
    }
}

/// `sweep train`: trains `args.config` (unchecked: it is checked here), prints each epoch and the test accuracy of
/// the best epoch, and saves the model when asked.
pub fn train_one(args: &TrainArgs) -> Result<ExitCode> {
    let mut cfg = args.config.clone();
    cfg.seed = args.seed;
    let cfg = cfg.check().context("invalid training flag")?;
    check_memory(&cfg, args)?;
    sweep_params::params::warn_emulated_bf16([&*cfg]);
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
    sweep_core::train::check_data(&cfg, &ds.train_data()).with_context(|| format!("cannot train on {}", ds.description))?;
    let started = std::time::Instant::now();
    let out = train(&cfg, ds.train_data(), &mut PrintEpochs);
    let Some(net) = out.best_net else {
        return Err(input!("training {} before the first epoch ended: no model", out.status.as_str()));
    };
    let test = net.accuracy(ds.x_test.view(), &ds.y_test);
    println!(
        "{}: best val {:.2} % at epoch {}, test {:.2} %, {:.1} s",
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
