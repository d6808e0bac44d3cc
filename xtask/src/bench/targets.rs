//! The benchmark's targets (throughput against NSD and Knot XDP, CPU per
//! query, the slow path, XDP run time, map memory, load time, answer
//! updates under load, correct answers), judged on one run.

use std::fmt::Write as _;

use super::{
    report::{GslbLoad, RoundFigures, ServerResult, Target},
    servers::Kind,
};

fn target(what: &str, measured: String, verdict: &str) -> Target {
    Target {
        what: what.to_owned(),
        measured,
        verdict: verdict.to_owned(),
    }
}

fn find(servers: &[ServerResult], kind: Kind) -> Option<&ServerResult> {
    servers.iter().find(|s| s.kind == kind)
}

/// A server's answered queries/s in one run, and whether it is only a
/// lower bound on what the server can answer: its best kxdpgun step
/// answered all that the rate search offered (limit `search`), so the
/// search stopped short of the server's capacity (a quick run's one step
/// does that to the slower servers).
#[derive(Clone, Copy, Debug)]
struct Rate {
    qps: f64,
    at_least: bool,
}

/// `a / b ≥ want`. A lower bound on top can only have understated the
/// ratio, one below only overstated it: a verdict they could overturn is
/// `inconclusive`, never `met` or `missed`.
fn ratio(what: &str, a: Option<Rate>, b: Option<Rate>, want: f64) -> Target {
    match (a, b) {
        (Some(a), Some(b)) if b.qps > 0.0 => {
            let r = a.qps / b.qps;
            let verdict = match (r >= want, a.at_least, b.at_least) {
                (true, _, false) => "met",
                (false, false, _) => "missed",
                _ => "inconclusive",
            };
            let bound = |x: Rate| if x.at_least { " or more" } else { "" };
            target(
                what,
                format!(
                    "{r:.2}× ({:.0}{} / {:.0}{} q/s)",
                    a.qps,
                    bound(a),
                    b.qps,
                    bound(b)
                ),
                verdict,
            )
        }
        _ => target(what, "not measured".into(), "n/a"),
    }
}

/// Adds, after the best round's figure, `a / b` of the servers' median
/// rounds (`--rounds` 2 or more): what a typical minute on this machine
/// gave. The verdict stays with the best rounds.
/// `digits`: decimals of the two figures (0 for q/s, 2 for µs).
fn median_ratio(mut t: Target, a: Option<f64>, b: Option<f64>, digits: usize) -> Target {
    if let (Some(a), Some(b)) = (a, b) {
        if b > 0.0 {
            let _ = write!(
                t.measured,
                "; median rounds: {:.2}× ({a:.digits$} / {b:.digits$})",
                a / b
            );
        }
    }
    t
}

/// Median over a server's rounds of figure `f` (see [`ServerResult::median`]).
fn median(
    servers: &[ServerResult],
    kind: Kind,
    f: impl Fn(&RoundFigures) -> Option<f64>,
) -> Option<f64> {
    find(servers, kind).and_then(|s| s.median(f))
}

/// dnsperf: gslb XDP at the generator's ceiling, with ≥ 3× less server CPU
/// per query than Knot XDP.
fn dnsperf_targets(servers: &[ServerResult], out: &mut Vec<Target>) {
    let dp = |k| find(servers, k).and_then(|s| s.dnsperf.as_ref());
    let (Some(g), Some(k)) = (dp(Kind::GslbXdp), dp(Kind::KnotXdp)) else {
        out.push(target(
            "dnsperf: gslb XDP at the ceiling, ≥ 3× less CPU/q than Knot XDP",
            "not measured".into(),
            "n/a",
        ));
        return;
    };
    out.push(target(
        "dnsperf: gslb XDP at the generator's ceiling",
        format!("{:.0} q/s, limit: {}", g.qps, g.limit),
        if g.limit.starts_with("generator") {
            "met"
        } else {
            "missed"
        },
    ));
    let r = if g.server_us_per_q > 0.0 {
        k.server_us_per_q / g.server_us_per_q
    } else {
        0.0
    };
    let cpu = |k| median(servers, k, |f| f.dnsperf_us_per_q);
    out.push(median_ratio(
        target(
            "dnsperf: gslb XDP ≥ 3× less server CPU per query than Knot XDP",
            format!(
                "{r:.2}× ({:.2} vs {:.2} µs/q)",
                g.server_us_per_q, k.server_us_per_q
            ),
            if r >= 3.0 { "met" } else { "missed" },
        ),
        cpu(Kind::KnotXdp),
        cpu(Kind::GslbXdp),
        2,
    ));
}

