//! Text renderings of the control socket's JSON answers for `gslb status`
//! and `gslb explain`.

use std::fmt::Write as _;

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{x:.1}ms"))
}

/// The state of a server's `metrics_url` polls, when it has one: the age
/// of the last good reading and the latest poll's error.
fn metrics_line(srv: &Value) -> Option<String> {
    let obj = srv.as_object()?;
    let age = obj.get("metrics_age_s")?;
    let age = age
        .as_f64()
        .map_or_else(|| "no reading yet".into(), |a| format!("{a:.1}s old"));
    let error = match obj.get("metrics_error") {
        Some(Value::String(e)) => format!(", last poll failed: {e}"),
        _ => String::new(),
    };
    Some(format!("metrics: {age}{error}"))
}

/// `gslb status` as text: servers, then pools.
pub fn status_text(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<24} {:<8} {:<9} {:<6} {:<14} {:>9} {:>9} {:>10}  last probe",
        "SERVER", "ADDRESS", "DC", "ADMIN", "HEALTH", "AVAILABILITY", "SESSIONS", "CONNS", "HANDED"
    );
    for srv in v["servers"].as_array().into_iter().flatten() {
        let probes: Vec<String> = srv["monitors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                format!(
                    "{}: {} {} {}",
                    s(&m["monitor"]),
                    if m["up"].as_bool() == Some(true) {
                        "up"
                    } else {
                        "down"
                    },
                    s(&m["last_message"]),
                    ms(&m["last_latency_ms"])
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<16} {:<24} {:<8} {:<9} {:<6} {:<14} {:>9} {:>9} {:>10}  {}",
            s(&srv["name"]),
            s(&srv["address"]),
            s(&srv["datacenter"]),
            s(&srv["admin"]),
            s(&srv["health"]),
            s(&srv["availability"]),
            s(&srv["sessions"]),
            s(&srv["connections"]),
            s(&srv["handed_out"]),
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
    for p in v["pools"].as_array().into_iter().flatten() {
        let members = p["members"].as_array().map_or(0, Vec::len);
        let available = format!("{}/{members}", s(&p["available_members"]));
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<48} {}",
            s(&p["name"]),
            available,
            methods(&p["methods"]),
            list(&p["members"])
        );
    }
    let names = v["names"].as_array().cloned().unwrap_or_default();
    if !names.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<32} {:<20} {:<32} ANSWER (A; AAAA)",
            "NAME", "POOL METHOD", "POOLS"
        );
        for n in &names {
            let answer = |pool: &str, decision: &str| match &n[pool] {
                Value::Null => s(&n[decision]),
                p => format!("{}: {}", s(p), s(&n[decision])),
            };
            let _ = writeln!(
                out,
                "{:<32} {:<20} {:<32} {}; {}",
                s(&n["name"]),
                s(&n["pool_method"]),
                list(&n["pools"]),
                answer("a_pool", "a"),
                answer("aaaa_pool", "aaaa")
            );
        }
    }
    out
}

/// A pool's method chain, without the trailing `none`s.
fn methods(v: &Value) -> String {
    let mut chain: Vec<String> = v.as_array().into_iter().flatten().map(s).collect();
    while chain.len() > 1 && chain.last().is_some_and(|m| m == "none") {
        chain.pop();
    }
    chain.join(", ")
}

/// A JSON array of strings as `a, b, c`.
fn list(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `gslb explain` as text.
pub fn explain_text(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (client {})", s(&v["name"]), s(&v["client"]));
    for (label, key) in [("A", "a"), ("AAAA", "aaaa")] {
        let f = &v[key];
        let e = &f["explanation"];
        let _ = writeln!(out, "{label}:");
        let _ = writeln!(out, "  pool:      {}", s(&e["pool"]));
        let _ = writeln!(out, "  decided by: {} ({})", s(&e["method"]), s(&e["step"]));
        for sk in e["skipped_pools"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  skipped:   {}", s(sk));
        }
        let _ = writeln!(out, "  decision:  {}", s(&e["decision"]));
        let cands = e["candidates"].as_array().cloned().unwrap_or_default();
        if !cands.is_empty() {
            let _ = writeln!(out, "  candidates:");
            for c in &cands {
                let _ = writeln!(
                    out,
                    "    {:<16} {:<24} {:<14} sessions={} connections={} latency={} hits={} ratio={}",
                    s(&c["server"]),
                    s(&c["address"]),
                    s(&c["availability"]),
                    s(&c["sessions"]),
                    s(&c["connections"]),
                    ms(&c["latency_ms"]),
                    s(&c["hits"]),
                    s(&c["ratio"])
                );
            }
        }
        let answer: Vec<String> = f["answer"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        let _ = writeln!(
            out,
            "  answer now: {}",
            if answer.is_empty() {
                "(none)".into()
            } else {
                answer.join(", ")
            }
        );
    }
    out
}
