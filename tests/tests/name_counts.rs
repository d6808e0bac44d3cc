//! Answers handed out per gslb name: the XDP program's count
//! (`NAME_ANSWERS`) and the slow path's, summed in `gslb status --json`,
//! and kept across a config reload.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test name_counts`.

use std::time::Duration;

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{
        answer_addrs, check_config, dead_monitor, dead_server, start_with, v4, Failures, ZONE,
    },
    netns::Net,
};
use hickory_proto::rr::RecordType;
use serde_json::Value;

/// Two gslb names, each with a pool of its own.
fn config() -> String {
    [
        ZONE.to_string(),
        vserver("c_one", "198.18.61.1", ""),
        vserver("c_two", "198.18.61.2", ""),
        pool("p_one", &["c_one"], "round_robin", 1, ""),
        pool("p_two", &["c_two"], "round_robin", 1, ""),
        gslb("one.example.test", 30, &["p_one"], ""),
        gslb("two.example.test", 30, &["p_two"], ""),
    ]
    .concat()
}

/// `answers` of gslb name `name` in `gslb status --json`.
fn answers(status: &Value, name: &str) -> Option<u64> {
    status["names"]
        .as_array()?
        .iter()
        .find(|n| n["name"].as_str() == Some(name))?["answers"]
        .as_u64()
}

/// UDP queries answered by XDP (the counters prove it) and TCP queries
/// answered by the slow path, for two names: `gslb status --json` gives
/// each name the sum of both, and a NODATA or a query of another name is
/// not counted. After a reload that adds a third name, the two keep
/// counting from where they were and the new one starts at zero.
#[test]
fn status_counts_answers_per_name_from_both_paths() {
    let net = Net::new("name_counts");
    let config = config();
    check_config(&config, "name_counts");
    let d = start_with(&net, &config, false);
    let mut f = Failures::default();
    let want = [
        ("one.example.test", v4("198.18.61.1"), 7, 3),
        ("two.example.test", v4("198.18.61.2"), 4, 2),
    ];

    let st = d.status_json();
    for (name, ..) in want {
        f.check(answers(&st, &format!("{name}.")) == Some(0), || {
            format!("{name}: answers before any query: {st:#}")
        });
    }

    let client = net.udp_client(net.cli_v4());
    let before = d.stats();
    for (name, addr, udp, _) in want {
        for i in 0..udp {
            let r = client.query(net.srv_v4(), name, RecordType::A, Duration::from_secs(1));
            let got = r.as_ref().map(|r| r.addrs.clone());
            f.check(got.as_deref() == Some(&[addr][..]), || {
                format!("{name} UDP query {i}: {got:?}, want [{addr}]")
            });
        }
    }
    // AAAA: NODATA (the pools have no IPv6 server): not an answer.
    let r = client.query(
        net.srv_v4(),
        "one.example.test",
        RecordType::AAAA,
        Duration::from_secs(1),
    );
    f.check(r.is_some(), || "one.example.test AAAA: no reply".into());
    let after = d.stats();
    let udp_total: u64 = want.iter().map(|w| w.2).sum();
    f.check(
        before.delta_of(&after, "xdp_answered") == udp_total + 1,
        || {
            format!(
                "XDP answered {} of the {} UDP queries: {:?}",
                before.delta_of(&after, "xdp_answered"),
                udp_total + 1,
                before.delta(&after)
            )
        },
    );

    for (name, addr, _, tcp) in want {
        for i in 0..tcp {
            let r = net.dig(net.srv_v4(), name, "A", &["+tcp"]);
            f.check(answer_addrs(&r) == [addr], || {
                format!("{name} TCP query {i}: {:?}\n{}", answer_addrs(&r), r.raw)
            });
        }
    }

    let st = d.status_json();
    for (name, _, udp, tcp) in want {
        let got = answers(&st, &format!("{name}."));
        f.check(got == Some(udp + tcp), || {
            format!(
                "{name}: answers {got:?}, want {} ({udp} XDP + {tcp} TCP)\n{st:#}",
                udp + tcp
            )
        });
    }

    // A reload that adds a name: the others' counts go on, the new one
    // starts at zero.
    let three = gslb("three.example.test", 30, &["p_one"], "");
    d.set_config(&(config.clone() + &three));
    let out = d.ctl(&["reload"]);
    f.check(out.success(), || format!("gslb reload failed:\n{out}"));
    for i in 0..5 {
        let r = client.query(
            net.srv_v4(),
            "one.example.test",
            RecordType::A,
            Duration::from_secs(1),
        );
        f.check(r.is_some_and(|r| r.addrs == [want[0].1]), || {
            format!("one.example.test after the reload, query {i}: no answer or a wrong one")
        });
    }
    let st = d.status_json();
    let got: Vec<Option<u64>> = ["one", "two", "three"]
        .iter()
        .map(|n| answers(&st, &format!("{n}.example.test.")))
        .collect();
    f.check(got == [Some(7 + 3 + 5), Some(4 + 2), Some(0)], || {
        format!("answers after the reload {got:?}, want [15, 6, 0]\n{st:#}")
    });
    f.assert_none();
}

