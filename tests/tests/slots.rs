//! `NAME_SLOTS`, the fast path's table of short names, through
//! BPF_PROG_TEST_RUN: names that find no free slot are answered from
//! `NAMES_32`, a rewritten slot answers the new entry, a removed name
//! leaves a tombstone that later probes walk past.

use std::net::Ipv4Addr;

use aya::programs::{TestRun, TestRunOptions, Xdp};
use gslb::{
    config,
    fastpath::{
        loader as xdp,
        maps::{capacities, Maps},
    },
    state::{
        decision::{AnswerSet, Decision},
        model::State,
    },
};
use gslb_common::maps::NAME_SLOTS;
use gslb_tests::packet::{parse_reply, query, Frame};
use hickory_proto::{
    op::ResponseCode,
    rr::{LowerName, Name, RData, RecordType},
};

const XDP_TX: u32 = 3;
const NAMES: usize = 200;

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1 + (i / 250) as u8, (i % 250) as u8)
}

fn config(names: usize) -> String {
    let mut c = String::from(
        "[server]\nlisten = [\"198.18.0.1:53\"]\ninterfaces = []\n\n\
         [[zone]]\nname = \"example.test\"\nns = [\"ns1.example.net.\"]\n\
         [zone.soa]\nmname = \"ns1.example.test.\"\nrname = \"hostmaster.example.test.\"\n\
         serial = 1\nminimum = 60\n\n",
    );
    for i in 0..names {
        c.push_str(&format!(
            "[[gslb]]\nname = \"g{i}.example.test\"\nttl = 30\na = [\"{}\"]\n\n",
            addr(i)
        ));
    }
    c
}

/// Loads the object with a 64-slot table, fills it for `state`.
fn load(state: &State) -> (aya::Ebpf, Maps) {
    let mut caps = capacities(Some(state));
    for (map, n) in &mut caps {
        if *map == NAME_SLOTS {
            *n = 64;
        }
        if *map == "NAMES_32" {
            *n = 512;
        }
    }
    let mut ebpf = xdp::load_sized(&caps).expect("load object");
    let mut maps = Maps::new(&mut ebpf).expect("maps");
    maps.sync(state).expect("sync");
    xdp::load_program(&mut ebpf, xdp::PROGRAM).expect("verifier");
    (ebpf, maps)
}

/// Runs one query; `Some((rcode, A addresses))` when XDP answered it.
fn ask(ebpf: &aya::Ebpf, name: &str) -> Option<(ResponseCode, Vec<Ipv4Addr>)> {
    let frame = Frame::default();
    let input = frame.build(&query(name, RecordType::A, None).to_vec().unwrap());
    let prog: &Xdp = ebpf.program(xdp::PROGRAM).unwrap().try_into().unwrap();
    let mut out = vec![0u8; 4096];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(&input),
            data_out: Some(&mut out),
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    if r.return_value != XDP_TX {
        return None;
    }
    out.truncate(r.data_size_out as usize);
    let reply = parse_reply(&frame, &out);
    let addrs = reply
        .msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    Some((reply.msg.metadata.response_code, addrs))
}

fn state(names: usize) -> State {
    State::from_config(&config::parse(&config(names), "slots test").expect("config"))
}

#[test]
fn names_without_a_free_slot_are_answered_from_the_hash_map() {
    // 200 names in 64 slots: most overflow into NAMES_32.
    let state = state(NAMES);
    let (ebpf, _maps) = load(&state);
    for i in 0..NAMES {
        let got = ask(&ebpf, &format!("g{i}.example.test."));
        assert_eq!(got, Some((ResponseCode::NoError, vec![addr(i)])), "g{i}");
    }
    let nx = ask(&ebpf, "nx.example.test.");
    assert_eq!(nx, Some((ResponseCode::NXDomain, vec![])));
}

