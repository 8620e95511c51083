//! The AES-GCM backend, behind the two calls the format needs.

use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::U16;
use aes_gcm::aes::{Aes128, Aes256};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, AesGcm, KeyInit};
use zeroize::Zeroizing;

use super::frame::{IV_LEN, TAG_LEN};

/// An AES-GCM key (128 or 256 bits) with its expanded state, ready for frames.
pub(crate) struct FrameCipher {
    key: Zeroizing<Vec<u8>>,
    aead: Aead,
}

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// Rejected AES key length (only 16 and 32 bytes are AES-128/256 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKeyLength(pub usize);

/// The AEAD refused: authentication failed, an IV length it cannot use, or a
/// frame beyond AES-GCM's 2^36-byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailed;

impl FrameCipher {
    pub(crate) fn new(key: &[u8]) -> Result<Self, BadKeyLength> {
        let aead = match key.len() {
            16 => Aead::Aes128(Box::new(Aes128Gcm::new(&Array::try_from(key).map_err(|_| BadKeyLength(16))?))),
            32 => Aead::Aes256(Box::new(Aes256Gcm::new(&Array::try_from(key).map_err(|_| BadKeyLength(32))?))),
            other => return Err(BadKeyLength(other)),
        };
        Ok(FrameCipher { key: Zeroizing::new(key.to_vec()), aead })
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Encrypts `data` in place and returns the tag.
    pub(crate) fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN], AeadFailed> {
        let nonce = Array::from(*iv);
        let tag = match &self.aead {
            Aead::Aes128(c) => c.encrypt_inout_detached(&nonce, aad, data.into()),
            Aead::Aes256(c) => c.encrypt_inout_detached(&nonce, aad, data.into()),
        };
        tag.map(Into::into).map_err(|_| AeadFailed)
    }

    /// Decrypts `data` in place if `tag` authenticates it; leaves it untouched otherwise.
    ///
    /// The reference reads the IV length from the frame: 12 bytes is what every sender
    /// writes; 16 is also accepted (the only other length seen in the reference's vectors).
    pub(crate) fn open(&self, iv: &[u8], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), AeadFailed> {
        let tag = Array::<u8, U16>::try_from(tag).map_err(|_| AeadFailed)?;
        let result = match (iv.len(), &self.aead) {
            (IV_LEN, Aead::Aes128(c)) => c.decrypt_inout_detached(&Array::try_from(iv).map_err(|_| AeadFailed)?, aad, data.into(), &tag),
            (IV_LEN, Aead::Aes256(c)) => c.decrypt_inout_detached(&Array::try_from(iv).map_err(|_| AeadFailed)?, aad, data.into(), &tag),
            (16, _) => return self.open_with_16_byte_iv(iv, aad, data, &tag),
            _ => return Err(AeadFailed),
        };
        result.map_err(|_| AeadFailed)
    }

    fn open_with_16_byte_iv(&self, iv: &[u8], aad: &[u8], data: &mut [u8], tag: &Array<u8, U16>) -> Result<(), AeadFailed> {
        let nonce = Array::<u8, U16>::try_from(iv).map_err(|_| AeadFailed)?;
        let result = match &self.aead {
            Aead::Aes128(_) => AesGcm::<Aes128, U16>::new_from_slice(&self.key).map_err(|_| AeadFailed)?.decrypt_inout_detached(&nonce, aad, data.into(), tag),
            Aead::Aes256(_) => AesGcm::<Aes256, U16>::new_from_slice(&self.key).map_err(|_| AeadFailed)?.decrypt_inout_detached(&nonce, aad, data.into(), tag),
        };
        result.map_err(|_| AeadFailed)
    }
}
