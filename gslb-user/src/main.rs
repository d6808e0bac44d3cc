//! `gslb`: the daemon and its command-line tools.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use gslb::{
    dns::server,
    api::{control, protocol, report},
    config, engine,
    fastpath::{attached, loader, maps::Maps, stats},
    health,
    state::model::State,
};
use tracing::{info, warn};

/// GSLB authoritative DNS server with an XDP fast path.
#[derive(Parser)]
#[command(name = "gslb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load and attach the XDP program, fill its maps, serve the slow path
    /// on UDP and TCP until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Validate a config file; errors and warnings name file:line:column.
    Check {
        /// Config file (TOML).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        file: Option<PathBuf>,
        /// Config file (TOML), as `run --config` takes it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the XDP program's counters, summed over CPUs.
    Stats {
        /// One flat JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Directory of the pinned maps (`run --pin-dir`).
        #[arg(long, default_value = loader::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
    /// Every pool and server: health, last probe, metrics, admin state,
    /// how often it was handed out.
    Status {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Why a client gets the answer it gets for a gslb name: pool, method,
    /// candidates and their state, the answer.
    Explain {
        /// The gslb name.
        name: String,
        /// The client's resolver (LDNS) address.
        #[arg(long)]
        client: Option<std::net::IpAddr>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Change a server's admin state at run time.
    Server {
        /// enable | disable | drain.
        #[arg(value_parser = ["enable", "disable", "drain"])]
        action: String,
        /// Server name.
        name: String,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Benchmark helper: toggles a server's admin state `count` times over
    /// one control connection (each toggle is an answer update pushed to
    /// the maps) and prints the rate as JSON.
    #[command(hide = true)]
    UpdateBench {
        /// Server to toggle.
        server: String,
        /// Number of updates.
        #[arg(long, default_value_t = 10_000)]
        count: u32,
        /// Target rate (updates/s); 0 = as fast as possible.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Attach the pass-through XDP program to interfaces until killed: the
    /// far end of a veth pair needs one to receive XDP_TX frames.
    XdpPass {
        /// Interfaces.
        #[arg(long = "iface", required = true)]
        ifaces: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Config file (TOML); without it, the embedded default config.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Interface to attach to (repeatable); replaces `server.interfaces`.
    #[arg(long = "iface")]
    ifaces: Vec<String>,
    /// Slow path only: no XDP program (answers are the same).
    #[arg(long)]
    no_xdp: bool,
    /// Address to serve UDP and TCP on (repeatable); replaces `server.listen`.
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Directory (on a bpffs mount) where maps are pinned for `gslb stats`.
    #[arg(long, default_value = loader::DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    /// Control socket for `gslb status`, `explain` and `server`.
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    control: PathBuf,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Check { file, config } => {
            let path = file.or(config).expect("clap requires a file");
            let (cfg, warnings) = config::load_with_warnings(&path)?;
            State::from_config(&cfg);
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!("{}: ok", path.display());
            Ok(())
        }
        Command::Stats { json, pin_dir } => {
            let counters = stats::read_pinned(&pin_dir)?;
            if json {
                println!("{}", stats::to_json(&counters));
            } else {
                print!("{}", stats::to_text(&counters));
            }
            Ok(())
        }
        Command::Status {
            json,
            control: path,
        } => {
            let v = control_request(&path, &protocol::Request::Status)?;
            print_report(&v, json, report::status_text);
            Ok(())
        }
        Command::Explain {
            name,
            client,
            json,
            control: path,
        } => {
            let v = control_request(&path, &protocol::Request::Explain { name, client })?;
            print_report(&v, json, report::explain_text);
            Ok(())
        }
        Command::Server {
            action,
            name,
            control: path,
        } => {
            let state = match action.as_str() {
                "enable" => "enabled",
                "disable" => "disabled",
                _ => "draining",
            };
            control_request(
                &path,
                &protocol::Request::Admin {
                    server: name.clone(),
                    state: state.into(),
                },
            )?;
            println!("{name}: {state}");
            Ok(())
        }
        Command::UpdateBench {
            server,
            count,
            rate,
            control: path,
        } => update_bench(&path, &server, count, rate),
        Command::XdpPass { ifaces } => xdp_pass(&ifaces),
    }
}

fn control_request(path: &std::path::Path, req: &protocol::Request) -> Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(control::request(path, req))
}

fn update_bench(path: &std::path::Path, server: &str, count: u32, rate: u32) -> Result<()> {
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
                rx.receive().await?;
            }
            anyhow::Ok(())
        });
        let start = std::time::Instant::now();
        for i in 0..count {
            if rate > 0 {
                let due = std::time::Duration::from_secs_f64(f64::from(i) / f64::from(rate));
                tokio::time::sleep_until(tokio::time::Instant::from_std(start + due)).await;
            }
            let state = if i % 2 == 0 { "disabled" } else { "enabled" };
            tx.send(&protocol::Request::Admin { server: server.to_string(), state: state.into() })
                .await?;
        }
        // Leave the server enabled.
        tx.send(&protocol::Request::Admin { server: server.to_string(), state: "enabled".into() })
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

fn print_report(v: &serde_json::Value, json: bool, text: fn(&serde_json::Value) -> String) {
    if json {
        println!("{v}");
    } else {
        print!("{}", text(v));
    }
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

#[tokio::main]
async fn run(args: RunArgs) -> Result<()> {
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
    if !args.no_xdp {
        for iface in &cfg.server.interfaces {
            match attached::attached_xdp(iface) {
                Ok(None) => {}
                Ok(Some(prog)) => anyhow::bail!(
                    "interface {iface} is taken: {prog} is attached (another gslb daemon, or \
                     another XDP user); detach it first (`ip link set dev {iface} xdp off`) or \
                     choose other interfaces"
                ),
                // The attach itself will tell what is wrong.
                Err(e) => warn!(%iface, error = %e, "cannot query the interface's XDP program"),
            }
        }
    }
    let state = State::from_config(&cfg);
    // Bind first: a port in use must not leave an XDP program behind.
    let listeners = server::bind(&cfg.server.listen).await?;
    let addrs = listeners.local_addrs();

    let mut fast_path = None;
    let mut maps = None;
    let mut hits = None;
    if !args.no_xdp {
        let mut ebpf = loader::load_object_for(&state)?;
        let mut m = Maps::new(&mut ebpf)?;
        let started = std::time::Instant::now();
        let written = m.sync(&state).context("filling the XDP maps")?;
        let elapsed_ms = started.elapsed().as_millis();
        let pins = loader::pin_counters(&ebpf, &args.pin_dir)?;
        hits = Some(loader::server_hits(&mut ebpf)?);
        let prog = loader::load_program(&mut ebpf, loader::PROGRAM)?;
        for iface in &cfg.server.interfaces {
            let mode = loader::attach(prog, iface)?;
            info!(%iface, %mode, "XDP program attached");
        }
        info!(entries = written, elapsed_ms, pin_dir = %args.pin_dir.display(), "XDP maps filled");
        maps = Some(m);
        fast_path = Some((ebpf, pins));
    }
    let cfg = Arc::new(cfg);
    let shared = Arc::new(ArcSwap::from_pointee(state));
    let tasks = listeners.spawn(shared.clone());

    // The engine owns the maps from here on: health, metrics and admin
    // changes flow through it.
    let (health_tx, health_rx) = tokio::sync::mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(64);
    let targets = health::targets(&cfg.servers, &cfg.monitors);
    let initial: Vec<bool> = cfg.servers.iter().map(|s| s.initial_up).collect();
    let monitors = health::spawn(
        targets,
        move |i| initial.get(i).copied().unwrap_or(true),
        health_tx,
    );
    let pollers = engine::metrics::spawn_all(&cfg, &cmd_tx).map_err(anyhow::Error::msg)?;
    let engine = engine::Engine::new(cfg.clone(), shared, maps, hits);
    let engine_task = tokio::spawn(engine::run(engine, health_rx, cmd_rx));
    let control_task = control::serve(&args.control, cmd_tx)?;
    let control_ino = control::inode(&args.control);
    info!(listen = ?addrs, xdp = !args.no_xdp, control = %args.control.display(), "gslb ready");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            // Its default action would kill the daemon; there is no reload.
            _ = hup.recv() => warn!("SIGHUP ignored: the config is not reloaded (restart to apply a new one)"),
        }
    }
    if args.no_xdp {
        info!("shutting down: closing listeners");
    } else {
        info!("shutting down: detaching XDP, closing listeners");
    }
    for t in tasks
        .into_iter()
        .chain(pollers)
        .chain([engine_task, control_task])
    {
        t.abort();
    }
    drop(monitors);
    control::remove_own(&args.control, control_ino);
    drop(fast_path);
    Ok(())
}

fn xdp_pass(ifaces: &[String]) -> Result<()> {
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
