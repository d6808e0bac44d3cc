//! The one data set every server is loaded with, the query file every load
//! generator sends, and the answers every server must give.
//!
//! Zone `bench.test`: SOA, one NS (`ns1`, with glue), and N gslb names
//! `g<i>.bench.test`, each with one A and one AAAA address (TTL 30). One
//! address per type, so a weighted pick (`PowerDNS` `pickwrandom`, gdnsd
//! `weighted`) has exactly one right answer and every server can be held
//! to the same answer set.

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::netns::SERVER_V4;

/// The zone.
pub const ZONE: &str = "bench.test";
/// TTL of the gslb names.
pub const GSLB_TTL: u32 = 30;
/// SOA rdata (dig's presentation) shared by every server.
pub const SOA: &str = "ns1.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300";
/// The NS target (in zone, glue `ns1 A SERVER_V4`).
pub const NS: &str = "ns1.bench.test.";

/// Query classes of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A of a gslb name (XDP fast path for gslb).
    A,
    /// AAAA of a gslb name (fast path).
    Aaaa,
    /// A name that does not exist: NXDOMAIN (slow path).
    Nx,
    /// SOA / NS at the apex, MX / TXT of a gslb name (NODATA): slow path.
    Other,
}

/// Proportions of the query classes, in percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// A hits.
    pub a: u32,
    /// AAAA hits.
    pub aaaa: u32,
    /// NXDOMAIN.
    pub nx: u32,
    /// Other types.
    pub other: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            a: 70,
            aaaa: 20,
            nx: 8,
            other: 2,
        }
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a={},aaaa={},nx={},other={}",
            self.a, self.aaaa, self.nx, self.other
        )
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `a=70,aaaa=20,nx=8,other=2`; classes left out are 0; the sum must be
    /// 100.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = Mix {
            a: 0,
            aaaa: 0,
            nx: 0,
            other: 0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: want CLASS=PERCENT"))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: percent is not a number"))?;
            match k.trim() {
                "a" => m.a = v,
                "aaaa" => m.aaaa = v,
                "nx" => m.nx = v,
                "other" => m.other = v,
                other => return Err(format!("unknown class `{other}` (a, aaaa, nx, other)")),
            }
        }
        let sum = m.a + m.aaaa + m.nx + m.other;
        if sum != 100 {
            return Err(format!("percentages add up to {sum}, not 100"));
        }
        Ok(m)
    }
}

/// One query of the query file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Owner name without the trailing dot.
    pub name: String,
    /// Type mnemonic.
    pub qtype: &'static str,
    /// Its class in the mix.
    pub class: Class,
}

/// What a server must answer: rcode and the answer section's rdata
/// (normalised, sorted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// `NOERROR`, `NXDOMAIN`, ...
    pub rcode: String,
    /// Rdata of the answer records.
    pub rdata: Vec<String>,
}

/// The A address of gslb name `i`.
pub fn v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8)
}

/// The AAAA address of gslb name `i`.
pub fn v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (i >> 16) as u16, i as u16)
}

/// Rdata in one canonical form: addresses re-printed, names lowercased,
/// runs of blanks collapsed.
pub fn normalise(rdata: &str) -> String {
    let t = rdata.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return ip.to_string();
    }
    t.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Deterministic PRNG (xorshift64*): the same data set on every run.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The generated files.
pub struct Dataset {
    /// Number of gslb names.
    pub names: usize,
    /// The mix of the query file.
    pub mix: Mix,
    /// `name type` per line: dnsperf's and kxdpgun's input.
    pub queries: PathBuf,
    /// Number of lines of `queries`.
    pub query_count: usize,
    /// gslb config.
    pub gslb_toml: PathBuf,
    /// gslb config with one name (map memory baseline).
    pub gslb_toml_one: PathBuf,
    /// RFC 1035 zone file (NSD, Knot).
    pub zone: PathBuf,
    /// Zone file with LUA records (`PowerDNS`).
    pub pdns_zone: PathBuf,
    /// Zone file with DYNA records (gdnsd).
    pub gdnsd_zone: PathBuf,
    /// gdnsd `weighted` plugin resources (the inside of `weighted => {}`).
    pub gdnsd_resources: PathBuf,
    /// The correctness sample: the start of the query file plus one query
    /// of every kind.
    pub sample: Vec<Query>,
}

