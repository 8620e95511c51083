//! Reading a test vector file and running its cases: what the JFrame and LiveKit
//! vector tests share.

#![allow(dead_code)] // each vector test uses its own part of this

use std::path::PathBuf;

use serde_json::Value;

pub type Check = Result<(), String>;

/// The file named by the environment variable `var`, else `tests/vectors/<file>`: the
/// vectors made by the references, kept with the tests.
pub fn path(var: &str, file: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(file),
    }
}

pub fn hex_field(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    let text = v[field].as_str().ok_or_else(|| format!("{field} is not a hex string"))?;
    hex::decode(text).map_err(|e| format!("{field}: {e}"))
}

pub fn u32_field(v: &Value, field: &str) -> Result<u32, String> {
    v[field].as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("{field} is not a u32"))
}

pub fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

pub fn steps(case: &Value) -> &[Value] {
    case["steps"].as_array().map_or(&[], Vec::as_slice)
}

/// Runs every case of the file: `skip` says why a case cannot be run, `run` checks one.
/// Prints a line per failing or skipped case and the closing `<label>: N passed, M failed,
/// K skipped`; exits non-zero when a case failed or none passed.
pub fn run_all(
    label: &str,
    path: &std::path::Path,
    skip: impl Fn(&Value) -> Option<String>,
    mut run: impl FnMut(&Value) -> Check,
) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read vectors at {}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in file["cases"].as_array().map_or(&[][..], Vec::as_slice) {
        let id = case["id"].as_str().unwrap_or("<no id>");
        if let Some(why) = skip(case) {
            println!("skip {id}: {why}");
            skipped += 1;
            continue;
        }
        match run(case) {
            Ok(()) => passed += 1,
            Err(why) => {
                println!("FAIL {id}: {why}");
                failed += 1;
            }
        }
    }
    println!("vector file: {}", path.display());
    println!("{label}: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
