//! Load metrics polled from a server's `metrics_url` in the Prometheus
//! text exposition format: the gauges named in `[metrics]` (default
//! `sessions` and `connections`), from the series whose labels include
//! the server's `metrics_labels` (several matching series are added up).
//!
//! A poll fails when the endpoint does not answer 200 within the timeout,
//! or its response has neither gauge; the engine then keeps the last
//! reading until it is older than `max_age`, after which the server's
//! metrics are unknown. A response with one gauge only makes the other
//! unknown at once.

use std::{
    collections::BTreeMap,
    error::Error as _,
    time::{Duration, Instant},
};

use prometheus_parse::{Scrape, Value};
use reqwest::{header::ACCEPT, redirect::Policy, Client};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::debug;

use super::Command;
use crate::{
    config::{Config, MetricsConfig, MetricsSource},
    state::ids::ServerId,
};

/// Largest response read.
const MAX_BODY: usize = 1 << 20;

/// One reading of a server's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Current sessions.
    pub sessions: Option<u64>,
    /// Current connections.
    pub connections: Option<u64>,
}

/// Which series of an exposition count.
#[derive(Clone, Debug)]
pub struct Selector {
    /// Gauge of the sessions.
    pub sessions: String,
    /// Gauge of the connections.
    pub connections: String,
    /// Labels a series must have (others may be present).
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// The gauges of `cfg`, the labels of one server.
    pub fn new(cfg: &MetricsConfig, labels: &BTreeMap<String, String>) -> Selector {
        Selector {
            sessions: cfg.sessions.clone(),
            connections: cfg.connections.clone(),
            labels: labels.clone(),
        }
    }

    fn describe(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        format!("{}{labels} or {}{labels}", self.sessions, self.connections)
    }
}

/// The reading in a Prometheus text exposition; an error when it has
/// neither gauge. Values must be finite and not negative (others are
/// skipped); they are rounded to whole numbers.
pub fn parse(text: &str, sel: &Selector) -> Result<Reading, String> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| format!("unreadable exposition: {e}"))?;
    let mut reading = Reading::default();
    for sample in &scrape.samples {
        let slot = if sample.metric == sel.sessions {
            &mut reading.sessions
        } else if sample.metric == sel.connections {
            &mut reading.connections
        } else {
            continue;
        };
        if !sel
            .labels
            .iter()
            .all(|(k, v)| sample.labels.get(k) == Some(v.as_str()))
        {
            continue;
        }
        let v = match sample.value {
            Value::Gauge(v) | Value::Untyped(v) => v,
            _ => continue,
        };
        if !v.is_finite() || v < 0.0 {
            continue;
        }
        *slot = Some(slot.unwrap_or(0).saturating_add(v.round() as u64));
    }
    if reading == Reading::default() {
        return Err(format!("no series {} in the response", sel.describe()));
    }
    Ok(reading)
}

/// Polls one endpoint.
#[derive(Debug)]
pub struct Poller {
    client: Client,
    url: String,
    selector: Selector,
}

