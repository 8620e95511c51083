//! A call between the room bot (`bot/jframebot`) and lib-jitsi-meet itself in headless Chromium, on a local
//! Prosody, inside a network namespace with only loopback. The scenario and its checks are in
//! tests/jitsi_call.py; this builds the lib-jitsi-meet bundle with `../shared/ljm/build.sh` into
//! `target/ljm/dist` (later runs reuse it; the first needs the npm registry) and runs the scenario with
//! the plugin that cargo just built for this test. Logs of the last run: `target/ljm/last-run/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory with only the freshly built plugin in it, for GST_PLUGIN_PATH (cargo leaves the
/// cdylib in `target/<profile>/deps`, among other libraries GStreamer must not try to load).
fn plugin_dir(deps: &Path) -> PathBuf {
    let plugin = deps.join("libgstjframe.so");
    assert!(plugin.exists(), "{} was not built", plugin.display());
    let dir = std::env::temp_dir().join(format!("jframe-jitsi-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("libgstjframe.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&plugin, &link).expect("plugin link");
    dir
}

/// `../shared/ljm/build.sh target/ljm/dist`: returns at once when the bundle is up to date.
fn build_bundle(ljm: &Path, cache: &Path) -> PathBuf {
    let dist = cache.join("dist");
    let status = Command::new("bash")
        .arg(ljm.join("build.sh"))
        .arg(&dist)
        .env("LJM_WORK", cache.join("work"))
        .env("LJM_NODE_MODULES_CACHE", cache.join("node-modules"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "building the lib-jitsi-meet bundle failed (node, npm and the npm registry needed)");
    dist
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn the_bot_calls_lib_jitsi_meet_in_chromium() {
    let ljm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/ljm");
    assert!(ljm.join("build.sh").exists(), "{} is missing: the shared folder sits beside the project", ljm.display());
    let test_binary = std::env::current_exe().expect("test binary path");
    let deps = test_binary.parent().expect("target/<profile>/deps");
    let target = deps.parent().and_then(Path::parent).expect("target/");
    let cache = target.join("ljm");
    let dist = build_bundle(&ljm, &cache);
    let plugins = plugin_dir(deps);
    let output = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jitsi_call.py"))
        .arg("--dist")
        .arg(&dist)
        .arg("--out")
        .arg(cache.join("last-run"))
        .env("GST_PLUGIN_PATH", &plugins)
        .env("GST_REGISTRY", plugins.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps installs it with slixmpp and PyGObject)");
    let _ = std::fs::remove_dir_all(&plugins);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(output.status.success() && last.ends_with(" 0 failed"), "the call test failed: {last}");
}
