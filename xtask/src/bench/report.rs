//! Results: the data model written to `results.json`, the judgement of
//! what limited each run, `results.md`, the printed table, the targets of
//! issue 3, and the PNG chart.

use std::{fmt::Write as _, fs, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{
    check::Check,
    dataset::Mix,
    load::{Dnsperf, Kxdpgun, Latency},
    measure::CpuUse,
    servers::Kind,
};

/// Whole-run facts.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    /// UTC timestamp `YYYYmmdd-HHMMSS`.
    pub timestamp: String,
    /// The command that produced the results.
    pub command: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs online.
    pub cpus: usize,
    /// Gslb names in the data set.
    pub names: usize,
    /// Query mix.
    pub mix: Mix,
    /// Lines in the query file.
    pub queries: usize,
    /// Sample size of the correctness check.
    pub sample: usize,
    /// Seconds of each dnsperf throughput run.
    pub dnsperf_secs: u64,
    /// Seconds and rate of each dnsperf latency run.
    pub latency_secs: u64,
    /// Offered rate of the latency run.
    pub latency_rate: u64,
    /// Seconds of each kxdpgun run.
    pub kxdpgun_secs: u64,
    /// kxdpgun's `-Q`.
    pub kxdpgun_rate: u64,
    /// Debian package versions of the tools and servers.
    pub versions: Vec<(String, String)>,
}

/// One load run and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct Run<T> {
    /// The generator's own figures.
    pub result: T,
    /// CPU use over the run.
    pub cpu: CpuUse,
    /// Answered queries per second.
    pub qps: f64,
    /// Answered queries.
    pub answered: u64,
    /// Server CPU per answered query, µs (processes + NAPI − softirq).
    pub server_us_per_q: f64,
    /// Same without removing softirq (includes the client's receive work
    /// done in the server's context), µs.
    pub server_raw_us_per_q: f64,
    /// Average run time of the server's XDP program per packet, ns.
    pub bpf_ns_per_packet: Option<f64>,
    /// Fraction of answers written by gslb's XDP program.
    pub xdp_answered_fraction: Option<f64>,
    /// What limited the rate: `server`, `generator ...`.
    pub limit: String,
    /// qps / gslb XDP's qps with the same generator.
    pub ratio: Option<f64>,
}

impl<T> Run<T> {
    /// Builds a run from its figures; `limit` and `ratio` come later.
    pub fn new(result: T, cpu: CpuUse, qps: f64, answered: u64) -> Self {
        let per_q = |s: f64| {
            if answered > 0 {
                s * 1e6 / answered as f64
            } else {
                0.0
            }
        };
        let bpf_ns_per_packet = cpu.bpf.iter().find_map(super::measure::BpfUse::ns_per_run);
        Run {
            server_us_per_q: per_q(cpu.server_s),
            server_raw_us_per_q: per_q(cpu.server_procs_s + cpu.server_napi_s),
            result,
            cpu,
            qps,
            answered,
            bpf_ns_per_packet,
            xdp_answered_fraction: None,
            limit: String::new(),
            ratio: None,
        }
    }
}

/// How a server fared.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Checked and measured.
    Ok,
    /// Gave wrong answers: reported, not timed.
    Disagrees,
    /// Did not start or failed during a run.
    Failed,
}

/// One server's results.
#[derive(Clone, Debug, Serialize)]
pub struct ServerResult {
    /// Which.
    pub kind: Kind,
    /// `gslb-xdp`, ...
    pub key: String,
    /// `gslb XDP`, ...
    pub label: String,
    /// Outcome.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// Spawn to first correct answer, ms.
    pub ready_ms: Option<u64>,
    /// The correctness check.
    pub check: Option<Check>,
    /// dnsperf throughput.
    pub dnsperf: Option<Run<Dnsperf>>,
    /// dnsperf latency at a fixed rate.
    pub latency: Option<Latency>,
    /// kxdpgun throughput.
    pub kxdpgun: Option<Run<Kxdpgun>>,
}

impl ServerResult {
    /// An empty result for `kind`.
    pub fn new(kind: Kind) -> Self {
        ServerResult {
            kind,
            key: kind.key().to_owned(),
            label: kind.label().to_owned(),
            status: Status::Ok,
            error: None,
            ready_ms: None,
            check: None,
            dnsperf: None,
            latency: None,
            kxdpgun: None,
        }
    }
}

