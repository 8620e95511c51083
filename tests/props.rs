//! Property tests of the JFrame core: encrypt/decrypt round trips over frames, kinds,
//! keys and key indices; a receiver following a ratcheted sender; and decryption of
//! arbitrary or tampered bytes, which must never panic, never succeed and never touch
//! the frame or the receiver's keys.
//!
//! `PROPTEST_CASES` overrides the number of cases of every property (e.g. for a long run).

use gstjframe::jframe::iv::IvSequence;
use gstjframe::jframe::{
    Context, DEFAULT_RATCHET_WINDOW, DecryptError, DecryptOutcome, EncryptError, EncryptOutcome, FrameKind, IV_LEN,
    KEY_RING_SIZE, KeyError, KeyMode, KeyRing, TAG_LEN, TRAILER_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default_cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// The bytes given for a key, and how they become an AES key.
#[derive(Clone, Debug)]
struct KeySpec {
    mode: KeyMode,
    bytes: Vec<u8>,
}

impl KeySpec {
    /// Another key of the same mode and length, different for every `n`.
    fn decoy(&self, n: u8) -> KeySpec {
        let mut bytes = self.bytes.clone();
        let last = bytes.len() - 1;
        bytes[0] ^= n.wrapping_add(1);
        bytes[last] ^= 0x80;
        KeySpec { mode: self.mode, bytes }
    }
}

/// The key a slot holds now: material (derived) or AES key (raw).
fn key_in_slot(ctx: &Context, slot: u8) -> Option<Vec<u8>> {
    let keys = ctx.keys();
    match keys.mode() {
        KeyMode::Derived => keys.material(slot),
        KeyMode::Raw => keys.aes_key(slot),
    }
    .map(<[u8]>::to_vec)
}

fn derived_material() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=64)
}

fn key_spec() -> impl Strategy<Value = KeySpec> {
    prop_oneof![
        derived_material().prop_map(|bytes| KeySpec { mode: KeyMode::Derived, bytes }),
        prop_oneof![vec(any::<u8>(), 16), vec(any::<u8>(), 32)].prop_map(|bytes| KeySpec { mode: KeyMode::Raw, bytes }),
    ]
}

fn frame_kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![Just(FrameKind::Audio), Just(FrameKind::VideoDelta), Just(FrameKind::VideoKey)]
}

/// Any frame, often of a size next to the clear prefixes (1, 3 and 10 bytes).
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..=4096), vec(any::<u8>(), 0..=12)]
}

/// A kind and a frame long enough to be encrypted as that kind.
fn sendable_frame() -> impl Strategy<Value = (FrameKind, Vec<u8>)> {
    frame_kind().prop_flat_map(|kind| {
        let clear = kind.clear_len();
        (Just(kind), prop_oneof![vec(any::<u8>(), clear..=4096), vec(any::<u8>(), clear..=clear + 2)])
    })
}

/// Where a sender's IVs start: any SSRC and counter with at least 16 IVs left.
fn iv_start() -> impl Strategy<Value = (u32, u64)> {
    (any::<u32>(), 0..=u64::MAX - 16)
}

fn context_with(key: &KeySpec, index: u32) -> Context {
    let mut ctx = Context::new(key.mode);
    if let Err(e) = ctx.keys_mut().set_key(index, &key.bytes) {
        panic!("generated key {key:?} refused: {e}");
    }
    ctx
}

/// A receiver whose every slot holds a key, `key` at `index` (current) and a different
/// one in each other slot: a frame relabelled to any slot meets a key.
fn receiver_with_decoys(key: &KeySpec, index: u32) -> Context {
    let mut ctx = Context::new(key.mode);
    let own_slot = KeyRing::slot_of(index);
    for slot in (0..KEY_RING_SIZE as u8).filter(|&s| s != own_slot) {
        let decoy = key.decoy(slot);
        if let Err(e) = ctx.keys_mut().set_key(u32::from(slot), &decoy.bytes) {
            panic!("decoy key {decoy:?} refused: {e}");
        }
    }
    if let Err(e) = ctx.keys_mut().set_key(index, &key.bytes) {
        panic!("generated key {key:?} refused: {e}");
    }
    ctx
}

fn next_iv(ivs: &mut IvSequence) -> [u8; IV_LEN] {
    match ivs.next() {
        Some(iv) => iv,
        None => panic!("IV sequence spent"),
    }
}

