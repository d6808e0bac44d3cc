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
    harness::{answer_addrs, check_config, start_with, v4, Failures, ZONE},
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
