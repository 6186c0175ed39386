//! `sweep plan`: the jobs of a grid, the settings they share, the total work and the time it will take here, without
//! running anything.
//!
//! The time is the cost model's work ([`Shape::epoch_flops`]) at this machine's rate, measured now with every worker's
//! core busy at once (a sweep runs one job per core, and two jobs share the caches, the memory bandwidth and the
//! clock), times [`NOT_GEMM`] for what a real epoch does besides the calibrated steps, the jobs laid out on the
//! workers largest first as the runner does, stage by stage (a rung starts when the previous one is decided). Which
//! jobs of a halving or Hyperband rung survive is known only as they run, so those sweeps get two figures: survivors
//! costing what an average job of their bracket costs, and the most expensive jobs surviving.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::Result;
use sweep_core::cost::{calibrate, Shape};
use sweep_core::TrainConfig;
use sweep_grid::command::{CommandGrid, Mode};
use sweep_grid::grid::{Grid, Job};
use sweep_grid::trials::value_text;
use sweep_params::params::{params, Param, Show, Value};
use sweep_search::{round12, Schedule, Search};

use super::num_cpus;
use sweep_params::text::duration as human;

#[derive(Debug, Clone)]
pub struct PlanArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Parallel jobs to plan for, as `sweep run --workers` [default: all cores].
    pub workers: Option<usize>,
    /// `--gpus 0,1,3`, as `sweep run --gpus`: the devices a command sweep with `[command] gpus` plans for.
    pub gpus: Option<String>,
}

/// Time spent measuring this machine's training rate, over all hidden sizes of the grid.
const CALIBRATION: Duration = Duration::from_millis(1200);

/// Real epochs over the calibrated steps: what an epoch does besides SGD steps on one batch already in cache (the
/// calibration's), at the same number of floating-point operations: gathering each minibatch from the whole training
/// set, the train-accuracy sample and the validation set scored (in the cost model's FLOPs, at a rate the calibration
/// does not measure), saving the training state after every epoch, the history and the logs. Measured on a 2-core
/// AMD EPYC Zen 4 (family 25 model 17, shared with other sessions) as the CPU time of short CIFAR-10 sweeps (a 4-job
/// grid at 256 and 1,024 units, twice; a 24-job halving sweep at 64 to 1,024 units), less that of loading the data,
/// over the model's: 1.01-1.11, 1.06 on average (see docs/performance.md, "How `sweep plan` estimates the time").
const NOT_GEMM: f64 = 1.06;

