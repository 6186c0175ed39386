//! GPUs for command trials (issue 36): which devices this process may use ([`discover`]), and a [`DevicePool`] that
//! hands each running trial a disjoint set of them as a [`Lease`], given back when the lease is dropped, however the
//! trial's run ended (finished, failed, killed, timed out, or a panic unwinding through the backend).
//!
//! Discovery, first that applies: the `--gpus 0,1,3` flag; `CUDA_VISIBLE_DEVICES`, else ROCm's
//! `HIP_VISIBLE_DEVICES`, when set (inside a Slurm allocation or a container this is what it exposes); else the
//! devices `nvidia-smi -L` lists (the program named by `SWEEP_NVIDIA_SMI` instead, for tests); else none. The ids
//! are kept as written (indices, or UUIDs such as `GPU-8f3c…` or `MIG-…`) and a trial's `CUDA_VISIBLE_DEVICES` is a
//! subset of them, so they mean the same devices to the trial as to sweep.

use std::fmt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use sweep_grid::command::Gpus;

/// Names the program run instead of `nvidia-smi` (a fake one in tests; empty: do not look).
pub const NVIDIA_SMI_ENV: &str = "SWEEP_NVIDIA_SMI";

/// Where the device list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--gpus` on the command line.
    Flag,
    /// The `CUDA_VISIBLE_DEVICES` sweep was started with.
    Cuda,
    /// The `HIP_VISIBLE_DEVICES` sweep was started with (ROCm).
    Hip,
    /// `nvidia-smi -L`.
    NvidiaSmi,
    /// Nothing found.
    None,
}

/// The devices this process may give its trials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The ids as the source wrote them, in its order.
    pub ids: Vec<String>,
    pub source: Source,
}

impl fmt::Display for Found {
    /// `4 GPUs (CUDA_VISIBLE_DEVICES=0,1,2,3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.ids.join(",");
        let n = self.ids.len();
        if n == 0 {
            return match self.source {
                Source::Cuda | Source::Hip => {
                    let var = if self.source == Source::Cuda {
                        "CUDA_VISIBLE_DEVICES"
                    } else {
                        "HIP_VISIBLE_DEVICES"
                    };
                    write!(f, "no GPU ({var} is set, and names no device)")
                }
                _ => write!(
                    f,
                    "no GPU (CUDA_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES are unset, and nvidia-smi lists none)"
                ),
            };
        }
        let what = if n == 1 { "GPU" } else { "GPUs" };
        match self.source {
            Source::Flag => write!(f, "{n} {what} (--gpus {list})"),
            Source::Cuda => write!(f, "{n} {what} (CUDA_VISIBLE_DEVICES={list})"),
            Source::Hip => write!(f, "{n} {what} (HIP_VISIBLE_DEVICES={list})"),
            Source::NvidiaSmi => write!(f, "{n} {what} (nvidia-smi -L: {list})"),
            Source::None => write!(f, "no GPU"),
        }
    }
}

/// A device list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("{what}: {why}; give device ids separated by commas, e.g. --gpus 0,1,3")]
    List { what: String, why: String },
    #[error("no GPU found: {found}")]
    None { found: String },
    #[error("each trial asks for {asked} GPUs but only {found} are available")]
    TooMany { asked: usize, found: String },
}

