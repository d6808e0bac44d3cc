//! `cargo xtask bench`: gslb against NSD, Knot (UDP and XDP), `PowerDNS`
//! with LUA records and gdnsd, measured in one run on this machine with
//! dnsperf and kxdpgun over a veth pair between two namespaces, and judged
//! against the targets in `bench/targets.rs`.
//!
//! Steps: install the servers and tools (Debian), build gslb (release),
//! generate one data set, build the network, then for every server: start
//! it, check its answers on a sample, time it with dnsperf (throughput),
//! dnsperf -v at a fixed rate (latency) and kxdpgun (throughput), reading
//! CPU and BPF statistics around each run; stop it. Results go to
//! `bench-results/<timestamp>/results.{md,json,png}` and the table is
//! printed. See `xtask/BENCH.md` for what the numbers mean.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts, rates and durations move between integers and f64 well inside f64's \
              exact range"
)]

mod aware;
mod bounce;
mod chart;
mod check;
mod dataset;
mod load;
mod markdown;
mod measure;
mod netns;
mod reload;
mod report;
mod restart;
mod scale;
mod servers;
mod targets;
mod underload;
mod updates;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use gslb_testbed::XdpPass;

use self::{
    dataset::{Dataset, Mix},
    load::Kxdpgun,
    measure::Snapshot,
    netns::{Net, Proc},
    report::{GslbLoad, MapMem, Meta, Results, Run, ServerResult, Status, XdpProfile},
    servers::Kind,
};
use crate::{cmd, setup};

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
pub struct Options {
    /// Short run (about 4.5 minutes, 2 without the client-aware and scale
    /// parts): dnsperf 2 s, latency 1 s, kxdpgun a 1 s probe and one 1.5 s
    /// step per server.
    #[arg(long)]
    quick: bool,
    /// Number of gslb names in the data set (up to 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    names: u32,
    /// Query mix in percent: `a=70,aaaa=20,nx=8,other=2` (A and AAAA of
    /// gslb names, NXDOMAIN, other types: SOA/NS at the apex, MX/TXT of
    /// gslb names).
    #[arg(long, default_value_t = Mix::default())]
    mix: Mix,
    /// Seconds of each dnsperf throughput run (default 10, --quick 2).
    #[arg(long)]
    dnsperf_secs: Option<u64>,
    /// Seconds of each kxdpgun step after the flood probe (default 5,
    /// --quick 1.5).
    #[arg(long)]
    kxdpgun_secs: Option<f64>,
    /// kxdpgun steps after the flood probe, searching the offered rate that
    /// gets the most answers (default 3, --quick 1; 0: the flood only).
    #[arg(long)]
    kxdpgun_steps: Option<u32>,
    /// Seconds of each latency run (default 5, --quick 1).
    #[arg(long)]
    latency_secs: Option<u64>,
    /// Offered rate of the latency run, queries/s.
    #[arg(long, default_value_t = 10_000)]
    latency_rate: u64,
    /// kxdpgun's rate (`-Q`) in the flood probe, queries/s: more than it
    /// can send, so the probe finds the generator's own ceiling.
    #[arg(long, default_value_t = 2_000_000)]
    kxdpgun_qps: u64,
    /// Servers to measure, comma-separated (gslb-xdp, gslb-slow, nsd,
    /// knot-udp, knot-xdp, pdns-lua, gdnsd); default all; `none` for only
    /// the parts (client-aware, scale, reload).
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Skip the dnsperf runs.
    #[arg(long)]
    no_dnsperf: bool,
    /// Skip the kxdpgun runs.
    #[arg(long)]
    no_kxdpgun: bool,
    /// Sample queries checked on every server before timing.
    #[arg(long, default_value_t = 200)]
    sample: usize,
    /// Where results go (`<dir>/<timestamp>/`); relative to the workspace.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Before each server, wait up to this many seconds for other work on
    /// the machine to drop below 0.3 CPU (default 30, --quick 0).
    #[arg(long)]
    quiet_wait: Option<u64>,
    /// Keep the generated data set and server configs (under /tmp).
    #[arg(long)]
    keep_work: bool,
    /// Interrupt moderation of both veth ends in the load runs,
    /// microseconds (0: off): a NIC's `rx-usecs`, in the kernel's software
    /// form for NAPI (`gro_flush_timeout`, with `napi_defer_hard_irqs` 2).
    /// veth has none of its own, so without it every packet can wake a
    /// NAPI thread. Off for the latency runs, as adaptive moderation is at
    /// low rates.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    coalesce_us: u32,
    /// Rounds of timed runs (default 3, --quick 1). Every later round times
    /// each server again, servers in turn: dnsperf; kxdpgun at its best
    /// step's rate (and at the flood rate when that step lost nothing); the
    /// XDP program. Each server's best round counts: the machine is shared,
    /// and other work only ever slows a server down.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    rounds: Option<u32>,
    /// Skip the client-aware part (the bounce ceiling, ECS + topology,
    /// persistence, the client data reload under load).
    #[arg(long)]
    no_aware: bool,
    /// Skip the client data scale part (1,000,000 prefixes, `GeoLite2`).
    #[arg(long)]
    no_scale: bool,
    /// Skip the config reload part (100 `gslb reload`s under load).
    #[arg(long)]
    no_reload: bool,
    /// Skip the restart part (10 restarts under load, 5 graceful, 5
    /// `kill -9`).
    #[arg(long)]
    no_restart: bool,
    /// The XDP object whose `gslb_bounce` program is the ceiling (default:
    /// the one the last build of the daemon embedded, in `target/bpf`).
    #[arg(long, value_name = "PATH")]
    xdp_object: Option<PathBuf>,
    /// Benchmark this `gslb` binary instead of building the workspace's
    /// (to compare two builds of the daemon and its XDP program).
    #[arg(long, value_name = "PATH")]
    daemon: Option<PathBuf>,
}

