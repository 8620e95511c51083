//! Client-side recording: receives encrypted VP8 and Opus over RTP, decrypts them and
//! writes them to a WebM file as they are, without decoding or re-encoding. The test
//! media comes from a sender in the same process, over 127.0.0.1.
//!
//! ```text
//! cargo run --release --example record-webm -- --output call.webm [--seconds 4] [--key HEX]
//! gst-play-1.0 call.webm
//! ```

mod common;

use std::time::Duration;

use common::{Args, Counter, DEFAULT_KEY, Result, by_name, dropped, pad, report, stat, wait_for_frames};
use gst::prelude::*;

fn main() -> Result<()> {
    common::init()?;
    let args = Args::from_env();
    let seconds = args.number("--seconds", 4)?;
    let key = args.value("--key").unwrap_or(DEFAULT_KEY);
    let output = args.value("--output").unwrap_or("recording.webm");

    let (recorder, video_port, audio_port) = common::rtp_receiver(&format!(
        "{sources} \
         vdepay. ! jframedec name=vdec key={key} ! queue ! mux.video_%u \
         adepay. ! jframedec name=adec key={key} ! opusparse ! queue ! mux.audio_%u \
         webmmux name=mux ! filesink location=\"{output}\"",
        sources = common::rtp_sources()
    ))?;
    let sender = common::rtp_sender(seconds, key, 1200, video_port, audio_port)?;
    let video = Counter::on(&pad(recorder.upcast_ref(), "vdec", "src")?);
    let audio = Counter::on(&pad(recorder.upcast_ref(), "adec", "src")?);

    recorder.set_state(gst::State::Playing)?;
    sender.set_state(gst::State::Playing)?;
    common::wait_for_eos(&sender, Duration::from_secs(seconds + 60))?;
    let (vdec, adec) = (by_name(recorder.upcast_ref(), "vdec")?, by_name(recorder.upcast_ref(), "adec")?);
    let (venc, aenc) = (by_name(sender.upcast_ref(), "venc")?, by_name(sender.upcast_ref(), "aenc")?);
    wait_for_frames(&venc, &vdec, &video, Duration::from_secs(30));
    wait_for_frames(&aenc, &adec, &audio, Duration::from_secs(30));
    // The network sources never end by themselves: end the recording, so the muxer
    // finishes the file.
    recorder.send_event(gst::event::Eos::new());
    common::wait_for_eos(&recorder, Duration::from_secs(30))?;
    sender.set_state(gst::State::Null)?;
    recorder.set_state(gst::State::Null)?;

    report(
        "recorded",
        &[
            ("video-sent", stat(&venc, "frames-processed")),
            ("video-recorded", video.get()),
            ("audio-sent", stat(&aenc, "frames-processed")),
            ("audio-recorded", audio.get()),
            ("dropped", dropped(&vdec) + dropped(&adec)),
        ],
    );
    println!("written to {output}");
    Ok(())
}
