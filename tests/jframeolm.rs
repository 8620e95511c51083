//! The `jframeolm` element alone: its properties, its refusals, and hostile input through
//! its action signals (refused with `false`, one `jframeolm-error` message and a counter,
//! nothing else changed, the exchange still working afterwards).

#[path = "../examples/common/meeting.rs"]
mod meeting;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use meeting::Meeting;

const A: &str = "a1f0c3d2";
const B: &str = "b7e2a915";

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the jframe plugin registers");
    });
}

fn make() -> gst::Element {
    init();
    gst::ElementFactory::make("jframeolm").build().expect("jframeolm exists")
}

fn stat(olm: &gst::Element, field: &str) -> u64 {
    olm.property::<gst::Structure>("stats").get::<u64>(field).expect("a counter")
}

#[test]
fn identity_keys_are_there_from_the_start_and_read_only() {
    let olm = make();
    for name in ["identity-key-curve25519", "identity-key-ed25519"] {
        let key = olm.property::<String>(name);
        assert_eq!(key.len(), 43, "{name} is unpadded base64 of 32 bytes: {key}");
        assert!(!olm.find_property(name).expect(name).flags().contains(glib::ParamFlags::WRITABLE));
        assert_eq!(olm.property::<String>(name), key, "{name} stays");
    }
    assert_ne!(olm.property::<String>("identity-key-curve25519"), make().property::<String>("identity-key-curve25519"));
    assert!(!olm.property::<bool>("enabled"));
    assert_eq!(olm.property::<Option<String>>("local-id"), None);
    let stats = olm.property::<gst::Structure>("stats");
    assert_eq!(stats.name(), "application/x-jframeolm-stats");
    assert_eq!(stats.get::<i64>("own-key-index"), Ok(-1));
    assert_eq!(stat(&olm, "messages-handled"), 0);
}

#[test]
fn without_local_id_it_does_not_start() {
    let olm = make();
    let pipeline = gst::Pipeline::new();
    pipeline.add(&olm).expect("added");
    assert!(pipeline.set_state(gst::State::Ready).is_err());
    let bus = pipeline.bus().expect("bus");
    let error = std::iter::from_fn(|| bus.pop()).find_map(|message| match message.view() {
        gst::MessageView::Error(error) => Some(error.error().to_string()),
        _ => None,
    });
    assert!(error.as_deref().is_some_and(|e| e.contains("local-id")), "{error:?}");
    let _ = pipeline.set_state(gst::State::Null);
}

#[test]
fn inputs_before_ready_are_refused_and_outputs_wait_for_ready() {
    let olm = make();
    olm.set_property("local-id", A);
    olm.set_property("enabled", true);
    let presence = Arc::new(Mutex::new(Vec::new()));
    let seen = presence.clone();
    olm.connect("set-presence", false, move |args| {
        let name = args[1].get::<String>().expect("name");
        let value = args[2].get::<String>().expect("value");
        seen.lock().expect("presence").push((name, value));
        None
    });
    let pipeline = gst::Pipeline::new();
    pipeline.add(&olm).expect("added");
    assert!(!olm.emit_by_name::<bool>("handle-message", &[&B, &"{}"]));
    assert_eq!(stat(&olm, "messages-rejected"), 1);
    assert!(presence.lock().expect("presence").is_empty(), "nothing announced in NULL");

    pipeline.set_state(gst::State::Ready).expect("READY");
    let announced: Vec<(String, String)> = presence.lock().expect("presence").clone();
    let names: Vec<&str> = announced.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["e2ee.idKey.curve25519", "e2ee.idKey.ed25519", "e2ee.enabled"]);
    assert_eq!(announced[0].1, olm.property::<String>("identity-key-curve25519"));
    assert_eq!(announced[2].1, "true", "enabled while NULL applies at READY");
    // Alone in the room: the own key comes at once.
    assert_eq!(olm.property::<gst::Structure>("stats").get::<i64>("own-key-index"), Ok(0));

    olm.set_property("local-id", B);
    assert_eq!(olm.property::<Option<String>>("local-id").as_deref(), Some(A), "not while E2EE is on");
    pipeline.set_state(gst::State::Null).expect("NULL");
}

/// The messages a participant sent: `(to, json)`.
type Sent = Arc<Mutex<Vec<(String, String)>>>;

