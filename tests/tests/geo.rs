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
//!
//! Run with `cargo xtask test -- -p gslb-tests --test geo`.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use gslb_tests::{
    clients::{add_clients, check_all_in_xdp, check_answer},
    config::{datacenter, datacenters, topology, vservers},
    harness::{check_config, start_with, v4, Failures, ZONE},
    mmdb::{self, city},
    netns::Net,
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
    c.push_str(&vservers(&[
        ("d1", "pole", "198.18.70.1"),
        ("a1", "ams", "198.18.70.2"),
        ("n1", "nyc", "198.18.70.3"),
        ("s1", "sgp", "198.18.70.4"),
    ]));
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