/// One BPF map of the daemon.
#[derive(Clone, Debug, Serialize)]
pub struct MapMem {
    /// Map name.
    pub name: String,
    /// `memlock` bytes (the kernel's account of its memory).
    pub memlock: u64,
    /// Capacity.
    pub max_entries: u64,
}

/// gslb's map memory and load time for N names.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GslbLoad {
    /// Names loaded.
    pub names: usize,
    /// Map entries written (`XDP maps filled entries=`).
    pub entries: Option<u64>,
    /// Time to fill the maps (`elapsed_ms=`), when the daemon logs it.
    pub maps_fill_ms: Option<u64>,
    /// Process start to `gslb ready` (config parse, maps, attach), ms.
    pub start_to_ready_ms: Option<u64>,
    /// Sum of `memlock` over the daemon's maps.
    pub map_bytes: u64,
    /// The same with one name (what does not grow with N).
    pub map_bytes_one_name: Option<u64>,
    /// map_bytes / names.
    pub bytes_per_name: f64,
    /// (map_bytes − map_bytes_one_name) / (names − 1).
    pub marginal_bytes_per_name: Option<f64>,
    /// Per map.
    pub maps: Vec<MapMem>,
}

/// Everything `results.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    /// Run facts.
    pub meta: Meta,
    /// Per server, in measuring order.
    pub servers: Vec<ServerResult>,
    /// gslb map memory and load time.
    pub gslb_load: Option<GslbLoad>,
    /// Targets of issue 3 and how this run did.
    pub targets: Vec<Target>,
    /// What the harness does not measure yet.
    pub not_measured: Vec<String>,
}

/// One target and its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// The target.
    pub what: String,
    /// The measured figure.
    pub measured: String,
    /// `met`, `missed`, `n/a`.
    pub verdict: String,
}

/// Machine idle above this (in CPUs) means the server had room left.
const IDLE_CORES: f64 = 0.25;
/// Loss above this means the server could not keep up.
const LOSS: f64 = 0.03;
/// Within this fraction of the best result counts as the generator's
/// ceiling.
const CEILING: f64 = 0.9;

/// Why a run's rate was what it was.
fn limit(qps: f64, best: f64, loss: f64, cpu: &CpuUse) -> String {
    let wall = cpu.wall_s.max(1e-9);
    let idle = cpu.idle_s / wall;
    let other = cpu.other_s / wall;
    let mut s = if loss > LOSS {
        format!("server ({:.0}% lost)", loss * 100.0)
    } else if idle >= IDLE_CORES {
        format!("generator ({idle:.1} CPU idle)")
    } else if qps >= CEILING * best {
        "generator (at the ceiling)".to_owned()
    } else {
        "server".to_owned()
    };
    if other > 0.2 {
        let _ = write!(s, "; noisy: {other:.1} CPU of other work");
        let top: Vec<String> = cpu
            .top_other
            .iter()
            .filter(|(_, t)| *t / wall >= 0.05)
            .map(|(c, t)| format!("{c} {:.2}", t / wall))
            .collect();
        if !top.is_empty() {
            let _ = write!(s, " ({})", top.join(", "));
        }
    }
    s
}

/// Fills in `limit` and `ratio` of every run.
pub fn judge(servers: &mut [ServerResult]) {
    let best_dp = servers
        .iter()
        .filter_map(|s| s.dnsperf.as_ref().map(|r| r.qps))
        .fold(0.0, f64::max);
    let best_kx = servers
        .iter()
        .filter_map(|s| s.kxdpgun.as_ref().map(|r| r.qps))
        .fold(0.0, f64::max);
    let base = servers.iter().find(|s| s.kind == Kind::GslbXdp);
    let base_dp = base.and_then(|s| s.dnsperf.as_ref().map(|r| r.qps));
    let base_kx = base.and_then(|s| s.kxdpgun.as_ref().map(|r| r.qps));
    for s in servers.iter_mut() {
        if let Some(r) = s.dnsperf.as_mut() {
            r.limit = limit(r.qps, best_dp, r.result.loss, &r.cpu);
            r.ratio = base_dp.filter(|b| *b > 0.0).map(|b| r.qps / b);
        }
        if let Some(r) = s.kxdpgun.as_mut() {
            r.limit = limit(r.qps, best_kx, r.result.loss, &r.cpu);
            r.ratio = base_kx.filter(|b| *b > 0.0).map(|b| r.qps / b);
        }
    }
}

