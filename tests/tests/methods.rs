//! Load-balancing methods through XDP.
//!
//! - `ratio` and `round_robin`: the kernel's rotation counter gives a 3:1
//!   ratio over 10,000 queries within 2 %, and round robin cycles exactly.
//! - The per-query `random` and `weighted_random` methods: many queries
//!   from many client addresses; each server's share of the first answers
//!   must match its expected share (uniform, or `ratio` over the total)
//!   within a tolerance of about 4.5 standard deviations, and the answers
//!   must not follow a rotation (consecutive answers repeat about as often
//!   as independent draws do). Every query is answered by the XDP program
//!   (its counters prove it).
//!
//! Run with `cargo xtask test -- -p gslb-tests --test methods`.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{answer_addrs, check_config, start, Failures, QUERY_TIMEOUT, ZONE},
    netns::{Net, UdpDns},
};
use hickory_proto::rr::RecordType;

/// Queries per name.
const N: u64 = 24_000;
/// Client source addresses: 198.18.k.160 and up.
const CLIENTS: u8 = 32;

fn config(net: &Net) -> String {
    let a = |h| net.v4(h);
    [
        ZONE.to_string(),
        vserver("u1", a(111), ""),
        vserver("u2", a(112), "ratio = 7\n"),
        vserver("u3", a(113), ""),
        vserver("w1", a(121), "ratio = 1\n"),
        vserver("w2", a(122), "ratio = 2\n"),
        vserver("w3", a(123), "ratio = 5\n"),
        pool("random", &["u1", "u2", "u3"], "random", 1, ""),
        pool("wrandom", &["w1", "w2", "w3"], "weighted_random", 1, ""),
        gslb("random.example.test", 30, &["random"], ""),
        gslb("wrandom.example.test", 30, &["wrandom"], ""),
    ]
    .concat()
}

/// `N` queries of `name` A spread over `clients` in turn; the first
/// answers in order (`None` for a lost or odd response).
fn run(clients: &[UdpDns], net: &Net, name: &str) -> Vec<Option<IpAddr>> {
    let t0 = Instant::now();
    let mut seq = Vec::with_capacity(N as usize);
    for n in 0..N as usize {
        let r = clients[n % clients.len()].query(net.srv_v4(), name, RecordType::A, QUERY_TIMEOUT);
        seq.push(
            r.filter(|r| r.rcode == "NOERROR" && r.addrs.len() == 1)
                .map(|r| r.addrs[0]),
        );
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "{N} queries of {name} took over 180 s"
        );
        let lost = seq.iter().filter(|a| a.is_none()).count();
        assert!(lost <= 20, "over 20 queries of {name} got no single answer");
    }
    eprintln!(
        "{name}: {N} queries from {} clients in {:.2} s",
        clients.len(),
        t0.elapsed().as_secs_f64()
    );
    seq
}

/// Checks the shares of `seq` against `expected` (address, probability),
/// and that consecutive answers repeat as often as independent draws do.
fn check_shares(f: &mut Failures, name: &str, seq: &[Option<IpAddr>], expected: &[(IpAddr, f64)]) {
    let answered: Vec<IpAddr> = seq.iter().flatten().copied().collect();
    let n = answered.len() as f64;
    let mut counts: BTreeMap<IpAddr, u64> = BTreeMap::new();
    for a in &answered {
        *counts.entry(*a).or_default() += 1;
    }
    f.check(seq.len() - answered.len() == 0, || {
        format!(
            "{name}: {} queries got no single answer",
            seq.len() - answered.len()
        )
    });
    f.check(
        counts.keys().all(|a| expected.iter().any(|(e, _)| e == a)),
        || format!("{name}: answers outside the pool: {counts:?}"),
    );
    for &(addr, p) in expected {
        let c = counts.get(&addr).copied().unwrap_or(0) as f64;
        let share = c / n;
        let sigma = (p * (1.0 - p) / n).sqrt();
        eprintln!(
            "{name}: {addr} {c} of {n} = {:.2} %, expected {:.2} % ± {:.2} % (4.5 σ)",
            share * 100.0,
            p * 100.0,
            4.5 * sigma * 100.0
        );
        f.check((share - p).abs() <= 4.5 * sigma, || {
            format!(
                "{name}: {addr} got {:.2} % of the answers, expected {:.2} % ± {:.2} %: {counts:?}",
                share * 100.0,
                p * 100.0,
                4.5 * sigma * 100.0
            )
        });
    }
    // Independent draws repeat the previous answer with probability
    // Σ p²; a rotation never does, a stuck choice always does.
    let pairs = answered.windows(2).count() as f64;
    let repeats = answered.windows(2).filter(|w| w[0] == w[1]).count() as f64;
    let q: f64 = expected.iter().map(|(_, p)| p * p).sum();
    let sigma = (q * (1.0 - q) / pairs).sqrt();
    let rate = repeats / pairs;
    eprintln!(
        "{name}: consecutive repeats {:.2} %, independent draws {:.2} %",
        rate * 100.0,
        q * 100.0
    );
    f.check((rate - q).abs() <= 5.0 * sigma, || {
        format!(
            "{name}: consecutive answers repeat {:.2} % of the time, independent draws {:.2} % ± {:.2} %",
            rate * 100.0,
            q * 100.0,
            5.0 * sigma * 100.0
        )
    });
}

