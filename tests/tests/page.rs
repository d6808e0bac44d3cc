//! The status page through the real path: a daemon with XDP in the server
//! namespace, its `[api]` listener on the server's veth address, HTTP
//! backends the test stops, and Debian's headless Chromium in the client
//! namespace loading the page (driven over the DevTools pipe, see
//! `gslb_tests::chromium`).
//!
//! - the page takes the token from its address (`#token=`), shows both
//!   servers up, in their datacenters and pools; a backend stopped: within
//!   the page's refresh (2 s) plus the monitor's fall time the live DOM
//!   shows the server down and the change at the top of the recent
//!   changes; a drain shows too. A screenshot of the page is written to
//!   `target/test-artifacts/status-page.png` and checked to be a PNG of
//!   the window's size with content. Opened without the token, the page
//!   asks for it and shows the servers once it is given in its form.
//! - `GET /api/v1/history` after queries from `dig` in the client
//!   namespace: answers per gslb name, each name's own count; the token
//!   is needed.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test page`.

use std::{
    fs,
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    chromium::{png_size, Chromium},
    config::{datacenter, gslb, health, monitor, pool, timing, vserver, vserver_at},
    harness::{
        check_config, start, wait_probed_ok, wait_server, Failures, BACKEND_BODY, BACKEND_PORT,
        ZONE,
    },
    netns::{gslb_bin, in_netns, run_bounded, Backend, Net, DIG_TIMEOUT},
};
use serde_json::Value;

/// The API's port on the server's veth address.
const API_PORT: u16 = 8053;
/// The token of the test configs.
const TOKEN: &str = "page-test-token-4b1d";
/// The page's refresh period (page.js `REFRESH_MS`).
const REFRESH: Duration = Duration::from_secs(2);
/// The HTTP monitor: interval, timeout, rise, fall.
const INTERVAL_MS: u64 = 200;
const TIMEOUT_MS: u64 = 100;
const RISE: u64 = 2;
const FALL: u64 = 2;

/// web1 and web2 (HTTP `/health` monitors) in two datacenters behind
/// `www`, api1 (no monitor) behind `api`; the API on the server's veth
/// address with a token.
fn page_config(net: &Net) -> String {
    [
        ZONE.to_string(),
        datacenter("ams", ""),
        health("up"),
        format!(
            "\n[api]\nlisten = \"{}\"\ntoken = \"{TOKEN}\"\n",
            SocketAddr::new(net.srv_v4(), API_PORT)
        ),
        monitor(
            "http",
            "http",
            &timing(INTERVAL_MS, TIMEOUT_MS, RISE, FALL),
            &format!("port = {BACKEND_PORT}\npath = \"/health\"\nexpect_body = \"healthy\"\n"),
        ),
        vserver("web1", net.v4(101), "monitors = [\"http\"]\n"),
        vserver_at("web2", net.v4(102), "ams", "monitors = [\"http\"]\n"),
        vserver("api1", net.v4(103), ""),
        pool("web", &["web1", "web2"], "round_robin", 1, ""),
        pool("apis", &["api1"], "round_robin", 1, ""),
        gslb("www.example.test", 30, &["web"], ""),
        gslb("api.example.test", 30, &["apis"], ""),
    ]
    .concat()
}

/// Where test artifacts go: `target/test-artifacts/` (the directory of
/// the `gslb` binary the tests run, two levels up).
fn artifacts_dir() -> PathBuf {
    let bin = gslb_bin();
    let target = bin
        .parent()
        .and_then(|debug| debug.parent())
        .expect("target/debug/gslb has a target directory");
    let dir = target.join("test-artifacts");
    fs::create_dir_all(&dir).expect("creating target/test-artifacts");
    dir
}

