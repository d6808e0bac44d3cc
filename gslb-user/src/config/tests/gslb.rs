//! Tests of `[[gslb]]`: names, static sets and pool keys.

use super::*;

#[test]
fn gslb_errors() {
    let gslb = |body: &str| zone_with(&format!("[[gslb]]\nname = \"www.example.test\"\n{body}"));
    assert_error(&gslb(""), "\"www", "neither `a` nor `aaaa`");
    assert_error(
        &gslb("a = []\naaaa = []\n"),
        "\"www",
        "neither `a` nor `aaaa`",
    );
    assert_error(&gslb("ttl = 30\n"), "\"www", "neither");
    assert_error(
        &gslb("a = [\"192.0.2.1\", \"192.0.2.x\"]\n"),
        "\"192.0.2.x\"",
        "invalid IPv4 address `192.0.2.x` in `a`",
    );
    assert_error(
        &gslb("aaaa = [\"192.0.2.1\"]\n"),
        "\"192.0.2.1\"",
        "invalid IPv6 address",
    );
    assert_error(
        &gslb("a = [\"192.0.2.1\", \"192.0.2.1\"]\n"),
        "\"192.0.2.1\"]",
        "duplicate address 192.0.2.1",
    );
    assert_error(
        &gslb("a = [\"0.0.0.0\"]\n"),
        "\"0.0.0.0\"",
        "cannot be a server address",
    );
    assert_error(
        &gslb("aaaa = [\"ff02::1\"]\n"),
        "\"ff02::1\"",
        "cannot be a server address",
    );
    assert_error(
        &gslb("a = [\"192.0.2.1\"]\nttl = 4294967296\n"),
        "4294967296",
        "out of range",
    );
    let nine: Vec<String> = (1..=9).map(|i| format!("\"192.0.2.{i}\"")).collect();
    let text = gslb(&format!(
        "aaaa = [\"2001:db8::1\"]\na = [{}]\n",
        nine.join(", ")
    ));
    assert_error(&text, "[\"192.0.2.1\"", "`a` has 9 addresses; at most 8");
    let eight: Vec<String> = (1..=8).map(|i| format!("\"192.0.2.{i}\"")).collect();
    assert!(parse(&gslb(&format!("a = [{}]\n", eight.join(", "))), "t").is_ok());

    let text = format!("{ZONE}[[gslb]]\nname = \"www.example.net\"\na = [\"192.0.2.1\"]\n");
    assert_error(
        &text,
        "\"www.example.net\"",
        "not inside any configured zone",
    );
    let text = format!(
        "{}[[gslb]]\nname = \"WWW.example.test.\"\na = [\"192.0.2.2\"]\n",
        gslb("a = [\"192.0.2.1\"]\n")
    );
    assert_error(
        &text,
        "\"WWW",
        "duplicate gslb name www.example.test. (first defined at",
    );
    assert_error(
        &gslb("a = [\"192.0.2.1\"]\n").replace("\"www.example.test\"", "\"bad..name\""),
        "\"bad..name\"",
        "invalid gslb name",
    );
}

#[test]
fn gslb_names_and_static_records() {
    let base = "[[gslb]]\nname = \"www.example.test\"\na = [\"192.0.2.1\"]\n";
    for rtype in ["A", "AAAA", "CNAME"] {
        let data = match rtype {
            "A" => "192.0.2.9",
            "AAAA" => "2001:db8::9",
            _ => "ns1",
        };
        let text = zone_with(&format!(
            "[[zone.record]]\nname = \"www\"\ntype = \"{rtype}\"\ndata = \"{data}\"\n{base}"
        ));
        assert_error(
            &text,
            "\"www\"",
            &format!("static {rtype} record on gslb name www.example.test. (defined at"),
        );
    }
    // Other types beside a gslb name are fine.
    let text = zone_with(&format!(
        "[[zone.record]]\nname = \"www\"\ntype = \"TXT\"\ndata = '\"hello\"'\n{base}"
    ));
    assert!(parse(&text, "t").is_ok());
    // A gslb name inside a delegation would never be answered.
    let text = zone_with(&format!(
        "[[zone.record]]\nname = \"sub\"\ntype = \"NS\"\ndata = \"ns.example.net.\"\n{}",
        base.replace("www.example.test", "www.sub.example.test")
    ));
    assert_error(
        &text,
        "\"www.sub",
        "inside the delegation to sub.example.test.",
    );
    // An in-zone name server may be a gslb name.
    let text = ZONE.replace("ns = [\"ns1\"]", "ns = [\"ns1\", \"www\"]") + base;
    assert!(parse(&text, "t").is_ok());
}

