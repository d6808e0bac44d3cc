//! Tests of `[server]`.

use super::*;

#[test]
fn server_errors() {
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"localhost:53\"]\n",
        "\"localhost",
        "invalid listen address `localhost:53`",
    );
    assert_error(
        "[server]\nlisten = [\"::1:53\"]\n",
        "\"::1",
        "IPv6 in brackets",
    );
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"[::1]:5353\"]\n",
        "\"[::1]",
        "port 5353 differs from port 53",
    );
    assert_error(
        "[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n",
        "\"127.0.0.1:53\"]",
        "duplicate listen address",
    );
    assert_error(
        "[server]\nlisten = []\n",
        "[]",
        "at least one listen address",
    );
    assert_error(
        "[server]\ninterfaces = [\"eth0\", \"a-very-long-interface\"]\n",
        "\"a-very",
        "invalid interface name",
    );
    assert_error(
        "[server]\nedns_udp_size = 511\n",
        "511",
        "out of range 512..=4096",
    );
    assert_error("[server]\nedns_udp_size = 65536\n", "65536", "out of range");
    let cfg = parse(
        "[server]\nlisten = [\"0.0.0.0:0\", \"[::]:0\"]\ninterfaces = []\nedns_udp_size = 4096\n",
        "t",
    )
    .unwrap();
    assert_eq!(cfg.server.port(), 0);
    assert!(cfg.server.interfaces.is_empty());
}

#[test]
fn server_ecs_and_persist_records() {
    use crate::config::EcsTrust;
    let cfg = parse("[server]\n", "t").unwrap();
    assert_eq!(cfg.server.ecs, EcsTrust::All);
    assert_eq!(
        cfg.server.persist_records,
        gslb_common::maps::DEFAULT_PERSIST_RECORDS
    );
    let ecs = |v: &str| parse(&format!("[server]\necs = {v}\n"), "t").map(|c| c.server.ecs);
    assert_eq!(ecs("\"all\"").unwrap(), EcsTrust::All);
    assert_eq!(ecs("\"none\"").unwrap(), EcsTrust::None);
    let EcsTrust::Resolvers(nets) = ecs("[\"198.18.0.0/24\", \"2001:db8::53\"]").unwrap() else {
        panic!("a list is resolvers");
    };
    assert_eq!(
        nets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["198.18.0.0/24", "2001:db8::53/128"]
    );
    let trust = EcsTrust::Resolvers(nets);
    assert!(trust.trusts(Some("198.18.0.9".parse().unwrap())));
    assert!(!trust.trusts(Some("198.18.1.9".parse().unwrap())));
    assert!(!trust.trusts(None));
    assert_error("[server]\necs = \"some\"\n", "\"some\"", "invalid ecs");
    assert_error("[server]\necs = 1\n", "1", "invalid ecs");
    assert_error(
        "[server]\necs = [\"198.18.0.1/24\"]\n",
        "[\"198",
        "has bits set past its length (did you mean 198.18.0.0/24?)",
    );
    assert_error(
        "[server]\necs = [\"resolver\"]\n",
        "[\"r",
        "invalid ecs resolver prefix",
    );
    let cfg = parse("[server]\npersist_records = 1000\n", "t").unwrap();
    assert_eq!(cfg.server.persist_records, 1000);
    assert_error("[server]\npersist_records = 0\n", "0", "out of range");
}
