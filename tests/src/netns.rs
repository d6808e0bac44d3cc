//! Network-namespace test harness: a veth pair between a server and a client
//! namespace ([`Net`]), the daemon running in the server namespace
//! ([`Daemon`]), and a DNS client (`dig`, run in the client namespace) whose
//! output is parsed into a [`Response`].
//!
//! For the engine tests: extra addresses on either veth end
//! ([`Net::add_srv_addr`], [`Net::add_cli_addr`]), test backends in the
//! server namespace ([`Backend`]: HTTP `/health` and TCP connects, stopped
//! and resumed at will), a UDP DNS client in the client namespace for many
//! queries from one process ([`Net::udp_client`]), and the daemon's control
//! socket ([`Daemon::ctl`], [`Daemon::status_json`],
//! [`Daemon::explain_json`], [`Daemon::server_admin`]; every daemon gets
//! its own `--control` path). Sockets are created on a thread that entered
//! the namespace ([`in_netns`]).
//!
//! Everything is torn down on drop, also when a test panics: child
//! processes are killed, namespaces deleted, pinned maps removed. Every
//! command is bounded in time. Needs root and XDP; a missing capability is
//! a failure, never a skip.
//!
//! gslb itself (`run`, `stats`, `xdp-pass`) is started with
//! `nsenter --net=/run/netns/NAME`, not `ip netns exec`: the latter remounts
//! /sys in a private mount namespace, which hides the bpffs pins under
//! /sys/fs/bpf.

use std::{
    fmt,
    fs::{self, File},
    io::{BufRead, BufReader, Read},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use gslb_testbed::{
    cmd,
    link::{self, PairNames, VethPair},
    ns, XdpPass,
};
pub use gslb_testbed::{
    cmd::{cmdline, strip_ansi, terminate, wait_bounded, CmdOutput, CMD_TIMEOUT},
    link::has_xdp as link_has_xdp,
    ns::in_netns,
};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RData, RecordType},
};

/// Prefix of every namespace, pin directory and scratch directory of the
/// tests: `gslbt-<pid>-...`.
const PREFIX: &str = "gslbt-";
/// Bound of one `dig` run (dig itself gives up after `+time=2 +tries=1`).
pub const DIG_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the daemon may take to log "gslb ready".
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a process may take to exit after SIGTERM before SIGKILL.
pub const TERM_TIMEOUT: Duration = Duration::from_secs(5);
/// The DNS port the daemons listen on.
pub const DNS_PORT: u16 = 53;

/// Per-process counter making namespace, link, subnet and pin names unique.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// Per-process counter making daemon pin directories and logs unique.
static NEXT_DAEMON: AtomicU32 = AtomicU32::new(1);

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// `target/debug/gslb` of the workspace (or of `$CARGO_TARGET_DIR`); panics
/// with instructions when it has not been built.
pub fn gslb_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace_root().join(t)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug").join("gslb");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p gslb-user` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// Runs `cmd` (stdin closed, output captured), killing it after `timeout`.
/// Panics only if it cannot be started at all.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    cmd::run_bounded(cmd, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` bounded by [`CMD_TIMEOUT`]; panics unless it exits 0.
/// Returns its standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    cmd::run_ok(cmd).unwrap_or_else(|e| panic!("{e}"))
}

fn read_log(path: &Path) -> String {
    strip_ansi(&fs::read_to_string(path).unwrap_or_default())
}

