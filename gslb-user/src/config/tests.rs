use super::*;
use hickory_proto::rr::RecordType;

/// A minimal valid zone, to which tests append.
const ZONE: &str = r#"
[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "192.0.2.53"
"#;

/// Parses `text` and expects exactly one error, at the first occurrence
/// of `at` (the 1-based position is computed from the text), whose
/// message contains `contains`.
#[track_caller]
fn assert_error(text: &str, at: &str, contains: &str) {
    let offset = text
        .find(at)
        .unwrap_or_else(|| panic!("`{at}` not in the text"));
    assert_error_at(text, offset, contains);
}

/// As [`assert_error`], at the last occurrence of `at`.
#[track_caller]
fn assert_error_last(text: &str, at: &str, contains: &str) {
    let offset = text
        .rfind(at)
        .unwrap_or_else(|| panic!("`{at}` not in the text"));
    assert_error_at(text, offset, contains);
}

/// As [`assert_error`], at byte `offset` of `text`.
#[track_caller]
fn assert_error_at(text: &str, offset: usize, contains: &str) {
    let (line, column) = position(text, offset);
    let err = parse(text, "t.toml").expect_err("config should be rejected");
    let diags = err.diagnostics();
    assert_eq!(diags.len(), 1, "expected one error, got:\n{err}");
    let d = &diags[0];
    assert!(
        d.message.contains(contains),
        "message `{}` lacks `{contains}`",
        d.message
    );
    assert_eq!(
        (d.line, d.column),
        (line, column),
        "wrong position for `{}`",
        d.message
    );
    assert_eq!(
        err.to_string(),
        format!("t.toml:{line}:{column}: {}", d.message)
    );
}

fn zone_with(extra: &str) -> String {
    format!("{ZONE}{extra}")
}

#[test]
fn default_config_is_valid() {
    let cfg = load_default().unwrap();
    assert_eq!(cfg.server.listen.len(), 2);
    assert_eq!(cfg.server.port(), 53);
    assert_eq!(cfg.server.edns_udp_size, 1232);
    assert_eq!(cfg.zones.len(), 1);
    let zone = &cfg.zones[0];
    assert_eq!(zone.name.to_string(), "example.test.");
    assert_eq!(zone.ttl, 3600);
    assert_eq!(zone.soa.serial, 2026112201);
    assert_eq!(zone.soa.minimum, 300);
    assert_eq!(zone.ns[0].to_string(), "ns1.example.test.");
    let mx = zone
        .records
        .iter()
        .find(|r| r.record_type() == RecordType::MX)
        .unwrap();
    assert_eq!(mx.name.to_string(), "example.test.");
    assert_eq!(mx.data.to_string(), "10 mail.example.test.");
    assert_eq!(mx.ttl, 3600);
    assert_eq!(cfg.gslb.len(), 1);
    assert_eq!(cfg.gslb[0].ttl, 30);
    assert_eq!(
        cfg.gslb[0].a,
        vec![Ipv4Addr::new(198, 18, 0, 10), Ipv4Addr::new(198, 18, 0, 11)]
    );
}

#[test]
fn defaults_when_tables_are_missing() {
    let cfg = parse(ZONE, "t").unwrap();
    assert_eq!(cfg.server, ServerConfig::default());
    assert_eq!(
        cfg.server.listen,
        vec![
            "127.0.0.1:53".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    assert_eq!(cfg.server.interfaces, vec!["lo".to_string()]);
    let zone = &cfg.zones[0];
    assert_eq!(zone.ttl, DEFAULT_ZONE_TTL);
    assert_eq!(zone.soa.mname.to_string(), "ns1.example.test.");
    assert_eq!(zone.soa.rname.to_string(), "hostmaster.example.test.");
    assert!(parse("", "t").unwrap().zones.is_empty());
}

#[test]
fn names_are_lowercase_and_relative_names_use_the_zone() {
    let text = r#"
[[zone]]
name = "Example.TEST."
ns = ["NS1", "ns.example.net."]
[zone.soa]
rname = "dns-admin"
[[zone.record]]
name = "NS1"
type = "a"
data = "192.0.2.53"
[[zone.record]]
name = "Alias.example.test."
type = "CNAME"
data = "@"
ttl = 60
[[gslb]]
name = "WWW.example.test"
a = ["192.0.2.1"]
"#;
    let cfg = parse(text, "t").unwrap();
    let zone = &cfg.zones[0];
    assert_eq!(zone.name.to_string(), "example.test.");
    assert_eq!(zone.ns[0].to_string(), "ns1.example.test.");
    assert_eq!(zone.ns[1].to_string(), "ns.example.net.");
    assert_eq!(zone.soa.rname.to_string(), "dns-admin.example.test.");
    assert_eq!(zone.records[0].name.to_string(), "ns1.example.test.");
    assert_eq!(zone.records[1].name.to_string(), "alias.example.test.");
    assert_eq!(zone.records[1].data.to_string(), "example.test.");
    assert_eq!(zone.records[1].ttl, 60);
    assert_eq!(cfg.gslb[0].name.to_string(), "www.example.test.");
    assert_eq!(cfg.gslb[0].ttl, DEFAULT_GSLB_TTL);
    assert!(cfg.gslb[0].aaaa.is_empty());
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse("[server]\nlisten = \n", "t").unwrap_err().to_string();
    assert!(err.starts_with("t:2:10: "), "{err}");
    assert_error("[server]\nlisten = [\"a\",,]\n", ",]", "");
    assert_error("[zone\n", "\n", "");
    let text = "[server]\nedns_udp_size = \"big\"\n";
    assert_error(text, "\"big\"", "invalid type");
    let text = "[[zone]]\nttl = 5\n";
    assert_error(text, "[[zone]]", "missing field `name`");
}

#[test]
fn unknown_fields_are_rejected() {
    assert_error(
        "[server]\nlisten = []\nport = 53\n",
        "port",
        "unknown field `port`",
    );
    assert_error("[servers]\n", "servers", "unknown field `servers`");
    let text = zone_with(
        "[[zone.record]]\nname = \"x\"\ntype = \"A\"\ndata = \"192.0.2.1\"\nclass = \"IN\"\n",
    );
    assert_error(&text, "class", "unknown field `class`");
    assert_error(
        &zone_with("[[gslb]]\nname = \"www.example.test\"\na = [\"192.0.2.1\"]\nweight = 1\n"),
        "weight",
        "unknown field `weight`",
    );
}

#[test]
fn server_errors() {
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"localhost:53\"]\n",
        "\"localhost",
        "invalid listen address `localhost:53`",
    );
    assert_error(
        "[server]\nlisten = [\"::1:53\"]\n",
        "\"::1",
        "IPv6 in brackets",
    );
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"[::1]:5353\"]\n",
        "\"[::1]",
        "port 5353 differs from port 53",
    );
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n",
        "\"127.0.0.1:53\"]",
        "duplicate listen address",
    );
    assert_error(
        "[server]\nlisten = []\n",
        "[]",
        "at least one listen address",
    );
    assert_error(
        "[server]\ninterfaces = [\"eth0\", \"a-very-long-interface\"]\n",
        "\"a-very",
        "invalid interface name",
    );
    assert_error(
        "[server]\nedns_udp_size = 511\n",
        "511",
        "out of range 512..=4096",
    );
    assert_error("[server]\nedns_udp_size = 65536\n", "65536", "out of range");
    let cfg = parse(
        "[server]\nlisten = [\"0.0.0.0:0\", \"[::]:0\"]\ninterfaces = []\nedns_udp_size = 4096\n",
        "t",
    )
    .unwrap();
    assert_eq!(cfg.server.port(), 0);
    assert!(cfg.server.interfaces.is_empty());
}

