//! 100 config reloads under load: gslb XDP on a config of its own (pool
//! names and fixed names in two generations whose answers differ),
//! `gslb reload` run [`RELOADS`] times, the config file swapped between
//! the generations each time, while dnsperf sends a bounded load
//! ([`QPS`]) and a counting UDP client in the client namespace asks one
//! name after another and checks that every answer is the old
//! generation's or the new one's. Reported: queries sent and lost
//! (dnsperf's, and the checker's unanswered ones), wrong answers, the
//! time of each `gslb reload` (median, max), the XDP program's share of
//! the answers and veth's drops (what the 2-CPU machine loses anyway).

use std::{
    fmt::Write as _,
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{
    netns::{Net, Proc, SERVER_V4},
    servers,
    underload::{median_max, Load, UnderLoad},
    Ctx,
};

/// Reloads in the run.
pub const RELOADS: u32 = 100;
/// dnsperf's offered rate, queries/s (below the server's ceiling, so a
/// lost query is the reload's doing).
const QPS: u64 = 30_000;
/// gslb names of each kind in the config.
pub(super) const NAMES: u32 = 500;
/// Pools (and so answer policies) the pool names share.
const POOLS: u32 = 4;
/// Zone of the config.
pub(super) const ZONE: &str = "reload.bench";

/// What the run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadBench {
    /// Reloads done.
    pub reloads: u32,
    /// Time of each `gslb reload` (command to reply), ms: median.
    pub median_ms: f64,
    /// The slowest, ms.
    pub max_ms: f64,
    /// The load and the checker.
    #[serde(flatten)]
    pub load: UnderLoad,
}

/// Address of server `i` of generation `g`.
fn server_addr(g: u32, i: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 100 + g as u8, 1 + i as u8)
}

/// Fixed address of name `i` in generation `g`.
fn fixed_addr(g: u32, i: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 110 + g as u8, (i % 250) as u8 + 1)
}

/// The config of generation `g`: pools `p0`.. of two servers each (the
/// members differ by generation), `w<i>` answered from pool `p<i % 4>`
/// (global availability, both servers), `f<i>` with a fixed address.
pub(super) fn config(g: u32) -> String {
    let mut c = format!(
        "[server]\nlisten = [\"{SERVER_V4}:53\"]\n\n[[zone]]\nname = \"{ZONE}\"\n\
         ns = [\"ns1.{ZONE}.\"]\n[zone.soa]\nrname = \"hostmaster.{ZONE}.\"\n\
         [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"198.18.0.53\"\n\n\
         [[datacenter]]\nname = \"dc1\"\nlat = 52.37\nlon = 4.90\n"
    );
    for gen in 0..2 {
        for i in 0..POOLS * 2 {
            let _ = write!(
                c,
                "\n[[vserver]]\nname = \"v{gen}_{i}\"\naddress = \"{}\"\ndatacenter = \"dc1\"\n",
                server_addr(gen, i)
            );
        }
    }
    for p in 0..POOLS {
        let _ = write!(
            c,
            "\n[[pool]]\nname = \"p{p}\"\nmembers = [\"v{g}_{}\", \"v{g}_{}\"]\n\
             preferred = \"global_availability\"\nmax_answers = 2\n",
            2 * p,
            2 * p + 1
        );
    }
    for i in 0..NAMES {
        let _ = write!(
            c,
            "\n[[gslb]]\nname = \"w{i}.{ZONE}\"\nttl = 30\npools = [\"p{}\"]\n\
             \n[[gslb]]\nname = \"f{i}.{ZONE}\"\nttl = 30\na = [\"{}\"]\n",
            i % POOLS,
            fixed_addr(g, i)
        );
    }
    c
}

/// The answer of name `i` (pool name when `pool`) in generation `g`.
fn expected(g: u32, i: u32, pool: bool) -> Vec<Ipv4Addr> {
    if pool {
        let p = i % POOLS;
        vec![server_addr(g, 2 * p), server_addr(g, 2 * p + 1)]
    } else {
        vec![fixed_addr(g, i)]
    }
}

