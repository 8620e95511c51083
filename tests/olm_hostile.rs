//! Hostile input to an Olm participant (`gstjframe::olm`): each malformed or unexpected input
//! gives an error output and leaves the participant's whole state as it was (a digest of it,
//! Olm account and sessions included); nothing panics.

#[path = "olm/room.rs"]
#[allow(dead_code)]
mod room;

use gstjframe::olm::{Error, Event, MAX_MESSAGE_LEN, Participant};
use room::Room;

/// A and B with sessions, keys both ways and a SAS ready; `held` are B's messages to A not
/// yet delivered: a fresh key-info, then B's SAS MAC.
fn pair() -> (Room, Vec<String>) {
    let mut room = Room::new(&["a1", "b2"]);
    for id in ["a1", "b2"] {
        room.member(id).enable(0);
        room.run();
    }
    room.member("a1").start_verification("b2");
    room.run();
    let b = room.member("b2");
    b.rotate_key(0);
    b.confirm_verification("a1", true);
    let held = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| match e {
            Event::SendMessage { json, .. } => Some(json),
            _ => None,
        })
        .collect();
    (room, held)
}

/// Feeds `input` to `participant`; asserts an error output and no change; gives the errors.
fn rejected(participant: &mut Participant, input: impl FnOnce(&mut Participant)) -> Vec<Error> {
    while participant.poll_event().is_some() {}
    let before = participant.testing_state_digest();
    input(participant);
    let errors: Vec<Error> = std::iter::from_fn(|| participant.poll_event())
        .filter_map(|e| match e {
            Event::Error { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert!(!errors.is_empty(), "no error output");
    assert_eq!(participant.testing_state_digest(), before, "the state changed: {errors:?}");
    errors
}

fn message(participant: &mut Participant, json: &str) -> Vec<Error> {
    rejected(participant, |p| p.handle_message("b2", json, 0))
}

fn key_info_with(json: &str, kind: &str) -> String {
    json.replace("\"type\":\"key-info\"", &format!("\"type\":\"{kind}\""))
}

#[test]
fn genuine_messages_are_taken() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    let before = a.testing_state_digest();
    a.handle_message("b2", &held[0], 0);
    assert_ne!(a.testing_state_digest(), before, "the digest sees a change");
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| matches!(e, Event::PeerKey { index: 1, .. })));
}

#[test]
fn bad_json() {
    let (mut room, _) = pair();
    let errors = message(room.member("a1"), "{\"type\":\"olm\",");
    assert!(matches!(errors[..], [Error::InvalidJson(_)]), "{errors:?}");
    assert!(matches!(message(room.member("a1"), "[1,2]")[..], [Error::NotOlm]));
    assert!(matches!(message(room.member("a1"), "{\"type\":\"chat\",\"text\":\"hi\"}")[..], [Error::NotOlm]));
}

#[test]
fn wrong_types() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    for json in [
        r#"{"type":"olm","olm":"key-info"}"#,
        r#"{"type":"olm","olm":{"type":7,"data":{}}}"#,
        r#"{"type":"olm","olm":{"type":"key-info","data":[]}}"#,
        r#"{"type":"olm","olm":{"type":"key-info","data":{"ciphertext":{"type":"1","body":5},"uuid":7}}}"#,
        r#"{"type":"olm","olm":{"type":"sas-start","data":{"transactionId":1}}}"#,
        r#"{"type":"olm","olm":{"type":"sas-mac","data":{"keys":"x","mac":["a"],"transactionId":"1"}}}"#,
        r#"{"type":"olm","olm":{"type":"session-join","data":{}}}"#,
    ] {
        let errors = message(a, json);
        assert!(
            matches!(errors[..], [Error::InvalidField { .. } | Error::UnknownMessageType(_)]),
            "{json}: {errors:?}"
        );
    }
    let no_uuid = held[0].replace("\"uuid\"", "\"uid\"");
    assert!(matches!(message(a, &no_uuid)[..], [Error::InvalidField { field: "olm.data.uuid", .. }]));
}

