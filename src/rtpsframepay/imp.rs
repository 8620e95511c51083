use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use super::{MEDIA, SFRAME_FIELD, all_ciphertext_caps};
use crate::sframe::rtp::{Fragment, Packetizer};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("rtpsframepay", gst::DebugColorFlags::empty(), Some("SFrame RTP payloader"))
});

#[derive(Default)]
pub struct RtpSFramePay {}

#[glib::object_subclass]
impl ObjectSubclass for RtpSFramePay {
    const NAME: &'static str = "GstRtpSFramePay";
    type Type = super::RtpSFramePay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for RtpSFramePay {}

impl GstObjectImpl for RtpSFramePay {}

impl ElementImpl for RtpSFramePay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SFrame RTP payloader",
                "Codec/Payloader/Network/RTP",
                "Puts SFrame ciphertexts (RFC 9605, from jframeenc format=sframe) of VP8, VP9, H.264, H.265, AV1 \
                 or Opus in RTP packets: the generic per-frame packetization of draft-ietf-avtcore-rtp-sframe \
                 (a descriptor byte with start and end flags, the frame split at the MTU); encoding-name names the \
                 media inside",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink_caps = all_ciphertext_caps();
            let mut src_caps = gst::Caps::new_empty();
            for (_, encoding_name, media, clock_rate) in MEDIA {
                src_caps.merge(
                    gst::Caps::builder("application/x-rtp")
                        .field("media", media)
                        .field("payload", gst::IntRange::new(96i32, 127))
                        .field("clock-rate", clock_rate)
                        .field("encoding-name", encoding_name)
                        .field(SFRAME_FIELD, "")
                        .build(),
                );
            }
            let template = |name, direction, caps: &gst::Caps| {
                gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps).expect("valid pad template")
            };
            vec![
                template("sink", gst::PadDirection::Sink, &sink_caps),
                template("src", gst::PadDirection::Src, &src_caps),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl RTPBasePayloadImpl for RtpSFramePay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let media_type = caps.structure(0).and_then(|s| s.get::<&str>("media-type").ok());
        let Some((_, encoding_name, media, clock_rate)) = MEDIA.iter().find(|(name, ..)| Some(*name) == media_type)
        else {
            return Err(gst::loggable_error!(CAT, "no media-type this payloader knows in {caps}"));
        };
        let obj = self.obj();
        obj.set_options(media, true, encoding_name, *clock_rate as u32);
        let mut fields = gst::Structure::builder("application/x-rtp").field(SFRAME_FIELD, "");
        // As rtpopuspay: WebRTC peers expect OPUS/48000/2.
        if *encoding_name == "OPUS" {
            fields = fields.field("encoding-params", "2");
        }
        obj.set_outcaps(Some(&fields.build())).map_err(|err| gst::loggable_error!(CAT, "cannot set output caps: {err}"))
    }

    fn handle_buffer(&self, frame: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let csrc_count = u8::try_from(obj.source_count(&frame)).unwrap_or(u8::MAX);
        let max_payload_len = (obj.mtu() as usize).saturating_sub(gst_rtp::calc_header_len(csrc_count) as usize);
        let packetizer = Packetizer::new(max_payload_len).map_err(|err| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ["MTU {}: {}", obj.mtu(), err]);
            gst::FlowError::Error
        })?;
        let map = frame.map_readable().map_err(|_| gst::FlowError::Error)?;
        let fragments = packetizer.fragments(&map);
        if fragments.len() == 0 {
            gst::debug!(CAT, imp = self, "dropping empty frame");
            return Ok(gst::FlowSuccess::Ok);
        }
        let video = obj
            .src_pad()
            .current_caps()
            .and_then(|caps| caps.structure(0).and_then(|s| s.get::<&str>("media").ok().map(|media| media == "video")));
        let mut packets = gst::BufferList::new_sized(fragments.len());
        let packets_ref = packets.make_mut();
        let mut offset = 0;
        for fragment in fragments {
            packets_ref.add(self.packet(&frame, offset, fragment, video.unwrap_or(true))?);
            offset += fragment.data.len();
        }
        drop(map);
        gst::trace!(CAT, imp = self, "frame of {} bytes in {} packets", frame.size(), packets_ref.len());
        obj.push_list(packets)
    }
}

impl RtpSFramePay {
    /// One RTP packet: the descriptor, then the fragment's bytes of the frame (shared, not
    /// copied). Video frames end with the marker bit, as video payload formats do; audio
    /// packets leave it clear.
    fn packet(
        &self,
        frame: &gst::Buffer,
        offset: usize,
        fragment: Fragment<'_>,
        video: bool,
    ) -> Result<gst::Buffer, gst::FlowError> {
        let mut packet = self.obj().allocate_output_buffer(1, 0, 0);
        let packet_ref = packet.make_mut();
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(packet_ref).map_err(|_| gst::FlowError::Error)?;
            rtp.payload_mut().map_err(|_| gst::FlowError::Error)?.copy_from_slice(&[fragment.descriptor]);
            rtp.set_marker(video && fragment.is_last());
        }
        if video && fragment.is_last() {
            packet_ref.set_flags(gst::BufferFlags::MARKER);
        }
        packet_ref.set_pts(frame.pts());
        packet_ref.set_duration(frame.duration());
        frame
            .copy_into(packet_ref, gst::BufferCopyFlags::MEMORY, offset..offset + fragment.data.len())
            .map_err(|_| gst::FlowError::Error)?;
        Ok(packet)
    }
}
