//! Meetings of our own Olm participants (`gstjframe::olm`) in an in-memory MUC: keys both
//! ways, a late join (senders ratchet), a leave (new key at the next index), disabling, the
//! wait for sessions, and SAS verification, honest and tampered.

#[path = "olm/room.rs"]
mod room;

use gstjframe::jframe::ratchet;
use gstjframe::olm::{Event, MacEncoding, REQUEST_TIMEOUT_MS, SESSION_WAIT_MS, SasCode, VerificationFailure};
use room::Room;

/// Every member holds every other member's current key at its index.
fn assert_keys_everywhere(room: &Room) {
    for at in room.members.keys() {
        for of in room.members.keys().filter(|of| *of != at) {
            let own = room.own_key(of).expect("own key");
            assert!(own.0.is_some(), "{of} has a key");
            assert_eq!(room.peer_key(at, of), Some(own), "{at} holds {of}'s key");
        }
    }
}

fn enabled_room(ids: &[&str]) -> Room {
    let mut room = Room::new(ids);
    for id in ids {
        {
            let now = room.now;
            room.member(id).enable(now)
        };
        room.run();
    }
    room
}

#[test]
fn two_participants_exchange_keys_both_ways() {
    let room = enabled_room(&["a1", "b2"]);
    assert_keys_everywhere(&room);
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(0));
    assert_ne!(room.own_key("a1").and_then(|k| k.0), room.own_key("b2").and_then(|k| k.0));
    assert!(room.events("a1").contains(&Event::SessionReady { peer: "b2".into(), initiator: true }));
    assert!(room.events("b2").contains(&Event::SessionReady { peer: "a1".into(), initiator: false }));
    assert!(room.errors("a1").is_empty() && room.errors("b2").is_empty(), "{:?}", room.errors("a1"));
}

/// Everyone turns E2EE on at once (a room where it gets enabled): a peer's `e2ee.enabled` that
/// arrives while we wait for sessions is answered after our key is made, with that key, so every
/// key-info is acked and nothing is left to time out.
#[test]
fn enabling_at_once_leaves_no_request_to_time_out() {
    let ids = ["a1", "b2", "c3"];
    let mut room = Room::new(&ids);
    for id in ids {
        room.member(id).enable(0);
    }
    room.run();
    assert_keys_everywhere(&room);
    for id in ids {
        assert_eq!(room.member(id).next_deadline(), None, "{id} waits for nothing");
    }
    room.advance(REQUEST_TIMEOUT_MS + SESSION_WAIT_MS);
    for id in ids {
        assert!(room.errors(id).is_empty(), "{id}: {:?}", room.errors(id));
    }
}

#[test]
fn three_participants_late_join_ratchets_and_leave_rotates() {
    let mut room = enabled_room(&["a1", "b2"]);
    room.join("c3");
    // Someone joined: the senders ratchet their keys in place, sending nothing.
    for id in ["a1", "b2"] {
        let (before, index) = room.own_key(id).expect("key");
        room.member(id).ratchet_key();
        room.run();
        let (after, same_index) = room.own_key(id).expect("key");
        assert_eq!(same_index, index);
        let expected = ratchet(before.expect("key").as_bytes());
        assert_eq!(after.expect("key").as_bytes().as_slice(), expected.as_slice());
    }
    room.run();
    {
        let now = room.now;
        room.member("c3").enable(now)
    };
    room.run();
    // The newcomer gets the ratcheted keys; the others hold each other's keys one ratchet behind
    // (their receivers follow by themselves), and the newcomer's.
    for of in ["a1", "b2"] {
        assert_eq!(room.peer_key("c3", of), room.own_key(of), "c3 holds {of}'s ratcheted key");
        assert_eq!(room.peer_key(of, "c3"), room.own_key("c3"), "{of} holds c3's key");
    }
    let (held, index) = room.peer_key("a1", "b2").expect("a1 holds a key of b2");
    let (current, current_index) = room.own_key("b2").expect("b2's key");
    assert_eq!(index, current_index);
    assert_eq!(ratchet(held.expect("key").as_bytes()).as_slice(), current.expect("key").as_bytes().as_slice());
    assert!(room.members.keys().all(|id| room.errors(id).is_empty()), "{:?}", room.errors("c3"));

    // Someone left: its keys go, the others rotate to the next index.
    room.leave("b2");
    for id in ["a1", "c3"] {
        assert!(room.events(id).contains(&Event::PeerKeysDropped { peer: "b2".into() }));
        {
            let now = room.now;
            room.member(id).rotate_key(now)
        };
        room.run();
    }
    assert_keys_everywhere(&room);
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(1));
    assert_eq!(room.own_key("c3").map(|k| k.1), Some(1));
}

