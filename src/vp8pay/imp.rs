use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframevp8pay", gst::DebugColorFlags::empty(), Some("JFrame-safe VP8 RTP payloader"))
});

/// Payload descriptor: the required byte, the extension byte and a 15-bit PictureID.
const DESCRIPTOR_LEN: usize = 4;
const PICTURE_ID_MASK: u16 = 0x7FFF;
/// `picture-id-offset` value that asks for a random first PictureID.
const RANDOM_PICTURE_ID: i32 = -1;

/// RFC 7741 §4.2 payload descriptor: X=1, N, S, PID=0; I=1; M=1 and the PictureID.
fn descriptor(start: bool, non_reference: bool, picture_id: u16) -> [u8; DESCRIPTOR_LEN] {
    let mut required = 0x80;
    if non_reference {
        required |= 0x20;
    }
    if start {
        required |= 0x10;
    }
    let id = picture_id & PICTURE_ID_MASK;
    [required, 0x80, 0x80 | (id >> 8) as u8, id as u8]
}

struct Settings {
    picture_id_offset: i32,
}

pub struct JFrameVp8Pay {
    settings: Mutex<Settings>,
    /// PictureID of the next frame; set when the element starts.
    picture_id: Mutex<u16>,
}

impl Default for JFrameVp8Pay {
    fn default() -> Self {
        JFrameVp8Pay {
            settings: Mutex::new(Settings { picture_id_offset: RANDOM_PICTURE_ID }),
            picture_id: Mutex::new(0),
        }
    }
}

impl JFrameVp8Pay {
    fn reset_picture_id(&self) {
        let offset = self.settings.lock().unwrap().picture_id_offset;
        let first = u16::try_from(offset).unwrap_or_else(|_| glib::random_int() as u16) & PICTURE_ID_MASK;
        gst::debug!(CAT, imp = self, "first PictureID {first}");
        *self.picture_id.lock().unwrap() = first;
    }

    /// Returns the PictureID for the current frame and moves on to the next one.
    fn take_picture_id(&self) -> u16 {
        let mut next = self.picture_id.lock().unwrap();
        let current = *next;
        *next = current.wrapping_add(1) & PICTURE_ID_MASK;
        current
    }

