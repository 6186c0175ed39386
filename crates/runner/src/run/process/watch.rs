//! Following a launched run: its output, its records and the shepherd's reports, read in one poll loop on the caller's
//! thread, with the stop flag, the timeout and the grace applied between wake-ups.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::capture::{marked_record, shorten, FileTail, Lines, Tail, MAX_LINE};
use super::metrics::{parse_record_noting, same_epoch, Record, Timeline};
use super::shepherd::{Launched, Report};
use super::{RunSpec, DRAIN, MAX_WARNINGS, TICK};

/// Why sweep signalled the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    Stop,
    Timeout,
}

/// How the waiting ended: the shepherd's last report (`None`: it died without one), whether sweep asked the run to
/// end, and whether it had to SIGKILL it.
pub(crate) struct Ended {
    pub(crate) status: Option<Report>,
    pub(crate) asked: Option<Asked>,
    pub(crate) killed: bool,
}

/// Follows a launched run until it has exited and its output has ended.
#[allow(clippy::too_many_arguments)]
pub(crate) fn wait(
    spec: &RunSpec,
    stop: &AtomicBool,
    launched: &mut Launched,
    sink: &mut Sink<'_>,
    metrics: &mut FileTail,
    stdout_log: &mut File,
    stderr_log: &mut File,
    started: Instant,
) -> io::Result<Ended> {
    let deadline = spec.timeout.map(|t| started + t);
    let (mut out_lines, mut err_lines, mut report_lines) = (Lines::default(), Lines::default(), Lines::default());
    let (mut out_open, mut err_open, mut lifeline_open) = (true, true, true);
    let mut status: Option<Report> = None;
    let mut asked: Option<(Asked, Instant)> = None;
    let mut killed = false;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        let mut wake = TICK;
        if let (Some(d), None) = (deadline, asked) {
            wake = wake.min(d.saturating_duration_since(now));
        }
        if let (Some((_, at)), false) = (asked, killed) {
            wake = wake.min((at + spec.grace).saturating_duration_since(now));
        }
        if let Some(at) = exited_at {
            wake = wake.min((at + DRAIN).saturating_duration_since(now));
        }
        let (out_ready, err_ready, life_ready) = {
            let mut fds = Vec::with_capacity(3);
            let mut slot = |open: bool, fd| {
                open.then(|| {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    fds.len() - 1
                })
            };
            let (o, e, l) = (
                slot(out_open, launched.stdout.as_fd()),
                slot(err_open, launched.stderr.as_fd()),
                slot(lifeline_open, launched.lifeline.as_fd()),
            );
            let timeout = PollTimeout::try_from(wake).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].any().unwrap_or(false));
            (ready(o), ready(e), ready(l))
        };
        if out_ready {
            out_open = !drain(&mut launched.stdout, &mut buf, &mut |chunk| {
                let _ = stdout_log.write_all(chunk);
                out_lines.feed(chunk, &mut |n, line| sink.stdout_line(n, line));
            })?;
        }
        if err_ready {
            err_open = !drain(&mut launched.stderr, &mut buf, &mut |chunk| {
                let _ = stderr_log.write_all(chunk);
                err_lines.feed(chunk, &mut |_, line| sink.tail.push(line));
            })?;
        }
        if life_ready {
            lifeline_open = !drain(&mut launched.lifeline, &mut buf, &mut |chunk| {
                report_lines.feed(chunk, &mut |_, line| match Report::parse(&String::from_utf8_lossy(line)) {
                    Some(Report::Started(pid)) => tracing::trace!("trial {}: program pid {pid}", sink.trial),
                    Some(r) => status = Some(r),
                    None => {}
                })
            })?;
        }
        metrics.poll(&mut |n, line| sink.file_line(n, line))?;
        sink.dropped(&mut metrics.lines);

        let now = Instant::now();
        let exited = status.is_some() || !lifeline_open;
        if exited && exited_at.is_none() {
            exited_at = Some(now);
            // The shepherd has killed the group (or is gone): make sure of it.
            launched.signal_group(Signal::SIGKILL);
        }
        if !exited {
            if asked.is_none() {
                if stop.load(Ordering::SeqCst) || sink.wants_stop {
                    asked = Some((Asked::Stop, now));
                } else if deadline.is_some_and(|d| now >= d) {
                    asked = Some((Asked::Timeout, now));
                }
                if asked.is_some() {
                    // SIGCONT too, as timeout(1) does: a stopped process acts on SIGTERM only once continued.
                    launched.signal_group(Signal::SIGTERM);
                    launched.signal_group(Signal::SIGCONT);
                }
            } else if let (Some((_, at)), false) = (asked, killed) {
                if now >= at + spec.grace {
                    launched.signal_group(Signal::SIGKILL);
                    killed = true;
                }
            }
        }
        if let Some(at) = exited_at {
            if !out_open && !err_open {
                break;
            }
            if now >= at + DRAIN {
                sink.warn(format!(
                    "trial {}: a process of run {} still holds its output {} s after the program exited (it left the \
                     run's process group); not waiting for it",
                    sink.trial,
                    sink.run,
                    DRAIN.as_secs()
                ));
                break;
            }
        }
    }
    metrics.poll(&mut |n, line| sink.file_line(n, line))?;
    metrics.lines.finish(&mut |n, line| sink.file_line(n, line));
    sink.dropped(&mut metrics.lines);
    out_lines.finish(&mut |n, line| sink.stdout_line(n, line));
    err_lines.finish(&mut |_, line| sink.tail.push(line));
    if asked.is_none() && stop.load(Ordering::SeqCst) {
        // The stop came as the program ended: under Slurm or Kubernetes the same SIGTERM that stopped sweep can
        // reach the program directly and end it first. Stopped, not failed.
        asked = Some((Asked::Stop, Instant::now()));
    }
    Ok(Ended {
        status,
        asked: asked.map(|(a, _)| a),
        killed,
    })
}

