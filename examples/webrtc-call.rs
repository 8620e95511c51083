//! An end-to-end encrypted call between two `webrtcbin` peers in one process.
//!
//! The caller sends VP8 and Opus, encrypted before the payloaders; the callee decrypts
//! after the depayloaders and decodes. SDP and ICE candidates are exchanged in process
//! and ICE stays on 127.0.0.1. Times count from when the callee's decrypters exist.
//! Options play out what happens during a call:
//!
//! ```text
//! cargo run --release --example webrtc-call -- [--seconds 5] [--both-ways]
//!     [--rotate-at SECS]      the caller moves to a new key at index 1 (the callee has it already)
//!     [--ratchet-at SECS]     the caller ratchets its key, as when someone joins
//!     [--late-receiver SECS]  the callee ignores the first SECS of media, then waits for a key frame
//!     [--receiver-key HEX]    the callee has another key: it must decode nothing, without errors
//!     [--sframe]              SFrame (RFC 9605) with rtpsframepay/rtpsframedepay instead of JFrame
//!     [--video vp8|h264]      the video codec (H.264 needs --sframe)
//! ```

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Args, Counter, DEFAULT_KEY, Result, by_name, dropped, report, stat};
use gst::prelude::*;

/// The key the caller moves to with `--rotate-at`.
const NEXT_KEY: &str = "fae90ddb573c346db93e00e1dcb9732f3f5c462ba37d2ccafe9162a356c4b80d";

/// How media is encrypted and carried: JFrame with the codecs' payloaders, or SFrame
/// (whose keys ratchet to the next KID, 8 bits of step) with the generic ones.
#[derive(Clone, Copy)]
struct Media {
    sframe: bool,
    h264: bool,
}

impl Media {
    fn encryption(self, key: &str) -> String {
        match self.sframe {
            true => format!("format=sframe sframe-ratchet-bits=8 key={key}"),
            false => format!("key={key}"),
        }
    }

    fn video_encoder(self) -> &'static str {
        match self.h264 {
            true => "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=2000",
            false => "vp8enc deadline=1 keyframe-max-dist=2000",
        }
    }

    fn payloader(self, codec: &str) -> &'static str {
        match (self.sframe, codec) {
            (true, _) => "rtpsframepay",
            (false, "video") => "jframevp8pay",
            (false, _) => "rtpopuspay",
        }
    }

    fn encoding_name(self) -> &'static str {
        if self.h264 { "H264" } else { "VP8" }
    }

    fn video_receiver(self, key: &str) -> String {
        let (depay, decoder) = match (self.sframe, self.h264) {
            (true, true) => ("rtpsframedepay", "avdec_h264"),
            (true, false) => ("rtpsframedepay", "vp8dec"),
            (false, _) => ("rtpvp8depay request-keyframe=true wait-for-keyframe=true", "vp8dec"),
        };
        format!(
            "{depay} ! jframedec name=vdec {} ! {decoder} name=vdecoder ! fakesink sync=false",
            self.encryption(key)
        )
    }

    fn audio_receiver(self, key: &str) -> String {
        let depay = if self.sframe { "rtpsframedepay" } else { "rtpopusdepay" };
        format!("{depay} ! jframedec name=adec {} ! opusdec name=adecoder ! fakesink sync=false", self.encryption(key))
    }
}

/// One peer: a pipeline with a webrtcbin, optionally sending test media, and decoding
/// what it receives.
struct Peer {
    pipeline: gst::Pipeline,
    webrtc: gst::Element,
    video_decoded: Counter,
    audio_decoded: Counter,
}

impl Peer {
    fn new(media: Media, sends: bool, key: &str, receiver_key: &str) -> Result<Peer> {
        let send = if sends {
            format!(
                "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! \
                   {video_encoder} ! jframeenc name=venc {encryption} ! {video_pay} pt=96 ! \
                   application/x-rtp,media=video,encoding-name={encoding_name},payload=96,clock-rate=90000 ! wb. \
                 audiotestsrc is-live=true wave=ticks ! opusenc ! jframeenc name=aenc {encryption} ! {audio_pay} pt=111 ! \
                   application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! wb.",
                video_encoder = media.video_encoder(),
                encryption = media.encryption(key),
                video_pay = media.payloader("video"),
                encoding_name = media.encoding_name(),
                audio_pay = media.payloader("audio"),
            )
        } else {
            String::new()
        };
        let pipeline = gst::Pipeline::new();
        pipeline.add(&gst::parse::bin_from_description(
            &format!("webrtcbin name=wb bundle-policy=max-bundle {send}"),
            false,
        )?)?;
        let webrtc = by_name(pipeline.upcast_ref(), "wb")?;
        common::loopback_ice::use_loopback_only(&webrtc)?;
        let peer = Peer { pipeline, webrtc, video_decoded: Counter::default(), audio_decoded: Counter::default() };
        peer.decode_incoming(media, receiver_key.to_owned());
        Ok(peer)
    }