/// Parses a comma-separated device list (`0,1,3`, or UUIDs); `what` names where it comes from in errors.
pub fn parse_list(what: &str, text: &str) -> Result<Vec<String>, DeviceError> {
    let err = |why: String| DeviceError::List {
        what: what.to_string(),
        why,
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = Vec::new();
    for id in text.split(',').map(str::trim) {
        if id.is_empty() {
            return Err(err(format!("{text:?} has an empty entry")));
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:/.".contains(&b)) {
            return Err(err(format!("{id:?} is not a device id")));
        }
        if ids.iter().any(|d| d == id) {
            return Err(err(format!("{id} is listed twice")));
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// A `*_VISIBLE_DEVICES` value: the ids before the first invalid one (CUDA stops there: `-1` hides every device).
fn visible(var: &str, value: &str) -> Result<Vec<String>, DeviceError> {
    if matches!(value.trim(), "NoDevFiles" | "none" | "void") {
        return Ok(Vec::new());
    }
    let ids = parse_list(var, value)?;
    Ok(ids.into_iter().take_while(|id| !id.starts_with('-')).collect())
}

/// The GPUs `nvidia-smi -L` lists (`GPU 0: NVIDIA H100 (UUID: GPU-…)`): their indices. Nothing when it is not
/// installed or fails.
fn nvidia_smi() -> Vec<String> {
    let program = std::env::var_os(NVIDIA_SMI_ENV).unwrap_or_else(|| "nvidia-smi".into());
    if program.is_empty() {
        return Vec::new();
    }
    let out = match Command::new(&program).arg("-L").stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot run {}: {e}; taking it that there is no GPU", program.to_string_lossy());
            }
            return Vec::new();
        }
    };
    if !out.status.success() {
        tracing::warn!(
            "{} -L failed ({}); taking it that there is no GPU",
            program.to_string_lossy(),
            out.status
        );
        return Vec::new();
    }
    parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))
}

/// The indices of the GPUs in `nvidia-smi -L`'s output (MIG instances, indented below their GPU, are not listed).
pub fn parse_nvidia_smi(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("GPU "))
        .filter_map(|rest| rest.split(':').next())
        .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// The devices this process may use: `flag` (`--gpus`) if given, else `CUDA_VISIBLE_DEVICES`, else
/// `HIP_VISIBLE_DEVICES`, else `nvidia-smi -L`; an empty list with [`Source::None`] when nothing gives any.
pub fn discover(flag: Option<&str>) -> Result<Found, DeviceError> {
    discover_with(flag, &|k| std::env::var(k).ok(), &nvidia_smi)
}

/// [`discover`] with the environment and `nvidia-smi` given.
pub fn discover_with(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    smi: &dyn Fn() -> Vec<String>,
) -> Result<Found, DeviceError> {
    if let Some(list) = flag {
        let ids = parse_list("--gpus", list)?;
        if ids.is_empty() {
            return Err(DeviceError::List {
                what: "--gpus".into(),
                why: "the list is empty".into(),
            });
        }
        return Ok(Found { ids, source: Source::Flag });
    }
    for (var, source) in [("CUDA_VISIBLE_DEVICES", Source::Cuda), ("HIP_VISIBLE_DEVICES", Source::Hip)] {
        if let Some(v) = env(var) {
            return Ok(Found {
                ids: visible(var, &v)?,
                source,
            });
        }
    }
    let ids = smi();
    let source = if ids.is_empty() { Source::None } else { Source::NvidiaSmi };
    Ok(Found { ids, source })
}

/// The devices of a command sweep, shared by its running trials.
#[derive(Debug)]
pub struct DevicePool {
    found: Found,
    gpus: Gpus,
    /// Free trial slots of each device (1 per device for whole devices, floor(1/gpus) for a share).
    free: Mutex<Vec<usize>>,
    freed: Condvar,
}

impl DevicePool {
    /// The pool of `found` for trials asking `gpus` each: refused when none is found, or when one trial asks for more
    /// than there are.
    pub fn new(found: Found, gpus: Gpus) -> Result<DevicePool, DeviceError> {
        if found.ids.is_empty() {
            return Err(DeviceError::None { found: found.to_string() });
        }
        if gpus.devices() > found.ids.len() {
            return Err(DeviceError::TooMany {
                asked: gpus.devices(),
                found: found.to_string(),
            });
        }
        let slots = gpus.trials_per_device();
        Ok(DevicePool {
            free: Mutex::new(vec![slots; found.ids.len()]),
            found,
            gpus,
            freed: Condvar::new(),
        })
    }

    pub fn found(&self) -> &Found {
        &self.found
    }

    /// Trials that can run at once.
    pub fn capacity(&self) -> usize {
        self.gpus.capacity(self.found.ids.len())
    }

