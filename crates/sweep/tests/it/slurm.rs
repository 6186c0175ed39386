//! A real single-node Slurm (scripts/slurm-local.sh: munge, slurmctld, slurmd in a temporary directory, on ports of
//! their own, stopped by their PIDs whatever happens): `sweep slurm --submit` runs a sweep as a 4-task job array
//! plus the finishing job, with the rows of a local run (for built-in jobs and for a command sweep of the light
//! example); a task warned with SIGUSR1 requeues itself.
//!
//! Skipped with a message when Slurm is not installed (scripts/install-slurm.sh installs it); `.ci/run` sets
//! SWEEP_REQUIRE_SLURM=1, which turns the skip into a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as Std, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;
use common::{project_root, rows_without_time, shared_cifar, sweep, write};

/// One cluster at a time: the machine has few cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// A running local Slurm; dropping it stops the daemons (by the PIDs slurm-local.sh kept), also when a test fails.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Std::new("bash").arg(script()).arg("stop").arg(self.dir.path()).status();
    }
}

fn script() -> PathBuf {
    project_root().join("scripts/slurm-local.sh")
}

fn installed() -> bool {
    ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"]
        .iter()
        .all(|p| Path::new(p).exists())
        && ["sbatch", "squeue", "scontrol", "scancel", "sinfo"]
            .iter()
            .all(|c| std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(c).is_file())))
}

/// Two free consecutive TCP ports (slurmctld's and slurmd's).
fn free_ports() -> u16 {
    let seed = std::process::id() as u16;
    for i in 0..2000u16 {
        let p = 20000 + (seed.wrapping_mul(7).wrapping_add(i * 2)) % 30000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two free consecutive TCP ports found");
}

/// Starts a cluster, or says why the test is skipped (None).
fn start() -> Option<Slurm> {
    start_with_gpus(0)
}

/// [`start`] with a node of `gpus` fake GPUs (`SLURM_LOCAL_GPUS`): jobs asking `--gres=gpu:K` get
/// `CUDA_VISIBLE_DEVICES`.
fn start_with_gpus(gpus: usize) -> Option<Slurm> {
    let started = Instant::now();
    if !installed() {
        let why = "Slurm is not installed (run scripts/install-slurm.sh as root)";
        assert!(
            std::env::var("SWEEP_REQUIRE_SLURM").as_deref() != Ok("1"),
            "SWEEP_REQUIRE_SLURM=1 but {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("slurm.conf");
    let slurm = Slurm { dir, conf }; // from here on, the daemons are stopped whatever happens
    let port = free_ports();
    let out = Std::new("bash")
        .arg(script())
        .arg("start")
        .arg(slurm.dir.path())
        .env("SLURM_LOCAL_PORT", port.to_string())
        .env("SLURM_LOCAL_GPUS", gpus.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slurm-local.sh start failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("local Slurm up in {:.1} s", started.elapsed().as_secs_f64());
    Some(slurm)
}

impl Slurm {
    fn cmd(&self, program: &str) -> Std {
        let mut c = Std::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(program).args(args).output().unwrap()
    }

    /// `squeue` lists none of `ids` any more (or `timeout` passes: panics).
    fn wait_gone(&self, ids: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run("squeue", &["-h", "-j", &ids.join(",")]);
            if out.status.success() && out.stdout.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jobs {ids:?} still queued after {timeout:?}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `JobState=...` of every task of a job (finished jobs stay visible for 300 s).
    fn states(&self, id: &str) -> Vec<String> {
        let out = self.run("scontrol", &["-o", "show", "job", id]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("JobState=")).map(str::to_string))
            .collect()
    }

    /// `sweep slurm GRID --tasks N --submit`: the array's and the finishing job's ids.
    fn submit(&self, cwd: &Path, grid: &str, out: &str, tasks: usize) -> (String, String) {
        let o = sweep()
            .current_dir(cwd)
            .env("SLURM_CONF", &self.conf)
            .args(["slurm", grid, "--tasks", &tasks.to_string(), "--out", out, "--submit"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let id = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key:?} in\n{text}"))
                .trim()
                .to_string()
        };
        (id("array job:"), id("finish job:"))
    }
}

fn best_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("best.json")).unwrap()).unwrap()
}

fn logs(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("slurm"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Ids recorded in all writers' files, each as often as it was recorded.
fn recorded_ids(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir.join("writers")).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        ids.extend(text.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()));
    }
    ids.sort();
    ids
}

