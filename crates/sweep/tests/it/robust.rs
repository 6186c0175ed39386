//! What a tester broke (issue 37), through the real binary: a state that cannot be saved and a full disk are not the
//! job's fault (nothing recorded, exit 74, the rerun resumes), a worker count bounded where it is given, SIGTERM
//! honoured at once in a run's early phases, a report over the largest numbers a program may report, and a record
//! past the run's budget refused.

use std::path::Path;
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use sweep_results::format::JobStatus;

use crate::common;
use common::{read_results, rows_without_time, sweep, write};

/// Exit code of a run the machine failed (EX_IOERR).
const EXIT_IO: i32 = 74;

/// Four jobs of three epochs on toy data: every job saves its state after epochs 1 and 2.
const GRID: &str = "name = \"env\"\nseed = 1\n[data]\nsource = \"toy\"\n[train]\nepochs = 3\nhidden_size = 16\n\
                    [grid]\nlearning_rate = [0.03, 0.1, 0.3, 1.0]\n";

/// `sweep run grid.toml --out OUT --workers 1` in `dir`: (exit code, stderr).
fn run(dir: &Path, out: &str) -> (Option<i32>, String) {
    let o = sweep()
        .current_dir(dir)
        .args(["run", "grid.toml", "--out", out, "--workers", "1"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Rows of a directory that may have none yet.
fn ids(out: &Path) -> Vec<(String, JobStatus)> {
    if !out.join("results.csv").exists() {
        return Vec::new();
    }
    read_results(out).into_iter().map(|r| (r.id, r.status)).collect()
}

#[test]
fn a_state_that_cannot_be_saved_stops_the_run_unrecorded_and_the_rerun_gives_an_uninterrupted_runs_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "grid.toml", GRID);
    assert_eq!(run(dir, "straight").0, Some(0));
    let straight = dir.join("straight");
    let id = read_results(&straight)[1].id.clone();

    // The job's state path is a directory: its state cannot be written.
    let blocked = dir.join("broken/state").join(format!("{id}.safetensors"));
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let (code, stderr) = run(dir, "broken");
    assert_eq!(code, Some(EXIT_IO), "an I/O error's code, not a usage error's:\n{stderr}");
    assert_eq!(
        stderr.matches(&format!("cannot save the training state of job {id}")).count(),
        1,
        "said once:\n{stderr}"
    );
    assert!(
        stderr.contains("free some disk space and run the same command again to resume")
            && stderr.contains(&format!("state/{id}.safetensors")),
        "names the path and the fix:\n{stderr}"
    );
    let rows = ids(&dir.join("broken"));
    assert!(rows.iter().all(|(i, _)| *i != id), "the job was recorded: {rows:?}");
    assert!(rows.iter().all(|(_, s)| *s != JobStatus::Failed), "{rows:?}");

    std::fs::remove_dir_all(&blocked).unwrap();
    let (code, stderr) = run(dir, "broken");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rows_without_time(&dir.join("broken")), rows_without_time(&straight));
}

/// A tmpfs mounted on a folder, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// None where mounting is not permitted (not root, or in a container without the capability).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Std::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let s = Std::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Std::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_stops_the_run_unrecorded_and_after_freeing_space_the_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Wide layers: a training state of a few hundred kB.
    write(dir, "grid.toml", &GRID.replace("hidden_size = 16", "hidden_size = 2048"));
    // Room for the directory's small files, not for a training state.
    let Some(disk) = Tmpfs::mount(&dir.join("disk"), "96k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    assert_eq!(run(dir, "straight").0, Some(0));
    let (code, stderr) = run(dir, "disk/out");
    assert_eq!(code, Some(EXIT_IO), "{stderr}");
    assert!(
        stderr.contains("cannot save the training state of job")
            && stderr.contains("free some disk space and run the same command again to resume")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    let rows = ids(&dir.join("disk/out"));
    assert!(rows.iter().all(|(_, s)| *s != JobStatus::Failed), "a job was blamed: {rows:?}");
    assert!(rows.len() < 4, "{rows:?}");

    disk.resize("64m");
    let (code, stderr) = run(dir, "disk/out");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rows_without_time(&dir.join("disk/out")), rows_without_time(&dir.join("straight")));
}

