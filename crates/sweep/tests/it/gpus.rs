//! GPUs for command trials (issue 36) through the real binary, with fake device lists (`--gpus`,
//! `CUDA_VISIBLE_DEVICES`, a fake `nvidia-smi`): no GPU is needed. Each trial's program is a small `sh` script that
//! appends `start <CUDA_VISIBLE_DEVICES> <time>` and `end ...` lines to a log shared by the sweep's trials and
//! sleeps in between; from those timestamps the tests check that no device is held by more trials at one moment
//! than `gpus` allows, that devices come back after a failure, a kill or a timeout, and after sweep itself is
//! SIGKILLed and run again. The refusals (too many devices asked, none found, `--gpus` without `gpus`), `sweep
//! plan`'s device plan, and the Slurm and Kubernetes requests are checked too (the Slurm script against the local
//! slurmctld in slurm.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use sweep_results::format::JobStatus;

use crate::common;
use common::{read_results, sweep, write};

/// The trial program: logs its devices and the time at its start and end to `$GPU_LOG`, sleeps `--sleep` seconds
/// (or does what `--mode` says: `hang`, `fail`, `kill` itself), then reports its budget's epoch.
const PROGRAM: &str = r#"#!/bin/sh
sleep_s=1; mode=ok
for a in "$@"; do
  case "$a" in
    --sleep=*) sleep_s="${a#--sleep=}" ;;
    --mode=*) mode="${a#--mode=}" ;;
  esac
done
echo "start $SWEEP_TRIAL_ID ${CUDA_VISIBLE_DEVICES-unset} ${SWEEP_GPUS-unset} $(date +%s.%N)" >> "$GPU_LOG"
case "$mode" in
  hang) sleep 100 ;;
  fail) echo "{\"epoch\": 0.5, \"acc\": 0.1}" >> "$SWEEP_METRICS"; exit 3 ;;
  kill) kill -9 $$ ;;
esac
sleep "$sleep_s"
echo "end $SWEEP_TRIAL_ID ${CUDA_VISIBLE_DEVICES-unset} ${SWEEP_GPUS-unset} $(date +%s.%N)" >> "$GPU_LOG"
echo "{\"epoch\": $SWEEP_BUDGET, \"acc\": 0.5}" >> "$SWEEP_METRICS"
"#;

/// A folder with the program and a grid `g.toml` whose `[command]` has `extra` (e.g. `gpus = 1`) at line 4 and
/// whose `[grid]` is `axes`.
fn setup(dir: &Path, extra: &str, axes: &str) {
    write(dir, "prog.sh", PROGRAM);
    write(
        dir,
        "g.toml",
        &format!(
            "name = \"gpus\"\n[command]\nrun = [\"sh\", \"prog.sh\"]\n{extra}\nmetric = \"acc\"\n[train]\nepochs = 1\n\
             [grid]\n{axes}\n"
        ),
    );
}

/// `sweep <args>` in `dir` with the trial log at `dir/gpu.log`, no device in the environment and no `nvidia-smi`
/// unless `env` says otherwise.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sweep();
    cmd.current_dir(dir)
        .args(args)
        .env("GPU_LOG", dir.join("gpu.log"))
        .env_remove("CUDA_VISIBLE_DEVICES")
        .env_remove("HIP_VISIBLE_DEVICES")
        .env("SWEEP_NVIDIA_SMI", "")
        .timeout(Duration::from_secs(180));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let o = run(dir, args, env);
    assert!(o.status.success(), "sweep {args:?} failed ({:?}):\n{}", o.status, text(&o));
    text(&o)
}

/// One run of a trial's program as its log says: its trial, devices, `SWEEP_GPUS`, start and end (none when it was
/// killed, hung or failed before its end line).
#[derive(Debug, Clone)]
struct Span {
    trial: String,
    devices: String,
    sweep_gpus: String,
    start: f64,
    end: Option<f64>,
}

fn spans(log: &Path) -> Vec<Span> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<Span> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "{line}");
        let t: f64 = f[4].parse().unwrap();
        match f[0] {
            "start" => out.push(Span {
                trial: f[1].into(),
                devices: f[2].into(),
                sweep_gpus: f[3].into(),
                start: t,
                end: None,
            }),
            "end" => {
                let s = out
                    .iter_mut()
                    .rfind(|s| s.trial == f[1] && s.end.is_none())
                    .unwrap_or_else(|| panic!("an end without a start: {line}"));
                assert_eq!(s.devices, f[2], "{line}");
                s.end = Some(t);
            }
            other => panic!("{other}: {line}"),
        }
    }
    out
}

