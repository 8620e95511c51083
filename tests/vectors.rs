//! Runs the reference's test vectors through the JFrame core.
//!
//! The file comes from `JFRAME_VECTORS`, by default `tests/vectors/jframe-vectors.json`
//! beside the crate. Prints one line per failing case and a closing `N passed, M failed`.

use std::collections::BTreeMap;

use gstjframe::jframe::iv::ReferenceIvs;
use gstjframe::jframe::{
    Context, DecryptError, DecryptOutcome, EncryptOutcome, FrameKind, KEY_RING_SIZE, KeyMode, derive_aes_key, ratchet,
};
use serde_json::Value;

mod vector_file;

use vector_file::{Check, expect_eq, hex_field, steps, u32_field};

/// A frame type we can express, or `None` (e.g. the reference's `empty`).
fn frame_kind(step: &Value) -> Option<FrameKind> {
    match &step["frameType"] {
        Value::Null => Some(FrameKind::Audio),
        Value::String(t) if t == "key" => Some(FrameKind::VideoKey),
        Value::String(t) if t == "delta" => Some(FrameKind::VideoDelta),
        _ => None,
    }
}

fn is_expressible(case: &Value) -> bool {
    steps(case).iter().filter(|s| s["action"] == "frame").all(|s| frame_kind(s).is_some())
}

/// Applies a key entry (`keys[]` or a `setKey` step) and checks the derived values.
fn set_key(ctx: &mut Context, entry: &Value) -> Check {
    let index = u32_field(entry, "keyIndex")?;
    if ctx.keys().mode() == KeyMode::Raw {
        let aes_key = hex_field(entry, "aesKey")?;
        return ctx.keys_mut().set_key(index, &aes_key).map_err(|e| e.to_string());
    }
    if entry["material"] == Value::Bool(false) {
        ctx.keys_mut().disable_key(index);
        return Ok(());
    }
    let material = hex_field(entry, "material")?;
    ctx.keys_mut().set_key(index, &material).map_err(|e| e.to_string())?;
    for _ in 0..entry["ratchets"].as_u64().unwrap_or(0) {
        ctx.keys_mut().ratchet_current().map_err(|e| e.to_string())?;
    }
    let slot = (index % KEY_RING_SIZE as u32) as u8;
    if let Ok(effective) = hex_field(entry, "effectiveMaterial") {
        expect_eq("effective material", ctx.keys().material(slot), Some(effective.as_slice()))?;
    }
    if let Ok(aes_key) = hex_field(entry, "aesKey") {
        expect_eq("derived AES key", ctx.keys().aes_key(slot), Some(aes_key.as_slice()))?;
    }
    Ok(())
}

fn new_context(case: &Value) -> Result<Context, String> {
    let mode = match case["mode"].as_str() {
        Some("shared-key") => KeyMode::Raw,
        _ => KeyMode::Derived,
    };
    let mut ctx = Context::new(mode);
    ctx.set_enabled(case["enabled"].as_bool().unwrap_or(true));
    for entry in case["keys"].as_array().map_or(&[][..], Vec::as_slice) {
        set_key(&mut ctx, entry)?;
    }
    Ok(ctx)
}

/// Runs a non-frame step; `Ok(true)` if it was one.
fn control_step(ctx: &mut Context, step: &Value) -> Result<bool, String> {
    match step["action"].as_str() {
        Some("setKey") => set_key(ctx, step).map(|_| true),
        Some("setEnabled") => {
            ctx.set_enabled(step["enabled"].as_bool().unwrap_or(true));
            Ok(true)
        }
        Some("frame") => Ok(false),
        other => Err(format!("unknown action {other:?}")),
    }
}

