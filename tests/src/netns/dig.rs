//! dig's output parsed into a [`Response`] of [`Rr`] records.

use std::fmt;

/// One resource record as dig prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    /// The owner exactly as received.
    pub owner_raw: String,
    /// The owner, lowercased.
    pub owner: String,
    /// TTL.
    pub ttl: u32,
    /// Class (`IN`).
    pub class: String,
    /// Type mnemonic (`A`, `SOA`, ...).
    pub rtype: String,
    /// Data in presentation format, fields joined by one space.
    pub rdata: String,
}

impl Rr {
    /// Normalized tuple for comparisons: (owner lowercased, ttl, class,
    /// type, rdata).
    pub fn key(&self) -> (String, u32, String, String, String) {
        (
            self.owner.clone(),
            self.ttl,
            self.class.clone(),
            self.rtype.clone(),
            self.rdata.clone(),
        )
    }

    fn parse(line: &str) -> Option<Rr> {
        let mut it = line.split_whitespace();
        let owner_raw = it.next()?.to_string();
        let ttl = it.next()?.parse().ok()?;
        let class = it.next()?.to_string();
        let rtype = it.next()?.to_string();
        let rdata = it.collect::<Vec<_>>().join(" ");
        Some(Rr {
            owner: owner_raw.to_ascii_lowercase(),
            owner_raw,
            ttl,
            class,
            rtype,
            rdata,
        })
    }
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.owner_raw, self.ttl, self.class, self.rtype, self.rdata
        )
    }
}

/// Convenience: normalized tuple of a record given as
/// "owner ttl class type rdata" text.
pub fn rr(text: &str) -> (String, u32, String, String, String) {
    Rr::parse(text)
        .unwrap_or_else(|| panic!("bad record text {text:?}"))
        .key()
}

/// A DNS response, parsed from dig's output.
#[derive(Clone, Debug)]
pub struct Response {
    /// RCODE mnemonic (`NOERROR`, `NXDOMAIN`, ...).
    pub status: String,
    /// Header flags (`qr`, `aa`, ...), as printed.
    pub flags: Vec<String>,
    /// UDP payload size of the response's OPT record, if it had one.
    pub edns_udp: Option<u16>,
    /// Question section lines (without the leading `;`).
    pub question: Vec<String>,
    /// Answer section.
    pub answer: Vec<Rr>,
    /// Authority section.
    pub authority: Vec<Rr>,
    /// Additional section (without the OPT pseudo-record).
    pub additional: Vec<Rr>,
    /// `UDP` or `TCP`, from dig's SERVER line.
    pub transport: String,
    /// dig's full output.
    pub raw: String,
}

/// What parity compares: status, flags, EDNS size, answer, authority,
/// additional.
pub type Summary = (
    String,
    Vec<String>,
    Option<u16>,
    Vec<(String, u32, String, String, String)>,
    Vec<(String, u32, String, String, String)>,
    Vec<(String, u32, String, String, String)>,
);

impl Response {
    /// Parses dig's default output; `None` without a `->>HEADER<<-` line.
    pub fn parse(text: &str) -> Option<Response> {
        let mut r = Response {
            status: String::new(),
            flags: Vec::new(),
            edns_udp: None,
            question: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            transport: String::new(),
            raw: text.to_string(),
        };
        let mut header = false;
        #[derive(PartialEq)]
        enum Sec {
            None,
            Question,
            Answer,
            Authority,
            Additional,
        }
        let mut sec = Sec::None;
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() {
                sec = Sec::None;
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; ->>HEADER<<-") {
                header = true;
                r.status = rest
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix("status:"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; flags:") {
                let flags = rest.split(';').next().unwrap_or("");
                r.flags = flags.split_whitespace().map(str::to_string).collect();
                continue;
            }
            if let Some(rest) = t.strip_prefix("; EDNS:") {
                r.edns_udp = rest
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("udp:"))
                    .and_then(|s| s.trim().parse().ok());
                continue;
            }
            if let Some(rest) = t.strip_prefix(";; SERVER:") {
                r.transport = rest
                    .rsplit('(')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(')')
                    .to_string();
                continue;
            }
            match t {
                ";; QUESTION SECTION:" => sec = Sec::Question,
                ";; ANSWER SECTION:" => sec = Sec::Answer,
                ";; AUTHORITY SECTION:" => sec = Sec::Authority,
                ";; ADDITIONAL SECTION:" => sec = Sec::Additional,
                _ if t.starts_with(';') => {
                    if sec == Sec::Question {
                        r.question.push(t.trim_start_matches(';').to_string());
                    }
                }
                _ => {
                    let Some(rec) = Rr::parse(t) else { continue };
                    match sec {
                        Sec::Answer => r.answer.push(rec),
                        Sec::Authority => r.authority.push(rec),
                        Sec::Additional => r.additional.push(rec),
                        _ => {}
                    }
                }
            }
        }
        header.then_some(r)
    }

    /// Normalized answer tuples.
    pub fn answer_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.answer.iter().map(Rr::key).collect()
    }

    /// Normalized authority tuples.
    pub fn authority_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.authority.iter().map(Rr::key).collect()
    }

    /// Normalized additional tuples (OPT not included).
    pub fn additional_keys(&self) -> Vec<(String, u32, String, String, String)> {
        self.additional.iter().map(Rr::key).collect()
    }

    /// Has header flag `f`.
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// Status, flags (sorted), EDNS size, answer, authority, additional.
    pub fn summary(&self) -> Summary {
        let mut flags = self.flags.clone();
        flags.sort();
        (
            self.status.clone(),
            flags,
            self.edns_udp,
            self.answer_keys(),
            self.authority_keys(),
            self.additional_keys(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIG: &str = "
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> @198.18.200.1 nx.example.test A +norec
; (1 server found)
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 39480
;; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;nx.example.test.\t\tIN\tA

;; AUTHORITY SECTION:
example.test.\t\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300

;; Query time: 4 msec
;; SERVER: 198.18.200.1#53(198.18.200.1) (UDP)
;; WHEN: Sun Nov 22 02:56:59 UTC 2026
;; MSG SIZE  rcvd: 95
";

    #[test]
    fn parses_dig_output() {
        let r = Response::parse(DIG).unwrap();
        assert_eq!(r.status, "NXDOMAIN");
        assert_eq!(r.flags, ["qr", "aa"]);
        assert_eq!(r.edns_udp, Some(1232));
        assert_eq!(r.transport, "UDP");
        assert_eq!(r.question, ["nx.example.test.\t\tIN\tA"]);
        assert!(r.answer.is_empty());
        assert_eq!(
            r.authority_keys(),
            [rr("example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300")]
        );
        assert!(Response::parse(";; connection timed out; no servers could be reached").is_none());
    }
}
