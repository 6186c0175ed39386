//! The progress logs of a results directory (`progress/<writer>.jsonl`, see [`ProgressLine`]): each process appends
//! a line when a unit of work starts and after every evaluated point, flushed but not synced (the rows are the
//! durable record; this is the live view). [`ProgressLog`] writes this process's file; [`ProgressReader`] follows
//! every process's file, returning only the lines added since its last call.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ResultsError;
use crate::format::{complete_lines, Progress, ProgressLine, PROGRESS_DIR};

/// The time-left estimate's rule, in one place: the terminal's progress bar (the runner) and the dashboard (the
/// report's live view) both call [`eta`], each with the work it has measured.
///
/// **Rule.** The rate is measured per unit of work, from the moment the unit *started* (not from its first point, so
/// the first epoch's time counts), over every unit measured (finished or running): work done / seconds those units
/// have run. The time left is the work left / (that rate x the units running now). It is shown only once it rests
/// on enough finished work: some work done (at least one evaluated point), at least [`ETA_MIN_SECONDS`] of measured
/// unit time, and at least [`ETA_MIN_SHARE`] of the sweep's work done; before that the answer is "not known yet".
/// (The first estimate once rested on the first two epochs, a second apart, and said "~89 s" with 30 minutes left.)
pub const ETA_MIN_SECONDS: f64 = 30.0;
/// See [`ETA_MIN_SECONDS`]: the share of the whole work (done + left) that must be done before an estimate.
pub const ETA_MIN_SHARE: f64 = 0.01;

/// Work measured for the estimate: `work` (in any unit of cost: epochs weighted by the cost model) done in
/// `seconds` of units running, summed over units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    pub work: f64,
    pub seconds: f64,
}

impl Measured {
    /// Adds a unit's (or a recorded job's) work and time.
    pub fn add(&mut self, work: f64, seconds: f64) {
        if work.is_finite() && seconds.is_finite() && work >= 0.0 && seconds >= 0.0 {
            self.work += work;
            self.seconds += seconds;
        }
    }
}

/// Seconds left for `work_left` with `running` units at work, by the rule of [`ETA_MIN_SECONDS`]; `None` while the
/// measured work is not enough to go by.
pub fn eta(measured: Measured, work_left: f64, running: usize) -> Option<f64> {
    let Measured { work, seconds } = measured;
    let left = work_left.max(0.0);
    if !(work > 0.0 && seconds >= ETA_MIN_SECONDS && work >= ETA_MIN_SHARE * (work + left)) {
        return None;
    }
    Some(left / (work / seconds * running.max(1) as f64))
}

/// Seconds since 1970, as progress lines carry them.
pub fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// This process's progress log (created with its first line).
pub struct ProgressLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl ProgressLog {
    /// The log of writer `writer` (the same name as its `writers/<writer>.csv`) in results directory `dir`.
    pub fn new(dir: &Path, writer: &str) -> ProgressLog {
        ProgressLog {
            path: dir.join(PROGRESS_DIR).join(format!("{writer}.jsonl")),
            file: Mutex::new(None),
        }
    }

    /// Appends a line (one write). A log that cannot be written is a warning, not an error: it is only a view.
    pub fn write(&self, line: &ProgressLine) {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), fs::create_dir_all)
                .and_then(|_| OpenOptions::new().create(true).append(true).open(&self.path));
            match opened {
                Ok(file) => *f = Some(file),
                Err(e) => {
                    tracing::warn!(
                        "cannot write the progress log {}: {e}; the sweep goes on without it",
                        self.path.display()
                    );
                    return;
                }
            }
        }
        if let Some(file) = f.as_mut() {
            if let Err(e) = file.write_all(&line.to_json_line()).and_then(|_| file.flush()) {
                tracing::warn!("cannot append to the progress log {}: {e}", self.path.display());
            }
        }
    }

    /// A unit of work of job `id` starts: from `from` epochs to `to`.
    pub fn start(&self, id: &str, rung: Option<usize>, from: f64, to: f64) {
        self.start_on(id, rung, from, to, None);
    }

    /// [`ProgressLog::start`] of a command trial's run given these GPUs (its `CUDA_VISIBLE_DEVICES`).
    pub fn start_on(&self, id: &str, rung: Option<usize>, from: f64, to: f64, gpus: Option<&str>) {
        self.write(&ProgressLine {
            t: now_unix(),
            id: id.to_string(),
            rung,
            what: Progress::Start {
                from,
                to,
                gpus: gpus.map(str::to_string),
            },
        });
    }

    /// Job `id` was evaluated after `epoch` epochs.
    pub fn point<'m>(&self, id: &str, rung: Option<usize>, epoch: f64, metrics: impl IntoIterator<Item = (&'m str, f64)>) {
        self.write(&ProgressLine {
            t: now_unix(),
            id: id.to_string(),
            rung,
            what: Progress::Point {
                epoch,
                metrics: metrics.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            },
        });
    }
}

