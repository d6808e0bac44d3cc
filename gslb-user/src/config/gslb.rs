//! Validated configuration of the GSLB engine: datacenters, monitors,
//! (virtual) servers, pools and the pool side of gslb names. Vocabulary as
//! in DESIGN.md; semantics as F5 BIG-IP DNS documents them where the seeds
//! are silent.
//!
//! TOML shape (all tables but `[health]` are arrays of tables; names are
//! unique per kind, 1 to 64 characters among letters, digits, `.`, `_` and
//! `-`; every reference must name an existing entry):
//!
//! ```toml
//! [health]
//! initial = "up"               # cold start state of every server: up | down (default up)
//!
//! [metrics]                    # polling of the vservers' `metrics_url`
//! interval = "5s"              # between two polls, >= 10ms (default 5s)
//! timeout = "2s"               # of one poll, < interval (default 2s, or half the interval)
//! max_age = "15s"              # a reading older than this is unknown, >= interval
//!                              # (default 3 intervals)
//! sessions = "sessions"        # gauge names (default sessions, connections)
//! connections = "connections"
//!
//! [engine]
//! fewest_selected_window = "60s"  # fewest_selected counts hand-outs over this
//!                              # sliding window, 1s..=10m (default 60s)
//!
//! [[datacenter]]
//! name = "ams"
//! lat = 52.37                  # -90..=90
//! lon = 4.90                   # -180..=180
//! region = "eu"                # optional
//! country = "NL"               # optional, ISO 3166 alpha-2 (stored uppercase)
//!
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
//!
//! [[vserver]]                  # `[server]` is the listener table, hence `vserver`
//! name = "ams-web1"
//! address = "198.18.10.1"      # v4 → A answers, v6 → AAAA answers
//! datacenter = "ams"
//! ratio = 3                    # weight, 1..=65535 (default 1)
//! max_sessions = 1000          # optional: above it the server is unavailable
//! max_connections = 5000       # optional
//! monitors = ["web"]           # all must be up for the server to be up (default none)
//! check_address = "198.18.10.101"  # optional: probe here instead
//! state = "enabled"            # enabled | disabled | draining (default enabled)
//! initial = "up"               # optional override of [health] initial
//! metrics = { sessions = 10, connections = 20 }   # static metrics, or (exclusive)
//! metrics_url = "http://198.18.10.1:9100/metrics" # Prometheus text, http:// only
//! metrics_labels = { instance = "web1" }          # optional, with metrics_url: only
//!                                                 # series with these labels count
//!
//! [[pool]]
//! name = "web-eu"
//! members = ["ams-web1", "ams-web2"]   # ordered, >= 1, at most 8 IPv4 and 8 IPv6
//! preferred = "round_robin"            # default "round_robin"
//! alternate = "global_availability"    # optional (default "none")
//! fallback = "fallback_ip"             # optional (default "none")
//! # methods: none | round_robin | ratio | static_persist | random |
//! # weighted_random | global_availability | fewest_selected |
//! # least_sessions | least_connections | most_capacity | lowest_latency |
//! # drop_packet | fallback_ip | return_to_dns
//! ttl = 30                             # optional: default the gslb name's ttl
//! max_answers = 1                      # 1..=8 (default 1)
//! fallback_ip = ["198.18.99.1", "2001:db8:99::1"]  # required by fallback_ip
//! when_all_down = "fail_open"          # fail_open | fallback_ip | return_to_dns | servfail | nodata | drop
//! persist_prefix_v4 = 24               # static persist LDNS mask, 0..=32 (default 32)
//! persist_prefix_v6 = 56               # 0..=64 (default 64)
//!
//! [[gslb]]
//! name = "www.example.test"
//! pools = ["web-eu", "web-us"]          # instead of a = [...] / aaaa = [...]
//! pool_method = "global_availability"   # round_robin | ratio | global_availability | topology
//! pool_ratios = [3, 1]                  # only with pool_method = "ratio" (default all 1)
//! last_resort_pool = "web-backup"       # optional
//! ttl = 30
//! ```
//!
//! A complete example: `src/examples/gslb.toml`.