/// `sweep plan GRID`: prints the plan.
pub fn plan(args: &PlanArgs) -> Result<ExitCode> {
    let grid = Grid::load(&args.grid)?;
    let workers = super::run::checked_workers(args.workers)?;
    if let Some(c) = &grid.command {
        let (devices, at_once) = super::gpus::plan_lines(&grid, c, args.gpus.as_deref(), args.workers)?;
        print!("{}", command_plan(&grid, c, at_once.unwrap_or(workers), &devices)?);
        return Ok(ExitCode::SUCCESS);
    }
    super::gpus::check_unused(&grid, args.gpus.as_deref())?;
    // TPE proposes its trials as results arrive: what can be planned is one batch of the same size drawn at random
    // (what its first batch is), through the same rungs, once per batch.
    let tpe = grid
        .search
        .is_adaptive()
        .then(|| TpeBatches::of(&grid.search, grid.base_config().epochs));
    // Warns (once, on stderr) about every parameter the grid sets where it has no effect, as `run` does.
    let jobs = match &tpe {
        Some(t) => t.random_batch(&grid)?,
        None => grid.jobs()?,
    };
    let mut out = match &tpe {
        Some(t) => t.intro(&grid, &jobs),
        None => job_table(&grid, &jobs),
    };
    let shared = shared_settings(&grid, &jobs);
    out.push_str(&match tpe {
        // No table above: the trials' own values come from the axes.
        Some(_) => shared
            .replace("Every job:", "Every trial:")
            .replace("as shown above or at its default", "from the axes or at its default"),
        None => shared,
    });
    let data = grid.data.planned();
    let shape = |c: &TrainConfig| Shape {
        n_train: data.n_train,
        n_val: data.n_val,
        input: data.input,
        hidden: c.hidden_size,
        classes: data.classes,
        batch: c.batch_size,
    };
    let axes: Vec<&str> = grid.axes.iter().map(|a| a.name()).collect();
    let epochs: u64 = jobs.iter().map(|j| j.config.epochs as u64).sum();
    let flop: f64 = jobs
        .iter()
        .map(|j| shape(&j.config).epoch_flops() as f64 * j.config.epochs as f64)
        .sum();
    out.push_str(&format!(
        "\n{}{} over {} axes ({}); {} epochs in all, {} training images each{}; {} of training{}.\n",
        thousands(jobs.len() as u64),
        if tpe.is_some() { " random trials (one batch)" } else { " jobs" },
        grid.axes.len(),
        if axes.is_empty() { "none".to_string() } else { axes.join(", ") },
        thousands(epochs),
        thousands(data.n_train as u64),
        if data.assumed_cifar {
            " (assuming CIFAR-10's 50,000 training images)"
        } else {
            ""
        },
        flop_text(flop),
        if tpe.is_some() { " if each trained to the end" } else { "" }
    ));
    // The rate of this machine, measured now at each (hidden, batch) of the grid (small layers run far below peak),
    // on as many cores at once as the sweep will use.
    let mut measured: BTreeMap<(usize, usize), Rate> = BTreeMap::new();
    let busy = workers.min(num_cpus()).min(jobs.len()).max(1);
    let sizes: BTreeSet<(usize, usize)> = jobs.iter().map(|j| (j.config.hidden_size, j.config.batch_size)).collect();
    let budget = CALIBRATION / sizes.len().max(1) as u32;
    for (h, b) in sizes {
        let mut s = jobs.first().map_or(shape(&TrainConfig::default()), |j| shape(&j.config));
        (s.hidden, s.batch) = (h, b);
        measured.insert((h, b), rate_with_busy_cores(&s, budget, busy));
    }
    let rates: BTreeMap<(usize, usize), f64> = measured.iter().map(|(k, r)| (*k, r.gflops)).collect();
    let share = if measured.is_empty() {
        1.0
    } else {
        measured.values().map(|r| r.share).sum::<f64>() / measured.len() as f64
    };
    let epoch_seconds = |c: &TrainConfig| NOT_GEMM * shape(c).epoch_flops() as f64 / 1e9 / rates[&(c.hidden_size, c.batch_size)];
    let schedule = grid.search.schedule(&jobs, grid.seed);
    // More workers than cores share them: at most one job per core runs at a time.
    let mut estimate = estimate(&grid.search, &schedule, &jobs, &epoch_seconds, workers.min(num_cpus()));
    if schedule.is_multi_fidelity() {
        out.push_str(&rungs_table(&grid.search, &schedule, Some(&estimate)));
    }
    if let Some(t) = &tpe {
        // The batches run one after the other (each is proposed from the ones before).
        estimate.average *= t.scale;
        estimate.upper *= t.scale;
    }
    // Then the finalists, side by side, costed at the batch's widest layer (what usually wins).
    let widest = jobs.iter().max_by_key(|j| j.config.hidden_size);
    let finals = widest.filter(|_| tpe.is_some() && grid.search.finalists > 0).map(|w| {
        let each = epoch_seconds(&w.config) * grid.search.final_epochs as f64;
        (
            makespan(vec![each; grid.search.finalists], workers.min(num_cpus())),
            w.config.hidden_size,
        )
    });
    estimate.average += finals.map_or(0.0, |f| f.0);
    estimate.upper += finals.map_or(0.0, |f| f.0);
    let (lo, hi) = rates.values().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let rate = if hi - lo < 0.5 {
        format!("{hi:.0} GFLOP/s per core")
    } else {
        format!("{lo:.0}-{hi:.0} GFLOP/s per core over the grid's layer sizes")
    };
    let when = if workers > num_cpus() {
        format!("{workers} workers on {} cores", num_cpus())
    } else {
        format!("{workers} worker{}", if workers == 1 { "" } else { "s" })
    };
    let time = if let (Some(_), true) = (&tpe, grid.search.asynchronous) {
        format!(
            "{} for the whole search if its trials cost what this random batch does, up to {} if the most expensive \
             ones survive the rungs",
            about(estimate.average),
            human(estimate.upper)
        )
    } else if let Some(t) = &tpe {
        format!(
            "{} for the {} batches{} if each costs what this random one does, up to {} if the most expensive trials \
             of each batch survive its rungs (TPE proposes more of what did well, so when large layers win, later \
             batches cost more than the first)",
            about(estimate.average),
            t.batches,
            finals.map_or(String::new(), |(seconds, hidden)| format!(
                " and the {} finalists ({} of it, {} epochs each at {} units)",
                grid.search.finalists,
                human(seconds),
                grid.search.final_epochs,
                thousands(hidden as u64)
            )),
            human(estimate.upper)
        )
    } else if schedule.is_multi_fidelity() && human(estimate.upper) != human(estimate.average) {
        format!(
            "{} if each rung's survivors cost what an average job of their bracket costs, up to {} if the most \
             expensive jobs survive (which survive is known only as they run)",
            about(estimate.average),
            human(estimate.upper)
        )
    } else {
        about(estimate.average)
    };
    let load = if share < 0.9 {
        format!(
            " This machine is busy: the measurement had its cores {:.0} % of the time; while that lasts, the sweep \
             takes about {:.1} times as long.",
            100.0 * share,
            1.0 / share
        )
    } else {
        String::new()
    };
    if grid.objectives.len() > 1 {
        let all: Vec<String> = grid
            .objectives
            .iter()
            .map(|o| format!("{} ({} is better)", o.metric, if o.mode == Mode::Max { "higher" } else { "lower" }))
            .collect();
        out.push_str(&format!(
            "Objectives: {}: jobs compare by Pareto dominance (one is better when it is at least as good in every \
             objective and better in one); rungs keep the best non-dominated ranks; best.json and `sweep best` list the \
             front, each member's model kept in candidates/ (a pruned one's as it was at its last rung).\n",
            all.join(", ")
        ));
    }
    out.push_str(&format!(
        "Estimated time: {time}; {when}, at the training rate measured here just now with {busy} core{} busy \
         ({rate}, counted over the time they had their cores).{load}\n\
         Not counted: loading the data (seconds), the best's test evaluation, jobs that diverge and stop early, and \
         small layers trained together (faster).\n",
        if busy == 1 { "" } else { "s" }
    ));
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A measured rate: GFLOP/s per core while the calibrations ran, and the share of the time they had their cores
/// (below 1 when other programs run on this machine).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rate {
    gflops: f64,
    share: f64,
}

