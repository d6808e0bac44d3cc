//! Builders of the TOML tables the namespace tests' configs are made of:
//! one `[[vserver]]`, `[[datacenter]]`, `[[topology]]`, `[[pool]]` or
//! `[[gslb]]` table each (or a list of them), appended to
//! [`crate::harness::ZONE`]. `extra` is further `key = value` lines of the
//! table, verbatim.

use std::fmt::Display;

/// A `[[vserver]]` in datacenter `dc1`.
pub fn vserver(name: &str, address: impl Display, extra: &str) -> String {
    vserver_at(name, address, "dc1", extra)
}

/// A `[[vserver]]` in `datacenter`.
pub fn vserver_at(name: &str, address: impl Display, datacenter: &str, extra: &str) -> String {
    format!(
        r#"
[[vserver]]
name = "{name}"
address = "{address}"
datacenter = "{datacenter}"
{extra}"#
    )
}

/// `[[vserver]]`s from `(name, datacenter, address)`.
pub fn vservers(servers: &[(&str, &str, &str)]) -> String {
    servers
        .iter()
        .map(|(name, dc, addr)| vserver_at(name, addr, dc, ""))
        .collect()
}

/// Where the tests' datacenters stand: (name, latitude, longitude).
/// `pole` (the south pole) is never the nearest to any client.
const PLACES: [(&str, f64, f64); 4] = [
    ("ams", 52.37, 4.90),
    ("nyc", 40.71, -74.01),
    ("sgp", 1.35, 103.82),
    ("pole", -89.0, 0.0),
];

/// A `[[datacenter]]` at its place in `PLACES` (ams, nyc, sgp, pole).
pub fn datacenter(name: &str, extra: &str) -> String {
    let (_, lat, lon) = PLACES
        .iter()
        .find(|p| p.0 == name)
        .unwrap_or_else(|| panic!("no place for datacenter {name}"));
    format!("\n[[datacenter]]\nname = \"{name}\"\nlat = {lat:.2}\nlon = {lon:.2}\n{extra}")
}

/// `[[datacenter]]`s at their places, without extra keys.
pub fn datacenters(names: &[&str]) -> String {
    names.iter().map(|n| datacenter(n, "")).collect()
}

/// A `[[topology]]` rule.
pub fn topology(client: &str, server: &str, score: u32) -> String {
    format!("\n[[topology]]\nclient = \"{client}\"\nserver = \"{server}\"\nscore = {score}\n")
}

/// A `[[pool]]` of `members` chosen by `preferred`, at most `max_answers`
/// addresses per answer.
pub fn pool(
    name: &str,
    members: &[&str],
    preferred: &str,
    max_answers: u32,
    extra: &str,
) -> String {
    format!(
        r#"
[[pool]]
name = "{name}"
members = {}
preferred = "{preferred}"
max_answers = {max_answers}
{extra}"#,
        toml_list(members)
    )
}

/// A `[[gslb]]` name answered from `pools`.
pub fn gslb(name: &str, ttl: u32, pools: &[&str], extra: &str) -> String {
    format!(
        r#"
[[gslb]]
name = "{name}"
ttl = {ttl}
pools = {}
{extra}"#,
        toml_list(pools)
    )
}

/// The `[health]` table: servers start `initial` (`up` or `down`).
pub fn health(initial: &str) -> String {
    format!("\n[health]\ninitial = \"{initial}\"\n")
}

/// A `[[monitor]]` of type `kind` with `timing` (see [`timing`]).
pub fn monitor(name: &str, kind: &str, timing: &str, extra: &str) -> String {
    format!(
        r#"
[[monitor]]
name = "{name}"
type = "{kind}"
{timing}
{extra}"#
    )
}

/// The timing lines of a `[[monitor]]`: probe interval and timeout (ms),
/// rise, fall, and no jitter (so that test bounds are exact).
pub fn timing(interval_ms: u64, timeout_ms: u64, rise: u64, fall: u64) -> String {
    format!(
        "interval = \"{interval_ms}ms\"\ntimeout = \"{timeout_ms}ms\"\nrise = {rise}\nfall = {fall}\njitter = 0"
    )
}

/// `["a", "b"]`.
fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(
            vserver("a", "198.18.0.1", "ratio = 3\n"),
            "\n[[vserver]]\nname = \"a\"\naddress = \"198.18.0.1\"\ndatacenter = \"dc1\"\nratio = 3\n"
        );
        assert_eq!(
            pool("p", &["a", "b"], "ratio", 1, ""),
            "\n[[pool]]\nname = \"p\"\nmembers = [\"a\", \"b\"]\npreferred = \"ratio\"\nmax_answers = 1\n"
        );
        assert_eq!(
            monitor("tcp", "tcp", &timing(200, 100, 2, 1), "port = 80\n"),
            "\n[[monitor]]\nname = \"tcp\"\ntype = \"tcp\"\ninterval = \"200ms\"\n\
             timeout = \"100ms\"\nrise = 2\nfall = 1\njitter = 0\nport = 80\n"
        );
        assert_eq!(
            datacenters(&["ams", "pole"]),
            "\n[[datacenter]]\nname = \"ams\"\nlat = 52.37\nlon = 4.90\n\
             \n[[datacenter]]\nname = \"pole\"\nlat = -89.00\nlon = 0.00\n"
        );
        assert_eq!(
            topology("cidr:198.19.1.0/24", "datacenter:ams", 100),
            "\n[[topology]]\nclient = \"cidr:198.19.1.0/24\"\nserver = \"datacenter:ams\"\nscore = 100\n"
        );
        assert_eq!(
            gslb("www.example.test", 30, &["p"], ""),
            "\n[[gslb]]\nname = \"www.example.test\"\nttl = 30\npools = [\"p\"]\n"
        );
    }
}
