//! Tests of `[[datacenter]]`.

use super::*;

#[test]
fn datacenter_errors() {
    let dc = |body: &str| engine_with(&format!("[[datacenter]]\nname = \"nyc\"\n{body}"));
    assert_error_last(
        &dc("lat = 91\nlon = 0\n"),
        "91",
        "latitude 91 is out of range -90..=90",
    );
    assert_error_last(
        &dc("lat = -90\nlon = -180.5\n"),
        "-180.5",
        "longitude -180.5",
    );
    assert_error_last(
        &dc("lat = 0\nlon = 0\ncountry = \"NLD\"\n"),
        "\"NLD\"",
        "ISO 3166",
    );
    assert_error_last(
        &dc("lat = 0\nlon = 0\nregion = \"\"\n"),
        "\"\"",
        "invalid region",
    );
    assert_error_last(&dc("lat = 0\n"), "[[datacenter]]", "missing field `lon`");
    assert_error_last(
        &dc("lat = \"north\"\nlon = 0\n"),
        "\"north\"",
        "invalid type",
    );
    assert!(parse(&dc("lat = 0\nlon = 0\ncountry = \"us\"\n"), "t").is_ok());
    assert_error_last(
        &engine_with("[[datacenter]]\nname = \"ams\"\nlat = 0\nlon = 0\n"),
        "\"ams\"",
        "duplicate [[datacenter]] name `ams` (first defined at 11:8)",
    );
    assert_error_last(
        &engine_with("[[datacenter]]\nname = \"new york\"\nlat = 0\nlon = 0\n"),
        "\"new york\"",
        "invalid [[datacenter]] name `new york`",
    );
    assert_error_last(
        &engine_with(&format!(
            "[[datacenter]]\nname = \"{}\"\nlat = 0\nlon = 0\n",
            "x".repeat(65)
        )),
        "\"xxx",
        "1 to 64 letters",
    );
}
