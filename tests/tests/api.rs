//! The HTTP API and `/metrics` (`[api]`), against a real daemon with XDP
//! attached in a network namespace, from an HTTP client in the server
//! namespace (the API listens on its default, 127.0.0.1:8053):
//!
//! - every route with no token, a wrong token and the right one
//!   (401 with `WWW-Authenticate: Bearer`, 401, 200), errors as JSON with
//!   their status codes, a drain through the API seen by `gslb status`
//!   and by dig, a token file that a reload re-reads, a refused reload;
//! - `/metrics` read with a Prometheus text parser and checked against
//!   `gslb stats --json` and `gslb status --json` after queries on the
//!   fast path (UDP) and the slow path (TCP), in read-only mode;
//! - no token configured: reads open, admin verbs 403; no XDP counters
//!   with `--no-xdp`;
//! - a bad `[api]` table rejected with FILE:LINE:COL by `gslb check` and
//!   `gslb run`, and a taken port refused at start.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test api`.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, monitor, pool, vserver},
    harness::{answer_addrs, check_config, start, start_with, status_server, v4, Failures, ZONE},
    http::{request, HttpResponse},
    netns::{gslb_bin, run_bounded, Net, CMD_TIMEOUT},
};
use hickory_proto::rr::RecordType;
use serde_json::Value;

/// Where the API listens in the server namespace (`[api]`'s default).
fn api_addr() -> SocketAddr {
    "127.0.0.1:8053".parse().unwrap()
}

const NAME: &str = "www.example.test";
const S1: &str = "198.18.70.1";
const S2: &str = "198.18.70.2";

/// Two servers in one round-robin pool answering [`NAME`] with both,
/// monitored over TCP at the daemon's own DNS port; then `api`, the
/// `[api]` table's lines.
fn config(net: &Net, api: &str) -> String {
    let checked = format!(
        "monitors = [\"dns_tcp\"]\ncheck_address = \"{}\"\n",
        net.srv_v4()
    );
    [
        ZONE.to_string(),
        monitor(
            "dns_tcp",
            "tcp",
            "interval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 1\njitter = 0",
            "port = 53\n",
        ),
        vserver("s1", S1, &checked),
        vserver("s2", S2, &checked),
        pool("p", &["s1", "s2"], "round_robin", 8, ""),
        gslb(NAME, 30, &["p"], ""),
        format!("\n[api]\n{api}\n"),
    ]
    .concat()
}

/// One request to the API from the server namespace, with the bearer
/// token `token` if any.
fn call(net: &Net, method: &str, path: &str, token: Option<&str>) -> HttpResponse {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    request(&net.srv_ns, api_addr(), method, path, &headers)
}

/// Whether `r` is a JSON error with `status` as its code and in its body.
fn is_error(r: &HttpResponse, status: u16) -> bool {
    r.status == status
        && r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        && serde_json::from_str::<Value>(&r.body).is_ok_and(|v| {
            v["status"] == status && v["error"].as_str().is_some_and(|e| !e.is_empty())
        })
}

/// The routes with the status the right token gets, and their access.
fn routes(client: IpAddr) -> Vec<(&'static str, String, &'static str, u16)> {
    vec![
        ("GET", "/api/v1/status".into(), "read", 200),
        (
            "GET",
            format!("/api/v1/explain/{NAME}?client={client}"),
            "read",
            200,
        ),
        ("GET", "/api/v1/persist".into(), "read", 200),
        ("GET", "/api/v1/model".into(), "read", 200),
        ("GET", "/api/v1/config".into(), "read", 200),
        ("GET", "/api/v1/history".into(), "read", 200),
        ("GET", "/metrics".into(), "read", 200),
        ("DELETE", "/api/v1/persist".into(), "admin", 200),
        ("POST", "/api/v1/servers/s1/enable".into(), "admin", 200),
        ("POST", "/api/v1/servers/s1/disable".into(), "admin", 200),
        ("POST", "/api/v1/servers/s1/enable".into(), "admin", 200),
        ("POST", "/api/v1/reload".into(), "admin", 200),
        ("POST", "/api/v1/clients/reload".into(), "admin", 200),
    ]
}

