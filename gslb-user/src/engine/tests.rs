//! The engine's per-server state across a config change: it follows the
//! server (its name, hence its id), not the server's position.

use std::time::SystemTime;

use super::*;
use crate::{config, health::Probe};

/// A config with the vservers `names`, all in one round-robin pool with
/// one TCP monitor each, answering `www.example.test`.
pub(super) fn config_with(names: &[&str]) -> Config {
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

pub(super) fn engine(cfg: Config) -> Engine {
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

/// Zone, monitor, datacenters ams (eu) and nyc (us), servers a (ams,
/// .1) and b (nyc, .2) with monitor m, then `rest`.
fn client_config(rest: &str) -> Config {
    let text = format!(
        "[[zone]]\nname = \"example.test\"\nns = [\"ns1.example.test.\"]\n\
         [zone.soa]\nrname = \"hostmaster.example.test.\"\n\
         [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"198.18.0.53\"\n\
         [[datacenter]]\nname = \"ams\"\nlat = 52.37\nlon = 4.9\nregion = \"eu\"\n\
         [[datacenter]]\nname = \"nyc\"\nlat = 40.71\nlon = -74.0\nregion = \"us\"\n\
         [[monitor]]\nname = \"m\"\ntype = \"tcp\"\nport = 80\n\
         [[vserver]]\nname = \"a\"\ndatacenter = \"ams\"\naddress = \"198.18.20.1\"\nmonitors = [\"m\"]\n\
         [[vserver]]\nname = \"b\"\ndatacenter = \"nyc\"\naddress = \"198.18.20.2\"\nmonitors = [\"m\"]\n\
         {rest}"
    );
    config::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"))
}

/// The A answer (first response, all addresses' last octets) of `name`
/// for a query from `client` through the slow path's lookup, with the
/// reply's ECS scope.
fn answer_from(e: &Engine, name: &str, client: &str) -> (Vec<u8>, u8) {
    let state = e.state.load();
    let qname = Name::from_ascii(name).unwrap();
    let a = crate::dns::lookup::lookup(
        &state,
        &qname,
        hickory_proto::rr::RecordType::A,
        Some(client.parse().unwrap()),
    );
    let octets = a
        .answers
        .iter()
        .map(|r| match &r.data {
            hickory_proto::rr::RData::A(a) => a.0.octets()[3],
            other => panic!("{other:?}"),
        })
        .collect();
    (octets, a.ecs_scope)
}

/// Member-level `topology`: the members the client's group scores, by
/// score (highest first); a client that matches no rule goes on to the
/// alternate method; scores follow the longest client prefix; health
/// flips apply to every group; names of one policy share the groups'
/// decisions; the reply scope is the length of the client's prefix.
#[test]
fn topology_members_by_client_group() {
    let cfg = client_config(
        "[[pool]]\nname = \"p\"\nmembers = [\"a\", \"b\"]\npreferred = \"topology\"\n\
         alternate = \"global_availability\"\nmax_answers = 2\n\
         [[topology]]\nclient = \"cidr:198.18.128.0/17\"\nserver = \"datacenter:nyc\"\nscore = 100\n\
         [[topology]]\nclient = \"cidr:198.18.128.0/17\"\nserver = \"region:eu\"\nscore = 10\n\
         [[topology]]\nclient = \"cidr:198.18.0.0/16\"\nserver = \"datacenter:ams\"\nscore = 50\n\
         [[gslb]]\nname = \"www.example.test\"\nttl = 30\npools = [\"p\"]\n\
         [[gslb]]\nname = \"api.example.test\"\nttl = 30\npools = [\"p\"]\n",
    );
    let mut e = engine(cfg);
    e.recompute();
    let state = e.state.load();
    // Groups: 0, the /17 and the rest of the /16.
    assert_eq!(state.clients.group_count(), 3);
    let www = "www.example.test.";
    // /17: nyc (100) before ams (10).
    assert_eq!(answer_from(&e, www, "198.18.200.1"), (vec![2, 1], 17));
    // The /16's other half: only ams has a score.
    assert_eq!(answer_from(&e, www, "198.18.1.1"), (vec![1], 17));
    // No rule: the alternate, global availability in pool order.
    let (none, scope) = answer_from(&e, www, "198.19.0.1");
    assert_eq!(none, vec![1, 2]);
    assert!(scope > 0 && scope <= 16, "{scope}");
    // The other name of the policy answers alike.
    assert_eq!(
        answer_from(&e, "api.example.test.", "198.18.200.1").0,
        vec![2, 1]
    );
    // The explanation of the /17's group carries the scores.
    let g = state.client("198.18.200.1".parse().unwrap()).group;
    let [ex, _] = e.explained_for(&LowerName::new(&Name::from_ascii(www).unwrap()), g);
    let scores: Vec<_> = ex.candidates.iter().map(|c| c.score).collect();
    assert_eq!(scores, vec![Some(10), Some(100)]);
    // nyc down: the /17 gets ams only; the rest unchanged.
    e.on_health(&down(id_of(&e, "b")));
    assert_eq!(answer_from(&e, www, "198.18.200.1").0, vec![1]);
    assert_eq!(answer_from(&e, www, "198.18.1.1").0, vec![1]);
    // Both down: every pool down, `when_all_down` (fail_open: every
    // member, in pool order) for every group alike.
    e.on_health(&down(id_of(&e, "a")));
    assert_eq!(answer_from(&e, www, "198.18.1.1").0, vec![1, 2]);
    assert_eq!(answer_from(&e, www, "198.18.200.1").0, vec![1, 2]);
}

/// Pool-level `topology`: pools with a score first (highest first), then
/// the others in config order; a down pool is skipped.
#[test]
fn topology_pools_by_client_group() {
    let cfg = client_config(
        "[[pool]]\nname = \"pa\"\nmembers = [\"a\"]\npreferred = \"global_availability\"\n\
         [[pool]]\nname = \"pb\"\nmembers = [\"b\"]\npreferred = \"global_availability\"\n\
         [[topology]]\nclient = \"cidr:198.18.128.0/17\"\nserver = \"pool:pb\"\nscore = 10\n\
         [[gslb]]\nname = \"www.example.test\"\nttl = 30\npools = [\"pa\", \"pb\"]\n\
         pool_method = \"topology\"\n",
    );
    let mut e = engine(cfg);
    e.recompute();
    let www = "www.example.test.";
    assert_eq!(answer_from(&e, www, "198.18.200.1"), (vec![2], 17));
    assert_eq!(answer_from(&e, www, "198.18.1.1").0, vec![1]);
    let g = e.state.load().client("198.18.200.1".parse().unwrap()).group;
    let [ex, _] = e.explained_for(&LowerName::new(&Name::from_ascii(www).unwrap()), g);
    let scores: Vec<_> = ex
        .pool_scores
        .iter()
        .map(|p| (p.pool.as_str(), p.score))
        .collect();
    assert_eq!(scores, vec![("pb", Some(10)), ("pa", None)]);
    e.on_health(&down(id_of(&e, "b")));
    assert_eq!(answer_from(&e, www, "198.18.200.1").0, vec![1]);
}

/// Member-level `geo_proximity`: members by their datacenter's rank in
/// the group's ranking (nearest first); a profile without a location
/// goes on to the next method.
#[test]
fn geo_proximity_members_by_ranking() {
    let cfg = client_config(
        "[[pool]]\nname = \"p\"\nmembers = [\"a\", \"b\"]\npreferred = \"round_robin\"\n\
         max_answers = 2\n",
    );
    let mut cfg = cfg;
    cfg.pools[0].methods = [
        crate::config::Method::GeoProximity,
        crate::config::Method::RoundRobin,
        crate::config::Method::None,
    ];
    let map = crate::clients::ClientMap::build(&cfg).unwrap();
    let servers = Servers::new(&cfg).unwrap();
    let views = views(&cfg, &servers);
    let g = crate::config::GslbConfig {
        name: Name::from_ascii("www.example.test.").unwrap(),
        ttl: 30,
        a: vec![],
        aaaa: vec![],
        pools: vec!["p".into()],
        pool_method: crate::config::PoolMethod::GlobalAvailability,
        last_resort_pool: None,
    };
    let decide_for = |profile: &crate::clients::Profile| {
        let round = Round {
            servers: &views,
            pools: &cfg.pools,
            round: 0,
            client: Some(ForClient { map: &map, profile }),
        };
        let (d, ex) = decide::decide(&round, &g, Family::V4);
        let Decision::Answer(set) = d else {
            panic!("{d:?}")
        };
        let octets: Vec<u8> = set
            .addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(a) => a.octets()[3],
                IpAddr::V6(_) => 0,
            })
            .collect();
        (octets, set.sel.mode, ex.step.to_string())
    };
    use gslb_common::select::{MODE_ORDERED, MODE_ROUND_ROBIN};
    // nyc (index 1) nearest, then ams.
    let near_nyc = crate::clients::Profile {
        rules: vec![],
        ranking: Some(vec![1, 0]),
    };
    assert_eq!(
        decide_for(&near_nyc),
        (vec![2, 1], MODE_ORDERED, "preferred".into())
    );
    let near_ams = crate::clients::Profile {
        rules: vec![],
        ranking: Some(vec![0, 1]),
    };
    assert_eq!(decide_for(&near_ams).0, vec![1, 2]);
    // No location: the chain goes on to the alternate.
    assert_eq!(
        decide_for(&crate::clients::Profile::default()),
        (vec![1, 2], MODE_ROUND_ROBIN, "alternate".into())
    );
}

