//! A user's own training program as a trial (issue 18): one *run* of the program takes a trial from wherever its
//! checkpoint left it to a budget, and says how that went. This module knows nothing of the runner: it is given a
//! [`RunSpec`] and answers with a [`RunResult`], so the runner's command backend maps [`Outcome`] onto its seam.
//!
//! **The contract with the program.** Each run starts `argv` (a list, no shell; see [`expand_argv`]) in `work_dir`
//! with stdin from `/dev/null` and, in its environment:
//!
//! | variable | what |
//! | --- | --- |
//! | `SWEEP_TRIAL_ID` | the trial's id |
//! | `SWEEP_TRIAL_DIR` | the trial's folder (absolute), kept across its runs |
//! | `SWEEP_PARAMS` | a JSON file with every value of the trial, fixed and axis |
//! | `SWEEP_METRICS` | a file to append JSON Lines to, one object per evaluated point: `{"epoch": 3, "val_acc": 0.51}` |
//! | `SWEEP_BUDGET` | the epoch to reach in this run (`3`, or fractional: `0.5`); its last record is at this epoch |
//! | `SWEEP_CHECKPOINT_DIR` | a folder for the program's checkpoint, kept across the trial's runs |
//! | `SWEEP_RESUME` | `1` when that folder holds anything: continue from it (unset otherwise) |
//! | `PYTHONUNBUFFERED` | `1`, unless already set: a Python program's `SWEEP_METRIC` lines arrive as printed |
//!
//! A stdout line `SWEEP_METRIC {json}` counts as a record too. Records parse leniently ([`parse_record`]); a line that
//! is not a record is a warning naming the trial and the line, never an error. The newest record of an epoch wins,
//! and a run's record for epoch `e` drops what earlier runs reported past `e` ([`Timeline`]), so a rerun that
//! re-reports the epochs past its checkpoint counts each once. Records reach the caller's callback as they arrive
//! (stdout at once, the metrics file within a [`TICK`]).
//!
//! **The trial's folder** ([`TrialFiles`]): `params.json`, `metrics.jsonl`, `checkpoint/`, `stdout.log` and
//! `stderr.log` (appended across runs, each run opened by a `==== sweep run N ...` line) and `records.jsonl`,
//! sweep's own append-only list of the points it accepted (with a line per run), from which the trial's timeline is
//! rebuilt after a crash ([`TrialFiles::load_records`]).
//!
//! **Process control.** Each run has its own process group, led by a shepherd process ([`Shepherd`]; see
//! `process/shepherd.rs` for how it guarantees that no process outlives the run or a SIGKILLed sweep). A stop (the
//! caller's flag, or its callback returning `Break`) or the timeout sends SIGTERM to the whole group, then SIGKILL
//! `grace` later.

#![cfg(unix)]

mod capture;
use sweep_results::trial_records as metrics;
mod shepherd;
use sweep_results::trial_folder as trial;
mod watch;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use serde_json::{Map, Value};

pub use capture::STDOUT_MARKER;
pub use metrics::{parse_record, parse_record_noting, same_epoch, Record, RecordError, Timeline, EPOCH_KEY};
pub use shepherd::{shepherd_main, Shepherd, SHEPHERD_COMMAND};
pub use sweep_grid::argv::{expand_argv, value_text, ArgvError};
pub use sweep_grid::command::DEFAULT_GRACE;

pub use trial::TrialFiles;

use capture::{FileTail, Tail};
use shepherd::{launch, Env, Report};
use trial::{open_log, prepare_append, write_atomically, METRICS_FROM_KEY, RUN_KEY};
use watch::{wait, Asked, Sink};

/// How often a run looks at the stop flag, the timeout and the metrics file when nothing else wakes it.
pub const TICK: Duration = Duration::from_millis(25);
/// Lines of stderr kept for a failure's reason.
pub const STDERR_TAIL: usize = 20;
/// After the program has exited, how long its output may take to end (a descendant that left the process group
/// may hold it open forever).
const DRAIN: Duration = Duration::from_secs(2);
/// Warnings kept in a [`RunResult`] (and logged) per run; the rest are counted.
const MAX_WARNINGS: usize = 20;