/// What the page shows, read from its live DOM: each server row's
/// attributes, the recent changes, how often it refreshed, and the
/// token's state; `null` until the page has loaded.
const PAGE_STATE: &str = r##"(() => {
  const updated = document.getElementById("updated");
  if (!updated) return null; // not loaded yet
  return {
  refreshes: Number(updated.dataset.refreshes),
  state: updated.dataset.state,
  servers: Object.fromEntries([...document.querySelectorAll("tr[data-server]")].map(r =>
    [r.dataset.server, { health: r.dataset.health, admin: r.dataset.admin, availability: r.dataset.availability }])),
  datacenters: [...document.querySelectorAll("[data-datacenter]")].map(h => h.dataset.datacenter),
  pools: [...document.querySelectorAll("[data-pool]")].map(h => h.dataset.pool),
  names: [...document.querySelectorAll("#names tr[data-name]")].map(r => r.dataset.name),
  changes: [...document.querySelectorAll("#changes li[data-server]")].map(li =>
    ({ server: li.dataset.server, kind: li.dataset.kind, from: li.dataset.from, to: li.dataset.to })),
  chartLines: document.querySelectorAll("#qps-chart polyline").length,
  tokenKept: sessionStorage.getItem("gslb-api-token") !== null,
  hash: location.hash,
  tokenFormHidden: document.getElementById("token-form").hidden,
  };
})()"##;

