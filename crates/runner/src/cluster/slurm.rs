//! Slurm job arrays: the sbatch script that runs a sweep as N array tasks (one shard each), the script of the
//! final job that evaluates the overall best once every task has succeeded, and [`submit`].
//!
//! Everything but [`submit`] is text generation, so it can be shown (`sweep slurm` without `--submit`) and tested
//! without Slurm.
//! Conventions follow submitit's: one log per array task (`%A_%a`), `--signal=B:USR1@<s>` for the time-limit
//! warning, `--requeue`, and the process that must receive the signal started with `exec` (see
//! [`sbatch_script`]). Tested by hand against a single-node Slurm 22.05 (`scripts/slurm-local.sh`):
//! `scancel --signal=USR1 --batch <job>` reaches the batch shell (and a process it `exec`ed) within ~30 ms;
//! a requeued task starts again only after about two minutes (Slurm holds requeued jobs with a begin time).

pub use crate::error::SubmitError;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// How to submit the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOptions {
    /// Array tasks = shards (N): `--array=0-(N-1)`.
    pub tasks: usize,
    /// At most this many tasks at once (`%M`); all of them when `None`.
    pub max_running: Option<usize>,
    /// `--job-name`; the finishing job gets `-finish` appended.
    pub job_name: String,
    pub partition: Option<String>,
    /// `--time` per task, in Slurm's syntax (`MM`, `HH:MM:SS`, `D-HH`, …).
    pub time: Option<String>,
    /// `--cpus-per-task`; also the number of workers each task runs.
    pub cpus_per_task: usize,
    /// `--mem` per task (e.g. `8G`), when given.
    pub mem: Option<String>,
    /// GPUs per array task (`--gres=gpu:N`), for a command sweep whose trials get devices; the finishing job gets
    /// none.
    pub gpus: Option<usize>,
    /// Seconds before the time limit at which Slurm sends USR1 to the batch shell (default 120).
    pub signal_seconds_before: u32,
    /// `--account`, `--qos`, … as `key=value` or bare flags; each becomes one `#SBATCH --<extra>` line.
    pub extra: Vec<String>,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions {
            tasks: 1,
            max_running: None,
            job_name: "sweep".into(),
            partition: None,
            time: None,
            cpus_per_task: 1,
            mem: None,
            gpus: None,
            signal_seconds_before: 120,
            extra: Vec::new(),
        }
    }
}

/// Quotes `s` for a POSIX shell when it needs it (single quotes; `'` as `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn path_arg(p: &Path) -> String {
    shell_quote(&p.display().to_string())
}

