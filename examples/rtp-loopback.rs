//! Encrypted VP8 and Opus over RTP/UDP on 127.0.0.1: encrypted before the payloaders,
//! decrypted after the depayloaders, decoded; prints what each stage saw.
//!
//! ```text
//! cargo run --release --example rtp-loopback -- [--seconds 4] [--key HEX] [--receiver-key HEX] [--mtu 1200]
//! ```

mod common;

use std::time::Duration;

use common::{
    Args, Counter, DEFAULT_KEY, Result, by_name, count_key_frames, dropped, pad, report, stat, wait_for_frames,
};
use gst::prelude::*;

fn main() -> Result<()> {
    common::init()?;
    let args = Args::from_env();
    let seconds = args.number("--seconds", 4)?;
    let key = args.value("--key").unwrap_or(DEFAULT_KEY);
    let receiver_key = args.value("--receiver-key").unwrap_or(key);
    let mtu = args.number("--mtu", 1200)?;

    let (receiver, video_port, audio_port) = common::rtp_receiver(&format!(
        "{sources} \
         vdepay. ! jframedec name=vdec key={receiver_key} ! vp8dec name=vp8dec ! fakesink sync=false \
         adepay. ! jframedec name=adec key={receiver_key} ! opusdec name=opusdec ! fakesink sync=false",
        sources = common::rtp_sources()
    ))?;
    let sender = common::rtp_sender(seconds, key, mtu, video_port, audio_port)?;
    let key_frames = count_key_frames(&pad(sender.upcast_ref(), "venc", "sink")?);
    let video_decoded = Counter::on(&pad(receiver.upcast_ref(), "vp8dec", "src")?);
    let audio_decoded = Counter::on(&pad(receiver.upcast_ref(), "opusdec", "src")?);

    receiver.set_state(gst::State::Playing)?;
    sender.set_state(gst::State::Playing)?;
    common::wait_for_eos(&sender, Duration::from_secs(seconds + 60))?;
    let (venc, vdec) = (by_name(sender.upcast_ref(), "venc")?, by_name(receiver.upcast_ref(), "vdec")?);
    let (aenc, adec) = (by_name(sender.upcast_ref(), "aenc")?, by_name(receiver.upcast_ref(), "adec")?);
    // The last packets arrive, then stop.
    wait_for_frames(&venc, &vdec, &video_decoded, Duration::from_secs(30));
    wait_for_frames(&aenc, &adec, &audio_decoded, Duration::from_secs(30));
    common::check_no_error(&receiver)?;
    sender.set_state(gst::State::Null)?;
    receiver.set_state(gst::State::Null)?;

    report(
        "video",
        &[
            ("sent", stat(&venc, "frames-processed")),
            ("key-frames", key_frames.get()),
            ("decrypted", stat(&vdec, "frames-processed")),
            ("decoded", video_decoded.get()),
            ("dropped", dropped(&vdec)),
        ],
    );
    report(
        "audio",
        &[
            ("sent", stat(&aenc, "frames-processed")),
            ("decrypted", stat(&adec, "frames-processed")),
            ("decoded", audio_decoded.get()),
            ("dropped", dropped(&adec)),
        ],
    );
    Ok(())
}
