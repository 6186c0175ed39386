//! The GPUs of a command sweep whose `[command]` sets `gpus` (issue 36), as `run` and `plan` see them: the devices
//! found ([`crate::devices::discover`], or `--gpus`), refused with the fix when there are none or too few for one
//! trial, and the number of trials at once they allow.

use super::{input, Result};
use crate::devices::{discover, DeviceError, DevicePool, Found, Source};
use sweep_grid::command::{CommandGrid, Gpus};
use sweep_grid::grid::Grid;

/// `--gpus` given for a grid that assigns no devices: a mistake (no trial would get them), said with the fix.
fn unused_flag(grid: &Grid, flag: &str) -> super::OpsError {
    let what = if grid.command.is_some() {
        "its [command] table sets no `gpus`"
    } else {
        "it trains the built-in network, on the CPU"
    };
    input!(
        "--gpus {flag}: {} gives no trial a device ({what}); add e.g. `gpus = 1` to [command] for one device per \
         trial (see docs/gpus.md), or leave --gpus out",
        grid.file.display()
    )
}

/// Refuses `--gpus` for a grid without `[command] gpus`.
pub fn check_unused(grid: &Grid, flag: Option<&str>) -> Result<()> {
    let asks = grid.command.as_ref().is_some_and(|c| c.command.gpus.is_some());
    match flag {
        Some(f) if !asks => Err(unused_flag(grid, f)),
        _ => Ok(()),
    }
}

fn per_trial(g: &Gpus) -> String {
    if g.per_trial >= 1.0 {
        format!("{} GPU{}", g.devices(), if g.devices() == 1 { "" } else { "s" })
    } else {
        format!("{} of a GPU", g.per_trial)
    }
}

/// The devices found (a `--gpus` list that cannot be read is refused).
fn found(flag: Option<&str>) -> Result<Found> {
    discover(flag).map_err(|e| input!("{e}"))
}

/// The error for a pool that cannot be made.
fn refusal(grid: &Grid, g: &Gpus, e: DeviceError) -> super::OpsError {
    let (line, col) = g.pos;
    let at = format!("{}:{line}:{col}: command.gpus", grid.file.display());
    match e {
        DeviceError::None { found } => input!(
            "{at}: each trial asks for {}, but {found}. Name the devices with `sweep run --gpus 0,1` (or set \
             CUDA_VISIBLE_DEVICES), run where a GPU is visible, or remove `gpus` to run the trials without devices",
            per_trial(g)
        ),
        DeviceError::TooMany { asked, found } => input!(
            "{at}: each trial asks for {asked} GPUs, but only {found} are available: lower `gpus` to at most the \
             devices there are, or give more with --gpus"
        ),
        DeviceError::List { .. } => input!("{e}"),
    }
}

/// The device pool of a command sweep that sets `gpus` (`None` when it does not); `flag` is `--gpus`.
pub fn pool(grid: &Grid, c: &CommandGrid, flag: Option<&str>) -> Result<Option<DevicePool>> {
    let Some(g) = &c.command.gpus else {
        check_unused(grid, flag)?;
        return Ok(None);
    };
    let found = found(flag)?;
    DevicePool::new(found, *g).map(Some).map_err(|e| refusal(grid, g, e))
}

/// Trials at once: what the devices allow, unless `--workers` is lower.
pub fn workers(pool: &DevicePool, asked: Option<usize>) -> usize {
    let cap = pool.capacity();
    match asked {
        Some(w) if w < cap => w,
        Some(w) if w > cap => {
            tracing::info!(
                "--workers {w}: {} allow {cap} trial{} at once; running {cap}",
                pool.found(),
                if cap == 1 { "" } else { "s" }
            );
            cap
        }
        _ => cap,
    }
}

/// What `sweep plan` says of the devices: which were found, how each trial gets its own, how many run at once; or
/// why `sweep run` would refuse to start here. Returns the lines and the trials at once (`None`: not known here).
pub fn plan_lines(grid: &Grid, c: &CommandGrid, flag: Option<&str>, asked: Option<usize>) -> Result<(String, Option<usize>)> {
    let Some(g) = &c.command.gpus else {
        check_unused(grid, flag)?;
        return Ok((String::new(), None));
    };
    let found = found(flag)?;
    let described = found.to_string();
    let source = found.source;
    match DevicePool::new(found, *g) {
        Ok(pool) => {
            let n = workers(&pool, asked);
            let share = if g.per_trial < 1.0 {
                format!(", {} trials sharing each device", g.trials_per_device())
            } else {
                String::new()
            };
            let mut leases = Vec::new();
            while leases.len() < n {
                match pool.try_lease() {
                    Some(l) => leases.push(l),
                    None => break,
                }
            }
            let first: Vec<String> = leases.iter().take(8).map(|l| format!("[{}]", l.visible())).collect();
            Ok((
                format!(
                    "GPUs: {described}; each trial gets {} in its own CUDA_VISIBLE_DEVICES{share}: {n} trial{} at a \
                     time ({}{}).{}\n",
                    per_trial(g),
                    if n == 1 { "" } else { "s" },
                    first.join(" "),
                    if leases.len() > 8 { " ..." } else { "" },
                    if source == Source::Flag {
                        ""
                    } else {
                        " `sweep run --gpus 0,1` names other devices."
                    }
                ),
                Some(n),
            ))
        }
        Err(e) => {
            let why = refusal(grid, g, e);
            Ok((
                format!(
                    "GPUs: `sweep run` refuses to start here: {why}. (On a cluster, `sweep slurm` and `sweep k8s` \
                     request the devices for each task.)\n"
                ),
                None,
            ))
        }
    }
}

/// The GPUs a cluster task (a Slurm array task, a Kubernetes pod) requests: `given` (`--gpus-per-task`,
/// `--gpus-per-pod`, named by `flag`) or one trial's devices; `None` when the grid assigns none. Inside its allocation
/// the task's `sweep run` finds what it was given (`CUDA_VISIBLE_DEVICES`, or `nvidia-smi -L` in a container) and
/// runs as many trials at once as those allow.
pub fn per_task(grid: &Grid, flag: &str, given: Option<usize>) -> Result<Option<usize>> {
    let gpus = grid.command.as_ref().and_then(|c| c.command.gpus);
    match (gpus, given) {
        (None, None) => Ok(None),
        (None, Some(n)) => Err(input!(
            "{flag} {n}: {} gives no trial a device (no `gpus` in [command]); add e.g. `gpus = 1` to [command] (see \
             docs/gpus.md), or leave {flag} out",
            grid.file.display()
        )),
        (Some(g), None) => Ok(Some(g.devices())),
        (Some(g), Some(n)) if n < g.devices() => {
            let (line, col) = g.pos;
            Err(input!(
                "{flag} {n}: each trial asks for {} ({}:{line}:{col}: command.gpus), so a task needs at least {}; give \
                 {flag} {} or more, or lower `gpus`",
                per_trial(&g),
                grid.file.display(),
                g.devices(),
                g.devices()
            ))
        }
        (Some(_), Some(n)) => Ok(Some(n)),
    }
}