#[test]
fn random_and_weighted_random_shares_through_xdp() {
    let net = Net::new("methods_random");
    let cfg = config(&net);
    check_config(&cfg, "methods");
    let clients: Vec<UdpDns> = (0..CLIENTS)
        .map(|i| {
            let src = net.v4(160 + i);
            net.add_cli_addr(src);
            net.udp_client(src)
        })
        .collect();
    let d = start(&net, &cfg);
    let mut f = Failures::default();

    // random: uniform whatever the ratios (u2 has ratio 7).
    let before = d.stats();
    let seq = run(&clients, &net, "random.example.test");
    let after = d.stats();
    let third = 1.0 / 3.0;
    check_shares(
        &mut f,
        "random",
        &seq,
        &[
            (net.v4(111), third),
            (net.v4(112), third),
            (net.v4(113), third),
        ],
    );
    let answered = seq.iter().flatten().count() as u64;
    let xdp = before.delta_of(&after, "xdp_answered");
    f.check(xdp == answered, || {
        format!(
            "random: xdp_answered +{xdp}, want +{answered}: {:?}",
            before.delta(&after)
        )
    });

    // weighted_random: ratio 1:2:5.
    let before = d.stats();
    let seq = run(&clients, &net, "wrandom.example.test");
    let after = d.stats();
    check_shares(
        &mut f,
        "weighted_random",
        &seq,
        &[
            (net.v4(121), 1.0 / 8.0),
            (net.v4(122), 2.0 / 8.0),
            (net.v4(123), 5.0 / 8.0),
        ],
    );
    let answered = seq.iter().flatten().count() as u64;
    let xdp = before.delta_of(&after, "xdp_answered");
    f.check(xdp == answered, || {
        format!(
            "weighted_random: xdp_answered +{xdp}, want +{answered}: {:?}",
            before.delta(&after)
        )
    });
    f.assert_none();
}

// ---------------------------------------------------------------------------
// Ratio and round robin: the kernel's rotation counter.

fn methods_config(net: &Net) -> String {
    let a = |h| net.v4(h);
    [
        ZONE.to_string(),
        vserver("r1", a(111), "ratio = 3\n"),
        vserver("r2", a(112), "ratio = 1\n"),
        vserver("rr1", a(121), ""),
        vserver("rr2", a(122), ""),
        vserver("rr3", a(123), ""),
        pool("ratio", &["r1", "r2"], "ratio", 1, ""),
        pool("rr", &["rr1", "rr2", "rr3"], "round_robin", 1, ""),
        gslb("ratio.example.test", 30, &["ratio"], ""),
        gslb("rr.example.test", 30, &["rr"], ""),
    ]
    .concat()
}

