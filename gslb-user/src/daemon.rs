//! The daemon: wires the config, the fast path (XDP program and maps), the
//! slow path (DNS server), health monitors, the engine and the control
//! socket, and runs them until SIGINT/SIGTERM.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use gslb::{
    api::control,
    config,
    dns::server,
    engine,
    fastpath::{clients::ClientTrie, loader, pins},
    state::model::State,
};
use gslb_common::maps::CONFIG_CLIENT_GROUPS;
use tracing::{info, warn};

mod caps;
mod notify;
mod reload;
mod restart;

/// How `gslb run` was asked to run.
pub struct Options {
    /// Config file; `None` for the embedded default config.
    pub config: Option<PathBuf>,
    /// Interfaces to attach to; replace `server.interfaces` when not empty.
    pub ifaces: Vec<String>,
    /// Slow path only: no XDP program.
    pub no_xdp: bool,
    /// Addresses to serve on; replace `server.listen` when not empty.
    pub listen: Vec<SocketAddr>,
    /// Where the links, the program and the shared maps are pinned
    /// (`fastpath/pins.rs`).
    pub pin_dir: PathBuf,
    /// Detach and unpin at exit instead of leaving the fast path running.
    pub detach_on_exit: bool,
    /// The state file (`engine/saved.rs`); `None`: nothing saved.
    pub state_file: Option<PathBuf>,
    /// The control socket.
    pub control: PathBuf,
    /// Keep every capability instead of dropping those not needed once
    /// serving (`daemon/caps.rs`).
    pub keep_caps: bool,
}

/// The config at `path` (else the embedded default); its warnings are
/// logged.
fn load_config(path: Option<&PathBuf>) -> Result<config::Config> {
    let (cfg, warnings) = match path {
        Some(p) => config::load_with_warnings(p)?,
        None => (config::load_default()?, Vec::new()),
    };
    for w in &warnings {
        warn!("{w}");
    }
    Ok(cfg)
}