/// One run of a trial's program.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The trial's id (`SWEEP_TRIAL_ID`; named in every warning).
    pub trial_id: String,
    /// The trial's folder, created if missing ([`TrialFiles`]).
    pub trial_dir: PathBuf,
    /// The program and its arguments (no shell).
    pub argv: Vec<OsString>,
    /// Where the program runs.
    pub work_dir: PathBuf,
    /// Extra environment for the program (the `SWEEP_*` variables are set after these and win).
    pub env: Vec<(OsString, OsString)>,
    /// Every value of the trial, written to `SWEEP_PARAMS`.
    pub params: Map<String, Value>,
    /// The epoch to reach (`SWEEP_BUDGET`), finite and > 0.
    pub budget: f64,
    /// Per run: SIGTERM when it has run this long (then SIGKILL after `grace`).
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// How to start the shepherd ([`Shepherd::current_exe`] inside the `sweep` binary).
    pub shepherd: Shepherd,
    /// The GPUs this run was given (its `CUDA_VISIBLE_DEVICES`, set in `env`), written in the run's banner and its
    /// line of `records.jsonl`.
    pub gpus: Option<String>,
}

impl RunSpec {
    /// A run in the current directory with no extra environment, no parameters, no timeout, the default grace and
    /// this executable as the shepherd.
    pub fn new(trial_id: impl Into<String>, trial_dir: impl Into<PathBuf>, argv: Vec<OsString>, budget: f64) -> Self {
        Self {
            trial_id: trial_id.into(),
            trial_dir: trial_dir.into(),
            argv,
            work_dir: PathBuf::from("."),
            env: Vec::new(),
            params: Map::new(),
            budget,
            timeout: None,
            grace: DEFAULT_GRACE,
            shepherd: Shepherd::current_exe(),
            gpus: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The program exited 0 and the trial's furthest point is at the budget (or past it). This wins over a stop or
    /// a timeout that came too late to matter.
    Reached,
    /// The program failed on its own (see [`Failure`]).
    Failed(Failure),
    /// The run hit its timeout; `killed`: it was still running `grace` after the SIGTERM.
    TimedOut { limit: Duration, killed: bool },
    /// Stopped on request (the stop flag, or the callback); `killed` as above.
    Stopped { killed: bool },
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A non-zero exit code, with the last lines of stderr.
    Exit { code: i32, stderr_tail: Vec<String> },
    /// Killed by a signal nobody in sweep sent, with the last lines of stderr.
    Signal {
        signal: i32,
        core_dumped: bool,
        stderr_tail: Vec<String>,
    },
    /// Exited 0 with its furthest point short of the budget (`reached`: that point's epoch, if any).
    ShortOfBudget { budget: f64, reached: Option<f64> },
    /// It reported a record past the run's budget (`SWEEP_BUDGET`): that record (where it came from, and the line)
    /// was refused and the run stopped.
    PastBudget { budget: f64, epoch: f64, record: String },
    /// The program could not be started (not found, not executable): the shepherd's message.
    CannotStart { message: String },
    /// The shepherd vanished without a word (killed from outside): the run's processes were killed.
    Lost,
}

impl Failure {
    /// The last lines of stderr, for the failures that have them.
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            Failure::Exit { stderr_tail, .. } | Failure::Signal { stderr_tail, .. } => stderr_tail,
            _ => &[],
        }
    }
}

