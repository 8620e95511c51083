//! End-to-end media frame encryption in the JFrame format (lib-jitsi-meet) and in
//! LiveKit's, free of GStreamer types.
//!
//! A frame is sent as `clear prefix || AES-GCM ciphertext || tag (16) || IV (12) || 0x0C || KID`,
//! where the clear prefix is the AES-GCM additional data. Under JFrame's rules the prefix
//! is 10 bytes for a VP8 key frame, 3 for a VP8 inter frame and 1 for audio; LiveKit's
//! rules depend on the codec (see [`Format`]). Keys come from a [`KeyRing`]; the AES key
//! of a slot is derived from its material, and the material can ratchet. [`Context`]
//! encrypts and decrypts frames with a key ring under a set of [`Rules`]; the IV
//! constructions are in [`iv`], LiveKit's frame metadata trailer in [`metadata`].

mod annexb;
mod cipher;
mod context;
mod frame;
pub mod iv;
mod keys;
pub mod metadata;
mod rules;
mod sif;
pub mod verification;

pub use context::{
    Context, DEFAULT_RATCHET_WINDOW, DecryptError, DecryptOutcome, EncryptError, EncryptOutcome, FrameError, Received,
};
pub use frame::{FrameKind, IV_LEN, MediaFrame, TAG_LEN, TRAILER_LEN, Trailer, VideoCodec, VideoFrameType};
pub use keys::{
    DerivedKey, KEY_RING_SIZE, Kdf, KeyError, KeyMode, KeyRing, KeySource, Secret, derive_aes_key, ratchet,
};
pub use rules::{
    Format, KeyDerivation, KeySize, LIVEKIT_DEFAULT_FAILURE_TOLERANCE, LIVEKIT_DEFAULT_RATCHET_SALT, MAX_KEY_RING_SIZE,
    RatchetPolicy, Rules, RulesError,
};
