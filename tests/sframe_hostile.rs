//! Bad input to the SFrame core: every kind the RFC's frames can be damaged in, each
//! refused with its typed error, the frame left untouched and the keys unchanged; and
//! arbitrary bytes, which never panic and never decrypt.
//!
//! `PROPTEST_CASES` overrides the number of cases of the properties.

use gstjframe::sframe::{CipherSuite, DecryptError, EncryptError, Header, HeaderError, KeySet, ReplayWindow};
use proptest::prelude::*;

const KID: u64 = 0x123;
const BASE_KEY: &[u8] = b"hostile base key";
const METADATA: &[u8] = b"rtp header";

fn keys(suite: CipherSuite) -> KeySet {
    let mut keys = KeySet::new(suite);
    keys.insert(KID, BASE_KEY).unwrap();
    keys.insert(7, b"another key").unwrap();
    keys
}

fn sealed(suite: CipherSuite, ctr: u64, plain: &[u8]) -> Vec<u8> {
    let mut frame = plain.to_vec();
    keys(suite).encrypt_vec(KID, ctr, METADATA, &mut frame).unwrap();
    frame
}

/// Decrypts a copy of `frame`; on failure checks that the copy was left as it was.
fn decrypt(keys: &mut KeySet, frame: &[u8], replay: Option<&mut ReplayWindow>) -> Result<Vec<u8>, DecryptError> {
    let mut buffer = frame.to_vec();
    match keys.decrypt(METADATA, &mut buffer, replay) {
        Ok(done) => Ok(buffer[done.plaintext].to_vec()),
        Err(e) => {
            assert_eq!(buffer, frame, "a refused frame was modified ({e})");
            Err(e)
        }
    }
}

#[test]
fn a_config_byte_announcing_more_bytes_than_the_frame_has_is_refused() {
    let mut keys = keys(CipherSuite::AesGcm128Sha256);
    // KID of 8 bytes and CTR of 8 bytes announced, 5 bytes present.
    assert_eq!(
        decrypt(&mut keys, &[0xFF, 1, 2, 3, 4], None),
        Err(DecryptError::Header(HeaderError::Truncated { needed: 17, available: 5 }))
    );
    for len in 1..17 {
        let frame = vec![0xFFu8; len];
        assert!(matches!(decrypt(&mut keys, &frame, None), Err(DecryptError::Header(HeaderError::Truncated { .. }))));
    }
    // A header with no room for the tag after it.
    let header = Header::new(KID, 9).encode();
    assert_eq!(decrypt(&mut keys, &header, None), Err(DecryptError::TooShort { kid: KID, len: header.len() }));
}

#[test]
fn empty_frames_are_refused_and_empty_plaintexts_round_trip() {
    for suite in CipherSuite::ALL {
        let mut keys = keys(suite);
        assert_eq!(decrypt(&mut keys, &[], None), Err(DecryptError::Header(HeaderError::Empty)));
        let frame = sealed(suite, 1, &[]);
        assert_eq!(frame.len(), Header::new(KID, 1).encoded_len() + suite.tag_len());
        assert_eq!(decrypt(&mut keys, &frame, None), Ok(vec![]));
    }
}

#[test]
fn an_unknown_kid_is_refused() {
    let frame = sealed(CipherSuite::AesGcm128Sha256, 1, b"frame");
    let mut other = KeySet::new(CipherSuite::AesGcm128Sha256);
    other.insert(KID + 1, BASE_KEY).unwrap();
    assert_eq!(decrypt(&mut other, &frame, None), Err(DecryptError::UnknownKid { kid: KID }));
    assert_eq!(
        decrypt(&mut KeySet::new(CipherSuite::AesGcm128Sha256), &frame, None),
        Err(DecryptError::UnknownKid { kid: KID })
    );
}

#[test]
fn a_truncated_tag_fails_authentication() {
    for suite in CipherSuite::ALL {
        let frame = sealed(suite, 5, b"a frame of some length");
        let mut keys = keys(suite);
        for cut in 1..=suite.tag_len() {
            let result = decrypt(&mut keys, &frame[..frame.len() - cut], None);
            assert_eq!(
                result,
                Err(DecryptError::AuthenticationFailed { kid: KID, ctr: 5 }),
                "{suite}, {cut} bytes cut"
            );
        }
    }
}

#[test]
fn one_bit_flipped_anywhere_is_refused() {
    for suite in CipherSuite::ALL {
        let frame = sealed(suite, 0x4567, b"draft-ietf-sframe-enc");
        let mut keys = keys(suite);
        for bit in 0..frame.len() * 8 {
            let mut damaged = frame.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decrypt(&mut keys, &damaged, None).is_err(), "{suite}: bit {bit} flipped decrypted");
        }
        // The metadata is authenticated too.
        let mut buffer = frame.clone();
        assert!(keys.decrypt(b"rtp headeR", &mut buffer, None).is_err());
        assert_eq!(decrypt(&mut keys, &frame, None), Ok(b"draft-ietf-sframe-enc".to_vec()));
    }
}