fn run_encrypt(case: &Value) -> Check {
    let mut ctx = new_context(case)?;
    let mut ivs = ReferenceIvs::default();
    if let Some(counters) = case["initialSendCounters"].as_object() {
        for (ssrc, count) in counters {
            let ssrc = ssrc.parse().map_err(|_| format!("bad SSRC {ssrc}"))?;
            ivs.set_count(ssrc, count.as_u64().ok_or("bad counter")?);
        }
    }
    for (n, step) in steps(case).iter().enumerate() {
        if control_step(&mut ctx, step)? {
            continue;
        }
        let kind = frame_kind(step).ok_or("inexpressible frame type")?;
        let expect = &step["expect"];
        let mut frame = hex_field(step, "input")?;
        // The reference builds the IV (and consumes the SSRC's count) once it has a key.
        let has_key = ctx.keys().current_index().is_some_and(|slot| ctx.keys().has_key(slot));
        let iv = if ctx.enabled() && has_key {
            let ssrc = u32_field(step, "ssrc")?;
            // Counters absent from `initialSendCounters` start at 0 in the vectors.
            if ivs.count(ssrc).is_none() {
                ivs.set_count(ssrc, 0);
            }
            ivs.next(ssrc, u32_field(step, "rtpTimestamp")?)
        } else {
            [0; 12]
        };
        let (result, output) = match ctx.encrypt(kind, &mut frame, iv) {
            Ok(EncryptOutcome::Encrypted(trailer)) => {
                frame.extend_from_slice(trailer.as_bytes());
                ("encrypted", Some(frame))
            }
            Ok(EncryptOutcome::PassThrough) => ("passthrough", Some(frame)),
            Err(gstjframe::jframe::EncryptError::NoKey) => ("dropped", None),
            Err(_) => ("error", None),
        };
        let at = format!("step {n}");
        expect_eq(&format!("{at} result"), result, expect["result"].as_str().unwrap_or(""))?;
        if let Ok(want) = hex_field(expect, "output") {
            expect_eq(&format!("{at} output"), output.map(hex::encode), Some(hex::encode(want)))?;
        }
    }
    if let Some(counters) = case["finalSendCounters"].as_object() {
        for (ssrc, want) in counters {
            let ssrc: u32 = ssrc.parse().map_err(|_| format!("bad SSRC {ssrc}"))?;
            expect_eq(&format!("final counter of {ssrc}"), ivs.count(ssrc), want.as_u64())?;
        }
    }
    Ok(())
}

/// Each slot's key as the vectors name it: material (derived) or AES key (raw).
fn ring_snapshot(ctx: &Context) -> BTreeMap<u8, Vec<u8>> {
    (0..KEY_RING_SIZE as u8)
        .filter_map(|slot| {
            let key = match ctx.keys().mode() {
                KeyMode::Derived => ctx.keys().material(slot),
                KeyMode::Raw => ctx.keys().aes_key(slot),
            };
            key.map(|k| (slot, k.to_vec()))
        })
        .collect()
}

fn ring_changes(before: &BTreeMap<u8, Vec<u8>>, after: &BTreeMap<u8, Vec<u8>>) -> Vec<(u8, String, String)> {
    (0..KEY_RING_SIZE as u8)
        .filter(|slot| before.get(slot) != after.get(slot))
        .map(|slot| {
            let name = |m: &BTreeMap<u8, Vec<u8>>| m.get(&slot).map_or("false".into(), hex::encode);
            (slot, name(before), name(after))
        })
        .collect()
}

fn expected_changes(expect: &Value) -> Vec<(u8, String, String)> {
    let name = |v: &Value| v.as_str().map_or("false".to_string(), str::to_string);
    expect["keyRingChanges"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|c| (c["slot"].as_u64().unwrap_or(99) as u8, name(&c["from"]), name(&c["to"])))
        .collect()
}

/// Our documented behaviour where the reference has a quirk: a frame whose key index
/// is not the current slot is followed by ratcheting that slot. Checked independently
/// of the decrypt path: the slot's new material must be a ratchet of its old one, and
/// re-encrypting our output with it and the frame's IV must give the input back.
fn check_quirk_step(ctx: &mut Context, kind: FrameKind, input: &[u8]) -> Check {
    let kid = *input.last().ok_or("empty input")?;
    let before = ctx.keys().material(kid).ok_or("no material at the KID slot")?.to_vec();
    let current_before = ctx.keys().current_index();
    let mut frame = input.to_vec();
    let (len, steps) = match ctx.decrypt(kind, &mut frame) {
        Ok(DecryptOutcome::Decrypted { len, ratchet_steps }) => (len, ratchet_steps),
        other => return Err(format!("quirk step: want decrypted after ratcheting, got {other:?}")),
    };
    let mut material = before;
    for _ in 0..steps {
        material = ratchet(&material).to_vec();
    }
    expect_eq("quirk: slot material", ctx.keys().material(kid), Some(material.as_slice()))?;
    expect_eq("quirk: current slot unchanged", ctx.keys().current_index(), current_before)?;
    let mut check = Context::new(KeyMode::Raw);
    check.keys_mut().set_key(u32::from(kid), &derive_aes_key(&material)).map_err(|e| e.to_string())?;
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&input[input.len() - 14..input.len() - 2]);
    let mut again = frame[..len].to_vec();
    match check.encrypt(kind, &mut again, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => again.extend_from_slice(trailer.as_bytes()),
        other => return Err(format!("quirk: re-encryption failed: {other:?}")),
    }
    expect_eq("quirk: re-encrypted frame", hex::encode(again), hex::encode(input))
}

