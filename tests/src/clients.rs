//! Clients spread over prefixes for the client-aware tests: their
//! addresses on the client veth (198.19.0.0/16, 2001:db8:f0::/44) with
//! routes back from the server namespace, the server address of a
//! client's family, the check of the answer a client gets, and the check
//! that XDP answered every query.

use std::net::IpAddr;

use crate::{
    harness::{answer_addrs, Failures},
    netns::{run_ok, Counters, Daemon, Net},
};

/// Adds `clients` to the client veth and routes 198.19.0.0/16 and
/// 2001:db8:f0::/44 back from the server namespace (for the slow path).
pub fn add_clients(net: &Net, clients: impl IntoIterator<Item = IpAddr>) {
    for client in clients {
        net.add_cli_addr(client);
    }
    for prefix in ["198.19.0.0/16", "2001:db8:f0::/44"] {
        run_ok(
            net.in_srv("ip")
                .args(["route", "add", prefix, "dev", &net.srv_if]),
        );
    }
}

/// The server's address of `client`'s family.
pub fn server_for(net: &Net, client: IpAddr) -> IpAddr {
    if client.is_ipv4() {
        net.srv_v4()
    } else {
        net.srv_v6()
    }
}

/// Checks that `dig name A` from `client` (to the server address of its
/// family) is NOERROR with exactly the addresses `want`.
pub fn check_answer(
    f: &mut Failures,
    what: &str,
    net: &Net,
    client: IpAddr,
    name: &str,
    want: &[IpAddr],
) {
    let r = net.dig(
        server_for(net, client),
        name,
        "A",
        &["-b", &client.to_string()],
    );
    let got = answer_addrs(&r);
    f.check(r.status == "NOERROR" && got == want, || {
        format!(
            "{what}: {name} A from {client}: {} {got:?}, want {want:?}\n{}",
            r.status, r.raw
        )
    });
}

/// With XDP attached (`before` taken then), checks that `xdp_answered`
/// grew by `queries`: every query was answered in XDP.
pub fn check_all_in_xdp(
    f: &mut Failures,
    what: &str,
    d: &Daemon<'_>,
    before: Option<Counters>,
    queries: u64,
) {
    if let Some(before) = before {
        let after = d.stats();
        let answered = before.delta_of(&after, "xdp_answered");
        f.check(answered == queries, || {
            format!(
                "{what}: xdp_answered +{answered}, want +{queries} (every query answered in \
                 XDP); changes: {:?}",
                before.delta(&after)
            )
        });
    }
}
