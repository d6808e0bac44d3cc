//! EDNS Client Subnet (RFC 7871) through XDP and the slow path: one
//! resolver (the client namespace's address) asks for clients in several
//! prefixes with `kdig +subnet`; each client prefix gets its own answer
//! (topology rules, persistence), the reply echoes the option with the
//! scope the answer depends on; malformed options (hand-built packets)
//! get FORMERR; a resolver outside `[server] ecs` has its option ignored.
//! Every check runs against a daemon with XDP attached (its counters
//! prove the XDP program answered) and one with `--no-xdp`, and over TCP.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test ecs`.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::Duration,
};

use gslb_tests::{
    config::{datacenters, topology, vservers},
    harness::{check_config, start_with, v4, Failures, ZONE},
    netns::{in_netns, run_bounded, Net},
};

/// d1 (dc1: the default), a1 (ams), n1 (nyc); `web` by topology, then
/// global availability; `sticky` round robin with persistence (/24, /48);
/// `plain` fixed. Topology: 198.19.1.0/24 → ams, 198.19.2.0/24 and
/// 2001:db8:f1::/48 → nyc.
fn config(extra_server: &str) -> String {
    let mut c = ZONE.replace(
        "edns_udp_size = 1232",
        &format!("edns_udp_size = 1232\n{extra_server}"),
    );
    c.push_str(&datacenters(&["ams", "nyc"]));
    c.push_str(&vservers(&[
        ("d1", "dc1", "198.18.70.1"),
        ("a1", "ams", "198.18.70.2"),
        ("n1", "nyc", "198.18.70.3"),
    ]));
    c.push_str(
        r#"
[[pool]]
name = "web"
members = ["d1", "a1", "n1"]
preferred = "topology"
alternate = "global_availability"

[[pool]]
name = "sticky"
members = ["d1", "a1", "n1"]
preferred = "round_robin"
persistence = { ttl = "10m", prefix_v4 = 24, prefix_v6 = 48 }

[[gslb]]
name = "web.example.test"
ttl = 30
pools = ["web"]

[[gslb]]
name = "sticky.example.test"
ttl = 30
pools = ["sticky"]

[[gslb]]
name = "plain.example.test"
ttl = 30
a = ["198.18.70.9"]
"#,
    );
    c.push_str(&topology("cidr:198.19.1.0/24", "datacenter:ams", 100));
    c.push_str(&topology("cidr:198.19.2.0/24", "datacenter:nyc", 100));
    c.push_str(&topology("cidr:2001:db8:f1::/48", "datacenter:nyc", 100));
    c
}

/// What kdig printed that the checks need.
#[derive(Debug, Default)]
struct Kdig {
    status: String,
    /// The reply's CLIENT-SUBNET: (address/source, scope).
    subnet: Option<(String, u8)>,
    /// A/AAAA data of the answer section.
    answers: Vec<IpAddr>,
    raw: String,
}

/// `kdig @server name A +norec [+tcp] +subnet=<subnet>` from `src` in the
/// client namespace.
fn kdig(net: &Net, src: IpAddr, name: &str, subnet: &str, tcp: bool) -> Kdig {
    let mut cmd = net.in_cli("kdig");
    cmd.arg(format!("@{}", net.srv_v4()))
        .args([
            "-b",
            &src.to_string(),
            name,
            "A",
            "+norec",
            "+time=2",
            "+retry=0",
        ])
        .arg(format!("+subnet={subnet}"));
    if tcp {
        cmd.arg("+tcp");
    }
    let out = run_bounded(&mut cmd, Duration::from_secs(10));
    let mut k = Kdig {
        raw: out.to_string(),
        ..Default::default()
    };
    let mut in_answer = false;
    for line in out.stdout.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            k.status = rest.split(';').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = line.strip_prefix(";; CLIENT-SUBNET: ") {
            // ADDRESS/SOURCE/SCOPE
            if let Some((addr_source, scope)) = rest.trim().rsplit_once('/') {
                k.subnet = scope.parse().ok().map(|s| (addr_source.to_string(), s));
            }
        }
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                in_answer = false;
                continue;
            }
            if let Some(ip) = line.split_whitespace().last().and_then(|a| a.parse().ok()) {
                k.answers.push(ip);
            }
        }
    }
    k
}

