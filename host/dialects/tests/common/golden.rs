//! What both dialects' golden tests share: a fixture directory per case (`request.json`,
//! `body.json`, `expected.txt`), the comparison with `expected.txt` (or its rewrite under
//! `HOOKBOX_BLESS=1`), how a refused request is written down, and the check that fixture
//! directories and test cases match one to one. Each test binary includes this file with
//! `#[path]`; what a request means and how its outcome is described stay with each dialect.

use std::fmt::Write as _;
use std::path::Path;

use hookbox_dialects::DialectError;
use serde_json::Value;

/// One `#[test]` per case, each calling the including module's `run_case` with its name, and
/// `CASES`, the list of names.
macro_rules! golden_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}
pub(crate) use golden_cases;

/// The bytes of a fixture file.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A case's `request.json` (how the request arrives) and `body.json` (its exact body).
pub(crate) fn request_and_body(dir: &Path) -> (Value, Vec<u8>) {
    let request = serde_json::from_slice(&read(&dir.join("request.json")))
        .unwrap_or_else(|e| panic!("{}/request.json: {e}", dir.display()));
    (request, read(&dir.join("body.json")))
}

/// Asserts that `actual` is the case's `expected.txt`, or rewrites the file with it under
/// `HOOKBOX_BLESS=1`.
pub(crate) fn assert_expected(dir: &Path, actual: &str) {
    let expected_path = dir.join("expected.txt");
    if std::env::var_os("HOOKBOX_BLESS").is_some() {
        std::fs::write(&expected_path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", expected_path.display()));
        return;
    }
    let expected = String::from_utf8(read(&expected_path)).expect("expected.txt is UTF-8");
    assert_eq!(
        actual,
        expected,
        "{}: output differs from expected.txt (HOOKBOX_BLESS=1 rewrites it)",
        dir.display()
    );
}

/// How a refused request reads in `expected.txt`: the error code, the HTTP status, the message.
pub(crate) fn describe_error(out: &mut String, error: &DialectError) {
    let _ = writeln!(out, "error: {}", error.code());
    let _ = writeln!(out, "status: {}", error.status().as_u16());
    let _ = writeln!(out, "message: {error}");
}

/// Asserts that the directories under `fixtures` are exactly `cases`.
pub(crate) fn assert_every_fixture_has_a_case(fixtures: &Path, cases: &[&str]) {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures)
        .expect("fixtures directory")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = cases.iter().map(|c| (*c).to_owned()).collect();
    cases.sort();
    assert_eq!(dirs, cases, "fixture directories and golden tests differ");
}