impl Dataset {
    /// Writes every file for `names` names into `dir`.
    pub fn generate(dir: &Path, names: usize, mix: Mix, sample: usize) -> Result<Self> {
        if names == 0 {
            bail!("--names must be at least 1");
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ds = Dataset {
            names,
            mix,
            queries: dir.join("queries.txt"),
            query_count: names.clamp(200_000, 1_000_000),
            gslb_toml: dir.join("gslb.toml"),
            gslb_toml_one: dir.join("gslb-one.toml"),
            zone: dir.join("bench.test.zone"),
            pdns_zone: dir.join("bench.test.pdns.zone"),
            gdnsd_zone: dir.join("bench.test.gdnsd.zone"),
            gdnsd_resources: dir.join("gdnsd-weighted.conf"),
            sample: Vec::new(),
        };
        Self::write_gslb(&ds.gslb_toml, names)?;
        Self::write_gslb(&ds.gslb_toml_one, 1)?;
        ds.write_zones()?;
        let queries = ds.make_queries();
        let mut w = create(&ds.queries)?;
        for q in &queries {
            writeln!(w, "{} {}", q.name, q.qtype)?;
        }
        w.flush()?;
        let mut sample_set: Vec<Query> = queries.iter().take(sample).cloned().collect();
        // One of every kind, wherever the shuffle put them.
        let last = names - 1;
        for (name, qtype, class) in [
            (format!("g0.{ZONE}"), "A", Class::A),
            (format!("g{last}.{ZONE}"), "AAAA", Class::Aaaa),
            (format!("nx0.{ZONE}"), "A", Class::Nx),
            (ZONE.to_owned(), "SOA", Class::Other),
            (ZONE.to_owned(), "NS", Class::Other),
            (format!("g0.{ZONE}"), "MX", Class::Other),
            (format!("g{last}.{ZONE}"), "TXT", Class::Other),
            (format!("ns1.{ZONE}"), "A", Class::Other),
        ] {
            let q = Query { name, qtype, class };
            if !sample_set.contains(&q) {
                sample_set.push(q);
            }
        }
        Ok(Dataset {
            sample: sample_set,
            ..ds
        })
    }

    /// The shuffled queries: exact class proportions, names drawn
    /// uniformly.
    fn make_queries(&self) -> Vec<Query> {
        let n = self.query_count;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pct = |p: u32| n * p as usize / 100;
        let counts = [
            (Class::A, pct(self.mix.a)),
            (Class::Aaaa, pct(self.mix.aaaa)),
            (Class::Nx, pct(self.mix.nx)),
            (
                Class::Other,
                n - pct(self.mix.a) - pct(self.mix.aaaa) - pct(self.mix.nx),
            ),
        ];
        let mut out = Vec::with_capacity(n);
        for (class, count) in counts {
            for k in 0..count {
                let i = rng.below(self.names);
                let q = match class {
                    Class::A => (format!("g{i}.{ZONE}"), "A"),
                    Class::Aaaa => (format!("g{i}.{ZONE}"), "AAAA"),
                    Class::Nx => (format!("nx{i}.{ZONE}"), "A"),
                    Class::Other => match k % 4 {
                        0 => (ZONE.to_owned(), "SOA"),
                        1 => (ZONE.to_owned(), "NS"),
                        2 => (format!("g{i}.{ZONE}"), "MX"),
                        _ => (format!("g{i}.{ZONE}"), "TXT"),
                    },
                };
                out.push(Query {
                    name: q.0,
                    qtype: q.1,
                    class,
                });
            }
        }
        // Fisher-Yates.
        for i in (1..out.len()).rev() {
            let j = rng.below(i + 1);
            out.swap(i, j);
        }
        out
    }

    /// The answer every server must give to `q`.
    pub fn expected(&self, q: &Query) -> Answer {
        let ok = |rdata: Vec<String>| Answer {
            rcode: "NOERROR".into(),
            rdata,
        };
        let gslb_index = q
            .name
            .strip_suffix(&format!(".{ZONE}"))
            .and_then(|l| l.strip_prefix('g'))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < self.names);
        match (q.name.as_str(), q.qtype, gslb_index) {
            (ZONE, "SOA", _) => ok(vec![normalise(SOA)]),
            (ZONE, "NS", _) => ok(vec![normalise(NS)]),
            (_, "A", Some(i)) => ok(vec![v4(i).to_string()]),
            (_, "AAAA", Some(i)) => ok(vec![v6(i).to_string()]),
            (_, _, Some(_)) => ok(vec![]),
            (n, "A", None) if n == format!("ns1.{ZONE}") => ok(vec![SERVER_V4.to_string()]),
            (n, _, None) if n == format!("ns1.{ZONE}") || n == ZONE => ok(vec![]),
            _ => Answer {
                rcode: "NXDOMAIN".into(),
                rdata: vec![],
            },
        }
    }

    fn write_gslb(path: &Path, names: usize) -> Result<()> {
        let mut w = create(path)?;
        w.write_all(gslb_head(names).as_bytes())?;
        for i in 0..names {
            writeln!(
                w,
                "[[gslb]]\nname = \"g{i}.{ZONE}\"\nttl = {GSLB_TTL}\na = [\"{}\"]\naaaa = [\"{}\"]",
                v4(i),
                v6(i)
            )?;
        }
        // A pool-based name for the answer-updates measurement.
        writeln!(w, "{}", super::updates::config())?;
        w.flush()?;
        Ok(())
    }

