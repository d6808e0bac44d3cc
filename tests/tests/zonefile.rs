//! Zone data from an RFC 1035 master file, wildcards (RFC 4592) included,
//! answered as NSD answers the same file.
//!
//! 1. gslb (XDP attached on the server veth) reads `zone.db` through
//!    `[[zone]] file`; NSD, started by the test in the client namespace
//!    on its own port, loads the same file. For every query of a list
//!    (existing names and types, NODATA, NXDOMAIN, empty non-terminals,
//!    wildcard-synthesized names and deeper names below the wildcard, the
//!    wildcard owner itself, a name under the wildcard's parent, a CNAME
//!    wildcard) both give the same RCODE, AA flag, answer and authority
//!    RRsets (compared sorted, TTLs included), over UDP through XDP (IPv4
//!    and IPv6) and over TCP (slow path). The counters show what XDP did
//!    with the IPv4 query: static data
//!    and plain NXDOMAIN answered, every name a wildcard covers passed.
//! 2. A bad zone file: `gslb check` and `gslb run` fail naming
//!    FILE:LINE:COL.
//! 3. `gslb reload` reads the zone file again: a changed wildcard, a
//!    changed static answer and a new name are answered (the last two by
//!    XDP); a broken file is refused with its FILE:LINE:COL and the old
//!    answers stay.
//!
//! Root, native XDP on veth and NSD (`cargo xtask setup`) are required.

use std::{
    fs,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use gslb_tests::netns::{
    gslb_bin, run_bounded, Background, Counters, Daemon, DaemonOpts, Net, Response, CMD_TIMEOUT,
};

/// The zone: every record type gslb serves, `$ORIGIN`, `$TTL`, relative
/// and absolute names, an explicit TTL, parentheses across lines, an
/// empty non-terminal (`ent`), a wildcard with A/AAAA/TXT/MX (`*.w`) and a
/// name beside it (`host.w`), and a CNAME wildcard (`*.c`).
const ZONE: &str = r#"$ORIGIN zf.test.
$TTL 300
@        3600 IN SOA ns1 hostmaster ( 2026120601 7200 3600 1209600
                                      60 )   ; negative TTL 60
         IN NS  ns1
         IN NS  ns2.zf.test.
@        IN MX  10 mail
@        IN TXT "v=spf1 -all"
@        IN CAA 0 issue "ca.example"
ns1      IN A   198.18.0.53
ns2      600 IN AAAA 2001:db8::53
mail     IN A   198.18.0.25
         IN AAAA 2001:db8::25
www      IN CNAME mail
txt      IN TXT "hello world" "second string"
_sip._udp IN SRV 10 20 5060 mail
1.0.ptr  IN PTR www.zf.test.
a.ent    IN A   198.18.0.30
alias    IN CNAME @
semi     IN TXT "a;b" ( "c"
                  "d" )   ; a list across lines
$ORIGIN w.zf.test.
*        IN A   198.18.0.7
*        IN AAAA 2001:db8::7
*        IN TXT "wild"
*        IN MX  20 mail.zf.test.
host     IN TXT "exists"
$ORIGIN zf.test.
*.c      IN CNAME mail
"#;

/// What XDP must do with a query: answer it (static data, NODATA, an
/// NXDOMAIN no wildcard covers), or pass it (every name a wildcard
/// covers, CNAMEs, names two labels below what exists).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Xdp {
    Answers,
    Passes,
}

