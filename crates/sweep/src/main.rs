//! The `sweep` binary: parse flags, set up logging, run one command, map its outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use sweep::cli::{Cli, Command, DataCommand};
use sweep::commands;

/// Exit code for every error a user can cause (bad grid, bad value, missing data, unwritable output).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sweep: internal error: {info}\nThis is a bug; please report it with the command you ran.");
    }));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run(a) => commands::run(a),
        Command::Plan(a) => commands::plan(a),
        Command::Best(a) => commands::best(a),
        Command::Train(a) => commands::train_one(a),
        Command::Gradcheck(a) => commands::gradcheck(a),
        Command::Predict(a) => commands::predict(a),
        Command::Eval(a) => commands::eval(a),
        Command::Init(a) => commands::init(a),
        Command::Report(a) => commands::report(&a.dir),
        Command::Data(DataCommand::Fetch(a)) => commands::fetch(a),
    }
}

/// The error and its causes on one line, each cause only once (many messages already quote their cause).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}

/// Rust ignores SIGPIPE, which turns `sweep best | head` into a failed write to stdout; the default action ends the
/// process quietly instead, as for any Unix filter.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr; `-v`/`-q` pick the level and `RUST_LOG` overrides it.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
