//! Per-job claims, so that any number of `sweep run` processes sharing one results directory (on one machine, or
//! on several machines over NFS) never run a job twice, with no lock server and no `flock` (unreliable over NFS).
//!
//! # Files
//!
//! `<results>/claims/<job id>.<generation>`, one JSON [`ClaimRecord`] each (owner host, pid, random token, shard
//! identity, state), plus hidden scratch files (`.tmp-*`, `.clock-*`) of the live processes. The current claim of
//! a job is its highest generation; generation 0 is the first claim, each takeover adds one. Claim files are never
//! deleted or overwritten while a sweep runs, except by their own owner (see *Why generations* below).
//!
//! # Protocol
//!
//! * **Create = claim.** A process writes its record to a unique temporary file and hard-links it to
//!   `<id>.<g>`. `link(2)` fails with `EEXIST` when the name exists, atomically, on local file systems and over NFS
//!   (the server decides), so exactly one process creates each generation. (`O_CREAT|O_EXCL` is atomic over NFSv3+
//!   too, but link leaves no window where the file exists without its content, and the NFS "link reply lost,
//!   retransmission says EEXIST" case is caught by checking that the temporary file now has 2 links, as
//!   liblockfile does.)
//! * **Heartbeat.** One background thread per [`Claims`] touches the mtime of every held claim file every
//!   `lease / 10` (`futimens(fd, NULL)`: over NFS that is the *server's* clock).
//! * **Stale.** A claim is stale when its mtime is at least `lease` older than "now" — where "now" is the mtime
//!   of this process's own `.clock-<token>` file just touched the same way, so on NFS both times come from the
//!   server's clock and client clock skew does not matter. Files are opened (not just `stat`ed) before their
//!   mtime is read: NFS close-to-open consistency then fetches fresh attributes instead of ones cached for up to
//!   60 s. A claim is also reclaimable at once when its owner has the same shard identity but another token (the
//!   same Slurm array task requeued, the same Indexed Job index retried, the same `--shard I/N` started again),
//!   or runs on this very machine (same hostname, boot id and pid namespace) and its pid no longer exists.
//! * **Takeover = create the next generation.** A stale `<id>.<g>` is taken over by creating `<id>.<g+1>` exactly
//!   as a first claim is created. Two takers that both judged generation g stale both try to link `<id>.<g+1>`;
//!   one wins, the other gets `EEXIST`, reads the new live record and backs off. Nothing is renamed or overwritten
//!   by a taker, so a taker can never move or destroy someone else's fresh claim.
//! * **Release.** When the job is recorded, [`Claims::release`] replaces the owner's own file by a `done` record
//!   (temporary file + `rename`, atomic). A done job is never claimed again by anyone, even by processes that
//!   read `results.csv` before the job was recorded. [`Claims::abandon`] (or dropping a [`Claim`]) writes a
//!   `released` record instead: the job was not recorded (interrupted) and anyone may claim it at once, as
//!   generation g+1.
//! * **Lost.** An owner learns it was taken over when `<id>.<g+1>` exists: the heartbeat checks that and sets
//!   [`Claim::is_lost`]. Callers should check it before recording a job.
//!
//! # Why generations, not one file per job
//!
//! With a single `<id>` file, a takeover must remove or replace the stale file, and every way of doing so races:
//! (a) rename-away-then-create: taker B, which judged the same stale file as taker A, renames away A's *fresh*
//! claim created a moment later, and must put it back, while a third process may have claimed the empty name
//! in between; (b) delete-then-create: same; (c) rename-over (replace) after re-reading the token: the owner may
//! release and a third process claim between the check and the rename, which silently destroys that claim. With
//! generations, the only operations on shared names are "create if absent" (link) and an owner replacing its own
//! file; every decision is made by an atomic create on the server. Files are kept (a few bytes per job) until the
//! sweep is finished ([`remove_recorded_claims`], by `sweep finish`); deleting old generations while processes run would let a late
//! claimer re-create generation 0 next to a live higher generation.
//!
//! # Races that remain, and why they are acceptable
//!
//! * **An owner that stops heartbeating for a whole lease but is alive** (suspended, `SIGSTOP`, a hung NFS mount,
//!   a thread starved for 60 s) is taken over; two processes then run the job. No lease scheme avoids this without
//!   fencing at the writer; here the old owner sees [`Claim::is_lost`] at its next heartbeat and should not record
//!   the job. The lease (default 60 s = 10 heartbeats) makes it rare. If it records anyway (lost after its last
//!   check), `results.csv` holds the job twice: same configuration and seed, so the same numbers, and readers keep
//!   one row per id.
//! * **A stale-looking owner releasing while being taken over**: if the owner writes `done` into generation g
//!   just after a taker created g+1, the taker runs the job again (and its own `done` ends the story). This needs
//!   the same stale-but-alive owner as above.
//! * **A crash between recording the row and [`Claims::release`]**: the claim goes stale and the job is run
//!   again by whoever takes it over. Callers that want to avoid even that re-check `results.csv` after winning a
//!   claim.
//! * **Two live processes with the same shard identity** (the same `--shard I/N` started twice by hand) take each
//!   other's claims; each learns it through [`Claim::is_lost`], but jobs may run twice. Shard identities from
//!   Slurm/Kubernetes are unique per array task / Job index.
//! * **NFS attribute and lookup caches**: a cached "`<id>.<g+1>` does not exist" only delays the loser's
//!   discovery (its own link then fails with `EEXIST`) or an owner's [`Claim::is_lost`]; it never lets two
//!   processes create the same generation.
//! * The dead-pid shortcut compares hostname, boot id (`/proc/sys/kernel/random/boot_id`) and pid namespace, so
//!   it only fires where `kill(pid, 0)` is authoritative. A reused pid only makes the shortcut miss (the lease
//!   still applies).
//! * The results directory must support hard links (local file systems, NFS); on one that does not, claiming
//!   fails with an error naming the path rather than silently losing exclusivity.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::error::ClaimError;
use crate::identity::pid_alive;
pub use crate::identity::Owner;
pub use cleanup::remove_recorded_claims;

