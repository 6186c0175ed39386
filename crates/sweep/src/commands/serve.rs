//! `sweep serve`: a live dashboard and JSON API over the sweeps under some directories.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sweep_serve::{new_token, serve, Limits, Options, REFRESH};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directories searched for results directories (each with results.csv or sweep.json), up to 4 levels down.
    #[arg(default_value = "results")]
    pub dirs: Vec<PathBuf>,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Anything but the loopback address needs a token: --token, or one is generated and printed.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// A token every request must carry (?token=, Authorization: Bearer, or the cookie set on the first visit).
    #[arg(long, env = "SWEEP_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn exec(args: &Args) -> Result<ExitCode> {
    let token = match &args.token {
        Some(t) if t.trim().is_empty() => anyhow::bail!("--token is empty: give a secret, or leave --token out to get one"),
        Some(t) => Some(t.clone()),
        None if !args.bind.is_loopback() => Some(new_token()),
        None => None,
    };
    let opts = Options {
        roots: args.dirs.clone(),
        addr: SocketAddr::new(args.bind, args.port),
        token: token.clone(),
        refresh: REFRESH,
        limits: limits_from_env()?,
    };
    let dirs: Vec<String> = args.dirs.iter().map(|d| d.display().to_string()).collect();
    serve(opts, |addr| {
        let host = if addr.ip().is_unspecified() {
            "HOST".to_string()
        } else {
            addr.ip().to_string()
        };
        let host = if addr.is_ipv6() { format!("[{host}]") } else { host };
        let query = token.as_ref().map_or(String::new(), |t| format!("?token={t}"));
        // The first line is the address (tests and scripts read it); then what is served. Nothing is printed later.
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "sweep serve: http://{host}:{}/{query}\nserving the sweeps under {} (read-only; Ctrl-C stops)\n",
            addr.port(),
            dirs.join(", ")
        );
        let _ = out.flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The connection limits: the defaults, or for tests only `SWEEP_SERVE_HEADER_TIMEOUT_MS` (the header timeout, in
/// milliseconds) and `SWEEP_SERVE_MAX_CONNECTIONS` (the cap), so that a test waits a second rather than ten and
/// opens a few connections rather than 256. Not meant for users: docs/serve.md names them as test settings.
fn limits_from_env() -> Result<Limits> {
    let mut limits = Limits::default();
    let var = |name: &str| -> Result<Option<u64>> {
        match std::env::var(name) {
            Err(_) => Ok(None),
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=3_600_000).contains(&n) => Ok(Some(n)),
                _ => anyhow::bail!("{name}={v:?}: expected a whole number from 1 to 3600000"),
            },
        }
    };
    if let Some(ms) = var("SWEEP_SERVE_HEADER_TIMEOUT_MS")? {
        limits.header_timeout = std::time::Duration::from_millis(ms);
    }
    if let Some(n) = var("SWEEP_SERVE_MAX_CONNECTIONS")? {
        limits.max_connections = n as usize;
    }
    Ok(limits)
}
