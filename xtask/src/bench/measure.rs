//! What is read from the kernel around each load run: CPU time of the
//! server's processes and of the veth NAPI threads, /proc/stat, BPF program
//! statistics, and BPF map memory.
//!
//! Accounting on this kernel is tick based (no IRQ time accounting): a tick
//! that lands in softirq is counted in /proc/stat's `softirq` column *and*
//! charged to the task it interrupted. The server's receive work runs in
//! the threaded NAPI kthread of the server's veth end (so it is the
//! server's); the client's receive of the replies runs either in the
//! client end's NAPI kthread (dnsperf runs) or as softirq inside whatever
//! sent the reply — the server's process or its NAPI kthread (kxdpgun runs,
//! where kxdpgun's XDP program needs the client end in softirq mode). So
//! the server's CPU is taken as (server processes + server NAPI thread −
//! softirq), and the raw sum is reported beside it.

use std::{collections::BTreeMap, fs, process::Command, time::Instant};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::netns::{in_ns, Net};
use crate::cmd;

/// Clock ticks per second of /proc (`USER_HZ`; 100 on Linux).
pub const HZ: f64 = 100.0;

/// utime + stime of one process (all its threads), in ticks.
pub fn proc_ticks(pid: u32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    // rest: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// cutime + cstime of this process: the CPU time of children that were
/// waited for (how a load generator's CPU is read once it has exited).
pub fn children_ticks() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(13) + get(14)
}

/// Pids of the threaded-NAPI kthreads of interface `dev`
/// (`napi/<dev>-<id>`).
pub fn napi_threads(dev: &str) -> Vec<u32> {
    let want = format!("napi/{dev}-");
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) {
                if comm.trim_end().starts_with(&want) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Every process: pid → (comm, utime + stime).
fn all_procs() -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            out.insert(pid, (comm.trim_end().to_owned(), proc_ticks(pid)));
        }
    }
    out
}

/// Totals over all CPUs from /proc/stat, in ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuStat {
    /// Everything but idle and iowait.
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// softirq.
    pub softirq: u64,
}

impl CpuStat {
    /// Reads the `cpu` line.
    pub fn read() -> Self {
        let text = fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return CpuStat::default();
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal guest guest_nice;
        // guest time is already inside user.
        let idle = get(3) + get(4);
        let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
        CpuStat {
            busy,
            idle,
            softirq: get(6),
        }
    }
}

/// Number of CPUs online.
pub fn ncpu() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A snapshot taken before a load run; [`Snapshot::finish`] turns it into
/// CPU use over the run.
pub struct Snapshot {
    at: Instant,
    server_pids: Vec<u32>,
    server: u64,
    server_napi_pids: Vec<u32>,
    server_napi: u64,
    client_napi_pids: Vec<u32>,
    client_napi: u64,
    generator: u64,
    stat: CpuStat,
    bpf: BTreeMap<u32, (u64, u64)>,
    all: BTreeMap<u32, (String, u64)>,
    links: [(String, String, BTreeMap<String, u64>); 2],
}

/// CPU use over one load run, in CPU seconds unless stated.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuUse {
    /// Wall time of the run.
    pub wall_s: f64,
    /// The server's processes (utime + stime, all threads).
    pub server_procs_s: f64,
    /// The server end's NAPI kthread(s).
    pub server_napi_s: f64,
    /// softirq over all CPUs.
    pub softirq_s: f64,
    /// `server_procs + server_napi − softirq` (see the module doc).
    pub server_s: f64,
    /// The load generator.
    pub generator_s: f64,
    /// The client end's NAPI kthread(s).
    pub client_napi_s: f64,
    /// Idle over all CPUs.
    pub idle_s: f64,
    /// Busy time not accounted to any of the above (other work on the
    /// machine).
    pub other_s: f64,
    /// BPF programs watched: run time and run count over the run.
    pub bpf: Vec<BpfUse>,
    /// The biggest other consumers (`comm`, CPU seconds), for the noise
    /// warning.
    pub top_other: Vec<(String, f64)>,
    /// Drop and error counters of the veth ends that moved during the run
    /// (`server.tx_dropped`, `client.rx_queue_0_xdp_tx_errors`, ...).
    pub link_drops: BTreeMap<String, u64>,
}