/// One line, for a row: the failure and the last 3 lines of stderr.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Exit { code, .. } => write!(f, "exited with code {code}")?,
            Failure::Signal { signal, core_dumped, .. } => {
                let name = Signal::try_from(*signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
                write!(f, "killed by {name}{}", if *core_dumped { " (core dumped)" } else { "" })?;
                if *signal == Signal::SIGKILL as i32 {
                    write!(f, " (out of memory?)")?;
                }
            }
            Failure::ShortOfBudget { budget, reached: Some(e) } => write!(f, "exited 0 at epoch {e}, short of its budget {budget}")?,
            Failure::ShortOfBudget { budget, reached: None } => write!(f, "exited 0 without reporting any epoch (budget {budget})")?,
            Failure::PastBudget { budget, epoch, record } => {
                // 1e308 as such, not as 309 digits.
                let epoch = if epoch.abs() < 1e15 {
                    epoch.to_string()
                } else {
                    format!("{epoch:e}")
                };
                write!(
                    f,
                    "reported epoch {epoch}, past its budget {budget} (SWEEP_BUDGET: a run reports epochs up to it only), in {record}"
                )?
            }
            Failure::CannotStart { message } => write!(f, "{message}")?,
            Failure::Lost => write!(f, "its shepherd process was killed from outside sweep")?,
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            write!(f, "; stderr: {}", tail[tail.len().saturating_sub(3)..].join(" | "))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let killed = |k: &bool| if *k { " (SIGKILLed after the grace)" } else { "" };
        match self {
            Outcome::Reached => write!(f, "reached its budget"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
            Outcome::TimedOut { limit, killed: k } => write!(f, "timed out after {} s{}", limit.as_secs_f64(), killed(k)),
            Outcome::Stopped { killed: k } => write!(f, "stopped{}", killed(k)),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: Outcome,
    /// The trial's points after this run (all its runs), superseded points dropped, in epoch order.
    pub records: Vec<Record>,
    /// Records this run reported.
    pub reported: usize,
    /// Earlier points its records superseded.
    pub superseded: usize,
    /// Started with `SWEEP_RESUME=1`.
    pub resumed: bool,
    /// This run's number in the trial (1 for its first).
    pub run: u32,
    /// From the start of the shepherd to the end of the run.
    pub elapsed: Duration,
    /// Malformed lines and other problems with what the program wrote, each naming the trial and the line (the first
    /// few; `warning_count` counts them all). Each was also logged.
    pub warnings: Vec<String>,
    pub warning_count: usize,
}

/// Why a run could not be carried out at all (sweep's side, not the program's). The message does not name the trial
/// (`trial` holds it): whoever reports the error names it once (the runner's "trial X: ...; nothing was recorded").
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{what}")]
    Invalid { trial: String, what: String },
    #[error("working directory {}", path.display())]
    WorkDir {
        trial: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}", path.display())]
    Io {
        trial: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the shepherd process {}", program.display())]
    Shepherd {
        trial: String,
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("waiting for its program")]
    Wait {
        trial: String,
        #[source]
        source: io::Error,
    },
}

/// Runs the program once, from the trial's checkpoint (if any) to `spec.budget`.
///
/// Blocks until the run has ended and every process of it is gone. `on_record` gets each record as it arrives (in
/// arrival order, superseding or not); returning `Break` stops the run as the `stop` flag does (SIGTERM, then SIGKILL
/// after the grace). A flag already set returns [`Outcome::Stopped`] without starting anything.
pub fn run(spec: &RunSpec, stop: &AtomicBool, on_record: &mut dyn FnMut(&Record) -> ControlFlow<()>) -> Result<RunResult, CommandError> {
    let trial = spec.trial_id.as_str();
    let invalid = |what: &str| CommandError::Invalid {
        trial: trial.to_string(),
        what: what.to_string(),
    };
    if spec.argv.is_empty() {
        return Err(invalid("no program to run (empty argv)"));
    }
    if !(spec.budget.is_finite() && spec.budget > 0.0) {
        return Err(invalid(&format!(
            "the budget must be a finite number of epochs > 0, not {}",
            spec.budget
        )));
    }
    let io_err = |path: &Path| {
        let (trial, path) = (trial.to_string(), path.to_path_buf());
        move |source| CommandError::Io { trial, path, source }
    };
    match fs::metadata(&spec.work_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
            return Err(CommandError::WorkDir {
                trial: trial.to_string(),
                path: spec.work_dir.clone(),
                source,
            });
        }
        Err(source) => {
            return Err(CommandError::WorkDir {
                trial: trial.to_string(),
                path: spec.work_dir.clone(),
                source,
            })
        }
    }
    let checkpoint = spec.trial_dir.join("checkpoint");
    fs::create_dir_all(&checkpoint).map_err(io_err(&checkpoint))?;
    let files = TrialFiles::new(fs::canonicalize(&spec.trial_dir).map_err(io_err(&spec.trial_dir))?);
    let resumed = files.has_checkpoint();
    // What the last run's program reported but a killed sweep never read comes first: its checkpoint may be past it.
    let recovered = files.recover_unread().map_err(io_err(&files.records))?;
    if recovered > 0 {
        tracing::info!("trial {trial}: {recovered} record(s) of its last run, written before sweep was killed, accepted now");
    }
    let (mut timeline, runs_before) = files.replay().map_err(io_err(&files.records))?;
    if !resumed {
        timeline.clear();
    }
    timeline.begin_run();
    let run_no = runs_before + 1;
    if stop.load(Ordering::SeqCst) {
        return Ok(RunResult {
            outcome: Outcome::Stopped { killed: false },
            records: timeline.into_points(),
            reported: 0,
            superseded: 0,
            resumed,
            run: run_no,
            elapsed: Duration::ZERO,
            warnings: Vec::new(),
            warning_count: 0,
        });
    }

    write_atomically(&files.params, &serde_json::to_vec_pretty(&spec.params).unwrap_or_default()).map_err(io_err(&files.params))?;
    let (metrics_offset, metrics_lines) = prepare_append(&files.metrics).map_err(io_err(&files.metrics))?;
    let budget_text = spec.budget.to_string();
    let on_gpus = spec.gpus.as_ref().map_or(String::new(), |g| format!(", on GPUs {g}"));
    let banner = format!(
        "==== sweep run {run_no} of trial {trial}: budget {budget_text}{}{on_gpus}, at unix time {:.3} ====\n",
        if resumed { ", resuming (SWEEP_RESUME=1)" } else { "" },
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    );
    let mut stdout_log = open_log(&files.stdout, &banner).map_err(io_err(&files.stdout))?;
    let mut stderr_log = open_log(&files.stderr, &banner).map_err(io_err(&files.stderr))?;
    let mut records_file = open_log(
        &files.records,
        &format!(
            "{{\"{RUN_KEY}\": {run_no}, \"budget\": {budget_text}, \"resume\": {resumed}, \"{METRICS_FROM_KEY}\": {metrics_offset}{}}}\n",
            spec.gpus
                .as_ref()
                .map_or(String::new(), |g| format!(", \"gpus\": {}", Value::String(g.clone())))
        ),
    )
    .map_err(io_err(&files.records))?;

    let mut env = Env {
        set: spec.env.clone(),
        remove: Vec::new(),
    };
    if std::env::var_os("PYTHONUNBUFFERED").is_none() && !spec.env.iter().any(|(k, _)| k == "PYTHONUNBUFFERED") {
        env.set.push(("PYTHONUNBUFFERED".into(), "1".into()));
    }
    for (k, v) in [
        ("SWEEP_TRIAL_ID", OsString::from(trial)),
        ("SWEEP_TRIAL_DIR", files.dir.clone().into()),
        ("SWEEP_PARAMS", files.params.clone().into()),
        ("SWEEP_METRICS", files.metrics.clone().into()),
        ("SWEEP_BUDGET", budget_text.clone().into()),
        ("SWEEP_CHECKPOINT_DIR", files.checkpoint.clone().into()),
    ] {
        env.set.push((k.into(), v));
    }
    if resumed {
        env.set.push(("SWEEP_RESUME".into(), "1".into()));
    } else {
        env.remove.push("SWEEP_RESUME");
    }

    let started = Instant::now();
    let mut launched = launch(&spec.shepherd, &spec.argv, &spec.work_dir, &env).map_err(|source| CommandError::Shepherd {
        trial: trial.to_string(),
        program: spec.shepherd.program.clone(),
        source,
    })?;
    tracing::debug!(
        "trial {trial}: run {run_no} started, budget {budget_text}{}",
        if resumed { ", resuming" } else { "" }
    );

    let mut sink = Sink {
        trial,
        run: run_no,
        timeline: &mut timeline,
        records_file: &mut records_file,
        on_record,
        wants_stop: false,
        write_error: None,
        budget: spec.budget,
        past_budget: None,
        reported: 0,
        superseded: 0,
        warnings: Vec::new(),
        warning_count: 0,
        tail: Tail::new(STDERR_TAIL),
    };
    let mut metrics = FileTail::new(files.metrics.clone(), metrics_offset, metrics_lines);
    let waited = wait(
        spec,
        stop,
        &mut launched,
        &mut sink,
        &mut metrics,
        &mut stdout_log,
        &mut stderr_log,
        started,
    );
    launched.finish();
    let ended = waited.map_err(|source| CommandError::Wait {
        trial: trial.to_string(),
        source,
    })?;
    let elapsed = started.elapsed();

    let Sink {
        reported,
        superseded,
        mut warnings,
        warning_count,
        tail,
        write_error,
        past_budget,
        ..
    } = sink;
    if let Some(source) = write_error {
        return Err(CommandError::Io {
            trial: trial.to_string(),
            path: files.records.clone(),
            source,
        });
    }
    let mut warning_count = warning_count;
    if metrics.truncated {
        let message = format!(
            "trial {trial}: {} was rewritten during run {run_no} and read again from its start (append to it instead)",
            files.metrics.display()
        );
        tracing::warn!("{message}");
        warnings.push(message);
        warning_count += 1;
    }
    let outcome = match (&ended.status, ended.asked, past_budget) {
        (_, _, Some((epoch, record))) => Outcome::Failed(Failure::PastBudget {
            budget: spec.budget,
            epoch,
            record,
        }),
        (Some(Report::Exited(0)), _, None) if timeline.reaches(spec.budget) => Outcome::Reached,
        (_, Some(Asked::Stop), None) => Outcome::Stopped { killed: ended.killed },
        (_, Some(Asked::Timeout), None) => Outcome::TimedOut {
            limit: spec.timeout.unwrap_or_default(),
            killed: ended.killed,
        },
        (Some(Report::Exited(0)), None, None) => Outcome::Failed(Failure::ShortOfBudget {
            budget: spec.budget,
            reached: timeline.last().map(|p| p.epoch),
        }),
        (Some(Report::Exited(code)), None, None) => Outcome::Failed(Failure::Exit {
            code: *code,
            stderr_tail: tail.lines(),
        }),
        (Some(Report::Signaled { signal, core_dumped }), None, None) => Outcome::Failed(Failure::Signal {
            signal: *signal,
            core_dumped: *core_dumped,
            stderr_tail: tail.lines(),
        }),
        (Some(Report::CannotStart(message)), None, None) => Outcome::Failed(Failure::CannotStart { message: message.clone() }),
        (Some(Report::Started(_)) | None, None, None) => Outcome::Failed(Failure::Lost),
    };
    let footer = format!(
        "==== sweep run {run_no} of trial {trial} {outcome}, after {:.3} s ====\n",
        elapsed.as_secs_f64()
    );
    let _ = stderr_log.write_all(footer.as_bytes());
    tracing::debug!("trial {trial}: run {run_no} {outcome} after {:.3} s", elapsed.as_secs_f64());
    Ok(RunResult {
        outcome,
        records: timeline.into_points(),
        reported,
        superseded,
        resumed,
        run: run_no,
        elapsed,
        warnings,
        warning_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner names the trial of an error it cannot record ("trial X: ...; nothing was recorded"): the error itself
    /// does not, or the message would say "trial X: trial X:".
    #[test]
    fn a_command_error_names_its_trial_once_when_reported() {
        let e = CommandError::Invalid {
            trial: "t1".into(),
            what: "no program to run (empty argv)".into(),
        };
        let reported = sweep_results::ResultsError::Trial {
            id: "t1".into(),
            reason: sweep_params::text::chain(&e),
        }
        .to_string();
        assert!(
            reported.starts_with("trial t1: no program to run (empty argv); nothing was recorded"),
            "{reported}"
        );
        assert_eq!(reported.matches("trial t1").count(), 1, "{reported}");
    }

    #[test]
    fn failures_read_as_one_line() {
        let tail = vec!["a".to_string(), "b".into(), "c".into(), "Traceback: boom".into()];
        let f = Failure::Exit {
            code: 3,
            stderr_tail: tail.clone(),
        };
        assert_eq!(f.to_string(), "exited with code 3; stderr: b | c | Traceback: boom");
        let f = Failure::Signal {
            signal: 9,
            core_dumped: false,
            stderr_tail: vec![],
        };
        assert_eq!(f.to_string(), "killed by SIGKILL (out of memory?)");
        let f = Failure::ShortOfBudget {
            budget: 3.0,
            reached: Some(2.0),
        };
        assert_eq!(Outcome::Failed(f).to_string(), "failed: exited 0 at epoch 2, short of its budget 3");
        assert_eq!(
            Outcome::TimedOut {
                limit: Duration::from_millis(1500),
                killed: true
            }
            .to_string(),
            "timed out after 1.5 s (SIGKILLed after the grace)"
        );
    }
}
