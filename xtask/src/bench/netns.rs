//! The benchmark network: a server and a client namespace joined by one
//! veth pair, and guards that stop what runs in them and remove them.
//!
//! Names carry this process's id (`gslbb-<pid>-s`, veth `gb<pid>s`), so two
//! runs never collide and a later run can remove what a killed run left
//! behind (namespaces and bpffs pin directories of a pid that is gone).
//! Namespaces, the pair and its addresses come from the testbed the
//! integration tests use too; the tuning (queues, NAPI, moderation,
//! neighbours) is the bench's own.

use std::{
    ffi::OsStr,
    fs,
    io::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
pub use gslb_testbed::ns::nsenter as in_ns;
use gslb_testbed::{
    link::{self, PairNames, VethPair},
    ns,
};

use crate::cmd;

/// Prefix of every namespace and pin directory this harness creates.
const PREFIX: &str = "gslbb-";
/// Server address on the veth pair.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Client address on the veth pair.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Runs shell `script` in namespace `ns` through `ip netns exec` (not
/// nsenter): /sys/class/net must be remounted to show the namespace's
/// devices.
fn sysfs_sh(ns: &str, script: &str) -> Result<()> {
    cmd::output(ns::netns_exec(ns, "sh").args(["-c", script])).map(drop)
}

/// Runs `ip ARGS`, failing with its stderr.
fn ip(args: &[&str]) -> Result<()> {
    cmd::output(Command::new("ip").args(args)).map(drop)
}

/// The two namespaces and the veth pair; removed on drop.
pub struct Net {
    /// Server namespace name.
    pub server_ns: String,
    /// Client namespace name.
    pub client_ns: String,
    /// Server end of the veth pair (in `server_ns`).
    pub server_if: String,
    /// Client end (in `client_ns`).
    pub client_if: String,
    /// MAC address of `server_if`.
    pub server_mac: String,
    /// MAC address of `client_if`.
    pub client_mac: String,
    /// Pin directory prefix for gslb daemons started by this run.
    pub pin_prefix: PathBuf,
    pin_seq: u32,
    /// Interrupt moderation of the load runs, µs (see [`Net::coalesce`]).
    coalesce_us: u32,
    /// The namespaces and the pair; taken (and so removed) on drop.
    pair: Option<VethPair>,
}

impl Net {
    /// Creates the namespaces and the veth pair: one queue each way, so
    /// every reply lands on the client's queue 0 where kxdpgun listens;
    /// threaded NAPI on the server end, so the kernel's receive work for the
    /// server (and the whole XDP fast path) runs in a kthread whose CPU time
    /// is the server's; interrupt moderation of `coalesce_us` on both ends
    /// (see [`Net::coalesce`]).
    pub fn create(coalesce_us: u32) -> Result<Self> {
        for name in ns::clean_stale(PREFIX) {
            eprintln!("bench: removed namespace {name} left by an earlier run");
        }
        let pid = std::process::id();
        let names = PairNames {
            server_ns: format!("{PREFIX}{pid}-s"),
            client_ns: format!("{PREFIX}{pid}-c"),
            server_if: format!("gb{pid}s"),
            client_if: format!("gb{pid}c"),
        };
        // From here on, drop removes what exists.
        let pair = VethPair::create(names.clone(), Some(1))?;
        let mut net = Net {
            server_ns: names.server_ns,
            client_ns: names.client_ns,
            server_if: names.server_if,
            client_if: names.client_if,
            server_mac: String::new(),
            client_mac: String::new(),
            pin_prefix: PathBuf::from(format!("{}/{PREFIX}{pid}", ns::BPFFS)),
            pin_seq: 0,
            coalesce_us,
            pair: Some(pair),
        };
        let (s, c) = (net.server_if.clone(), net.client_if.clone());
        let (sns, cns) = (net.server_ns.clone(), net.client_ns.clone());
        link::add_addr(&sns, &s, SERVER_V4.into(), 24)?;
        link::add_addr(&cns, &c, CLIENT_V4.into(), 24)?;
        net.server_mac = link::mac(&sns, &s)?;
        net.client_mac = link::mac(&cns, &c)?;
        // Static neighbours: no ARP in the measured path, and kxdpgun finds
        // the peer's MAC without a prior exchange.
        ip(&[
            "-n",
            &sns,
            "neigh",
            "replace",
            &CLIENT_V4.to_string(),
            "lladdr",
            &net.client_mac,
            "dev",
            &s,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            &cns,
            "neigh",
            "replace",
            &SERVER_V4.to_string(),
            "lladdr",
            &net.server_mac,
            "dev",
            &c,
            "nud",
            "permanent",
        ])?;
        // GRO on gives each end a NAPI context even without XDP, so every
        // server's receive path runs in the same threaded NAPI, and NAPI
        // can be switched to threaded before any XDP program is attached.
        // veth hands a UDP packet to the peer's NAPI only when the sender
        // has no TSO (or the receiver does UDP GRO forwarding), so TSO off.
        for (ns, dev) in [(&sns, &s), (&cns, &c)] {
            cmd::output(in_ns(ns, "ethtool").args(["-K", dev, "gro", "on", "tso", "off"]))?;
        }
        net.set_threaded(true, true)?;
        net.set_threaded(false, false)?;
        net.coalesce(coalesce_us)?;
        Ok(net)
    }

    /// Interrupt moderation on both ends, as a NIC does it (`ethtool -C
    /// rx-usecs`): a NAPI poll that found work does not complete but polls
    /// again after `us` (`gro_flush_timeout`), twice over
    /// (`napi_defer_hard_irqs`), and while it is pending the sender does
    /// not wake it. veth has no moderation of its own: without it, a
    /// packet that finds NAPI idle wakes it (a thread wake-up, as costly as
    /// the packet's whole XDP path), and at dnsperf's rates most do. The
    /// first packet after a quiet spell still wakes NAPI at once, so a
    /// lone query waits for nothing. `0` turns it off (veth's own way).
    fn coalesce(&self, us: u32) -> Result<()> {
        let (defer, ns_timeout) = if us == 0 {
            (0, 0)
        } else {
            (2, u64::from(us) * 1_000)
        };
        for (ns, dev) in [
            (&self.server_ns, &self.server_if),
            (&self.client_ns, &self.client_if),
        ] {
            sysfs_sh(
                ns,
                &format!(
                    "echo {defer} > /sys/class/net/{dev}/napi_defer_hard_irqs && \
                     echo {ns_timeout} > /sys/class/net/{dev}/gro_flush_timeout"
                ),
            )?;
        }
        Ok(())
    }

    /// Runs `f` with interrupt moderation off, as a NIC's adaptive
    /// moderation (`net_dim`) turns it down at low packet rates: for the
    /// latency runs, whose lone queries would otherwise wait for a
    /// moderation timer left armed by the one before.
    pub fn without_moderation<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.coalesce_us == 0 {
            return f();
        }
        self.coalesce(0)?;
        let out = f();
        self.coalesce(self.coalesce_us)?;
        out
    }

    /// Threaded NAPI on the server (`server = true`) or client end.
    pub fn set_threaded(&self, server: bool, on: bool) -> Result<()> {
        let (ns, dev) = if server {
            (&self.server_ns, &self.server_if)
        } else {
            (&self.client_ns, &self.client_if)
        };
        let v = if on { "1" } else { "0" };
        sysfs_sh(ns, &format!("echo {v} > /sys/class/net/{dev}/threaded"))
    }

    /// Gives both ends' receive paths real-time priority (`rt`), or puts
    /// them back: the server end's threaded NAPI, and the client end's
    /// receive path, made threaded for the purpose. A NIC's receive path
    /// runs in softirq, ahead of every process; a NAPI thread of normal
    /// priority (or softirq work deferred to ksoftirqd) instead competes
    /// with the daemon, the updater and the load generator for the two
    /// cores, and a veth ring overflows while it waits: the answer-updates
    /// measurement would count the generator's own receive drops.
    pub fn napi_realtime(&self, rt: bool) -> Result<()> {
        if rt {
            self.set_threaded(false, true)?;
        }
        for dev in [&self.server_if, &self.client_if] {
            let pids = super::measure::napi_threads(dev);
            anyhow::ensure!(!pids.is_empty(), "no NAPI thread for {dev}");
            for pid in pids {
                let args: &[&str] = if rt {
                    &["-f", "-p", "50"]
                } else {
                    &["-o", "-p", "0"]
                };
                cmd::output(Command::new("chrt").args(args).arg(pid.to_string()))?;
            }
        }
        if !rt {
            self.set_threaded(false, false)?;
        }
        Ok(())
    }

    /// Removes any XDP program from the server (`server = true`) or client
    /// end (Knot and kxdpgun leave theirs attached when they exit).
    pub fn xdp_off(&self, server: bool) -> Result<()> {
        let (ns, dev) = if server {
            (&self.server_ns, &self.server_if)
        } else {
            (&self.client_ns, &self.client_if)
        };
        Ok(link::xdp_off(ns, dev)?)
    }

    /// A fresh pin directory for one gslb daemon.
    pub fn next_pin_dir(&mut self) -> PathBuf {
        self.pin_seq += 1;
        PathBuf::from(format!("{}-{}", self.pin_prefix.display(), self.pin_seq))
    }

    /// `nsenter` into the server namespace.
    pub fn server(&self, program: impl AsRef<OsStr>) -> Command {
        in_ns(&self.server_ns, program)
    }

    /// `nsenter` into the client namespace.
    pub fn client(&self, program: impl AsRef<OsStr>) -> Command {
        in_ns(&self.client_ns, program)
    }
}