mod cleanup;

/// Subdirectory of the results directory holding the claims.
pub const CLAIMS_DIR: &str = "claims";
/// Default lease: a claim whose owner has not refreshed it for this long may be taken over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Shortest lease accepted (the heartbeat runs every lease/10).
pub const MIN_LEASE: Duration = Duration::from_millis(50);

fn ioerr<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ClaimError + 'a {
    move |source| ClaimError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The state written in a claim file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimState {
    /// The owner is running the job (and refreshing the file's mtime).
    Running,
    /// The owner gave the job up unrecorded; anyone may claim it.
    Released,
    /// The job was recorded; nobody claims it again.
    Done,
}

/// Contents of a claim file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub job: String,
    pub generation: u32,
    pub state: ClaimState,
    pub owner: Owner,
    /// When the record was written (seconds since 1970, this owner's clock; informational).
    pub written_unix: u64,
}

/// What [`Claims::try_claim`] found.
#[derive(Debug)]
pub enum Attempt {
    /// The job is ours to run.
    Won(Claim),
    /// Someone else is running it (their current record).
    Held(ClaimRecord),
    /// It was recorded already.
    Done(ClaimRecord),
}

impl Attempt {
    /// The claim, if won.
    pub fn won(self) -> Option<Claim> {
        match self {
            Attempt::Won(c) => Some(c),
            _ => None,
        }
    }
}

/// A held claim: run the job, then [`Claims::release`] it once recorded. Dropping it unreleased abandons it
/// (anyone may claim the job again at once).
#[derive(Debug)]
pub struct Claim {
    id: String,
    generation: u32,
    path: PathBuf,
    lost: Arc<AtomicBool>,
    took_over: Option<ClaimRecord>,
    inner: Arc<Inner>,
    finished: bool,
}

impl Claim {
    /// The job id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// 0 for a first claim, more after takeovers.
    pub fn generation(&self) -> u32 {
        self.generation
    }
    /// The claim file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The previous owner's record when this claim took over a stale or released one.
    pub fn took_over(&self) -> Option<&ClaimRecord> {
        self.took_over.as_ref()
    }
    /// Another process took the job over (this owner's heartbeat was late by a whole lease, or a process with the
    /// same shard identity started): do not record the job. Set by the heartbeat thread.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    fn finish(&mut self, state: ClaimState) -> Result<(), ClaimError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.inner.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.path);
        if self.lost.load(Ordering::SeqCst) || self.inner.next_exists(&self.id, self.generation) {
            self.lost.store(true, Ordering::SeqCst);
            if state == ClaimState::Done {
                tracing::warn!(
                    "job {}: recorded, but its claim had been taken over by another process (this one missed its heartbeats \
                     for a whole lease); the job may be recorded twice",
                    self.id
                );
            } else {
                return Ok(()); // the new owner's generation decides; ours no longer matters
            }
        }
        let record = self.inner.record(&self.id, self.generation, state);
        self.inner.replace_own(&self.path, &record)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.finish(ClaimState::Released) {
                tracing::warn!("could not release the claim on job {}: {e}", self.id);
            }
        }
    }
}