fn run_decrypt(case: &Value, quirk: bool) -> Check {
    let mut ctx = new_context(case)?;
    for (n, step) in steps(case).iter().enumerate() {
        if control_step(&mut ctx, step)? {
            continue;
        }
        let kind = frame_kind(step).ok_or("inexpressible frame type")?;
        let input = hex_field(step, "input")?;
        let expect = &step["expect"];
        if quirk && expect["reason"] == "decrypt-failed" {
            check_quirk_step(&mut ctx, kind, &input).map_err(|e| format!("step {n}: {e}"))?;
            continue;
        }
        let before = ring_snapshot(&ctx);
        let mut frame = input.clone();
        let (result, reason, output) = match ctx.decrypt(kind, &mut frame) {
            Ok(DecryptOutcome::Decrypted { len, .. }) => ("decrypted", None, Some(frame[..len].to_vec())),
            Ok(DecryptOutcome::PassThrough) => ("passthrough", None, Some(frame)),
            Err(DecryptError::Empty | DecryptError::NoKey { .. } | DecryptError::UnknownKeyIndex { .. }) => {
                ("dropped", Some("no-key-for-kid"), None)
            }
            Err(DecryptError::Malformed { .. } | DecryptError::AuthenticationFailed { .. }) => {
                ("dropped", Some("decrypt-failed"), None)
            }
        };
        let at = format!("step {n}");
        expect_eq(&format!("{at} result"), result, expect["result"].as_str().unwrap_or(""))?;
        expect_eq(&format!("{at} reason"), reason, expect["reason"].as_str())?;
        if let Ok(want) = hex_field(expect, "output") {
            expect_eq(&format!("{at} output"), output.map(hex::encode), Some(hex::encode(want)))?;
        }
        let changes = ring_changes(&before, &ring_snapshot(&ctx));
        expect_eq(&format!("{at} key ring changes"), changes, expected_changes(expect))?;
    }
    if !quirk {
        check_ring_after(case, &ctx)?;
    }
    Ok(())
}

fn check_ring_after(case: &Value, ctx: &Context) -> Check {
    if let Some(slots) = case["keyRingAfter"].as_object() {
        let mut want = BTreeMap::new();
        for (slot, key) in slots {
            let slot: u8 = slot.parse().map_err(|_| format!("bad slot {slot}"))?;
            let bytes = match key {
                Value::String(hex) => hex::decode(hex).map_err(|e| e.to_string())?,
                Value::Object(_) => hex_field(key, "aesKey")?,
                _ => continue, // `false`: an empty slot
            };
            want.insert(slot, bytes);
        }
        expect_eq("key ring after", ring_snapshot(ctx), want)?;
    }
    if let Some(current) = case["currentKeyIndexAfter"].as_u64() {
        expect_eq("current key index after", ctx.keys().current_index().map(u64::from), Some(current))?;
    }
    Ok(())
}

fn main() {
    let path = vector_file::path("JFRAME_VECTORS", "jframe-vectors.json");
    let skip = |case: &Value| {
        (!is_expressible(case)).then(|| "its frame type cannot be expressed as a frame kind".to_string())
    };
    vector_file::run_all("vectors", &path, skip, |case| {
        let quirk = case["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "quirk"));
        match case["direction"].as_str() {
            Some("encrypt") => run_encrypt(case),
            Some("decrypt") => run_decrypt(case, quirk),
            other => Err(format!("unknown direction {other:?}")),
        }
    });
}