/// Per-process scratch directory for logs and config files.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gslbt-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Once per process: removes what test processes that died without
/// cleaning up (SIGKILL, timeout) left behind: their namespaces (killing
/// the gslb processes still inside, which they started), pin directories
/// and empty scratch directories (those with logs of failed runs are
/// kept). Only names of our `gslbt-<pid>-` scheme whose pid is gone.
fn clean_stale() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ns::clean_stale(PREFIX);
        if let Ok(rd) = fs::read_dir(std::env::temp_dir()) {
            for e in rd.filter_map(Result::ok) {
                if ns::is_stale(PREFIX, &e.file_name().to_string_lossy()) {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
    });
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// Two network namespaces joined by a veth pair, with a pass-through XDP
/// program on the client end (XDP_TX frames of a veth reach the peer only
/// when the peer runs XDP). Deleted on drop.
pub struct Net {
    /// Unique number of this net within the process.
    pub id: u32,
    /// Server namespace name (`/run/netns/<srv_ns>`).
    pub srv_ns: String,
    /// Client namespace name.
    pub cli_ns: String,
    /// Server end of the veth pair (in `srv_ns`).
    pub srv_if: String,
    /// Client end of the veth pair (in `cli_ns`).
    pub cli_if: String,
    /// Subnet number: 198.18.k.0/24 and 2001:db8:k::/64.
    pub k: u8,
    // Dropped in this order: the pass-through program, then the pair.
    xdp_pass: Option<XdpPass>,
    _pair: VethPair,
}

impl Net {
    /// Creates the namespaces, the veth pair and the addresses, brings
    /// everything up and attaches the pass-through program on the client
    /// end. `test` goes into the namespace names (for debugging leftovers).
    pub fn new(test: &str) -> Net {
        let bin = gslb_bin();
        clean_stale();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let k = u8::try_from(id).expect("more than 255 nets in one test process");
        let pid = std::process::id();
        let base = format!("{PREFIX}{pid}-{id}-{}", sanitize(test));
        let names = PairNames {
            server_ns: format!("{base}-s"),
            client_ns: format!("{base}-c"),
            server_if: format!("gt{pid}n{id}s"),
            client_if: format!("gt{pid}n{id}c"),
        };
        let pair = VethPair::create(names.clone(), None).unwrap_or_else(|e| panic!("{e}"));
        for (ns, ifname, host) in [
            (&names.server_ns, &names.server_if, 1u8),
            (&names.client_ns, &names.client_if, 2u8),
        ] {
            let v6 = Ipv6Addr::new(0x2001, 0xdb8, k.into(), 0, 0, 0, 0, host.into());
            for (addr, len) in [
                (Ipv4Addr::new(198, 18, k, host).into(), 24),
                (v6.into(), 64),
            ] {
                link::add_addr(ns, ifname, addr, len).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        // The pass-through program on the client end.
        let log = scratch_dir().join(format!("{base}-xdp-pass.log"));
        let pass = XdpPass::start(
            &bin,
            &names.client_ns,
            &names.client_if,
            &log,
            READY_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            pass.attached.contains("mode=native"),
            "xdp-pass did not attach in native mode on {}:\n{}",
            names.client_if,
            pass.log_text()
        );
        Net {
            id,
            srv_ns: names.server_ns,
            cli_ns: names.client_ns,
            srv_if: names.server_if,
            cli_if: names.client_if,
            k,
            xdp_pass: Some(pass),
            _pair: pair,
        }
    }

    /// Server address on the veth (IPv4).
    pub fn srv_v4(&self) -> IpAddr {
        Ipv4Addr::new(198, 18, self.k, 1).into()
    }

    /// Server address on the veth (IPv6).
    pub fn srv_v6(&self) -> IpAddr {
        Ipv6Addr::new(0x2001, 0xdb8, self.k.into(), 0, 0, 0, 0, 1).into()
    }

    /// Client address on the veth (IPv4).
    pub fn cli_v4(&self) -> IpAddr {
        Ipv4Addr::new(198, 18, self.k, 2).into()
    }

    /// Client address on the veth (IPv6).
    pub fn cli_v6(&self) -> IpAddr {
        Ipv6Addr::new(0x2001, 0xdb8, self.k.into(), 0, 0, 0, 0, 2).into()
    }

    /// A command that runs `prog` in the server namespace, in our mount
    /// namespace (bpffs pins visible).
    pub fn in_srv(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        ns::nsenter(&self.srv_ns, prog)
    }

    /// A command that runs `prog` in the client namespace (`ip netns exec`).
    pub fn in_cli(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        ns::netns_exec(&self.cli_ns, prog)
    }

    /// Adds `addr` to the server veth (/32 or /128, no DAD): e.g. one
    /// address per backend, so that monitors probe distinct IPs.
    pub fn add_srv_addr(&self, addr: IpAddr) {
        add_addr(&self.srv_ns, &self.srv_if, addr);
    }

    /// Adds `addr` to the client veth (/32 or /128, no DAD): extra client
    /// (LDNS) source addresses.
    pub fn add_cli_addr(&self, addr: IpAddr) {
        add_addr(&self.cli_ns, &self.cli_if, addr);
    }

    /// An address of this net's IPv4 subnet: 198.18.k.`host`.
    pub fn v4(&self, host: u8) -> IpAddr {
        Ipv4Addr::new(198, 18, self.k, host).into()
    }

    /// A UDP DNS client in the client namespace, bound to `src` (port 0).
    pub fn udp_client(&self, src: IpAddr) -> UdpDns {
        let sock = in_netns(&self.cli_ns, move || {
            UdpSocket::bind(SocketAddr::new(src, 0))
        })
        .unwrap_or_else(|e| panic!("binding a UDP socket to {src} in the client namespace: {e}"));
        UdpDns {
            sock,
            next_id: AtomicU32::new(1),
        }
    }

    /// `ip -n <server ns> link show <server veth>`.
    pub fn srv_link_show(&self) -> String {
        link::link_show(&self.srv_ns, &self.srv_if).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether an XDP program is attached to the server veth, per
    /// `ip link show`.
    pub fn srv_has_xdp(&self) -> bool {
        link_has_xdp(&self.srv_link_show())
    }

    /// Runs `dig @server name qtype +norec +time=<wait_s> +tries=1
    /// [extra...]` in the client namespace (bounded by [`DIG_TIMEOUT`]).
    /// Returns the parsed answer when dig exited 0 with one, and dig's
    /// output.
    pub fn dig_run(
        &self,
        server: IpAddr,
        name: &str,
        qtype: &str,
        wait_s: u32,
        extra: &[&str],
    ) -> (Option<Response>, CmdOutput) {
        let mut cmd = self.in_cli("dig");
        cmd.arg(format!("@{server}"))
            .args([
                name,
                qtype,
                "+norec",
                &format!("+time={wait_s}"),
                "+tries=1",
            ])
            .args(extra);
        let out = run_bounded(&mut cmd, DIG_TIMEOUT);
        let r = Response::parse(&out.stdout).filter(|_| out.success());
        (r, out)
    }

    /// Runs `dig @server name qtype +norec +time=2 +tries=1 [extra...]` in
    /// the client namespace and parses the answer; panics (with dig's
    /// output) when there is none.
    pub fn dig(&self, server: IpAddr, name: &str, qtype: &str, extra: &[&str]) -> Response {
        match self.dig_run(server, name, qtype, 2, extra) {
            (Some(r), _) => r,
            (None, out) => panic!("no DNS answer to {name} {qtype} @{server} {extra:?}:\n{out}"),
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut pass) = self.xdp_pass.take() {
            pass.stop(TERM_TIMEOUT);
            if thread::panicking() {
                eprintln!(
                    "--- {} (xdp-pass log) ---\n{}",
                    self.cli_if,
                    pass.log_text()
                );
            }
            let _ = fs::remove_file(&pass.log);
        }
        // Dropping the pair deletes the namespaces, hence the veth pair.
    }
}

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
    child: Option<Child>,
    config_file: Option<PathBuf>,
}

impl<'a> Daemon<'a> {
    /// Starts the daemon and waits (bounded) until it logs "gslb ready";
    /// with XDP, asserts that it attached in native mode.
    pub fn start(net: &'a Net, opts: DaemonOpts) -> Daemon<'a> {
        let bin = gslb_bin();
        let n = NEXT_DAEMON.fetch_add(1, Ordering::Relaxed);
        let tag = format!("gslbt-{}-{}-d{n}", std::process::id(), net.id);
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
            child: None,
            config_file,
        };
        let log = File::create(&d.log).expect("creating the daemon log");
        let mut cmd = net.in_srv(&bin);
        cmd.arg("run");
        if let Some(p) = &d.config_file {
            cmd.arg("--config").arg(p);
        }
        cmd.args(["--iface", &net.srv_if])
            .arg("--listen")
            .arg(format!("{}:{DNS_PORT}", net.srv_v4()))
            .arg("--listen")
            .arg(format!("[{}]:{DNS_PORT}", net.srv_v6()))
            .arg("--pin-dir")
            .arg(&d.pin_dir)
            .arg("--control")
            .arg(&d.control);
        if opts.no_xdp {
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
        d.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = d.log_text();
            if text.contains("gslb ready") {
                break;
            }
            if let Ok(Some(st)) = d.child.as_mut().unwrap().try_wait() {
                panic!("`{}` exited with {st} before ready:\n{text}", cmdline(&cmd));
            }
            assert!(
                Instant::now() < deadline,
                "`{}` not ready within {READY_TIMEOUT:?}:\n{text}",
                cmdline(&cmd)
            );
            thread::sleep(Duration::from_millis(50));
        }
        if d.xdp {
            let text = d.log_text();
            let attached = text
                .lines()
                .find(|l| {
                    l.contains("XDP program attached")
                        && l.contains(&format!("iface={}", net.srv_if))
                })
                .unwrap_or_else(|| panic!("no \"XDP program attached\" line in the log:\n{text}"));
            assert!(
                attached.contains("mode=native"),
                "XDP not attached in native mode: {attached}\n{text}"
            );
        }
        d
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
        // Our unique pin directory: remove what a killed daemon left.
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

/// One resource record as dig prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    /// The owner exactly as received.
    pub owner_raw: String,
    /// The owner, lowercased.
    pub owner: String,
    /// TTL.
    pub ttl: u32,
    /// Class (`IN`).
    pub class: String,
    /// Type mnemonic (`A`, `SOA`, ...).
    pub rtype: String,
    /// Data in presentation format, fields joined by one space.
    pub rdata: String,
}

impl Rr {
    /// Normalized tuple for comparisons: (owner lowercased, ttl, class,
    /// type, rdata).
    pub fn key(&self) -> (String, u32, String, String, String) {
        (
            self.owner.clone(),
            self.ttl,
            self.class.clone(),
            self.rtype.clone(),
            self.rdata.clone(),
        )
    }

    fn parse(line: &str) -> Option<Rr> {
        let mut it = line.split_whitespace();
        let owner_raw = it.next()?.to_string();
        let ttl = it.next()?.parse().ok()?;
        let class = it.next()?.to_string();
        let rtype = it.next()?.to_string();
        let rdata = it.collect::<Vec<_>>().join(" ");
        Some(Rr {
            owner: owner_raw.to_ascii_lowercase(),
            owner_raw,
            ttl,
            class,
            rtype,
            rdata,
        })
    }
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.owner_raw, self.ttl, self.class, self.rtype, self.rdata
        )
    }
}

/// Convenience: normalized tuple of a record given as
/// "owner ttl class type rdata" text.
pub fn rr(text: &str) -> (String, u32, String, String, String) {
    Rr::parse(text)
        .unwrap_or_else(|| panic!("bad record text {text:?}"))
        .key()
}

/// A DNS response, parsed from dig's output.
#[derive(Clone, Debug)]
pub struct Response {
    /// RCODE mnemonic (`NOERROR`, `NXDOMAIN`, ...).
    pub status: String,
    /// Header flags (`qr`, `aa`, ...), as printed.
    pub flags: Vec<String>,
    /// UDP payload size of the response's OPT record, if it had one.
    pub edns_udp: Option<u16>,
    /// Question section lines (without the leading `;`).
    pub question: Vec<String>,
    /// Answer section.
    pub answer: Vec<Rr>,
    /// Authority section.
    pub authority: Vec<Rr>,
    /// Additional section (without the OPT pseudo-record).
    pub additional: Vec<Rr>,
    /// `UDP` or `TCP`, from dig's SERVER line.
    pub transport: String,
    /// dig's full output.
    pub raw: String,
}

/// What parity compares: status, flags, EDNS size, answer, authority,
/// additional.
pub type Summary = (
    String,
    Vec<String>,
    Option<u16>,
    Vec<(String, u32, String, String, String)>,
    Vec<(String, u32, String, String, String)>,
    Vec<(String, u32, String, String, String)>,
);

impl Response {
    /// Parses dig's default output; `None` without a `->>HEADER<<-` line.
    pub fn parse(text: &str) -> Option<Response> {
        let mut r = Response {
            status: String::new(),
            flags: Vec::new(),
            edns_udp: None,
            question: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            transport: String::new(),
            raw: text.to_string(),
        };
        let mut header = false;
        #[derive(PartialEq)]
        enum Sec {
            None,
            Question,
            Answer,
            Authority,
            Additional,
        }
        let mut sec = Sec::None;
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() {
                sec = Sec::None;
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; ->>HEADER<<-") {
                header = true;
                r.status = rest
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix("status:"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; flags:") {
                let flags = rest.split(';').next().unwrap_or("");
                r.flags = flags.split_whitespace().map(str::to_string).collect();
                continue;
            }
            if let Some(rest) = t.strip_prefix("; EDNS:") {
                r.edns_udp = rest
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("udp:"))
                    .and_then(|s| s.trim().parse().ok());
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; SERVER:") {
                r.transport = rest
                    .rsplit('(')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(')')
                    .to_string();
                continue;
            }
            match t {
                ";; QUESTION SECTION:" => sec = Sec::Question,
                ";; ANSWER SECTION:" => sec = Sec::Answer,
                ";; AUTHORITY SECTION:" => sec = Sec::Authority,
                ";; ADDITIONAL SECTION:" => sec = Sec::Additional,
                _ if t.starts_with(';') => {
                    if sec == Sec::Question {
                        r.question.push(t.trim_start_matches(';').to_string());
                    }
                }
                _ => {
                    let Some(rec) = Rr::parse(t) else { continue };
                    match sec {
                        Sec::Answer => r.answer.push(rec),
                        Sec::Authority => r.authority.push(rec),
                        Sec::Additional => r.additional.push(rec),
                        _ => {}
                    }
                }
            }
        }
        header.then_some(r)
    }

    /// Normalized answer tuples.
    pub fn answer_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.answer.iter().map(Rr::key).collect()
    }

    /// Normalized authority tuples.
    pub fn authority_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.authority.iter().map(Rr::key).collect()
    }

    /// Normalized additional tuples (OPT not included).
    pub fn additional_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.additional.iter().map(Rr::key).collect()
    }

    /// Has header flag `f`.
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// Status, flags (sorted), EDNS size, answer, authority, additional.
    pub fn summary(&self) -> Summary {
        let mut flags = self.flags.clone();
        flags.sort();
        (
            self.status.clone(),
            flags,
            self.edns_udp,
            self.answer_keys(),
            self.authority_keys(),
            self.additional_keys(),
        )
    }
}

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

