//! Geography through XDP and the slow path: MMDB databases the test
//! writes with `gslb_tests::mmdb` (City-style records with country,
//! continent and location, and an ASN database) for client prefixes in
//! 198.19.x.0/24 and 2001:db8:fx::/48; a client namespace holding an
//! address in each, queried with `dig -b`.
//!
//! - `geo_proximity`: each client gets its nearest datacenter; a
//!   datacenter's `bias` moves the boundary (Reykjavik goes from ams to
//!   nyc); a client the database does not know gets the chain's next
//!   method.
//! - Topology rules on `country:`, `continent:` and `asn:` (asn before
//!   country before continent).
//! - Every answer comes from XDP (its counters prove it), and a
//!   `--no-xdp` daemon answers the same.
//! - A new database (the file replaced, `gslb clients reload`) under a
//!   query load: every answer is the old database's or the new one's for
//!   its client, none lost; then every client (by source address and by
//!   ECS) gets the new one's. A broken database is refused by `gslb
//!   clients reload` and `gslb reload`, the data in use serving on;
//!   `gslb reload` reads the database again too.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test geo`.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use gslb_tests::{
    clients::{add_clients, check_all_in_xdp, check_answer},
    config::{datacenter, datacenters, topology, vservers},
    harness::{check_config, start_with, v4, Failures, ZONE},
    mmdb::{self, city},
    netns::{run_bounded, Net},
};

/// The databases, in a scratch directory: (City, ASN).
fn databases() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("gslbt-geo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (city_db, asn_db) = (dir.join("City.mmdb"), dir.join("ASN.mmdb"));
    let paris = city("FR", "EU", 48.85, 2.35);
    let boston = city("US", "NA", 42.36, -71.06);
    let jakarta = city("ID", "AS", -6.21, 106.85);
    let reykjavik = city("IS", "EU", 64.15, -21.94);
    mmdb::write(
        &city_db,
        "GeoIP2-City",
        &[
            ("198.19.1.0/24", paris.clone()),
            ("198.19.2.0/24", boston),
            ("198.19.3.0/24", jakarta.clone()),
            ("198.19.4.0/24", reykjavik),
            ("2001:db8:f1::/48", paris),
            ("2001:db8:f3::/48", jakarta),
        ],
    );
    mmdb::write(
        &asn_db,
        "GeoLite2-ASN",
        &[(
            "198.19.1.0/24",
            "{\"autonomous_system_number\": 64500}".to_string(),
        )],
    );
    (city_db, asn_db)
}

/// Servers d1 (datacenter `pole`), a1 (`ams`), n1 (`nyc`), s1 (`sgp`);
/// the pools `near` (geo_proximity) and `cc` (topology rules), both then
/// global availability, each with its gslb name.
fn servers_and_pools() -> String {
    let mut c = vservers(&[
        ("d1", "pole", "198.18.70.1"),
        ("a1", "ams", "198.18.70.2"),
        ("n1", "nyc", "198.18.70.3"),
        ("s1", "sgp", "198.18.70.4"),
    ]);
    c.push_str(
        r#"
[[pool]]
name = "near"
members = ["d1", "a1", "n1", "s1"]
preferred = "geo_proximity"
alternate = "global_availability"

[[pool]]
name = "cc"
members = ["d1", "a1", "n1", "s1"]
preferred = "topology"
alternate = "global_availability"

[[gslb]]
name = "near.example.test"
ttl = 30
pools = ["near"]

[[gslb]]
name = "cc.example.test"
ttl = 30
pools = ["cc"]
"#,
    );
    c
}

