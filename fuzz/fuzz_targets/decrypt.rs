//! Decrypts fuzzed frames. The first byte chooses the frame kind, key mode and ratchet
//! window (see `Setup::from_byte`); its bit 7 chooses what the rest is:
//!
//! * clear: a received frame, taken as it is: never panics, never accepted;
//! * set: `[op, position (2 bytes, big-endian), plaintext...]`: the plaintext is sealed
//!   by a sender `op & 0x0F` ratchets ahead, damaged as `op >> 4` says (0: not, 1: one
//!   bit flipped, 2: truncated, 3: a byte appended, 4: a byte replaced), then received.
//!   An undamaged frame decrypts exactly when the sender is within the window; a
//!   damaged one never does.

#![no_main]

use gst_plugin_jframe_fuzz::{Checked, Setup, decrypt_and_check, seal};
use gstjframe::jframe::KeyMode;
use libfuzzer_sys::fuzz_target;

fn damage(wire: &mut Vec<u8>, op: u8, position: u16) {
    let len = wire.len();
    let at = usize::from(position) % len;
    match op {
        1 => wire[at] ^= 1 << (position % 8),
        2 => wire.truncate(at),
        3 => wire.push(position as u8),
        4 => wire[at] = (position >> 8) as u8,
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let setup = Setup::from_byte(first);
    let mut receiver = setup.receiver();
    if first & 0x80 == 0 {
        assert_eq!(
            decrypt_and_check(&mut receiver, setup.kind, rest),
            Checked::Rejected,
            "an arbitrary frame decrypted"
        );
        return;
    }
    let [op, high, low, plain @ ..] = rest else { return };
    let ratchets = match setup.mode {
        KeyMode::Derived => u32::from(op & 0x0F),
        KeyMode::Raw => 0,
    };
    let Some(wire) = seal(&setup.sender(ratchets), setup.kind, plain) else { return };
    let mut received = wire.clone();
    damage(&mut received, op >> 4, u16::from_be_bytes([*high, *low]));
    let outcome = decrypt_and_check(&mut receiver, setup.kind, &received);
    if received == wire && ratchets <= setup.window {
        let want = Checked::Decrypted { plain: plain.to_vec(), ratchet_steps: ratchets };
        assert_eq!(outcome, want, "a genuine frame did not decrypt");
    } else {
        assert_eq!(outcome, Checked::Rejected, "a damaged frame or one from too far ahead decrypted");
    }
});
