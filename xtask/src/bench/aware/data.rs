//! The client-aware data set: 200 client groups (`[[region]]` lists of
//! `198.18.0.0/15` /24s and `2001:db8::/32` /48s, one topology rule each),
//! four datacenters with one IPv4 and one IPv6 server each, four pools
//! (method `topology`, then `round_robin`) that the names share (four
//! policies), the names `g<i>` of the plain data set answered from them;
//! the query files: `name type` for kxdpgun (which sends from a source
//! range instead of ECS) and dnsperf's binary format with an ECS option
//! on every query, from many source prefixes. A geo variant of the config
//! puts the same groups in a geo database instead (a made-up country per
//! region), for the reload of a new database.

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write as _},
    net::{Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::super::dataset::{Rng, ZONE};

/// Client groups (one region and one topology rule each).
pub const GROUPS: usize = 200;
/// Datacenters (one IPv4 and one IPv6 server each).
pub const DCS: usize = 4;
/// IPv4 client blocks: the /24s of 198.18.0.0/15.
pub const V4_BLOCKS: usize = 512;
/// IPv6 client blocks: /48s `2001:db8:c000::` onwards.
pub const V6_BLOCKS: usize = 400;
/// kxdpgun's source range (`-l`): its queries come from all of it.
pub const SOURCE_RANGE: &str = "198.18.0.0/15";
/// Queries in each query file.
const QUERIES: usize = 200_000;
/// The persistence option of the pools in the persistence variant.
pub const PERSISTENCE: &str = "{ ttl = \"10m\", prefix_v4 = 24, prefix_v6 = 56 }";

/// Region of IPv4 block `j` (or IPv6 block `j`) in data version `shift`
/// (the reload moves every block to the next region).
pub fn region_of(block: usize, shift: usize) -> usize {
    (block + shift) % GROUPS
}

/// Datacenter whose server a client in `region` gets (its topology rule).
pub fn dc_of(region: usize) -> usize {
    region % DCS
}

/// The IPv4 server of datacenter `d`.
pub fn server_v4(d: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 252, d as u8 + 1)
}

/// The IPv6 server of datacenter `d`.
pub fn server_v6(d: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x252, 0, 0, 0, 0, d as u16 + 1)
}

/// IPv4 client block `j` (a /24).
pub fn block_v4(j: usize) -> Ipv4Addr {
    let n = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (j as u32) * 256;
    Ipv4Addr::from(n)
}

/// IPv6 client block `j` (a /48).
pub fn block_v6(j: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xc000 + j as u16, 0, 0, 0, 0, 0)
}

/// The files.
pub struct Files {
    /// Client groups by region, topology rules, pools.
    pub aware: PathBuf,
    /// The same with persistence on every pool.
    pub persist: PathBuf,
    /// The region files (`r<k>.txt`) both configs read.
    pub regions: PathBuf,
    /// `name type` lines, A and AAAA of gslb names only.
    pub queries: PathBuf,
    /// dnsperf `-B` file: the same kind of queries, each with ECS.
    pub ecs: PathBuf,
}

impl Files {
    /// Writes everything for `names` names into `dir`.
    pub fn generate(dir: &Path, names: usize) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let f = Files {
            aware: dir.join("aware.toml"),
            persist: dir.join("aware-persist.toml"),
            regions: dir.join("regions"),
            queries: dir.join("aware-queries.txt"),
            ecs: dir.join("aware-ecs.bin"),
        };
        write_regions(&f.regions, 0)?;
        fs::write(&f.aware, config(names, &f.regions, false))?;
        fs::write(&f.persist, config(names, &f.regions, true))?;
        write_queries(&f.queries, &f.ecs, names)?;
        Ok(f)
    }
}

/// Writes `r<k>.txt` for every region, data version `shift`; each file is
/// replaced whole (written aside, renamed), so a reader sees the old or
/// the new file.
pub fn write_regions(dir: &Path, shift: usize) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut lists = vec![String::new(); GROUPS];
    for j in 0..V4_BLOCKS {
        let _ = writeln!(lists[region_of(j, shift)], "{}/24", block_v4(j));
    }
    for j in 0..V6_BLOCKS {
        let _ = writeln!(lists[region_of(j, shift)], "{}/48", block_v6(j));
    }
    for (k, text) in lists.iter().enumerate() {
        let tmp = dir.join(format!(".r{k}.txt"));
        fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, dir.join(format!("r{k}.txt")))?;
    }
    Ok(())
}