/// Servers d1 (a datacenter at the south pole: never nearest, first in
/// pool order), a1 (ams), n1 (nyc), s1 (sgp); `near` by geo_proximity,
/// `cc` by country/continent/asn topology rules, both falling back to
/// global availability. `nyc_bias` is nyc's bias.
fn config(city_db: &Path, asn_db: &Path, nyc_bias: i32) -> String {
    let mut c = String::from(ZONE);
    c.push_str(&format!(
        "\n[geoip]\ndatabase = \"{}\"\nasn_database = \"{}\"\n",
        city_db.display(),
        asn_db.display()
    ));
    c.push_str(&datacenter("pole", ""));
    c.push_str(&datacenter("ams", ""));
    c.push_str(&datacenter("nyc", &format!("bias = {nyc_bias}\n")));
    c.push_str(&datacenters(&["sgp"]));
    c.push_str(&servers_and_pools());
    c.push_str(&topology("country:ID", "datacenter:ams", 100));
    c.push_str(&topology("continent:NA", "datacenter:sgp", 100));
    c.push_str(&topology("continent:EU", "datacenter:sgp", 100));
    // Written last, yet before the country and continent rules.
    c.push_str(&topology("asn:64500", "datacenter:nyc", 100));
    c
}

/// (client, near's answer with bias 0, with nyc bias 60, cc's answer).
fn expectations() -> Vec<(IpAddr, IpAddr, IpAddr, IpAddr)> {
    let (d1, a1, n1, s1) = (
        v4("198.18.70.1"),
        v4("198.18.70.2"),
        v4("198.18.70.3"),
        v4("198.18.70.4"),
    );
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    vec![
        // Paris, AS64500: ams; asn rule (nyc) over continent EU (sgp).
        (ip("198.19.1.10"), a1, a1, n1),
        // Boston: nyc; continent NA.
        (ip("198.19.2.10"), n1, n1, s1),
        // Jakarta: sgp (even against nyc's bias); country ID.
        (ip("198.19.3.10"), s1, s1, a1),
        // Reykjavik: ams (about 2,000 km) until nyc's bias 60 makes its
        // 4,200 km count as 1,700; continent EU.
        (ip("198.19.4.10"), a1, n1, s1),
        // Not in the databases: the next method, global availability.
        (ip("198.19.9.10"), d1, d1, d1),
        // IPv6: Paris without an ASN (continent EU), Jakarta.
        (ip("2001:db8:f1::10"), a1, a1, s1),
        (ip("2001:db8:f3::10"), s1, s1, a1),
    ]
}

#[test]
fn nearest_datacenter_per_client_and_geo_rules() {
    let (city_db, asn_db) = databases();
    let mut f = Failures::default();
    for (bias, no_xdp) in [(0, false), (60, false), (0, true)] {
        let config = config(&city_db, &asn_db, bias);
        check_config(&config, "geo");
        let what = format!("{} bias {bias}", if no_xdp { "--no-xdp" } else { "XDP" });
        let net = Net::new(&format!("geo_{bias}_{no_xdp}"));
        add_clients(&net, expectations().into_iter().map(|e| e.0));
        let d = start_with(&net, &config, no_xdp);
        let before = d.xdp.then(|| d.stats());
        let mut queries = 0;
        for (client, near0, near60, cc) in expectations() {
            let near = if bias == 0 { near0 } else { near60 };
            for (name, want) in [("near.example.test", near), ("cc.example.test", cc)] {
                check_answer(&mut f, &what, &net, client, name, &[want]);
                queries += 1;
            }
        }
        check_all_in_xdp(&mut f, &what, &d, before, queries);
    }
    let _ = std::fs::remove_file(&city_db);
    let _ = std::fs::remove_file(&asn_db);
    f.assert_none();
}

/// Client prefixes of the geo reload, one client address in each
/// (`.10` / `::10`).
const RELOAD_PREFIXES: [&str; 6] = [
    "198.19.21.0/24",
    "198.19.22.0/24",
    "198.19.23.0/24",
    "198.19.24.0/24",
    "2001:db8:f1::/48",
    "2001:db8:f2::/48",
];

/// A place of the geo reload: (country, continent, lat, lon), or `None`
/// (the database does not know the prefix).
type Place = Option<(&'static str, &'static str, f64, f64)>;

