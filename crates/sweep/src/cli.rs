//! The command line: the global flags and the list of commands; each command's own flags live in its file under
//! `commands/`.

use clap::{Parser, Subcommand};

use crate::commands::{best, data, eval, finish, gradcheck, init, k8s, plan, predict, report, run, serve, slurm, train};

#[derive(Debug, Parser)]
#[command(
    name = "sweep",
    version,
    about = "Train the two-layer network under many hyperparameter settings at once and find the best",
    long_about = "Train the two-layer network (affine-ReLU-affine, softmax, L2, SGD with lr decay) under every \
                  setting of a TOML grid, in parallel, and keep a CSV of results, the best checkpoint and its test accuracy.\n\n\
                  Typical use:\n  sweep init\n  sweep run grids/cifar.toml --data ../shared/cifar10\n  sweep best results/"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every job of a grid file (resumes a partly finished sweep in the same directory).
    Run(run::Args),
    /// Print the jobs of a grid and the total work, without running anything.
    Plan(plan::Args),
    /// Rank the jobs of every results.csv below a directory.
    Best(best::Args),
    /// Train one configuration given by flags.
    #[command(allow_negative_numbers = true)]
    Train(train::Args),
    /// Compare analytic and numeric gradients on a random small network (the report's Table I).
    Gradcheck(gradcheck::Args),
    /// Predict the class of images with a checkpoint.
    Predict(predict::Args),
    /// Accuracy of a checkpoint on a split of a data set.
    Eval(eval::Args),
    /// Write a commented grids/cifar.toml and an empty results/ into the current directory.
    Init(init::Args),
    /// Draw a results directory's figures into DIR/report/index.html.
    Report(report::Args),
    /// Serve a live dashboard and JSON API over the sweeps under some directories (read-only).
    Serve(serve::Args),
    /// Data set commands.
    #[command(subcommand)]
    Data(data::Command),
    /// After every shard: evaluate the overall best on the test split (once) and write the report.
    Finish(finish::Args),
    /// Run a sweep as a Slurm job array: print the sbatch script, or submit it with the finishing job.
    Slurm(slurm::Args),
    /// Print the Kubernetes Indexed Job (and finishing Job) running a sweep as N pods.
    K8s(k8s::Args),
    /// Internal: leads one run of a command trial's process group (started by sweep, never by hand).
    #[cfg(unix)]
    #[command(name = "__shepherd", hide = true)]
    Shepherd(crate::commands::shepherd::Args),
}

impl Command {
    /// Runs the command.
    pub fn exec(&self) -> anyhow::Result<std::process::ExitCode> {
        match self {
            Command::Run(a) => run::exec(a),
            Command::Plan(a) => plan::exec(a),
            Command::Best(a) => best::exec(a),
            Command::Train(a) => train::exec(a),
            Command::Gradcheck(a) => gradcheck::exec(a),
            Command::Predict(a) => predict::exec(a),
            Command::Eval(a) => eval::exec(a),
            Command::Init(a) => init::exec(a),
            Command::Report(a) => report::exec(a),
            Command::Serve(a) => serve::exec(a),
            Command::Data(c) => data::exec(c),
            Command::Finish(a) => finish::exec(a),
            Command::Slurm(a) => slurm::exec(a),
            Command::K8s(a) => k8s::exec(a),
            #[cfg(unix)]
            Command::Shepherd(a) => crate::commands::shepherd::exec(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
