//! The shepherd: a small process (`sweep __shepherd -- PROGRAM ARGS...`) that leads each run's process group, so that
//! nothing a program starts outlives the run, nor sweep.
//!
//! sweep starts the shepherd in a new process group (its pid is the group's id) with one end of a Unix socket, the
//! *lifeline*, as its standard input, and the run's stdout and stderr pipes as its own. The shepherd ignores the
//! termination signals, starts the program in its group (with `PR_SET_PDEATHSIG = SIGKILL` against the shepherd,
//! which is single-threaded, so the "parent thread exited" caveat cannot fire early), says `started PID` on the
//! lifeline, and waits for one of two things:
//!
//! * **the program exits**: the shepherd writes its status (`exited CODE`, `signaled SIG CORE`) on the lifeline and
//!   sends SIGKILL to its whole group, itself included: whatever the program left running in its group dies with it;
//! * **the lifeline reads end-of-file**: sweep is gone (the kernel closes a process's sockets however it dies, SIGKILL
//!   included), so the shepherd sends SIGKILL to the group at once. No process of the run survives sweep.
//!
//! sweep stops a run by signalling the group itself (`killpg`: SIGTERM, then SIGKILL after the grace), which is
//! race-free because sweep reaps the shepherd only at the very end: until then the group id is the pid of a live or
//! zombie process and cannot be reused. Before reaping, sweep sends the group SIGKILL once more, which also covers a
//! shepherd killed from outside (its program then dies of its death signal, and the rest of the group of that
//! SIGKILL).
//!
//! What it cannot catch: a descendant that leaves the process group on purpose (`setsid`, `setpgid`: a daemon), and
//! the case where the shepherd and sweep are both SIGKILLed at once (the program still dies of its death signal; its
//! own children then live on). Only a cgroup or a PID namespace contains those, and neither is available to an
//! unprivileged process everywhere sweep runs.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{getpgrp, getpid, getppid, pipe2, setpgid, Pid};

/// The hidden command of the `sweep` binary that runs [`shepherd_main`].
pub const SHEPHERD_COMMAND: &str = "__shepherd";

/// How to start the shepherd process: a program (the `sweep` binary) and the arguments that make it one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shepherd {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Shepherd {
    /// The running executable's `__shepherd` command: right when the caller is the `sweep` binary. On Linux this is
    /// `/proc/self/exe`, which starts the very binary that is running even if it has been rebuilt or deleted since
    /// (elsewhere the executable's path, or `sweep` on the PATH if even that is unknown).
    pub fn current_exe() -> Self {
        let program = if Path::new("/proc/self/exe").exists() {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sweep"))
        };
        Self::binary(program)
    }

    /// A `sweep` binary at `path` (for example `env!("CARGO_BIN_EXE_sweep")` in integration tests).
    pub fn binary(path: impl Into<PathBuf>) -> Self {
        Self {
            program: path.into(),
            args: vec![SHEPHERD_COMMAND.into()],
        }
    }
}

/// What the shepherd says on the lifeline, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    Started(u32),
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
    CannotStart(String),
}

impl Report {
    fn line(&self) -> String {
        match self {
            Report::Started(pid) => format!("started {pid}\n"),
            Report::Exited(code) => format!("exited {code}\n"),
            Report::Signaled { signal, core_dumped } => format!("signaled {signal} {}\n", u8::from(*core_dumped)),
            Report::CannotStart(message) => format!("cannot-start {}\n", message.replace('\n', " ")),
        }
    }

    pub(crate) fn parse(line: &str) -> Option<Report> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "started" => rest.parse().ok().map(Report::Started),
            "exited" => rest.parse().ok().map(Report::Exited),
            "signaled" => {
                let (sig, core) = rest.split_once(' ')?;
                Some(Report::Signaled {
                    signal: sig.parse().ok()?,
                    core_dumped: core == "1",
                })
            }
            "cannot-start" => Some(Report::CannotStart(rest.to_string())),
            _ => None,
        }
    }
}

/// A run's shepherd, as sweep holds it: the lifeline and the read ends of the program's stdout and stderr (all
/// non-blocking). Dropping it kills the run's process group and reaps the shepherd.
pub(crate) struct Launched {
    child: Child,
    pub(crate) lifeline: UnixStream,
    pub(crate) stdout: File,
    pub(crate) stderr: File,
    reaped: bool,
}

/// Environment changes for the program (set, then removed), applied to the shepherd, which passes them on.
pub(crate) struct Env<'a> {
    pub set: Vec<(OsString, OsString)>,
    pub remove: Vec<&'a str>,
}

/// Starts the shepherd of one run of `argv` in `work_dir`.
pub(crate) fn launch(shepherd: &Shepherd, argv: &[OsString], work_dir: &Path, env: &Env<'_>) -> io::Result<Launched> {
    // Every descriptor here is close-on-exec: no other child of sweep inherits a copy of the lifeline (which would
    // keep it open after sweep's death) or of a pipe's write end (which would keep its reader from seeing EOF).
    let (lifeline, theirs) = UnixStream::pair()?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC)?;
    let mut cmd = Command::new(&shepherd.program);
    cmd.arg0("sweep").args(&shepherd.args).arg("--").args(argv).current_dir(work_dir);
    for (k, v) in &env.set {
        cmd.env(k, v);
    }
    for k in &env.remove {
        cmd.env_remove(k);
    }
    cmd.stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .process_group(0);
    let child = cmd.spawn()?;
    drop(cmd); // closes our copies of the shepherd's ends
    lifeline.set_nonblocking(true)?;
    for fd in [&out_r, &err_r] {
        fcntl(fd.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    }
    Ok(Launched {
        child,
        lifeline,
        stdout: File::from(out_r),
        stderr: File::from(err_r),
        reaped: false,
    })
}

