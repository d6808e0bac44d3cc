//! Text renderings of the control socket's replies for `gslb status` and
//! `gslb explain`.

use std::fmt::{Display, Write as _};

use super::protocol::{ExplainReport, Health, Method, MonitorStatus, ServerStatus, StatusReport};

/// A value, or `-` when unknown.
fn s<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Milliseconds with one decimal, or `-` when unknown.
fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}ms"))
}

/// The state of a server's `metrics_url` polls, when it has one: the age
/// of the last good reading and the latest poll's error.
fn metrics_line(srv: &ServerStatus) -> Option<String> {
    let age = srv
        .metrics_age_s?
        .map_or_else(|| "no reading yet".into(), |a| format!("{a:.1}s old"));
    let error = match &srv.metrics_error {
        Some(Some(e)) => format!(", last poll failed: {e}"),
        _ => String::new(),
    };
    Some(format!("metrics: {age}{error}"))
}

/// One monitor's latest probe.
fn probe(m: &MonitorStatus) -> String {
    format!(
        "{}: {} {} {}",
        m.monitor,
        Health::from_up(m.up).name(),
        s(m.last_message.as_deref()),
        ms(m.last_latency_ms)
    )
}

/// `gslb status` as text: servers, then pools.
pub fn status_text(v: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<24} {:<8} {:<9} {:<6} {:<14} {:>9} {:>9} {:>10}  last probe",
        "SERVER", "ADDRESS", "DC", "ADMIN", "HEALTH", "AVAILABILITY", "SESSIONS", "CONNS", "HANDED"
    );
    for srv in &v.servers {
        let probes: Vec<String> = srv.monitors.iter().map(probe).collect();
        let _ = writeln!(
            out,
            "{:<16} {:<24} {:<8} {:<9} {:<6} {:<14} {:>9} {:>9} {:>10}  {}",
            srv.name,
            srv.address.to_string(),
            srv.datacenter,
            srv.admin.name(),
            srv.health.name(),
            srv.availability.name(),
            s(srv.sessions),
            s(srv.connections),
            srv.handed_out,
            if probes.is_empty() {
                "(no monitors)".into()
            } else {
                probes.join("; ")
            }
        );
        if let Some(line) = metrics_line(srv) {
            let _ = writeln!(out, "{:<16} {line}", "");
        }
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<12} {:<48} MEMBERS",
        "POOL", "AVAILABLE", "METHODS"
    );
    for p in &v.pools {
        let available = format!("{}/{}", p.available_members, p.members.len());
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<48} {}",
            p.name,
            available,
            methods(&p.methods),
            p.members.join(", ")
        );
    }
    if !v.names.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<32} {:<20} {:<32} ANSWER (A; AAAA)",
            "NAME", "POOL METHOD", "POOLS"
        );
        for n in &v.names {
            let answer = |pool: &Option<String>, decision: &str| match pool {
                None => decision.to_string(),
                Some(p) => format!("{p}: {decision}"),
            };
            let _ = writeln!(
                out,
                "{:<32} {:<20} {:<32} {}; {}",
                n.name,
                n.pool_method.name(),
                n.pools.join(", "),
                answer(&n.a_pool, &n.a),
                answer(&n.aaaa_pool, &n.aaaa)
            );
        }
    }
    if let Some(line) = reload_line(&v.reload) {
        let _ = writeln!(out, "\n{line}");
    }
    out
}

/// `gslb status`'s line on config reloads (none before the first).
fn reload_line(r: &super::protocol::ReloadStatus) -> Option<String> {
    let last = r.last_ok?;
    let mut line = format!(
        "reloads: {} applied, {} refused; the last {}",
        r.ok,
        r.failed,
        if last { "applied" } else { "refused" }
    );
    if let Some(at) = r.last_at_unix {
        let ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(at);
        let _ = write!(line, " {ago}s ago");
    }
    if let (false, Some(e)) = (last, &r.last_error) {
        let first = e.lines().next().unwrap_or_default();
        let _ = write!(line, ": {first}");
    }
    Some(line)
}

/// `gslb reload`'s summary: what changed, by table, and the time taken.
pub fn reload_text(r: &super::protocol::ReloadReport) -> String {
    let mut out = format!("config reloaded from {}\n", r.config);
    for (what, c) in [
        ("servers", &r.servers),
        ("pools", &r.pools),
        ("names", &r.names),
        ("zones", &r.zones),
    ] {
        if c.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        for (label, list) in [
            ("added", &c.added),
            ("removed", &c.removed),
            ("changed", &c.changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label} {}", list.join(", ")));
            }
        }
        let _ = writeln!(out, "  {what}: {}", parts.join("; "));
    }
    if [&r.servers, &r.pools, &r.names, &r.zones]
        .iter()
        .all(|c| c.is_empty())
    {
        out.push_str("  no server, pool, name or zone changed\n");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    let _ = writeln!(
        out,
        "  {} map entries and {} client prefixes written or removed in {} ms{}",
        r.map_changes,
        r.trie_changes,
        r.elapsed_ms,
        geo_read_text(r.geo_read)
    );
    out
}

