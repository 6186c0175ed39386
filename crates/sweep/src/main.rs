//! The `sweep` binary: parse flags, set up logging, run one command, map its outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;

use cli::Cli;

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
            // The message and its causes, each once: no message repeats its own cause.
            eprintln!("error: {e:#}");
            // A run the machine failed (a full disk mid-run) is not a usage error: its own code, EX_IOERR.
            let environmental = e
                .downcast_ref::<sweep_runner::ops::OpsError>()
                .is_some_and(sweep_runner::ops::OpsError::is_environmental);
            ExitCode::from(if environmental { sweep_runner::ops::EXIT_IO } else { EXIT_USAGE })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    cli.command.exec()
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
