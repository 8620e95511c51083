//! The dependencies between the parts of `src/` point one way: elements -> shared
//! element code (`element/`) -> key store (`keystore/`) -> core (`jframe/`), and the
//! GStreamer-free cores use no GStreamer. Checked on the `crate::` paths of each file
//! (the code names other parts of the crate only through them). Under all of them are the
//! helpers beside `lib.rs` ([`BOTTOM`]), which any part may name and which name nothing;
//! nothing names the plugin's root (`lib.rs`) itself.

use std::fs;
use std::path::{Path, PathBuf};

/// The parts of the crate a folder of `src/` may name, besides itself and [`BOTTOM`].
const ALLOWED: &[(&str, &[&str])] = &[
    ("jframe", &[]),
    // The Olm core ratchets media keys as JFrame does.
    ("olm", &["jframe"]),
    ("sframe", &[]),
    ("keystore", &["jframe", "sframe"]),
    ("element", &["jframe", "sframe", "keystore"]),
    // The frame elements: the shared element code, keys and the cores' frame formats.
    ("jframeenc", &["element", "keystore", "jframe", "sframe"]),
    ("jframedec", &["element", "keystore", "jframe", "sframe"]),
    // The payloaders treat frames as opaque bytes: no keys, no crypto. The SFrame ones use
    // the core's GStreamer-free packetization; the depayloader the payloader's media table.
    ("vp8pay", &[]),
    ("rtpsframepay", &["sframe"]),
    ("rtpsframedepay", &["sframe", "rtpsframepay"]),
    // The Olm element feeds the key store from the Olm core; it shares nothing with the frame elements.
    ("jframeolm", &["jframe", "keystore", "olm"]),
];

/// Files beside `lib.rs` that every part may use: they name no other part of the crate.
const BOTTOM: &[&str] = &["random", "sync"];

/// Folders whose code must not use GStreamer or GLib at all (sans-I/O cores).
const GSTREAMER_FREE: &[&str] = &["jframe", "olm", "sframe"];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first path segment after every `crate::` in `source`.
fn crate_paths(source: &str) -> Vec<String> {
    source
        .match_indices("crate::")
        .filter(|(at, _)| !source[..*at].ends_with('$'))
        .map(|(at, needle)| {
            source[at + needle.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        })
        .collect()
}

/// The parts of `src/` each file names that it may not.
fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    // Every part has its place: a folder in ALLOWED, or a helper file in BOTTOM.
    for entry in fs::read_dir(src).expect("src/ readable").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let placed = match path.is_dir() {
            true => ALLOWED.iter().any(|(folder, _)| *folder == name),
            false => name == "lib" || BOTTOM.contains(&name.as_str()),
        };
        if !placed {
            found.push(format!("{} has no place in the layering", path.display()));
        }
    }
    for helper in BOTTOM {
        let file = src.join(format!("{helper}.rs"));
        let source = fs::read_to_string(&file).expect("helper file readable");
        for part in crate_paths(&source) {
            found.push(format!("{} (a helper at the bottom) uses crate::{part}", file.display()));
        }
    }
    for (folder, allowed) in ALLOWED {
        for file in rust_files(&src.join(folder)) {
            let source = fs::read_to_string(&file).expect("source file readable");
            for part in crate_paths(&source) {
                if part != *folder && !allowed.contains(&part.as_str()) && !BOTTOM.contains(&part.as_str()) {
                    found.push(format!("{} uses crate::{part}", file.display()));
                }
            }
            if GSTREAMER_FREE.contains(folder)
                && let Some(line) = source.lines().find(|line| uses_gstreamer(line))
            {
                found.push(format!("{} uses GStreamer: {}", file.display(), line.trim()));
            }
        }
    }
    found
}

fn uses_gstreamer(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    ["gst::", "glib::", "gst_", "use gst", "use glib"].iter().any(|needle| code.contains(needle))
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "imports against the layering:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_an_import_from_above() {
    assert_eq!(crate_paths("use crate::element::keying::Keying;\n$crate::x"), ["element"]);
    assert!(uses_gstreamer("    let caps = gst::Caps::new_empty();"));
    assert!(!uses_gstreamer("    // no gst:: here"));
}
