//! Tests of `[[monitor]]`.

use super::*;

#[test]
fn monitor_errors() {
    let mon = |ty: &str, body: &str| {
        engine_with(&format!(
            "[[monitor]]\nname = \"m\"\ntype = \"{ty}\"\n{body}"
        ))
    };
    assert_error_last(
        &mon("udp", ""),
        "\"udp\"",
        "unknown monitor type `udp` (one of: tcp,",
    );
    assert_error_last(
        &mon("tcp", "interval = \"5ms\"\n"),
        "\"5ms\"",
        "shorter than the minimum 10ms",
    );
    assert_error_last(
        &mon("tcp", "interval = \"5\"\n"),
        "\"5\"",
        "interval: duration `5` has no unit",
    );
    assert_error_last(
        &mon("tcp", "interval = \"1x\"\n"),
        "\"1x\"",
        "unknown unit `x`",
    );
    assert_error_last(
        &mon("tcp", "interval = -1\n"),
        "-1",
        "interval -1 is negative",
    );
    assert_error_last(&mon("tcp", "interval = 1.5\n"), "1.5", "a duration such as");
    assert_error_last(
        &mon("tcp", "interval = \"1s\"\ntimeout = \"1s\"\n"),
        "\"1s\"",
        "timeout 1s is not shorter than the interval 1s",
    );
    assert_error_last(
        &mon("tcp", "timeout = \"6s\"\n"),
        "\"6s\"",
        "not shorter than the interval 5s (default)",
    );
    assert_error_last(
        &mon("tcp", "timeout = \"0ms\"\n"),
        "\"0ms\"",
        "timeout must not be zero",
    );
    assert_error_last(&mon("tcp", "rise = 0\n"), "0", "rise 0 is out of range");
    assert_error_last(&mon("tcp", "fall = -3\n"), "-3", "fall -3 is out of range");
    assert_error_last(
        &mon("tcp", "jitter = 0.6\n"),
        "0.6",
        "jitter 0.6 is out of range 0..=0.5",
    );
    assert_error_last(&mon("tcp", "jitter = -0.1\n"), "-0.1", "jitter");
    assert_error_last(
        &mon("tcp", "port = 0\n"),
        "0",
        "port 0 is out of range 1..=65535",
    );
    assert_error_last(
        &mon("dns", "query = \"x.test\"\nport = 65536\n"),
        "65536",
        "port 65536",
    );
    assert_error_last(
        &mon("http", "method = \"GE T\"\n"),
        "\"GE T\"",
        "invalid HTTP method",
    );
    assert_error_last(
        &mon("http", "method = \"\"\n"),
        "\"\"",
        "invalid HTTP method",
    );
    assert_error_last(
        &mon("https", "path = \"health\"\n"),
        "\"health\"",
        "must start with '/'",
    );
    assert_error_last(&mon("http", "path = \"/a b\"\n"), "\"/a b\"", "whitespace");
    assert_error_last(&mon("http", "host = \"a b\"\n"), "\"a b\"", "invalid host");
    assert_error_last(
        &mon("http", "expect_status = [200, 99]\n"),
        "99",
        "status 99 is out of range 100..=599",
    );
    assert_error_last(&mon("http", "expect_status = [600]\n"), "600", "status 600");
    assert_error_last(
        &mon("http", "expect_status = []\n"),
        "[]",
        "`expect_status` is empty",
    );
    assert_error_last(
        &mon("http", "expect_status = [200, 200]\n"),
        "200",
        "duplicate status 200",
    );
    assert_error_last(&mon("dns", ""), "\"dns\"", "a dns monitor needs `query`");
    assert_error_last(
        &mon("dns", "query = \"a..b\"\n"),
        "\"a..b\"",
        "invalid query name",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nquery_type = \"BOGUS\"\n"),
        "\"BOGUS\"",
        "invalid query type `BOGUS`",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nquery_type = \"AXFR\"\n"),
        "\"AXFR\"",
        "invalid query type",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nexpect_rcode = \"OOPS\"\n"),
        "\"OOPS\"",
        "unknown response code `OOPS` (one of: NOERROR,",
    );
    let ok = parse(
        &mon(
            "dns",
            "query = \"a.test\"\nquery_type = \"aaaa\"\nexpect_rcode = \"nxdomain\"\n",
        ),
        "t",
    )
    .unwrap();
    assert!(matches!(
        &ok.monitors[1].kind,
        MonitorKind::Dns {
            query_type: RecordType::AAAA,
            expect_rcode: ResponseCode::NXDomain,
            ..
        }
    ));
    assert_error_last(
        &mon("external", ""),
        "\"external\"",
        "an external monitor needs `command`",
    );
    assert_error_last(
        &mon("external", "command = []\n"),
        "[]",
        "`command` is empty",
    );
    assert_error_last(
        &mon("external", "command = [\" \", \"x\"]\n"),
        "\" \"",
        "program of `command` is empty",
    );

    // Keys of another monitor type.
    assert_error_last(
        &mon("tcp", "path = \"/\"\n"),
        "\"/\"",
        "`path` does not apply to a tcp monitor (only to http, https)",
    );
    assert_error_last(
        &mon("icmp", "port = 7\n"),
        "7",
        "`port` does not apply to a icmp monitor",
    );
    assert_error_last(
        &mon("http", "command = [\"x\"]\n"),
        "[\"x\"]",
        "`command` does not apply to a http monitor",
    );
    assert_error_last(
        &mon("dns", "query = \"a.test\"\nexpect_body = \"x\"\n"),
        "\"x\"",
        "`expect_body` does not apply",
    );
    assert_error_last(
        &mon("external", "command = [\"x\"]\nquery = \"a.test\"\n"),
        "\"a.test\"",
        "`query` does not apply",
    );
    assert_error_last(
        &mon("tcp", "timeout_ms = 5\n"),
        "timeout_ms",
        "unknown field `timeout_ms`",
    );

    assert_error_last(
        &engine_with("[[monitor]]\nname = \"web\"\ntype = \"tcp\"\n"),
        "\"web\"",
        "duplicate [[monitor]] name `web`",
    );
}
