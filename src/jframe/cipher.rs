//! The AES-GCM backend, behind the two calls the format needs.
//!
//! RustCrypto's `aes-gcm` by default. The `ring` feature hands frames with 12-byte IVs
//! (all that senders write) to ring's AES-GCM, which is faster on CPUs with VAES; the
//! rare 16-byte IV stays on `aes-gcm` in both configurations.

use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::U16;
use aes_gcm::aes::{Aes128, Aes256};
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use zeroize::Zeroizing;

use super::frame::{IV_LEN, TAG_LEN};

/// An AES-GCM key (128 or 256 bits) with its expanded state, ready for frames.
pub(crate) struct FrameCipher {
    key: Zeroizing<Vec<u8>>,
    aead: backend::Aead,
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
        let aead = backend::Aead::new(key)?;
        Ok(FrameCipher { key: Zeroizing::new(key.to_vec()), aead })
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Encrypts `data` in place and returns the tag.
    pub(crate) fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN], AeadFailed> {
        self.aead.seal(iv, aad, data)
    }

    /// Decrypts `data` in place if `tag` authenticates it; leaves it untouched otherwise.
    ///
    /// The reference reads the IV length from the frame: 12 bytes is what every sender
    /// writes; 16 is also accepted (the only other length seen in the reference's vectors).
    pub(crate) fn open(&self, iv: &[u8], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<(), AeadFailed> {
        let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| AeadFailed)?;
        match iv.len() {
            IV_LEN => self.aead.open(iv.try_into().map_err(|_| AeadFailed)?, aad, data, tag),
            16 => self.open_with_16_byte_iv(iv, aad, data, tag),
            _ => Err(AeadFailed),
        }
    }

    fn open_with_16_byte_iv(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadFailed> {
        let nonce = Array::<u8, U16>::try_from(iv).map_err(|_| AeadFailed)?;
        let tag = Array::from(*tag);
        let result = match self.key.len() {
            16 => AesGcm::<Aes128, U16>::new_from_slice(&self.key).map_err(|_| AeadFailed)?.decrypt_inout_detached(
                &nonce,
                aad,
                data.into(),
                &tag,
            ),
            _ => AesGcm::<Aes256, U16>::new_from_slice(&self.key).map_err(|_| AeadFailed)?.decrypt_inout_detached(
                &nonce,
                aad,
                data.into(),
                &tag,
            ),
        };
        result.map_err(|_| AeadFailed)
    }
}

/// RustCrypto's AES-GCM: verifies the tag before it decrypts, so a failed open
/// leaves the bytes as they were.
#[cfg(not(feature = "ring"))]
mod backend {
    use aes_gcm::aead::array::Array;
    use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};

    use super::{AeadFailed, BadKeyLength, IV_LEN, TAG_LEN};

    pub(super) enum Aead {
        Aes128(Box<Aes128Gcm>),
        Aes256(Box<Aes256Gcm>),
    }

    impl Aead {
        pub(super) fn new(key: &[u8]) -> Result<Aead, BadKeyLength> {
            let bad_length = |_| BadKeyLength(key.len());
            match key.len() {
                16 => Ok(Aead::Aes128(Box::new(Aes128Gcm::new(&Array::try_from(key).map_err(bad_length)?)))),
                32 => Ok(Aead::Aes256(Box::new(Aes256Gcm::new(&Array::try_from(key).map_err(bad_length)?)))),
                other => Err(BadKeyLength(other)),
            }
        }

        pub(super) fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN], AeadFailed> {
            let nonce = Array::from(*iv);
            let tag = match self {
                Aead::Aes128(c) => c.encrypt_inout_detached(&nonce, aad, data.into()),
                Aead::Aes256(c) => c.encrypt_inout_detached(&nonce, aad, data.into()),
            };
            tag.map(Into::into).map_err(|_| AeadFailed)
        }

        pub(super) fn open(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            data: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            let (nonce, tag) = (Array::from(*iv), Array::from(*tag));
            let result = match self {
                Aead::Aes128(c) => c.decrypt_inout_detached(&nonce, aad, data.into(), &tag),
                Aead::Aes256(c) => c.decrypt_inout_detached(&nonce, aad, data.into(), &tag),
            };
            result.map_err(|_| AeadFailed)
        }
    }
}

/// ring's AES-GCM. It decrypts while it authenticates and zeroes the output when the
/// tag is wrong, so `open` keeps a copy of the ciphertext to put back on failure:
/// the caller retries ratcheted keys on the same bytes.
#[cfg(feature = "ring")]
mod backend {
    use std::cell::RefCell;

    use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};

    use super::{AeadFailed, BadKeyLength, IV_LEN, TAG_LEN};

    thread_local! {
        /// The ciphertext being opened; grows to the largest frame, then is reused.
        static CIPHERTEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) struct Aead(LessSafeKey);

    impl Aead {
        pub(super) fn new(key: &[u8]) -> Result<Aead, BadKeyLength> {
            let algorithm = match key.len() {
                16 => &AES_128_GCM,
                32 => &AES_256_GCM,
                other => return Err(BadKeyLength(other)),
            };
            let key = UnboundKey::new(algorithm, key).map_err(|_| BadKeyLength(key.len()))?;
            Ok(Aead(LessSafeKey::new(key)))
        }

        pub(super) fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN], AeadFailed> {
            let tag = self.0.seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), data);
            let tag = tag.map_err(|_| AeadFailed)?;
            <[u8; TAG_LEN]>::try_from(tag.as_ref()).map_err(|_| AeadFailed)
        }

        pub(super) fn open(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            data: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            CIPHERTEXT.with_borrow_mut(|ciphertext| {
                ciphertext.clear();
                ciphertext.extend_from_slice(data);
                let nonce = Nonce::assume_unique_for_key(*iv);
                let opened =
                    self.0.open_in_place_separate_tag(nonce, Aad::from(aad), Tag::from(*tag), data, 0..).is_ok();
                if !opened {
                    data.copy_from_slice(ciphertext);
                }
                opened.then_some(()).ok_or(AeadFailed)
            })
        }
    }
}
