//! Config reload (`gslb reload`, SIGHUP) on the real path: the daemon
//! with XDP in a namespace, its config file rewritten, the reload asked
//! over the control socket or by signal, queries from the client
//! namespace.
//!
//! - Under a bounded query load, 20 reloads alternating two configs with
//!   different answers: no query lost, every answer the old config's or
//!   the new one's, the fast path answering (its counters).
//! - Broken configs (syntax, a pool naming an unknown server) and a
//!   changed `server.listen` are refused with a non-zero exit and their
//!   position or key; the old answers stay.
//! - SIGHUP reloads; a drained server stays drained and a server its
//!   monitor marked down stays down (no flap) across a reload; a
//!   persistence record survives it.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test reload`.

use std::{
    net::IpAddr,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{pool, vserver},
    harness::{
        check_config, start, status_server, wait_availability, Failures, QUERY_TIMEOUT, ZONE,
    },
    netns::{gslb_bin, run_bounded, Background, Daemon, Net, CMD_TIMEOUT, READY_TIMEOUT},
};
use hickory_proto::rr::RecordType;

/// Two configs (`generation` 0 and 1) that differ in their answers:
/// www.example.test from pool `p` (a1, a2 in 0; b1, b2 in 1, global
/// availability, two answers) and the fixed addresses of
/// fixed.example.test; the rest is the same in both: `dn` (monitored by
/// a probe that always fails, so its monitor marks it down), `dr`, `k1`
/// in pool `keep` behind keep.example.test, and `s1`..`s3` in the
/// round-robin pool `sticky` with persistence behind
/// sticky.example.test. `monitor_ms` is the dead monitor's interval (a
/// change of it restarts that monitor).
fn config(net: &Net, generation: u8, monitor_ms: u64) -> String {
    let a = |h: u8| net.v4(h).to_string();
    let members: &[&str] = if generation == 0 {
        &["a1", "a2"]
    } else {
        &["b1", "b2"]
    };
    let fixed = a(201 + generation);
    [
        ZONE.to_string(),
        format!(
            "\n[[monitor]]\nname = \"dead\"\ntype = \"tcp\"\ninterval = \"{monitor_ms}ms\"\n\
             timeout = \"200ms\"\nrise = 2\nfall = 1\njitter = 0\nport = 9\n"
        ),
        vserver("a1", a(101), ""),
        vserver("a2", a(102), ""),
        vserver("b1", a(103), ""),
        vserver("b2", a(104), ""),
        vserver(
            "dn",
            a(105),
            &format!(
                "monitors = [\"dead\"]\ncheck_address = \"{}\"\n",
                net.srv_v4()
            ),
        ),
        vserver("dr", a(106), ""),
        vserver("k1", a(107), ""),
        vserver("s1", a(111), ""),
        vserver("s2", a(112), ""),
        vserver("s3", a(113), ""),
        pool("p", members, "global_availability", 2, ""),
        pool("keep", &["dn", "dr", "k1"], "global_availability", 3, ""),
        pool(
            "sticky",
            &["s1", "s2", "s3"],
            "round_robin",
            1,
            "persistence = { ttl = \"10m\", prefix_v4 = 24 }\n",
        ),
        gslb_table("www.example.test", "pools = [\"p\"]"),
        gslb_table("keep.example.test", "pools = [\"keep\"]"),
        gslb_table("sticky.example.test", "pools = [\"sticky\"]"),
        gslb_table("fixed.example.test", &format!("a = [\"{fixed}\"]")),
    ]
    .concat()
}

/// A `[[gslb]]` table with TTL 30 and `body`.
fn gslb_table(name: &str, body: &str) -> String {
    format!("\n[[gslb]]\nname = \"{name}\"\nttl = 30\n{body}\n")
}

/// `gslb reload` of `d`; asserts it succeeds, returns its output.
fn reload_ok(d: &Daemon<'_>) -> String {
    let out = d.ctl(&["reload"]);
    assert!(out.success(), "gslb reload failed:\n{out}");
    out.stdout
}

/// The A answer of `name` through the UDP client (`None`: no reply).
fn answer(net: &Net, name: &str) -> Option<Vec<IpAddr>> {
    net.udp_client(net.cli_v4())
        .query(net.srv_v4(), name, RecordType::A, QUERY_TIMEOUT)
        .filter(|r| r.rcode == "NOERROR")
        .map(|r| r.addrs)
}