/// The two-letter country code that stands for region `k` in the geo
/// variant (`AA`, `AB`, ...: made-up codes, one per client group).
pub fn country(k: usize) -> String {
    let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
    format!("{}{}", letter(k / 26), letter(k))
}

/// Writes the geo variant's database for data version `shift` to `path`
/// (a Country-type MMDB, written by python3's `mmdb-writer` into a file
/// aside, then renamed over `path`): every client block in the country
/// of the region it is in for that version, so that the geo config's
/// answers are the region config's.
pub fn write_geo(path: &Path, shift: usize) -> Result<()> {
    let mut spec = Vec::new();
    for j in 0..V4_BLOCKS {
        spec.push(format!(
            "[\"{}/24\", \"{}\"]",
            block_v4(j),
            country(region_of(j, shift))
        ));
    }
    for j in 0..V6_BLOCKS {
        spec.push(format!(
            "[\"{}/48\", \"{}\"]",
            block_v6(j),
            country(region_of(j, shift))
        ));
    }
    let spec_file = path.with_extension("json");
    fs::write(&spec_file, format!("[{}]", spec.join(",\n")))
        .with_context(|| format!("writing {}", spec_file.display()))?;
    let script = r#"
import json, sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter
w = MMDBWriter(ip_version=6, database_type="GeoIP2-Country", ipv4_compatible=True)
for net, cc in json.load(open(sys.argv[1])):
    w.insert_network(IPSet([net]), {"country": {"iso_code": cc}})
w.to_db_file(sys.argv[2])
"#;
    let tmp = path.with_extension("tmp");
    crate::cmd::run(
        std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&spec_file)
            .arg(&tmp),
    )
    .context("python3 mmdb-writer (`cargo xtask setup` installs it)")?;
    fs::rename(&tmp, path).with_context(|| format!("renaming over {}", path.display()))?;
    Ok(())
}

/// Where the client groups come from.
enum Clients<'a> {
    /// The region files in this directory.
    Regions(&'a Path),
    /// The countries of this geo database.
    Geo(&'a Path),
}

/// The gslb config.
pub fn config(names: usize, regions: &Path, persistence: bool) -> String {
    config_of(names, &Clients::Regions(regions), persistence)
}

/// The geo variant of the config: the same groups and answers, each
/// region's topology rule on its country (see [`country`]) in the geo
/// database `mmdb` instead of on a region file.
pub fn geo_config(names: usize, mmdb: &Path) -> String {
    config_of(names, &Clients::Geo(mmdb), false)
}

fn config_of(names: usize, clients: &Clients<'_>, persistence: bool) -> String {
    let mut s = super::super::dataset::gslb_head(names);
    if let Clients::Geo(mmdb) = clients {
        let _ = write!(s, "[geoip]\ndatabase = \"{}\"\n\n", mmdb.display());
    }
    for d in 0..DCS {
        let _ = write!(
            s,
            "[[datacenter]]\nname = \"dc{d}\"\nlat = {}.0\nlon = {}.0\n\n\
             [[vserver]]\nname = \"s{d}v4\"\naddress = \"{}\"\ndatacenter = \"dc{d}\"\n\n\
             [[vserver]]\nname = \"s{d}v6\"\naddress = \"{}\"\ndatacenter = \"dc{d}\"\n\n",
            d * 10,
            d * 40,
            server_v4(d),
            server_v6(d)
        );
    }
    let members: Vec<String> = (0..DCS)
        .flat_map(|d| [format!("\"s{d}v4\""), format!("\"s{d}v6\"")])
        .collect();
    for p in 0..DCS {
        let _ = write!(
            s,
            "[[pool]]\nname = \"c{p}\"\nmembers = [{}]\npreferred = \"topology\"\n\
             alternate = \"round_robin\"\n",
            members.join(", ")
        );
        if persistence {
            let _ = writeln!(s, "persistence = {PERSISTENCE}");
        }
        s.push('\n');
    }
    for k in 0..GROUPS {
        let client = match clients {
            Clients::Regions(regions) => {
                let _ = write!(
                    s,
                    "[[region]]\nname = \"r{k}\"\nfile = \"{}\"\n\n",
                    regions.join(format!("r{k}.txt")).display()
                );
                format!("region:r{k}")
            }
            Clients::Geo(_) => format!("country:{}", country(k)),
        };
        let _ = write!(
            s,
            "[[topology]]\nclient = \"{client}\"\nserver = \"datacenter:dc{}\"\nscore = 100\n\n",
            dc_of(k)
        );
    }
    for i in 0..names {
        let _ = write!(
            s,
            "[[gslb]]\nname = \"g{i}.{ZONE}\"\nttl = 30\npools = [\"c{}\"]\n",
            i % DCS
        );
    }
    s
}

/// One ECS query of the binary file (also what the checker asks).
#[derive(Clone, Copy, Debug)]
pub struct EcsQuery {
    /// Name index.
    pub name: usize,
    /// AAAA (else A).
    pub aaaa: bool,
    /// IPv6 client block (else IPv4).
    pub v6: bool,
    /// Block index.
    pub block: usize,
}

impl EcsQuery {
    /// A deterministic query from `rng`: 80% A, 80% IPv4 ECS.
    pub fn random(rng: &mut Rng, names: usize) -> Self {
        let v6 = rng.below(5) == 0;
        EcsQuery {
            name: rng.below(names),
            aaaa: rng.below(5) == 0,
            v6,
            block: rng.below(if v6 { V6_BLOCKS } else { V4_BLOCKS }),
        }
    }

    /// The answer for data version `shift`.
    pub fn expected(&self, shift: usize) -> String {
        let d = dc_of(region_of(self.block, shift));
        if self.aaaa {
            server_v6(d).to_string()
        } else {
            server_v4(d).to_string()
        }
    }

    /// `ADDRESS/LENGTH` of the ECS source.
    pub fn subnet(&self) -> String {
        if self.v6 {
            format!("{}/56", block_v6(self.block))
        } else {
            format!("{}/24", block_v4(self.block))
        }
    }

    /// The query in wire format, id 0, EDNS with the ECS option.
    pub fn wire(&self) -> Vec<u8> {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in format!("g{}.{ZONE}", self.name).split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&[0, if self.aaaa { 28 } else { 1 }, 0, 1]);
        let (family, source, addr): (u16, u8, Vec<u8>) = if self.v6 {
            (2, 56, block_v6(self.block).octets()[..7].to_vec())
        } else {
            (1, 24, block_v4(self.block).octets()[..3].to_vec())
        };
        let opt_len = 4 + addr.len() as u16;
        // OPT: root, type 41, UDP size 1232, TTL 0, rdata = one option.
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        m.extend_from_slice(&(4 + opt_len).to_be_bytes());
        m.extend_from_slice(&8u16.to_be_bytes());
        m.extend_from_slice(&opt_len.to_be_bytes());
        m.extend_from_slice(&family.to_be_bytes());
        m.extend_from_slice(&[source, 0]);
        m.extend_from_slice(&addr);
        m
    }
}

