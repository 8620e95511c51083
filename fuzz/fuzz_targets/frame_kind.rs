//! Classifies fuzzed bytes as a VP8 frame with `FrameKind::of_vp8` and decrypts them as
//! that kind (never panics, never accepted); then sends them as that kind: the first
//! byte stays in clear, so the receiver classifies the encrypted frame the same way
//! and gets the bytes back.

#![no_main]

use gst_plugin_jframe_fuzz::{Checked, Setup, decrypt_and_check, seal};
use gstjframe::jframe::{FrameKind, KeyMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(kind) = FrameKind::of_vp8(data) else {
        assert!(data.is_empty(), "a non-empty frame was not classified");
        return;
    };
    let setup = Setup { kind, mode: KeyMode::Derived, window: 8 };
    let mut receiver = setup.receiver();
    assert_eq!(decrypt_and_check(&mut receiver, kind, data), Checked::Rejected, "an arbitrary frame decrypted");

    let Some(wire) = seal(&setup.sender(0), kind, data) else { return };
    assert_eq!(FrameKind::of_vp8(&wire), Some(kind), "encryption changed the frame's kind");
    let want = Checked::Decrypted { plain: data.to_vec(), ratchet_steps: 0 };
    assert_eq!(decrypt_and_check(&mut receiver, kind, &wire), want, "a genuine frame did not decrypt");
});
