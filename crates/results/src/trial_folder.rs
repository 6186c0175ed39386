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

/// The key of a run's header line in `records.jsonl`.
pub const RUN_KEY: &str = "sweep_run";

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
