//! The SFrame core per frame beside the bare AES-GCM (aes-gcm, which SFrame uses with
//! either backend feature) sealing and opening the same bytes with the same AAD (the
//! header), for the two GCM suites.

use std::hint::black_box;

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};
use criterion::Criterion;
use gstjframe::sframe::{CipherSuite, Header, KeySet, derive_key};

use super::{Comparison, Row, SIZES, batch_for, compare, on_copies};

const KID: u64 = 1;
/// A CTR as `CtrSequence::new` gives them: 8 bytes in the header.
const CTR: u64 = 0x5A5A_5A5A_5A5A_5A5A;
const BASE_KEY: &[u8] = b"bench base key, 32 bytes........";

/// The suite's AEAD straight from aes-gcm.
enum Bare {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl Bare {
    fn new(suite: CipherSuite) -> Bare {
        let key = derive_key(suite, KID, BASE_KEY).key;
        match suite {
            CipherSuite::AesGcm128Sha256 => Bare::Aes128(Box::new(Aes128Gcm::new_from_slice(&key).expect("16 bytes"))),
            _ => Bare::Aes256(Box::new(Aes256Gcm::new_from_slice(&key).expect("32 bytes"))),
        }
    }

    fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
        let tag = match self {
            Bare::Aes128(c) => c.encrypt_inout_detached(&Array::from(*nonce), aad, data.into()),
            Bare::Aes256(c) => c.encrypt_inout_detached(&Array::from(*nonce), aad, data.into()),
        };
        tag.expect("frame fits AES-GCM").into()
    }

    fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool {
        let (nonce, tag) = (Array::from(*nonce), Array::from(*tag));
        match self {
            Bare::Aes128(c) => c.decrypt_inout_detached(&nonce, aad, data.into(), &tag).is_ok(),
            Bare::Aes256(c) => c.decrypt_inout_detached(&nonce, aad, data.into(), &tag).is_ok(),
        }
    }
}

fn short_name(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::AesGcm128Sha256 => "sframe-gcm128",
        _ => "sframe-gcm256",
    }
}

pub fn frames(c: &mut Criterion, rows: &mut Vec<Row>) {
    for suite in [CipherSuite::AesGcm128Sha256, CipherSuite::AesGcm256Sha512] {
        let mut keys = KeySet::new(suite);
        keys.insert(KID, BASE_KEY).expect("a base key");
        let mut receiver = keys.clone();
        let bare = Bare::new(suite);
        let header = Header::new(KID, CTR).encode();
        let nonce = [9u8; 12];
        let mut ctr = CTR;
        for size in SIZES {
            let plain = vec![0x5a; size];
            let encrypt = Comparison {
                name: format!("{}/encrypt/{size}", short_name(suite)),
                core: on_copies(plain.clone(), |frame| {
                    ctr += 1;
                    black_box(keys.encrypt(KID, ctr, &[], frame).expect("encrypts"));
                }),
                bare: on_copies(plain, |frame| {
                    black_box(bare.seal(&nonce, &header, frame));
                }),
                batch: batch_for(size),
            };
            rows.push(compare(c, Some(size), encrypt));

            let mut sealed: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut sender = KeySet::new(suite);
            sender.insert(KID, BASE_KEY).expect("a base key");
            sender.encrypt_vec(KID, CTR, &[], &mut sealed).expect("encrypts");
            let mut bare_sealed: Vec<u8> = header.to_vec();
            let mut body: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let tag = bare.seal(&nonce, &header, &mut body);
            bare_sealed.extend_from_slice(&body);
            bare_sealed.extend_from_slice(&tag);
            let decrypt = Comparison {
                name: format!("{}/decrypt/{size}", short_name(suite)),
                core: on_copies(sealed, |frame| {
                    assert!(receiver.decrypt(&[], frame, None).is_ok(), "core decrypts");
                }),
                bare: on_copies(bare_sealed, |frame| {
                    let (aad, rest) = frame.split_at_mut(header.len());
                    let (data, tag) = rest.split_at_mut(size);
                    let tag: [u8; 16] = (&*tag).try_into().expect("a 16-byte tag");
                    assert!(bare.open(&nonce, aad, data, &tag), "bare open authenticates");
                }),
                batch: batch_for(size),
            };
            rows.push(compare(c, Some(size), decrypt));
        }
    }
}
