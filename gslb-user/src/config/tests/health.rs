//! Tests of `[health]`.

use super::*;

#[test]
fn health_errors() {
    assert_error(
        &engine_with("[health]\ninitial = \"maybe\"\n"),
        "\"maybe\"",
        "invalid initial state `maybe`",
    );
    assert_error(
        &engine_with("[health]\ninterval = 5\n"),
        "interval",
        "unknown field `interval`",
    );
}