/// Load time and map memory.
fn load_targets(load: Option<&GslbLoad>, out: &mut Vec<Target>) {
    let Some(l) = load else {
        out.push(target(
            "map memory and load time",
            "not measured (gslb-xdp not run)".into(),
            "n/a",
        ));
        return;
    };
    let ms = l.maps_fill_ms.or(l.start_to_ready_ms);
    let shown = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    out.push(target(
        "1,000,000 names load into the maps in < 10 s",
        format!(
            "{} names: maps filled in {} ms, start to ready {} ms",
            l.names,
            shown(l.maps_fill_ms),
            shown(l.start_to_ready_ms)
        ),
        match ms {
            Some(_) if l.names < 1_000_000 => "n/a (run with --names 1000000)",
            Some(ms) if ms < 10_000 => "met",
            Some(_) => "missed",
            None => "n/a",
        },
    ));
    let per = l.marginal_bytes_per_name.unwrap_or(l.bytes_per_name);
    // Every bench name has an A and an AAAA set. One address set (A) is
    // what the name tables (slots and hash maps) and ANSWERS_V4 take, all
    // in, divided by the names: the tables are sized for the config.
    let name_maps = [
        "NAME_SLOTS",
        "NAMES_32",
        "NAMES_64",
        "NAMES_128",
        "NAMES_256",
        "ANSWERS_V4",
    ];
    let mems: Vec<u64> = l
        .maps
        .iter()
        .filter(|m| name_maps.contains(&m.name.as_str()))
        .map(|m| m.memlock)
        .collect();
    let one_set =
        (!mems.is_empty()).then(|| mems.iter().sum::<u64>() as f64 / l.names.max(1) as f64);
    out.push(target(
        "≤ 200 bytes of map memory per name (one address set)",
        format!(
            "{} B/name with one A set (name tables + A sets); {per:.0} B/name marginal with A and AAAA; \
             {:.0} B/name all in ({} B for {} names)",
            one_set.map_or("?".into(), |b| format!("{b:.0}")),
            l.bytes_per_name,
            l.map_bytes,
            l.names
        ),
        match one_set {
            Some(b) if b <= 200.0 => "met",
            Some(_) => "missed",
            None => "n/a",
        },
    ));
}

