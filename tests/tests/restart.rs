//! Restart and upgrade without losing a query: the XDP link, the program
//! and the shared maps are pinned, a stopped or killed daemon leaves the
//! fast path answering the last state, and a new `gslb run` adopts the
//! pinned link, replacing the program atomically. Run-time admin states
//! and the last health survive in the state file; `gslb detach` removes
//! everything.
//!
//! Each restart runs under a bounded query load from the client
//! namespace (sequential UDP queries, 1 s timeout each): every query must
//! be answered, with a whole answer set of the old or the new config.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test restart`.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{check_config, start_with, status_server, v4, ZONE},
    netns::{Daemon, Net},
};
use hickory_proto::rr::RecordType;

/// The load's name and the addresses of its answer set.
const NAME: &str = "www.example.test";
const OLD: [&str; 3] = ["198.18.70.1", "198.18.70.2", "198.18.70.3"];
const NEW: [&str; 2] = ["198.18.71.1", "198.18.71.2"];
/// Bounds of one load run.
const LOAD_MAX: Duration = Duration::from_secs(60);
const LOAD_MAX_QUERIES: u64 = 200_000;
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// A config answering [`NAME`] with `servers` (all in one round-robin
/// pool, all in each answer).
fn config(servers: &[&str]) -> String {
    let mut text = ZONE.to_string();
    let names: Vec<String> = (0..servers.len()).map(|i| format!("s{i}")).collect();
    for (n, a) in names.iter().zip(servers) {
        text += &vserver(n, a, "");
    }
    let members: Vec<&str> = names.iter().map(String::as_str).collect();
    text += &pool("p", &members, "round_robin", 8, "");
    text += &gslb(NAME, 30, &["p"], "");
    text
}

fn set(addrs: &[&str]) -> BTreeSet<IpAddr> {
    addrs.iter().map(|a| v4(a)).collect()
}

/// What the load saw.
#[derive(Debug, Default)]
struct LoadReport {
    sent: u64,
    answered: u64,
    /// No reply within [`QUERY_TIMEOUT`].
    lost: u64,
    /// A reply that was not NOERROR with exactly one of the allowed sets.
    wrong: u64,
    first_wrong: Option<String>,
    /// Replies per allowed set, in the order given.
    per_set: Vec<u64>,
}

/// Sequential A queries for [`NAME`] from the client namespace until
/// stopped (bounded by [`LOAD_MAX`] and [`LOAD_MAX_QUERIES`]).
struct Load {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<LoadReport>,
}

impl Load {
    fn start(net: &Net, allowed: Vec<BTreeSet<IpAddr>>) -> Load {
        let client = net.udp_client(net.cli_v4());
        let server = net.srv_v4();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut r = LoadReport {
                per_set: vec![0; allowed.len()],
                ..LoadReport::default()
            };
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed)
                && start.elapsed() < LOAD_MAX
                && r.sent < LOAD_MAX_QUERIES
            {
                r.sent += 1;
                let Some(reply) = client.query(server, NAME, RecordType::A, QUERY_TIMEOUT) else {
                    r.lost += 1;
                    continue;
                };
                r.answered += 1;
                let got: BTreeSet<IpAddr> = reply.addrs.iter().copied().collect();
                match allowed.iter().position(|s| *s == got) {
                    Some(i) if reply.rcode == "NOERROR" && reply.addrs.len() == got.len() => {
                        r.per_set[i] += 1
                    }
                    _ => {
                        r.wrong += 1;
                        r.first_wrong.get_or_insert_with(|| format!("{reply:?}"));
                    }
                }
            }
            r
        });
        // Let it reach a steady state.
        thread::sleep(Duration::from_millis(300));
        Load { stop, handle }
    }

    fn finish(self) -> LoadReport {
        thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("the load thread panicked")
    }
}

fn assert_clean(what: &str, r: &LoadReport, d: &Daemon<'_>) {
    eprintln!("{what}: {r:?}");
    assert!(r.sent > 100, "{what}: too few queries sent: {r:?}");
    assert!(
        r.lost == 0 && r.wrong == 0,
        "{what}: {} of {} queries lost, {} answered wrongly (first: {:?})\n{}",
        r.lost,
        r.sent,
        r.wrong,
        r.first_wrong,
        d.log_text()
    );
}

/// The id of the XDP program attached to the server veth
/// (`ip link`'s `prog/xdp id N`).
fn xdp_prog_id(net: &Net) -> u32 {
    let link = net.srv_link_show();
    link.split("prog/xdp id ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no XDP program id in `ip link`:\n{link}"))
}

