//! What the parts that change the daemon under load (config reloads,
//! restarts) run and measure alike: dnsperf's bounded load and the
//! counting checker (`reload::check`) around the changes, the XDP
//! program's share of the answers and veth's drops, and how they turn
//! into a verdict and rows of results.md.

use std::{
    fmt::Write as _,
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use anyhow::Result;
use serde::Serialize;

use super::{
    load::{self, Dnsperf},
    measure::{CpuUse, Snapshot},
    netns::Net,
    reload, Ctx,
};

/// The bounded load of a run: dnsperf's query file and rate, how long it
/// sends, how long it runs before the changes start, and where its
/// output goes.
pub struct Load<'a> {
    /// dnsperf's query file.
    pub queries: &'a Path,
    /// Where `dnsperf.txt` goes.
    pub dir: &'a Path,
    /// Offered rate, queries/s.
    pub qps: u64,
    /// How long dnsperf sends, s.
    pub secs: u64,
    /// Load before the first change.
    pub warmup: Duration,
}

impl Ctx<'_> {
    /// Runs `changes` under `load` while the checker asks, with both
    /// veth ends receiving in real-time NAPI threads; the figures (CPU
    /// over the processes `pids`, the XDP answer counter pinned in `pin`
    /// before and after) go into `out`. Returns what `changes` returned.
    pub(super) fn under_load(
        &self,
        net: &Net,
        pids: Vec<u32>,
        pin: &Path,
        load: &Load<'_>,
        out: &mut UnderLoad,
        changes: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let before = super::xdp_answered(self.gslb, pin);
        net.napi_realtime(true)?;
        let snap = Snapshot::start(pids, net, &[]);
        let stop = AtomicBool::new(false);
        let (sent, checks, result) = thread::scope(|scope| {
            let sent = scope.spawn(|| {
                load::dnsperf_file(
                    net,
                    load.queries,
                    false,
                    load.secs,
                    Some(load.qps),
                    &load.dir.join("dnsperf.txt"),
                )
            });
            let checker = scope.spawn(|| reload::check(net, &stop));
            thread::sleep(load.warmup);
            let result = changes();
            let sent = sent.join().expect("dnsperf thread");
            stop.store(true, Ordering::Relaxed);
            let checks = checker.join().expect("checker thread");
            (sent, checks, result)
        });
        let cpu = snap.finish();
        let restored = net.napi_realtime(false);
        let after = super::xdp_answered(self.gslb, pin);
        restored?;
        out.finish(&cpu, checks?, sent?, (before, after));
        result
    }
}

/// The median and the largest of `times` (0 when empty); sorts them.
pub fn median_max(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (
        times.get(times.len() / 2).copied().unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0),
    )
}

/// The load's and the checker's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UnderLoad {
    /// The load meanwhile.
    pub dnsperf: Option<Dnsperf>,
    /// Answers the checker read.
    pub checked: u64,
    /// Of which not a right answer.
    pub wrong: u64,
    /// Checker queries without an answer within a second.
    pub unanswered: u64,
    /// First wrong answers.
    pub examples: Vec<String>,
    /// Share of the answers (dnsperf's and the checker's) the XDP
    /// program wrote.
    pub xdp_share: Option<f64>,
    /// Packets the veth pair dropped (server ingress, client ingress).
    pub veth_drops: (u64, u64),
    /// Failure.
    pub error: Option<String>,
}

impl UnderLoad {
    /// Takes the run's results: the checker's `(checked, wrong,
    /// unanswered, examples)`, dnsperf's, veth's drops over the run and
    /// the XDP program's answer counter before and after it.
    pub fn finish(
        &mut self,
        cpu: &CpuUse,
        checks: (u64, u64, u64, Vec<String>),
        d: Dnsperf,
        xdp_answered: (Option<u64>, Option<u64>),
    ) {
        self.veth_drops = super::report::drops(cpu);
        (self.checked, self.wrong, self.unanswered, self.examples) = checks;
        if let (Some(b), Some(a)) = xdp_answered {
            let answered = d.completed + self.checked;
            if answered > 0 {
                self.xdp_share = Some(a.saturating_sub(b) as f64 / answered as f64);
            }
        }
        self.dnsperf = Some(d);
    }

    /// Queries dnsperf sent.
    pub fn sent(&self) -> u64 {
        self.dnsperf.as_ref().map_or(0, |d| d.sent)
    }

    /// dnsperf's queries without an answer.
    pub fn lost(&self) -> u64 {
        self.dnsperf
            .as_ref()
            .map_or(0, |d| d.sent.saturating_sub(d.completed))
    }

    /// Lost queries not accounted for by veth's drops.
    pub fn lost_by_server(&self) -> u64 {
        self.lost()
            .saturating_sub(self.veth_drops.0 + self.veth_drops.1)
    }

    /// Nothing wrong, unanswered or lost by the server.
    pub fn clean(&self) -> bool {
        self.wrong == 0 && self.unanswered == 0 && self.lost_by_server() == 0
    }

    /// The target line's figures.
    pub fn measured(&self) -> String {
        let sent = self.sent();
        format!(
            "dnsperf: {} of {sent} lost, {} by the server; checker: {} wrong of {}, {} unanswered",
            self.lost(),
            self.lost_by_server(),
            self.wrong,
            self.checked,
            self.unanswered
        )
    }

    /// Writes the failure if any, the table of `first` rows and the
    /// load's, then the wrong answers.
    pub fn markdown(&self, first: &[(&str, String)], s: &mut String) {
        if let Some(e) = &self.error {
            let _ = writeln!(s, "Failed: {e}\n");
        }
        let sent = self.sent();
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let rows = [
            ("dnsperf queries sent", sent.to_string()),
            ("dnsperf queries lost", self.lost().to_string()),
            (
                "of which dropped by veth",
                (self.lost() - self.lost_by_server()).to_string(),
            ),
            ("checker answers", self.checked.to_string()),
            ("checker answers wrong", self.wrong.to_string()),
            ("checker queries unanswered", self.unanswered.to_string()),
            (
                "answers written by XDP",
                self.xdp_share
                    .map_or("-".into(), |x| format!("{:.1} %", x * 100.0)),
            ),
        ];
        for (k, v) in first.iter().cloned().chain(rows) {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        for e in &self.examples {
            let _ = writeln!(s, "\n- wrong: {e}");
        }
    }
}
