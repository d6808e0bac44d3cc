//! `gslb run` in the server namespace of a [`Net`] ([`Daemon`]), its
//! control socket, and its XDP counters ([`Counters`]).

use std::{
    fs::{self, File},
    net::IpAddr,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use super::{
    cmdline, gslb_bin, read_log, run_bounded, scratch_dir, terminate, CmdOutput, Net, CMD_TIMEOUT,
    DNS_PORT, PREFIX, READY_TIMEOUT, TERM_TIMEOUT,
};

/// Per-process counter making daemon pin directories and logs unique.
static NEXT_DAEMON: AtomicU32 = AtomicU32::new(1);

/// How to start a [`Daemon`].
#[derive(Clone, Debug, Default)]
pub struct DaemonOpts {
    /// Run with `--no-xdp` (slow path only).
    pub no_xdp: bool,
    /// Config file contents; `None` uses the embedded default config.
    pub config: Option<String>,
}

/// `gslb run` in the server namespace of a [`Net`], listening on the
/// server's veth addresses, port 53, XDP attached to the server veth.
/// Terminated on drop.
pub struct Daemon<'a> {
    /// The net it runs in.
    pub net: &'a Net,
    /// Directory of its pinned maps.
    pub pin_dir: PathBuf,
    /// Its captured stdout and stderr.
    pub log: PathBuf,
    /// Whether XDP is attached.
    pub xdp: bool,
    /// Its control socket (`--control`), unique per daemon.
    pub control: PathBuf,
    /// Its state file (`--state-file`), unique per daemon.
    pub state_file: PathBuf,
    child: Option<Child>,
    config_file: Option<PathBuf>,
}

