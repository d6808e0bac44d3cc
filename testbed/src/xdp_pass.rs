//! The pass-through XDP program on the client end of a veth pair: frames a
//! veth end sends with `XDP_TX` reach its peer only when the peer runs an
//! XDP program, so the client end runs `gslb xdp-pass` (which passes
//! everything) while socket clients (dig, dnsperf, the tests' UDP client)
//! use it.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    cmd::{cmdline, strip_ansi, terminate},
    ns::nsenter,
    Error, Result,
};

/// What `gslb xdp-pass` logs once its program is attached.
const ATTACHED: &str = "pass-through XDP program attached";
/// How long it may take to exit after SIGTERM before SIGKILL.
const TERM_TIMEOUT: Duration = Duration::from_secs(5);

/// `gslb xdp-pass` running on one interface; stopped on drop.
#[derive(Debug)]
pub struct XdpPass {
    child: Option<Child>,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// The log line that said it attached (with its `mode=`).
    pub attached: String,
}

impl XdpPass {
    /// Starts `gslb xdp-pass --iface IFACE` in namespace `ns` (`gslb` is
    /// the binary), its output to `log`, and waits at most `timeout` until
    /// it logs that its program is attached.
    pub fn start(
        gslb: &Path,
        ns: &str,
        iface: &str,
        log: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let file = File::create(log)
            .map_err(|e| Error::Other(format!("creating {}: {e}", log.display())))?;
        let mut cmd = nsenter(ns, gslb);
        cmd.args(["xdp-pass", "--iface", iface])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let line = cmdline(&cmd);
        let child = file
            .try_clone()
            .and_then(|out| cmd.stdout(out).stderr(file).spawn())
            .map_err(|source| Error::Start {
                cmdline: line.clone(),
                source,
            })?;
        let mut pass = XdpPass {
            child: Some(child),
            log: log.to_owned(),
            attached: String::new(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let text = pass.log_text();
            if let Some(l) = text.lines().find(|l| l.contains(ATTACHED)) {
                pass.attached = l.to_owned();
                return Ok(pass);
            }
            if let Ok(Some(st)) = pass.child.as_mut().expect("running").try_wait() {
                return Err(Error::Other(format!("`{line}` exited with {st}:\n{text}")));
            }
            if Instant::now() >= deadline {
                return Err(Error::Other(format!(
                    "`{line}` did not attach within {timeout:?}:\n{text}"
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log so far (colour escapes removed).
    pub fn log_text(&self) -> String {
        strip_ansi(&fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Stops it: SIGTERM, SIGKILL after `grace`. The program is detached
    /// when it exits.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, grace);
        }
    }
}

impl Drop for XdpPass {
    fn drop(&mut self) {
        self.stop(TERM_TIMEOUT);
    }
}
