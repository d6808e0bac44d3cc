//! The control protocol's request and reply types: one JSON object per
//! line each way on the control socket. The HTTP API will serve the same
//! types. Every state, method and behaviour in them is an enum spelled by
//! its one `name()` (`names!`), the spelling the config uses.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use crate::config::{AdminState, AllDown, Health, Method, PoolMethod};

/// A request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Every server and pool: answered with a [`StatusReport`].
    Status,
    /// How a name is answered: answered with an [`ExplainReport`].
    Explain {
        /// The gslb name.
        name: String,
        /// Client (LDNS) address.
        client: Option<IpAddr>,
        /// ECS prefix (`ADDR/LEN`) a resolver sends for its client.
        #[serde(default)]
        ecs: Option<String>,
    },
    /// The persistence records (pool `persistence`), those of one gslb
    /// name and/or of the client prefixes within or around one prefix;
    /// with `clear`, they are removed too: answered with a
    /// [`PersistReport`] of the records (removed).
    Persist {
        /// Only the records of this gslb name.
        #[serde(default)]
        name: Option<String>,
        /// Only the records of client prefixes that overlap this prefix
        /// (`ADDR/LEN`, or an address).
        #[serde(default)]
        client: Option<String>,
        /// Remove them.
        #[serde(default)]
        clear: bool,
    },
    /// Read the client data again (region files, geo databases) and
    /// switch to the rebuilt client groups: answered with a
    /// [`ClientsReport`].
    ClientsReload,
    /// Read the config file again, validate it and switch to it (the
    /// old config keeps serving when it is refused): answered with a
    /// [`ReloadReport`].
    Reload,
    /// Change a server's admin state: answered with `null`.
    Admin {
        /// Server name.
        server: String,
        /// New state; the CLI's verbs (`enable`, `disable`, `drain`)
        /// are read as their states too.
        #[serde(deserialize_with = "admin_state")]
        state: AdminState,
    },
}

/// The verbs of `gslb server enable|disable|drain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// To [`AdminState::Enabled`].
    Enable,
    /// To [`AdminState::Disabled`].
    Disable,
    /// To [`AdminState::Draining`].
    Drain,
}

names!(AdminAction {
    Enable = "enable",
    Disable = "disable",
    Drain = "drain",
});

impl AdminAction {
    /// The state it sets.
    pub fn state(self) -> AdminState {
        match self {
            AdminAction::Enable => AdminState::Enabled,
            AdminAction::Disable => AdminState::Disabled,
            AdminAction::Drain => AdminState::Draining,
        }
    }
}

/// An admin state by its name or its verb.
fn admin_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AdminState, D::Error> {
    let name = String::deserialize(d)?;
    AdminState::from_name(&name)
        .or_else(|| AdminAction::from_name(&name).map(AdminAction::state))
        .ok_or_else(|| serde::de::Error::custom(format!("unknown admin state {name:?}")))
}

/// A response: `{"ok": ...}` or `{"error": "..."}`. The daemon sends a
/// [`Reply`]; a client reads the reply type of its request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response<T = Reply> {
    /// Success.
    Ok(T),
    /// Failure, in words.
    Error(String),
}

/// What the daemon answers, by request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// To [`Request::Status`].
    Status(Box<StatusReport>),
    /// To [`Request::Explain`].
    Explain(Box<ExplainReport>),
    /// To [`Request::Persist`].
    Persist(Box<PersistReport>),
    /// To [`Request::ClientsReload`].
    Clients(Box<ClientsReport>),
    /// To [`Request::Reload`].
    Reload(Box<ReloadReport>),
    /// To [`Request::Admin`]: `null`.
    Done,
}

/// `gslb clients reload`: what the new client data holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientsReport {
    /// Prefixes of the new partition (the trie's entries).
    pub prefixes: usize,
    /// Client groups (group 0 included).
    pub groups: usize,
    /// Groups that are new.
    pub new_groups: usize,
    /// Groups that went away.
    pub stale_groups: usize,
    /// Trie entries written or deleted (0 without XDP).
    pub trie_changes: usize,
    /// Whether the geo databases were read again: `None` without
    /// `[geoip]`, `false` when their files had not changed since the
    /// last read, which served again.
    #[serde(default)]
    pub geo_read: Option<bool>,
    /// How long the reload took, ms.
    pub elapsed_ms: u64,
}