/// The rate, in GFLOP/s per core, of `busy` calibrations running at once (a sweep's jobs run side by side, one per
/// core, and slow each other down), counted over the time each had its core: what the sweep's jobs will get from
/// this machine's cores, whatever else happens to run during the second of measurement.
fn rate_with_busy_cores(shape: &Shape, budget: Duration, busy: usize) -> Rate {
    let runs: Vec<Rate> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..busy)
            .map(|_| {
                s.spawn(|| {
                    let (cpu, wall) = (thread_cpu_seconds(), std::time::Instant::now());
                    let gflops = calibrate(shape, budget);
                    let share = match (cpu, thread_cpu_seconds()) {
                        (Some(a), Some(b)) => ((b - a) / wall.elapsed().as_secs_f64()).clamp(0.01, 1.0),
                        _ => 1.0,
                    };
                    Rate { gflops, share }
                })
            })
            .collect();
        runs.into_iter().filter_map(|r| r.join().ok()).collect()
    });
    let n = runs.len().max(1) as f64;
    Rate {
        gflops: runs.iter().map(|r| r.gflops / r.share).sum::<f64>() / n,
        share: runs.iter().map(|r| r.share).sum::<f64>() / n,
    }
}

/// The CPU time this thread has used, in seconds (`None` where it cannot be read).
fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported by Linux and the BSDs.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        (rc == 0).then_some(t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The parameters the job table shows: the axes and the usual ones (learning rate, sizes, ...), of those that have
/// an effect on some job (`lr_decay` is not shown for a cosine schedule).
fn columns(grid: &Grid, jobs: &[Job]) -> Vec<&'static Param> {
    params()
        .iter()
        .filter(|p| p.shown(Show::Plan) || grid.axes.iter().any(|a| a.param == *p))
        .filter(|p| jobs.iter().any(|j| p.matters(&j.config)))
        .collect()
}

