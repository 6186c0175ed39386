//! The trial's folder: its files, the timeline replayed from `records.jsonl`, and the small file operations a run
//! needs before it starts.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::trial_records::{parse_record, Record, Timeline};

/// The files of a trial's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialFiles {
    pub dir: PathBuf,
    /// `SWEEP_PARAMS`.
    pub params: PathBuf,
    /// `SWEEP_METRICS`.
    pub metrics: PathBuf,
    /// `SWEEP_CHECKPOINT_DIR`.
    pub checkpoint: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// The points sweep accepted, run by run.
    pub records: PathBuf,
}

impl TrialFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            params: dir.join("params.json"),
            metrics: dir.join("metrics.jsonl"),
            checkpoint: dir.join("checkpoint"),
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
            records: dir.join("records.jsonl"),
            dir,
        }
    }

    /// Whether the checkpoint folder holds anything: the next run gets `SWEEP_RESUME=1`.
    pub fn has_checkpoint(&self) -> bool {
        fs::read_dir(&self.checkpoint).is_ok_and(|mut d| d.next().is_some())
    }

    /// The trial's timeline as its runs left it (empty if it never ran): `records.jsonl` replayed, a run started
    /// without a checkpoint starting the timeline afresh. A torn last line (sweep killed mid-append) is skipped.
    pub fn load_records(&self) -> io::Result<Vec<Record>> {
        Ok(self.replay()?.0.into_points())
    }

    /// The timeline and the number of runs so far.
    pub fn replay(&self) -> io::Result<(Timeline, u32)> {
        let text = match fs::read_to_string(&self.records) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let (mut timeline, mut runs) = (Timeline::new(), 0);
        for line in text.lines() {
            if let Ok(Value::Object(header)) = serde_json::from_str::<Value>(line) {
                if header.contains_key(RUN_KEY) {
                    runs += 1;
                    if header.get("resume") != Some(&Value::Bool(true)) {
                        timeline.clear();
                    }
                    timeline.begin_run();
                    continue;
                }
            }
            if let Ok(r) = parse_record(line) {
                timeline.push(r);
            }
        }
        Ok((timeline, runs))
    }
}

impl TrialFiles {
    /// Completes `records.jsonl` with what the last run's program appended to `metrics.jsonl` but sweep never
    /// accepted, because sweep was killed first (it reads the file every few milliseconds): the program's checkpoint
    /// may already be past those points, so a resumed run would not report them again, and the trial would look as if
    /// it never reached them. Reads the file from where the last run started (`metrics_from` in its header line; a
    /// header of an earlier release has none: nothing to do), and appends every complete record not already accepted
    /// in that run, up to that run's budget. Returns how many it appended. (Records a program printed on stdout die
    /// with sweep: the metrics file is the channel that survives a crash.)
    pub fn recover_unread(&self) -> io::Result<usize> {
        let text = match fs::read_to_string(&self.records) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut last: Option<(u64, f64)> = None;
        let mut accepted: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Ok(Value::Object(header)) = serde_json::from_str::<Value>(line) {
                if header.contains_key(RUN_KEY) {
                    let from = header.get(METRICS_FROM_KEY).and_then(Value::as_u64);
                    let budget = header.get("budget").and_then(Value::as_f64).unwrap_or(f64::INFINITY);
                    last = from.map(|f| (f, budget));
                    accepted.clear();
                    continue;
                }
            }
            if let Ok(r) = parse_record(line) {
                accepted.push(r.to_json_line());
            }
        }
        let Some((from, budget)) = last else { return Ok(0) };
        let mut metrics = match File::open(&self.metrics) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        metrics.seek(SeekFrom::Start(from))?;
        metrics.read_to_end(&mut bytes)?;
        // Complete lines only: a torn last line was being written when the run ended.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let missed: Vec<String> = String::from_utf8_lossy(&bytes[..complete])
            .lines()
            .filter_map(|l| parse_record(l).ok())
            .filter(|r| r.epoch <= budget || crate::trial_records::same_epoch(r.epoch, budget))
            .map(|r| r.to_json_line())
            .filter(|l| !accepted.contains(l))
            .collect();
        if missed.is_empty() {
            return Ok(0);
        }
        let mut file = OpenOptions::new().append(true).open(&self.records)?;
        let mut out = String::new();
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
        for l in &missed {
            out.push_str(l);
            out.push('\n');
        }
        file.write_all(out.as_bytes())?;
        Ok(missed.len())
    }
}

/// The key of a run's header line in `records.jsonl`.
pub const RUN_KEY: &str = "sweep_run";

