//! Tests of `[engine]`.

use super::*;

#[test]
fn engine_fewest_selected_window() {
    let cfg = parse(&engine_with(""), "t.toml").expect("valid");
    assert_eq!(
        cfg.engine.fewest_selected_window,
        DEFAULT_FEWEST_SELECTED_WINDOW
    );
    for (text, want) in [
        ("\"5s\"", ms(5000)),
        ("\"10m\"", ms(600_000)),
        ("30", ms(30_000)),
    ] {
        let cfg = parse(
            &engine_with(&format!("[engine]\nfewest_selected_window = {text}\n")),
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{text} rejected:\n{e}"));
        assert_eq!(cfg.engine.fewest_selected_window, want, "{text}");
    }
    for (text, contains) in [
        ("\"500ms\"", "out of range"),
        ("\"11m\"", "out of range"),
        ("\"5\"", "no unit"),
    ] {
        assert_error_last(
            &engine_with(&format!("[engine]\nfewest_selected_window = {text}\n")),
            text,
            contains,
        );
    }
    assert_error_last(
        &engine_with("[engine]\nwindow = \"5s\"\n"),
        "window",
        "unknown field `window`",
    );
}
