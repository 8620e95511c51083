//! Meetings whose keys come only from the `jframeolm` element: three participants over an in-process
//! MUC and SFU, with real encoders, jframeenc/jframedec, payloaders and decoders; and
//! participants who cheat in the SAS verification.

#[path = "../examples/common/meeting.rs"]
mod meeting;

use std::time::Duration;

use gst::prelude::*;
use gstjframe::olm::{Event, MacEncoding, Participant};
use meeting::{CoreOccupant, Media, Meeting, wait_until};

const A: &str = "a1f0c3d2";
const B: &str = "b7e2a915";
const C: &str = "c4d8b0e6";
const VIDEO_FRAMES: u64 = 15;
const AUDIO_FRAMES: u64 = 25;
const TIMEOUT: Duration = Duration::from_secs(20);

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the jframe plugin registers");
    });
}

/// Every video and audio frame relayed to a receiver was decrypted and decoded, none
/// dropped, and the SFU relayed `phases` rounds of frames from `sender` to `receiver`.
fn assert_all_frames_arrived(meeting: &Meeting, sender: &str, receiver: &str, phases: u64) {
    let member = meeting.member(receiver);
    for (media, per_phase) in [(Media::Video, VIDEO_FRAMES), (Media::Audio, AUDIO_FRAMES)] {
        let what = format!("{receiver} from {sender}, {}", media.name());
        let relayed = meeting.sfu.relayed(sender, receiver, media);
        assert_eq!(relayed, phases * per_phase, "{what}: frames relayed");
        assert_eq!(member.decrypted(sender, media), relayed, "{what}: frames decrypted");
        assert_eq!(member.decoded(sender, media), relayed, "{what}: frames decoded");
        assert_eq!(member.dropped(sender, media), 0, "{what}: frames dropped");
    }
}

fn assert_no_errors(meeting: &Meeting) {
    for id in [A, B, C] {
        let errors = meeting.member(id).messages("jframeolm-error");
        assert!(errors.is_empty(), "{id} reported errors: {errors:?}");
    }
}

#[test]
fn three_participants_exchange_keys_over_olm_and_decode_everything_through_a_late_join_and_a_leave() {
    init();
    let mut meeting = Meeting::new(&[A, B, C]).expect("the meeting is set up");

    // A and B: keys at index 0, nobody set any by hand.
    meeting.join(A).expect("A joins");
    meeting.join(B).expect("B joins");
    meeting.settle("keys of A and B", |m| m.keys_exchanged(0, true)).expect("A and B hold each other's keys");
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES).expect("media of phase 1");

    // C joins late: A and B ratchet their keys in place; C learns them over Olm.
    let before_ratchet = meeting.member(A).key_code(A);
    meeting.join(C).expect("C joins");
    meeting.settle("keys of C", |m| m.keys_exchanged(0, false)).expect("everyone holds everyone's keys");
    assert_ne!(meeting.member(A).key_code(A), before_ratchet, "A ratcheted its key when C joined");
    assert_eq!(meeting.member(A).olm_stat("own-key-index"), 0, "a ratchet keeps the index");
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES).expect("media of phase 2");
    for (receiver, sender) in [(A, B), (B, A)] {
        for media in [Media::Video, Media::Audio] {
            let followed = meeting.member(receiver).decrypter_stat(sender, media, "ratchets");
            assert!(followed >= 1, "{receiver} followed the ratchet of {sender} ({})", media.name());
        }
    }

    // Each pair compares its SAS codes; they are equal and both sides verify.
    for (x, y) in [(A, B), (A, C), (B, C)] {
        let (seen_x, seen_y) = meeting.verify(x, y).expect("SAS verification runs");
        assert_eq!(seen_x, seen_y, "{x} and {y} see the same SAS");
        assert_eq!(seen_x.0.split(' ').count(), 3, "three numbers: {}", seen_x.0);
        assert_eq!(seen_x.1.split(' ').count(), 7, "seven emoji: {}", seen_x.1);
        assert!(meeting.verified(x, y) && meeting.verified(y, x), "{x} and {y} verified each other");
    }

    // B leaves: A and C rotate to a new key at index 1, which B never gets.
    let b_saw_a = meeting.member(B).key_code(A);
    meeting.leave(B);
    meeting.settle("the rotated keys", |m| m.keys_exchanged(1, true)).expect("A and C hold each other's new keys");
    for id in [A, C] {
        assert_eq!(meeting.member(id).olm_stat("own-key-index"), 1, "{id} rotated to index 1");
    }
    assert_eq!(meeting.member(B).key_code(A), b_saw_a, "B got nothing after it left");
    assert_ne!(meeting.member(B).key_code(A), meeting.member(A).key_code(A), "B cannot read A's new key");
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES).expect("media of phase 3");

    // A and B were together in phases 1 and 2, B and C in phase 2, A and C in phases 2 and 3.
    for (sender, receiver, phases) in [(A, B, 2), (B, A, 2), (B, C, 1), (C, B, 1), (A, C, 2), (C, A, 2)] {
        assert_all_frames_arrived(&meeting, sender, receiver, phases);
    }
    assert_no_errors(&meeting);
    meeting.stop();
}

/// The element verifies a cheater (who confirms the codes at once) and gives what it reported.
fn verify_cheater(cheat: impl FnOnce(&mut Participant)) -> (bool, String, Option<(bool, Option<&'static str>)>) {
    init();
    let mut meeting = Meeting::new(&[A]).expect("the meeting is set up");
    meeting.join(A).expect("A joins");
    let cheater = CoreOccupant::join(B, &meeting.muc, cheat).expect("the cheater joins");
    let member = meeting.member(A);
    meeting.settle("the key of the cheater", |_| member.key_code(B).is_some()).expect("A has B's key");
    member.olm.emit_by_name::<()>("start-verification", &[&B]);
    let over = |m: &Meeting| m.member(A).last_message("jframeolm-verification", B).is_some();
    // The commitment is checked before the codes exist; the MAC after the user confirmed.
    let _ = wait_until(TIMEOUT, || over(&meeting) || member.last_message("jframeolm-sas-ready", B).is_some());
    if !over(&meeting) {
        member.olm.emit_by_name::<()>("confirm-verification", &[&B, &true]);
    }
    meeting.settle("the verification result", over).expect("A reports a result");
    let result = member.last_message("jframeolm-verification", B).expect("a result");
    let cheater_saw = cheater.events().into_iter().rev().find_map(|event| match event {
        Event::VerificationCompleted { ok, reason, .. } => Some((ok, reason.map(|r| r.as_str()))),
        _ => None,
    });
    meeting.stop();
    (result.get::<bool>("ok").expect("ok"), result.get::<String>("reason").expect("reason"), cheater_saw)
}

#[test]
fn a_participant_that_commits_to_another_sas_key_is_not_verified() {
    let (ok, reason, _) = verify_cheater(Participant::testing_tamper_commitment);
    assert!(!ok, "not verified");
    assert_eq!(reason, "e2ee.sas.commitment-mismatched");
}

#[test]
fn a_participant_whose_sas_mac_is_wrong_is_not_verified() {
    let (ok, reason, _) = verify_cheater(|p| p.testing_set_mac_encoding(MacEncoding::Fixed));
    assert!(!ok, "not verified");
    assert_eq!(reason, "e2ee.sas.keys-mac-mismatch");
}

#[test]
fn an_honest_participant_of_the_core_is_verified() {
    let (ok, reason, cheater_saw) = verify_cheater(|_| {});
    assert!(ok, "verified ({reason})");
    assert_eq!(cheater_saw, Some((true, None)));
}
