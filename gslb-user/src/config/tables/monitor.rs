//! `[[monitor]]`: health probes of the virtual servers.
//!
//! ```toml
//! [[monitor]]
//! name = "web"
//! type = "http"                # tcp | http | https | dns | icmp | external
//! interval = "1s"              # durations: "250ms", "2s", "1.5s", "1m", "1h",
//!                              # or an integer number of seconds; >= 10ms (default 5s)
//! timeout = "500ms"            # < interval (default 2s, or half the interval
//!                              # when the interval is 2s or less)
//! rise = 2                     # successes to come back up, >= 1 (default 2)
//! fall = 3                     # failures to go down, >= 1 (default 3)
//! jitter = 0.1                 # fraction of the interval, 0..=0.5 (default 0.1)
//! port = 80                    # tcp/http/https/dns: 1..=65535 (default 80 for tcp
//!                              # and http, 443 for https, 53 for dns)
//! method = "GET"               # http/https: an HTTP token (default GET)
//! path = "/health"             # http/https: starts with "/" (default "/")
//! host = "www.example.test"    # http/https Host header (optional)
//! expect_status = [200]        # http/https: 100..=599 (default [200])
//! expect_body = "OK"           # http/https substring (optional)
//! query = "health.example.test"  # dns: required, absolute
//! query_type = "A"             # dns (default A)
//! expect_rcode = "NOERROR"     # dns: NOERROR, SERVFAIL, NXDOMAIN, ... (default NOERROR)
//! expect_answer = "198.18.0.1" # dns: an answer's data contains it (optional)
//! command = ["/usr/lib/gslb/check", "{address}", "{port}"]  # external: required
//! # A key that does not apply to the monitor's type is an error.
//! ```

use std::{ops::Range, str::FromStr, time::Duration};

use hickory_proto::{
    op::ResponseCode,
    rr::{Name, RecordType},
};
use serde::Deserialize;
use toml::Spanned;

use crate::config::{
    checks::{absolute_name, Declared, Validator},
    raw::{Dur, Float, Int, IntList, Str, StrList},
};

/// Default `monitor.interval`.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(5);

/// Default `monitor.timeout` (when the interval is longer than twice it;
/// otherwise half the interval).
pub const DEFAULT_MONITOR_TIMEOUT: Duration = Duration::from_secs(2);

/// Shortest `monitor.interval`.
pub const MIN_MONITOR_INTERVAL: Duration = Duration::from_millis(10);

/// Default `monitor.rise`.
pub const DEFAULT_RISE: u32 = 2;

/// Default `monitor.fall`.
pub const DEFAULT_FALL: u32 = 3;

/// Default `monitor.jitter`, in per-mille of the interval.
pub const DEFAULT_JITTER_PERMILLE: u32 = 100;

/// What a monitor checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorKind {
    /// TCP connect to `port`.
    Tcp {
        /// Port.
        port: u16,
    },
    /// HTTP or HTTPS request (seed 000 claim 32: application health).
    Http {
        /// HTTPS (certificates are not verified: backends are addressed by
        /// IP).
        tls: bool,
        /// Port.
        port: u16,
        /// Request method.
        method: String,
        /// Request path (starts with `/`).
        path: String,
        /// Host header; default the probed address.
        host: Option<String>,
        /// Acceptable status codes.
        expect_status: Vec<u16>,
        /// Substring the body must contain.
        expect_body: Option<String>,
    },
    /// DNS query over UDP.
    Dns {
        /// Port.
        port: u16,
        /// Query name (absolute).
        query: Name,
        /// Query type.
        query_type: RecordType,
        /// Expected response code.
        expect_rcode: ResponseCode,
        /// Substring one answer's data must contain.
        expect_answer: Option<String>,
    },
    /// ICMP / ICMPv6 echo.
    Icmp,
    /// External command; exit status 0 is up. `{address}` and `{port}` in
    /// arguments are replaced by the check address and the server's port
    /// (0 when none).
    External {
        /// Program and arguments.
        command: Vec<String>,
    },
}

