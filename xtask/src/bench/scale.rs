//! Scale of the client data: gslb started on 1,000,000 client prefixes
//! (IPv4 /32s of `198.18.0.0/15` and IPv6 /64s of `2001:db8::/32`, spread
//! over the 200 regions of the client-aware data set, neighbours in
//! different regions so that no two merge), and on the 2018 `GeoLite2` City
//! database (`PyPI` `maxminddb-geolite2`) with a `geo_proximity` pool over
//! datacenters around the world. For each: the time from the daemon's
//! start to ready (the trie written), the client-group trie's memory
//! (memlock of `CLIENT_GROUPS`) and per prefix.

use std::{
    fmt::Write as _,
    fs,
    io::{BufWriter, Write as _},
    net::Ipv6Addr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::{
    aware::data::{self, GROUPS},
    dataset::ZONE,
    measure,
    netns::{self, Net, Proc},
    servers, Ctx,
};
use crate::cmd;

/// Client prefixes of the big region set.
pub const PREFIXES: usize = 1_000_000;
/// Of which IPv4 (every address of 198.18.0.0/15).
const V4_PREFIXES: usize = 1 << 17;

/// Datacenters of the geo run: `(name, lat, lon)`.
const GEO_DCS: [(&str, f64, f64); 6] = [
    ("ams", 52.37, 4.90),
    ("iad", 38.95, -77.45),
    ("sfo", 37.62, -122.38),
    ("gru", -23.43, -46.47),
    ("sin", 1.36, 103.99),
    ("syd", -33.95, 151.18),
];

/// One daemon start.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleRun {
    /// What was loaded.
    pub what: String,
    /// Client prefixes in the input (regions), if known.
    pub prefixes: Option<u64>,
    /// Daemon start to its `client groups written` line (the trie
    /// written), ms.
    pub start_to_trie_ms: Option<u64>,
    /// Daemon start to `gslb ready`, ms.
    pub start_to_ready_ms: Option<u64>,
    /// Trie entries written (the partition's prefixes).
    pub trie_prefixes: Option<u64>,
    /// Client groups.
    pub groups: Option<u64>,
    /// `CLIENT_GROUPS` memlock, bytes.
    pub trie_bytes: Option<u64>,
    /// Its `max_entries`.
    pub trie_max_entries: Option<u64>,
    /// All maps' memlock, bytes.
    pub map_bytes: Option<u64>,
    /// The daemon's log lines about client data.
    pub log: Vec<String>,
    /// Failure.
    pub error: Option<String>,
}

impl ScaleRun {
    fn new(what: &str) -> Self {
        ScaleRun {
            what: what.to_owned(),
            prefixes: None,
            start_to_trie_ms: None,
            start_to_ready_ms: None,
            trie_prefixes: None,
            groups: None,
            trie_bytes: None,
            trie_max_entries: None,
            map_bytes: None,
            log: Vec::new(),
            error: None,
        }
    }

    /// Trie bytes per trie entry.
    pub fn bytes_per_prefix(&self) -> Option<f64> {
        match (self.trie_bytes, self.trie_prefixes) {
            (Some(b), Some(p)) if p > 0 => Some(b as f64 / p as f64),
            _ => None,
        }
    }
}

/// Both runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Scale {
    /// Region prefixes, then the geo database.
    pub runs: Vec<ScaleRun>,
}

/// The IPv6 /64 number `i` of `2001:db8::/32`.
fn v6_64(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0)
}

/// Writes the 200 region files of [`PREFIXES`] prefixes into `dir`.
fn write_big_regions(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let mut files: Vec<BufWriter<fs::File>> = (0..GROUPS)
        .map(|k| {
            fs::File::create(dir.join(format!("r{k}.txt")))
                .map(BufWriter::new)
                .with_context(|| format!("creating {}", dir.display()))
        })
        .collect::<Result<_>>()?;
    let base = u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0));
    for i in 0..V4_PREFIXES {
        let a = std::net::Ipv4Addr::from(base + i as u32);
        writeln!(files[i % GROUPS], "{a}/32")?;
    }
    for i in 0..PREFIXES - V4_PREFIXES {
        writeln!(files[i % GROUPS], "{}/64", v6_64(i))?;
    }
    for mut f in files {
        f.flush()?;
    }
    Ok(())
}