#[test]
fn non_minimal_headers_are_refused() {
    // KID 7 written in an extension byte (`81 07`, CTR 1 inline), which some decoders accept.
    let mut keys = keys(CipherSuite::AesGcm128Sha256);
    let frame = [&[0x81, 0x07, 0x01][..], &[0u8; 16]].concat();
    assert_eq!(decrypt(&mut keys, &frame, None), Err(DecryptError::Header(HeaderError::NotMinimal)));
}

#[test]
fn a_replayed_frame_is_refused_with_a_replay_window_and_decrypts_again_without() {
    let suite = CipherSuite::AesGcm128Sha256;
    let mut keys = keys(suite);
    let mut window = ReplayWindow::new();
    let (first, second) = (sealed(suite, 100, b"one"), sealed(suite, 101, b"two"));
    assert_eq!(decrypt(&mut keys, &second, Some(&mut window)), Ok(b"two".to_vec()));
    assert_eq!(decrypt(&mut keys, &first, Some(&mut window)), Ok(b"one".to_vec()), "reordered, not replayed");
    assert_eq!(decrypt(&mut keys, &first, Some(&mut window)), Err(DecryptError::Replayed { kid: KID, ctr: 100 }));
    assert_eq!(decrypt(&mut keys, &second, Some(&mut window)), Err(DecryptError::Replayed { kid: KID, ctr: 101 }));
    let far_ahead = sealed(suite, 1000, b"later");
    assert!(decrypt(&mut keys, &far_ahead, Some(&mut window)).is_ok());
    let late = sealed(suite, 102, b"late");
    assert_eq!(decrypt(&mut keys, &late, Some(&mut window)), Err(DecryptError::TooOld { kid: KID, ctr: 102 }));
    // A forged frame does not enter the window: the genuine one with its CTR still decrypts.
    let genuine = sealed(suite, 1001, b"genuine");
    let mut forged = genuine.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert!(decrypt(&mut keys, &forged, Some(&mut window)).is_err());
    assert_eq!(decrypt(&mut keys, &genuine, Some(&mut window)), Ok(b"genuine".to_vec()));
    // Without a window a replay decrypts again.
    assert_eq!(decrypt(&mut keys, &first, None), Ok(b"one".to_vec()));
}

#[test]
fn a_sender_refuses_to_reuse_a_ctr() {
    let mut keys = keys(CipherSuite::AesGcm128Sha256);
    let mut data = *b"frame";
    keys.encrypt(KID, 10, METADATA, &mut data).unwrap();
    let mut again = *b"frame";
    assert_eq!(keys.encrypt(KID, 10, METADATA, &mut again), Err(EncryptError::CtrNotIncreasing { kid: KID, ctr: 10 }));
    assert_eq!(keys.encrypt(KID, 9, METADATA, &mut again), Err(EncryptError::CtrNotIncreasing { kid: KID, ctr: 9 }));
    assert_eq!(again, *b"frame", "a refused frame is left as it was");
    assert!(keys.encrypt(KID, 11, METADATA, &mut again).is_ok());
    assert!(keys.encrypt(7, 10, METADATA, &mut b"other".to_vec()).is_ok(), "another KID has its own CTRs");
    assert_eq!(keys.encrypt(8, 1, METADATA, &mut b"x".to_vec()), Err(EncryptError::NoKey { kid: 8 }));
}

fn any_suite() -> impl Strategy<Value = CipherSuite> {
    prop::sample::select(CipherSuite::ALL.to_vec())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, with or without a known KID in front: no panic, no success.
    #[test]
    fn arbitrary_frames_never_panic_nor_decrypt(
        suite in any_suite(),
        known_kid in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut keys = keys(suite);
        keys.set_ratchet(Some(gstjframe::sframe::Ratchet { step_bits: 4, window: 8 })).unwrap();
        let frame = if known_kid { [&Header::new(KID, 3).encode()[..], &bytes].concat() } else { bytes };
        let mut window = ReplayWindow::new();
        prop_assert!(decrypt(&mut keys, &frame, Some(&mut window)).is_err());
        prop_assert_eq!(keys.len(), 2);
    }

    /// Genuine frames damaged at random (cut, extended, a byte replaced): refused.
    #[test]
    fn damaged_frames_are_refused(
        suite in any_suite(),
        ctr in any::<u64>(),
        plain in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
        byte in 1u8..,
        how in 0u8..3,
    ) {
        let frame = sealed(suite, ctr, &plain);
        let mut damaged = frame.clone();
        let i = at.index(frame.len());
        match how {
            0 => damaged.truncate(i),
            1 => damaged.insert(i, byte),
            _ => damaged[i] ^= byte,
        }
        let mut keys = keys(suite);
        prop_assert!(decrypt(&mut keys, &damaged, None).is_err());
        prop_assert_eq!(decrypt(&mut keys, &frame, None), Ok(plain));
    }

    /// Headers: whatever the bytes, parsing never panics, and what parses re-encodes
    /// to the same bytes (one encoding per header).
    #[test]
    fn headers_parse_strictly(bytes in prop::collection::vec(any::<u8>(), 0..20)) {
        if let Ok((header, len)) = Header::parse(&bytes) {
            prop_assert_eq!(&header.encode()[..], &bytes[..len]);
        }
    }
}
