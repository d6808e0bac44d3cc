//! Topology rules through XDP and the slow path: a client namespace
//! whose veth holds addresses in several client prefixes (198.19.x.0/24
//! and 2001:db8:fx::/48), `[[topology]]` rules sending each to a
//! different datacenter, queried with `dig -b` from each address.
//!
//! - Member-level method `topology`: the member with the highest score
//!   for the client, the longest matching prefix deciding among rules
//!   that score the same server; a client no rule matches gets the
//!   chain's next method (global availability: the first member).
//! - `pool_method = "topology"`: the pool with the highest score first.
//! - Every answer comes from XDP (its counters prove it), and a
//!   `--no-xdp` daemon answers the same.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test topology`.

use std::net::IpAddr;

use gslb_tests::{
    clients::{add_clients, check_all_in_xdp, check_answer},
    config::{datacenters, topology, vservers},
    harness::{check_config, start_with, v4, Failures, ZONE},
    netns::Net,
};

/// Servers: d1 (dc1, first in pool order: the default), a1 (ams), n1
/// (nyc), s1 (sgp); pool `web` orders members by topology then global
/// availability; name `pools` picks among one-member pools by topology.
fn config() -> String {
    let mut c = String::from(ZONE);
    c.push_str(&datacenters(&["ams", "nyc", "sgp"]));
    c.push_str(&vservers(&[
        ("d1", "dc1", "198.18.70.1"),
        ("a1", "ams", "198.18.70.2"),
        ("n1", "nyc", "198.18.70.3"),
        ("s1", "sgp", "198.18.70.4"),
    ]));
    c.push_str(
        r#"
[[pool]]
name = "web"
members = ["d1", "a1", "n1", "s1"]
preferred = "topology"
alternate = "global_availability"

[[pool]]
name = "pd"
members = ["d1"]

[[pool]]
name = "pa"
members = ["a1"]

[[pool]]
name = "pn"
members = ["n1"]

[[gslb]]
name = "web.example.test"
ttl = 30
pools = ["web"]

[[gslb]]
name = "pools.example.test"
ttl = 30
pools = ["pd", "pa", "pn"]
pool_method = "topology"

[[region]]
name = "west"
prefixes = ["198.19.2.0/24", "2001:db8:f2::/48"]
"#,
    );
    c.push_str(&topology("cidr:198.19.1.0/24", "datacenter:ams", 100));
    c.push_str(&topology("cidr:198.19.1.0/24", "datacenter:nyc", 50));
    // More specific: decides a1's score for 198.19.1.128/25.
    c.push_str(&topology("cidr:198.19.1.128/25", "datacenter:ams", 5));
    c.push_str(&topology("region:west", "datacenter:sgp", 100));
    c.push_str(&topology("cidr:198.19.2.0/24", "pool:pn", 7));
    c.push_str(&topology("cidr:2001:db8:f1::/48", "datacenter:nyc", 100));
    c
}

/// (client address, web's answer, pools' answer).
fn expectations() -> Vec<(IpAddr, IpAddr, IpAddr)> {
    let (d1, a1, n1, s1) = (
        v4("198.18.70.1"),
        v4("198.18.70.2"),
        v4("198.18.70.3"),
        v4("198.18.70.4"),
    );
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    vec![
        // ams 100 > nyc 50.
        (ip("198.19.1.10"), a1, a1),
        // The /25 rule scores a1 5: nyc 50 wins; the pool pa too.
        (ip("198.19.1.200"), n1, n1),
        // Region west: sgp 100 (n1 only 7); pool pn by its rule.
        (ip("198.19.2.10"), s1, n1),
        // No rule: global availability, and pools in config order.
        (ip("198.19.9.10"), d1, d1),
        (ip("2001:db8:f1::10"), n1, n1),
        (ip("2001:db8:f2::10"), s1, d1),
        (ip("2001:db8:f9::10"), d1, d1),
    ]
}

#[test]
fn each_client_prefix_gets_its_datacenter() {
    let config = config();
    check_config(&config, "topology");
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let what = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "topo_slow" } else { "topo_xdp" });
        add_clients(&net, expectations().into_iter().map(|e| e.0));
        let d = start_with(&net, &config, no_xdp);
        let before = d.xdp.then(|| d.stats());
        let mut queries = 0;
        for (client, web, pools) in expectations() {
            for (name, want) in [("web.example.test", web), ("pools.example.test", pools)] {
                // Twice: the answer does not rotate.
                for _ in 0..2 {
                    check_answer(&mut f, what, &net, client, name, &[want]);
                    queries += 1;
                }
            }
        }
        check_all_in_xdp(&mut f, what, &d, before, queries);
    }
    f.assert_none();
}

/// Regions that start empty and get a prefix each on reload: as many new
/// client groups (each region's rule makes its own profile), so that
/// writing their answer sets takes a while.
const RELOAD_REGIONS: u8 = 40;