/// One line per job: its index, id and the shown parameters (`-` where a parameter has no effect on that job).
fn job_table(grid: &Grid, jobs: &[Job]) -> String {
    let shown = columns(grid, jobs);
    let width = |p: &Param| p.name.len().max(13);
    let mut out = format!("{:>5}  {:<12}", "job", "id");
    for p in &shown {
        out.push_str(&format!("  {:>w$}", p.name, w = width(p)));
    }
    out.push('\n');
    let mut idle = false;
    for j in jobs {
        out.push_str(&format!("{:>5}  {:<12}", j.index + 1, j.id));
        for p in &shown {
            let text = if p.matters(&j.config) {
                p.text(&j.config)
            } else {
                idle = true;
                "-".to_string()
            };
            out.push_str(&format!("  {text:>w$}", w = width(p)));
        }
        out.push('\n');
    }
    if idle {
        out.push_str("(-: the parameter has no effect on that job)\n");
    }
    out
}

/// The settings every job shares that the table does not show, set in `[train]` or different from the defaults
/// (`optimizer = "nesterov"`, `momentum = 0.9`, `lr_schedule = "cosine"`, `flip = 0.5`), each where it has an effect.
fn shared_settings(grid: &Grid, jobs: &[Job]) -> String {
    let mut set = Vec::new();
    for p in params().iter().filter(|p| !p.shown(Show::Plan)) {
        let using: Vec<&TrainConfig> = jobs.iter().map(|j| &*j.config).filter(|c| p.matters(c)).collect();
        let Some(c) = using.first() else { continue };
        let v = p.get(c);
        if (v == p.default_value() && !grid.fixed.contains_key(p.name)) || using.iter().any(|d| p.get(d) != v) {
            continue;
        }
        let value = match v {
            Value::Name(n) => format!("\"{n}\""),
            v => v.to_string(),
        };
        let scope = if using.len() < jobs.len() {
            format!(" (in the {} jobs with {})", using.len(), p.used_with().unwrap_or_default())
        } else {
            String::new()
        };
        set.push(format!("{} = {value}{scope}", p.name));
    }
    if set.is_empty() {
        String::new()
    } else {
        format!(
            "\nEvery job: {}; everything else as shown above or at its default.\n",
            set.join(", ")
        )
    }
}

/// How a TPE search proposes its trials: `batches` batches of `batch` (the last one smaller when `samples` is not a
/// multiple).
struct TpeBatches {
    samples: usize,
    batch: usize,
    batches: usize,
    /// What the whole search costs, in costs of the one batch shown: the batches, or for an asynchronous search with
    /// a budget, the budget over the shown batch's planned epochs.
    scale: f64,
}

impl TpeBatches {
    fn of(search: &Search, max: usize) -> TpeBatches {
        let samples = search.samples.unwrap_or(0);
        let batch = search.batch.clamp(1, samples.max(1));
        let batches = samples.div_ceil(batch);
        let scale = match (search.asynchronous, search.budget) {
            (true, Some(budget)) => {
                let one = Search {
                    asynchronous: false,
                    ..search.clone()
                };
                budget as f64 / one.planned_epochs(batch, max).max(1e-9)
            }
            _ => batches as f64,
        };
        TpeBatches {
            samples,
            batch,
            batches,
            scale,
        }
    }