#[test]
fn a_four_task_array_gives_the_rows_of_a_local_run_and_finishes_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slurm) = start() else { return };
    let cifar = shared_cifar().canonicalize().expect("../shared/cifar10 is needed");
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "sub.toml",
        &format!(
            "name = \"sub\"\nseed = 4\n[data]\npath = \"{}\"\ntrain_size = 1000\nval_size = 500\ntest_size = 500\n\
             [train]\nepochs = 2\nbatch_size = 100\n[grid]\nlearning_rate = [0.05, 0.2]\nreg = [1e-4, 1e-3]\nhidden_size = [16, 32]\n",
            cifar.display()
        ),
    );
    let started = Instant::now();
    sweep()
        .current_dir(tmp.path())
        .args(["run", "sub.toml", "--workers", "2", "--out", "local"])
        .assert()
        .success();
    let local_time = started.elapsed();

    let started = Instant::now();
    let (array, finish) = slurm.submit(tmp.path(), "sub.toml", "array", 4);
    slurm.wait_gone(&[&array, &finish], Duration::from_secs(300));
    let array_time = started.elapsed();
    eprintln!(
        "Slurm: 4-task array + finishing job {:.1} s, local run (2 workers) {:.1} s",
        array_time.as_secs_f64(),
        local_time.as_secs_f64()
    );
    let dir = tmp.path().join("array");
    let logs = logs(&dir);
    let states = slurm.states(&array);
    assert_eq!(states, ["COMPLETED"; 4], "{logs:#?}");
    assert_eq!(slurm.states(&finish), ["COMPLETED"], "{logs:#?}");

    let local = tmp.path().join("local");
    let ids = recorded_ids(&dir);
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "a job was recorded twice: {ids:?}");
    assert_eq!(rows_without_time(&dir), rows_without_time(&local));
    let (b, bl) = (best_json(&dir), best_json(&local));
    assert_eq!(
        (&b["id"], &b["val_acc"], &b["test_acc"]),
        (&bl["id"], &bl["val_acc"], &bl["test_acc"])
    );
    assert_eq!(
        std::fs::read(dir.join("best.safetensors")).unwrap(),
        std::fs::read(local.join("best.safetensors")).unwrap()
    );
    // The test accuracy was computed once, by the finishing job; the tasks only said how to get it.
    let (finish_logs, task_logs): (Vec<_>, Vec<_>) = logs.iter().partition(|(name, _)| name.ends_with("-finish.log"));
    assert_eq!(task_logs.len(), 4, "{logs:#?}");
    for (name, text) in &task_logs {
        assert!(
            !text.contains("test accuracy of the best") && text.contains("sweep finish"),
            "{name}:\n{text}"
        );
    }
    assert_eq!(finish_logs.len(), 1);
    assert_eq!(
        finish_logs[0].1.matches("test accuracy of the best").count(),
        1,
        "{}",
        finish_logs[0].1
    );
    assert!(dir.join("report/index.html").is_file());
}

/// A command sweep of the light example (8 trials of 3 epochs; `search` after them) as a 4-task array and as a local
/// run: the same rows and best, every trial recorded once. Returns the array's results directory (in `tmp`).
fn command_array_matches_local(slurm: &Slurm, tmp: &Path, search: &str) -> PathBuf {
    let light = project_root().join("examples/light/train.py").canonicalize().unwrap();
    // The tasks run the program in the submission directory, as `run` is written for.
    write(
        tmp,
        "cmd.toml",
        &format!(
            "name = \"cmd\"\nseed = 5\n[command]\nrun = [\"python3\", {:?}, \"--lr={{lr}}\"]\nmetric = \"val_acc\"\n\
             [train]\nepochs = 3\n[grid]\nlr = [0.01, 0.1, 0.3, 1.0]\nreg = [1e-4, 1e-2]\n{search}",
            light.display().to_string()
        ),
    );
    let started = Instant::now();
    sweep()
        .current_dir(tmp)
        .args(["run", "cmd.toml", "--workers", "2", "--out", "local"])
        .assert()
        .success();
    let local_time = started.elapsed();

    let started = Instant::now();
    let (array, finish) = slurm.submit(tmp, "cmd.toml", "array", 4);
    slurm.wait_gone(&[&array, &finish], Duration::from_secs(300));
    eprintln!(
        "Slurm, command sweep{}: 4-task array + finishing job {:.1} s, local run (2 workers) {:.1} s",
        if search.is_empty() { "" } else { " with halving" },
        started.elapsed().as_secs_f64(),
        local_time.as_secs_f64()
    );
    let dir = tmp.join("array");
    let logs = logs(&dir);
    assert_eq!(slurm.states(&array), ["COMPLETED"; 4], "{logs:#?}");
    assert_eq!(slurm.states(&finish), ["COMPLETED"], "{logs:#?}");
    let ids = recorded_ids(&dir);
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "a trial was recorded twice: {ids:?}");
    let local = tmp.join("local");
    assert_eq!(rows_without_time(&dir), rows_without_time(&local));
    let (b, bl) = (best_json(&dir), best_json(&local));
    assert_eq!(
        (&b["id"], &b["value"], &b["trial_dir"]),
        (&bl["id"], &bl["value"], &bl["trial_dir"])
    );
    assert_eq!(std::fs::read_dir(dir.join("trials")).unwrap().count(), 8);
    assert!(dir.join("report/index.html").is_file(), "{logs:#?}");
    dir
}

