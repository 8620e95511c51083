//! The call bot's pure parts (`bot/jframebot/jingle.py`, `bot/jframebot/session.py`): runs their unit tests in
//! `bot/tests/` with Debian's `/usr/bin/python3` and passes when every case passes. No plugin is needed.

use std::path::Path;
use std::process::Command;

/// Runs a test file of `bot/tests/`; passes when its last line is `N passed, 0 failed` with N > 0.
fn run_cases(file: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot/tests").join(file);
    let output = Command::new("/usr/bin/python3")
        .arg(&script)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps installs python3-gi and python3-gst-1.0)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the cases of {file} failed");
    let last = stdout.lines().last().unwrap_or_default();
    let passed = last.strip_suffix(" passed, 0 failed").and_then(|n| n.parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n > 0), "{file}: {last}");
}

#[test]
fn jingle_translation() {
    run_cases("test_jingle.py");
}

#[test]
fn jingle_session() {
    run_cases("test_session.py");
}