#[derive(Debug)]
struct Held {
    id: String,
    generation: u32,
    lost: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    owner: Owner,
    lease: Duration,
    heartbeat: Duration,
    clock: PathBuf,
    seq: AtomicU64,
    held: Mutex<HashMap<PathBuf, Held>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The claims of one process (or one worker pool) on a results directory, with the heartbeat thread that keeps
/// them alive. Share it between worker threads by reference.
#[derive(Debug)]
pub struct Claims {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Claims {
    /// Opens `<results_dir>/claims` (creating it) with heartbeats every `lease / 10`.
    pub fn open(results_dir: &Path, owner: Owner, lease: Duration) -> Result<Claims, ClaimError> {
        Claims::open_with_heartbeat(results_dir, owner, lease, lease / 10)
    }

    /// [`Claims::open`] with a chosen heartbeat interval (must be well below the lease).
    pub fn open_with_heartbeat(results_dir: &Path, owner: Owner, lease: Duration, heartbeat: Duration) -> Result<Claims, ClaimError> {
        if lease < MIN_LEASE || heartbeat.is_zero() || heartbeat * 2 > lease {
            return Err(ClaimError::BadLease { lease, heartbeat });
        }
        let dir = results_dir.join(CLAIMS_DIR);
        fs::create_dir_all(&dir).map_err(ioerr("create the claims directory", &dir))?;
        let clock = dir.join(format!(".clock-{}", owner.token));
        File::create(&clock).map_err(ioerr("create", &clock))?;
        let inner = Arc::new(Inner {
            dir,
            owner,
            lease,
            heartbeat,
            clock,
            seq: AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let for_thread = inner.clone();
        let thread = std::thread::Builder::new()
            .name("sweep-claims-heartbeat".into())
            .spawn(move || for_thread.heartbeat_loop())
            .map_err(ioerr("start the heartbeat thread for", &inner.dir))?;
        Ok(Claims {
            inner,
            thread: Some(thread),
        })
    }

    /// This process's owner record.
    pub fn owner(&self) -> &Owner {
        &self.inner.owner
    }

    /// The claims directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// Tries to claim job `id`: [`Attempt::Won`] if nobody holds it (or its holder is stale), otherwise who holds it
    /// or that it is done. Never blocks on other processes.
    pub fn try_claim(&self, id: &str) -> Result<Attempt, ClaimError> {
        self.attempt(id, false)
    }

    /// Claims job `id` although its claim says `done`: for a job that no readable row records (its row was lost:
    /// torn by a crash in the middle of an append, or deleted to run the job again). The rows are the truth, so the
    /// job runs again; the takeover is the next generation, as for a stale claim, and [`Claim::took_over`] holds
    /// the `done` record.
    pub fn claim_unrecorded(&self, id: &str) -> Result<Attempt, ClaimError> {
        self.attempt(id, true)
    }

    fn attempt(&self, id: &str, over_done: bool) -> Result<Attempt, ClaimError> {
        if !valid_id(id) {
            return Err(ClaimError::BadId { id: id.to_string() });
        }
        let inner = &self.inner;
        let mut generation = 0u32;
        let mut took_over = None;
        let mut vanished = 0;
        loop {
            let path = inner.path(id, generation);
            if inner.create(&path, &inner.record(id, generation, ClaimState::Running))? {
                let lost = Arc::new(AtomicBool::new(false));
                inner.held.lock().unwrap_or_else(|p| p.into_inner()).insert(
                    path.clone(),
                    Held {
                        id: id.to_string(),
                        generation,
                        lost: lost.clone(),
                    },
                );
                return Ok(Attempt::Won(Claim {
                    id: id.to_string(),
                    generation,
                    path,
                    lost,
                    took_over,
                    inner: inner.clone(),
                    finished: false,
                }));
            }
            // Generation `generation` exists: follow the chain to its end, or take the last one over.
            let Some((record, mtime)) = read_claim(&path)? else {
                // Only a deleted claim file gets here (claims removed while sweeps run): retry a few times.
                vanished += 1;
                if vanished > 3 {
                    return Err(ClaimError::Vanished {
                        path,
                        reason: "it existed when we tried to create it, then did not when we read it".into(),
                    });
                }
                continue;
            };
            if inner.next_exists(id, generation) {
                generation += 1;
                continue;
            }
            if let Some(r) = record.as_ref().filter(|r| r.state == ClaimState::Done) {
                if !over_done {
                    return Ok(Attempt::Done(r.clone()));
                }
                took_over = record;
                generation += 1;
                continue;
            }
            if inner.reclaimable(record.as_ref(), mtime)? {
                took_over = record;
                generation += 1;
                continue;
            }
            return Ok(Attempt::Held(record.unwrap_or_else(|| inner.unknown_record(id, generation))));
        }
    }

    /// The job was recorded: marks its claim `done`, so nobody claims it again.
    pub fn release(&self, mut claim: Claim) -> Result<(), ClaimError> {
        claim.finish(ClaimState::Done)
    }

    /// The job was not recorded (interrupted): frees the claim so that anyone may claim the job at once.
    pub fn abandon(&self, mut claim: Claim) -> Result<(), ClaimError> {
        claim.finish(ClaimState::Released)
    }

    /// The current record of job `id` (its highest generation), if anyone ever claimed it.
    pub fn current(&self, id: &str) -> Result<Option<ClaimRecord>, ClaimError> {
        if !valid_id(id) {
            return Err(ClaimError::BadId { id: id.to_string() });
        }
        let mut last = None;
        for generation in 0.. {
            match read_claim(&self.inner.path(id, generation))? {
                Some((r, _)) => last = Some(r.unwrap_or_else(|| self.inner.unknown_record(id, generation))),
                None => break,
            }
        }
        Ok(last)
    }

    /// Whether job `id` was recorded through a claim.
    pub fn is_done(&self, id: &str) -> Result<bool, ClaimError> {
        Ok(self.current(id)?.is_some_and(|r| r.state == ClaimState::Done))
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        *self.inner.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.inner.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.inner.clock);
    }
}

impl Inner {
    fn path(&self, id: &str, generation: u32) -> PathBuf {
        self.dir.join(format!("{id}.{generation}"))
    }

