//! Correctness before timing: the sample queries go to the server with
//! `dig` (batch mode, no EDNS, like the load generators' queries) and every
//! answer (rcode, answer set, AA flag) is compared with what the data set
//! says.

use std::{collections::HashMap, fmt::Write as _, fs, path::Path};

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{
    dataset::{normalise, Answer, Dataset},
    netns::{Net, SERVER_V4},
};
use crate::cmd;

/// Outcome of the check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Check {
    /// Queries asked.
    pub asked: usize,
    /// Answers equal to the expected ones.
    pub agreed: usize,
    /// Up to ten disagreements: `query: got ..., want ...`.
    pub mismatches: Vec<String>,
    /// Number of disagreements.
    pub mismatch_count: usize,
}

impl Check {
    /// Every answer agreed.
    pub fn ok(&self) -> bool {
        self.asked > 0 && self.agreed == self.asked
    }
}

/// One parsed dig answer.
#[derive(Debug, PartialEq, Eq)]
struct Got {
    rcode: String,
    aa: bool,
    rdata: Vec<String>,
}

/// Parses dig's `+noall +comments +question +answer` batch output, keyed
/// by (lowercased name without the trailing dot, type).
fn parse_dig(out: &str) -> HashMap<(String, String), Got> {
    let mut results = HashMap::new();
    let mut cur: Option<(Option<(String, String)>, Got)> = None;
    let mut flush = |cur: &mut Option<(Option<(String, String)>, Got)>| {
        if let Some((Some(key), mut got)) = cur.take() {
            got.rdata.sort();
            results.insert(key, got);
        }
    };
    for line in out.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.split_once("status: ").map(|(_, r)| r) {
            flush(&mut cur);
            let rcode = rest.split(',').next().unwrap_or("").trim().to_owned();
            cur = Some((
                None,
                Got {
                    rcode,
                    aa: false,
                    rdata: Vec::new(),
                },
            ));
        } else if let Some(flags) = line.strip_prefix(";; flags:") {
            if let Some((_, got)) = cur.as_mut() {
                let flags = flags.split(';').next().unwrap_or("");
                got.aa = flags.split_whitespace().any(|f| f == "aa");
            }
        } else if line.starts_with(";;") || line.is_empty() {
        } else if let Some(q) = line.strip_prefix(';') {
            // Question: ";name.  IN  TYPE"
            let f: Vec<&str> = q.split_whitespace().collect();
            if let (Some((key, _)), [name, _class, qtype]) = (cur.as_mut(), f.as_slice()) {
                *key = Some((
                    name.trim_end_matches('.').to_ascii_lowercase(),
                    qtype.to_ascii_uppercase(),
                ));
            }
        } else if let Some((Some((_, qtype)), got)) = cur.as_mut() {
            // Answer: "name ttl class type rdata..."
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 && f[3].eq_ignore_ascii_case(qtype) {
                got.rdata.push(normalise(&f[4..].join(" ")));
            }
        }
    }
    flush(&mut cur);
    results
}

/// Asks the sample and compares.
pub fn run(net: &Net, ds: &Dataset, dir: &Path) -> Result<Check> {
    let batch = dir.join("check-queries.txt");
    let mut text = String::new();
    for q in &ds.sample {
        let _ = writeln!(text, "{} {}", q.name, q.qtype);
    }
    fs::write(&batch, text).with_context(|| format!("writing {}", batch.display()))?;
    let out = cmd::output(
        net.client("dig")
            .arg(format!("@{SERVER_V4}"))
            .args([
                "+norec",
                "+noedns",
                "+tries=2",
                "+time=1",
                "+noall",
                "+comments",
                "+question",
                "+answer",
                "-f",
            ])
            .arg(&batch),
    )?;
    let _ = fs::write(dir.join("check-answers.txt"), &out);
    let got = parse_dig(&out);
    let mut check = Check {
        asked: ds.sample.len(),
        ..Check::default()
    };
    for q in &ds.sample {
        let want = ds.expected(q);
        let key = (q.name.to_ascii_lowercase(), q.qtype.to_owned());
        let verdict = match got.get(&key) {
            None => Some("no answer".to_owned()),
            Some(g) if g.rcode != want.rcode || g.rdata != want.rdata => {
                Some(format!("got {} {:?}", g.rcode, g.rdata))
            }
            Some(g) if !g.aa => Some("AA flag not set".to_owned()),
            Some(_) => None,
        };
        match verdict {
            None => check.agreed += 1,
            Some(v) => {
                check.mismatch_count += 1;
                if check.mismatches.len() < 10 {
                    let Answer { rcode, rdata } = want;
                    check.mismatches.push(format!(
                        "{} {}: {v}, want {rcode} {rdata:?}",
                        q.name, q.qtype
                    ));
                }
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_batch_output() {
        let out = "\
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1
;; flags: qr aa; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;g1.bench.test.\t\t\tIN\tA

;; ANSWER SECTION:
g1.bench.test.\t\t30\tIN\tA\t198.19.0.1

;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 2
;; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 0

;; QUESTION SECTION:
;nx.bench.test.\t\t\tIN\tA

;; communications error to 198.18.0.1#53: timed out
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 3
;; flags: qr; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0

;; QUESTION SECTION:
;bench.test.\t\t\tIN\tSOA

;; ANSWER SECTION:
bench.test.\t3600\tIN\tSOA\tns1.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300
";
        let r = parse_dig(out);
        assert_eq!(r.len(), 3);
        let g = &r[&("g1.bench.test".to_owned(), "A".to_owned())];
        assert_eq!(g.rcode, "NOERROR");
        assert!(g.aa);
        assert_eq!(g.rdata, vec!["198.19.0.1".to_owned()]);
        let nx = &r[&("nx.bench.test".to_owned(), "A".to_owned())];
        assert_eq!(nx.rcode, "NXDOMAIN");
        assert!(nx.rdata.is_empty());
        let soa = &r[&("bench.test".to_owned(), "SOA".to_owned())];
        assert!(!soa.aa);
        assert_eq!(
            soa.rdata,
            vec!["ns1.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300".to_owned()]
        );
    }
}
