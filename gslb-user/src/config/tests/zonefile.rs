//! `[[zone]] file`: master files read record by record, their errors at
//! `FILE:LINE:COL`, and wildcard owners.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use hickory_proto::rr::{RData, Record};

use super::*;

/// A fresh directory for one test's files.
fn dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "gslb-zonefile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `files` (name, text) to a fresh directory and parses a config
/// with a zone `example.test` reading `zone.db` from it.
fn load(extra_toml: &str, files: &[(&str, &str)]) -> (Result<Config, ConfigError>, PathBuf) {
    let d = dir();
    for (name, text) in files {
        std::fs::write(d.join(name), text).unwrap();
    }
    let toml = format!("[[zone]]\nname = \"example.test\"\nfile = \"zone.db\"\n{extra_toml}");
    let path = d.join("gslb.toml");
    (parse(&toml, &path.display().to_string()), d)
}

const FULL: &str = r#"$ORIGIN example.test.
$TTL 300
@        3600 IN SOA ns1 hostmaster ( 42 7200 3600 1209600
                                      60 ) ; negative TTL
         IN NS  ns1
         IN NS  ns2.example.test.
ns1      IN A   198.18.0.53
ns2      60 IN AAAA 2001:db8::53
@        IN MX  10 mail
mail     IN A   198.18.0.25
www      IN CNAME mail
txt      IN TXT "hello world" "two"
_sip._udp IN SRV 10 20 5060 mail.example.test.
@        IN CAA 0 issue "ca.example"
$ORIGIN w.example.test.
*        IN A   198.18.0.7
         IN AAAA 2001:db8::7
host     IN TXT "exists"
$ORIGIN example.test.
*.c      IN CNAME mail
1.0      IN PTR www
apex     IN CNAME @
Mixed.Case IN MX 5 MAIL.Example.Test.
semi     IN TXT "a;b" ( "c"
                 "d" ) ; a comment
$INCLUDE more.db
"#;

fn find<'a>(config: &'a Config, name: &str, rtype: RecordType) -> Vec<&'a Record> {
    let name = Name::from_ascii(name).unwrap();
    config.zones[0]
        .records
        .iter()
        .filter(|r| r.name == name && r.record_type() == rtype)
        .collect()
}

