//! Links in namespaces: a veth pair between a server and a client
//! namespace, addresses, MACs and XDP state of its ends.

use std::{net::IpAddr, process::Command};

use crate::{cmd::run_ok, ns::Netns, Error, Result};

/// `ip -n NS ARGS`, failing with its output.
fn ip_in(ns: &str, args: &[&str]) -> Result<String> {
    run_ok(Command::new("ip").args(["-n", ns]).args(args))
}

/// Two namespaces joined by a veth pair, loopback and both ends up. The
/// namespaces (and with them the pair) are deleted on drop.
#[derive(Debug)]
pub struct VethPair {
    /// The server end's namespace.
    pub server_ns: Netns,
    /// The client end's namespace.
    pub client_ns: Netns,
    /// The server end (in `server_ns`).
    pub server_if: String,
    /// The client end (in `client_ns`).
    pub client_if: String,
}

/// Names of a [`VethPair`]'s namespaces and ends.
#[derive(Clone, Debug)]
pub struct PairNames {
    /// Server namespace.
    pub server_ns: String,
    /// Client namespace.
    pub client_ns: String,
    /// Server end (at most 15 bytes).
    pub server_if: String,
    /// Client end (at most 15 bytes).
    pub client_if: String,
}

impl VethPair {
    /// Creates both namespaces and the pair; `queues` sets the number of
    /// TX and RX queues of each end (the kernel's default otherwise: one
    /// per possible CPU).
    pub fn create(names: PairNames, queues: Option<u32>) -> Result<VethPair> {
        if names.server_if.len() > 15 || names.client_if.len() > 15 {
            return Err(Error::Other(format!(
                "interface names {} / {} longer than 15 bytes",
                names.server_if, names.client_if
            )));
        }
        let server_ns = Netns::add(&names.server_ns)?;
        // From here on, drop removes what exists.
        let client_ns = Netns::add(&names.client_ns)?;
        let q = queues.map(|q| q.to_string());
        let end = |name: &str, ns: &str| {
            let mut a = vec!["name".to_owned(), name.to_owned()];
            if let Some(q) = &q {
                a.extend([
                    "numtxqueues".into(),
                    q.clone(),
                    "numrxqueues".into(),
                    q.clone(),
                ]);
            }
            a.extend(["netns".into(), ns.to_owned()]);
            a
        };
        run_ok(
            Command::new("ip")
                .args(["link", "add"])
                .args(end(&names.server_if, &names.server_ns))
                .args(["type", "veth", "peer"])
                .args(end(&names.client_if, &names.client_ns)),
        )?;
        for (ns, dev) in [
            (&names.server_ns, &names.server_if),
            (&names.client_ns, &names.client_if),
        ] {
            ip_in(ns, &["link", "set", "lo", "up"])?;
            ip_in(ns, &["link", "set", dev, "up"])?;
        }
        Ok(VethPair {
            server_ns,
            client_ns,
            server_if: names.server_if,
            client_if: names.client_if,
        })
    }
}

/// Adds `addr/prefix_len` to `dev` in `ns` (IPv6 without duplicate address
/// detection, so that it is usable at once).
pub fn add_addr(ns: &str, dev: &str, addr: IpAddr, prefix_len: u8) -> Result<()> {
    let cidr = format!("{addr}/{prefix_len}");
    let mut args = vec!["addr", "add", &cidr, "dev", dev];
    if addr.is_ipv6() {
        args.push("nodad");
    }
    ip_in(ns, &args).map(drop)
}

/// `ip -n NS link show DEV`.
pub fn link_show(ns: &str, dev: &str) -> Result<String> {
    ip_in(ns, &["link", "show", dev])
}

/// The MAC address of `dev` in `ns`.
pub fn mac(ns: &str, dev: &str) -> Result<String> {
    let out = ip_in(ns, &["-o", "link", "show", "dev", dev])?;
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Other(format!(
                "no link/ether address in `ip link show {dev}`: {out}"
            ))
        })
}

/// Removes any XDP program (native and generic) from `dev` in `ns`.
pub fn xdp_off(ns: &str, dev: &str) -> Result<()> {
    ip_in(ns, &["link", "set", "dev", dev, "xdp", "off"])?;
    ip_in(ns, &["link", "set", "dev", dev, "xdpgeneric", "off"]).map(drop)
}

/// Whether `ip link show` output says an XDP program is attached (the
/// `xdp`/`xdpgeneric`/... flag or a `prog/xdp` line).
pub fn has_xdp(link_show: &str) -> bool {
    link_show.split_whitespace().any(|t| {
        matches!(
            t,
            "xdp" | "xdpgeneric" | "xdpdrv" | "xdpoffload" | "xdpmulti"
        ) || t.starts_with("prog/xdp")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_xdp_in_link_show() {
        let with = "2: v@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdp qdisc noqueue state UP mode DEFAULT group default qlen 1000
    link/ether 0a:99:d3:a7:64:6a brd ff:ff:ff:ff:ff:ff link-netns gslbt-1-2-parity_noxdp-c
    prog/xdp id 42 name gslb tag 0123456789abcdef jited";
        let without = "2: v@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000
    link/ether 0a:99:d3:a7:64:6a brd ff:ff:ff:ff:ff:ff link-netns gslbt-1-2-parity_noxdp-c";
        assert!(has_xdp(with));
        assert!(!has_xdp(without));
    }
}
