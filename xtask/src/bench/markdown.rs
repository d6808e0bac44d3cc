//! `results.md` and the table printed at the end of a run.

use std::fmt::Write as _;

use super::report::{Results, ServerResult, Status};

/// `1.23M`, `456.7k`, `89`.
pub fn fmt_qps(v: f64) -> String {
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

/// The cells of one server's row, or why it has none.
fn cells(sv: &ServerResult) -> Result<Vec<String>, String> {
    let (kx, dp) = (sv.kxdpgun.as_ref(), sv.dnsperf.as_ref());
    if kx.is_none() && dp.is_none() {
        return Err(match sv.status {
            Status::Disagrees => {
                let c = sv.check.as_ref();
                format!(
                    "disagrees: {} of {} sample answers wrong ({}), not timed",
                    c.map_or(0, |c| c.mismatch_count),
                    c.map_or(0, |c| c.asked),
                    c.and_then(|c| c.mismatches.first().cloned())
                        .unwrap_or_default()
                )
            }
            _ => format!(
                "failed: {}",
                sv.error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .unwrap_or("?")
            ),
        });
    }
    let bpf = sv.xdp_profile.as_ref().and_then(|p| p.ns_per_packet);
    Ok(vec![
        opt(kx, |r| fmt_qps(r.qps)),
        opt(kx.and_then(|r| r.ratio), |v| format!("{v:.2}")),
        opt(kx, |r| format!("{:.1}%", r.result.loss * 100.0)),
        opt(dp, |r| fmt_qps(r.qps)),
        opt(dp.and_then(|r| r.ratio), |v| format!("{v:.2}")),
        opt(dp, |r| format!("{:.2}", r.result.avg_latency_ms)),
        opt(sv.latency.as_ref(), |l| {
            format!("{:.3} / {:.3}", l.p50_ms, l.p99_ms)
        }),
        opt(dp, |r| format!("{:.2}", r.server_us_per_q)),
        opt(kx, |r| format!("{:.2}", r.server_us_per_q)),
        opt(bpf, |v| format!("{v:.0}")),
        format!(
            "{}; {}",
            opt(kx, |r| r.limit.clone()),
            opt(dp, |r| r.limit.clone())
        ),
    ])
}

const HEADERS: [&str; 12] = [
    "server",
    "kxdpgun q/s",
    "× XDP",
    "kx loss",
    "dnsperf q/s",
    "× XDP",
    "avg ms",
    "p50 / p99 ms",
    "CPU µs/q dp",
    "CPU µs/q kx",
    "XDP ns/pkt",
    "limit (kxdpgun; dnsperf)",
];

/// The main table in Markdown.
pub fn table(r: &Results) -> String {
    let mut s = format!("| {} |\n", HEADERS.join(" | "));
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for sv in &r.servers {
        match cells(sv) {
            Ok(c) => {
                let _ = writeln!(s, "| {} | {} |", sv.label, c.join(" | "));
            }
            Err(why) => {
                let _ = writeln!(s, "| {} | {} |", sv.label, why.replace('|', "/"));
            }
        }
    }
    s
}

/// The main table as aligned text for the terminal.
pub fn text_table(r: &Results) -> String {
    let widths = [14, 11, 5, 7, 11, 5, 6, 13, 11, 11, 10];
    let mut s = String::new();
    for (h, w) in HEADERS.iter().zip(widths.iter().chain([&0])) {
        let _ = write!(s, "{h:<w$}  ");
    }
    s.push('\n');
    for sv in &r.servers {
        let _ = write!(s, "{:<14}  ", sv.label);
        match cells(sv) {
            Ok(c) => {
                for (cell, w) in c.iter().zip(widths.iter().skip(1).chain([&0])) {
                    let _ = write!(s, "{cell:<w$}  ");
                }
            }
            Err(why) => s.push_str(&why),
        }
        s.push('\n');
    }
    s
}

/// CPU breakdown of every run.
fn cpu_table(r: &Results, s: &mut String) {
    s.push_str(
        "| server | run | wall s | server procs | server NAPI | softirq | server (attributed) | \
         generator | client NAPI | idle | other | answered | veth drops |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for sv in &r.servers {
        let runs = [
            ("dnsperf", sv.dnsperf.as_ref().map(|x| (&x.cpu, x.answered))),
            ("kxdpgun", sv.kxdpgun.as_ref().map(|x| (&x.cpu, x.answered))),
        ];
        for (name, run) in runs {
            let Some((c, answered)) = run else { continue };
            let w = c.wall_s.max(1e-9);
            let drops: Vec<String> = c
                .link_drops
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {name} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {answered} | {} |",
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
                drops.join(", "),
            );
        }
    }
}