/// 20 reloads alternating the two configs while one client queries two
/// names without pause: every query is answered, with the old or the
/// new config's answer (never none, never another), both answers are
/// seen, and XDP answered them.
#[test]
fn reloads_under_load_lose_no_query_and_give_old_or_new_answers() {
    const RELOADS: usize = 20;
    let net = Net::new("reload_load");
    let configs = [config(&net, 0, 500), config(&net, 1, 500)];
    check_config(&configs[0], "reload gen 0");
    check_config(&configs[1], "reload gen 1");
    let d = start(&net, &configs[0]);
    let names = ["www.example.test", "fixed.example.test"];
    // The answers of each generation, as the daemon gives them.
    let mut expected: Vec<[Vec<IpAddr>; 2]> = Vec::new();
    for (g, text) in configs.iter().enumerate() {
        if g == 1 {
            d.set_config(text);
            reload_ok(&d);
        }
        let got: Vec<Vec<IpAddr>> = names
            .iter()
            .map(|n| answer(&net, n).unwrap_or_else(|| panic!("no answer to {n}")))
            .collect();
        expected.push([got[0].clone(), got[1].clone()]);
    }
    d.set_config(&configs[0]);
    reload_ok(&d);
    for (i, n) in names.iter().enumerate() {
        assert_ne!(
            expected[0][i], expected[1][i],
            "{n}: the two configs must answer differently"
        );
    }
    eprintln!("answers: gen 0 {:?}, gen 1 {:?}", expected[0], expected[1]);

    let before = d.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let client = net.udp_client(net.cli_v4());
    let server = net.srv_v4();
    let stop_load = Arc::clone(&stop);
    let load = thread::spawn(move || {
        // (name index, answer or None when lost), bounded in count and
        // time.
        let mut seen: Vec<(usize, Option<Vec<IpAddr>>)> = Vec::new();
        let t0 = Instant::now();
        while !stop_load.load(Ordering::Relaxed)
            && seen.len() < 400_000
            && t0.elapsed() < Duration::from_secs(60)
        {
            for (i, n) in names.iter().enumerate() {
                let r = client.query(server, n, RecordType::A, QUERY_TIMEOUT);
                seen.push((i, r.filter(|r| r.rcode == "NOERROR").map(|r| r.addrs)));
            }
        }
        seen
    });
    thread::sleep(Duration::from_millis(300));
    let mut times = Vec::new();
    for k in 0..RELOADS {
        d.set_config(&configs[(k + 1) % 2]);
        let t = Instant::now();
        reload_ok(&d);
        times.push(t.elapsed());
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().expect("load thread");
    let after = d.stats();

    let mut f = Failures::default();
    let lost = seen.iter().filter(|(_, a)| a.is_none()).count();
    let mut wrong = 0;
    let mut by_gen = [[0usize; 2]; 2];
    for (i, a) in &seen {
        let Some(a) = a else { continue };
        match (0..2).find(|&g| expected[g][*i] == *a) {
            Some(g) => by_gen[*i][g] += 1,
            None => {
                wrong += 1;
                if wrong <= 5 {
                    f.check(false, || {
                        format!(
                            "{}: {a:?} is neither {:?} nor {:?}",
                            names[*i], expected[0][*i], expected[1][*i]
                        )
                    });
                }
            }
        }
    }
    times.sort();
    eprintln!(
        "RELOAD UNDER LOAD: {} queries, {lost} lost, {wrong} wrong, answers by generation \
         {by_gen:?}; {RELOADS} reloads, gslb reload median {:?}, max {:?}",
        seen.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    f.check(lost == 0, || format!("{lost} queries lost"));
    f.check(wrong == 0, || format!("{wrong} wrong answers"));
    f.check(by_gen.iter().flatten().all(|&n| n > 0), || {
        format!("not every name answered from both configs: {by_gen:?}")
    });
    let answered = before.delta_of(&after, "xdp_answered");
    let queries = seen.len() as u64;
    // A name entry rewritten while the program reads it makes the
    // reader pass the query (the slow path answers it): rare.
    f.check(
        answered <= queries && answered * 100 >= queries * 99,
        || {
            format!(
                "xdp_answered +{answered} of {queries} queries (want at least 99% in XDP); \
             changes: {:?}",
                before.delta(&after)
            )
        },
    );
    let st = d.status_json();
    f.check(st["reload"]["ok"] == (RELOADS + 2) as u64, || {
        format!("status reload counters: {}", st["reload"])
    });
    f.assert_none();
}

/// A syntax error and a pool naming an unknown server: `gslb reload`
/// exits 1 naming FILE:LINE:COLUMN, the old answers are still served by
/// XDP, the refusal is counted; the next good config applies.
#[test]
fn broken_configs_are_refused_and_the_old_one_keeps_serving() {
    let net = Net::new("reload_broken");
    let good = config(&net, 0, 500);
    let d = start(&net, &good);
    let old = answer(&net, "www.example.test").expect("an answer");
    let file = d.log.with_extension("toml");
    let mut f = Failures::default();
    let broken = [
        (
            "a syntax error",
            good.replace("[[pool]]\nname = \"p\"", "[[pool]\nname = \"p\""),
        ),
        (
            "a pool naming an unknown server",
            good.replace(
                "members = [\"a1\", \"a2\"]",
                "members = [\"a1\", \"nosuch\"]",
            ),
        ),
    ];
    for (what, text) in &broken {
        assert_ne!(text, &good, "{what}: the replacement did not apply");
        d.set_config(text);
        let before = d.stats();
        let out = d.ctl(&["reload"]);
        f.check(out.status.and_then(|s| s.code()) == Some(1), || {
            format!("{what}: gslb reload should exit 1:\n{out}")
        });
        // FILE:LINE:COLUMN of the offending spot.
        let line = text
            .lines()
            .position(|l| l == "[[pool]" || l.contains("nosuch"))
            .map(|i| i + 1);
        let want = format!("{}:{}:", file.display(), line.unwrap_or(0));
        f.check(out.stderr.contains(&want), || {
            format!("{what}: no {want:?} in the error:\n{out}")
        });
        f.check(out.stderr.contains("running config is unchanged"), || {
            format!("{what}: the error should say the old config stays:\n{out}")
        });
        let now = answer(&net, "www.example.test");
        f.check(now.as_ref() == Some(&old), || {
            format!("{what}: www.example.test now {now:?}, want the old {old:?}")
        });
        let after = d.stats();
        f.check(before.delta_of(&after, "xdp_answered") == 1, || {
            format!(
                "{what}: the old answer should come from XDP: {:?}",
                before.delta(&after)
            )
        });
    }
    let st = d.status_json();
    f.check(
        st["reload"]["failed"] == 2 && st["reload"]["ok"] == 0,
        || format!("status reload counters: {}", st["reload"]),
    );
    let text = d.ctl(&["status"]);
    f.check(
        text.stdout.contains("reloads: 0 applied, 2 refused"),
        || format!("gslb status has no reload line:\n{text}"),
    );
    d.set_config(&config(&net, 1, 500));
    reload_ok(&d);
    let new = answer(&net, "www.example.test");
    f.check(new.is_some() && new.as_ref() != Some(&old), || {
        format!("after a good reload www.example.test is {new:?} (old {old:?})")
    });
    f.assert_none();
}

/// The maps are sized at start (half again what the start config needs,
/// at least 64 entries): a reload adding 150 answer policies (names of
/// pool `p` with 150 different TTLs, a set each) is refused naming the
/// answer map, and the old answers stay.
#[test]
fn a_config_too_big_for_the_maps_is_refused() {
    let net = Net::new("reload_big");
    let good = config(&net, 0, 500);
    let d = start(&net, &good);
    let old = answer(&net, "www.example.test").expect("an answer");
    let mut big = good.clone();
    for i in 0..150 {
        big.push_str(&format!(
            "\n[[gslb]]\nname = \"big{i}.example.test\"\nttl = {}\npools = [\"p\"]\n",
            100 + i
        ));
    }
    d.set_config(&big);
    let out = d.ctl(&["reload"]);
    let mut f = Failures::default();
    f.check(out.status.and_then(|s| s.code()) == Some(1), || {
        format!("a config too big for the maps should be refused:\n{out}")
    });
    f.check(
        out.stderr.contains("ANSWERS_V4 needs") && out.stderr.contains("restart gslb"),
        || format!("the refusal should name the map and the restart:\n{out}"),
    );
    let now = answer(&net, "www.example.test");
    f.check(now.as_ref() == Some(&old), || {
        format!("www.example.test now {now:?}, want the old {old:?}")
    });
    let big0 = answer(&net, "big0.example.test");
    f.check(big0.is_none(), || {
        format!("big0.example.test answered after a refused reload: {big0:?}")
    });
    f.assert_none();
}

/// A daemon taking `server.listen` from its config (no `--listen`),
/// slow path only: a reload that changes the listen address is refused
/// naming the key and the old answers stay; one that changes only
/// answers applies (a reload without XDP).
#[test]
fn a_changed_listen_address_is_refused() {
    let net = Net::new("reload_listen");
    let dir = std::env::temp_dir().join(format!("gslbt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("reload-listen-{}.toml", net.id));
    let control = dir.join(format!("reload-listen-{}.sock", net.id));
    let listen = |port: u16| {
        config(&net, 0, 500).replace(
            "listen = [\"127.0.0.1:53\"]",
            &format!("listen = [\"{}:{port}\"]", net.srv_v4()),
        )
    };
    std::fs::write(&path, listen(53)).unwrap();
    check_config(&listen(53), "reload listen");
    let mut cmd = net.in_srv(gslb_bin());
    cmd.args(["run", "--no-xdp", "--no-state-file", "--config"])
        .arg(&path)
        .arg("--control")
        .arg(&control)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut daemon = Background::spawn(&mut cmd);
    daemon.wait_stderr("gslb ready", READY_TIMEOUT);
    let reload = || {
        run_bounded(
            Command::new(gslb_bin())
                .args(["reload", "--control"])
                .arg(&control),
            CMD_TIMEOUT,
        )
    };
    let mut f = Failures::default();
    let old = answer(&net, "www.example.test");
    f.check(old.is_some(), || "no answer before the reload".into());
    std::fs::write(&path, listen(5353)).unwrap();
    let out = reload();
    f.check(out.status.and_then(|s| s.code()) == Some(1), || {
        format!("a listen change should be refused:\n{out}")
    });
    f.check(
        out.stderr
            .contains("server.listen changed: restart gslb to apply it"),
        || format!("the refusal should name server.listen:\n{out}"),
    );
    let now = answer(&net, "www.example.test");
    f.check(now == old, || format!("answer now {now:?}, want {old:?}"));
    // Only answers changed: applied, also without XDP.
    std::fs::write(
        &path,
        config(&net, 1, 500).replace(
            "listen = [\"127.0.0.1:53\"]",
            &format!("listen = [\"{}:53\"]", net.srv_v4()),
        ),
    )
    .unwrap();
    let out = reload();
    f.check(
        out.success() && out.stdout.contains("config reloaded"),
        || format!("a reload without XDP failed:\n{out}"),
    );
    let now = answer(&net, "www.example.test");
    f.check(now.is_some() && now != old, || {
        format!("after the reload the answer is {now:?} (old {old:?})")
    });
    let log = daemon.finish(Duration::from_millis(100));
    f.check(log.stderr.contains("config reload refused"), || {
        format!("the refusal is not logged:\n{}", log.stderr)
    });
    for p in [
        path.clone(),
        control.clone(),
        control.with_extension("sock.lock"),
    ] {
        let _ = std::fs::remove_file(p);
    }
    f.assert_none();
}

/// Topology config whose client partition and ECS trust change with the
/// generation: pool `mix` (d1 in dc1, a1 in ams; topology, then global
/// availability, one answer); generation 0 sends 198.19.1.0/24 to ams
/// and ignores ECS, generation 1 sends 198.19.2.0/24 there and trusts
/// every resolver's ECS.
fn topology_config(generation: u8) -> String {
    let (prefix, ecs) = if generation == 0 {
        ("198.19.1.0/24", "none")
    } else {
        ("198.19.2.0/24", "all")
    };
    [
        ZONE.replace(
            "edns_udp_size = 1232",
            &format!("edns_udp_size = 1232\necs = \"{ecs}\""),
        ),
        gslb_tests::config::datacenters(&["ams"]),
        vserver("d1", "198.18.70.1", ""),
        gslb_tests::config::vserver_at("a1", "198.18.70.2", "ams", ""),
        pool(
            "mix",
            &["d1", "a1"],
            "topology",
            1,
            "alternate = \"global_availability\"\n",
        ),
        gslb_table("mix.example.test", "pools = [\"mix\"]"),
        gslb_tests::config::topology(&format!("cidr:{prefix}"), "datacenter:ams", 100),
    ]
    .concat()
}

/// Reloads that move client prefixes between groups (the trie rewritten
/// as a client data reload rewrites it) and switch ECS trust, with two
/// clients querying meanwhile: each gets its old or its new answer, then
/// the new one, from XDP; an ECS option is honoured only once the reload
/// trusts it.
#[test]
fn reloads_move_client_groups_and_ecs_trust() {
    use gslb_tests::clients::add_clients;
    let net = Net::new("reload_groups");
    let (c1, c2) = (
        "198.19.1.10".parse::<IpAddr>().unwrap(),
        "198.19.2.10".parse::<IpAddr>().unwrap(),
    );
    add_clients(&net, [c1, c2]);
    let configs = [topology_config(0), topology_config(1)];
    check_config(&configs[0], "topology gen 0");
    check_config(&configs[1], "topology gen 1");
    let d = start(&net, &configs[0]);
    let (d1, a1) = (
        "198.18.70.1".parse::<IpAddr>().unwrap(),
        "198.18.70.2".parse::<IpAddr>().unwrap(),
    );
    // Per generation: (c1's answer, c2's answer).
    let want = [(a1, d1), (d1, a1)];
    let ask = |c: IpAddr| {
        net.udp_client(c)
            .query(
                net.srv_v4(),
                "mix.example.test",
                RecordType::A,
                QUERY_TIMEOUT,
            )
            .filter(|r| r.rcode == "NOERROR")
            .and_then(|r| r.addrs.first().copied())
    };
    let mut f = Failures::default();
    let before = d.stats();
    let mut queries = 0u64;
    for k in 0..10usize {
        let gen = (k + 1) % 2;
        let old = want[1 - gen];
        d.set_config(&configs[gen]);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_load = Arc::clone(&stop);
        let (s1, s2) = (net.udp_client(c1), net.udp_client(c2));
        let server = net.srv_v4();
        let load = thread::spawn(move || {
            let mut seen = Vec::new();
            let t0 = Instant::now();
            while !stop_load.load(Ordering::Relaxed)
                && seen.len() < 20_000
                && t0.elapsed() < Duration::from_secs(10)
            {
                for (i, s) in [&s1, &s2].into_iter().enumerate() {
                    let r = s.query(server, "mix.example.test", RecordType::A, QUERY_TIMEOUT);
                    seen.push((i, r.and_then(|r| r.addrs.first().copied())));
                }
            }
            seen
        });
        thread::sleep(Duration::from_millis(50));
        reload_ok(&d);
        thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let seen = load.join().expect("load thread");
        queries += seen.len() as u64;
        let new = want[gen];
        for (i, got) in &seen {
            let (o, n) = if *i == 0 {
                (old.0, new.0)
            } else {
                (old.1, new.1)
            };
            f.check(*got == Some(o) || *got == Some(n), || {
                format!("reload {k}: client {i} got {got:?}, want {o} or {n}")
            });
        }
        let now = (ask(c1), ask(c2));
        queries += 2;
        f.check(now == (Some(new.0), Some(new.1)), || {
            format!("after reload {k} (generation {gen}): {now:?}, want {new:?}")
        });
    }
    let after = d.stats();
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered * 100 >= queries * 99, || {
        format!(
            "xdp_answered +{answered} of {queries} (want at least 99%): {:?}",
            before.delta(&after)
        )
    });
    // Generation 0 now (ECS ignored): c2 asking for 198.19.1.0/24 gets
    // its own answer; generation 1 trusts ECS: the same query gets the
    // answer of 198.19.1.0/24 there (d1), where its own would be a1.
    let ecs = || {
        let r = net.dig(
            net.srv_v4(),
            "mix.example.test",
            "A",
            &["-b", &c2.to_string(), "+subnet=198.19.1.0/24"],
        );
        r.answer.first().map(|rr| rr.rdata.clone())
    };
    let got = ecs();
    f.check(got == Some(d1.to_string()), || {
        format!("generation 0, ECS ignored: {got:?}")
    });
    d.set_config(&configs[1]);
    reload_ok(&d);
    let got = ecs();
    f.check(got == Some(d1.to_string()), || {
        format!("generation 1, ECS trusted: {got:?}")
    });
    let plain = ask(c2);
    f.check(plain == Some(a1), || {
        format!("generation 1 without ECS: c2 got {plain:?}, want a1")
    });
    f.assert_none();
}

/// SIGHUP reloads. Across it (and a reload that restarts the dead
/// monitor with another interval), `dr` stays drained, `dn` (down by its
/// monitor) stays down with no health change logged, keep.example.test
/// keeps answering only k1, and a client's persistence record survives
/// with its server and age.
#[test]
fn sighup_reloads_and_server_state_and_persistence_survive() {
    let net = Net::new("reload_hup");
    let d = start(&net, &config(&net, 0, 500));
    let mut f = Failures::default();
    let k1 = net.v4(107);
    // dn goes down by its monitor (fall = 1), dr is drained.
    wait_availability(&d, "dn", "down", Duration::from_secs(5));
    d.server_admin("drain", "dr");
    let keep = answer(&net, "keep.example.test");
    f.check(keep == Some(vec![k1]), || {
        format!("keep.example.test {keep:?}, want only k1 (dn down, dr drained)")
    });
    // A persistence record from the client's /24.
    let sticky = answer(&net, "sticky.example.test").expect("an answer");
    let records = |d: &Daemon<'_>| -> Vec<serde_json::Value> {
        let out = d.ctl(&["persist", "list", "--json"]);
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        v["records"].as_array().cloned().unwrap_or_default()
    };
    let before = records(&d);
    f.check(before.len() == 1, || format!("records before: {before:?}"));
    let made = Instant::now();
    let health_changes = |d: &Daemon<'_>| {
        d.log_text()
            .lines()
            .filter(|l| l.contains("health changed") && l.contains("server=dn"))
            .count()
    };
    let changes_before = health_changes(&d);

    // SIGHUP with generation 1 (www and fixed change, the dead monitor
    // probes at another interval).
    d.set_config(&config(&net, 1, 700));
    let hup = run_bounded(
        Command::new("kill").args(["-HUP", &d.pid().to_string()]),
        CMD_TIMEOUT,
    );
    assert!(hup.success(), "{hup}");
    d.wait_log("SIGHUP: config reloaded", Duration::from_secs(10));
    let www = answer(&net, "www.example.test");
    f.check(
        www.as_ref().and_then(|a| a.first()) == Some(&net.v4(103)),
        || format!("after SIGHUP www.example.test is {www:?}, want b1 first"),
    );
    // Then a control-socket reload back.
    d.set_config(&config(&net, 0, 500));
    let out = reload_ok(&d);
    f.check(out.contains("changed"), || format!("reload output: {out}"));
    let st = d.status_json();
    let dn = status_server(&st, "dn");
    let dr = status_server(&st, "dr");
    f.check(
        dn["health"] == "down" && dn["availability"] == "down",
        || format!("dn after the reloads: {dn}"),
    );
    f.check(dr["admin"] == "draining", || {
        format!("dr after the reloads: {dr}")
    });
    f.check(health_changes(&d) == changes_before, || {
        format!(
            "dn's health changed during the reloads (a flap):\n{}",
            d.log_text()
        )
    });
    let keep = answer(&net, "keep.example.test");
    f.check(keep == Some(vec![k1]), || {
        format!("keep.example.test after the reloads {keep:?}, want only k1")
    });
    let after = records(&d);
    let same = after.len() == 1
        && after[0]["server"] == before[0]["server"]
        && after[0]["client"] == before[0]["client"]
        && after[0]["age_s"].as_f64().unwrap_or(0.0) + 0.5 >= made.elapsed().as_secs_f64() - 1.0;
    f.check(same, || {
        format!("the persistence record did not survive: before {before:?}, after {after:?}")
    });
    for _ in 0..3 {
        let again = answer(&net, "sticky.example.test").expect("an answer");
        f.check(again.first() == sticky.first(), || {
            format!("sticky.example.test now {again:?}, was {sticky:?}")
        });
    }
    f.assert_none();
}