#[test]
fn zone_errors() {
    let dup = format!("{ZONE}{}", ZONE.replace("example.test", "EXAMPLE.test."));
    let second = ZONE.len() + ZONE.find("\"example").unwrap();
    let err = parse(&dup, "t").unwrap_err();
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert!(err
        .to_string()
        .contains("duplicate zone example.test. (first defined at 3:8)"));
    assert_eq!(
        (err.diagnostics()[0].line, err.diagnostics()[0].column),
        position(&dup, second)
    );

    assert_error(
        "[[zone]]\nname = \"bad..name\"\nns = [\"ns.example.net.\"]\n",
        "\"bad",
        "invalid zone name",
    );
    assert_error(
        "[[zone]]\nname = \"example.test\"\n",
        "\"example",
        "has no name servers",
    );
    assert_error(
        &ZONE.replace(
            "name = \"example.test\"",
            "name = \"example.test\"\nttl = -1",
        ),
        "-1",
        "TTL -1 is out of range",
    );
    assert_error(
        &ZONE.replace(
            "name = \"example.test\"",
            "name = \"example.test\"\nttl = 2147483648",
        ),
        "2147483648",
        "out of range 0..=2147483647",
    );
    assert_error(
        &zone_with("[zone.soa]\nrname = \"hostmaster@example.test\"\n"),
        "\"hostmaster",
        "mailbox",
    );
    assert_error(
        &zone_with("[zone.soa]\nserial = 4294967296\n"),
        "4294967296",
        "SOA serial",
    );
    assert_error(&zone_with("[zone.soa]\nretry = -5\n"), "-5", "SOA retry");
    assert_error(
        &ZONE.replace("ns = [\"ns1\"]", "ns = [\"ns1\", \"ns2\"]"),
        "\"ns2\"",
        "name server ns2.example.test. is inside zone example.test. but has no A or AAAA",
    );
    assert_error(
        &ZONE.replace("ns = [\"ns1\"]", "ns = [\"ns1\", \"NS1\"]"),
        "\"NS1\"",
        "duplicate name server",
    );
}

