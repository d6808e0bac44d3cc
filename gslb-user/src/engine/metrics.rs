//! Load metrics from a server's HTTP endpoint in Prometheus text format
//! (until agents exist): gauges `sessions` and `connections`, or
//! `gslb_sessions` and `gslb_connections`, labels ignored.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
    time::timeout,
};
use tracing::debug;

use super::Command;

/// Time between two polls of one endpoint.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Time one poll may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response read.
const MAX_BODY: usize = 1 << 20;

/// Sessions and connections found in a Prometheus text exposition.
pub fn parse(text: &str) -> (Option<u64>, Option<u64>) {
    let mut sessions = None;
    let mut connections = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(metric), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = metric.split('{').next().unwrap_or(metric);
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let v = v.max(0.0) as u64;
        match name {
            "sessions" | "gslb_sessions" => sessions = Some(v),
            "connections" | "gslb_connections" => connections = Some(v),
            _ => {}
        }
    }
    (sessions, connections)
}

/// `http://host:port/path` → (host:port, path).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_string()))
}

/// One GET of `url`; the body.
pub async fn fetch(url: &str) -> Result<String, String> {
    let (authority, path) = split_url(url).ok_or("not an http:// URL")?;
    let work = async {
        let mut s = TcpStream::connect(&authority)
            .await
            .map_err(|e| e.to_string())?;
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, _)| h);
        let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(MAX_BODY as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(format!("HTTP status {status}"));
        }
        Ok(body.to_string())
    };
    timeout(POLL_TIMEOUT, work)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// Polls `url` for server `server` until the task is aborted.
pub fn spawn(server: usize, url: String, tx: mpsc::Sender<Command>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tick.tick().await;
            match fetch(&url).await {
                Ok(body) => {
                    let (sessions, connections) = parse(&body);
                    if tx
                        .send(Command::Metrics {
                            server,
                            sessions,
                            connections,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => debug!(%url, error = %e, "metrics poll failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_text() {
        let text = "# HELP sessions x\n# TYPE sessions gauge\nsessions 12\ngslb_connections{site=\"a\"} 7.0\nother 3\n";
        assert_eq!(parse(text), (Some(12), Some(7)));
        assert_eq!(parse("nothing 1"), (None, None));
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://198.18.0.1:9100/metrics"),
            Some(("198.18.0.1:9100".into(), "/metrics".into()))
        );
        assert_eq!(
            split_url("http://198.18.0.1"),
            Some(("198.18.0.1:80".into(), "/".into()))
        );
        assert_eq!(split_url("https://x"), None);
    }

    #[tokio::test]
    async fn fetches_over_http() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            s.write_all(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsessions 5\nconnections 9\n",
            )
            .await
            .unwrap();
        });
        let body = fetch(&format!("http://{addr}/metrics")).await.unwrap();
        assert_eq!(parse(&body), (Some(5), Some(9)));
    }
}