impl Poller {
    /// A poller of `url` with the timeout of `cfg`.
    pub fn new(url: &str, selector: Selector, cfg: &MetricsConfig) -> Result<Poller, String> {
        let client = Client::builder()
            .no_proxy()
            .redirect(Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(cfg.timeout)
            .user_agent(concat!("gslb-metrics/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {}", error_message(&e)))?;
        Ok(Poller {
            client,
            url: url.to_string(),
            selector,
        })
    }

    /// One GET of the endpoint, read and parsed.
    pub async fn poll(&self) -> Result<Reading, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header(ACCEPT, "text/plain")
            .send()
            .await
            .map_err(|e| error_message(&e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| error_message(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("response larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse(&String::from_utf8_lossy(&body), &self.selector)
    }
}

/// The most telling part of a reqwest error: a timeout as such, else the
/// innermost cause ("Connection refused").
fn error_message(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".to_string();
    }
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// Polls with `poller` for server `server` every `interval` until the
/// task is aborted or the engine is gone; every result goes to the engine.
pub fn spawn(
    server: ServerId,
    poller: Poller,
    interval: Duration,
    tx: mpsc::Sender<Command>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let reading = poller.poll().await;
            if let Err(e) = &reading {
                debug!(url = %poller.url, error = %e, "metrics poll failed");
            }
            if tx.send(Command::Metrics { server, reading }).await.is_err() {
                return;
            }
        }
    })
}

/// Starts a poller for every server with a `metrics_url`; `ids` holds the
/// id of each server, in config order.
pub fn spawn_all(
    cfg: &Config,
    ids: &[ServerId],
    tx: &mpsc::Sender<Command>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for (s, &id) in cfg.servers.iter().zip(ids) {
        if let MetricsSource::Url { url, labels } = &s.metrics {
            let poller = Poller::new(url, Selector::new(&cfg.metrics, labels), &cfg.metrics)?;
            tasks.push(spawn(id, poller, cfg.metrics.interval, tx.clone()));
        }
    }
    Ok(tasks)
}

/// What the engine knows of one endpoint's polls.
#[derive(Clone, Debug, Default)]
pub struct PollState {
    /// When the last good reading arrived.
    pub last_ok: Option<Instant>,
    /// The error of the latest poll, when it failed.
    pub error: Option<String>,
    /// Polls so far.
    pub polls: u64,
}

impl PollState {
    /// Records one poll's result at `now`; returns the reading to use
    /// from now on, `None` when the current one stays (a failed poll).
    pub fn record(&mut self, result: Result<Reading, String>, now: Instant) -> Option<Reading> {
        self.polls += 1;
        match result {
            Ok(reading) => {
                self.last_ok = Some(now);
                self.error = None;
                Some(reading)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// Age of the last good reading at `now`.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_ok.map(|t| now.saturating_duration_since(t))
    }

    /// Whether the last good reading is older than `max_age` (or there
    /// never was one).
    pub fn expired(&self, now: Instant, max_age: Duration) -> bool {
        self.age(now).is_none_or(|a| a > max_age)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn sel(labels: &[(&str, &str)]) -> Selector {
        Selector {
            sessions: "sessions".into(),
            connections: "connections".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn reading(sessions: Option<u64>, connections: Option<u64>) -> Reading {
        Reading {
            sessions,
            connections,
        }
    }

    #[test]
    fn parses_gauges_and_untyped_samples() {
        let text = "# HELP sessions Open sessions.\n# TYPE sessions gauge\nsessions 12\n\
                    connections 7.4 1700000000000\nother 3\n";
        assert_eq!(parse(text, &sel(&[])), Ok(reading(Some(12), Some(7))));
    }

    #[test]
    fn a_missing_gauge_is_unknown_not_zero() {
        assert_eq!(parse("sessions 5\n", &sel(&[])), Ok(reading(Some(5), None)));
        let e = parse("nothing 1\n", &sel(&[("instance", "web1")])).unwrap_err();
        assert!(
            e.contains("sessions{instance=\"web1\"} or connections{instance=\"web1\"}"),
            "{e}"
        );
        assert!(parse("", &sel(&[])).is_err());
    }

    #[test]
    fn labelled_series_are_matched_by_the_configured_labels() {
        let text = "sessions{instance=\"web1\",vhost=\"a\"} 10\n\
                    sessions{instance=\"web1\",vhost=\"b\"} 5\n\
                    sessions{instance=\"web2\"} 100\n\
                    connections{instance=\"web2\"} 40\n";
        // All series of web1 are added up; web2's are not counted.
        assert_eq!(
            parse(text, &sel(&[("instance", "web1")])),
            Ok(reading(Some(15), None))
        );
        assert_eq!(
            parse(text, &sel(&[("instance", "web2")])),
            Ok(reading(Some(100), Some(40)))
        );
        assert_eq!(
            parse(text, &sel(&[("instance", "web1"), ("vhost", "b")])),
            Ok(reading(Some(5), None))
        );
        assert!(parse(text, &sel(&[("instance", "web3")])).is_err());
        // Without configured labels every series counts.
        assert_eq!(parse(text, &sel(&[])), Ok(reading(Some(115), Some(40))));
    }

    #[test]
    fn configured_gauge_names_and_odd_values() {
        let s = Selector {
            sessions: "haproxy_sessions".into(),
            connections: "haproxy_conns".into(),
            labels: BTreeMap::new(),
        };
        let text = "sessions 1\nhaproxy_sessions 3\nhaproxy_conns NaN\n";
        assert_eq!(parse(text, &s), Ok(reading(Some(3), None)));
        assert!(parse("haproxy_sessions -1\nhaproxy_conns +Inf\n", &s).is_err());
        // Counters and histograms are not gauges.
        let text = "# TYPE sessions counter\nsessions 4\nconnections 2\n";
        assert_eq!(parse(text, &sel(&[])), Ok(reading(None, Some(2))));
    }

    #[test]
    fn readings_age_and_expire() {
        let t0 = Instant::now();
        let max = Duration::from_secs(3);
        let mut st = PollState::default();
        assert!(st.expired(t0, max), "no reading yet");
        assert_eq!(
            st.record(Ok(reading(Some(1), None)), t0),
            Some(reading(Some(1), None))
        );
        assert_eq!(st.error, None);
        assert!(!st.expired(t0 + max, max));
        // A failed poll keeps the reading (and its age) and records the error.
        assert_eq!(st.record(Err("timeout".into()), t0 + max), None);
        assert_eq!(st.error.as_deref(), Some("timeout"));
        assert_eq!(st.age(t0 + max), Some(max));
        assert!(st.expired(t0 + max + Duration::from_millis(1), max));
        // A good reading clears the error and the age.
        st.record(Ok(reading(Some(2), None)), t0 + 2 * max);
        assert_eq!(st.error, None);
        assert_eq!(st.age(t0 + 2 * max), Some(Duration::ZERO));
        assert_eq!(st.polls, 3);
    }

    /// Serves `response` to each of `n` connections on a local port.
    async fn serve(response: &'static [u8], n: usize) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..n {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response).await;
            }
        });
        format!("http://{addr}/metrics")
    }

    fn poller(url: &str, timeout: Duration) -> Poller {
        let cfg = MetricsConfig {
            timeout,
            ..MetricsConfig::default()
        };
        Poller::new(url, sel(&[]), &cfg).unwrap()
    }

    #[tokio::test]
    async fn polls_over_http() {
        let url = serve(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
              sessions 5\nconnections 9\n",
            1,
        )
        .await;
        let p = poller(&url, Duration::from_secs(2));
        assert_eq!(p.poll().await, Ok(reading(Some(5), Some(9))));
    }

    #[tokio::test]
    async fn failed_polls_say_why() {
        let url = serve(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            1,
        )
        .await;
        assert_eq!(
            poller(&url, Duration::from_secs(2)).poll().await,
            Err("HTTP 503".into())
        );
        // Connection refused: a port nobody listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", l.local_addr().unwrap());
        drop(l);
        let e = poller(&url, Duration::from_secs(2))
            .poll()
            .await
            .unwrap_err();
        assert!(e.to_lowercase().contains("refused"), "{e}");
        // An endpoint that accepts and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", l.local_addr().unwrap());
        let t0 = Instant::now();
        let e = poller(&url, Duration::from_millis(200))
            .poll()
            .await
            .unwrap_err();
        assert_eq!(e, "timeout");
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(l);
    }
}