/// Reads a non-blocking stream until it would block (or 64 reads, so a flood cannot starve the loop); returns
/// whether it reached end-of-file.
fn drain(stream: &mut impl Read, buf: &mut [u8], f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
    for _ in 0..64 {
        match stream.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Where accepted records and warnings go during a run.
pub(crate) struct Sink<'a> {
    pub(crate) trial: &'a str,
    pub(crate) run: u32,
    pub(crate) timeline: &'a mut Timeline,
    pub(crate) records_file: &'a mut File,
    pub(crate) on_record: &'a mut dyn FnMut(&Record) -> ControlFlow<()>,
    /// The callback said `Break`, or an accepted record could not be written.
    pub(crate) wants_stop: bool,
    /// The first failure to append to `records.jsonl` (a full disk): the run stops, and the unit is sweep's error,
    /// since a rerun would rebuild the trial's timeline without the lost point.
    pub(crate) write_error: Option<io::Error>,
    /// The run's budget: a record past it is refused, and the run fails.
    pub(crate) budget: f64,
    /// The first record past the budget (where it came from, and the line), refused: the run stops and fails.
    pub(crate) past_budget: Option<(f64, String)>,
    pub(crate) reported: usize,
    pub(crate) superseded: usize,
    pub(crate) warnings: Vec<String>,
    pub(crate) warning_count: usize,
    pub(crate) tail: Tail,
}

impl Sink<'_> {
    fn file_line(&mut self, n: u64, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if !text.trim().is_empty() {
            self.accept(&text, || format!("metrics.jsonl line {n}"));
        }
    }

    /// Warns about the lines of the metrics file dropped for their length (every line of it is meant as a record).
    fn dropped(&mut self, lines: &mut Lines) {
        for n in std::mem::take(&mut lines.dropped) {
            self.warn(format!(
                "trial {}: metrics.jsonl line {n} is longer than {} MiB and was skipped: write records shorter than that",
                self.trial,
                MAX_LINE >> 20
            ));
        }
    }

    fn stdout_line(&mut self, n: u64, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if let Some(payload) = marked_record(&text) {
            let run = self.run;
            self.accept(payload, || format!("stdout of run {run}, line {n}"));
        }
    }

    fn accept(&mut self, text: &str, place: impl Fn() -> String) {
        match parse_record_noting(text) {
            Ok((record, _)) if record.epoch > self.budget && !same_epoch(record.epoch, self.budget) => {
                // A program that reports past SWEEP_BUDGET would have the trial ranked on work it was not given.
                if self.past_budget.is_none() {
                    self.past_budget = Some((record.epoch, format!("{}: {}", place(), shorten(text.trim(), 200))));
                }
                self.wants_stop = true;
            }
            Ok((record, quoted)) => {
                for (key, value) in quoted {
                    self.warn(format!(
                        "trial {}: {}: `{key}` is the string {value:?}, not a number, so it is not a metric: write the \
                         number without quotes",
                        self.trial,
                        place()
                    ));
                }
                let superseded = self.timeline.push(record.clone());
                if superseded > 0 {
                    tracing::debug!(
                        "trial {}: epoch {} reported again: replaces {superseded} earlier point(s)",
                        self.trial,
                        record.epoch
                    );
                }
                self.superseded += superseded;
                self.reported += 1;
                if let Err(e) = self.records_file.write_all(format!("{}\n", record.to_json_line()).as_bytes()) {
                    self.wants_stop = true;
                    self.write_error.get_or_insert(e);
                }
                if (self.on_record)(&record).is_break() {
                    self.wants_stop = true;
                }
            }
            Err(e) => self.warn(format!(
                "trial {}: {}: {e}, skipped: {}",
                self.trial,
                place(),
                shorten(text.trim(), 200)
            )),
        }
    }

    fn warn(&mut self, message: String) {
        self.warning_count += 1;
        if self.warnings.len() < MAX_WARNINGS {
            tracing::warn!("{message}");
            self.warnings.push(message);
        } else if self.warning_count == MAX_WARNINGS + 1 {
            tracing::warn!("trial {}: more warnings in run {}; not shown", self.trial, self.run);
        }
    }
}
