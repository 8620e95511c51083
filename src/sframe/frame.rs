//! Encrypting and decrypting frames with a [`KeySet`] (RFC 9605 §4.4.3, §4.4.4).
//!
//! A frame on the wire is `header || ciphertext || tag`. The nonce is the salt of the
//! KID's key XOR the CTR (big-endian, 12 bytes); the AAD is `header || metadata`, the
//! metadata being the application's and never sent. Both ways work in place on the
//! frame's bytes: a sender gets the header and the tag to put around its encrypted
//! bytes; a receiver gets the range of the frame that is now the plaintext.

use std::ops::Range;

use super::aead::{Aad, Tag};
use super::error::{DecryptError, EncryptError};
use super::header::{EncodedHeader, Header};
use super::keys::{KeySet, KidKey};
use super::replay::ReplayWindow;
use super::suite::NONCE_LEN;

/// What a sender puts around its encrypted bytes: `header || ciphertext || tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub header: EncodedHeader,
    pub tag: Tag,
}

/// A frame that authenticated: its header, where the plaintext now is in the buffer,
/// and how many ratchet steps the receiver took to reach its key (0 for a known KID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decrypted {
    pub header: Header,
    pub plaintext: Range<usize>,
    pub ratchet_steps: u32,
}

fn nonce(salt: &[u8; NONCE_LEN], ctr: u64) -> [u8; NONCE_LEN] {
    let mut nonce = *salt;
    nonce[4..].iter_mut().zip(ctr.to_be_bytes()).for_each(|(n, c)| *n ^= c);
    nonce
}

impl KeySet {
    /// Encrypts `data` in place under `kid` with counter `ctr`; returns the header and
    /// the tag to put around it. `ctr` must be above the last one used under this key
    /// (see [`CtrSequence`](super::CtrSequence)): a CTR used twice under one key would
    /// repeat a nonce.
    pub fn encrypt(&mut self, kid: u64, ctr: u64, metadata: &[u8], data: &mut [u8]) -> Result<Sealed, EncryptError> {
        let key = self.keys.get_mut(&kid).ok_or(EncryptError::NoKey { kid })?;
        if key.last_sent_ctr.is_some_and(|last| ctr <= last) {
            return Err(EncryptError::CtrNotIncreasing { kid, ctr });
        }
        let header = Header::new(kid, ctr).encode();
        let tag = key.aead.seal(&nonce(&key.salt, ctr), Aad { header: &header, metadata }, data)?;
        key.last_sent_ctr = Some(ctr);
        Ok(Sealed { header, tag })
    }

    /// Encrypts the plaintext in `frame` into the whole SFrame ciphertext, in the same
    /// vector (the payload moves once to make room for the header).
    pub fn encrypt_vec(
        &mut self,
        kid: u64,
        ctr: u64,
        metadata: &[u8],
        frame: &mut Vec<u8>,
    ) -> Result<(), EncryptError> {
        let sealed = self.encrypt(kid, ctr, metadata, frame)?;
        frame.reserve(sealed.header.len() + sealed.tag.len());
        frame.splice(0..0, sealed.header.iter().copied());
        frame.extend_from_slice(&sealed.tag);
        Ok(())
    }

    /// Decrypts the SFrame ciphertext `frame` in place. On success the plaintext is
    /// `frame[decrypted.plaintext]`; on failure the frame is left as it was.
    ///
    /// A KID without a key is followed by the ratchet when one is configured; the new
    /// key is kept only once it authenticated the frame. With `replay`, a KID and CTR
    /// accepted before are refused ([`DecryptError::Replayed`], checked before any
    /// cryptography, recorded only after authentication); without it a replayed frame
    /// decrypts again.
    pub fn decrypt(
        &mut self,
        metadata: &[u8],
        frame: &mut [u8],
        replay: Option<&mut ReplayWindow>,
    ) -> Result<Decrypted, DecryptError> {
        let (header, header_len) = Header::parse(frame)?;
        let Header { kid, ctr } = header;
        let tag_len = self.suite().tag_len();
        if frame.len() < header_len + tag_len {
            return Err(DecryptError::TooShort { kid, len: frame.len() });
        }
        if let Some(window) = &replay {
            window.check(kid, ctr)?;
        }
        let ratchet_steps = match self.keys.get(&kid) {
            Some(key) => {
                open(key, header, frame, header_len, tag_len, metadata)?;
                0
            }
            None => {
                let (key, steps) = self.ratchet_candidate(kid).ok_or(DecryptError::UnknownKid { kid })?;
                open(&key, header, frame, header_len, tag_len, metadata)?;
                self.commit_ratchet(kid, key, steps);
                steps
            }
        };
        if let Some(window) = replay {
            window.accept(kid, ctr);
        }
        Ok(Decrypted { header, plaintext: header_len..frame.len() - tag_len, ratchet_steps })
    }
}

fn open(
    key: &KidKey,
    Header { kid, ctr }: Header,
    frame: &mut [u8],
    header_len: usize,
    tag_len: usize,
    metadata: &[u8],
) -> Result<(), DecryptError> {
    let (header, body) = frame.split_at_mut(header_len);
    let (ciphertext, tag) = body.split_at_mut(body.len() - tag_len);
    let aad = Aad { header, metadata };
    key.aead
        .open(&nonce(&key.salt, ctr), aad, ciphertext, tag)
        .map_err(|_| DecryptError::AuthenticationFailed { kid, ctr })
}