    /// One batch drawn at random from the grid's axes (as TPE's start-up trials are), to cost.
    fn random_batch(&self, grid: &Grid) -> Result<Vec<Job>> {
        let mut random = grid.clone();
        random.search = Search {
            sampler: "random",
            samples: Some(self.batch),
            ..Search::default()
        };
        Ok(random.jobs()?)
    }

    fn intro(&self, grid: &Grid, batch: &[Job]) -> String {
        let rungs = grid.search.ladder(batch.first().map_or(0, |j| j.config.epochs));
        if grid.search.asynchronous {
            return async_intro(grid, &rungs, self.samples, self.batch);
        }
        // Random while fewer than 10 trials are recorded (Optuna's start-up trials), so whole batches up to then.
        let random = (10usize.div_ceil(self.batch) * self.batch).min(self.samples);
        format!(
            "{} proposes {} trials, {} at a time ({} batches), each batch from every trial recorded before it (the \
             first {} at random); which configurations it proposes is known only as the results arrive.{}\n",
            grid.search.sampler().name().to_uppercase(),
            thousands(self.samples as u64),
            self.batch,
            self.batches,
            thousands(random as u64),
            if rungs.len() > 1 {
                format!(
                    " Each batch goes through {} over rungs of {} epochs (below, for one batch).",
                    grid.search.fidelity().about(),
                    rungs.iter().map(|r| number(*r)).collect::<Vec<_>>().join(", ")
                )
            } else {
                String::new()
            }
        ) + &budget_line(grid, batch.first().map_or(0, |j| j.config.epochs))
            + &match grid.search.finalists {
                0 => String::new(),
                n => format!(
                    "Then the best {n} trials by validation train again from the start, with seeds of their own, for {} \
                 epochs: the finalists.\n",
                    grid.search.final_epochs
                ),
            }
    }
}

/// What an asynchronous search (`asynchronous = true`) does and spends.
fn async_intro(grid: &Grid, rungs: &[f64], samples: usize, shown: usize) -> String {
    let s = &grid.search;
    let limit = match s.budget {
        Some(b) => format!(
            "until {} epochs are started (a unit starts only if the epochs started before it and its own fit; at most {} \
             trials)",
            thousands(b as u64),
            thousands(samples as u64)
        ),
        None => format!("up to {} trials", thousands(samples as u64)),
    };
    format!(
        "{}{} proposes one trial whenever a worker is free, from every trial recorded so far (those still running \
         counted as bad ones; at random until 10 are recorded), {limit}; {} promotes with eta {} over rungs of {} epochs \
         (below, as planned for {} trials). No worker waits for a batch or a rung, but which trials are proposed and promoted depends on \
         the order results arrive: each is recorded before it starts, so a resumed sweep carries out the same ones.\n",
        if s.is_default {
            "The default search (budget alone), asynchronous: "
        } else {
            ""
        },
        s.sampler().name().to_uppercase(),
        s.fidelity().about(),
        s.eta,
        rungs.iter().map(|r| number(*r)).collect::<Vec<_>>().join(", "),
        shown,
    )
}