/// Ratio 3:1, one answer per response: over 10,000 queries through XDP
/// (2,500 full cycles of the kernel's rotation counter) 7,500 ± 2 % go to
/// the ratio-3 server and 2,500 ± 2 % to the other.
#[test]
fn ratio_3_to_1_over_10000_queries_through_xdp() {
    const N: u64 = 10_000;
    let net = Net::new("eng_ratio");
    let config = methods_config(&net);
    check_config(&config, "methods");
    let d = start(&net, &config);
    let (r1, r2) = (net.v4(111), net.v4(112));
    let client = net.udp_client(net.cli_v4());
    let mut f = Failures::default();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut lost = 0;
    let before = d.stats();
    let t0 = Instant::now();
    for _ in 0..N {
        match client.query(
            net.srv_v4(),
            "ratio.example.test",
            RecordType::A,
            QUERY_TIMEOUT,
        ) {
            Some(r) => {
                let key = if r.rcode == "NOERROR" && r.addrs.len() == 1 {
                    r.addrs[0].to_string()
                } else {
                    format!("{} {:?}", r.rcode, r.addrs)
                };
                *counts.entry(key).or_default() += 1;
            }
            None => lost += 1,
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "10,000 queries took over 120 s: {counts:?}, lost {lost}"
        );
        assert!(
            lost <= 20,
            "over 20 of the queries got no response: {counts:?}"
        );
    }
    let took = t0.elapsed();
    let after = d.stats();
    let c1 = counts.get(&r1.to_string()).copied().unwrap_or(0);
    let c2 = counts.get(&r2.to_string()).copied().unwrap_or(0);
    eprintln!(
        "RATIO 3:1 over {N} queries through XDP: {r1} x{c1}, {r2} x{c2}, lost {lost}, in {:.2} s; all answers: {counts:?}",
        took.as_secs_f64()
    );
    f.check(lost == 0, || format!("{lost} queries got no response"));
    f.check(counts.len() == 2, || {
        format!("answers other than one of {r1}, {r2}: {counts:?}")
    });
    f.check((7350..=7650).contains(&c1), || {
        format!("{r1} (ratio 3) got {c1} of {N}, want 7500 ± 2 %")
    });
    f.check((2350..=2650).contains(&c2), || {
        format!("{r2} (ratio 1) got {c2} of {N}, want 2500 ± 2 %")
    });
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == N - lost, || {
        format!(
            "xdp_answered +{answered}, want +{} (every answered query in XDP); changes: {:?}",
            N - lost,
            before.delta(&after)
        )
    });
    f.assert_none();
}

/// Round robin over 3 members, one answer per response, 30 sequential
/// queries from one client (dig): the first answers cycle exactly.
#[test]
fn round_robin_cycles_exactly_through_xdp() {
    let net = Net::new("eng_rr");
    let config = methods_config(&net);
    check_config(&config, "methods");
    let d = start(&net, &config);
    let members = [net.v4(121), net.v4(122), net.v4(123)];
    let mut f = Failures::default();
    let before = d.stats();
    let mut seq = Vec::new();
    for _ in 0..30 {
        let r = net.dig(net.srv_v4(), "rr.example.test", "A", &[]);
        let a = answer_addrs(&r);
        f.check(r.status == "NOERROR" && a.len() == 1, || {
            format!("rr.example.test: {} {a:?}\n{}", r.status, r.raw)
        });
        seq.push(a.first().copied());
    }
    let after = d.stats();
    eprintln!(
        "ROUND ROBIN 30 queries: {:?}",
        seq.iter()
            .flatten()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    );
    let first3: std::collections::BTreeSet<_> = seq[..3].iter().flatten().copied().collect();
    f.check(first3 == members.into_iter().collect(), || {
        format!("the first 3 answers are not the 3 members: {seq:?}")
    });
    f.check(
        seq.iter().enumerate().all(|(i, a)| *a == seq[i % 3]),
        || format!("the answers do not cycle with period 3: {seq:?}"),
    );
    for m in members {
        let n = seq.iter().filter(|a| **a == Some(m)).count();
        f.check(n == 10, || {
            format!("{m} first {n} times of 30, want 10: {seq:?}")
        });
    }
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == 30, || {
        format!(
            "xdp_answered +{answered}, want +30; changes: {:?}",
            before.delta(&after)
        )
    });
    f.assert_none();
}