/// A health flip with 200 client groups and 4 client-aware policies (and
/// 1,000 names sharing them) recomputes 200 × 4 × 2 decisions once per
/// policy, not per name; it stays well within a few hundred milliseconds
/// even in a debug build (a release build: a few milliseconds).
#[test]
fn a_health_flip_with_200_groups_is_fast() {
    let mut rest = String::from(
        "[[pool]]\nname = \"p\"\nmembers = [\"a\", \"b\"]\npreferred = \"topology\"\n\
         alternate = \"round_robin\"\n",
    );
    for i in 0..200u32 {
        let dc = if i % 2 == 0 { "ams" } else { "nyc" };
        rest += &format!(
            "[[topology]]\nclient = \"cidr:198.18.{}.{}/30\"\nserver = \"datacenter:{dc}\"\n\
             score = {}\n",
            100 + i / 64,
            (i % 64) * 4,
            i + 1
        );
    }
    for n in 0..1000u32 {
        rest += &format!(
            "[[gslb]]\nname = \"n{n}.example.test\"\nttl = {}\npools = [\"p\"]\n",
            30 + n % 4
        );
    }
    let mut e = engine(client_config(&rest));
    e.recompute();
    assert_eq!(e.dynamic.len(), 4);
    assert!(e.state.load().clients.group_count() >= 200);
    let b = id_of(&e, "b");
    let started = std::time::Instant::now();
    e.on_health(&down(b));
    let took = started.elapsed();
    eprintln!(
        "health flip: {} groups x 4 policies x 2 families in {took:?}",
        e.state.load().clients.group_count()
    );
    assert_eq!(
        e.explanations.len(),
        4 * 2 * e.state.load().clients.group_count()
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// Equal scores and equal distances keep the pool's order; members
/// without a score are left out of `topology`'s answer.
#[test]
fn ties_keep_pool_order() {
    let rest = "[[vserver]]\nname = \"c\"\ndatacenter = \"ams\"\naddress = \"198.18.20.3\"\n\
                monitors = [\"m\"]\n\
                [[pool]]\nname = \"p\"\nmembers = [\"c\", \"b\", \"a\"]\npreferred = \"topology\"\n\
                max_answers = 3\n\
                [[topology]]\nclient = \"cidr:198.18.128.0/17\"\nserver = \"datacenter:ams\"\nscore = 10\n\
                [[topology]]\nclient = \"cidr:198.18.0.0/17\"\nserver = \"any\"\nscore = 10\n\
                [[gslb]]\nname = \"www.example.test\"\nttl = 30\npools = [\"p\"]\n";
    let mut e = engine(client_config(rest));
    e.recompute();
    let www = "www.example.test.";
    // ams only: c and a (pool order c, b, a), b has no score.
    assert_eq!(answer_from(&e, www, "198.18.200.1").0, vec![3, 1]);
    // Every member scores 10: pool order.
    assert_eq!(answer_from(&e, www, "198.18.1.1").0, vec![3, 2, 1]);
    // Geo: c and a share ams, so they tie; nyc first when nearest.
    let mut cfg = client_config(rest);
    cfg.pools[0].methods[0] = crate::config::Method::GeoProximity;
    let map = crate::clients::ClientMap::build(&cfg).unwrap();
    let servers = Servers::new(&cfg).unwrap();
    let views = views(&cfg, &servers);
    let profile = crate::clients::Profile {
        rules: vec![],
        ranking: Some(vec![1, 0]),
    };
    let round = Round {
        servers: &views,
        pools: &cfg.pools,
        round: 0,
        client: Some(ForClient {
            map: &map,
            profile: &profile,
        }),
    };
    let (d, _) = decide::decide(&round, &cfg.gslb[0], Family::V4);
    let Decision::Answer(set) = d else {
        panic!("{d:?}")
    };
    let order: Vec<String> = set.addrs.iter().map(ToString::to_string).collect();
    assert_eq!(order, ["198.18.20.2", "198.18.20.3", "198.18.20.1"]);
}