fn add_addr(ns: &str, ifname: &str, addr: IpAddr) {
    let len = if addr.is_ipv6() { 128 } else { 32 };
    link::add_addr(ns, ifname, addr, len).unwrap_or_else(|e| panic!("{e}"));
}

/// A DNS response as the [`UdpDns`] client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsReply {
    /// RCODE mnemonic as dig prints it (`NOERROR`, `SERVFAIL`, ...).
    pub rcode: String,
    /// Authoritative answer flag.
    pub aa: bool,
    /// A / AAAA addresses of the answer section, in order.
    pub addrs: Vec<IpAddr>,
    /// TTLs of those records.
    pub ttls: Vec<u32>,
}

/// A minimal UDP DNS client for many queries from one process (no
/// per-query process start): one socket, sequential queries, each bounded
/// by a timeout.
pub struct UdpDns {
    sock: UdpSocket,
    next_id: AtomicU32,
}

impl UdpDns {
    /// Sends one query (RD clear, EDNS 1232) and waits at most `timeout`
    /// for the response with its id; `None` on timeout. Late responses to
    /// earlier queries are skipped.
    pub fn query(
        &self,
        server: IpAddr,
        name: &str,
        qtype: RecordType,
        timeout: Duration,
    ) -> Option<DnsReply> {
        let id = (self.next_id.fetch_add(1, Ordering::Relaxed) & 0xffff) as u16;
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii(name).unwrap_or_else(|e| panic!("bad name {name:?}: {e}")),
            qtype,
        ));
        let mut e = Edns::new();
        e.set_max_payload(1232);
        e.set_version(0);
        m.set_edns(e);
        let wire = m.to_vec().expect("encoding a query");
        self.sock
            .send_to(&wire, SocketAddr::new(server, DNS_PORT))
            .unwrap_or_else(|e| panic!("sending a query to {server}: {e}"));
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock
                .set_read_timeout(Some(left))
                .expect("setting the read timeout");
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("receiving from {server}: {e}"),
            };
            let Ok(r) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if r.metadata.id != id {
                continue;
            }
            let mut addrs = Vec::new();
            let mut ttls = Vec::new();
            for rec in &r.answers {
                match &rec.data {
                    RData::A(a) => addrs.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => addrs.push(IpAddr::V6(a.0)),
                    _ => continue,
                }
                ttls.push(rec.ttl);
            }
            return Some(DnsReply {
                rcode: match u16::from(r.metadata.response_code) {
                    0 => "NOERROR".to_string(),
                    1 => "FORMERR".to_string(),
                    2 => "SERVFAIL".to_string(),
                    3 => "NXDOMAIN".to_string(),
                    4 => "NOTIMP".to_string(),
                    5 => "REFUSED".to_string(),
                    n => format!("RCODE{n}"),
                },
                aa: r.metadata.authoritative,
                addrs,
                ttls,
            });
        }
    }
}

