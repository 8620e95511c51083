//! Recorded runs of the reference (lib-jitsi-meet `01daa07c` OlmAdapter with libolm 3.2.15,
//! in `tests/olm/*.json`, taken from the reference check's transcripts):
//!
//! * every libolm decryption replays with vodozemac from the recorded libolm pickles, to the
//!   recorded plaintext (and every inbound session from the recorded account pickle);
//! * our participant, put in the place of a reference participant and fed the same presence,
//!   messages and actions, sends the same message types and takes the same keys. Its Olm
//!   session is set to the reference's (from the pickle) before each message the reference
//!   decrypted, and the uuids of its own requests stand in for the reference's in the answers.
//!   Its SAS key pair is its own, so the peer's recorded MAC does not verify here.

use std::collections::HashMap;

use gstjframe::olm::{Event, Participant};
use serde_json::Value;
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig};

const FILES: [&str; 3] = ["node-pair", "bridge-rust-initiator", "bridge-node-initiator"];

fn load(name: &str) -> Value {
    let path = format!("{}/tests/olm/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("transcript")).expect("transcript JSON")
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name].as_str().unwrap_or_else(|| panic!("{name} missing"))
}

fn olm_message(kind: u64, body: &str) -> OlmMessage {
    OlmMessage::from_parts(kind as usize, &vodozemac::base64_decode(body).expect("base64")).expect("Olm message")
}

#[test]
fn every_recorded_decryption_replays_from_the_libolm_pickles() {
    let mut count = 0;
    for name in FILES {
        let file = load(name);
        let pickle_key = text(&file, "pickleKey").as_bytes();
        for d in file["decrypts"].as_array().expect("decrypts") {
            let mut session = Session::from_libolm_pickle(text(d, "pickle"), pickle_key).expect("session pickle");
            let message = olm_message(d["type"].as_u64().expect("type"), text(d, "body"));
            let plaintext = session.decrypt(&message).expect("decrypts");
            assert_eq!(String::from_utf8(plaintext).expect("utf-8"), text(d, "plaintext"), "{name}");
            count += 1;
        }
        for d in file["inbound"].as_array().expect("inbound") {
            let mut account =
                Account::from_libolm_pickle(text(d, "accountPickle"), pickle_key).expect("account pickle");
            let OlmMessage::PreKey(pre_key) = olm_message(0, text(d, "body")) else { panic!("pre-key message") };
            let created = account
                .create_inbound_session(SessionConfig::version_1(), pre_key.identity_key(), &pre_key)
                .expect("inbound");
            assert_eq!(String::from_utf8(created.plaintext).expect("utf-8"), text(d, "plaintext"), "{name}");
            count += 1;
        }
    }
    assert_eq!(count, 14 + 2 + 5 + 6 + 1);
}

/// Replays the inputs of the recorded participant; gives the types it sent and the keys it took.
fn replay(name: &str) -> (Vec<String>, Vec<(String, String, u64)>) {
    let file = load(name);
    let pickle_key = text(&file, "pickleKey").as_bytes();
    let expected_sends = file["expectedSends"].as_array().expect("sends");
    let mut participant = Participant::new(text(&file, "role")).expect("participant");
    for peer in file["peers"].as_array().expect("peers") {
        participant.peer_joined(text(peer, "id"), true);
    }
    let (mut sent, mut keys, mut uuids) = (Vec::new(), Vec::new(), HashMap::<String, String>::new());
    for input in file["inputs"].as_array().expect("inputs") {
        match text(input, "op") {
            "presence" => {
                participant.handle_presence(text(input, "from"), text(input, "name"), input["value"].as_str(), 0)
            }
            "message" => {
                let from = text(input, "from");
                if let Some(pickle) = input["restoreSession"].as_str() {
                    participant.testing_restore_session(
                        from,
                        Session::from_libolm_pickle(pickle, pickle_key).expect("pickle"),
                    );
                }
                let json = uuids
                    .iter()
                    .fold(text(input, "json").to_owned(), |json, (theirs, ours)| json.replace(theirs, ours));
                participant.handle_message(from, &json, 0);
            }
            "enable" => participant.enable(0),
            "disable" => participant.disable(0),
            "rotate" => participant.rotate_key(0),
            "ratchet" => participant.ratchet_key(),
            "confirm" => participant.confirm_verification(text(input, "with"), true),
            "start-verification" => participant.start_verification(text(input, "with")),
            other => panic!("op {other}"),
        }
        while let Some(event) = participant.poll_event() {
            match event {
                Event::SendMessage { json, .. } => {
                    let message: Value = serde_json::from_str(&json).expect("our JSON");
                    let (kind, uuid) =
                        (text(&message["olm"], "type").to_owned(), message["olm"]["data"]["uuid"].as_str());
                    if let (Some(ours), Some(theirs)) =
                        (uuid, expected_sends.get(sent.len()).and_then(|s| s["uuid"].as_str()))
                    {
                        uuids.insert(theirs.to_owned(), ours.to_owned());
                    }
                    sent.push(kind);
                }
                Event::PeerKey { peer, key, index } => {
                    keys.push((peer, key.map_or("false".to_owned(), |k| hex::encode(k.as_bytes())), u64::from(index)))
                }
                _ => {}
            }
        }
    }
    (sent, keys)
}

fn check_replay(name: &str) {
    let file = load(name);
    let (sent, keys) = replay(name);
    let expected: Vec<&str> =
        file["expectedSends"].as_array().expect("sends").iter().map(|s| text(s, "type")).collect();
    assert_eq!(sent, expected, "{name}: message types sent");
    let expected_keys: Vec<(String, String, u64)> = file["expectedKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (text(k, "from").to_owned(), text(k, "key").to_owned(), k["keyIndex"].as_u64().expect("index")))
        .collect();
    assert_eq!(keys, expected_keys, "{name}: keys taken");
}

/// Responder in the reference pair: session-ack, acks, rotation, the peer's ratcheted key in an
/// ack, SAS messages, a duplicate session-init, the peer disabling and enabling again.
#[test]
fn our_participant_reacts_as_the_reference_did_in_the_reference_pair() {
    check_replay("node-pair");
}

#[test]
fn our_participant_reacts_as_the_reference_did_against_an_initiating_peer() {
    check_replay("bridge-rust-initiator");
}
