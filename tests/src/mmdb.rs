//! MaxMind databases for tests, written with python3's `mmdb-writer`
//! (`cargo xtask setup` installs it).

use std::{path::Path, process::Command, time::Duration};

use crate::netns::run_bounded;

/// Writes an MMDB of type `db_type` (IPv6 tree, IPv4 inside) from
/// `(network, JSON record)` pairs.
pub fn write(path: &Path, db_type: &str, networks: &[(&str, String)]) {
    let entries: Vec<String> = networks
        .iter()
        .map(|(net, rec)| format!("[\"{net}\", {rec}]"))
        .collect();
    let spec = format!("[{}]", entries.join(", "));
    let script = r#"
import json, sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter
w = MMDBWriter(ip_version=6, database_type=sys.argv[1], ipv4_compatible=True)
for net, rec in json.loads(sys.argv[2]):
    w.insert_network(IPSet([net]), rec)
w.to_db_file(sys.argv[3])
"#;
    let out = run_bounded(
        Command::new("python3")
            .args(["-c", script, db_type, &spec])
            .arg(path),
        Duration::from_secs(30),
    );
    assert!(
        out.success(),
        "python3 mmdb-writer (cargo xtask setup installs it) failed:\n{out}"
    );
}

/// A City record: country, continent and location.
pub fn city(country: &str, continent: &str, lat: f64, lon: f64) -> String {
    format!(
        "{{\"country\": {{\"iso_code\": \"{country}\"}}, \"continent\": {{\"code\": \
         \"{continent}\"}}, \"location\": {{\"latitude\": {lat:.4}, \"longitude\": {lon:.4}}}}}"
    )
}
