//! 10 restarts under load: gslb XDP on the reload part's config
//! (generation 0), stopped and started again [`RESTARTS`] times on the
//! same pin directory and state file, the first half gracefully
//! (SIGTERM), the second with `kill -9`, while dnsperf sends a bounded
//! load ([`QPS`]) and the reload part's counting UDP client asks one name
//! after another and checks every answer. Each new daemon adopts the
//! pinned XDP link and replaces the program; between the old daemon's
//! end and the new one's attach only the pinned program answers.
//! Reported: queries sent and lost (dnsperf's, and the checker's
//! unanswered ones), wrong answers, how long each restart left no daemon
//! running (median, max), the adoptions, the XDP program's share of the
//! answers and veth's drops.

use std::{
    fmt::Write as _,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use serde::Serialize;

use super::{
    netns::{Net, Proc},
    reload, servers,
    underload::{median_max, Load, UnderLoad},
    Ctx,
};

/// Restarts in the run: the first half graceful, the rest `kill -9`.
pub const RESTARTS: u32 = 10;
/// dnsperf's offered rate, queries/s.
const QPS: u64 = 20_000;
/// Pause after each new daemon is ready, before the next restart.
const SETTLE: Duration = Duration::from_millis(500);

/// What the run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RestartBench {
    /// Graceful restarts done (SIGTERM, then a new daemon).
    pub graceful: u32,
    /// `kill -9` restarts done.
    pub killed: u32,
    /// New daemons that adopted the pinned link.
    pub adopted: u32,
    /// Time without a daemon answering in user space, from the stop to
    /// the new daemon's readiness, ms: median.
    pub median_gap_ms: f64,
    /// The longest, ms.
    pub max_gap_ms: f64,
    /// The load and the checker.
    #[serde(flatten)]
    pub load: UnderLoad,
}

impl Ctx<'_> {
    /// The restart run; never fails (a failure is recorded).
    pub(super) fn restart_bench(&mut self, net: &mut Net) -> RestartBench {
        println!("bench: {RESTARTS} restarts under load ...");
        let mut out = RestartBench::default();
        let pin = net.next_pin_dir();
        if let Err(e) = self.restart_run(net, &pin, &mut out) {
            println!("bench: restart: {e:#}");
            out.load.error = Some(format!("{e:#}"));
        }
        // Whatever happened, leave no program on the interface.
        let _ = Command::new(self.gslb)
            .args(["detach", "--pin-dir"])
            .arg(&pin)
            .output();
        let _ = self.restore_ends(net);
        out
    }

    fn restart_run(&mut self, net: &mut Net, pin: &Path, out: &mut RestartBench) -> Result<()> {
        let dir = self.work.join("restart");
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("state.json"));
        self.client_for_sockets(net)?;
        let file = dir.join("gslb.toml");
        std::fs::write(&file, reload::config(0))?;
        let queries = reload::write_queries(&dir)?;
        net.xdp_off(true)?;
        let start = |n: u32| -> Result<Proc> {
            let c = servers::gslb_run_pinned(net, self.gslb, &file, pin, &dir);
            let mut p = Proc::spawn("gslb", c, &dir.join(format!("server-{n}.log")))?;
            p.wait_log("gslb ready", self.plan.start_timeout)?;
            Ok(p)
        };
        let mut p = start(0)?;
        let pids = super::netns::descendants(p.pid());
        let load = Load {
            queries: &queries,
            dir: &dir,
            qps: QPS,
            // Long enough for every restart: a start of the release build
            // takes about a second, more on a busy machine.
            secs: 5 + u64::from(RESTARTS) * 6,
            warmup: Duration::from_secs(1),
        };
        let mut gaps = Vec::new();
        let (mut graceful, mut killed, mut adopted) = (0, 0, 0);
        let result = self.under_load(net, pids, pin, &load, &mut out.load, || {
            for n in 1..=RESTARTS {
                let kill = n > RESTARTS / 2;
                let t = Instant::now();
                let (daemon, took) = restart_one(&mut p, kill, || start(n))?;
                p = daemon;
                gaps.push(t.elapsed().as_secs_f64() * 1000.0);
                adopted += u32::from(took);
                *(if kill { &mut killed } else { &mut graceful }) += 1;
                thread::sleep(SETTLE);
            }
            Ok(())
        });
        p.stop(Duration::from_secs(10));
        (out.graceful, out.killed, out.adopted) = (graceful, killed, adopted);
        (out.median_gap_ms, out.max_gap_ms) = median_max(&mut gaps);
        result?;
        if out.adopted != out.graceful + out.killed {
            bail!(
                "only {} of {} new daemons adopted the pinned link",
                out.adopted,
                out.graceful + out.killed
            );
        }
        Ok(())
    }
}

/// Stops `p` (SIGTERM, or `kill -9` when `kill`) and starts the next
/// daemon: it and whether it adopted the pinned link.
fn restart_one(
    p: &mut Proc,
    kill: bool,
    start: impl FnOnce() -> Result<Proc>,
) -> Result<(Proc, bool)> {
    if kill {
        let _ = Command::new("kill")
            .args(["-KILL", &p.pid().to_string()])
            .status();
    }
    p.stop(Duration::from_secs(10));
    let next = start()?;
    let text = std::fs::read_to_string(&next.log).unwrap_or_default();
    Ok((next, text.contains("adopting the pinned XDP link")))
}

/// The target line: (what, measured, verdict).
pub fn target(r: &RestartBench) -> (String, String, &'static str) {
    let what = "10 restarts under load (5 graceful, 5 kill -9): zero wrong answers, zero \
                queries lost by the server"
        .into();
    if let Some(e) = &r.load.error {
        return (what, format!("failed: {e}"), "missed");
    }
    let measured = format!(
        "{} graceful + {} kill -9 ({} adopted; no daemon for median {:.0} ms, max {:.0} ms); {}",
        r.graceful,
        r.killed,
        r.adopted,
        r.median_gap_ms,
        r.max_gap_ms,
        r.load.measured()
    );
    let ok = r.graceful + r.killed == RESTARTS && r.load.clean();
    (what, measured, if ok { "met" } else { "missed" })
}

/// The section of results.md.
pub fn markdown(r: &RestartBench, s: &mut String) {
    let _ = writeln!(s, "\n## Restarts under load\n");
    let _ = writeln!(
        s,
        "gslb XDP on the reload part's config (generation 0); the daemon stopped and started \
         again {RESTARTS} times on the same pin directory and state file (the first half with \
         SIGTERM, the rest with `kill -9`), each new daemon adopting the pinned link, while \
         dnsperf offers {QPS} queries/s and a checker asks the names one by one.\n"
    );
    let rows = [
        ("graceful restarts", r.graceful.to_string()),
        ("kill -9 restarts", r.killed.to_string()),
        ("new daemons that adopted the link", r.adopted.to_string()),
        (
            "no daemon (stop to ready), median",
            format!("{:.0} ms", r.median_gap_ms),
        ),
        (
            "no daemon (stop to ready), max",
            format!("{:.0} ms", r.max_gap_ms),
        ),
    ];
    r.load.markdown(&rows, s);
}
