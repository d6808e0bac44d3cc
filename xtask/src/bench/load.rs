//! The load generators, each run for a fixed time and killed if it
//! overstays: dnsperf (throughput, and latency at a fixed rate with `-v`)
//! and kxdpgun (`AF_XDP`, from the client end of the veth pair).

use std::{
    collections::BTreeMap,
    fs,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::netns::{Net, SERVER_V4};
use crate::cmd;

/// dnsperf's client sockets, threads and outstanding queries: enough to
/// keep any of the servers busy (more only adds latency).
const DNSPERF_CLIENTS: &str = "4";
const DNSPERF_THREADS: &str = "2";
const DNSPERF_OUTSTANDING: &str = "500";

/// Runs `cmd` with stdout and stderr into `out`; killed after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration, out: &Path) -> Result<String> {
    let line = cmd::display(&cmd);
    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("failed to start `{line}`"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{line}` still running after {limit:?}: killed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let text = fs::read_to_string(out).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        bail!(
            "`{line}` failed ({status}): {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(text)
}

/// The number after `key` on the first line that has it (`key  123.4 ...`).
fn field(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.trim_end_matches(',').parse().ok())
}

/// Result of a dnsperf throughput run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dnsperf {
    /// Queries sent.
    pub sent: u64,
    /// Queries answered.
    pub completed: u64,
    /// Lost (timed out) fraction, 0..1.
    pub loss: f64,
    /// Answered queries per second.
    pub qps: f64,
    /// Average latency, ms.
    pub avg_latency_ms: f64,
    /// Response codes and their counts.
    pub rcodes: BTreeMap<String, u64>,
}

/// Parses dnsperf's closing statistics.
pub fn parse_dnsperf(text: &str) -> Result<Dnsperf> {
    let need = |k: &str| field(text, k).with_context(|| format!("no `{k}` in dnsperf output"));
    let sent = need("Queries sent:")? as u64;
    let completed = need("Queries completed:")? as u64;
    let mut rcodes = BTreeMap::new();
    if let Some(l) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Response codes:"))
    {
        // "NOERROR 830339 (100.00%), NXDOMAIN 12 (0.01%)"
        for part in l.split(',') {
            let mut w = part.split_whitespace();
            if let (Some(code), Some(n)) = (w.next(), w.next().and_then(|n| n.parse().ok())) {
                rcodes.insert(code.to_owned(), n);
            }
        }
    }
    Ok(Dnsperf {
        sent,
        completed,
        loss: if sent > 0 {
            1.0 - completed as f64 / sent as f64
        } else {
            0.0
        },
        qps: need("Queries per second:")?,
        avg_latency_ms: need("Average Latency (s):")? * 1000.0,
        rcodes,
    })
}

/// dnsperf at full speed for `secs` seconds.
pub fn dnsperf(net: &Net, queries: &Path, secs: u64, out: &Path) -> Result<Dnsperf> {
    dnsperf_at(net, queries, secs, None, out)
}

/// dnsperf throughput run, at most `rate` queries/s when given.
pub fn dnsperf_at(
    net: &Net,
    queries: &Path,
    secs: u64,
    rate: Option<u64>,
    out: &Path,
) -> Result<Dnsperf> {
    dnsperf_file(net, queries, false, secs, rate, out)
}

/// dnsperf throughput run over `queries`, a `name type` file or, with
/// `binary`, dnsperf's `-B` file of wire-format queries (each with its own
/// EDNS options); at most `rate` queries/s when given.
pub fn dnsperf_file(
    net: &Net,
    queries: &Path,
    binary: bool,
    secs: u64,
    rate: Option<u64>,
    out: &Path,
) -> Result<Dnsperf> {
    let mut c = net.client("dnsperf");
    if let Some(rate) = rate {
        c.args(["-Q", &rate.to_string()]);
    }
    if binary {
        c.arg("-B");
    }
    c.args(["-s", &SERVER_V4.to_string(), "-d"])
        .arg(queries)
        .args(["-l", &secs.to_string()])
        .args(["-c", DNSPERF_CLIENTS, "-T", DNSPERF_THREADS])
        .args(["-q", DNSPERF_OUTSTANDING, "-t", "1"]);
    let text = run_bounded(c, Duration::from_secs(secs + 30), out)?;
    parse_dnsperf(&text)
}

/// Latency at a fixed rate (per-query latencies from `dnsperf -v`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Offered rate, queries per second.
    pub rate: u64,
    /// Answered queries measured.
    pub answered: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Lost fraction.
    pub loss: f64,
}

/// Parses `> RCODE name type seconds` lines.
pub fn parse_latencies(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("> "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[0] != "T")
                .then(|| f[3].parse::<f64>().ok())
                .flatten()
        })
        .collect()
}

/// The `q`-quantile (0..1) of sorted `v`.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// dnsperf `-Q rate -v` for `secs` seconds: one client, so the latencies
/// are the server's and the network's, not the generator's queueing.
pub fn latency(net: &Net, queries: &Path, secs: u64, rate: u64, out: &Path) -> Result<Latency> {
    let mut c = net.client("dnsperf");
    c.args(["-s", &SERVER_V4.to_string(), "-d"])
        .arg(queries)
        .args(["-l", &secs.to_string()])
        .args(["-c", "1", "-T", "1", "-q", "200", "-t", "1", "-v"])
        .args(["-Q", &rate.to_string()]);
    let text = run_bounded(c, Duration::from_secs(secs + 30), out)?;
    let summary = parse_dnsperf(&text)?;
    let mut v = parse_latencies(&text);
    v.sort_by(f64::total_cmp);
    // The per-query lines are big; keep the summary only.
    let _ = fs::write(
        out,
        text.lines()
            .filter(|l| !l.starts_with("> "))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    Ok(Latency {
        rate,
        answered: v.len() as u64,
        p50_ms: quantile(&v, 0.50) * 1000.0,
        p99_ms: quantile(&v, 0.99) * 1000.0,
        max_ms: v.last().copied().unwrap_or(0.0) * 1000.0,
        loss: summary.loss,
    })
}

/// Result of a kxdpgun run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Kxdpgun {
    /// Queries sent.
    pub sent: u64,
    /// Replies received.
    pub replies: u64,
    /// Send rate, queries per second.
    pub sent_qps: f64,
    /// Reply rate: answered queries per second.
    pub qps: f64,
    /// 1 − replies / sent.
    pub loss: f64,
    /// Reply rcodes (`responded NOERROR: n`).
    pub rcodes: BTreeMap<String, u64>,
    /// XDP threads kxdpgun used.
    pub threads: u32,
}

/// Parses kxdpgun's summary.
pub fn parse_kxdpgun(text: &str) -> Result<Kxdpgun> {
    // "total queries:     1505870 (301174 pps)"
    let total = |key: &str| -> Result<(u64, f64)> {
        let l = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .with_context(|| format!("no `{key}` in kxdpgun output"))?;
        let mut w = l.split_whitespace();
        let n = w.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let pps = w
            .next()
            .and_then(|v| v.trim_start_matches('(').parse().ok())
            .unwrap_or(0.0);
        Ok((n, pps))
    };
    // libknot's XDP program refused by the kernel: say so, with the
    // verifier's reason, rather than that the summary is missing.
    if let Some(why) = text
        .lines()
        .find(|l| l.contains("cannot use helper") || l.contains("BPF program load failed"))
    {
        let reason = text
            .lines()
            .find(|l| l.contains("cannot use helper"))
            .unwrap_or(why);
        anyhow::bail!(
            "kxdpgun could not load its XDP program on this kernel ({}): no kxdpgun figures",
            reason.trim()
        );
    }
    let (sent, sent_qps) = total("total queries:")?;
    let (replies, qps) = total("total replies:")?;
    let mut rcodes = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.trim().strip_prefix("responded ") {
            if let Some((code, n)) = rest.split_once(':') {
                if let Ok(n) = n.trim().parse() {
                    rcodes.insert(code.trim().to_owned(), n);
                }
            }
        }
    }
    let threads = text
        .lines()
        .find_map(|l| l.split_once("XDP threads "))
        .and_then(|(_, r)| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(Kxdpgun {
        sent,
        replies,
        sent_qps,
        qps,
        loss: if sent > 0 {
            1.0 - replies as f64 / sent as f64
        } else {
            0.0
        },
        rcodes,
        threads,
    })
}

/// kxdpgun for `secs` seconds at up to `rate` q/s from the client end.
pub fn kxdpgun(net: &Net, queries: &Path, secs: f64, rate: u64, out: &Path) -> Result<Kxdpgun> {
    kxdpgun_from(net, queries, secs, rate, None, out)
}

/// kxdpgun as [`kxdpgun`], its queries from the addresses of `local`
/// (`ADDRESS/LENGTH`, uniformly) when given instead of the client end's.
pub fn kxdpgun_from(
    net: &Net,
    queries: &Path,
    secs: f64,
    rate: u64,
    local: Option<&str>,
    out: &Path,
) -> Result<Kxdpgun> {
    let mut c = net.client("kxdpgun");
    if let Some(l) = local {
        c.args(["-l", l]);
    }
    c.args(["-t", &secs.to_string(), "-Q", &rate.to_string(), "-i"])
        .arg(queries)
        .args(["-I", &net.client_if])
        .args(["-L", &net.client_mac, "-R", &net.server_mac])
        .arg(SERVER_V4.to_string());
    let text = run_bounded(c, Duration::from_secs_f64(secs + 30.0), out)?;
    parse_kxdpgun(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnsperf() {
        let t = "\
Statistics:

  Queries sent:         830339
  Queries completed:    830000 (99.96%)
  Queries lost:         339 (0.04%)

  Response codes:       NOERROR 800000 (96.39%), NXDOMAIN 30000 (3.61%)
  Average packet size:  request 33, response 49
  Run time (s):         5.000104
  Queries per second:   166064.345862

  Average Latency (s):  0.000404 (min 0.000006, max 0.015097)
  Latency StdDev (s):   0.000618
";
        let d = parse_dnsperf(t).unwrap();
        assert_eq!(d.sent, 830_339);
        assert_eq!(d.completed, 830_000);
        assert!((d.qps - 166_064.345_862).abs() < 1e-6);
        assert!((d.avg_latency_ms - 0.404).abs() < 1e-9);
        assert_eq!(d.rcodes["NXDOMAIN"], 30000);
    }

    #[test]
    fn parses_latencies() {
        let t = "[Status] x\n> NOERROR g1.bench.test A 0.000120\n> NXDOMAIN nx1.bench.test A 0.000300\n> T g2.bench.test A\n";
        let mut v = parse_latencies(t);
        v.sort_by(f64::total_cmp);
        assert_eq!(v, vec![0.000_12, 0.000_3]);
        assert!((quantile(&v, 0.99) - 0.000_3).abs() < 1e-12);
    }

    #[test]
    fn parses_kxdpgun() {
        let t = "\
using interface gb1c, XDP threads 1, UDP, native mode
thread#00: sent 1505870, received 1505870
total queries:     1505870 (301174 pps)
total replies:     1405870 (281174 pps) (93%)
average DNS reply size: 49 B
responded NOERROR:   1305870
responded NXDOMAIN:  100000
duration: 5 s
";
        let k = parse_kxdpgun(t).unwrap();
        assert_eq!(k.sent, 1_505_870);
        assert_eq!(k.replies, 1_405_870);
        assert!((k.qps - 281_174.0).abs() < 1e-9);
        assert_eq!(k.rcodes["NXDOMAIN"], 100_000);
        assert_eq!(k.threads, 1);
    }

    #[test]
    fn a_refused_kxdpgun_program_is_named() {
        let t = "libbpf: prog 'xdp_redirect_dns_func': BPF program load failed: Invalid argument
29: (85) call bpf_xdp_adjust_meta#54
program of this type cannot use helper bpf_xdp_adjust_meta#54
";
        let e = parse_kxdpgun(t).unwrap_err().to_string();
        assert!(
            e.contains("cannot use helper bpf_xdp_adjust_meta#54"),
            "{e}"
        );
    }
}
