use std::net::{Ipv4Addr, SocketAddr};

use hickory_proto::rr::{Name, RecordType};

use super::{diagnostics::position, *};

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

// ---------------------------------------------------------------------------
// GSLB engine tables: [health], [[datacenter]], [[monitor]], [[vserver]],
// [[pool]] and the pool keys of [[gslb]].

use std::{net::IpAddr, time::Duration};

use hickory_proto::op::ResponseCode;

/// A minimal valid engine config (after [`ZONE`]); tests append tables or
/// replace values.
const ENGINE: &str = r#"
[[datacenter]]
name = "ams"
lat = 52.37
lon = 4.9

[[monitor]]
name = "web"
type = "http"

[[vserver]]
name = "s1"
address = "198.18.10.1"
datacenter = "ams"
monitors = ["web"]

[[vserver]]
name = "s2"
address = "2001:db8::1"
datacenter = "ams"

[[pool]]
name = "p1"
members = ["s1", "s2"]

[[gslb]]
name = "www.example.test"
pools = ["p1"]
"#;

/// [`ZONE`], [`ENGINE`] and `extra` (which starts with a table header).
fn engine_with(extra: &str) -> String {
    format!("{ZONE}{ENGINE}{extra}")
}

/// [`ZONE`] and [`ENGINE`] with `from` replaced by `to` (once, and it
/// must be there).
fn engine_replace(from: &str, to: &str) -> String {
    let text = format!("{ZONE}{ENGINE}");
    assert!(text.contains(from), "`{from}` not in the engine config");
    text.replacen(from, to, 1)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn gslb_example_config_is_valid() {
    let cfg = parse(GSLB_EXAMPLE_CONFIG, "examples/gslb.toml")
        .unwrap_or_else(|e| panic!("example config rejected:\n{e}"));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();

    assert_eq!(cfg.health, HealthConfig { initial_up: true });

    assert_eq!(
        cfg.datacenters,
        vec![
            DatacenterConfig {
                name: "ams".into(),
                lat: 52.37,
                lon: 4.90,
                region: Some("eu".into()),
                country: Some("NL".into()),
            },
            DatacenterConfig {
                name: "nyc".into(),
                lat: 40.71,
                lon: -74.01,
                region: Some("us".into()),
                country: Some("US".into()),
            },
            DatacenterConfig {
                name: "sgp".into(),
                lat: 1.35,
                lon: 103.82,
                region: None,
                country: None,
            },
        ]
    );

    let names: Vec<&str> = cfg.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["web", "web-tls", "tcp-api", "resolver", "ping", "script"]
    );
    assert_eq!(
        cfg.monitors[0],
        MonitorConfig {
            name: "web".into(),
            kind: MonitorKind::Http {
                tls: false,
                port: 8080,
                method: "GET".into(),
                path: "/health".into(),
                host: Some("www.example.test".into()),
                expect_status: vec![200, 204],
                expect_body: Some("OK".into()),
            },
            interval: ms(1000),
            timeout: ms(500),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    assert_eq!(
        cfg.monitors[1].kind,
        MonitorKind::Http {
            tls: true,
            port: 443,
            method: "GET".into(),
            path: "/".into(),
            host: None,
            expect_status: vec![200],
            expect_body: None,
        }
    );
    assert_eq!(
        (cfg.monitors[1].interval, cfg.monitors[1].timeout),
        (ms(2000), ms(1000))
    );
    assert_eq!(
        cfg.monitors[2],
        MonitorConfig {
            name: "tcp-api".into(),
            kind: MonitorKind::Tcp { port: 9000 },
            interval: ms(500),
            timeout: ms(200),
            rise: 1,
            fall: 2,
            jitter_permille: 0,
        }
    );
    assert_eq!(
        cfg.monitors[3].kind,
        MonitorKind::Dns {
            port: 53,
            query: Name::from_ascii("health.example.test.").unwrap(),
            query_type: RecordType::TXT,
            expect_rcode: ResponseCode::NoError,
            expect_answer: Some("ok".into()),
        }
    );
    assert_eq!(
        (cfg.monitors[3].interval, cfg.monitors[3].timeout),
        (ms(10_000), ms(3000))
    );
    assert_eq!(
        cfg.monitors[4],
        MonitorConfig {
            name: "ping".into(),
            kind: MonitorKind::Icmp,
            interval: ms(5000),
            timeout: ms(2000),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    assert_eq!(
        cfg.monitors[5].kind,
        MonitorKind::External {
            command: vec![
                "/usr/lib/gslb/check".into(),
                "{address}".into(),
                "{port}".into()
            ],
        }
    );
    assert_eq!(
        (cfg.monitors[5].interval, cfg.monitors[5].timeout),
        (ms(60_000), ms(10_000))
    );

    let names: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ams-web1", "ams-web2", "ams-web6", "nyc-web1", "nyc-web2", "nyc-api", "sgp-api",
            "backup"
        ]
    );
    assert_eq!(
        cfg.servers[0],
        VirtualServerConfig {
            name: "ams-web1".into(),
            address: ip("198.18.10.1"),
            datacenter: "ams".into(),
            ratio: 3,
            max_sessions: Some(1000),
            max_connections: Some(5000),
            monitors: vec!["web".into(), "ping".into()],
            check_address: Some(ip("198.18.10.101")),
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::Static {
                sessions: 10,
                connections: 20,
            },
        }
    );
    assert_eq!(
        cfg.servers[1].metrics,
        MetricsSource::Url {
            url: "http://198.18.10.2:9100/metrics".into(),
            labels: Default::default(),
        }
    );
    assert_eq!(cfg.servers[1].ratio, 1);
    assert_eq!(cfg.servers[2].address, ip("2001:db8:10::1"));
    assert_eq!(cfg.servers[2].admin, AdminState::Draining);
    assert!(!cfg.servers[3].initial_up);
    assert_eq!(cfg.servers[4].admin, AdminState::Disabled);
    assert_eq!(
        cfg.servers[5].metrics,
        MetricsSource::Static {
            sessions: 120,
            connections: 0,
        }
    );
    assert_eq!(
        cfg.servers[6].metrics,
        MetricsSource::Url {
            url: "http://[2001:db8:30::9]:9100/metrics".into(),
            labels: [("instance".to_string(), "sgp-api".to_string())].into(),
        }
    );
    assert_eq!(
        cfg.metrics,
        MetricsConfig {
            interval: ms(5000),
            timeout: ms(2000),
            max_age: ms(15_000),
            sessions: "sessions".into(),
            connections: "connections".into(),
        }
    );
    assert_eq!(cfg.engine, EngineConfig::default());
    assert_eq!(
        cfg.servers[7],
        VirtualServerConfig {
            name: "backup".into(),
            address: ip("198.18.99.10"),
            datacenter: "sgp".into(),
            ratio: 1,
            max_sessions: None,
            max_connections: None,
            monitors: vec![],
            check_address: None,
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::None,
        }
    );

    assert_eq!(cfg.pools.len(), 6);
    assert_eq!(
        cfg.pools[0],
        PoolConfig {
            name: "web-eu".into(),
            members: vec!["ams-web1".into(), "ams-web2".into(), "ams-web6".into()],
            methods: [
                Method::Ratio,
                Method::GlobalAvailability,
                Method::FallbackIp
            ],
            ttl: Some(20),
            max_answers: 2,
            fallback_ip: vec![ip("198.18.99.1"), ip("2001:db8:99::1")],
            when_all_down: AllDown::FailOpen,
            persist_prefix_v4: 32,
            persist_prefix_v6: 64,
        }
    );
    assert_eq!(
        cfg.pools[1],
        PoolConfig {
            name: "web-us".into(),
            members: vec!["nyc-web1".into(), "nyc-web2".into()],
            methods: [Method::StaticPersist, Method::RoundRobin, Method::None],
            ttl: None,
            max_answers: 1,
            fallback_ip: vec![],
            when_all_down: AllDown::ReturnToDns,
            persist_prefix_v4: 24,
            persist_prefix_v6: 56,
        }
    );
    let chains: Vec<([Method; 3], AllDown)> = cfg
        .pools
        .iter()
        .map(|p| (p.methods, p.when_all_down))
        .collect();
    assert_eq!(
        chains[2..],
        [
            (
                [Method::GlobalAvailability, Method::None, Method::None],
                AllDown::FallbackIp
            ),
            (
                [
                    Method::LeastSessions,
                    Method::LowestLatency,
                    Method::DropPacket
                ],
                AllDown::Servfail
            ),
            (
                [
                    Method::WeightedRandom,
                    Method::FewestSelected,
                    Method::ReturnToDns
                ],
                AllDown::Nodata
            ),
            (
                [
                    Method::MostCapacity,
                    Method::LeastConnections,
                    Method::Random
                ],
                AllDown::Drop
            ),
        ]
    );
    assert_eq!(cfg.pools[2].fallback_ip, vec![ip("198.18.99.2")]);

    let www = &cfg.gslb[0];
    assert_eq!(www.name.to_string(), "www.example.test.");
    assert_eq!(www.pools, ["web-eu", "web-us"]);
    assert_eq!(www.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(www.last_resort_pool.as_deref(), Some("web-backup"));
    assert!(www.a.is_empty() && www.aaaa.is_empty());
    assert_eq!(cfg.gslb[1].pools, ["api", "api-spread", "api-capacity"]);
    assert_eq!(cfg.gslb[1].pool_method, PoolMethod::Ratio(vec![3, 2, 1]));
    assert_eq!(cfg.gslb[1].ttl, 10);
    assert_eq!(cfg.gslb[1].last_resort_pool, None);
    assert_eq!(cfg.gslb[2].pool_method, PoolMethod::RoundRobin);
    assert_eq!(cfg.gslb[3].pool_method, PoolMethod::Topology);
    let stat = &cfg.gslb[4];
    assert!(stat.pools.is_empty());
    assert_eq!(stat.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(stat.a.len(), 2);
    assert_eq!(stat.aaaa.len(), 1);

    // Every method, all-down behaviour and monitor type is exercised.
    for (m, name) in Method::ALL {
        let used = cfg.pools.iter().any(|p| p.methods.contains(m));
        assert!(used || *m == Method::None, "{name} not in the example");
    }
    for (w, name) in AllDown::ALL {
        assert!(
            cfg.pools.iter().any(|p| p.when_all_down == *w),
            "{name} not in the example"
        );
    }
    for ty in ["tcp", "http", "https", "dns", "icmp", "external"] {
        assert!(
            cfg.monitors.iter().any(|m| m.kind.type_name() == ty),
            "{ty} not in the example"
        );
    }
}

#[test]
fn engine_defaults() {
    let cfg = parse(&engine_with(""), "t").unwrap();
    assert_eq!(cfg.health, HealthConfig::default());
    assert!(cfg.health.initial_up);
    assert_eq!(cfg.metrics, MetricsConfig::default());
    assert_eq!(cfg.metrics.max_age, ms(15_000));
    assert_eq!(
        cfg.monitors[0],
        MonitorConfig {
            name: "web".into(),
            kind: MonitorKind::Http {
                tls: false,
                port: 80,
                method: "GET".into(),
                path: "/".into(),
                host: None,
                expect_status: vec![200],
                expect_body: None,
            },
            interval: ms(5000),
            timeout: ms(2000),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    let s = &cfg.servers[1];
    assert_eq!(s.ratio, 1);
    assert_eq!(s.admin, AdminState::Enabled);
    assert!(s.initial_up);
    assert!(s.monitors.is_empty());
    assert_eq!(s.metrics, MetricsSource::None);
    assert_eq!(
        cfg.pools[0],
        PoolConfig {
            name: "p1".into(),
            members: vec!["s1".into(), "s2".into()],
            methods: [Method::RoundRobin, Method::None, Method::None],
            ttl: None,
            max_answers: 1,
            fallback_ip: vec![],
            when_all_down: AllDown::FailOpen,
            persist_prefix_v4: 32,
            persist_prefix_v6: 64,
        }
    );
    let g = &cfg.gslb[0];
    assert_eq!(g.pools, ["p1"]);
    assert_eq!(g.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(g.last_resort_pool, None);
    assert_eq!(g.ttl, DEFAULT_GSLB_TTL);

    // Other per-type defaults.
    let monitor = |ty: &str, extra: &str| {
        let text = engine_with(&format!(
            "[[monitor]]\nname = \"m\"\ntype = \"{ty}\"\n{extra}"
        ));
        let cfg = parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
        cfg.monitors[1].clone()
    };
    assert_eq!(monitor("tcp", "").kind, MonitorKind::Tcp { port: 80 });
    assert_eq!(
        monitor("dns", "query = \"example.test\"\n").kind,
        MonitorKind::Dns {
            port: 53,
            query: Name::from_ascii("example.test.").unwrap(),
            query_type: RecordType::A,
            expect_rcode: ResponseCode::NoError,
            expect_answer: None,
        }
    );
    let https = monitor("https", "");
    assert!(matches!(
        https.kind,
        MonitorKind::Http {
            tls: true,
            port: 443,
            ..
        }
    ));
    // The default timeout never reaches a short interval.
    let short = monitor("icmp", "interval = \"1s\"\n");
    assert_eq!((short.interval, short.timeout), (ms(1000), ms(500)));
    let short = monitor("icmp", "interval = \"10ms\"\n");
    assert_eq!((short.interval, short.timeout), (ms(10), ms(5)));
    let long = monitor("icmp", "interval = 4\n");
    assert_eq!((long.interval, long.timeout), (ms(4000), ms(2000)));
    let fine = monitor(
        "icmp",
        "jitter = 0.5\ntimeout = \"9.999s\"\ninterval = 10\n",
    );
    assert_eq!(fine.jitter_permille, 500);
    assert_eq!(fine.timeout, ms(9999));

    // [health] initial applies to servers without their own.
    let text = engine_with("[health]\ninitial = \"down\"\n").replace(
        "monitors = [\"web\"]",
        "monitors = [\"web\"]\ninitial = \"up\"",
    );
    let cfg = parse(&text, "t").unwrap();
    assert!(!cfg.health.initial_up);
    assert!(cfg.servers[0].initial_up);
    assert!(!cfg.servers[1].initial_up);

    // Pool ratios default to 1 each; a ratio pool method with explicit ratios.
    let text = engine_with(
        "[[pool]]\nname = \"p2\"\nmembers = [\"s1\"]\n\
         [[gslb]]\nname = \"a.example.test\"\npools = [\"p1\", \"p2\"]\npool_method = \"ratio\"\n",
    );
    let cfg = parse(&text, "t").unwrap();
    assert_eq!(cfg.gslb[1].pool_method, PoolMethod::Ratio(vec![1, 1]));

    // Without engine tables, everything is empty.
    let cfg = parse(ZONE, "t").unwrap();
    assert!(cfg.datacenters.is_empty() && cfg.monitors.is_empty());
    assert!(cfg.servers.is_empty() && cfg.pools.is_empty());
    assert_eq!(cfg.health, HealthConfig::default());
}

#[test]
fn method_names_round_trip() {
    for (m, name) in Method::ALL {
        assert_eq!(m.name(), *name);
        assert_eq!(Method::from_name(name), Some(*m));
        assert_eq!(m.to_string(), *name);
    }
    assert_eq!(Method::ALL.len(), 15);
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
fn vserver_is_not_server() {
    // `[server]` is the listener table; virtual servers are `[[vserver]]`.
    let err = parse("[[server]]\nname = \"x\"\n", "t").unwrap_err();
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert_error(
        &engine_with("[[vserver]]\nname = \"s3\"\naddress = \"198.18.10.3\"\ndatacenter = \"ams\"\nport = 80\n"),
        "port",
        "unknown field `port`",
    );
    assert_error(
        &engine_with("[[vserver]]\nname = \"s3\"\naddress = \"198.18.10.3\"\n"),
        "[[vserver]]\nname = \"s3\"",
        "missing field `datacenter`",
    );
}

#[test]
fn health_errors() {
    assert_error(
        &engine_with("[health]\ninitial = \"maybe\"\n"),
        "\"maybe\"",
        "invalid initial state `maybe`",
    );
    assert_error(
        &engine_with("[health]\ninterval = 5\n"),
        "interval",
        "unknown field `interval`",
    );
}

#[test]
fn datacenter_errors() {
    let dc = |body: &str| engine_with(&format!("[[datacenter]]\nname = \"nyc\"\n{body}"));
    assert_error_last(
        &dc("lat = 91\nlon = 0\n"),
        "91",
        "latitude 91 is out of range -90..=90",
    );
    assert_error_last(
        &dc("lat = -90\nlon = -180.5\n"),
        "-180.5",
        "longitude -180.5",
    );
    assert_error_last(
        &dc("lat = 0\nlon = 0\ncountry = \"NLD\"\n"),
        "\"NLD\"",
        "ISO 3166",
    );
    assert_error_last(
        &dc("lat = 0\nlon = 0\nregion = \"\"\n"),
        "\"\"",
        "invalid region",
    );
    assert_error_last(&dc("lat = 0\n"), "[[datacenter]]", "missing field `lon`");
    assert_error_last(
        &dc("lat = \"north\"\nlon = 0\n"),
        "\"north\"",
        "invalid type",
    );
    assert!(parse(&dc("lat = 0\nlon = 0\ncountry = \"us\"\n"), "t").is_ok());
    assert_error_last(
        &engine_with("[[datacenter]]\nname = \"ams\"\nlat = 0\nlon = 0\n"),
        "\"ams\"",
        "duplicate [[datacenter]] name `ams` (first defined at 11:8)",
    );
    assert_error_last(
        &engine_with("[[datacenter]]\nname = \"new york\"\nlat = 0\nlon = 0\n"),
        "\"new york\"",
        "invalid [[datacenter]] name `new york`",
    );
    assert_error_last(
        &engine_with(&format!(
            "[[datacenter]]\nname = \"{}\"\nlat = 0\nlon = 0\n",
            "x".repeat(65)
        )),
        "\"xxx",
        "1 to 64 letters",
    );
}

#[test]
fn monitor_errors() {
    let mon = |ty: &str, body: &str| {
        engine_with(&format!(
            "[[monitor]]\nname = \"m\"\ntype = \"{ty}\"\n{body}"
        ))
    };
    assert_error_last(
        &mon("udp", ""),
        "\"udp\"",
        "unknown monitor type `udp` (one of: tcp,",
    );
    assert_error_last(
        &mon("tcp", "interval = \"5ms\"\n"),
        "\"5ms\"",
        "shorter than the minimum 10ms",
    );
    assert_error_last(
        &mon("tcp", "interval = \"5\"\n"),
        "\"5\"",
        "interval: duration `5` has no unit",
    );
    assert_error_last(
        &mon("tcp", "interval = \"1x\"\n"),
        "\"1x\"",
        "unknown unit `x`",
    );
    assert_error_last(
        &mon("tcp", "interval = -1\n"),
        "-1",
        "interval -1 is negative",
    );
    assert_error_last(&mon("tcp", "interval = 1.5\n"), "1.5", "a duration such as");
    assert_error_last(
        &mon("tcp", "interval = \"1s\"\ntimeout = \"1s\"\n"),
        "\"1s\"",
        "timeout 1s is not shorter than the interval 1s",
    );
    assert_error_last(
        &mon("tcp", "timeout = \"6s\"\n"),
        "\"6s\"",
        "not shorter than the interval 5s (default)",
    );
    assert_error_last(
        &mon("tcp", "timeout = \"0ms\"\n"),
        "\"0ms\"",
        "timeout must not be zero",
    );
    assert_error_last(&mon("tcp", "rise = 0\n"), "0", "rise 0 is out of range");
    assert_error_last(&mon("tcp", "fall = -3\n"), "-3", "fall -3 is out of range");
    assert_error_last(
        &mon("tcp", "jitter = 0.6\n"),
        "0.6",
        "jitter 0.6 is out of range 0..=0.5",
    );
    assert_error_last(&mon("tcp", "jitter = -0.1\n"), "-0.1", "jitter");
    assert_error_last(
        &mon("tcp", "port = 0\n"),
        "0",
        "port 0 is out of range 1..=65535",
    );
    assert_error_last(
        &mon("dns", "query = \"x.test\"\nport = 65536\n"),
        "65536",
        "port 65536",
    );
    assert_error_last(
        &mon("http", "method = \"GE T\"\n"),
        "\"GE T\"",
        "invalid HTTP method",
    );
    assert_error_last(
        &mon("http", "method = \"\"\n"),
        "\"\"",
        "invalid HTTP method",
    );
    assert_error_last(
        &mon("https", "path = \"health\"\n"),
        "\"health\"",
        "must start with '/'",
    );
    assert_error_last(&mon("http", "path = \"/a b\"\n"), "\"/a b\"", "whitespace");
    assert_error_last(&mon("http", "host = \"a b\"\n"), "\"a b\"", "invalid host");
    assert_error_last(
        &mon("http", "expect_status = [200, 99]\n"),
        "99",
        "status 99 is out of range 100..=599",
    );
    assert_error_last(&mon("http", "expect_status = [600]\n"), "600", "status 600");
    assert_error_last(
        &mon("http", "expect_status = []\n"),
        "[]",
        "`expect_status` is empty",
    );
    assert_error_last(
        &mon("http", "expect_status = [200, 200]\n"),
        "200",
        "duplicate status 200",
    );
    assert_error_last(&mon("dns", ""), "\"dns\"", "a dns monitor needs `query`");
    assert_error_last(
        &mon("dns", "query = \"a..b\"\n"),
        "\"a..b\"",
        "invalid query name",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nquery_type = \"BOGUS\"\n"),
        "\"BOGUS\"",
        "invalid query type `BOGUS`",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nquery_type = \"AXFR\"\n"),
        "\"AXFR\"",
        "invalid query type",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nexpect_rcode = \"OOPS\"\n"),
        "\"OOPS\"",
        "unknown response code `OOPS` (one of: NOERROR,",
    );
    let ok = parse(
        &mon(
            "dns",
            "query = \"a.test\"\nquery_type = \"aaaa\"\nexpect_rcode = \"nxdomain\"\n",
        ),
        "t",
    )
    .unwrap();
    assert!(matches!(
        &ok.monitors[1].kind,
        MonitorKind::Dns {
            query_type: RecordType::AAAA,
            expect_rcode: ResponseCode::NXDomain,
            ..
        }
    ));
    assert_error_last(
        &mon("external", ""),
        "\"external\"",
        "an external monitor needs `command`",
    );
    assert_error_last(
        &mon("external", "command = []\n"),
        "[]",
        "`command` is empty",
    );
    assert_error_last(
        &mon("external", "command = [\" \", \"x\"]\n"),
        "\" \"",
        "program of `command` is empty",
    );

    // Keys of another monitor type.
    assert_error_last(
        &mon("tcp", "path = \"/\"\n"),
        "\"/\"",
        "`path` does not apply to a tcp monitor (only to http, https)",
    );
    assert_error_last(
        &mon("icmp", "port = 7\n"),
        "7",
        "`port` does not apply to a icmp monitor",
    );
    assert_error_last(
        &mon("http", "command = [\"x\"]\n"),
        "[\"x\"]",
        "`command` does not apply to a http monitor",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nexpect_body = \"x\"\n"),
        "\"x\"",
        "`expect_body` does not apply",
    );
    assert_error_last(
        &mon("external", "command = [\"x\"]\nquery = \"a.test\"\n"),
        "\"a.test\"",
        "`query` does not apply",
    );
    assert_error_last(
        &mon("tcp", "timeout_ms = 5\n"),
        "timeout_ms",
        "unknown field `timeout_ms`",
    );

    assert_error_last(
        &engine_with("[[monitor]]\nname = \"web\"\ntype = \"tcp\"\n"),
        "\"web\"",
        "duplicate [[monitor]] name `web`",
    );
}

#[test]
fn vserver_errors() {
    let server = |body: &str| {
        engine_with(&format!(
            "[[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\n{body}"
        ))
    };
    let at = |body: &str, at: &str, contains: &str| {
        assert_error_last(&server(body), at, contains);
    };
    at(
        "address = \"198.18.10.x\"\n",
        "\"198.18.10.x\"",
        "invalid address `198.18.10.x`",
    );
    at(
        "address = \"0.0.0.0\"\n",
        "\"0.0.0.0\"",
        "cannot be a server address",
    );
    at("address = \"::\"\n", "\"::\"", "cannot be a server address");
    at(
        "address = \"224.0.0.1\"\n",
        "\"224.0.0.1\"",
        "cannot be a server address",
    );
    at(
        "address = \"255.255.255.255\"\n",
        "\"255.255.255.255\"",
        "cannot be a server address",
    );
    at(
        "address = \"ff02::1\"\n",
        "\"ff02::1\"",
        "cannot be a server address",
    );
    at(
        "address = \"198.18.10.3\"\ncheck_address = \"ff02::1\"\n",
        "\"ff02::1\"",
        "cannot be a server address",
    );
    at(
        "address = \"198.18.10.3\"\ncheck_address = \"x\"\n",
        "\"x\"",
        "invalid check_address",
    );
    at(
        "address = \"198.18.10.3\"\nratio = 0\n",
        "0",
        "ratio 0 is out of range 1..=65535",
    );
    at(
        "address = \"198.18.10.3\"\nratio = 65536\n",
        "65536",
        "ratio 65536",
    );
    at(
        "address = \"198.18.10.3\"\nmax_sessions = -1\n",
        "-1",
        "max_sessions -1 is out of range",
    );
    at(
        "address = \"198.18.10.3\"\nmax_connections = -1\n",
        "-1",
        "max_connections -1",
    );
    at(
        "address = \"198.18.10.3\"\nmonitors = [\"web\", \"nope\"]\n",
        "\"nope\"",
        "`monitors`: unknown monitor `nope`",
    );
    at(
        "address = \"198.18.10.3\"\nmonitors = [\"web\", \"web\"]\n",
        "\"web\"]",
        "monitor `web` is listed twice",
    );
    at(
        "address = \"198.18.10.3\"\nstate = \"up\"\n",
        "\"up\"",
        "unknown state `up` (one of: enabled, disabled, draining)",
    );
    at(
        "address = \"198.18.10.3\"\ninitial = \"sideways\"\n",
        "\"sideways\"",
        "invalid initial state",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { sessions = 1 }\nmetrics_url = \"http://h/\"\n",
        "\"http://h/\"",
        "`metrics` and `metrics_url` are exclusive",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { sessions = -1 }\n",
        "-1",
        "metrics.sessions -1",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { load = 1 }\n",
        "load",
        "unknown field `load`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"https://h/m\"\n",
        "\"https",
        "https is not supported",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"ftp://h/m\"\n",
        "\"ftp",
        "must start with http://",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http:///m\"\n",
        "\"http",
        "no host",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h:0/m\"\n",
        "\"http",
        "invalid port `0`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h:x\"\n",
        "\"http",
        "invalid port `x`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://[::1/m\"\n",
        "\"http",
        "invalid IPv6 host",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://u@h/\"\n",
        "\"http",
        "credentials",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h/a b\"\n",
        "\"http",
        "whitespace",
    );
    for good in [
        "http://h",
        "http://h:9100",
        "http://[::1]:9100/metrics",
        "http://10.0.0.1/m?x=1",
    ] {
        let text = server(&format!(
            "address = \"198.18.10.3\"\nmetrics_url = \"{good}\"\n"
        ));
        assert!(parse(&text, "t").is_ok(), "{good} rejected");
    }

    assert_error(
        &engine_replace(
            "datacenter = \"ams\"\nmonitors",
            "datacenter = \"fra\"\nmonitors",
        ),
        "\"fra\"",
        "`datacenter`: unknown datacenter `fra` (no [[datacenter]] has that name)",
    );
    assert_error_last(
        &engine_with(
            "[[vserver]]\nname = \"s1\"\naddress = \"198.18.10.3\"\ndatacenter = \"ams\"\n",
        ),
        "\"s1\"",
        "duplicate [[vserver]] name `s1`",
    );
    // A reference to an entry with an invalid value is not a second error.
    assert_error(
        &engine_replace("lat = 52.37", "lat = 520"),
        "520",
        "latitude 520",
    );
    assert_error(
        &engine_replace("type = \"http\"", "type = \"htp\""),
        "\"htp\"",
        "unknown monitor type",
    );
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

#[test]
fn engine_errors_are_all_reported_in_text_order() {
    let text = engine_replace("lat = 52.37", "lat = 100")
        .replacen("type = \"http\"", "type = \"http\"\npath = \"x\"", 1)
        .replacen(
            "members = [\"s1\", \"s2\"]",
            "members = [\"s1\", \"s3\"]",
            1,
        )
        .replacen("pools = [\"p1\"]", "pools = [\"p0\"]", 1);
    let err = parse(&text, "t.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].contains("latitude 100"), "{err}");
    assert!(lines[1].contains("invalid path `x`"), "{err}");
    assert!(lines[2].contains("unknown vserver `s3`"), "{err}");
    assert!(lines[3].contains("unknown pool `p0`"), "{err}");
    let positions: Vec<(usize, usize)> = err
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.column))
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
}

#[test]
fn metrics_polling_and_labels() {
    let cfg = parse(
        &engine_with(
            "[metrics]\ninterval = \"200ms\"\nmax_age = \"1s\"\nsessions = \"app_sessions\"\n\
             [[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\naddress = \"198.18.10.3\"\n\
             metrics_url = \"http://198.18.10.3:9100/metrics\"\n\
             metrics_labels = { instance = \"web1\", job = \"app\" }\n",
        ),
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.metrics,
        MetricsConfig {
            interval: ms(200),
            timeout: ms(100),
            max_age: ms(1000),
            sessions: "app_sessions".into(),
            connections: "connections".into(),
        }
    );
    assert_eq!(
        cfg.servers.last().unwrap().metrics,
        MetricsSource::Url {
            url: "http://198.18.10.3:9100/metrics".into(),
            labels: [
                ("instance".to_string(), "web1".to_string()),
                ("job".to_string(), "app".to_string())
            ]
            .into(),
        }
    );
    // max_age defaults to 3 intervals.
    let cfg = parse(&engine_with("[metrics]\ninterval = \"2s\"\n"), "t").unwrap();
    assert_eq!(
        (cfg.metrics.timeout, cfg.metrics.max_age),
        (ms(1000), ms(6000))
    );

    let table = |body: &str, at: &str, contains: &str| {
        assert_error_last(&engine_with(&format!("[metrics]\n{body}")), at, contains);
    };
    table(
        "interval = \"1ms\"\n",
        "\"1ms\"",
        "shorter than the minimum",
    );
    table(
        "interval = \"1s\"\ntimeout = \"1s\"\n",
        "\"1s\"",
        "metrics.timeout 1s is not shorter than metrics.interval 1s",
    );
    table(
        "interval = \"1s\"\nmax_age = \"500ms\"\n",
        "\"500ms\"",
        "metrics.max_age 500ms is shorter than metrics.interval 1s",
    );
    table(
        "sessions = \"my-sessions\"\n",
        "\"my-sessions\"",
        "invalid metrics.sessions `my-sessions`",
    );
    table("poll = 1\n", "poll", "unknown field `poll`");

    let server = |body: &str, at: &str, contains: &str| {
        assert_error_last(
            &engine_with(&format!(
                "[[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\naddress = \"198.18.10.3\"\n{body}"
            )),
            at,
            contains,
        );
    };
    server(
        "metrics_labels = { instance = \"web1\" }\n",
        "{ instance",
        "`metrics_labels` needs a `metrics_url`",
    );
    server(
        "metrics_url = \"http://h/\"\nmetrics_labels = { \"a-b\" = \"x\" }\n",
        "{ \"a-b\"",
        "invalid label name `a-b`",
    );
    server(
        "metrics_url = \"http://h/\"\nmetrics_labels = { a = \"x,y\" }\n",
        "\"x,y\"",
        "cannot be matched",
    );
}

#[test]
fn engine_fewest_selected_window() {
    let cfg = parse(&engine_with(""), "t.toml").expect("valid");
    assert_eq!(
        cfg.engine.fewest_selected_window,
        DEFAULT_FEWEST_SELECTED_WINDOW
    );
    for (text, want) in [
        ("\"5s\"", ms(5000)),
        ("\"10m\"", ms(600_000)),
        ("30", ms(30_000)),
    ] {
        let cfg = parse(
            &engine_with(&format!("[engine]\nfewest_selected_window = {text}\n")),
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{text} rejected:\n{e}"));
        assert_eq!(cfg.engine.fewest_selected_window, want, "{text}");
    }
    for (text, contains) in [
        ("\"500ms\"", "out of range"),
        ("\"11m\"", "out of range"),
        ("\"5\"", "no unit"),
    ] {
        assert_error_last(
            &engine_with(&format!("[engine]\nfewest_selected_window = {text}\n")),
            text,
            contains,
        );
    }
    assert_error_last(
        &engine_with("[engine]\nwindow = \"5s\"\n"),
        "window",
        "unknown field `window`",
    );
}

#[test]
fn more_vservers_than_the_hit_counters_hold_are_rejected() {
    let servers = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[vserver]]\nname = \"v{i}\"\ndatacenter = \"ams\"\naddress = \"198.18.{}.{}\"\n",
                    i / 250,
                    i % 250 + 1
                )
            })
            .collect()
    };
    let ok = engine_with(&servers(MAX_VSERVERS - 2));
    if let Err(e) = parse(&ok, "t.toml") {
        assert!(
            !e.to_string().contains("too many vservers"),
            "{MAX_VSERVERS} vservers rejected:\n{e}"
        );
    }
    let text = engine_with(&servers(MAX_VSERVERS + 2));
    let err = parse(&text, "t.toml").expect_err("too many vservers");
    let offset = text
        .find(&format!("name = \"v{}\"", MAX_VSERVERS - 2))
        .expect("the first vserver past the limit")
        + "name = ".len();
    let (line, column) = position(&text, offset);
    let want = format!("t.toml:{line}:{column}: too many vservers");
    assert!(
        err.to_string().lines().any(|l| l.starts_with(&want)),
        "want `{want}`, got:\n{err}"
    );
}