const LIMIT_NOTE: &str = "Limit says what held the rate, so that no ratio is misread: \
    `server (N% lost: where)` when more than 3% of the queries went unanswered — at the server \
    end's ingress ring (its receive path fell behind), inside the server (socket or AF_XDP ring \
    overflow, or no answer) or at the client end (then it reads `generator`); `search (...)` \
    when the best kxdpgun step answered everything at a rate the search chose below what \
    kxdpgun can send (the capacity is at least that), or `server (all of the offered rate \
    answered here; N% lost at R in the search)` when the search lost at a rate within 10% \
    above it (the capacity lies between the two); `generator (N CPU \
    idle)` when nothing was lost and the machine still had ≥ 0.25 CPU idle, so the server could \
    have taken more; `generator (at the ceiling)` when nothing was lost and the rate is within 10% \
    of the best any server reached with that generator; `server` otherwise. `noisy` flags runs \
    during which processes outside the benchmark used more than 0.2 CPU (the machine is shared), \
    naming the biggest.";

const CPU_NOTE: &str = "server (attributed) = server processes + the server veth end's NAPI \
    thread − softirq. CPU is accounted by ticks here (no IRQ time accounting), so a softirq tick \
    is also charged to the task it interrupts; the softirq in these runs is the client's receive \
    of the replies, run inside whatever sent them (the server process, or the NAPI thread for \
    XDP_TX). With dnsperf the client end has its own NAPI thread, so softirq is near zero. The \
    figure without the subtraction is `server_raw_us_per_q` in results.json. `other` is busy \
    time outside the benchmark (the machine is shared).";

fn header(r: &Results, s: &mut String) {
    let m = &r.meta;
    let _ = writeln!(s, "# gslb benchmark {}\n", m.timestamp);
    let _ = writeln!(
        s,
        "`{}` on Linux {}, {} CPUs. {} gslb names (one A and one AAAA address each), {} queries \
         in the file, mix {}. dnsperf: {} s per server (4 sockets, 2 threads, 500 outstanding). \
         Latency: dnsperf -v at {} q/s for {} s (one socket; p50/p99 of every answer). kxdpgun: \
         a {} s flood probe at -Q {}, then up to {} steps of {} s searching the offered rate with \
         the most answers (the best step is shown). Every server was checked on {} sample \
         queries before timing. Interrupt moderation on both veth ends: {}. {}\n",
        m.command,
        m.kernel,
        m.cpus,
        m.names,
        m.queries,
        m.mix,
        m.dnsperf_secs,
        m.latency_rate,
        m.latency_secs,
        m.kxdpgun_probe_secs,
        m.kxdpgun_rate,
        m.kxdpgun_steps,
        m.kxdpgun_secs,
        m.sample,
        if m.coalesce_us == 0 {
            "none (`--coalesce-us 0`)".to_owned()
        } else {
            format!(
                "{} µs in the load runs, off in the latency runs (`gro_flush_timeout`, \
                 `napi_defer_hard_irqs` 2; a NIC's `rx-usecs`, adaptive)",
                m.coalesce_us
            )
        },
        if m.rounds > 1 {
            format!(
                "Rounds: {} (every server timed again in each round, servers in turn; the table \
                 shows each server's best: the kxdpgun run with the most answers/s, the dnsperf \
                 run with the least server CPU per query, the XDP run with the least time per \
                 packet; the machine is shared, and other work only slows a server down. Every \
                 round is listed under Rounds).",
                m.rounds
            )
        } else {
            "One round.".to_owned()
        }
    );
    s.push_str(&table(r));
    let _ = writeln!(
        s,
        "\n× XDP: answered q/s divided by gslb XDP's with the same generator. CPU µs/q: server CPU \
         per answered query in the dnsperf (dp) and kxdpgun (kx) runs. XDP ns/pkt: BPF run time \
         per packet of the server's XDP program, from the kernel's BPF statistics in a run of its own \
         (below); the other runs have them off, as they add two clock reads to every run of every \
         XDP program, the servers' and kxdpgun's own.\n\n{LIMIT_NOTE}\n"
    );
}