/// `gslb run`: serves until SIGINT/SIGTERM, then detaches and cleans up.
#[tokio::main]
pub async fn run(args: Options) -> Result<()> {
    // Handled from the start: SIGHUP's default action is to terminate.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut cfg = load_config(args.config.as_ref())?;
    if !args.listen.is_empty() {
        cfg.server.listen = args.listen.clone();
    }
    if !args.ifaces.is_empty() {
        cfg.server.interfaces = args.ifaces.clone();
    }
    // One daemon per control socket and interface: refuse, naming the
    // holder, before touching either.
    let _control_lock = control::lock(&args.control)?;
    // The link a previous daemon left pinned in our pin directory is
    // adopted; any other program is refused.
    let mut adopt = std::collections::HashSet::new();
    if !args.no_xdp {
        for iface in &cfg.server.interfaces {
            match pins::holder(&args.pin_dir, iface) {
                Ok(pins::Holder::Free) => {}
                Ok(pins::Holder::Ours(prog)) => {
                    info!(%iface, %prog, pin_dir = %args.pin_dir.display(), "adopting the pinned XDP link of a previous daemon");
                    adopt.insert(iface.clone());
                }
                Ok(pins::Holder::Other(prog)) => anyhow::bail!(
                    "interface {iface} is taken: {prog} is attached (another gslb daemon, or \
                     another XDP user) and not through a link pinned in {}; detach it first \
                     (`gslb detach --pin-dir DIR` with its pin directory, or `ip link set dev \
                     {iface} xdp off`) or choose other interfaces",
                    args.pin_dir.display()
                ),
                // The attach itself will tell what is wrong.
                Err(e) => warn!(%iface, error = %e, "cannot query the interface's XDP program"),
            }
        }
    }
    let saved = restart::read_saved(args.state_file.as_deref());
    let mut start = engine::saved::StartStatus {
        at_unix: engine::saved::unix_now(),
        ..Default::default()
    };
    gslb::dns::querylog::install(&cfg.log)?;
    let mut state = State::try_from_config(&cfg).context("building the client groups")?;
    // Bind first: a port in use must not leave an XDP program behind.
    let listeners = server::bind(&cfg.server.listen).await?;
    let addrs = listeners.local_addrs();
    let api_listener = match &cfg.api {
        Some(api) => Some(gslb::api::http::bind(api.listen).await?),
        None => None,
    };

    let mut fast_path = None;
    let mut maps = None;
    let mut hits = None;
    let mut client_trie = None;
    // Held while the program runs: a dropped map is closed.
    let mut ecs_trusted = None;
    if !args.no_xdp {
        let started = std::time::Instant::now();
        let saved_ids = saved.as_ref().map(|s| s.ids.as_str());
        let pins::Loaded {
            mut ebpf,
            maps: mut m,
            written,
            kept,
        } = pins::load(&cfg, &state, &args.pin_dir, saved_ids)?;
        start.persistence_kept = kept.contains(&gslb_common::maps::PERSIST);
        if !kept.is_empty() {
            info!(maps = ?kept, "pinned maps taken over from the previous daemon");
        }
        // Every group's answer sets are in; now the prefixes that lead
        // to them, then the program may look them up.
        let mut trie = ClientTrie::new(&mut ebpf)?;
        trie.write(&state.clients)
            .context("filling the client group trie")?;
        m.set_flag(CONFIG_CLIENT_GROUPS, !state.clients.is_empty())?;
        // Persistence records shared with the XDP program.
        state.persist = Arc::new(
            gslb::state::persist::PersistStore::bpf(&mut ebpf)
                .context("taking the persistence maps")?,
        );
        let trusted = gslb::fastpath::ecs::write(&mut ebpf, &mut m, &cfg.server.ecs)
            .context("writing the trusted ECS resolvers")?;
        info!(ecs = ?cfg.server.ecs, trusted = trusted.written, "EDNS Client Subnet settings written");
        ecs_trusted = Some(trusted);
        info!(
            prefixes = trie.len(),
            groups = state.clients.group_count(),
            "client groups written"
        );
        client_trie = Some(trie);
        let elapsed_ms = started.elapsed().as_millis();
        hits = Some(loader::server_hits(&mut ebpf)?);
        // Loaded here, attached once the engine has filled the maps.
        loader::load_program(&mut ebpf, loader::PROGRAM)?;
        info!(entries = written, elapsed_ms, pin_dir = %args.pin_dir.display(), "XDP maps filled");
        maps = Some(m);
        fast_path = Some(ebpf);
    }
    let cfg = Arc::new(cfg);
    let shared = Arc::new(ArcSwap::from_pointee(state));
    let tasks = listeners.spawn(shared.clone());

    // The engine owns the maps from here on: health, metrics and admin
    // changes flow through it.
    let (health_tx, health_rx) = tokio::sync::mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(64);
    // Health events and metrics readings name servers by the engine's ids.
    let mut engine = engine::Engine::new(cfg.clone(), shared, maps, hits);
    if let Some(trie) = client_trie.take() {
        engine.set_client_trie(trie);
    }
    if let Some(ecs) = ecs_trusted.take() {
        engine.set_ecs_trusted(ecs);
    }
    // Saved admin states and health first: the monitors start from them.
    let state_file = restart::restore(&mut engine, args.state_file.clone(), saved, start);
    // The maps hold the engine's decisions (saved state applied) before
    // the program answers from them: a restart swaps the running program
    // for this one under load, and the config's first guess must not
    // answer meanwhile.
    engine.recompute();
    if let Some(ebpf) = fast_path.as_mut() {
        restart::attach(
            ebpf,
            &args.pin_dir,
            &cfg.server.interfaces,
            &adopt,
            engine.start_mut(),
        )?;
    }
    // Monitors and pollers follow the config through reloads.
    let (reloaded_tx, reloaded_rx) = tokio::sync::mpsc::unbounded_channel();
    engine.set_reload(
        engine::reload::ReloadSource {
            path: args.config.clone(),
            listen: args.listen.clone(),
            interfaces: args.ifaces.clone(),
        },
        reloaded_tx,
    );
    let workers = reload::Workers::start(
        &cfg,
        engine.server_ids(),
        &engine.monitor_states(),
        health_tx,
        cmd_tx.clone(),
    )?;
    let workers = reload::follow(workers, reloaded_rx);
    let reload_tx = cmd_tx.clone();
    let engine_task = tokio::spawn(engine::run(engine, health_rx, cmd_rx));
    let pin_dir = (!args.no_xdp).then_some(args.pin_dir.as_path());
    let api_task = api_listener
        .zip(cfg.api.as_ref())
        .map(|(listener, api)| gslb::api::http::start(listener, cmd_tx.clone(), pin_dir, api));
    let control_task = control::serve(&args.control, cmd_tx)?;
    let control_ino = control::inode(&args.control);
    // Bound and attached: from here on the daemon needs almost nothing.
    if !args.keep_caps {
        let kept = caps::drop_to(&caps::kept())
            .context("dropping capabilities (--keep-caps keeps them)")?;
        info!(kept = ?caps::names(kept), "capabilities dropped");
    }
    notify::ready(&format!("answering on {addrs:?}, xdp {}", !args.no_xdp));
    info!(listen = ?addrs, xdp = !args.no_xdp, control = %args.control.display(), "gslb ready");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => reload::hangup(&reload_tx),
        }
    }
    notify::stopping("shutting down");
    info!("shutting down: closing listeners");
    for t in tasks
        .into_iter()
        .chain([workers, engine_task, control_task])
        .chain(api_task)
    {
        t.abort();
    }
    control::remove_own(&args.control, control_ino);
    if let Some(f) = &state_file {
        f.flush();
    }
    drop(client_trie);
    drop(fast_path);
    drop(ecs_trusted);
    if !args.no_xdp {
        restart::leave(&args.pin_dir, args.detach_on_exit);
    }
    Ok(())
}

/// Attaches the pass-through program to `ifaces` until SIGINT/SIGTERM.
pub fn pass(ifaces: &[String]) -> Result<()> {
    let mut ebpf = loader::load_object()?;
    let prog = loader::load_program(&mut ebpf, loader::PASS_PROGRAM)?;
    for iface in ifaces {
        let mode = loader::attach(prog, iface)?;
        info!(%iface, %mode, "pass-through XDP program attached");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop(ebpf);
    Ok(())
}