/// Regions `west` (ams, 100) and `east` (nyc, 200) from files in `dir`,
/// and `r0`.. (ams) from `r0.txt`..; pool `mix` of d1, n1, a1 by topology
/// then global availability, two answers: west and rN clients get [a1],
/// east ones [n1], clients in both [n1, a1], the others [d1, n1].
fn reload_config(dir: &std::path::Path) -> String {
    let mut c = String::from(ZONE);
    c.push_str(&datacenters(&["ams", "nyc"]));
    c.push_str(&vservers(&[
        ("d1", "dc1", "198.18.70.1"),
        ("a1", "ams", "198.18.70.2"),
        ("n1", "nyc", "198.18.70.3"),
    ]));
    c.push_str(&format!(
        r#"
[[pool]]
name = "mix"
members = ["d1", "n1", "a1"]
preferred = "topology"
alternate = "global_availability"
max_answers = 2

[[gslb]]
name = "mix.example.test"
ttl = 30
pools = ["mix"]

[[region]]
name = "west"
file = "{}"

[[region]]
name = "east"
file = "{}"
"#,
        dir.join("west.txt").display(),
        dir.join("east.txt").display()
    ));
    c.push_str(&topology("region:west", "datacenter:ams", 100));
    c.push_str(&topology("region:east", "datacenter:nyc", 200));
    for k in 0..RELOAD_REGIONS {
        c.push_str(&format!(
            "\n[[region]]\nname = \"r{k}\"\nfile = \"{}\"\n",
            dir.join(format!("r{k}.txt")).display()
        ));
        c.push_str(&topology(&format!("region:r{k}"), "datacenter:ams", 10));
    }
    c
}

/// `gslb clients reload` under a query load: the region files change
/// (198.19.2.0/24 joins west, 198.19.3.0/24 joins east), and every answer
/// during the switch is the client's old answer or its new one — never
/// the default group's (which a trie entry leading to a group without
/// answer sets would give), never none; afterwards every client has its
/// new answer. Through XDP (all answered there) and with `--no-xdp`.
#[test]
fn reload_gives_old_or_new_answers_under_load() {
    use std::{
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc,
        },
        thread,
        time::{Duration, Instant},
    };

    use gslb_tests::harness::QUERY_TIMEOUT;
    use hickory_proto::rr::RecordType;

    let dir = std::env::temp_dir().join(format!("gslbt-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |west: &str, east: &str, filled: bool| {
        std::fs::write(dir.join("west.txt"), west).unwrap();
        std::fs::write(dir.join("east.txt"), east).unwrap();
        for k in 0..RELOAD_REGIONS {
            let body = if filled {
                format!("198.19.{}.0/24\n", 100 + u32::from(k))
            } else {
                "# empty until the reload\n".to_string()
            };
            std::fs::write(dir.join(format!("r{k}.txt")), body).unwrap();
        }
    };
    let config = reload_config(&dir);
    let (d1, a1, n1) = (v4("198.18.70.1"), v4("198.18.70.2"), v4("198.18.70.3"));
    // (client, old answer, new answer)
    let cases: Vec<(IpAddr, Vec<IpAddr>, Vec<IpAddr>)> = vec![
        (v4("198.19.1.10"), vec![a1], vec![a1]),
        (v4("198.19.2.10"), vec![n1], vec![n1, a1]),
        (v4("198.19.3.10"), vec![d1, n1], vec![n1]),
        // In the last new group written.
        (v4("198.19.139.10"), vec![d1, n1], vec![a1]),
    ];
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let what = if no_xdp { "--no-xdp" } else { "XDP" };
        write("198.19.1.0/24\n", "# east\n198.19.2.0/24\n", false);
        check_config(&config, "reload");
        let net = Net::new(if no_xdp {
            "topo_reload_s"
        } else {
            "topo_reload_x"
        });
        add_clients(&net, cases.iter().map(|(c, ..)| *c));
        let d = start_with(&net, &config, no_xdp);
        let clients: Vec<_> = cases.iter().map(|(c, ..)| net.udp_client(*c)).collect();
        let server = net.srv_v4();
        let before = d.xdp.then(|| d.stats());
        let stop = Arc::new(AtomicBool::new(false));
        let stop_load = Arc::clone(&stop);
        let load = thread::spawn(move || {
            // (client index, answer or None when lost), bounded in count
            // and time.
            let mut seen: Vec<(usize, Option<Vec<IpAddr>>)> = Vec::new();
            let t0 = Instant::now();
            while !stop_load.load(Ordering::Relaxed)
                && seen.len() < 60_000
                && t0.elapsed() < Duration::from_secs(30)
            {
                for (i, c) in clients.iter().enumerate() {
                    let r = c.query(server, "mix.example.test", RecordType::A, QUERY_TIMEOUT);
                    seen.push((i, r.filter(|r| r.rcode == "NOERROR").map(|r| r.addrs)));
                }
            }
            seen
        });
        thread::sleep(Duration::from_millis(500));
        write(
            "198.19.1.0/24\n198.19.2.0/24\n",
            "198.19.2.0/24\n198.19.3.0/24\n",
            true,
        );
        let out = d.ctl(&["clients", "reload"]);
        f.check(out.success(), || {
            format!("{what}: gslb clients reload failed:\n{out}")
        });
        eprintln!("{what}: {}", out.stdout.trim());
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let seen = load.join().expect("load thread");
        let mut switched = vec![false; cases.len()];
        let mut wrong = 0;
        for (i, got) in &seen {
            let (client, old, new) = &cases[*i];
            match got {
                Some(a) if a == new => switched[*i] = true,
                // Back to the old answer after the new one: a mix.
                Some(a) if a == old && !switched[*i] => {}
                other => {
                    wrong += 1;
                    if wrong <= 5 {
                        f.check(false, || {
                            format!(
                                "{what}: {client} got {other:?} (old {old:?}, new {new:?}, \
                                 switched {})",
                                switched[*i]
                            )
                        });
                    }
                }
            }
        }
        eprintln!(
            "{what}: {} queries during the reload, {wrong} wrong",
            seen.len()
        );
        f.check(wrong == 0, || {
            format!("{what}: {wrong} wrong or lost answers")
        });
        f.check(switched.iter().all(|s| *s), || {
            format!("{what}: not every client got its new answer: {switched:?}")
        });
        check_all_in_xdp(&mut f, what, &d, before, seen.len() as u64);
    }
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_none();
}