fn steps(r: &Results, s: &mut String) {
    s.push_str(
        "## kxdpgun rate search\n\n| server | highest rate with ≤ 2% loss | \
         steps: offered → sent / answered q/s (loss) |\n|---|---:|---|\n",
    );
    for sv in r.servers.iter().filter(|sv| !sv.kxdpgun_steps.is_empty()) {
        let lossless = sv
            .kxdpgun_steps
            .iter()
            .filter(|st| st.loss <= 0.02)
            .map(|st| st.answered_qps)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let steps: Vec<String> = sv
            .kxdpgun_steps
            .iter()
            .map(|st| {
                format!(
                    "{} → {} / {} ({:.1}%)",
                    fmt_qps(st.offered as f64),
                    fmt_qps(st.sent_qps),
                    fmt_qps(st.answered_qps),
                    st.loss * 100.0
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            sv.label,
            opt(lossless, fmt_qps),
            steps.join("; ")
        );
    }
}

fn profiles(r: &Results, s: &mut String) {
    let runs: Vec<_> = r
        .servers
        .iter()
        .filter_map(|sv| sv.xdp_profile.as_ref().map(|p| (sv, p)))
        .collect();
    if runs.is_empty() {
        return;
    }
    s.push_str(
        "\n## XDP program run time\n\nA run of its own per XDP server (and round) with \
         `kernel.bpf_stats_enabled` on (kxdpgun at the offered rate that got the most answers): \
         the kernel's `run_time_ns / run_cnt` of the program (the best round's).\n\n\
         | server | generator | offered q/s | answered q/s | runs | ns per packet |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for (sv, p) in runs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            sv.label,
            p.generator,
            if p.offered == 0 {
                "as fast as it can".to_owned()
            } else {
                fmt_qps(p.offered as f64)
            },
            fmt_qps(p.answered_qps),
            p.run_cnt,
            opt(p.ns_per_packet, |v| format!("{v:.0}"))
        );
    }
}

fn rounds(r: &Results, s: &mut String) {
    if r.meta.rounds < 2 {
        return;
    }
    s.push_str(
        "\n## Rounds\n\nEach server's runs in every round: kxdpgun answered q/s at its best \
         step's offered rate (later rounds also at the flood rate, when that step lost \
         nothing); dnsperf answered q/s and server CPU µs per query; XDP program ns \
         per packet.\n\n| server | round | kxdpgun q/s | dnsperf q/s | CPU µs/q dp | XDP ns/pkt |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for sv in &r.servers {
        for f in &sv.rounds {
            if let Some(e) = &f.error {
                let e = e.lines().next().unwrap_or("?");
                let _ = writeln!(s, "| {} | {} | failed: {e} | | | |", sv.label, f.round);
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                sv.label,
                f.round,
                opt(f.kxdpgun_qps, fmt_qps),
                opt(f.dnsperf_qps, fmt_qps),
                opt(f.dnsperf_us_per_q, |v| format!("{v:.2}")),
                opt(f.ns_per_packet, |v| format!("{v:.0}")),
            );
        }
    }
}

fn gslb_load(r: &Results, s: &mut String) {
    let Some(l) = &r.gslb_load else { return };
    s.push_str("\n## gslb: map memory and load time\n\n");
    let _ = writeln!(
        s,
        "{} names, {} map entries; maps filled in {} ms (daemon log `elapsed_ms`), process start \
         to `gslb ready` {} ms.\n\nBPF map memory (`memlock` of the daemon's map fds): {} bytes in \
         all, {:.0} bytes per name; {} bytes with one name, so {} bytes per added name.\n",
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

fn correctness(r: &Results, s: &mut String) {
    s.push_str("\n## Correctness\n\n");
    for sv in &r.servers {
        if let Some(c) = &sv.check {
            let eg = if c.mismatches.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", c.mismatches.join("; "))
            };
            let _ = writeln!(
                s,
                "- {}: {} of {} sample answers as expected{eg}",
                sv.label, c.agreed, c.asked
            );
        }
        if let Some(k) = &sv.kxdpgun {
            let total: u64 = k.result.rcodes.values().sum();
            let noerror = k.result.rcodes.get("NOERROR").copied().unwrap_or(0);
            if total > 0 {
                let codes: Vec<String> = k
                    .result
                    .rcodes
                    .iter()
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "  - kxdpgun rcodes: {} (NOERROR {:.1}%; the mix expects {}%)",
                    codes.join(", "),
                    noerror as f64 * 100.0 / total as f64,
                    100 - r.meta.mix.nx
                );
            }
        }
        if let Some(u) = &sv.under_load {
            let eg = if u.check.mismatches.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", u.check.mismatches.join("; "))
            };
            let _ = writeln!(
                s,
                "  - the sample again during the kxdpgun run of \"XDP program run time\", from \
                 ports below kxdpgun's (answers captured: `logs/{}/under-load.pcap`, {} packets, {} \
                 before kxdpgun stopped): {} of {} right, {} wrong, {} unanswered{eg}",
                sv.key,
                u.captured,
                u.captured_during_load,
                u.check.agreed,
                u.check.asked,
                u.check.mismatch_count,
                u.unanswered
            );
        }
        if let Some(f) = sv.dnsperf.as_ref().and_then(|d| d.xdp_answered_fraction) {
            let _ = writeln!(
                s,
                "  - answered by the XDP program in the dnsperf run: {:.1}%",
                f * 100.0
            );
        }
        if let Some(e) = &sv.kxdpgun_error {
            let _ = writeln!(s, "- {}: kxdpgun: {}", sv.label, e.replace('\n', " / "));
        }
        if let Some(e) = &sv.error {
            let _ = writeln!(s, "- {}: error: {}", sv.label, e.replace('\n', " / "));
        }
    }
}

