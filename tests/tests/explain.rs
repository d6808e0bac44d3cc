//! `gslb explain NAME --client ADDR [--ecs PREFIX]` against a running
//! daemon with topology rules: the client-group prefix the client falls
//! in, its group, the rules that match it and the scores of the
//! candidates, the answer and the ECS scope a reply carries; and the
//! answer explain predicts is the one `dig` gets from that client's
//! address through XDP (and, with `--no-xdp`, through the slow path).
//! A name whose answers do not depend on the client has scope 0. Names
//! with the same pools, pool method, last resort pool and TTL share their
//! decisions: both answer alike for every client.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test explain`.

use std::net::IpAddr;

use gslb_tests::{
    clients::{add_clients, check_all_in_xdp, check_answer},
    config::{datacenters, topology, vservers},
    harness::{answer_addrs, check_config, start_with, v4, Failures, ZONE},
    mmdb,
    netns::Net,
};
use serde_json::Value;

/// Servers a1 (ams) and n1 (nyc); pool `web` orders them by topology,
/// then global availability; `web` and `www` share the policy, `plain`
/// (round robin, no topology) answers every client alike.
fn config() -> String {
    let mut c = String::from(ZONE);
    c.push_str(&datacenters(&["ams", "nyc"]));
    c.push_str(&vservers(&[
        ("a1", "ams", "198.18.71.1"),
        ("n1", "nyc", "198.18.71.2"),
    ]));
    c.push_str(
        r#"
[[pool]]
name = "web"
members = ["a1", "n1"]
preferred = "topology"
alternate = "global_availability"

[[pool]]
name = "rr"
members = ["a1", "n1"]
preferred = "global_availability"

[[gslb]]
name = "web.example.test"
ttl = 30
pools = ["web"]

[[gslb]]
name = "www.example.test"
ttl = 30
pools = ["web"]

[[gslb]]
name = "plain.example.test"
ttl = 30
pools = ["rr"]

[[pool]]
name = "st"
members = ["a1", "n1"]
preferred = "round_robin"
persistence = { ttl = "10m" }

[[gslb]]
name = "sticky.example.test"
ttl = 30
pools = ["st"]
"#,
    );
    c.push_str(&topology("cidr:198.19.1.0/24", "datacenter:ams", 100));
    c.push_str(&topology("cidr:198.19.1.0/24", "datacenter:nyc", 50));
    c.push_str(&topology("cidr:198.19.1.128/25", "datacenter:ams", 5));
    c
}

/// `gslb explain NAME --json` with extra arguments.
fn explain(d: &gslb_tests::netns::Daemon<'_>, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["explain", name, "--json"];
    all.extend_from_slice(args);
    let out = d.ctl(&all);
    assert!(out.success(), "{out}");
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("gslb explain --json is not JSON ({e}):\n{out}"))
}

/// The A answer of an explain report.
fn answer(ex: &Value) -> Vec<IpAddr> {
    ex["a"]["answer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.parse().ok())
        .collect()
}

/// (server, score) of the A candidates.
fn scores(ex: &Value) -> Vec<(String, Option<u64>)> {
    ex["a"]["explanation"]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["server"].as_str().unwrap_or("?").to_string(),
                c["score"].as_u64(),
            )
        })
        .collect()
}

/// A client address, the client-group prefix it falls in, the scope, its
/// A answer and the (a1, n1) topology scores.
type Case = (
    &'static str,
    &'static str,
    u64,
    IpAddr,
    (Option<u64>, Option<u64>),
);

