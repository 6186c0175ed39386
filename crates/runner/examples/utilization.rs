//! How busy the workers of a successive-halving sweep are, synchronous against asynchronous (ASHA), simulated with
//! the runner's own schedulers and the cost model instead of training.
//!
//!     cargo run --release -p sweep-runner --example utilization -- GRID [WORKERS ...]
//!
//! GRID is a halving grid (e.g. `sweeps/seed-table3-halving.toml`); each unit of work takes the time the cost model
//! gives its epochs at the training rate measured on this machine just now (one core, each hidden size), and its
//! validation accuracy is a smooth made-up function of the configuration (higher learning rates and wider layers
//! learn faster; learning rate 1 diverges), so that rungs rank and promote as a real sweep would. The simulation
//! hands free workers the scheduler's units in its order, exactly as the runner does, and reports the share of
//! worker-time spent training and the wall time, for synchronous halving and ASHA (the same jobs under the two fidelity schedulers).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use sweep_core::cost::{calibrate, Shape};
use sweep_grid::Grid;
use sweep_results::format::{Decision, JobStatus};
use sweep_runner::run::{Driver, Scheduler, Unit, View};
use sweep_search::work::Outcome;

/// A made-up validation accuracy after `epochs` of a configuration.
fn accuracy(lr: f64, hidden: usize, reg: f64, epochs: f64) -> Option<f64> {
    if lr >= 1.0 {
        return None;
    }
    let speed = (lr / 0.05).min(1.0) * (1.0 + (hidden as f64).log2() / 10.0);
    let ceiling = 0.56 - 2.0 * reg - 0.4 / (hidden as f64).sqrt();
    Some(ceiling * (1.0 - (-speed * epochs).exp()))
}

/// Simulates `workers` workers; returns (utilization, makespan seconds).
fn simulate(mut scheduler: Box<dyn Scheduler>, workers: usize, seconds: &dyn Fn(&Unit) -> f64) -> (f64, f64) {
    let mut finals: HashMap<String, Outcome> = HashMap::new();
    let mut rungs: HashMap<(usize, String), Outcome> = HashMap::new();
    let mut decisions: HashSet<Decision> = HashSet::new();
    // Running units by end time (ns), with their key.
    let mut running: BTreeMap<(u64, String), Unit> = BTreeMap::new();
    let (mut now, mut busy) = (0.0f64, 0.0f64);
    loop {
        let poll = scheduler.poll(&View {
            finals: &finals,
            rungs: &rungs,
            decisions: &decisions,
            idle: workers.saturating_sub(running.len()),
        });
        for (id, k) in poll.prune {
            if let Some(row) = rungs.get(&(k, id.clone())) {
                let pruned = Outcome {
                    status: JobStatus::Pruned,
                    ..row.clone()
                };
                finals.insert(id, pruned);
            }
        }
        let keys: HashSet<String> = running.values().map(Unit::key).collect();
        for unit in poll.units.into_iter().filter(|u| !keys.contains(&u.key())) {
            if running.len() >= workers {
                break;
            }
            decisions.extend(poll.decide.iter().filter(|d| d.id == unit.job.id).cloned());
            let t = seconds(&unit);
            busy += t;
            running.insert((((now + t) * 1e9) as u64, unit.key()), unit);
        }
        let Some(((end, _), unit)) = running.pop_first() else {
            if poll.done {
                break;
            }
            panic!("nothing runs and nothing can start");
        };
        now = end as f64 / 1e9;
        let c = &unit.job.config;
        let val = accuracy(c.learning_rate, c.hidden_size, c.reg, unit.to);
        let row = Outcome {
            status: if val.is_some() { JobStatus::Completed } else { JobStatus::Diverged },
            rung: unit.rung,
            score: val,
            objectives: Vec::new(),
            epochs_run: unit.to,
            seconds: 0.0,
        };
        match (unit.last, val) {
            (false, Some(_)) => {
                rungs.insert((unit.rung.unwrap_or(0), unit.job.id.clone()), row);
            }
            _ => {
                finals.insert(unit.job.id.clone(), row);
            }
        }
    }
    (busy / (workers as f64 * now), now)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: utilization GRID [WORKERS ...]");
        std::process::exit(2);
    };
    let grid = Grid::load(path.as_ref()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let counts: Vec<usize> = match args[1..].iter().map(|w| w.parse()).collect::<Result<Vec<usize>, _>>() {
        Ok(c) if !c.is_empty() => c,
        _ => vec![2, 16, 64],
    };
    let jobs = grid.jobs().unwrap();
    let data = grid.data.planned();
    let shape = |hidden: usize, batch: usize| Shape {
        n_train: data.n_train,
        n_val: data.n_val,
        input: data.input,
        hidden,
        classes: data.classes,
        batch,
    };
    // This core's rate at each layer size of the grid, measured now.
    let mut rate: HashMap<(usize, usize), f64> = HashMap::new();
    for j in &jobs {
        let key = (j.config.hidden_size, j.config.batch_size);
        rate.entry(key)
            .or_insert_with(|| calibrate(&shape(key.0, key.1), Duration::from_millis(300)));
    }
    let seconds = |u: &Unit| {
        let key = (u.job.config.hidden_size, u.job.config.batch_size);
        shape(key.0, key.1).epoch_flops() as f64 / 1e9 / rate[&key] * (u.to - u.from)
    };
    let ladder = grid.search.ladder(grid.base_config().epochs);
    println!(
        "{} jobs, rungs {:?}, eta {}; CPU: {}",
        jobs.len(),
        ladder,
        grid.search.eta,
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| t
                .lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
            .unwrap_or_default()
    );
    println!("{:>8}  {:>22}  {:>22}", "workers", "synchronous halving", "ASHA");
    let with = |scheduler: &'static str| {
        let mut g = grid.clone();
        g.search.scheduler = scheduler;
        g
    };
    let (halving, asha) = (with("halving"), with("asha"));
    for w in counts {
        let sync = Box::new(Driver::new(&halving, jobs.clone(), |_| 1));
        let asha = Box::new(Driver::new(&asha, jobs.clone(), |_| 1));
        let (us, ts) = simulate(sync, w, &seconds);
        let (ua, ta) = simulate(asha, w, &seconds);
        println!(
            "{w:>8}  {:>7.1} % in {:>8.0} s  {:>7.1} % in {:>8.0} s",
            100.0 * us,
            ts,
            100.0 * ua,
            ta
        );
    }
}