#[test]
fn the_own_key_is_used_once_every_peer_has_it() {
    let mut room = enabled_room(&["a1", "b2"]);
    // Hold B's answers: A's new key must not become A's sending key yet.
    room.tamper = Some(Box::new(|from, _, json| if from == "b2" { String::new() } else { json }));
    {
        let now = room.now;
        room.member("a1").rotate_key(now)
    };
    room.run();
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(0), "used before the peer acked");
    assert_eq!(room.peer_key("b2", "a1").map(|k| k.1), Some(1));
    assert_eq!(room.member("a1").next_deadline(), Some(room.now + REQUEST_TIMEOUT_MS));
    room.advance(REQUEST_TIMEOUT_MS);
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(1), "not used after the timeout");
}

#[test]
fn disabling_sends_presence_first_and_the_peers_drop_the_keys() {
    let mut room = enabled_room(&["a1", "b2"]);
    {
        let now = room.now;
        room.member("a1").disable(now)
    };
    let first = room.member("a1").poll_event();
    assert_eq!(first, Some(Event::SetPresence { name: "e2ee.enabled", value: String::new() }));
    // (Taken from A's queue above, so delivered here.)
    let now = room.now;
    room.member("b2").handle_presence("a1", "e2ee.enabled", Some(""), now);
    room.run();
    // B dropped A's session and keys on the presence, and answers A's `false` with an error.
    assert_eq!(room.peer_key("b2", "a1"), None);
    assert!(!room.member("b2").has_session("a1"));
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(0), "A waits for the acks");
    room.advance(REQUEST_TIMEOUT_MS);
    assert_eq!(room.own_key("a1"), Some((None, 1)));
    assert!(!room.member("a1").has_session("b2"));
    // Enabling again makes a new session and a new key.
    {
        let now = room.now;
        room.member("a1").enable(now)
    };
    room.run();
    assert_keys_everywhere(&room);
    assert_eq!(room.own_key("a1").map(|k| k.1), Some(2));
}

/// z9 joins a1's E2EE room without the E2EE feature and with E2EE off; a later presence has
/// the feature and `e2ee.enabled`. `announce` says whether a1 is told of the new feature.
fn feature_comes_later(announce: bool) -> Room {
    let mut room = enabled_room(&["a1"]);
    room.join_with_feature("z9", false);
    assert!(!room.member("a1").has_session("z9"), "no session with a peer without the feature");
    if announce {
        room.member("a1").peer_features("z9", true);
    }
    let now = room.now;
    room.member("z9").enable(now);
    room.run();
    room
}

#[test]
fn a_peer_whose_feature_comes_in_a_later_presence_gets_a_session_and_a_key() {
    // As lib-jitsi-meet, a1 reads z9's features again when z9's e2ee.enabled turns true.
    let room = feature_comes_later(true);
    assert_keys_everywhere(&room);
    assert!(room.errors("a1").is_empty(), "{:?}", room.errors("a1"));
    // The features as they were at the join: a1 (the smaller id) never starts the session.
    let mut room = feature_comes_later(false);
    assert!(!room.member("a1").has_session("z9"));
    assert_eq!(room.peer_key("z9", "a1"), None);
    // Features of someone not in the room are refused.
    room.member("a1").peer_features("nobody", true);
    room.run();
    assert_eq!(room.errors("a1").len(), 1, "{:?}", room.errors("a1"));
}

#[test]
fn enabling_waits_for_silent_peers_at_most_the_reference_times() {
    let mut room = Room::new(&["a1"]);
    room.member("a1").peer_joined("z9", true);
    room.member("a1").enable(0);
    room.run();
    assert!(room.member("a1").is_waiting_for_sessions());
    assert_eq!(room.member("a1").next_deadline(), Some(REQUEST_TIMEOUT_MS), "the session-init's answer");
    room.advance(REQUEST_TIMEOUT_MS);
    assert_eq!(room.member("a1").next_deadline(), Some(REQUEST_TIMEOUT_MS + SESSION_WAIT_MS));
    assert!(room.own_key("a1").is_none());
    room.advance(SESSION_WAIT_MS - 1);
    assert!(room.own_key("a1").is_none());
    room.advance(1);
    assert!(!room.member("a1").is_waiting_for_sessions());
    assert_eq!(room.own_key("a1").map(|k| (k.0.is_some(), k.1)), Some((true, 0)));
}