/// `#SBATCH` values cannot be quoted (sbatch reads them up to the end of the line, no shell involved): keep
/// them on one line.
fn directive_value(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn common_directives(s: &mut String, opts: &SlurmOptions, job_name: &str, log: &str) {
    let _ = writeln!(s, "#SBATCH --job-name={}", directive_value(job_name));
    let _ = writeln!(s, "#SBATCH --output={}", directive_value(log));
    if let Some(p) = &opts.partition {
        let _ = writeln!(s, "#SBATCH --partition={}", directive_value(p));
    }
    for e in &opts.extra {
        let e = e.trim_start_matches('-');
        let _ = writeln!(s, "#SBATCH --{}", directive_value(e));
    }
}

/// One task, its CPUs, and the time and memory limits when given.
fn resource_directives(s: &mut String, opts: &SlurmOptions) {
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", opts.cpus_per_task.max(1));
    if let Some(t) = &opts.time {
        let _ = writeln!(s, "#SBATCH --time={}", directive_value(t));
    }
    if let Some(m) = &opts.mem {
        let _ = writeln!(s, "#SBATCH --mem={}", directive_value(m));
    }
}

/// The sbatch script of the array: task `i` runs shard `i/N` of the sweep with `--cpus-per-task` workers, its log
/// in `<out>/slurm/<array job id>_<task>.log`.
///
/// `sweep_exe`, `grid` and `out` should be absolute (tasks start in the submission directory, but on other nodes);
/// `data` is passed as `--data` when given. `<out>/slurm` must exist before submission (Slurm does not create the
/// log directory; a task whose log cannot be opened fails without a trace).
pub fn sbatch_script(opts: &SlurmOptions, sweep_exe: &Path, grid: &Path, out: &Path, data: Option<&Path>) -> String {
    let n = opts.tasks.max(1);
    let mut s = String::from("#!/bin/bash\n");
    let array = match opts.max_running {
        Some(m) => format!("0-{}%{}", n - 1, m.max(1)),
        None => format!("0-{}", n - 1),
    };
    let _ = writeln!(s, "#SBATCH --array={array}");
    let log = format!("{}/slurm/%A_%a.log", out.display());
    common_directives(&mut s, opts, &opts.job_name, &log);
    resource_directives(&mut s, opts);
    if let Some(g) = opts.gpus {
        // Per node, and a task is one node: Slurm sets the task's CUDA_VISIBLE_DEVICES, which its `sweep run` splits
        // among the trials it runs at once.
        let _ = writeln!(s, "#SBATCH --gres=gpu:{g}");
    }
    let _ = writeln!(s, "#SBATCH --signal=B:USR1@{}", opts.signal_seconds_before);
    let _ = writeln!(s, "#SBATCH --requeue");
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    s.push_str(&format!(
        "\n# Generated by `sweep`: shard $SLURM_ARRAY_TASK_ID of {n} of the sweep {grid}.\n\
         #\n\
         # Tasks are shards 0..{last}; the count is fixed here so that resubmitting only some tasks\n\
         # (sbatch --array=3,7 this-script) keeps each task's shard.\n\
         export SWEEP_SHARD_COUNT={n}\n\
         \n\
         # `exec`: --signal=B:USR1 signals only the batch shell, not its children, and a shell running a\n\
         # foreground command does not run traps until that command ends. Replacing the shell by sweep (same\n\
         # pid) makes sweep receive USR1 {secs} s before the time limit: it stops its running jobs at the next\n\
         # step, leaves them unrecorded, requeues the task (scontrol requeue) and exits; the requeued task\n\
         # resumes from results.csv. A requeued task of the same shard takes back its own claims at once.\n\
         exec {exe} run {grid} --out {out_q}{data_arg} --shard auto --workers \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"\n",
        grid = path_arg(grid),
        last = n - 1,
        secs = opts.signal_seconds_before,
        exe = path_arg(sweep_exe),
        out_q = path_arg(out),
        data_arg = data.map_or(String::new(), |d| format!(" --data {}", path_arg(d))),
        cpus = opts.cpus_per_task.max(1),
    ));
    s
}

/// The sbatch script of the job that runs once every array task succeeded (submit it with
/// `--dependency=afterok:<array id>`, written here as a directive): `sweep finish <out>` evaluates the overall
/// best on the test split and writes the report.
pub fn finish_script(opts: &SlurmOptions, array_job_id: &str, sweep_exe: &Path, out: &Path, data: Option<&Path>) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let log = format!("{}/slurm/%j-finish.log", out.display());
    common_directives(&mut s, opts, &format!("{}-finish", opts.job_name), &log);
    let _ = writeln!(s, "#SBATCH --dependency=afterok:{}", directive_value(array_job_id));
    // Without it a failed task would leave this job pending forever (DependencyNeverSatisfied).
    let _ = writeln!(s, "#SBATCH --kill-on-invalid-dep=yes");
    resource_directives(&mut s, opts);
    s.push_str(&format!(
        "\n# Generated by `sweep`: runs after every task of array job {array_job_id} succeeded.\n\
         exec {exe} finish {out_q}{data_arg}\n",
        exe = path_arg(sweep_exe),
        out_q = path_arg(out),
        data_arg = data.map_or(String::new(), |d| format!(" --data {}", path_arg(d))),
    ));
    s
}

/// Submits a script with `sbatch --parsable` (script on stdin) and returns the job id (for an array, the array's
/// job id; a `;cluster` suffix is dropped).
pub fn submit(script: &str) -> Result<String, SubmitError> {
    submit_with(Command::new("sbatch").arg("--parsable"), script)
}