/// A test backend: a TCP listener in a namespace that answers HTTP
/// requests (`GET /health` → 200 with the configured body, anything else
/// → 404; a flapping backend answers `/health` alternately 200 and 503)
/// and accepts plain TCP connects. [`Backend::stop`] closes the
/// listener (connects are then refused), [`Backend::resume`] opens it
/// again. Stopped on drop.
pub struct Backend {
    /// Listening address.
    pub addr: SocketAddr,
    ns: String,
    body: String,
    flapping: bool,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// HTTP requests answered so far.
    pub requests: Arc<AtomicU64>,
}

impl Backend {
    /// Starts a backend listening on `addr` in the server namespace of
    /// `net` (the address must be on one of its interfaces).
    pub fn start(net: &Net, addr: SocketAddr, body: &str) -> Backend {
        Backend::new(net, addr, body, false)
    }

    /// Like [`Backend::start`], but `/health` answers alternately 200 (with
    /// `body`) and 503, starting with 200: an HTTP monitor sees it flap on
    /// every probe.
    pub fn start_flapping(net: &Net, addr: SocketAddr, body: &str) -> Backend {
        Backend::new(net, addr, body, true)
    }

    fn new(net: &Net, addr: SocketAddr, body: &str, flapping: bool) -> Backend {
        let mut b = Backend {
            addr,
            ns: net.srv_ns.clone(),
            body: body.to_string(),
            flapping,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            requests: Arc::new(AtomicU64::new(0)),
        };
        b.resume();
        b
    }

