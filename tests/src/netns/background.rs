//! A background process whose output is collected line by line
//! ([`Background`], e.g. tcpdump).

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use super::{cmd, cmdline, terminate, wait_bounded, CmdOutput};

/// A background process with its output collected line by line (e.g.
/// tcpdump). Killed on drop.
pub struct Background {
    child: Option<Child>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    cmdline: String,
}

fn lines_of<R: Read + Send + 'static>(r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Background {
    /// Starts `cmd` with piped output.
    pub fn spawn(cmd: &mut Command) -> Background {
        let line = cmdline(cmd);
        let mut child = cmd::spawn_piped(cmd).unwrap_or_else(|e| panic!("{e}"));
        Background {
            stdout: lines_of(child.stdout.take().unwrap()),
            stderr: lines_of(child.stderr.take().unwrap()),
            child: Some(child),
            cmdline: line,
        }
    }

    /// Waits (bounded) for a stderr line containing `needle`; returns the
    /// stderr lines seen, or panics after `timeout`.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stderr
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(l) => {
                    let hit = l.contains(needle);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "`{}` closed stderr before {needle:?}: {seen:?}",
                        self.cmdline
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            assert!(
                Instant::now() < deadline,
                "`{}`: no {needle:?} on stderr within {timeout:?}: {seen:?}",
                self.cmdline
            );
        }
    }

    /// Waits at most `timeout` for the process to exit (SIGTERM, then
    /// SIGKILL after that) and returns everything it printed.
    pub fn finish(&mut self, timeout: Duration) -> CmdOutput {
        let mut child = self.child.take().expect("already finished");
        let status = match wait_bounded(&mut child, timeout) {
            Some(s) => Some(s),
            None => {
                terminate(&mut child, Duration::from_secs(2));
                None
            }
        };
        let collect = |rx: &mpsc::Receiver<String>| {
            let mut out = String::new();
            while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
                out.push_str(&l);
                out.push('\n');
            }
            out
        };
        CmdOutput {
            cmdline: self.cmdline.clone(),
            status,
            stdout: collect(&self.stdout),
            stderr: collect(&self.stderr),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(2));
        }
    }
}
