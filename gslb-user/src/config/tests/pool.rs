//! Tests of `[[pool]]`, and the method names.

use super::*;

#[test]
fn method_names_round_trip() {
    for (m, name) in Method::ALL {
        assert_eq!(m.name(), *name);
        assert_eq!(Method::from_name(name), Some(*m));
        assert_eq!(m.to_string(), *name);
    }
    assert_eq!(Method::ALL.len(), 17);
    for (w, name) in AllDown::ALL {
        assert_eq!(AllDown::from_name(name), Some(*w));
    }
    for (a, name) in AdminState::ALL {
        assert_eq!(AdminState::from_name(name), Some(*a));
    }
    assert_eq!(Method::from_name("RoundRobin"), None);
    assert_eq!(PoolMethod::Ratio(vec![1]).to_string(), "ratio");
}

#[test]
fn pool_errors() {
    let pool = |body: &str| engine_with(&format!("[[pool]]\nname = \"p2\"\n{body}"));
    let at = |body: &str, at: &str, contains: &str| {
        assert_error_last(&pool(body), at, contains);
    };
    at("members = []\n", "[]", "a pool needs at least one member");
    at(
        "members = [\"s1\", \"s9\"]\n",
        "\"s9\"",
        "`members`: unknown vserver `s9`",
    );
    at(
        "members = [\"s1\", \"s2\", \"s1\"]\n",
        "\"s1\"",
        "server `s1` is listed twice in `members`",
    );
    at(
        "members = [\"s1\"]\npreferred = \"fastest\"\n",
        "\"fastest\"",
        "unknown method `fastest` (one of: none, round_robin,",
    );
    at(
        "members = [\"s1\"]\nalternate = \"RoundRobin\"\n",
        "\"RoundRobin\"",
        "unknown method",
    );
    at(
        "members = [\"s1\"]\nfallback = \"fallback_ip\"\n",
        "\"fallback_ip\"",
        "method fallback_ip needs the pool's `fallback_ip`",
    );
    at(
        "members = [\"s1\"]\npreferred = \"fallback_ip\"\nfallback_ip = []\n",
        "\"fallback_ip\"",
        "needs the pool's `fallback_ip`",
    );
    at(
        "members = [\"s1\"]\nwhen_all_down = \"fallback_ip\"\n",
        "\"fallback_ip\"",
        "when_all_down = \"fallback_ip\" needs",
    );
    at(
        "members = [\"s1\"]\nwhen_all_down = \"panic\"\n",
        "\"panic\"",
        "unknown when_all_down behaviour `panic` (one of: fail_open,",
    );
    at(
        "members = [\"s1\"]\nmax_answers = 0\n",
        "0",
        "max_answers 0 is out of range 1..=8",
    );
    at(
        "members = [\"s1\"]\nmax_answers = 9\n",
        "9",
        "max_answers 9",
    );
    at(
        "members = [\"s1\"]\npersist_prefix_v4 = 33\n",
        "33",
        "persist_prefix_v4 33 is out of range 0..=32",
    );
    at(
        "members = [\"s1\"]\npersist_prefix_v6 = 65\n",
        "65",
        "persist_prefix_v6 65 is out of range 0..=64",
    );
    at(
        "members = [\"s1\"]\npersist_prefix_v4 = -1\n",
        "-1",
        "persist_prefix_v4",
    );
    at(
        "members = [\"s1\"]\nttl = -1\n",
        "-1",
        "TTL -1 is out of range",
    );
    at(
        "members = [\"s1\"]\nfallback_ip = [\"198.18.99.x\"]\n",
        "\"198.18.99.x\"",
        "invalid fallback_ip address",
    );
    at(
        "members = [\"s1\"]\nfallback_ip = [\"0.0.0.0\"]\n",
        "\"0.0.0.0\"",
        "cannot be a server address",
    );
    at(
        "members = [\"s1\"]\nfallback_ip = [\"198.18.99.1\", \"198.18.99.1\"]\n",
        "\"198.18.99.1\"",
        "duplicate address 198.18.99.1",
    );
    let nine: Vec<String> = (1..=9).map(|i| format!("\"198.18.99.{i}\"")).collect();
    at(
        &format!(
            "members = [\"s1\"]\nfallback_ip = [\"2001:db8::9\", {}]\n",
            nine.join(", ")
        ),
        "\"198.18.99.9\"",
        "more than 8 IPv4 addresses",
    );
    at(
        "members = [\"s1\"]\nweight = 1\n",
        "weight",
        "unknown field `weight`",
    );
    assert_error_last(
        &pool("preferred = \"ratio\"\n"),
        "[[pool]]",
        "missing field `members`",
    );
    assert_error_last(
        &engine_with("[[pool]]\nname = \"p1\"\nmembers = [\"s1\"]\n"),
        "\"p1\"",
        "duplicate [[pool]] name `p1`",
    );
    // fallback_ip given: fine, with all three chain slots.
    let text = pool(
        "members = [\"s1\"]\npreferred = \"fallback_ip\"\nalternate = \"fallback_ip\"\n\
         fallback = \"fallback_ip\"\nwhen_all_down = \"fallback_ip\"\nfallback_ip = [\"198.18.99.1\"]\n",
    );
    assert!(parse(&text, "t").is_ok());

    // Address families: up to 8 of each, v4 and v6 mixed.
    let servers: String = (1..=9)
        .flat_map(|i| {
            [
                format!("[[vserver]]\nname = \"v4-{i}\"\naddress = \"198.18.1.{i}\"\ndatacenter = \"ams\"\n"),
                format!("[[vserver]]\nname = \"v6-{i}\"\naddress = \"2001:db8:1::{i}\"\ndatacenter = \"ams\"\n"),
            ]
        })
        .collect();
    let members = |names: &[String]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        engine_with(&format!(
            "{servers}[[pool]]\nname = \"big\"\nmembers = [{}]\n",
            quoted.join(", ")
        ))
    };
    let eight_each: Vec<String> = (1..=8)
        .flat_map(|i| [format!("v6-{i}"), format!("v4-{i}")])
        .collect();
    let cfg = parse(&members(&eight_each), "t").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.pools[1].members.len(), 16);
    let mut nine_v4 = eight_each.clone();
    nine_v4.push("v4-9".into());
    assert_error_last(
        &members(&nine_v4),
        "\"v4-9\"",
        "server `v4-9` is the pool's 9th IPv4 member; an answer set holds at most 8",
    );
    let mut nine_v6 = eight_each;
    nine_v6.insert(0, "v6-9".into());
    assert_error_last(&members(&nine_v6), "\"v6-8\"", "9th IPv6 member");

    // Two servers with one address cannot both be members.
    let text = engine_with(
        "[[vserver]]\nname = \"s1-again\"\naddress = \"198.18.10.1\"\ndatacenter = \"ams\"\n\
         [[pool]]\nname = \"p2\"\nmembers = [\"s1\", \"s1-again\"]\n",
    );
    assert_error_last(
        &text,
        "\"s1-again\"",
        "server `s1-again` has address 198.18.10.1, like member `s1`",
    );
    // A member whose server is invalid is not a second error.
    assert_error(
        &engine_replace("address = \"2001:db8::1\"", "address = \"2001:db8::g\""),
        "\"2001:db8::g\"",
        "invalid address",
    );
}