/// The most runs holding each device at one moment, and the most runs at one moment, over runs with both ends
/// (each run holds every device of its `CUDA_VISIBLE_DEVICES`).
fn peaks(spans: &[Span]) -> (BTreeMap<String, usize>, usize) {
    let done: Vec<&Span> = spans.iter().filter(|s| s.end.is_some()).collect();
    let mut per_device: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = 0;
    for s in &done {
        // At the moment `s` starts, the runs that started no later and have not ended.
        let at = s.start;
        let live: Vec<&&Span> = done.iter().filter(|o| o.start <= at && o.end.unwrap() > at).collect();
        all = usize::max(all, live.len());
        for d in s.devices.split(',') {
            let n = live.iter().filter(|o| o.devices.split(',').any(|x| x == d)).count();
            let e = per_device.entry(d.to_string()).or_default();
            *e = usize::max(*e, n);
        }
    }
    (per_device, all)
}

fn trial_dirs(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out.join("trials")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn eight_trials_on_four_fake_gpus_never_share_a_device_and_each_run_records_its_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 1", "x = [1, 2, 3, 4, 5, 6, 7, 8]");
    // The devices from CUDA_VISIBLE_DEVICES, as inside a Slurm allocation; --workers 8 is capped at the 4 devices.
    let log = ok(
        dir,
        &["run", "g.toml", "--out", "out", "--workers", "8"],
        &[("CUDA_VISIBLE_DEVICES", "0,1,2,3")],
    );
    assert!(log.contains("GPUs: 4 GPUs (CUDA_VISIBLE_DEVICES=0,1,2,3)"), "{log}");
    let out = dir.join("out");
    let rows = read_results(&out);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r.status == JobStatus::Completed), "{rows:?}");
    let spans = spans(&dir.join("gpu.log"));
    assert_eq!(spans.len(), 8, "{spans:?}");
    for s in &spans {
        assert!(
            ["0", "1", "2", "3"].contains(&s.devices.as_str()),
            "one device of the four each: {s:?}"
        );
        assert_eq!(s.sweep_gpus, s.devices, "SWEEP_GPUS is CUDA_VISIBLE_DEVICES: {s:?}");
    }
    let (per_device, all) = peaks(&spans);
    assert!(
        per_device.values().all(|&n| n == 1),
        "a device held by two trials at once: {per_device:?}\n{spans:?}"
    );
    assert!(all <= 4, "more trials at once than devices: {all}");
    assert!(all >= 2, "the devices were not used in parallel: {spans:?}");
    // Each trial's folder records the devices of its run: the run's line in records.jsonl and the logs' banner.
    for t in trial_dirs(&out) {
        let id = t.file_name().unwrap().to_string_lossy().to_string();
        let devices = &spans.iter().find(|s| s.trial == id).unwrap().devices;
        let records = std::fs::read_to_string(t.join("records.jsonl")).unwrap();
        let header: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
        assert_eq!(header["gpus"], devices.as_str(), "{records}");
        let stderr = std::fs::read_to_string(t.join("stderr.log")).unwrap();
        assert!(stderr.contains(&format!(", on GPUs {devices},")), "{stderr}");
    }
}

#[test]
fn two_gpus_per_trial_get_disjoint_pairs_and_the_flag_overrides_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 2", "x = [1, 2, 3, 4]");
    // --gpus wins over CUDA_VISIBLE_DEVICES; 5 devices give 2 trials of 2 at once.
    let log = ok(
        dir,
        &["run", "g.toml", "--out", "out", "--gpus", "0,1,3,5,7"],
        &[("CUDA_VISIBLE_DEVICES", "9")],
    );
    assert!(log.contains("GPUs: 5 GPUs (--gpus 0,1,3,5,7)"), "{log}");
    let spans = spans(&dir.join("gpu.log"));
    assert_eq!(spans.len(), 4);
    for s in &spans {
        assert!(["0,1", "3,5"].contains(&s.devices.as_str()), "two whole devices each: {s:?}");
    }
    let (per_device, all) = peaks(&spans);
    assert!(per_device.values().all(|&n| n == 1), "{per_device:?}\n{spans:?}");
    assert!(all <= 2, "{spans:?}");
}

#[test]
fn half_a_gpu_packs_two_trials_to_a_device() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 0.5", "x = [1, 2, 3, 4, 5, 6, 7, 8]\nsleep = [1.5]");
    ok(dir, &["run", "g.toml", "--out", "out", "--gpus", "0,1"], &[]);
    let spans = spans(&dir.join("gpu.log"));
    assert_eq!(spans.len(), 8);
    assert!(spans.iter().all(|s| s.devices == "0" || s.devices == "1"), "{spans:?}");
    let (per_device, all) = peaks(&spans);
    assert!(
        per_device.values().all(|&n| n <= 2),
        "three trials on a device: {per_device:?}\n{spans:?}"
    );
    assert!(
        per_device.values().any(|&n| n == 2),
        "no device ever held two trials: {per_device:?}\n{spans:?}"
    );
    assert!(all <= 4, "{spans:?}");
}