const PARIS: Place = Some(("FR", "EU", 48.85, 2.35));
const BOSTON: Place = Some(("US", "NA", 42.36, -71.06));
const JAKARTA: Place = Some(("ID", "AS", -6.21, 106.85));
const REYKJAVIK: Place = Some(("IS", "EU", 64.15, -21.94));
const SINGAPORE: Place = Some(("SG", "AS", 1.29, 103.85));

/// Where database version `v` (1 or 2) places each of
/// [`RELOAD_PREFIXES`]: every prefix moves; version 2 drops Reykjavik
/// (its client group goes) and adds Singapore (a new group).
fn places(v: u8) -> [Place; 6] {
    if v == 1 {
        [PARIS, BOSTON, JAKARTA, None, PARIS, REYKJAVIK]
    } else {
        [BOSTON, JAKARTA, None, PARIS, JAKARTA, SINGAPORE]
    }
}

/// The client address in prefix `i` of [`RELOAD_PREFIXES`].
fn reload_client(i: usize) -> IpAddr {
    let base = RELOAD_PREFIXES[i].split('/').next().unwrap();
    match base.rsplit_once('.') {
        Some((net, _)) => format!("{net}.10").parse().unwrap(),
        None => format!("{base}10").parse().unwrap(),
    }
}

/// Writes database version `v` to `path` (written aside, then renamed
/// over: a reader opens the old file or the new one).
fn write_version(path: &Path, v: u8) {
    let networks: Vec<(&str, String)> = RELOAD_PREFIXES
        .iter()
        .zip(places(v))
        .filter_map(|(net, place)| place.map(|(cc, ct, lat, lon)| (*net, city(cc, ct, lat, lon))))
        .collect();
    let tmp = path.with_extension("tmp");
    mmdb::write(&tmp, "GeoIP2-City", &networks);
    std::fs::rename(&tmp, path).unwrap();
}

/// Replaces `path` by a file holding `bytes` (written aside, renamed
/// over).
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// One database `db`; `near` by geo_proximity (ams, nyc, sgp; d1 at the
/// pole never nearest), `cc` by country rules sending each country
/// elsewhere than its nearest datacenter (FR → nyc, US → sgp, ID → ams),
/// both then global availability (d1).
fn reload_config(db: &Path) -> String {
    let mut c = String::from(ZONE);
    c.push_str(&format!("\n[geoip]\ndatabase = \"{}\"\n", db.display()));
    c.push_str(&datacenters(&["pole", "ams", "nyc", "sgp"]));
    c.push_str(&servers_and_pools());
    c.push_str(&topology("country:FR", "datacenter:nyc", 100));
    c.push_str(&topology("country:US", "datacenter:sgp", 100));
    c.push_str(&topology("country:ID", "datacenter:ams", 100));
    c
}

/// The names of the geo reload.
const RELOAD_NAMES: [&str; 2] = ["near.example.test", "cc.example.test"];

/// The answers (near, cc) of a client at `place`.
fn answers_at(place: Place) -> [IpAddr; 2] {
    let (d1, a1, n1, s1) = (
        v4("198.18.70.1"),
        v4("198.18.70.2"),
        v4("198.18.70.3"),
        v4("198.18.70.4"),
    );
    match place.map(|p| p.0) {
        Some("FR") => [a1, n1],
        Some("US") => [n1, s1],
        Some("ID") => [s1, a1],
        // Reykjavik: ams is nearest (about 2,000 km); no rule.
        Some("IS") => [a1, d1],
        Some("SG") => [s1, d1],
        _ => [d1, d1],
    }
}

