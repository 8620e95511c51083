//! Three participants in one process exchange their keys over lib-jitsi-meet's Olm key
//! exchange (`jframeolm`) through an in-process MUC, and send each other encrypted VP8
//! and Opus through an in-process SFU; no key is set by hand. One joins late (the others
//! ratchet their keys), one leaves (the others rotate to a new key at the next index), and
//! every pair compares its SAS codes. Prints what each receiver decrypted and decoded.
//!
//! ```text
//! cargo run --release --example olm-meeting
//! ```

mod common;

use common::meeting::{Media, Meeting};
use common::{Result, report};

const IDS: [&str; 3] = ["a1f0c3d2", "b7e2a915", "c4d8b0e6"];
/// Frames each participant sends per phase: half a second of video and audio.
const VIDEO_FRAMES: u64 = 15;
const AUDIO_FRAMES: u64 = 25;

fn main() -> Result<()> {
    common::init()?;
    let [a, b, c] = IDS;
    let mut meeting = Meeting::new(&IDS)?;

    println!("{a} and {b} join and turn E2EE on");
    meeting.join(a)?;
    meeting.join(b)?;
    meeting.settle("keys of the first two", |m| m.keys_exchanged(0, true))?;
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES)?;

    println!("{c} joins late: {a} and {b} ratchet their keys");
    meeting.join(c)?;
    meeting.settle("keys of the late joiner", |m| m.keys_exchanged(0, false))?;
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES)?;

    for (x, y) in [(a, b), (a, c), (b, c)] {
        let ((decimal, emoji), (their_decimal, their_emoji)) = meeting.verify(x, y)?;
        let same = decimal == their_decimal && emoji == their_emoji;
        println!(
            "SAS {x} / {y}: {emoji} ({decimal}) | {their_emoji} ({their_decimal}): {}",
            match same {
                true => "match",
                false => "DIFFER",
            }
        );
        println!("  verified: {x} sees {y} {}, {y} sees {x} {}", meeting.verified(x, y), meeting.verified(y, x));
    }

    println!("{b} leaves: {a} and {c} rotate to a new key at the next index");
    meeting.leave(b);
    meeting.settle("the new keys", |m| m.keys_exchanged(1, true))?;
    meeting.send_media(VIDEO_FRAMES, AUDIO_FRAMES)?;

    for receiver in IDS {
        let member = meeting.member(receiver);
        for sender in IDS.iter().filter(|s| **s != receiver) {
            for media in [Media::Video, Media::Audio] {
                report(
                    &format!("{receiver} from {sender} {}", media.name()),
                    &[
                        ("relayed", meeting.sfu.relayed(sender, receiver, media)),
                        ("decrypted", member.decrypted(sender, media)),
                        ("decoded", member.decoded(sender, media)),
                        ("dropped", member.dropped(sender, media)),
                        ("ratchets-followed", member.decrypter_stat(sender, media, "ratchets")),
                    ],
                );
            }
        }
    }
    for id in IDS {
        let member = meeting.member(id);
        let stat = |field: &str| member.olm_stat(field).max(0) as u64;
        report(
            &format!("{id} olm"),
            &[
                ("own-key-index", stat("own-key-index")),
                ("keys-received", stat("keys-received")),
                ("messages-sent", stat("messages-sent")),
                ("messages-handled", stat("messages-handled")),
                ("messages-rejected", stat("messages-rejected")),
                ("verifications-ok", stat("verifications-ok")),
            ],
        );
    }
    println!("MUC relayed {} private messages", meeting.muc.relayed_messages());
    meeting.stop();
    Ok(())
}