#[test]
fn every_type_origin_ttl_include_and_wildcards() {
    let (config, _) = load(
        "",
        &[
            ("zone.db", FULL),
            ("more.db", "inc 10 IN TXT \"included\"\n"),
        ],
    );
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let zone = &config.zones[0];
    // The SOA is the file's, TTL included.
    assert_eq!(zone.soa.serial, 42);
    assert_eq!(zone.soa.minimum, 60);
    assert_eq!(
        zone.soa.mname,
        Name::from_ascii("ns1.example.test.").unwrap()
    );
    assert_eq!(zone.soa_ttl, 3600);
    assert_eq!(find(&config, "example.test.", RecordType::NS).len(), 2);
    // $TTL, then an explicit TTL.
    assert_eq!(
        find(&config, "ns1.example.test.", RecordType::A)[0].ttl,
        300
    );
    assert_eq!(
        find(&config, "ns2.example.test.", RecordType::AAAA)[0].ttl,
        60
    );
    let mx = find(&config, "example.test.", RecordType::MX);
    assert!(
        matches!(&mx[0].data, RData::MX(m) if m.exchange == Name::from_ascii("mail.example.test.").unwrap())
    );
    assert_eq!(
        find(&config, "www.example.test.", RecordType::CNAME).len(),
        1
    );
    let txt = find(&config, "txt.example.test.", RecordType::TXT);
    assert!(matches!(&txt[0].data, RData::TXT(t) if t.txt_data.len() == 2));
    assert_eq!(
        find(&config, "_sip._udp.example.test.", RecordType::SRV).len(),
        1
    );
    assert_eq!(find(&config, "example.test.", RecordType::CAA).len(), 1);
    // $ORIGIN changes relative owners, a blank owner repeats the last.
    assert_eq!(find(&config, "*.w.example.test.", RecordType::A).len(), 1);
    assert_eq!(
        find(&config, "*.w.example.test.", RecordType::AAAA).len(),
        1
    );
    assert_eq!(
        find(&config, "host.w.example.test.", RecordType::TXT).len(),
        1
    );
    assert_eq!(
        find(&config, "*.c.example.test.", RecordType::CNAME).len(),
        1
    );
    assert_eq!(find(&config, "1.0.example.test.", RecordType::PTR).len(), 1);
    // `@` in data, names lowercased, `;` inside quotes, a list across lines.
    let apex = find(&config, "apex.example.test.", RecordType::CNAME);
    assert!(
        matches!(&apex[0].data, RData::CNAME(c) if c.0 == Name::from_ascii("example.test.").unwrap())
    );
    let mx = find(&config, "mixed.case.example.test.", RecordType::MX);
    assert!(matches!(&mx[0].data, RData::MX(m) if m.exchange.to_string() == "mail.example.test."));
    let semi = find(&config, "semi.example.test.", RecordType::TXT);
    let strings: Vec<&[u8]> = match &semi[0].data {
        RData::TXT(t) => t.txt_data.iter().map(AsRef::as_ref).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(strings, [&b"a;b"[..], b"c", b"d"]);
    assert_eq!(
        find(&config, "inc.example.test.", RecordType::TXT)[0].ttl,
        10
    );
}

/// The only diagnostic of a rejected config, as displayed, besides "no
/// name servers" (which follows when the file cannot be read or split
/// into entries at all).
fn only_error(result: Result<Config, ConfigError>) -> String {
    let err = result.expect_err("config should be rejected");
    let diags: Vec<String> = err
        .diagnostics()
        .iter()
        .map(ToString::to_string)
        .filter(|d| !d.contains("has no name servers"))
        .collect();
    assert_eq!(diags.len(), 1, "{err}");
    diags[0].clone()
}

#[test]
fn errors_name_the_file_line_and_column() {
    let ok = "$TTL 300\n@ IN NS ns1\nns1 IN A 198.18.0.53\n";
    let cases = [
        (
            "bad address",
            "ns2 IN A 198.18.0.300\n",
            4,
            10,
            "invalid A record",
        ),
        (
            "unknown type",
            "x IN BOGUS 1\n",
            4,
            6,
            "unknown record type `BOGUS`",
        ),
        (
            "bad owner",
            "a..b IN A 198.18.0.1\n",
            4,
            1,
            "invalid owner name",
        ),
        ("bad $TTL", "$TTL forever\n", 4, 6, "invalid TTL"),
        ("open paren", "x IN TXT ( \"a\"\n", 4, 10, "`(` without `)`"),
        (
            "star inside",
            "a.*.b IN A 198.18.0.1\n",
            4,
            1,
            "leftmost label",
        ),
        (
            "outside",
            "x.other. IN A 198.18.0.1\n",
            4,
            1,
            "outside zone",
        ),
        (
            "directive",
            "$GENERATE 1-2 x A 1.2.3.4\n",
            4,
            1,
            "unknown control entry",
        ),
        ("class", "x CH TXT \"a\"\n", 4, 3, "only IN"),
        (
            "include",
            "$INCLUDE nope.db\n",
            4,
            10,
            "cannot read $INCLUDE file",
        ),
    ];
    for (what, bad, line, column, message) in cases {
        let text = format!("{ok}{bad}");
        let (result, d) = load("", &[("zone.db", &text)]);
        let got = only_error(result);
        let want = format!("{}:{line}:{column}: ", d.join("zone.db").display());
        assert!(got.starts_with(&want), "{what}: `{got}` is not at {want}");
        assert!(got.contains(message), "{what}: `{got}` lacks `{message}`");
    }

    // An error in an included file names that file and its line.
    let (result, d) = load(
        "",
        &[
            ("zone.db", &format!("{ok}$INCLUDE inc.db\n")),
            (
                "inc.db",
                "; included\nok IN TXT \"x\"\nbad IN AAAA 198.18.0.1\n",
            ),
        ],
    );
    let got = only_error(result);
    let want = format!("{}:3:13: invalid AAAA record", d.join("inc.db").display());
    assert!(got.starts_with(&want), "`{got}` is not `{want}…`");
}

#[test]
fn consistency_checks_apply_to_file_records() {
    let text = "$TTL 300\n@ IN NS ns1\nns1 IN A 198.18.0.53\nwww IN CNAME ns1\nwww IN TXT \"x\"\n";
    let (result, d) = load("", &[("zone.db", text)]);
    let got = only_error(result);
    let file = d.join("zone.db").display().to_string();
    assert!(
        got.starts_with(&format!("{file}:4:1: CNAME at www")),
        "{got}"
    );
    assert!(got.contains(&format!("TXT at {file}:5")), "{got}");

    // A gslb name wins over the file, as over TOML records.
    let (result, _) = load(
        "[[gslb]]\nname = \"ns1.example.test\"\na = [\"198.18.0.9\"]\n",
        &[("zone.db", "$TTL 300\n@ IN NS ns1\nns1 IN A 198.18.0.53\n")],
    );
    assert!(only_error(result).contains("static A record on gslb name"));

    // A wildcard delegation is refused.
    let (result, _) = load(
        "",
        &[(
            "zone.db",
            "$TTL 300\n@ IN NS ns1\nns1 IN A 198.18.0.53\n*.d IN NS ns1\n",
        )],
    );
    assert!(only_error(result).contains("wildcard delegations"));

    // The SOA comes from one place.
    let (result, _) = load(
        "ns = [\"ns1\"]\n[zone.soa]\nserial = 3\n",
        &[(
            "zone.db",
            "@ 300 IN SOA ns1 hm 1 2 3 4 5\nns1 300 IN A 198.18.0.53\n",
        )],
    );
    assert!(only_error(result).contains("keep one"));

    // A missing file: at the `file` key of the config.
    let (result, d) = load("", &[]);
    let got = only_error(result);
    assert!(
        got.starts_with(&format!(
            "{}:3:8: cannot read zone file {}",
            d.join("gslb.toml").display(),
            d.join("zone.db").display()
        )),
        "{got}"
    );
}

#[test]
fn toml_records_and_the_file_together() {
    let (config, _) = load(
        "ns = [\"ns1\"]\n[[zone.record]]\nname = \"*.t\"\ntype = \"TXT\"\ndata = \"\\\"wild\\\"\"\n",
        &[("zone.db", "$TTL 300\nns1 IN A 198.18.0.53\n")],
    );
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(find(&config, "*.t.example.test.", RecordType::TXT).len(), 1);
    assert_eq!(find(&config, "ns1.example.test.", RecordType::A).len(), 1);
    // No SOA anywhere: the default one, naming the first name server.
    assert_eq!(
        config.zones[0].soa.mname,
        Name::from_ascii("ns1.example.test.").unwrap()
    );

    // `*` not leftmost stays an error in TOML too.
    assert_error(
        &zone_with("[[zone.record]]\nname = \"a.*\"\ntype = \"A\"\ndata = \"192.0.2.1\"\n"),
        "\"a.*\"",
        "leftmost label",
    );
}

#[test]
fn odd_input_is_an_error_never_a_panic() {
    let ok = "$TTL 300\n@ IN NS ns1\nns1 IN A 198.18.0.53\n";
    for bad in [
        "\\",
        "x IN TXT \"\\",
        "x IN TXT \"é\\",
        "(",
        ")",
        "$INCLUDE",
        "$ORIGIN",
        "$TTL 1 2",
        " IN A 198.18.0.1\n@",
        "x 1",
        "x IN",
        "x 99999999999 IN A 198.18.0.1",
        "x 1w2x IN A 198.18.0.1",
        "x IN A",
        "x IN SOA a b 1 2 3 4 5",
        "@ IN SOA a b 1 2 3",
        "x IN MX 10",
        "x IN TXT \"a\" ( \"b\"",
        "x IN TXT ( ( \"b\" ) )",
    ] {
        let (result, _) = load("", &[("zone.db", &format!("{ok}{bad}\n"))]);
        assert!(result.is_err(), "{bad:?} was accepted");
    }
}