fn sas_of(room: &Room, at: &str, with: &str) -> Option<SasCode> {
    room.events(at).iter().find_map(|e| match e {
        Event::SasReady { peer, sas } if peer == with => Some(sas.clone()),
        _ => None,
    })
}

fn verification(room: &Room, at: &str, with: &str) -> Option<(bool, Option<VerificationFailure>)> {
    room.events(at).iter().find_map(|e| match e {
        Event::VerificationCompleted { peer, ok, reason } if peer == with => Some((*ok, *reason)),
        _ => None,
    })
}

#[test]
fn sas_is_equal_on_both_sides_and_verifies_once_both_users_confirm() {
    let mut room = enabled_room(&["a1", "b2", "c3"]);
    room.member("c3").start_verification("a1");
    room.run();
    let (at_a, at_c) = (sas_of(&room, "a1", "c3").expect("sas at a1"), sas_of(&room, "c3", "a1").expect("sas at c3"));
    assert_eq!(at_a, at_c);
    assert!(sas_of(&room, "b2", "a1").is_none());
    room.member("a1").confirm_verification("c3", true);
    room.run();
    assert_eq!(verification(&room, "c3", "a1"), None, "not verified before its own user confirmed");
    room.member("c3").confirm_verification("a1", true);
    room.run();
    assert_eq!(verification(&room, "a1", "c3"), Some((true, None)));
    assert_eq!(verification(&room, "c3", "a1"), Some((true, None)));
}

#[test]
fn a_tampered_commitment_is_reported_as_not_verified() {
    let mut room = enabled_room(&["a1", "b2"]);
    room.member("b2").testing_tamper_commitment();
    room.member("a1").start_verification("b2");
    room.run();
    assert_eq!(verification(&room, "a1", "b2"), Some((false, Some(VerificationFailure::CommitmentMismatched))));
    assert!(sas_of(&room, "a1", "b2").is_none(), "no code shown after the mismatch");
    assert!(room.errors("b2").iter().any(|e| e.contains("OlmAdapter commitments mismatched")));
}

#[test]
fn a_tampered_mac_is_reported_as_not_verified() {
    let mut room = enabled_room(&["a1", "b2"]);
    room.member("b2").testing_set_mac_encoding(MacEncoding::Fixed);
    room.member("a1").start_verification("b2");
    room.run();
    assert_eq!(sas_of(&room, "a1", "b2"), sas_of(&room, "b2", "a1"));
    room.member("a1").confirm_verification("b2", true);
    room.member("b2").confirm_verification("a1", true);
    room.run();
    assert_eq!(verification(&room, "a1", "b2"), Some((false, Some(VerificationFailure::KeysMacMismatch))));
    assert_eq!(verification(&room, "b2", "a1"), Some((false, Some(VerificationFailure::KeysMacMismatch))));
}

#[test]
fn a_mac_changed_in_flight_is_reported_as_not_verified() {
    let mut room = enabled_room(&["a1", "b2"]);
    room.tamper = Some(Box::new(|from, _, json| {
        if from == "b2" && json.contains("sas-mac") {
            // Another MAC of B's key (one character of the entry changed), the key ids' MAC intact.
            let at = json.find("\"ed25519:a1\":\"").expect("mac entry") + 14;
            let mut bytes = json.into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).expect("utf-8")
        } else {
            json
        }
    }));
    room.member("a1").start_verification("b2");
    room.run();
    room.member("a1").confirm_verification("b2", true);
    room.member("b2").confirm_verification("a1", true);
    room.run();
    assert_eq!(verification(&room, "a1", "b2"), Some((false, Some(VerificationFailure::MacMismatch))));
    assert_eq!(verification(&room, "b2", "a1"), Some((true, None)));
}

#[test]
fn rejecting_the_codes_fails_and_allows_a_new_verification() {
    let mut room = enabled_room(&["a1", "b2"]);
    room.member("a1").start_verification("b2");
    room.run();
    room.member("a1").confirm_verification("b2", false);
    room.run();
    assert_eq!(verification(&room, "a1", "b2"), Some((false, Some(VerificationFailure::ChannelVerificationFailed))));
    room.member("a1").start_verification("b2");
    room.run();
    assert!(room.errors("a1").is_empty(), "{:?}", room.errors("a1"));
}