    /// Links each incoming stream to depayloader ! jframedec ! decoder.
    fn decode_incoming(&self, media: Media, key: String) {
        let (video, audio) = (self.video_decoded.clone(), self.audio_decoded.clone());
        self.webrtc.connect_pad_added(move |webrtc, pad| {
            let Some(bin) = webrtc.parent().and_downcast::<gst::Bin>() else { return };
            if let Err(e) = link_decoder(&bin, pad, media, &key, &video, &audio) {
                eprintln!("cannot decode {}: {e}", pad.name());
            }
        });
    }

    fn element(&self, name: &str) -> Option<gst::Element> {
        self.pipeline.by_name(name)
    }

    /// Holds this peer's frames back, before encryption, until both peers are connected
    /// (ICE and DTLS): a frame sent before then cannot arrive, and a lost key frame
    /// would stall the video until the receiver asks for another. Video then starts
    /// with a key frame, asked of the encoder. The counts of both sides start together.
    fn send_once_connected(&self, peers: [&gst::Element; 2]) {
        for (encrypter, video) in [("venc", true), ("aenc", false)] {
            let Some(pad) = self.element(encrypter).and_then(|e| e.static_pad("sink")) else { continue };
            let peers = peers.map(|peer| peer.downgrade());
            let asked_for_key_frame = AtomicBool::new(false);
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let connected = peers.iter().all(|peer| {
                    peer.upgrade().is_some_and(|webrtc| {
                        webrtc.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state")
                            == gst_webrtc::WebRTCPeerConnectionState::Connected
                    })
                });
                let delta = info.buffer().is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                match (connected, video && delta) {
                    (false, _) => gst::PadProbeReturn::Drop,
                    (true, false) => gst::PadProbeReturn::Remove,
                    (true, true) => {
                        if !asked_for_key_frame.swap(true, Ordering::Relaxed) {
                            let request = gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build();
                            pad.push_event(gst::event::CustomUpstream::new(request));
                        }
                        gst::PadProbeReturn::Drop
                    }
                }
            });
        }
    }
}

fn link_decoder(
    parent: &gst::Bin,
    pad: &gst::Pad,
    kind: Media,
    key: &str,
    video: &Counter,
    audio: &Counter,
) -> Result<()> {
    if pad.direction() != gst::PadDirection::Src {
        return Ok(());
    }
    let caps = pad.current_caps().ok_or("incoming pad without caps")?;
    let media = caps.structure(0).and_then(|s| s.get::<String>("media").ok()).unwrap_or_default();
    let (description, counter) = match media.as_str() {
        "video" => (kind.video_receiver(key), video),
        "audio" => (kind.audio_receiver(key), audio),
        other => return Err(format!("unexpected media {other}").into()),
    };
    let bin = gst::parse::bin_from_description(&description, true)?;
    parent.add(&bin)?;
    bin.sync_state_with_parent()?;
    let decoder = if media == "video" { "vdecoder" } else { "adecoder" };
    let decoded = common::pad(bin.upcast_ref(), decoder, "src")?;
    let counting = counter.clone();
    decoded.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        counting.count();
        gst::PadProbeReturn::Ok
    });
    pad.link(&bin.static_pad("sink").ok_or("bin without sink pad")?)?;
    Ok(())
}

/// Offer from `caller`, answer from `callee`, candidates both ways, loopback only.
fn connect(caller: &Peer, callee: &Peer) {
    for (from, to) in [(&caller.webrtc, &callee.webrtc), (&callee.webrtc, &caller.webrtc)] {
        let to = to.downgrade();
        from.connect("on-ice-candidate", false, move |args| {
            let mline = args[1].get::<u32>().ok()?;
            let candidate = args[2].get::<String>().ok()?;
            if common::loopback_ice::is_loopback_candidate(&candidate) {
                to.upgrade()?.emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
            }
            None
        });
    }
    let (offerer, answerer) = (caller.webrtc.downgrade(), callee.webrtc.downgrade());
    caller.webrtc.connect("on-negotiation-needed", false, move |_| {
        let offering = offerer.upgrade()?;
        let (offerer, answerer) = (offerer.clone(), answerer.clone());
        let promise = gst::Promise::with_change_func(move |reply| {
            let (Some(offerer), Some(answerer)) = (offerer.upgrade(), answerer.upgrade()) else { return };
            if let Some(offer) = description_from(reply, "offer") {
                offerer.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
                answer(&offerer, &answerer, offer);
            }
        });
        offering.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        None
    });
}

fn answer(offerer: &gst::Element, answerer: &gst::Element, offer: gst_webrtc::WebRTCSessionDescription) {
    answerer.emit_by_name::<()>("set-remote-description", &[&offer, &None::<gst::Promise>]);
    let (offerer, answering) = (offerer.downgrade(), answerer.downgrade());
    let promise = gst::Promise::with_change_func(move |reply| {
        let (Some(offerer), Some(answerer)) = (offerer.upgrade(), answering.upgrade()) else { return };
        if let Some(answer) = description_from(reply, "answer") {
            answerer.emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
            offerer.emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
        }
    });
    answerer.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
}