/// A DNS query for `name` A with id `id` (RD clear, no EDNS).
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend(id.to_be_bytes());
    q.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

/// Skips a (possibly compressed) name at `at`; the offset after it.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)?;
        if len & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        at += 1 + usize::from(len);
        if len == 0 {
            return Some(at);
        }
    }
}

/// The id, rcode and A addresses of a response.
fn parse(m: &[u8]) -> Option<(u16, u8, Vec<Ipv4Addr>)> {
    let id = u16::from_be_bytes([*m.first()?, *m.get(1)?]);
    let rcode = m.get(3)? & 0x0f;
    let an = u16::from_be_bytes([*m.get(6)?, *m.get(7)?]);
    let mut at = skip_name(m, 12)? + 4;
    let mut addrs = Vec::new();
    for _ in 0..an {
        at = skip_name(m, at)?;
        let rtype = u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([*m.get(at + 8)?, *m.get(at + 9)?]));
        at += 10;
        let data = m.get(at..at + len)?;
        if rtype == 1 && len == 4 {
            addrs.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += len;
    }
    Some((id, rcode, addrs))
}

/// Queries the names one after another from the client namespace until
/// `stop`, checking each answer against both generations: (checked,
/// wrong, unanswered, first wrong ones).
pub(super) fn check(net: &Net, stop: &AtomicBool) -> Result<(u64, u64, u64, Vec<String>)> {
    let ns = net.client_ns.clone();
    let sock = gslb_testbed::ns::in_netns(&ns, || UdpSocket::bind("0.0.0.0:0"))
        .context("a UDP socket in the client namespace")?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    let server = SocketAddr::from((SERVER_V4, 53));
    let (mut checked, mut wrong, mut unanswered) = (0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    let mut buf = [0u8; 1500];
    let started = Instant::now();
    let mut n: u32 = 0;
    // Bounded in time whatever happens to `stop`.
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(90) {
        let i = n % NAMES;
        let pool = n.is_multiple_of(2);
        let name = format!("{}{i}.{ZONE}", if pool { 'w' } else { 'f' });
        let id = (n & 0xffff) as u16;
        n = n.wrapping_add(1);
        sock.send_to(&query(id, &name), server)?;
        let reply = loop {
            match sock.recv(&mut buf) {
                Ok(len) => match parse(&buf[..len]) {
                    Some((rid, rcode, addrs)) if rid == id => break Some((rcode, addrs)),
                    _ => {}
                },
                Err(_) => break None,
            }
        };
        let Some((rcode, mut addrs)) = reply else {
            unanswered += 1;
            continue;
        };
        checked += 1;
        addrs.sort();
        if rcode != 0 || (addrs != expected(0, i, pool) && addrs != expected(1, i, pool)) {
            wrong += 1;
            if examples.len() < 5 {
                examples.push(format!("{name}: rcode {rcode}, {addrs:?}"));
            }
        }
    }
    Ok((checked, wrong, unanswered, examples))
}

impl Ctx<'_> {
    /// The reload run; never fails (a failure is recorded).
    pub(super) fn reload_bench(&mut self, net: &mut Net) -> ReloadBench {
        println!("bench: {RELOADS} config reloads under load ...");
        let mut out = ReloadBench::default();
        if let Err(e) = self.reload_run(net, &mut out) {
            println!("bench: reload: {e:#}");
            out.load.error = Some(format!("{e:#}"));
        }
        let _ = self.restore_ends(net);
        out
    }

    fn reload_run(&mut self, net: &mut Net, out: &mut ReloadBench) -> Result<()> {
        let dir = self.work.join("reload");
        std::fs::create_dir_all(&dir)?;
        self.client_for_sockets(net)?;
        let configs = [config(0), config(1)];
        let file = dir.join("gslb.toml");
        std::fs::write(&file, &configs[0])?;
        let queries = write_queries(&dir)?;
        net.xdp_off(true)?;
        let pin = net.next_pin_dir();
        let c = servers::gslb_cmd(net, self.gslb, &file, &pin, &dir, false);
        let mut p = Proc::spawn("gslb", c, &dir.join("server.log"))?;
        p.wait_log("gslb ready", self.plan.start_timeout)?;
        let control = dir.join("control.sock");
        let pids = super::netns::descendants(p.pid());
        let load = Load {
            queries: &queries,
            dir: &dir,
            qps: QPS,
            // Long enough for every reload, spaced 100 ms apart.
            secs: 3 + u64::from(RELOADS) / 8,
            warmup: Duration::from_millis(500),
        };
        let mut times = Vec::new();
        let result = self.under_load(net, pids, &pin, &load, &mut out.load, || {
            for n in 0..RELOADS {
                let began = Instant::now();
                std::fs::write(&file, &configs[(n as usize + 1) % 2])
                    .context("writing the config")?;
                crate::cmd::output(
                    Command::new(self.gslb)
                        .args(["reload", "--control"])
                        .arg(&control),
                )?;
                times.push(began.elapsed().as_secs_f64() * 1000.0);
                thread::sleep(Duration::from_millis(100).saturating_sub(began.elapsed()));
            }
            Ok(())
        });
        p.check_alive()?;
        p.stop(Duration::from_secs(10));
        out.reloads = times.len() as u32;
        (out.median_ms, out.max_ms) = median_max(&mut times);
        result
    }
}