/// The queries compared, with what XDP must do.
const QUERIES: &[(&str, &str, Xdp)] = &[
    // Existing names and types.
    ("zf.test", "SOA", Xdp::Answers),
    ("zf.test", "NS", Xdp::Answers),
    ("zf.test", "MX", Xdp::Answers),
    ("zf.test", "TXT", Xdp::Answers),
    ("zf.test", "CAA", Xdp::Answers),
    ("ns1.zf.test", "A", Xdp::Answers),
    ("ns2.zf.test", "AAAA", Xdp::Answers),
    ("mail.zf.test", "A", Xdp::Answers),
    ("mail.zf.test", "AAAA", Xdp::Answers),
    ("txt.zf.test", "TXT", Xdp::Answers),
    ("_sip._udp.zf.test", "SRV", Xdp::Answers),
    ("1.0.ptr.zf.test", "PTR", Xdp::Answers),
    ("semi.zf.test", "TXT", Xdp::Answers),
    ("alias.zf.test", "SOA", Xdp::Passes),
    ("www.zf.test", "A", Xdp::Passes),
    ("www.zf.test", "CNAME", Xdp::Passes),
    // NODATA: a type the name lacks, an empty non-terminal.
    ("zf.test", "A", Xdp::Answers),
    ("mail.zf.test", "TXT", Xdp::Answers),
    ("ent.zf.test", "A", Xdp::Answers),
    ("a.ent.zf.test", "A", Xdp::Answers),
    // NXDOMAIN, below an empty non-terminal too.
    ("nx.zf.test", "A", Xdp::Answers),
    ("deep.nx.zf.test", "A", Xdp::Passes),
    ("x.ent.zf.test", "A", Xdp::Answers),
    // Wildcard-synthesized: every type it has, a type it lacks (NODATA),
    // deeper names, mixed case.
    ("foo.w.zf.test", "A", Xdp::Passes),
    ("foo.w.zf.test", "AAAA", Xdp::Passes),
    ("foo.w.zf.test", "TXT", Xdp::Passes),
    ("foo.w.zf.test", "MX", Xdp::Passes),
    ("foo.w.zf.test", "SRV", Xdp::Passes),
    ("a.b.w.zf.test", "A", Xdp::Passes),
    ("a.b.c.d.w.zf.test", "TXT", Xdp::Passes),
    ("FoO.W.zf.test", "A", Xdp::Passes),
    // The wildcard owner itself, its parent (an empty non-terminal).
    ("*.w.zf.test", "A", Xdp::Answers),
    ("*.w.zf.test", "TXT", Xdp::Answers),
    ("w.zf.test", "A", Xdp::Answers),
    // A name under the wildcard's parent: its own data, NODATA, and below
    // it no wildcard (NXDOMAIN); below the wildcard owner: NXDOMAIN.
    ("host.w.zf.test", "TXT", Xdp::Answers),
    ("host.w.zf.test", "A", Xdp::Answers),
    ("x.host.w.zf.test", "A", Xdp::Answers),
    ("x.*.w.zf.test", "A", Xdp::Answers),
    // The CNAME wildcard: followed, asked for itself, NODATA at the target.
    ("foo.c.zf.test", "A", Xdp::Passes),
    ("foo.c.zf.test", "CNAME", Xdp::Passes),
    ("foo.c.zf.test", "TXT", Xdp::Passes),
    ("x.y.c.zf.test", "AAAA", Xdp::Passes),
];

/// NSD's port in the client namespace.
const NSD_PORT: u16 = 5354;

