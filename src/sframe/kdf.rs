//! Key derivation (RFC 9605 §4.4.2), the ratchet (§5.1) and the per-SSRC keys of
//! draft-ietf-avtcore-rtp-sframe, with HKDF of the suite's hash.

use hkdf::Hkdf;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use super::suite::{CipherSuite, Hash, NONCE_LEN};

/// Key bytes that are wiped from memory when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

const KEY_LABEL: &[u8] = b"SFrame 1.0 Secret key ";
const SALT_LABEL: &[u8] = b"SFrame 1.0 Secret salt ";
const RATCHET_LABEL: &[u8] = b"SFrame 1.0 Ratchet";
const SSRC_LABEL: &[u8] = b"SFrame 1.0 RTP Stream";

/// The AEAD key and the salt of one base key under one KID and suite.
pub struct DerivedKey {
    /// `sframe_key`: Nk bytes.
    pub key: Secret,
    /// `sframe_salt`: Nn bytes.
    pub salt: Zeroizing<[u8; NONCE_LEN]>,
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey { .. }")
    }
}

/// `HKDF-Expand(HKDF-Extract(salt, ikm), info, len)`; `None` salt is Nh zero bytes.
fn hkdf(hash: Hash, salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
    // Outputs up to 255 * Nh bytes cannot fail; ours are at most 96.
    let expanded = match hash {
        Hash::Sha256 => Hkdf::<Sha256>::new(salt, ikm).expand_multi_info(info, out),
        Hash::Sha512 => Hkdf::<Sha512>::new(salt, ikm).expand_multi_info(info, out),
    };
    if expanded.is_err() {
        unreachable!("HKDF output of {} bytes", out.len());
    }
}

/// `sframe_key` and `sframe_salt` of `base_key` for `kid` under `suite`: HKDF with the
/// labels `"SFrame 1.0 Secret key " || KID || suite` and `"... salt " || KID || suite`.
pub fn derive_key(suite: CipherSuite, kid: u64, base_key: &[u8]) -> DerivedKey {
    let (kid, id) = (kid.to_be_bytes(), suite.id().to_be_bytes());
    let mut key = Zeroizing::new(vec![0u8; suite.key_len()]);
    let mut salt = Zeroizing::new([0u8; NONCE_LEN]);
    hkdf(suite.hash(), None, base_key, &[KEY_LABEL, &kid, &id], &mut key);
    hkdf(suite.hash(), None, base_key, &[SALT_LABEL, &kid, &id], salt.as_mut());
    DerivedKey { key, salt }
}

/// The next base key of the ratchet (§5.1):
/// `HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh)`.
pub fn ratchet_base_key(suite: CipherSuite, base_key: &[u8]) -> Secret {
    let mut next = Zeroizing::new(vec![0u8; suite.hash_len()]);
    hkdf(suite.hash(), None, base_key, &[RATCHET_LABEL], &mut next);
    next
}

/// The base key of one RTP stream (draft-ietf-avtcore-rtp-sframe, "SFrame SDP RTP Key
/// Management"): `HKDF-Expand(HKDF-Extract(SSRC (4 bytes BE), base_key),
/// "SFrame 1.0 RTP Stream", Nh)`.
pub fn ssrc_base_key(suite: CipherSuite, base_key: &[u8], ssrc: u32) -> Secret {
    let mut key = Zeroizing::new(vec![0u8; suite.hash_len()]);
    hkdf(suite.hash(), Some(&ssrc.to_be_bytes()), base_key, &[SSRC_LABEL], &mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers computed with Python's `hmac`/`hashlib` (an independent HKDF):
    /// base key 00 01 .. 0f.
    #[test]
    fn ratchet_and_ssrc_keys_match_an_independent_hkdf() {
        let base_key: Vec<u8> = (0u8..16).collect();
        let ratchet = ratchet_base_key(CipherSuite::AesGcm128Sha256, &base_key);
        assert_eq!(hex(&ratchet), RATCHET_SHA256);
        let ratchet = ratchet_base_key(CipherSuite::AesGcm256Sha512, &base_key);
        assert_eq!(hex(&ratchet), RATCHET_SHA512);
        let ssrc = ssrc_base_key(CipherSuite::AesGcm128Sha256, &base_key, 0x1234_5678);
        assert_eq!(hex(&ssrc), SSRC_SHA256);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const RATCHET_SHA256: &str = "fb75d8d5782da6c6cbf18ac43eca5da9e47f7e6ac7926a78e486226bd2af0f87";
    const RATCHET_SHA512: &str = "895fe5603750295ccbe0d5ed9745617b46e9cf9b428179b8f29f3147492bb08faa190560720ee0e4570760b64e7d5931120c391b7c7becc429ea35a9d07475aa";
    const SSRC_SHA256: &str = "f309f118aecdacfbc165cc080022b297100bbb55e483b002d762000a0faa684d";
}
