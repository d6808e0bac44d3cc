//! Answer updates under load: while dnsperf loads the fast path (50,000
//! q/s) with queries for `upd.bench.test` (a gslb name answered from a pool of two
//! servers), `gslb update-bench` toggles one server's admin state through
//! the control socket at a fixed rate; every toggle changes the name's
//! answer set in the XDP maps. A second client checks answers one by one:
//! each must be exactly one of the pool's two addresses.

use std::{fs, path::Path, process::Stdio};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{
    load::{self, Dnsperf},
    measure,
    netns::{Net, SERVER_V4},
};

/// The pool-based name (see `Dataset::write_gslb`).
pub const NAME: &str = "upd.bench.test";
/// Its two possible answers.
pub const ADDRS: [&str; 2] = ["198.18.250.1", "198.18.250.2"];
/// The server toggled.
pub const SERVER: &str = "upd1";
/// Updates per second asked for (the benchmark's target).
pub const RATE: u32 = 10_000;
/// Query load meanwhile: high, but below the machine's ceiling (both of
/// its cores are shared by the generator, the fast path and the updater),
/// so that a lost query means an update disturbed the fast path.
const LOAD_QPS: u64 = 50_000;
/// Answers checked one by one during the run.
const CHECKS: u32 = 300;

/// The config lines for the updated name.
pub fn config() -> String {
    format!(
        "[[datacenter]]\nname = \"bench\"\nlat = 0.0\nlon = 0.0\n\n\
         [[vserver]]\nname = \"upd1\"\naddress = \"{}\"\ndatacenter = \"bench\"\n\n\
         [[vserver]]\nname = \"upd2\"\naddress = \"{}\"\ndatacenter = \"bench\"\n\n\
         [[pool]]\nname = \"upd\"\nmembers = [\"upd1\", \"upd2\"]\n\
         preferred = \"global_availability\"\n\n\
         [[gslb]]\nname = \"{NAME}\"\nttl = 30\npools = [\"upd\"]\n",
        ADDRS[0], ADDRS[1]
    )
}

/// What the run found.
#[derive(Clone, Debug, Serialize)]
pub struct UpdateRun {
    /// Rate asked for.
    pub target_rate: u32,
    /// Updates pushed.
    pub updates: u64,
    /// Updates per second achieved.
    pub updates_per_second: f64,
    /// The load meanwhile.
    pub dnsperf: Dnsperf,
    /// Answers checked one by one.
    pub checked: u32,
    /// Of which not exactly one of the two addresses.
    pub wrong: u32,
    /// Of which unanswered.
    pub unanswered: u32,
    /// Queries the client end's veth dropped on transmit (the server end's
    /// ring was full): they never reached the server.
    pub client_tx_dropped: u64,
    /// Answers the server end's veth dropped on transmit (`XDP_TX` or the
    /// stack; the client end's ring was full): sent, never received.
    pub server_tx_dropped: u64,
}

impl UpdateRun {
    /// Queries dnsperf lost.
    pub fn lost(&self) -> u64 {
        self.dnsperf.sent.saturating_sub(self.dnsperf.completed)
    }

    /// Packets veth dropped between the two ends during the run: on this
    /// 2-CPU machine a ring can fill when both CPUs are busy for a moment.
    pub fn veth_dropped(&self) -> u64 {
        self.client_tx_dropped + self.server_tx_dropped
    }

    /// Lost queries not accounted for by veth's drops: lost by the server.
    pub fn lost_by_server(&self) -> u64 {
        self.lost().saturating_sub(self.veth_dropped())
    }

    /// Nothing lost by the server (every lost query was dropped by veth,
    /// before reaching it or after it answered), nothing wrong, every
    /// response NOERROR, at the target rate.
    pub fn met(&self) -> bool {
        self.wrong == 0
            && self.unanswered == 0
            && self.lost_by_server() == 0
            && self.dnsperf.rcodes.keys().all(|k| k == "NOERROR")
            && self.updates_per_second >= f64::from(self.target_rate) * 0.95
    }
}

/// Runs the measurement for `secs` seconds.
pub fn run(net: &Net, gslb: &Path, control: &Path, dir: &Path, secs: u64) -> Result<UpdateRun> {
    fs::create_dir_all(dir)?;
    let queries = dir.join("updates-queries.txt");
    fs::write(&queries, format!("{NAME} A\n"))?;
    let count = RATE * u32::try_from(secs).unwrap_or(1);
    net.napi_realtime(true)?;
    let before = counters(net);
    let tx_before = tx_dropped(net);
    let result = measure(net, gslb, control, dir, secs, &queries, count);
    let tx_after = tx_dropped(net);
    let after = counters(net);
    fs::write(
        dir.join("updates-counters.txt"),
        format!("before:\n{before}\nafter:\n{after}"),
    )?;
    let restored = net.napi_realtime(false);
    let mut result = result?;
    restored?;
    result.client_tx_dropped = tx_after.0.saturating_sub(tx_before.0);
    result.server_tx_dropped = tx_after.1.saturating_sub(tx_before.1);
    Ok(result)
}