#[test]
fn record_errors() {
    let rec = |name: &str, rtype: &str, data: &str| {
        zone_with(&format!(
            "[[zone.record]]\nname = \"{name}\"\ntype = \"{rtype}\"\ndata = '{data}'\n"
        ))
    };
    assert_error(
        &rec("x", "A", "192.0.2.300"),
        "'192.0.2.300'",
        "invalid A data",
    );
    assert_error(
        &rec("x", "AAAA", "192.0.2.1"),
        "'192.0.2.1'",
        "invalid AAAA data",
    );
    assert_error(
        &rec("x", "MX", "mail"),
        "'mail'",
        "MX data needs exactly 2 fields",
    );
    assert_error(
        &rec("x", "A", "192.0.2.1 192.0.2.2"),
        "'192.0.2.1 ",
        "exactly 1 field",
    );
    assert_error(
        &rec("x", "BOGUS", "1"),
        "\"BOGUS\"",
        "unsupported record type",
    );
    assert_error(&rec("x", "SOA", "a b 1 2 3 4 5"), "\"SOA\"", "[zone.soa]");
    assert_error(
        &rec("x", "TXT", &format!("\"{}\"", "x".repeat(256))),
        "'\"xxx",
        "cannot be encoded",
    );
    assert_error(
        &rec("www.example.net.", "A", "192.0.2.1"),
        "\"www.example.net.\"",
        "www.example.net. is outside zone example.test.",
    );
    assert_error(&rec("*", "A", "192.0.2.1"), "\"*\"", "wildcard");
    assert_error(
        &rec("x", "CNAME", "bad..name"),
        "'bad",
        "invalid CNAME data",
    );

    // A record in a more specific zone that is configured on its own.
    let text = format!(
        "{}{}",
        rec("a.sub", "A", "192.0.2.1"),
        ZONE.replace("example.test", "sub.example.test")
    );
    assert_error(&text, "\"a.sub\"", "belongs to zone sub.example.test.");

    let ttl = zone_with(
        "[[zone.record]]\nname = \"x\"\ntype = \"A\"\ndata = \"192.0.2.1\"\nttl = 99999999999\n",
    );
    assert_error(&ttl, "99999999999", "TTL 99999999999 is out of range");
}