/// Durations and switches in force.
struct Plan {
    dnsperf_secs: u64,
    kxdpgun_probe_secs: f64,
    kxdpgun_secs: f64,
    kxdpgun_steps: u32,
    latency_secs: u64,
    rounds: u32,
    servers: Vec<Kind>,
    quiet_wait: Duration,
    /// Server start timeout.
    start_timeout: Duration,
}

impl Plan {
    fn new(o: &Options) -> Result<Self> {
        let (dp, probe, kx, steps, lat) = if o.quick {
            (2, 1.0, 1.5, 1, 1)
        } else {
            (10, 2.0, 5.0, 3, 5)
        };
        let servers = if o.servers.is_empty() {
            Kind::ALL.to_vec()
        } else {
            o.servers
                .iter()
                // `none`: only the parts (client-aware, scale, reload).
                .filter(|s| s.trim() != "none")
                .map(|s| {
                    Kind::from_key(s.trim()).with_context(|| {
                        let keys: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
                        format!("unknown server `{s}` (one of {})", keys.join(", "))
                    })
                })
                .collect::<Result<_>>()?
        };
        Ok(Plan {
            dnsperf_secs: o.dnsperf_secs.unwrap_or(dp),
            kxdpgun_probe_secs: probe,
            kxdpgun_secs: o.kxdpgun_secs.unwrap_or(kx),
            kxdpgun_steps: o.kxdpgun_steps.unwrap_or(steps),
            latency_secs: o.latency_secs.unwrap_or(lat),
            rounds: o.rounds.unwrap_or(if o.quick { 1 } else { 3 }),
            servers,
            quiet_wait: Duration::from_secs(o.quiet_wait.unwrap_or(if o.quick { 0 } else { 30 })),
            // Big data sets take a while to parse (gdnsd, PowerDNS).
            start_timeout: Duration::from_secs(60 + u64::from(o.names) / 5_000),
        })
    }
}

/// Everything a server measurement needs.
struct Ctx<'a> {
    opts: &'a Options,
    plan: &'a Plan,
    ds: &'a Dataset,
    work: &'a Path,
    gslb: &'a Path,
    /// The pass-through XDP program on the client end (for `XDP_TX` on
    /// veth); stopped for kxdpgun, which brings its own.
    pass: Option<XdpPass>,
}