/// Follows the progress logs of a results directory: each [`ProgressReader::poll`] returns the complete lines added
/// to any process's log since the previous call (a torn last line is left for the next call, a malformed one is
/// skipped). It only reads, and holds no file open between calls.
#[derive(Debug, Default)]
pub struct ProgressReader {
    dir: PathBuf,
    offsets: HashMap<PathBuf, u64>,
}

impl ProgressReader {
    pub fn new(results_dir: &Path) -> ProgressReader {
        ProgressReader {
            dir: results_dir.join(PROGRESS_DIR),
            offsets: HashMap::new(),
        }
    }

    /// The new lines of every log, file by file in name order.
    pub fn poll(&mut self) -> Result<Vec<ProgressLine>, ResultsError> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for path in files {
            let at = self.offsets.get(&path).copied().unwrap_or(0);
            let rerr = |source| ResultsError::Read {
                path: path.clone(),
                source,
            };
            let mut f = File::open(&path).map_err(rerr)?;
            f.seek(SeekFrom::Start(at)).map_err(rerr)?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(rerr)?;
            let keep = complete_lines(&bytes);
            out.extend(
                bytes[..keep]
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .filter_map(ProgressLine::parse),
            );
            self.offsets.insert(path, at + keep as u64);
        }
        Ok(out)
    }
}

/// Every line of every progress log of a results directory.
pub fn read_progress(results_dir: &Path) -> Result<Vec<ProgressLine>, ResultsError> {
    ProgressReader::new(results_dir).poll()
}

#[cfg(test)]
mod tests {

    /// The estimate waits for enough finished work: some work done, 30 s of measured unit time and 1 % of the sweep;
    /// then it is the work left at the measured rate, shared by the units running.
    #[test]
    fn the_eta_rests_on_enough_finished_work() {
        let m = |work, seconds| Measured { work, seconds };
        // Two epochs a second apart, 30 minutes of work left: not enough to go by (once "~89 s").
        assert_eq!(eta(m(2.0, 1.0), 1800.0, 1), None);
        // Time but no finished work (a long first epoch): nothing to go by.
        assert_eq!(eta(m(0.0, 120.0), 100.0, 1), None);
        // Enough time but under 1 % of the work.
        assert_eq!(eta(m(5.0, 60.0), 1000.0, 1), None);
        // 10 units of work in 40 s of one unit: 4 s each; 90 left on 2 units: 180 s.
        assert_eq!(eta(m(10.0, 40.0), 90.0, 2), Some(180.0));
        assert_eq!(eta(m(10.0, 40.0), 0.0, 0), Some(0.0));
        let mut acc = Measured::default();
        acc.add(10.0, 20.0);
        acc.add(f64::NAN, 5.0);
        acc.add(10.0, 20.0);
        assert_eq!(acc, m(20.0, 40.0));
    }

    use super::*;

    #[test]
    fn lines_round_trip_and_a_reader_returns_only_new_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProgressLog::new(dir.path(), "w1");
        log.start("a", Some(0), 0.0, 0.5);
        log.point("a", Some(0), 0.5, [("val_acc", 0.25), ("loss", f64::INFINITY)]);
        log.start_on("a", Some(1), 0.5, 1.0, Some("2,3"));
        let mut r = ProgressReader::new(dir.path());
        let lines = r.poll().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].what,
            Progress::Start {
                from: 0.0,
                to: 0.5,
                gpus: None
            }
        );
        assert_eq!(
            lines[2].what,
            Progress::Start {
                from: 0.5,
                to: 1.0,
                gpus: Some("2,3".into())
            }
        );
        let Progress::Point { epoch, metrics } = &lines[1].what else {
            panic!("{:?}", lines[1])
        };
        assert_eq!((*epoch, metrics["val_acc"]), (0.5, 0.25));
        assert!(metrics["loss"].is_nan(), "a non-finite metric is written as null and read as NaN");
        assert!(r.poll().unwrap().is_empty(), "nothing new");
        // Another process's file, with a torn last line: only the complete line now, the rest once it is whole.
        let other = dir.path().join(PROGRESS_DIR).join("w2.jsonl");
        let line = ProgressLine {
            t: 1.0,
            id: "b".into(),
            rung: None,
            what: Progress::Start {
                from: 1.0,
                to: 2.0,
                gpus: None,
            },
        }
        .to_json_line();
        let mut bytes = line.clone();
        bytes.extend_from_slice(&line[..10]);
        fs::write(&other, &bytes).unwrap();
        let new = r.poll().unwrap();
        assert_eq!((new.len(), new[0].id.as_str()), (1, "b"));
        let mut f = OpenOptions::new().append(true).open(&other).unwrap();
        f.write_all(&line[10..]).unwrap();
        f.write_all(b"not json\n").unwrap();
        assert_eq!(r.poll().unwrap().len(), 1, "the torn line once whole; the malformed one skipped");
        assert_eq!(read_progress(dir.path()).unwrap().len(), 5);
    }
}