/// A directory for this test's files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("gslbt-zonefile-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// NSD serving `zone` on `addr`:[`NSD_PORT`] in the client namespace,
/// once it answers the SOA (bounded).
fn start_nsd(net: &Net, dir: &std::path::Path, zone: &std::path::Path, addr: IpAddr) -> Background {
    let d = dir.display();
    let conf = dir.join("nsd.conf");
    fs::write(
        &conf,
        format!(
            r#"server:
  ip-address: {addr}@{NSD_PORT}
  username: ""
  chroot: ""
  database: ""
  zonesdir: "{d}"
  pidfile: "{d}/nsd.pid"
  xfrdfile: "{d}/xfrd.state"
  zonelistfile: "{d}/zone.list"
  logfile: "{d}/nsd.log"
  server-count: 1
  minimal-responses: yes
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: "zf.test"
  zonefile: "{}"
"#,
            zone.display()
        ),
    )
    .unwrap();
    let nsd = Background::spawn(net.in_cli("nsd").arg("-d").arg("-c").arg(&conf));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (r, _) = net.dig_run(addr, "zf.test", "SOA", 1, &["-p", &NSD_PORT.to_string()]);
        if r.is_some_and(|r| r.status == "NOERROR") {
            return nsd;
        }
        assert!(
            Instant::now() < deadline,
            "NSD did not answer within 15 s:\n{}",
            fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What is compared: RCODE, AA, answer and authority RRsets (sorted,
/// owners lowercased, TTLs included).
type Compared = (
    String,
    bool,
    Vec<(String, u32, String, String, String)>,
    Vec<(String, u32, String, String, String)>,
);

fn compared(r: &Response) -> Compared {
    let mut answer = r.answer_keys();
    answer.sort();
    let mut authority = r.authority_keys();
    authority.sort();
    (r.status.clone(), r.has_flag("aa"), answer, authority)
}

/// What XDP did with one query, from the counters around it: answered,
/// and passed for a DNS reason (not counting the neighbour discovery and
/// the late TCP segments of the previous query that pass meanwhile).
fn xdp_did(before: &Counters, after: &Counters) -> (u64, u64) {
    const NOT_DNS: &[&str] = &[
        "xdp_passed_not_ip",
        "xdp_passed_not_udp",
        "xdp_passed_not_dns_port",
        "xdp_passed_not_local",
    ];
    (
        before.delta_of(after, "xdp_answered"),
        before
            .delta(after)
            .iter()
            .filter(|(k, _)| k.starts_with("xdp_passed_") && !NOT_DNS.contains(&k.as_str()))
            .map(|(_, v)| v)
            .sum(),
    )
}

#[test]
fn zone_file_answers_as_nsd_does() {
    let scratch = Scratch::new("nsd");
    let zone = scratch.0.join("zone.db");
    fs::write(&zone, ZONE).unwrap();
    let net = Net::new("zonefile");
    let config = format!(
        "[[zone]]\nname = \"zf.test\"\nfile = \"{}\"\n",
        zone.display()
    );
    let d = Daemon::start(
        &net,
        DaemonOpts {
            config: Some(config),
            ..DaemonOpts::default()
        },
    );
    let _nsd = start_nsd(&net, &scratch.0, &zone, net.cli_v4());
    let nsd_port = NSD_PORT.to_string();
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for &(name, qtype, want_xdp) in QUERIES {
        let reference = net.dig(net.cli_v4(), name, qtype, &["-p", &nsd_port]);
        let want = compared(&reference);
        let before = d.stats();
        let udp = net.dig(net.srv_v4(), name, qtype, &[]);
        let after = d.stats();
        let tcp = net.dig(net.srv_v4(), name, qtype, &["+tcp"]);
        let udp6 = net.dig(net.srv_v6(), name, qtype, &[]);
        let (answered, passed) = xdp_did(&before, &after);
        table.push(format!(
            "{name} {qtype}: {} | xdp answered {answered}, passed {passed}",
            want.0
        ));
        for (how, got) in [
            ("UDP over IPv4 (XDP)", &udp),
            ("TCP (slow path)", &tcp),
            ("UDP over IPv6 (XDP)", &udp6),
        ] {
            if compared(got) != want {
                failures.push(format!(
                    "{name} {qtype} over {how} differs from NSD:\n--- gslb ---\n{}\n--- NSD ---\n{}",
                    got.raw, reference.raw
                ));
            }
        }
        let ok = match want_xdp {
            Xdp::Answers => (answered, passed) == (1, 0),
            Xdp::Passes => (answered, passed) == (0, 1),
        };
        if !ok {
            failures.push(format!(
                "{name} {qtype}: XDP answered {answered} and passed {passed} (want {want_xdp:?}): {:?}",
                before.delta(&after)
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_bad_zone_file_fails_check_and_run_with_its_line() {
    let scratch = Scratch::new("bad");
    let zone = scratch.0.join("bad.db");
    // Line 5: an address out of range; line 7: a type gslb does not serve.
    let bad = ZONE.replacen(
        "ns1      IN A   198.18.0.53",
        "ns1 IN A 198.18.0.53\n\nx IN A 198.18.0.256\n\ny IN BOGUS 1",
        1,
    );
    fs::write(&zone, &bad).unwrap();
    let config = scratch.0.join("gslb.toml");
    fs::write(&config, "[[zone]]\nname = \"zf.test\"\nfile = \"bad.db\"\n").unwrap();
    let line_of = |needle: &str| bad.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    // `gslb check`, and `gslb run` before it binds or attaches anything.
    let control = scratch.0.join("control.sock");
    let check = run_bounded(
        std::process::Command::new(gslb_bin())
            .arg("check")
            .arg(&config),
        CMD_TIMEOUT,
    );
    let run = run_bounded(
        std::process::Command::new(gslb_bin())
            .args(["run", "--no-xdp", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--control")
            .arg(&control)
            .env("NO_COLOR", "1"),
        CMD_TIMEOUT,
    );
    let file = zone.display();
    for out in [check, run] {
        assert!(out.status.is_some() && !out.success(), "{out}");
        for (needle, col, what) in [
            ("x IN A", 8, "invalid A record"),
            ("y IN BOGUS", 6, "unknown record type"),
        ] {
            let at = format!("{file}:{}:{col}: ", line_of(needle));
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.contains(&at) && l.contains(what)),
                "no `{at}…{what}` in:\n{out}"
            );
        }
    }
}

/// A small zone whose wildcard and `fixed` answer `wild` and `fixed`,
/// with `extra` appended.
fn small_zone(wild: &str, fixed: &str, extra: &str) -> String {
    format!(
        "$TTL 60\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n  IN NS ns1\n\
         ns1 IN A 198.18.0.53\n*.w IN A {wild}\nfixed IN A {fixed}\n{extra}"
    )
}

/// The A addresses of `name` from gslb over UDP (and its RCODE).
fn a_of(net: &Net, name: &str) -> (String, Vec<String>) {
    let r = net.dig(net.srv_v4(), name, "A", &[]);
    let addrs = r.answer.iter().map(|rr| rr.rdata.clone()).collect();
    (r.status, addrs)
}

#[test]
fn a_reload_reads_the_zone_file_again() {
    let scratch = Scratch::new("reload");
    let zone = scratch.0.join("zone.db");
    fs::write(&zone, small_zone("198.18.0.7", "198.18.0.40", "")).unwrap();
    let net = Net::new("zonefile_reload");
    let d = Daemon::start(
        &net,
        DaemonOpts {
            config: Some(format!(
                "[[zone]]\nname = \"zf.test\"\nfile = \"{}\"\n",
                zone.display()
            )),
            ..DaemonOpts::default()
        },
    );
    let ok = |addr: &str| ("NOERROR".to_string(), vec![addr.to_string()]);
    assert_eq!(a_of(&net, "foo.w.zf.test"), ok("198.18.0.7"));
    assert_eq!(a_of(&net, "fixed.zf.test"), ok("198.18.0.40"));
    assert_eq!(a_of(&net, "new.zf.test").0, "NXDOMAIN");

    // Changed data: the wildcard, a static answer XDP holds, a new name
    // where XDP answered NXDOMAIN.
    fs::write(
        &zone,
        small_zone("198.18.0.8", "198.18.0.41", "new IN A 198.18.0.42\n"),
    )
    .unwrap();
    let out = d.ctl(&["reload"]);
    assert!(out.success(), "gslb reload failed:\n{out}");
    let before = d.stats();
    assert_eq!(a_of(&net, "foo.w.zf.test"), ok("198.18.0.8"));
    assert_eq!(a_of(&net, "fixed.zf.test"), ok("198.18.0.41"));
    assert_eq!(a_of(&net, "new.zf.test"), ok("198.18.0.42"));
    let after = d.stats();
    assert_eq!(
        before.delta_of(&after, "xdp_answered"),
        2,
        "XDP answers fixed and new, passes foo.w: {:?}",
        before.delta(&after)
    );

    // A broken file: the reload is refused with its line, the answers stay.
    fs::write(
        &zone,
        small_zone("198.18.0.9", "198.18.0.43", "bad IN A 198.18.0.300\n"),
    )
    .unwrap();
    let out = d.ctl(&["reload"]);
    let at = format!("{}:7:10: invalid A record", zone.display());
    assert!(
        !out.success() && format!("{}{}", out.stdout, out.stderr).contains(&at),
        "want a refused reload naming {at}:\n{out}"
    );
    assert_eq!(a_of(&net, "foo.w.zf.test"), ok("198.18.0.8"));
    assert_eq!(a_of(&net, "fixed.zf.test"), ok("198.18.0.41"));
}
