//! Static persist: the same LDNS (resolver prefix) always gets the same
//! server; a down server's clients move, the others do not; XDP and the
//! slow path map alike, and resolvers from many prefixes spread evenly
//! over the servers through the slow path. Real backends probed by the
//! daemon's monitors, answers read by real clients in the client
//! namespace.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test persist`.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, monitor, pool, timing, vserver},
    harness::{
        answer_addrs, check_config, start_with, wait_availability, wait_probed_ok, Failures,
        BACKEND_BODY, BACKEND_PORT, ZONE,
    },
    netns::{Backend, Net},
};
use hickory_proto::rr::RecordType;

fn persist_config(net: &Net) -> String {
    let a = |h| net.v4(h);
    let monitors = [
        ZONE.to_string(),
        monitor(
            "tcp",
            "tcp",
            &timing(200, 100, 2, 2),
            &format!("port = {BACKEND_PORT}\n"),
        ),
    ]
    .concat();
    [
        monitors,
        vserver("sp1", a(131), "monitors = [\"tcp\"]\n"),
        vserver("sp2", a(132), "monitors = [\"tcp\"]\n"),
        vserver("sp3", a(133), "monitors = [\"tcp\"]\n"),
        pool(
            "persist",
            &["sp1", "sp2", "sp3"],
            "static_persist",
            1,
            "persist_prefix_v4 = 32\n",
        ),
        gslb("sp.example.test", 30, &["persist"], ""),
    ]
    .concat()
}

/// client address → answered server, per phase.
type Mapping = BTreeMap<IpAddr, Option<IpAddr>>;

/// Queries sp.example.test from every client address (dig -b) `times`
/// times; checks they agree; returns the mapping and the number of
/// queries.
fn persist_mapping(
    net: &Net,
    clients: &[IpAddr],
    times: usize,
    f: &mut Failures,
) -> (Mapping, u64) {
    let mut m = Mapping::new();
    let mut n = 0;
    for c in clients {
        let b = c.to_string();
        let mut got = Vec::new();
        for _ in 0..times {
            let r = net.dig(net.srv_v4(), "sp.example.test", "A", &["-b", &b]);
            n += 1;
            let a = answer_addrs(&r);
            f.check(r.status == "NOERROR" && a.len() == 1, || {
                format!("sp.example.test from {c}: {} {a:?}\n{}", r.status, r.raw)
            });
            got.push(a.first().copied());
        }
        f.check(got.iter().all(|g| *g == got[0]), || {
            format!("client {c} got different servers for the same name: {got:?}")
        });
        m.insert(*c, got[0]);
    }
    (m, n)
}

fn key_of(c: &IpAddr) -> u64 {
    match c {
        IpAddr::V4(a) => gslb_common::select::persist_key_v4(a.octets(), 32),
        IpAddr::V6(_) => unreachable!("IPv4 clients only"),
    }
}

/// Static persist with persist_prefix_v4 = 32 over 3 servers: every LDNS
/// address gets members[key mod 3] (seed 004 claim 3, the key a fixed
/// hash of the address), always the same; when sp2's backend stops, only
/// sp2's clients move, to [sp1, sp3][key mod 2] (claim 4), the others
/// keep theirs; when it returns they move back. The same with XDP and with `--no-xdp`, identical mappings.
#[test]
fn static_persist_moves_only_the_down_servers_clients() {
    let net = Net::new("eng_persist");
    let members = [net.v4(131), net.v4(132), net.v4(133)];
    let mut backends: Vec<Backend> = members
        .iter()
        .map(|a| {
            net.add_srv_addr(*a);
            Backend::start(&net, SocketAddr::new(*a, BACKEND_PORT), BACKEND_BODY)
        })
        .collect();
    let clients: Vec<IpAddr> = (10..=30).map(|h| net.v4(h)).collect();
    for c in &clients {
        net.add_cli_addr(*c);
    }
    let config = persist_config(&net);
    check_config(&config, "persist");
    let mut f = Failures::default();

    let expected_up: Mapping = clients
        .iter()
        .map(|c| (*c, Some(members[(key_of(c) % 3) as usize])))
        .collect();
    let expected_sp2_down: Mapping = clients
        .iter()
        .map(|c| {
            let now = members[(key_of(c) % 3) as usize];
            let after = if now == members[1] {
                [members[0], members[2]][(key_of(c) % 2) as usize]
            } else {
                now
            };
            (*c, Some(after))
        })
        .collect();

    let mut results: Vec<(&str, Mapping, Mapping, Mapping)> = Vec::new();
    for (label, no_xdp) in [("XDP", false), ("--no-xdp", true)] {
        for b in &mut backends {
            b.resume();
        }
        let d = start_with(&net, &config, no_xdp);
        for s in ["sp1", "sp2", "sp3"] {
            wait_probed_ok(&d, s, Duration::from_secs(5));
        }
        let before = (!no_xdp).then(|| d.stats());
        let (up, n1) = persist_mapping(&net, &clients, 2, &mut f);
        backends[1].stop();
        wait_availability(&d, "sp2", "down", Duration::from_secs(5));
        let (down, n2) = persist_mapping(&net, &clients, 2, &mut f);
        backends[1].resume();
        wait_availability(&d, "sp2", "available", Duration::from_secs(5));
        let (back, n3) = persist_mapping(&net, &clients, 1, &mut f);
        if let Some(before) = before {
            let after = d.stats();
            let answered = before.delta_of(&after, "xdp_answered");
            f.check(answered == n1 + n2 + n3, || {
                format!(
                    "{label}: xdp_answered +{answered}, want +{} (all static persist queries in XDP); changes: {:?}",
                    n1 + n2 + n3,
                    before.delta(&after)
                )
            });
        }
        let moved = clients.iter().filter(|c| up[c] != down[c]).count();
        eprintln!(
            "STATIC PERSIST {label}: {} clients, {moved} moved when sp2 went down (expected {})",
            clients.len(),
            clients
                .iter()
                .filter(|c| expected_up[c] != expected_sp2_down[c])
                .count()
        );
        f.check(up == expected_up, || {
            format!("{label}: mapping with all up {up:?}\nwant (key mod 3) {expected_up:?}")
        });
        f.check(down == expected_sp2_down, || {
            format!("{label}: mapping with sp2 down {down:?}\nwant {expected_sp2_down:?}")
        });
        f.check(back == up, || {
            format!("{label}: mapping after sp2 returned {back:?}\nwant the original {up:?}")
        });
        results.push((label, up, down, back));
        drop(d);
    }
    let (x, s) = (&results[0], &results[1]);
    f.check(x.1 == s.1 && x.2 == s.2 && x.3 == s.3, || {
        format!(
            "XDP and --no-xdp map clients differently:\nXDP all up {:?}\nslow all up {:?}\nXDP sp2 down {:?}\nslow sp2 down {:?}",
            x.1, s.1, x.2, s.2
        )
    });
    f.assert_none();
}

