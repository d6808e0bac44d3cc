//! Persistence with a TTL (pool `persistence`): a client prefix keeps the
//! server it was first handed while round robin rotates for new
//! prefixes; a record lapses after its TTL; a server that goes down moves
//! its persistent clients and only them; a drained server keeps its
//! clients and gets no new ones; `gslb persist list` / `clear` show and
//! drop records; the names of one answer policy share their records.
//! Clients are addresses in twelve /24s on the client
//! veth, backends real (probed by the daemon's TCP monitor). Through XDP
//! (its persistence counters prove it) and with `--no-xdp`.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test sticky`.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use gslb_tests::{
    clients::add_clients,
    config::{gslb, monitor, pool, timing, vserver},
    harness::{
        start_with, wait_availability, wait_probed_ok, Failures, BACKEND_BODY, BACKEND_PORT, ZONE,
    },
    netns::{Backend, Net},
};
use hickory_proto::rr::RecordType;

/// Client prefixes: 198.19.p.0/24, one address each.
const PREFIXES: u8 = 12;

fn client(p: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 19, p, 10))
}

/// Three monitored servers; `sticky` round robin with a 10 minute
/// persistence per /24, `short` the same with 2 s, `rr` without;
/// `sticky2` shares `sticky`'s answer policy (and so its records).
fn config(net: &Net) -> String {
    let a = |h| net.v4(h);
    [
        ZONE.to_string(),
        monitor(
            "tcp",
            "tcp",
            &timing(200, 100, 1, 1),
            &format!("port = {BACKEND_PORT}\n"),
        ),
        vserver("st1", a(151), "monitors = [\"tcp\"]\n"),
        vserver("st2", a(152), "monitors = [\"tcp\"]\n"),
        vserver("st3", a(153), "monitors = [\"tcp\"]\n"),
        pool(
            "sticky",
            &["st1", "st2", "st3"],
            "round_robin",
            1,
            "persistence = { ttl = \"10m\", prefix_v4 = 24 }\n",
        ),
        pool(
            "short",
            &["st1", "st2", "st3"],
            "round_robin",
            1,
            "persistence = { ttl = \"2s\" }\n",
        ),
        pool("rr", &["st1", "st2", "st3"], "round_robin", 1, ""),
        gslb("sticky.example.test", 30, &["sticky"], ""),
        gslb("short.example.test", 30, &["short"], ""),
        gslb("sticky2.example.test", 30, &["sticky"], ""),
        gslb("rr.example.test", 30, &["rr"], ""),
    ]
    .concat()
}

struct Setup {
    net: Net,
    servers: [IpAddr; 3],
    backends: Vec<Backend>,
}

fn setup(tag: &str) -> Setup {
    let net = Net::new(tag);
    let servers = [net.v4(151), net.v4(152), net.v4(153)];
    let backends = servers
        .iter()
        .map(|a| {
            net.add_srv_addr(*a);
            Backend::start(&net, SocketAddr::new(*a, BACKEND_PORT), BACKEND_BODY)
        })
        .collect();
    add_clients(&net, (1..=PREFIXES).map(client));
    Setup {
        net,
        servers,
        backends,
    }
}

/// The first answer of one A query for `name` from `src`.
fn first(net: &Net, src: IpAddr, name: &str) -> Option<IpAddr> {
    net.udp_client(src)
        .query(net.srv_v4(), name, RecordType::A, Duration::from_secs(2))
        .and_then(|r| r.addrs.first().copied())
}

/// Prefix → first answer for `name`, each prefix asked once.
fn mapping(net: &Net, name: &str) -> BTreeMap<u8, Option<IpAddr>> {
    (1..=PREFIXES)
        .map(|p| (p, first(net, client(p), name)))
        .collect()
}