    fn record(&self, id: &str, generation: u32, state: ClaimState) -> ClaimRecord {
        ClaimRecord {
            job: id.to_string(),
            generation,
            state,
            owner: self.owner.clone(),
            written_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }

    /// Stands in for an unreadable record (e.g. emptied by a machine crash before its data reached the disk).
    fn unknown_record(&self, id: &str, generation: u32) -> ClaimRecord {
        ClaimRecord {
            job: id.to_string(),
            generation,
            state: ClaimState::Running,
            owner: Owner {
                host: "?".into(),
                pid: 0,
                token: "?".into(),
                shard: None,
                machine: None,
            },
            written_unix: 0,
        }
    }

    fn next_exists(&self, id: &str, generation: u32) -> bool {
        // symlink_metadata: an lstat, never following anything; any answer but "not found" counts as existing.
        !matches!(fs::symlink_metadata(self.path(id, generation + 1)), Err(e) if e.kind() == io::ErrorKind::NotFound)
    }

    /// Writes `record` to a new unique temporary file in the claims directory.
    fn write_temp(&self, record: &ClaimRecord) -> Result<PathBuf, ClaimError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".tmp-{}-{n}", self.owner.token));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(ioerr("create", &tmp))?;
        f.write_all(&serde_json::to_vec(record).expect("claim records serialize"))
            .map_err(ioerr("write", &tmp))?;
        Ok(tmp)
    }

    /// Creates `path` holding `record` if it does not exist; false if it does.
    fn create(&self, path: &Path, record: &ClaimRecord) -> Result<bool, ClaimError> {
        let tmp = self.write_temp(record)?;
        let linked = fs::hard_link(&tmp, path);
        // Over NFS a lost reply to a link that succeeded can come back as EEXIST on retransmission: the temporary
        // file's link count tells the truth.
        let won = match linked {
            Ok(()) => Ok(true),
            Err(e) if link_count(&tmp) == Some(2) => {
                tracing::debug!("link {} reported {e} but succeeded", path.display());
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) if matches!(e.raw_os_error(), Some(code) if is_no_link_support(code)) => Err(ClaimError::NoHardLinks {
                dir: self.dir.clone(),
                source: e,
            }),
            Err(e) => Err(ClaimError::Io {
                op: "create the claim",
                path: path.to_path_buf(),
                source: e,
            }),
        };
        let _ = fs::remove_file(&tmp);
        won
    }

