//! The AEAD of each suite (RFC 9605 §4.5): AES-GCM, or AES-CTR with a truncated
//! HMAC tag (§4.5.1). The AAD comes in two parts, the header and the metadata, so that
//! neither has to be copied next to the other in the frame.

use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aes::{Aes128, Aes128Enc, Aes256, Aes256Enc};
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use ctr::cipher::{BlockCipherEncrypt, InnerIvInit, StreamCipher, StreamCipherCoreWrapper};
use ctr::flavors::Ctr32BE;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use super::error::{EncryptError, KeyError};
use super::suite::{CipherSuite, MAX_TAG_LEN, NONCE_LEN};

type Aes128Gcm = AesGcm<Aes128, U12>;
type Aes256Gcm = AesGcm<Aes256, U12>;

/// The AAD of a frame: its header, then the application's metadata.
#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    pub header: &'a [u8],
    pub metadata: &'a [u8],
}

/// A tag of up to 16 bytes, as long as the suite's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    bytes: [u8; MAX_TAG_LEN],
    len: u8,
}

impl std::ops::Deref for Tag {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tag({} bytes)", self.len)
    }
}

/// The tag did not authenticate the frame, or the frame is beyond the suite's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFailed;

/// A suite's AEAD with its key schedule ready. Wiped on drop (`zeroize` features of
/// aes, aes-gcm and hmac); its Debug shows the suite only.
#[derive(Clone)]
pub struct Aead {
    suite: CipherSuite,
    cipher: Cipher,
}

#[derive(Clone)]
enum Cipher {
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    CtrHmac128(Box<CtrHmac<Aes128Enc, Hmac<Sha256>>>),
    CtrHmac256(Box<CtrHmac<Aes256Enc, Hmac<Sha512>>>),
}

impl std::fmt::Debug for Aead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aead").field("suite", &self.suite).finish_non_exhaustive()
    }
}

impl Aead {
    /// The AEAD of `suite` under `key` (Nk bytes: for a CTR suite, the AES key then the
    /// HMAC key).
    pub fn new(suite: CipherSuite, key: &[u8]) -> Result<Aead, KeyError> {
        let bad_length = KeyError::BadKeyLength { expected: suite.key_len(), got: key.len() };
        if key.len() != suite.key_len() {
            return Err(bad_length);
        }
        let cipher = match (suite, suite.aes_key_len()) {
            (CipherSuite::AesGcm128Sha256, _) => {
                Cipher::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad_length)?))
            }
            (CipherSuite::AesGcm256Sha512, _) => {
                Cipher::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad_length)?))
            }
            (_, Some(16)) => Cipher::CtrHmac128(Box::new(CtrHmac::new(key, 16, suite.tag_len()).ok_or(bad_length)?)),
            (_, _) => Cipher::CtrHmac256(Box::new(CtrHmac::new(key, 32, suite.tag_len()).ok_or(bad_length)?)),
        };
        Ok(Aead { suite, cipher })
    }

    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Encrypts `data` in place and returns the tag to append.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: Aad<'_>, data: &mut [u8]) -> Result<Tag, EncryptError> {
        let mut tag = Tag { bytes: [0; MAX_TAG_LEN], len: self.suite.tag_len() as u8 };
        match &self.cipher {
            Cipher::Gcm128(c) => with_joined(aad, |aad| seal_gcm(&**c, nonce, aad, data, &mut tag.bytes))?,
            Cipher::Gcm256(c) => with_joined(aad, |aad| seal_gcm(&**c, nonce, aad, data, &mut tag.bytes))?,
            Cipher::CtrHmac128(c) => c.seal(nonce, aad, data, &mut tag.bytes)?,
            Cipher::CtrHmac256(c) => c.seal(nonce, aad, data, &mut tag.bytes)?,
        }
        Ok(tag)
    }

    /// Decrypts `data` in place if `tag` (exactly Nt bytes) authenticates it; leaves it
    /// untouched otherwise.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: Aad<'_>, data: &mut [u8], tag: &[u8]) -> Result<(), OpenFailed> {
        if tag.len() != self.suite.tag_len() {
            return Err(OpenFailed);
        }
        match &self.cipher {
            Cipher::Gcm128(c) => with_joined(aad, |aad| open_gcm(&**c, nonce, aad, data, tag)),
            Cipher::Gcm256(c) => with_joined(aad, |aad| open_gcm(&**c, nonce, aad, data, tag)),
            Cipher::CtrHmac128(c) => c.open(nonce, aad, data, tag),
            Cipher::CtrHmac256(c) => c.open(nonce, aad, data, tag),
        }
    }
}