    /// Frame bytes that fit in one packet after the RTP header, its CSRCs and the descriptor.
    fn max_payload_len(&self, buffer: &gst::Buffer) -> Result<usize, gst::FlowError> {
        let obj = self.obj();
        let csrc_count = u8::try_from(obj.source_count(buffer)).unwrap_or(u8::MAX);
        let overhead = gst_rtp::calc_header_len(csrc_count) as usize + DESCRIPTOR_LEN;
        match (obj.mtu() as usize).checked_sub(overhead) {
            Some(len) if len > 0 => Ok(len),
            _ => {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    ["MTU {} leaves no room for payload ({overhead} bytes of headers)", obj.mtu()]
                );
                Err(gst::FlowError::Error)
            }
        }
    }

    /// One RTP packet: descriptor, then `len` bytes of the frame from `offset` (shared,
    /// not copied).
    fn packet(
        &self,
        frame: &gst::Buffer,
        offset: usize,
        len: usize,
        picture_id: u16,
    ) -> Result<gst::Buffer, gst::FlowError> {
        let first = offset == 0;
        let last = offset + len == frame.size();
        let non_reference = frame.flags().contains(gst::BufferFlags::DROPPABLE);

        let mut packet = self.obj().allocate_output_buffer(DESCRIPTOR_LEN as u32, 0, 0);
        let packet_ref = packet.make_mut();
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(packet_ref).map_err(|_| {
                gst::error!(CAT, imp = self, "cannot map the output packet");
                gst::FlowError::Error
            })?;
            let payload = rtp.payload_mut().map_err(|_| gst::FlowError::Error)?;
            payload.copy_from_slice(&descriptor(first, non_reference, picture_id));
            rtp.set_marker(last);
        }
        if last {
            packet_ref.set_flags(gst::BufferFlags::MARKER);
        }
        // As rtpvp8pay: only the first packet of a key frame is not a delta unit.
        if !first || frame.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            packet_ref.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        packet_ref.set_pts(frame.pts());
        packet_ref.set_duration(frame.duration());
        frame.copy_into(packet_ref, gst::BufferCopyFlags::MEMORY, offset..offset + len).map_err(|err| {
            gst::error!(CAT, imp = self, "cannot append frame bytes: {err}");
            gst::FlowError::Error
        })?;
        Ok(packet)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for JFrameVp8Pay {
    const NAME: &'static str = "GstJFrameVp8Pay";
    type Type = super::JFrameVp8Pay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for JFrameVp8Pay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecInt::builder("picture-id-offset")
                    .nick("Picture ID offset")
                    .blurb("First 15-bit PictureID when the element starts (-1 = random)")
                    .minimum(RANDOM_PICTURE_ID)
                    .maximum(i32::from(PICTURE_ID_MASK))
                    .default_value(RANDOM_PICTURE_ID)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "picture-id-offset" => {
                // GObject has already checked the type and range against the ParamSpec.
                let offset = value.get::<i32>().unwrap_or(RANDOM_PICTURE_ID);
                self.settings.lock().unwrap().picture_id_offset = offset;
            }
            name => gst::warning!(CAT, imp = self, "no property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "picture-id-offset" => self.settings.lock().unwrap().picture_id_offset.to_value(),
            name => {
                gst::warning!(CAT, imp = self, "no property {name}");
                pspec.default_value().clone()
            }
        }
    }
}

impl GstObjectImpl for JFrameVp8Pay {}

impl ElementImpl for JFrameVp8Pay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "JFrame VP8 RTP payloader",
                "Codec/Payloader/Network/RTP",
                "Puts VP8 video in RTP packets (RFC 7741) without parsing the frames, \
                 so JFrame-encrypted VP8 can be sent",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink_caps = gst::Caps::builder("video/x-vp8").build();
            let src_caps = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("payload", gst::IntRange::new(96i32, 127))
                .field("clock-rate", 90_000i32)
                .field("encoding-name", "VP8")
                .build();
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &sink_caps)
                    .expect("valid sink pad template"),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &src_caps)
                    .expect("valid src pad template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.reset_picture_id();
        }
        self.parent_change_state(transition)
    }
}

impl RTPBasePayloadImpl for JFrameVp8Pay {
    fn set_caps(&self, _caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let obj = self.obj();
        obj.set_options("video", true, "VP8", 90_000);
        obj.set_outcaps(None).map_err(|err| gst::loggable_error!(CAT, "cannot set output caps: {err}"))
    }

    fn handle_buffer(&self, frame: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let size = frame.size();
        if size == 0 {
            gst::debug!(CAT, imp = self, "dropping empty frame");
            return Ok(gst::FlowSuccess::Ok);
        }
        let max_payload_len = self.max_payload_len(&frame)?;
        let picture_id = self.take_picture_id();

        let mut packets = gst::BufferList::new_sized(size.div_ceil(max_payload_len));
        let packets_ref = packets.make_mut();
        let mut offset = 0;
        while offset < size {
            let len = max_payload_len.min(size - offset);
            packets_ref.add(self.packet(&frame, offset, len, picture_id)?);
            offset += len;
        }
        gst::trace!(CAT, imp = self, "frame of {size} bytes in {} packets, PictureID {picture_id}", packets_ref.len());
        self.obj().push_list(packets)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // As rtpvp8pay: a gap or a flush skips a PictureID so that receivers see the loss.
        if matches!(event.type_(), gst::EventType::Gap | gst::EventType::FlushStart) {
            self.take_picture_id();
        }
        self.parent_sink_event(event)
    }
}
