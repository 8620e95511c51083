//! What the examples share: set-up, counting frames, reading the elements' stats,
//! and a small command line.

#![allow(dead_code)] // each example uses its own part of this

pub mod loopback_ice;
pub mod meeting;

pub use meeting::Counter;

use std::time::Duration;

use gst::prelude::*;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The key both ends use unless told otherwise (32 bytes of material, as
/// lib-jitsi-meet's managed keys are).
pub const DEFAULT_KEY: &str = "28ea0c97b16f8bfd14ffbc37f191b3e68e491a7c73bf5e194338779f27854753";

pub fn init() -> Result<()> {
    gst::init()?;
    gstjframe::plugin_register_static()?;
    Ok(())
}

/// Caps of the RTP streams the examples send: VP8 (PT 96) and Opus (PT 111).
pub const VIDEO_RTP_CAPS: &str = "application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96";
pub const AUDIO_RTP_CAPS: &str = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111";

/// Test video (30 fps) and audio (20 ms frames) for `seconds`, encoded, encrypted by
/// `venc`/`aenc` and sent as RTP to 127.0.0.1.
pub fn rtp_sender(seconds: u64, key: &str, mtu: u64, video_port: i32, audio_port: i32) -> Result<gst::Pipeline> {
    let description = format!(
        "videotestsrc num-buffers={video_frames} ! video/x-raw,width=320,height=240,framerate=30/1 ! \
           vp8enc deadline=1 keyframe-max-dist=30 ! jframeenc name=venc key={key} ! \
           jframevp8pay pt=96 mtu={mtu} ! udpsink host=127.0.0.1 port={video_port} \
         audiotestsrc num-buffers={audio_frames} samplesperbuffer=960 ! audio/x-raw,rate=48000 ! opusenc ! \
           jframeenc name=aenc key={key} ! rtpopuspay pt=111 mtu={mtu} ! udpsink host=127.0.0.1 port={audio_port}",
        video_frames = seconds * 30,
        audio_frames = seconds * 50,
    );
    Ok(gst::parse::launch(&description)?.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline")?)
}

/// A receiving pipeline whose sources are `udpsrc name=vsrc` and `name=asrc` on
/// 127.0.0.1, bound (PAUSED) so that their ports are known; returns the ports.
pub fn rtp_receiver(description: &str) -> Result<(gst::Pipeline, i32, i32)> {
    let pipeline = gst::parse::launch(description)?.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline")?;
    pipeline.set_state(gst::State::Paused)?;
    let port = |name: &str| -> Result<i32> { Ok(by_name(pipeline.upcast_ref(), name)?.property::<i32>("port")) };
    let (video, audio) = (port("vsrc")?, port("asrc")?);
    Ok((pipeline, video, audio))
}

/// The receiving sources of [`rtp_receiver`], each followed by its depayloader.
pub fn rtp_sources() -> String {
    format!(
        "udpsrc name=vsrc address=127.0.0.1 port=0 caps=\"{VIDEO_RTP_CAPS}\" ! rtpvp8depay name=vdepay \
         udpsrc name=asrc address=127.0.0.1 port=0 caps=\"{AUDIO_RTP_CAPS}\" ! rtpopusdepay name=adepay"
    )
}

/// Counts the key frames that pass a pad.
pub fn count_key_frames(pad: &gst::Pad) -> Counter {
    let counter = Counter::default();
    let counting = counter.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if info.buffer().is_some_and(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT)) {
            counting.count();
        }
        gst::PadProbeReturn::Ok
    });
    counter
}

/// `--name value` and `--flag` arguments.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == name)?;
        self.0.get(at + 1).map(String::as_str)
    }

    pub fn number(&self, name: &str, default: u64) -> Result<u64> {
        match self.value(name) {
            Some(text) => Ok(text.parse().map_err(|_| format!("{name} takes a number, not {text}"))?),
            None => Ok(default),
        }
    }

    pub fn seconds(&self, name: &str) -> Result<Option<Duration>> {
        self.value(name)
            .map(|text| text.parse::<f64>().map(Duration::from_secs_f64).map_err(|_| format!("{name}: seconds").into()))
            .transpose()
    }
}

pub fn by_name(bin: &gst::Bin, name: &str) -> Result<gst::Element> {
    Ok(bin.by_name(name).ok_or_else(|| format!("no element named {name}"))?)
}

pub fn pad(bin: &gst::Bin, element: &str, pad: &str) -> Result<gst::Pad> {
    Ok(by_name(bin, element)?.static_pad(pad).ok_or_else(|| format!("{element} has no pad {pad}"))?)
}

/// A counter from the `stats` of a jframeenc or jframedec.
pub fn stat(element: &gst::Element, field: &str) -> u64 {
    element.property::<gst::Structure>("stats").get::<u64>(field).unwrap_or(0)
}

/// Frames an element dropped, for any reason.
pub fn dropped(element: &gst::Element) -> u64 {
    [
        "dropped-no-key",
        "dropped-unknown-key-index",
        "dropped-authentication-failed",
        "dropped-malformed",
        "dropped-replayed",
    ]
    .iter()
    .map(|field| stat(element, field))
    .sum()
}

/// Waits for EOS; fails on an error message or a time-out.
pub fn wait_for_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<()> {
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let deadline = gst::ClockTime::from_nseconds(timeout.as_nanos() as u64);
    match bus.timed_pop_filtered(deadline, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(message) => match message.view() {
            gst::MessageView::Error(err) => Err(format!("{}: {}", err.error(), err.debug().unwrap_or_default()).into()),
            _ => Ok(()),
        },
        None => Err("timed out waiting for the end of the stream".into()),
    }
}

/// Fails on an error message posted so far.
pub fn check_no_error(pipeline: &gst::Pipeline) -> Result<()> {
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(err) = message.view() {
            return Err(format!("{}: {}", err.error(), err.debug().unwrap_or_default()).into());
        }
    }
    Ok(())
}

/// Waits, after the sender's end, until every frame `enc` sent is accounted for at `dec`
/// (decrypted or dropped) and every decrypted one passed `after` (a decoder or a
/// recorder). The timeout only guards against a hang: a frame lost on the way shows in
/// the figures, however long the machine took.
pub fn wait_for_frames(enc: &gst::Element, dec: &gst::Element, after: &Counter, timeout: Duration) {
    meeting::wait_until(timeout, || {
        let decrypted = stat(dec, "frames-processed");
        decrypted + dropped(dec) >= stat(enc, "frames-processed") && after.get() >= decrypted
    });
}

/// One line of figures, in the form the tests read: `<name>: key=value ...`.
pub fn report(name: &str, figures: &[(&str, u64)]) {
    let text: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{name}: {}", text.join(" "));
}