/// dnsperf's query file in `dir`: the A query of every name of the
/// config, pool names and fixed names.
pub(super) fn write_queries(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let mut names = String::new();
    for i in 0..NAMES {
        let _ = writeln!(names, "w{i}.{ZONE} A\nf{i}.{ZONE} A");
    }
    let queries = dir.join("queries.txt");
    std::fs::write(&queries, names)?;
    Ok(queries)
}

/// The target line: (what, measured, verdict).
pub fn target(r: &ReloadBench) -> (String, String, &'static str) {
    let what =
        "100 config reloads under load: zero wrong answers, zero queries lost by the server".into();
    if let Some(e) = &r.load.error {
        return (what, format!("failed: {e}"), "missed");
    }
    let measured = format!(
        "{} reloads (median {:.0} ms, max {:.0} ms); {}",
        r.reloads,
        r.median_ms,
        r.max_ms,
        r.load.measured()
    );
    let ok = r.reloads == RELOADS && r.load.clean();
    (what, measured, if ok { "met" } else { "missed" })
}

/// The section of results.md.
pub fn markdown(r: &ReloadBench, s: &mut String) {
    let _ = writeln!(s, "\n## Config reloads under load\n");
    let _ = writeln!(
        s,
        "gslb XDP on a config of {NAMES} pool names and {NAMES} fixed names; `gslb reload` \
         {RELOADS} times, the config file swapped between two generations whose answers \
         differ, while dnsperf offers {QPS} queries/s and a checker asks the names one by one.\n"
    );
    let rows = [
        ("reloads", r.reloads.to_string()),
        ("gslb reload, median", format!("{:.1} ms", r.median_ms)),
        ("gslb reload, max", format!("{:.1} ms", r.max_ms)),
    ];
    r.load.markdown(&rows, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generations_differ_and_parse_back() {
        for g in 0..2 {
            assert!(config(g).contains(&format!("name = \"w{}.{ZONE}\"", NAMES - 1)));
        }
        assert_ne!(expected(0, 3, true), expected(1, 3, true));
        assert_ne!(expected(0, 3, false), expected(1, 3, false));
        // A response to our query with one A record behind a pointer.
        let mut m = query(7, "f1.reload.bench");
        m[2] = 0x84;
        m[7] = 1;
        m.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 198, 18, 110, 2]);
        assert_eq!(
            parse(&m),
            Some((7, 0, vec![Ipv4Addr::new(198, 18, 110, 2)]))
        );
    }
}
