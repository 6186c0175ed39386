//! `sweep serve`: a live dashboard and a JSON API over every sweep found under some directories, read-only, while
//! sweeps run (one process or many, on this machine or others writing to a shared directory) and after.
//!
//! What it serves comes from the report crate's live layer ([`sweep_report::live`]): the sweeps found under the
//! roots, each one's state refreshed from its files by one watcher thread, published as views, and the JSON bodies of
//! the API. This crate is the HTTP part: the routes (`api`), the checks every request passes (`auth`), and the
//! watcher loop.
//!
//! The HTTP stack is axum on tokio (HTTP/1 only, a current-thread runtime): handlers only read the published views,
//! so one thread serves every request; files are read by the watcher thread and, for one trial's history, on
//! tokio's blocking pool. Connections are accepted and driven by `conn` (hyper's HTTP/1 builder with a header
//! timeout, a cap on connections, JSON for hyper's own refusals) rather than `axum::serve`.

mod api;
mod auth;
mod conn;

pub use conn::{Limits, CONNECTION_LIFETIME, HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEADERS, MAX_HEAD_BYTES};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sweep_report::live::discover;
use sweep_report::live::view::View;
use sweep_report::live::LiveSweep;

/// How often the watcher rereads the sweeps (what changed only).
pub const REFRESH: Duration = Duration::from_secs(1);
/// How often the served directories are searched for new sweeps.
pub const RESCAN: Duration = Duration::from_secs(5);

/// Errors of `sweep serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} does not exist: give directories holding results (default results/)")]
    Missing(PathBuf),
    #[error("cannot listen on {addr}: {source} (choose another --port, or --port 0 for any free one)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped")]
    Io(#[source] std::io::Error),
}

/// What to serve, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directories searched for results directories.
    pub roots: Vec<PathBuf>,
    pub addr: SocketAddr,
    /// Required on every request when set.
    pub token: Option<String>,
    pub refresh: Duration,
    /// The header timeout and the cap on connections.
    pub limits: Limits,
}

/// Every sweep served, as the handlers see them.
#[derive(Default)]
pub(crate) struct Catalog {
    pub sweeps: Vec<Arc<View>>,
    by_key: HashMap<String, usize>,
}

impl Catalog {
    pub fn get(&self, key: &str) -> Option<Arc<View>> {
        self.by_key.get(key).map(|&i| self.sweeps[i].clone())
    }
}

/// What the watcher publishes and the handlers read.
#[derive(Default)]
pub(crate) struct Shared {
    catalog: RwLock<Arc<Catalog>>,
}

impl Shared {
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn publish(&self, sweeps: &[LiveSweep]) {
        let list: Vec<Arc<View>> = sweeps.iter().map(|s| s.view()).collect();
        let by_key = sweeps.iter().enumerate().map(|(i, s)| (s.key.clone(), i)).collect();
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Catalog { sweeps: list, by_key });
    }
}

/// The sweeps being watched, found again every [`RESCAN`].
struct Watcher {
    roots: Vec<PathBuf>,
    sweeps: Vec<LiveSweep>,
    keys: HashMap<PathBuf, String>,
}

impl Watcher {
    fn rescan(&mut self) {
        let found = discover::find(&self.roots);
        let mut kept: Vec<LiveSweep> = Vec::new();
        let mut old: HashMap<PathBuf, LiveSweep> = self.sweeps.drain(..).map(|s| (s.found.dir.clone(), s)).collect();
        for f in found {
            if let Some(s) = old.remove(&f.dir) {
                kept.push(s);
                continue;
            }
            let key = match self.keys.get(&f.dir) {
                Some(k) => k.clone(),
                None => {
                    let name = sweep_results::format::read_manifest(&f.dir)
                        .ok()
                        .flatten()
                        .map(|m| m.name)
                        .unwrap_or_else(|| f.dir.file_name().map_or("sweep".into(), |n| n.to_string_lossy().into_owned()));
                    let base = discover::url_name(&name);
                    let taken = |k: &str| self.keys.values().any(|v| v == k);
                    let mut key = base.clone();
                    let mut n = 2;
                    while taken(&key) {
                        key = format!("{base}-{n}");
                        n += 1;
                    }
                    self.keys.insert(f.dir.clone(), key.clone());
                    key
                }
            };
            tracing::info!("serving {} as {key}", f.dir.display());
            kept.push(LiveSweep::new(key, f));
        }
        kept.sort_by(|a, b| a.found.rel.cmp(&b.found.rel));
        self.sweeps = kept;
    }
}

/// Runs the watcher: rescans and refreshes forever, publishing after each sweep. `w` has just been scanned.
fn watch(shared: Arc<Shared>, mut w: Watcher, refresh: Duration) {
    let mut last_scan = Instant::now();
    loop {
        let started = Instant::now();
        if last_scan.elapsed() >= RESCAN {
            w.rescan();
            shared.publish(&w.sweeps);
            last_scan = Instant::now();
        }
        for i in 0..w.sweeps.len() {
            w.sweeps[i].refresh(SystemTime::now());
            shared.publish(&w.sweeps);
        }
        std::thread::sleep(refresh.saturating_sub(started.elapsed()).max(Duration::from_millis(50)));
    }
}

/// The served directories, resolved.
pub fn resolve_roots(roots: &[PathBuf]) -> Result<Vec<PathBuf>, ServeError> {
    roots
        .iter()
        .map(|r| r.canonicalize().map_err(|_| ServeError::Missing(r.clone())))
        .collect()
}

/// Serves until the process ends. `ready` is called once the socket listens, with its address.
pub fn serve(opts: Options, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let roots = resolve_roots(&opts.roots)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Io)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
        let addr = listener.local_addr().map_err(ServeError::Io)?;
        let shared = Arc::new(Shared::default());
        // The sweeps already there are found (not yet read) before the address is announced, so a request right
        // after it names them: it gets their view, empty until the watcher's first refresh, never a 404.
        let mut watcher = Watcher {
            roots,
            sweeps: Vec::new(),
            keys: HashMap::new(),
        };
        watcher.rescan();
        shared.publish(&watcher.sweeps);
        {
            let shared = shared.clone();
            let refresh = opts.refresh;
            std::thread::Builder::new()
                .name("sweep-serve-watch".into())
                .spawn(move || watch(shared, watcher, refresh))
                .map_err(ServeError::Io)?;
        }
        let guard = Arc::new(auth::Guard {
            token: opts.token.clone(),
            cookie: format!("sweep_token_{}", addr.port()),
        });
        let app = api::router(shared).layer(axum::middleware::from_fn_with_state(guard, auth::guard));
        ready(addr);
        conn::accept_loop(listener, app, opts.limits).await.map_err(ServeError::Io)
    })
}

/// A random token of 128 bits, in hex.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    sweep_params::text::hex(&b)
}