#[test]
fn unknown_uuids() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    // A genuine ciphertext, as an ack of a request A never made.
    let ack = key_info_with(&held[0], "key-info-ack");
    assert!(matches!(message(a, &ack)[..], [Error::UnexpectedUuid]));
    // A session-ack that answers no session-init.
    let json = key_info_with(&held[0], "session-ack");
    assert!(matches!(message(a, &json)[..], [Error::SessionExists]));
    // A SAS message of another transaction.
    let other = other_transaction(&held[1]);
    let errors = message(a, &other);
    assert!(matches!(errors[..], [Error::UnexpectedUuid]), "{errors:?}");
}

/// The same message with another transaction id.
fn other_transaction(json: &str) -> String {
    let at = json.find("\"transactionId\":\"").expect("transaction id") + 17;
    format!("{}00000000-0000-4000-8000-000000000000{}", &json[..at], &json[at + 36..])
}

#[test]
fn bad_base64() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    let at = held[0].find("\"body\":\"").expect("body") + 8;
    let json = format!("{}!!{}", &held[0][..at], &held[0][at + 2..]);
    assert!(matches!(message(a, &json)[..], [Error::InvalidField { field: "olm.data.ciphertext.body", .. }]));
    let json = r#"{"type":"olm","olm":{"type":"sas-key","data":{"key":"not base64 at all, but forty-three chars!!","transactionId":"00000000-0000-4000-8000-000000000000"}}}"#;
    assert!(matches!(message(a, json)[..], [Error::InvalidField { field: "olm.data.key", .. }]));
}

#[test]
fn replays() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    a.handle_message("b2", &held[0], 0);
    let errors = message(a, &held[0]);
    assert!(matches!(errors[..], [Error::Olm(_)]), "{errors:?}");
}

#[test]
fn out_of_order() {
    let (mut room, held) = pair();
    // B's MAC before A's SAS keys exist: a fresh verification B started, then B's old MAC.
    let a = room.member("a1");
    assert!(matches!(
        message(
            a,
            r#"{"type":"olm","olm":{"type":"sas-accept","data":{"commitment":"O1j186PLAOmZpAeo+WclKfhkIJrENsR3lqaogqHv6Og","transactionId":"00000000-0000-4000-8000-000000000000"}}}"#
        )[..],
        [Error::UnexpectedUuid]
    ));
    // The SAS MAC twice: the second is refused.
    a.handle_message("b2", &held[1], 0);
    assert!(matches!(message(a, &held[1])[..], [Error::Sas(_)]));
    // A sas-key before any verification, with a fresh pair.
    let mut fresh = Room::new(&["a1", "b2"]);
    for id in ["a1", "b2"] {
        fresh.member(id).enable(0);
        fresh.run();
    }
    let json = r#"{"type":"olm","olm":{"type":"sas-key","data":{"key":"yZaFfnfrz0FWoVk2FAWmjHkxFzVIozfbpje+s7PzpAw","transactionId":"00000000-0000-4000-8000-000000000000"}}}"#;
    assert!(matches!(message(fresh.member("a1"), json)[..], [Error::Sas(_)]));
}

#[test]
fn huge_strings() {
    let (mut room, held) = pair();
    let a = room.member("a1");
    let huge = format!("{{\"type\":\"olm\",\"x\":\"{}\"}}", "A".repeat(1 << 20));
    assert!(matches!(message(a, &huge)[..], [Error::MessageTooLong { .. }]));
    let at = held[0].find("\"body\":\"").expect("body") + 8;
    let long_body = format!("{}{}{}", &held[0][..at], "A".repeat(MAX_MESSAGE_LEN - held[0].len() - 8), &held[0][at..]);
    assert!(long_body.len() <= MAX_MESSAGE_LEN);
    let errors = message(a, &long_body);
    assert!(matches!(errors[..], [Error::Olm(_)]), "{errors:?}");
    let presence = "A".repeat(5000);
    rejected(a, |p| p.handle_presence("b2", "e2ee.idKey.ed25519", Some(&presence), 0));
}