fn write_queries(text: &Path, bin: &Path, names: usize) -> Result<()> {
    let mut rng = Rng(0x05ee_dec5_0000_0001);
    let mut t = BufWriter::new(fs::File::create(text)?);
    let mut b = BufWriter::new(fs::File::create(bin)?);
    for _ in 0..QUERIES {
        let q = EcsQuery::random(&mut rng, names);
        writeln!(
            t,
            "g{}.{ZONE} {}",
            q.name,
            if q.aaaa { "AAAA" } else { "A" }
        )?;
        let w = q.wire();
        b.write_all(&(w.len() as u16).to_be_bytes())?;
        b.write_all(&w)?;
    }
    t.flush()?;
    b.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_answers() {
        assert_eq!(block_v4(0).to_string(), "198.18.0.0");
        assert_eq!(block_v4(511).to_string(), "198.19.255.0");
        assert_eq!(block_v6(1).to_string(), "2001:db8:c001::");
        let q = EcsQuery {
            name: 7,
            aaaa: false,
            v6: false,
            block: 5,
        };
        assert_eq!(q.expected(0), server_v4(1).to_string());
        assert_eq!(q.expected(1), server_v4(2).to_string());
        assert_eq!(q.subnet(), "198.18.5.0/24");
        assert_eq!(country(0), "AA");
        assert_eq!(country(27), "BB");
        assert_eq!(country(GROUPS - 1), "HR");
    }

    #[test]
    fn ecs_wire_is_well_formed() {
        let q = EcsQuery {
            name: 3,
            aaaa: true,
            v6: true,
            block: 2,
        };
        let w = q.wire();
        // Header, g3.bench.test (15 bytes), type/class, OPT (11), option.
        assert_eq!(w.len(), 12 + 15 + 4 + 11 + 4 + 4 + 7);
        let opt = &w[w.len() - 15..];
        assert_eq!(&opt[..4], &[0, 8, 0, 11]);
        assert_eq!(&opt[4..8], &[0, 2, 56, 0]);
        assert_eq!(&opt[8..], &[0x20, 0x01, 0x0d, 0xb8, 0xc0, 0x02, 0]);
    }
}