/// (1) and (3): SIGTERM, then a new daemon on the same pin directory, under
/// load: every query answered; the new daemon adopts the pinned link and
/// replaces the program (its id changes); the counters continue. Then an
/// upgrade-like restart with a changed config: the answers switch from
/// the old set to the new one, each reply wholly one or the other.
#[test]
fn graceful_restart_and_upgrade_lose_no_query() {
    let net = Net::new("restart");
    let old = config(&OLD);
    check_config(&old, "restart");
    let mut d = start_with(&net, &old, false);
    let id0 = xdp_prog_id(&net);

    let load = Load::start(&net, vec![set(&OLD)]);
    let before = d.stats();
    let (status, in_time) = d.terminate(Duration::from_secs(5));
    assert!(in_time && status.success(), "stop: {status}");
    // Nothing runs in user space now; the fast path answers.
    thread::sleep(Duration::from_millis(500));
    d.restart();
    let r = load.finish();
    assert_clean("graceful restart", &r, &d);
    let log = d.log_text();
    assert!(
        log.contains("adopting the pinned XDP link"),
        "no adoption in the log:\n{log}"
    );
    let st = d.status_json();
    assert_eq!(st["start"]["adopted"], true, "{}", st["start"]);
    assert_eq!(st["start"]["program_replaced"], true, "{}", st["start"]);
    let id1 = xdp_prog_id(&net);
    assert_ne!(id0, id1, "the program on the link was not replaced");
    let after = d.stats();
    assert!(
        before.delta_of(&after, "xdp_answered") >= r.answered / 2,
        "the counters did not continue: {:?}",
        before.delta(&after)
    );

    // Upgrade-like: a new config (other answers) and a new program.
    let new = config(&NEW);
    check_config(&new, "restart-new");
    d.set_config(&new);
    let load = Load::start(&net, vec![set(&OLD), set(&NEW)]);
    let (status, in_time) = d.terminate(Duration::from_secs(5));
    assert!(in_time && status.success(), "stop: {status}");
    d.restart();
    let r = load.finish();
    assert_clean("restart with a new config", &r, &d);
    assert!(
        r.per_set[0] > 0 && r.per_set[1] > 0,
        "the answers did not switch from the old set to the new: {r:?}"
    );
    assert_ne!(xdp_prog_id(&net), id1, "the program was not replaced");
}

/// (2) and (5): `kill -9` under load: the fast path keeps answering with
/// no daemon at all (every query answered, the XDP counters grow), then a
/// new daemon adopts the link. `gslb detach` then leaves no program on
/// the interface and no pins.
#[test]
fn kill_9_leaves_the_fast_path_answering() {
    let net = Net::new("restart-kill");
    let text = config(&OLD);
    check_config(&text, "restart-kill");
    let mut d = start_with(&net, &text, false);
    let load = Load::start(&net, vec![set(&OLD)]);
    d.kill();
    let before = d.stats();
    thread::sleep(Duration::from_secs(1));
    let alone = before.delta_of(&d.stats(), "xdp_answered");
    assert!(
        alone > 50,
        "XDP answered only {alone} queries with no daemon"
    );
    d.restart();
    let r = load.finish();
    assert_clean("kill -9 and restart", &r, &d);
    assert_eq!(d.status_json()["start"]["adopted"], true);

    d.terminate(Duration::from_secs(5));
    assert!(net.srv_has_xdp(), "stop detached the program");
    let out = d.detach();
    assert!(out.success(), "{out}");
    assert!(!net.srv_has_xdp(), "{}", net.srv_link_show());
    assert!(!d.pin_dir.exists(), "pins left: {:?}", d.pinned_files());
    // A new daemon starts from scratch (nothing to adopt).
    let adoptions = |d: &Daemon<'_>| d.log_text().matches("adopting the pinned XDP link").count();
    let before = adoptions(&d);
    d.restart();
    assert_eq!(adoptions(&d), before, "adopted after gslb detach");
    assert_eq!(d.status_json()["start"]["adopted"], false);
}