/// The runs of a trial of `dir` as its records.jsonl lists them (`{"sweep_run": N, "budget": B, "resume": R}`).
fn trial_runs(dir: &Path, id: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("trials").join(id).join("records.jsonl")).unwrap();
    text.lines().filter(|l| l.contains("\"sweep_run\"")).map(str::to_string).collect()
}

#[test]
fn a_four_task_array_of_a_command_sweep_gives_the_rows_of_a_local_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slurm) = start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = command_array_matches_local(&slurm, tmp.path(), "");
    // Every trial ran once, in one task, in its own folder under the shared results directory.
    for id in recorded_ids(&dir) {
        assert_eq!(trial_runs(&dir, &id).len(), 1, "trial {id}");
    }
}

#[test]
fn a_four_task_array_of_a_halving_command_sweep_promotes_across_tasks_as_a_local_run_does() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slurm) = start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = command_array_matches_local(&slurm, tmp.path(), "[search]\nmethod = \"halving\"\neta = 2\nmin_epochs = 1\n");
    // Rungs at 1 and 3 epochs (8 trials, then the best 4): the promoted trials resumed from their checkpoints, whichever
    // task ran them.
    let mut promoted = 0;
    for id in recorded_ids(&dir) {
        let runs = trial_runs(&dir, &id);
        assert!(runs[0].contains("\"resume\": false"), "trial {id}: {runs:?}");
        assert!(runs[1..].iter().all(|r| r.contains("\"resume\": true")), "trial {id}: {runs:?}");
        promoted += usize::from(runs.len() > 1);
    }
    assert_eq!(promoted, 4);
}

