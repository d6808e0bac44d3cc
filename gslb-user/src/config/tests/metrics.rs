//! Tests of `[metrics]` and a vserver's `metrics_labels`.

use super::*;

#[test]
fn metrics_polling_and_labels() {
    let cfg = parse(
        &engine_with(
            "[metrics]\ninterval = \"200ms\"\nmax_age = \"1s\"\nsessions = \"app_sessions\"\n\
             [[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\naddress = \"198.18.10.3\"\n\
             metrics_url = \"http://198.18.10.3:9100/metrics\"\n\
             metrics_labels = { instance = \"web1\", job = \"app\" }\n",
        ),
        "t",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.metrics,
        MetricsConfig {
            interval: ms(200),
            timeout: ms(100),
            max_age: ms(1000),
            sessions: "app_sessions".into(),
            connections: "connections".into(),
        }
    );
    assert_eq!(
        cfg.servers.last().unwrap().metrics,
        MetricsSource::Url {
            url: "http://198.18.10.3:9100/metrics".into(),
            labels: [
                ("instance".to_string(), "web1".to_string()),
                ("job".to_string(), "app".to_string())
            ]
            .into(),
        }
    );
    // max_age defaults to 3 intervals.
    let cfg = parse(&engine_with("[metrics]\ninterval = \"2s\"\n"), "t").unwrap();
    assert_eq!(
        (cfg.metrics.timeout, cfg.metrics.max_age),
        (ms(1000), ms(6000))
    );

    let table = |body: &str, at: &str, contains: &str| {
        assert_error_last(&engine_with(&format!("[metrics]\n{body}")), at, contains);
    };
    table(
        "interval = \"1ms\"\n",
        "\"1ms\"",
        "shorter than the minimum",
    );
    table(
        "interval = \"1s\"\ntimeout = \"1s\"\n",
        "\"1s\"",
        "metrics.timeout 1s is not shorter than metrics.interval 1s",
    );
    table(
        "interval = \"1s\"\nmax_age = \"500ms\"\n",
        "\"500ms\"",
        "metrics.max_age 500ms is shorter than metrics.interval 1s",
    );
    table(
        "sessions = \"my-sessions\"\n",
        "\"my-sessions\"",
        "invalid metrics.sessions `my-sessions`",
    );
    table("poll = 1\n", "poll", "unknown field `poll`");

    let server = |body: &str, at: &str, contains: &str| {
        assert_error_last(
            &engine_with(&format!(
                "[[vserver]]\nname = \"s3\"\ndatacenter = \"ams\"\naddress = \"198.18.10.3\"\n{body}"
            )),
            at,
            contains,
        );
    };
    server(
        "metrics_labels = { instance = \"web1\" }\n",
        "{ instance",
        "`metrics_labels` needs a `metrics_url`",
    );
    server(
        "metrics_url = \"http://h/\"\nmetrics_labels = { \"a-b\" = \"x\" }\n",
        "{ \"a-b\"",
        "invalid label name `a-b`",
    );
    server(
        "metrics_url = \"http://h/\"\nmetrics_labels = { a = \"x,y\" }\n",
        "\"x,y\"",
        "cannot be matched",
    );
}