fn find(servers: &[ServerResult], kind: Kind) -> Option<&ServerResult> {
    servers.iter().find(|s| s.kind == kind)
}

/// The targets of issue 3, judged on this run.
pub fn targets(servers: &[ServerResult], load: Option<&GslbLoad>) -> Vec<Target> {
    let mut out = Vec::new();
    let kx = |k| find(servers, k).and_then(|s| s.kxdpgun.as_ref()).map(|r| r.qps);
    let dp = |k| find(servers, k).and_then(|s| s.dnsperf.as_ref());
    let ratio_target = |out: &mut Vec<Target>, what: &str, a: Option<f64>, b: Option<f64>, want: f64| {
        let (measured, verdict) = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => {
                let r = a / b;
                (
                    format!("{r:.2}× ({a:.0} / {b:.0} q/s)"),
                    if r >= want { "met" } else { "missed" },
                )
            }
            _ => ("not measured".to_owned(), "n/a"),
        };
        out.push(Target {
            what: what.to_owned(),
            measured,
            verdict: verdict.to_owned(),
        });
    };
    ratio_target(
        &mut out,
        "kxdpgun: gslb XDP ≥ 2× Knot XDP (answered q/s)",
        kx(Kind::GslbXdp),
        kx(Kind::KnotXdp),
        2.0,
    );
    ratio_target(
        &mut out,
        "kxdpgun: gslb XDP ≥ 4× NSD (answered q/s)",
        kx(Kind::GslbXdp),
        kx(Kind::Nsd),
        4.0,
    );
    // dnsperf: at the generator's ceiling, ≥ 3× less CPU per query than Knot XDP.
    match (dp(Kind::GslbXdp), dp(Kind::KnotXdp)) {
        (Some(g), Some(k)) => {
            let at_ceiling = g.limit.starts_with("generator");
            let r = if g.server_us_per_q > 0.0 {
                k.server_us_per_q / g.server_us_per_q
            } else {
                0.0
            };
            out.push(Target {
                what: "dnsperf: gslb XDP at the generator's ceiling".into(),
                measured: format!("{:.0} q/s, limit: {}", g.qps, g.limit),
                verdict: if at_ceiling { "met" } else { "missed" }.into(),
            });
            out.push(Target {
                what: "dnsperf: gslb XDP ≥ 3× less server CPU per query than Knot XDP".into(),
                measured: format!(
                    "{r:.2}× ({:.2} vs {:.2} µs/q)",
                    g.server_us_per_q, k.server_us_per_q
                ),
                verdict: if r >= 3.0 { "met" } else { "missed" }.into(),
            });
        }
        _ => out.push(Target {
            what: "dnsperf: gslb XDP at the ceiling, ≥ 3× less CPU/q than Knot XDP".into(),
            measured: "not measured".into(),
            verdict: "n/a".into(),
        }),
    }
    let slow = |k| {
        find(servers, k)
            .and_then(|s| s.kxdpgun.as_ref().map(|r| r.qps))
            .or_else(|| dp(k).map(|r| r.qps))
    };
    ratio_target(
        &mut out,
        "gslb slow path ≥ 0.5× NSD (kxdpgun, answered q/s)",
        slow(Kind::GslbSlow),
        slow(Kind::Nsd),
        0.5,
    );
    let ns = find(servers, Kind::GslbXdp)
        .and_then(|s| s.kxdpgun.as_ref())
        .and_then(|r| r.bpf_ns_per_packet)
        .or_else(|| dp(Kind::GslbXdp).and_then(|r| r.bpf_ns_per_packet));
    out.push(Target {
        what: "XDP program ≤ 250 ns per packet".into(),
        measured: ns.map_or("not measured".into(), |n| format!("{n:.0} ns")),
        verdict: match ns {
            Some(n) if n <= 250.0 => "met",
            Some(_) => "missed",
            None => "n/a",
        }
        .into(),
    });
    match load {
        Some(l) => {
            let ms = l.maps_fill_ms.or(l.start_to_ready_ms);
            out.push(Target {
                what: "1,000,000 names load into the maps in < 10 s".into(),
                measured: format!(
                    "{} names: maps filled in {} ms, start to ready {} ms",
                    l.names,
                    l.maps_fill_ms.map_or("?".into(), |v| v.to_string()),
                    l.start_to_ready_ms.map_or("?".into(), |v| v.to_string())
                ),
                verdict: match ms {
                    Some(_) if l.names < 1_000_000 => "n/a (run with --names 1000000)",
                    Some(ms) if ms < 10_000 => "met",
                    Some(_) => "missed",
                    None => "n/a",
                }
                .into(),
            });
            let per = l.marginal_bytes_per_name.unwrap_or(l.bytes_per_name);
            out.push(Target {
                what: "≤ 200 bytes of map memory per name (one address set)".into(),
                measured: format!(
                    "{per:.0} B/name marginal; {:.0} B/name all in ({} B for {} names)",
                    l.bytes_per_name, l.map_bytes, l.names
                ),
                verdict: if per <= 200.0 { "met" } else { "missed" }.into(),
            });
        }
        None => out.push(Target {
            what: "map memory and load time".into(),
            measured: "not measured (gslb-xdp not run)".into(),
            verdict: "n/a".into(),
        }),
    }
    out.push(Target {
        what: "No query lost or wrong while 10,000 answer updates/s are pushed".into(),
        measured: "not measured yet (needs a run-time update API)".into(),
        verdict: "n/a".into(),
    });
    out
}