#[test]
fn a_peer_claiming_another_peers_identity() {
    let mut room = Room::new(&["a1", "b2", "c3"]);
    let b_key = room.member("b2").identity_keys();
    let a = room.member("a1");
    // C publishes B's keys as its own.
    let errors = rejected(a, |p| p.handle_presence("c3", "e2ee.idKey.curve25519", Some(&b_key.curve25519), 0));
    assert_eq!(errors, [Error::DuplicateIdentityKey]);
    let errors = rejected(a, |p| p.handle_presence("c3", "e2ee.idKey.ed25519", Some(&b_key.ed25519), 0));
    assert_eq!(errors, [Error::DuplicateIdentityKey]);
    // C sends a session-init in B's name (B's identity key).
    let json = format!(
        r#"{{"type":"olm","olm":{{"data":{{"idKey":"{}","otKey":"yZaFfnfrz0FWoVk2FAWmjHkxFzVIozfbpje+s7PzpAw","uuid":"00000000-0000-4000-8000-000000000000"}},"type":"session-init"}}}}"#,
        b_key.curve25519
    );
    assert_eq!(rejected(a, |p| p.handle_message("c3", &json, 0)), [Error::IdentityKeyMismatch]);
    // Someone not in the room.
    assert_eq!(rejected(a, |p| p.handle_message("d4", &json, 0)), [Error::UnknownPeer]);
    assert_eq!(rejected(a, |p| p.handle_presence("d4", "e2ee.enabled", Some("true"), 0)), [Error::UnknownPeer]);
}

#[test]
fn low_order_keys_are_refused() {
    let mut room = Room::new(&["a1", "b2"]);
    let b_key = room.member("b2").identity_keys();
    let zero = "A".repeat(43);
    let json = format!(
        r#"{{"type":"olm","olm":{{"data":{{"idKey":"{}","otKey":"{zero}","uuid":"00000000-0000-4000-8000-000000000000"}},"type":"session-init"}}}}"#,
        b_key.curve25519
    );
    assert!(matches!(message(room.member("a1"), &json)[..], [Error::Olm(_)]));
    let (mut room, held) = pair();
    let _ = held;
    let a = room.member("a1");
    // A new verification of B's with a low-order SAS key.
    a.confirm_verification("b2", false);
    a.start_verification("b2");
    let start = std::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
        Event::SendMessage { json, .. } => Some(json),
        _ => None,
    });
    let start: serde_json::Value = serde_json::from_str(&start.expect("sas-start")).expect("JSON");
    let transaction = start["olm"]["data"]["transactionId"].as_str().expect("id").to_owned();
    let commitment = gstjframe_commitment(&zero, &transaction);
    a.handle_message(
        "b2",
        &format!(r#"{{"type":"olm","olm":{{"type":"sas-accept","data":{{"commitment":"{commitment}","transactionId":"{transaction}"}}}}}}"#),
        0,
    );
    let key = format!(
        r#"{{"type":"olm","olm":{{"type":"sas-key","data":{{"key":"{zero}","transactionId":"{transaction}"}}}}}}"#
    );
    assert!(matches!(message(a, &key)[..], [Error::Olm(_)]));
}

/// The responder's commitment, as the reference computes it.
fn gstjframe_commitment(key: &str, transaction: &str) -> String {
    use sha2::{Digest, Sha256};
    vodozemac::base64_encode(Sha256::digest(format!("{key}{{\"transactionId\":\"{transaction}\"}}")))
}

#[test]
fn session_init_for_an_existing_session() {
    let (mut room, _) = pair();
    let b_key = room.member("b2").identity_keys();
    let json = format!(
        r#"{{"type":"olm","olm":{{"data":{{"idKey":"{}","otKey":"yZaFfnfrz0FWoVk2FAWmjHkxFzVIozfbpje+s7PzpAw","uuid":"00000000-0000-4000-8000-000000000000"}},"type":"session-init"}}}}"#,
        b_key.curve25519
    );
    let a = room.member("a1");
    let before = a.testing_state_digest();
    a.handle_message("b2", &json, 0);
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(a.testing_state_digest(), before);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SendMessage { json, .. } if json.contains("Session already established")))
    );
    assert!(events.contains(&Event::Error { peer: Some("b2".into()), error: Error::SessionExists }));
}

#[test]
fn key_info_before_any_session() {
    let (_, held) = pair();
    let mut other = Room::new(&["a1", "b2"]);
    let errors = message(other.member("a1"), &held[0]);
    assert_eq!(errors, [Error::NoSession]);
}

