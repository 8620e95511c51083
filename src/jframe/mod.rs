//! The JFrame format and its keys, free of GStreamer types.
//!
//! A frame is sent as `clear prefix || AES-GCM ciphertext || tag (16) || IV (12) || 0x0C || KID`,
//! where the clear prefix (10 bytes for a VP8 key frame, 3 for a VP8 inter frame, 1 for
//! audio) is the AES-GCM additional data. Keys come from a [`KeyRing`] of 16 slots; the
//! AES key of a slot is HKDF-SHA256 of its material, and the material can ratchet.
//! [`Context`] encrypts and decrypts frames in place with a key ring; the IV
//! constructions are in [`iv`].

mod cipher;
mod context;
mod frame;
pub mod iv;
pub mod verification;
mod keys;

pub use context::{
    Context, DEFAULT_RATCHET_WINDOW, DecryptError, DecryptOutcome, EncryptError, EncryptOutcome,
};
pub use frame::{FrameKind, IV_LEN, TAG_LEN, TRAILER_LEN, Trailer};
pub use keys::{KEY_RING_SIZE, KeyError, KeyMode, KeyRing, Secret, derive_aes_key, ratchet};
