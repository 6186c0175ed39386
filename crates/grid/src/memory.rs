//! Whether a grid's largest job fits in this machine's memory, decided while the grid is checked (so `plan`, `run`
//! and every other command refuse it before anything is allocated), from core's estimate
//! ([`sweep_core::cost::job_memory`], [`sweep_core::cost::data_memory`]) and the data sizes the grid plans.

use std::sync::OnceLock;

use sweep_core::cost::{data_memory, job_memory, machine_memory, JobMemory, MachineMemory, Shape};
use sweep_core::TrainConfig;

use crate::axis::Axis;
use crate::grid::{DataSection, DataSource};
use sweep_params::params::{param, Value};
use sweep_params::GridError;

/// CIFAR-10's images: what a data path is assumed to hold at most before its files are read.
const CIFAR_TRAIN: usize = 50_000;
const CIFAR_TEST: usize = 10_000;

/// The memory one job and the data need.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The configuration of the job.
    pub config: TrainConfig,
    pub job: JobMemory,
    /// The data, loaded once for every job.
    pub data: u64,
}

impl Need {
    pub fn total(&self) -> u64 {
        self.job.total().saturating_add(self.data)
    }

    /// The refusal's words after the subject: `needs N bytes of memory (1.2 GB: weights ..., data ...), more than
    /// this machine has: M bytes (8 GB, /proc/meminfo); use a smaller hidden_size`.
    pub fn too_much(&self, machine: &MachineMemory, smaller: &str) -> String {
        format!(
            "needs {} bytes of memory ({}: {}), more than this machine has: {} bytes ({}, {}); use a smaller {smaller}",
            self.total(),
            human_bytes(self.total()),
            self.parts(),
            machine.bytes,
            human_bytes(machine.bytes),
            machine.source,
        )
    }