/// Polls the page (every 100 ms, at most `timeout`) until `done` holds
/// for its state; the state and the time it took, or the last state.
fn wait_page(
    page: &mut Chromium,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<(Value, Duration), Value> {
    let t0 = Instant::now();
    loop {
        let st = page.eval(PAGE_STATE);
        if done(&st) {
            return Ok((st, t0.elapsed()));
        }
        if t0.elapsed() > timeout {
            return Err(st);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The page shows both servers up and the names, pools and datacenters;
/// a stopped backend's server shows down within a refresh (plus the
/// monitor's fall time), with the change listed; a drain shows too; the
/// screenshot is a real PNG.
#[test]
fn status_page_shows_a_server_going_down() {
    let net = Net::new("page");
    for h in 101..=103 {
        net.add_srv_addr(net.v4(h));
    }
    let mut b1 = Backend::start(
        &net,
        SocketAddr::new(net.v4(101), BACKEND_PORT),
        BACKEND_BODY,
    );
    let _b2 = Backend::start(
        &net,
        SocketAddr::new(net.v4(102), BACKEND_PORT),
        BACKEND_BODY,
    );
    let config = page_config(&net);
    check_config(&config, "page");
    let d = start(&net, &config);
    wait_probed_ok(&d, "web1", Duration::from_secs(5));
    wait_probed_ok(&d, "web2", Duration::from_secs(5));
    let mut f = Failures::default();

    let url = format!("http://{}:{API_PORT}/#token={TOKEN}", net.srv_v4());
    let mut page = Chromium::open(net.in_cli("chromium"), &url, 1280, 1000);
    let up = |s: &Value| {
        s["refreshes"].as_u64() >= Some(1)
            && s["servers"]["web1"]["health"] == "up"
            && s["servers"]["web2"]["health"] == "up"
    };
    let st = match wait_page(&mut page, Duration::from_secs(15), up) {
        Ok((st, _)) => st,
        Err(st) => panic!(
            "the page never showed web1 and web2 up: {st:#}\n{}",
            page.dom()
        ),
    };
    f.check(st["state"] == "ok" && st["tokenFormHidden"] == true, || {
        format!("the page did not load with the token from its address: {st:#}")
    });
    f.check(st["tokenKept"] == true && st["hash"] == "", || {
        format!("the token is not kept in sessionStorage, or still in the address: {st:#}")
    });
    f.check(st["servers"]["api1"]["health"] == "up", || {
        format!("api1 (no monitor) not shown up: {st:#}")
    });
    f.check(
        st["datacenters"] == serde_json::json!(["dc1", "ams"]),
        || format!("datacenters: {}", st["datacenters"]),
    );
    f.check(st["pools"] == serde_json::json!(["web", "apis"]), || {
        format!("pools: {}", st["pools"])
    });
    f.check(
        st["names"] == serde_json::json!(["www.example.test.", "api.example.test."])
            || st["names"] == serde_json::json!(["www.example.test", "api.example.test"]),
        || format!("names: {}", st["names"]),
    );
    f.check(st["chartLines"].as_u64() == Some(2), || {
        format!(
            "the chart has {} lines, want one per name",
            st["chartLines"]
        )
    });
    let dom = page.dom();
    f.check(
        dom.contains(r#"data-server="web1" data-health="up""#),
        || format!("the DOM has no up row for web1:\n{dom}"),
    );

    // Some traffic, for the chart, the shares and the screenshot.
    dig_times(&net, net.srv_v4(), "www.example.test", 40);
    dig_times(&net, net.srv_v4(), "api.example.test", 10);

    // Stop web1's backend: the daemon sees it down within fall ×
    // interval + timeout; the page within one more refresh.
    b1.stop();
    let t0 = Instant::now();
    let bound = REFRESH
        + Duration::from_millis(FALL * INTERVAL_MS + TIMEOUT_MS)
        + Duration::from_millis(1500);
    let down = |s: &Value| {
        s["servers"]["web1"]["health"] == "down"
            && s["changes"]
                .as_array()
                .and_then(|c| c.first())
                .is_some_and(|c| {
                    c["server"] == "web1" && c["kind"] == "health" && c["to"] == "down"
                })
    };
    match wait_page(&mut page, bound, down) {
        Ok((st, took)) => {
            eprintln!("page: web1 shown down {:.0} ms after its backend stopped", took.as_secs_f64() * 1000.0);
            f.check(st["servers"]["web2"]["health"] == "up", || {
                format!("web2 not up after web1 went down: {st:#}")
            });
        }
        Err(st) => f.check(false, || {
            format!(
                "the page did not show web1 down with the change within {bound:?} (stopped {:?} ago): {st:#}\nstatus: {}",
                t0.elapsed(),
                d.status_json()
            )
        }),
    }
    let dom = page.dom();
    f.check(
        dom.contains(r#"data-server="web1" data-health="down""#),
        || format!("the DOM has no down row for web1:\n{dom}"),
    );
    f.check(
        dom.contains(r#"<li data-server="web1" data-kind="health" data-from="up" data-to="down">"#),
        || format!("the DOM lists no web1 up → down change:\n{dom}"),
    );

    dig_times(&net, net.srv_v4(), "www.example.test", 20);
    dig_times(&net, net.srv_v4(), "api.example.test", 30);

    // An admin change shows too.
    d.server_admin("drain", "web2");
    wait_server(&d, "web2", "draining", Duration::from_secs(5), |s| {
        s["admin"] == "draining"
    });
    let drained = |s: &Value| {
        s["servers"]["web2"]["admin"] == "draining"
            && s["changes"]
                .as_array()
                .and_then(|c| c.first())
                .is_some_and(|c| {
                    c["server"] == "web2" && c["kind"] == "admin" && c["to"] == "draining"
                })
    };
    if let Err(st) = wait_page(&mut page, REFRESH + Duration::from_secs(2), drained) {
        f.check(false, || {
            format!("the page did not show web2 draining: {st:#}")
        });
    }

    // The screenshot: the page as it is now, kept as a test artifact.
    let png = page.screenshot();
    let path = artifacts_dir().join("status-page.png");
    fs::write(&path, &png).expect("writing the screenshot");
    eprintln!(
        "page: screenshot at {} ({} bytes)",
        path.display(),
        png.len()
    );
    match png_size(&png) {
        Ok((w, h)) => f.check(w == 1280 && h >= 600 && png.len() > 20_000, || {
            format!(
                "the screenshot is {w}x{h}, {} bytes: too small to show the page",
                png.len()
            )
        }),
        Err(e) => f.check(false, || format!("the screenshot is not a PNG: {e}")),
    }
    drop(page);

    // Without the token in its address the page asks for it; given in
    // the form, it shows the servers.
    let url = format!("http://{}:{API_PORT}/", net.srv_v4());
    let mut page = Chromium::open(net.in_cli("chromium"), &url, 1024, 768);
    let asks = |s: &Value| s["state"] == "token" && s["tokenFormHidden"] == false;
    match wait_page(&mut page, Duration::from_secs(15), asks) {
        Ok(_) => {
            page.eval(&format!(
                "document.getElementById('token').value = '{TOKEN}'; \
                 document.querySelector('#token-form button').click(); true"
            ));
            let shown = |s: &Value| {
                s["state"] == "ok"
                    && s["tokenFormHidden"] == true
                    && s["tokenKept"] == true
                    && s["servers"]["web1"]["health"] == "down"
            };
            if let Err(st) = wait_page(&mut page, Duration::from_secs(10), shown) {
                f.check(false, || {
                    format!("the page did not load with the token from its form: {st:#}")
                });
            }
        }
        Err(st) => f.check(false, || {
            format!("the page without a token did not ask for one: {st:#}")
        }),
    }
    f.assert_none();
}

/// `GET path` on the API from the client namespace, with the token or
/// without; the status code and the body.
fn http_get(net: &Net, path: &str, token: Option<&str>) -> (u16, String) {
    let addr = SocketAddr::new(net.srv_v4(), API_PORT);
    let mut conn = in_netns(&net.cli_ns, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .unwrap_or_else(|e| panic!("connecting to the API at {addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("sending the request");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("reading the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    (status, body.to_owned())
}

/// `dig` in the client namespace asking `name` A `n` times in one run
/// (dig takes several queries on one command line); the NOERROR answers.
fn dig_times(net: &Net, server: IpAddr, name: &str, n: usize) -> usize {
    let mut cmd = net.in_cli("dig");
    cmd.arg(format!("@{server}"));
    for _ in 0..n {
        cmd.args([name, "A", "+norec", "+time=2", "+tries=1"]);
    }
    let out = run_bounded(&mut cmd, DIG_TIMEOUT * 2);
    assert!(out.success(), "{out}");
    out.stdout.matches("status: NOERROR").count()
}

/// After queries from dig, the history has each gslb name's own answers
/// per second (30 for www, 10 for api, in XDP); without the token the
/// history is refused.
#[test]
fn history_has_answers_per_name() {
    let net = Net::new("page_hist");
    for h in 101..=103 {
        net.add_srv_addr(net.v4(h));
    }
    let _b1 = Backend::start(
        &net,
        SocketAddr::new(net.v4(101), BACKEND_PORT),
        BACKEND_BODY,
    );
    let _b2 = Backend::start(
        &net,
        SocketAddr::new(net.v4(102), BACKEND_PORT),
        BACKEND_BODY,
    );
    let config = page_config(&net);
    check_config(&config, "page history");
    let d = start(&net, &config);
    let mut f = Failures::default();

    let (code, body) = http_get(&net, "/api/v1/history", None);
    f.check(code == 401 && body.contains("\"error\""), || {
        format!("history without the token: {code} {body}")
    });
    let (code, body) = http_get(&net, "/", None);
    f.check(code == 200 && body.contains("/static/page.js"), || {
        format!("the page itself (no data, no token needed): {code} {body}")
    });

    // A tick after the daemon's start gives every name its baseline.
    thread::sleep(Duration::from_millis(1500));
    let before = d.stats();
    let www = dig_times(&net, net.srv_v4(), "www.example.test", 30);
    let api = dig_times(&net, net.srv_v4(), "api.example.test", 10);
    let after = d.stats();
    assert_eq!(
        (www, api),
        (30, 10),
        "dig got fewer answers than it asked for"
    );
    f.check(before.delta_of(&after, "xdp_answered") == 40, || {
        format!(
            "not all 40 queries answered in XDP: {:?}",
            before.delta(&after)
        )
    });

    // Within two ticks the history has them.
    let answers = |h: &Value, name: &str| -> Option<u64> {
        h["names"]
            .as_array()?
            .iter()
            .find(|n| n["name"].as_str().map(|s| s.trim_end_matches('.')) == Some(name))?["answers"]
            .as_u64()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let h = loop {
        let (code, body) = http_get(&net, "/api/v1/history", Some(TOKEN));
        assert_eq!(code, 200, "history with the token: {body}");
        let h: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let done = answers(&h, "www.example.test") == Some(30)
            && answers(&h, "api.example.test") == Some(10);
        if done || Instant::now() > deadline {
            break h;
        }
        thread::sleep(Duration::from_millis(250));
    };
    f.check(answers(&h, "www.example.test") == Some(30), || {
        format!("www: want 30 answers in the history: {h:#}")
    });
    f.check(answers(&h, "api.example.test") == Some(10), || {
        format!("api: want 10 answers in the history: {h:#}")
    });
    let times = h["times"].as_array().map_or(0, Vec::len);
    for n in h["names"].as_array().into_iter().flatten() {
        let qps = n["qps"].as_array().cloned().unwrap_or_default();
        f.check(qps.len() == times && times >= 2, || {
            format!("{}: {} rates for {times} ticks", n["name"], qps.len())
        });
        // The rates over the ticks add up to the answers (each tick is
        // about one second).
        let sum: f64 = qps.iter().filter_map(Value::as_f64).sum();
        let want = n["answers"].as_f64().unwrap_or(0.0);
        f.check((sum - want).abs() <= want * 0.25 + 0.5, || {
            format!("{}: rates sum to {sum:.1}, answers {want}", n["name"])
        });
    }
    f.check(h["tick_s"] == 1.0, || format!("tick_s: {}", h["tick_s"]));
    f.assert_none();
}