/// The whole of `results.md`.
pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    header(r, &mut s);
    steps(r, &mut s);
    profiles(r, &mut s);
    rounds(r, &mut s);
    s.push_str(
        "\n## Targets\n\nA rate marked `or more` is a lower bound: the server's best \
         kxdpgun step answered all that the search offered. A ratio such a bound could overturn \
         is `inconclusive` (quick runs stop the slower servers' search early). With several \
         rounds, `median rounds` gives the same ratio between the servers' median rounds: a \
         typical minute on this machine rather than each server's best one; the verdict is \
         the best rounds'.\n\n\
         | target | measured | verdict |\n|---|---|---|\n",
    );
    for t in &r.targets {
        let _ = writeln!(s, "| {} | {} | {} |", t.what, t.measured, t.verdict);
    }
    gslb_load(r, &mut s);
    if let Some(a) = &r.aware {
        super::aware::markdown(a, &mut s);
    }
    if let Some(sc) = &r.scale {
        super::scale::markdown(sc, &mut s);
    }
    if let Some(rl) = &r.reload {
        super::reload::markdown(rl, &mut s);
    }
    if let Some(rs) = &r.restart {
        super::restart::markdown(rs, &mut s);
    }
    s.push_str("\n## CPU over each run (CPUs busy on average)\n\n");
    cpu_table(r, &mut s);
    let _ = writeln!(s, "\n{CPU_NOTE}");
    correctness(r, &mut s);
    s.push_str("\n## Not measured yet\n\n");
    for n in &r.not_measured {
        let _ = writeln!(s, "- {n}");
    }
    s.push_str("\n## Versions\n\n");
    for (p, v) in &r.meta.versions {
        let _ = writeln!(s, "- {p} {v}");
    }
    s
}
