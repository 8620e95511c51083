//! The send and receive paths users run: the examples, each run as a program, over
//! RTP/UDP, between two webrtcbin peers, and into a WebM recording.
//! Release only (`cargo test --release`, scripts/test): each is a call in real time, which the
//! debug profile only makes slower.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use gst::prelude::*;

/// One example at a time: each is a real-time call, and two cores are shared.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

type Figures = HashMap<String, HashMap<String, u64>>;

/// Builds (if needed) and runs an example with the same profile as this test; returns
/// its `<name>: key=value ...` lines.
fn run_example(name: &str, args: &[&str]) -> Figures {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--locked", "--example", name]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo runs").success(), "example {name} builds");
    let output = Command::new(profile_dir.join("examples").join(name)).args(args).output().expect("example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{name} {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    println!("{name} {args:?}:\n{stdout}");
    stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(_, rest)| rest.contains('='))
        .map(|(label, rest)| {
            let values = rest
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
                .collect();
            (label.to_string(), values)
        })
        .collect()
}

fn get(figures: &Figures, line: &str, key: &str) -> u64 {
    figures.get(line).and_then(|l| l.get(key)).copied().unwrap_or_else(|| panic!("no {line} {key} in {figures:?}"))
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn rtp_path_decrypts_and_decodes_every_frame() {
    let figures = run_example("rtp-loopback", &["--seconds", "3", "--mtu", "600"]);
    for media in ["video", "audio"] {
        let sent = get(&figures, media, "sent");
        assert!(sent >= 90, "{media}: frames were sent");
        assert_eq!(get(&figures, media, "decrypted"), sent, "{media}: every frame decrypted");
        assert_eq!(get(&figures, media, "decoded"), sent, "{media}: every frame decoded");
        assert_eq!(get(&figures, media, "dropped"), 0);
    }
    // Key frames and delta frames both went through.
    let key_frames = get(&figures, "video", "key-frames");
    assert!(key_frames >= 3 && key_frames < get(&figures, "video", "sent"));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn rtp_path_with_the_wrong_key_decodes_nothing_without_errors() {
    let figures = run_example("rtp-loopback", &["--seconds", "2", "--receiver-key", &"17".repeat(32)]);
    for media in ["video", "audio"] {
        assert_eq!(get(&figures, media, "decrypted"), 0);
        assert_eq!(get(&figures, media, "decoded"), 0);
        assert_eq!(get(&figures, media, "dropped"), get(&figures, media, "sent"), "{media}: every frame counted");
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn webrtc_call_flows_both_ways_without_failures() {
    let figures = run_example("webrtc-call", &["--seconds", "5", "--both-ways"]);
    for line in ["video", "audio", "back-video", "back-audio"] {
        assert!(get(&figures, line, "decoded") >= 100, "{line}: frames decoded");
        assert_eq!(get(&figures, line, "dropped"), 0, "{line}: no decryption failure");
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn webrtc_call_follows_a_new_key_and_a_ratchet_losing_no_frame() {
    let figures = run_example("webrtc-call", &["--seconds", "6", "--rotate-at", "2", "--ratchet-at", "4"]);
    for line in ["video", "audio"] {
        let sent = get(&figures, line, "sent");
        // At most the frames still on their way when the call ends are not counted.
        assert!(get(&figures, line, "decrypted") + 2 >= sent, "{line}: no frame lost");
        assert_eq!(get(&figures, line, "dropped"), 0, "{line}: no decryption failure");
        assert_eq!(get(&figures, line, "ratchets"), 1, "{line}: the receiver followed the ratchet by itself");
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn webrtc_receiver_that_starts_late_waits_for_a_key_frame() {
    // The sender makes key frames only when asked (keyframe-max-dist=2000): decoding
    // after the late start shows the receiver's key-frame request reached the encoder
    // through jframedec, webrtcbin, jframevp8pay and jframeenc.
    let figures = run_example("webrtc-call", &["--seconds", "8", "--late-receiver", "2"]);
    let (sent, decoded) = (get(&figures, "video", "sent"), get(&figures, "video", "decoded"));
    // 2 s (60 frames) ignored, then at least 1 s of frames decoded from the new key frame.
    assert!(decoded >= 30 && decoded <= sent - 60, "decoded {decoded} of {sent}: from a later key frame on");
    assert_eq!(get(&figures, "video", "dropped"), 0);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn webrtc_receiver_with_the_wrong_key_decodes_nothing_and_reports_it() {
    let figures = run_example("webrtc-call", &["--seconds", "4", "--receiver-key", &"42".repeat(32)]);
    for line in ["video", "audio"] {
        assert_eq!(get(&figures, line, "decoded"), 0, "{line}");
        assert!(get(&figures, line, "dropped") >= 50, "{line}: the drops are counted");
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn recording_of_decrypted_frames_plays_back() {
    let dir = std::env::temp_dir().join(format!("jframe-recording-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("call.webm");
    let figures = run_example("record-webm", &["--seconds", "3", "--output", file.to_str().unwrap()]);
    let recorded_video = get(&figures, "recorded", "video-recorded");
    assert_eq!(recorded_video, get(&figures, "recorded", "video-sent"));
    assert_eq!(get(&figures, "recorded", "dropped"), 0);

    // Play the file back in a pipeline of its own.
    gst::init().unwrap();
    let playback = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! matroskademux name=demux \
         demux.video_0 ! queue ! vp8dec name=vp8dec ! fakesink \
         demux.audio_0 ! queue ! opusdec name=opusdec ! fakesink",
        file.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let count = |name: &str| {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting = counter.clone();
        let decoder = playback.by_name(name).unwrap();
        decoder.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        counter
    };
    let (video, audio) = (count("vp8dec"), count("opusdec"));
    playback.set_state(gst::State::Playing).unwrap();
    let message = playback
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("playback ends");
    playback.set_state(gst::State::Null).unwrap();
    assert!(matches!(message.view(), gst::MessageView::Eos(_)), "playback error: {message:?}");
    assert_eq!(video.load(std::sync::atomic::Ordering::Relaxed), recorded_video, "every recorded video frame decodes");
    assert!(audio.load(std::sync::atomic::Ordering::Relaxed) >= 100, "the audio track decodes");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a real-time call: run in release (scripts/test)")]
fn webrtc_call_with_sframe_follows_a_new_kid_and_a_ratchet() {
    for video in ["vp8", "h264"] {
        let args = ["--sframe", "--video", video, "--seconds", "6", "--rotate-at", "2", "--ratchet-at", "4"];
        let figures = run_example("webrtc-call", &args);
        for line in ["video", "audio"] {
            let sent = get(&figures, line, "sent");
            assert!(sent >= 100, "{video} {line}: frames sent");
            // At most the frames still on their way when the call ends are not counted.
            assert!(get(&figures, line, "decoded") + 2 >= sent, "{video} {line}: every frame decoded");
            assert_eq!(get(&figures, line, "dropped"), 0, "{video} {line}: no decryption failure");
            assert_eq!(get(&figures, line, "ratchets"), 1, "{video} {line}: the receiver followed the ratchet");
        }
    }
}
