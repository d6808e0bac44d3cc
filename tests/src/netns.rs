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
//! The namespaces, the veth pair, the pass-through program and bounded
//! commands come from `gslb-testbed`; this module adds the tests'
//! addressing and naming, and its submodules the daemon (`daemon`), dig's
//! output (`dig`), the UDP client (`udp_dns`), the backends (`backend`)
//! and background processes (`background`).
//!
//! gslb itself (`run`, `stats`, `xdp-pass`) is started with
//! `nsenter --net=/run/netns/NAME`, not `ip netns exec`: the latter remounts
//! /sys in a private mount namespace, which hides the bpffs pins under
//! /sys/fs/bpf.

use std::{
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::Duration,
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

mod backend;
mod background;
mod daemon;
mod dig;
mod udp_dns;

pub use backend::Backend;
pub use background::Background;
pub use daemon::{Counters, Daemon, DaemonOpts};
pub use dig::{rr, Response, Rr, Summary};
pub use udp_dns::{DnsReply, UdpDns};

/// Prefix of every namespace, pin directory and scratch directory of the
/// tests: `gslbt-<pid>-...`.
pub(crate) const PREFIX: &str = "gslbt-";
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
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
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
        UdpDns::new(sock)
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

fn add_addr(ns: &str, ifname: &str, addr: IpAddr) {
    let len = if addr.is_ipv6() { 128 } else { 32 };
    link::add_addr(ns, ifname, addr, len).unwrap_or_else(|e| panic!("{e}"));
}
