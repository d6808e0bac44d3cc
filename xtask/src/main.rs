//! `cargo xtask VERB`: the project's workflow verbs, one file per verb (as in
//! aya's own xtask). `.cargo/config.toml` aliases `cargo xtask` to
//! `cargo run --package xtask --`.

mod bench;
mod build;
mod cmd;
mod install;
mod run;
mod setup;
mod test;

use clap::Parser;

/// Workflow verbs for the gslb workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about, version)]
enum Verb {
    /// Install what the build needs (nightly rust-src, bpf-linker, Debian
    /// tools); quick when everything is present.
    Setup(setup::Options),
    /// `setup`, then build the workspace's host binaries.
    Build(build::Options),
    /// `setup`, build release, then run the daemon in the foreground.
    Run(run::Options),
    /// `setup`, build (debug), then `cargo test --workspace`; prints
    /// "N passed, N failed".
    Test(test::Options),
    /// `setup` (plus the servers), build release, then benchmark gslb
    /// against NSD, Knot, `PowerDNS` and gdnsd with dnsperf and kxdpgun;
    /// writes bench-results/<timestamp>/.
    Bench(bench::Options),
    /// Build release, then install the binary, the systemd unit, an
    /// example config (kept if present) and the operations docs.
    Install(install::Options),
}

fn main() -> anyhow::Result<()> {
    match Verb::parse() {
        Verb::Setup(opts) => setup::setup(&opts),
        Verb::Build(opts) => build::build(&opts),
        Verb::Run(opts) => run::run(&opts),
        Verb::Test(opts) => test::test(&opts),
        Verb::Bench(opts) => bench::bench(&opts),
        Verb::Install(opts) => install::install(&opts),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::Verb;

    fn parse(args: &[&str]) -> Verb {
        Verb::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn passthrough_after_double_dash() {
        let Verb::Test(opts) = parse(&["test", "--", "-p", "gslb-tests", "--", "--nocapture"])
        else {
            panic!("not test")
        };
        assert_eq!(opts.args, ["-p", "gslb-tests", "--", "--nocapture"]);

        let Verb::Test(opts) = parse(&["test", "--", "--help"]) else {
            panic!("not test")
        };
        assert_eq!(opts.args, ["--help"]);

        let Verb::Run(opts) = parse(&["run", "--", "--config", "x.toml"]) else {
            panic!("not run")
        };
        assert_eq!(opts.args, ["--config", "x.toml"]);
    }

    #[test]
    fn flags() {
        assert!(matches!(parse(&["build", "--release"]), Verb::Build(_)));
        assert!(matches!(parse(&["run", "--debug"]), Verb::Run(_)));
        assert!(matches!(parse(&["run"]), Verb::Run(_)));
        assert!(matches!(parse(&["setup"]), Verb::Setup(_)));
        assert!(matches!(parse(&["bench"]), Verb::Bench(_)));
        assert!(Verb::try_parse_from(["xtask", "run", "--debug", "--release"]).is_err());
        assert!(Verb::try_parse_from(["xtask", "test", "stray"]).is_err());
    }
}
