//! Config tests, one module per table (`tests/pool.rs` tests
//! `tables/pool.rs`), `document` for the whole document and `read` for
//! reading errors and warnings; here the configs and assertions they share.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use hickory_proto::{
    op::ResponseCode,
    rr::{Name, RecordType},
};

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

mod api;
mod datacenter;
mod document;
mod engine;
mod gslb;
mod health;
mod log;
mod metrics;
mod monitor;
mod pool;
mod read;
mod server;
mod topology;
mod vserver;
mod zone;
mod zonefile;
