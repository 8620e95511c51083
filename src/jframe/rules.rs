//! What differs between the two formats the engine speaks, JFrame (lib-jitsi-meet) and
//! LiveKit: one [`Rules`] value configures a [`Context`](super::Context).

/// The frame layout rules: which leading bytes stay in clear and how the rest is carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// lib-jitsi-meet: the clear prefix depends on the frame type only (10 bytes for a
    /// key frame, 3 for a delta frame, 1 for audio); empty frames are refused.
    #[default]
    JFrame,
    /// LiveKit: the clear prefix depends on the codec (VP8 by frame type, VP9 none,
    /// H.264/H.265 up to the first slice with the rest kept valid Annex B, AV1 refused);
    /// empty frames pass through.
    LiveKit,
}

/// AES key length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeySize {
    #[default]
    Aes128,
    Aes256,
}

impl KeySize {
    pub const fn bytes(self) -> usize {
        match self {
            KeySize::Aes128 => 16,
            KeySize::Aes256 => 32,
        }
    }
}

/// How key material becomes an AES key and how it ratchets. Material is HKDF input
/// (key bytes) or a PBKDF2 password (a passphrase); a key ratchets with the KDF of its
/// material.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyDerivation {
    /// Salt of the AES key derivation.
    pub key_salt: Vec<u8>,
    /// Salt of the ratchet (32 bytes of new material).
    pub ratchet_salt: Vec<u8>,
    /// HKDF info, for both derivations.
    pub hkdf_info: Vec<u8>,
    /// PBKDF2-HMAC-SHA256 iterations, for both derivations.
    pub pbkdf2_iterations: u32,
    pub key_size: KeySize,
}

/// LiveKit's default ratchet salt, which is also its key derivation salt.
pub const LIVEKIT_DEFAULT_RATCHET_SALT: &[u8] = b"LKFrameEncryptionKey";
/// LiveKit's HKDF info: 128 zero bytes.
pub const LIVEKIT_HKDF_INFO: [u8; 128] = [0; 128];
/// LiveKit's PBKDF2 iterations.
pub const LIVEKIT_PBKDF2_ITERATIONS: u32 = 100_000;

impl KeyDerivation {
    /// lib-jitsi-meet: HKDF-SHA256, salts `JFrameEncryptionKey` and `JFrameRatchetKey`,
    /// no info, AES-128. (lib-jitsi-meet has no passphrases; PBKDF2 uses the same salts.)
    pub fn jframe() -> KeyDerivation {
        KeyDerivation {
            key_salt: super::keys::JFRAME_KEY_SALT.to_vec(),
            ratchet_salt: super::keys::JFRAME_RATCHET_SALT.to_vec(),
            hkdf_info: Vec::new(),
            pbkdf2_iterations: LIVEKIT_PBKDF2_ITERATIONS,
            key_size: KeySize::Aes128,
        }
    }

    /// LiveKit: one salt (`ratchetSalt`) for the key and the ratchet, HKDF info of 128
    /// zero bytes, PBKDF2 with 100 000 iterations.
    pub fn livekit(ratchet_salt: &[u8], key_size: KeySize) -> KeyDerivation {
        KeyDerivation {
            key_salt: ratchet_salt.to_vec(),
            ratchet_salt: ratchet_salt.to_vec(),
            hkdf_info: LIVEKIT_HKDF_INFO.to_vec(),
            pbkdf2_iterations: LIVEKIT_PBKDF2_ITERATIONS,
            key_size,
        }
    }
}

/// How a receiver follows a sender that ratcheted its key (only keys from material ratchet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RatchetPolicy {
    /// Try the keys 1 to `ratchet_window` ratchets ahead of the key-index slot; the slot
    /// keeps the one that worked (JFrame).
    #[default]
    Ahead,
    /// Try the key one ratchet ahead of the key-index slot (LiveKit retries `window`
    /// times, always with that key); on success the slot keeps it and its index becomes
    /// current.
    OneStep,
}

