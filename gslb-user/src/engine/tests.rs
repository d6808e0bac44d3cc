//! The engine's per-server state across a config change: it follows the
//! server (its name, hence its id), not the server's position.

use std::time::SystemTime;

use super::*;
use crate::{config, health::Probe};

/// A config with the vservers `names`, all in one round-robin pool with
/// one TCP monitor each, answering `www.example.test`.
fn config_with(names: &[&str]) -> Config {
    config_of(names, &["www"])
}

/// [`config_with`] with the gslb names `gslb` (in `example.test`).
fn config_of(names: &[&str], gslb: &[&str]) -> Config {
    let mut text = String::from(
        "[[zone]]\nname = \"example.test\"\nns = [\"ns1.example.test.\"]\n\
         [zone.soa]\nrname = \"hostmaster.example.test.\"\n\
         [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"198.18.0.53\"\n\
         [[datacenter]]\nname = \"ams\"\nlat = 52.37\nlon = 4.9\n\
         [[monitor]]\nname = \"m\"\ntype = \"tcp\"\nport = 80\n",
    );
    for (i, n) in names.iter().enumerate() {
        text += &format!(
            "[[vserver]]\nname = \"{n}\"\ndatacenter = \"ams\"\naddress = \"198.18.20.{}\"\n\
             monitors = [\"m\"]\n",
            i + 1
        );
    }
    let members: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    text += &format!(
        "[[pool]]\nname = \"p\"\nmembers = [{}]\npreferred = \"round_robin\"\n",
        members.join(", ")
    );
    for g in gslb {
        text += &format!("[[gslb]]\nname = \"{g}.example.test\"\nttl = 30\npools = [\"p\"]\n");
    }
    config::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"))
}

fn engine(cfg: Config) -> Engine {
    let state = Arc::new(ArcSwap::from_pointee(State::from_config(&cfg)));
    Engine::new(Arc::new(cfg), state, None, None)
}

fn id_of(e: &Engine, name: &str) -> ServerId {
    e.servers.by_name(name).unwrap()
}

fn down(server: ServerId) -> HealthEvent {
    HealthEvent {
        server,
        monitor: "m".into(),
        probe: Probe {
            ok: false,
            latency: Duration::from_millis(3),
            message: "connect refused".into(),
            at: SystemTime::now(),
        },
        up: false,
        changed: true,
    }
}

fn set_admin(e: &mut Engine, server: &str, state: AdminState) {
    let (reply, mut rx) = oneshot::channel();
    e.on_command(Command::SetAdmin {
        server: server.into(),
        state,
        reply,
    });
    rx.try_recv().unwrap().unwrap();
}

/// Per config position: (name, id, health up, admin, hand-outs in the
/// window, since start).
fn seen(e: &Engine) -> Vec<(String, u16, bool, AdminState, u64, u64)> {
    e.views()
        .iter()
        .zip(e.servers.iter())
        .map(|(v, (_, id, rt))| {
            assert_eq!(v.id, id);
            (
                v.cfg.name.clone(),
                v.id.get(),
                v.health_up,
                v.admin,
                v.hits,
                rt.hits_total,
            )
        })
        .collect()
}

