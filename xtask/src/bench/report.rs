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
    /// Rounds of timed runs (the best of each server's counts).
    pub rounds: u32,
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
    /// Why kxdpgun gave no figures (its own program refused by the
    /// kernel, say); the dnsperf figures and the program's time, under
    /// dnsperf then, still count.
    pub kxdpgun_error: Option<String>,
    /// The run that timed the server's XDP program (XDP servers only).
    pub xdp_profile: Option<XdpProfile>,
    /// The sample asked again during that run (kxdpgun), answers captured.
    pub under_load: Option<UnderLoad>,
    /// Each round's figures (round 1 first); the fields above hold the
    /// best of them (see [`ServerResult::take_round`]).
    pub rounds: Vec<RoundFigures>,
}

/// The timed runs of one later round (see `--rounds`).
#[derive(Clone, Debug, Default)]
pub struct Round {
    /// dnsperf throughput.
    pub dnsperf: Option<Run<Dnsperf>>,
    /// kxdpgun at the offered rate of the server's best step.
    pub kxdpgun: Option<Run<Kxdpgun>>,
    /// The XDP program's run time (XDP servers).
    pub xdp_profile: Option<XdpProfile>,
}

/// The figures of one round of a server.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RoundFigures {
    /// 1, 2, ...
    pub round: u32,
    /// kxdpgun answered q/s.
    pub kxdpgun_qps: Option<f64>,
    /// dnsperf answered q/s.
    pub dnsperf_qps: Option<f64>,
    /// Server CPU per answered query in the dnsperf run, µs.
    pub dnsperf_us_per_q: Option<f64>,
    /// XDP program run time per packet, ns.
    pub ns_per_packet: Option<f64>,
    /// Why the round has no figures.
    pub error: Option<String>,
}