/// Two participants with each other's keys; everything B sends is recorded.
fn two_with_keys() -> (Meeting, Sent) {
    init();
    let mut meeting = Meeting::new(&[A, B]).expect("a meeting");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let recording = sent.clone();
    meeting.member(B).olm.connect("send-message", false, move |args| {
        let to = args[1].get::<String>().expect("to");
        let json = args[2].get::<String>().expect("json");
        recording.lock().expect("sent").push((to, json));
        None
    });
    meeting.join(A).expect("A joins");
    meeting.join(B).expect("B joins");
    meeting.settle("keys", |m| m.keys_exchanged(0, true)).expect("keys exchanged");
    (meeting, sent)
}

/// What an input could change, as seen from outside.
#[derive(Debug, PartialEq)]
struct Visible {
    keys: (Option<String>, Option<String>),
    messages: usize,
    key_messages: usize,
    sessions: u64,
    handled: u64,
}

fn visible(meeting: &Meeting) -> Visible {
    let a = meeting.member(A);
    Visible {
        keys: (a.key_code(A), a.key_code(B)),
        messages: a.messages("jframeolm-key").len() + a.messages("jframeolm-session").len(),
        key_messages: meeting.member(B).messages("jframeolm-key").len(),
        sessions: stat(&a.olm, "sessions"),
        handled: stat(&a.olm, "messages-handled"),
    }
}

