//! A read-only view of a sweep's claims (`claims/<key>.<generation>`, see [`sweep_results::claims`]): which jobs a
//! live process is training now, and when jobs were claimed and recorded. The library's `Claims` is a participant
//! (it writes a clock file and heartbeats); the server must not write, so it reads the records itself: the highest
//! generation of each key is current, and a `running` record whose file was touched within the lease is live.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sweep_results::claims::{ClaimRecord, ClaimState, CLAIMS_DIR, DEFAULT_LEASE};

/// What the claims say about one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobClaims {
    /// A live process holds a claim of the job (of any of its rungs).
    pub running: bool,
    /// The rung of the live claim, for halving and Hyperband.
    pub rung: Option<usize>,
    /// When the job was claimed, while a `running` record of it is there (the owner's clock; a done record
    /// replaces it, and then its time is the end).
    pub claimed: Option<f64>,
    /// When its last claim was marked done (recorded).
    pub done: Option<f64>,
}

/// A file's length and modification time: whether it changed since it was last read.
type Stamp = (u64, SystemTime);

/// The claims of one sweep directory, re-read only where files changed.
#[derive(Debug, Default)]
pub struct ClaimsView {
    /// Per claim file: its stamp and record (None when unreadable, e.g. being replaced).
    files: HashMap<String, (Stamp, Option<ClaimRecord>)>,
    /// Whether the folder existed at the last scan (a finished sweep has removed it).
    pub present: bool,
}

/// The suffix of the claim under which one process writes a job's pruned row: `<job id>-r<rung>-pruned`.
const PRUNED: &str = "-pruned";

/// `<job id>` or `<job id>-r<rung>` (the runner's claim key in halving and Hyperband), and `<job id>-r<rung>-pruned`
/// (the claim of writing the job's pruned row at that rung), as the job's id and rung.
pub fn split_key(key: &str) -> (&str, Option<usize>) {
    let key = key.strip_suffix(PRUNED).unwrap_or(key);
    if let Some((id, r)) = key.rsplit_once("-r") {
        if let Ok(rung) = r.parse() {
            return (id, Some(rung));
        }
    }
    (key, None)
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl ClaimsView {
    /// Reads the claims folder of `dir` (changed files only) and returns what they say, per job id.
    pub fn scan(&mut self, dir: &Path, now: SystemTime) -> HashMap<String, JobClaims> {
        let folder = dir.join(CLAIMS_DIR);
        let Ok(entries) = fs::read_dir(&folder) else {
            self.present = false;
            self.files.clear();
            return HashMap::new();
        };
        self.present = true;
        let mut seen = std::collections::HashSet::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Hidden files are the live processes' scratch files; a link is never followed.
            if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            seen.insert(name.clone());
            // A done record is final: no need to look at it again.
            if let Some((_, Some(r))) = self.files.get(&name) {
                if r.state == ClaimState::Done {
                    continue;
                }
            }
            let Ok(meta) = e.metadata() else { continue };
            let stamp = (meta.len(), meta.modified().unwrap_or(UNIX_EPOCH));
            if self.files.get(&name).is_some_and(|(s, _)| *s == stamp) {
                continue;
            }
            let record = fs::read(e.path()).ok().and_then(|b| serde_json::from_slice::<ClaimRecord>(&b).ok());
            self.files.insert(name, (stamp, record));
        }
        self.files.retain(|name, _| seen.contains(name));

        // The current record of each key is its highest generation.
        let mut current: HashMap<&str, (u32, &Stamp, &ClaimRecord)> = HashMap::new();
        let mut first: HashMap<&str, f64> = HashMap::new();
        for (name, (stamp, record)) in &self.files {
            let Some(r) = record else { continue };
            let key = name.rsplit_once('.').map_or(name.as_str(), |(k, _)| k);
            let (id, _) = split_key(key);
            if r.state == ClaimState::Running && !key.ends_with(PRUNED) {
                let at = r.written_unix as f64;
                first.entry(id).and_modify(|t| *t = t.min(at)).or_insert(at);
            }
            if current.get(key).is_none_or(|(g, _, _)| r.generation > *g) {
                current.insert(key, (r.generation, stamp, r));
            }
        }
        let mut out: HashMap<String, JobClaims> = HashMap::new();
        for (key, (_, stamp, r)) in current {
            let (id, rung) = split_key(key);
            let j = out.entry(id.to_string()).or_default();
            j.claimed = first.get(id).copied();
            // A pruned-row claim is the job's row being written, not training: it ends the job, it does not run it.
            let pruned = key.ends_with(PRUNED);
            match r.state {
                ClaimState::Running if pruned => {}
                ClaimState::Running => {
                    let age = now.duration_since(stamp.1).unwrap_or_default();
                    if age < DEFAULT_LEASE {
                        j.running = true;
                        j.rung = rung.or(j.rung);
                    }
                }
                ClaimState::Done => {
                    let at = r.written_unix as f64;
                    j.done = Some(j.done.map_or(at, |d| d.max(at)));
                }
                ClaimState::Released => {}
            }
        }
        out
    }
}

