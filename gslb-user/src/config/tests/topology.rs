//! Tests of `[[topology]]`, `[[region]]`, `[geoip]` and datacenter
//! `bias`.

use super::*;

fn rule(client: &str, server: &str, score: &str) -> String {
    format!("[[topology]]\nclient = \"{client}\"\nserver = \"{server}\"\nscore = {score}\n")
}

#[test]
fn topology_rules_parse() {
    let text = engine_with(&format!(
        "[[region]]\nname = \"office\"\nprefixes = [\"198.18.0.0/24\", \"2001:db8:1::/48\"]\n{}{}{}",
        rule("cidr:198.18.1.0/24", "datacenter:ams", "100"),
        rule("region:office", "pool:p1", "5"),
        rule("any", "any", "1"),
    ));
    let cfg = parse(&text, "t.toml").unwrap();
    assert_eq!(cfg.topology.len(), 3);
    assert_eq!(
        cfg.topology[0].client,
        ClientMatch::Cidr("198.18.1.0/24".parse().unwrap())
    );
    assert_eq!(
        cfg.topology[0].server,
        ServerMatch::Datacenter("ams".into())
    );
    assert_eq!(cfg.topology[0].score, 100);
    assert_eq!(cfg.topology[0].text, "cidr:198.18.1.0/24 -> datacenter:ams");
    assert_eq!(cfg.topology[1].client, ClientMatch::Region("office".into()));
    assert_eq!(cfg.topology[1].server, ServerMatch::Pool("p1".into()));
    assert_eq!(cfg.topology[2].client, ClientMatch::Any);
    assert_eq!(cfg.regions[0].prefixes.len(), 2);
    assert_eq!(cfg.regions[0].file, None);
    // Server-side tags need no declaration.
    let text = engine_with(&rule("any", "region:eu", "1"));
    assert_eq!(
        parse(&text, "t").unwrap().topology[0].server,
        ServerMatch::Region("eu".into())
    );
    let text = engine_with(&rule("any", "country:nl", "1"));
    assert_eq!(
        parse(&text, "t").unwrap().topology[0].server,
        ServerMatch::Country("NL".into())
    );
}

#[test]
fn topology_errors() {
    let t = |c: &str, s: &str, n: &str| engine_with(&rule(c, s, n));
    assert_error_last(
        &t("cidr:198.18.1.1/24", "any", "1"),
        "\"cidr:198.18.1.1/24\"",
        "bits set past /24 (write 198.18.1.0/24)",
    );
    assert_error_last(
        &t("cidr:nope", "any", "1"),
        "\"cidr:nope\"",
        "invalid prefix",
    );
    assert_error_last(
        &t("region:nowhere", "any", "1"),
        "\"region:nowhere\"",
        "unknown region `nowhere`",
    );
    assert_error_last(
        &t("planet:mars", "any", "1"),
        "\"planet:mars\"",
        "invalid client",
    );
    assert_error_last(
        &t("country:NL", "any", "1"),
        "\"country:NL\"",
        "needs geo data: no [geoip] database",
    );
    assert_error_last(
        &t("continent:EU", "any", "1"),
        "\"continent:EU\"",
        "needs geo data",
    );
    assert_error_last(
        &t("asn:64500", "any", "1"),
        "\"asn:64500\"",
        "no [geoip] asn_database",
    );
    assert_error_last(
        &t("any", "datacenter:mars", "1"),
        "\"datacenter:mars\"",
        "unknown datacenter `mars`",
    );
    assert_error_last(
        &t("any", "pool:nope", "1"),
        "\"pool:nope\"",
        "unknown pool `nope`",
    );
    assert_error_last(&t("any", "moon", "1"), "\"moon\"", "invalid server");
    assert_error_last(
        &t("any", "any", "0"),
        "0\n",
        "score 0 is out of range 1..=1000000",
    );
    assert_error_last(&t("any", "any", "1000001"), "1000001", "out of range");
}

