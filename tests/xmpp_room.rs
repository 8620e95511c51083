//! The room bot (bot/jframebot) on a local Prosody, run with the plugin that cargo just built for this test:
//! - tests/xmpp_room.py: bots in a room (`--media loopback`) exchange keys with `jframeolm` over real XMPP stanzas
//!   and decrypt and decode each other's media;
//! - tests/bot_call.py: two bots in a Jingle call with each other over webrtcbin (`--media webrtc`), in a network
//!   namespace with only loopback.
//!
//! The scenarios and their checks are in the Python scripts (Debian's Python with slixmpp and PyGObject).

use std::path::PathBuf;
use std::process::Command;

/// A directory with only the freshly built plugin in it, for GST_PLUGIN_PATH (cargo leaves the
/// cdylib in `target/<profile>/deps`, among other libraries GStreamer must not try to load).
fn plugin_dir(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let deps = test_binary.parent().expect("target/<profile>/deps");
    let plugin = deps.join("libgstjframe.so");
    assert!(plugin.exists(), "{} was not built", plugin.display());
    let dir = std::env::temp_dir().join(format!("jframe-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("libgstjframe.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&plugin, &link).expect("plugin link");
    dir
}

/// Runs tests/NAME.py; passes when it exits 0 with the last line `N passed, 0 failed`.
fn run_scenario(name: &str) {
    let dir = plugin_dir(name);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(format!("{name}.py"));
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps installs it with slixmpp and PyGObject)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(output.status.success() && last.ends_with(" 0 failed"), "{name} failed: {last}");
}

#[test]
fn bots_in_a_room_exchange_keys_and_decode_each_other() {
    run_scenario("xmpp_room");
}

#[test]
fn two_bots_call_each_other_over_webrtcbin() {
    run_scenario("bot_call");
}