/// `tx_dropped` of the client end and of the server end.
fn tx_dropped(net: &Net) -> (u64, u64) {
    let get = |ns: &str, dev: &str| {
        measure::link_counters(ns, dev)
            .get("tx_dropped")
            .copied()
            .unwrap_or(0)
    };
    (
        get(&net.client_ns, &net.client_if),
        get(&net.server_ns, &net.server_if),
    )
}

fn measure(
    net: &Net,
    gslb: &Path,
    control: &Path,
    dir: &Path,
    secs: u64,
    queries: &Path,
    count: u32,
) -> Result<UpdateRun> {
    let updater = net
        .server(gslb)
        .args(["update-bench", SERVER, "--count", &count.to_string()])
        .args(["--rate", &RATE.to_string(), "--control"])
        .arg(control)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting gslb update-bench")?;
    let script = format!(
        "for i in $(seq {CHECKS}); do dig +short +tries=1 +time=1 @{SERVER_V4} {NAME} A; echo ---; done"
    );
    let checker = net
        .client("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the answer checker")?;
    let dnsperf = load::dnsperf_at(
        net,
        queries,
        secs,
        Some(LOAD_QPS),
        &dir.join("updates-dnsperf.txt"),
    )?;
    let check_out = checker.wait_with_output()?;
    let out = updater.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "gslb update-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("update-bench output")?;
    let answers = String::from_utf8_lossy(&check_out.stdout);
    fs::write(dir.join("updates-checker.txt"), answers.as_bytes())?;
    let (wrong, unanswered) = judge(&answers);
    Ok(UpdateRun {
        target_rate: RATE,
        updates: v["updates"].as_u64().unwrap_or(0),
        updates_per_second: v["updates_per_second"].as_f64().unwrap_or(0.0),
        dnsperf,
        checked: CHECKS,
        wrong,
        unanswered,
        client_tx_dropped: 0,
        server_tx_dropped: 0,
    })
}

/// Drop counters of both veth ends and UDP counters of the client, for
/// finding where a lost query went.
fn counters(net: &Net) -> String {
    let mut out = String::new();
    for (cmd, args) in [
        (net.server("ip"), vec!["-s", "-s", "link"]),
        (net.client("ip"), vec!["-s", "-s", "link"]),
        (net.client("cat"), vec!["/proc/net/snmp"]),
        (net.server("cat"), vec!["/proc/net/snmp"]),
    ] {
        let mut cmd = cmd;
        if let Ok(o) = cmd.args(args).output() {
            out.push_str(&String::from_utf8_lossy(&o.stdout));
        }
    }
    out
}

/// Counts wrong and unanswered responses in the checker's output.
fn judge(text: &str) -> (u32, u32) {
    let (mut wrong, mut unanswered) = (0u32, 0u32);
    for block in text.split("---").map(str::trim) {
        // dig's own messages (";; communications error ...", timeouts)
        // are not answers.
        let lines: Vec<&str> = block
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(";;"))
            .collect();
        match lines.as_slice() {
            [] => unanswered += 1,
            [one] if ADDRS.contains(one) => {}
            _ => wrong += 1,
        }
    }
    // The text ends with a separator: the last (empty) block is not an answer.
    (wrong, unanswered.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_answers() {
        let t = "198.18.250.1\n---\n198.18.250.2\n---\n\n---\n1.2.3.4\n---\n";
        assert_eq!(judge(t), (1, 1));
        let timeout = ";; communications error to 198.18.0.1#53: timed out\n---\n";
        assert_eq!(judge(timeout), (0, 1));
    }

    fn run(sent: u64, completed: u64, client_drops: u64, server_drops: u64) -> UpdateRun {
        UpdateRun {
            target_rate: RATE,
            updates: 100_000,
            updates_per_second: 9_998.0,
            dnsperf: Dnsperf {
                sent,
                completed,
                loss: 0.0,
                qps: 50_000.0,
                avg_latency_ms: 0.4,
                rcodes: [("NOERROR".to_owned(), completed)].into(),
            },
            checked: CHECKS,
            wrong: 0,
            unanswered: 0,
            client_tx_dropped: client_drops,
            server_tx_dropped: server_drops,
        }
    }

    #[test]
    fn only_losses_veth_accounts_for_are_forgiven() {
        // bench-results/20261201-120112: 23 lost, 14 + 9 dropped by veth.
        assert_eq!(run(499_999, 499_976, 14, 9).lost_by_server(), 0);
        assert!(run(499_999, 499_976, 14, 9).met());
        assert_eq!(run(499_999, 499_976, 14, 8).lost_by_server(), 1);
        assert!(!run(499_999, 499_976, 14, 8).met());
        assert!(run(500_000, 500_000, 0, 0).met());
        let mut slow = run(500_000, 500_000, 0, 0);
        slow.updates_per_second = 9_000.0;
        assert!(!slow.met());
    }
}