#[test]
fn explain_shows_the_client_group_scores_and_scope() {
    let config = config();
    check_config(&config, "explain");
    let (a1, n1) = (v4("198.18.71.1"), v4("198.18.71.2"));
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let what = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "expl_slow" } else { "expl_xdp" });
        let cases: [Case; 3] = [
            (
                "198.19.1.10",
                "198.19.1.0/25",
                25,
                a1,
                (Some(100), Some(50)),
            ),
            (
                "198.19.1.200",
                "198.19.1.128/25",
                25,
                n1,
                (Some(5), Some(50)),
            ),
            // No rule: the alternate (global availability), no scores.
            ("198.19.9.10", "", 0, a1, (None, None)),
        ];
        add_clients(&net, cases.map(|c| c.0.parse().unwrap()));
        let d = start_with(&net, &config, no_xdp);
        let before = d.xdp.then(|| d.stats());
        let mut queries = 0;
        for (client, prefix, scope, want, (sa, sn)) in cases {
            let ex = explain(&d, "web.example.test", &["--client", client]);
            let placement = &ex["placement"];
            let got_prefix = placement["prefix"].as_str().unwrap_or("");
            if !prefix.is_empty() {
                f.check(got_prefix == prefix, || {
                    format!("{what}: {client}: prefix {got_prefix}, want {prefix}\n{ex:#}")
                });
                f.check(ex["a"]["scope"].as_u64() == Some(scope), || {
                    format!("{what}: {client}: scope {}, want {scope}", ex["a"]["scope"])
                });
                let rules = placement["rules"].as_array().map_or(0, Vec::len);
                f.check(rules >= 2, || {
                    format!("{what}: {client}: rules {}", placement["rules"])
                });
            } else {
                f.check(
                    placement["rules"].as_array().is_some_and(Vec::is_empty),
                    || format!("{what}: {client}: rules {}", placement["rules"]),
                );
            }
            f.check(ex["client_aware"] == Value::Bool(true), || {
                format!("{what}: web is client-aware: {}", ex["client_aware"])
            });
            let want_scores = vec![("a1".to_string(), sa), ("n1".to_string(), sn)];
            f.check(scores(&ex) == want_scores, || {
                format!(
                    "{what}: {client}: scores {:?}, want {want_scores:?}",
                    scores(&ex)
                )
            });
            f.check(answer(&ex) == [want], || {
                format!(
                    "{what}: {client}: explain answers {:?}, want [{want}]",
                    answer(&ex)
                )
            });
            // dig from that address gets what explain says, for both
            // names of the policy.
            for name in ["web.example.test", "www.example.test"] {
                check_answer(&mut f, what, &net, client.parse().unwrap(), name, &[want]);
                queries += 1;
            }
        }
        // An ECS prefix: its address is the client; the scope is the
        // client-group prefix's length, even past the source length.
        let ex = explain(&d, "web.example.test", &["--ecs", "198.19.1.0/24"]);
        f.check(
            answer(&ex) == [a1]
                && ex["a"]["scope"].as_u64() == Some(25)
                && ex["placement"]["prefix"] == "198.19.1.0/25"
                && ex["ecs"] == "198.19.1.0/24",
            || format!("{what}: --ecs 198.19.1.0/24:\n{ex:#}"),
        );
        // ECS source prefix 0: scope 0.
        let ex = explain(&d, "web.example.test", &["--ecs", "0.0.0.0/0"]);
        f.check(ex["a"]["scope"].as_u64() == Some(0), || {
            format!("{what}: --ecs 0.0.0.0/0: scope {}", ex["a"]["scope"])
        });
        // A name whose answers do not depend on the client: scope 0.
        let ex = explain(&d, "plain.example.test", &["--client", "198.19.1.10"]);
        f.check(
            ex["client_aware"] == Value::Bool(false) && ex["a"]["scope"].as_u64() == Some(0),
            || format!("{what}: plain: {ex:#}"),
        );
        // Persistence: no record before the client's first query; then
        // explain shows the record, the server it keeps is the first
        // answer, and the scope is the persistence prefix (24).
        let ex = explain(&d, "sticky.example.test", &["--client", "198.19.9.10"]);
        let p = ex["a"]["persistence"].as_str().unwrap_or("");
        f.check(p.starts_with("no record"), || {
            format!("{what}: sticky before any query: {p:?}")
        });
        let r = net.dig(
            net.srv_v4(),
            "sticky.example.test",
            "A",
            &["-b", "198.19.9.10"],
        );
        queries += 1;
        let first = answer_addrs(&r).first().copied();
        let ex = explain(&d, "sticky.example.test", &["--client", "198.19.9.10"]);
        let p = ex["a"]["persistence"].as_str().unwrap_or("");
        // (The XDP program's records are read from its PERSIST map.)
        f.check(
            p.starts_with("198.19.9.0/24 sticks to")
                && answer(&ex).first().copied() == first
                && ex["a"]["scope"].as_u64() == Some(24),
            || {
                let list = d.ctl(&["persist", "list"]);
                let stats = d.xdp.then(|| d.stats().0.to_string());
                format!(
                    "{what}: sticky after a query answered {first:?}:\n{ex:#}\n{list}\n{stats:?}"
                )
            },
        );
        // The text form names the group, the rules and the scope.
        let out = d.ctl(&["explain", "web.example.test", "--client", "198.19.1.200"]);
        let text = out.stdout.clone();
        f.check(
            out.success()
                && text.contains("client group:")
                && text.contains("prefix 198.19.1.128/25")
                && text.contains("cidr:198.19.1.128/25")
                && text.contains("score=5")
                && text.contains("ecs scope: 25"),
            || format!("{what}: explain text:\n{out}"),
        );
        check_all_in_xdp(&mut f, what, &d, before, queries);
    }
    f.assert_none();
}