impl Net {
    /// Removes everything `create` made (and stops what runs inside).
    fn remove(server_ns: &str, client_ns: &str, pin_prefix: &str) {
        for name in [server_ns, client_ns] {
            let _ = ns::remove(name);
        }
        ns::remove_pin_dirs(pin_prefix);
    }

    /// On Ctrl-C (when no destructor runs): stop what runs in the
    /// namespaces, remove them and the pin directories, run `also`, exit.
    pub fn cleanup_on_interrupt(&self, also: impl Fn() + Send + 'static) {
        let (s, c) = (self.server_ns.clone(), self.client_ns.clone());
        let pins = self.pin_prefix.to_string_lossy().into_owned();
        let r = ctrlc::set_handler(move || {
            eprintln!("bench: interrupted; removing {s} and {c}");
            Net::remove(&s, &c, &pins);
            also();
            std::process::exit(130);
        });
        if let Err(e) = r {
            eprintln!("bench: no Ctrl-C cleanup: {e}");
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        drop(self.pair.take());
        ns::remove_pin_dirs(&self.pin_prefix.to_string_lossy());
    }
}

/// A background process with its output in a log file; stopped on drop
/// (SIGTERM, then SIGKILL after a grace period), with every process it
/// forked.
pub struct Proc {
    /// What it is, for messages.
    pub name: String,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// When it was spawned.
    pub started: Instant,
    child: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let line = cmd::display(&cmd);
        let mut header = file.try_clone()?;
        let _ = writeln!(header, "# {line}");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("failed to start `{line}`"))?;
        Ok(Proc {
            name: name.to_owned(),
            log: log.to_owned(),
            started: Instant::now(),
            child: Some(child),
        })
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Fails (with the log's tail) if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("{} exited ({status}): {}", self.name, self.log_tail(15));
            }
        }
        Ok(())
    }

    /// The log's first `Error:` line (what a Rust or most C daemons print
    /// when they give up), or the verifier's reason when the kernel
    /// refused an XDP program (Knot's), then its last `n` lines.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        let refused = lines.iter().find(|l| l.contains("cannot use helper"));
        match refused.or_else(|| {
            lines.iter().find(|l| {
                let l = l.trim_start();
                l.starts_with("Error:") || l.starts_with("error:") || l.contains("fatal")
            })
        }) {
            Some(err) => format!("{}\n{tail}", err.trim()),
            None => tail,
        }
    }

    /// Waits until the log contains `needle`; fails on exit or timeout.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "{}: no `{needle}` after {timeout:?}: {}",
                    self.name,
                    self.log_tail(15)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops it and every descendant; waits at most `grace` before SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let tree = descendants(child.id());
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        // Forked workers that outlived their parent.
        for pid in tree {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// `pid` and all its descendants (from /proc/*/stat parent links).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) {
                // Fields after the parenthesised comm: state ppid ...
                if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                    if let Some(ppid) = rest.split_whitespace().nth(1) {
                        if let Ok(ppid) = ppid.parse::<u32>() {
                            parent_of.push((p, ppid));
                        }
                    }
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == cur)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};

    use gslb_testbed::ns::in_netns;

    use super::*;

    /// The bench network as `bench` builds it (needs root, like the
    /// integration tests): one queue each way, threaded NAPI on the server
    /// end, a datagram from the client address reaches the server address;
    /// both namespaces are gone after drop.
    #[test]
    fn builds_and_removes_the_bench_network() {
        let net = Net::create(50).expect("creating the bench network");
        let link = cmd::output(
            net.server("ip")
                .args(["-d", "link", "show", &net.server_if]),
        )
        .expect("ip link show");
        assert!(link.contains("numtxqueues 1 numrxqueues 1"), "{link}");
        let threaded = cmd::output(
            ns::netns_exec(&net.server_ns, "cat")
                .arg(format!("/sys/class/net/{}/threaded", net.server_if)),
        )
        .expect("reading threaded");
        assert_eq!(threaded.trim(), "1");
        let server = SocketAddr::new(SERVER_V4.into(), 5300);
        let rx = in_netns(&net.server_ns, move || UdpSocket::bind(server)).expect("server socket");
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = in_netns(&net.client_ns, || {
            UdpSocket::bind(SocketAddr::new(CLIENT_V4.into(), 0))
        })
        .expect("client socket");
        tx.send_to(b"bench", server).expect("sending");
        let mut buf = [0u8; 16];
        let (n, from) = rx
            .recv_from(&mut buf)
            .expect("no datagram over the veth pair");
        assert_eq!((&buf[..n], from.ip()), (&b"bench"[..], CLIENT_V4.into()));
        let names = [net.server_ns.clone(), net.client_ns.clone()];
        drop(net);
        let list = cmd::output(Command::new("ip").args(["netns", "list"])).expect("ip netns list");
        for name in names {
            assert!(!list.contains(&name), "{name} left behind: {list}");
        }
    }
}