/// `gslb persist list --json [args]`: the records.
fn records(d: &gslb_tests::netns::Daemon<'_>, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["persist", "list", "--json"];
    all.extend(args);
    let out = d.ctl(&all);
    assert!(out.success(), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("persist list --json is not JSON ({e}):\n{out}"));
    v["records"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_prefix_sticks_while_round_robin_rotates_and_records_lapse() {
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let s = setup(if no_xdp {
            "sticky_a_slow"
        } else {
            "sticky_a_xdp"
        });
        let net = &s.net;
        let d = start_with(net, &config(net), no_xdp);
        for srv in ["st1", "st2", "st3"] {
            wait_probed_ok(&d, srv, Duration::from_secs(5));
        }
        let before = d.xdp.then(|| d.stats());
        // 1,000 queries from one prefix (several addresses of it).
        let one = net.udp_client(client(1));
        let mut got = BTreeMap::<Option<IpAddr>, u32>::new();
        let started = Instant::now();
        for _ in 0..1000 {
            let r = one.query(
                net.srv_v4(),
                "sticky.example.test",
                RecordType::A,
                Duration::from_secs(2),
            );
            *got.entry(r.and_then(|r| r.addrs.first().copied()))
                .or_default() += 1;
            if started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        f.check(got.len() == 1 && got.values().sum::<u32>() == 1000, || {
            format!("{mode}: 1,000 queries from 198.19.1.0/24 got {got:?}, want one server")
        });
        let kept = got.keys().next().copied().flatten();
        // The other prefixes: new clients, round robin among all three.
        let m = mapping(net, "sticky.example.test");
        let spread: std::collections::BTreeSet<_> = m.values().flatten().collect();
        f.check(m[&1] == kept && spread.len() == 3, || {
            format!("{mode}: new prefixes {m:?}, want all three servers and 1 kept at {kept:?}")
        });
        // And they keep theirs.
        let again = mapping(net, "sticky.example.test");
        f.check(again == m, || {
            format!("{mode}: second round {again:?}, first {m:?}")
        });
        // A name of the same answer policy shares the records: asked in
        // the reverse order (so that a rotation of its own would differ),
        // each prefix gets the server it was handed for the first name.
        let shared: BTreeMap<u8, Option<IpAddr>> = (1..=PREFIXES)
            .rev()
            .map(|p| (p, first(net, client(p), "sticky2.example.test")))
            .collect();
        f.check(shared == m, || {
            format!("{mode}: sticky2 (same policy) {shared:?}, sticky {m:?}")
        });
        // Without persistence the same client rotates.
        let rr: std::collections::BTreeSet<_> = (0..6)
            .filter_map(|_| first(net, client(1), "rr.example.test"))
            .collect();
        f.check(rr.len() == 3, || {
            format!("{mode}: rr.example.test from one client {rr:?}")
        });
        // The records, one per prefix, with their names.
        let recs = records(&d, &["--name", "sticky.example.test"]);
        f.check(recs.len() == usize::from(PREFIXES), || {
            format!(
                "{mode}: persist list --name sticky: {} records {recs:?}",
                recs.len()
            )
        });
        let one_rec = records(&d, &["--client", "198.19.3.77"]);
        f.check(
            one_rec.len() == 1
                && one_rec[0]["client"] == "198.19.3.0/24"
                && one_rec[0]["names"][0] == "sticky.example.test."
                && one_rec[0]["expires_in_s"]
                    .as_f64()
                    .is_some_and(|e| e > 500.0),
            || format!("{mode}: persist list --client 198.19.3.77: {one_rec:?}"),
        );
        // TTL: 2 s after its last use the record lapses and the next
        // query is a new client (the rotation's next server).
        let a = first(net, client(5), "short.example.test");
        let b = first(net, client(5), "short.example.test");
        std::thread::sleep(Duration::from_millis(2500));
        let c = first(net, client(5), "short.example.test");
        let after = first(net, client(5), "short.example.test");
        f.check(a.is_some() && a == b && c != a && c == after, || {
            format!("{mode}: short ttl: {a:?} {b:?}, after 2.5 s {c:?} {after:?}")
        });
        // clear: the prefix is a new client again.
        let out = d.ctl(&[
            "persist",
            "clear",
            "--name",
            "sticky.example.test",
            "--client",
            "198.19.2.0/24",
        ]);
        f.check(
            out.success() && out.stdout.contains("1 record cleared"),
            || format!("{mode}: clear: {out}"),
        );
        let left = records(&d, &["--name", "sticky.example.test"]);
        f.check(left.len() == usize::from(PREFIXES) - 1, || {
            format!("{mode}: after clear {} records", left.len())
        });
        if let Some(before) = before {
            let after = d.stats();
            let hits = before.delta_of(&after, "xdp_persist_hits");
            let new = before.delta_of(&after, "xdp_persist_new");
            f.check(
                hits >= 999 + u64::from(PREFIXES) && new >= u64::from(PREFIXES),
                || {
                    format!(
                        "{mode}: xdp_persist_hits +{hits}, xdp_persist_new +{new}: want the \
                     sticky queries in XDP; changes: {:?}",
                        before.delta(&after)
                    )
                },
            );
        }
        drop(d);
        drop(s);
    }
    f.assert_none();
}

#[test]
fn down_servers_lose_their_clients_drained_ones_keep_them() {
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let mut s = setup(if no_xdp {
            "sticky_d_slow"
        } else {
            "sticky_d_xdp"
        });
        let d = start_with(&s.net, &config(&s.net), no_xdp);
        for srv in ["st1", "st2", "st3"] {
            wait_probed_ok(&d, srv, Duration::from_secs(5));
        }
        let net = &s.net;
        let up = mapping(net, "sticky.example.test");
        f.check(up.values().all(Option::is_some), || {
            format!("{mode}: {up:?}")
        });
        // st2 goes down: its clients move, the others stay.
        s.backends[1].stop();
        wait_availability(&d, "st2", "down", Duration::from_secs(5));
        let down = mapping(net, "sticky.example.test");
        for p in 1..=PREFIXES {
            let ok = if up[&p] == Some(s.servers[1]) {
                down[&p].is_some() && down[&p] != up[&p]
            } else {
                down[&p] == up[&p]
            };
            f.check(ok, || {
                format!(
                    "{mode}: st2 down: prefix {p} had {:?}, now {:?}",
                    up[&p], down[&p]
                )
            });
        }
        // st2 back: its old clients stay where they moved (their records
        // are of another generation and were replaced).
        s.backends[1].resume();
        wait_availability(&d, "st2", "available", Duration::from_secs(5));
        let back = mapping(net, "sticky.example.test");
        f.check(back == down, || {
            format!("{mode}: st2 back {back:?}, want {down:?}")
        });
        // st1 drains: its clients keep it, no new prefix gets it.
        d.server_admin("drain", "st1");
        wait_availability(&d, "st1", "draining", Duration::from_secs(5));
        let drained = mapping(net, "sticky.example.test");
        f.check(drained == back, || {
            format!("{mode}: st1 draining {drained:?}, want {back:?}")
        });
        let out = d.ctl(&["persist", "clear"]);
        f.check(out.success(), || format!("{mode}: clear: {out}"));
        let fresh = mapping(net, "sticky.example.test");
        f.check(
            fresh
                .values()
                .all(|a| a.is_some() && *a != Some(s.servers[0])),
            || format!("{mode}: new clients while st1 drains {fresh:?}"),
        );
        drop(d);
    }
    f.assert_none();
}
