//! `sweep train`: one configuration from flags. The hyperparameter flags come from the parameter table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgMatches, FromArgMatches};
use sweep::config::params::{params, ValueError};
use sweep_core::data::{self, toy_dataset, DataSpec, DEFAULT_VAL_SIZE};
use sweep_core::train::{train, Control, EpochRecord, Observer};
use sweep_core::{Model, TrainConfig};

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
                let v = p.parse(text).map_err(|e| ValueError(format!("--{}: {e}", p.flag)))?;
                p.set(&mut c, v);
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
    sweep::config::params::warn_emulated_bf16([&*cfg]);
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