#[track_caller]
fn expect(
    f: &mut Failures,
    what: &str,
    k: &Kdig,
    status: &str,
    answers: &[IpAddr],
    subnet: Option<(&str, u8)>,
) {
    let got_subnet = k.subnet.as_ref().map(|(a, s)| (a.as_str(), *s));
    f.check(
        k.status == status && k.answers == answers && got_subnet == subnet,
        || {
            format!(
                "{what}: got {} {:?} subnet {got_subnet:?}, want {status} {answers:?} subnet \
                 {subnet:?}\n{}",
                k.status, k.answers, k.raw
            )
        },
    );
}

#[test]
fn each_client_subnet_gets_its_answer_and_scope() {
    let config = config("");
    check_config(&config, "ecs");
    let (d1, a1, n1) = (v4("198.18.70.1"), v4("198.18.70.2"), v4("198.18.70.3"));
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "ecs_slow" } else { "ecs_xdp" });
        let d = start_with(&net, &config, no_xdp);
        let resolver = net.cli_v4();
        let before = d.xdp.then(|| d.stats());
        let mut udp_answers = 0;
        for tcp in [false, true] {
            let what = |q: &str| format!("{mode}{}: {q}", if tcp { " TCP" } else { "" });
            let mut ask = |name: &str, subnet: &str| {
                udp_answers += u64::from(!tcp);
                kdig(&net, resolver, name, subnet, tcp)
            };
            // Topology: the trie prefix that placed the client is the
            // scope (the /24 rules; 198.19.9.0 lies in the default
            // group's 198.19.8.0/21).
            for (subnet, want, echo) in [
                ("198.19.1.0/24", a1, ("198.19.1.0/24", 24)),
                ("198.19.1.77/32", a1, ("198.19.1.77/32", 24)),
                ("198.19.2.0/24", n1, ("198.19.2.0/24", 24)),
                ("198.19.9.0/24", d1, ("198.19.9.0/24", 21)),
                ("2001:db8:f1::/48", n1, ("2001:db8:f1::/48", 48)),
                // Source 0: the all-zero client, scope 0.
                ("0.0.0.0/0", d1, ("0.0.0.0/0", 0)),
            ] {
                let k = ask("web.example.test", subnet);
                expect(
                    &mut f,
                    &what(&format!("web {subnet}")),
                    &k,
                    "NOERROR",
                    &[want],
                    Some(echo),
                );
            }
            // The same for every client: scope 0.
            let k = ask("plain.example.test", "198.19.1.0/24");
            expect(
                &mut f,
                &what("plain"),
                &k,
                "NOERROR",
                &[v4("198.18.70.9")],
                Some(("198.19.1.0/24", 0)),
            );
            // Negative answers too.
            let k = ask("nope.example.test", "198.19.1.0/24");
            expect(
                &mut f,
                &what("nxdomain"),
                &k,
                "NXDOMAIN",
                &[],
                Some(("198.19.1.0/24", 0)),
            );
        }
        // Persistence: the ECS prefix is the client; the scope is the
        // persistence prefix of the option's family.
        let mut sticky = Vec::new();
        for c in 1..=6u8 {
            let first = kdig(
                &net,
                resolver,
                "sticky.example.test",
                &format!("198.19.{c}.0/24"),
                false,
            );
            udp_answers += 1;
            expect(
                &mut f,
                &format!("{mode}: sticky 198.19.{c}.0/24"),
                &first,
                "NOERROR",
                &first.answers.clone(),
                Some((&format!("198.19.{c}.0/24"), 24)),
            );
            for (host, tcp) in [(9u8, false), (200, true)] {
                let k = kdig(
                    &net,
                    resolver,
                    "sticky.example.test",
                    &format!("198.19.{c}.{host}/32"),
                    tcp,
                );
                udp_answers += u64::from(!tcp);
                f.check(k.answers.first() == first.answers.first(), || {
                    format!(
                        "{mode}: 198.19.{c}.{host} (tcp {tcp}) got {:?}, its /24 got {:?}\n{}",
                        k.answers, first.answers, k.raw
                    )
                });
            }
            sticky.extend(first.answers.first().copied());
        }
        sticky.sort();
        sticky.dedup();
        f.check(sticky.len() == 3, || {
            format!("{mode}: six client prefixes stick to {sticky:?}, want all three servers")
        });
        let k = kdig(
            &net,
            resolver,
            "sticky.example.test",
            "2001:db8:f5:ff00::/56",
            false,
        );
        udp_answers += 1;
        f.check(
            k.subnet == Some(("2001:db8:f5:ff00::/56".into(), 48)),
            || format!("{mode}: sticky v6 scope: {:?}\n{}", k.subnet, k.raw),
        );
        if let Some(before) = before {
            let after = d.stats();
            let ecs = before.delta_of(&after, "xdp_answered_ecs");
            f.check(ecs >= udp_answers - 2, || {
                format!(
                    "xdp_answered_ecs +{ecs}, want about +{udp_answers} (the UDP queries \
                     with ECS); changes: {:?}",
                    before.delta(&after)
                )
            });
            let malformed = before.delta_of(&after, "xdp_passed_ecs_malformed");
            f.check(malformed == 0, || {
                format!("xdp_passed_ecs_malformed +{malformed}")
            });
        }
    }
    f.assert_none();
}

