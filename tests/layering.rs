//! The dependencies between the parts of `src/` point one way: elements -> shared
//! element code (`element/`) -> key store (`keystore/`) -> core (`jframe/`), and the
//! GStreamer-free cores use no GStreamer. Checked on the `crate::` paths of each file
//! (the code names other parts of the crate only through them; `crate::lock` is a
//! helper of the crate root that any part may use).

use std::fs;
use std::path::{Path, PathBuf};

/// The parts of the crate a folder of `src/` may name, besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("jframe", &[]),
    // The Olm core ratchets media keys as JFrame does.
    ("olm", &["jframe"]),
    ("sframe", &[]),
    ("keystore", &["jframe", "lock"]),
    ("element", &["jframe", "keystore", "lock"]),
    // The payloader treats frames as opaque bytes: no keys, no crypto.
    ("vp8pay", &[]),
    // The Olm element feeds the key store from the Olm core; it shares nothing with the frame elements.
    ("jframeolm", &["jframe", "keystore", "olm", "lock"]),
];

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

/// The folders of `src/` each file of `folder` names that it may not.
fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (folder, allowed) in ALLOWED {
        for file in rust_files(&src.join(folder)) {
            let source = fs::read_to_string(&file).expect("source file readable");
            for part in crate_paths(&source) {
                if part != *folder && !allowed.contains(&part.as_str()) {
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