#[test]
fn hostile_messages_are_refused_with_an_error_each_and_change_nothing() {
    let (meeting, sent) = two_with_keys();
    let olm = &meeting.member(A).olm;
    let outputs = Arc::new(Mutex::new(0u32));
    let counting = outputs.clone();
    olm.connect("send-message", false, move |_| {
        *counting.lock().expect("outputs") += 1;
        None
    });
    let replayed = sent.lock().expect("sent").iter().rev().find(|(to, _)| to == A).expect("B sent to A").1.clone();
    let before = visible(&meeting);
    let huge = format!("{{\"type\":\"olm\",\"olm\":{{\"type\":\"key-info\",\"data\":\"{}\"}}}}", "A".repeat(100_000));
    let hostile: Vec<(&str, String)> = vec![
        (B, "{not json".to_owned()),
        (B, "[]".to_owned()),
        (
            B,
            r#"{"type":"olm","olm":{"type":"key-info","data":{"ciphertext":{"type":1,"body":"%%%"},"uuid":"x"}}}"#
                .to_owned(),
        ),
        (B, r#"{"type":"olm","olm":{"type":"session-init","data":{"idKey":1,"otKey":[],"uuid":null}}}"#.to_owned()),
        (B, r#"{"type":"olm","olm":{"type":"no-such-type","data":{}}}"#.to_owned()),
        (B, replayed),
        (B, huge),
        ("nobody", r#"{"type":"olm","olm":{"type":"key-info","data":{}}}"#.to_owned()),
        ("", "{}".to_owned()),
    ];
    let mut rejected = stat(olm, "messages-rejected");
    for (from, json) in &hostile {
        let errors_before = meeting.member(A).messages("jframeolm-error").len();
        assert!(!olm.emit_by_name::<bool>("handle-message", &[from, json]), "refused: {}", &json[..json.len().min(80)]);
        rejected += 1;
        assert_eq!(stat(olm, "messages-rejected"), rejected);
        let errors = meeting.member(A).messages("jframeolm-error");
        assert_eq!(errors.len(), errors_before + 1, "one error message for {}", &json[..json.len().min(80)]);
        assert_eq!(errors.last().and_then(|e| e.get::<String>("participant").ok()).as_deref(), Some(*from));
    }
    // Random bytes, as text as a C or Python caller can pass it: a GLib string ends at its first NUL.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..(seed % 300))
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let c_string = text.split('\0').next().unwrap_or_default();
        assert!(!olm.emit_by_name::<bool>("handle-message", &[&B, &c_string]));
    }
    assert_eq!(stat(olm, "messages-rejected"), rejected + 2000);
    assert!(meeting.muc.wait_quiet(Duration::from_secs(10)));
    // The reference answers some junk with an `error` message; nothing else went out.
    let after = visible(&meeting);
    assert_eq!(after, before, "nothing changed");
    let answered = *outputs.lock().expect("outputs");
    assert!(answered <= 1, "{answered} replies to junk");

    // The exchange still works: B rotates, A takes B's new key.
    meeting.member(B).olm.emit_by_name::<()>("rotate-key", &[]);
    let rotated = |m: &Meeting| m.member(B).olm_stat("own-key-index") == 1;
    meeting
        .settle("B's new key", |m| rotated(m) && m.member(A).key_code(B) == m.member(B).key_code(B))
        .expect("A has B's new key");
}

#[test]
fn hostile_presence_and_actions_are_refused_with_an_error_each() {
    let (meeting, _) = two_with_keys();
    let olm = &meeting.member(A).olm;
    let before = visible(&meeting);
    let rejected = stat(olm, "inputs-rejected");
    let errors = meeting.member(A).messages("jframeolm-error").len();
    let no_string: Option<&str> = None;
    olm.emit_by_name::<()>("handle-presence", &[&B, &"e2ee.idKey.curve25519", &"not a key"]);
    olm.emit_by_name::<()>("handle-presence", &[&B, &"e2ee.idKey.ed25519", &"x".repeat(5000)]);
    olm.emit_by_name::<()>("handle-presence", &[&"stranger", &"e2ee.enabled", &"true"]);
    olm.emit_by_name::<()>("handle-presence", &[&no_string, &no_string, &no_string]);
    olm.emit_by_name::<()>("participant-left", &[&"stranger"]);
    olm.emit_by_name::<()>("participant-joined", &[&A, &true]);
    olm.emit_by_name::<()>("start-verification", &[&"stranger"]);
    olm.emit_by_name::<()>("confirm-verification", &[&B, &true]);
    olm.emit_by_name::<()>("participant-left", &[&no_string]);
    olm.emit_by_name::<()>("handle-features", &[&"stranger", &true]);
    assert_eq!(stat(olm, "inputs-rejected"), rejected + 10);
    assert_eq!(meeting.member(A).messages("jframeolm-error").len(), errors + 10);
    assert!(meeting.muc.wait_quiet(Duration::from_secs(10)));
    assert_eq!(visible(&meeting), before, "nothing changed");
}

#[test]
fn a_peer_that_leaves_loses_its_keys_and_ratchet_key_ratchets_the_own_key_in_the_store() {
    let (meeting, _) = two_with_keys();
    let (a, b) = (meeting.member(A), meeting.member(B));
    let (own, own_keys) = (a.key_code(A), stat(&a.olm, "own-keys"));
    a.olm.emit_by_name::<()>("ratchet-key", &[]);
    assert_ne!(a.key_code(A), own, "the own key ratcheted");
    assert_eq!(stat(&a.olm, "own-keys"), own_keys + 1);
    let ratcheted = a.last_message("jframeolm-key", A).expect("a key message");
    assert_eq!(ratcheted.get::<i64>("key-index"), Ok(0), "same index");
    assert_eq!(ratcheted.get::<bool>("local"), Ok(true));
    let code = ratcheted.get::<String>("verification-code").expect("a verification code");
    assert!(code.starts_with(&a.key_code(A).expect("own key")), "{code}");

    b.olm.emit_by_name::<()>("participant-left", &[&A]);
    assert_eq!(b.key_code(A), None, "A's keys are gone from B's store");
    let dropped = b.last_message("jframeolm-key", A).expect("a key message");
    assert_eq!(dropped.get::<bool>("has-key"), Ok(false));
    assert!(!dropped.has_field("verification-code"));
}

#[test]
fn a_key_the_store_refuses_is_reported_and_counted() {
    init();
    let mut meeting = Meeting::new(&[A]).expect("a meeting");
    let member = meeting.member(A);
    member.store.set_rules(A, gstjframe::jframe::Rules::livekit()).expect("LiveKit rules for A");
    meeting.join(A).expect("A joins");
    let member = meeting.member(A);
    assert!(meeting::wait_until(Duration::from_secs(10), || stat(&member.olm, "key-store-errors") == 1));
    let error = member.last_message("jframeolm-error", A).expect("an error message");
    assert!(error.get::<String>("reason").expect("reason").contains("other rules"), "{error}");
    assert!(member.messages("jframeolm-key").is_empty(), "no key announced");
    assert_eq!(member.key_code(A), None);
}