/// What a reload changed, by name: objects added, removed, and those
/// whose config differs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// New names.
    pub added: Vec<String>,
    /// Names gone.
    pub removed: Vec<String>,
    /// Names still there with a different config.
    pub changed: Vec<String>,
}

impl Changes {
    /// Nothing added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// `gslb reload`: what the new config changed and how long the switch
/// took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The config file read (or the embedded default's name).
    pub config: String,
    /// `[[vserver]]` entries.
    pub servers: Changes,
    /// `[[pool]]` entries.
    pub pools: Changes,
    /// `[[gslb]]` names.
    pub names: Changes,
    /// `[[zone]]`s.
    pub zones: Changes,
    /// XDP map entries written or removed (0 without XDP).
    pub map_changes: usize,
    /// `CLIENT_GROUPS` trie entries written or removed.
    pub trie_changes: usize,
    /// Whether the geo databases were read again (as in
    /// [`ClientsReport::geo_read`]).
    #[serde(default)]
    pub geo_read: Option<bool>,
    /// The new config's warnings (`FILE:LINE:COL: ...`).
    pub warnings: Vec<String>,
    /// From the request to the switch done, ms.
    pub elapsed_ms: u64,
}

/// Reloads since the daemon started (`gslb status`, metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadStatus {
    /// Reloads applied.
    pub ok: u64,
    /// Reloads refused (the old config kept serving).
    pub failed: u64,
    /// When the last reload (applied or refused) ended, Unix seconds.
    pub last_at_unix: Option<u64>,
    /// Whether the last reload was applied.
    pub last_ok: Option<bool>,
    /// Why the last refused reload was refused.
    pub last_error: Option<String>,
    /// The config file reloads read (`None`: the embedded default).
    pub config: Option<String>,
}

/// `gslb persist list|clear`: the records, in set and prefix order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistReport {
    /// Whether the records were removed (`clear`).
    pub cleared: bool,
    /// The records.
    pub records: Vec<PersistEntry>,
}

/// One persistence record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistEntry {
    /// The gslb names of its answer set (names of one policy share it).
    pub names: Vec<String>,
    /// `A` or `AAAA`: which answers of the set.
    pub rtype: String,
    /// The client prefix.
    pub client: String,
    /// The server the prefix sticks to (`#id` when unknown).
    pub server: String,
    /// Seconds since the record was last used.
    pub age_s: f64,
    /// Seconds until it lapses; `None` when it is void already (expired,
    /// its server went down or was disabled since, or no longer a
    /// candidate).
    pub expires_in_s: Option<f64>,
}

/// Why a request failed (sent as its message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The line is not a request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The name to explain is not a DNS name.
    #[error("bad name {name:?}: {reason}")]
    BadName {
        /// As given.
        name: String,
        /// Why.
        reason: String,
    },
    /// No server has that name.
    #[error("no server named {0:?}")]
    NoServer(String),
    /// The name is not a gslb name.
    #[error("{0} is not a gslb name")]
    NotGslbName(String),
    /// The client data could not be rebuilt (the old data stays).
    #[error("client data: {0}")]
    Clients(String),
    /// The new config was refused; the old one keeps serving.
    #[error("reload refused, the running config is unchanged: {0}")]
    Reload(String),
    /// The engine is gone (the daemon is stopping).
    #[error("engine stopped")]
    EngineStopped,
}

/// `gslb status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    /// Servers.
    pub servers: Vec<ServerStatus>,
    /// Pools with their members' names.
    pub pools: Vec<PoolStatus>,
    /// The gslb names with pools: their pools and current decisions.
    pub names: Vec<NameStatus>,
    /// Config reloads since start.
    #[serde(default)]
    pub reload: ReloadStatus,
    /// How this daemon started: whether it took over a running fast path
    /// and restored saved state.
    #[serde(default)]
    pub start: StartStatus,
}