    /// Whether it is listening.
    pub fn running(&self) -> bool {
        self.thread.is_some()
    }

    /// Opens the listener again (no-op when running). Returns once it
    /// listens.
    pub fn resume(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let addr = self.addr;
        let listener = in_netns(&self.ns, move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("backend: binding {addr}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        self.stop.store(false, Ordering::SeqCst);
        let stop = self.stop.clone();
        let body = self.body.clone();
        let requests = self.requests.clone();
        let flapping = self.flapping;
        self.thread = Some(thread::spawn(move || {
            serve_backend(listener, &stop, &body, flapping, &requests)
        }));
    }

    /// Closes the listener; returns once it is closed (new connects are
    /// refused from then on).
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_backend(
    listener: TcpListener,
    stop: &AtomicBool,
    body: &str,
    flapping: bool,
    requests: &AtomicU64,
) {
    use std::io::Write as _;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 5) };
        let Ok((mut conn, _)) = listener.accept() else {
            continue;
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        // Read the request head (a TCP monitor sends nothing and closes).
        let mut req = Vec::new();
        let mut buf = [0u8; 2048];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        if req.is_empty() {
            continue;
        }
        let head = String::from_utf8_lossy(&req);
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let n = requests.fetch_add(1, Ordering::Relaxed);
        let (status, text) = if path == "/health" && flapping && n % 2 == 1 {
            ("503 Service Unavailable", "flapping\n")
        } else if path == "/health" {
            ("200 OK", body)
        } else {
            ("404 Not Found", "not found\n")
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = conn.write_all(resp.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIG: &str = "
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> @198.18.200.1 nx.example.test A +norec
; (1 server found)
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 39480
;; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;nx.example.test.\t\tIN\tA

;; AUTHORITY SECTION:
example.test.\t\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300

;; Query time: 4 msec
;; SERVER: 198.18.200.1#53(198.18.200.1) (UDP)
;; WHEN: Sun Nov 22 02:56:59 UTC 2026
;; MSG SIZE  rcvd: 95
";

    #[test]
    fn parses_dig_output() {
        let r = Response::parse(DIG).unwrap();
        assert_eq!(r.status, "NXDOMAIN");
        assert_eq!(r.flags, ["qr", "aa"]);
        assert_eq!(r.edns_udp, Some(1232));
        assert_eq!(r.transport, "UDP");
        assert_eq!(r.question, ["nx.example.test.\t\tIN\tA"]);
        assert!(r.answer.is_empty());
        assert_eq!(
            r.authority_keys(),
            [rr("example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300")]
        );
        assert!(Response::parse(";; connection timed out; no servers could be reached").is_none());
    }
}