#[test]
fn zone_consistency_errors() {
    let rec = |name: &str, rtype: &str, data: &str| {
        format!("[[zone.record]]\nname = \"{name}\"\ntype = \"{rtype}\"\ndata = '{data}'\n")
    };
    // CNAME and other data (RFC 1034 §3.6.2), whichever comes first.
    let text = zone_with(&format!(
        "{}{}",
        rec("x", "TXT", "\"t\""),
        rec("X", "CNAME", "ns1")
    ));
    assert_error(
        &text,
        "\"X\"",
        "CNAME at x.example.test. beside other data (TXT at",
    );
    let text = zone_with(&format!(
        "{}{}",
        rec("x", "CNAME", "ns1"),
        rec("x", "TXT", "\"t\"")
    ));
    assert_error(&text, "\"x\"", "beside other data");
    let text = zone_with(&format!(
        "{}{}",
        rec("x", "CNAME", "ns1"),
        rec("x", "CNAME", "ns2")
    ));
    let second = text.rfind("name = \"x\"").unwrap() + "name = ".len();
    let err = parse(&text, "t").unwrap_err();
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert!(err.diagnostics()[0].message.contains("second CNAME"));
    assert_eq!(
        (err.diagnostics()[0].line, err.diagnostics()[0].column),
        position(&text, second)
    );
    assert_error(
        &zone_with(&rec("@", "CNAME", "ns1")),
        "\"@\"",
        "CNAME at the zone apex",
    );

    // Duplicate records and RRset TTLs (RFC 2181 §5).
    let text = zone_with(&rec("ns1", "A", "192.0.2.53"));
    let second = text.rfind("\"ns1\"").unwrap();
    let err = parse(&text, "t").unwrap_err();
    assert!(err.to_string().contains("duplicate A record"), "{err}");
    assert_eq!(
        (err.diagnostics()[0].line, err.diagnostics()[0].column),
        position(&text, second)
    );
    let text = zone_with(
        "[[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"192.0.2.54\"\nttl = 60\n",
    );
    assert_error(&text, "60", "TTL 60 differs from TTL 3600");

    // Delegations: only NS and glue at or below a cut.
    let text = zone_with(&format!(
        "{}{}{}",
        rec("sub", "NS", "ns.sub"),
        rec("ns.sub", "A", "192.0.2.1"),
        rec("www.sub", "TXT", "\"hidden\"")
    ));
    assert_error(
        &text,
        "\"www.sub\"",
        "below the delegation to sub.example.test.",
    );
    let text = zone_with(&rec("sub", "NS", "ns.sub"));
    assert_error(
        &text,
        "\"sub\"",
        "name server ns.sub.example.test. is inside zone",
    );
}

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
fn all_semantic_errors_are_reported_at_once() {
    let text = "[server]\nlisten = [\"nope\"]\nedns_udp_size = 1\n\
                [[gslb]]\nname = \"www.example.net\"\na = [\"1.2.3\"]\n";
    let err = parse(text, "t.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].starts_with("t.toml:2:11: invalid listen address"));
    assert!(lines[1].starts_with("t.toml:3:17: edns_udp_size 1"));
    // In text order, not in the order the checks run.
    assert!(lines[2].starts_with("t.toml:5:8: gslb name www.example.net. is not inside"));
    assert!(lines[3].starts_with("t.toml:6:6: invalid IPv4 address"));
}

#[test]
fn columns_count_characters() {
    let text = "# é\n[server]\nlisten = [\"é\"]\n";
    let err = parse(text, "t").unwrap_err();
    assert_eq!(err.diagnostics()[0].line, 3);
    assert_eq!(err.diagnostics()[0].column, 11);
    assert_eq!(position("aé\nb", 3), (1, 3));
    assert_eq!(position("a", 100), (1, 2));
}

#[test]
fn load_reads_files_and_names_them_in_errors() {
    let dir = std::env::temp_dir().join(format!("gslb-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, DEFAULT_CONFIG).unwrap();
    assert_eq!(load(&good).unwrap(), load_default().unwrap());
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[server]\nedns_udp_size = 1\n").unwrap();
    let err = load(&bad).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:2:17: edns_udp_size 1 is out of range 512..=4096 (RFC 6891 §6.2.5)",
            bad.display()
        )
    );
    let missing = dir.join("missing.toml");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read config", missing.display())));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_config_errors_name_the_embedded_origin() {
    let err = parse("x", DEFAULT_CONFIG_ORIGIN).unwrap_err();
    assert!(err.to_string().starts_with("<embedded default config>:1:"));
}