/// The addresses `NAME` A answers now (sorted), by dig over UDP or TCP.
fn answer(net: &Net, tcp: bool) -> Vec<IpAddr> {
    let extra: &[&str] = if tcp { &["+tcp"] } else { &[] };
    let r = net.dig(net.srv_v4(), NAME, "A", extra);
    let mut a = answer_addrs(&r);
    a.sort();
    a
}

/// Polls (UDP dig) until `NAME` answers `want`, at most `timeout`.
fn wait_answer(net: &Net, want: &[IpAddr], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if answer(net, false) == want {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every route with no token, a wrong token and the right one; errors as
/// JSON with their codes; a drain through the API in `gslb status` and in
/// the answers (UDP, so XDP, and TCP); a token file re-read by a reload
/// through the API; a refused reload leaving the running config.
#[test]
fn api_verbs_tokens_errors_and_drain() {
    let net = Net::new("api_verbs");
    let dir = std::env::temp_dir().join(format!("gslbt-{}-api-token", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("api.token");
    let token = "first-token-4711";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let text = config(&net, &format!("token_file = \"{}\"", token_file.display()));
    check_config(&text, "api");
    let d = start(&net, &text);
    let mut f = Failures::default();

    // Open: the description.
    let r = call(&net, "GET", "/api/v1/openapi.json", None);
    f.check(r.status == 200 && r.json()["openapi"].is_string(), || {
        format!("openapi.json without a token:\n{r}")
    });
    for (method, path, access, ok) in routes(net.cli_v4()) {
        let r = call(&net, method, &path, None);
        f.check(
            is_error(&r, 401)
                && r.header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Bearer")),
            || format!("{method} {path} ({access}) without a token: want 401 + challenge\n{r}"),
        );
        let r = call(&net, method, &path, Some("wrong-token"));
        f.check(
            is_error(&r, 401)
                && r.header("www-authenticate")
                    .is_some_and(|c| c.contains("invalid_token")),
            || format!("{method} {path} ({access}) with a wrong token: want 401\n{r}"),
        );
        let r = call(&net, method, &path, Some(token));
        f.check(r.status == ok, || {
            format!("{method} {path} ({access}) with the token: want {ok}\n{r}")
        });
    }
    let r = call(&net, "GET", "/api/v1/status", Some(token));
    let status = r.json();
    let names: Vec<&str> = status["servers"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    f.check(names == ["s1", "s2"], || format!("status servers: {r}"));
    let r = call(&net, "GET", "/api/v1/model", Some(token));
    let m = r.json();
    f.check(
        m["pools"][0]["members"] == serde_json::json!(["s1", "s2"])
            && m["names"][0]["name"] == format!("{NAME}.")
            && m["servers"][1]["address"] == S2
            && !r.body.contains(token),
        || format!("model:\n{r}"),
    );
    let r = call(&net, "GET", "/api/v1/config", Some(token));
    let c = r.json();
    f.check(
        c["api"]["token"] == true
            && c["api"]["listen"] == "127.0.0.1:8053"
            && c["server"]["interfaces"] == serde_json::json!([net.srv_if])
            && c["pools"] == m["pools"]
            && !r.body.contains(token),
        || format!("config:\n{r}"),
    );
    let r = call(
        &net,
        "GET",
        &format!("/api/v1/explain/{NAME}?client={}", net.cli_v4()),
        Some(token),
    );
    f.check(r.json()["a"]["explanation"]["pool"] == "p", || {
        format!("explain:\n{r}")
    });

    // Errors: JSON with their codes.
    for (method, path, code) in [
        (
            "GET",
            "/api/v1/explain/nosuch.example.test".to_string(),
            404,
        ),
        ("GET", "/api/v1/explain/a..b".to_string(), 400),
        (
            "GET",
            format!("/api/v1/explain/{NAME}?client=not-an-ip"),
            400,
        ),
        ("GET", format!("/api/v1/explain/{NAME}?ecs=1.2.3.4/99"), 400),
        ("GET", format!("/api/v1/explain/{NAME}?colour=blue"), 400),
        ("GET", "/api/v1/persist?client=junk".to_string(), 400),
        ("POST", "/api/v1/servers/nosuch/drain".to_string(), 404),
        ("POST", "/api/v1/servers/s1/sideways".to_string(), 404),
        ("GET", "/api/v1/nope".to_string(), 404),
        ("PUT", "/api/v1/status".to_string(), 405),
        ("GET", "/api/v1/servers/s1/drain".to_string(), 405),
    ] {
        let r = call(&net, method, &path, Some(token));
        f.check(is_error(&r, code), || {
            format!("{method} {path}: want a JSON {code}\n{r}")
        });
    }

    // A drain through the API: in `gslb status`, and out of the answers
    // of both paths; enable brings it back.
    let (s1, s2) = (v4(S1), v4(S2));
    f.check(answer(&net, false) == [s1, s2], || {
        format!("before the drain: {:?}", answer(&net, false))
    });
    let r = call(&net, "POST", "/api/v1/servers/s2/drain", Some(token));
    f.check(
        r.status == 200 && r.json()["admin"] == "draining" && r.json()["name"] == "s2",
        || format!("drain s2:\n{r}"),
    );
    let st = d.status_json();
    f.check(status_server(&st, "s2")["admin"] == "draining", || {
        format!(
            "gslb status after the API's drain: {}",
            status_server(&st, "s2")
        )
    });
    f.check(wait_answer(&net, &[s1], Duration::from_secs(2)), || {
        format!(
            "s2 still answered (UDP) 2 s after the drain: {:?}",
            answer(&net, false)
        )
    });
    f.check(answer(&net, true) == [s1], || {
        format!("s2 still answered over TCP: {:?}", answer(&net, true))
    });
    let text_status = d.ctl(&["status"]);
    f.check(text_status.stdout.contains("draining"), || {
        format!("gslb status text:\n{text_status}")
    });
    let r = call(&net, "POST", "/api/v1/servers/s2/enable", Some(token));
    f.check(r.status == 200 && r.json()["admin"] == "enabled", || {
        format!("enable s2:\n{r}")
    });
    f.check(wait_answer(&net, &[s1, s2], Duration::from_secs(2)), || {
        format!("s2 not back 2 s after enable: {:?}", answer(&net, false))
    });

    // A new token in the file takes effect with a reload.
    let token2 = "second-token-0815";
    std::fs::write(&token_file, format!("{token2}\n")).unwrap();
    let r = call(&net, "POST", "/api/v1/reload", Some(token));
    f.check(r.status == 200, || format!("reload:\n{r}"));
    let r = call(&net, "GET", "/api/v1/status", Some(token));
    f.check(is_error(&r, 401), || {
        format!("the old token after the reload:\n{r}")
    });
    let r = call(&net, "GET", "/api/v1/status", Some(token2));
    f.check(r.status == 200, || {
        format!("the new token after the reload:\n{r}")
    });

    // A broken config: refused with its position, the old one stays.
    let broken = text.replace("[api]\n", "[api]\nlisten = \"nowhere\"\n");
    d.set_config(&broken);
    let r = call(&net, "POST", "/api/v1/reload", Some(token2));
    let (line, column) = position(&broken, "\"nowhere\"");
    f.check(
        is_error(&r, 422)
            && r.body
                .contains(&format!(".toml:{line}:{column}: invalid api.listen")),
        || format!("reload of a broken [api]: want 422 with :{line}:{column}:\n{r}"),
    );
    let r = call(&net, "GET", "/api/v1/status", Some(token2));
    f.check(r.status == 200, || {
        format!("after the refused reload:\n{r}")
    });
    f.check(answer(&net, false) == [s1, s2], || {
        format!(
            "answers after the refused reload: {:?}",
            answer(&net, false)
        )
    });
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_none();
}

/// 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("needle in text");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

/// Samples of a scrape: (name, sorted labels) → value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// `/metrics` without a token (read-only mode), read by the Prometheus
/// text parser.
fn scrape(net: &Net) -> Samples {
    let r = call(net, "GET", "/metrics", None);
    assert_eq!(r.status, 200, "/metrics:\n{r}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{r}"
    );
    let lines = r.body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines)
        .unwrap_or_else(|e| panic!("/metrics does not parse ({e}):\n{}", r.body));
    parsed
        .samples
        .into_iter()
        .map(|s| {
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("{}: unexpected {other:?}", s.metric),
            };
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.sort();
            ((s.metric, labels), v)
        })
        .collect()
}

fn sample(s: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    l.sort();
    s.get(&(name.to_string(), l)).copied()
}

/// The Prometheus sample of `gslb stats`' counter `counter`.
fn xdp_sample(s: &Samples, counter: &str) -> Option<f64> {
    match counter.strip_prefix("xdp_passed_") {
        Some(reason) => sample(s, "gslb_xdp_passed_total", &[("reason", reason)]),
        None => sample(s, &format!("gslb_{counter}_total"), &[]),
    }
}

#[allow(clippy::cast_precision_loss, reason = "test counts are small")]
fn f(n: u64) -> f64 {
    n as f64
}

/// After queries on both paths, `/metrics` agrees with `gslb stats
/// --json` (every XDP counter, between a read before and one after the
/// scrape; the answered ones exactly) and with `gslb status --json`
/// (per-server and per-name answers, health, admin state, probe
/// latency), and counts reloads by result. Read-only mode: the scrape
/// needs no token, an admin verb does.
#[test]
fn metrics_agree_with_stats_and_status() {
    const UDP: u64 = 20;
    const TCP: u64 = 5;
    let net = Net::new("api_metrics");
    let token = "metrics-token-42";
    let text = config(
        &net,
        &format!("token = \"{token}\"\nread_only_without_token = true"),
    );
    let d = start(&net, &text);
    let mut fl = Failures::default();
    // Read-only mode: admin verbs still need the token.
    let r = call(&net, "POST", "/api/v1/servers/s1/drain", None);
    fl.check(is_error(&r, 401), || {
        format!("admin verb without a token:\n{r}")
    });
    let r = call(&net, "GET", "/api/v1/status", Some("wrong"));
    fl.check(is_error(&r, 401), || {
        format!("read with a wrong token:\n{r}")
    });
    let r = call(&net, "GET", "/api/v1/history", None);
    fl.check(r.status == 200, || format!("history without a token:\n{r}"));

    let before = d.stats();
    let client = net.udp_client(net.cli_v4());
    for i in 0..UDP {
        let r = client.query(net.srv_v4(), NAME, RecordType::A, Duration::from_secs(1));
        assert!(
            r.is_some_and(|r| r.addrs.len() == 2),
            "UDP query {i} unanswered"
        );
    }
    for _ in 0..TCP {
        assert_eq!(answer(&net, true).len(), 2);
    }
    let s1 = d.stats();
    let m = scrape(&net);
    let s2 = d.stats();
    fl.check(before.delta_of(&s1, "xdp_answered") == UDP, || {
        format!(
            "gslb stats: {} answered in XDP, want {UDP}",
            before.delta_of(&s1, "xdp_answered")
        )
    });
    let Some(obj) = s2.0.as_object() else {
        panic!("gslb stats --json: {}", s2.0)
    };
    for name in obj.keys() {
        let (lo, hi) = (f(s1.get(name)), f(s2.get(name)));
        let got = xdp_sample(&m, name);
        fl.check(got.is_some_and(|v| lo <= v && v <= hi), || {
            format!("{name}: /metrics {got:?}, gslb stats {lo}..={hi}")
        });
    }
    let answered = xdp_sample(&m, "xdp_answered");
    fl.check(answered == Some(f(s1.get("xdp_answered"))), || {
        format!(
            "gslb_xdp_answered_total {answered:?} vs gslb stats {}",
            s1.get("xdp_answered")
        )
    });

    // Answers per name and per server: both paths, once the engine has
    // read the XDP hand-outs (every tick).
    let deadline = Instant::now() + Duration::from_secs(5);
    let name_label = format!("{NAME}.");
    let (m, st) = loop {
        let m = scrape(&net);
        let st = d.status_json();
        let n = sample(&m, "gslb_name_answers_total", &[("name", &name_label)]);
        let servers: f64 = ["s1", "s2"]
            .iter()
            .filter_map(|s| {
                sample(
                    &m,
                    "gslb_server_answers_total",
                    &[("server", s), ("datacenter", "dc1")],
                )
            })
            .sum();
        let done = n == Some(f(UDP + TCP)) && servers == f(UDP + TCP);
        if done || Instant::now() > deadline {
            break (m, st);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let n = sample(&m, "gslb_name_answers_total", &[("name", &name_label)]);
    fl.check(n == Some(f(UDP + TCP)), || {
        format!("gslb_name_answers_total {n:?}, want {}", UDP + TCP)
    });
    let slow = sample(
        &m,
        "gslb_name_slow_path_answers_total",
        &[("name", &name_label)],
    );
    fl.check(slow == Some(f(TCP)), || {
        format!("gslb_name_slow_path_answers_total {slow:?}, want {TCP} (the TCP queries)")
    });
    let status_name = st["names"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name_label.as_str()))
        .map(|x| x["answers"].clone());
    fl.check(status_name == Some(Value::from(UDP + TCP)), || {
        format!("gslb status answers of {NAME}: {status_name:?}")
    });
    let mut total = 0.0;
    for server in ["s1", "s2"] {
        let ss = status_server(&st, server);
        let id = [("server", server), ("datacenter", "dc1")];
        let got = sample(&m, "gslb_server_answers_total", &id);
        total += got.unwrap_or(0.0);
        fl.check(got == ss["handed_out"].as_u64().map(f), || {
            format!(
                "gslb_server_answers_total of {server}: {got:?}, status {}",
                ss["handed_out"]
            )
        });
        fl.check(sample(&m, "gslb_server_up", &id) == Some(1.0), || {
            format!("gslb_server_up of {server}")
        });
        let admin = [("server", server), ("state", "enabled")];
        fl.check(
            sample(&m, "gslb_server_admin_state", &admin) == Some(1.0),
            || format!("gslb_server_admin_state of {server}"),
        );
        let mon = [("server", server), ("monitor", "dns_tcp")];
        fl.check(sample(&m, "gslb_monitor_up", &mon) == Some(1.0), || {
            format!("gslb_monitor_up of {server}")
        });
        let lat = sample(&m, "gslb_monitor_probe_latency_seconds", &mon);
        fl.check(lat.is_some_and(|l| l > 0.0 && l < 0.15), || {
            format!("gslb_monitor_probe_latency_seconds of {server}: {lat:?}")
        });
        let member = [("pool", "p"), ("server", server)];
        fl.check(sample(&m, "gslb_pool_member", &member) == Some(1.0), || {
            format!("gslb_pool_member of {server}")
        });
    }
    fl.check(total == f(UDP + TCP), || {
        format!("server answers sum to {total}, want {}\n{st:#}", UDP + TCP)
    });
    fl.check(
        sample(&m, "gslb_start_time_seconds", &[]).is_some_and(|t| t > 1.7e9),
        || "gslb_start_time_seconds".to_string(),
    );

    // Reload outcomes.
    let r = call(&net, "POST", "/api/v1/reload", Some(token));
    fl.check(r.status == 200, || format!("reload:\n{r}"));
    d.set_config(&text.replace("[[pool]]", "[[pool]]\nbogus = 1"));
    let r = call(&net, "POST", "/api/v1/reload", Some(token));
    fl.check(is_error(&r, 422), || format!("broken reload:\n{r}"));
    let m = scrape(&net);
    for (result, want) in [("ok", 1.0), ("failed", 1.0)] {
        let got = sample(&m, "gslb_reloads_total", &[("result", result)]);
        fl.check(got == Some(want), || {
            format!("gslb_reloads_total{{result={result}}}: {got:?}, want {want}")
        });
    }
    fl.check(
        sample(&m, "gslb_last_reload_success", &[]) == Some(0.0),
        || "gslb_last_reload_success after a refused reload".to_string(),
    );
    drop(d);
    fl.assert_none();
}

/// No token configured: reads need none, admin verbs are refused (403)
/// saying why; without XDP, `/metrics` has no XDP counters but the rest.
#[test]
fn no_token_reads_open_admin_refused() {
    let net = Net::new("api_notoken");
    let text = config(&net, "");
    let d = start_with(&net, &text, true);
    let mut f = Failures::default();
    for path in ["/api/v1/status", "/api/v1/model", "/api/v1/history"] {
        let r = call(&net, "GET", path, None);
        f.check(r.status == 200, || format!("GET {path}:\n{r}"));
    }
    for (method, path) in [
        ("POST", "/api/v1/servers/s1/drain"),
        ("POST", "/api/v1/reload"),
        ("DELETE", "/api/v1/persist"),
    ] {
        for token in [None, Some("anything")] {
            let r = call(&net, method, path, token);
            f.check(
                is_error(&r, 403) && r.body.contains("no API token is configured"),
                || format!("{method} {path} ({token:?}): want 403\n{r}"),
            );
        }
    }
    // OpenMetrics when the scraper asks for it.
    let r = request(
        &net.srv_ns,
        api_addr(),
        "GET",
        "/metrics",
        &["Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5"],
    );
    f.check(
        r.status == 200
            && r.header("content-type")
                .is_some_and(|c| c.starts_with("application/openmetrics-text"))
            && r.body.ends_with("# EOF\n")
            && r.body.contains("# TYPE gslb_server_answers counter"),
        || format!("/metrics as OpenMetrics:\n{r}"),
    );
    let st = d.status_json();
    f.check(status_server(&st, "s1")["admin"] == "enabled", || {
        "a refused drain changed s1".to_string()
    });
    let r = call(&net, "GET", "/metrics", None);
    f.check(
        r.status == 200 && !r.body.contains("gslb_xdp_") && r.body.contains("gslb_server_up{"),
        || format!("/metrics without XDP:\n{r}"),
    );
    drop(d);
    f.assert_none();
}

/// A bad `[api]` table: `gslb check` and `gslb run` refuse it with
/// FILE:LINE:COLUMN; a taken port stops the start with a clear error.
#[test]
fn bad_api_config_is_rejected() {
    let net = Net::new("api_bad");
    let dir = std::env::temp_dir().join(format!("gslbt-{}-api-bad", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let mut f = Failures::default();
    for (api, at, message) in [
        (
            "listen = \"localhost:80\"",
            "\"localhost:80\"",
            "invalid api.listen",
        ),
        (
            "token = \"has space\"",
            "\"has space\"",
            "api.token holds a character",
        ),
        (
            "token = \"a\"\ntoken_file = \"/nonexistent\"",
            "\"/nonexistent\"",
            "api.token and api.token_file are both set",
        ),
        (
            "token_file = \"/nonexistent/t\"",
            "\"/nonexistent/t\"",
            "cannot read api.token_file",
        ),
        ("tokn = \"x\"", "tokn", "`api.tokn`: unknown field `tokn`"),
    ] {
        let text = config(&net, api);
        std::fs::write(&path, &text).unwrap();
        let (line, column) = position(&text, at);
        let want = format!("{}:{line}:{column}: {message}", path.display());
        let out = run_bounded(
            std::process::Command::new(gslb_bin())
                .arg("check")
                .arg("--config")
                .arg(&path),
            CMD_TIMEOUT,
        );
        f.check(!out.success() && out.stderr.contains(&want), || {
            format!("gslb check of [api] {api:?}: want {want}\n{out}")
        });
        let out = run_bounded(
            net.in_srv(gslb_bin())
                .args(["run", "--no-xdp", "--config"])
                .arg(&path)
                .arg("--control")
                .arg(dir.join("c.sock")),
            CMD_TIMEOUT,
        );
        f.check(!out.success() && out.stderr.contains(&want), || {
            format!("gslb run with [api] {api:?}: want {want}\n{out}")
        });
    }
    // The API's port is taken: the daemon does not start.
    let text = config(&net, &format!("listen = \"{}:53\"", net.srv_v4()));
    std::fs::write(&path, &text).unwrap();
    let out = run_bounded(
        net.in_srv(gslb_bin())
            .args(["run", "--no-xdp", "--config"])
            .arg(&path)
            .arg("--listen")
            .arg(format!("{}:53", net.srv_v4()))
            .arg("--control")
            .arg(dir.join("c.sock")),
        CMD_TIMEOUT,
    );
    f.check(
        !out.success() && out.stderr.contains("binding the HTTP API to"),
        || format!("gslb run with the API on the DNS port: want a bind error\n{out}"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    f.assert_none();
}
