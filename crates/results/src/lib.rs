//! A sweep's results directory: rows appended and flushed as each job ends, curves, the best checkpoint, resume.
//!
//! Layout of `results/<name>/`: `results.csv`, `history/<id>.csv` (per epoch), `history/<id>-loss.csv` (per
//! iteration), `best.safetensors` + `best.json` (replaced atomically), `grid.toml` (the grid as run), `sweep.json`
//! (what identifies the sweep, so that a different grid is refused). With successive halving also `rungs/` (a row per
//! job and finished non-final rung, one file per process) and `state/` (training states of unfinished jobs, see
//! the runner's `run::states`). With several processes on one directory: `writers/`, `candidates/` ([`crate::writers`]) and
//! `claims/` ([`crate::claims`]).

pub mod best;
pub mod claims;
pub mod decisions;
pub mod discover;
pub mod error;
pub mod format;
pub mod front;
pub mod identity;
pub mod progress;
pub mod record;
pub mod schema;
pub mod trial_folder;
pub mod trial_records;
pub mod writers;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sweep_core::checkpoint::write_atomic;
use sweep_core::Dataset;

pub use crate::error::ResultsError;
use crate::format::{
    complete_lines, history_paths, read_manifest, read_rows, rows_from_bytes, rows_in_dir, BestInfo, Manifest, Row, BEST_CHECKPOINT,
    GRID_COPY, HISTORY_DIR, MANIFEST, RESULTS_CSV, RUNGS_DIR, WRITERS_DIR,
};
use crate::record::Record;
use crate::schema::{Schema, TrialBest};
use sweep_grid::grid::{Grid, Job};
use sweep_grid::grow::{self, Growth};
use sweep_search::pareto;

/// An open results directory, safe to share between worker threads.
pub struct ResultsDir {
    pub dir: PathBuf,
    /// This process's own row file (`writers/<writer>.csv`, created with its first row); see [`crate::writers`].
    writer: PathBuf,
    csv: Mutex<Option<File>>,
    /// This process's rung records (`rungs/<writer>.csv`, created with its first record).
    rungs: Mutex<Option<File>>,
    best: Mutex<Option<BestInfo>>,
    /// The kind of rows: the built-in network's or a command sweep's (their columns).
    schema: Schema,
    /// A command sweep's best trial so far.
    trial_best: Mutex<Option<TrialBest>>,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The ids already in a results.csv; a last line cut off by a crash is removed, and a file written before the
/// current columns existed is rewritten (atomically) with them, its missing columns at their defaults.
fn repair_and_read_ids(path: &Path, schema: &Schema) -> Result<HashSet<String>, ResultsError> {
    let rerr = |source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new().read(true).write(true).open(path).map_err(rerr)?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(rerr)?;
    let keep = complete_lines(&text);
    if keep < text.len() {
        f.set_len(keep as u64).map_err(werr(path))?;
        f.seek(SeekFrom::End(0)).map_err(werr(path))?;
        text.truncate(keep);
    }
    let rows = rows_from_bytes(&text, path)?;
    let header = schema.header_line();
    if !text.is_empty() && !text.starts_with(header.as_bytes()) {
        let mut upgraded = header.into_bytes();
        for r in &rows {
            upgraded.extend(r.to_csv(false));
        }
        write_atomic(path, &upgraded).map_err(werr(path))?;
    }
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Whether `dir` holds rows of some sweep (`results.csv`, or a writer's file left by a process killed before it
/// published one).
fn holds_rows(dir: &Path) -> bool {
    dir.join(RESULTS_CSV).exists()
        || fs::read_dir(dir.join(WRITERS_DIR))
            .is_ok_and(|mut e| e.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "csv"))))
}