/// The geo config: every name in one `geo_proximity` pool.
fn geo_config(names: usize, mmdb: &Path) -> String {
    let mut s = super::dataset::gslb_head(names);
    let _ = write!(s, "[geoip]\ndatabase = \"{}\"\n\n", mmdb.display());
    let mut members = Vec::new();
    for (i, (dc, lat, lon)) in GEO_DCS.iter().enumerate() {
        let _ = write!(
            s,
            "[[datacenter]]\nname = \"{dc}\"\nlat = {lat}\nlon = {lon}\n\n\
             [[vserver]]\nname = \"{dc}4\"\naddress = \"198.18.253.{}\"\ndatacenter = \"{dc}\"\n\n\
             [[vserver]]\nname = \"{dc}6\"\naddress = \"2001:db8:253::{}\"\ndatacenter = \"{dc}\"\n\n",
            i + 1,
            i + 1
        );
        members.push(format!("\"{dc}4\", \"{dc}6\""));
    }
    let _ = write!(
        s,
        "[[pool]]\nname = \"geo\"\nmembers = [{}]\npreferred = \"geo_proximity\"\n\
         alternate = \"round_robin\"\n\n",
        members.join(", ")
    );
    for i in 0..names {
        let _ = write!(
            s,
            "[[gslb]]\nname = \"g{i}.{ZONE}\"\nttl = 30\npools = [\"geo\"]\n"
        );
    }
    s
}

/// The `GeoLite2` City database of `PyPI` `maxminddb-geolite2` (2018),
/// installed with pip when missing.
pub fn geolite2() -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        let out =
            cmd::output(Command::new("pip").args(["show", "-f", "maxminddb-geolite2"])).ok()?;
        let loc = out
            .lines()
            .find_map(|l| l.strip_prefix("Location:"))?
            .trim();
        let file = out
            .lines()
            .map(str::trim)
            .find(|l| l.ends_with("GeoLite2-City.mmdb"))?;
        Some(Path::new(loc).join(file))
    };
    if let Some(p) = find().filter(|p| p.exists()) {
        return Ok(p);
    }
    println!("bench: installing maxminddb-geolite2 (pip)");
    cmd::run(Command::new("pip").args(["install", "--quiet", "maxminddb-geolite2"]))?;
    find()
        .filter(|p| p.exists())
        .context("no GeoLite2-City.mmdb in maxminddb-geolite2")
}