/// (4) A drained server and a server its monitor found down stay drained
/// and down after a restart, before the restarted daemon's first probe
/// (which takes 2 s to time out): the state file carries them.
#[test]
fn drain_and_health_survive_a_restart() {
    let net = Net::new("restart-state");
    // Probes of an address nobody has time out (2 s): the first probe of
    // a restarted daemon says nothing for 2 s.
    let silent = r#"
[[monitor]]
name = "silent"
type = "tcp"
interval = "3s"
timeout = "2s"
rise = 2
fall = 1
port = 80
"#;
    let mut text = ZONE.to_string() + silent;
    text += &vserver("ok", "198.18.72.1", "");
    text += &vserver("drained", "198.18.72.2", "");
    text += &vserver(
        "blackholed",
        "198.18.72.3",
        &format!(
            "monitors = [\"silent\"]\ncheck_address = \"{}\"\n",
            net.v4(233)
        ),
    );
    text += &pool("p", &["ok", "drained", "blackholed"], "round_robin", 8, "");
    text += &gslb(NAME, 30, &["p"], "");
    check_config(&text, "restart-state");
    let mut d = start_with(&net, &text, false);
    d.server_admin("drain", "drained");
    // The monitor's first probe times out: down.
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_server(&d.status_json(), "blackholed")["health"] != "down" {
        assert!(Instant::now() < deadline, "blackholed never went down");
        thread::sleep(Duration::from_millis(100));
    }
    let only_ok = vec![v4("198.18.72.1")];
    let r = net.dig(net.srv_v4(), NAME, "A", &[]);
    assert_eq!(gslb_tests::harness::answer_addrs(&r), only_ok, "{}", r.raw);

    d.terminate(Duration::from_secs(5));
    let saved = std::fs::read_to_string(&d.state_file).expect("no state file");
    assert!(saved.contains("\"draining\""), "{saved}");
    d.restart();
    // Before the first probe can have ended (2 s): still down, drained.
    let st = d.status_json();
    assert_eq!(st["start"]["state_restored"], true, "{}", st["start"]);
    assert_eq!(status_server(&st, "drained")["admin"], "draining", "{st}");
    assert_eq!(status_server(&st, "blackholed")["health"], "down", "{st}");
    let r = net.dig(net.srv_v4(), NAME, "A", &[]);
    assert_eq!(gslb_tests::harness::answer_addrs(&r), only_ok, "{}", r.raw);
    let log = d.log_text();
    assert!(log.contains("admin state restored"), "{log}");

    // `enable` at run time is saved too: after another restart it is
    // enabled (as its config says) and answered.
    d.server_admin("enable", "drained");
    d.terminate(Duration::from_secs(5));
    d.restart();
    let st = d.status_json();
    assert_eq!(status_server(&st, "drained")["admin"], "enabled", "{st}");
}

/// A persistence pool over `servers` (in this order) answering
/// `sticky.example.test`.
fn sticky_config(servers: &[(&str, &str)]) -> String {
    let mut text = ZONE.to_string();
    for (n, a) in servers {
        text += &vserver(n, a, "");
    }
    let members: Vec<&str> = servers.iter().map(|(n, _)| *n).collect();
    text += &pool(
        "sticky",
        &members,
        "round_robin",
        1,
        "persistence = { ttl = \"10m\", prefix_v4 = 24 }\n",
    );
    text += &gslb("sticky.example.test", 30, &["sticky"], "");
    text
}

/// `gslb persist list --json`: (client, server) of every record.
fn records(d: &Daemon<'_>) -> Vec<(String, String)> {
    let out = d.ctl(&["persist", "list", "--json"]);
    assert!(out.success(), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    v["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["client"].as_str().unwrap_or("?").to_string(),
                r["server"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Persistence records outlive a restart with the same config (same
/// server and set ids): the client keeps its server through the fast
/// path. After a restart with the servers listed in another order (their
/// ids change) the pinned records are not taken over: none is left to
/// point at the wrong server.
#[test]
fn persistence_records_survive_a_restart_only_with_the_same_ids() {
    let net = Net::new("restart-persist");
    let servers = [
        ("s1", "198.18.73.1"),
        ("s2", "198.18.73.2"),
        ("s3", "198.18.73.3"),
    ];
    let text = sticky_config(&servers);
    check_config(&text, "restart-persist");
    let mut d = start_with(&net, &text, false);
    let ask = || {
        let r = net.dig(net.srv_v4(), "sticky.example.test", "A", &[]);
        let got = gslb_tests::harness::answer_addrs(&r);
        assert_eq!(got.len(), 1, "{}", r.raw);
        got[0]
    };
    let first = ask();
    let before = records(&d);
    assert_eq!(before.len(), 1, "{before:?}");

    d.terminate(Duration::from_secs(5));
    d.restart();
    let st = d.status_json();
    assert_eq!(st["start"]["persistence_kept"], true, "{}", st["start"]);
    assert_eq!(records(&d), before, "the records changed over the restart");
    for _ in 0..5 {
        assert_eq!(ask(), first, "the client lost its server over the restart");
    }

    // Another order: other ids.
    let reordered = [servers[2], servers[0], servers[1]];
    d.set_config(&sticky_config(&reordered));
    d.terminate(Duration::from_secs(5));
    d.restart();
    let st = d.status_json();
    assert_eq!(st["start"]["persistence_kept"], false, "{}", st["start"]);
    let log = d.log_text();
    assert!(
        log.contains("persistence records are not taken over"),
        "{log}"
    );
    let after = records(&d);
    assert!(
        after.iter().all(|r| !before.contains(r)) && after.len() <= 1,
        "old records survived a change of ids: {after:?}"
    );
}