/// Entry point of `cargo xtask bench`.
pub fn bench(opts: &Options) -> Result<()> {
    let plan = Plan::new(opts)?;
    if !Path::new("/proc/sys/kernel/bpf_stats_enabled").exists() {
        bail!("this kernel has no kernel.bpf_stats_enabled");
    }
    let _lock = RunLock::take()?;
    let mut packages = servers::PACKAGES.to_vec();
    packages.push("fonts-dejavu-core");
    setup::ensure(&packages, false)?;
    let gslb = daemon(opts)?;

    let timestamp = cmd::output(Command::new("date").args(["-u", "+%Y%m%d-%H%M%S"]))?
        .trim()
        .to_owned();
    let out_dir = cmd::workspace_root().join(&opts.out).join(&timestamp);
    let work = std::env::temp_dir().join(format!("gslbb-{}", std::process::id()));
    let _work_guard = WorkDir {
        path: work.clone(),
        keep: opts.keep_work,
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    println!(
        "bench: generating {} names, mix {} in {}",
        opts.names,
        opts.mix,
        work.display()
    );
    let ds = Dataset::generate(
        &work.join("data"),
        opts.names as usize,
        opts.mix,
        opts.sample,
    )?;

    let stats = measure::BpfStatsGuard::off();
    let mut net = Net::create(opts.coalesce_us)?;
    {
        let stats_before = stats.0.clone();
        let (work, keep) = (work.clone(), opts.keep_work);
        net.cleanup_on_interrupt(move || {
            if let Some(v) = &stats_before {
                let _ = fs::write("/proc/sys/kernel/bpf_stats_enabled", v);
            }
            if !keep {
                let _ = fs::remove_dir_all(&work);
            }
            let _ = fs::remove_file(std::env::temp_dir().join("gslb-bench.lock"));
        });
    }
    println!(
        "bench: network {} ({}) <-> {} ({})",
        net.server_ns, net.server_if, net.client_ns, net.client_if
    );
    let mut ctx = Ctx {
        opts,
        plan: &plan,
        ds: &ds,
        work: &work,
        gslb: &gslb,
        pass: None,
    };
    ctx.client_for_sockets(&net)?;

    let (mut results, gslb_load) = ctx.measure_all(&mut net, &out_dir);
    let aware = (!opts.no_aware).then(|| ctx.aware(&mut net));
    let scale = (!opts.no_scale).then(|| ctx.scale(&mut net));
    let reload = (!opts.no_reload).then(|| ctx.reload_bench(&mut net));
    let restart = (!opts.no_restart).then(|| ctx.restart_bench(&mut net));
    for key in PART_LOGS {
        copy_logs(&work.join(key), &out_dir.join("logs").join(key));
    }
    drop(ctx.pass.take());
    drop(net);

    report::judge(&mut results);
    let mut targets = targets::targets(&results, gslb_load.as_ref(), opts.mix.nx);
    let parts = part_targets(
        aware.as_ref(),
        scale.as_ref(),
        reload.as_ref(),
        restart.as_ref(),
    );
    targets.extend(parts);
    let r = Results {
        meta: meta(opts, &plan, &ds, timestamp),
        servers: results,
        gslb_load,
        targets,
        not_measured: Vec::new(),
        aware,
        scale,
        reload,
        restart,
    };
    report::write(&out_dir, &r)?;
    print_summary(&r, &out_dir);
    Ok(())
}

/// The closing table, the targets and where the results are, on stdout.
fn print_summary(r: &Results, out_dir: &Path) {
    println!();
    print!("{}", markdown::text_table(r));
    println!();
    for t in &r.targets {
        println!("target: {} — {} — {}", t.what, t.measured, t.verdict);
    }
    println!();
    println!(
        "bench: results in {}",
        out_dir
            .strip_prefix(cmd::workspace_root())
            .unwrap_or(out_dir)
            .display()
    );
}

/// The work directories of the client-aware and scale parts whose logs
/// are kept.
const PART_LOGS: [&str; 11] = [
    "restart",
    "bounce",
    "aware-gslb-plain",
    "aware-gslb-topology",
    "aware-gslb-persist",
    "aware-knot-xdp",
    "aware-reload",
    "aware-geo-reload",
    "scale/prefixes",
    "scale/geo",
    "reload",
];

/// The targets of the client-aware, scale, reload and restart parts.
fn part_targets(
    aware: Option<&aware::Aware>,
    scale: Option<&scale::Scale>,
    reload: Option<&reload::ReloadBench>,
    restart: Option<&restart::RestartBench>,
) -> Vec<report::Target> {
    aware
        .into_iter()
        .flat_map(aware::targets)
        .chain(scale.into_iter().flat_map(scale::targets))
        .chain(reload.map(reload::target))
        .chain(restart.map(restart::target))
        .map(|(what, measured, verdict)| report::Target {
            what,
            measured,
            verdict: verdict.to_owned(),
        })
        .collect()
}

/// Loss up to which a kxdpgun step counts as answered in full.
const GOOD_LOSS: f64 = 0.02;

/// The XDP programs whose run time is measured: those of the XDP servers.
fn xdp_progs(kind: Kind, fds: &measure::BpfFds) -> Vec<u32> {
    if matches!(kind, Kind::GslbXdp | Kind::KnotXdp) {
        fds.xdp_progs.clone()
    } else {
        Vec::new()
    }
}

/// kxdpgun's offered rates in a later round: the best step's, and the
/// flood's (`flood`) when that step was answered in full, as it then only
/// bounds the capacity from below and a quieter round could show more.
fn round_rates(best: &report::Step, flood: u64) -> Vec<u64> {
    let mut rates = vec![best.offered];
    if best.loss <= GOOD_LOSS && best.offered < flood {
        rates.push(flood);
    }
    rates
}

/// The daemon binary to benchmark: `--daemon`, else the workspace's,
/// built now.
fn daemon(opts: &Options) -> Result<PathBuf> {
    if let Some(path) = &opts.daemon {
        return fs::canonicalize(path).with_context(|| format!("--daemon {}", path.display()));
    }
    // Only the daemon (the other binaries are not needed here).
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "gslb-user", "--bin", "gslb"]))?;
    Ok(cmd::target_dir().join("release/gslb"))
}

