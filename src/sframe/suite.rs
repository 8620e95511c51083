//! The cipher suites (RFC 9605 §4.5 and the IANA registry).

use super::error::KeyError;

/// An SFrame cipher suite: the AEAD, its key and tag sizes, and the hash of its KDF.
///
/// 0x0001-0x0005 are RFC 9605's; 0x0006-0x0008 (AES-256-CTR with HMAC-SHA512) were
/// registered later (draft-barnes-sframe-iana-256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    AesCtr128HmacSha256Tag80 = 0x0001,
    AesCtr128HmacSha256Tag64 = 0x0002,
    AesCtr128HmacSha256Tag32 = 0x0003,
    AesGcm128Sha256 = 0x0004,
    AesGcm256Sha512 = 0x0005,
    AesCtr256HmacSha512Tag80 = 0x0006,
    AesCtr256HmacSha512Tag64 = 0x0007,
    AesCtr256HmacSha512Tag32 = 0x0008,
}

/// The hash of a suite's KDF (and of its HMAC for the CTR suites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

/// Nonce length (Nn) of every suite.
pub const NONCE_LEN: usize = 12;
/// Longest tag of any suite (the GCM suites').
pub const MAX_TAG_LEN: usize = 16;

impl CipherSuite {
    pub const ALL: [CipherSuite; 8] = [
        CipherSuite::AesCtr128HmacSha256Tag80,
        CipherSuite::AesCtr128HmacSha256Tag64,
        CipherSuite::AesCtr128HmacSha256Tag32,
        CipherSuite::AesGcm128Sha256,
        CipherSuite::AesGcm256Sha512,
        CipherSuite::AesCtr256HmacSha512Tag80,
        CipherSuite::AesCtr256HmacSha512Tag64,
        CipherSuite::AesCtr256HmacSha512Tag32,
    ];

    /// The suite of a registry value.
    pub fn from_id(id: u16) -> Result<CipherSuite, KeyError> {
        CipherSuite::ALL.into_iter().find(|suite| suite.id() == id).ok_or(KeyError::UnknownCipherSuite(id))
    }

    /// The registry value (written big-endian into the key labels).
    pub fn id(self) -> u16 {
        self as u16
    }

    /// The registry name, e.g. `AES_128_GCM_SHA256_128`.
    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::AesCtr128HmacSha256Tag80 => "AES_128_CTR_HMAC_SHA256_80",
            CipherSuite::AesCtr128HmacSha256Tag64 => "AES_128_CTR_HMAC_SHA256_64",
            CipherSuite::AesCtr128HmacSha256Tag32 => "AES_128_CTR_HMAC_SHA256_32",
            CipherSuite::AesGcm128Sha256 => "AES_128_GCM_SHA256_128",
            CipherSuite::AesGcm256Sha512 => "AES_256_GCM_SHA512_128",
            CipherSuite::AesCtr256HmacSha512Tag80 => "AES_256_CTR_HMAC_SHA512_80",
            CipherSuite::AesCtr256HmacSha512Tag64 => "AES_256_CTR_HMAC_SHA512_64",
            CipherSuite::AesCtr256HmacSha512Tag32 => "AES_256_CTR_HMAC_SHA512_32",
        }
    }

    pub(crate) fn hash(self) -> Hash {
        match self {
            CipherSuite::AesCtr128HmacSha256Tag80
            | CipherSuite::AesCtr128HmacSha256Tag64
            | CipherSuite::AesCtr128HmacSha256Tag32
            | CipherSuite::AesGcm128Sha256 => Hash::Sha256,
            _ => Hash::Sha512,
        }
    }

    /// Nh: output size of the hash.
    pub fn hash_len(self) -> usize {
        match self.hash() {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    /// Nka: the AES key inside the key of a CTR suite; `None` for GCM.
    pub fn aes_key_len(self) -> Option<usize> {
        match self {
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => None,
            CipherSuite::AesCtr128HmacSha256Tag80
            | CipherSuite::AesCtr128HmacSha256Tag64
            | CipherSuite::AesCtr128HmacSha256Tag32 => Some(16),
            _ => Some(32),
        }
    }

    /// Nk: the AEAD key (for a CTR suite, the AES key and then the HMAC key of Nh bytes).
    pub fn key_len(self) -> usize {
        match self {
            CipherSuite::AesGcm128Sha256 => 16,
            CipherSuite::AesGcm256Sha512 => 32,
            _ => self.aes_key_len().unwrap_or(0) + self.hash_len(),
        }
    }

    /// Nt: the tag appended to the ciphertext.
    pub fn tag_len(self) -> usize {
        match self {
            CipherSuite::AesGcm128Sha256 | CipherSuite::AesGcm256Sha512 => 16,
            CipherSuite::AesCtr128HmacSha256Tag80 | CipherSuite::AesCtr256HmacSha512Tag80 => 10,
            CipherSuite::AesCtr128HmacSha256Tag64 | CipherSuite::AesCtr256HmacSha512Tag64 => 8,
            CipherSuite::AesCtr128HmacSha256Tag32 | CipherSuite::AesCtr256HmacSha512Tag32 => 4,
        }
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:04x})", self.name(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_values_round_trip_and_sizes_match_the_rfc() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(suite.id()), Ok(suite));
        }
        assert_eq!(CipherSuite::from_id(0), Err(KeyError::UnknownCipherSuite(0)));
        assert_eq!(CipherSuite::from_id(0xF000), Err(KeyError::UnknownCipherSuite(0xF000)));
        let sizes = |s: CipherSuite| (s.hash_len(), s.aes_key_len(), s.key_len(), s.tag_len());
        assert_eq!(sizes(CipherSuite::AesCtr128HmacSha256Tag80), (32, Some(16), 48, 10));
        assert_eq!(sizes(CipherSuite::AesCtr128HmacSha256Tag32), (32, Some(16), 48, 4));
        assert_eq!(sizes(CipherSuite::AesGcm128Sha256), (32, None, 16, 16));
        assert_eq!(sizes(CipherSuite::AesGcm256Sha512), (64, None, 32, 16));
        assert_eq!(sizes(CipherSuite::AesCtr256HmacSha512Tag64), (64, Some(32), 96, 8));
    }
}
