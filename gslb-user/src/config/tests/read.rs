//! Reading errors (syntax, types) and warnings of valid configs.

use super::*;

/// A minimal valid zone.
const ZONE: &str = "[[zone]]\nname = \"example.test\"\nns = [\"ns1\"]\n\
                    [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"192.0.2.53\"\n";

fn errors(text: &str) -> Vec<String> {
    parse(text, "t.toml")
        .expect_err("config should be rejected")
        .diagnostics()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn warnings(text: &str) -> Vec<String> {
    let (_, w) = parse_with_warnings(text, "t.toml").expect("config should be valid");
    w.iter().map(ToString::to_string).collect()
}

#[test]
fn type_errors_name_the_key_path() {
    let text = format!(
        "{ZONE}[[datacenter]]\nname = \"dc\"\nlat = 1.0\nlon = 2.0\n\
         [[vserver]]\nname = \"a\"\naddress = \"198.18.0.1\"\ndatacenter = \"dc\"\n\
         [[vserver]]\nname = \"b\"\naddress = \"198.18.0.2\"\ndatacenter = \"dc\"\nratio = \"two\"\n"
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    let line = text.lines().position(|l| l.contains("\"two\"")).unwrap() + 1;
    assert!(
        e[0].starts_with(&format!(
            "t.toml:{line}:9: `vserver[1].ratio`: invalid type"
        )),
        "{e:?}"
    );
    let e = errors("[server]\nedns_udp_size = \"big\"\n");
    assert!(
        e[0].starts_with("t.toml:2:17: `server.edns_udp_size`: invalid type"),
        "{e:?}"
    );
    let e = errors(&format!("{ZONE}[[zone.record]]\nname = 3\n"));
    assert!(
        e[0].contains("`zone[0].record[1].name`: invalid type"),
        "{e:?}"
    );
}

#[test]
fn every_syntax_error_is_reported() {
    let e = errors("[server]\nlisten = \n[[zone]]\nname = \"x\" \"y\"\nttl = = 5\n");
    assert!(e.len() >= 3, "{e:?}");
    assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
    assert!(e.iter().any(|d| d.starts_with("t.toml:4:")), "{e:?}");
    assert!(e.iter().any(|d| d.starts_with("t.toml:5:")), "{e:?}");
}

#[test]
fn an_empty_config_warns() {
    let w = warnings("");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("t.toml:1:1: no [[zone]]"), "{w:?}");
    assert!(warnings(ZONE).is_empty());
    assert!(warnings(DEFAULT_CONFIG).is_empty());
    assert!(warnings(GSLB_EXAMPLE_CONFIG).is_empty());
}

#[test]
fn unused_pools_servers_and_monitors_warn() {
    let text = format!(
        "{ZONE}[[datacenter]]\nname = \"dc\"\nlat = 1.0\nlon = 2.0\n\
         [[monitor]]\nname = \"idle\"\ntype = \"tcp\"\nport = 80\n\
         [[vserver]]\nname = \"used\"\naddress = \"198.18.0.1\"\ndatacenter = \"dc\"\n\
         [[vserver]]\nname = \"spare\"\naddress = \"198.18.0.2\"\ndatacenter = \"dc\"\n\
         [[pool]]\nname = \"p\"\nmembers = [\"used\"]\n\
         [[pool]]\nname = \"q\"\nmembers = [\"used\"]\n\
         [[gslb]]\nname = \"www.example.test\"\npools = [\"p\"]\n"
    );
    let line_of = |needle: &str| text.lines().position(|l| l == needle).unwrap() + 1;
    let w = warnings(&text);
    assert_eq!(
        w,
        [
            format!(
                "t.toml:{}:8: monitor `idle` is not used: no [[vserver]] lists it in `monitors`",
                line_of("name = \"idle\"")
            ),
            format!(
                "t.toml:{}:8: vserver `spare` is not used: no [[pool]] lists it in `members`",
                line_of("name = \"spare\"")
            ),
            format!(
                "t.toml:{}:8: pool `q` is not used: no [[gslb]] lists it in `pools` or \
                 `last_resort_pool`",
                line_of("name = \"q\"")
            ),
        ]
    );
    // A last resort pool counts as used.
    let text = text.replace(
        "pools = [\"p\"]\n",
        "pools = [\"p\"]\nlast_resort_pool = \"q\"\n",
    );
    assert_eq!(warnings(&text).len(), 2);
}
