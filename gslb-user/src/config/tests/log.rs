//! Tests of `[log]` and of `[server] nsid` / `nsid_hex`.

use super::*;

#[test]
fn query_log_settings() {
    let cfg = parse(
        &format!("[log]\nqueries = \"q.jsonl\"\nformat = \"json\"\nsample = 10\n{ZONE}"),
        "/etc/gslb/gslb.toml",
    )
    .unwrap();
    assert_eq!(
        cfg.log.queries,
        Some(QueryLogTarget::File("/etc/gslb/q.jsonl".into()))
    );
    assert_eq!(cfg.log.format, QueryLogFormat::Json);
    assert_eq!(cfg.log.sample, 10);
    let cfg = parse(&format!("[log]\nqueries = \"stderr\"\n{ZONE}"), "t.toml").unwrap();
    assert_eq!(cfg.log.queries, Some(QueryLogTarget::Stderr));
    assert_eq!(cfg.log.sample, 1);
    // Off by default.
    let cfg = parse(ZONE, "t.toml").unwrap();
    assert_eq!(cfg.log, LogConfig::default());
    assert_eq!(cfg.log.queries, None);
}

#[test]
fn query_log_errors() {
    assert_error(
        &format!("[log]\nqueries = \"\"\n{ZONE}"),
        "\"\"",
        "log.queries is empty",
    );
    assert_error(
        &format!("[log]\nqueries = \"stderr\"\nformat = \"dnstap\"\n{ZONE}"),
        "\"dnstap\"",
        "not supported",
    );
    assert_error(
        &format!("[log]\nqueries = \"stderr\"\nformat = \"yaml\"\n{ZONE}"),
        "\"yaml\"",
        "invalid log.format",
    );
    assert_error(
        &format!("[log]\nqueries = \"stderr\"\nsample = 0\n{ZONE}"),
        "0\n",
        "log.sample 0 is out of range",
    );
}

#[test]
fn nsid_as_text_or_hex() {
    let cfg = parse(&format!("[server]\nnsid = \"ams-1\"\n{ZONE}"), "t.toml").unwrap();
    assert_eq!(cfg.server.nsid.as_deref(), Some(&b"ams-1"[..]));
    let cfg = parse(
        &format!("[server]\nnsid_hex = \"00ff10\"\n{ZONE}"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(cfg.server.nsid.as_deref(), Some(&[0, 0xff, 0x10][..]));
    let cfg = parse(ZONE, "t.toml").unwrap();
    assert_eq!(cfg.server.nsid, None);
}

#[test]
fn nsid_errors() {
    assert_error(
        &format!("[server]\nnsid = \"a\"\nnsid_hex = \"61\"\n{ZONE}"),
        "\"61\"",
        "nsid and nsid_hex are both set",
    );
    assert_error(
        &format!("[server]\nnsid_hex = \"abc\"\n{ZONE}"),
        "\"abc\"",
        "odd number of hex digits",
    );
    assert_error(
        &format!("[server]\nnsid_hex = \"zz\"\n{ZONE}"),
        "\"zz\"",
        "not hex digits",
    );
    assert_error(
        &format!("[server]\nnsid = \"\"\n{ZONE}"),
        "\"\"",
        "the nsid is 0 bytes",
    );
    let long = "x".repeat(129);
    assert_error(
        &format!("[server]\nnsid = \"{long}\"\n{ZONE}"),
        "\"xxx",
        "the nsid is 129 bytes",
    );
}