/// How the daemon started (`gslb status`, the metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartStatus {
    /// It adopted the XDP link(s) a previous daemon pinned.
    pub adopted: bool,
    /// It replaced the program on an adopted link (`bpf_link_update`).
    pub program_replaced: bool,
    /// It re-applied a state file's admin states and health.
    pub state_restored: bool,
    /// It kept the pinned persistence records (same server and set ids).
    #[serde(default)]
    pub persistence_kept: bool,
    /// When it started, Unix seconds.
    pub at_unix: u64,
}

/// One gslb name in `gslb status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NameStatus {
    /// The name.
    pub name: String,
    /// Its pools, in order.
    pub pools: Vec<String>,
    /// How a pool is chosen.
    pub pool_method: PoolMethod,
    /// The pool deciding A answers now, if any.
    pub a_pool: Option<String>,
    /// The A decision in words.
    pub a: String,
    /// The pool deciding AAAA answers now, if any.
    pub aaaa_pool: Option<String>,
    /// The AAAA decision in words.
    pub aaaa: String,
    /// Responses with addresses handed out for the name since the daemon
    /// started, by the XDP program and the slow path together.
    #[serde(default)]
    pub answers: u64,
}

/// One server in `gslb status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Name.
    pub name: String,
    /// Address.
    pub address: IpAddr,
    /// Datacenter.
    pub datacenter: String,
    /// Admin state.
    pub admin: AdminState,
    /// Health (all monitors up).
    pub health: Health,
    /// Availability for new clients.
    pub availability: Availability,
    /// Monitors.
    pub monitors: Vec<MonitorStatus>,
    /// Sessions.
    pub sessions: Option<u64>,
    /// Connections.
    pub connections: Option<u64>,
    /// Seconds since the last good reading of its `metrics_url` (absent
    /// without one, null before the first).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub metrics_age_s: Option<Option<f64>>,
    /// Why the latest poll of its `metrics_url` failed (null when it
    /// succeeded; absent without a `metrics_url`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub metrics_error: Option<Option<String>>,
    /// How often it was handed out first since start (XDP and slow path).
    pub handed_out: u64,
    /// How often it was handed out first within `fewest_selected_window`
    /// (what `fewest_selected` compares).
    pub handed_out_window: u64,
}

/// A field that may be absent (`None`) or null (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Last result of one monitor of one server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// Monitor name.
    pub monitor: String,
    /// Its rise/fall state.
    pub up: bool,
    /// Last probe succeeded.
    pub last_ok: Option<bool>,
    /// Last probe message.
    pub last_message: Option<String>,
    /// Last probe latency in milliseconds.
    pub last_latency_ms: Option<f64>,
    /// When, seconds since the epoch.
    pub last_at: Option<f64>,
}

/// One pool in `gslb status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolStatus {
    /// Name.
    pub name: String,
    /// Members in order.
    pub members: Vec<String>,
    /// Method chain: preferred, alternate, fallback.
    pub methods: Vec<Method>,
    /// How many members are available for new clients now.
    pub available_members: usize,
    /// Whether any member is available.
    pub available: bool,
}

/// Why a server can or cannot take new clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Enabled, healthy, within capacity.
    Available,
    /// A monitor says down.
    Down,
    /// Administratively disabled.
    Disabled,
    /// Draining: keeps persistent clients, no new ones.
    Draining,
    /// Sessions or connections above the configured limit (seed 000
    /// claims 29, 35).
    OverCapacity,
}

names!(Availability {
    Available = "available",
    Down = "down",
    Disabled = "disabled",
    Draining = "draining",
    OverCapacity = "over_capacity",
});