impl<'a> Daemon<'a> {
    /// Starts the daemon and waits (bounded) until it logs "gslb ready";
    /// with XDP, asserts that it attached in native mode.
    pub fn start(net: &'a Net, opts: DaemonOpts) -> Daemon<'a> {
        let n = NEXT_DAEMON.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{PREFIX}{}-{}-d{n}", std::process::id(), net.id);
        let scratch = scratch_dir();
        let config_file = opts.config.as_ref().map(|text| {
            let p = scratch.join(format!("{tag}.toml"));
            fs::write(&p, text).expect("writing the config file");
            p
        });
        let mut d = Daemon {
            net,
            pin_dir: PathBuf::from("/sys/fs/bpf").join(&tag),
            log: scratch.join(format!("{tag}.log")),
            xdp: !opts.no_xdp,
            control: scratch.join(format!("{tag}.sock")),
            state_file: scratch.join(format!("{tag}.state.json")),
            child: None,
            config_file,
        };
        File::create(&d.log).expect("creating the daemon log");
        d.spawn();
        d
    }

    /// Starts `gslb run` with this daemon's arguments (log appended) and
    /// waits (bounded) until it logs "gslb ready" once more; with XDP,
    /// asserts that it attached in native mode.
    fn spawn(&mut self) {
        let net = self.net;
        let readies = self.log_text().matches("gslb ready").count();
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("opening the daemon log");
        let mut cmd = net.in_srv(gslb_bin());
        cmd.arg("run");
        if let Some(p) = &self.config_file {
            cmd.arg("--config").arg(p);
        }
        cmd.args(["--iface", &net.srv_if])
            .arg("--listen")
            .arg(format!("{}:{DNS_PORT}", net.srv_v4()))
            .arg("--listen")
            .arg(format!("[{}]:{DNS_PORT}", net.srv_v6()))
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .arg("--control")
            .arg(&self.control)
            .arg("--state-file")
            .arg(&self.state_file);
        if !self.xdp {
            cmd.arg("--no-xdp");
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{}`: {e}", cmdline(&cmd)));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = self.log_text();
            if text.matches("gslb ready").count() > readies {
                break;
            }
            if let Ok(Some(st)) = self.child.as_mut().unwrap().try_wait() {
                panic!("`{}` exited with {st} before ready:\n{text}", cmdline(&cmd));
            }
            assert!(
                Instant::now() < deadline,
                "`{}` not ready within {READY_TIMEOUT:?}:\n{text}",
                cmdline(&cmd)
            );
            thread::sleep(Duration::from_millis(50));
        }
        if self.xdp {
            let text = self.log_text();
            let attached = text
                .lines()
                .rfind(|l| {
                    l.contains("XDP program attached")
                        && l.contains(&format!("iface={}", net.srv_if))
                })
                .unwrap_or_else(|| panic!("no \"XDP program attached\" line in the log:\n{text}"));
            assert!(
                attached.contains("mode=native"),
                "XDP not attached in native mode: {attached}\n{text}"
            );
        }
    }

    /// Starts the daemon again after [`Daemon::terminate`] or
    /// [`Daemon::kill`], with the same config, pin directory, control
    /// socket and state file (a restart); waits until it is ready.
    pub fn restart(&mut self) {
        assert!(!self.running(), "restart of a running daemon");
        self.child = None;
        self.spawn();
    }

    /// `kill -9`: the daemon gets no chance to clean up.
    pub fn kill(&mut self) {
        let mut c = self.child.take().expect("daemon already stopped");
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Rewrites the daemon's config file (read by the next
    /// [`Daemon::restart`]); panics without one.
    pub fn set_config(&self, text: &str) {
        let p = self
            .config_file
            .as_ref()
            .expect("the daemon has no config file");
        fs::write(p, text).expect("writing the config file");
    }

    /// `gslb detach --pin-dir <this daemon's>`, bounded.
    pub fn detach(&self) -> CmdOutput {
        run_bounded(
            Command::new(gslb_bin())
                .args(["detach", "--pin-dir"])
                .arg(&self.pin_dir),
            CMD_TIMEOUT,
        )
    }

    /// The daemon's process id (of `nsenter`, which execs gslb).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon already stopped").id()
    }

    /// Whether the daemon process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The daemon's log so far (colour escapes removed).
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// `gslb stats --json --pin-dir ...`: the XDP counters.
    pub fn stats(&self) -> Counters {
        let out = run_bounded(
            self.net
                .in_srv(gslb_bin())
                .args(["stats", "--json", "--pin-dir"])
                .arg(&self.pin_dir),
            CMD_TIMEOUT,
        );
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("gslb stats output is not JSON ({e}):\n{out}"));
        Counters(v)
    }

    /// Sends SIGTERM and waits at most `bound`, SIGKILL after that. Returns
    /// the exit status and whether it exited within `bound`.
    pub fn terminate(&mut self, bound: Duration) -> (ExitStatus, bool) {
        let mut c = self.child.take().expect("daemon already stopped");
        terminate(&mut c, bound)
    }

    /// Runs `gslb <args> --control <this daemon's socket>` (status,
    /// explain, server), bounded by [`CMD_TIMEOUT`].
    pub fn ctl(&self, args: &[&str]) -> CmdOutput {
        run_bounded(
            Command::new(gslb_bin())
                .args(args)
                .arg("--control")
                .arg(&self.control),
            CMD_TIMEOUT,
        )
    }

    /// `gslb status --json`, parsed; panics unless it succeeds.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.ctl(&["status", "--json"]);
        assert!(out.success(), "{out}");
        serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("gslb status --json is not JSON ({e}):\n{out}"))
    }

    /// `gslb explain NAME [--client ADDR] --json`, parsed; panics unless it
    /// succeeds.
    pub fn explain_json(&self, name: &str, client: Option<IpAddr>) -> serde_json::Value {
        let client = client.map(|c| c.to_string());
        let mut args = vec!["explain", name, "--json"];
        if let Some(c) = &client {
            args.extend(["--client", c]);
        }
        let out = self.ctl(&args);
        assert!(out.success(), "{out}");
        serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("gslb explain --json is not JSON ({e}):\n{out}"))
    }

    /// `gslb server enable|disable|drain NAME`; panics unless it succeeds.
    pub fn server_admin(&self, action: &str, server: &str) {
        let out = self.ctl(&["server", action, server]);
        assert!(out.success(), "{out}");
    }

    /// Waits (bounded) until the log contains `needle`; panics after
    /// `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the daemon log within {timeout:?}:\n{text}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Files left in the pin directory (empty if it is gone).
    pub fn pinned_files(&self) -> Vec<String> {
        match fs::read_dir(&self.pin_dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, TERM_TIMEOUT);
        }
        if thread::panicking() {
            eprintln!(
                "--- daemon log {} ---\n{}",
                self.log.display(),
                self.log_text()
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
        if let Some(p) = self.config_file.take() {
            let _ = fs::remove_file(p);
        }
        let _ = fs::remove_file(&self.control);
        // The daemon keeps the lock file of its control socket.
        let mut lock = self.control.clone().into_os_string();
        lock.push(".lock");
        let _ = fs::remove_file(lock);
        let _ = fs::remove_file(&self.state_file);
        // A stopped daemon leaves its program attached and pinned: detach
        // it, then remove whatever else is left in our unique pin
        // directory.
        if self.pin_dir.exists() {
            let out = self.detach();
            if !out.success() {
                eprintln!("gslb detach failed: {out}");
            }
        }
        if let Ok(rd) = fs::read_dir(&self.pin_dir) {
            for e in rd.filter_map(Result::ok) {
                let _ = fs::remove_file(e.path());
            }
        }
        let _ = fs::remove_dir(&self.pin_dir);
    }
}

/// The XDP counters: one flat JSON object from `gslb stats --json`.
#[derive(Clone, Debug)]
pub struct Counters(pub serde_json::Value);

impl Counters {
    /// Value of counter `name`; panics if there is no such counter.
    pub fn get(&self, name: &str) -> u64 {
        self.0
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_else(|| panic!("no counter {name} in {}", self.0))
    }

    /// `later - self` for every counter that changed, by name.
    pub fn delta(&self, later: &Counters) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        if let Some(obj) = later.0.as_object() {
            for (k, v) in obj {
                let (new, old) = (v.as_u64().unwrap_or(0), self.get_or_zero(k));
                if new != old {
                    out.push((k.clone(), new.wrapping_sub(old)));
                }
            }
        }
        out
    }

    /// `later - self` of counter `name`.
    pub fn delta_of(&self, later: &Counters, name: &str) -> u64 {
        later.get(name).wrapping_sub(self.get(name))
    }

    fn get_or_zero(&self, name: &str) -> u64 {
        self.0
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }
}