    /// The head shared by every zone file.
    fn zone_head() -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "$ORIGIN {ZONE}.\n$TTL 3600\n@ IN SOA {SOA}\n@ IN NS {NS}\nns1 IN A {SERVER_V4}\n"
        );
        s
    }

    fn write_zones(&self) -> Result<()> {
        let mut plain = create(&self.zone)?;
        let mut pdns = create(&self.pdns_zone)?;
        let mut gdnsd = create(&self.gdnsd_zone)?;
        let mut res = create(&self.gdnsd_resources)?;
        let head = Self::zone_head();
        for w in [&mut plain, &mut pdns, &mut gdnsd] {
            w.write_all(head.as_bytes())?;
        }
        for i in 0..self.names {
            let (a, aaaa) = (v4(i), v6(i));
            writeln!(
                plain,
                "g{i} {GSLB_TTL} IN A {a}\ng{i} {GSLB_TTL} IN AAAA {aaaa}"
            )?;
            // A weighted pick over the name's (one-member) set.
            writeln!(
                pdns,
                "g{i} {GSLB_TTL} IN LUA A \"pickwrandom({{{{100, '{a}'}}}})\"\n\
                 g{i} {GSLB_TTL} IN LUA AAAA \"pickwrandom({{{{100, '{aaaa}'}}}})\""
            )?;
            writeln!(gdnsd, "g{i} {GSLB_TTL} DYNA weighted!g{i}")?;
            writeln!(
                res,
                "g{i} => {{ addrs_v4 => {{ s0 => [ {a}, 100 ] }}, addrs_v6 => {{ s0 => [ {aaaa}, 100 ] }} }}"
            )?;
        }
        for w in [&mut plain, &mut pdns, &mut gdnsd, &mut res] {
            w.flush()?;
        }
        Ok(())
    }
}

/// The head of every generated gslb config: the server and the zone.
pub fn gslb_head(names: usize) -> String {
    format!(
        "# Generated by `cargo xtask bench`: {names} gslb names.\n\
         [server]\nlisten = [\"{SERVER_V4}:53\"]\n\n\
         [[zone]]\nname = \"{ZONE}\"\nttl = 3600\nns = [\"{NS}\"]\n\
         [zone.soa]\nmname = \"{NS}\"\nrname = \"hostmaster.{ZONE}.\"\nserial = 1\n\
         refresh = 7200\nretry = 3600\nexpire = 1209600\nminimum = 300\n\n\
         [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"{SERVER_V4}\"\n\n"
    )
}

fn create(path: &Path) -> Result<BufWriter<fs::File>> {
    Ok(BufWriter::new(
        fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses() {
        assert_eq!(
            "a=70,aaaa=20,nx=8,other=2".parse::<Mix>(),
            Ok(Mix::default())
        );
        assert_eq!(
            "a=100".parse::<Mix>(),
            Ok(Mix {
                a: 100,
                aaaa: 0,
                nx: 0,
                other: 0
            })
        );
        assert!("a=50".parse::<Mix>().is_err());
        assert!("a=50,b=50".parse::<Mix>().is_err());
    }

    #[test]
    fn addresses_and_normalise() {
        assert_eq!(v4(258).to_string(), "198.19.1.2");
        assert_eq!(v6(0x1_0005).to_string(), "2001:db8:1::1:5");
        assert_eq!(normalise("2001:DB8:1:0::5"), "2001:db8:1::5");
        assert_eq!(
            normalise("NS1.bench.test.  Hostmaster.x. 1"),
            "ns1.bench.test. hostmaster.x. 1"
        );
    }

    #[test]
    fn queries_follow_the_mix() {
        let dir = std::env::temp_dir().join(format!("gslbb-test-{}", std::process::id()));
        let ds = Dataset::generate(&dir, 1000, Mix::default(), 50).unwrap();
        let text = fs::read_to_string(&ds.queries).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), ds.query_count);
        let nx = lines.iter().filter(|l| l.starts_with("nx")).count();
        assert_eq!(nx, ds.query_count * 8 / 100);
        assert!(ds.sample.len() >= 50);
        let q = Query {
            name: format!("g7.{ZONE}"),
            qtype: "AAAA",
            class: Class::Aaaa,
        };
        assert_eq!(ds.expected(&q).rdata, vec!["2001:db8:1::7".to_owned()]);
        let q = Query {
            name: format!("nx7.{ZONE}"),
            qtype: "A",
            class: Class::Nx,
        };
        assert_eq!(ds.expected(&q).rcode, "NXDOMAIN");
        fs::remove_dir_all(&dir).unwrap();
    }
}