#[test]
fn overflowed_names_and_nxdomain_with_empty_slots_left() {
    // 56 names in 64 slots: some find their 8 slots taken and go to
    // NAMES_32 while empty slots remain. A probe that meets an empty slot
    // ends the lookup (NXDOMAIN without a hash map lookup); one that finds
    // its slots all taken goes on to NAMES_32.
    let state = state(56);
    let (ebpf, maps) = load(&state);
    assert!(maps.slot_overflow() > 0, "no name overflowed");
    for i in 0..56 {
        let got = ask(&ebpf, &format!("g{i}.example.test."));
        assert_eq!(got, Some((ResponseCode::NoError, vec![addr(i)])), "g{i}");
    }
    for i in 56..400 {
        let got = ask(&ebpf, &format!("g{i}.example.test."));
        assert_eq!(got, Some((ResponseCode::NXDomain, vec![])), "g{i}");
    }
}

#[test]
fn rewritten_and_removed_slots() {
    // 40 names in 64 slots: all placed, with probe chains.
    let full = state(40);
    let (ebpf, mut maps) = load(&full);
    // A new answer for every name, written in place.
    for (i, g) in full.gslb.iter().enumerate() {
        let new = addr(100 + i);
        g.set(
            Decision::Answer(AnswerSet::ordered(30, vec![new.into()])),
            Decision::NoSet,
        );
        maps.update(&[g]).expect("update");
    }
    for i in 0..40 {
        let got = ask(&ebpf, &format!("g{i}.example.test."));
        assert_eq!(
            got,
            Some((ResponseCode::NoError, vec![addr(100 + i)])),
            "g{i}"
        );
    }
    // Remove every other name: its slot becomes a tombstone; the names
    // left are still found past it, the removed ones are NXDOMAIN.
    let half = State::from_config(
        &config::parse(
            &config(40)
                .split("[[gslb]]")
                .enumerate()
                .filter(|(k, _)| *k == 0 || k % 2 == 0)
                .map(|(_, part)| part)
                .collect::<Vec<_>>()
                .join("[[gslb]]"),
            "half",
        )
        .expect("config"),
    );
    maps.sync(&half).expect("sync");
    for i in 0..40 {
        let name = format!("g{i}.example.test.");
        let kept = half
            .gslb_name(&LowerName::new(&Name::from_ascii(&name).unwrap()))
            .is_some();
        let got = ask(&ebpf, &name);
        if kept {
            assert_eq!(got, Some((ResponseCode::NoError, vec![addr(i)])), "{name}");
        } else {
            assert_eq!(got, Some((ResponseCode::NXDomain, vec![])), "{name}");
        }
    }
}

#[test]
fn a_slot_rewritten_meanwhile_is_never_read_half_written() {
    // One thread rewrites g0's answer back and forth between two addresses
    // that differ in every byte; the program, run meanwhile, must answer
    // one of the two or pass the query (sequence byte odd or changed).
    let st = state(8);
    let (ebpf, mut maps) = load(&st);
    let g = st.gslb[0].clone();
    let (one, two) = (
        Ipv4Addr::new(198, 18, 1, 1),
        Ipv4Addr::new(198, 19, 254, 254),
    );
    // Start from `one`, not the configured address.
    g.set(
        Decision::Answer(AnswerSet::ordered(30, vec![one.into()])),
        Decision::NoSet,
    );
    maps.update(&[&g]).expect("update");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 50_000_000 {
                let a = if n.is_multiple_of(2) { one } else { two };
                g.set(
                    Decision::Answer(AnswerSet::ordered(30, vec![a.into()])),
                    Decision::NoSet,
                );
                maps.update(&[&g]).expect("update");
                n += 1;
            }
            n
        })
    };
    let (mut answered, mut passed) = (0u32, 0u32);
    for _ in 0..20_000 {
        match ask(&ebpf, "g0.example.test.") {
            Some((ResponseCode::NoError, a)) => {
                assert!(a == vec![one] || a == vec![two], "torn answer {a:?}");
                answered += 1;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => passed += 1,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    assert!(writes > 1000, "the writer ran ({writes} writes)");
    assert!(answered > 0, "answered {answered}, passed {passed}");
}