/// A command sweep of a one-line program: `x` is the objective, reported at the budget.
#[cfg(target_os = "linux")]
fn command_grid(name: &str, values: &str, epoch: &str) -> String {
    // `{{` is a literal brace in a grid's run arguments.
    let script = format!("echo \"{{{{\\\"epoch\\\": {epoch}, \\\"score\\\": $1}}}}\" >> \"$SWEEP_METRICS\"");
    format!(
        "name = \"{name}\"\nseed = 0\n[command]\nrun = [\"sh\", \"-c\", {script:?}, \"sh\", \"{{x}}\"]\nmetric = \"score\"\n\
         [train]\nepochs = 2\n[grid]\nx = [{values}]\n"
    )
}

#[cfg(target_os = "linux")]
#[test]
fn a_trial_folder_that_cannot_be_written_is_not_the_trials_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "grid.toml", &command_grid("folder", "1, 2, 3", "$SWEEP_BUDGET"));
    assert_eq!(run(dir, "straight").0, Some(0));
    // `trials` is a file: no trial's folder can be made.
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    write(dir, "broken/trials", "in the way");
    let (code, stderr) = run(dir, "broken");
    assert_eq!(code, Some(EXIT_IO), "{stderr}");
    assert!(
        stderr.contains("nothing was recorded for it") && stderr.contains("broken/trials/"),
        "{stderr}"
    );
    assert_eq!(ids(&dir.join("broken")), []);
    std::fs::remove_file(dir.join("broken/trials")).unwrap();
    let (code, stderr) = run(dir, "broken");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rows_without_time(&dir.join("broken")), rows_without_time(&dir.join("straight")));
}

#[test]
fn workers_beyond_the_limit_are_refused_naming_the_flag_and_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "grid.toml", GRID);
    let started = Instant::now();
    let o = sweep()
        .current_dir(dir)
        .args(["run", "grid.toml", "--out", "out", "-j", "100000"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--workers 100000") && stderr.contains("at most 1024"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(!dir.join("out").exists(), "nothing is written");
    // The limit itself is fine (a command sweep may wait on many remote trials).
    let o = sweep().current_dir(dir).args(["plan", "grid.toml", "-j", "1024"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[cfg(unix)]
#[test]
fn sigterm_ends_a_run_within_a_second_or_two_in_its_early_phases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Enough work (minutes) that every signal below arrives before the sweep ends, on any machine.
    let grid = GRID
        .replace("epochs = 3", "epochs = 200")
        .replace("hidden_size = 16", "hidden_size = 64")
        .replace("[data]\nsource = \"toy\"", "[data]\nsource = \"toy\"\ntrain_size = 40000");
    write(dir, "grid.toml", &grid);
    for (i, after_ms) in [0u64, 30, 100, 250, 600, 1200].into_iter().enumerate() {
        let out = format!("out{i}");
        let mut child = Std::new(assert_cmd::cargo::cargo_bin("sweep"))
            .current_dir(dir)
            .args(["run", "grid.toml", "--out", &out, "-j", "1024"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        assert!(child.try_wait().unwrap().is_none(), "ended before the signal at {after_ms} ms");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let sent = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if sent.elapsed() > Duration::from_secs(2) {
                let _ = child.kill();
                panic!("still running 2 s after SIGTERM sent {after_ms} ms after the start");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.code() == Some(130) || status.signal() == Some(15),
            "SIGTERM at {after_ms} ms: {status:?}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_report_of_a_sweep_whose_objective_is_the_largest_numbers_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "grid.toml",
        &command_grid(
            "huge",
            "1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 0",
            "$SWEEP_BUDGET",
        ),
    );
    assert_eq!(run(dir, "out").0, Some(0));
    let rows = read_results(&dir.join("out"));
    assert!(rows.iter().all(|r| r.status == JobStatus::Completed), "{rows:?}");
    let o = sweep()
        .current_dir(dir)
        .args(["report", "out"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(dir.join("out/report/index.html").is_file());
}

#[cfg(target_os = "linux")]
#[test]
fn a_record_past_the_runs_budget_fails_the_trial_naming_the_record_and_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "grid.toml", &command_grid("past", "1", "1e308"));
    let (code, stderr) = run(dir, "out");
    assert_eq!(code, Some(3), "its only trial failed: {stderr}");
    let rows = read_results(&dir.join("out"));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let note = r.trial.as_ref().and_then(|t| t.note.clone()).unwrap_or_default();
    assert_eq!(r.status, JobStatus::Failed, "{r:?}");
    assert!(
        note.contains("past its budget 2") && note.contains("1e308") && note.contains("metrics.jsonl line 1"),
        "{note}"
    );
    assert!(
        r.epochs_run <= 2.0 && r.trial.as_ref().unwrap().best.is_none(),
        "not accepted: {r:?}"
    );
}