/// The key, in a run's header line, of the offset in `metrics.jsonl` where the run's lines start.
pub const METRICS_FROM_KEY: &str = "metrics_from";

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Gets a file another process appends to ready for one more run: ends a torn last line with a newline, so the
/// run's first line starts on its own. Returns the length (where the run's lines start) and the lines before it.
pub fn prepare_append(path: &Path) -> io::Result<(u64, u64)> {
    let mut bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    if bytes.last().is_some_and(|&b| b != b'\n') {
        OpenOptions::new().append(true).open(path)?.write_all(b"\n")?;
        bytes.push(b'\n');
    }
    Ok((bytes.len() as u64, bytes.iter().filter(|&&b| b == b'\n').count() as u64))
}

/// Opens a log for appending and writes `first` on a line of its own.
pub fn open_log(path: &Path, first: &str) -> io::Result<File> {
    let mut file = OpenOptions::new().create(true).append(true).read(true).open(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    file.write_all(first.as_bytes())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_rebuilt_from_records_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let files = TrialFiles::new(dir.path());
        assert!(files.load_records().unwrap().is_empty());
        fs::write(
            &files.records,
            "{\"sweep_run\": 1, \"budget\": 4, \"resume\": false}\n{\"epoch\": 1, \"v\": 1}\n{\"epoch\": 2, \"v\": 2}\n\
             {\"epoch\": 3, \"v\": 3}\n{\"sweep_run\": 2, \"budget\": 4, \"resume\": true}\n{\"epoch\": 3, \"v\": 30}\n\
             {\"epoch\": 4, \"v\": NaN}\n{\"epo",
        )
        .unwrap();
        let points = files.load_records().unwrap();
        assert_eq!(points.iter().map(|p| p.epoch).collect::<Vec<_>>(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(points[2].get("v"), Some(30.0), "the rerun's epoch 3 replaced the first run's");
        assert!(points[3].get("v").unwrap().is_nan());
        assert_eq!(files.replay().unwrap().1, 2);
        // A run without a checkpoint starts the timeline afresh.
        let mut f = OpenOptions::new().append(true).open(&files.records).unwrap();
        f.write_all(b"\n{\"sweep_run\": 3, \"budget\": 1, \"resume\": false}\n{\"epoch\": 1, \"v\": 9}\n")
            .unwrap();
        assert_eq!(
            files
                .load_records()
                .unwrap()
                .iter()
                .map(|p| p.get("v").unwrap())
                .collect::<Vec<_>>(),
            [9.0]
        );
    }

    /// Sweep killed after the program appended epochs 2 and 3 to metrics.jsonl (and saved its checkpoint there), before
    /// it read them: the next run's start accepts them, once, as the killed run's; a record past its budget and a torn
    /// line are not.
    #[test]
    fn records_the_program_wrote_but_a_killed_sweep_never_read_are_recovered_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = TrialFiles::new(dir.path());
        assert_eq!(files.recover_unread().unwrap(), 0, "a trial that never ran");
        let earlier = "{\"epoch\": 1, \"v\": 1}\n";
        fs::write(
            &files.metrics,
            format!("{earlier}{{\"epoch\": 2, \"v\": 2}}\n{{\"epoch\": 3, \"v\": 3}}\n{{\"epoch\": 9, \"v\": 9}}\n{{\"epo"),
        )
        .unwrap();
        fs::write(
            &files.records,
            format!(
                "{{\"sweep_run\": 1, \"budget\": 3, \"resume\": false, \"metrics_from\": {}}}\n{{\"epoch\": 2, \"v\": 2}}\n",
                earlier.len()
            ),
        )
        .unwrap();
        assert_eq!(files.recover_unread().unwrap(), 1);
        let points = files.load_records().unwrap();
        assert_eq!(points.iter().map(|p| p.epoch).collect::<Vec<_>>(), [2.0, 3.0]);
        assert_eq!(files.recover_unread().unwrap(), 0, "recovered once");
        assert_eq!(files.replay().unwrap().1, 1, "as the killed run's records");
        // A header without the offset (an earlier release): nothing is guessed.
        fs::write(&files.records, "{\"sweep_run\": 1, \"budget\": 3, \"resume\": false}\n").unwrap();
        assert_eq!(files.recover_unread().unwrap(), 0);
    }

    #[test]
    fn a_torn_metrics_line_is_ended_before_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        assert_eq!(prepare_append(&p).unwrap(), (0, 0));
        fs::write(&p, "{\"epoch\": 1}\n{\"epo").unwrap();
        assert_eq!(prepare_append(&p).unwrap(), (19, 2));
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"epoch\": 1}\n{\"epo\n");
    }
}