/// With a City database and `geo_proximity`: explain shows what the
/// database says of the client (country, continent, location), the
/// datacenters nearest first, each candidate's rank, and the answer dig
/// gets from that address (XDP and --no-xdp).
#[test]
fn explain_shows_geo_data_and_ranking() {
    let dir = std::env::temp_dir().join(format!("gslbt-explain-geo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("City.mmdb");
    mmdb::write(
        &db,
        "GeoIP2-City",
        &[
            ("198.19.1.0/24", mmdb::city("FR", "EU", 48.85, 2.35)),
            ("198.19.2.0/24", mmdb::city("US", "NA", 42.36, -71.06)),
        ],
    );
    let mut config = String::from(ZONE);
    config.push_str(&datacenters(&["ams", "nyc"]));
    config.push_str(&vservers(&[
        ("a1", "ams", "198.18.72.1"),
        ("n1", "nyc", "198.18.72.2"),
    ]));
    config.push_str(&format!(
        r#"
[geoip]
database = "{}"

[[pool]]
name = "near"
members = ["a1", "n1"]
preferred = "geo_proximity"
alternate = "global_availability"
max_answers = 2

[[gslb]]
name = "near.example.test"
ttl = 30
pools = ["near"]
"#,
        db.display()
    ));
    check_config(&config, "explain geo");
    let (a1, n1) = (v4("198.18.72.1"), v4("198.18.72.2"));
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let what = if no_xdp { "--no-xdp" } else { "XDP" };
        let net = Net::new(if no_xdp { "explg_slow" } else { "explg_xdp" });
        // (client, country, nearest first, answer, (a1, n1) ranks)
        let cases = [
            ("198.19.1.10", "FR", ["ams", "nyc"], [a1, n1], (0, 1)),
            ("198.19.2.10", "US", ["nyc", "ams"], [n1, a1], (1, 0)),
        ];
        add_clients(&net, cases.map(|c| c.0.parse().unwrap()));
        let d = start_with(&net, &config, no_xdp);
        for (client, country, nearest, want, (ra, rn)) in cases {
            let ex = explain(&d, "near.example.test", &["--client", client]);
            let p = &ex["placement"];
            let geo = p["geo"].as_str().unwrap_or("");
            let ranking: Vec<&str> = p["ranking"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let ranks: Vec<Option<u64>> = ex["a"]["explanation"]["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["proximity"].as_u64())
                .collect();
            f.check(
                geo.contains(&format!("country {country}"))
                    && geo.contains("location")
                    && ranking == nearest
                    && ranks == [Some(ra), Some(rn)]
                    && answer(&ex) == want
                    && ex["a"]["scope"].as_u64() == Some(24),
                || format!("{what}: {client}:\n{ex:#}"),
            );
            let src = client.parse().unwrap();
            check_answer(&mut f, what, &net, src, "near.example.test", &want);
        }
        let text = d.ctl(&["explain", "near.example.test", "--client", "198.19.2.10"]);
        f.check(
            text.stdout.contains("geo:        country US")
                && text.stdout.contains("nearest:    nyc, ams")
                && text.stdout.contains("nearest#=1"),
            || format!("{what}: explain text:\n{text}"),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_none();
}