use std::{collections::BTreeMap, net::IpAddr, time::Duration};

use hickory_proto::{
    op::ResponseCode,
    rr::{Name, RecordType},
};

/// `[health]`: defaults of the health engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Cold start state of servers without their own `initial` (default
    /// up: a restart must not blackhole traffic).
    pub initial_up: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { initial_up: true }
    }
}

/// One `[[datacenter]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DatacenterConfig {
    /// Unique name.
    pub name: String,
    /// Latitude, degrees, -90..=90.
    pub lat: f64,
    /// Longitude, degrees, -180..=180.
    pub lon: f64,
    /// Optional region tag.
    pub region: Option<String>,
    /// Optional ISO 3166 alpha-2 country code, uppercase.
    pub country: Option<String>,
}

/// Validated coordinates are never NaN, so equality is total.
impl Eq for DatacenterConfig {}

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

/// Administrative state of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AdminState {
    /// Takes new clients.
    #[default]
    Enabled,
    /// Never answered.
    Disabled,
    /// Keeps its persistent clients, gets no new ones.
    Draining,
}

/// Where a server's load metrics come from (until agents exist).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum MetricsSource {
    /// None: its metrics are unknown (the load-based methods pass it over,
    /// the capacity limits do not apply).
    #[default]
    None,
    /// Fixed values from the config.
    Static {
        /// Current sessions.
        sessions: u64,
        /// Current connections.
        connections: u64,
    },
    /// A Prometheus text endpoint, polled as `[metrics]` says.
    Url {
        /// `http://HOST[:PORT][/PATH]`.
        url: String,
        /// Only series with all these labels count (`metrics_labels`).
        labels: BTreeMap<String, String>,
    },
}

/// `[metrics]`: how the `metrics_url` endpoints are polled and read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Time between two polls of one endpoint.
    pub interval: Duration,
    /// Time one poll may take (< interval).
    pub timeout: Duration,
    /// A reading older than this is unknown (>= interval).
    pub max_age: Duration,
    /// Gauge of the current sessions.
    pub sessions: String,
    /// Gauge of the current connections.
    pub connections: String,
}

/// Default `[metrics] interval`.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(5);
/// Default `[metrics] timeout` (or half the interval when that is shorter).
pub const DEFAULT_METRICS_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `[metrics] max_age`, in intervals: two polls may fail before
/// a reading is dropped.
pub const DEFAULT_METRICS_MAX_AGE_INTERVALS: u32 = 3;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: DEFAULT_METRICS_INTERVAL,
            timeout: DEFAULT_METRICS_TIMEOUT,
            max_age: DEFAULT_METRICS_INTERVAL * DEFAULT_METRICS_MAX_AGE_INTERVALS,
            sessions: "sessions".into(),
            connections: "connections".into(),
        }
    }
}

/// One `[[vserver]]` (virtual server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServerConfig {
    /// Unique name.
    pub name: String,
    /// Answered address.
    pub address: IpAddr,
    /// Datacenter name (validated to exist).
    pub datacenter: String,
    /// Weight for ratio methods, ≥ 1.
    pub ratio: u16,
    /// Sessions above which the server is unavailable (seed 000 claim 35).
    pub max_sessions: Option<u64>,
    /// Connections above which the server is unavailable.
    pub max_connections: Option<u64>,
    /// Monitor names (validated to exist); none = always up.
    pub monitors: Vec<String>,
    /// Probe address when it differs from `address`.
    pub check_address: Option<IpAddr>,
    /// Administrative state at start.
    pub admin: AdminState,
    /// Cold start health (from `initial` or `[health] initial`).
    pub initial_up: bool,
    /// Load metrics.
    pub metrics: MetricsSource,
}

