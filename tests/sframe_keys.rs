//! SFrame keys: many KIDs at once, the ratchet of RFC 9605 §5.1 followed by a receiver,
//! CTRs that never repeat under one key across restarts and instances, and no key
//! bytes in Debug output.

use std::collections::HashSet;

use gstjframe::sframe::{
    CipherSuite, CtrSequence, DecryptError, Header, KeyError, KeySet, Ratchet, derive_key, ratchet_base_key,
};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

fn seal(keys: &mut KeySet, kid: u64, ctr: u64, plain: &[u8]) -> Vec<u8> {
    let mut frame = plain.to_vec();
    keys.encrypt_vec(kid, ctr, &[], &mut frame).unwrap();
    frame
}

fn open(keys: &mut KeySet, frame: &[u8]) -> Result<(Vec<u8>, u32), DecryptError> {
    let mut buffer = frame.to_vec();
    let done = keys.decrypt(&[], &mut buffer, None)?;
    Ok((buffer[done.plaintext].to_vec(), done.ratchet_steps))
}

#[test]
fn many_kids_at_once_each_with_its_own_key() {
    let kids = [0, 1, 7, 8, 0xFF, 0x100, 1 << 40, u64::MAX];
    let mut sender = KeySet::new(SUITE);
    let mut receiver = KeySet::new(SUITE);
    for kid in kids {
        sender.insert(kid, &kid.to_be_bytes()).unwrap();
        receiver.insert(kid, &kid.to_be_bytes()).unwrap();
    }
    for kid in kids {
        let frame = seal(&mut sender, kid, 1, b"hello");
        assert_eq!(open(&mut receiver, &frame), Ok((b"hello".to_vec(), 0)));
    }
    // The same base key under two KIDs gives two keys.
    assert_ne!(*derive_key(SUITE, 1, b"k").key, *derive_key(SUITE, 2, b"k").key);
    assert!(receiver.remove(7));
    let frame = seal(&mut sender, 7, 2, b"x");
    assert_eq!(open(&mut receiver, &frame), Err(DecryptError::UnknownKid { kid: 7 }));
    assert_eq!(sender.insert(3, &[]), Err(KeyError::EmptyBaseKey));
}

#[test]
fn a_receiver_follows_the_ratchet_within_its_window() {
    let ratchet = Ratchet { step_bits: 4, window: 3 };
    let generation = 5u64;
    let first_kid = generation << 4;
    let mut sender = KeySet::new(SUITE);
    let mut receiver = KeySet::new(SUITE);
    for keys in [&mut sender, &mut receiver] {
        keys.set_ratchet(Some(ratchet)).unwrap();
        keys.insert(first_kid, b"base key of generation 5").unwrap();
    }
    let before = seal(&mut sender, first_kid, 1, b"before");
    // The sender ratchets twice: KID steps 1 and 2, base key ratcheted twice.
    let kid = sender.ratchet(first_kid).unwrap();
    let kid = sender.ratchet(kid).unwrap();
    assert_eq!(kid, first_kid | 2);
    assert_eq!(sender.kids().collect::<Vec<_>>(), [kid], "the sender forgets the old keys");
    let twice = ratchet_base_key(SUITE, &ratchet_base_key(SUITE, b"base key of generation 5"));
    let mut expected = KeySet::new(SUITE);
    expected.insert(kid, &twice).unwrap();
    let after = seal(&mut sender, kid, 2, b"after");
    assert_eq!(open(&mut expected, &after), Ok((b"after".to_vec(), 0)), "ratchet as RFC 9605 §5.1");
    // The receiver follows by itself, and keeps the key it came from for late frames.
    assert_eq!(open(&mut receiver, &after), Ok((b"after".to_vec(), 2)));
    assert_eq!(open(&mut receiver, &after), Ok((b"after".to_vec(), 0)));
    assert_eq!(open(&mut receiver, &before), Ok((b"before".to_vec(), 0)));
    // Beyond the window (3 steps): not followed.
    let mut far = kid;
    for _ in 0..4 {
        far = sender.ratchet(far).unwrap();
    }
    let too_far = seal(&mut sender, far, 3, b"far");
    assert_eq!(open(&mut receiver, &too_far), Err(DecryptError::UnknownKid { kid: far }));
    // A forged frame under a next KID is refused and changes no key.
    let forged = [&Header::new(kid + 1, 9).encode()[..], &[0u8; 32]].concat();
    let kids_before: HashSet<u64> = receiver.kids().collect();
    assert_eq!(open(&mut receiver, &forged), Err(DecryptError::AuthenticationFailed { kid: kid + 1, ctr: 9 }));
    assert_eq!(receiver.kids().collect::<HashSet<_>>(), kids_before);
    // The step wraps within its generation.
    assert_eq!(ratchet.next_kid(first_kid | 15), first_kid);
    assert_eq!(KeySet::new(SUITE).ratchet(1), Err(KeyError::NoRatchet));
    assert_eq!(
        KeySet::new(SUITE).set_ratchet(Some(Ratchet { step_bits: 64, window: 1 })),
        Err(KeyError::BadRatchetBits(64))
    );
}

/// Restarts and instances of a sender that share one key and KID: each takes a new
/// `CtrSequence`; no CTR, hence no nonce, repeats across all of them.
#[test]
fn ctrs_never_repeat_under_one_key_across_restarts_and_instances() {
    const SENDERS: usize = 200;
    const FRAMES: usize = 500;
    let mut seen = HashSet::new();
    let mut long_headers = 0;
    for _ in 0..SENDERS {
        let mut keys = KeySet::new(SUITE);
        keys.insert(1, b"one key for every instance").unwrap();
        let mut ctrs = CtrSequence::new();
        for _ in 0..FRAMES {
            let ctr = ctrs.next().unwrap();
            let frame = seal(&mut keys, 1, ctr, b"f");
            let (header, len) = Header::parse(&frame).unwrap();
            assert!(seen.insert(header.ctr), "CTR {} repeated under one key and KID", header.ctr);
            long_headers += usize::from(len == 9);
        }
    }
    assert_eq!(seen.len(), SENDERS * FRAMES);
    // A random start below 2^63 takes 8 bytes but for 1 start in 128.
    assert!(
        long_headers >= SENDERS * FRAMES * 9 / 10,
        "{long_headers} of {} headers with an 8-byte CTR",
        SENDERS * FRAMES
    );
    // A sequence never wraps.
    let mut last = CtrSequence::starting_at(u64::MAX - 1);
    assert_eq!((last.next(), last.next()), (Some(u64::MAX - 1), None));
}

#[test]
fn debug_output_shows_no_key_bytes() {
    let base_key = [0xA5u8; 16];
    let mut keys = KeySet::new(CipherSuite::AesCtr128HmacSha256Tag80);
    keys.insert(42, &base_key).unwrap();
    let derived = derive_key(keys.suite(), 42, &base_key);
    let text = format!("{keys:?} {derived:?} {:?}", gstjframe::sframe::Aead::new(SUITE, &[0xA5; 16]).unwrap());
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for secret in [&base_key[..], &derived.key, &derived.salt[..]] {
        assert!(!text.contains(&hex(&secret[..4])), "key bytes in {text}");
        assert!(
            !text.contains(&format!("{:?}", &secret[..4]).trim_end_matches(']').to_string()),
            "key bytes in {text}"
        );
    }
    assert!(text.contains("42"), "the KID is shown: {text}");
}