/// Names with pools answered with fixed addresses (their pools'
/// `fallback_ip`, the one member down from the start): the name entry
/// holds those answers inline and the counter id in its `a` field, and
/// the XDP program counts them as any other: `fb2.` with two A addresses
/// and no AAAA (NODATA, not counted), `fb1.` with one A and one AAAA
/// address (the pair form).
#[test]
fn fixed_answers_of_counted_names_are_counted() {
    let net = Net::new("name_counts_fixed");
    let fallback =
        |addrs: &str| format!("when_all_down = \"fallback_ip\"\nfallback_ip = [{addrs}]\n");
    let config = [
        ZONE.to_string(),
        dead_monitor(&net),
        dead_server(&net, "d_one", "198.18.63.1"),
        pool(
            "p_fb2",
            &["d_one"],
            "round_robin",
            2,
            &fallback(r#""198.18.63.8", "198.18.63.9""#),
        ),
        pool(
            "p_fb1",
            &["d_one"],
            "round_robin",
            1,
            &fallback(r#""198.18.63.7", "2001:db8:63::7""#),
        ),
        gslb("fb2.example.test", 30, &["p_fb2"], ""),
        gslb("fb1.example.test", 30, &["p_fb1"], ""),
    ]
    .concat();
    check_config(&config, "name_counts_fixed");
    let d = start_with(&net, &config, false);
    let mut f = Failures::default();
    let v6 = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
    // (name, type, answer, queries)
    let queries = [
        (
            "fb2.example.test",
            RecordType::A,
            vec![v4("198.18.63.8"), v4("198.18.63.9")],
            3,
        ),
        ("fb2.example.test", RecordType::AAAA, vec![], 1),
        (
            "fb1.example.test",
            RecordType::A,
            vec![v4("198.18.63.7")],
            2,
        ),
        (
            "fb1.example.test",
            RecordType::AAAA,
            vec![v6("2001:db8:63::7")],
            2,
        ),
    ];
    let client = net.udp_client(net.cli_v4());
    let before = d.stats();
    for (name, qtype, want, n) in &queries {
        for i in 0..*n {
            let r = client.query(net.srv_v4(), name, *qtype, Duration::from_secs(1));
            let got = r.as_ref().map(|r| r.addrs.clone());
            f.check(got.as_ref() == Some(want), || {
                format!("{name} {qtype} query {i}: {got:?}, want {want:?}")
            });
        }
    }
    let after = d.stats();
    let total: u64 = queries.iter().map(|q| q.3).sum();
    f.check(before.delta_of(&after, "xdp_answered") == total, || {
        format!(
            "XDP answered {} of the {total} queries: {:?}",
            before.delta_of(&after, "xdp_answered"),
            before.delta(&after)
        )
    });
    let st = d.status_json();
    let got: Vec<Option<u64>> = ["fb2", "fb1"]
        .iter()
        .map(|n| answers(&st, &format!("{n}.example.test.")))
        .collect();
    f.check(got == [Some(3), Some(4)], || {
        format!("answers {got:?}, want [3, 4]\n{st:#}")
    });
    f.assert_none();
}