/// `gslb explain`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExplainReport {
    /// The gslb name.
    pub name: String,
    /// The client address used: the ECS address (masked to its prefix)
    /// when one is given, else `--client`.
    pub client: Option<IpAddr>,
    /// The ECS prefix given (`--ecs`), as the resolver would send it.
    #[serde(default)]
    pub ecs: Option<String>,
    /// Where the client groups place the client (with `--client` or
    /// `--ecs`).
    #[serde(default)]
    pub placement: Option<ClientPlacement>,
    /// The names' answers depend on the client's group (a topology or
    /// geo_proximity method).
    #[serde(default)]
    pub client_aware: bool,
    /// A: how it was decided, and what this client gets now.
    pub a: ExplainFamily,
    /// AAAA.
    pub aaaa: ExplainFamily,
}

/// Where the client groups place one client, and what they know of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientPlacement {
    /// The client-group prefix it falls in (the `CLIENT_GROUPS` trie
    /// entry); `None` when no client data exists.
    pub prefix: Option<String>,
    /// Its client group.
    pub group: u32,
    /// The topology rules whose client side matches, in precedence
    /// order: `(rule as written, score)`.
    pub rules: Vec<(String, u32)>,
    /// What the geo databases say (`None` without `[geoip]`): country,
    /// continent, ASN, location.
    pub geo: Option<String>,
    /// Datacenters nearest first by biased distance (geo_proximity in
    /// use and the client located).
    pub ranking: Option<Vec<String>>,
}

/// One family of `gslb explain`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExplainFamily {
    /// How the decision was reached.
    pub explanation: Explanation,
    /// The answer this client would get now.
    pub answer: Vec<IpAddr>,
    /// The ECS SCOPE PREFIX-LENGTH a reply to a query with ECS carries
    /// (0 without an answer set).
    #[serde(default)]
    pub scope: u8,
    /// The persistence record the client's prefix has for this set, in
    /// words (`None`: no record, or no persistence).
    #[serde(default)]
    pub persistence: Option<String>,
}

/// How a decision was reached.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Explanation {
    /// The pool that answered, if any.
    pub pool: Option<String>,
    /// Which step decided.
    pub step: Step,
    /// The method (or all-down behaviour) that decided; `ordered` for
    /// fixed addresses.
    pub method: Decider,
    /// Pools considered before, and why they were skipped.
    pub skipped_pools: Vec<String>,
    /// The members of the deciding pool with their state.
    pub candidates: Vec<Candidate>,
    /// The decision in words.
    pub decision: String,
    /// With `pool_method = "topology"`: every pool's score for the
    /// client's group, in the order tried.
    #[serde(default)]
    pub pool_scores: Vec<PoolScore>,
}

/// The stages of a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    /// Nothing decided yet.
    #[default]
    Nothing,
    /// The pool's preferred method.
    Preferred,
    /// Its alternate method.
    Alternate,
    /// Its fallback method.
    Fallback,
    /// Its all-down behaviour.
    WhenAllDown,
    /// Fixed addresses (a gslb name without pools).
    Static,
    /// No pool serves the family.
    None,
}

names!(Stage {
    Nothing = "",
    Preferred = "preferred",
    Alternate = "alternate",
    Fallback = "fallback",
    WhenAllDown = "when_all_down",
    Static = "static",
    None = "none",
});

impl Stage {
    /// A pool's method chain, in order.
    pub const CHAIN: [Stage; 3] = [Stage::Preferred, Stage::Alternate, Stage::Fallback];
}

/// The step that decided: its stage, and whether in the gslb name's last
/// resort pool. Spelled as the stage, after `last_resort/` in the last
/// resort pool (`last_resort/preferred`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The stage.
    pub stage: Stage,
    /// In the last resort pool.
    pub last_resort: bool,
}

/// What a last resort step's spelling starts with.
const LAST_RESORT: &str = "last_resort/";

impl Step {
    /// Parses the spelling.
    pub fn from_name(name: &str) -> Option<Step> {
        let (last_resort, stage) = match name.strip_prefix(LAST_RESORT) {
            Some(stage) => (true, stage),
            None => (false, name),
        };
        Stage::from_name(stage).map(|stage| Step { stage, last_resort })
    }
}

