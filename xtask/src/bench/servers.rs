//! The servers under test: one function per server writes its config
//! (everything under the run's work directory: config, pid, state) and
//! starts it in the server namespace, in the foreground, as a [`Proc`].

use std::{
    fmt::Write as _,
    fs,
    io::{BufRead as _, BufReader, BufWriter, Write as _},
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::{
    dataset::{v4, Dataset, ZONE},
    netns::{Net, Proc, SERVER_V4},
};
use crate::cmd;

/// The servers, in the order they are measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// gslb with its XDP fast path.
    GslbXdp,
    /// gslb `--no-xdp`: the hickory slow path alone.
    GslbSlow,
    /// NSD.
    Nsd,
    /// Knot DNS, UDP sockets.
    KnotUdp,
    /// Knot DNS, XDP mode (`xdp: listen`).
    KnotXdp,
    /// `PowerDNS` Authoritative, bind backend, LUA records (`pickwrandom`).
    Pdns,
    /// gdnsd with the `weighted` plugin.
    Gdnsd,
}

impl Kind {
    /// Every server.
    pub const ALL: [Kind; 7] = [
        Kind::GslbXdp,
        Kind::GslbSlow,
        Kind::Nsd,
        Kind::KnotUdp,
        Kind::KnotXdp,
        Kind::Pdns,
        Kind::Gdnsd,
    ];

    /// Short key (`--servers`, file names).
    pub fn key(self) -> &'static str {
        match self {
            Kind::GslbXdp => "gslb-xdp",
            Kind::GslbSlow => "gslb-slow",
            Kind::Nsd => "nsd",
            Kind::KnotUdp => "knot-udp",
            Kind::KnotXdp => "knot-xdp",
            Kind::Pdns => "pdns-lua",
            Kind::Gdnsd => "gdnsd",
        }
    }

    /// Label in tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::GslbXdp => "gslb XDP",
            Kind::GslbSlow => "gslb slow path",
            Kind::Nsd => "NSD",
            Kind::KnotUdp => "Knot UDP",
            Kind::KnotXdp => "Knot XDP",
            Kind::Pdns => "PowerDNS LUA",
            Kind::Gdnsd => "gdnsd weighted",
        }
    }

    /// Parses a key.
    pub fn from_key(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == s)
    }
}

/// The Debian packages the servers come from.
pub const PACKAGES: &[&str] = &["nsd", "knot", "pdns-server", "pdns-backend-bind", "gdnsd"];

/// A started server.
pub struct Running {
    /// The process (stopped on drop).
    pub proc: Proc,
    /// Spawn to first correct answer (or "gslb ready"), ms.
    pub ready_ms: u64,
    /// gslb: spawn to the `gslb ready` log line, ms.
    pub daemon_ready_ms: Option<u64>,
    /// gslb's pin directory.
    pub pin_dir: Option<PathBuf>,
}

impl Running {
    /// The server's processes (the spawned one and what it forked).
    pub fn pids(&self) -> Vec<u32> {
        super::netns::descendants(self.proc.pid())
    }
}

/// `/usr/sbin/NAME` or NAME on PATH.
fn sbin(name: &str) -> PathBuf {
    cmd::which(name).unwrap_or_else(|| PathBuf::from("/usr/sbin").join(name))
}

/// Starts `kind` and waits until it answers `g0.bench.test A` correctly.
pub fn start(
    kind: Kind,
    net: &mut Net,
    ds: &Dataset,
    work: &Path,
    gslb: &Path,
    timeout: Duration,
) -> Result<Running> {
    let dir = work.join(kind.key());
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("server.log");
    let mut pin_dir = None;
    let mut proc = match kind {
        Kind::GslbXdp | Kind::GslbSlow => {
            let pin = net.next_pin_dir();
            let p = gslb_cmd(net, gslb, &ds.gslb_toml, &pin, &dir, kind == Kind::GslbSlow);
            pin_dir = Some(pin);
            Proc::spawn(kind.key(), p, &log)?
        }
        Kind::Nsd => Proc::spawn(kind.key(), nsd(net, ds, &dir)?, &log)?,
        Kind::KnotUdp => Proc::spawn(kind.key(), knot(net, ds, &dir, false)?, &log)?,
        Kind::KnotXdp => Proc::spawn(kind.key(), knot(net, ds, &dir, true)?, &log)?,
        Kind::Pdns => Proc::spawn(kind.key(), pdns(net, ds, &dir)?, &log)?,
        Kind::Gdnsd => Proc::spawn(kind.key(), gdnsd(net, ds, &dir)?, &log)?,
    };
    let mut daemon_ready_ms = None;
    if matches!(kind, Kind::GslbXdp | Kind::GslbSlow) {
        proc.wait_log("gslb ready", timeout)?;
        daemon_ready_ms = u64::try_from(proc.started.elapsed().as_millis()).ok();
    }
    wait_answer(net, &mut proc, timeout)?;
    let ready_ms = u64::try_from(proc.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Running {
        proc,
        ready_ms,
        daemon_ready_ms,
        pin_dir,
    })
}

