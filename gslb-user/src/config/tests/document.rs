//! Tests of The whole document: defaults, the example configs, positions, several tables at once.

use super::*;

#[test]
fn default_config_is_valid() {
    let cfg = load_default().unwrap();
    assert_eq!(cfg.server.listen.len(), 2);
    assert_eq!(cfg.server.port(), 53);
    assert_eq!(cfg.server.edns_udp_size, 1232);
    assert_eq!(cfg.zones.len(), 1);
    let zone = &cfg.zones[0];
    assert_eq!(zone.name.to_string(), "example.test.");
    assert_eq!(zone.ttl, 3600);
    assert_eq!(zone.soa.serial, 2026112201);
    assert_eq!(zone.soa.minimum, 300);
    assert_eq!(zone.ns[0].to_string(), "ns1.example.test.");
    let mx = zone
        .records
        .iter()
        .find(|r| r.record_type() == RecordType::MX)
        .unwrap();
    assert_eq!(mx.name.to_string(), "example.test.");
    assert_eq!(mx.data.to_string(), "10 mail.example.test.");
    assert_eq!(mx.ttl, 3600);
    assert_eq!(cfg.gslb.len(), 1);
    assert_eq!(cfg.gslb[0].ttl, 30);
    assert_eq!(
        cfg.gslb[0].a,
        vec![Ipv4Addr::new(198, 18, 0, 10), Ipv4Addr::new(198, 18, 0, 11)]
    );
}