    /// What the bytes are, for a refusal: `weights 12.3 PB, optimizer buffers 4 kB, ..., data 600 MB`.
    pub fn parts(&self) -> String {
        let j = &self.job;
        [
            ("weights", j.weights),
            ("optimizer buffers", j.optimizer),
            ("best copy", j.best),
            ("workspace", j.workspace),
            ("history", j.history),
            ("saved state", j.saved_state),
            ("data", self.data),
        ]
        .iter()
        .filter(|(_, b)| *b > 0)
        .map(|(part, b)| format!("{part} {}", human_bytes(*b)))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// (train, val, test) images, inputs per image and classes the grid's data will have, without reading them (a path is
/// taken to hold CIFAR-10, whose split caps the sizes asked for).
fn planned_sizes(data: &DataSection) -> (usize, usize, usize, usize, usize) {
    match data.source {
        DataSource::Toy => {
            let (train, val, test) = data.toy_sizes();
            (train, val, test, 4, 3)
        }
        DataSource::Path(_) => {
            let val = data.val_size.min(CIFAR_TRAIN);
            let train = data.train_size.unwrap_or(CIFAR_TRAIN).min(CIFAR_TRAIN - val);
            let test = data.test_size.unwrap_or(CIFAR_TEST).min(CIFAR_TEST);
            (train, val, test, 3072, 10)
        }
    }
}

/// What training `c` on the grid's data needs.
pub fn need(c: &TrainConfig, data: &DataSection) -> Need {
    let (n_train, n_val, n_test, input, classes) = planned_sizes(data);
    let shape = Shape {
        n_train,
        n_val,
        input,
        hidden: c.hidden_size,
        classes,
        batch: c.batch_size,
    };
    Need {
        config: c.clone(),
        job: job_memory(&shape, c),
        data: data_memory(n_train.saturating_add(n_val).saturating_add(n_test), input),
    }
}

/// The job of the grid that needs the most memory: each axis at its most demanding value (the estimate grows with
/// each parameter on its own, so these together are the largest job), a sampled integer range at its top.
pub fn largest(base: &TrainConfig, axes: &[Axis], data: &DataSection) -> Need {
    let mut worst = base.clone();
    for axis in axes {
        let mut values = axis.values.clone();
        if let (Some((_, hi)), true) = (axis.range, axis.param.is_integer()) {
            values.push(Value::Num(hi.round()));
        }
        let best = values
            .into_iter()
            .filter_map(|v| {
                let mut c = worst.clone();
                axis.param.try_set(&mut c, v).ok()?;
                Some((need(&c, data).total(), c))
            })
            .max_by_key(|(bytes, _)| *bytes);
        if let Some((_, c)) = best {
            worst = c;
        }
    }
    need(&worst, data)
}

/// `12.3 GB`, in powers of 1000.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut x = bytes as f64;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// This machine's memory, read once (for a check of a single configuration, as `sweep train` could do:
/// `need(&c, &data).total() > machine().bytes`).
pub fn machine() -> Option<MachineMemory> {
    static MEMORY: OnceLock<Option<MachineMemory>> = OnceLock::new();
    *MEMORY.get_or_init(machine_memory)
}

/// Refuses the grid if its largest job and the data need more memory than `machine` has ([`machine`]: this one;
/// `None`: unknown, nothing is refused). `fixed(name)` says whether a parameter is set in `[train]`; `at(key,
/// message)` makes the positioned error.
pub(crate) fn check(
    machine: Option<MachineMemory>,
    base: &TrainConfig,
    axes: &[Axis],
    data: &DataSection,
    fixed: &dyn Fn(&str) -> bool,
    at: &dyn Fn(&str, String) -> GridError,
) -> Result<(), GridError> {
    let Some(machine) = machine else {
        return Ok(());
    };
    let need = largest(base, axes, data);
    if need.total() <= machine.bytes {
        return Ok(());
    }
    // Blame the setting whose smallest value would save the most.
    let mut blame: Vec<(u64, String, String)> = Vec::new();
    for name in ["hidden_size", "epochs", "batch_size"] {
        let key = if axes.iter().any(|a| a.name() == name) {
            format!("grid.{name}")
        } else if fixed(name) {
            format!("train.{name}")
        } else {
            continue;
        };
        let mut c = need.config.clone();
        if let Some(p) = param(name) {
            p.set(&mut c, Value::Num(1.0));
            let what = format!("a job with {name} = {}", p.text(&need.config));
            blame.push((need.total().saturating_sub(self::need(&c, data).total()), key, what));
        }
    }
    for name in ["train_size", "val_size", "test_size"] {
        let mut smaller = data.clone();
        let given = match name {
            "train_size" => smaller.train_size.replace(1),
            "test_size" => smaller.test_size.replace(1),
            _ => data.val_size_pos.map(|_| std::mem::replace(&mut smaller.val_size, 1)),
        };
        if let Some(n) = given {
            let saved = need.total().saturating_sub(self::need(&need.config, &smaller).total());
            blame.push((saved, format!("data.{name}"), format!("the data with {name} = {n}")));
        }
    }
    let (key, what) = blame
        .into_iter()
        .max_by_key(|(saved, ..)| *saved)
        .map_or(("train".to_string(), "a job of this grid".to_string()), |(_, k, w)| (k, w));
    let name = key.rsplit('.').next().unwrap_or(&key).to_string();
    Err(at(&key, format!("{what} {}", need.too_much(&machine, &name))))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::grid::Grid;

    fn parse(text: &str) -> Result<Grid, GridError> {
        Grid::parse(Path::new("g.toml"), text)
    }

    #[test]
    fn a_model_that_cannot_fit_is_refused_naming_its_bytes_and_the_machine_s() {
        // Earlier: "memory allocation of 16000000000000 bytes failed" and an abort (exit 134) in `sweep plan`.
        let e = parse("[train]\nhidden_size = 1000000000000\n").unwrap_err().to_string();
        assert!(
            e.starts_with("g.toml:2:15: train.hidden_size: a job with hidden_size = 1000000000000 needs "),
            "{e}"
        );
        assert!(
            e.contains(" bytes of memory (") && e.contains("weights 12.3 PB") && e.contains("more than this machine has: "),
            "{e}"
        );
        assert!(e.ends_with("; use a smaller hidden_size"), "{e}");
        let starts = |text: &str, prefix: &str| {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(prefix), "{e}");
        };
        starts(
            "[data]\nsource = \"toy\"\n[grid]\nhidden_size = [8, 1000000000000]\n",
            "g.toml:4:15: grid.hidden_size: a job with hidden_size = 1000000000000",
        );
        let e = parse("[grid]\nhidden_size = { log = [8, 1000000000000] }\n[search]\nmethod = \"random\"\nsamples = 4\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("grid.hidden_size"), "{e}");
        // A billion epochs keep a per-iteration loss of 800 GB.
        starts(
            "[train]\nepochs = 1000000000\n",
            "g.toml:2:10: train.epochs: a job with epochs = 1000000000 needs",
        );
        starts(
            "[data]\nsource = \"toy\"\ntrain_size = 1000000000000000\n",
            "g.toml:3:14: data.train_size: the data with train_size = 1000000000000000 needs",
        );
        // The shipped grids fit (and a CIFAR path's sizes are capped at what CIFAR-10 holds).
        assert!(parse("[data]\npath = \"x\"\ntrain_size = 1000000000000000\n").is_ok());
        assert!(parse("[train]\nhidden_size = 4096\nepochs = 100\noptimizer = \"adam\"\nprecision = \"bf16\"\n").is_ok());
    }

    #[test]
    fn the_largest_job_takes_each_axis_at_its_most_demanding_value() {
        let g = parse("[data]\nsource = \"toy\"\n[grid]\nhidden_size = [64, 8]\noptimizer = [\"sgd\", \"adam\", \"momentum\"]\ndropout = [0.0, 0.5]\n").unwrap();
        let base = crate::grid::base_config(&g.fixed);
        let n = largest(&base, &g.axes, &g.data);
        assert_eq!(
            (n.config.hidden_size, n.config.optimizer, n.config.dropout),
            (64, sweep_core::Optimizer::Adam, 0.5)
        );
        let machine = |bytes| Some(MachineMemory { bytes, source: "a test" });
        let at = |key: &str, msg: String| GridError {
            file: "g.toml".into(),
            line: 1,
            column: 1,
            key: Some(key.into()),
            message: msg,
        };
        let no = |_: &str| false;
        assert!(check(machine(n.total()), &base, &g.axes, &g.data, &no, &at).is_ok());
        let e = check(machine(n.total() - 1), &base, &g.axes, &g.data, &no, &at).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("grid.hidden_size"));
        assert!(e.message.contains(&format!("needs {} bytes", n.total())), "{e}");
        assert!(
            e.message.contains(&format!("{} bytes (", n.total() - 1)) && e.message.contains("a test"),
            "{e}"
        );
        assert!(check(None, &base, &g.axes, &g.data, &no, &at).is_ok(), "unknown memory: not judged");
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(25_219_645_440), "25.2 GB");
    }
}
