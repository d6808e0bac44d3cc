//! `[[region]]`: a named list of client prefixes, for topology rules'
//! `client = "region:NAME"`. The prefixes are inline, in a file (one
//! prefix per line, `#` starts a comment; a relative path is relative to
//! the config file's directory), or both. The file is read at validation
//! and again whenever the client data is built (daemon start, config
//! reload, `gslb clients reload`).
//!
//! ```toml
//! [[region]]
//! name = "office"
//! prefixes = ["198.18.0.0/24", "2001:db8:1::/48"]
//! file = "office.txt"            # optional
//! ```

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use crate::config::{
    checks::{Declared, Validator},
    raw::{Str, StrList},
};

/// One `[[region]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    /// Unique name.
    pub name: String,
    /// The inline prefixes (host bits zero).
    pub prefixes: Vec<IpNet>,
    /// The prefix file, resolved against the config file's directory.
    pub file: Option<PathBuf>,
}

impl RegionConfig {
    /// Every prefix of the region: the inline ones, then the file's (read
    /// now). Err: `FILE:LINE: what is wrong` or why the file is unreadable.
    pub fn all_prefixes(&self) -> Result<Vec<IpNet>, String> {
        let mut out = self.prefixes.clone();
        if let Some(path) = &self.file {
            out.extend(read_prefix_file(path)?);
        }
        Ok(out)
    }
}

/// Reads a prefix file: one `ADDRESS/LENGTH` (or a bare address, a host
/// prefix) per line, `#` starts a comment, blank lines are skipped. Err:
/// `FILE:LINE: what is wrong`, or why the file cannot be read.
pub fn read_prefix_file(path: &Path) -> Result<Vec<IpNet>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let net = parse_prefix(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(net);
    }
    Ok(out)
}

/// `ADDRESS/LENGTH` with no bits set past LENGTH, or a bare address.
pub fn parse_prefix(text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(format!("invalid prefix `{text}`: expected ADDRESS/LENGTH")),
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has bits set past /{} (write {})",
            net.prefix_len(),
            net.trunc()
        ));
    }
    Ok(net)
}

/// One `[[region]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawRegion {
    pub(in crate::config) name: Str,
    pub(in crate::config) prefixes: Option<StrList>,
    pub(in crate::config) file: Option<Str>,
}

impl Validator<'_> {
    pub(super) fn regions(&mut self, raw: &[RawRegion]) -> Declared<RegionConfig> {
        let mut decl = Declared::new();
        for r in raw {
            let name = self.declare(&mut decl, &r.name, "region");
            let mut prefixes = Vec::new();
            for p in r.prefixes.as_ref().map_or(&[][..], |l| l.get_ref()) {
                match parse_prefix(p.get_ref().trim()) {
                    Ok(net) => prefixes.push(net),
                    Err(e) => self.error(&p.span(), e),
                }
            }
            let file = r.file.as_ref().and_then(|f| {
                let path = self.relative_to_config(f.get_ref());
                match read_prefix_file(&path) {
                    Ok(_) => Some(path),
                    Err(e) => {
                        self.error(&f.span(), e);
                        None
                    }
                }
            });
            if r.prefixes.is_none() && r.file.is_none() {
                self.error(
                    &r.name.span(),
                    "a [[region]] needs `prefixes`, `file` or both",
                );
            }
            if let Some(name) = name {
                decl.items.push(RegionConfig {
                    name,
                    prefixes,
                    file,
                });
            }
        }
        decl
    }
}
