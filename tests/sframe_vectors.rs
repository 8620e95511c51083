//! Runs the official SFrame vectors (RFC 9605 appendix C, and the later AES-256-CTR
//! suites) through the SFrame core.
//!
//! By default both files of `tests/vectors/sframe/`; with `SFRAME_VECTORS` set, that file
//! alone (same schema: sections `header`, `aes_ctr_hmac`, `sframe`, `aes_256_ctr_hmac`,
//! `sframe_aes_256_ctr_hmac`, any of them). Prints a line per failing case and a closing
//! `N passed, M failed`; exits non-zero when a case failed or none ran.

use std::path::PathBuf;

use gstjframe::sframe::{Aad, Aead, CipherSuite, Header, KeySet, derive_key};
use serde_json::Value;

mod vector_file;

use vector_file::{Check, expect_eq, hex_field};

fn files() -> Vec<PathBuf> {
    match std::env::var_os("SFRAME_VECTORS") {
        Some(path) => vec![PathBuf::from(path)],
        None => ["rfc9605-test-vectors.json", "aes256-ctr-hmac-test-vectors.json"]
            .iter()
            .map(|file| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sframe").join(file))
            .collect(),
    }
}

fn u64_field(case: &Value, field: &str) -> Result<u64, String> {
    // serde_json keeps integers up to 2^64 - 1 exact (no f64 on the way).
    case[field].as_u64().ok_or_else(|| format!("{field} is not a u64"))
}

fn suite(case: &Value) -> Result<CipherSuite, String> {
    let id = u64_field(case, "cipher_suite")?;
    let id = u16::try_from(id).map_err(|_| format!("cipher_suite {id} is not a u16"))?;
    CipherSuite::from_id(id).map_err(|e| e.to_string())
}

/// Header: `(kid, ctr)` encodes to `encoded`, which parses back whole.
fn header_case(case: &Value) -> Check {
    let header = Header::new(u64_field(case, "kid")?, u64_field(case, "ctr")?);
    let encoded = hex_field(case, "encoded")?;
    expect_eq("encoding", header.encode().to_vec(), encoded.clone())?;
    expect_eq("parse", Header::parse(&encoded), Ok((header, encoded.len())))
}

/// The CTR + HMAC AEAD alone: `seal(key, nonce, aad, pt) == ct` and back.
fn aead_case(case: &Value) -> Check {
    let suite = suite(case)?;
    let key = hex_field(case, "key")?;
    let aes_key_len = suite.aes_key_len().ok_or("not a CTR + HMAC suite")?;
    expect_eq("enc_key", key.get(..aes_key_len), Some(hex_field(case, "enc_key")?.as_slice()))?;
    expect_eq("auth_key", key.get(aes_key_len..), Some(hex_field(case, "auth_key")?.as_slice()))?;
    let aead = Aead::new(suite, &key).map_err(|e| e.to_string())?;
    let nonce: [u8; 12] = hex_field(case, "nonce")?.try_into().map_err(|_| "nonce is not 12 bytes")?;
    let (aad, pt, ct) = (hex_field(case, "aad")?, hex_field(case, "pt")?, hex_field(case, "ct")?);
    let aad = Aad { header: &aad, metadata: &[] };
    let mut sealed = pt.clone();
    let tag = aead.seal(&nonce, aad, &mut sealed).map_err(|e| e.to_string())?;
    sealed.extend_from_slice(&tag);
    expect_eq("ct", &sealed, &ct)?;
    let (ciphertext, tag) = ct.split_at(ct.len().checked_sub(suite.tag_len()).ok_or("ct shorter than a tag")?);
    let mut opened = ciphertext.to_vec();
    aead.open(&nonce, aad, &mut opened, tag).map_err(|_| "open failed")?;
    expect_eq("pt", opened, pt)
}

/// Full SFrame: with `base_key` under `kid`, `encrypt(kid, ctr, metadata, pt) == ct`
/// and `decrypt(metadata, ct) == pt`; the derived key, salt and AAD as given.
fn sframe_case(case: &Value) -> Check {
    let suite = suite(case)?;
    let (kid, ctr) = (u64_field(case, "kid")?, u64_field(case, "ctr")?);
    let base_key = hex_field(case, "base_key")?;
    let derived = derive_key(suite, kid, &base_key);
    expect_eq("sframe_key", derived.key.as_slice(), hex_field(case, "sframe_key")?.as_slice())?;
    expect_eq("sframe_salt", &derived.salt[..], hex_field(case, "sframe_salt")?.as_slice())?;
    let metadata = hex_field(case, "metadata")?;
    let aad = [&Header::new(kid, ctr).encode()[..], &metadata].concat();
    expect_eq("aad", aad, hex_field(case, "aad")?)?;
    let (pt, ct) = (hex_field(case, "pt")?, hex_field(case, "ct")?);
    let mut keys = KeySet::new(suite);
    keys.insert(kid, &base_key).map_err(|e| e.to_string())?;
    let mut frame = pt.clone();
    keys.encrypt_vec(kid, ctr, &metadata, &mut frame).map_err(|e| e.to_string())?;
    expect_eq("ct", &frame, &ct)?;
    let mut received = ct.clone();
    let mut receiver = KeySet::new(suite);
    receiver.insert(kid, &base_key).map_err(|e| e.to_string())?;
    let done = receiver.decrypt(&metadata, &mut received, None).map_err(|e| e.to_string())?;
    expect_eq("header", done.header, Header::new(kid, ctr))?;
    expect_eq("pt", &received[done.plaintext], pt.as_slice())
}

/// Checks one case of a section of the vector file.
type CaseCheck = fn(&Value) -> Check;

fn main() {
    let sections: [(&str, CaseCheck); 5] = [
        ("header", header_case),
        ("aes_ctr_hmac", aead_case),
        ("aes_256_ctr_hmac", aead_case),
        ("sframe", sframe_case),
        ("sframe_aes_256_ctr_hmac", sframe_case),
    ];
    let (mut passed, mut failed) = (0, 0);
    for path in files() {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (section, run) in sections {
            for (i, case) in file[section].as_array().map_or(&[][..], Vec::as_slice).iter().enumerate() {
                match run(case) {
                    Ok(()) => passed += 1,
                    Err(why) => {
                        failed += 1;
                        println!("FAIL {} {section}[{i}]: {why}", path.display());
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
