//! Feeds fuzzed private messages to an Olm participant (`gstjframe::olm`) that has a session,
//! keys and a SAS in progress with the sender: raw text, or a genuine message of the sender
//! with a field replaced or its ciphertext changed. Never panics; every input that gives an
//! error leaves the participant's state exactly as it was. The meeting is made once and kept
//! while inputs leave it unchanged (making one costs far more than an input); after an input
//! that changed it, the next input gets a new one.

#![no_main]

use std::cell::RefCell;

use gstjframe::olm::{Event, Participant};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Relays messages and presence between the two until nothing moves; gives B's messages to A.
fn relay(a: &mut Participant, b: &mut Participant) -> Vec<String> {
    let mut from_b = Vec::new();
    loop {
        let mut moved = false;
        while let Some(event) = a.poll_event() {
            moved = true;
            match event {
                Event::SendMessage { json, .. } => b.handle_message("a1", &json, 0),
                Event::SetPresence { name, value } => b.handle_presence("a1", name, Some(&value), 0),
                _ => {}
            }
        }
        while let Some(event) = b.poll_event() {
            moved = true;
            match event {
                Event::SendMessage { json, .. } => {
                    from_b.push(json.clone());
                    a.handle_message("b2", &json, 0)
                }
                Event::SetPresence { name, value } => a.handle_presence("b2", name, Some(&value), 0),
                _ => {}
            }
        }
        if !moved {
            return from_b;
        }
    }
}

/// A with a session, keys both ways and a SAS ready with B; B's messages as templates, first
/// a fresh key-info and B's SAS MAC, neither delivered.
fn meeting() -> (Participant, Vec<String>) {
    let (Ok(mut a), Ok(mut b)) = (Participant::new("a1"), Participant::new("b2")) else { panic!("participants") };
    a.peer_joined("b2", true);
    b.peer_joined("a1", true);
    a.enable(0);
    b.enable(0);
    relay(&mut a, &mut b);
    a.start_verification("b2");
    let mut templates = relay(&mut a, &mut b);
    b.rotate_key(0);
    b.confirm_verification("a1", true);
    let fresh = std::iter::from_fn(|| b.poll_event()).filter_map(|event| match event {
        Event::SendMessage { json, .. } => Some(json),
        _ => None,
    });
    templates.splice(0..0, fresh.collect::<Vec<_>>());
    while a.poll_event().is_some() {}
    (a, templates)
}

/// Replaces one leaf of the template's `olm.data` (chosen by `pick`) with `text`.
fn replace_field(template: &str, pick: u8, text: &str) -> Option<String> {
    let mut value: Value = serde_json::from_str(template).ok()?;
    let data = value.get_mut("olm")?.get_mut("data")?.as_object_mut()?;
    let keys: Vec<String> = data.keys().cloned().collect();
    let key = keys.get(usize::from(pick) % keys.len().max(1))?;
    let replacement = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
    data.insert(key.clone(), replacement);
    serde_json::to_string(&value).ok()
}

/// Changes base64 characters of the ciphertext body: `edits` are (position, new character) pairs.
fn damage_body(template: &str, edits: &[u8]) -> Option<String> {
    let mut value: Value = serde_json::from_str(template).ok()?;
    let body = value.get_mut("olm")?.get_mut("data")?.get_mut("ciphertext")?.get_mut("body")?;
    let mut text = body.as_str()?.as_bytes().to_vec();
    for pair in edits.chunks_exact(2) {
        let position = usize::from(pair[0]) * text.len() / 256;
        text[position] = BASE64[usize::from(pair[1] & 63)];
    }
    if edits.len() % 2 == 1 {
        text.truncate(usize::from(edits[edits.len() - 1]) * text.len() / 256);
    }
    *body = Value::from(String::from_utf8(text).ok()?);
    serde_json::to_string(&value).ok()
}

thread_local! {
    static MEETING: RefCell<Option<(Participant, Vec<String>)>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else { return };
    let (mut a, templates) = MEETING.with(|m| m.borrow_mut().take()).unwrap_or_else(meeting);
    let template = &templates[usize::from(route >> 2) % templates.len()];
    let json = match route & 3 {
        0 | 1 => Some(String::from_utf8_lossy(rest).into_owned()),
        2 => rest.split_first().and_then(|(&pick, text)| replace_field(template, pick, &String::from_utf8_lossy(text))),
        _ => damage_body(&templates[0], rest),
    };
    let before = a.testing_state_digest();
    let Some(json) = json else {
        MEETING.with(|m| *m.borrow_mut() = Some((a, templates)));
        return;
    };
    a.handle_message("b2", &json, 0);
    let mut rejected = false;
    while let Some(event) = a.poll_event() {
        rejected |= matches!(event, Event::Error { .. });
    }
    let unchanged = a.testing_state_digest() == before;
    assert!(unchanged || !rejected, "a rejected message changed the state: {json}");
    if unchanged {
        MEETING.with(|m| *m.borrow_mut() = Some((a, templates)));
    }
});