impl RoundFigures {
    fn of(
        round: u32,
        dnsperf: Option<&Run<Dnsperf>>,
        kxdpgun: Option<&Run<Kxdpgun>>,
        profile: Option<&XdpProfile>,
    ) -> Self {
        RoundFigures {
            round,
            kxdpgun_qps: kxdpgun.map(|r| r.qps),
            dnsperf_qps: dnsperf.map(|r| r.qps),
            dnsperf_us_per_q: dnsperf.map(|r| r.server_us_per_q),
            ns_per_packet: profile.and_then(|p| p.ns_per_packet),
            error: None,
        }
    }
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
            kxdpgun_error: None,
            xdp_profile: None,
            under_load: None,
            rounds: Vec::new(),
        }
    }

    /// The kxdpgun step of the rate search with the most answers.
    pub fn best_step(&self) -> Option<&Step> {
        self.kxdpgun_steps
            .iter()
            .max_by(|a, b| a.answered_qps.total_cmp(&b.answered_qps))
    }

    /// The median over the rounds that have figure `f` (the mean of the
    /// middle two for an even count); `None` with fewer than two such
    /// rounds, where it would only repeat the one figure.
    pub fn median(&self, f: impl Fn(&RoundFigures) -> Option<f64>) -> Option<f64> {
        let mut v: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        if v.len() < 2 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[m]
        } else {
            f64::midpoint(v[m - 1], v[m])
        })
    }

    /// Records round 1, the runs in the fields, as the first round.
    pub fn first_round(&mut self) {
        let f = RoundFigures::of(
            1,
            self.dnsperf.as_ref(),
            self.kxdpgun.as_ref(),
            self.xdp_profile.as_ref(),
        );
        self.rounds = vec![f];
    }

    /// Records a later round and keeps the best of each kind of run: the
    /// kxdpgun run with the most answers/s, the dnsperf run with the least
    /// server CPU per query (its rate is the generator's for the fast
    /// servers), the XDP program run with the least time per packet.
    pub fn take_round(&mut self, n: u32, round: Result<Round, String>) {
        let round = match round {
            Ok(r) => r,
            Err(e) => {
                self.rounds.push(RoundFigures {
                    round: n,
                    error: Some(e),
                    ..RoundFigures::default()
                });
                return;
            }
        };
        self.rounds.push(RoundFigures::of(
            n,
            round.dnsperf.as_ref(),
            round.kxdpgun.as_ref(),
            round.xdp_profile.as_ref(),
        ));
        if let Some(k) = round.kxdpgun {
            if self.kxdpgun.as_ref().is_none_or(|b| k.qps > b.qps) {
                self.kxdpgun = Some(k);
            }
        }
        if let Some(d) = round.dnsperf {
            if d.answered > 0
                && self
                    .dnsperf
                    .as_ref()
                    .is_none_or(|b| b.answered == 0 || d.server_us_per_q < b.server_us_per_q)
            {
                self.dnsperf = Some(d);
            }
        }
        if let Some(p) = round.xdp_profile {
            let better = match (p.ns_per_packet, self.xdp_profile.as_ref()) {
                (Some(ns), Some(b)) => b.ns_per_packet.is_none_or(|old| ns < old),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if better {
                self.xdp_profile = Some(p);
            }
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
    /// The benchmark's targets and how this run did.
    pub targets: Vec<Target>,
    /// What the harness does not measure yet.
    pub not_measured: Vec<String>,
    /// Client-aware answers against the ceiling, and the reload.
    pub aware: Option<super::aware::Aware>,
    /// Client data at scale.
    pub scale: Option<super::scale::Scale>,
    /// Config reloads under load.
    pub reload: Option<super::reload::ReloadBench>,
    /// Restarts under load.
    pub restart: Option<super::restart::RestartBench>,
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
            // A search step that lost at (or just above) this run's rate:
            // the capacity is bracketed, not only bounded from below (a
            // later round may answer in full a rate that round 1 did not).
            let lost_near = s
                .kxdpgun_steps
                .iter()
                .filter(|st| st.loss > LOSS && st.sent_qps < 1.1 * r.result.sent_qps)
                .min_by(|a, b| a.sent_qps.total_cmp(&b.sent_qps));
            let answered_all = r.result.loss <= LOSS && r.result.sent_qps < 0.9 * gen_max;
            r.limit = if let (true, Some(st)) = (answered_all, lost_near) {
                format!(
                    "server (all of the offered rate answered here; {:.1}% lost at {:.0}k/s in the search)",
                    st.loss * 100.0,
                    st.sent_qps / 1000.0
                )
            } else if answered_all {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(server_s: f64) -> CpuUse {
        CpuUse {
            server_s,
            ..CpuUse::default()
        }
    }

    fn round(kx_qps: f64, dp_cpu_s: f64, ns: f64) -> Round {
        Round {
            dnsperf: Some(Run::new(
                Dnsperf::default(),
                cpu(dp_cpu_s),
                1000.0,
                1_000_000,
            )),
            kxdpgun: Some(Run::new(Kxdpgun::default(), CpuUse::default(), kx_qps, 1)),
            xdp_profile: Some(XdpProfile {
                generator: "kxdpgun".into(),
                offered: 1,
                secs: 1.0,
                answered_qps: kx_qps,
                run_cnt: 1,
                ns_per_packet: Some(ns),
            }),
        }
    }

    fn server(first: Round) -> ServerResult {
        let mut s = ServerResult::new(Kind::GslbXdp);
        s.dnsperf = first.dnsperf;
        s.kxdpgun = first.kxdpgun;
        s.xdp_profile = first.xdp_profile;
        s.first_round();
        s
    }

    #[test]
    fn median_of_the_rounds_that_have_the_figure() {
        let mut s = server(round(500e3, 2.0, 400.0));
        let kx = |f: &RoundFigures| f.kxdpgun_qps;
        // One round: no median beside the best.
        assert_eq!(s.median(kx), None);
        s.take_round(2, Ok(round(600e3, 3.0, 450.0)));
        assert_eq!(s.median(kx), Some(550e3));
        s.take_round(3, Ok(round(100e3, 1.5, 350.0)));
        // A round without figures does not count.
        s.take_round(4, Err("did not start".into()));
        assert_eq!(s.median(kx), Some(500e3));
        assert_eq!(s.median(|f| f.ns_per_packet), Some(400.0));
    }

    #[test]
    fn each_kind_of_run_keeps_its_best_round() {
        // Round 1: 500k q/s, 2 µs/q, 400 ns.
        let mut s = server(round(500e3, 2.0, 400.0));
        // Round 2: more answers, more CPU, slower program.
        s.take_round(2, Ok(round(600e3, 3.0, 450.0)));
        // Round 3: fewer answers, less CPU, faster program.
        s.take_round(3, Ok(round(400e3, 1.5, 350.0)));
        s.take_round(4, Err("did not start".into()));
        assert!((s.kxdpgun.as_ref().unwrap().qps - 600e3).abs() < 1e-6);
        assert!((s.dnsperf.as_ref().unwrap().server_us_per_q - 1.5).abs() < 1e-9);
        assert_eq!(s.xdp_profile.as_ref().unwrap().ns_per_packet, Some(350.0));
        let rounds: Vec<u32> = s.rounds.iter().map(|f| f.round).collect();
        assert_eq!(rounds, [1, 2, 3, 4]);
        assert_eq!(s.rounds[1].kxdpgun_qps, Some(600e3));
        assert_eq!(s.rounds[3].error.as_deref(), Some("did not start"));
    }

    fn kx(sent_qps: f64, loss: f64) -> Run<Kxdpgun> {
        let k = Kxdpgun {
            sent_qps,
            qps: sent_qps * (1.0 - loss),
            loss,
            ..Kxdpgun::default()
        };
        let qps = k.qps;
        Run::new(k, CpuUse::default(), qps, 1)
    }

    fn step(sent_qps: f64, loss: f64) -> Step {
        Step {
            offered: sent_qps as u64,
            secs: 5.0,
            sent_qps,
            answered_qps: sent_qps * (1.0 - loss),
            loss,
        }
    }

    #[test]
    fn a_rate_answered_in_full_is_a_lower_bound_unless_the_search_lost_there() {
        let mut s = ServerResult::new(Kind::KnotXdp);
        s.kxdpgun_steps = vec![step(570e3, 0.75), step(148.1e3, 0.035), step(111e3, 0.0)];
        // A later round answered the rate round 1 lost 3.5% at.
        s.kxdpgun = Some(kx(148.1e3, 0.0));
        let mut lower = ServerResult::new(Kind::Nsd);
        lower.kxdpgun_steps = vec![step(419e3, 0.72), step(125.2e3, 0.027), step(93.9e3, 0.0)];
        lower.kxdpgun = Some(kx(125.2e3, 0.027));
        let mut all = [s, lower];
        judge(&mut all);
        let limit = |i: usize| all[i].kxdpgun.as_ref().unwrap().limit.clone();
        assert!(
            limit(0)
                .starts_with("server (all of the offered rate answered here; 3.5% lost at 148k/s"),
            "{}",
            limit(0)
        );
        assert!(limit(1).starts_with("search"), "{}", limit(1));
    }

    #[test]
    fn a_round_without_answers_never_wins() {
        let mut s = server(round(500e3, 2.0, 400.0));
        let mut r = round(100e3, 0.0, 300.0);
        if let Some(d) = r.dnsperf.as_mut() {
            *d = Run::new(Dnsperf::default(), cpu(0.0), 0.0, 0);
        }
        r.xdp_profile.as_mut().unwrap().ns_per_packet = None;
        s.take_round(2, Ok(r));
        assert!((s.dnsperf.as_ref().unwrap().server_us_per_q - 2.0).abs() < 1e-9);
        assert_eq!(s.xdp_profile.as_ref().unwrap().ns_per_packet, Some(400.0));
        assert!((s.kxdpgun.as_ref().unwrap().qps - 500e3).abs() < 1e-6);
    }
}
