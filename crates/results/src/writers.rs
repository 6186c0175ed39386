//! Many `sweep run` processes on one results directory (shards of a Slurm array, pods of an Indexed Job, or
//! several runs started by hand), on one machine or over NFS: how their rows and their best models meet.
//!
//! # Rows
//!
//! Each process appends its rows, one `write` and an fsync per row, to its **own** file `writers/<writer>.csv`
//! (the writer name is unique per process: host, pid, random token). No two processes ever append to one file,
//! so no row can be torn or interleaved, even over NFS where `O_APPEND` is not atomic between clients. Those
//! files are the durable record and are never rewritten while a sweep runs.
//!
//! `results.csv` is the merged view: after each row, the writer **publishes** it — reads every row
//! ([`crate::format::read_rows`]: results.csv, then `writers/*.csv` in name order, one row per id) and replaces
//! results.csv atomically (temporary file + rename) with all of them. Two publishers can race (the later rename
//! may carry an older read), so each one reads the rows again after its rename and publishes again until what it
//! wrote holds every row: the last rename of all is then made by a process that saw every row appended before
//! it, and every later row triggers a later publish. Whatever results.csv holds at a given instant, the row
//! reader merges the writers' files, so `sweep best`, `report` and resume always see every recorded row.
//! A process killed between its append and its publish leaves results.csv without its row until another row is
//! published; every run therefore starts with [`republish_if_stale`], so that a finished sweep's rerun, which
//! appends nothing, still repairs it.
//!
//! # Best model
//!
//! A process whose job beats the best it knows writes the model as a **candidate**,
//! `candidates/<job id>.safetensors` then `candidates/<job id>.json` (both atomic, and written once: the same job
//! gives the same model). [`publish_best`] makes `best.safetensors` a hard link to the best candidate (by
//! [`BestInfo::beats`]: validation accuracy, ties to the lower job index, so it does not depend on finishing
//! order) and `best.json` its record, with the same publish-then-check loop as results.csv. No process ever
//! overwrites a better model with its own "best so far". `sweep finish` (or the end of a run that finds every
//! job recorded) publishes once more, evaluates the best on the test split and removes the other candidates.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sweep_core::checkpoint::write_atomic;
use sweep_core::{Dataset, Model};

use crate::best::ranking_order;
use crate::error::ResultsError;
use crate::format::{
    complete_lines, read_best, read_json, read_rows, rows_from_bytes, rows_in_dir, BestInfo, Row, BEST_CHECKPOINT, BEST_JSON,
    CANDIDATES_DIR, RESULTS_CSV, WRITERS_DIR,
};
use crate::schema::{Schema, TrialBest};

/// Publish rounds before giving up on a quiet moment (each round follows new rows by other processes).
const MAX_ROUNDS: usize = 100;

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// A best-model record as written (`best.json`, `candidates/<id>.json`): pretty JSON ending with a newline, as a
/// text file should (`cat best.json` leaves the prompt on its own line; tools that append lines expect it).
fn json_text(info: &BestInfo) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(info).unwrap_or_default();
    text.push(b'\n');
    text
}

/// A name for this process's row file, unique across processes and machines: `<host>-<pid>-<random token>`.
pub fn writer_name() -> String {
    let me = crate::identity::Owner::current(None);
    let host: String = me
        .host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .take(40)
        .collect();
    format!("{host}-{}-{}", me.pid, me.token)
}

/// The path of a writer's row file.
pub fn writer_path(dir: &Path, writer: &str) -> PathBuf {
    dir.join(WRITERS_DIR).join(format!("{writer}.csv"))
}

/// Creates a writer's row file with its header line (flushed, and its directory entry too).
pub fn create_writer(path: &Path, header: &str) -> Result<fs::File, ResultsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(werr(dir))?;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(path)
        .map_err(werr(path))?;
    f.write_all(header.as_bytes()).map_err(werr(path))?;
    f.sync_data().map_err(werr(path))?;
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(f)
}