/// Everything that differs between the formats. [`Rules::jframe`] and [`Rules::livekit`]
/// are the two formats' defaults; the fields can be changed before building a context.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    pub format: Format,
    pub key_derivation: KeyDerivation,
    /// Number of key slots, 1 to 256; key index `i` selects slot `i % key_ring_size`.
    pub key_ring_size: usize,
    pub ratchet_policy: RatchetPolicy,
    /// How far a receiver ratchets to follow a sender; 0 never ratchets.
    pub ratchet_window: u32,
    /// Failures (missing key or failed decryption) tolerated per key index before its
    /// frames are dropped unread, until a key is set there or a ratchet is asked for.
    /// `None`: never.
    pub failure_tolerance: Option<u32>,
    /// Trailer of server-injected frames, passed through undecrypted when known.
    /// Empty: none.
    pub sif_trailer: Vec<u8>,
}

/// A configuration a context cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesError {
    /// The key ring must have 1 to 256 slots.
    KeyRingSize(usize),
    /// PBKDF2 needs at least one iteration.
    NoPbkdf2Iterations,
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesError::KeyRingSize(n) => write!(f, "a key ring has 1 to 256 slots, not {n}"),
            RulesError::NoPbkdf2Iterations => write!(f, "PBKDF2 needs at least one iteration"),
        }
    }
}

impl std::error::Error for RulesError {}

/// The largest key ring: key indexes travel in one byte.
pub const MAX_KEY_RING_SIZE: usize = 256;
/// LiveKit's default decrypt failure tolerance per key index.
pub const LIVEKIT_DEFAULT_FAILURE_TOLERANCE: u32 = 10;

impl Default for Rules {
    fn default() -> Rules {
        Rules::jframe()
    }
}

impl Rules {
    /// lib-jitsi-meet's rules (see [`Context`](super::Context) for where they improve on it).
    pub fn jframe() -> Rules {
        Rules {
            format: Format::JFrame,
            key_derivation: KeyDerivation::jframe(),
            key_ring_size: super::keys::KEY_RING_SIZE,
            ratchet_policy: RatchetPolicy::Ahead,
            ratchet_window: super::context::DEFAULT_RATCHET_WINDOW,
            failure_tolerance: None,
            sif_trailer: Vec::new(),
        }
    }

    /// LiveKit's defaults (its `KeyProvider` with per-participant keys).
    pub fn livekit() -> Rules {
        Rules {
            format: Format::LiveKit,
            key_derivation: KeyDerivation::livekit(LIVEKIT_DEFAULT_RATCHET_SALT, KeySize::Aes128),
            key_ring_size: super::keys::KEY_RING_SIZE,
            ratchet_policy: RatchetPolicy::OneStep,
            ratchet_window: super::context::DEFAULT_RATCHET_WINDOW,
            failure_tolerance: Some(LIVEKIT_DEFAULT_FAILURE_TOLERANCE),
            sif_trailer: Vec::new(),
        }
    }

    /// LiveKit's shared-key provider (`ExternalE2EEKeyProvider`): no ratchet window and
    /// no failure tolerance (an index is never given up).
    pub fn livekit_shared_key() -> Rules {
        Rules { ratchet_window: 0, failure_tolerance: None, ..Rules::livekit() }
    }

    /// The defaults of a format.
    pub fn for_format(format: Format) -> Rules {
        match format {
            Format::JFrame => Rules::jframe(),
            Format::LiveKit => Rules::livekit(),
        }
    }

    pub fn validate(&self) -> Result<(), RulesError> {
        if !(1..=MAX_KEY_RING_SIZE).contains(&self.key_ring_size) {
            return Err(RulesError::KeyRingSize(self.key_ring_size));
        }
        if self.key_derivation.pbkdf2_iterations == 0 {
            return Err(RulesError::NoPbkdf2Iterations);
        }
        Ok(())
    }
}
