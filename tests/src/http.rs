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

#[cfg(test)]
mod tests {
    use super::*;

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