    fn free(&self) -> MutexGuard<'_, Vec<usize>> {
        // The counts stay consistent whatever panicked while holding the lock: each change is one statement.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The devices for one trial now, if free: the first whole devices free, or the device with the most free shares
    /// (trials spread over the devices before two share one).
    pub fn try_lease(&self) -> Option<Lease<'_>> {
        let mut free = self.free();
        let slots = self.gpus.trials_per_device();
        let devices: Vec<usize> = if slots > 1 {
            let (best, n) = free.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))?;
            if *n == 0 {
                return None;
            }
            vec![best]
        } else {
            let whole: Vec<usize> = (0..free.len()).filter(|&i| free[i] == slots).take(self.gpus.devices()).collect();
            if whole.len() < self.gpus.devices() {
                return None;
            }
            whole
        };
        for &d in &devices {
            free[d] -= 1;
        }
        Some(Lease { pool: self, devices })
    }

    /// The devices for one trial, waiting until a running trial gives some back; `None` when `stop` is raised first.
    pub fn lease(&self, stop: &AtomicBool) -> Option<Lease<'_>> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(l) = self.try_lease() {
                return Some(l);
            }
            let free = self.free();
            // Woken when a lease is dropped; the timeout only looks at the stop flag again.
            let _ = self.freed.wait_timeout(free, Duration::from_millis(100));
        }
    }

    fn give_back(&self, devices: &[usize]) {
        let mut free = self.free();
        let slots = self.gpus.trials_per_device();
        for &d in devices {
            free[d] = (free[d] + 1).min(slots);
        }
        drop(free);
        self.freed.notify_all();
    }
}

/// One trial's devices, given back to the pool when dropped.
#[derive(Debug)]
pub struct Lease<'p> {
    pool: &'p DevicePool,
    devices: Vec<usize>,
}