#[test]
fn defaults_when_tables_are_missing() {
    let cfg = parse(ZONE, "t").unwrap();
    assert_eq!(cfg.server, ServerConfig::default());
    assert_eq!(
        cfg.server.listen,
        vec![
            "127.0.0.1:53".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    assert_eq!(cfg.server.interfaces, vec!["lo".to_string()]);
    let zone = &cfg.zones[0];
    assert_eq!(zone.ttl, DEFAULT_ZONE_TTL);
    assert_eq!(zone.soa.mname.to_string(), "ns1.example.test.");
    assert_eq!(zone.soa.rname.to_string(), "hostmaster.example.test.");
    assert!(parse("", "t").unwrap().zones.is_empty());
}

#[test]
fn names_are_lowercase_and_relative_names_use_the_zone() {
    let text = r#"
[[zone]]
name = "Example.TEST."
ns = ["NS1", "ns.example.net."]
[zone.soa]
rname = "dns-admin"
[[zone.record]]
name = "NS1"
type = "a"
data = "192.0.2.53"
[[zone.record]]
name = "Alias.example.test."
type = "CNAME"
data = "@"
ttl = 60
[[gslb]]
name = "WWW.example.test"
a = ["192.0.2.1"]
"#;
    let cfg = parse(text, "t").unwrap();
    let zone = &cfg.zones[0];
    assert_eq!(zone.name.to_string(), "example.test.");
    assert_eq!(zone.ns[0].to_string(), "ns1.example.test.");
    assert_eq!(zone.ns[1].to_string(), "ns.example.net.");
    assert_eq!(zone.soa.rname.to_string(), "dns-admin.example.test.");
    assert_eq!(zone.records[0].name.to_string(), "ns1.example.test.");
    assert_eq!(zone.records[1].name.to_string(), "alias.example.test.");
    assert_eq!(zone.records[1].data.to_string(), "example.test.");
    assert_eq!(zone.records[1].ttl, 60);
    assert_eq!(cfg.gslb[0].name.to_string(), "www.example.test.");
    assert_eq!(cfg.gslb[0].ttl, DEFAULT_GSLB_TTL);
    assert!(cfg.gslb[0].aaaa.is_empty());
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse("[server]\nlisten = \n", "t").unwrap_err().to_string();
    assert!(err.starts_with("t:2:10: "), "{err}");
    assert_error("[server]\nlisten = [\"a\",,]\n", ",]", "");
    assert_error("[zone\n", "\n", "");
    let text = "[server]\nedns_udp_size = \"big\"\n";
    assert_error(text, "\"big\"", "invalid type");
    let text = "[[zone]]\nttl = 5\n";
    assert_error(text, "[[zone]]", "missing field `name`");
}

#[test]
fn unknown_fields_are_rejected() {
    assert_error(
        "[server]\nlisten = []\nport = 53\n",
        "port",
        "unknown field `port`",
    );
    assert_error("[servers]\n", "servers", "unknown field `servers`");
    let text = zone_with(
        "[[zone.record]]\nname = \"x\"\ntype = \"A\"\ndata = \"192.0.2.1\"\nclass = \"IN\"\n",
    );
    assert_error(&text, "class", "unknown field `class`");
    assert_error(
        &zone_with("[[gslb]]\nname = \"www.example.test\"\na = [\"192.0.2.1\"]\nweight = 1\n"),
        "weight",
        "unknown field `weight`",
    );
}

#[test]
fn all_semantic_errors_are_reported_at_once() {
    let text = "[server]\nlisten = [\"nope\"]\nedns_udp_size = 1\n\
                [[gslb]]\nname = \"www.example.net\"\na = [\"1.2.3\"]\n";
    let err = parse(text, "t.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].starts_with("t.toml:2:11: invalid listen address"));
    assert!(lines[1].starts_with("t.toml:3:17: edns_udp_size 1"));
    // In text order, not in the order the checks run.
    assert!(lines[2].starts_with("t.toml:5:8: gslb name www.example.net. is not inside"));
    assert!(lines[3].starts_with("t.toml:6:6: invalid IPv4 address"));
}

#[test]
fn columns_count_characters() {
    let text = "# é\n[server]\nlisten = [\"é\"]\n";
    let err = parse(text, "t").unwrap_err();
    assert_eq!(err.diagnostics()[0].line, 3);
    assert_eq!(err.diagnostics()[0].column, 11);
    assert_eq!(position("aé\nb", 3), (1, 3));
    assert_eq!(position("a", 100), (1, 2));
}

#[test]
fn load_reads_files_and_names_them_in_errors() {
    let dir = std::env::temp_dir().join(format!("gslb-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, DEFAULT_CONFIG).unwrap();
    assert_eq!(load(&good).unwrap(), load_default().unwrap());
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[server]\nedns_udp_size = 1\n").unwrap();
    let err = load(&bad).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:2:17: edns_udp_size 1 is out of range 512..=4096 (RFC 6891 §6.2.5)",
            bad.display()
        )
    );
    let missing = dir.join("missing.toml");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read config", missing.display())));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_config_errors_name_the_embedded_origin() {
    let err = parse("x", DEFAULT_CONFIG_ORIGIN).unwrap_err();
    assert!(err.to_string().starts_with("<embedded default config>:1:"));
}

#[test]
fn gslb_example_config_is_valid() {
    let cfg = parse(GSLB_EXAMPLE_CONFIG, "examples/gslb.toml")
        .unwrap_or_else(|e| panic!("example config rejected:\n{e}"));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();

    assert_eq!(cfg.health, HealthConfig { initial_up: true });

    assert_eq!(
        cfg.datacenters,
        vec![
            DatacenterConfig {
                name: "ams".into(),
                lat: 52.37,
                lon: 4.90,
                region: Some("eu".into()),
                country: Some("NL".into()),
                bias: 0,
            },
            DatacenterConfig {
                name: "nyc".into(),
                lat: 40.71,
                lon: -74.01,
                region: Some("us".into()),
                country: Some("US".into()),
                bias: 0,
            },
            DatacenterConfig {
                name: "sgp".into(),
                lat: 1.35,
                lon: 103.82,
                region: None,
                country: None,
                bias: 0,
            },
        ]
    );

    let names: Vec<&str> = cfg.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["web", "web-tls", "tcp-api", "resolver", "ping", "script"]
    );
    assert_eq!(
        cfg.monitors[0],
        MonitorConfig {
            name: "web".into(),
            kind: MonitorKind::Http {
                tls: false,
                port: 8080,
                method: "GET".into(),
                path: "/health".into(),
                host: Some("www.example.test".into()),
                expect_status: vec![200, 204],
                expect_body: Some("OK".into()),
            },
            interval: ms(1000),
            timeout: ms(500),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    assert_eq!(
        cfg.monitors[1].kind,
        MonitorKind::Http {
            tls: true,
            port: 443,
            method: "GET".into(),
            path: "/".into(),
            host: None,
            expect_status: vec![200],
            expect_body: None,
        }
    );
    assert_eq!(
        (cfg.monitors[1].interval, cfg.monitors[1].timeout),
        (ms(2000), ms(1000))
    );
    assert_eq!(
        cfg.monitors[2],
        MonitorConfig {
            name: "tcp-api".into(),
            kind: MonitorKind::Tcp { port: 9000 },
            interval: ms(500),
            timeout: ms(200),
            rise: 1,
            fall: 2,
            jitter_permille: 0,
        }
    );
    assert_eq!(
        cfg.monitors[3].kind,
        MonitorKind::Dns {
            port: 53,
            query: Name::from_ascii("health.example.test.").unwrap(),
            query_type: RecordType::TXT,
            expect_rcode: ResponseCode::NoError,
            expect_answer: Some("ok".into()),
        }
    );
    assert_eq!(
        (cfg.monitors[3].interval, cfg.monitors[3].timeout),
        (ms(10_000), ms(3000))
    );
    assert_eq!(
        cfg.monitors[4],
        MonitorConfig {
            name: "ping".into(),
            kind: MonitorKind::Icmp,
            interval: ms(5000),
            timeout: ms(2000),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    assert_eq!(
        cfg.monitors[5].kind,
        MonitorKind::External {
            command: vec![
                "/usr/lib/gslb/check".into(),
                "{address}".into(),
                "{port}".into()
            ],
        }
    );
    assert_eq!(
        (cfg.monitors[5].interval, cfg.monitors[5].timeout),
        (ms(60_000), ms(10_000))
    );

    let names: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ams-web1", "ams-web2", "ams-web6", "nyc-web1", "nyc-web2", "nyc-api", "sgp-api",
            "backup"
        ]
    );
    assert_eq!(
        cfg.servers[0],
        VirtualServerConfig {
            name: "ams-web1".into(),
            address: ip("198.18.10.1"),
            datacenter: "ams".into(),
            ratio: 3,
            max_sessions: Some(1000),
            max_connections: Some(5000),
            monitors: vec!["web".into(), "ping".into()],
            check_address: Some(ip("198.18.10.101")),
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::Static {
                sessions: 10,
                connections: 20,
            },
        }
    );
    assert_eq!(
        cfg.servers[1].metrics,
        MetricsSource::Url {
            url: "http://198.18.10.2:9100/metrics".into(),
            labels: Default::default(),
        }
    );
    assert_eq!(cfg.servers[1].ratio, 1);
    assert_eq!(cfg.servers[2].address, ip("2001:db8:10::1"));
    assert_eq!(cfg.servers[2].admin, AdminState::Draining);
    assert!(!cfg.servers[3].initial_up);
    assert_eq!(cfg.servers[4].admin, AdminState::Disabled);
    assert_eq!(
        cfg.servers[5].metrics,
        MetricsSource::Static {
            sessions: 120,
            connections: 0,
        }
    );
    assert_eq!(
        cfg.servers[6].metrics,
        MetricsSource::Url {
            url: "http://[2001:db8:30::9]:9100/metrics".into(),
            labels: [("instance".to_string(), "sgp-api".to_string())].into(),
        }
    );
    assert_eq!(
        cfg.metrics,
        MetricsConfig {
            interval: ms(5000),
            timeout: ms(2000),
            max_age: ms(15_000),
            sessions: "sessions".into(),
            connections: "connections".into(),
        }
    );
    assert_eq!(cfg.engine, EngineConfig::default());
    assert_eq!(
        cfg.servers[7],
        VirtualServerConfig {
            name: "backup".into(),
            address: ip("198.18.99.10"),
            datacenter: "sgp".into(),
            ratio: 1,
            max_sessions: None,
            max_connections: None,
            monitors: vec![],
            check_address: None,
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::None,
        }
    );

    assert_eq!(cfg.pools.len(), 7);
    assert_eq!(
        cfg.pools[0],
        PoolConfig {
            name: "web-eu".into(),
            members: vec!["ams-web1".into(), "ams-web2".into(), "ams-web6".into()],
            methods: [
                Method::Ratio,
                Method::GlobalAvailability,
                Method::FallbackIp
            ],
            ttl: Some(20),
            max_answers: 2,
            fallback_ip: vec![ip("198.18.99.1"), ip("2001:db8:99::1")],
            when_all_down: AllDown::FailOpen,
            persist_prefix_v4: 32,
            persist_prefix_v6: 64,
            persistence: None,
        }
    );
    assert_eq!(
        cfg.pools[1],
        PoolConfig {
            name: "web-us".into(),
            members: vec!["nyc-web1".into(), "nyc-web2".into()],
            methods: [Method::StaticPersist, Method::RoundRobin, Method::None],
            ttl: None,
            max_answers: 1,
            fallback_ip: vec![],
            when_all_down: AllDown::ReturnToDns,
            persist_prefix_v4: 24,
            persist_prefix_v6: 56,
            persistence: None,
        }
    );
    let chains: Vec<([Method; 3], AllDown)> = cfg
        .pools
        .iter()
        .map(|p| (p.methods, p.when_all_down))
        .collect();
    assert_eq!(
        chains[2..6],
        [
            (
                [Method::GlobalAvailability, Method::None, Method::None],
                AllDown::FallbackIp
            ),
            (
                [
                    Method::LeastSessions,
                    Method::LowestLatency,
                    Method::DropPacket
                ],
                AllDown::Servfail
            ),
            (
                [
                    Method::WeightedRandom,
                    Method::FewestSelected,
                    Method::ReturnToDns
                ],
                AllDown::Nodata
            ),
            (
                [
                    Method::MostCapacity,
                    Method::LeastConnections,
                    Method::Random
                ],
                AllDown::Drop
            ),
        ]
    );
    assert_eq!(cfg.pools[2].fallback_ip, vec![ip("198.18.99.2")]);

    let www = &cfg.gslb[0];
    assert_eq!(www.name.to_string(), "www.example.test.");
    assert_eq!(www.pools, ["web-eu", "web-us"]);
    assert_eq!(www.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(www.last_resort_pool.as_deref(), Some("web-backup"));
    assert!(www.a.is_empty() && www.aaaa.is_empty());
    assert_eq!(cfg.gslb[1].pools, ["api", "api-spread", "api-capacity"]);
    assert_eq!(cfg.gslb[1].pool_method, PoolMethod::Ratio(vec![3, 2, 1]));
    assert_eq!(cfg.gslb[1].ttl, 10);
    assert_eq!(cfg.gslb[1].last_resort_pool, None);
    assert_eq!(cfg.gslb[2].pool_method, PoolMethod::RoundRobin);
    assert_eq!(cfg.gslb[3].pool_method, PoolMethod::Topology);
    let stat = &cfg.gslb[4];
    assert!(stat.pools.is_empty());
    assert_eq!(stat.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(stat.a.len(), 2);
    assert_eq!(stat.aaaa.len(), 1);

    // Every method, all-down behaviour and monitor type is exercised.
    for (m, name) in Method::ALL {
        let used = cfg.pools.iter().any(|p| p.methods.contains(m));
        // geo_proximity needs a geo database file, which an embedded
        // example cannot name.
        assert!(
            used || matches!(m, Method::None | Method::GeoProximity),
            "{name} not in the example"
        );
    }
    for (w, name) in AllDown::ALL {
        assert!(
            cfg.pools.iter().any(|p| p.when_all_down == *w),
            "{name} not in the example"
        );
    }
    for ty in ["tcp", "http", "https", "dns", "icmp", "external"] {
        assert!(
            cfg.monitors.iter().any(|m| m.kind.type_name() == ty),
            "{ty} not in the example"
        );
    }
}

#[test]
fn engine_defaults() {
    let cfg = parse(&engine_with(""), "t").unwrap();
    assert_eq!(cfg.health, HealthConfig::default());
    assert!(cfg.health.initial_up);
    assert_eq!(cfg.metrics, MetricsConfig::default());
    assert_eq!(cfg.metrics.max_age, ms(15_000));
    assert_eq!(
        cfg.monitors[0],
        MonitorConfig {
            name: "web".into(),
            kind: MonitorKind::Http {
                tls: false,
                port: 80,
                method: "GET".into(),
                path: "/".into(),
                host: None,
                expect_status: vec![200],
                expect_body: None,
            },
            interval: ms(5000),
            timeout: ms(2000),
            rise: 2,
            fall: 3,
            jitter_permille: 100,
        }
    );
    let s = &cfg.servers[1];
    assert_eq!(s.ratio, 1);
    assert_eq!(s.admin, AdminState::Enabled);
    assert!(s.initial_up);
    assert!(s.monitors.is_empty());
    assert_eq!(s.metrics, MetricsSource::None);
    assert_eq!(
        cfg.pools[0],
        PoolConfig {
            name: "p1".into(),
            members: vec!["s1".into(), "s2".into()],
            methods: [Method::RoundRobin, Method::None, Method::None],
            ttl: None,
            max_answers: 1,
            fallback_ip: vec![],
            when_all_down: AllDown::FailOpen,
            persist_prefix_v4: 32,
            persist_prefix_v6: 64,
            persistence: None,
        }
    );
    let g = &cfg.gslb[0];
    assert_eq!(g.pools, ["p1"]);
    assert_eq!(g.pool_method, PoolMethod::GlobalAvailability);
    assert_eq!(g.last_resort_pool, None);
    assert_eq!(g.ttl, DEFAULT_GSLB_TTL);

    // Other per-type defaults.
    let monitor = |ty: &str, extra: &str| {
        let text = engine_with(&format!(
            "[[monitor]]\nname = \"m\"\ntype = \"{ty}\"\n{extra}"
        ));
        let cfg = parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
        cfg.monitors[1].clone()
    };
    assert_eq!(monitor("tcp", "").kind, MonitorKind::Tcp { port: 80 });
    assert_eq!(
        monitor("dns", "query = \"example.test\"\n").kind,
        MonitorKind::Dns {
            port: 53,
            query: Name::from_ascii("example.test.").unwrap(),
            query_type: RecordType::A,
            expect_rcode: ResponseCode::NoError,
            expect_answer: None,
        }
    );
    let https = monitor("https", "");
    assert!(matches!(
        https.kind,
        MonitorKind::Http {
            tls: true,
            port: 443,
            ..
        }
    ));
    // The default timeout never reaches a short interval.
    let short = monitor("icmp", "interval = \"1s\"\n");
    assert_eq!((short.interval, short.timeout), (ms(1000), ms(500)));
    let short = monitor("icmp", "interval = \"10ms\"\n");
    assert_eq!((short.interval, short.timeout), (ms(10), ms(5)));
    let long = monitor("icmp", "interval = 4\n");
    assert_eq!((long.interval, long.timeout), (ms(4000), ms(2000)));
    let fine = monitor(
        "icmp",
        "jitter = 0.5\ntimeout = \"9.999s\"\ninterval = 10\n",
    );
    assert_eq!(fine.jitter_permille, 500);
    assert_eq!(fine.timeout, ms(9999));

    // [health] initial applies to servers without their own.
    let text = engine_with("[health]\ninitial = \"down\"\n").replace(
        "monitors = [\"web\"]",
        "monitors = [\"web\"]\ninitial = \"up\"",
    );
    let cfg = parse(&text, "t").unwrap();
    assert!(!cfg.health.initial_up);
    assert!(cfg.servers[0].initial_up);
    assert!(!cfg.servers[1].initial_up);

    // Pool ratios default to 1 each; a ratio pool method with explicit ratios.
    let text = engine_with(
        "[[pool]]\nname = \"p2\"\nmembers = [\"s1\"]\n\
         [[gslb]]\nname = \"a.example.test\"\npools = [\"p1\", \"p2\"]\npool_method = \"ratio\"\n",
    );
    let cfg = parse(&text, "t").unwrap();
    assert_eq!(cfg.gslb[1].pool_method, PoolMethod::Ratio(vec![1, 1]));

    // Without engine tables, everything is empty.
    let cfg = parse(ZONE, "t").unwrap();
    assert!(cfg.datacenters.is_empty() && cfg.monitors.is_empty());
    assert!(cfg.servers.is_empty() && cfg.pools.is_empty());
    assert_eq!(cfg.health, HealthConfig::default());
}

#[test]
fn engine_errors_are_all_reported_in_text_order() {
    let text = engine_replace("lat = 52.37", "lat = 100")
        .replacen("type = \"http\"", "type = \"http\"\npath = \"x\"", 1)
        .replacen(
            "members = [\"s1\", \"s2\"]",
            "members = [\"s1\", \"s3\"]",
            1,
        )
        .replacen("pools = [\"p1\"]", "pools = [\"p0\"]", 1);
    let err = parse(&text, "t.toml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].contains("latitude 100"), "{err}");
    assert!(lines[1].contains("invalid path `x`"), "{err}");
    assert!(lines[2].contains("unknown vserver `s3`"), "{err}");
    assert!(lines[3].contains("unknown pool `p0`"), "{err}");
    let positions: Vec<(usize, usize)> = err
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.column))
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
}
