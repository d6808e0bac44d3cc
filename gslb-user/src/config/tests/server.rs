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