/// An A query for web.example.test with EDNS and `options` (each option
/// 8's data as given), id 0x4545.
fn query_with_ecs(options: &[Vec<u8>]) -> Vec<u8> {
    let mut q = vec![0x45, 0x45, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in ["web", "example", "test"] {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    let rdata: Vec<u8> = options
        .iter()
        .flat_map(|o| {
            let mut v = vec![0, 8];
            v.extend((o.len() as u16).to_be_bytes());
            v.extend(o);
            v
        })
        .collect();
    q.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    q.extend((rdata.len() as u16).to_be_bytes());
    q.extend(rdata);
    q
}

fn ecs(family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
    let mut d = family.to_be_bytes().to_vec();
    d.extend([source, 0]);
    d.extend(addr);
    d
}

/// Sends `query` over UDP from the client namespace; the reply's RCODE.
fn rcode_of(net: &Net, query: Vec<u8>) -> Option<u8> {
    let server = SocketAddr::new(net.srv_v4(), 53);
    in_netns(&net.cli_ns, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
        sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        sock.send_to(&query, server).ok()?;
        let mut buf = [0u8; 1500];
        let n = sock.recv(&mut buf).ok()?;
        (n >= 12 && buf[..2] == [0x45, 0x45]).then_some(buf[3] & 0x0f)
    })
}

#[test]
fn malformed_client_subnet_is_formerr() {
    let config = config("");
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "address longer than the prefix",
            vec![ecs(1, 24, &[198, 19, 1, 0])],
        ),
        (
            "address shorter than the prefix",
            vec![ecs(1, 24, &[198, 19])],
        ),
        ("source over 32", vec![ecs(1, 33, &[198, 19, 1, 0, 0])]),
        ("source over 128", vec![ecs(2, 129, &[0x20; 17])]),
        ("bits past the prefix", vec![ecs(1, 20, &[198, 19, 0x01])]),
        ("unknown family", vec![ecs(3, 8, &[1])]),
        ("truncated", vec![vec![0, 1, 24]]),
        (
            "two options",
            vec![ecs(1, 24, &[198, 19, 1]), ecs(1, 24, &[198, 19, 2])],
        ),
    ];
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "ecsf_slow" } else { "ecsf_xdp" });
        let d = start_with(&net, &config, no_xdp);
        let before = d.xdp.then(|| d.stats());
        for (what, options) in &cases {
            let rcode = rcode_of(&net, query_with_ecs(options));
            f.check(rcode == Some(1), || {
                format!("{mode}: {what}: RCODE {rcode:?}, want FORMERR")
            });
        }
        // Well-formed: answered.
        let rcode = rcode_of(&net, query_with_ecs(&[ecs(1, 24, &[198, 19, 1])]));
        f.check(rcode == Some(0), || {
            format!("{mode}: well-formed: RCODE {rcode:?}")
        });
        if let Some(before) = before {
            let after = d.stats();
            let passed = before.delta_of(&after, "xdp_passed_ecs_malformed");
            // hickory-free counting in the kernel: every malformed one
            // goes up to the slow path.
            f.check(passed == cases.len() as u64, || {
                format!(
                    "xdp_passed_ecs_malformed +{passed}, want +{}; changes: {:?}",
                    cases.len(),
                    before.delta(&after)
                )
            });
        }
    }
    f.assert_none();
}