/// Counters of one interface: `ethtool -S` plus the `ip -s` rx/tx
/// dropped and errors.
pub fn link_counters(ns: &str, dev: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    if let Ok(text) = cmd::output(in_ns(ns, "ethtool").args(["-S", dev])) {
        for line in text.lines() {
            if let Some((k, v)) = line.trim().split_once(':') {
                if let Ok(v) = v.trim().parse::<u64>() {
                    if k != "peer_ifindex" {
                        out.insert(k.trim().to_owned(), v);
                    }
                }
            }
        }
    }
    if let Ok(text) =
        cmd::output(Command::new("ip").args(["-n", ns, "-s", "-j", "link", "show", "dev", dev]))
    {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let st = &v[0]["stats64"];
            for dir in ["rx", "tx"] {
                for k in ["dropped", "errors", "packets"] {
                    if let Some(n) = st[dir][k].as_u64() {
                        out.insert(format!("{dir}_{k}"), n);
                    }
                }
            }
        }
    }
    out
}

/// One BPF program's statistics over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BpfUse {
    /// Program id.
    pub id: u32,
    /// Program name.
    pub name: String,
    /// `run_time_ns` delta.
    pub run_time_ns: u64,
    /// `run_cnt` delta.
    pub run_cnt: u64,
}

impl BpfUse {
    /// Average ns per run.
    pub fn ns_per_run(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }
}

impl Snapshot {
    /// Takes the "before" readings. `bpf_progs`: program ids to watch.
    pub fn start(server_pids: Vec<u32>, net: &Net, bpf_progs: &[u32]) -> Self {
        let server_napi_pids = napi_threads(&net.server_if);
        let client_napi_pids = napi_threads(&net.client_if);
        let link = |ns: &String, dev: &String| (ns.clone(), dev.clone(), link_counters(ns, dev));
        Snapshot {
            at: Instant::now(),
            server: server_pids.iter().map(|p| proc_ticks(*p)).sum(),
            server_pids,
            server_napi: server_napi_pids.iter().map(|p| proc_ticks(*p)).sum(),
            server_napi_pids,
            client_napi: client_napi_pids.iter().map(|p| proc_ticks(*p)).sum(),
            client_napi_pids,
            generator: children_ticks(),
            stat: CpuStat::read(),
            bpf: bpf_prog_stats(bpf_progs),
            all: all_procs(),
            links: [
                link(&net.server_ns, &net.server_if),
                link(&net.client_ns, &net.client_if),
            ],
        }
    }

    /// The "after" readings (call after the generator was waited for).
    pub fn finish(&self) -> CpuUse {
        let wall_s = self.at.elapsed().as_secs_f64();
        let secs = |a: u64, b: u64| a.saturating_sub(b) as f64 / HZ;
        let server_now: u64 = self.server_pids.iter().map(|p| proc_ticks(*p)).sum();
        let snapi: u64 = self.server_napi_pids.iter().map(|p| proc_ticks(*p)).sum();
        let cnapi: u64 = self.client_napi_pids.iter().map(|p| proc_ticks(*p)).sum();
        let stat = CpuStat::read();
        let ids: Vec<u32> = self.bpf.keys().copied().collect();
        let names = bpf_prog_names();
        let bpf = bpf_prog_stats(&ids)
            .into_iter()
            .map(|(id, (t, c))| {
                let (t0, c0) = self.bpf.get(&id).copied().unwrap_or((0, 0));
                BpfUse {
                    id,
                    name: names.get(&id).cloned().unwrap_or_default(),
                    run_time_ns: t.saturating_sub(t0),
                    run_cnt: c.saturating_sub(c0),
                }
            })
            .collect();
        let mut u = CpuUse {
            wall_s,
            server_procs_s: secs(server_now, self.server),
            server_napi_s: secs(snapi, self.server_napi),
            softirq_s: secs(stat.softirq, self.stat.softirq),
            generator_s: secs(children_ticks(), self.generator),
            client_napi_s: secs(cnapi, self.client_napi),
            idle_s: secs(stat.idle, self.stat.idle),
            bpf,
            ..CpuUse::default()
        };
        u.server_s = (u.server_procs_s + u.server_napi_s - u.softirq_s).max(0.0);
        let known: Vec<u32> = self
            .server_pids
            .iter()
            .chain(&self.server_napi_pids)
            .chain(&self.client_napi_pids)
            .copied()
            .collect();
        let mut top: Vec<(String, f64)> = all_procs()
            .into_iter()
            .filter(|(pid, _)| !known.contains(pid))
            .filter_map(|(pid, (comm, t))| {
                let t0 = self.all.get(&pid).map_or(0, |x| x.1);
                let d = secs(t, t0);
                (d > 0.0).then(|| (format!("{comm}[{pid}]"), d))
            })
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(5);
        u.top_other = top;
        for ((ns, dev, before), end) in self.links.iter().zip(["server", "client"]) {
            for (k, v) in link_counters(ns, dev) {
                let d = v.saturating_sub(before.get(&k).copied().unwrap_or(0));
                if d > 0 && (k.contains("drop") || k.contains("err")) {
                    u.link_drops.insert(format!("{end}.{k}"), d);
                }
            }
        }
        let busy = secs(stat.busy, self.stat.busy);
        u.other_s =
            (busy - u.server_procs_s - u.server_napi_s - u.generator_s - u.client_napi_s).max(0.0);
        u
    }
}