/// Whether job `id` has a row (in results.csv or any writer's file); a directory that cannot be read counts as
/// "not recorded" (the job then runs again, and readers keep one row per id).
pub fn is_recorded(dir: &Path, id: &str) -> bool {
    read_rows(&dir.join(RESULTS_CSV)).is_ok_and(|rows| rows.iter().any(|r| r.id == id))
}

/// The CSV text of `rows` under the header of `schema`.
fn csv_of(schema: &Schema, rows: &[Row]) -> Vec<u8> {
    let mut text = schema.header_line().into_bytes();
    let mut rows = rows.to_vec();
    crate::front::set_ranks(&mut rows);
    for r in &rows {
        text.extend(r.to_csv(false));
    }
    text
}

/// Replaces `results.csv` by every row recorded so far (results.csv and all writers' files), until a re-read
/// after the replacement finds nothing new. Returns the rows published.
pub fn publish_results(dir: &Path) -> Result<Vec<Row>, ResultsError> {
    let path = dir.join(RESULTS_CSV);
    let schema = Schema::of_dir(dir);
    let mut rows = read_rows(&path)?;
    for _ in 0..MAX_ROUNDS {
        let text = csv_of(&schema, &rows);
        if fs::read(&path).ok().as_deref() != Some(&text[..]) {
            write_atomic(&path, &text).map_err(werr(&path))?;
        }
        let again = read_rows(&path)?;
        if again.len() == rows.len() {
            return Ok(again);
        }
        rows = again;
    }
    tracing::warn!(
        "results.csv kept changing while being published; the rows are all in {WRITERS_DIR}/ and will be merged on the next publish"
    );
    Ok(rows)
}

/// Publishes `results.csv` again if it lacks a row that a writer's file has, and says whether it did. A process
/// killed between appending its row and publishing leaves results.csv without that row; another process's later
/// publish would carry it, but once every job is recorded no row is appended and nothing would publish again, so
/// every run starts with this (before it counts what is recorded).
pub fn republish_if_stale(dir: &Path) -> Result<bool, ResultsError> {
    let path = dir.join(RESULTS_CSV);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(ResultsError::Read { path, source }),
    };
    let published: HashSet<String> = rows_from_bytes(&bytes[..complete_lines(&bytes)], &path)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    if rows_in_dir(&dir.join(WRITERS_DIR))?.iter().all(|r| published.contains(&r.id)) {
        return Ok(false);
    }
    publish_results(dir)?;
    Ok(true)
}

/// Forgets the jobs whose recorded row is `failed` (`sweep run --retry-failed`), so that they run again and their new
/// rows are the only ones: every row of those ids is removed from each writer's file, then from results.csv (each
/// file replaced atomically), and their ids are returned, in the rows' order. Pruned and diverged rows stay: those
/// are answers, not accidents. Other processes must not be writing the directory meanwhile (a writer appending to a
/// file replaced under it would lose its rows); a kill part-way leaves rows still marked failed, which the next
/// `--retry-failed` forgets.
pub fn forget_failed(dir: &Path) -> Result<Vec<String>, ResultsError> {
    let path = dir.join(RESULTS_CSV);
    let failed: Vec<String> = read_rows(&path)?
        .into_iter()
        .filter(|r| r.status == crate::format::JobStatus::Failed)
        .map(|r| r.id)
        .collect();
    if failed.is_empty() {
        return Ok(failed);
    }
    let forget: HashSet<&str> = failed.iter().map(String::as_str).collect();
    let schema = Schema::of_dir(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join(WRITERS_DIR))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    // The writers' files first: results.csv is their merge, and keeps the failed rows until they are gone there.
    files.push(path);
    for file in files {
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ResultsError::Read { path: file, source }),
        };
        let rows = rows_from_bytes(&bytes[..complete_lines(&bytes)], &file)?;
        if rows.iter().any(|r| forget.contains(r.id.as_str())) {
            let kept: Vec<Row> = rows.into_iter().filter(|r| !forget.contains(r.id.as_str())).collect();
            write_atomic(&file, &csv_of(&schema, &kept)).map_err(werr(&file))?;
        }
    }
    Ok(failed)
}

