//! Tests of `[[zone]]` and `[[zone.record]]`, and the whole-zone checks.

use super::*;

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
    // `*` is a wildcard owner (RFC 4592) only as the leftmost label.
    assert_error(&rec("a.*", "A", "192.0.2.1"), "\"a.*\"", "leftmost label");
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
