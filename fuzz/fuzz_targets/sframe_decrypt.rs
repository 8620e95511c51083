//! SFrame header parsing and decryption of fuzzed frames. Byte 0: the cipher suite
//! (bits 0-2, suites 1-8), a replay window (bit 3), the route (bit 7).
//!
//! * route 0: the rest is a received frame: parsing never panics and what parses
//!   re-encodes to the same bytes; decryption never panics, never succeeds, and leaves
//!   the frame as it was;
//! * route 1: `[damage, position (2 bytes BE), metadata length, metadata..., plaintext...]`:
//!   the plaintext is sealed under a known KID, damaged as `damage` says (0 none, 1 bit
//!   flip, 2 truncation, 3 byte appended, 4 byte replaced), and received: it decrypts
//!   to the plaintext exactly when undamaged.

#![no_main]

use gstjframe::sframe::{CipherSuite, Header, KeySet, Ratchet, ReplayWindow};
use libfuzzer_sys::fuzz_target;

const KIDS: [(u64, &[u8]); 3] = [(0, b"fuzz base key 0"), (0x123, b"fuzz base key 0x123"), (u64::MAX, b"m")];

fn keys(suite: CipherSuite) -> KeySet {
    let mut keys = KeySet::new(suite);
    // KID 0x123 is generation 0x12, step 3: frames of steps 4-11 are followed.
    if keys.set_ratchet(Some(Ratchet { step_bits: 4, window: 8 })).is_err() {
        panic!("a valid ratchet refused");
    }
    for (kid, base_key) in KIDS {
        if keys.insert(kid, base_key).is_err() {
            panic!("a fixed key refused");
        }
    }
    keys
}

fn damage(wire: &mut Vec<u8>, how: u8, position: u16) {
    let at = usize::from(position) % wire.len();
    match how {
        1 => wire[at] ^= 1 << (position % 8),
        2 => wire.truncate(at),
        3 => wire.push(position as u8),
        4 => wire[at] = wire[at].wrapping_add((position >> 8) as u8 | 1),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let suite = CipherSuite::ALL[usize::from(first & 0x07)];
    let mut window = ReplayWindow::new();
    let replay = if first & 0x08 != 0 { Some(&mut window) } else { None };
    let mut receiver = keys(suite);
    if first & 0x80 == 0 {
        if let Ok((header, len)) = Header::parse(rest) {
            assert_eq!(&header.encode()[..], &rest[..len], "a header with two encodings");
        }
        let mut frame = rest.to_vec();
        assert!(receiver.decrypt(&[], &mut frame, replay).is_err(), "an arbitrary frame decrypted");
        assert_eq!(frame, rest, "a refused frame was modified");
        return;
    }
    let [how, high, low, metadata_len, tail @ ..] = rest else { return };
    let (metadata, plain) = tail.split_at(usize::from(*metadata_len).min(tail.len()));
    let mut wire = plain.to_vec();
    if keys(suite).encrypt_vec(0x123, 17, metadata, &mut wire).is_err() {
        panic!("a frame of {} bytes not encrypted", plain.len());
    }
    let genuine = wire.clone();
    damage(&mut wire, *how, u16::from_be_bytes([*high, *low]));
    let mut received = wire.clone();
    match receiver.decrypt(metadata, &mut received, replay) {
        Ok(done) => {
            assert_eq!(wire, genuine, "a damaged frame decrypted");
            assert_eq!(&received[done.plaintext], plain, "decrypted to other bytes");
        }
        Err(e) => {
            assert_ne!(wire, genuine, "a genuine frame was refused: {e}");
            assert_eq!(received, wire, "a refused frame was modified");
        }
    }
});