/// A command sweep's best trial, from every row recorded so far: `best.json` names it (with its folder), replaced
/// atomically, and read again after each replacement until the rows it was computed from are all the rows (the
/// same publish-then-check as [`publish_results`], so a process with an older view never has the last word).
/// Returns the best, or `None` while no trial completed.
pub fn publish_trial_best(dir: &Path) -> Result<Option<TrialBest>, ResultsError> {
    let json = dir.join(BEST_JSON);
    let best_of = |rows: &[Row]| {
        rows.iter()
            .filter(|r| r.is_candidate())
            .min_by(|a, b| ranking_order(a, b))
            .and_then(TrialBest::of)
            .map(|b| b.with_front(rows))
    };
    let mut rows = read_rows(&dir.join(RESULTS_CSV))?;
    for _ in 0..MAX_ROUNDS {
        let best = best_of(&rows);
        if let Some(b) = &best {
            let mut text = serde_json::to_vec_pretty(b).unwrap_or_default();
            text.push(b'\n');
            if fs::read(&json).ok().as_deref() != Some(&text[..]) {
                write_atomic(&json, &text).map_err(werr(&json))?;
            }
        }
        let again = read_rows(&dir.join(RESULTS_CSV))?;
        if again.len() == rows.len() {
            return Ok(best);
        }
        rows = again;
    }
    Ok(best_of(&rows))
}

/// A multi-objective built-in sweep's model of a job at the end of its latest rung (its best epoch so far), kept for
/// when it is pruned there and on the front: `candidates/<id>-rung.safetensors`.
pub fn rung_model_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(CANDIDATES_DIR).join(format!("{id}-rung.safetensors"))
}

/// Where a job's candidate checkpoint and record are.
fn candidate_paths(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    let c = dir.join(CANDIDATES_DIR);
    (c.join(format!("{id}.safetensors")), c.join(format!("{id}.json")))
}

/// Every candidate's record.
fn candidates(dir: &Path) -> Result<Vec<BestInfo>, ResultsError> {
    let c = dir.join(CANDIDATES_DIR);
    let entries = match fs::read_dir(&c) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ResultsError::Read { path: c, source }),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            if let Some(info) = read_json::<BestInfo>(&p)? {
                out.push(info);
            }
        }
    }
    Ok(out)
}

/// The best of the candidates.
fn best_candidate(dir: &Path) -> Result<Option<BestInfo>, ResultsError> {
    Ok(candidates(dir)?.into_iter().reduce(|a, b| if b.beats(&a) { b } else { a }))
}

/// Writes a candidate: the checkpoint through `save` (atomic), then its record. Then publishes the best.
pub fn offer_best(
    dir: &Path,
    info: &BestInfo,
    save: impl FnOnce(&Path) -> Result<(), ResultsError>,
) -> Result<Option<BestInfo>, ResultsError> {
    let c = dir.join(CANDIDATES_DIR);
    fs::create_dir_all(&c).map_err(werr(&c))?;
    let (model, json) = candidate_paths(dir, &info.id);
    save(&model)?;
    let record = BestInfo {
        checkpoint: format!("{}.safetensors", info.id),
        test_acc: None,
        ..info.clone()
    };
    write_atomic(&json, &json_text(&record)).map_err(werr(&json))?;
    publish_best(dir)
}

/// Whether `a` and `b` are the same file (a hard link of one another).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(x), Ok(y)) => x.len() == y.len() && x.modified().ok() == y.modified().ok(),
        _ => false,
    }
}

/// Replaces `to` by a hard link to `from` (a copy where links are not supported), atomically.
fn link_over(from: &Path, to: &Path) -> std::io::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-link-{}", writer_name()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(from, &tmp).is_err() {
        fs::copy(from, &tmp)?;
    }
    fs::rename(&tmp, to).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Makes `best.safetensors`/`best.json` the best candidate, until a re-read finds them so; returns the best.