    /// Replaces our own claim file atomically.
    fn replace_own(&self, path: &Path, record: &ClaimRecord) -> Result<(), ClaimError> {
        let tmp = self.write_temp(record)?;
        fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            ClaimError::Io {
                op: "update the claim",
                path: path.to_path_buf(),
                source: e,
            }
        })
    }

    /// "Now" on the claims' file system: the mtime of our clock file just touched.
    fn fs_now(&self) -> Result<SystemTime, ClaimError> {
        let f = OpenOptions::new()
            .write(true)
            .open(&self.clock)
            .map_err(ioerr("open", &self.clock))?;
        touch(&f).map_err(ioerr("touch", &self.clock))?;
        f.metadata()
            .and_then(|m| m.modified())
            .map_err(ioerr("read the time of", &self.clock))
    }

    /// Whether a claim (its record, if readable, and the mtime of its file) may be taken over.
    fn reclaimable(&self, record: Option<&ClaimRecord>, mtime: SystemTime) -> Result<bool, ClaimError> {
        if let Some(r) = record {
            if r.state == ClaimState::Released {
                return Ok(true);
            }
            if r.owner.token != self.owner.token {
                if r.owner.shard.is_some() && r.owner.shard == self.owner.shard {
                    tracing::info!(
                        "job {}: taking over the claim of an earlier run of this shard ({}, pid {} on {})",
                        r.job,
                        r.owner.shard.as_deref().unwrap_or_default(),
                        r.owner.pid,
                        r.owner.host
                    );
                    return Ok(true);
                }
                if self.owner.same_machine(&r.owner) && !pid_alive(r.owner.pid) {
                    tracing::info!("job {}: taking over the claim of pid {}, which has exited", r.job, r.owner.pid);
                    return Ok(true);
                }
            }
        }
        let age = self.fs_now()?.duration_since(mtime).unwrap_or(Duration::ZERO);
        Ok(age >= self.lease)
    }

    fn heartbeat_loop(&self) {
        let mut stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // Checked before waiting too: a stop requested during `beat` must not wait out another interval.
            if *stop {
                return;
            }
            stop = self.wake.wait_timeout(stop, self.heartbeat).unwrap_or_else(|p| p.into_inner()).0;
            if *stop {
                return;
            }
            drop(stop);
            self.beat();
            stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Refreshes every held claim; marks the ones taken over as lost.
    fn beat(&self) {
        let held: Vec<(PathBuf, String, u32, Arc<AtomicBool>)> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, h)| !h.lost.load(Ordering::SeqCst))
            .map(|(p, h)| (p.clone(), h.id.clone(), h.generation, h.lost.clone()))
            .collect();
        for (path, id, generation, lost) in held {
            if self.next_exists(&id, generation) {
                tracing::warn!(
                    "job {id}: another process took over this claim ({}); this run must not record it",
                    self.path(&id, generation + 1).display()
                );
                lost.store(true, Ordering::SeqCst);
                continue;
            }
            let touched = OpenOptions::new().write(true).open(&path).and_then(|f| touch(&f));
            if let Err(e) = touched {
                // Released meanwhile (no longer in `held`), or the file system failed: say so, keep trying.
                if self.held.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&path) {
                    tracing::warn!("cannot refresh the claim {}: {e}", path.display());
                }
            }
        }
    }
}

/// Opens a claim file and reads its record and mtime; `None` if it does not exist, `Some((None, mtime))` if it
/// is unreadable as a record. Opening first makes NFS fetch fresh attributes (close-to-open consistency).
fn read_claim(path: &Path) -> Result<Option<(Option<ClaimRecord>, SystemTime)>, ClaimError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ClaimError::Io {
                op: "read",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let mtime = f.metadata().and_then(|m| m.modified()).map_err(ioerr("read the time of", path))?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(ioerr("read", path))?;
    let record = serde_json::from_slice(&text).ok();
    if record.is_none() {
        tracing::warn!(
            "{}: not a readable claim record; treated as a claim that goes stale after the lease",
            path.display()
        );
    }
    Ok(Some((record, mtime)))
}

/// Sets the file's mtime (and atime) to "now"; over NFS, the server's now.
fn touch(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a valid open descriptor; a null `times` means "both to the current time".
        if unsafe { libc::futimens(f.as_raw_fd(), std::ptr::null()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        f.set_modified(SystemTime::now())
    }
}

fn link_count(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).ok().map(|m| m.nlink())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn is_no_link_support(code: i32) -> bool {
    #[cfg(unix)]
    {
        code == libc::EPERM || code == libc::EOPNOTSUPP || code == libc::ENOSYS
    }
    #[cfg(not(unix))]
    {
        let _ = code;
        false
    }
}

#[cfg(test)]
mod tests;
