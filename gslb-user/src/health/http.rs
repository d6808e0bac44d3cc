//! HTTP / HTTPS monitor (seed 000 claim 32: application health): sends
//! `method path` to the check address, expects one of `expect_status` and,
//! if given, `expect_body` somewhere in the first [`MAX_BODY`] bytes of the
//! body.
//!
//! Every probe opens a new connection (no keep-alive, no proxy, redirects
//! are not followed: a 301 is reported as such). HTTPS does not verify the
//! certificate, since backends are probed by address. When the monitor has
//! a `host` that is a DNS name, it is used in the URL with the name resolved
//! to the check address, so it is both the Host header and the TLS server
//! name (SNI); any other `host` is sent as the Host header only.

use std::{
    error::Error as _,
    net::{IpAddr, SocketAddr},
};

use reqwest::{header::HOST, redirect::Policy, Client, Method, Url};

use super::{io_message, Outcome};
use crate::config::{MonitorConfig, MonitorKind};

/// At most this much of the body is read and searched.
pub const MAX_BODY: usize = 64 * 1024;

/// A prepared HTTP(S) check of one target.
#[derive(Debug)]
pub struct Http {
    client: Client,
    method: Method,
    url: Url,
    host: Option<String>,
    expect_status: Vec<u16>,
    expect_body: Option<Vec<u8>>,
}

impl Http {
    /// Prepares the check of `monitor` (which must be an HTTP monitor)
    /// against `address`.
    pub fn new(address: IpAddr, monitor: &MonitorConfig) -> Result<Self, String> {
        let MonitorKind::Http {
            tls,
            port,
            method,
            path,
            host,
            expect_status,
            expect_body,
        } = &monitor.kind
        else {
            return Err("not an HTTP monitor".to_string());
        };
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("invalid HTTP method {method:?}"))?;
        let scheme = if *tls { "https" } else { "http" };
        let target = SocketAddr::new(address, *port);

        let mut builder = Client::builder()
            .no_proxy()
            .redirect(Policy::none())
            .pool_max_idle_per_host(0)
            .danger_accept_invalid_certs(true)
            .user_agent(concat!("gslb-health/", env!("CARGO_PKG_VERSION")));

        // A DNS name as host: put it in the URL (Host header and SNI),
        // resolved to the check address. The override is keyed by the name
        // as the URL normalized it (lowercase, punycode), so the resolver
        // is never asked.
        let named = host
            .as_deref()
            .filter(|h| h.parse::<IpAddr>().is_err() && !h.contains([':', '/', '@', '[']))
            .and_then(|h| {
                let url = Url::parse(&format!("{scheme}://{h}:{port}{path}")).ok()?;
                let name = url.domain()?.to_string();
                Some((name, url))
            });
        let url = match named {
            Some((name, url)) => {
                builder = builder.resolve(&name, target);
                url
            }
            None => Url::parse(&format!("{scheme}://{target}{path}"))
                .map_err(|e| format!("invalid URL for path {path:?}: {e}"))?,
        };
        let client = builder
            .build()
            .map_err(|e| format!("HTTP client: {}", error_message(&e)))?;
        Ok(Http {
            client,
            method,
            url,
            host: host.clone(),
            expect_status: expect_status.clone(),
            expect_body: expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        })
    }

    /// One request; the caller bounds it with the monitor's timeout.
    pub async fn check(&self) -> Outcome {
        let mut request = self.client.request(self.method.clone(), self.url.clone());
        if let Some(host) = &self.host {
            request = request.header(HOST, host);
        }
        let mut response = request.send().await.map_err(|e| error_message(&e))?;
        let status = response.status().as_u16();
        if !self.expect_status.is_empty() && !self.expect_status.contains(&status) {
            let expected: Vec<String> = self.expect_status.iter().map(u16::to_string).collect();
            return Err(format!("HTTP {status} (expected {})", expected.join("|")));
        }
        let Some(needle) = &self.expect_body else {
            return Ok(format!("HTTP {status}"));
        };
        let mut body = Vec::new();
        loop {
            if contains(&body, needle) {
                return Ok(format!("HTTP {status}"));
            }
            if body.len() >= MAX_BODY {
                break;
            }
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let take = chunk.len().min(MAX_BODY - body.len());
                    body.extend_from_slice(&chunk[..take]);
                }
                Ok(None) => break,
                Err(e) => return Err(format!("HTTP {status}, body: {}", error_message(&e))),
            }
        }
        Err(format!(
            "HTTP {status}, body lacks {:?}",
            String::from_utf8_lossy(needle)
        ))
    }
}

/// `haystack` contains `needle` (an empty needle is always found).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The most telling part of a reqwest error: the I/O error underneath
/// ("connect refused"), else the innermost message. (The probe's timeout is
/// applied by the caller, so the client has none of its own.)
fn error_message(e: &reqwest::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            // TLS errors come wrapped in an io::Error, whose text is theirs.
            return io_message(io);
        }
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn substring() {
        assert!(contains(b"status: OK\n", b"OK"));
        assert!(contains(b"abc", b""));
        assert!(!contains(b"O", b"OK"));
        assert!(!contains(b"status: ok", b"OK"));
    }
}