impl Ctx<'_> {
    /// Both scale runs; never fails (failures are recorded).
    pub(super) fn scale(&mut self, net: &mut Net) -> Scale {
        let mut out = Scale::default();
        let dir = self.work.join("scale");
        let mut r = ScaleRun::new(&format!(
            "{PREFIXES} client prefixes ({V4_PREFIXES} IPv4 /32, {} IPv6 /64) in {GROUPS} regions, \
             {} names",
            PREFIXES - V4_PREFIXES,
            self.ds.names
        ));
        r.prefixes = Some(PREFIXES as u64);
        println!("bench: scale: {} ...", r.what);
        let regions = dir.join("regions");
        let config = dir.join("prefixes.toml");
        let res = write_big_regions(&regions)
            .and_then(|()| {
                fs::write(&config, data::config(self.ds.names, &regions, false))
                    .context("writing the config")
            })
            .and_then(|()| self.scale_run(net, &config, &dir.join("prefixes"), &mut r));
        if let Err(e) = res {
            r.error = Some(format!("{e:#}"));
        }
        let _ = fs::remove_dir_all(&regions);
        out.runs.push(r);

        let mut g =
            ScaleRun::new("GeoLite2 City 2018 (whole world), geo_proximity over 6 datacenters");
        println!("bench: scale: {} ...", g.what);
        let res = geolite2().and_then(|mmdb| {
            g.what = format!("{} ({})", g.what, mmdb.display());
            let config = dir.join("geo.toml");
            fs::write(&config, geo_config(self.ds.names, &mmdb))?;
            self.scale_run(net, &config, &dir.join("geo"), &mut g)
        });
        if let Err(e) = res {
            g.error = Some(format!("{e:#}"));
        }
        out.runs.push(g);
        let _ = self.restore_ends(net);
        out
    }

    fn scale_run(
        &mut self,
        net: &mut Net,
        config: &Path,
        dir: &Path,
        r: &mut ScaleRun,
    ) -> Result<()> {
        fs::create_dir_all(dir)?;
        net.xdp_off(true)?;
        let pin = net.next_pin_dir();
        let c = servers::gslb_cmd(net, self.gslb, config, &pin, dir, false);
        let mut p = Proc::spawn("gslb-scale", c, &dir.join("server.log"))?;
        let line = p.wait_log("client groups written", Duration::from_mins(2))?;
        r.start_to_trie_ms = u64::try_from(p.started.elapsed().as_millis()).ok();
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
        };
        r.trie_prefixes = field("prefixes=");
        r.groups = field("groups=");
        p.wait_log("gslb ready", Duration::from_mins(2))?;
        r.start_to_ready_ms = u64::try_from(p.started.elapsed().as_millis()).ok();
        let fds = measure::bpf_fds(&netns::descendants(p.pid()));
        let names = measure::bpf_map_names().unwrap_or_default();
        r.map_bytes = Some(fds.maps.values().map(|(m, _)| *m).sum());
        for (id, (memlock, max)) in &fds.maps {
            if names.get(id).is_some_and(|n| n == "CLIENT_GROUPS") {
                r.trie_bytes = Some(*memlock);
                r.trie_max_entries = Some(*max);
            }
        }
        let log = fs::read_to_string(&p.log).unwrap_or_default();
        r.log = log
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("client group") || l.contains("geo") || l.contains("warn")
            })
            .take(8)
            .map(|l| l.chars().take(300).collect())
            .collect();
        p.check_alive()?;
        p.stop(Duration::from_secs(10));
        let _ = net.xdp_off(true);
        if r.trie_bytes.is_none() {
            bail!("no CLIENT_GROUPS map held by the daemon");
        }
        Ok(())
    }
}

/// The section of results.md.
pub fn markdown(sc: &Scale, s: &mut String) {
    s.push_str(
        "\n## Client data at scale\n\n\
         From spawning `gslb run` to its `client groups written` line (config read, client \
         groups built, the client-group trie written) and to `gslb ready`. Trie prefixes: \
         the partition written to `CLIENT_GROUPS` (disjoint prefixes covering the whole \
         address space, adjacent ones of the same group merged); its memory is the map's \
         memlock as the kernel reports it.\n\n\
         | loaded | to trie written | to ready | trie prefixes | groups | trie memory | per trie prefix | all maps |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
    for r in &sc.runs {
        let secs =
            |ms: Option<u64>| ms.map_or("–".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0));
        let n = |v: Option<u64>| v.map_or("–".into(), |v| v.to_string());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.what,
            secs(r.start_to_trie_ms),
            secs(r.start_to_ready_ms),
            n(r.trie_prefixes),
            n(r.groups),
            r.trie_bytes.map_or("–".into(), mib),
            r.bytes_per_prefix()
                .map_or("–".into(), |b| format!("{b:.0} B")),
            r.map_bytes.map_or("–".into(), mib),
        );
    }
    for r in &sc.runs {
        if let Some(e) = &r.error {
            let _ = writeln!(s, "\n- {}: error: {}", r.what, e.replace('\n', " / "));
        }
        for l in &r.log {
            let _ = writeln!(s, "\n    {l}");
        }
    }
}

/// The targets of this part: `(what, measured, verdict)`.
pub fn targets(sc: &Scale) -> Vec<(String, String, &'static str)> {
    let Some(r) = sc.runs.first() else {
        return Vec::new();
    };
    let (m, v) = match (r.start_to_trie_ms, &r.error) {
        (Some(ms), None) => (
            format!(
                "{:.2} s to the trie written, {} B of trie per prefix",
                ms as f64 / 1000.0,
                r.bytes_per_prefix()
                    .map_or("?".into(), |b| format!("{b:.0}"))
            ),
            if ms < 10_000 { "met" } else { "missed" },
        ),
        (_, Some(e)) => (format!("failed: {e}"), "missed"),
        _ => ("not measured".into(), "n/a"),
    };
    vec![(format!("{PREFIXES} client prefixes loaded in < 10 s"), m, v)]
}