/// AAD up to this length is joined on the stack; longer metadata goes through the heap.
const STACK_AAD_LEN: usize = 256;

/// Calls `f` with header || metadata as one slice (GCM takes its AAD whole).
fn with_joined<T>(aad: Aad<'_>, f: impl FnOnce(&[u8]) -> T) -> T {
    if aad.metadata.is_empty() {
        return f(aad.header);
    }
    let len = aad.header.len() + aad.metadata.len();
    if len <= STACK_AAD_LEN {
        let mut joined = [0u8; STACK_AAD_LEN];
        joined[..aad.header.len()].copy_from_slice(aad.header);
        joined[aad.header.len()..len].copy_from_slice(aad.metadata);
        f(&joined[..len])
    } else {
        f(&[aad.header, aad.metadata].concat())
    }
}

fn seal_gcm<C: AeadInOut<TagSize = U16, NonceSize = U12>>(
    cipher: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    data: &mut [u8],
    tag: &mut [u8; MAX_TAG_LEN],
) -> Result<(), EncryptError> {
    let sealed = cipher.encrypt_inout_detached(&Array::from(*nonce), aad, data.into());
    *tag = sealed.map_err(|_| EncryptError::TooLong)?.into();
    Ok(())
}

fn open_gcm<C: AeadInOut<TagSize = U16, NonceSize = U12>>(
    cipher: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    data: &mut [u8],
    tag: &[u8],
) -> Result<(), OpenFailed> {
    let tag = Array::try_from(tag).map_err(|_| OpenFailed)?;
    cipher.decrypt_inout_detached(&Array::from(*nonce), aad, data.into(), &tag).map_err(|_| OpenFailed)
}

/// AES-CTR + HMAC (RFC 9605 §4.5.1): the AES key is the first Nka bytes of the key,
/// the HMAC key the rest; the keystream starts at the block `nonce || 0u32`.
#[derive(Clone)]
struct CtrHmac<A, M> {
    aes: A,
    /// HMAC keyed once; cloned for each frame.
    mac: M,
    tag_len: usize,
}

impl<A: BlockCipherEncrypt<BlockSize = U16> + KeyInit, M: Mac + hmac::KeyInit + Clone> CtrHmac<A, M> {
    fn new(key: &[u8], aes_key_len: usize, tag_len: usize) -> Option<Self> {
        let (aes_key, mac_key) = key.split_at_checked(aes_key_len)?;
        let aes = <A as KeyInit>::new_from_slice(aes_key).ok()?;
        let mac = <M as hmac::KeyInit>::new_from_slice(mac_key).ok()?;
        Some(CtrHmac { aes, mac, tag_len })
    }

    fn keystream(&self, nonce: &[u8; NONCE_LEN], data: &mut [u8]) -> Result<(), EncryptError> {
        let mut block = [0u8; 16];
        block[..NONCE_LEN].copy_from_slice(nonce);
        let core = ctr::CtrCore::<&A, Ctr32BE>::inner_iv_init(&self.aes, &Array::from(block));
        StreamCipherCoreWrapper::from_core(core).try_apply_keystream(data).map_err(|_| EncryptError::TooLong)
    }

    /// `HMAC(auth_key, u64(len aad) || u64(len ct) || u64(Nt) || nonce || aad || ct)`.
    fn mac(&self, nonce: &[u8; NONCE_LEN], aad: Aad<'_>, ciphertext: &[u8]) -> M {
        let mut mac = self.mac.clone();
        let aad_len = (aad.header.len() + aad.metadata.len()) as u64;
        mac.update(&aad_len.to_be_bytes());
        mac.update(&(ciphertext.len() as u64).to_be_bytes());
        mac.update(&(self.tag_len as u64).to_be_bytes());
        mac.update(nonce);
        mac.update(aad.header);
        mac.update(aad.metadata);
        mac.update(ciphertext);
        mac
    }

    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: Aad<'_>,
        data: &mut [u8],
        tag: &mut [u8; MAX_TAG_LEN],
    ) -> Result<(), EncryptError> {
        self.keystream(nonce, data)?;
        let full = self.mac(nonce, aad, data).finalize().into_bytes();
        tag[..self.tag_len].copy_from_slice(&full[..self.tag_len]);
        Ok(())
    }

    /// Checks the tag in constant time, then decrypts.
    fn open(&self, nonce: &[u8; NONCE_LEN], aad: Aad<'_>, data: &mut [u8], tag: &[u8]) -> Result<(), OpenFailed> {
        self.mac(nonce, aad, data).verify_truncated_left(tag).map_err(|_| OpenFailed)?;
        self.keystream(nonce, data).map_err(|_| OpenFailed)
    }
}