#[test]
fn an_error_message_from_the_peer() {
    let (mut room, _) = pair();
    let errors = message(room.member("a1"), r#"{"type":"olm","olm":{"type":"error","data":{"error":"Invalid UUID"}}}"#);
    assert_eq!(errors, [Error::Remote("Invalid UUID".into())]);
}

/// A small deterministic generator (xorshift), so that a failure replays.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A JSON value of any kind, or a plausible field value.
    fn value(&mut self, depth: u32) -> String {
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => "null".into(),
            1 => self.pick(&["true", "false", "0", "-1", "1e308", "4294967296", "1.5"]).into(),
            2 => format!("\"{}\"", self.pick(&["", "AAAA", "x", "00000000-0000-4000-8000-000000000000", "\\u0000"])),
            3 => format!(
                "\"{}\"",
                vodozemac::base64_encode((0..self.below(200)).map(|_| self.next() as u8).collect::<Vec<_>>())
            ),
            4 => format!("{{\"type\":{},\"body\":{}}}", self.below(3), self.value(depth + 1)),
            5 => format!("\"{}\"", "A".repeat(43)),
            6 => format!("[{}]", self.value(depth + 1)),
            _ => {
                let fields = [
                    "idKey",
                    "otKey",
                    "uuid",
                    "ciphertext",
                    "key",
                    "keys",
                    "mac",
                    "transactionId",
                    "commitment",
                    "error",
                ];
                let n = self.below(4);
                let body: Vec<String> =
                    (0..n).map(|_| format!("\"{}\":{}", self.pick(&fields), self.value(depth + 1))).collect();
                format!("{{{}}}", body.join(","))
            }
        }
    }

    fn message(&mut self) -> String {
        let kinds = [
            "session-init",
            "session-ack",
            "key-info",
            "key-info-ack",
            "sas-start",
            "sas-accept",
            "sas-key",
            "sas-mac",
            "bogus",
        ];
        match self.below(4) {
            0 => String::from_utf8_lossy(&(0..self.below(300)).map(|_| self.next() as u8).collect::<Vec<_>>())
                .into_owned(),
            1 => self.value(0),
            _ => format!(
                "{{\"type\":\"olm\",\"olm\":{{\"type\":\"{}\",\"data\":{}}}}}",
                self.pick(&kinds),
                self.value(0)
            ),
        }
    }
}

#[test]
fn ten_thousand_random_messages() {
    let (mut room, _) = pair();
    let a = room.member("a1");
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for _ in 0..10_000 {
        let json = random.message();
        message(a, &json);
    }
}

/// A session-ack that decrypts but whose key-info is malformed is refused and uses up nothing: the
/// one-time key of the session-init is still there for a good session-ack afterwards.
#[test]
fn a_session_ack_with_a_malformed_key_info_uses_up_no_one_time_key() {
    use vodozemac::Curve25519PublicKey;
    use vodozemac::olm::{Account, OlmMessage, SessionConfig};
    let peer = Account::new();
    let mut a = Participant::new("a1").expect("a participant");
    a.peer_joined("b2", true);
    a.handle_presence("b2", "e2ee.idKey.curve25519", Some(&peer.curve25519_key().to_base64()), 0);
    a.handle_presence("b2", "e2ee.idKey.ed25519", Some(&peer.ed25519_key().to_base64()), 0);
    a.enable(0);
    let init = std::iter::from_fn(|| a.poll_event())
        .find_map(|e| match e {
            Event::SendMessage { to, json } if to == "b2" => Some(json),
            _ => None,
        })
        .expect("a session-init to b2");
    let init: serde_json::Value = serde_json::from_str(&init).expect("JSON");
    let data = &init["olm"]["data"];
    let key = |name: &str| Curve25519PublicKey::from_base64(data[name].as_str().expect("a key")).expect("a key");
    let uuid = data["uuid"].as_str().expect("a uuid");
    let ack = |plaintext: &str| {
        let mut session =
            peer.create_outbound_session(SessionConfig::version_1(), key("idKey"), key("otKey")).expect("a session");
        let OlmMessage::PreKey(message) = session.encrypt(plaintext.as_bytes()).expect("encrypts") else {
            panic!("a first message is a pre-key message")
        };
        format!(
            "{{\"type\":\"olm\",\"olm\":{{\"type\":\"session-ack\",\"data\":{{\"ciphertext\":{{\"type\":0,\
             \"body\":\"{}\"}},\"uuid\":\"{uuid}\"}}}}}}",
            message.to_base64()
        )
    };
    message(&mut a, &ack("not a key-info"));
    a.handle_message("b2", &ack("{}"), 0);
    assert!(a.has_session("b2"), "the good session-ack found its one-time key");
}