#[test]
fn a_failed_a_killed_and_a_timed_out_run_each_give_their_device_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // One device: every trial needs the one before it to have given it back, or the sweep never ends.
    setup(
        dir,
        "gpus = 1\ntimeout_s = 1\ngrace_s = 0.2",
        "mode = [\"hang\", \"fail\", \"kill\", \"ok\"]\nrepeat = [1, 2]\nsleep = [0.2]",
    );
    let started = std::time::Instant::now();
    ok(dir, &["run", "g.toml", "--out", "out", "--gpus", "7", "--workers", "3"], &[]);
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    let rows = read_results(&dir.join("out"));
    assert_eq!(rows.len(), 8);
    let mut notes: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r.status.as_str(),
                r.trial.as_ref().unwrap().note.clone().unwrap_or_default()
            )
        })
        .collect();
    notes.sort();
    assert_eq!(notes.iter().filter(|n| n.starts_with("completed")).count(), 2, "{notes:?}");
    assert_eq!(notes.iter().filter(|n| n.contains("timed out")).count(), 2, "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("timed out after 1 s")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("exited with code 3")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("killed by SIGKILL")), "{notes:?}");
    // One at a time on device 7 (the one device allows one trial at once, whatever --workers says). Had a run that
    // failed, was killed or timed out kept its lease, the next trial would wait for it forever.
    let spans = spans(&dir.join("gpu.log"));
    assert_eq!(spans.len(), 8);
    assert!(spans.iter().all(|s| s.devices == "7"), "{spans:?}");
    let (_, all) = peaks(&spans);
    assert_eq!(all, 1, "{spans:?}");
}

#[test]
fn a_sweep_killed_with_sigkill_and_run_again_reassigns_the_devices_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 1", "x = [1, 2, 3, 4, 5, 6]\nsleep = [1.5]");
    let out = dir.join("out");
    let log = dir.join("gpu.log");
    let args = ["run", "g.toml", "--out", "out", "--gpus", "0,1"];
    let mut child = {
        // (common::spawn_sweep sets no environment)
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"));
        c.current_dir(dir)
            .args(args)
            .env("GPU_LOG", &log)
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env("SWEEP_NVIDIA_SMI", "")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    // Both devices busy: two runs started, none ended (counted from whole lines only: the log is being written).
    let started = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        (whole.matches("start ").count(), whole.matches("end ").count())
    };
    assert!(
        common::wait_until(&mut child, || started() == (2, 0)),
        "the sweep ended before two runs started"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let trial_dirs_env = format!("SWEEP_TRIAL_DIR={}", out.canonicalize().unwrap().join("trials").display());
    let left = common::wait_until_no_process_with_env(&trial_dirs_env, Duration::from_secs(10));
    assert_eq!(left, [], "trials outlived the SIGKILLed sweep");
    let killed = spans(&log).len();
    ok(dir, &args, &[]);
    let rows = read_results(&out);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.status == JobStatus::Completed), "{rows:?}");
    let all = spans(&log);
    let rerun = &all[killed..];
    // Every trial ran to its end once; the rerun gave the devices out afresh, never one to two runs at once.
    assert_eq!(all.iter().filter(|s| s.end.is_some()).count(), 6, "{all:?}");
    assert!(
        rerun.iter().all(|s| s.end.is_some() && (s.devices == "0" || s.devices == "1")),
        "{rerun:?}"
    );
    let (per_device, _) = peaks(rerun);
    assert!(per_device.values().all(|&n| n == 1), "{per_device:?}\n{rerun:?}");
    assert_eq!(per_device.len(), 2, "both devices used again: {rerun:?}");
}

