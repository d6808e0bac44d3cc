//! Tests of `[[vserver]]`.

use super::*;

#[test]
fn vserver_is_not_server() {
    // `[server]` is the listener table; virtual servers are `[[vserver]]`.
    let err = parse("[[server]]\nname = \"x\"\n", "t").unwrap_err();
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert_error(
        &engine_with("[[vserver]]\nname = \"s3\"\naddress = \"198.18.10.3\"\ndatacenter = \"ams\"\nport = 80\n"),
        "port",
        "unknown field `port`",
    );
    assert_error(
        &engine_with("[[vserver]]\nname = \"s3\"\naddress = \"198.18.10.3\"\n"),
        "[[vserver]]\nname = \"s3\"",
        "missing field `datacenter`",
    );
}

#[test]
fn vserver_errors() {
    let server = |body: &str| {
        engine_with(&format!(
            "[[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\n{body}"
        ))
    };
    let at = |body: &str, at: &str, contains: &str| {
        assert_error_last(&server(body), at, contains);
    };
    at(
        "address = \"198.18.10.x\"\n",
        "\"198.18.10.x\"",
        "invalid address `198.18.10.x`",
    );
    at(
        "address = \"0.0.0.0\"\n",
        "\"0.0.0.0\"",
        "cannot be a server address",
    );
    at("address = \"::\"\n", "\"::\"", "cannot be a server address");
    at(
        "address = \"224.0.0.1\"\n",
        "\"224.0.0.1\"",
        "cannot be a server address",
    );
    at(
        "address = \"255.255.255.255\"\n",
        "\"255.255.255.255\"",
        "cannot be a server address",
    );
    at(
        "address = \"ff02::1\"\n",
        "\"ff02::1\"",
        "cannot be a server address",
    );
    at(
        "address = \"198.18.10.3\"\ncheck_address = \"ff02::1\"\n",
        "\"ff02::1\"",
        "cannot be a server address",
    );
    at(
        "address = \"198.18.10.3\"\ncheck_address = \"x\"\n",
        "\"x\"",
        "invalid check_address",
    );
    at(
        "address = \"198.18.10.3\"\nratio = 0\n",
        "0",
        "ratio 0 is out of range 1..=65535",
    );
    at(
        "address = \"198.18.10.3\"\nratio = 65536\n",
        "65536",
        "ratio 65536",
    );
    at(
        "address = \"198.18.10.3\"\nmax_sessions = -1\n",
        "-1",
        "max_sessions -1 is out of range",
    );
    at(
        "address = \"198.18.10.3\"\nmax_connections = -1\n",
        "-1",
        "max_connections -1",
    );
    at(
        "address = \"198.18.10.3\"\nmonitors = [\"web\", \"nope\"]\n",
        "\"nope\"",
        "`monitors`: unknown monitor `nope`",
    );
    at(
        "address = \"198.18.10.3\"\nmonitors = [\"web\", \"web\"]\n",
        "\"web\"]",
        "monitor `web` is listed twice",
    );
    at(
        "address = \"198.18.10.3\"\nstate = \"up\"\n",
        "\"up\"",
        "unknown state `up` (one of: enabled, disabled, draining)",
    );
    at(
        "address = \"198.18.10.3\"\ninitial = \"sideways\"\n",
        "\"sideways\"",
        "invalid initial state",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { sessions = 1 }\nmetrics_url = \"http://h/\"\n",
        "\"http://h/\"",
        "`metrics` and `metrics_url` are exclusive",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { sessions = -1 }\n",
        "-1",
        "metrics.sessions -1",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics = { load = 1 }\n",
        "load",
        "unknown field `load`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"https://h/m\"\n",
        "\"https",
        "https is not supported",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"ftp://h/m\"\n",
        "\"ftp",
        "must start with http://",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http:///m\"\n",
        "\"http",
        "no host",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h:0/m\"\n",
        "\"http",
        "invalid port `0`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h:x\"\n",
        "\"http",
        "invalid port `x`",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://[::1/m\"\n",
        "\"http",
        "invalid IPv6 host",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://u@h/\"\n",
        "\"http",
        "credentials",
    );
    at(
        "address = \"198.18.10.3\"\nmetrics_url = \"http://h/a b\"\n",
        "\"http",
        "whitespace",
    );
    for good in [
        "http://h",
        "http://h:9100",
        "http://[::1]:9100/metrics",
        "http://10.0.0.1/m?x=1",
    ] {
        let text = server(&format!(
            "address = \"198.18.10.3\"\nmetrics_url = \"{good}\"\n"
        ));
        assert!(parse(&text, "t").is_ok(), "{good} rejected");
    }

    assert_error(
        &engine_replace(
            "datacenter = \"ams\"\nmonitors",
            "datacenter = \"fra\"\nmonitors",
        ),
        "\"fra\"",
        "`datacenter`: unknown datacenter `fra` (no [[datacenter]] has that name)",
    );
    assert_error_last(
        &engine_with(
            "[[vserver]]\nname = \"s1\"\naddress = \"198.18.10.3\"\ndatacenter = \"ams\"\n",
        ),
        "\"s1\"",
        "duplicate [[vserver]] name `s1`",
    );
    // A reference to an entry with an invalid value is not a second error.
    assert_error(
        &engine_replace("lat = 52.37", "lat = 520"),
        "520",
        "latitude 520",
    );
    assert_error(
        &engine_replace("type = \"http\"", "type = \"htp\""),
        "\"htp\"",
        "unknown monitor type",
    );
}

#[test]
fn more_vservers_than_the_hit_counters_hold_are_rejected() {
    let servers = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[vserver]]\nname = \"v{i}\"\ndatacenter = \"ams\"\naddress = \"198.18.{}.{}\"\n",
                    i / 250,
                    i % 250 + 1
                )
            })
            .collect()
    };
    let ok = engine_with(&servers(MAX_VSERVERS - 2));
    if let Err(e) = parse(&ok, "t.toml") {
        assert!(
            !e.to_string().contains("too many vservers"),
            "{MAX_VSERVERS} vservers rejected:\n{e}"
        );
    }
    let text = engine_with(&servers(MAX_VSERVERS + 2));
    let err = parse(&text, "t.toml").expect_err("too many vservers");
    let offset = text
        .find(&format!("name = \"v{}\"", MAX_VSERVERS - 2))
        .expect("the first vserver past the limit")
        + "name = ".len();
    let (line, column) = position(&text, offset);
    let want = format!("t.toml:{line}:{column}: too many vservers");
    assert!(
        err.to_string().lines().any(|l| l.starts_with(&want)),
        "want `{want}`, got:\n{err}"
    );
}