/// A directory without candidates (written before they existed) keeps its `best.*` as they are.
pub fn publish_best(dir: &Path) -> Result<Option<BestInfo>, ResultsError> {
    let top = dir.join(BEST_CHECKPOINT);
    let json = dir.join(BEST_JSON);
    for _ in 0..MAX_ROUNDS {
        let Some(best) = best_candidate(dir)? else { return read_best(dir) };
        let (model, _) = candidate_paths(dir, &best.id);
        let current = read_best(dir)?;
        if current.as_ref().is_some_and(|c| c.id == best.id) && same_file(&top, &model) {
            // Several objectives: the front changes with rows that do not change the best.
            let Some(c) = current else { return Ok(None) };
            let fresh = with_front(dir, c.clone());
            if fresh != c {
                write_atomic(&json, &json_text(&fresh)).map_err(werr(&json))?;
            }
            return Ok(Some(fresh));
        }
        match link_over(&model, &top) {
            Ok(()) => {}
            // Removed by a finishing process that saw a better one: look again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(werr(&top)(e)),
        }
        let info = BestInfo {
            checkpoint: BEST_CHECKPOINT.into(),
            test_acc: current.filter(|c| c.id == best.id).and_then(|c| c.test_acc),
            ..best
        };
        let info = with_front(dir, info);
        write_atomic(&json, &json_text(&info)).map_err(werr(&json))?;
    }
    tracing::warn!("best.json kept changing while being published; `sweep finish` publishes it again");
    read_best(dir)
}

/// `info` with the Pareto front of the directory's rows, when they have several objectives: each member's
/// checkpoint is its candidate (`candidates/<id>.safetensors`), or for a member pruned at a rung its model there
/// (`candidates/<id>-rung.safetensors`); both are kept when the sweep finishes.
fn with_front(dir: &Path, mut info: BestInfo) -> BestInfo {
    let rows = read_rows(&dir.join(RESULTS_CSV)).unwrap_or_default();
    info.objectives = crate::front::objectives_of(&rows).unwrap_or_default();
    info.front = crate::front::front(&rows);
    for m in &mut info.front {
        if !m.trial_dir.is_empty() {
            continue;
        }
        if m.status == crate::format::JobStatus::Completed {
            m.trial_dir = format!("{CANDIDATES_DIR}/{}.safetensors", m.id);
        } else if rung_model_path(dir, &m.id).exists() {
            m.trial_dir = format!("{CANDIDATES_DIR}/{}-rung.safetensors", m.id);
        }
    }
    info
}

/// A directory written before candidates existed: its `best.*` becomes the first candidate, so that the best
/// of a resumed sweep is compared with it.
pub fn import_legacy_best(dir: &Path) -> Result<(), ResultsError> {
    let c = dir.join(CANDIDATES_DIR);
    if c.exists() {
        return Ok(());
    }
    let Some(info) = read_best(dir)? else { return Ok(()) };
    let top = dir.join(BEST_CHECKPOINT);
    if !top.is_file() {
        return Ok(());
    }
    offer_best(dir, &info, |to| link_over(&top, to).map_err(werr(to))).map(|_| ())
}

/// Once every job is recorded: publishes the overall best, evaluates it on the test split, stores its accuracy in
/// `best.json` and removes the other candidates. The test accuracy is computed here only.
pub fn finish_best(dir: &Path, data: &Dataset) -> Result<Option<BestInfo>, ResultsError> {
    let Some(mut info) = publish_best(dir)? else { return Ok(None) };
    let model = Model::load(&dir.join(BEST_CHECKPOINT))?;
    info.test_acc = Some(model.net.accuracy(data.x_test.view(), &data.y_test));
    let json = dir.join(BEST_JSON);
    write_atomic(&json, &json_text(&info)).map_err(werr(&json))?;
    tracing::info!(
        "test accuracy of the best job {}: {:.2} %",
        info.id,
        100.0 * info.test_acc.unwrap_or(0.0)
    );
    prune_candidates(dir, Some(&info))?;
    Ok(Some(info))
}

