//! Value and reference checks of the GSLB engine tables: `[health]`,
//! `[[datacenter]]`, `[[monitor]]`, `[[vserver]]`, `[[pool]]` and the pool
//! keys of `[[gslb]]`. Types and defaults are documented in `gslb.rs`.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    ops::{Range, RangeInclusive},
    str::FromStr,
    time::Duration,
};

use hickory_proto::{op::ResponseCode, rr::RecordType};
use toml::Spanned;

use super::{
    raw::{
        Dur, Float, Int, RawDatacenter, RawGslb, RawHealth, RawMetrics, RawMonitor,
        RawPool, RawVirtualServer, Str, StrList,
    },
    validate::{absolute_name, unusable_address, Validator},
    AdminState, AllDown, DatacenterConfig, HealthConfig, Method, MetricsSource, MonitorConfig,
    MonitorKind, PoolConfig, PoolMethod, VirtualServerConfig, MAX_GSLB_ADDRS, MAX_VSERVERS,
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
/// Longest entry name (datacenter, monitor, server, pool).
pub const MAX_ENTRY_NAME_LEN: usize = 64;

/// The entries of one kind that passed their checks, and every name
/// declared for that kind (also those of invalid entries, so that a
/// reference to an invalid entry does not add a second error).
pub(in crate::config) struct Declared<T> {
    pub(super) items: Vec<T>,
    /// Name → where it was first declared.
    names: HashMap<String, Range<usize>>,
}

impl<T> Declared<T> {
    fn new() -> Self {
        Declared {
            items: Vec::new(),
            names: HashMap::new(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }
}

/// What the validated servers tell the pool checks.
trait Addressed {
    fn name(&self) -> &str;
    fn address(&self) -> Option<IpAddr>;
}

impl Addressed for VirtualServerConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> Option<IpAddr> {
        (!unusable_address(self.address)).then_some(self.address)
    }
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
    pub(super) fn health(&mut self, raw: Option<&RawHealth>) -> HealthConfig {
        let mut health = HealthConfig::default();
        if let Some(initial) = raw.and_then(|r| r.initial.as_ref()) {
            if let Some(up) = self.up_down(initial) {
                health.initial_up = up;
            }
        }
        health
    }

    /// `initial = "up" | "down"`.
    fn up_down(&mut self, value: &Str) -> Option<bool> {
        match value.get_ref().as_str() {
            "up" => Some(true),
            "down" => Some(false),
            other => {
                self.error(
                    &value.span(),
                    format!("invalid initial state `{other}`: expected \"up\" or \"down\""),
                );
                None
            }
        }
    }

    /// Checks an entry name and declares it; `Some` when the entry is new
    /// and its name valid.
    fn declare<T>(&mut self, decl: &mut Declared<T>, name: &Str, table: &str) -> Option<String> {
        let text = name.get_ref();
        let span = name.span();
        if let Some(first) = decl.names.get(text) {
            let msg = format!(
                "duplicate [[{table}]] name `{text}` (first defined at {})",
                self.at(first)
            );
            self.error(&span, msg);
            return None;
        }
        decl.names.insert(text.clone(), span.clone());
        if text.is_empty()
            || text.chars().count() > MAX_ENTRY_NAME_LEN
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.error(
                &span,
                format!(
                    "invalid [[{table}]] name `{text}`: 1 to {MAX_ENTRY_NAME_LEN} letters, \
                     digits, '.', '_' or '-'"
                ),
            );
            return None;
        }
        Some(text.clone())
    }

    /// A reference to an entry of `decl`: its name, if declared.
    fn reference<T>(
        &mut self,
        decl: &Declared<T>,
        name: &Str,
        table: &str,
        key: &str,
    ) -> Option<String> {
        let text = name.get_ref();
        if decl.contains(text) {
            Some(text.clone())
        } else {
            self.error(
                &name.span(),
                format!("`{key}`: unknown {table} `{text}` (no [[{table}]] has that name)"),
            );
            None
        }
    }

    /// An integer in `range`; `None` (and an error) when out of it.
    fn int_in(&mut self, value: &Int, range: RangeInclusive<i64>, what: &str) -> Option<i64> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Some(v)
        } else {
            let msg = if *range.end() == i64::MAX {
                format!(
                    "{what} {v} is out of range: it must be at least {}",
                    range.start()
                )
            } else {
                format!(
                    "{what} {v} is out of range {}..={}",
                    range.start(),
                    range.end()
                )
            };
            self.error(&value.span(), msg);
            None
        }
    }

    /// An optional integer in `range`, `default` when absent or invalid.
    fn opt_int_in(
        &mut self,
        value: Option<&Int>,
        range: RangeInclusive<i64>,
        default: i64,
        what: &str,
    ) -> i64 {
        value
            .and_then(|v| self.int_in(v, range, what))
            .unwrap_or(default)
    }

    /// One of `choices` (config spellings).
    fn choice<T: Clone>(&mut self, value: &Str, what: &str, choices: &[(T, &str)]) -> Option<T> {
        let text = value.get_ref();
        if let Some((v, _)) = choices.iter().find(|(_, n)| *n == text.as_str()) {
            return Some(v.clone());
        }
        let names: Vec<&str> = choices.iter().map(|(_, n)| *n).collect();
        self.error(
            &value.span(),
            format!("unknown {what} `{text}` (one of: {})", names.join(", ")),
        );
        None
    }

    pub(super) fn duration(&mut self, value: &Dur, what: &str) -> Option<Duration> {
        match value.get_ref().parse(what) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&value.span(), e);
                None
            }
        }
    }

    /// A non-empty string without whitespace or control characters.
    fn token_like(&mut self, value: &Str, what: &str) -> Option<String> {
        let text = value.get_ref();
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                &value.span(),
                format!("invalid {what} `{text}`: empty or contains whitespace"),
            );
            None
        } else {
            Some(text.clone())
        }
    }

    fn ip(&mut self, value: &Str, what: &str) -> Option<IpAddr> {
        let text = value.get_ref();
        match text.trim().parse::<IpAddr>() {
            Err(_) => {
                self.error(
                    &value.span(),
                    format!("invalid {what} `{text}`: expected an IPv4 or IPv6 address"),
                );
                None
            }
            Ok(ip) if unusable_address(ip) => {
                self.error(
                    &value.span(),
                    format!(
                        "{ip} cannot be a server address (unspecified, broadcast or multicast)"
                    ),
                );
                None
            }
            Ok(ip) => Some(ip),
        }
    }

    pub(super) fn datacenters(&mut self, raw: &[RawDatacenter]) -> Declared<DatacenterConfig> {
        let mut decl = Declared::new();
        for dc in raw {
            let name = self.declare(&mut decl, &dc.name, "datacenter");
            let lat = self.degrees(&dc.lat, "latitude", 90.0);
            let lon = self.degrees(&dc.lon, "longitude", 180.0);
            let region = dc
                .region
                .as_ref()
                .and_then(|r| self.token_like(r, "region"));
            let country = dc.country.as_ref().and_then(|c| {
                let text = c.get_ref();
                if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
                    Some(text.to_ascii_uppercase())
                } else {
                    self.error(
                        &c.span(),
                        format!(
                            "invalid country `{text}`: expected an ISO 3166 alpha-2 code \
                             such as \"NL\""
                        ),
                    );
                    None
                }
            });
            if let Some(name) = name {
                decl.items.push(DatacenterConfig {
                    name,
                    lat,
                    lon,
                    region,
                    country,
                });
            }
        }
        decl
    }

    fn degrees(&mut self, value: &Float, what: &str, max: f64) -> f64 {
        let v = *value.get_ref();
        if (-max..=max).contains(&v) {
            v
        } else {
            self.error(
                &value.span(),
                format!("{what} {v} is out of range -{max}..={max} (degrees)"),
            );
            0.0
        }
    }

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

    pub(super) fn servers(
        &mut self,
        raw: &[RawVirtualServer],
        health: &HealthConfig,
        datacenters: &Declared<DatacenterConfig>,
        monitors: &Declared<MonitorConfig>,
    ) -> Declared<VirtualServerConfig> {
        let mut decl = Declared::new();
        for (i, s) in raw.iter().enumerate() {
            if i == MAX_VSERVERS {
                self.error(
                    &s.name.span(),
                    format!(
                        "too many vservers: {} declared, at most {MAX_VSERVERS} (the size of \
                         the XDP program's per-server hand-out counters)",
                        raw.len()
                    ),
                );
            }
            let name = self.declare(&mut decl, &s.name, "vserver");
            let address = self.ip(&s.address, "address");
            let datacenter = self
                .reference(datacenters, &s.datacenter, "datacenter", "datacenter")
                .unwrap_or_default();
            let ratio = self.opt_int_in(s.ratio.as_ref(), 1..=65535, 1, "ratio") as u16;
            let max_sessions = s
                .max_sessions
                .as_ref()
                .and_then(|v| self.int_in(v, 0..=i64::MAX, "max_sessions"))
                .map(|v| v as u64);
            let max_connections = s
                .max_connections
                .as_ref()
                .and_then(|v| self.int_in(v, 0..=i64::MAX, "max_connections"))
                .map(|v| v as u64);
            let mut server_monitors: Vec<String> = Vec::new();
            for m in s.monitors.as_ref().map_or(&[][..], |l| l.get_ref()) {
                if server_monitors.contains(m.get_ref()) {
                    self.error(
                        &m.span(),
                        format!("monitor `{}` is listed twice", m.get_ref()),
                    );
                } else if let Some(m) = self.reference(monitors, m, "monitor", "monitors") {
                    server_monitors.push(m);
                }
            }
            let check_address = s
                .check_address
                .as_ref()
                .and_then(|a| self.ip(a, "check_address"));
            let admin = s
                .state
                .as_ref()
                .and_then(|v| self.choice(v, "state", AdminState::ALL))
                .unwrap_or_default();
            let initial_up = s
                .initial
                .as_ref()
                .and_then(|v| self.up_down(v))
                .unwrap_or(health.initial_up);
            let metrics = self.metrics(
                s.metrics.as_ref(),
                s.metrics_url.as_ref(),
                s.metrics_labels.as_ref(),
            );
            if let Some(name) = name {
                decl.items.push(VirtualServerConfig {
                    name,
                    // An invalid address has been reported; the placeholder
                    // is never used (the config is rejected).
                    address: address.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                    datacenter,
                    ratio,
                    max_sessions,
                    max_connections,
                    monitors: server_monitors,
                    check_address,
                    admin,
                    initial_up,
                    metrics,
                });
            }
        }
        decl
    }

    fn metrics(
        &mut self,
        fixed: Option<&Spanned<RawMetrics>>,
        url: Option<&Str>,
        labels: Option<&Spanned<BTreeMap<String, Str>>>,
    ) -> MetricsSource {
        let labels = match (labels, url) {
            (Some(l), Some(_)) => self.metrics_labels(l),
            (Some(l), None) => {
                self.error(&l.span(), "`metrics_labels` needs a `metrics_url`");
                BTreeMap::new()
            }
            (None, _) => BTreeMap::new(),
        };
        match (fixed, url) {
            (Some(_), Some(url)) => {
                self.error(
                    &url.span(),
                    "`metrics` and `metrics_url` are exclusive: give static metrics or an \
                     endpoint, not both",
                );
                MetricsSource::None
            }
            (Some(m), None) => {
                let m = m.get_ref();
                let mut value = |v: Option<&Int>, what| {
                    v.and_then(|v| self.int_in(v, 0..=i64::MAX, what))
                        .unwrap_or(0) as u64
                };
                let sessions = value(m.sessions.as_ref(), "metrics.sessions");
                let connections = value(m.connections.as_ref(), "metrics.connections");
                MetricsSource::Static {
                    sessions,
                    connections,
                }
            }
            (None, Some(url)) => match metrics_url_problem(url.get_ref()) {
                None => MetricsSource::Url {
                    url: url.get_ref().clone(),
                    labels,
                },
                Some(problem) => {
                    self.error(
                        &url.span(),
                        format!("invalid metrics_url `{}`: {problem}", url.get_ref()),
                    );
                    MetricsSource::None
                }
            },
            (None, None) => MetricsSource::None,
        }
    }

    pub(super) fn pools(
        &mut self,
        raw: &[RawPool],
        servers: &Declared<VirtualServerConfig>,
    ) -> Declared<PoolConfig> {
        let mut decl = Declared::new();
        for p in raw {
            let name = self.declare(&mut decl, &p.name, "pool");
            let members = self.members(&p.members, servers);
            let mut methods = [Method::RoundRobin, Method::None, Method::None];
            let keys = [&p.preferred, &p.alternate, &p.fallback];
            for (slot, key) in methods.iter_mut().zip(keys) {
                if let Some(m) = key
                    .as_ref()
                    .and_then(|k| self.choice(k, "method", Method::ALL))
                {
                    *slot = m;
                }
            }
            let ttl = p.ttl.as_ref().map(|t| self.ttl(Some(t), 0));
            let max_answers = self.opt_int_in(
                p.max_answers.as_ref(),
                1..=MAX_GSLB_ADDRS as i64,
                1,
                "max_answers",
            ) as u8;
            let fallback_ip = self.fallback_ip(p.fallback_ip.as_ref());
            let when_all_down = p
                .when_all_down
                .as_ref()
                .and_then(|w| self.choice(w, "when_all_down behaviour", AllDown::ALL))
                .unwrap_or_default();
            let has_fallback = p
                .fallback_ip
                .as_ref()
                .is_some_and(|l| !l.get_ref().is_empty());
            if !has_fallback {
                for (method, key) in methods.iter().zip(keys) {
                    if let (Method::FallbackIp, Some(key)) = (method, key) {
                        self.error(
                            &key.span(),
                            "method fallback_ip needs the pool's `fallback_ip` addresses",
                        );
                    }
                }
                if let (AllDown::FallbackIp, Some(w)) = (when_all_down, &p.when_all_down) {
                    self.error(
                        &w.span(),
                        "when_all_down = \"fallback_ip\" needs the pool's `fallback_ip` addresses",
                    );
                }
            }
            let persist_prefix_v4 = self.opt_int_in(
                p.persist_prefix_v4.as_ref(),
                0..=32,
                32,
                "persist_prefix_v4",
            ) as u8;
            let persist_prefix_v6 = self.opt_int_in(
                p.persist_prefix_v6.as_ref(),
                0..=64,
                64,
                "persist_prefix_v6",
            ) as u8;
            if let Some(name) = name {
                decl.items.push(PoolConfig {
                    name,
                    members,
                    methods,
                    ttl,
                    max_answers,
                    fallback_ip,
                    when_all_down,
                    persist_prefix_v4,
                    persist_prefix_v6,
                });
            }
        }
        decl
    }

    /// A pool's members: declared servers, each once, no address twice,
    /// at most [`MAX_GSLB_ADDRS`] per address family.
    fn members<S: Addressed>(&mut self, list: &StrList, servers: &Declared<S>) -> Vec<String> {
        if list.get_ref().is_empty() {
            self.error(&list.span(), "a pool needs at least one member");
        }
        let by_name: HashMap<&str, Option<IpAddr>> = servers
            .items
            .iter()
            .map(|s| (s.name(), s.address()))
            .collect();
        let mut out: Vec<String> = Vec::new();
        let mut addresses: Vec<(IpAddr, &str)> = Vec::new();
        let (mut v4, mut v6) = (0, 0);
        for item in list.get_ref() {
            let text = item.get_ref();
            if out.contains(text) {
                self.error(
                    &item.span(),
                    format!("server `{text}` is listed twice in `members`"),
                );
                continue;
            }
            let Some(name) = self.reference(servers, item, "vserver", "members") else {
                continue;
            };
            if let Some(Some(ip)) = by_name.get(text.as_str()) {
                if let Some((_, other)) = addresses.iter().find(|(a, _)| a == ip) {
                    self.error(
                        &item.span(),
                        format!(
                            "server `{text}` has address {ip}, like member `{other}`; an \
                             answer would repeat it"
                        ),
                    );
                    continue;
                }
                addresses.push((*ip, text));
                let (count, family) = if ip.is_ipv4() {
                    (&mut v4, "IPv4")
                } else {
                    (&mut v6, "IPv6")
                };
                *count += 1;
                if *count > MAX_GSLB_ADDRS {
                    self.error(
                        &item.span(),
                        format!(
                            "server `{text}` is the pool's {}th {family} member; an answer \
                             set holds at most {MAX_GSLB_ADDRS} addresses per family",
                            *count
                        ),
                    );
                    continue;
                }
            }
            out.push(name);
        }
        out
    }

    fn fallback_ip(&mut self, list: Option<&StrList>) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for item in list.map_or(&[][..], |l| l.get_ref()) {
            let Some(ip) = self.ip(item, "fallback_ip address") else {
                continue;
            };
            if out.contains(&ip) {
                self.error(
                    &item.span(),
                    format!("duplicate address {ip} in `fallback_ip`"),
                );
            } else if out.iter().filter(|a| a.is_ipv4() == ip.is_ipv4()).count() >= MAX_GSLB_ADDRS {
                self.error(
                    &item.span(),
                    format!(
                        "`fallback_ip` has more than {MAX_GSLB_ADDRS} {} addresses; an answer \
                         set holds at most {MAX_GSLB_ADDRS}",
                        if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                );
            } else {
                out.push(ip);
            }
        }
        out
    }

    /// The pool keys of a `[[gslb]]` name: pools, pool method (with its
    /// ratios) and last resort pool.
    pub(super) fn gslb_pools(
        &mut self,
        g: &RawGslb,
        pools: &Declared<PoolConfig>,
    ) -> (Vec<String>, PoolMethod, Option<String>) {
        let mut out: Vec<String> = Vec::new();
        if let Some(list) = &g.pools {
            if list.get_ref().is_empty() {
                self.error(&list.span(), "`pools` is empty: list at least one pool");
            }
            if g.a.is_some() || g.aaaa.is_some() {
                self.error(
                    &list.span(),
                    "a gslb name has either static `a`/`aaaa` addresses or `pools`, not both",
                );
            }
            for item in list.get_ref() {
                if out.contains(item.get_ref()) {
                    self.error(
                        &item.span(),
                        format!("pool `{}` is listed twice in `pools`", item.get_ref()),
                    );
                } else if let Some(p) = self.reference(pools, item, "pool", "pools") {
                    out.push(p);
                }
            }
        }
        let pool_count = g.pools.as_ref().map_or(0, |l| l.get_ref().len());
        let needs_pools = |key: &str| format!("`{key}` needs `pools`");

        let methods = [
            (PoolMethod::GlobalAvailability, "global_availability"),
            (PoolMethod::RoundRobin, "round_robin"),
            (PoolMethod::Ratio(Vec::new()), "ratio"),
            (PoolMethod::Topology, "topology"),
        ];
        let mut method = PoolMethod::default();
        if let Some(m) = &g.pool_method {
            if g.pools.is_none() {
                self.error(&m.span(), needs_pools("pool_method"));
            } else if let Some(parsed) = self.choice(m, "pool_method", &methods) {
                method = parsed;
            }
        }
        let mut ratios = vec![1u16; pool_count];
        if let Some(list) = &g.pool_ratios {
            if g.pools.is_none() {
                self.error(&list.span(), needs_pools("pool_ratios"));
            } else if !matches!(method, PoolMethod::Ratio(_)) {
                // Silent when pool_method itself was invalid (reported).
                let method_valid = g
                    .pool_method
                    .as_ref()
                    .is_none_or(|m| methods.iter().any(|(_, n)| *n == m.get_ref()));
                if method_valid {
                    self.error(
                        &list.span(),
                        format!(
                            "`pool_ratios` applies only to pool_method = \"ratio\" (this \
                             name uses \"{}\")",
                            method.name()
                        ),
                    );
                }
            } else if list.get_ref().len() != pool_count {
                self.error(
                    &list.span(),
                    format!(
                        "`pool_ratios` has {} entries but `pools` has {pool_count}; give one \
                         ratio per pool",
                        list.get_ref().len()
                    ),
                );
            } else {
                for (slot, item) in ratios.iter_mut().zip(list.get_ref()) {
                    if let Some(r) = self.int_in(item, 1..=65535, "pool ratio") {
                        *slot = r as u16;
                    }
                }
            }
        }
        if let PoolMethod::Ratio(r) = &mut method {
            *r = ratios;
        }

        let last_resort_pool = g.last_resort_pool.as_ref().and_then(|l| {
            if g.pools.is_none() {
                self.error(&l.span(), needs_pools("last_resort_pool"));
                None
            } else {
                self.reference(pools, l, "pool", "last_resort_pool")
            }
        });
        (out, method, last_resort_pool)
    }
}

/// Why `url` is not an `http://HOST[:PORT][/PATH]` URL, if it is not.
fn metrics_url_problem(url: &str) -> Option<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Some(if url.starts_with("https://") {
            "https is not supported; use http://".to_string()
        } else {
            "must start with http://".to_string()
        });
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace".to_string());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some("credentials in the URL are not supported".to_string());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => match p {
                "" => (h, None),
                _ => match p.strip_prefix(':') {
                    Some(port) => (h, Some(port)),
                    None => return Some("invalid host".to_string()),
                },
            },
            _ => return Some("invalid IPv6 host (write it as [ADDR])".to_string()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Some("no host".to_string());
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Some(format!("invalid port `{port}`"));
        }
    }
    None
}