impl MonitorKind {
    /// The config spelling of the type (`http` or `https` for HTTP).
    pub fn type_name(&self) -> &'static str {
        match self {
            MonitorKind::Tcp { .. } => "tcp",
            MonitorKind::Http { tls: false, .. } => "http",
            MonitorKind::Http { tls: true, .. } => "https",
            MonitorKind::Dns { .. } => "dns",
            MonitorKind::Icmp => "icmp",
            MonitorKind::External { .. } => "external",
        }
    }
}

/// One `[[monitor]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Unique name.
    pub name: String,
    /// What it checks.
    pub kind: MonitorKind,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take (less than `interval`).
    pub timeout: Duration,
    /// Consecutive successes for a down server to come up.
    pub rise: u32,
    /// Consecutive failures for an up server to go down.
    pub fall: u32,
    /// Random spread of each interval, as a fraction of it, in 0..=0.5
    /// (probes of many servers don't align), stored in per-mille.
    pub jitter_permille: u32,
}

/// One `[[monitor]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawMonitor {
    pub(in crate::config) name: Str,
    #[serde(rename = "type")]
    pub(in crate::config) kind: Str,
    pub(in crate::config) interval: Option<Dur>,
    pub(in crate::config) timeout: Option<Dur>,
    pub(in crate::config) rise: Option<Int>,
    pub(in crate::config) fall: Option<Int>,
    pub(in crate::config) jitter: Option<Float>,
    pub(in crate::config) port: Option<Int>,
    pub(in crate::config) method: Option<Str>,
    pub(in crate::config) path: Option<Str>,
    pub(in crate::config) host: Option<Str>,
    pub(in crate::config) expect_status: Option<IntList>,
    pub(in crate::config) expect_body: Option<Str>,
    pub(in crate::config) query: Option<Str>,
    pub(in crate::config) query_type: Option<Str>,
    pub(in crate::config) expect_rcode: Option<Str>,
    pub(in crate::config) expect_answer: Option<Str>,
    pub(in crate::config) command: Option<StrList>,
}

/// The monitor types and the type-specific keys that apply to them.
const MONITOR_TYPES: [&str; 6] = ["tcp", "http", "https", "dns", "icmp", "external"];

/// DNS response codes by their mnemonic (RFC 1035 §4.1.1, RFC 2136 §2.2).
const RCODES: [(&str, u8); 11] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
];