fn fmt_qps(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

/// The main table (Markdown; also printed).
pub fn table(r: &Results) -> String {
    let mut s = String::new();
    s.push_str(
        "| server | kxdpgun answered q/s | × gslb XDP | kxdpgun loss | dnsperf q/s | × gslb XDP | \
         avg latency (dnsperf) | p50 / p99 at fixed rate | server CPU µs/q (dnsperf) | \
         server CPU µs/q (kxdpgun) | XDP ns/pkt | limit (kxdpgun; dnsperf) |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for sv in &r.servers {
        match sv.status {
            Status::Ok => {}
            Status::Disagrees => {
                let c = sv.check.as_ref();
                let _ = writeln!(
                    s,
                    "| {} | disagrees: {} of {} sample answers wrong, not timed | | | | | | | | | | |",
                    sv.label,
                    c.map_or(0, |c| c.mismatch_count),
                    c.map_or(0, |c| c.asked)
                );
                continue;
            }
            Status::Failed => {
                let _ = writeln!(
                    s,
                    "| {} | failed: {} | | | | | | | | | | |",
                    sv.label,
                    sv.error
                        .as_deref()
                        .unwrap_or("?")
                        .lines()
                        .next()
                        .unwrap_or("?")
                        .replace('|', "/")
                );
                if sv.dnsperf.is_none() && sv.kxdpgun.is_none() {
                    continue;
                }
            }
        }
        let kx = sv.kxdpgun.as_ref();
        let dp = sv.dnsperf.as_ref();
        let bpf = kx
            .and_then(|r| r.bpf_ns_per_packet)
            .or_else(|| dp.and_then(|r| r.bpf_ns_per_packet));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}; {} |",
            sv.label,
            opt(kx, |r| fmt_qps(r.qps)),
            opt(kx.and_then(|r| r.ratio), |v| format!("{v:.2}")),
            opt(kx, |r| format!("{:.1}%", r.result.loss * 100.0)),
            opt(dp, |r| fmt_qps(r.qps)),
            opt(dp.and_then(|r| r.ratio), |v| format!("{v:.2}")),
            opt(dp, |r| format!("{:.2} ms", r.result.avg_latency_ms)),
            opt(sv.latency.as_ref(), |l| format!(
                "{:.3} / {:.3} ms",
                l.p50_ms, l.p99_ms
            )),
            opt(dp, |r| format!("{:.2}", r.server_us_per_q)),
            opt(kx, |r| format!("{:.2}", r.server_us_per_q)),
            opt(bpf, |v| format!("{v:.0}")),
            opt(kx, |r| r.limit.clone()),
            opt(dp, |r| r.limit.clone()),
        );
    }
    s
}