/// "Every answer correct" under kxdpgun: its rcode counts are only NOERROR
/// and NXDOMAIN, NXDOMAIN's share within a point of the mix's `nx`, and
/// every sample answer asked and captured during gslb XDP's profiling run
/// (see `check::run_under_load`) right.
fn correct_under_load(servers: &[ServerResult], nx_pct: u32, out: &mut Vec<Target>) {
    const WHAT: &str =
        "kxdpgun: every answer of gslb XDP correct (rcodes; sample captured under the load)";
    let Some(s) = find(servers, Kind::GslbXdp) else {
        out.push(target(WHAT, "not measured".into(), "n/a"));
        return;
    };
    let (Some(k), Some(u)) = (s.kxdpgun.as_ref(), s.under_load.as_ref()) else {
        out.push(target(WHAT, "not measured".into(), "n/a"));
        return;
    };
    let rcodes = &k.result.rcodes;
    let total: u64 = rcodes.values().sum();
    let nx = rcodes.get("NXDOMAIN").copied().unwrap_or(0);
    let nx_share = if total > 0 {
        nx as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let only_expected = rcodes.keys().all(|c| c == "NOERROR" || c == "NXDOMAIN");
    let rcodes_ok = total > 0 && only_expected && (nx_share - f64::from(nx_pct)).abs() <= 1.0;
    let codes: Vec<String> = rcodes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    out.push(target(
        WHAT,
        format!(
            "rcodes {} (NXDOMAIN {nx_share:.2}%, the mix {nx_pct}%); under the load {} of {} \
             sample answers right, {} wrong, {} unanswered, {} answers captured, {} of them \
             before the load ended",
            codes.join(", "),
            u.check.agreed,
            u.check.asked,
            u.check.mismatch_count,
            u.unanswered,
            u.captured,
            u.captured_during_load
        ),
        if rcodes_ok && u.ok() { "met" } else { "missed" },
    ));
}

/// The XDP program's run time per packet (best round; the median round
/// beside it).
fn xdp_time(servers: &[ServerResult]) -> Target {
    let ns = find(servers, Kind::GslbXdp)
        .and_then(|s| s.xdp_profile.as_ref())
        .and_then(|p| p.ns_per_packet);
    let ns_median = median(servers, Kind::GslbXdp, |f| f.ns_per_packet);
    target(
        "XDP program ≤ 250 ns per packet",
        ns.map_or("not measured".into(), |n| {
            let m = ns_median.map_or(String::new(), |m| format!("; median round: {m:.0} ns"));
            format!("{n:.0} ns{m}")
        }),
        match ns {
            Some(n) if n <= 250.0 => "met",
            Some(_) => "missed",
            None => "n/a",
        },
    )
}

/// The benchmark's targets, judged on this run (`nx_pct`: the mix's share
/// of NXDOMAIN queries).
pub fn targets(servers: &[ServerResult], load: Option<&GslbLoad>, nx_pct: u32) -> Vec<Target> {
    let kx = |k| {
        find(servers, k)
            .and_then(|s| s.kxdpgun.as_ref())
            .map(|r| Rate {
                qps: r.qps,
                at_least: r.limit.starts_with("search"),
            })
    };
    let either = |k| {
        kx(k).or_else(|| {
            find(servers, k)
                .and_then(|s| s.dnsperf.as_ref())
                .map(|r| Rate {
                    qps: r.qps,
                    at_least: false,
                })
        })
    };
    // `a / b ≥ want` in answered q/s of the best rounds (`best`), with the
    // median kxdpgun rounds beside it.
    let vs = |what: &str, a, b, want, best: &dyn Fn(Kind) -> Option<Rate>| {
        let kx_median = |k| median(servers, k, |f| f.kxdpgun_qps);
        let t = ratio(what, best(a), best(b), want);
        median_ratio(t, kx_median(a), kx_median(b), 0)
    };
    let mut out = vec![
        vs(
            "kxdpgun: gslb XDP ≥ 2× Knot XDP (answered q/s)",
            Kind::GslbXdp,
            Kind::KnotXdp,
            2.0,
            &kx,
        ),
        vs(
            "kxdpgun: gslb XDP ≥ 4× NSD (answered q/s)",
            Kind::GslbXdp,
            Kind::Nsd,
            4.0,
            &kx,
        ),
    ];
    correct_under_load(servers, nx_pct, &mut out);
    dnsperf_targets(servers, &mut out);
    out.push(vs(
        "gslb slow path ≥ 0.5× NSD (kxdpgun, answered q/s)",
        Kind::GslbSlow,
        Kind::Nsd,
        0.5,
        &either,
    ));
    out.push(xdp_time(servers));
    load_targets(load, &mut out);
    let upd = load.and_then(|l| l.updates.as_ref());
    out.push(target(
        "No query lost or wrong while 10,000 answer updates/s are pushed",
        upd.map_or("not measured".into(), |u| {
            let lost = if u.lost() == 0 {
                String::new()
            } else {
                format!(
                    " ({} lost: veth dropped {} queries at the client end and {} answers at the \
                     server end, so {} lost by the server)",
                    u.lost(),
                    u.client_tx_dropped,
                    u.server_tx_dropped,
                    u.lost_by_server()
                )
            };
            format!(
                "{:.0} updates/s for {} updates; dnsperf {} sent, {} answered{lost}, rcodes {:?}; \
                 {} answers checked: {} wrong, {} unanswered",
                u.updates_per_second,
                u.updates,
                u.dnsperf.sent,
                u.dnsperf.completed,
                u.dnsperf.rcodes,
                u.checked,
                u.wrong,
                u.unanswered
            )
        }),
        match upd {
            Some(u) if u.met() => "met",
            Some(_) => "missed",
            None => "n/a",
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps, reason = "`ratio` takes options")]
    fn rate(qps: f64, at_least: bool) -> Option<Rate> {
        Some(Rate { qps, at_least })
    }

    #[test]
    fn a_lower_bound_never_decides_a_ratio_it_could_overturn() {
        let v = |a, b| ratio("x", a, b, 4.0).verdict;
        assert_eq!(v(rate(500.0, false), rate(100.0, false)), "met");
        assert_eq!(v(rate(300.0, false), rate(100.0, false)), "missed");
        // The other server's capacity was not reached: 5× may be less.
        assert_eq!(v(rate(500.0, false), rate(100.0, true)), "inconclusive");
        // ... but 3× can only be less still.
        assert_eq!(v(rate(300.0, false), rate(100.0, true)), "missed");
        // gslb's own capacity not reached: 5× can only be more.
        assert_eq!(v(rate(500.0, true), rate(100.0, false)), "met");
        assert_eq!(v(rate(300.0, true), rate(100.0, false)), "inconclusive");
        let t = ratio("x", rate(300.0, true), rate(100.0, false), 4.0);
        assert_eq!(t.measured, "3.00× (300 or more / 100 q/s)");
    }

    #[test]
    fn the_median_rounds_are_shown_beside_the_best_and_leave_the_verdict() {
        let best = || ratio("x", rate(500.0, false), rate(100.0, false), 4.0);
        let t = median_ratio(best(), Some(360.0), Some(120.0), 0);
        assert_eq!(t.verdict, "met");
        assert_eq!(
            t.measured,
            "5.00× (500 / 100 q/s); median rounds: 3.00× (360 / 120)"
        );
        // One round (no median), or no figure for the other server.
        assert_eq!(
            median_ratio(best(), None, Some(120.0), 0).measured,
            best().measured
        );
        assert_eq!(
            median_ratio(best(), Some(360.0), None, 0).measured,
            best().measured
        );
        // µs per query: two decimals.
        let t = median_ratio(best(), Some(5.61), Some(2.1), 2);
        assert!(
            t.measured.ends_with("median rounds: 2.67× (5.61 / 2.10)"),
            "{}",
            t.measured
        );
    }
}
