//! The per-query `random` and `weighted_random` methods through XDP: many
//! queries from many client addresses; each server's share of the first
//! answers must match its expected share (uniform, or `ratio` over the
//! total) within a tolerance of about 4.5 standard deviations, and the
//! answers must not follow a rotation (consecutive answers repeat about as
//! often as independent draws do). Every query is answered by the XDP
//! program (its counters prove it).
//!
//! Run with `cargo xtask test -- -p gslb-tests --test methods`.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use gslb_tests::{
    harness::{check_config, start, Failures, ZONE},
    netns::{Net, UdpDns},
};
use hickory_proto::rr::RecordType;

/// Queries per name.
const N: u64 = 24_000;
/// Client source addresses: 198.18.k.160 and up.
const CLIENTS: u8 = 32;
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

fn config(net: &Net) -> String {
    let a = |h| net.v4(h);
    format!(
        r#"{ZONE}
[[vserver]]
name = "u1"
address = "{u1}"
datacenter = "dc1"

[[vserver]]
name = "u2"
address = "{u2}"
datacenter = "dc1"
ratio = 7

[[vserver]]
name = "u3"
address = "{u3}"
datacenter = "dc1"

[[vserver]]
name = "w1"
address = "{w1}"
datacenter = "dc1"
ratio = 1

[[vserver]]
name = "w2"
address = "{w2}"
datacenter = "dc1"
ratio = 2

[[vserver]]
name = "w3"
address = "{w3}"
datacenter = "dc1"
ratio = 5

[[pool]]
name = "random"
members = ["u1", "u2", "u3"]
preferred = "random"
max_answers = 1

[[pool]]
name = "wrandom"
members = ["w1", "w2", "w3"]
preferred = "weighted_random"
max_answers = 1

[[gslb]]
name = "random.example.test"
ttl = 30
pools = ["random"]

[[gslb]]
name = "wrandom.example.test"
ttl = 30
pools = ["wrandom"]
"#,
        u1 = a(111),
        u2 = a(112),
        u3 = a(113),
        w1 = a(121),
        w2 = a(122),
        w3 = a(123),
    )
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