/// [`submit`] with a given command (e.g. `sbatch` at another path, or extra flags).
pub fn submit_with(cmd: &mut Command, script: &str) -> Result<String, SubmitError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(SubmitError::Spawn)?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let write = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(SubmitError::Spawn)?;
    if !out.status.success() {
        return Err(SubmitError::Failed {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    write.map_err(SubmitError::Spawn)?;
    parse_job_id(&String::from_utf8_lossy(&out.stdout))
}

/// The job id in `sbatch --parsable` output (`<id>` or `<id>;<cluster>`).
pub fn parse_job_id(stdout: &str) -> Result<String, SubmitError> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or_default();
    let id = line.split(';').next().unwrap_or_default().trim();
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(SubmitError::NoJobId(stdout.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn directives(script: &str) -> Vec<&str> {
        script.lines().filter_map(|l| l.strip_prefix("#SBATCH ")).collect()
    }

    fn opts() -> SlurmOptions {
        SlurmOptions {
            tasks: 8,
            max_running: Some(3),
            job_name: "cifar".into(),
            partition: Some("gpu".into()),
            time: Some("02:00:00".into()),
            cpus_per_task: 4,
            mem: Some("8G".into()),
            gpus: None,
            signal_seconds_before: 90,
            extra: vec!["account=ml".into(), "--qos=long".into()],
        }
    }

    #[test]
    fn array_script_has_every_directive() {
        let s = sbatch_script(
            &opts(),
            Path::new("/opt/bin/sweep"),
            Path::new("/home/u/cifar.toml"),
            Path::new("/scratch/results/cifar"),
            Some(Path::new("/data/cifar-10-batches-bin")),
        );
        assert!(s.starts_with("#!/bin/bash\n"));
        let d = directives(&s);
        for want in [
            "--array=0-7%3",
            "--job-name=cifar",
            "--output=/scratch/results/cifar/slurm/%A_%a.log",
            "--partition=gpu",
            "--account=ml",
            "--qos=long",
            "--ntasks=1",
            "--cpus-per-task=4",
            "--time=02:00:00",
            "--mem=8G",
            "--signal=B:USR1@90",
            "--requeue",
        ] {
            assert!(d.contains(&want), "missing #SBATCH {want} in\n{s}");
        }
        // sbatch stops reading directives at the first command.
        let first_cmd = s.lines().position(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
        assert!(s.lines().skip(first_cmd).all(|l| !l.starts_with("#SBATCH")));
        assert!(s.contains("\nexport SWEEP_SHARD_COUNT=8\n"), "{s}");
        let exec = s.lines().find(|l| l.starts_with("exec ")).unwrap();
        assert_eq!(
            exec,
            "exec /opt/bin/sweep run /home/u/cifar.toml --out /scratch/results/cifar --data /data/cifar-10-batches-bin \
             --shard auto --workers \"${SLURM_CPUS_PER_TASK:-4}\""
        );
    }

    #[test]
    fn array_script_defaults() {
        let o = SlurmOptions {
            tasks: 4,
            ..SlurmOptions::default()
        };
        let s = sbatch_script(&o, Path::new("sweep"), Path::new("g.toml"), Path::new("out"), None);
        let d = directives(&s);
        assert!(d.contains(&"--array=0-3"), "no %M without max_running:\n{s}");
        assert!(d.contains(&"--signal=B:USR1@120"));
        assert!(d.contains(&"--cpus-per-task=1"));
        assert!(!d
            .iter()
            .any(|l| l.starts_with("--partition") || l.starts_with("--time") || l.starts_with("--mem")));
        assert!(s.contains("exec sweep run g.toml --out out --shard auto"), "{s}");
    }

    #[test]
    fn paths_with_spaces_and_quotes_are_quoted() {
        let s = sbatch_script(
            &SlurmOptions::default(),
            Path::new("/opt/my tools/sweep"),
            Path::new("/home/o'brien/grid.toml"),
            Path::new("/r"),
            None,
        );
        assert!(
            s.contains("exec '/opt/my tools/sweep' run '/home/o'\\''brien/grid.toml' --out /r"),
            "{s}"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a$b"), "'a$b'");
        assert_eq!(shell_quote("plain/path-1.toml"), "plain/path-1.toml");
    }

    #[test]
    fn finish_script_depends_on_the_array() {
        let out = PathBuf::from("/scratch/results/cifar");
        let s = finish_script(&opts(), "4242", Path::new("/opt/bin/sweep"), &out, Some(Path::new("/data/c")));
        let d = directives(&s);
        for want in [
            "--dependency=afterok:4242",
            "--kill-on-invalid-dep=yes",
            "--job-name=cifar-finish",
            "--output=/scratch/results/cifar/slurm/%j-finish.log",
            "--partition=gpu",
            "--time=02:00:00",
        ] {
            assert!(d.contains(&want), "missing #SBATCH {want} in\n{s}");
        }
        assert!(!d
            .iter()
            .any(|l| l.starts_with("--array") || l.starts_with("--signal") || l.starts_with("--requeue")));
        assert!(
            s.contains("\nexec /opt/bin/sweep finish /scratch/results/cifar --data /data/c\n"),
            "{s}"
        );
    }

    fn wait_gone(job: &str) {
        let start = std::time::Instant::now();
        loop {
            let out = Command::new("squeue").args(["-h", "-j", job]).output().unwrap();
            if out.stdout.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            assert!(start.elapsed().as_secs() < 120, "job {job} still queued after 120 s");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// Submits the generated scripts to a real Slurm, with a stand-in `sweep` that prints what it got. Opt-in:
    /// `eval "$(scripts/slurm-local.sh start /tmp/slurm)"; SWEEP_TEST_SLURM=1 cargo test -p sweep slurm::`.
    #[cfg(unix)]
    #[test]
    fn generated_scripts_run_on_slurm() {
        if std::env::var_os("SWEEP_TEST_SLURM").is_none() {
            eprintln!("skipped: set SWEEP_TEST_SLURM=1 with a Slurm running (scripts/slurm-local.sh)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let exe = root.join("fake sweep");
        std::fs::write(
            &exe,
            "#!/bin/sh\necho \"argv: $*\"\necho \"shard $SLURM_ARRAY_TASK_ID of $SWEEP_SHARD_COUNT\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = root.join("results");
        std::fs::create_dir_all(out.join("slurm")).unwrap();
        let o = SlurmOptions {
            tasks: 3,
            max_running: Some(2),
            job_name: "sweep-test".into(),
            time: Some("5".into()),
            signal_seconds_before: 60,
            ..SlurmOptions::default()
        };
        let array = submit(&sbatch_script(&o, &exe, Path::new("/g.toml"), &out, None)).unwrap();
        let finish = submit(&finish_script(&o, &array, &exe, &out, None)).unwrap();
        wait_gone(&array);
        wait_gone(&finish);
        for task in 0..3 {
            let log = std::fs::read_to_string(out.join("slurm").join(format!("{array}_{task}.log"))).unwrap();
            assert!(log.contains(&format!("shard {task} of 3")), "{log}");
            assert!(
                log.contains(&format!("argv: run /g.toml --out {} --shard auto --workers 1", out.display())),
                "{log}"
            );
        }
        let log = std::fs::read_to_string(out.join("slurm").join(format!("{finish}-finish.log"))).unwrap();
        assert!(log.contains(&format!("argv: finish {}", out.display())), "{log}");
    }

    #[test]
    fn job_ids_from_parsable_output() {
        assert_eq!(parse_job_id("1234\n").unwrap(), "1234");
        assert_eq!(parse_job_id("1234;cluster\n").unwrap(), "1234");
        assert!(matches!(parse_job_id("sbatch: error"), Err(SubmitError::NoJobId(_))));
        assert!(matches!(parse_job_id(""), Err(SubmitError::NoJobId(_))));
    }

    #[test]
    fn submit_reports_a_missing_sbatch_and_reads_the_id() {
        let e = submit_with(&mut Command::new("/nonexistent/sbatch"), "#!/bin/bash\n").unwrap_err();
        assert!(e.to_string().contains("cannot run sbatch"), "{e}");
        // A stand-in sbatch that echoes a job id after reading the script.
        let mut fake = Command::new("sh");
        fake.args(["-c", "cat >/dev/null; echo '77;c1'"]);
        assert_eq!(submit_with(&mut fake, "#!/bin/bash\n").unwrap(), "77");
        let mut failing = Command::new("sh");
        failing.args(["-c", "cat >/dev/null; echo 'sbatch: error: invalid partition' >&2; exit 1"]);
        let e = submit_with(&mut failing, "x").unwrap_err();
        assert!(e.to_string().contains("invalid partition"), "{e}");
    }
}
