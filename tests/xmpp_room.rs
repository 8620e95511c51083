//! A room on a local Prosody: participants (the bot package, bot/jframebot) exchange keys with
//! `jframeolm` over real XMPP stanzas and decrypt and decode each other's media. The scenario and
//! its checks are in tests/xmpp_room.py (Debian's Python with slixmpp and PyGObject); this runs it
//! with the plugin that cargo just built for this test.

use std::path::PathBuf;
use std::process::Command;

/// A directory with only the freshly built plugin in it, for GST_PLUGIN_PATH (cargo leaves the
/// cdylib in `target/<profile>/deps`, among other libraries GStreamer must not try to load).
fn plugin_dir() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let deps = test_binary.parent().expect("target/<profile>/deps");
    let plugin = deps.join("libgstjframe.so");
    assert!(plugin.exists(), "{} was not built", plugin.display());
    let dir = std::env::temp_dir().join(format!("jframe-xmpp-room-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("libgstjframe.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&plugin, &link).expect("plugin link");
    dir
}

#[test]
fn bots_in_a_room_exchange_keys_and_decode_each_other() {
    let dir = plugin_dir();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/xmpp_room.py");
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
    assert!(output.status.success() && last.ends_with(" 0 failed"), "the room test failed: {last}");
}
