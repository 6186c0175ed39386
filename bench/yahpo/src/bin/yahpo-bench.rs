//! sweep's searches on the LCBench surrogate, replayed in process with sweep's own scheduler: one replay per
//! (method, task, seed), until the budget of epochs is spent, on `--threads` threads.
//!
//! Writes OUT/curves.csv (`tool,method,task,seed,epochs,best_val,sim_seconds`, the columns of `optuna_side.py`, for
//! `report.py`) and OUT/runs.csv (per replay: trials, units, epochs, best, simulated seconds, how busy the workers
//! were, wall seconds). With `--workers 1,16` each replay runs once per worker count (the curve in epochs is the one
//! worker's) and OUT/wall.csv gets the best found against simulated seconds. A multi-objective method (`default-mo`)
//! also writes OUT/points.csv (`tool,method,task,seed,trial,epochs,acc,time,status`: every final row as it is
//! recorded, with the epochs spent then), the format of `optuna_mo.py`, for `mo_report.py`.
//!
//! Usage: yahpo-bench [--tasks dev|ID,...] [--seeds 0-9] [--method NAME|NAME='k = v;...']... [--budget 2600]
//!                    [--workers 1] [--threads 2] [--out DIR]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use sweep_yahpo::grid::{grid, search_of};
use sweep_yahpo::sim::{replay, Options};
use sweep_yahpo::surrogate::{Surrogate, DEV_TASKS};

const MARKS: [usize; 3] = [520, 1300, 2600];

struct Args {
    tasks: Vec<u32>,
    seeds: Vec<u64>,
    methods: Vec<(String, String)>,
    budget: usize,
    workers: Vec<usize>,
    threads: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        tasks: DEV_TASKS.to_vec(),
        seeds: (0..10).collect(),
        methods: Vec::new(),
        budget: 2600,
        workers: vec![1],
        threads: 2,
        out: PathBuf::from(std::env::var("YAHPO_RESULTS").unwrap_or_else(|_| "/tmp/yahpo-results".into())).join("sweep"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tasks" => {
                let v = value()?;
                a.tasks = match v.as_str() {
                    "dev" => DEV_TASKS.to_vec(),
                    list => list.split(',').map(|t| t.trim().parse()).collect::<Result<_, _>>()?,
                };
                if let Some(t) = a.tasks.iter().find(|t| !DEV_TASKS.contains(t)) {
                    bail!("task {t} is kept for evaluation (not one of the 26 development tasks)");
                }
            }
            "--seeds" => {
                let v = value()?;
                a.seeds = match v.split_once('-') {
                    Some((lo, hi)) => (lo.parse()?..=hi.parse()?).collect(),
                    None => v.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?,
                };
            }
            "--method" => a.methods.push(search_of(&value()?)?),
            "--budget" => a.budget = value()?.parse()?,
            "--workers" => a.workers = value()?.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?,
            "--threads" => a.threads = value()?.parse()?,
            "--out" => a.out = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("yahpo-bench.rs")
                        .lines()
                        .take_while(|l| l.starts_with("//!"))
                        .map(|l| l.trim_start_matches("//!").trim_start())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if a.methods.is_empty() {
        a.methods.push(search_of("default")?);
    }
    for (_, table) in a.methods.iter_mut() {
        *table = table.replace("BUDGET", &a.budget.to_string());
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.out)?;
    let mut jobs = Vec::new();
    for (name, search) in &args.methods {
        for &task in &args.tasks {
            for &seed in &args.seeds {
                jobs.push((name.clone(), search.clone(), task, seed));
            }
        }
    }
    let marks: Vec<usize> = MARKS.iter().copied().filter(|&m| m <= args.budget).chain([args.budget]).collect();
    let curves = Mutex::new(String::from("tool,method,task,seed,epochs,best_val,sim_seconds\n"));
    let runs = Mutex::new(String::from(
        "tool,method,task,seed,workers,trials,units,epochs,best_val,sim_seconds,busy,wall_s\n",
    ));
    let wall = Mutex::new(String::from("tool,method,task,seed,workers,sim_seconds,best_val\n"));
    let points = Mutex::new(String::from("tool,method,task,seed,trial,epochs,acc,time,status\n"));
    let mut multi = false;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.max(1)).build()?;
    let t0 = Instant::now();
    let file = Path::new("bench/yahpo/grid.toml");
    pool.install(|| {
        jobs.par_iter()
            .try_for_each_init(Surrogate::open, |surrogate, (name, search, task, seed)| -> Result<()> {
                let surrogate = surrogate.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let g = grid(*task, *seed, search, file).with_context(|| format!("method {name}"))?;
                let mo = g.objectives.len() > 1;
                for &workers in &args.workers {
                    let started = Instant::now();
                    let r = replay(
                        &g,
                        surrogate,
                        &Options {
                            workers,
                            budget: args.budget,
                            marks: marks.clone(),
                        },
                    )
                    .with_context(|| format!("{name} on task {task}, seed {seed}"))?;
                    let best = r.curve.last().map_or(f64::NAN, |p| p.best);
                    let busy = r.busy / (workers as f64 * r.end.max(1e-9));
                    writeln!(
                        runs.lock().unwrap(),
                        "sweep,{name},{task},{seed},{workers},{},{},{},{best:.4},{:.0},{busy:.4},{:.3}",
                        r.trials,
                        r.units,
                        r.epochs,
                        r.end,
                        started.elapsed().as_secs_f64()
                    )?;
                    if mo && workers == args.workers[0] {
                        // Every final row (completed or pruned: what results.csv holds) as it is recorded, for
                        // mo_report.py: its trial, the epochs spent then, and its objectives.
                        let mut c = points.lock().unwrap();
                        for row in &r.rows {
                            if let [acc, time] = row.values[..] {
                                let status = row.outcome.status.as_str();
                                writeln!(c, "sweep,{name},{task},{seed},{},{},{acc:.4},{time:.4},{status}", row.id, row.spent)?;
                            }
                        }
                    }
                    if workers == args.workers[0] {
                        let mut c = curves.lock().unwrap();
                        for p in &r.curve {
                            writeln!(c, "sweep,{name},{task},{seed},{},{:.4},{:.0}", p.epochs, p.best, p.sim_seconds)?;
                        }
                    }
                    if args.workers.len() > 1 || workers > 1 {
                        let mut w = wall.lock().unwrap();
                        for (t, b) in &r.by_time {
                            writeln!(w, "sweep,{name},{task},{seed},{workers},{t:.1},{b:.4}")?;
                        }
                    }
                }
                Ok(())
            })
    })?;
    std::fs::write(args.out.join("curves.csv"), curves.into_inner().unwrap())?;
    std::fs::write(args.out.join("runs.csv"), runs.into_inner().unwrap())?;
    multi |= args.methods.iter().any(|(_, t)| t.contains("objectives = "));
    if multi {
        std::fs::write(args.out.join("points.csv"), points.into_inner().unwrap())?;
    }
    if args.workers.len() > 1 || args.workers[0] > 1 {
        std::fs::write(args.out.join("wall.csv"), wall.into_inner().unwrap())?;
    }
    eprintln!(
        "{} replays in {:.1} s; {}",
        jobs.len() * args.workers.len(),
        t0.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