impl Validator<'_> {
    pub(super) fn monitors(&mut self, raw: &[RawMonitor]) -> Declared<MonitorConfig> {
        let mut decl = Declared::new();
        for m in raw {
            let name = self.declare(&mut decl, &m.name, "monitor");
            let config = self.monitor(m);
            if let (Some(name), Some((kind, interval, timeout, rise, fall, jitter_permille))) =
                (name, config)
            {
                decl.items.push(MonitorConfig {
                    name,
                    kind,
                    interval,
                    timeout,
                    rise,
                    fall,
                    jitter_permille,
                });
            }
        }
        decl
    }

    /// The monitor's kind and timing, `None` when its type is unknown.
    #[allow(clippy::type_complexity)]
    fn monitor(
        &mut self,
        m: &RawMonitor,
    ) -> Option<(MonitorKind, Duration, Duration, u32, u32, u32)> {
        let (interval, timeout) = self.monitor_timing(m);
        let rise = self.opt_int_in(
            m.rise.as_ref(),
            1..=i64::from(u32::MAX),
            DEFAULT_RISE.into(),
            "rise",
        ) as u32;
        let fall = self.opt_int_in(
            m.fall.as_ref(),
            1..=i64::from(u32::MAX),
            DEFAULT_FALL.into(),
            "fall",
        ) as u32;
        let mut jitter_permille = DEFAULT_JITTER_PERMILLE;
        if let Some(j) = &m.jitter {
            let v = *j.get_ref();
            if (0.0..=0.5).contains(&v) {
                jitter_permille = (v * 1000.0).round() as u32;
            } else {
                self.error(
                    &j.span(),
                    format!("jitter {v} is out of range 0..=0.5 (a fraction of the interval)"),
                );
            }
        }

        let ty = m.kind.get_ref().as_str();
        if !MONITOR_TYPES.contains(&ty) {
            self.error(
                &m.kind.span(),
                format!(
                    "unknown monitor type `{ty}` (one of: {})",
                    MONITOR_TYPES.join(", ")
                ),
            );
            return None;
        }
        let http: &[&str] = &["http", "https"];
        let specific: [(&str, Option<Range<usize>>, &[&str]); 11] = [
            (
                "port",
                m.port.as_ref().map(Spanned::span),
                &["tcp", "http", "https", "dns"],
            ),
            ("method", m.method.as_ref().map(Spanned::span), http),
            ("path", m.path.as_ref().map(Spanned::span), http),
            ("host", m.host.as_ref().map(Spanned::span), http),
            (
                "expect_status",
                m.expect_status.as_ref().map(Spanned::span),
                http,
            ),
            (
                "expect_body",
                m.expect_body.as_ref().map(Spanned::span),
                http,
            ),
            ("query", m.query.as_ref().map(Spanned::span), &["dns"]),
            (
                "query_type",
                m.query_type.as_ref().map(Spanned::span),
                &["dns"],
            ),
            (
                "expect_rcode",
                m.expect_rcode.as_ref().map(Spanned::span),
                &["dns"],
            ),
            (
                "expect_answer",
                m.expect_answer.as_ref().map(Spanned::span),
                &["dns"],
            ),
            (
                "command",
                m.command.as_ref().map(Spanned::span),
                &["external"],
            ),
        ];
        for (key, at, types) in &specific {
            if let Some(at) = at {
                if !types.contains(&ty) {
                    self.error(
                        at,
                        format!(
                            "`{key}` does not apply to a {ty} monitor (only to {})",
                            types.join(", ")
                        ),
                    );
                }
            }
        }

        let default_port = match ty {
            "https" => 443,
            "dns" => 53,
            _ => 80,
        };
        let port = self.opt_int_in(m.port.as_ref(), 1..=65535, default_port, "port") as u16;
        let kind = match ty {
            "tcp" => MonitorKind::Tcp { port },
            "http" | "https" => self.http_monitor(m, ty == "https", port),
            "dns" => self.dns_monitor(m, port),
            "icmp" => MonitorKind::Icmp,
            _ => self.external_monitor(m),
        };
        Some((kind, interval, timeout, rise, fall, jitter_permille))
    }

    fn monitor_timing(&mut self, m: &RawMonitor) -> (Duration, Duration) {
        let mut interval = DEFAULT_MONITOR_INTERVAL;
        let mut interval_ok = true;
        if let Some(raw) = &m.interval {
            match self.duration(raw, "interval") {
                Some(d) if d >= MIN_MONITOR_INTERVAL => interval = d,
                Some(d) => {
                    self.error(
                        &raw.span(),
                        format!(
                            "interval {d:?} is shorter than the minimum {MIN_MONITOR_INTERVAL:?}"
                        ),
                    );
                    interval_ok = false;
                }
                None => interval_ok = false,
            }
        }
        let mut timeout = if interval > 2 * DEFAULT_MONITOR_TIMEOUT {
            DEFAULT_MONITOR_TIMEOUT
        } else {
            interval / 2
        };
        if let Some(raw) = &m.timeout {
            match self.duration(raw, "timeout") {
                Some(d) if d.is_zero() => self.error(&raw.span(), "timeout must not be zero"),
                Some(d) if interval_ok && d >= interval => {
                    let default = if m.interval.is_none() {
                        " (default)"
                    } else {
                        ""
                    };
                    self.error(
                        &raw.span(),
                        format!(
                            "timeout {d:?} is not shorter than the interval {interval:?}{default}"
                        ),
                    );
                }
                Some(d) => timeout = d,
                None => {}
            }
        }
        (interval, timeout)
    }

    fn http_monitor(&mut self, m: &RawMonitor, tls: bool, port: u16) -> MonitorKind {
        let mut method = "GET".to_string();
        if let Some(raw) = &m.method {
            let text = raw.get_ref();
            // RFC 9110 §5.6.2: token = 1*tchar.
            let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if !text.is_empty() && text.chars().all(tchar) {
                method = text.clone();
            } else {
                self.error(
                    &raw.span(),
                    format!("invalid HTTP method `{text}`: must be a token such as GET or HEAD"),
                );
            }
        }
        let mut path = "/".to_string();
        if let Some(raw) = &m.path {
            let text = raw.get_ref();
            if !text.starts_with('/') {
                self.error(
                    &raw.span(),
                    format!("invalid path `{text}`: must start with '/'"),
                );
            } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.error(
                    &raw.span(),
                    format!("invalid path `{text}`: contains whitespace (percent-encode it)"),
                );
            } else {
                path = text.clone();
            }
        }
        let host = m.host.as_ref().and_then(|h| self.token_like(h, "host"));
        let mut expect_status = vec![200];
        if let Some(list) = &m.expect_status {
            expect_status.clear();
            if list.get_ref().is_empty() {
                self.error(
                    &list.span(),
                    "`expect_status` is empty: no response would ever be accepted",
                );
            }
            for item in list.get_ref() {
                if let Some(code) = self.int_in(item, 100..=599, "status") {
                    let code = code as u16;
                    if expect_status.contains(&code) {
                        self.error(&item.span(), format!("duplicate status {code}"));
                    } else {
                        expect_status.push(code);
                    }
                }
            }
        }
        MonitorKind::Http {
            tls,
            port,
            method,
            path,
            host,
            expect_status,
            expect_body: m.expect_body.as_ref().map(|b| b.get_ref().clone()),
        }
    }

    fn dns_monitor(&mut self, m: &RawMonitor, port: u16) -> MonitorKind {
        let query = match &m.query {
            None => {
                self.error(
                    &m.kind.span(),
                    "a dns monitor needs `query` (the name to ask)",
                );
                None
            }
            Some(q) => match absolute_name(q.get_ref()) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(&q.span(), format!("invalid query name: {e}"));
                    None
                }
            },
        };
        let mut query_type = RecordType::A;
        if let Some(raw) = &m.query_type {
            let text = raw.get_ref();
            match RecordType::from_str(&text.trim().to_ascii_uppercase()) {
                Ok(t)
                    if !matches!(
                        t,
                        RecordType::OPT | RecordType::AXFR | RecordType::IXFR | RecordType::ZERO
                    ) =>
                {
                    query_type = t
                }
                _ => self.error(
                    &raw.span(),
                    format!("invalid query type `{text}`: expected a record type such as A, AAAA, SOA, TXT"),
                ),
            }
        }
        let mut expect_rcode = ResponseCode::NoError;
        if let Some(raw) = &m.expect_rcode {
            let text = raw.get_ref();
            match RCODES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(text.trim()))
            {
                Some(&(_, code)) => expect_rcode = ResponseCode::from_low(code),
                None => {
                    let names: Vec<&str> = RCODES.iter().map(|(n, _)| *n).collect();
                    self.error(
                        &raw.span(),
                        format!(
                            "unknown response code `{text}` (one of: {})",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        MonitorKind::Dns {
            port,
            query: query.unwrap_or_else(hickory_proto::rr::Name::root),
            query_type,
            expect_rcode,
            expect_answer: m.expect_answer.as_ref().map(|a| a.get_ref().clone()),
        }
    }

    fn external_monitor(&mut self, m: &RawMonitor) -> MonitorKind {
        let mut command = Vec::new();
        match &m.command {
            None => self.error(
                &m.kind.span(),
                "an external monitor needs `command` (program and arguments)",
            ),
            Some(list) => match list.get_ref().first() {
                None => self.error(&list.span(), "`command` is empty: it needs a program"),
                Some(program) if program.get_ref().trim().is_empty() => {
                    self.error(&program.span(), "the program of `command` is empty")
                }
                Some(_) => command = list.get_ref().iter().map(|a| a.get_ref().clone()).collect(),
            },
        }
        MonitorKind::External { command }
    }
}
