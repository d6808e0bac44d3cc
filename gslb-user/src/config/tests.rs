use super::*;

#[test]
fn default_config_is_valid() {
    let cfg = load_default().unwrap();
    assert_eq!(cfg.zones.len(), 1);
}

#[test]
fn scratch() {
    for t in [
        "[server]\nlisten = [\"1.2.3.4\"]\nbogus = 1\n",
        "[server]\nlisten = 5\n",
        "[[zone]]\nttl = 5\n",
        "[[zone]]\nname = \"a.test\"\nns=[\"ns1\"]\n[[zone.record]]\nname=\"ns1\"\ntype=\"A\"\ndata=\"1.2.3.4\"\nfoo=1\n",
        "x = \n",
        "[[zone]]\nname = \"a.test\"\nns=[\"ns1\"]\n[[zone.record]]\nname=\"ns1\"\ntype=\"TXT\"\ndata='\"hello world\" two'\n[[zone.record]]\nname=\"ns1\"\ntype=\"A\"\ndata='1.2.3.4'\n[[zone.record]]\nname=\"x\"\ntype=\"CAA\"\ndata='0 issue \"ca.example.net; x=y\"'\n",
    ] {
        match parse(t, "t.toml") {
            Ok(c) => println!("OK {:?}", c.zones.first().map(|z| z.records.iter().map(|r| r.to_string()).collect::<Vec<_>>())),
            Err(e) => println!("ERR {e}"),
        }
    }
}
