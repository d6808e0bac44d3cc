//! Tests of `[api]`.

use super::*;

fn api(body: &str) -> String {
    zone_with(&format!("[api]\n{body}"))
}

#[test]
fn api_absent_is_none_and_defaults() {
    let cfg = parse(ZONE, "t.toml").expect("valid");
    assert_eq!(cfg.api, None);
    let cfg = parse(&api(""), "t.toml").expect("valid");
    let a = cfg.api.expect("[api] present");
    assert_eq!(a.listen, DEFAULT_API_LISTEN);
    assert_eq!(a.listen.to_string(), "127.0.0.1:8053");
    assert_eq!(a.token, None);
    assert!(!a.read_only_without_token);
}

#[test]
fn api_listen_token_and_read_only() {
    let cfg = parse(
        &api("listen = \"[::1]:9000\"\ntoken = \"abc-123\"\nread_only_without_token = true\n"),
        "t.toml",
    )
    .expect("valid");
    let a = cfg.api.unwrap();
    assert_eq!(a.listen, "[::1]:9000".parse::<SocketAddr>().unwrap());
    assert!(a.token.as_ref().unwrap().matches("abc-123"));
    assert!(a.read_only_without_token);
    // The token never shows in the config's Debug form (logs).
    let dbg = format!("{:?}", a);
    assert!(!dbg.contains("abc-123"), "{dbg}");
}

#[test]
fn api_token_file_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("gslb-api-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("api.token"), "from-the-file\n").unwrap();
    let config = dir.join("gslb.toml");
    std::fs::write(&config, api("token_file = \"api.token\"\n")).unwrap();
    let cfg = load(&config).expect("valid");
    assert!(cfg.api.unwrap().token.unwrap().matches("from-the-file"));
    // Unreadable, empty and not-a-token files are errors at the key.
    let text = api("token_file = \"missing.token\"\n");
    let offset = text.find("\"missing.token\"").unwrap();
    let (line, column) = position(&text, offset);
    std::fs::write(&config, &text).unwrap();
    let e = load(&config).expect_err("missing file").to_string();
    let origin = config.display().to_string();
    assert!(
        e.starts_with(&format!(
            "{origin}:{line}:{column}: cannot read api.token_file"
        )),
        "{e}"
    );
    for (content, contains) in [("", "is empty"), ("two words\n", "visible ASCII")] {
        std::fs::write(dir.join("bad.token"), content).unwrap();
        std::fs::write(&config, api("token_file = \"bad.token\"\n")).unwrap();
        let e = load(&config).expect_err(content).to_string();
        assert!(e.contains(contains), "{content:?}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn api_errors_with_positions() {
    for (body, at, contains) in [
        (
            "listen = \"localhost:8053\"\n",
            "\"localhost",
            "invalid api.listen",
        ),
        (
            "listen = \"127.0.0.1\"\n",
            "\"127.0.0.1\"",
            "expected IP:PORT",
        ),
        ("token = \"\"\n", "\"\"", "api.token is empty"),
        ("token = \"a b\"\n", "\"a b\"", "visible ASCII"),
        (
            "token = \"x\"\ntoken_file = \"/etc/t\"\n",
            "\"/etc/t\"",
            "both set",
        ),
        (
            "read_only = true\n",
            "read_only",
            "unknown field `read_only`",
        ),
    ] {
        assert_error_last(&api(body), at, contains);
    }
    assert_error_last(
        &api("read_only_without_token = \"yes\"\n"),
        "\"yes\"",
        "invalid type",
    );
}