/// Checks that `dir` can take this sweep without changing anything: a new directory, the same sweep partly done, or
/// the same sweep grown (values added to an axis, a new axis keeping the old setting, more `samples`: only the new
/// jobs will run, see [`sweep_grid::grow`]). Another sweep is refused, naming the key that differs with its old
/// and new values; a grown successive-halving or Hyperband sweep is refused, saying why.
///
/// What a directory's sweep is: `sweep.json` (its fingerprint), else the grid copy `grid.toml` (the file it was run
/// with), which [`ResultsDir::open`] creates first, exclusively, so that it is there before anything else.
pub fn check_dir(dir: &Path, grid: &Grid, fingerprint: &str) -> Result<(), ResultsError> {
    let different = || ResultsError::DifferentSweep {
        dir: dir.to_path_buf(),
        grid: grid.file.clone(),
    };
    let manifest = read_manifest(dir)?;
    if manifest.as_ref().is_some_and(|m| m.fingerprint == fingerprint) {
        return Ok(());
    }
    // The grid the directory was run with: every release writes its copy beside sweep.json.
    let copy = dir.join(GRID_COPY);
    let text = match fs::read_to_string(&copy) {
        Ok(text) => text,
        Err(_) if manifest.is_some() => return Err(different()),
        // Neither file: a new directory (or one that is not a sweep's), unless rows are there.
        Err(_) if !holds_rows(dir) => return Ok(()),
        Err(_) => {
            return Err(ResultsError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!(
                    "holds rows but neither {MANIFEST} nor {GRID_COPY}, which say what sweep they belong to (were they \
                     deleted?); nothing was changed. Put them back from where the directory was copied, use --out to \
                     write elsewhere, or delete {} to start over",
                    dir.display()
                ),
            })
        }
    };
    if text == grid.text {
        // The very file it was run with, expanded by this release into other jobs (configurations that differ only
        // where a parameter has no effect are now one job): the rows there are of this grid.
        return Ok(());
    }
    let Ok(old) = Grid::parse(&copy, &text) else {
        return Err(different());
    };
    if old.objectives != grid.objectives {
        let text = |g: &Grid| {
            let all: Vec<String> = g
                .objectives
                .iter()
                .map(|o| format!("{} = \"{}\"", o.metric, o.mode.as_str()))
                .collect();
            format!("{{ {} }}", all.join(", "))
        };
        return Err(ResultsError::Corrupt {
            path: dir.to_path_buf(),
            reason: format!(
                "holds a different sweep than {}: its objectives were {}, now {} (they decide the rows' columns and \
                 which trials go on); nothing was changed. Use --out to write elsewhere, or delete {} to start over",
                grid.file.display(),
                text(&old),
                text(grid),
                dir.display()
            ),
        });
    }
    match grow::compare(&old, grid) {
        Ok(Growth::Same) => Ok(()),
        Ok(Growth::Grew { before, now }) => {
            static TOLD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
            let mut told = TOLD.lock().unwrap_or_else(|p| p.into_inner());
            if !told.iter().any(|d| d == dir) {
                told.push(dir.to_path_buf());
                tracing::info!(
                    "{}: the sweep grows from {before} to {now} jobs; the rows of the first {before} stay, only new jobs run",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(change) => Err(ResultsError::Corrupt {
            path: dir.to_path_buf(),
            reason: format!(
                "holds a different sweep than {}: {change}; nothing was changed. Use --out to write elsewhere, or \
                 delete {} to start over",
                grid.file.display(),
                dir.display()
            ),
        }),
    }
}

/// Creates `dir` and its grid copy holding `grid`'s text if there is none, exclusively: true if this call created
/// it, false if it was there. The copy is written to a temporary file, then hard-linked to its name (atomic, and
/// exclusive over NFS too; the link count tells the truth where NFS reports a link that succeeded as failed), so it
/// is never seen half written; a file system without hard links gets an exclusive create instead.
pub fn create_grid_copy(dir: &Path, grid: &Grid) -> Result<bool, ResultsError> {
    fs::create_dir_all(dir).map_err(werr(dir))?;
    let copy = dir.join(GRID_COPY);
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(werr(dir))?;
    #[cfg(unix)]
    fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).map_err(werr(tmp.path()))?;
    tmp.write_all(grid.text.as_bytes()).map_err(werr(tmp.path()))?;
    tmp.as_file().sync_all().map_err(werr(tmp.path()))?;
    let linked = fs::hard_link(tmp.path(), &copy);
    let link_count = || {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(tmp.path()).ok().map(|m| m.nlink())
        }
        #[cfg(not(unix))]
        None::<u64>
    };
    match linked {
        Ok(()) => Ok(true),
        Err(_) if link_count() == Some(2) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // No hard links here: an exclusive create (atomic on a local file system), written at once.
        Err(_) => match OpenOptions::new().write(true).create_new(true).open(&copy) {
            Ok(mut f) => {
                f.write_all(grid.text.as_bytes()).map_err(werr(&copy))?;
                f.sync_all().map_err(werr(&copy))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(werr(&copy)(e)),
        },
    }
}

impl ResultsDir {
    /// Opens (creating, or resuming) the results directory; returns it and the ids of jobs already done.
    ///
    /// Exactly one grid owns a directory: its copy `grid.toml` is the first file written, created exclusively
    /// ([`create_grid_copy`]), so of two processes starting different grids on a new directory one creates it and
    /// the other finds it, compares it with its own grid and is refused having written nothing. A `results.csv` that
    /// lacks a row of a writer's file (a process was killed between appending it and publishing) is published again
    /// before the rows are counted.
    pub fn open(dir: &Path, grid: &Grid, jobs: &[Job]) -> Result<(ResultsDir, HashSet<String>), ResultsError> {
        let fingerprint = grid.fingerprint(jobs);
        check_dir(dir, grid, &fingerprint)?;
        // Looked at before the grid copy is made: rows (written after sweep.json) without sweep.json were left so.
        let lost_manifest = holds_rows(dir) && read_manifest(dir)?.is_none();
        let created = create_grid_copy(dir, grid)?;
        if !created {
            // Another process may have started the directory since the check: what is there now decides.
            check_dir(dir, grid, &fingerprint)?;
        }
        fs::create_dir_all(dir.join(HISTORY_DIR)).map_err(werr(dir))?;
        let manifest = Manifest {
            name: grid.name.clone(),
            fingerprint,
            jobs: jobs.len(),
            grid_file: grid.file.display().to_string(),
        };
        let mpath = dir.join(MANIFEST);
        if lost_manifest {
            tracing::warn!(
                "{} was missing; written again from this grid, which is the sweep of {} (the grid it was run with)",
                mpath.display(),
                dir.join(GRID_COPY).display()
            );
        }
        write_atomic(&mpath, &serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(werr(&mpath))?;
        if !created {
            let gpath = dir.join(GRID_COPY);
            write_atomic(&gpath, grid.text.as_bytes()).map_err(werr(&gpath))?;
        }

        let csv_path = dir.join(RESULTS_CSV);
        let schema = Schema::of_grid(grid);
        if csv_path.exists() {
            repair_and_read_ids(&csv_path, &schema)?;
        }
        // Created only if absent (other processes may be publishing it): never a second header.
        if let Ok(mut file) = OpenOptions::new().write(true).create_new(true).open(&csv_path) {
            file.write_all(schema.header_line().as_bytes()).map_err(werr(&csv_path))?;
            file.sync_data().map_err(werr(&csv_path))?;
        }
        // Every writer's rows, not only results.csv's, which is made their merge again if it lacks one.
        writers::republish_if_stale(dir)?;
        let done = read_rows(&csv_path)?.into_iter().map(|r| r.id).collect();
        let (best, trial_best) = match schema {
            Schema::Network | Schema::Measured(_) => {
                writers::import_legacy_best(dir)?;
                (writers::publish_best(dir)?, None)
            }
            Schema::Trials(_) => (None, writers::publish_trial_best(dir)?),
        };
        Ok((
            ResultsDir {
                dir: dir.to_path_buf(),
                writer: writers::writer_path(dir, &writers::writer_name()),
                csv: Mutex::new(None),
                rungs: Mutex::new(None),
                best: Mutex::new(best),
                schema,
                trial_best: Mutex::new(trial_best),
            },
            done,
        ))
    }

    /// `sweep run --retry-failed`: forgets the failed jobs' rows ([`writers::forget_failed`]) so that they run
    /// again, and returns their ids (to be taken out of the done set [`ResultsDir::open`] returned).
    pub fn forget_failed(&self) -> Result<Vec<String>, ResultsError> {
        writers::forget_failed(&self.dir)
    }

    /// Records a job that ended (its `record.row` with the status and rung it ended in): curves, the model as a
    /// candidate for the sweep's best if it completed and beats the best so far, then its row (flushed).
    ///
    /// The row is written last, so a crash at any point leaves either the whole job or none of it.
    pub fn record(&self, job: &Job, record: &Record) -> Result<(), ResultsError> {
        self.write_history(&job.id, record)?;
        let row = &record.row;
        if row.trial.is_some() {
            self.append(row)?;
            // Several objectives: any sound row can change the front best.json lists.
            let multi = matches!(&self.schema, Schema::Trials(c) if !c.others.is_empty());
            if row.is_candidate() || multi {
                *self.trial_best.lock().unwrap_or_else(|p| p.into_inner()) = writers::publish_trial_best(&self.dir)?;
            }
            return Ok(());
        }
        if let (true, Some(model), Some(epoch)) = (row.is_candidate(), &record.model, row.best_epoch) {
            let info = BestInfo {
                id: job.id.clone(),
                index: job.index,
                config: (*job.config).clone(),
                best_epoch: epoch as usize,
                val_acc: model.meta.val_accuracy,
                test_acc: None,
                checkpoint: BEST_CHECKPOINT.into(),
                objectives: Vec::new(),
                front: Vec::new(),
            };
            let mut best = self.best.lock().unwrap_or_else(|p| p.into_inner());
            if self.multi() {
                // Several objectives: a job no recorded row dominates may be on the front, so its model is kept as a
                // candidate (rows are only added, so a dominated one never is; the candidates off the front go when
                // the sweep finishes).
                if !self.dominated(row)? {
                    *best = writers::offer_best(&self.dir, &info, |path| Ok(model.save(path)?))?;
                }
            } else if best.as_ref().is_none_or(|b| info.beats(b)) {
                // A candidate; best.* become the best of all processes' candidates.
                *best = writers::offer_best(&self.dir, &info, |path| Ok(model.save(path)?))?;
            }
        }
        self.append(row)?;
        if self.multi() {
            // The front best.json lists, with this row.
            *self.best.lock().unwrap_or_else(|p| p.into_inner()) = writers::publish_best(&self.dir)?;
        }
        Ok(())
    }

    /// Whether a recorded row dominates `row` in every objective (then it can never be on the front: rows are only
    /// added).
    fn dominated(&self, row: &Row) -> Result<bool, ResultsError> {
        let Some(mine) = front::scores(&self.columns(row)) else {
            return Ok(false);
        };
        let rows = read_rows(&self.dir.join(RESULTS_CSV))?;
        Ok(rows.iter().filter_map(front::scores).any(|q| pareto::dominates(&q, &mine)))
    }

    /// A built-in sweep with several objectives.
    fn multi(&self) -> bool {
        matches!(self.schema, Schema::Measured(_))
    }

    /// Records that a job finished a rung that is not its last (`record.row.rung`): its curves so far, then its line
    /// in `rungs/<writer>.csv`.
    pub fn record_rung(&self, job: &Job, record: &Record) -> Result<(), ResultsError> {
        self.write_history(&job.id, record)?;
        if let (true, Some(model)) = (self.multi(), &record.model) {
            // Several objectives: a job stopped at this rung is a cheaper model that may be on the front; unless a
            // recorded row dominates it, its best model so far is kept (atomically) until the sweep finishes.
            if !self.dominated(&record.row)? {
                let path = writers::rung_model_path(&self.dir, &job.id);
                fs::create_dir_all(path.parent().unwrap_or(&self.dir)).map_err(werr(&path))?;
                model.save(&path)?;
            }
        }
        let path = self.dir.join(RUNGS_DIR).join(self.writer.file_name().unwrap_or_default());
        let mut f = self.rungs.lock().unwrap_or_else(|p| p.into_inner());
        let file = match &mut *f {
            Some(file) => file,
            None => {
                fs::create_dir_all(self.dir.join(RUNGS_DIR)).map_err(werr(&path))?;
                f.insert(writers::create_writer(&path, &self.schema.header_line())?)
            }
        };
        file.write_all(&self.columns(&record.row).to_csv(false)).map_err(werr(&path))?;
        file.sync_data().map_err(werr(&path))
    }

    /// The rows of `results.csv` by id (the jobs that are done: finished, pruned, diverged or failed).
    pub fn read_final(&self) -> Result<HashMap<String, Row>, ResultsError> {
        let rows = read_rows(&self.dir.join(RESULTS_CSV))?;
        Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
    }

    /// The rung records of every process (`rungs/*.csv`) by (rung, id).
    pub fn read_rungs(&self) -> Result<HashMap<(usize, String), Row>, ResultsError> {
        let mut out = HashMap::new();
        for r in rows_in_dir(&self.dir.join(RUNGS_DIR))? {
            if let Some(rung) = r.rung {
                out.entry((rung, r.id.clone())).or_insert(r);
            }
        }
        Ok(out)
    }

    /// Appends a row to this process's row file and flushes it to disk, then publishes results.csv.
    pub fn append(&self, row: &Row) -> Result<(), ResultsError> {
        self.append_all(std::slice::from_ref(row))
    }

    /// Appends rows (one write and one flush), then publishes results.csv once.
    pub fn append_all(&self, rows: &[Row]) -> Result<(), ResultsError> {
        if rows.is_empty() {
            return Ok(());
        }
        let path = &self.writer;
        let mut f = self.csv.lock().unwrap_or_else(|p| p.into_inner());
        let file = match &mut *f {
            Some(file) => file,
            None => f.insert(writers::create_writer(path, &self.schema.header_line())?),
        };
        let bytes: Vec<u8> = rows.iter().flat_map(|r| self.columns(r).to_csv(false)).collect();
        file.write_all(&bytes).map_err(werr(path))?;
        file.sync_data().map_err(werr(path))?;
        drop(f);
        writers::publish_results(&self.dir).map(|_| ())
    }

    fn write_history(&self, id: &str, record: &Record) -> Result<(), ResultsError> {
        let Some((epochs, iters)) = &record.history else { return Ok(()) };
        let (pe, pl) = history_paths(&self.dir, id);
        write_atomic(&pe, epochs).map_err(werr(&pe))?;
        write_atomic(&pl, iters).map_err(werr(&pl))
    }

    /// The name of this process's row file (`writers/<name>.csv`), which its other per-process files share.
    pub fn writer_name(&self) -> String {
        self.writer
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    }

    /// A command trial's row in this directory's columns: its values in their order, its objective the sweep's (a row
    /// made without them, such as that of a trial whose backend panicked, gets them here). Built-in rows as they are.
    fn columns(&self, row: &Row) -> Row {
        if let (Schema::Measured(objectives), None) = (&self.schema, &row.trial) {
            // Every row of a multi-objective built-in sweep has the measures' columns (empty when it has none).
            let mut m = row.measures.clone().unwrap_or_else(|| {
                Box::new(format::Measures {
                    objectives: objectives.clone(),
                    params: None,
                    predict_s: None,
                    pareto_rank: None,
                })
            });
            m.objectives = objectives.clone();
            return Row {
                measures: Some(m),
                ..row.clone()
            };
        }
        let (Schema::Trials(c), Some(t)) = (&self.schema, &row.trial) else {
            return row.clone();
        };
        let mut t = t.clone();
        let value = |k: &str| {
            t.values
                .iter()
                .find(|(n, _)| n == k)
                .map_or(serde_json::Value::Null, |(_, v)| v.clone())
        };
        t.values = c.values.iter().map(|k| (k.clone(), value(k))).collect();
        t.objective = c.objective.clone();
        t.others = c.others.clone();
        Row {
            trial: Some(t),
            ..row.clone()
        }
    }

    /// The kind of rows this directory holds.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `best val 51.23 %` (or `best loss 0.2513` for a command sweep; `-` while there is none), for the progress bar.
    pub fn best_text(&self) -> String {
        match &self.schema {
            Schema::Network | Schema::Measured(_) => format!(
                "best val {}",
                self.best().map_or("-".into(), |b| format!("{:.2} %", 100.0 * b.val_acc))
            ),
            Schema::Trials(c) => {
                let best = self.trial_best.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|b| b.value);
                format!("best {} {}", c.objective.metric, crate::schema::metric_text(best))
            }
        }
    }

    /// A command sweep's best trial (published in `best.json` from every process's rows).
    pub fn trial_best(&self) -> Result<Option<TrialBest>, ResultsError> {
        let best = writers::publish_trial_best(&self.dir)?;
        *self.trial_best.lock().unwrap_or_else(|p| p.into_inner()) = best.clone();
        Ok(best)
    }

    /// The best so far.
    pub fn best(&self) -> Option<BestInfo> {
        self.best.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Evaluates the best checkpoint on the test split once and stores its accuracy in `best.json`.
    pub fn finish(&self, data: &Dataset) -> Result<Option<BestInfo>, ResultsError> {
        let info = writers::finish_best(&self.dir, data)?;
        *self.best.lock().unwrap_or_else(|p| p.into_inner()) = info.clone();
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(seed: u64, epochs: u32) -> Grid {
        let text = format!(
            "name = \"g\"\nseed = {seed}\n[data]\nsource = \"toy\"\n[train]\nepochs = {epochs}\n[grid]\nlearning_rate = [0.1, 0.2]\n"
        );
        Grid::parse(Path::new(&format!("g{seed}.toml")), &text).unwrap()
    }

    fn open(dir: &Path, g: &Grid) -> Result<ResultsDir, ResultsError> {
        ResultsDir::open(dir, g, &g.jobs().unwrap()).map(|(r, _)| r)
    }

    /// Every file below `dir`, relative, sorted.
    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p.clone());
                }
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_grid_copy_is_created_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        assert!(create_grid_copy(&d, &grid(1, 2)).unwrap());
        assert!(!create_grid_copy(&d, &grid(2, 2)).unwrap());
        assert_eq!(fs::read_to_string(d.join(GRID_COPY)).unwrap(), grid(1, 2).text);
        assert_eq!(files(&d), [GRID_COPY], "no temporary file is left");
    }

    #[test]
    fn of_two_grids_opening_a_new_directory_at_once_exactly_one_owns_it() {
        for round in 0..20 {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path().join("d");
            let barrier = std::sync::Barrier::new(2);
            let grids = [grid(1, 2), grid(2, 3)];
            let opened: Vec<Result<ResultsDir, ResultsError>> = std::thread::scope(|s| {
                let handles: Vec<_> = grids
                    .iter()
                    .map(|g| {
                        let (d, barrier) = (&d, &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            open(d, g)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let owner = match (&opened[0], &opened[1]) {
                (Ok(_), Err(e)) => {
                    assert!(e.to_string().contains("holds a different sweep"), "{e}");
                    &grids[0]
                }
                (Err(e), Ok(_)) => {
                    assert!(e.to_string().contains("holds a different sweep"), "{e}");
                    &grids[1]
                }
                _ => panic!(
                    "round {round}: not exactly one owner: {:?}",
                    opened.iter().map(|o| o.is_ok()).collect::<Vec<_>>()
                ),
            };
            let jobs = owner.jobs().unwrap();
            assert_eq!(read_manifest(&d).unwrap().unwrap().fingerprint, owner.fingerprint(&jobs));
            assert_eq!(fs::read_to_string(d.join(GRID_COPY)).unwrap(), owner.text);
        }
    }

    #[test]
    fn a_refused_grid_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        open(&d, &grid(1, 2)).unwrap();
        let before: Vec<_> = files(&d).into_iter().map(|f| (fs::read(d.join(&f)).ok(), f)).collect();
        let e = open(&d, &grid(1, 3)).err().unwrap();
        assert!(e.to_string().contains("holds a different sweep"), "{e}");
        let after: Vec<_> = files(&d).into_iter().map(|f| (fs::read(d.join(&f)).ok(), f)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn a_deleted_sweep_json_is_written_again_from_the_grid_copy_not_called_another_sweep() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        let g = grid(1, 2);
        open(&d, &g).unwrap();
        let manifest = fs::read(d.join(MANIFEST)).unwrap();
        fs::remove_file(d.join(MANIFEST)).unwrap();
        open(&d, &g).unwrap();
        assert_eq!(fs::read(d.join(MANIFEST)).unwrap(), manifest);
        // Another grid is still another sweep, named by what differs.
        fs::remove_file(d.join(MANIFEST)).unwrap();
        let e = open(&d, &grid(1, 3)).err().unwrap().to_string();
        assert!(e.contains("`train.epochs` is 3 in this grid but was 2"), "{e}");
        // Without the grid copy either, the message says what is missing.
        fs::remove_file(d.join(GRID_COPY)).unwrap();
        let e = open(&d, &g).err().unwrap().to_string();
        assert!(
            !e.contains("different sweep") && e.contains("neither sweep.json nor grid.toml"),
            "{e}"
        );
        assert!(!d.join(MANIFEST).exists() && !d.join(GRID_COPY).exists());
    }
}
