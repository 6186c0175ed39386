//! `sweep best`: rank the jobs of every results.csv below a directory, saying which sweeps are not done yet.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;
use sweep_results::best;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A results directory, or a folder holding several (searched recursively for results.csv).
    #[arg(default_value = "results")]
    pub dir: PathBuf,
    /// How many jobs to list.
    #[arg(long, short = 'k', default_value_t = 10)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let ranking = best::rank(&args.dir)?;
    // The table says it in place; CSV and JSON are read by programs (JSON also has `not_done`), so the person who
    // ran the command is told on stderr.
    if args.format != Format::Table {
        for sw in &ranking.sweeps {
            if let Some(note) = best::unfinished(sw) {
                tracing::warn!(
                    "sweep {}: {note} The best's test accuracy is computed once every job is recorded.",
                    sw.sweep
                );
            }
        }
    }
    let text = match args.format {
        Format::Table => best::to_table(&ranking, args.top),
        Format::Csv => best::to_csv(&ranking, args.top),
        Format::Json => best::to_json(&ranking, args.top),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