/// `run_time_ns` and `run_cnt` of the BPF programs `ids` (bpftool lists
/// every program by id; they count only while `kernel.bpf_stats_enabled`).
pub fn bpf_prog_stats(ids: &[u32]) -> BTreeMap<u32, (u64, u64)> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return out;
    }
    let Ok(json) = cmd::output(Command::new("bpftool").args(["prog", "show", "-j"])) else {
        return out;
    };
    let Ok(serde_json::Value::Array(progs)) = serde_json::from_str(&json) else {
        return out;
    };
    for p in progs {
        let Some(id) = p["id"].as_u64().and_then(|v| u32::try_from(v).ok()) else {
            continue;
        };
        if ids.contains(&id) {
            out.insert(
                id,
                (
                    p["run_time_ns"].as_u64().unwrap_or(0),
                    p["run_cnt"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    out
}

/// Program id → name for every loaded BPF program.
pub fn bpf_prog_names() -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    let Ok(json) = cmd::output(Command::new("bpftool").args(["prog", "show", "-j"])) else {
        return out;
    };
    if let Ok(serde_json::Value::Array(progs)) = serde_json::from_str(&json) {
        for p in progs {
            if let (Some(id), Some(name)) = (p["id"].as_u64(), p["name"].as_str()) {
                if let Ok(id) = u32::try_from(id) {
                    out.insert(id, name.to_owned());
                }
            }
        }
    }
    out
}

/// BPF objects a process holds open, from /proc/PID/fdinfo.
#[derive(Debug, Default)]
pub struct BpfFds {
    /// XDP program ids (`prog_type` 6).
    pub xdp_progs: Vec<u32>,
    /// Map id → (memlock bytes, `max_entries`).
    pub maps: BTreeMap<u32, (u64, u64)>,
}

/// Reads the BPF programs and maps held by `pids`.
pub fn bpf_fds(pids: &[u32]) -> BpfFds {
    let mut out = BpfFds::default();
    for pid in pids {
        let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(info) = fs::read_to_string(e.path()) else {
                continue;
            };
            let field = |k: &str| -> Option<u64> {
                info.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.trim().parse().ok())
            };
            if let Some(id) = field("map_id:").and_then(|v| u32::try_from(v).ok()) {
                out.maps.insert(
                    id,
                    (
                        field("memlock:").unwrap_or(0),
                        field("max_entries:").unwrap_or(0),
                    ),
                );
            } else if let Some(id) = field("prog_id:").and_then(|v| u32::try_from(v).ok()) {
                if field("prog_type:") == Some(6) && !out.xdp_progs.contains(&id) {
                    out.xdp_progs.push(id);
                }
            }
        }
    }
    out
}

/// Map id → name for every BPF map.
pub fn bpf_map_names() -> Result<BTreeMap<u32, String>> {
    let json = cmd::output(Command::new("bpftool").args(["map", "show", "-j"]))?;
    let v: serde_json::Value = serde_json::from_str(&json).context("bpftool map show -j")?;
    let mut out = BTreeMap::new();
    for m in v.as_array().into_iter().flatten() {
        if let (Some(id), Some(name)) = (m["id"].as_u64(), m["name"].as_str()) {
            if let Ok(id) = u32::try_from(id) {
                out.insert(id, name.to_owned());
            }
        }
    }
    Ok(out)
}

/// Reads `kernel.bpf_stats_enabled`.
pub fn bpf_stats_enabled() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Turns `kernel.bpf_stats_enabled` on or off. While it is on, every run
/// of every BPF program reads the clock twice (on this VM a paravirtual
/// clock read each): the servers' XDP programs and kxdpgun's own pay it on
/// every packet, so throughput is measured with it off and the run time per
/// packet in a run of its own.
pub fn set_bpf_stats(on: bool) {
    let _ = fs::write(
        "/proc/sys/kernel/bpf_stats_enabled",
        if on { "1" } else { "0" },
    );
}

/// Restores `kernel.bpf_stats_enabled` to what it was on drop.
pub struct BpfStatsGuard(pub Option<String>);

impl BpfStatsGuard {
    /// Turns BPF run-time statistics off until a profiling run asks for
    /// them (see [`set_bpf_stats`]).
    pub fn off() -> Self {
        let before = bpf_stats_enabled();
        set_bpf_stats(false);
        BpfStatsGuard(before)
    }
}

impl Drop for BpfStatsGuard {
    fn drop(&mut self) {
        if let Some(v) = &self.0 {
            let _ = fs::write("/proc/sys/kernel/bpf_stats_enabled", v);
        }
    }
}
