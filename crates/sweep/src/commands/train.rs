//! `sweep train`: one configuration from flags. The hyperparameter flags come from the parameter table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgMatches, FromArgMatches};
use sweep_core::data::{self, toy_dataset, DataSpec, DEFAULT_VAL_SIZE};
use sweep_core::train::{train, Control, EpochRecord, Observer};
use sweep_core::{Model, TrainConfig};
use sweep_grid::grid::{DataSection, DataSource};
use sweep_grid::memory;
use sweep_params::params::{param, params, Value, ValueError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data path (binary dir, .tar.gz or image folder), or "toy" for the synthetic problem.
    #[arg(long, default_value = "../shared/cifar10")]
    pub data: PathBuf,
    #[command(flatten)]
    pub params: ParamFlags,
    /// Seed of the split, the initialization and the shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images held out for validation.
    #[arg(long, default_value_t = DEFAULT_VAL_SIZE)]
    pub val_size: usize,
    /// Use only this many training images.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Write the best-epoch model here (safetensors).
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// One flag per hyperparameter of the table (`--lr`, `--hidden`, ...), defaulting to the table's defaults.
#[derive(Debug, Clone, Default)]
pub struct ParamFlags {
    /// (parameter name, text given or the default's).
    given: Vec<(&'static str, String)>,
}

impl ParamFlags {
    /// The configuration the flags describe; the error names the flag and the valid range.
    pub fn config(&self) -> Result<TrainConfig, ValueError> {
        let mut c = TrainConfig::default();
        for p in params() {
            if let Some((_, text)) = self.given.iter().find(|(n, _)| *n == p.name) {
                let flag = |e: ValueError| ValueError(format!("--{}: {e}", p.flag));
                let v = p.parse(text).map_err(flag)?;
                p.try_set(&mut c, v).map_err(flag)?;
            }
        }
        Ok(c)
    }
}

impl FromArgMatches for ParamFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let given = params()
            .iter()
            .filter_map(|p| m.get_one::<String>(p.name).map(|v| (p.name, v.clone())))
            .collect();
        Ok(ParamFlags { given })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for ParamFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let defaults = TrainConfig::default();
        params().iter().fold(cmd, |cmd, p| {
            cmd.arg(
                Arg::new(p.name)
                    .long(p.flag)
                    .value_name(p.name.to_uppercase())
                    .help(p.help)
                    .default_value(p.text(&defaults)),
            )
        })
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The data `args` ask for, as a grid's `[data]` would say it (for the memory estimate, before anything is loaded).
fn data_section(args: &Args) -> DataSection {
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
fn check_memory(cfg: &TrainConfig, args: &Args) -> Result<()> {
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
    bail!("{culprit}: this job {}", need.too_much(&machine, &flag))
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

pub fn exec(args: &Args) -> Result<ExitCode> {
    let mut cfg = args.params.config().context("invalid training flag")?;
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