/// Plain-text version of the main figures for the terminal.
pub fn text_table(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>6} {:>6} {:>10} {:>6} {:>9} {:>9} {:>8} {:>8} {:>6}  limit (kxdpgun; dnsperf)",
        "server", "kxdp q/s", "×XDP", "loss", "dnsperf", "×XDP", "p99 ms", "avg ms", "µs/q dp", "µs/q kx", "ns/pkt"
    );
    for sv in &r.servers {
        if !matches!(sv.status, Status::Ok) && sv.dnsperf.is_none() && sv.kxdpgun.is_none() {
            let why = match sv.status {
                Status::Disagrees => format!(
                    "DISAGREES: {}",
                    sv.check
                        .as_ref()
                        .and_then(|c| c.mismatches.first().cloned())
                        .unwrap_or_default()
                ),
                _ => format!(
                    "FAILED: {}",
                    sv.error
                        .as_deref()
                        .unwrap_or("?")
                        .lines()
                        .next()
                        .unwrap_or("?")
                ),
            };
            let _ = writeln!(s, "{:<16} {why}", sv.label);
            continue;
        }
        let kx = sv.kxdpgun.as_ref();
        let dp = sv.dnsperf.as_ref();
        let bpf = kx
            .and_then(|r| r.bpf_ns_per_packet)
            .or_else(|| dp.and_then(|r| r.bpf_ns_per_packet));
        let _ = writeln!(
            s,
            "{:<16} {:>10} {:>6} {:>6} {:>10} {:>6} {:>9} {:>9} {:>8} {:>8} {:>6}  {}; {}",
            sv.label,
            opt(kx, |r| fmt_qps(r.qps)),
            opt(kx.and_then(|r| r.ratio), |v| format!("{v:.2}")),
            opt(kx, |r| format!("{:.1}%", r.result.loss * 100.0)),
            opt(dp, |r| fmt_qps(r.qps)),
            opt(dp.and_then(|r| r.ratio), |v| format!("{v:.2}")),
            opt(sv.latency.as_ref(), |l| format!("{:.3}", l.p99_ms)),
            opt(dp, |r| format!("{:.3}", r.result.avg_latency_ms)),
            opt(dp, |r| format!("{:.2}", r.server_us_per_q)),
            opt(kx, |r| format!("{:.2}", r.server_us_per_q)),
            opt(bpf, |v| format!("{v:.0}")),
            opt(kx, |r| r.limit.clone()),
            opt(dp, |r| r.limit.clone()),
        );
    }
    s
}

/// CPU breakdown of every run (Markdown).
fn cpu_table(r: &Results) -> String {
    let mut s = String::from(
        "| server | run | wall s | server procs | server NAPI | softirq | server (attributed) | \
         generator | client NAPI | idle | other | answered |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for sv in &r.servers {
        let runs = [
            ("dnsperf", sv.dnsperf.as_ref().map(|x| (&x.cpu, x.answered))),
            ("kxdpgun", sv.kxdpgun.as_ref().map(|x| (&x.cpu, x.answered))),
        ];
        for (name, run) in runs {
            let Some((c, answered)) = run else { continue };
            let w = c.wall_s.max(1e-9);
            let _ = writeln!(
                s,
                "| {} | {name} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {answered} |",
                sv.label,
                c.wall_s,
                c.server_procs_s / w,
                c.server_napi_s / w,
                c.softirq_s / w,
                c.server_s / w,
                c.generator_s / w,
                c.client_napi_s / w,
                c.idle_s / w,
                c.other_s / w,
            );
        }
    }
    s
}

/// Writes `results.md`, `results.json` and `results.png` into `dir`.
pub fn write(dir: &Path, r: &Results) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(r)?;
    fs::write(dir.join("results.json"), json)?;
    fs::write(dir.join("results.md"), markdown(r))?;
    if let Err(e) = super::chart::draw(&dir.join("results.png"), r) {
        eprintln!("bench: chart not drawn: {e:#}");
    }
    Ok(())
}

