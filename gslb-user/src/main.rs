//! `gslb`: the daemon and its command-line tools.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use gslb::{config, maps::Maps, model::State, server, stats, xdp};
use tracing::info;

/// GSLB authoritative DNS server with an XDP fast path.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load and attach the XDP program, fill its maps, serve the slow path
    /// on UDP and TCP until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Validate a config file; errors name file:line:column.
    Check {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the XDP program's counters, summed over CPUs.
    Stats {
        /// One flat JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Directory of the pinned maps (`run --pin-dir`).
        #[arg(long, default_value = xdp::DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
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
    #[arg(long, default_value = xdp::DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
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
        Command::Check { config } => {
            let cfg = config::load(&config)?;
            State::from_config(&cfg);
            println!("{}: ok", config.display());
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
        Command::XdpPass { ifaces } => xdp_pass(&ifaces),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<config::Config> {
    Ok(match path {
        Some(p) => config::load(p)?,
        None => config::load_default()?,
    })
}

#[tokio::main]
async fn run(args: RunArgs) -> Result<()> {
    let mut cfg = load_config(args.config.as_ref())?;
    if !args.listen.is_empty() {
        cfg.server.listen = args.listen.clone();
    }
    if !args.ifaces.is_empty() {
        cfg.server.interfaces = args.ifaces.clone();
    }
    let state = State::from_config(&cfg);
    // Bind first: a port in use must not leave an XDP program behind.
    let listeners = server::bind(&cfg.server.listen).await?;
    let addrs = listeners.local_addrs();

    let mut fast_path = None;
    if !args.no_xdp {
        let mut ebpf = xdp::load_object()?;
        let mut maps = Maps::new(&mut ebpf)?;
        let started = std::time::Instant::now();
        let written = maps.sync(&state).context("filling the XDP maps")?;
        let elapsed_ms = started.elapsed().as_millis();
        let pins = xdp::pin_counters(&ebpf, &args.pin_dir)?;
        let prog = xdp::load_program(&mut ebpf, xdp::PROGRAM)?;
        for iface in &cfg.server.interfaces {
            let mode = xdp::attach(prog, iface)?;
            info!(%iface, %mode, "XDP program attached");
        }
        info!(entries = written, elapsed_ms, pin_dir = %args.pin_dir.display(), "XDP maps filled");
        fast_path = Some((ebpf, maps, pins));
    }
    let state = Arc::new(ArcSwap::from_pointee(state));
    let tasks = listeners.spawn(state);
    info!(listen = ?addrs, xdp = !args.no_xdp, "gslb ready");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    info!("shutting down: detaching XDP, closing listeners");
    for t in tasks {
        t.abort();
    }
    drop(fast_path);
    Ok(())
}

fn xdp_pass(ifaces: &[String]) -> Result<()> {
    let mut ebpf = xdp::load_object()?;
    let prog = xdp::load_program(&mut ebpf, xdp::PASS_PROGRAM)?;
    for iface in ifaces {
        let mode = xdp::attach(prog, iface)?;
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
