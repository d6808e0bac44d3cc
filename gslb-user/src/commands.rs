//! The commands that do not run the daemon: `check`, `stats`, and the
//! control socket's clients (`status`, `explain`, `server`, and the
//! benchmark's `update-bench`).

use std::path::Path;

use anyhow::{Context as _, Result};
use gslb::{
    api::{
        control,
        protocol::{AdminAction, AdminState, ExplainReport, PersistReport, Request, StatusReport},
        report,
    },
    config,
    fastpath::stats,
    state::model::State,
};

/// `gslb check`: validates the config at `path`, printing its warnings.
pub fn check(path: &Path) -> Result<()> {
    let (cfg, warnings) = config::load_with_warnings(path)?;
    State::try_from_config(&cfg).with_context(|| format!("{}: client groups", path.display()))?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!("{}: ok", path.display());
    Ok(())
}

/// `gslb detach`: detaches the pinned links in `pin_dir` and removes
/// every pin there.
pub fn detach(pin_dir: &Path) -> Result<()> {
    let d = gslb::fastpath::pins::detach(pin_dir)
        .with_context(|| format!("detaching {}", pin_dir.display()))?;
    if d.pins == 0 {
        println!("nothing pinned in {}", pin_dir.display());
    } else {
        let links = if d.links.is_empty() {
            "no interface".to_string()
        } else {
            d.links.join(", ")
        };
        println!(
            "detached from {links}; removed {} pins and {}",
            d.pins,
            pin_dir.display()
        );
    }
    Ok(())
}

/// `gslb stats`: the pinned counters, as text or JSON.
pub fn stats(pin_dir: &Path, json: bool) -> Result<()> {
    let counters = stats::read_pinned(pin_dir)?;
    if json {
        println!("{}", stats::to_json(&counters));
    } else {
        print!("{}", stats::to_text(&counters));
    }
    Ok(())
}

/// `gslb status`.
pub fn status(path: &Path, json: bool) -> Result<()> {
    let v: StatusReport = control_request(path, &Request::Status)?;
    print_report(&v, json, report::status_text)?;
    Ok(())
}

/// `gslb clients reload`.
pub fn clients_reload(path: &Path, json: bool) -> Result<()> {
    let v: gslb::api::protocol::ClientsReport = control_request(path, &Request::ClientsReload)?;
    print_report(&v, json, |r| {
        format!(
            "client data reloaded: {} prefixes, {} groups ({} new, {} gone), {} trie changes, \
             {} ms{}\n",
            r.prefixes,
            r.groups,
            r.new_groups,
            r.stale_groups,
            r.trie_changes,
            r.elapsed_ms,
            gslb::api::report::geo_read_text(r.geo_read)
        )
    })
}

/// `gslb reload`: the summary of what changed, or the refusal (as JSON
/// `{"error": ...}` too with `json`) and exit status 1.
pub fn reload(path: &Path, json: bool) -> Result<()> {
    let v: gslb::api::protocol::ReloadReport = match control_request(path, &Request::Reload) {
        Ok(v) => v,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            return Err(e);
        }
    };
    print_report(&v, json, report::reload_text)
}

/// `gslb explain`.
pub fn explain(
    path: &Path,
    name: String,
    client: Option<std::net::IpAddr>,
    ecs: Option<ipnet::IpNet>,
    json: bool,
) -> Result<()> {
    let ecs = ecs.map(|n| n.to_string());
    let v: ExplainReport = control_request(path, &Request::Explain { name, client, ecs })?;
    print_report(&v, json, report::explain_text)?;
    Ok(())
}

/// `gslb persist list|clear`.
pub fn persist(
    path: &Path,
    name: Option<String>,
    client: Option<String>,
    clear: bool,
    json: bool,
) -> Result<()> {
    let req = Request::Persist {
        name,
        client,
        clear,
    };
    let v: PersistReport = control_request(path, &req)?;
    print_report(&v, json, report::persist_text)?;
    Ok(())
}

/// `gslb server enable|disable|drain`.
pub fn admin(path: &Path, action: AdminAction, name: String) -> Result<()> {
    let state = action.state();
    control_request::<()>(
        path,
        &Request::Admin {
            server: name.clone(),
            state,
        },
    )?;
    println!("{name}: {state}");
    Ok(())
}

/// One request on the control socket at `path`; its reply.
fn control_request<T: serde::de::DeserializeOwned>(path: &Path, req: &Request) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(control::request(path, req))?)
}

/// `gslb update-bench`: toggles `server` `count` times at `rate`.
pub fn update_bench(path: &Path, server: &str, count: u32, rate: u32) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Pipelined: requests go out on schedule while the responses are
        // read as they come, so the rate measures the daemon, not the
        // round trip.
        let (mut tx, mut rx) = control::Client::connect(path).await?.split();
        let total = count + 1;
        let reader = tokio::spawn(async move {
            for _ in 0..total {
                rx.receive::<()>().await?;
            }
            anyhow::Ok(())
        });
        let start = std::time::Instant::now();
        for i in 0..count {
            if rate > 0 {
                let due = std::time::Duration::from_secs_f64(f64::from(i) / f64::from(rate));
                tokio::time::sleep_until(tokio::time::Instant::from_std(start + due)).await;
            }
            let state = if i % 2 == 0 {
                AdminState::Disabled
            } else {
                AdminState::Enabled
            };
            tx.send(&Request::Admin { server: server.to_string(), state })
                .await?;
        }
        // Leave the server enabled.
        tx.send(&Request::Admin { server: server.to_string(), state: AdminState::Enabled })
            .await?;
        reader.await??;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"updates": count, "seconds": secs, "updates_per_second": f64::from(count) / secs})
        );
        anyhow::Ok(())
    })
}

/// A reply as JSON (the reply type's serde form, as the daemon sent it)
/// or as text.
fn print_report<T: serde::Serialize>(v: &T, json: bool, text: fn(&T) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(v)?);
    } else {
        print!("{}", text(v));
    }
    Ok(())
}