#[test]
fn a_trial_asking_more_devices_than_exist_or_none_found_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 4", "x = [1, 2]");
    let o = run(dir, &["run", "g.toml", "--out", "out", "--gpus", "0,1"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "g.toml:4:8: command.gpus: each trial asks for 4 GPUs, but only 2 GPUs (--gpus 0,1) are available: lower \
             `gpus`"
        ),
        "{}",
        text(&o)
    );
    assert!(!dir.join("out").exists(), "nothing is written before the refusal");
    assert!(!dir.join("gpu.log").exists(), "no trial started");

    setup(dir, "gpus = 1", "x = [1, 2]");
    // Nothing in the environment and no nvidia-smi: an error with the fix, never a run on the CPU.
    let o = run(dir, &["run", "g.toml", "--out", "out"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("g.toml:4:8: command.gpus: each trial asks for 1 GPU, but no GPU"), "{t}");
    assert!(t.contains("--gpus 0,1") && t.contains("CUDA_VISIBLE_DEVICES"), "{t}");
    // CUDA_VISIBLE_DEVICES set but empty hides every device: the same refusal.
    let o = run(dir, &["run", "g.toml", "--out", "out"], &[("CUDA_VISIBLE_DEVICES", "")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("command.gpus: each trial asks for 1 GPU, but no GPU"),
        "{}",
        text(&o)
    );
    assert!(!dir.join("out").exists() && !dir.join("gpu.log").exists());
    // A device list that cannot be read names the flag.
    let o = run(dir, &["run", "g.toml", "--gpus", "0,,1"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--gpus: \"0,,1\" has an empty entry"), "{}", text(&o));

    // --gpus for a grid that gives no trial a device is a mistake too.
    setup(dir, "", "x = [1, 2]");
    let o = run(dir, &["run", "g.toml", "--gpus", "0"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--gpus 0: g.toml gives no trial a device"), "{}", text(&o));
    // Without `gpus`, trials see what sweep sees, as before.
    ok(dir, &["run", "g.toml", "--out", "plain"], &[("CUDA_VISIBLE_DEVICES", "0,1")]);
    assert!(spans(&dir.join("gpu.log"))
        .iter()
        .all(|s| s.devices == "0,1" && s.sweep_gpus == "unset"));
}

#[test]
fn plan_shows_the_device_plan_from_nvidia_smi_or_the_flag_and_why_run_would_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 0.5", "x = [1, 2, 3, 4, 5, 6, 7, 8]");
    let smi = write(
        dir,
        "nvidia-smi",
        "#!/bin/sh\n[ \"$1\" = -L ] || exit 9\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)'\n\
         echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)'\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let smi = smi.display().to_string();
    let plan = ok(dir, &["plan", "g.toml"], &[("SWEEP_NVIDIA_SMI", &smi)]);
    assert!(
        plan.contains(
            "GPUs: 2 GPUs (nvidia-smi -L: 0,1); each trial gets 0.5 of a GPU in its own CUDA_VISIBLE_DEVICES, 2 \
             trials sharing each device: 4 trials at a time ([0] [1] [0] [1])."
        ),
        "{plan}"
    );
    assert!(
        plan.contains("8 trials over 1 axes (x); 8 epochs in all, 4 trials at a time."),
        "{plan}"
    );
    let plan = ok(dir, &["plan", "g.toml", "--gpus", "3", "--workers", "1"], &[]);
    assert!(
        plan.contains("GPUs: 1 GPU (--gpus 3);") && plan.contains(": 1 trial at a time ([3])."),
        "{plan}"
    );
    // None here (a login node): the plan says why `run` would refuse, and is still shown.
    let plan = ok(dir, &["plan", "g.toml"], &[]);
    assert!(
        plan.contains("GPUs: `sweep run` refuses to start here: g.toml:4:8: command.gpus: each trial asks"),
        "{plan}"
    );
}

#[test]
fn slurm_and_kubernetes_request_the_devices_per_task() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, "gpus = 2", "x = [1, 2, 3, 4]");
    let script = ok(dir, &["slurm", "g.toml", "--tasks", "2"], &[]);
    assert!(script.contains("\n#SBATCH --gres=gpu:2\n"), "{script}");
    let more = ok(dir, &["slurm", "g.toml", "--tasks", "2", "--gpus-per-task", "4"], &[]);
    assert!(more.contains("\n#SBATCH --gres=gpu:4\n"), "{more}");
    let o = run(dir, &["slurm", "g.toml", "--tasks", "2", "--gpus-per-task", "1"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("--gpus-per-task 1: each trial asks for 2 GPUs (g.toml:4:8: command.gpus)"),
        "{}",
        text(&o)
    );
    let k8s = |extra: &[&str]| -> serde_yaml::Value {
        let mut args = vec!["k8s", "g.toml", "--tasks", "2", "--image", "img", "--pvc", "claim"];
        args.extend(extra);
        let o = run(dir, &args, &[]);
        assert!(o.status.success(), "{}", text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        let docs: Vec<&str> = stdout.split("\n---\n").collect();
        serde_yaml::from_str(docs[1].trim_start_matches("---\n")).unwrap()
    };
    let job = k8s(&[]);
    let limits = &job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert_eq!(limits["nvidia.com/gpu"].as_str(), Some("2"), "{job:?}");
    let job = k8s(&["--gpus-per-pod", "8", "--cpu", "4"]);
    let limits = &job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert_eq!(limits["nvidia.com/gpu"].as_str(), Some("8"), "{job:?}");
    // Without `gpus`, no request, and the flags are refused.
    setup(dir, "", "x = [1, 2]");
    let plain = ok(dir, &["slurm", "g.toml", "--tasks", "2"], &[]);
    assert!(!plain.contains("gres"), "{plain}");
    let o = run(dir, &["slurm", "g.toml", "--tasks", "2", "--gpus-per-task", "1"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