/// Encrypts `plain` as a sender would put it on the wire.
fn send(sender: &Context, kind: FrameKind, plain: &[u8], iv: [u8; IV_LEN]) -> Result<Vec<u8>, TestCaseError> {
    let mut wire = plain.to_vec();
    match sender.encrypt(kind, &mut wire, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => wire.extend_from_slice(trailer.as_bytes()),
        other => return Err(TestCaseError::fail(format!("encrypt gave {other:?}"))),
    }
    Ok(wire)
}

/// Decrypts a frame that must be rejected, and checks that neither it nor the slot it
/// names changed.
fn expect_rejected(receiver: &mut Context, kind: FrameKind, frame: &[u8]) -> Result<DecryptError, TestCaseError> {
    let named_slot = frame.last().copied();
    let key_before = named_slot.and_then(|s| key_in_slot(receiver, s));
    let current_before = receiver.keys().current_index();
    let mut copy = frame.to_vec();
    let error = match receiver.decrypt(kind, &mut copy) {
        Err(e) => e,
        Ok(outcome) => return Err(TestCaseError::fail(format!("{outcome:?} for a frame that must fail"))),
    };
    prop_assert_eq!(&copy, frame, "a rejected frame was modified ({:?})", error);
    if let Some(slot) = named_slot {
        prop_assert_eq!(key_in_slot(receiver, slot), key_before, "a rejected frame changed slot {}", slot);
    }
    prop_assert_eq!(receiver.keys().current_index(), current_before);
    Ok(error)
}

/// Decrypts a genuine frame and checks what comes out.
fn expect_decrypted(
    receiver: &mut Context,
    kind: FrameKind,
    wire: &[u8],
    plain: &[u8],
    steps: u32,
) -> Result<(), TestCaseError> {
    let mut frame = wire.to_vec();
    let outcome = receiver.decrypt(kind, &mut frame);
    prop_assert_eq!(outcome, Ok(DecryptOutcome::Decrypted { len: plain.len(), ratchet_steps: steps }));
    prop_assert_eq!(&frame[..plain.len()], plain);
    Ok(())
}

/// How a genuine frame is damaged on the way.
#[derive(Clone, Debug)]
enum Tamper {
    FlipBit(Index),
    Truncate(Index),
    Append(u8),
}

impl Tamper {
    fn apply(&self, wire: &[u8]) -> Vec<u8> {
        let mut frame = wire.to_vec();
        match self {
            Tamper::FlipBit(bit) => {
                let bit = bit.index(frame.len() * 8);
                frame[bit / 8] ^= 1 << (bit % 8);
            }
            Tamper::Truncate(len) => frame.truncate(len.index(wire.len())),
            Tamper::Append(byte) => frame.push(*byte),
        }
        frame
    }
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        3 => any::<Index>().prop_map(Tamper::FlipBit),
        1 => any::<Index>().prop_map(Tamper::Truncate),
        1 => any::<u8>().prop_map(Tamper::Append),
    ]
}

