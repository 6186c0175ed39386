//! `sweep train`: one configuration from flags. The hyperparameter flags come from the parameter table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, FromArgMatches};
use sweep_core::data::DEFAULT_VAL_SIZE;
use sweep_core::TrainConfig;
use sweep_params::params::{params, ValueError};
use sweep_runner::ops::train::TrainArgs;

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

pub fn exec(args: &Args) -> Result<ExitCode> {
    let config = args.params.config().context("invalid training flag")?;
    Ok(sweep_runner::ops::train::train_one(&TrainArgs {
        data: args.data.clone(),
        config,
        seed: args.seed,
        val_size: args.val_size,
        train_size: args.train_size,
        save: args.save.clone(),
    })?)
}