#[test]
fn a_task_warned_before_its_time_limit_requeues_itself_and_every_job_is_recorded_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slurm) = start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "slow.toml",
        "name = \"slow\"\nseed = 2\n[data]\nsource = \"toy\"\ntrain_size = 30000\n[train]\nepochs = 20\nbatch_size = 20\n\
         [grid]\nlearning_rate = [0.05, 0.1, 0.2]\nhidden_size = [16, 32, 48, 64]\n",
    );
    let (array, finish) = slurm.submit(tmp.path(), "slow.toml", "array", 4);
    let dir = tmp.path().join("array");
    let task = format!("{array}_1");

    // Wait until task 1 runs a job (its claim is there), then send the time-limit warning as Slurm would.
    let deadline = Instant::now() + Duration::from_secs(120);
    let running = |dir: &Path| {
        std::fs::read_dir(dir.join("claims")).into_iter().flatten().flatten().any(|e| {
            std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"running\"") && t.contains(&format!("slurm {array} shard 1/4")))
        })
    };
    while !running(&dir) {
        assert!(Instant::now() < deadline, "task 1 never ran a job: {:#?}", logs(&dir));
        std::thread::sleep(Duration::from_millis(20));
    }
    // scancel may answer "try again later" although the signal went through (the task is requeueing itself),
    // and then retries for a minute or two: leave it running in the background.
    let mut signal = slurm
        .cmd("scancel")
        .args(["--signal=USR1", "--batch", &task])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // It requeues itself; Slurm holds a requeued job for about two minutes: release it now.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = String::from_utf8_lossy(&slurm.run("scontrol", &["-o", "show", "job", &task]).stdout).into_owned();
        if text.contains("Restarts=1") && text.contains("JobState=PENDING") {
            let o = slurm.run("scontrol", &["update", &format!("JobId={task}"), "StartTime=now"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            break;
        }
        assert!(
            !text.contains("JobState=COMPLETED"),
            "task 1 completed without being requeued:\n{text}\n{:#?}",
            logs(&dir)
        );
        assert!(Instant::now() < deadline, "task 1 was not requeued:\n{text}\n{:#?}", logs(&dir));
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = signal.kill(); // our own child, by its pid
    let _ = signal.wait();
    slurm.wait_gone(&[&array, &finish], Duration::from_secs(300));
    let logs = logs(&dir);
    assert_eq!(slurm.states(&array), ["COMPLETED"; 4], "{logs:#?}");
    assert_eq!(slurm.states(&finish), ["COMPLETED"], "{logs:#?}");
    let log1 = &logs.iter().find(|(n, _)| n == &format!("{array}_1.log")).unwrap().1;
    assert!(log1.contains("stopped on SIGUSR1") && log1.contains("requeueing"), "{log1}");

    let ids = recorded_ids(&dir);
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "a job was recorded twice: {ids:?}");
    sweep()
        .current_dir(tmp.path())
        .args(["run", "slow.toml", "--out", "local"])
        .assert()
        .success();
    assert_eq!(rows_without_time(&dir), rows_without_time(&tmp.path().join("local")));
    assert!(best_json(&dir)["test_acc"].is_number());
}

#[test]
fn a_command_sweep_with_gpus_asks_slurm_for_them_and_each_task_uses_the_devices_of_its_allocation() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slurm) = start_with_gpus(2) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let prog = write(
        dir,
        "prog.sh",
        "#!/bin/sh\necho \"${CUDA_VISIBLE_DEVICES-unset}\" > \"$SWEEP_TRIAL_DIR/devices\"\nsleep 0.3\n\
         echo \"{\\\"epoch\\\": $SWEEP_BUDGET, \\\"acc\\\": 0.5}\" >> \"$SWEEP_METRICS\"\n",
    );
    write(
        dir,
        "g.toml",
        &format!(
            "name = \"gpu\"\n[command]\nrun = [\"sh\", {:?}]\nmetric = \"acc\"\ngpus = 1\n[train]\nepochs = 1\n\
             [grid]\nx = [1, 2, 3, 4]\n",
            prog.display().to_string()
        ),
    );
    // The script asks one device per task, and the local slurmctld takes it; three per task, more than the node
    // has, it refuses.
    for (per_task, accepted) in [("1", true), ("3", false)] {
        let o = sweep()
            .current_dir(dir)
            .args(["slurm", "g.toml", "--tasks", "2", "--out", "array", "--gpus-per-task", per_task])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(script.contains(&format!("\n#SBATCH --gres=gpu:{per_task}\n")), "{script}");
        let path = write(dir, "array.sbatch", &script);
        let t = slurm.run("sbatch", &["--test-only", path.to_str().unwrap()]);
        assert_eq!(
            t.status.success(),
            accepted,
            "gres=gpu:{per_task}: {}",
            String::from_utf8_lossy(&t.stderr)
        );
    }
    let (array, finish) = slurm.submit(dir, "g.toml", "array", 2);
    slurm.wait_gone(&[&array, &finish], Duration::from_secs(300));
    let out = dir.join("array");
    let logs = logs(&out);
    assert_eq!(slurm.states(&array), ["COMPLETED"; 2], "{logs:#?}");
    assert_eq!(recorded_ids(&out).len(), 4, "{logs:#?}");
    // Each task got one device from Slurm (CUDA_VISIBLE_DEVICES) and gave it to its trials, one at a time.
    for id in recorded_ids(&out) {
        let seen = std::fs::read_to_string(out.join("trials").join(&id).join("devices")).unwrap();
        let runs = trial_runs(&out, &id);
        assert!(["0", "1"].contains(&seen.trim()), "trial {id} saw {seen:?}; {logs:#?}");
        assert!(runs[0].contains(&format!("\"gpus\": \"{}\"", seen.trim())), "{runs:?}");
    }
}
