//! Encrypting and decrypting frames with a key ring: the reference's `Context`.

use super::cipher::AeadFailed;
use super::frame::{FrameKind, IV_LEN, TAG_LEN, Trailer};
use super::keys::{KeyMode, KeyRing};

/// Ratchet steps a receiver tries by default to follow a sender that ratcheted.
pub const DEFAULT_RATCHET_WINDOW: u32 = 8;

/// What `encrypt` did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptOutcome {
    /// The frame was encrypted in place; append this trailer to it.
    Encrypted(Trailer),
    /// Encryption is disabled: send the frame unchanged.
    PassThrough,
}

/// What `decrypt` did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptOutcome {
    /// The first `len` bytes of the buffer are now the clear frame. The key was
    /// ratcheted `ratchet_steps` times to decrypt it (and keeps that state).
    Decrypted { len: usize, ratchet_steps: u32 },
    /// Decryption is disabled: pass the frame on unchanged.
    PassThrough,
}

/// Why a frame was not encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptError {
    /// No key in the current slot (none set, or the slot was emptied).
    NoKey,
    /// The frame is shorter than the clear prefix of its kind.
    ShorterThanClearPrefix { len: usize, clear: usize },
    /// The AEAD refused (a frame beyond AES-GCM's size limit).
    TooLong,
}

/// Why a frame was not decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// Empty frame: not even a key index.
    Empty,
    /// The key index names a slot that exists but holds no key.
    NoKey { kid: u8 },
    /// The key index is beyond the key ring.
    UnknownKeyIndex { kid: u8 },
    /// Too short for its clear prefix, tag and trailer, or an IV length the
    /// backend does not take (12 and 16 are taken).
    Malformed { kid: u8 },
    /// No key in the window authenticated the frame.
    AuthenticationFailed { kid: u8 },
}

impl std::fmt::Display for EncryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncryptError::NoKey => write!(f, "no key in the current slot"),
            EncryptError::ShorterThanClearPrefix { len, clear } => {
                write!(f, "frame of {len} bytes is shorter than its {clear}-byte clear prefix")
            }
            EncryptError::TooLong => write!(f, "frame too long for AES-GCM"),
        }
    }
}

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptError::Empty => write!(f, "empty frame"),
            DecryptError::NoKey { kid } => write!(f, "no key for key index {kid}"),
            DecryptError::UnknownKeyIndex { kid } => write!(f, "key index {kid} is beyond the key ring"),
            DecryptError::Malformed { kid } => write!(f, "malformed frame (key index {kid})"),
            DecryptError::AuthenticationFailed { kid } => {
                write!(f, "authentication failed (key index {kid})")
            }
        }
    }
}

impl std::error::Error for EncryptError {}
impl std::error::Error for DecryptError {}

/// The parts of a received frame, located from its trailer.
struct Parts {
    clear: usize,
    ciphertext_end: usize,
    iv_start: usize,
    iv_len: usize,
}

fn locate(kind: FrameKind, frame: &[u8]) -> Option<Parts> {
    let len = frame.len();
    let iv_len = usize::from(*frame.get(len.checked_sub(2)?)?);
    let iv_start = len.checked_sub(2 + iv_len)?;
    let ciphertext_end = iv_start.checked_sub(TAG_LEN)?;
    let clear = kind.clear_len();
    (clear <= ciphertext_end).then_some(Parts { clear, ciphertext_end, iv_start, iv_len })
}

/// One participant's encryption state: key ring, enabled flag and ratchet window.
///
/// A sender encrypts with the current slot; a receiver picks the slot by the frame's
/// key index and, in derived mode, follows a sender that ratcheted up to
/// `ratchet_window` times.
pub struct Context {
    keys: KeyRing,
    enabled: bool,
    ratchet_window: u32,
}

impl Context {
    pub fn new(mode: KeyMode) -> Context {
        Context {
            keys: KeyRing::new(mode),
            enabled: true,
            ratchet_window: DEFAULT_RATCHET_WINDOW,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn keys_mut(&mut self) -> &mut KeyRing {
        &mut self.keys
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Disabled, frames pass through unchanged in both directions.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    pub fn ratchet_window(&self) -> u32 {
        self.ratchet_window
    }

    /// How many ratchet steps a receiver tries; 0 never ratchets.
    pub fn set_ratchet_window(&mut self, window: u32) {
        self.ratchet_window = window;
    }

    /// Encrypts `frame` in place with the current key: the clear prefix of `kind`
    /// stays as it is and is authenticated. Append the returned trailer to the frame.
    pub fn encrypt(&self, kind: FrameKind, frame: &mut [u8], iv: [u8; IV_LEN]) -> Result<EncryptOutcome, EncryptError> {
        if !self.enabled {
            return Ok(EncryptOutcome::PassThrough);
        }
        let (kid, slot) = self.keys.current_slot().ok_or(EncryptError::NoKey)?;
        let clear = kind.clear_len();
        if frame.len() < clear {
            return Err(EncryptError::ShorterThanClearPrefix { len: frame.len(), clear });
        }
        let (aad, payload) = frame.split_at_mut(clear);
        let tag = slot.key.cipher.seal(&iv, aad, payload).map_err(|AeadFailed| EncryptError::TooLong)?;
        Ok(EncryptOutcome::Encrypted(Trailer::new(&tag, &iv, kid)))
    }

    /// Decrypts `frame` in place with the slot its key index names, trying ratcheted
    /// keys of that slot on failure. On success the slot keeps the key that worked.
    ///
    /// Unlike the reference, a key index other than the current slot ratchets too:
    /// lib-jitsi-meet derives from the named slot but stores into the current one, so
    /// it never catches up there and briefly breaks the current slot.
    pub fn decrypt(&mut self, kind: FrameKind, frame: &mut [u8]) -> Result<DecryptOutcome, DecryptError> {
        if !self.enabled {
            return Ok(DecryptOutcome::PassThrough);
        }
        let kid = *frame.last().ok_or(DecryptError::Empty)?;
        let slot = match self.keys.slot_mut(kid) {
            None => return Err(DecryptError::UnknownKeyIndex { kid }),
            Some(None) => return Err(DecryptError::NoKey { kid }),
            Some(Some(slot)) => slot,
        };
        let parts = locate(kind, frame).ok_or(DecryptError::Malformed { kid })?;
        let (head, trailer) = frame.split_at_mut(parts.ciphertext_end);
        let (aad, ciphertext) = head.split_at_mut(parts.clear);
        let tag = &trailer[..TAG_LEN];
        let iv = &trailer[parts.iv_start - parts.ciphertext_end..][..parts.iv_len];
        if !matches!(parts.iv_len, 12 | 16) {
            return Err(DecryptError::Malformed { kid });
        }
        let decrypted = DecryptOutcome::Decrypted { len: parts.ciphertext_end, ratchet_steps: 0 };
        if slot.key.cipher.open(iv, aad, ciphertext, tag).is_ok() {
            return Ok(decrypted);
        }
        for steps in 1..=self.ratchet_window as usize {
            let Some(key) = slot.ahead(steps) else { break };
            if key.cipher.open(iv, aad, ciphertext, tag).is_ok() {
                slot.advance(steps);
                return Ok(DecryptOutcome::Decrypted {
                    len: parts.ciphertext_end,
                    ratchet_steps: steps as u32,
                });
            }
        }
        Err(DecryptError::AuthenticationFailed { kid })
    }
}
