//! Tests of the client map built from configs: groups per profile,
//! merging, scope, v4/v6, precedence and scoring, stable ids.

use std::net::IpAddr;

use super::*;
use crate::config::{parse, Config};

const BASE: &str = r#"
[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "192.0.2.53"

[[datacenter]]
name = "ams"
lat = 52.37
lon = 4.9
region = "eu"
country = "NL"

[[datacenter]]
name = "nyc"
lat = 40.71
lon = -74.01
region = "us"

[[vserver]]
name = "a1"
address = "198.18.10.1"
datacenter = "ams"

[[vserver]]
name = "n1"
address = "198.18.10.2"
datacenter = "nyc"

[[pool]]
name = "pa"
members = ["a1"]
preferred = "topology"

[[pool]]
name = "pn"
members = ["n1"]

[[gslb]]
name = "www.example.test"
pools = ["pa", "pn"]
"#;

fn cfg(extra: &str) -> Config {
    parse(&format!("{BASE}{extra}"), "t").unwrap_or_else(|e| panic!("{e}"))
}

fn rule(client: &str, server: &str, score: u32) -> String {
    format!("[[topology]]\nclient = \"{client}\"\nserver = \"{server}\"\nscore = {score}\n")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn no_rules_no_entries() {
    let map = ClientMap::build(&cfg("")).unwrap();
    assert!(map.is_empty());
    assert_eq!(map.lookup(ip("198.18.1.1")), (GroupId::DEFAULT, 0));
    assert_eq!(map.group_count(), 1);
}

#[test]
fn cidr_rules_make_groups_with_their_scope() {
    let c = cfg(&[
        rule("cidr:198.18.0.0/16", "datacenter:nyc", 10),
        rule("cidr:198.18.1.0/24", "datacenter:ams", 100),
        rule("cidr:2001:db8:1::/48", "datacenter:ams", 100),
    ]
    .concat());
    let map = ClientMap::build(&c).unwrap();
    assert!(!map.is_empty());
    let (g24, s24) = map.lookup(ip("198.18.1.7"));
    let (g16, s16) = map.lookup(ip("198.18.200.7"));
    let (g0, s0) = map.lookup(ip("203.0.113.1"));
    let (g6, s6) = map.lookup(ip("2001:db8:1:2::1"));
    let (g6o, _) = map.lookup(ip("2001:db8:2::1"));
    assert_eq!(s24, 24);
    // 198.18.0.0/16 minus the /24: the cell holding .200 is a /17.
    assert_eq!(s16, 17);
    assert_eq!(g0, GroupId::DEFAULT);
    assert!(s0 <= 8, "{s0}");
    assert_eq!(s6, 48);
    assert_eq!(g6o, GroupId::DEFAULT);
    assert_ne!(g24, g16);
    assert_ne!(g24, GroupId::DEFAULT);
    assert_ne!(g6, g24, "v6 /48 matches only its own rule");
    // Profiles: the /24 rule before the /16 one.
    assert_eq!(map.profile(g24).unwrap().rules, vec![1, 0]);
    assert_eq!(map.profile(g16).unwrap().rules, vec![0]);
    assert_eq!(map.profile(g6).unwrap().rules, vec![2]);
    // Scores.
    let p24 = map.profile(g24).unwrap();
    let (a1, n1) = (&c.servers[0], &c.servers[1]);
    assert_eq!(map.score_server(p24, a1, &c.pools), Some(100));
    assert_eq!(map.score_server(p24, n1, &c.pools), Some(10));
    let p16 = map.profile(g16).unwrap();
    assert_eq!(map.score_server(p16, a1, &c.pools), None);
    assert_eq!(map.score_pool(p24, &c.pools[0]), Some(100));
    assert_eq!(map.score_pool(p16, &c.pools[1]), Some(10));
    assert_eq!(map.score_pool(p16, &c.pools[0]), None);
    // Every entry's value carries its own length (the ECS scope).
    for e in map.entries() {
        assert_eq!(e.value().prefix_len, e.len);
    }
    let x = map.explain(ip("198.18.1.7"));
    assert_eq!(x.prefix, Some("198.18.1.0/24".parse().unwrap()));
    assert_eq!(x.rules.len(), 2);
    assert_eq!(x.rules[0].text, "cidr:198.18.1.0/24 -> datacenter:ams");
    assert_eq!(x.geo, None);
}

#[test]
fn equal_profiles_share_a_group_and_merge() {
    // Two rules with the same effect on adjacent halves: one /23 cell.
    let c = cfg(&[
        "[[region]]\nname = \"r\"\nprefixes = [\"198.18.4.0/24\", \"198.18.5.0/24\", \"198.18.9.0/24\"]\n",
        &rule("region:r", "datacenter:ams", 5),
    ]
    .concat());
    let map = ClientMap::build(&c).unwrap();
    let (g4, s4) = map.lookup(ip("198.18.4.1"));
    let (g5, s5) = map.lookup(ip("198.18.5.1"));
    let (g9, s9) = map.lookup(ip("198.18.9.1"));
    assert_eq!((g4, s4), (g5, s5));
    assert_eq!(s4, 23);
    assert_eq!(g9, g4);
    assert_eq!(s9, 24);
    assert_eq!(map.group_count(), 2);
    assert_eq!(map.lookup(ip("198.18.6.1")).0, GroupId::DEFAULT);
}

#[test]
fn server_side_precedence_and_pool_rules() {
    // Same client side: datacenter/pool before region before any.
    let c = cfg(&[
        rule("any", "any", 1),
        rule("any", "region:eu", 20),
        rule("any", "pool:pa", 30),
    ]
    .concat());
    let map = ClientMap::build(&c).unwrap();
    let (g, s) = map.lookup(ip("2001:db8::1"));
    assert_eq!(s, 0);
    let p = map.profile(g).unwrap();
    assert_eq!(p.rules, vec![2, 1, 0]);
    let (a1, n1) = (&c.servers[0], &c.servers[1]);
    assert_eq!(map.score_server(p, a1, &c.pools), Some(30));
    assert_eq!(map.score_server(p, n1, &c.pools), Some(1));
    // IPv4 and IPv6 both covered by `any`: one group, v4 scope 0 too.
    assert_eq!(map.lookup(ip("198.18.0.1")), (g, 0));
}

#[test]
fn rebuild_keeps_group_ids() {
    let one = cfg(&rule("cidr:198.18.1.0/24", "datacenter:ams", 100));
    let map1 = ClientMap::build(&one).unwrap();
    let g1 = map1.lookup(ip("198.18.1.1")).0;
    let two = cfg(&[
        rule("cidr:198.18.2.0/24", "datacenter:nyc", 100),
        rule("cidr:198.18.1.0/24", "datacenter:ams", 100),
    ]
    .concat());
    let map2 = ClientMap::rebuild(&two, &map1).unwrap();
    // The profile of 198.18.1.0/24 changed (rule index 1 now): a new
    // group; then rebuilding the same config keeps every id.
    let map3 = ClientMap::rebuild(&two, &map2).unwrap();
    for a in ["198.18.1.1", "198.18.2.1", "198.18.3.1"] {
        assert_eq!(map2.lookup(ip(a)), map3.lookup(ip(a)), "{a}");
    }
    assert_eq!(map3.lookup(ip("198.18.3.1")).0, GroupId::DEFAULT);
    let _ = g1;
}