#[test]
fn untrusted_resolvers_option_is_ignored() {
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "ecsu_slow" } else { "ecsu_xdp" });
        let trusted = net.cli_v4();
        let other = net.v4(77);
        net.add_cli_addr(other);
        let config = config(&format!("ecs = [\"{trusted}/32\"]"));
        check_config(&config, "ecs trusted");
        let d = start_with(&net, &config, no_xdp);
        let k = kdig(&net, trusted, "web.example.test", "198.19.1.0/24", false);
        expect(
            &mut f,
            &format!("{mode}: trusted"),
            &k,
            "NOERROR",
            &[v4("198.18.70.2")],
            Some(("198.19.1.0/24", 24)),
        );
        // Not trusted: answered for its own address (no rule: d1), the
        // option not echoed.
        for tcp in [false, true] {
            let k = kdig(&net, other, "web.example.test", "198.19.1.0/24", tcp);
            expect(
                &mut f,
                &format!("{mode}: untrusted (tcp {tcp})"),
                &k,
                "NOERROR",
                &[v4("198.18.70.1")],
                None,
            );
        }
        drop(d);
    }
    f.assert_none();
}

/// A real resolver: Debian's unbound in the client namespace, its
/// `subnetcache` module sending each client's /24 as ECS to gslb
/// (`send-client-subnet`, `client-subnet-always-forward`) through a stub
/// zone. Clients in different prefixes (`dig -b`) each get their own
/// answer; unbound caches by the scope gslb returns: a second client in
/// the same /24 rule, and one in the default group's 198.19.8.0/21 after
/// another in it, are answered from its cache (gslb sees no query).
#[test]
fn unbound_resolves_each_client_by_its_subnet() {
    let config = config("");
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let mode = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "ecsr_slow" } else { "ecsr_xdp" });
        let clients: Vec<IpAddr> = [
            "198.19.1.10",
            "198.19.1.11",
            "198.19.2.10",
            "198.19.9.10",
            "198.19.10.10",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for c in &clients {
            net.add_cli_addr(*c);
        }
        let d = start_with(&net, &config, no_xdp);
        let resolver = net.cli_v4();
        let dir =
            std::env::temp_dir().join(format!("gslbt-unbound-{}-{}", std::process::id(), net.id));
        std::fs::create_dir_all(&dir).expect("unbound dir");
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                r#"server:
    interface: {resolver}@5353
    port: 5353
    outgoing-interface: {resolver}
    access-control: 198.18.0.0/15 allow
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    do-ip6: no
    qname-minimisation: no
    do-not-query-localhost: no
    # "test." is one of unbound's built-in empty zones (RFC 6761).
    local-zone: "test." nodefault
    module-config: "subnetcache iterator"
    send-client-subnet: {srv}
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    max-client-subnet-ipv6: 56
stub-zone:
    name: "example.test"
    stub-addr: {srv}@53
"#,
                dir = dir.display(),
                srv = net.srv_v4(),
            ),
        )
        .expect("writing unbound.conf");
        let mut unbound = gslb_tests::netns::Background::spawn(
            net.in_cli("unbound").arg("-d").arg("-c").arg(&conf),
        );
        // Ready when it answers.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let (r, _) = net.dig_run(
                resolver,
                "plain.example.test",
                "A",
                1,
                &["-p", "5353", "+rec"],
            );
            if r.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let ask = |client: IpAddr| {
            let (r, out) = net.dig_run(
                resolver,
                "web.example.test",
                "A",
                3,
                &["-p", "5353", "+rec", "-b", &client.to_string()],
            );
            (
                r.map(|r| gslb_tests::harness::answer_addrs(&r))
                    .unwrap_or_default(),
                out.to_string(),
            )
        };
        let queries = || d.xdp.then(|| d.stats().get("xdp_dns_queries"));
        let (d1, a1, n1) = (v4("198.18.70.1"), v4("198.18.70.2"), v4("198.18.70.3"));
        // (client, answer, whether gslb is asked: false = unbound's cache)
        for (client, want, asked) in [
            (clients[0], a1, true),
            (clients[1], a1, false),
            (clients[2], n1, true),
            (clients[3], d1, true),
            (clients[4], d1, false),
            (clients[0], a1, false),
        ] {
            let before = queries();
            let (got, out) = ask(client);
            f.check(got == [want], || {
                format!("{mode}: unbound for {client}: {got:?}, want [{want}]\n{out}")
            });
            if let (Some(b), Some(a)) = (before, queries()) {
                f.check((a > b) == asked, || {
                    format!(
                        "{mode}: {client}: gslb queries +{}, want {} (unbound caches by scope)",
                        a - b,
                        if asked { "a query" } else { "none" }
                    )
                });
            }
        }
        let out = unbound.finish(Duration::from_millis(100));
        if !f.0.is_empty() {
            eprintln!("--- unbound ({mode}) ---\n{out}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        drop(d);
    }
    f.assert_none();
}
