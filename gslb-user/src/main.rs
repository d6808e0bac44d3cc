//! `gslb`: the daemon and its command-line tools.

mod commands;
mod daemon;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use gslb::{
    api::{control, protocol::AdminAction},
    fastpath::loader,
};

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
    /// Why a client gets the answer it gets for a gslb name: client
    /// group, topology rules and scores, geo data, pool, method,
    /// candidates and their state, the answer and its ECS scope.
    Explain {
        /// The gslb name.
        name: String,
        /// The client's resolver (LDNS) address.
        #[arg(long)]
        client: Option<std::net::IpAddr>,
        /// The EDNS Client Subnet prefix the resolver sends (ADDR/LEN):
        /// its address is the client.
        #[arg(long)]
        ecs: Option<ipnet::IpNet>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// The client data: `reload` reads the region files and geo
    /// databases again and switches to the rebuilt client groups (each
    /// query sees the old data or the new).
    Clients {
        /// reload.
        #[arg(value_parser = ["reload"])]
        action: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// The persistence records (pools with `persistence`): which server
    /// each client prefix sticks to, since when, for how long.
    Persist {
        /// list | clear.
        #[arg(value_parser = ["list", "clear"])]
        action: String,
        /// Only the records of this gslb name.
        #[arg(long)]
        name: Option<String>,
        /// Only the records of client prefixes overlapping this one
        /// (ADDR/LEN or an address).
        #[arg(long)]
        client: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        control: PathBuf,
    },
    /// Make the running daemon read its config file again (as SIGHUP
    /// does): validated completely, then switched to without a query
    /// lost; health, admin states, persistence records and counters of
    /// unchanged servers carry over. A refused config (exit 1, its error
    /// `FILE:LINE:COL`) leaves the old one serving.
    Reload {
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
        #[arg(value_parser = admin_action())]
        action: AdminAction,
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
    /// Detach the XDP program a stopped (or killed) `gslb run` left
    /// answering, and remove its pins: links, program and maps.
    Detach {
        /// The daemon's pin directory (`run --pin-dir`).
        #[arg(long, default_value = loader::DEFAULT_PIN_DIR)]
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
    /// Directory (on a bpffs mount) where the XDP links, the program and
    /// the maps that survive a restart are pinned (`gslb stats` reads the
    /// counters there); a new `gslb run` adopts what it finds.
    #[arg(long, default_value = loader::DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    /// Control socket for `gslb status`, `explain` and `server`.
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    control: PathBuf,
    /// At exit, detach and unpin the XDP program (as `gslb detach`)
    /// instead of leaving it answering the last state for the next
    /// daemon to adopt.
    #[arg(long)]
    detach_on_exit: bool,
    /// Where run-time admin states and the last health of every server
    /// are saved and read back at start.
    #[arg(long, default_value = gslb::engine::saved::DEFAULT_STATE_FILE, conflicts_with = "no_state_file")]
    state_file: PathBuf,
    /// Neither read nor write a state file.
    #[arg(long)]
    no_state_file: bool,
    /// Keep every capability once serving, instead of dropping all but
    /// CAP_NET_RAW (ICMP probes) after the XDP attach and the binds.
    #[arg(long)]
    keep_caps: bool,
}

/// `gslb server`'s verbs, spelled as [`AdminAction`] names them.
fn admin_action() -> impl clap::builder::TypedValueParser<Value = AdminAction> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(AdminAction::NAMES)
        .map(|verb| AdminAction::from_name(&verb).expect("one of the possible values"))
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
        Command::Run(args) => daemon::run(daemon::Options {
            config: args.config,
            ifaces: args.ifaces,
            no_xdp: args.no_xdp,
            listen: args.listen,
            pin_dir: args.pin_dir,
            control: args.control,
            detach_on_exit: args.detach_on_exit,
            state_file: (!args.no_state_file).then_some(args.state_file),
            keep_caps: args.keep_caps,
        }),
        Command::Check { file, config } => {
            commands::check(&file.or(config).expect("clap requires a file"))
        }
        Command::Stats { json, pin_dir } => commands::stats(&pin_dir, json),
        Command::Status { json, control } => commands::status(&control, json),
        Command::Explain {
            name,
            client,
            ecs,
            json,
            control,
        } => commands::explain(&control, name, client, ecs, json),
        Command::Server {
            action,
            name,
            control,
        } => commands::admin(&control, action, name),
        Command::Clients { json, control, .. } => commands::clients_reload(&control, json),
        Command::Reload { json, control } => commands::reload(&control, json),
        Command::Persist {
            action,
            name,
            client,
            json,
            control,
        } => commands::persist(&control, name, client, action == "clear", json),
        Command::UpdateBench {
            server,
            count,
            rate,
            control,
        } => commands::update_bench(&control, &server, count, rate),
        Command::XdpPass { ifaces } => daemon::pass(&ifaces),
        Command::Detach { pin_dir } => commands::detach(&pin_dir),
    }
}
