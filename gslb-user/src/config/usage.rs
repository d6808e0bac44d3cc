//! Warnings about a config that is valid but likely not what was meant: no
//! zone at all (every query is refused), and `[[vserver]]`, `[[pool]]`
//! and `[[monitor]]` entries that nothing refers to (they are probed or
//! kept, but never answer).

use std::collections::HashSet;

use super::{
    diagnostics::{diagnostic, Diagnostic},
    tables::RawConfig,
};

/// The warnings for `raw` (parsed from `text`, named `origin`), in text
/// order.
pub(super) fn warnings(raw: &RawConfig, text: &str, origin: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut warn = |offset: usize, message: String| {
        out.push(diagnostic(text, origin, offset, message));
    };
    if raw.zone.is_empty() {
        warn(
            0,
            "no [[zone]]: the server is authoritative for nothing and refuses every query".into(),
        );
    }
    let used_pools: HashSet<&String> = raw
        .gslb
        .iter()
        .flat_map(|g| g.pools.iter().flat_map(|l| l.get_ref()))
        .chain(raw.gslb.iter().filter_map(|g| g.last_resort_pool.as_ref()))
        .map(|s| s.get_ref())
        .collect();
    let used_servers: HashSet<&String> = raw
        .pool
        .iter()
        .flat_map(|p| p.members.get_ref())
        .map(|s| s.get_ref())
        .collect();
    let used_monitors: HashSet<&String> = raw
        .vserver
        .iter()
        .flat_map(|s| s.monitors.iter().flat_map(|l| l.get_ref()))
        .map(|s| s.get_ref())
        .collect();
    for p in &raw.pool {
        if !used_pools.contains(p.name.get_ref()) {
            warn(
                p.name.span().start,
                format!(
                    "pool `{}` is not used: no [[gslb]] lists it in `pools` or \
                     `last_resort_pool`",
                    p.name.get_ref()
                ),
            );
        }
    }
    for s in &raw.vserver {
        if !used_servers.contains(s.name.get_ref()) {
            warn(
                s.name.span().start,
                format!(
                    "vserver `{}` is not used: no [[pool]] lists it in `members`",
                    s.name.get_ref()
                ),
            );
        }
    }
    for m in &raw.monitor {
        if !used_monitors.contains(m.name.get_ref()) {
            warn(
                m.name.span().start,
                format!(
                    "monitor `{}` is not used: no [[vserver]] lists it in `monitors`",
                    m.name.get_ref()
                ),
            );
        }
    }
    out.sort_by_key(|d| (d.line, d.column));
    out
}