/// Waits (at most `max`) until the machine's busy time over one second is
/// below 0.3 CPU: other sessions' builds and tests share this machine.
fn wait_quiet(max: Duration) {
    if max.is_zero() {
        return;
    }
    let start = std::time::Instant::now();
    loop {
        let a = measure::CpuStat::read();
        thread::sleep(Duration::from_secs(1));
        let b = measure::CpuStat::read();
        let busy = b.busy.saturating_sub(a.busy) as f64 / measure::HZ;
        if busy < 0.3 {
            return;
        }
        if start.elapsed() >= max {
            println!("bench: the machine is busy ({busy:.1} CPU of other work); measuring anyway");
            return;
        }
    }
}

/// One bench at a time on a machine: two would share the CPUs and the
/// global `kernel.bpf_stats_enabled`.
struct RunLock(PathBuf);

impl RunLock {
    fn take() -> Result<Self> {
        let path = std::env::temp_dir().join("gslb-bench.lock");
        if let Ok(pid) = fs::read_to_string(&path) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                bail!(
                    "another `cargo xtask bench` is running (pid {pid}, {})",
                    path.display()
                );
            }
        }
        fs::write(&path, std::process::id().to_string())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock(path))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Removes the work directory on drop unless asked to keep it.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            println!("bench: work files kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Copies the small files (logs, generator output) of a server's work dir.
fn copy_logs(from: &Path, to: &Path) {
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    let _ = fs::create_dir_all(to);
    for e in entries.flatten() {
        let p = e.path();
        let small = e.metadata().is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
        if small {
            let _ = fs::copy(&p, to.join(e.file_name()));
        }
    }
}

fn meta(opts: &Options, plan: &Plan, ds: &Dataset, timestamp: String) -> Meta {
    let mut command = String::from("cargo xtask bench");
    for a in std::env::args().skip(2) {
        command.push(' ');
        command.push_str(&a);
    }
    let versions = [
        "dnsperf",
        "knot-dnsutils",
        "nsd",
        "knot",
        "pdns-server",
        "gdnsd",
    ]
    .iter()
    .map(|p| {
        let v = cmd::output(Command::new("dpkg-query").args(["-W", "-f=${Version}", p]))
            .unwrap_or_else(|_| "?".into());
        ((*p).to_owned(), v)
    })
    .collect();
    Meta {
        timestamp,
        command,
        kernel: cmd::output(Command::new("uname").arg("-r"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        cpus: measure::ncpu(),
        names: ds.names,
        mix: ds.mix,
        queries: ds.query_count,
        sample: ds.sample.len(),
        dnsperf_secs: plan.dnsperf_secs,
        latency_secs: plan.latency_secs,
        latency_rate: opts.latency_rate,
        kxdpgun_probe_secs: plan.kxdpgun_probe_secs,
        kxdpgun_secs: plan.kxdpgun_secs,
        kxdpgun_steps: plan.kxdpgun_steps,
        kxdpgun_rate: opts.kxdpgun_qps,
        coalesce_us: opts.coalesce_us,
        rounds: plan.rounds,
        versions,
    }
}

/// `xdp_answered` from `gslb stats --json`.
fn xdp_answered(gslb: &Path, pin: &Path) -> Option<u64> {
    let out = cmd::output(
        Command::new(gslb)
            .args(["stats", "--json", "--pin-dir"])
            .arg(pin),
    )
    .ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v["xdp_answered"].as_u64()
}

impl Ctx<'_> {
    /// Client end set up for socket clients (dig, dnsperf): pass-through
    /// XDP program (so `XDP_TX` frames are received) and threaded NAPI (so
    /// the client's receive work has its own thread).
    fn client_for_sockets(&mut self, net: &Net) -> Result<()> {
        if self.pass.is_some() {
            return Ok(());
        }
        net.xdp_off(false)?;
        net.set_threaded(false, true)?;
        self.pass = Some(XdpPass::start(
            self.gslb,
            &net.client_ns,
            &net.client_if,
            &self.work.join("xdp-pass.log"),
            Duration::from_secs(20),
        )?);
        Ok(())
    }

    /// Client end set up for kxdpgun: no XDP program of ours (kxdpgun
    /// attaches its own), NAPI in softirq (kxdpgun's `AF_XDP` socket only
    /// receives what arrives on queue 0 in time).
    fn client_for_kxdpgun(&mut self, net: &Net) -> Result<()> {
        if let Some(mut p) = self.pass.take() {
            p.stop(Duration::from_secs(5));
        }
        net.xdp_off(false)?;
        net.set_threaded(false, false)
    }

    /// Every server in turn, then the map memory baseline.
    fn measure_all(
        &mut self,
        net: &mut Net,
        out_dir: &Path,
    ) -> (Vec<ServerResult>, Option<GslbLoad>) {
        let mut results = Vec::new();
        let mut gslb_load = None;
        for &kind in &self.plan.servers {
            wait_quiet(self.plan.quiet_wait);
            println!("bench: {} ...", kind.label());
            let (mut r, load) = self.measure(net, kind);
            if let Some(e) = &r.error {
                println!("bench: {}: {e}", kind.label());
            }
            if let Some(c) = r.check.as_ref().filter(|c| !c.ok()) {
                println!(
                    "bench: {}: {} of {} sample answers wrong: {}",
                    kind.label(),
                    c.mismatch_count,
                    c.asked,
                    c.mismatches.join("; ")
                );
            }
            if load.is_some() {
                gslb_load = load;
            }
            r.first_round();
            copy_logs(
                &self.work.join(kind.key()),
                &out_dir.join("logs").join(kind.key()),
            );
            results.push(r);
        }
        for n in 2..=self.plan.rounds {
            for r in results
                .iter_mut()
                .filter(|r| matches!(r.status, Status::Ok) && !r.rounds.is_empty())
            {
                wait_quiet(self.plan.quiet_wait);
                println!("bench: {} (round {n} of {}) ...", r.label, self.plan.rounds);
                let round = self.repeat(net, r, n).map_err(|e| format!("{e:#}"));
                if let Err(e) = &round {
                    println!("bench: {} round {n}: {e}", r.label);
                }
                if let Err(e) = self.restore_ends(net) {
                    println!("bench: restoring the client end: {e:#}");
                }
                r.take_round(n, round);
                // The round's own files, and its server's log (the server
                // writes where round 1's did, whose copy stays as it was).
                let sub = Path::new(r.kind.key()).join(format!("round-{n}"));
                let _ = fs::copy(
                    self.work.join(r.kind.key()).join("server.log"),
                    self.work.join(&sub).join("server.log"),
                );
                copy_logs(&self.work.join(&sub), &out_dir.join("logs").join(&sub));
            }
        }
        if let Some(load) = gslb_load.as_mut() {
            // What does not grow with N: the same daemon with one name.
            match self.one_name_map_bytes(net) {
                Ok(bytes) => {
                    load.map_bytes_one_name = Some(bytes);
                    if load.names > 1 {
                        load.marginal_bytes_per_name = Some(
                            load.map_bytes.saturating_sub(bytes) as f64 / (load.names - 1) as f64,
                        );
                    }
                }
                Err(e) => println!("bench: map memory baseline failed: {e:#}"),
            }
        }
        (results, gslb_load)
    }

    /// Starts, checks and times one server. Never fails: failures are
    /// recorded in the result.
    fn measure(&mut self, net: &mut Net, kind: Kind) -> (ServerResult, Option<GslbLoad>) {
        let mut r = ServerResult::new(kind);
        let mut load = None;
        if let Err(e) = self.measure_inner(net, kind, &mut r, &mut load) {
            r.status = Status::Failed;
            r.error = Some(format!("{e:#}"));
        }
        if let Err(e) = self.restore_ends(net) {
            r.status = Status::Failed;
            r.error = Some(format!("restoring the client end: {e:#}"));
        }
        (r, load)
    }

    /// After a server: no XDP program left on the server end (Knot leaves
    /// its own there), the client end set up for sockets again (kxdpgun
    /// leaves its program there).
    fn restore_ends(&mut self, net: &mut Net) -> Result<()> {
        let _ = net.xdp_off(true);
        self.client_for_sockets(net)
    }

    fn measure_inner(
        &mut self,
        net: &mut Net,
        kind: Kind,
        r: &mut ServerResult,
        load: &mut Option<GslbLoad>,
    ) -> Result<()> {
        let dir = self.work.join(kind.key());
        let mut srv = self.start(net, kind)?;
        r.ready_ms = Some(srv.ready_ms);
        let fds = measure::bpf_fds(&srv.pids());
        if kind == Kind::GslbXdp {
            *load = Some(self.gslb_load(&srv, &fds));
        }
        let progs = xdp_progs(kind, &fds);

        let check = check::run(net, self.ds, &dir)?;
        let ok = check.ok();
        r.check = Some(check);
        if !ok {
            r.status = Status::Disagrees;
            return Ok(());
        }
        let pin = srv.pin_dir.clone().filter(|_| kind == Kind::GslbXdp);

        if !self.opts.no_dnsperf {
            let out = dir.join("dnsperf.txt");
            r.dnsperf = Some(self.dnsperf_run(net, &mut srv, &progs, pin.as_deref(), &out)?);

            if let Some(l) = load.as_mut() {
                let secs = self.plan.dnsperf_secs.max(2);
                l.updates = Some(updates::run(
                    net,
                    self.gslb,
                    &dir.join("control.sock"),
                    &dir,
                    secs,
                )?);
                srv.proc.check_alive()?;
            }

            r.latency = Some(net.without_moderation(|| {
                load::latency(
                    net,
                    &self.ds.queries,
                    self.plan.latency_secs,
                    self.opts.latency_rate,
                    &dir.join("latency.txt"),
                )
            })?);
            srv.proc.check_alive()?;
        }

        if !self.opts.no_kxdpgun {
            self.client_for_kxdpgun(net)?;
            // Let the last socket replies drain.
            thread::sleep(Duration::from_millis(200));
            match self.kxdpgun_search(net, &mut srv, &progs, &dir, r) {
                Ok(k) => r.kxdpgun = Some(k),
                Err(e) => {
                    srv.proc.check_alive()?;
                    println!("bench: {}: kxdpgun: {e:#}", r.label);
                    r.kxdpgun_error = Some(format!("{e:#}"));
                    self.client_for_sockets(net)?;
                }
            }
        }
        if !progs.is_empty() {
            r.xdp_profile = self.xdp_profile(net, &mut srv, &progs, &dir, r)?;
        }
        srv.proc.stop(Duration::from_secs(10));
        Ok(())
    }

    /// Starts `kind` on the server end (no XDP program left there), the
    /// client end set up for socket clients; returns when it answers.
    fn start(&mut self, net: &mut Net, kind: Kind) -> Result<servers::Running> {
        self.client_for_sockets(net)?;
        net.xdp_off(true)?;
        servers::start(
            kind,
            net,
            self.ds,
            self.work,
            self.gslb,
            self.plan.start_timeout,
        )
    }

    /// A dnsperf throughput run against the running server, its output in
    /// `out`, with the CPU it cost and, for gslb XDP (`pin`: its bpffs
    /// pins), the share of the answers its XDP program wrote.
    fn dnsperf_run(
        &self,
        net: &Net,
        srv: &mut servers::Running,
        progs: &[u32],
        pin: Option<&Path>,
        out: &Path,
    ) -> Result<Run<load::Dnsperf>> {
        let before = pin.and_then(|p| xdp_answered(self.gslb, p));
        let snap = Snapshot::start(srv.pids(), net, progs);
        let d = load::dnsperf(net, &self.ds.queries, self.plan.dnsperf_secs, out)?;
        let cpu = snap.finish();
        let after = pin.and_then(|p| xdp_answered(self.gslb, p));
        let (qps, answered) = (d.qps, d.completed);
        let mut run = Run::new(d, cpu, qps, answered);
        if let (Some(b), Some(a)) = (before, after) {
            if answered > 0 {
                run.xdp_answered_fraction = Some(a.saturating_sub(b) as f64 / answered as f64);
            }
        }
        srv.proc.check_alive()?;
        Ok(run)
    }

    /// One kxdpgun run of `secs` at offered `rate` against the running
    /// server, its output in `out`, with the CPU it cost.
    fn kxdpgun_run(
        &self,
        net: &Net,
        srv: &mut servers::Running,
        progs: &[u32],
        secs: f64,
        rate: u64,
        out: &Path,
    ) -> Result<Run<Kxdpgun>> {
        let snap = Snapshot::start(srv.pids(), net, progs);
        let k = load::kxdpgun(net, &self.ds.queries, secs, rate, out);
        let cpu = snap.finish();
        let k = k?;
        srv.proc.check_alive()?;
        let (qps, answered) = (k.qps, k.replies);
        Ok(Run::new(k, cpu, qps, answered))
    }

    /// Times a server again in round `n`: dnsperf throughput, kxdpgun at
    /// the offered rate of its best step in round 1 (and at the flood
    /// rate when that step was answered in full), and its XDP program's
    /// run time at the better of those rates (the correctness check,
    /// latency and update runs are round 1's).
    fn repeat(&mut self, net: &mut Net, r: &ServerResult, n: u32) -> Result<report::Round> {
        let kind = r.kind;
        let dir = self.work.join(kind.key()).join(format!("round-{n}"));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut srv = self.start(net, kind)?;
        let progs = xdp_progs(kind, &measure::bpf_fds(&srv.pids()));
        let pin = srv.pin_dir.clone().filter(|_| kind == Kind::GslbXdp);
        let mut round = report::Round::default();
        if r.dnsperf.is_some() {
            let out = dir.join("dnsperf.txt");
            round.dnsperf = Some(self.dnsperf_run(net, &mut srv, &progs, pin.as_deref(), &out)?);
        }
        if let Some(step) = r.best_step() {
            self.client_for_kxdpgun(net)?;
            thread::sleep(Duration::from_millis(200));
            let secs = self.plan.kxdpgun_secs;
            let rates = round_rates(step, self.opts.kxdpgun_qps);
            let mut best_rate = step.offered;
            for (i, &rate) in rates.iter().enumerate() {
                let out = dir.join(format!("kxdpgun-{i}.txt"));
                let run = self.kxdpgun_run(net, &mut srv, &progs, secs, rate, &out)?;
                if round.kxdpgun.as_ref().is_none_or(|b| run.qps > b.qps) {
                    round.kxdpgun = Some(run);
                    best_rate = rate;
                }
            }
            if !progs.is_empty() {
                round.xdp_profile =
                    Some(self.kxdpgun_profile(net, &mut srv, &progs, &dir, best_rate, None)?);
            }
        }
        srv.proc.stop(Duration::from_secs(10));
        Ok(round)
    }

    /// Times the server's XDP program per packet in a run of its own, with
    /// `kernel.bpf_stats_enabled` on only for that run: kxdpgun at the
    /// offered rate of the step with the most answers (the client end is
    /// still set up for it), with the sample asked again under that load,
    /// or dnsperf when kxdpgun was skipped. `None` when neither generator
    /// ran.
    fn xdp_profile(
        &self,
        net: &Net,
        srv: &mut servers::Running,
        progs: &[u32],
        dir: &Path,
        r: &mut ServerResult,
    ) -> Result<Option<XdpProfile>> {
        if self.opts.no_kxdpgun && self.opts.no_dnsperf {
            return Ok(None);
        }
        if let Some(rate) = r.best_step().map(|st| st.offered) {
            return self
                .kxdpgun_profile(net, srv, progs, dir, rate, Some(r))
                .map(Some);
        }
        measure::set_bpf_stats(true);
        let out = dir.join("dnsperf-profile.txt");
        let run = self.dnsperf_run(net, srv, progs, None, &out);
        measure::set_bpf_stats(false);
        let run = run?;
        let secs = self.plan.dnsperf_secs as f64;
        Ok(Some(XdpProfile::new("dnsperf", 0, secs, run.qps, &run.cpu)))
    }

    /// The XDP program's run time under kxdpgun at `rate`, with
    /// `kernel.bpf_stats_enabled` on only for that run. With `under_load`,
    /// the sample is asked again while kxdpgun runs: its answers are
    /// captured and compared (kxdpgun itself counts only rcodes).
    fn kxdpgun_profile(
        &self,
        net: &Net,
        srv: &mut servers::Running,
        progs: &[u32],
        dir: &Path,
        rate: u64,
        under_load: Option<&mut ServerResult>,
    ) -> Result<XdpProfile> {
        let secs = self.plan.kxdpgun_secs;
        let check = under_load.is_some();
        let out = dir.join("kxdpgun-profile.txt");
        measure::set_bpf_stats(true);
        let load_end = std::time::SystemTime::now() + Duration::from_secs_f64(secs);
        let (run, checked) = thread::scope(|scope| {
            let checker = check.then(|| {
                scope.spawn(|| {
                    thread::sleep(Duration::from_secs_f64(secs / 4.0));
                    check::run_under_load(net, self.ds, dir, load_end)
                })
            });
            let run = self.kxdpgun_run(net, srv, progs, secs, rate, &out);
            (run, checker.map(thread::ScopedJoinHandle::join))
        });
        measure::set_bpf_stats(false);
        if let Some(r) = under_load {
            match checked {
                Some(Ok(Ok(u))) => r.under_load = Some(u),
                Some(Ok(Err(e))) => println!("bench: {}: check under load: {e:#}", r.label),
                _ => println!("bench: {}: check under load panicked", r.label),
            }
        }
        let run = run?;
        Ok(XdpProfile::new("kxdpgun", rate, secs, run.qps, &run.cpu))
    }

    /// kxdpgun runs searching the offered rate that gets the most answers:
    /// a flood probe (the generator's ceiling, and how the server copes
    /// with overload), then bisection between the highest rate answered
    /// with ≤ 2% loss and the lowest with more. Servers answer less under a
    /// flood than at their capacity (receive livelock), so the flood alone
    /// would understate them. Returns the run with the most answers/s.
    fn kxdpgun_search(
        &self,
        net: &Net,
        srv: &mut servers::Running,
        progs: &[u32],
        dir: &Path,
        r: &mut ServerResult,
    ) -> Result<Run<Kxdpgun>> {
        let mut best: Option<Run<Kxdpgun>> = None;
        let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
        let mut rate = self.opts.kxdpgun_qps as f64;
        let mut secs = self.plan.kxdpgun_probe_secs;
        for step in 0..=self.plan.kxdpgun_steps {
            let out = dir.join(format!("kxdpgun-{step}.txt"));
            let run = self.kxdpgun_run(net, srv, progs, secs, rate as u64, &out)?;
            let (sent, loss) = (run.result.sent_qps, run.result.loss);
            r.kxdpgun_steps.push(report::Step {
                offered: rate as u64,
                secs,
                sent_qps: sent,
                answered_qps: run.qps,
                loss,
            });
            if best.as_ref().is_none_or(|b| run.qps > b.qps) {
                best = Some(run);
            }
            if loss <= GOOD_LOSS {
                lo = lo.max(sent);
                if sent < 0.9 * rate {
                    // The server kept up with all the generator could send.
                    break;
                }
            } else {
                hi = hi.min(sent);
            }
            rate = if lo == 0.0 && step == 0 {
                // Just above what it answered under the flood.
                best.as_ref().map_or(0.0, |b| b.qps) * 1.05
            } else if lo == 0.0 {
                rate * 0.75
            } else if hi.is_infinite() {
                lo * 1.5
            } else if hi / lo < 1.1 {
                break;
            } else {
                f64::midpoint(lo, hi)
            };
            if rate < 1.0 {
                break;
            }
            secs = self.plan.kxdpgun_secs;
        }
        best.context("no kxdpgun run")
    }

    /// Map memory and load time of a running gslb XDP daemon.
    fn gslb_load(&self, srv: &servers::Running, fds: &measure::BpfFds) -> GslbLoad {
        let log = fs::read_to_string(&srv.proc.log).unwrap_or_default();
        let filled = servers::maps_filled(&log);
        let names = measure::bpf_map_names().unwrap_or_default();
        let mut maps: Vec<MapMem> = fds
            .maps
            .iter()
            .map(|(id, (memlock, max_entries))| MapMem {
                name: names.get(id).cloned().unwrap_or_else(|| format!("id {id}")),
                memlock: *memlock,
                max_entries: *max_entries,
            })
            .collect();
        maps.sort_by_key(|m| std::cmp::Reverse(m.memlock));
        let map_bytes = maps.iter().map(|m| m.memlock).sum();
        GslbLoad {
            names: self.ds.names,
            entries: filled.map(|f| f.0),
            maps_fill_ms: filled.and_then(|f| f.1),
            start_to_ready_ms: srv.daemon_ready_ms,
            map_bytes,
            map_bytes_one_name: None,
            bytes_per_name: map_bytes as f64 / self.ds.names as f64,
            marginal_bytes_per_name: None,
            maps,
            updates: None,
        }
    }

    /// Map memory of a gslb daemon loaded with one name.
    fn one_name_map_bytes(&mut self, net: &mut Net) -> Result<u64> {
        net.xdp_off(true)?;
        let pin = net.next_pin_dir();
        let c = servers::gslb_cmd(
            net,
            self.gslb,
            &self.ds.gslb_toml_one,
            &pin,
            self.work,
            false,
        );
        let mut p = Proc::spawn("gslb-one-name", c, &self.work.join("gslb-one-name.log"))?;
        p.wait_log("gslb ready", Duration::from_secs(30))?;
        let fds = measure::bpf_fds(&netns::descendants(p.pid()));
        p.stop(Duration::from_secs(10));
        let _ = net.xdp_off(true);
        Ok(fds.maps.values().map(|(m, _)| *m).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(offered: u64, loss: f64) -> report::Step {
        report::Step {
            offered,
            secs: 5.0,
            sent_qps: offered as f64,
            answered_qps: offered as f64 * (1.0 - loss),
            loss,
        }
    }

    #[test]
    fn a_later_round_floods_only_when_the_best_step_lost_nothing() {
        assert_eq!(round_rates(&step(2_000_000, 0.19), 2_000_000), [2_000_000]);
        assert_eq!(round_rates(&step(450_000, 0.15), 2_000_000), [450_000]);
        assert_eq!(
            round_rates(&step(450_000, 0.001), 2_000_000),
            [450_000, 2_000_000]
        );
    }
}