/// Polls with dig from the client namespace until `g0` gets its address.
fn wait_answer(net: &Net, proc: &mut Proc, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let want = v4(0).to_string();
    loop {
        let out = net
            .client("dig")
            .args([
                "+short",
                "+tries=1",
                "+time=1",
                "+noedns",
                &format!("@{SERVER_V4}"),
                &format!("g0.{ZONE}"),
                "A",
            ])
            .output();
        if let Ok(out) = out {
            if String::from_utf8_lossy(&out.stdout).trim() == want {
                return Ok(());
            }
        }
        proc.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "{}: no correct answer for g0.{ZONE} A after {timeout:?}: {}",
                proc.name,
                proc.log_tail(15)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `gslb run` in the server namespace, its control socket in `dir`.
/// Stopped between runs, it leaves no program on the interface.
pub fn gslb_cmd(
    net: &Net,
    gslb: &Path,
    config: &Path,
    pin: &Path,
    dir: &Path,
    no_xdp: bool,
) -> Command {
    let mut c = gslb_run_pinned(net, gslb, config, pin, dir);
    c.arg("--detach-on-exit");
    if no_xdp {
        c.arg("--no-xdp");
    }
    c
}

/// `gslb run` in the server namespace, its control socket and state file
/// (each run's own) in `dir`, pinned under `pin`: as the daemon runs by
/// default, it leaves the fast path attached at exit.
pub fn gslb_run_pinned(net: &Net, gslb: &Path, config: &Path, pin: &Path, dir: &Path) -> Command {
    let mut c = net.server(gslb);
    c.arg("run")
        .arg("--config")
        .arg(config)
        .arg("--control")
        .arg(dir.join("control.sock"))
        .args(["--iface", &net.server_if])
        .args(["--listen", &format!("{SERVER_V4}:53")])
        .arg("--pin-dir")
        .arg(pin)
        .arg("--state-file")
        .arg(dir.join("state.json"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    c
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// NSD 4: two server processes with `SO_REUSEPORT`, no database file, no
/// response rate limiting (Debian builds it in and turns it on: it drops
/// most NXDOMAIN answers to one client).
fn nsd(net: &Net, ds: &Dataset, dir: &Path) -> Result<Command> {
    let d = dir.display();
    let conf = dir.join("nsd.conf");
    write(
        &conf,
        &format!(
            "server:\n  ip-address: {SERVER_V4}\n  port: 53\n  server-count: 2\n  reuseport: yes\n\
             \x20 username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n\
             \x20 pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n\
             \x20 zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n\
             \x20 verbosity: 1\n  hide-version: yes\n\
             \x20 rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: {ZONE}\n  zonefile: \"{}\"\n",
            ds.zone.display()
        ),
    )?;
    let mut c = net.server(sbin("nsd"));
    c.arg("-d").arg("-c").arg(&conf);
    Ok(c)
}

/// Knot DNS 3: two UDP workers; with `xdp`, also `xdp: listen` on the
/// server's veth end (Knot then answers UDP port 53 there through `AF_XDP`).
fn knot(net: &Net, ds: &Dataset, dir: &Path, xdp: bool) -> Result<Command> {
    let d = dir.display();
    let zone_dir = ds.zone.parent().unwrap_or(Path::new("/"));
    let zone_file = ds
        .zone
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut text = format!(
        "server:\n    rundir: \"{d}\"\n    pidfile: \"{d}/knot.pid\"\n    listen: {SERVER_V4}@53\n\
         \x20   udp-workers: 2\n    tcp-workers: 1\n    background-workers: 1\n"
    );
    if xdp {
        let _ = write!(
            text,
            "xdp:\n    listen: {}@53\n    udp: on\n",
            net.server_if
        );
    }
    let _ = write!(
        text,
        "database:\n    storage: \"{d}\"\ncontrol:\n    listen: \"{d}/knot.sock\"\n\
         log:\n  - target: stderr\n    any: info\n\
         template:\n  - id: default\n    storage: \"{}\"\n    journal-content: none\n\
         \x20   zonefile-sync: -1\n    zonefile-load: whole\n    semantic-checks: off\n\
         zone:\n  - domain: {ZONE}\n    file: \"{zone_file}\"\n",
        zone_dir.display()
    );
    let conf = dir.join("knot.conf");
    write(&conf, &text)?;
    let mut c = net.server(sbin("knotd"));
    c.arg("-c").arg(&conf);
    Ok(c)
}

/// `PowerDNS` Authoritative 4: bind backend, LUA records with a shared Lua
/// state (`enable-lua-records=shared`, ten times faster than `yes` here).
/// `max-queue-length` raised from 5000: past it `PowerDNS` exits ("respawning")
/// and a load generator that sends faster than it answers would kill it.
fn pdns(net: &Net, ds: &Dataset, dir: &Path) -> Result<Command> {
    let d = dir.display();
    write(
        &dir.join("named.conf"),
        &format!(
            "zone \"{ZONE}\" {{ type master; file \"{}\"; }};\n",
            ds.pdns_zone.display()
        ),
    )?;
    write(
        &dir.join("pdns.conf"),
        &format!(
            "launch=bind\nbind-config={d}/named.conf\nenable-lua-records=shared\n\
             local-address={SERVER_V4}\nlocal-port=53\nsocket-dir={d}\ndaemon=no\nguardian=no\n\
             disable-syslog=yes\nloglevel=4\nreceiver-threads=2\nreuseport=yes\n\
             webserver=no\napi=no\nmax-queue-length=1000000\n"
        ),
    )?;
    let mut c = net.server(sbin("pdns_server"));
    c.arg(format!("--config-dir={d}"));
    Ok(c)
}

/// gdnsd 3: two UDP threads, `weighted` plugin resources (one per name).
fn gdnsd(net: &Net, ds: &Dataset, dir: &Path) -> Result<Command> {
    let d = dir.display();
    let zones = dir.join("zones");
    fs::create_dir_all(&zones)?;
    fs::copy(&ds.gdnsd_zone, zones.join(ZONE))
        .with_context(|| format!("copying {}", ds.gdnsd_zone.display()))?;
    let conf = dir.join("config");
    let mut w = BufWriter::new(fs::File::create(&conf)?);
    write!(
        w,
        "options => {{\n  listen => [ {SERVER_V4} ]\n  udp_threads => 2\n  tcp_threads => 1\n\
         \x20 run_dir => {d}/run\n  state_dir => {d}/state\n}}\n\
         plugins => {{\n  weighted => {{\n"
    )?;
    let res = fs::File::open(&ds.gdnsd_resources)?;
    for line in BufReader::new(res).lines() {
        writeln!(w, "    {}", line?)?;
    }
    writeln!(w, "  }}\n}}")?;
    w.flush()?;
    let mut c = net.server(sbin("gdnsd"));
    c.arg("-c").arg(dir).arg("start");
    Ok(c)
}

/// Parses `key=value` of gslb's `XDP maps filled` log line.
pub fn maps_filled(log: &str) -> Option<(u64, Option<u64>)> {
    let line = log.lines().find(|l| l.contains("XDP maps filled"))?;
    let get = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
    };
    Some((get("entries=")?, get("elapsed_ms=")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_filled() {
        let log = "2026-11-22T03:00:24Z  INFO gslb: XDP maps filled entries=30000 elapsed_ms=52 pin_dir=/x\n";
        assert_eq!(maps_filled(log), Some((30000, Some(52))));
        let old = "INFO gslb: XDP maps filled entries=7 pin_dir=/x";
        assert_eq!(maps_filled(old), Some((7, None)));
        assert_eq!(maps_filled("nothing"), None);
    }

    #[test]
    fn keys_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_key(k.key()), Some(k));
        }
    }
}