/// Removes every candidate but the best (once the sweep is finished: nobody offers candidates any more); in a
/// multi-objective sweep, every member of the Pareto front keeps its own (`candidates/<id>.safetensors`).
pub fn prune_candidates(dir: &Path, best: Option<&BestInfo>) -> Result<(), ResultsError> {
    let rows = read_rows(&dir.join(RESULTS_CSV)).unwrap_or_default();
    let members = crate::front::front(&rows);
    let front: HashSet<String> = members.iter().map(|m| m.id.clone()).collect();
    // Rung models: a pruned front member's stays (its checkpoint), every other goes.
    let pruned: HashSet<&str> = members
        .iter()
        .filter(|m| m.status != crate::format::JobStatus::Completed)
        .map(|m| m.id.as_str())
        .collect();
    if let Ok(entries) = fs::read_dir(dir.join(CANDIDATES_DIR)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix("-rung.safetensors") {
                if !pruned.contains(id) {
                    match fs::remove_file(e.path()) {
                        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(werr(&e.path())(err)),
                        _ => {}
                    }
                }
            }
        }
    }
    for c in candidates(dir)? {
        if best.is_some_and(|b| b.id == c.id) || front.contains(&c.id) {
            continue;
        }
        let (model, json) = candidate_paths(dir, &c.id);
        // The record first: a candidate without a record is never chosen.
        for p in [json, model] {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(werr(&p)(e)),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::JobStatus;
    use sweep_core::TrainConfig;

    fn row(id: &str, val: f64) -> Row {
        Row {
            id: id.into(),
            config: TrainConfig::default(),
            status: JobStatus::Completed,
            rung: None,
            epochs_run: 1.0,
            best_epoch: Some(1.0),
            best_val_acc: Some(val),
            train_acc: Some(val),
            final_loss: Some(1.0),
            seconds: 1.0,
            trial: None,
            measures: None,
        }
    }

    fn info(id: &str, index: usize, val: f64) -> BestInfo {
        BestInfo {
            id: id.into(),
            index,
            config: TrainConfig::default(),
            best_epoch: 1,
            val_acc: val,
            test_acc: None,
            checkpoint: String::new(),
            objectives: Vec::new(),
            front: Vec::new(),
        }
    }

    #[test]
    fn results_csv_is_republished_with_every_writers_rows_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join(WRITERS_DIR)).unwrap();
        fs::write(d.join(RESULTS_CSV), csv_of(&Schema::Network, &[row("a", 0.1)])).unwrap();
        fs::write(writer_path(d, "w1"), csv_of(&Schema::Network, &[row("b", 0.2), row("a", 0.1)])).unwrap();
        // A row cut off by a crash is not read.
        let mut w2 = csv_of(&Schema::Network, &[row("c", 0.3)]);
        w2.extend_from_slice(b"d,0.1,0.0");
        fs::write(writer_path(d, "w2"), w2).unwrap();
        let rows = publish_results(d).unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(fs::read(d.join(RESULTS_CSV)).unwrap(), csv_of(&Schema::Network, &rows));
        assert_eq!(read_rows(&d.join(RESULTS_CSV)).unwrap(), rows);
    }

    /// `--retry-failed`: every row of a failed job goes, from each writer's file and from results.csv, so that the
    /// job's new row is its only one; other rows, pruned and diverged ones included, stay as they were.
    #[test]
    fn forgetting_failed_jobs_removes_each_of_their_rows_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join(WRITERS_DIR)).unwrap();
        let with = |id: &str, status| Row { status, ..row(id, 0.1) };
        let w1 = [with("a", JobStatus::Completed), with("f", JobStatus::Failed)];
        let w2 = [
            with("p", JobStatus::Pruned),
            with("g", JobStatus::Failed),
            with("f", JobStatus::Failed),
        ];
        fs::write(writer_path(d, "w1"), csv_of(&Schema::Network, &w1)).unwrap();
        fs::write(writer_path(d, "w2"), csv_of(&Schema::Network, &w2)).unwrap();
        fs::write(d.join(RESULTS_CSV), csv_of(&Schema::Network, &[])).unwrap();
        publish_results(d).unwrap();
        assert_eq!(forget_failed(d).unwrap(), ["f", "g"]);
        let ids = |p: &Path| -> Vec<String> {
            rows_from_bytes(&fs::read(p).unwrap(), p)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(&writer_path(d, "w1")), ["a"]);
        assert_eq!(ids(&writer_path(d, "w2")), ["p"]);
        assert_eq!(ids(&d.join(RESULTS_CSV)), ["a", "p"]);
        // A new row of a forgotten job is then its only one.
        fs::write(writer_path(d, "w3"), csv_of(&Schema::Network, &[row("f", 0.4)])).unwrap();
        let rows = publish_results(d).unwrap();
        assert_eq!(rows.iter().filter(|r| r.id == "f").count(), 1);
        assert_eq!(rows.iter().find(|r| r.id == "f").unwrap().status, JobStatus::Completed);
        assert!(forget_failed(d).unwrap().is_empty());
    }

    #[test]
    fn a_results_csv_lacking_a_writers_row_is_published_again_as_a_normal_publish_would() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join(WRITERS_DIR)).unwrap();
        let all = [row("a", 0.1), row("b", 0.2), row("c", 0.3)];
        fs::write(writer_path(d, "w1"), csv_of(&Schema::Network, &all)).unwrap();
        fs::write(d.join(RESULTS_CSV), csv_of(&Schema::Network, &all)).unwrap();
        assert!(!republish_if_stale(d).unwrap());
        // A kill between the writer's append of "c" and its publish.
        let stale = csv_of(&Schema::Network, &all[..2]);
        fs::write(d.join(RESULTS_CSV), &stale).unwrap();
        assert!(republish_if_stale(d).unwrap());
        assert_eq!(fs::read(d.join(RESULTS_CSV)).unwrap(), csv_of(&Schema::Network, &all));
        assert!(!republish_if_stale(d).unwrap());
        // Only results.csv's own rows count: the row reader's merge would hide what is missing.
        fs::write(d.join(RESULTS_CSV), csv_of(&Schema::Network, &[])).unwrap();
        assert!(republish_if_stale(d).unwrap());
        assert_eq!(fs::read(d.join(RESULTS_CSV)).unwrap(), csv_of(&Schema::Network, &all));
    }

    #[test]
    fn the_best_candidate_is_published_whatever_the_order_of_offers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let save = |text: &'static str| move |p: &Path| write_atomic(p, text.as_bytes()).map_err(werr(p));
        offer_best(d, &info("b", 1, 0.5), save("model b")).unwrap();
        assert_eq!(fs::read_to_string(d.join(BEST_CHECKPOINT)).unwrap(), "model b");
        // A worse model offered later (another process's "best so far") does not replace it; a tie goes to the
        // lower index; a better one does.
        offer_best(d, &info("c", 2, 0.4), save("model c")).unwrap();
        assert_eq!(read_best(d).unwrap().unwrap().id, "b");
        offer_best(d, &info("a", 0, 0.5), save("model a")).unwrap();
        let best = read_best(d).unwrap().unwrap();
        assert_eq!((best.id.as_str(), best.checkpoint.as_str()), ("a", BEST_CHECKPOINT));
        assert_eq!(fs::read_to_string(d.join(BEST_CHECKPOINT)).unwrap(), "model a");
        prune_candidates(d, Some(&best)).unwrap();
        assert_eq!(candidates(d).unwrap().len(), 1);
        assert_eq!(publish_best(d).unwrap().unwrap().id, "a");
    }

    #[test]
    fn a_best_from_before_candidates_is_kept_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join(BEST_CHECKPOINT), "old model").unwrap();
        let old = BestInfo {
            checkpoint: BEST_CHECKPOINT.into(),
            ..info("old", 3, 0.6)
        };
        fs::write(d.join(BEST_JSON), serde_json::to_vec(&old).unwrap()).unwrap();
        import_legacy_best(d).unwrap();
        let save = |p: &Path| write_atomic(p, b"new model").map_err(werr(p));
        offer_best(d, &info("new", 0, 0.55), save).unwrap();
        assert_eq!(read_best(d).unwrap().unwrap().id, "old");
        assert_eq!(fs::read_to_string(d.join(BEST_CHECKPOINT)).unwrap(), "old model");
    }
}