/// A server added before the others, one removed, one renamed: health,
/// admin state and the `fewest_selected` window stay with the servers
/// that are still there, at their new positions; the new and the renamed
/// server start afresh; the removed one's events are ignored.
#[test]
fn server_state_follows_the_server_across_a_config_change() {
    use AdminState::{Disabled, Enabled};
    let mut e = engine(config_with(&["a", "b", "c", "d", "e"]));
    assert_eq!(
        e.server_ids(),
        &[0, 1, 2, 3, 4].map(ServerId),
        "a first config's ids are its positions"
    );
    e.on_health(&down(id_of(&e, "b")));
    set_admin(&mut e, "d", Disabled);
    // Hand-outs by the slow path: c 3, e 5.
    for (name, n) in [("c", 3), ("e", 5)] {
        for _ in 0..n {
            e.slow_hits.count(id_of(&e, name).get());
        }
    }
    e.on_tick();
    let s = |n: &str, id, up, admin, w, t| (n.to_string(), id, up, admin, w, t);
    assert_eq!(
        seen(&e),
        [
            s("a", 0, true, Enabled, 0, 0),
            s("b", 1, false, Enabled, 0, 0),
            s("c", 2, true, Enabled, 3, 3),
            s("d", 3, true, Disabled, 0, 0),
            s("e", 4, true, Enabled, 5, 5),
        ]
    );

    // "n" added first, "c" removed, "e" renamed "e2".
    let old_c = id_of(&e, "c");
    e.reconfigure(Arc::new(config_with(&["n", "a", "b", "d", "e2"])))
        .unwrap();
    assert_eq!(e.server_ids(), &[5, 0, 1, 3, 6].map(ServerId));
    assert_eq!(
        seen(&e),
        [
            s("n", 5, true, Enabled, 0, 0),
            s("a", 0, true, Enabled, 0, 0),
            s("b", 1, false, Enabled, 0, 0),
            s("d", 3, true, Disabled, 0, 0),
            s("e2", 6, true, Enabled, 0, 0),
        ]
    );
    // A late event of the removed server changes nothing.
    e.on_health(&down(old_c));
    // The window goes on per id: the kept servers' counts stay theirs.
    e.slow_hits.count(id_of(&e, "b").get());
    e.slow_hits.count(id_of(&e, "e2").get());
    e.on_tick();
    let after = seen(&e);
    assert_eq!(after[2], s("b", 1, false, Enabled, 1, 1));
    assert_eq!(after[4], s("e2", 6, true, Enabled, 1, 1));
    assert!(after.iter().all(|x| x.0 != "c"));
    // The answer sets carry the ids, so the XDP program counts by them.
    let state = e.state.load();
    let name = state
        .gslb_name(&LowerName::new(
            &Name::from_ascii("www.example.test.").unwrap(),
        ))
        .unwrap();
    let Decision::Answer(set) = &*name.a() else {
        panic!("no answer set: {:?}", name.a());
    };
    // Available: n, a, e2 (b is down, d disabled), in config order.
    assert_eq!(&set.sel.ids[..3], &[5, 0, 6]);
}

/// The window's counts of a kept server survive the change in full: the
/// earlier ticks leave it at the same pace as before.
#[test]
fn the_hand_out_window_of_a_moved_server_is_kept() {
    let mut e = engine(config_with(&["a", "b"]));
    for _ in 0..7 {
        e.slow_hits.count(id_of(&e, "b").get());
    }
    e.on_tick();
    e.reconfigure(Arc::new(config_with(&["b", "x", "a"])))
        .unwrap();
    e.on_tick();
    let after = seen(&e);
    assert_eq!((after[0].0.as_str(), after[0].4, after[0].5), ("b", 7, 7));
    assert_eq!((after[1].0.as_str(), after[1].4), ("x", 0));
}

/// Decisions are kept by (policy id, family, client group): names with
/// identical pools, pool method, last resort pool and TTL share one
/// policy, decided once, whose decisions every name of it reads; a name
/// that differs in one of them (the TTL here) has a policy of its own.
#[test]
fn names_of_one_policy_share_their_decisions() {
    let www = LowerName::new(&Name::from_ascii("www.example.test.").unwrap());
    let api = LowerName::new(&Name::from_ascii("api.example.test.").unwrap());
    let mut cfg = config_of(&["a", "b"], &["api", "www", "img"]);
    cfg.gslb[2].ttl = 60;
    let mut e = engine(cfg);
    e.recompute();
    let key = |policy, family| DecisionKey {
        policy,
        family,
        group: GroupId::DEFAULT,
    };
    // Two policies: {api, www} and {img}.
    assert_eq!(e.dynamic.len(), 2);
    assert_eq!(e.explanations.len(), 4);
    let shared = e.policies.get(&e.dynamic[0].0).unwrap();
    assert_eq!(shared, PolicyId(0));
    let before = e.explanations[&key(shared, Family::V4)].decision.clone();
    assert!(before.contains("198.18.20."), "{before}");
    assert_eq!(e.explained(&www)[0].decision, before);
    assert_eq!(e.explained(&api)[0].decision, before);
    let state = e.state.load();
    let (w, a) = (
        state.gslb_name(&www).unwrap(),
        state.gslb_name(&api).unwrap(),
    );
    let img = state
        .gslb_name(&LowerName::new(
            &Name::from_ascii("img.example.test.").unwrap(),
        ))
        .unwrap();
    assert!(w.shares_decisions(a) && !w.shares_decisions(img));
    assert_eq!(*w.a(), *a.a());
    assert!(matches!(&*img.a(), Decision::Answer(s) if s.sel.ttl == 60));
    // A server going down changes both names at once.
    e.on_health(&down(id_of(&e, "a")));
    let Decision::Answer(set) = &*a.a() else {
        panic!("{:?}", a.a())
    };
    assert_eq!(set.addrs.len(), 1);
    assert_eq!(*w.a(), *a.a());
    // The policy keeps its id when a name is added before its names.
    e.reconfigure(Arc::new(config_of(&["a", "b"], &["new", "api", "www"])))
        .unwrap();
    assert_eq!(e.policies.get(&e.dynamic[0].0), Some(shared));
}