fn description_from(
    reply: std::result::Result<Option<&gst::StructureRef>, gst::PromiseError>,
    field: &str,
) -> Option<gst_webrtc::WebRTCSessionDescription> {
    match reply {
        Ok(Some(reply)) => reply.get::<gst_webrtc::WebRTCSessionDescription>(field).ok(),
        other => {
            eprintln!("no {field}: {other:?}");
            None
        }
    }
}

/// Drops what reaches the callee's decoders during the first `late` of media (a
/// receiver that starts late, mid-stream).
fn start_late(callee: &Peer, late: Duration) {
    callee.webrtc.connect_pad_added(move |_, pad| {
        let first_media = std::sync::OnceLock::new();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if first_media.get_or_init(Instant::now).elapsed() < late {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    });
}

fn report_direction(name: &str, sender: &Peer, receiver: &Peer) {
    for (kind, enc, dec, decoded) in
        [("video", "venc", "vdec", &receiver.video_decoded), ("audio", "aenc", "adec", &receiver.audio_decoded)]
    {
        let sent = sender.element(enc).map_or(0, |e| stat(&e, "frames-processed"));
        let dec = receiver.element(dec);
        report(
            &format!("{name}{kind}"),
            &[
                ("sent", sent),
                ("decrypted", dec.as_ref().map_or(0, |d| stat(d, "frames-processed"))),
                ("decoded", decoded.get()),
                ("dropped", dec.as_ref().map_or(0, dropped)),
                ("ratchets", dec.as_ref().map_or(0, |d| stat(d, "ratchets"))),
            ],
        );
    }
}

/// Waits, at most 30 s, until the callee has a decrypter for each stream.
fn wait_for_decrypters(callee: &Peer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ["vdec", "adec"].iter().any(|name| callee.element(name).is_none()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() -> Result<()> {
    common::init()?;
    let args = Args::from_env();
    let seconds = args.seconds("--seconds")?.unwrap_or(Duration::from_secs(5));
    let both_ways = args.flag("--both-ways");
    let key = args.value("--key").unwrap_or(DEFAULT_KEY);
    let receiver_key = args.value("--receiver-key").unwrap_or(key);
    let media = Media { sframe: args.flag("--sframe"), h264: args.value("--video") == Some("h264") };
    if media.h264 && !media.sframe {
        return Err("--video h264 needs --sframe".into());
    }

    let caller = Peer::new(media, true, key, key)?;
    let callee = Peer::new(media, both_ways, key, receiver_key)?;
    connect(&caller, &callee);
    for peer in [&caller, &callee] {
        peer.send_once_connected([&caller.webrtc, &callee.webrtc]);
    }
    if let Some(late) = args.seconds("--late-receiver")? {
        start_late(&callee, late);
    }
    callee.pipeline.set_state(gst::State::Playing)?;
    caller.pipeline.set_state(gst::State::Playing)?;
    // The call's clock, and the key events' times, start once the callee's decrypters
    // exist: on a busy machine connecting can take seconds, and a new key given before
    // then would reach no decrypter.
    wait_for_decrypters(&callee);
    let start = Instant::now();

    let mut events: Vec<(Duration, &str)> = Vec::new();
    if let Some(at) = args.seconds("--rotate-at")? {
        events.push((at, "rotate"));
    }
    if let Some(at) = args.seconds("--ratchet-at")? {
        events.push((at, "ratchet"));
    }
    events.sort();
    let next_key = gst::Buffer::from_slice(hex_bytes(NEXT_KEY)?);
    for (at, event) in events {
        std::thread::sleep(at.saturating_sub(start.elapsed()));
        for name in ["venc", "aenc"] {
            let Some(encoder) = caller.element(name) else { continue };
            let done = match event {
                "rotate" => {
                    // The receivers get the new key first, as key distribution does.
                    for decoder in ["vdec", "adec"].iter().filter_map(|d| callee.element(d)) {
                        decoder.emit_by_name::<bool>("set-key", &[&1u32, &next_key]);
                    }
                    encoder.emit_by_name::<bool>("set-key", &[&1u32, &next_key])
                }
                _ => encoder.emit_by_name::<bool>("ratchet", &[]),
            };
            println!(
                "{:.1}s: {event} on {name}: {}",
                start.elapsed().as_secs_f64(),
                if done { "done" } else { "failed" }
            );
        }
    }
    std::thread::sleep(seconds.saturating_sub(start.elapsed()));
    common::check_no_error(&caller.pipeline)?;
    common::check_no_error(&callee.pipeline)?;
    caller.pipeline.set_state(gst::State::Null)?;
    callee.pipeline.set_state(gst::State::Null)?;

    report_direction("", &caller, &callee);
    if both_ways {
        report_direction("back-", &callee, &caller);
    }
    Ok(())
}

fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| Ok(u8::from_str_radix(text.get(i..i + 2).ok_or("odd hex")?, 16)?)).collect()
}
