//! The key store and the elements from Python (PyGObject): runs the scripts of
//! `tests/python/` with Debian's `/usr/bin/python3` against the plugin built beside this
//! test, and passes when their cases all pass.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory with nothing but the plugin built with this test: cargo leaves the fresh
/// `libgstjframe.so` beside this test's executable (`target/release/deps`), among files
/// GStreamer must not try to load as plugins.
fn plugin_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let built = exe.parent().expect("the deps directory").join("libgstjframe.so");
    assert!(built.exists(), "no {}", built.display());
    let dir = std::env::temp_dir().join(format!("jframe-python-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let linked = dir.join("libgstjframe.so");
    let _ = std::fs::remove_file(&linked);
    std::os::unix::fs::symlink(&built, &linked).expect("a link to the plugin");
    dir
}

/// Runs a script of `tests/python/` against the plugin built with this test; passes when
/// all its cases pass.
fn run_cases(script: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let plugins = plugin_dir(script.file_stem().and_then(|s| s.to_str()).unwrap_or("script"));
    let output = Command::new("/usr/bin/python3")
        .arg(&script)
        .env("GST_PLUGIN_PATH", &plugins)
        // A registry of its own: one cached from another build would hide this one.
        .env("GST_REGISTRY", plugins.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps installs python3-gi and python3-gst-1.0)");
    let _ = std::fs::remove_dir_all(&plugins);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Python cases failed");
    assert!(stdout.lines().last().is_some_and(|line| line.ends_with(" passed, 0 failed")), "{stdout}");
}

#[test]
fn key_store_and_elements_from_python() {
    run_cases("test_keystore.py");
}

#[test]
fn jframeolm_wired_from_python() {
    run_cases("test_jframeolm.py");
}
