//! SFrame (RFC 9605), free of GStreamer types: the header, the key schedule, the cipher
//! suites 0x0001-0x0008, the ratchet, and the generic RTP packetization of
//! draft-ietf-avtcore-rtp-sframe.
//!
//! A frame is sent as `header || AEAD ciphertext || tag`; the header carries the KID
//! (which key) and the CTR (which nonce). A [`KeySet`] holds the keys of one suite by
//! KID and encrypts and decrypts frames in place; a [`CtrSequence`] gives a sender's
//! CTRs; a [`ReplayWindow`] lets a receiver refuse frames it has already accepted.
//! [`rtp`] splits ciphertexts into RTP payloads and puts them back together.

mod aead;
mod ctr;
mod error;
mod frame;
mod header;
mod kdf;
mod keys;
mod replay;
pub mod rtp;
mod suite;

pub use aead::{Aad, Aead, OpenFailed, Tag};
pub use ctr::CtrSequence;
pub use error::{DecryptError, EncryptError, HeaderError, KeyError};
pub use frame::{Decrypted, Sealed};
pub use header::{EncodedHeader, Header, MAX_HEADER_LEN};
pub use kdf::{DerivedKey, Secret, derive_key, ratchet_base_key, ssrc_base_key};
pub use keys::{KeySet, Ratchet};
pub use replay::{REPLAY_MAX_KIDS, REPLAY_WINDOW_LEN, ReplayWindow};
pub use suite::{CipherSuite, MAX_TAG_LEN, NONCE_LEN};