#[test]
fn pool_persistence() {
    let with = |p: &str| {
        engine_with(&format!(
            "[[pool]]\nname = \"sticky\"\nmembers = [\"s1\", \"s2\"]\npersistence = {p}\n"
        ))
    };
    let cfg = parse(&with("{ ttl = \"10m\" }"), "t").unwrap_or_else(|e| panic!("{e}"));
    let p = cfg.pools.iter().find(|p| p.name == "sticky").unwrap();
    assert_eq!(
        p.persistence,
        Some(crate::config::Persistence {
            ttl: Duration::from_secs(600),
            prefix_v4: 24,
            prefix_v6: 56,
        })
    );
    assert_eq!(cfg.pools[0].persistence, None);
    let cfg = parse(&with("{ ttl = 30, prefix_v4 = 32, prefix_v6 = 0 }"), "t").unwrap();
    let p = cfg.pools.iter().find(|p| p.name == "sticky").unwrap();
    let p = p.persistence.unwrap();
    assert_eq!((p.ttl.as_secs(), p.prefix_v4, p.prefix_v6), (30, 32, 0));
    assert_error_last(
        &with("{ prefix_v4 = 24 }"),
        "{ prefix_v4",
        "persistence needs a `ttl`",
    );
    assert_error_last(
        &with("{ ttl = \"1m\", prefix_v4 = 33 }"),
        "33",
        "out of range",
    );
    assert_error_last(
        &with("{ ttl = \"1m\", prefix_v6 = 129 }"),
        "129",
        "out of range",
    );
    assert_error_last(&with("{ ttl = \"1.5s\" }"), "\"1.5s\"", "whole seconds");
    assert_error_last(&with("{ ttl = \"0s\" }"), "\"0s\"", "whole seconds");
    assert_error_last(&with("{ ttl = \"2d\" }"), "\"2d\"", "whole seconds");
    assert_error_last(&with("{ ttl = \"ten\" }"), "\"ten\"", "persistence.ttl");
    let err = parse(&with("{ ttl = \"1m\", sticky = true }"), "t").unwrap_err();
    assert!(err.to_string().contains("sticky"), "{err}");
}
