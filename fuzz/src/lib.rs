//! What the fuzz targets share: a receiver with fixed keys, a sender holding the same
//! current key, and the checks every decryption must pass.

use gstjframe::jframe::iv::IvSequence;
use gstjframe::jframe::{Context, DecryptOutcome, EncryptOutcome, FrameKind, IV_LEN, KeyMode, TAG_LEN};

/// The keys a receiver holds, `(key index, bytes)` in the order they are set: the last
/// one is current. Fixed, so that a saved input replays the same way; all different, so
/// that a frame relabelled to another slot meets another key.
const DERIVED_KEYS: [(u32, &[u8]); 3] = [(0, b"fuzz material, slot 0"), (5, &[0x55; 32]), (17, b"m")];
const RAW_KEYS: [(u32, &[u8]); 3] = [(0, &[0x11; 16]), (3, &[0x33; 32]), (9, &[0x99; 16])];

/// What the first byte of an input chooses.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub kind: FrameKind,
    pub mode: KeyMode,
    /// Ratchet steps the receiver tries (0..=15).
    pub window: u32,
}

impl Setup {
    /// Bits 0-1: frame kind (3 is audio too); bit 2: raw keys; bits 3-6: ratchet window.
    pub fn from_byte(byte: u8) -> Setup {
        let kind = match byte & 0x03 {
            0 => FrameKind::VideoKey,
            1 => FrameKind::VideoDelta,
            _ => FrameKind::Audio,
        };
        let mode = if byte & 0x04 == 0 { KeyMode::Derived } else { KeyMode::Raw };
        Setup { kind, mode, window: u32::from((byte >> 3) & 0x0F) }
    }

    fn keys(&self) -> &'static [(u32, &'static [u8])] {
        match self.mode {
            KeyMode::Derived => &DERIVED_KEYS,
            KeyMode::Raw => &RAW_KEYS,
        }
    }

    pub fn receiver(&self) -> Context {
        let mut ctx = Context::new(self.mode);
        ctx.set_ratchet_window(self.window);
        for (index, bytes) in self.keys() {
            install(&mut ctx, *index, bytes);
        }
        ctx
    }

    /// A sender holding the receiver's current key, ratcheted `ratchets` times
    /// (derived mode; raw keys do not ratchet and stay as they are).
    pub fn sender(&self, ratchets: u32) -> Context {
        let mut ctx = Context::new(self.mode);
        if let Some((index, bytes)) = self.keys().last() {
            install(&mut ctx, *index, bytes);
        }
        if self.mode == KeyMode::Derived {
            for _ in 0..ratchets {
                if let Err(e) = ctx.keys_mut().ratchet_current() {
                    panic!("ratcheting a derived key: {e}");
                }
            }
        }
        ctx
    }
}

fn install(ctx: &mut Context, index: u32, bytes: &[u8]) {
    if let Err(e) = ctx.keys_mut().set_key(index, bytes) {
        panic!("fixed key at index {index} refused: {e}");
    }
}

/// Encrypts `plain` as it goes on the wire, or `None` if it is shorter than the clear
/// prefix of `kind`.
pub fn seal(sender: &Context, kind: FrameKind, plain: &[u8]) -> Option<Vec<u8>> {
    let iv = IvSequence::starting_at(0x0F0F_0F0F, 1).next()?;
    let mut wire = plain.to_vec();
    match sender.encrypt(kind, &mut wire, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => {
            wire.extend_from_slice(trailer.as_bytes());
            Some(wire)
        }
        Ok(EncryptOutcome::PassThrough) => panic!("an enabled sender passed a frame through"),
        Err(_) => {
            assert!(plain.len() < kind.clear_len(), "a frame of {} bytes was refused", plain.len());
            None
        }
    }
}

/// What a decryption gave, once checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Decrypted { plain: Vec<u8>, ratchet_steps: u32 },
    Rejected,
}

/// Decrypts `frame` and checks that the outcome is sound:
/// * an enabled receiver never passes a frame through;
/// * a rejected frame is left as it was;
/// * an accepted frame used no more ratchet steps than the window, and is exactly what
///   an honest sender would send: the decrypted bytes encrypted again with the key that
///   worked and the frame's IV give the frame back, so no byte of it went unchecked.
pub fn decrypt_and_check(receiver: &mut Context, kind: FrameKind, frame: &[u8]) -> Checked {
    let mut buffer = frame.to_vec();
    match receiver.decrypt(kind, &mut buffer) {
        Ok(DecryptOutcome::PassThrough) => panic!("an enabled receiver passed a frame through"),
        Err(_) => {
            assert_eq!(buffer, frame, "a rejected frame was modified");
            Checked::Rejected
        }
        Ok(DecryptOutcome::Decrypted { len, ratchet_steps }) => {
            assert!(ratchet_steps <= receiver.ratchet_window(), "{ratchet_steps} ratchet steps");
            let plain = buffer.get(..len).unwrap_or_else(|| panic!("decrypted length {len} beyond the frame")).to_vec();
            assert_resealed(receiver, kind, frame, &plain);
            Checked::Decrypted { plain, ratchet_steps }
        }
    }
}

fn assert_resealed(receiver: &Context, kind: FrameKind, frame: &[u8], plain: &[u8]) {
    let (&kid, rest) = frame.split_last().unwrap_or_else(|| panic!("an empty frame decrypted"));
    let (&iv_len, rest) = rest.split_last().unwrap_or_else(|| panic!("a 1-byte frame decrypted"));
    let iv_len = usize::from(iv_len);
    assert_eq!(frame.len(), plain.len() + TAG_LEN + iv_len + 2, "decrypted length does not match the frame");
    if iv_len != IV_LEN {
        // A 16-byte IV (accepted from other senders) cannot be given to `encrypt`.
        return;
    }
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&rest[rest.len() - IV_LEN..]);
    let aes_key = receiver.keys().aes_key(kid).unwrap_or_else(|| panic!("decrypted with an empty slot {kid}"));
    let mut honest = Context::new(KeyMode::Raw);
    install(&mut honest, u32::from(kid), aes_key);
    let mut again = plain.to_vec();
    match honest.encrypt(kind, &mut again, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => again.extend_from_slice(trailer.as_bytes()),
        other => panic!("re-encrypting the decrypted frame gave {other:?}"),
    }
    assert_eq!(again, frame, "an accepted frame is not what an honest sender sends");
}
