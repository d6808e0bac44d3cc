//! Results: the data model written to `results.json`, the judgement of
//! what limited each run, and writing the result files.

use std::{fmt::Write as _, fs, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{
    check::{Check, UnderLoad},
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
    /// Seconds of the kxdpgun flood probe.
    pub kxdpgun_probe_secs: f64,
    /// Seconds of each later kxdpgun step.
    pub kxdpgun_secs: f64,
    /// kxdpgun steps after the probe.
    pub kxdpgun_steps: u32,
    /// kxdpgun's `-Q` in the probe.
    pub kxdpgun_rate: u64,
    /// Interrupt moderation of both veth ends, µs (0: none).
    pub coalesce_us: u32,
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
        Run {
            server_us_per_q: per_q(cpu.server_s),
            server_raw_us_per_q: per_q(cpu.server_procs_s + cpu.server_napi_s),
            result,
            cpu,
            qps,
            answered,
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
    /// kxdpgun throughput: the step with the most answers.
    pub kxdpgun: Option<Run<Kxdpgun>>,
    /// Every kxdpgun step.
    pub kxdpgun_steps: Vec<Step>,
    /// The run that timed the server's XDP program (XDP servers only).
    pub xdp_profile: Option<XdpProfile>,
    /// The sample asked again during that run (kxdpgun), answers captured.
    pub under_load: Option<UnderLoad>,
}

/// The run, apart from the throughput runs, that measures the XDP
/// program's average run time per packet with `kernel.bpf_stats_enabled`
/// on (see `measure::set_bpf_stats`): kxdpgun at the offered rate of the
/// step that got the most answers, or dnsperf when kxdpgun is skipped.
#[derive(Clone, Debug, Serialize)]
pub struct XdpProfile {
    /// `kxdpgun` or `dnsperf`.
    pub generator: String,
    /// kxdpgun's `-Q`; 0 for dnsperf (as fast as it can).
    pub offered: u64,
    /// Duration.
    pub secs: f64,
    /// Answers per second during this run.
    pub answered_qps: f64,
    /// Program runs counted.
    pub run_cnt: u64,
    /// Average run time per packet, ns.
    pub ns_per_packet: Option<f64>,
}

impl XdpProfile {
    /// Builds the profile from the run's CPU readings.
    pub fn new(generator: &str, offered: u64, secs: f64, answered_qps: f64, cpu: &CpuUse) -> Self {
        let run = cpu.bpf.iter().find(|b| b.run_cnt > 0);
        XdpProfile {
            generator: generator.to_owned(),
            offered,
            secs,
            answered_qps,
            run_cnt: run.map_or(0, |b| b.run_cnt),
            ns_per_packet: run.and_then(super::measure::BpfUse::ns_per_run),
        }
    }
}

/// One kxdpgun step of the rate search.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// `-Q`.
    pub offered: u64,
    /// Duration.
    pub secs: f64,
    /// Rate kxdpgun actually sent.
    pub sent_qps: f64,
    /// Answers per second.
    pub answered_qps: f64,
    /// Lost fraction.
    pub loss: f64,
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
            kxdpgun_steps: Vec::new(),
            xdp_profile: None,
            under_load: None,
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
    /// `map_bytes / names`.
    pub bytes_per_name: f64,
    /// `(map_bytes − map_bytes_one_name) / (names − 1)`.
    pub marginal_bytes_per_name: Option<f64>,
    /// Per map.
    pub maps: Vec<MapMem>,
    /// Answer updates pushed while under load.
    pub updates: Option<super::updates::UpdateRun>,
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

/// Where the queries a run lost went, from the veth counters (each event
/// shows in several counters, so the largest of a group is taken):
/// `(at the server's ingress, at the client's ingress)`.
pub fn drops(cpu: &CpuUse) -> (u64, u64) {
    let max_of = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| cpu.link_drops.get(*k))
            .copied()
            .max()
            .unwrap_or(0)
    };
    (
        // The client's transmit found the server end's ring full, or the
        // server end dropped on receive (e.g. a full AF_XDP ring).
        max_of(&[
            "client.tx_dropped",
            "server.rx_dropped",
            "server.rx_queue_0_drops",
            "server.rx_queue_0_xdp_drops",
        ]),
        // The server's replies found the client end's ring full.
        max_of(&[
            "server.tx_dropped",
            "server.rx_queue_0_xdp_tx_errors",
            "client.rx_dropped",
            "client.rx_queue_0_drops",
        ]),
    )
}

/// Why a run's rate was what it was.
fn limit(qps: f64, best: f64, sent: u64, answered: u64, cpu: &CpuUse) -> String {
    let wall = cpu.wall_s.max(1e-9);
    let idle = cpu.idle_s / wall;
    let other = cpu.other_s / wall;
    let unanswered = sent.saturating_sub(answered);
    let loss = if sent > 0 {
        unanswered as f64 / sent as f64
    } else {
        0.0
    };
    let (at_server, at_client) = drops(cpu);
    let mut s = if loss > LOSS && at_client * 2 > unanswered {
        format!(
            "generator ({:.0}% lost, most at the client end's ingress)",
            loss * 100.0
        )
    } else if loss > LOSS {
        let pct = |n: u64| n as f64 * 100.0 / sent as f64;
        format!(
            "server ({:.0}% lost: {:.0}% at its ingress ring, {:.0}% inside it, {:.0}% at the client)",
            loss * 100.0,
            pct(at_server.min(unanswered)),
            pct(unanswered.saturating_sub(at_server + at_client)),
            pct(at_client.min(unanswered)),
        )
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
            r.limit = limit(r.qps, best_dp, r.result.sent, r.result.completed, &r.cpu);
            r.ratio = base_dp.filter(|b| *b > 0.0).map(|b| r.qps / b);
        }
        // The most kxdpgun could send (the flood probe).
        let gen_max = s
            .kxdpgun_steps
            .iter()
            .map(|st| st.sent_qps)
            .fold(0.0, f64::max);
        if let Some(r) = s.kxdpgun.as_mut() {
            r.limit = if r.result.loss <= LOSS && r.result.sent_qps < 0.9 * gen_max {
                // Everything offered was answered, at a rate the search
                // chose below what kxdpgun can send.
                format!(
                    "search (all of the offered rate answered; capacity ≥ this, kxdpgun sends up to {:.0}k/s)",
                    gen_max / 1000.0
                )
            } else {
                limit(r.qps, best_kx, r.result.sent, r.result.replies, &r.cpu)
            };
            r.ratio = base_kx.filter(|b| *b > 0.0).map(|b| r.qps / b);
        }
    }
}

/// Writes `results.md`, `results.json` and `results.png` into `dir`.
pub fn write(dir: &Path, r: &Results) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(dir.join("results.json"), serde_json::to_string_pretty(r)?)?;
    fs::write(dir.join("results.md"), super::markdown::markdown(r))?;
    if let Err(e) = super::chart::draw(&dir.join("results.png"), r) {
        eprintln!("bench: chart not drawn: {e:#}");
    }
    Ok(())
}
