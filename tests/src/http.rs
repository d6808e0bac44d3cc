//! The HTTP the test servers speak (backends, the metrics endpoint, the TLS
//! backend): read a request head, write a response that closes the
//! connection.

use std::io::Read;

/// Reads an HTTP request head: up to the blank line, at most 16 KiB, until
/// the peer closes or the socket's read timeout. Empty when the peer sent
/// nothing (a TCP monitor connects and closes).
pub fn read_request_head(conn: &mut impl Read) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    req
}

/// An HTTP/1.1 response with `status` (e.g. `200 OK`), `content_type` and
/// `body`, closing the connection.
pub fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A response read by [`request`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (with the response) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        write!(f, "\n{}", self.body)
    }
}

/// Bound of one [`request`] (connect, write, read).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One HTTP/1.1 request to `addr` from the network namespace `ns`
/// (`Connection: close`, bounded by [`REQUEST_TIMEOUT`]): `method`,
/// `path` (with its query), extra header lines (`"Authorization: Bearer
/// x"`). Panics when no response comes.
pub fn request(
    ns: &str,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> HttpResponse {
    use std::io::Write as _;
    let mut conn = crate::netns::in_netns(ns, move || {
        std::net::TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
    })
    .unwrap_or_else(|e| panic!("connecting to {addr} in {ns}: {e}"));
    conn.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    conn.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if method != "GET" && method != "HEAD" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("{method} {path}: writing: {e}"));
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: reading: {e}"));
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response:\n{}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Parses a whole response (status line, header fields, body, chunked
/// or not).
pub fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[..end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    }
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\ncontent-length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (401, "{}"));
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, "abcde");
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn reads_the_head_and_writes_a_response() {
        let mut conn: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            read_request_head(&mut conn),
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert!(read_request_head(&mut &b""[..]).is_empty());
        assert_eq!(
            response("200 OK", "text/plain", "ok\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
        );
    }
}
