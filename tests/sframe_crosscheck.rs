//! Cross-check of the SFrame core against the `sframe` crate (RustCrypto backend), an
//! independent implementation of RFC 9605: for random KIDs, CTRs, base keys, metadata
//! and sizes, frames ours encrypts it decrypts, and frames it encrypts ours decrypts,
//! byte for byte, in every suite it has (0x0001-0x0005).

use gstjframe::sframe::{CipherSuite, KeySet};
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};

const FRAMES_PER_SUITE: usize = 1000;

const SUITES: [(CipherSuite, sframe::CipherSuite); 5] = [
    (CipherSuite::AesCtr128HmacSha256Tag80, sframe::CipherSuite::AesCtr128HmacSha256_80),
    (CipherSuite::AesCtr128HmacSha256Tag64, sframe::CipherSuite::AesCtr128HmacSha256_64),
    (CipherSuite::AesCtr128HmacSha256Tag32, sframe::CipherSuite::AesCtr128HmacSha256_32),
    (CipherSuite::AesGcm128Sha256, sframe::CipherSuite::AesGcm128Sha256),
    (CipherSuite::AesGcm256Sha512, sframe::CipherSuite::AesGcm256Sha512),
];

/// SplitMix64: reproducible random numbers from a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A value of every encoded length alike: 0-7 inline, or 1 to 8 bytes.
    fn header_value(&mut self) -> u64 {
        match self.below(9) {
            0 => self.below(8),
            bytes => self.next() >> (64 - 8 * bytes),
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Mostly RTP-sized frames, sometimes empty, sometimes video key frame sized.
    fn frame_len(&mut self) -> usize {
        match self.below(10) {
            0 => 0,
            1 => self.below(40_000) as usize,
            _ => self.below(1500) as usize,
        }
    }
}

struct Case {
    kid: u64,
    ctr: u64,
    base_key: Vec<u8>,
    metadata: Vec<u8>,
    plain: Vec<u8>,
}

fn random_case(rng: &mut Rng) -> Case {
    let kid = rng.header_value();
    let ctr = rng.header_value();
    let key_len = 1 + rng.below(64) as usize;
    let base_key = rng.bytes(key_len);
    let metadata_len = match rng.below(3) {
        0 => 0,
        1 => rng.below(32) as usize,
        _ => rng.below(600) as usize,
    };
    let metadata = rng.bytes(metadata_len);
    let plain_len = rng.frame_len();
    let plain = rng.bytes(plain_len);
    Case { kid, ctr, base_key, metadata, plain }
}

fn theirs_encrypt(suite: sframe::CipherSuite, case: &Case) -> Vec<u8> {
    let key = EncryptionKey::derive_from(suite, case.kid, &case.base_key).expect("sframe derives the key");
    let mut counter = MonotonicCounter::with_start_value(case.ctr, u64::MAX);
    let media = MediaFrame::try_with_meta_data(&mut counter, &case.plain, &case.metadata).expect("a fresh counter");
    media.encrypt(&key).expect("sframe encrypts").sframe_cipher_text().to_vec()
}

fn theirs_decrypt(suite: sframe::CipherSuite, case: &Case, wire: &[u8]) -> Vec<u8> {
    let key = DecryptionKey::derive_from(suite, case.kid, &case.base_key).expect("sframe derives the key");
    let frame = EncryptedFrame::try_with_meta_data(wire, &case.metadata).expect("sframe parses our frame");
    frame.decrypt(&key).expect("sframe decrypts our frame").payload().to_vec()
}

fn ours(suite: CipherSuite, case: &Case) -> KeySet {
    let mut keys = KeySet::new(suite);
    keys.insert(case.kid, &case.base_key).expect("a non-empty base key");
    keys
}

#[test]
fn frames_cross_both_ways_in_every_suite() {
    let mut rng = Rng(0x5F4A_11E5_2026_1205);
    for (suite, their_suite) in SUITES {
        for i in 0..FRAMES_PER_SUITE {
            let case = random_case(&mut rng);
            let what = format!("{suite}, frame {i}: KID {} CTR {} {} bytes", case.kid, case.ctr, case.plain.len());

            let mut ours_wire = case.plain.clone();
            ours(suite, &case).encrypt_vec(case.kid, case.ctr, &case.metadata, &mut ours_wire).expect(&what);
            let theirs_wire = theirs_encrypt(their_suite, &case);
            assert_eq!(ours_wire, theirs_wire, "{what}: the ciphertexts differ");
            assert_eq!(theirs_decrypt(their_suite, &case, &ours_wire), case.plain, "{what}: theirs decrypting ours");

            let mut received = theirs_wire;
            let decrypted = ours(suite, &case).decrypt(&case.metadata, &mut received, None).expect(&what);
            assert_eq!(&received[decrypted.plaintext], case.plain.as_slice(), "{what}: ours decrypting theirs");
        }
    }
}
