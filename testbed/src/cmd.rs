//! Bounded command runs: every command is killed when it runs too long,
//! and a grandchild holding its pipes open cannot hang the caller.

use std::{
    fmt,
    io::Read,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use crate::{Error, Result};

/// Bound of short helper commands (`ip`, `ethtool`, `gslb stats`).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// Output of a bounded command.
#[derive(Debug)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status; `None` when it was killed for running too long.
    pub status: Option<ExitStatus>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl CmdOutput {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => writeln!(f, "`{}` exited with {s}", self.cmdline)?,
            None => writeln!(f, "`{}` timed out and was killed", self.cmdline)?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// `program arg arg`, for messages.
pub fn cmdline(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads `r` to the end on a thread; the result arrives on the channel.
fn drain<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `cmd` (stdin closed, output captured), killing it after `timeout`.
/// Fails only if it cannot be started at all.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let line = cmdline(cmd);
    let mut child = spawn_piped(cmd)?;
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // A grandchild holding the pipes open must not hang us.
    let grab = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(2))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(CmdOutput {
        cmdline: line,
        status,
        stdout: grab(out),
        stderr: grab(err),
    })
}

/// Starts `cmd` with stdin closed and stdout and stderr piped.
pub fn spawn_piped(cmd: &mut Command) -> Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Start {
            cmdline: cmdline(cmd),
            source,
        })
}

/// Runs `cmd` bounded by [`CMD_TIMEOUT`]; fails unless it exits 0.
/// Returns its standard output.
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = run_bounded(cmd, CMD_TIMEOUT)?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(Error::Failed(Box::new(out)))
    }
}

/// Waits for `child` at most `timeout`; `None` if it is still running.
/// Panics if waiting itself fails (the child is ours, so it cannot).
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM, waits at most `bound`, then SIGKILLs. Returns the exit
/// status and whether it came within `bound` of the SIGTERM.
pub fn terminate(child: &mut Child, bound: Duration) -> (ExitStatus, bool) {
    if let Ok(Some(s)) = child.try_wait() {
        return (s, true);
    }
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: plain kill(2) on our own child, which has not been reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    if let Some(s) = wait_bounded(child, bound) {
        return (s, true);
    }
    let _ = child.kill();
    let s = child.wait().expect("wait after SIGKILL");
    (s, false)
}

/// Removes ANSI colour escapes (tracing's formatter may colour its output).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters and intermediates, then one final byte.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[3mmode\u{1b}[0m\u{1b}[2m=\u{1b}[0mnative"),
            "mode=native"
        );
    }

    #[test]
    fn bounds_a_command() {
        let out = run_bounded(Command::new("sleep").arg("5"), Duration::from_millis(100)).unwrap();
        assert!(out.status.is_none() && !out.success(), "{out}");
        let err = run_ok(Command::new("sh").args(["-c", "echo no >&2; exit 3"])).unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
        assert_eq!(run_ok(Command::new("echo").arg("yes")).unwrap(), "yes\n");
    }
}
