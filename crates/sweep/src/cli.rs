//! The whole command line in one place: every command, flag and help text of `sweep`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Run(RunArgs),
    /// Print the jobs of a grid and the total work, without running anything.
    Plan(PlanArgs),
    /// Rank the jobs of every results.csv below a directory.
    Best(BestArgs),
    /// Train one configuration given by flags.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Compare analytic and numeric gradients on a random small network (the report's Table I).
    Gradcheck(GradcheckArgs),
    /// Predict the class of images with a checkpoint.
    Predict(PredictArgs),
    /// Accuracy of a checkpoint on a split of a data set.
    Eval(EvalArgs),
    /// Write a commented grids/cifar.toml and an empty results/ into the current directory.
    Init(InitArgs),
    /// Draw a results directory's figures into DIR/report/index.html.
    Report(ReportArgs),
    /// Data set commands.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Output directory [default: results/<name from the grid>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Data path, overriding the grid's [data] path (binary dir, .tar.gz or image folder).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Parallel jobs [default: all cores].
    #[arg(long, short = 'j')]
    pub workers: Option<usize>,
    /// Download CIFAR-10 to the data path if it does not exist.
    #[arg(long)]
    pub download: bool,
    /// Archive URL for --download.
    #[arg(long, env = "SWEEP_CIFAR10_URL", default_value = crate::download::OFFICIAL_URL, hide_default_value = true)]
    pub url: String,
    /// Expected SHA-256 of the archive at --url [default: the official archive's].
    #[arg(long, env = "SWEEP_CIFAR10_SHA256")]
    pub sha256: Option<String>,
    /// Also write the HTML report at the end.
    #[arg(long)]
    pub report: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct BestArgs {
    /// A results directory, or a folder holding several (searched recursively for results.csv).
    #[arg(default_value = "results")]
    pub dir: PathBuf,
    /// How many jobs to list.
    #[arg(long, short = 'k', default_value_t = 10)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Data path (binary dir, .tar.gz or image folder), or "toy" for the synthetic problem.
    #[arg(long, default_value = "../shared/cifar10")]
    pub data: PathBuf,
    /// Learning rate (> 0).
    #[arg(long = "lr", default_value_t = 0.1)]
    pub learning_rate: f64,
    /// L2 regularization strength on the weights (>= 0).
    #[arg(long, default_value_t = 1e-4)]
    pub reg: f64,
    /// Hidden units.
    #[arg(long = "hidden", default_value_t = 512)]
    pub hidden_size: usize,
    /// Learning-rate decay per epoch, in (0, 1].
    #[arg(long = "decay", default_value_t = 0.95)]
    pub lr_decay: f64,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Fixed weight standard deviation instead of Kaiming init (the report used 1e-4).
    #[arg(long)]
    pub init_std: Option<f64>,
    /// Seed of the split, the initialization and the shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images held out for validation.
    #[arg(long, default_value_t = 10_000)]
    pub val_size: usize,
    /// Use only this many training images.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Write the best-epoch model here (safetensors).
    #[arg(long)]
    pub save: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GradcheckArgs {
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Regularization strength used in the loss.
    #[arg(long, default_value_t = 0.05)]
    pub reg: f64,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Checkpoint (e.g. results/cifar/best.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Image files (JPEG or PNG of the model's input size).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint (e.g. results/cifar/best.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Data path (binary dir, .tar.gz or image folder).
    #[arg(long, default_value = "../shared/cifar10")]
    pub data: PathBuf,
    /// Which split to score; train and val are re-drawn as in training (the checkpoint records how).
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Validation images held out [default: as recorded in the checkpoint, else 10000].
    #[arg(long)]
    pub val_size: Option<usize>,
    /// Seed of the train/val split [default: as recorded in the checkpoint, else 0].
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing grids/cifar.toml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results directory (with results.csv).
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download and unpack a data set (only cifar10), checking its checksum.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Which data set.
    #[arg(value_parser = ["cifar10"])]
    pub dataset: String,
    /// Where to unpack it.
    #[arg(default_value = "data/cifar-10-batches-bin")]
    pub dir: PathBuf,
    #[arg(long, env = "SWEEP_CIFAR10_URL", default_value = crate::download::OFFICIAL_URL, hide_default_value = true)]
    pub url: String,
    /// Expected SHA-256 of the archive at --url [default: the official archive's].
    #[arg(long, env = "SWEEP_CIFAR10_SHA256")]
    pub sha256: Option<String>,
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
