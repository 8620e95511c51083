//! Why a header, a key or a frame was refused. No error carries key bytes.

/// A header that cannot be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// No bytes at all.
    Empty,
    /// The config byte announces more bytes than there are.
    Truncated { needed: usize, available: usize },
    /// A KID or CTR not in its shortest form (a value below 8 in an extension byte,
    /// or a leading zero byte). Senders must write the shortest form (RFC 9605 §4.3).
    NotMinimal,
}

/// A key that cannot be installed, ratcheted or derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// A cipher suite value this implementation does not know.
    UnknownCipherSuite(u16),
    /// An empty base key.
    EmptyBaseKey,
    /// An AEAD key of the wrong length for the suite (only when a key is given directly).
    BadKeyLength { expected: usize, got: usize },
    /// No key under this KID.
    NoKey { kid: u64 },
    /// A ratchet asked for on a key set without a ratchet configuration.
    NoRatchet,
    /// Ratchet bits outside 1..=63.
    BadRatchetBits(u8),
}

/// Why a frame was not encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptError {
    /// No key under this KID.
    NoKey { kid: u64 },
    /// This CTR is not above the last one used under this KID: it could repeat a nonce.
    CtrNotIncreasing { kid: u64, ctr: u64 },
    /// The frame is beyond what the suite can encrypt (64 GiB for AES-CTR, 2^36 bytes for GCM).
    TooLong,
    /// The output buffer has no room for the header and the tag.
    NoRoom { needed: usize, available: usize },
}

/// Why a frame was not decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// The header cannot be parsed.
    Header(HeaderError),
    /// No key under the frame's KID, and none the ratchet can reach.
    UnknownKid { kid: u64 },
    /// Shorter than its header and tag.
    TooShort { kid: u64, len: usize },
    /// The tag does not authenticate the frame (wrong key, altered or truncated frame).
    AuthenticationFailed { kid: u64, ctr: u64 },
    /// This KID and CTR were already accepted (replay window).
    Replayed { kid: u64, ctr: u64 },
    /// The CTR is below the replay window of its KID: it can no longer be told apart
    /// from a replay.
    TooOld { kid: u64, ctr: u64 },
}

impl DecryptError {
    /// The KID of the refused frame, when its header could be read.
    pub fn kid(&self) -> Option<u64> {
        match *self {
            DecryptError::Header(_) => None,
            DecryptError::UnknownKid { kid }
            | DecryptError::TooShort { kid, .. }
            | DecryptError::AuthenticationFailed { kid, .. }
            | DecryptError::Replayed { kid, .. }
            | DecryptError::TooOld { kid, .. } => Some(kid),
        }
    }
}

impl From<HeaderError> for DecryptError {
    fn from(e: HeaderError) -> DecryptError {
        DecryptError::Header(e)
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Empty => write!(f, "empty frame"),
            HeaderError::Truncated { needed, available } => {
                write!(f, "the header needs {needed} bytes, the frame has {available}")
            }
            HeaderError::NotMinimal => write!(f, "the header is not minimally encoded"),
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::UnknownCipherSuite(id) => write!(f, "unknown SFrame cipher suite 0x{id:04x}"),
            KeyError::EmptyBaseKey => write!(f, "the base key is empty"),
            KeyError::BadKeyLength { expected, got } => write!(f, "the key must be {expected} bytes, got {got}"),
            KeyError::NoKey { kid } => write!(f, "no key for KID {kid}"),
            KeyError::NoRatchet => write!(f, "the key set has no ratchet configured"),
            KeyError::BadRatchetBits(bits) => write!(f, "ratchet step bits must be 1 to 63, got {bits}"),
        }
    }
}

impl std::fmt::Display for EncryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncryptError::NoKey { kid } => write!(f, "no key for KID {kid}"),
            EncryptError::CtrNotIncreasing { kid, ctr } => {
                write!(f, "CTR {ctr} is not above the last one used under KID {kid}")
            }
            EncryptError::TooLong => write!(f, "frame too long for the cipher suite"),
            EncryptError::NoRoom { needed, available } => {
                write!(f, "the output needs {needed} bytes, the buffer has {available}")
            }
        }
    }
}

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptError::Header(e) => write!(f, "bad SFrame header: {e}"),
            DecryptError::UnknownKid { kid } => write!(f, "no key for KID {kid}"),
            DecryptError::TooShort { kid, len } => write!(f, "frame of {len} bytes is too short (KID {kid})"),
            DecryptError::AuthenticationFailed { kid, ctr } => {
                write!(f, "authentication failed (KID {kid}, CTR {ctr})")
            }
            DecryptError::Replayed { kid, ctr } => write!(f, "replayed frame (KID {kid}, CTR {ctr})"),
            DecryptError::TooOld { kid, ctr } => {
                write!(f, "frame older than the replay window (KID {kid}, CTR {ctr})")
            }
        }
    }
}

impl std::error::Error for HeaderError {}
impl std::error::Error for KeyError {}
impl std::error::Error for EncryptError {}
impl std::error::Error for DecryptError {}