#[test]
fn gslb_pool_errors() {
    let name = |body: &str| engine_with(&format!("[[gslb]]\nname = \"api.example.test\"\n{body}"));
    let pool2 = "[[pool]]\nname = \"p2\"\nmembers = [\"s2\"]\n";
    let at = |body: &str, at: &str, contains: &str| {
        assert_error_last(&name(body), at, contains);
    };
    at(
        "pools = [\"p1\"]\na = [\"192.0.2.1\"]\n",
        "[\"p1\"]",
        "either static `a`/`aaaa` addresses or `pools`, not both",
    );
    at("aaaa = []\npools = [\"p1\"]\n", "[\"p1\"]", "not both");
    at(
        "pools = [\"p1\", \"nope\"]\n",
        "\"nope\"",
        "`pools`: unknown pool `nope` (no [[pool]] has that name)",
    );
    at(
        "pools = [\"p1\", \"p1\"]\n",
        "\"p1\"",
        "pool `p1` is listed twice in `pools`",
    );
    at("pools = []\n", "[]", "`pools` is empty");
    at(
        "pools = [\"p1\"]\npool_method = \"fastest\"\n",
        "\"fastest\"",
        "unknown pool_method `fastest` (one of: global_availability, round_robin, ratio, topology)",
    );
    at("pools = [\"p1\"]\npool_ratios = [1]\n", "[1]", "`pool_ratios` applies only to pool_method = \"ratio\" (this name uses \"global_availability\")");
    at(
        "pools = [\"p1\"]\npool_method = \"round_robin\"\npool_ratios = [1]\n",
        "[1]",
        "uses \"round_robin\"",
    );
    at(
        "pools = [\"p1\"]\npool_method = \"ratio\"\npool_ratios = [1, 2]\n",
        "[1, 2]",
        "`pool_ratios` has 2 entries but `pools` has 1",
    );
    at(
        "pools = [\"p1\"]\npool_method = \"ratio\"\npool_ratios = [0]\n",
        "0",
        "pool ratio 0 is out of range 1..=65535",
    );
    at(
        "pools = [\"p1\"]\nlast_resort_pool = \"nope\"\n",
        "\"nope\"",
        "`last_resort_pool`: unknown pool `nope`",
    );
    at(
        "a = [\"192.0.2.1\"]\nlast_resort_pool = \"p1\"\n",
        "\"p1\"",
        "`last_resort_pool` needs `pools`",
    );
    at(
        "a = [\"192.0.2.1\"]\npool_method = \"ratio\"\n",
        "\"ratio\"",
        "`pool_method` needs `pools`",
    );
    at(
        "a = [\"192.0.2.1\"]\npool_ratios = [1]\n",
        "[1]",
        "`pool_ratios` needs `pools`",
    );
    // An invalid pool_method is one error, not two.
    at(
        "pools = [\"p1\"]\npool_method = \"ratios\"\npool_ratios = [1]\n",
        "\"ratios\"",
        "unknown pool_method",
    );

    let text = format!(
        "{pool2}[[gslb]]\nname = \"api.example.test\"\npools = [\"p1\", \"p2\"]\n\
         pool_method = \"ratio\"\npool_ratios = [5, 1]\nlast_resort_pool = \"p1\"\n"
    );
    let cfg = parse(&engine_with(&text), "t").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.gslb[1].pool_method, PoolMethod::Ratio(vec![5, 1]));
    assert_eq!(cfg.gslb[1].last_resort_pool.as_deref(), Some("p1"));
    // Pool gslb names still obey the zone rules.
    let text = engine_with("[[gslb]]\nname = \"www.example.net\"\npools = [\"p1\"]\n");
    assert_error_last(
        &text,
        "\"www.example.net\"",
        "not inside any configured zone",
    );
    // Beside pools, static A records are what return_to_dns answers; a
    // CNAME still cannot coexist with the gslb name.
    let text = engine_with("[[zone.record]]\nname = \"www\"\ntype = \"A\"\ndata = \"192.0.2.9\"\n");
    assert!(parse(&text, "t").is_ok());
    let text = engine_with("[[zone.record]]\nname = \"www\"\ntype = \"CNAME\"\ndata = \"x\"\n");
    assert!(parse(&text, "t").is_err());
}