/// `kdig +short` of `name` A from the client namespace's own address with
/// ECS `subnet`: the answer's addresses.
fn kdig_ecs(net: &Net, name: &str, subnet: &str) -> Vec<IpAddr> {
    let out = run_bounded(
        net.in_cli("kdig")
            .arg(format!("@{}", net.srv_v4()))
            .args(["-b", &net.cli_v4().to_string(), name, "A"])
            .args(["+short", "+norec", "+time=2", "+retry=0"])
            .arg(format!("+subnet={subnet}")),
        Duration::from_secs(10),
    );
    out.stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Checks every client's answers for database version `v`: `dig -b`
/// from the client's address and `kdig +subnet` with its prefix; returns
/// the queries asked.
fn check_version(f: &mut Failures, what: &str, net: &Net, v: u8) -> u64 {
    let mut queries = 0;
    for (i, place) in places(v).into_iter().enumerate() {
        for (name, want) in RELOAD_NAMES.iter().zip(answers_at(place)) {
            let what = format!("{what}, version {v}");
            check_answer(f, &what, net, reload_client(i), name, &[want]);
            let got = kdig_ecs(net, name, RELOAD_PREFIXES[i]);
            f.check(got == [want], || {
                format!(
                    "{what}: {name} A with ECS {}: {got:?}, want [{want}]",
                    RELOAD_PREFIXES[i]
                )
            });
            queries += 2;
        }
    }
    queries
}

/// A new geo database under `gslb clients reload`: the database file is
/// replaced (written aside, renamed over) by a version in which every
/// client prefix moves (to another country and location, out of the
/// database, or into it), and the reload runs while every client asks
/// both names in a loop. Every answer during the switch is the client's
/// old answer or its new one (never back to the old after the new, never
/// none); afterwards every client gets its new answers, by source address
/// and by ECS. A broken database (the first half of a good one) is
/// refused by `gslb clients reload` and `gslb reload` with the file named
/// in the error, and the data in use keeps serving; `gslb reload` reads a
/// good database again. Through XDP (every query answered there, by its
/// counters) and with `--no-xdp`.
#[test]
fn new_geo_database_on_clients_reload_under_load() {
    use std::{
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc,
        },
        thread,
        time::Instant,
    };

    use gslb_tests::harness::QUERY_TIMEOUT;
    use hickory_proto::rr::RecordType;

    let dir = std::env::temp_dir().join(format!("gslbt-georeload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("City.mmdb");
    // Both versions written once; each swap copies one over `db`.
    let (v1, v2) = (dir.join("v1.mmdb"), dir.join("v2.mmdb"));
    write_version(&v1, 1);
    write_version(&v2, 2);
    let (v1, v2) = (std::fs::read(&v1).unwrap(), std::fs::read(&v2).unwrap());
    let config = reload_config(&db);
    let mut f = Failures::default();
    for no_xdp in [false, true] {
        let what = if no_xdp { "--no-xdp" } else { "XDP" };
        replace(&db, &v1);
        check_config(&config, "georeload");
        let net = Net::new(if no_xdp { "georeload_s" } else { "georeload_x" });
        let clients: Vec<IpAddr> = (0..RELOAD_PREFIXES.len()).map(reload_client).collect();
        add_clients(&net, clients.iter().copied());
        let d = start_with(&net, &config, no_xdp);
        let before = d.xdp.then(|| d.stats());
        let mut queries = check_version(&mut f, what, &net, 1);

        // The swap under load.
        let sockets: Vec<_> = clients.iter().map(|c| net.udp_client(*c)).collect();
        let (srv4, srv6) = (net.srv_v4(), net.srv_v6());
        let stop = Arc::new(AtomicBool::new(false));
        let stop_load = Arc::clone(&stop);
        let load = thread::spawn(move || {
            // (client index, name index, answer or None when lost),
            // bounded in count and time.
            let mut seen: Vec<(usize, usize, Option<Vec<IpAddr>>)> = Vec::new();
            let t0 = Instant::now();
            while !stop_load.load(Ordering::Relaxed)
                && seen.len() < 500_000
                && t0.elapsed() < Duration::from_secs(30)
            {
                for (i, s) in sockets.iter().enumerate() {
                    let server = if i < 4 { srv4 } else { srv6 };
                    for (n, name) in RELOAD_NAMES.iter().enumerate() {
                        let r = s.query(server, name, RecordType::A, QUERY_TIMEOUT);
                        seen.push((i, n, r.filter(|r| r.rcode == "NOERROR").map(|r| r.addrs)));
                    }
                }
            }
            seen
        });
        thread::sleep(Duration::from_millis(500));
        replace(&db, &v2);
        let out = d.ctl(&["clients", "reload"]);
        f.check(
            out.success() && out.stdout.contains("geo databases read"),
            || format!("{what}: gslb clients reload of a new database:\n{out}"),
        );
        eprintln!("{what}: {}", out.stdout.trim());
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let seen = load.join().expect("load thread");
        let (old, new) = (places(1).map(answers_at), places(2).map(answers_at));
        let mut switched = [[false; 2]; RELOAD_PREFIXES.len()];
        let mut wrong = 0;
        for (i, n, got) in &seen {
            let (old, new) = (vec![old[*i][*n]], vec![new[*i][*n]]);
            match got {
                Some(a) if *a == new => switched[*i][*n] = true,
                // Back to the old answer after the new one: a mix.
                Some(a) if *a == old && !switched[*i][*n] => {}
                other => {
                    wrong += 1;
                    if wrong <= 5 {
                        f.check(false, || {
                            format!(
                                "{what}: {} from {} got {other:?} (old {old:?}, new {new:?}, \
                                 switched {})",
                                RELOAD_NAMES[*n], clients[*i], switched[*i][*n]
                            )
                        });
                    }
                }
            }
        }
        eprintln!(
            "{what}: {} queries during the geo database reload, {wrong} wrong or lost",
            seen.len()
        );
        f.check(wrong == 0, || {
            format!("{what}: {wrong} wrong or lost answers")
        });
        f.check(switched.iter().flatten().all(|s| *s), || {
            format!("{what}: not every client got its new answers: {switched:?}")
        });
        queries += seen.len() as u64;
        queries += check_version(&mut f, what, &net, 2);

        // The file untouched: both reloads keep what they read last.
        for cmd in [&["clients", "reload"][..], &["reload"][..]] {
            let out = d.ctl(cmd);
            f.check(
                out.success()
                    && out
                        .stdout
                        .contains("geo databases unchanged, not read again"),
                || {
                    format!(
                        "{what}: gslb {} with the database unchanged:\n{out}",
                        cmd.join(" ")
                    )
                },
            );
        }
        queries += check_version(&mut f, &format!("{what}, after reloads"), &net, 2);

        // A broken database: refused by both reloads, version 2 serves on.
        replace(&db, &v1[..v1.len() / 2]);
        for cmd in [&["clients", "reload"][..], &["reload"][..]] {
            let out = d.ctl(cmd);
            let text = format!("{}{}", out.stdout, out.stderr);
            f.check(
                !out.success() && text.contains(&db.display().to_string()),
                || {
                    format!(
                        "{what}: gslb {} with a broken geo database: want a refusal naming \
                         {}:\n{out}",
                        cmd.join(" "),
                        db.display()
                    )
                },
            );
            eprintln!("{what}: gslb {} refused: {}", cmd.join(" "), text.trim());
        }
        queries += check_version(&mut f, &format!("{what}, after the refusals"), &net, 2);

        // `gslb reload` (the config unchanged) reads the database again.
        replace(&db, &v1);
        let out = d.ctl(&["reload"]);
        f.check(
            out.success() && out.stdout.contains("geo databases read"),
            || format!("{what}: gslb reload of a new database:\n{out}"),
        );
        queries += check_version(&mut f, &format!("{what}, after gslb reload"), &net, 1);
        check_all_in_xdp(&mut f, what, &d, before, queries);
    }
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_none();
}