#[test]
fn regions_from_files() {
    let dir = std::env::temp_dir().join(format!("gslb-region-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.txt");
    std::fs::write(
        &good,
        "# office\n198.18.5.0/24\n\n2001:db8:5::/48 # lab\n198.18.6.1\n",
    )
    .unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "198.18.5.0/24\n198.18.6.1/16\n").unwrap();
    let region = |file: &std::path::Path| {
        engine_with(&format!(
            "[[region]]\nname = \"lab\"\nfile = \"{}\"\n{}",
            file.display(),
            rule("region:lab", "any", "1")
        ))
    };
    let cfg = parse(&region(&good), "t").unwrap();
    let all = cfg.regions[0].all_prefixes().unwrap();
    let all: Vec<String> = all.iter().map(|n| n.to_string()).collect();
    assert_eq!(all, ["198.18.5.0/24", "2001:db8:5::/48", "198.18.6.1/32"]);
    assert_error_last(
        &region(&bad),
        &format!("\"{}\"", bad.display()),
        &format!("{}:2: `198.18.6.1/16` has bits set past /16", bad.display()),
    );
    let missing = dir.join("missing.txt");
    assert_error_last(
        &region(&missing),
        &format!("\"{}\"", missing.display()),
        "cannot read",
    );
    // Relative to the config file's directory.
    let text = engine_with("[[region]]\nname = \"lab\"\nfile = \"good.txt\"\n");
    let origin = dir.join("gslb.toml");
    let cfg = parse(&text, &origin.display().to_string()).unwrap();
    assert_eq!(cfg.regions[0].file.as_deref(), Some(good.as_path()));
    assert_error_last(
        &engine_with("[[region]]\nname = \"x\"\nprefixes = [\"198.18.0.0/33\"]\n"),
        "\"198.18.0.0/33\"",
        "invalid prefix",
    );
    assert_error_last(
        &engine_with("[[region]]\nname = \"x\"\n"),
        "\"x\"",
        "needs `prefixes`, `file` or both",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn geoip_and_geo_proximity() {
    assert_error_last(
        &engine_with("[geoip]\ndatabase = \"/nonexistent/City.mmdb\"\n"),
        "\"/nonexistent/City.mmdb\"",
        "not a usable MMDB database",
    );
    let not_mmdb = std::env::temp_dir().join(format!("gslb-not-mmdb-{}", std::process::id()));
    std::fs::write(&not_mmdb, "hello").unwrap();
    let text = engine_with(&format!("[geoip]\ndatabase = \"{}\"\n", not_mmdb.display()));
    assert_error_last(
        &text,
        &format!("\"{}\"", not_mmdb.display()),
        "not a usable MMDB",
    );
    std::fs::remove_file(&not_mmdb).unwrap();
    assert_error(
        &engine_replace(
            "members = [\"s1\", \"s2\"]",
            "members = [\"s1\", \"s2\"]\npreferred = \"geo_proximity\"",
        ),
        "\"geo_proximity\"",
        "no [geoip] database is configured",
    );
    // topology as a member method needs nothing else.
    let text = engine_replace(
        "members = [\"s1\", \"s2\"]",
        "members = [\"s1\", \"s2\"]\npreferred = \"topology\"\nalternate = \"round_robin\"",
    );
    let cfg = parse(&text, "t").unwrap();
    assert_eq!(cfg.pools[0].methods[0], Method::Topology);
}

#[test]
fn datacenter_bias() {
    let cfg = parse(
        &engine_replace("lon = 4.9\n", "lon = 4.9\nbias = -40\n"),
        "t",
    )
    .unwrap();
    assert_eq!(cfg.datacenters[0].bias, -40);
    assert_eq!(parse(&engine_with(""), "t").unwrap().datacenters[0].bias, 0);
    assert_error(
        &engine_replace("lon = 4.9\n", "lon = 4.9\nbias = 100\n"),
        "100",
        "bias 100 is out of range -99..=99",
    );
}