/// A load-balancing method of a pool's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Nothing: go on to the next method of the chain.
    None,
    /// Per query, in XDP: rotate.
    RoundRobin,
    /// Per query, in XDP: weighted rotation by `ratio`.
    Ratio,
    /// Per query, in XDP: LDNS address modulo available servers (seed 004).
    StaticPersist,
    /// Per query, in XDP: uniform random.
    Random,
    /// Per query, in XDP: random weighted by `ratio`.
    WeightedRandom,
    /// Out of band: first available in pool order.
    GlobalAvailability,
    /// Out of band: handed out least often so far (seed 000 claim 38).
    FewestSelected,
    /// Out of band: fewest sessions.
    LeastSessions,
    /// Out of band: fewest connections.
    LeastConnections,
    /// Out of band: most free session capacity (max_sessions - sessions).
    MostCapacity,
    /// Out of band: lowest probe latency (seed 000 claim 36).
    LowestLatency,
    /// No answer at all.
    DropPacket,
    /// The pool's `fallback_ip` addresses (ignores availability).
    FallbackIp,
    /// Answer from the static zone data (slow path).
    ReturnToDns,
}

/// What a pool answers when no method of its chain yields an available
/// server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AllDown {
    /// Answer all enabled members as if healthy (Route 53 behaviour).
    #[default]
    FailOpen,
    /// The pool's `fallback_ip` addresses.
    FallbackIp,
    /// Answer from the static zone data.
    ReturnToDns,
    /// SERVFAIL.
    Servfail,
    /// NOERROR with no answer.
    Nodata,
    /// No answer at all.
    Drop,
}

/// One `[[pool]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Unique name.
    pub name: String,
    /// Server names in order (validated to exist).
    pub members: Vec<String>,
    /// Method chain: preferred, alternate, fallback.
    pub methods: [Method; 3],
    /// TTL override; `None` = the gslb name's ttl.
    pub ttl: Option<u32>,
    /// Answers per response, 1..=8.
    pub max_answers: u8,
    /// Addresses of the fallback_ip method / all-down behaviour.
    pub fallback_ip: Vec<IpAddr>,
    /// All-down behaviour.
    pub when_all_down: AllDown,
    /// Static persist mask for IPv4 LDNS addresses (0..=32).
    pub persist_prefix_v4: u8,
    /// Static persist mask for IPv6 LDNS addresses (0..=64).
    pub persist_prefix_v6: u8,
}

/// How a gslb name chooses among its pools.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum PoolMethod {
    /// First pool with an available server.
    #[default]
    GlobalAvailability,
    /// Rotate pools per query (computed per selection round).
    RoundRobin,
    /// Pools weighted by `pool_ratios`.
    Ratio(Vec<u16>),
    /// Placeholder until topology records exist: behaves as global
    /// availability.
    Topology,
}

/// Generates `name()` (the config spelling), `from_name()` and `Display`.
macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value with its config spelling.
            pub const ALL: &'static [($ty, &'static str)] = &[$((<$ty>::$variant, $name)),*];

            /// The config spelling.
            pub fn name(&self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name,)*
                }
            }

            /// Parses the config spelling (exact, snake_case).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(AdminState {
    Enabled = "enabled",
    Disabled = "disabled",
    Draining = "draining",
});

names!(Method {
    None = "none",
    RoundRobin = "round_robin",
    Ratio = "ratio",
    StaticPersist = "static_persist",
    Random = "random",
    WeightedRandom = "weighted_random",
    GlobalAvailability = "global_availability",
    FewestSelected = "fewest_selected",
    LeastSessions = "least_sessions",
    LeastConnections = "least_connections",
    MostCapacity = "most_capacity",
    LowestLatency = "lowest_latency",
    DropPacket = "drop_packet",
    FallbackIp = "fallback_ip",
    ReturnToDns = "return_to_dns",
});

names!(AllDown {
    FailOpen = "fail_open",
    FallbackIp = "fallback_ip",
    ReturnToDns = "return_to_dns",
    Servfail = "servfail",
    Nodata = "nodata",
    Drop = "drop",
});

impl PoolMethod {
    /// The config spelling.
    pub fn name(&self) -> &'static str {
        match self {
            PoolMethod::GlobalAvailability => "global_availability",
            PoolMethod::RoundRobin => "round_robin",
            PoolMethod::Ratio(_) => "ratio",
            PoolMethod::Topology => "topology",
        }
    }
}

impl std::fmt::Display for PoolMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
