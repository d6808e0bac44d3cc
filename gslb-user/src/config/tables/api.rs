//! `[api]`: the HTTP listener of the JSON API, `/metrics` and the status
//! page. Absent: no listener.
//!
//! ```toml
//! [api]
//! listen = "127.0.0.1:8053"           # IP:PORT (default 127.0.0.1:8053)
//! token = "…"                         # bearer token of the admin verbs, or:
//! token_file = "/etc/gslb/api.token"  # a file holding it (read at start and reload)
//! read_only_without_token = false     # reads without the token (default false)
//! ```

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
};

use serde::Deserialize;
use toml::Spanned;

use crate::config::{checks::Validator, raw::Str};

/// Default `api.listen`: loopback only.
pub const DEFAULT_API_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_API_PORT);

/// Port of [`DEFAULT_API_LISTEN`].
pub const DEFAULT_API_PORT: u16 = 8053;

/// Longest token accepted (a token file that is much longer is likely
/// the wrong file).
pub const MAX_TOKEN_LEN: usize = 4096;

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where the HTTP listener binds.
    pub listen: SocketAddr,
    /// The bearer token the admin verbs (and, unless
    /// `read_only_without_token`, the reads) need; `None`: none is
    /// configured, admin verbs are refused.
    pub token: Option<ApiToken>,
    /// Reads (status, explain, model, metrics, ...) are allowed without
    /// the token.
    pub read_only_without_token: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: DEFAULT_API_LISTEN,
            token: None,
            read_only_without_token: false,
        }
    }
}

/// A bearer token: never printed (its `Debug` is redacted), compared in
/// time independent of where the first difference is.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token of `text` (already checked).
    pub fn new(text: impl Into<String>) -> ApiToken {
        ApiToken(text.into())
    }

    /// Whether `given` is this token. Every byte is compared, so the time
    /// taken does not tell how much of a guess was right.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        diff == 0 && a.len() == b.len()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// `[api]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawApi {
    pub(in crate::config) listen: Option<Str>,
    pub(in crate::config) token: Option<Str>,
    pub(in crate::config) token_file: Option<Str>,
    pub(in crate::config) read_only_without_token: Option<Spanned<bool>>,
}

/// Why `text` cannot be a bearer token (RFC 6750 §2.1: visible ASCII, no
/// spaces), if it cannot.
fn token_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("is empty".into());
    }
    if text.len() > MAX_TOKEN_LEN {
        return Some(format!("is longer than {MAX_TOKEN_LEN} bytes"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("holds a character other than visible ASCII (no spaces)".into());
    }
    None
}

impl Validator<'_> {
    /// `[api]`; `None` when the table is absent.
    pub(super) fn api(&mut self, raw: Option<&RawApi>) -> Option<ApiConfig> {
        let raw = raw?;
        let mut api = ApiConfig::default();
        if let Some(v) = &raw.listen {
            match v.get_ref().trim().parse::<SocketAddr>() {
                Ok(addr) => api.listen = addr,
                Err(_) => self.error(
                    &v.span(),
                    format!(
                        "invalid api.listen `{}`: expected IP:PORT, IPv6 in brackets \
                         (e.g. \"127.0.0.1:8053\", \"[::1]:8053\")",
                        v.get_ref()
                    ),
                ),
            }
        }
        match (&raw.token, &raw.token_file) {
            (Some(_), Some(file)) => self.error(
                &file.span(),
                "api.token and api.token_file are both set: give one",
            ),
            (Some(t), None) => match token_problem(t.get_ref()) {
                Some(p) => self.error(&t.span(), format!("api.token {p}")),
                None => api.token = Some(ApiToken::new(t.get_ref().clone())),
            },
            (None, Some(file)) => api.token = self.token_file(file),
            (None, None) => {}
        }
        if let Some(v) = &raw.read_only_without_token {
            api.read_only_without_token = *v.get_ref();
        }
        Some(api)
    }

    /// The token in the file `file` names (relative to the config's
    /// directory), without the line end; an error at `file` when it
    /// cannot be read or is not a token.
    fn token_file(&mut self, file: &Str) -> Option<ApiToken> {
        let path = self.relative_to_config(file.get_ref());
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.error(
                    &file.span(),
                    format!("cannot read api.token_file {}: {e}", path.display()),
                );
                return None;
            }
        };
        let token = text.trim_end_matches(['\n', '\r']);
        match token_problem(token) {
            Some(p) => {
                self.error(
                    &file.span(),
                    format!("the token in api.token_file {} {p}", path.display()),
                );
                None
            }
            None => Some(ApiToken::new(token)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_itself() {
        let t = ApiToken::new("s3cret-token");
        assert!(t.matches("s3cret-token"));
        for other in ["", "s3cret-toke", "s3cret-token!", "S3cret-token", "x"] {
            assert!(!t.matches(other), "{other}");
        }
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
    }

    #[test]
    fn token_syntax() {
        assert_eq!(token_problem("abc.DEF-123_~+/="), None);
        for bad in ["", "a b", "tab\there", "é", &"x".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(token_problem(bad).is_some(), "{bad:?}");
        }
    }
}