/// spread.example.test: static persist over four servers without
/// monitors (always up), per /24.
fn spread_config(net: &Net) -> String {
    let mut c = String::from(ZONE);
    for h in 141..=144u8 {
        c.push_str(&vserver(&format!("s{h}"), net.v4(h), ""));
    }
    c.push_str(&pool(
        "spread",
        &["s141", "s142", "s143", "s144"],
        "static_persist",
        1,
        "persist_prefix_v4 = 24\n",
    ));
    c.push_str(&gslb("spread.example.test", 30, &["spread"], ""));
    c
}

/// One A query for spread.example.test from `src` to `server` port 53
/// over UDP; the first answer address, `None` without one within 1 s.
fn spread_query(src: IpAddr, server: IpAddr, id: u16) -> Option<IpAddr> {
    use hickory_proto::{
        op::{Message, MessageType, OpCode, Query},
        rr::{Name, RData},
    };
    let sock = std::net::UdpSocket::bind(SocketAddr::new(src, 0))
        .unwrap_or_else(|e| panic!("binding a UDP socket to {src}: {e}"));
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("spread.example.test.").unwrap(),
        RecordType::A,
    ));
    sock.send_to(&m.to_vec().unwrap(), SocketAddr::new(server, 53))
        .ok()?;
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    let r = Message::from_vec(&buf[..n]).ok()?;
    r.answers.iter().find_map(|rec| match &rec.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    })
}

/// Static persist per /24 through the slow path of a `--no-xdp` daemon,
/// on the wire: 10,000 resolvers from random /24s of 127/8 (distinct
/// sources on the server namespace's `lo`) each get the server the
/// shared selection (`gslb_common::select`, which the XDP program runs
/// too) computes from their prefix, and each of the four servers gets
/// 1/4 of them within 2 points.
#[test]
fn static_persist_spreads_resolvers_through_the_slow_path() {
    const CLIENTS: usize = 10_000;
    let net = Net::new("eng_persist_spread");
    let config = spread_config(&net);
    check_config(&config, "spread");
    let d = start_with(&net, &config, true);
    let members: Vec<IpAddr> = (141..=144u8).map(|h| net.v4(h)).collect();
    let server = net.srv_v4();
    let ns = net.srv_ns.clone();
    // Every source first, so that the run below is one thread in the
    // namespace; the generator is xorshift64 with a fixed seed.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let clients: Vec<IpAddr> = (0..CLIENTS)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::net::Ipv4Addr::new(127, (rng >> 8) as u8, (rng >> 16) as u8, rng as u8 | 1).into()
        })
        .collect();
    let asked = clients.clone();
    let answers: Vec<Option<IpAddr>> = gslb_tests::netns::in_netns(&ns, move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        asked
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (Instant::now() < deadline)
                    .then(|| spread_query(*c, server, i as u16))
                    .flatten()
            })
            .collect()
    });
    let sel = gslb_common::select::Selection {
        mode: gslb_common::select::MODE_STATIC_PERSIST,
        count: 4,
        up: 0b1111,
        ..Default::default()
    };
    let mut f = Failures::default();
    let mut hits = [0usize; 4];
    for (c, got) in clients.iter().zip(&answers) {
        let IpAddr::V4(a) = c else { unreachable!() };
        let pick = gslb_common::select::Pick {
            client: gslb_common::select::persist_key_v4(a.octets(), 24),
            ..Default::default()
        };
        let want = gslb_common::select::first(&sel, &pick, &mut gslb_common::select::identity)
            .map(|i| members[i]);
        if let Some(i) = got.and_then(|g| members.iter().position(|m| *m == g)) {
            hits[i] += 1;
        }
        f.check(*got == want, || {
            format!("{c}: got {got:?}, want {want:?} (its /24's server)")
        });
        if f.0.len() > 20 {
            break;
        }
    }
    eprintln!("STATIC PERSIST /24 over 4 servers, slow path: {hits:?}");
    for (i, &h) in hits.iter().enumerate() {
        let share = h as f64 / CLIENTS as f64;
        f.check((share - 0.25).abs() < 0.02, || {
            format!("server {i} has {share:.4} of the resolvers, want 0.25 ± 0.02 ({hits:?})")
        });
    }
    drop(d);
    f.assert_none();
}