/// What `budget` decided: the default search, and the trials and epochs that fit (empty without a budget).
fn budget_line(grid: &Grid, max_epochs: usize) -> String {
    let s = &grid.search;
    let (Some(budget), Some(samples)) = (s.budget, s.samples) else {
        return String::new();
    };
    let planned = s.planned_epochs(samples, max_epochs);
    let max = max_epochs as f64;
    format!(
        "{}budget = {} epochs: {} trials fit, planned to spend {} epochs in all ({} full trainings of {} epochs).\n",
        if s.is_default {
            format!(
                "The default search (budget alone): {} proposing {} at a time, through {} with eta {} from a first \
                 rung of {} epoch{}. ",
                s.sampler().name(),
                s.batch,
                s.fidelity().about(),
                s.eta,
                number(s.min_epochs),
                if s.min_epochs == 1.0 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        thousands(budget as u64),
        thousands(samples as u64),
        thousands(planned.round() as u64),
        number((planned / max * 10.0).round() / 10.0),
        number(max)
    )
}

/// Estimated seconds of a schedule, and of each stage (rung r of every bracket).
struct Estimate {
    /// Survivors costing their bracket's average job.
    average: f64,
    /// The most expensive jobs of each bracket surviving.
    upper: f64,
    /// Per stage: (average, upper).
    stages: Vec<(f64, f64)>,
}

/// When the last of `units` (seconds each) ends on `workers`, each unit going to the first free worker, largest
/// first (the runner's order).
fn makespan(mut units: Vec<f64>, workers: usize) -> f64 {
    units.sort_by(|a, b| b.total_cmp(a));
    let mut free = vec![0.0f64; workers.max(1)];
    for u in units {
        if let Some(w) = free.iter_mut().min_by(|a, b| a.total_cmp(b)) {
            *w += u;
        }
    }
    free.into_iter().fold(0.0, f64::max)
}

/// The time of a schedule run stage by stage on `workers`, the survivors of each rung being average jobs or the
/// most expensive ones.
fn estimate(search: &Search, schedule: &Schedule, jobs: &[Job], epoch_seconds: &dyn Fn(&TrainConfig) -> f64, workers: usize) -> Estimate {
    let mut stages = Vec::new();
    for r in 0..schedule.stages() {
        let (mut average, mut upper) = (Vec::new(), Vec::new());
        for bracket in schedule.brackets.iter().filter(|b| r < b.rung_count()) {
            let counts = search.planned_counts(bracket);
            let before = |job: &Job| if r == 0 { 0.0 } else { bracket.target(r - 1, job) };
            let added = |job: &Job| (bracket.target(r, job) - before(job)).max(0.0);
            let cost: Vec<f64> = bracket
                .jobs
                .iter()
                .map(|&j| added(&jobs[j]) * epoch_seconds(&jobs[j].config))
                .collect();
            if r == 0 {
                average.extend(&cost);
                upper.extend(&cost);
                continue;
            }
            let mean = cost.iter().sum::<f64>() / cost.len().max(1) as f64;
            average.extend(std::iter::repeat_n(mean, counts[r]));
            let mut widest = cost;
            widest.sort_by(|a, b| b.total_cmp(a));
            upper.extend(widest.into_iter().take(counts[r]));
        }
        stages.push((makespan(average, workers), makespan(upper, workers)));
    }
    Estimate {
        average: stages.iter().map(|s| s.0).sum(),
        upper: stages.iter().map(|s| s.1).sum(),
        stages,
    }
}

/// The rungs of a halving or Hyperband sweep: jobs and epochs per rung, their estimated time, and epochs in all
/// against training every job to the end.
fn rungs_table(search: &Search, schedule: &Schedule, estimate: Option<&Estimate>) -> String {
    let mut out = format!(
        "\n{:>7}  {:>4}  {:>7}  {:>9}  {:>12}{}\n",
        "bracket",
        "rung",
        "jobs",
        "epochs to",
        "epochs added",
        if estimate.is_some() {
            format!("  {:>10}  {:>10}", "time", "up to")
        } else {
            String::new()
        }
    );
    let (mut epochs, mut all_epochs) = (0.0f64, 0.0f64);
    let mut timed = BTreeSet::new();
    for (b, bracket) in schedule.brackets.iter().enumerate() {
        let mut before = 0.0;
        for (r, (count, to)) in search.planned_counts(bracket).into_iter().zip(&bracket.rungs).enumerate() {
            let added = round12(count as f64 * (to - before));
            // A stage is rung r of every bracket: its time is shown on the first line of that rung.
            let times = match estimate.map(|e| e.stages.get(r)) {
                None => String::new(),
                Some(Some(&(a, u))) if timed.insert(r) => format!("  {:>10}  {:>10}", human(a), human(u)),
                Some(_) => format!("  {:>10}  {:>10}", "", ""),
            };
            out.push_str(&format!(
                "{:>7}  {:>4}  {:>7}  {:>9}  {:>12}{times}\n",
                b + 1,
                r + 1,
                thousands(count as u64),
                number(*to),
                number(added)
            ));
            epochs += added;
            before = *to;
        }
        all_epochs += bracket.jobs.len() as f64 * bracket.rungs.last().copied().unwrap_or(0.0);
    }
    out.push_str(&format!(
        "{} with eta {}: {} epochs in all, {:.0} % of the {} of training every job to the end{}.\n",
        if schedule.brackets.len() > 1 {
            "Hyperband"
        } else {
            "Successive halving"
        },
        schedule.eta,
        number(round12(epochs)),
        100.0 * epochs / all_epochs.max(1.0),
        number(round12(all_epochs)),
        if schedule.brackets.len() > 1 && estimate.is_some() {
            "; rung r of every bracket runs as one stage, timed on its first line"
        } else {
            ""
        }
    ));
    out
}

/// The plan of a command sweep: its trials and their values, the program's argv for the first, the rungs, and the
/// epochs in all. No time: sweep cannot know how long an epoch of the program takes without running it, so it says
/// how to work it out instead.
fn command_plan(grid: &Grid, c: &CommandGrid, workers: usize, devices: &str) -> Result<String> {
    // TPE's trials are proposed as results arrive: shown and costed is one batch drawn at random, as its first are.
    let tpe = grid
        .search
        .is_adaptive()
        .then(|| TpeBatches::of(&grid.search, grid.base_config().epochs));
    let jobs = match &tpe {
        Some(t) => t.random_batch(grid)?,
        None => grid.jobs()?,
    };
    let names: Vec<&str> = c.axes.iter().map(|a| a.name.as_str()).collect();
    let value = |j: &Job, n: &str| j.trial.as_ref().and_then(|t| t.values.get(n)).map_or("-".into(), value_text);
    let width = |n: &str| jobs.iter().map(|j| value(j, n).len()).chain([n.len(), 6]).max().unwrap_or(6);
    let mut out = match &tpe {
        Some(t) => format!("{}\nOne batch drawn at random, as TPE's first ones are:\n", t.intro(grid, &jobs)),
        None => String::new(),
    };
    out.push_str(&format!("{:>5}  {:<12}", "trial", "id"));
    for n in &names {
        out.push_str(&format!("  {n:>w$}", w = width(n)));
    }
    out.push('\n');
    for j in &jobs {
        out.push_str(&format!("{:>5}  {:<12}", j.index + 1, j.id));
        for n in &names {
            out.push_str(&format!("  {:>w$}", value(j, n), w = width(n)));
        }
        out.push('\n');
    }
    if !c.fixed.is_empty() {
        let fixed: Vec<String> = c.fixed.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        out.push_str(&format!("\nEvery trial: {}.\n", fixed.join(", ")));
    }
    let direction = |o: &sweep_grid::command::Objective| {
        let better = if o.mode == Mode::Max { "higher" } else { "lower" };
        format!("{} ({better} is better)", o.metric)
    };
    match &c.command.objectives[..] {
        [o] => out.push_str(&format!("Objective: {}, a key of the program's records.\n", direction(o))),
        all => out.push_str(&format!(
            "Objectives: {}, keys of the program's records: trials compare by Pareto dominance (one is better when it \
             is at least as good in every objective and better in one); a trial's values are at the best epoch of the \
             first.\n",
            all.iter().map(direction).collect::<Vec<_>>().join(", ")
        )),
    }
    if let Some(first) = jobs.first().and_then(|j| j.trial.as_ref()) {
        let argv = crate::run::process::expand_argv(&c.command.run, &first.values)?;
        let cwd = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
        out.push_str(&format!("The first trial runs, in {cwd}: {}\n", argv.join(" ")));
    }
    let schedule = grid.search.schedule(&jobs, grid.seed);
    // Rungs before the last (TPE without `min_epochs` has only the last).
    let pruned = schedule.brackets.iter().any(|b| b.rungs.len() > 1);
    let epochs: f64 = if pruned {
        out.push_str(&rungs_table(&grid.search, &schedule, None));
        let mut all = 0.0;
        for b in &schedule.brackets {
            let mut before = 0.0;
            for (count, to) in grid.search.planned_counts(b).into_iter().zip(&b.rungs) {
                all += count as f64 * (to - before);
                before = *to;
            }
        }
        round12(all)
    } else {
        jobs.iter().map(|j| j.config.epochs as f64).sum()
    };
    // TPE: every batch costs what the one shown does.
    let (trials, epochs) = match &tpe {
        Some(t) => match (grid.search.asynchronous, grid.search.budget) {
            (true, Some(budget)) => (t.samples, budget as f64),
            _ => (t.samples, round12(epochs * t.samples as f64 / jobs.len().max(1) as f64)),
        },
        None => (jobs.len(), epochs),
    };
    out.push_str(&format!(
        "\n{}{} trials over {} axes ({}); {} epochs in all{}, {workers} trial{} at a time.\n",
        if grid.search.asynchronous { "Up to " } else { "" },
        thousands(trials as u64),
        names.len(),
        if names.is_empty() { "none".to_string() } else { names.join(", ") },
        number(epochs),
        if pruned {
            " (as planned: which trials survive a rung is known only as they run)"
        } else {
            ""
        },
        if workers == 1 { "" } else { "s" },
    ));
    out.push_str(devices);
    out.push_str(&format!(
        "Estimated time: not estimated. sweep measures the built-in network's speed, but cannot know how long an epoch \
         of your program takes without running it. Time one epoch of one trial (run the program by hand with a budget \
         of 1, or look at `seconds` in the rows of a first small sweep), then the sweep takes at least {} times that, plus \
         the program's start-up once per run.\n",
        number(round12(epochs / workers.min(trials).max(1) as f64))
    ));
    Ok(out)
}

/// A number of epochs as the rows write it, with thousands separators: `1,512`, `0.3`, `1,008.5`.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        return thousands(x.abs() as u64);
    }
    let text = round12(x).to_string();
    match text.split_once('.') {
        Some((whole, fraction)) => match whole.parse::<u64>() {
            Ok(w) => format!("{}.{fraction}", thousands(w)),
            Err(_) => text,
        },
        None => text,
    }
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Floating-point operations in a unit that suits them: `90,068 GFLOP`, `5.1 GFLOP`, `57 MFLOP`, `420 kFLOP`.
fn flop_text(flop: f64) -> String {
    let (x, unit) = [(1e9, "GFLOP"), (1e6, "MFLOP"), (1e3, "kFLOP")]
        .into_iter()
        .find(|(scale, _)| flop >= *scale)
        .map_or((flop, "FLOP"), |(scale, unit)| (flop / scale, unit));
    if x >= 100.0 || unit == "FLOP" {
        format!("{} {unit}", thousands(x.round() as u64))
    } else {
        format!("{x:.1} {unit}")
    }
}

/// `about 4 min 05 s`, or `under 1 s`.
fn about(seconds: f64) -> String {
    match human(seconds) {
        t if t.starts_with("under") => t,
        t => format!("about {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_separators_and_units_that_suit_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_512), "1,512");
        assert_eq!(thousands(90_068_123), "90,068,123");
        assert_eq!(number(1512.0), "1,512");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(1008.5), "1,008.5");
        assert_eq!(flop_text(90_068.4e9), "90,068 GFLOP");
        assert_eq!(flop_text(5.14e9), "5.1 GFLOP");
        assert_eq!(flop_text(57.2e6), "57.2 MFLOP");
        assert_eq!(flop_text(420e3), "420 kFLOP");
        assert_eq!(flop_text(12.0), "12 FLOP");
    }

    #[test]
    fn jobs_are_laid_out_largest_first_and_a_lone_job_keeps_one_core() {
        assert_eq!(makespan(vec![10.0], 2), 10.0, "one job cannot use two cores");
        assert_eq!(makespan(vec![2.0, 3.0, 2.0, 3.0, 2.0], 2), 7.0, "3, 2, 2 and 3, 2");
        assert_eq!(makespan(vec![1.0; 5], 2), 3.0);
        assert_eq!(makespan(vec![], 2), 0.0);
    }
}