/// Seconds since 1970 of a time.
pub fn unix(t: SystemTime) -> f64 {
    secs(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_results::claims::Owner;

    fn record(job: &str, generation: u32, state: ClaimState, at: u64) -> Vec<u8> {
        serde_json::to_vec(&ClaimRecord {
            job: job.into(),
            generation,
            state,
            owner: Owner {
                host: "h".into(),
                pid: 1,
                token: "t".into(),
                shard: None,
                machine: None,
            },
            written_unix: at,
        })
        .unwrap()
    }

    #[test]
    fn live_done_and_stale_claims() {
        let tmp = tempfile::tempdir().unwrap();
        let c = tmp.path().join(CLAIMS_DIR);
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("aaa.0"), record("aaa", 0, ClaimState::Running, 100)).unwrap();
        fs::write(c.join("bbb.0"), record("bbb", 0, ClaimState::Running, 90)).unwrap();
        fs::write(c.join("bbb.1"), record("bbb", 1, ClaimState::Done, 120)).unwrap();
        fs::write(c.join("ccc-r1.0"), record("ccc-r1", 0, ClaimState::Running, 130)).unwrap();
        // The claims of writing a pruned row: the job's, done (its pruned row) or being written (not training).
        fs::write(c.join("ddd-r0.1"), record("ddd-r0", 1, ClaimState::Done, 140)).unwrap();
        fs::write(c.join("ddd-r0-pruned.0"), record("ddd-r0-pruned", 0, ClaimState::Done, 150)).unwrap();
        fs::write(c.join("eee-r0-pruned.0"), record("eee-r0-pruned", 0, ClaimState::Running, 160)).unwrap();
        fs::write(c.join(".clock-x"), b"").unwrap();
        let mut v = ClaimsView::default();
        let now = SystemTime::now();
        let s = v.scan(tmp.path(), now);
        assert!(v.present);
        assert!(s["aaa"].running && s["aaa"].claimed == Some(100.0));
        assert!(!s["bbb"].running, "generation 1 (done) is current");
        assert_eq!(
            (s["bbb"].done, s["bbb"].claimed),
            (Some(120.0), Some(90.0)),
            "claimed while running"
        );
        assert_eq!((s["ccc"].running, s["ccc"].rung), (true, Some(1)));
        assert!(!s.keys().any(|k| k.ends_with("-pruned")), "no raw pruned-row keys: {:?}", s.keys());
        assert_eq!(
            (s["ddd"].running, s["ddd"].done),
            (false, Some(150.0)),
            "the pruned row's time ends the job"
        );
        assert!(
            !s["eee"].running && s["eee"].claimed.is_none(),
            "writing a pruned row is not training"
        );
        assert_eq!(split_key("abc-r3-pruned"), ("abc", Some(3)));
        // A claim not touched for a lease is stale: nobody runs it.
        let later = now + DEFAULT_LEASE + std::time::Duration::from_secs(1);
        assert!(!v.scan(tmp.path(), later)["aaa"].running);
        assert_eq!(split_key("abc-r12"), ("abc", Some(12)));
        assert_eq!(split_key("a-rb"), ("a-rb", None));
    }
}