impl Launched {
    /// Sends `signal` to every process of the run's group (the shepherd ignores all but SIGKILL).
    pub(crate) fn signal_group(&self, signal: Signal) {
        if self.reaped {
            return;
        }
        // Cannot name another group: the group id is the pid of our child, which we have not reaped.
        match killpg(self.pgid(), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!("cannot send {signal} to process group {}: {e}", self.pgid()),
        }
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Kills whatever is left of the group and reaps the shepherd.
    pub(crate) fn finish(mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        if !self.reaped {
            self.signal_group(Signal::SIGKILL);
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// The signals the shepherd survives: the ones a stop sends to the group, and the terminal's.
const IGNORED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
];

/// The body of `sweep __shepherd -- PROGRAM ARGS...` (see the module's documentation). Returns only when it cannot do
/// its job (not started by sweep; its group could not be killed), with exit code 70.
pub fn shepherd_main(argv: &[OsString]) -> ExitCode {
    match shepherd(argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sweep {SHEPHERD_COMMAND}: {e}");
            ExitCode::from(70)
        }
    }
}

fn shepherd(argv: &[OsString]) -> io::Result<ExitCode> {
    let program = argv.first().ok_or_else(|| io::Error::other("no program given"))?;
    // SAFETY: fd 0 is open in every process started normally; ManuallyDrop keeps it open for the check.
    let stdin = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    if !stdin.metadata()?.file_type().is_socket() {
        return Err(io::Error::other(
            "this command is started by sweep for each run of a program, not by hand",
        ));
    }
    // SAFETY: fd 0 is a socket (checked above) and nothing else in this process uses it.
    let mut lifeline = unsafe { UnixStream::from_raw_fd(0) };
    let me = getpid();
    if getpgrp() != me {
        setpgid(me, me)?;
    }
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    let mut saved = Vec::with_capacity(IGNORED.len());
    for sig in IGNORED {
        // SAFETY: installs SIG_IGN, which runs no code of ours.
        saved.push((sig, unsafe { sigaction(sig, &ignore) }?));
    }
    // SIGCHLD wakes the loop below through a socket (registered before the program exists, so none is missed).
    let (mut chld_r, chld_w) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGCHLD, chld_w)?;
    chld_r.set_nonblocking(true)?;

    let mut cmd = Command::new(program);
    cmd.args(&argv[1..]).stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and makes only async-signal-safe calls (prctl,
    // getppid, sigaction); this process is single-threaded, so no lock can be held across the fork.
    unsafe {
        cmd.pre_exec(move || {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if getppid() != me {
                return Err(io::Error::other("the shepherd died before the program started"));
            }
            for (sig, old) in &saved {
                sigaction(*sig, old)?;
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = format!("cannot start `{}`: {e}", program.to_string_lossy());
            eprintln!("sweep: {message}");
            let _ = lifeline.write_all(Report::CannotStart(message).line().as_bytes());
            return Ok(ExitCode::from(0));
        }
    };
    let _ = lifeline.write_all(Report::Started(child.id()).line().as_bytes());
    lifeline.set_nonblocking(true)?;

    let mut buf = [0u8; 256];
    loop {
        let (sweep_gone, child_event) = {
            let mut fds = [
                PollFd::new(lifeline.as_fd(), PollFlags::POLLIN),
                PollFd::new(chld_r.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            (fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false))
        };
        if sweep_gone {
            // sweep writes nothing: readable means end-of-file (or an error), so sweep has died.
            match lifeline.read(&mut buf) {
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                _ => return kill_own_group(me),
            }
        }
        if child_event {
            while matches!(chld_r.read(&mut buf), Ok(n) if n > 0) {}
            if let Some(status) = child.try_wait()? {
                let report = match (status.code(), status.signal()) {
                    (Some(code), _) => Report::Exited(code),
                    (None, Some(signal)) => Report::Signaled {
                        signal,
                        core_dumped: status.core_dumped(),
                    },
                    (None, None) => Report::Exited(-1),
                };
                let _ = lifeline.write_all(report.line().as_bytes());
                return kill_own_group(me);
            }
        }
    }
}

/// SIGKILL to the shepherd's group, the shepherd included: returns only if that failed.
fn kill_own_group(me: Pid) -> io::Result<ExitCode> {
    killpg(me, Signal::SIGKILL)?;
    Err(io::Error::other("survived its own SIGKILL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for r in [
            Report::Started(42),
            Report::Exited(0),
            Report::Exited(-3),
            Report::Signaled {
                signal: 9,
                core_dumped: false,
            },
            Report::Signaled {
                signal: 11,
                core_dumped: true,
            },
            Report::CannotStart("cannot start `x`: No such file or directory (os error 2)".into()),
        ] {
            assert_eq!(Report::parse(r.line().trim_end()), Some(r));
        }
        assert_eq!(Report::parse("garbage"), None);
    }
}
