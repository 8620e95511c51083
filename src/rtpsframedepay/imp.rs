use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use crate::rtpsframepay::{MEDIA, SFRAME_FIELD, all_ciphertext_caps, ciphertext_caps};
use crate::sframe::rtp::{Reassembler, RtpPacket};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("rtpsframedepay", gst::DebugColorFlags::empty(), Some("SFrame RTP depayloader"))
});

#[derive(Default)]
pub struct RtpSFrameDepay {
    reassembler: Mutex<Reassembler>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpSFrameDepay {
    const NAME: &'static str = "GstRtpSFrameDepay";
    type Type = super::RtpSFrameDepay;
    type ParentType = gst_rtp::RTPBaseDepayload;
}

impl ObjectImpl for RtpSFrameDepay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            // The base class has a `stats` property of its own.
            vec![
                glib::ParamSpecBoxed::builder::<gst::Structure>("sframe-stats")
                    .nick("SFrame statistics")
                    .blurb(
                        "Packets taken, frames put together, frames given up (a fragment missing or out of \
                            order), packets dropped by reason (dropped-no-descriptor, dropped-no-start: a \
                            fragment whose start is missing, or both flags clear with no frame in progress, \
                            dropped-out-of-order, dropped-other-timestamp, dropped-oversize), and packets whose \
                            T or reserved bits were set (taken)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "sframe-stats" => {
                let stats = lock(&self.reassembler).stats();
                gst::Structure::builder("application/x-sframe-depay-stats")
                    .field("packets", stats.packets)
                    .field("frames", stats.frames)
                    .field("frames-incomplete", stats.frames_incomplete)
                    .field("dropped-no-descriptor", stats.no_descriptor)
                    .field("dropped-no-start", stats.no_start)
                    .field("dropped-out-of-order", stats.out_of_order)
                    .field("dropped-other-timestamp", stats.other_timestamp)
                    .field("dropped-oversize", stats.oversize)
                    .field("other-bits-set", stats.other_bits_set)
                    .build()
                    .to_value()
            }
            _ => pspec.default_value().clone(),
        }
    }
}

impl GstObjectImpl for RtpSFrameDepay {}

impl ElementImpl for RtpSFrameDepay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SFrame RTP depayloader",
                "Codec/Depayloader/Network/RTP",
                "Puts SFrame ciphertexts back together from RTP packets of the generic per-frame packetization of \
                 draft-ietf-avtcore-rtp-sframe (for jframedec format=sframe); encoding-name names the media \
                 inside. Drops and counts packets that do not fit (sframe-stats)",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut sink_caps = gst::Caps::new_empty();
            for (_, encoding_name, media, clock_rate) in MEDIA {
                sink_caps.merge(
                    gst::Caps::builder("application/x-rtp")
                        .field("media", media)
                        .field("clock-rate", clock_rate)
                        .field("encoding-name", encoding_name)
                        .build(),
                );
            }
            let src_caps = all_ciphertext_caps();
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

/// The caps of the ciphertexts of an RTP stream: those of the media its `encoding-name` names.
fn sframe_caps(rtp_caps: &gst::CapsRef) -> Option<gst::Caps> {
    let structure = rtp_caps.structure(0)?;
    let encoding_name = structure.get::<&str>("encoding-name").ok()?;
    let (caps_name, ..) = MEDIA.iter().find(|(_, name, ..)| name.eq_ignore_ascii_case(encoding_name))?;
    if !structure.has_field(SFRAME_FIELD) {
        gst::debug!(CAT, "caps {rtp_caps} do not say {SFRAME_FIELD}: taken as SFrame all the same");
    }
    Some(ciphertext_caps(caps_name))
}

impl RTPBaseDepayloadImpl for RtpSFrameDepay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let src_caps =
            sframe_caps(caps).ok_or_else(|| gst::loggable_error!(CAT, "no media this depayloader knows in {caps}"))?;
        if self.obj().src_pad().push_event(gst::event::Caps::new(&src_caps)) {
            Ok(())
        } else {
            Err(gst::loggable_error!(CAT, "downstream refused {src_caps}"))
        }
    }

    fn handle_event(&self, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::FlushStop {
            lock(&self.reassembler).reset();
        }
        self.parent_handle_event(event)
    }

    fn process_rtp_packet(&self, rtp: &gst_rtp::RTPBuffer<gst_rtp::rtp_buffer::Readable>) -> Option<gst::Buffer> {
        let packet = RtpPacket { seq: rtp.seq(), timestamp: rtp.timestamp(), payload: rtp.payload().unwrap_or(&[]) };
        let mut reassembler = lock(&self.reassembler);
        match reassembler.push(packet) {
            Ok(Some(frame)) => Some(gst::Buffer::from_slice(frame.to_vec())),
            Ok(None) => None,
            Err(reason) => {
                gst::debug!(CAT, imp = self, "dropping packet {}: {reason:?}", rtp.seq());
                None
            }
        }
    }
}