/// A received frame built from arbitrary parts, often with a plausible trailer end.
fn received_bytes() -> impl Strategy<Value = Vec<u8>> {
    let iv_len_byte = prop_oneof![Just(12u8), Just(16u8), any::<u8>()];
    let kid = prop_oneof![0..KEY_RING_SIZE as u8, any::<u8>()];
    prop_oneof![
        vec(any::<u8>(), 0..=600),
        (vec(any::<u8>(), 0..=600), iv_len_byte, kid).prop_map(|(mut body, iv_len, kid)| {
            body.extend([iv_len, kid]);
            body
        }),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn round_trip(
        (kind, plain) in sendable_frame(),
        key in key_spec(),
        index in 0..=255u32,
        iv_start in iv_start(),
    ) {
        let sender = context_with(&key, index);
        let mut receiver = context_with(&key, index);
        let iv = next_iv(&mut IvSequence::starting_at(iv_start.0, iv_start.1));
        let wire = send(&sender, kind, &plain, iv)?;

        prop_assert_eq!(wire.len(), plain.len() + TRAILER_LEN);
        prop_assert_eq!(&wire[..kind.clear_len()], &plain[..kind.clear_len()], "clear prefix changed");
        let trailer = &wire[plain.len()..];
        prop_assert_eq!(&trailer[TAG_LEN..TAG_LEN + IV_LEN], &iv[..]);
        prop_assert_eq!(trailer[TRAILER_LEN - 2], IV_LEN as u8);
        prop_assert_eq!(trailer[TRAILER_LEN - 1], KeyRing::slot_of(index));
        if plain.len() >= kind.clear_len() + 16 {
            prop_assert_ne!(&wire[kind.clear_len()..plain.len()], &plain[kind.clear_len()..], "payload left in clear");
        }

        // Read as another kind, the clear prefix (the AAD) is split elsewhere: rejected.
        for other in [FrameKind::Audio, FrameKind::VideoDelta, FrameKind::VideoKey] {
            if other != kind {
                expect_rejected(&mut receiver, other, &wire)?;
            }
        }
        expect_decrypted(&mut receiver, kind, &wire, &plain, 0)?;
    }

    #[test]
    fn frames_of_any_size_encrypt_or_are_refused(
        kind in frame_kind(),
        plain in frame_bytes(),
        key in key_spec(),
        iv_start in iv_start(),
    ) {
        let sender = context_with(&key, 0);
        let mut frame = plain.clone();
        let iv = next_iv(&mut IvSequence::starting_at(iv_start.0, iv_start.1));
        match sender.encrypt(kind, &mut frame, iv) {
            Ok(EncryptOutcome::Encrypted(trailer)) => {
                prop_assert!(plain.len() >= kind.clear_len());
                frame.extend_from_slice(trailer.as_bytes());
                expect_decrypted(&mut context_with(&key, 0), kind, &frame, &plain, 0)?;
            }
            Err(EncryptError::ShorterThanClearPrefix { len, clear }) => {
                prop_assert_eq!((len, clear), (plain.len(), kind.clear_len()));
                prop_assert!(len < clear);
                prop_assert_eq!(frame, plain, "a refused frame was modified");
            }
            other => prop_assert!(false, "encrypt gave {:?}", other),
        }
    }

    #[test]
    fn a_stream_decrypts_in_any_order(
        frames in vec(sendable_frame(), 1..=8),
        key in key_spec(),
        index in 0..=255u32,
        iv_start in iv_start(),
    ) {
        let sender = context_with(&key, index);
        let mut ivs = IvSequence::starting_at(iv_start.0, iv_start.1);
        let mut sent = Vec::new();
        for (kind, plain) in &frames {
            sent.push((*kind, plain, send(&sender, *kind, plain, next_iv(&mut ivs))?));
        }
        let mut receiver = context_with(&key, index);
        for (kind, plain, wire) in sent.iter().rev() {
            expect_decrypted(&mut receiver, *kind, wire, plain, 0)?;
        }
    }

    /// A receiver holding the base key follows a sender that ratcheted up to the window
    /// (8) times, keeps the ratcheted key, and does not follow one ratchet further.
    #[test]
    fn receiver_follows_up_to_eight_ratchets(
        material in derived_material(),
        ratchets in 0..=DEFAULT_RATCHET_WINDOW + 1,
        index in 0..=255u32,
        (kind, plain) in sendable_frame(),
        iv_start in iv_start(),
    ) {
        let key = KeySpec { mode: KeyMode::Derived, bytes: material };
        let slot = KeyRing::slot_of(index);
        let mut sender = context_with(&key, index);
        for _ in 0..ratchets {
            prop_assert_eq!(sender.keys_mut().ratchet_current(), Ok(()));
        }
        let mut receiver = context_with(&key, index);
        let mut ivs = IvSequence::starting_at(iv_start.0, iv_start.1);
        let wire = send(&sender, kind, &plain, next_iv(&mut ivs))?;

        if ratchets <= DEFAULT_RATCHET_WINDOW {
            expect_decrypted(&mut receiver, kind, &wire, &plain, ratchets)?;
            prop_assert_eq!(receiver.keys().material(slot), sender.keys().material(slot), "receiver did not keep the ratcheted key");
            let next = send(&sender, kind, &plain, next_iv(&mut ivs))?;
            expect_decrypted(&mut receiver, kind, &next, &plain, 0)?;
        } else {
            let error = expect_rejected(&mut receiver, kind, &wire)?;
            prop_assert_eq!(error, DecryptError::AuthenticationFailed { kid: slot });
            prop_assert_eq!(receiver.keys().material(slot), Some(&key.bytes[..]));
        }
    }

    #[test]
    fn arbitrary_bytes_never_decrypt(
        kind in frame_kind(),
        key in key_spec(),
        index in 0..=255u32,
        frame in received_bytes(),
    ) {
        let mut receiver = receiver_with_decoys(&key, index);
        let error = expect_rejected(&mut receiver, kind, &frame)?;
        if frame.is_empty() {
            prop_assert_eq!(error, DecryptError::Empty);
        }
    }

    /// Every byte of a frame is bound to it: the clear prefix, ciphertext and tag by
    /// AES-GCM, the IV as its nonce. The IV-length and key-index bytes are not
    /// authenticated, but changing them selects another IV or another slot's key, so the
    /// frame still fails (see `the_key_index_is_not_authenticated` for the limit).
    #[test]
    fn tampered_frames_never_decrypt(
        (kind, plain) in sendable_frame(),
        key in key_spec(),
        index in 0..=255u32,
        iv_start in iv_start(),
        damage in tamper(),
    ) {
        let sender = context_with(&key, index);
        let iv = next_iv(&mut IvSequence::starting_at(iv_start.0, iv_start.1));
        let wire = send(&sender, kind, &plain, iv)?;
        let mut receiver = receiver_with_decoys(&key, index);
        let tampered = damage.apply(&wire);
        prop_assert_ne!(&tampered, &wire);
        expect_rejected(&mut receiver, kind, &tampered)?;
        // The failed attempt left the receiver able to read the genuine frame.
        expect_decrypted(&mut receiver, kind, &wire, &plain, 0)?;
    }
}

/// Exhaustive over single bit flips of one frame of each kind and key mode, since the
/// property above samples them.
#[test]
fn every_single_bit_flip_is_rejected() {
    let keys = [
        KeySpec { mode: KeyMode::Derived, bytes: (0..32).collect() },
        KeySpec { mode: KeyMode::Raw, bytes: (0..16).collect() },
        KeySpec { mode: KeyMode::Raw, bytes: (0..32).collect() },
    ];
    let mut flips = 0;
    for key in &keys {
        for kind in [FrameKind::Audio, FrameKind::VideoDelta, FrameKind::VideoKey] {
            let plain: Vec<u8> = (0..40u8).collect();
            let sender = context_with(key, 3);
            let mut ivs = IvSequence::starting_at(0x1234_5678, 42);
            let wire = match send(&sender, kind, &plain, next_iv(&mut ivs)) {
                Ok(wire) => wire,
                Err(e) => panic!("{e}"),
            };
            let mut receiver = receiver_with_decoys(key, 3);
            for bit in 0..wire.len() * 8 {
                let mut frame = wire.clone();
                frame[bit / 8] ^= 1 << (bit % 8);
                if let Err(e) = expect_rejected(&mut receiver, kind, &frame) {
                    panic!("{kind:?} {:?}, bit {bit} flipped: {e}", key.mode);
                }
                flips += 1;
            }
            if let Err(e) = expect_decrypted(&mut receiver, kind, &wire, &plain, 0) {
                panic!("{e}");
            }
        }
    }
    assert_eq!(flips, 9 * (40 + TRAILER_LEN) * 8);
}

/// The key index is outside the authenticated data: a frame relabelled to another slot
/// that holds the same key decrypts. Tampering is caught only because slots hold
/// different keys.
#[test]
fn the_key_index_is_not_authenticated() {
    let material: Vec<u8> = (0..32).collect();
    let key = KeySpec { mode: KeyMode::Derived, bytes: material.clone() };
    let sender = context_with(&key, 1);
    let mut receiver = context_with(&key, 1);
    if let Err(e) = receiver.keys_mut().set_key(2, &material) {
        panic!("{e}");
    }
    let plain = b"\x01audio frame".to_vec();
    let mut wire = match send(&sender, FrameKind::Audio, &plain, [7; IV_LEN]) {
        Ok(wire) => wire,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(wire.last(), Some(&1));
    let kid_at = wire.len() - 1;
    wire[kid_at] = 2;
    if let Err(e) = expect_decrypted(&mut receiver, FrameKind::Audio, &wire, &plain, 0) {
        panic!("relabelled frame: {e}");
    }
}

#[test]
fn raw_keys_do_not_ratchet() {
    let mut ctx = context_with(&KeySpec { mode: KeyMode::Raw, bytes: vec![9; 16] }, 0);
    assert_eq!(ctx.keys_mut().ratchet_current(), Err(KeyError::CannotRatchetRawKey));
    assert_eq!(ctx.keys().aes_key(0), Some(&[9u8; 16][..]));
}
