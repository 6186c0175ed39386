//! Who a process is, for the files it shares with others: its host, pid, a random token, its shard, and the
//! machine (boot id and pid namespace) that tells whether its pid can be checked from here. Claims name their owner
//! with it, and each process's own files (`writers/`, `rungs/`, `progress/`) are named after it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Random, different for every [`Owner::current`]: tells two processes (or two claim sets in one) apart.
    pub token: String,
    /// Shard identity ([`crate::cluster::shard::ShardContext::identity`]): a restart of the same shard takes back this
    /// owner's claims without waiting for the lease.
    pub shard: Option<String>,
    /// Boot id and pid namespace, when known (Linux): with `host`, tells whether `pid` can be checked here.
    #[serde(default)]
    pub machine: Option<String>,
}

impl Owner {
    /// This process, with a fresh random token.
    pub fn current(shard: Option<String>) -> Owner {
        Owner {
            host: hostname(),
            pid: std::process::id(),
            token: random_token(),
            shard,
            machine: machine_id(),
        }
    }

    pub fn same_machine(&self, other: &Owner) -> bool {
        self.host == other.host && self.machine.is_some() && self.machine == other.machine
    }
}

/// Whether a process with this pid exists on this machine (true when that cannot be told).
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        if pid <= 0 {
            return true;
        }
        // SAFETY: signal 0 only checks whether the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates when the name fits.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            if end > 0 {
                return String::from_utf8_lossy(&buf[..end]).into_owned();
            }
        }
    }
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Boot id and pid namespace (Linux): processes with the same value see the same pids.
fn machine_id() -> Option<String> {
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{} {}", boot.trim(), ns.display()))
}

fn random_token() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut seed = [0u8; 16];
    let from_os = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).is_ok();
    let mut h = Sha256::new();
    h.update(seed);
    if !from_os {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        h.update(nanos.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        h.update((std::ptr::addr_of!(seed) as usize).to_le_bytes());
    }
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    sweep_params::text::hex(&h.finalize()[..8])
}