impl Lease<'_> {
    /// The device ids, as the pool's source wrote them.
    pub fn ids(&self) -> Vec<&str> {
        self.devices.iter().map(|&d| self.pool.found.ids[d].as_str()).collect()
    }

    /// The trial's `CUDA_VISIBLE_DEVICES` (and `SWEEP_GPUS`): the ids joined with commas.
    pub fn visible(&self) -> String {
        self.ids().join(",")
    }

    /// The environment the trial's program gets: `CUDA_VISIBLE_DEVICES` and `SWEEP_GPUS`, and
    /// `HIP_VISIBLE_DEVICES` when sweep's own devices came from it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let v = self.visible();
        let mut env = vec![("CUDA_VISIBLE_DEVICES", v.clone()), ("SWEEP_GPUS", v.clone())];
        if self.pool.found.source == Source::Hip {
            env.push(("HIP_VISIBLE_DEVICES", v));
        }
        env
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool.give_back(&self.devices);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus(g: f64) -> Gpus {
        Gpus { per_trial: g, pos: (1, 1) }
    }

    fn found(n: usize) -> Found {
        Found {
            ids: (0..n).map(|i| i.to_string()).collect(),
            source: Source::Flag,
        }
    }

    #[test]
    fn discovery_takes_the_flag_then_cuda_then_hip_then_nvidia_smi() {
        let env =
            |vars: &'static [(&'static str, &'static str)]| move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let smi = || vec!["0".to_string(), "1".to_string()];
        let cuda = env(&[("CUDA_VISIBLE_DEVICES", "2,3"), ("HIP_VISIBLE_DEVICES", "0")]);
        let f = discover_with(Some("0, 1,3"), &cuda, &smi).unwrap();
        assert_eq!((f.ids, f.source), (vec!["0".into(), "1".into(), "3".into()], Source::Flag));
        let f = discover_with(None, &cuda, &smi).unwrap();
        assert_eq!((f.ids, f.source), (vec!["2".into(), "3".into()], Source::Cuda));
        let f = discover_with(None, &env(&[("HIP_VISIBLE_DEVICES", "1")]), &smi).unwrap();
        assert_eq!((f.ids, f.source), (vec!["1".into()], Source::Hip));
        let f = discover_with(None, &env(&[]), &smi).unwrap();
        assert_eq!((f.ids.len(), f.source), (2, Source::NvidiaSmi));
        let f = discover_with(None, &env(&[]), &Vec::new).unwrap();
        assert_eq!((f.ids.len(), f.source), (0, Source::None));
        // Set but empty (or -1): no device, and nvidia-smi is not asked.
        for v in ["", "-1", "NoDevFiles"] {
            let vars: &'static [(&str, &str)] = match v {
                "" => &[("CUDA_VISIBLE_DEVICES", "")],
                "-1" => &[("CUDA_VISIBLE_DEVICES", "-1")],
                _ => &[("CUDA_VISIBLE_DEVICES", "NoDevFiles")],
            };
            let f = discover_with(None, &env(vars), &smi).unwrap();
            assert_eq!((f.ids.len(), f.source), (0, Source::Cuda), "{v:?}");
        }
        let f = discover_with(None, &env(&[("CUDA_VISIBLE_DEVICES", "GPU-8f3c,GPU-11aa")]), &smi).unwrap();
        assert_eq!(f.ids, ["GPU-8f3c", "GPU-11aa"]);
        for bad in ["", "0,,1", "0,0", "0;1", "a b"] {
            let e = discover_with(Some(bad), &env(&[]), &smi).unwrap_err();
            assert!(e.to_string().starts_with("--gpus: "), "{bad:?}: {e}");
            assert!(e.to_string().ends_with("e.g. --gpus 0,1,3"), "{e}");
        }
    }

    #[test]
    fn nvidia_smi_lists_gpus_not_mig_instances() {
        let text = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)\n  MIG 1g.10gb Device 0: (UUID: MIG-bbbb)\n\
                    GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-cccc)\nNo devices were found\n";
        assert_eq!(parse_nvidia_smi(text), ["0", "1"]);
        assert!(parse_nvidia_smi("No devices were found\n").is_empty());
    }

    #[test]
    fn leases_are_disjoint_and_given_back_on_drop() {
        let pool = DevicePool::new(found(4), gpus(2.0)).unwrap();
        assert_eq!(pool.capacity(), 2);
        let a = pool.try_lease().unwrap();
        let b = pool.try_lease().unwrap();
        assert_eq!((a.visible(), b.visible()), ("0,1".to_string(), "2,3".to_string()));
        assert!(pool.try_lease().is_none());
        drop(a);
        let c = pool.try_lease().unwrap();
        assert_eq!(c.visible(), "0,1");
        assert_eq!(c.env()[..2], [("CUDA_VISIBLE_DEVICES", "0,1".into()), ("SWEEP_GPUS", "0,1".into())]);
    }

    #[test]
    fn a_share_spreads_then_packs_two_to_a_device() {
        let pool = DevicePool::new(found(2), gpus(0.5)).unwrap();
        assert_eq!(pool.capacity(), 4);
        let leases: Vec<Lease> = (0..4).map(|_| pool.try_lease().unwrap()).collect();
        let ids: Vec<String> = leases.iter().map(Lease::visible).collect();
        assert_eq!(ids, ["0", "1", "0", "1"]);
        assert!(pool.try_lease().is_none());
        drop(leases);
        assert_eq!(*pool.free(), [2, 2]);
    }

    #[test]
    fn a_lease_comes_back_when_a_panic_unwinds_through_its_holder() {
        let pool = DevicePool::new(found(1), gpus(1.0)).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _l = pool.try_lease().unwrap();
            panic!("the backend panicked");
        }));
        assert!(r.is_err());
        assert!(pool.try_lease().is_some());
    }

    #[test]
    fn a_waiting_trial_gets_the_devices_given_back_or_stops() {
        let pool = DevicePool::new(found(1), gpus(1.0)).unwrap();
        let stop = AtomicBool::new(false);
        let held = pool.try_lease().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| pool.lease(&stop).map(|l| l.visible()));
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
            assert_eq!(waiter.join().unwrap().as_deref(), Some("0"));
        });
        let _held = pool.try_lease().unwrap();
        stop.store(true, Ordering::SeqCst);
        assert!(pool.lease(&stop).is_none());
    }

    #[test]
    fn none_found_and_too_many_asked_are_refused() {
        let e = DevicePool::new(
            Found {
                ids: vec![],
                source: Source::None,
            },
            gpus(1.0),
        )
        .unwrap_err();
        assert!(matches!(e, DeviceError::None { .. }), "{e}");
        let e = DevicePool::new(found(2), gpus(4.0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "each trial asks for 4 GPUs but only 2 GPUs (--gpus 0,1) are available"
        );
    }
}