impl From<Stage> for Step {
    fn from(stage: Stage) -> Step {
        Step {
            stage,
            last_resort: false,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.last_resort {
            f.write_str(LAST_RESORT)?;
        }
        f.write_str(self.stage.name())
    }
}

impl PartialEq<&str> for Step {
    fn eq(&self, other: &&str) -> bool {
        Step::from_name(other) == Some(*self)
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Step::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown step {name:?}")))
    }
}

/// What decided an answer: a method of the pool's chain, its all-down
/// behaviour, or the fixed order of static addresses. Spelled as the
/// method or behaviour is in the config; `""` before any decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decider {
    /// Nothing decided yet (or no pool serves the family).
    #[default]
    Nothing,
    /// A method of the chain.
    Method(Method),
    /// The pool's `when_all_down`.
    AllDown(AllDown),
    /// Fixed addresses, in order.
    Ordered,
}

impl Decider {
    /// The spelling.
    pub fn name(&self) -> &'static str {
        match self {
            Decider::Nothing => "",
            Decider::Method(m) => m.name(),
            Decider::AllDown(a) => a.name(),
            Decider::Ordered => "ordered",
        }
    }

    /// Parses the spelling; a word that is both a method and an all-down
    /// behaviour (`fallback_ip`, `return_to_dns`) reads as the method.
    pub fn from_name(name: &str) -> Option<Decider> {
        match name {
            "" => Some(Decider::Nothing),
            "ordered" => Some(Decider::Ordered),
            _ => Method::from_name(name)
                .map(Decider::Method)
                .or_else(|| AllDown::from_name(name).map(Decider::AllDown)),
        }
    }
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Decider {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl Serialize for Decider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Decider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Decider::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown method {name:?}")))
    }
}

/// One candidate in an explanation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// Server name.
    pub server: String,
    /// Answered address.
    pub address: IpAddr,
    /// Availability.
    pub availability: Availability,
    /// Sessions, when known.
    pub sessions: Option<u64>,
    /// Connections, when known.
    pub connections: Option<u64>,
    /// Probe latency in milliseconds, when known.
    pub latency_ms: Option<f64>,
    /// First-answer count so far.
    pub hits: u64,
    /// Ratio (weight).
    pub ratio: u16,
    /// Its topology score for the explained client's group (`None`: no
    /// rule scores it).
    #[serde(default)]
    pub score: Option<u32>,
    /// For `geo_proximity`: the rank of its datacenter by biased distance
    /// from the client (0 = nearest); `None` without a location.
    #[serde(default)]
    pub proximity: Option<usize>,
}