/// What a reload did with the geo databases, for the reports' text.
pub fn geo_read_text(read: Option<bool>) -> &'static str {
    match read {
        None => "",
        Some(true) => "; geo databases read",
        Some(false) => "; geo databases unchanged, not read again",
    }
}

/// A pool's method chain, without the trailing `none`s.
fn methods(chain: &[Method]) -> String {
    let mut chain = chain;
    while let [rest @ .., Method::None] = chain {
        if rest.is_empty() {
            break;
        }
        chain = rest;
    }
    chain
        .iter()
        .map(Method::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `gslb explain` as text.
pub fn explain_text(v: &ExplainReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (client {})", v.name, s(v.client));
    if let Some(ecs) = &v.ecs {
        let _ = writeln!(out, "ecs:          {ecs}");
    }
    if let Some(p) = &v.placement {
        let _ = writeln!(
            out,
            "client group: {} (prefix {})",
            p.group,
            s(p.prefix.as_deref())
        );
        for (rule, score) in &p.rules {
            let _ = writeln!(out, "  topology:   {rule} (score {score})");
        }
        if let Some(geo) = &p.geo {
            let _ = writeln!(out, "  geo:        {geo}");
        }
        if let Some(r) = &p.ranking {
            let _ = writeln!(out, "  nearest:    {}", r.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "answers depend on the client group: {}",
        if v.client_aware { "yes" } else { "no" }
    );
    for (label, f) in [("A", &v.a), ("AAAA", &v.aaaa)] {
        let e = &f.explanation;
        let _ = writeln!(out, "{label}:");
        for p in &e.pool_scores {
            let _ = writeln!(out, "  pool score: {} {}", p.pool, s(p.score));
        }
        let _ = writeln!(out, "  pool:      {}", s(e.pool.as_deref()));
        let _ = writeln!(out, "  decided by: {} ({})", e.method, e.step);
        for sk in &e.skipped_pools {
            let _ = writeln!(out, "  skipped:   {sk}");
        }
        let _ = writeln!(out, "  decision:  {}", e.decision);
        if !e.candidates.is_empty() {
            let _ = writeln!(out, "  candidates:");
            for c in &e.candidates {
                let mut line = format!(
                    "    {:<16} {:<24} {:<14} sessions={} connections={} latency={} hits={} ratio={}",
                    c.server,
                    c.address.to_string(),
                    c.availability.name(),
                    s(c.sessions),
                    s(c.connections),
                    ms(c.latency_ms),
                    c.hits,
                    c.ratio
                );
                if let Some(score) = c.score {
                    let _ = write!(line, " score={score}");
                }
                if let Some(rank) = c.proximity {
                    let _ = write!(line, " nearest#={}", rank + 1);
                }
                let _ = writeln!(out, "{line}");
            }
        }
        let answer: Vec<String> = f.answer.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  answer now: {}",
            if answer.is_empty() {
                "(none)".into()
            } else {
                answer.join(", ")
            }
        );
        let _ = writeln!(out, "  ecs scope: {}", f.scope);
        if let Some(p) = &f.persistence {
            let _ = writeln!(out, "  persistence: {p}");
        }
    }
    out
}

/// Whole seconds as humantime writes them (`9m 48s`).
fn secs(v: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(v.max(0.0) as u64)).to_string()
}

/// `gslb persist list|clear`: one line per record.
pub fn persist_text(r: &super::protocol::PersistReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<5} {:<24} {:<16} {:>10} {:>12}",
        "NAME", "TYPE", "CLIENT", "SERVER", "AGE", "EXPIRES IN"
    );
    for e in &r.records {
        let _ = writeln!(
            out,
            "{:<28} {:<5} {:<24} {:<16} {:>10} {:>12}",
            if e.names.is_empty() {
                "-".to_string()
            } else {
                e.names.join(",")
            },
            e.rtype,
            e.client,
            e.server,
            secs(e.age_s),
            e.expires_in_s.map_or_else(|| "void".to_string(), secs),
        );
    }
    let _ = writeln!(
        out,
        "{} record{}{}",
        r.records.len(),
        if r.records.len() == 1 { "" } else { "s" },
        if r.cleared { " cleared" } else { "" }
    );
    out
}
