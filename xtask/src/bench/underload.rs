//! What the parts that change the daemon under load (config reloads,
//! restarts) measure alike: dnsperf's bounded load, the counting checker
//! (`reload::check`), the XDP program's share of the answers and veth's
//! drops, and how they turn into a verdict and rows of results.md.

use std::fmt::Write as _;

use serde::Serialize;

use super::{load::Dnsperf, measure::CpuUse};

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
        let sent = self.dnsperf.as_ref().map_or(0, |d| d.sent);
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
        let sent = self.dnsperf.as_ref().map_or(0, |d| d.sent);
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