/// A pool's topology score for the explained client's group
/// (`pool_method = "topology"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolScore {
    /// The pool.
    pub pool: String,
    /// Its score; `None`: no rule scores it (tried after the scored
    /// pools, in config order).
    pub score: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each enum's serde form is its `name()`, and `from_name` reads it
    /// back: the one spelling the config, the replies and the CLI share.
    #[test]
    fn serde_spelling_is_the_name() {
        fn check<T>(all: &[(T, &str)])
        where
            T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
        {
            for (v, name) in all {
                assert_eq!(serde_json::to_value(v).unwrap(), *name);
                let back: T = serde_json::from_value(serde_json::json!(name)).unwrap();
                assert_eq!(&back, v);
            }
        }
        check(AdminState::ALL);
        check(AdminAction::ALL);
        check(Health::ALL);
        check(Availability::ALL);
        check(Method::ALL);
        check(AllDown::ALL);
        for m in PoolMethod::all() {
            assert_eq!(serde_json::to_value(&m).unwrap(), m.name());
            assert_eq!(PoolMethod::from_name(m.name()), Some(m));
        }
        assert_eq!(
            serde_json::to_value(PoolMethod::Ratio(vec![3, 1])).unwrap(),
            "ratio"
        );
        for d in Method::ALL
            .iter()
            .map(|&(m, _)| Decider::Method(m))
            .chain(AllDown::ALL.iter().map(|&(a, _)| Decider::AllDown(a)))
            .chain([Decider::Nothing, Decider::Ordered])
        {
            let json = serde_json::to_value(d).unwrap();
            assert_eq!(json, d.name());
            let back: Decider = serde_json::from_value(json).unwrap();
            assert_eq!(back.name(), d.name());
        }
        for &(stage, name) in Stage::ALL {
            for last_resort in [false, true] {
                let step = Step { stage, last_resort };
                let want = if last_resort {
                    format!("last_resort/{name}")
                } else {
                    name.to_string()
                };
                assert_eq!(serde_json::to_value(step).unwrap(), want);
                assert_eq!(serde_json::from_value::<Step>(want.into()).unwrap(), step);
            }
        }
        let e = serde_json::from_str::<Method>("\"rount_robin\"").unwrap_err();
        assert!(e.to_string().contains("rount_robin"), "{e}");
    }

    /// An admin request takes a state by name or by the CLI's verb, and
    /// names an unknown one.
    #[test]
    fn admin_request_states_and_verbs() {
        for (word, state) in [
            ("enabled", AdminState::Enabled),
            ("enable", AdminState::Enabled),
            ("disabled", AdminState::Disabled),
            ("disable", AdminState::Disabled),
            ("draining", AdminState::Draining),
            ("drain", AdminState::Draining),
        ] {
            let line = format!(r#"{{"cmd":"admin","server":"s1","state":"{word}"}}"#);
            match serde_json::from_str::<Request>(&line).unwrap() {
                Request::Admin { server, state: got } => {
                    assert_eq!((server.as_str(), got), ("s1", state), "{word}");
                }
                other => panic!("{word}: {other:?}"),
            }
        }
        let sent = serde_json::to_string(&Request::Admin {
            server: "s1".into(),
            state: AdminState::Draining,
        })
        .unwrap();
        assert_eq!(sent, r#"{"cmd":"admin","server":"s1","state":"draining"}"#);
        let e = serde_json::from_str::<Request>(r#"{"cmd":"admin","server":"s1","state":"up"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown admin state \"up\""), "{e}");
    }

    /// A server's reply keeps its JSON shape through a client's read and
    /// write: the metrics fields stay absent without a `metrics_url` and
    /// null before the first reading; states are their names.
    #[test]
    fn server_status_round_trips() {
        let server = |age: Option<Option<f64>>, error: Option<Option<String>>| ServerStatus {
            name: "s1".into(),
            address: "198.18.0.1".parse().unwrap(),
            datacenter: "dc1".into(),
            admin: AdminState::Draining,
            health: Health::Down,
            availability: Availability::OverCapacity,
            monitors: vec![MonitorStatus {
                monitor: "tcp".into(),
                up: false,
                last_ok: Some(false),
                last_message: Some("refused".into()),
                last_latency_ms: Some(0.25),
                last_at: Some(1.5),
            }],
            sessions: Some(7),
            connections: None,
            metrics_age_s: age,
            metrics_error: error,
            handed_out: 3,
            handed_out_window: 1,
        };
        for s in [
            server(None, None),
            server(Some(None), Some(None)),
            server(Some(Some(2.5)), Some(Some("timeout".into()))),
        ] {
            let json = serde_json::to_value(&s).unwrap();
            assert_eq!(json["admin"], "draining");
            assert_eq!(json["health"], "down");
            assert_eq!(json["availability"], "over_capacity");
            assert_eq!(
                json.get("metrics_age_s").is_some(),
                s.metrics_age_s.is_some()
            );
            let back: ServerStatus = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.metrics_age_s, s.metrics_age_s);
            assert_eq!(back.metrics_error, s.metrics_error);
            assert_eq!(serde_json::to_value(&back).unwrap(), json);
        }
    }

    /// The daemon's replies are the wire shapes clients read: `{"ok":null}`
    /// for an admin change, `{"error":"..."}` with the error's message.
    #[test]
    fn response_shapes() {
        let done = serde_json::to_string(&Response::Ok(Reply::Done)).unwrap();
        assert_eq!(done, r#"{"ok":null}"#);
        let r: Response<()> = serde_json::from_str(&done).unwrap();
        assert!(matches!(r, Response::Ok(())));
        let e = Response::<Reply>::Error(RequestError::NoServer("x".into()).to_string());
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":"no server named \"x\""}"#
        );
    }
}