fn markdown(r: &Results) -> String {
    let m = &r.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# gslb benchmark {}\n", m.timestamp);
    let _ = writeln!(
        s,
        "`{}` on Linux {}, {} CPUs. {} gslb names (one A and one AAAA address each), \
         {} queries in the file, mix {}. dnsperf {} s per server (4 sockets, 2 threads, 500 outstanding); \
         latency: dnsperf -v at {} q/s for {} s; kxdpgun {} s at -Q {}. \
         Every server was checked on {} sample queries before timing.\n",
        m.command,
        m.kernel,
        m.cpus,
        m.names,
        m.queries,
        m.mix,
        m.dnsperf_secs,
        m.latency_rate,
        m.latency_secs,
        m.kxdpgun_secs,
        m.kxdpgun_rate,
        m.sample
    );
    s.push_str(&table(r));
    s.push_str(
        "\n× gslb XDP: this server's answered q/s divided by gslb XDP's with the same generator.\n\
         Limit: `generator` when the machine still had idle CPU (≥ 0.25 CPU) or the rate is within 10% of the \
         best any server reached with that generator — then the ratio says little about the server; \
         `server` when it lost > 3% of the queries or fell short of the ceiling with no CPU left.\n\n",
    );
    s.push_str("## Targets (issue 3)\n\n| target | measured | verdict |\n|---|---|---|\n");
    for t in &r.targets {
        let _ = writeln!(s, "| {} | {} | {} |", t.what, t.measured, t.verdict);
    }
    if let Some(l) = &r.gslb_load {
        s.push_str("\n## gslb: map memory and load time\n\n");
        let _ = writeln!(
            s,
            "{} names, {} map entries; maps filled in {} ms (daemon log `elapsed_ms`), process start to \
             `gslb ready` {} ms.\n\nBPF map memory (`memlock` from the daemon's map fds): {} bytes in all, \
             {:.0} bytes per name; with one name {} bytes, so {} bytes per added name.\n",
            l.names,
            opt(l.entries, |v| v.to_string()),
            opt(l.maps_fill_ms, |v| v.to_string()),
            opt(l.start_to_ready_ms, |v| v.to_string()),
            l.map_bytes,
            l.bytes_per_name,
            opt(l.map_bytes_one_name, |v| v.to_string()),
            opt(l.marginal_bytes_per_name, |v| format!("{v:.0}")),
        );
        s.push_str("| map | memlock bytes | max entries |\n|---|---:|---:|\n");
        for mm in &l.maps {
            let _ = writeln!(s, "| {} | {} | {} |", mm.name, mm.memlock, mm.max_entries);
        }
    }
    s.push_str("\n## CPU over each run (CPUs busy on average)\n\n");
    s.push_str(&cpu_table(r));
    s.push_str(
        "\nserver (attributed) = server processes + the server veth end's NAPI thread − softirq. \
         The kernel here accounts CPU by ticks without IRQ time accounting, so softirq ticks are \
         also charged to the task they interrupt; the softirq in these runs is the client's receive \
         of the replies, run inside whatever sent them (the server process, or the NAPI thread for \
         XDP_TX). With dnsperf the client end has its own NAPI thread, so softirq is near zero. \
         The unattributed figure (without the subtraction) is in results.json as `server_raw_us_per_q`. \
         `other` is busy time of processes outside the benchmark (the machine is shared).\n",
    );
    s.push_str("\n## Correctness\n\n");
    for sv in &r.servers {
        if let Some(c) = &sv.check {
            let _ = writeln!(
                s,
                "- {}: {} of {} sample answers as expected{}",
                sv.label,
                c.agreed,
                c.asked,
                if c.mismatches.is_empty() {
                    String::new()
                } else {
                    format!("; e.g. {}", c.mismatches.join("; "))
                }
            );
        }
        if let Some(k) = &sv.kxdpgun {
            let total: u64 = k.result.rcodes.values().sum();
            let noerror = k.result.rcodes.get("NOERROR").copied().unwrap_or(0);
            if total > 0 {
                let _ = writeln!(
                    s,
                    "  - kxdpgun rcodes: {} (NOERROR {:.1}%; the mix expects {}%)",
                    k.result
                        .rcodes
                        .iter()
                        .map(|(c, n)| format!("{c} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    noerror as f64 * 100.0 / total as f64,
                    100 - m.mix.nx
                );
            }
        }
        if let Some(e) = &sv.error {
            let _ = writeln!(s, "- {}: error: {}", sv.label, e.replace('\n', " / "));
        }
        if let Some(f) = sv
            .dnsperf
            .as_ref()
            .and_then(|d| d.xdp_answered_fraction)
        {
            let _ = writeln!(
                s,
                "  - answered by the XDP program during the dnsperf run: {:.1}%",
                f * 100.0
            );
        }
    }
    s.push_str("\n## Not measured yet\n\n");
    for n in &r.not_measured {
        let _ = writeln!(s, "- {n}");
    }
    s.push_str("\n## Versions\n\n");
    for (p, v) in &m.versions {
        let _ = writeln!(s, "- {p} {v}");
    }
    s
}
