use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::filter::{self, FrameFilter, Pads, Verdict};
use crate::jframe::iv::{IvSequence, random_u32};
use crate::jframe::{Context, EncryptError, EncryptOutcome, FrameError, IV_LEN, TRAILER_LEN};
use crate::keying::{self, Drop, Keyed, Keying, Media, StreamState};
use crate::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframeenc", gst::DebugColorFlags::empty(), Some("JFrame encryption"))
});

pub struct JFrameEnc {
    pads: Pads,
    keying: Keying,
    /// IVs are `ssrc || counter` and the counter survives key changes and restarts,
    /// so no IV repeats under one key while the element lives.
    ivs: Mutex<IvSequence>,
}

impl Keyed for JFrameEnc {
    fn keying(&self) -> &Keying {
        &self.keying
    }
}

#[glib::object_subclass]
impl ObjectSubclass for JFrameEnc {
    const NAME: &'static str = "GstJFrameEnc";
    type Type = super::JFrameEnc;
    type ParentType = gst::Element;

    fn new() -> Self {
        JFrameEnc {
            pads: Pads::new::<Self>(),
            keying: Keying::new(*CAT),
            ivs: Mutex::new(IvSequence::new(random_u32())),
        }
    }
}

impl JFrameEnc {
    fn ivs(&self) -> std::sync::MutexGuard<'_, IvSequence> {
        lock(&self.ivs)
    }
}

impl ObjectImpl for JFrameEnc {
    fn constructed(&self) {
        self.parent_constructed();
        self.pads.add_to(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = Keying::properties();
            properties.push(
                glib::ParamSpecUInt::builder("ssrc")
                    .nick("SSRC")
                    .blurb("First four bytes of every IV (random per element by default); the other eight are a \
                            frame counter that starts at random")
                    .mutable_playing()
                    .build(),
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            let mut signals = keying::signals::<JFrameEnc>();
            signals.push(
                glib::subclass::Signal::builder("ratchet")
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::JFrameEnc>().ok()?;
                        Some(element.imp().keying.ratchet().to_value())
                    })
                    .build(),
            );
            signals
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "ssrc" {
            *self.ivs() = IvSequence::new(value.get().unwrap_or_else(|_| random_u32()));
            return;
        }
        self.keying.set_property(self.obj().upcast_ref(), pspec, value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "ssrc" {
            return self.ivs().ssrc().to_value();
        }
        self.keying.property(pspec).unwrap_or_else(|| pspec.default_value().clone())
    }
}

impl GstObjectImpl for JFrameEnc {}

impl ElementImpl for JFrameEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "JFrame encrypter",
                "Filter/Encoder/Video/Audio",
                "Encrypts VP8 and Opus frames with AES-GCM in the JFrame format of lib-jitsi-meet, or VP8, VP9, \
                 H.264, H.265 and Opus frames in LiveKit's format (format=livekit) (place between the encoder and \
                 the RTP payloader; for VP8 use jframevp8pay). Action signals: \
                 set-key(index, key) -> bool, ratchet() -> bool, clear-keys(); element message jframe-state on \
                 every change of the stream's state",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(keying::pad_templates);
        TEMPLATES.as_ref()
    }

    fn set_context(&self, context: &gst::Context) {
        self.keying.set_context(context);
        self.parent_set_context(context);
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        filter::change_state(self, transition)
    }
}

impl FrameFilter for JFrameEnc {
    const ROOM: usize = TRAILER_LEN;

    fn pads(&self) -> &Pads {
        &self.pads
    }

    fn process(&self, buffer: &mut gst::BufferRef) -> Result<Verdict, gst::FlowError> {
        let size = buffer.size() as u64;
        let delta_unit = buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let mut state = self.keying.lock();
        let media = state.media.ok_or(gst::FlowError::NotNegotiated)?;
        let outcome = if state.enabled {
            let Some(iv) = self.ivs().next() else {
                drop(state);
                gst::element_imp_error!(self, gst::StreamError::Failed, ["IV counter exhausted"]);
                return Err(gst::FlowError::Error);
            };
            let mut local = lock(state.local_keys());
            let (ctx, _) = local.ctx();
            if media.is_annex_b() {
                // Escaping changes the size: the frame is rebuilt, trailer included.
                let mut data = buffer.map_readable().map_err(|_| gst::FlowError::Error)?.to_vec();
                let outcome = ctx.encrypt_frame(media.frame(&data, delta_unit), &mut data, iv);
                if let Ok(EncryptOutcome::Encrypted(_)) = outcome {
                    buffer.replace_all_memory(gst::Memory::from_mut_slice(data));
                }
                outcome
            } else {
                encrypt_in_place(ctx, media, buffer, delta_unit, iv)?
            }
        } else {
            Ok(EncryptOutcome::PassThrough)
        };
        let (verdict, stream_state) = match outcome {
            Ok(EncryptOutcome::Encrypted(_)) => {
                state.stats.frames += 1;
                state.stats.bytes += size;
                (Verdict::Push, StreamState::Ok)
            }
            Ok(EncryptOutcome::PassThrough) => {
                state.stats.passed_through += 1;
                (Verdict::Push, StreamState::Disabled)
            }
            Err(e) => {
                let reason = match e {
                    FrameError::Encrypt(EncryptError::NoKey) => Drop::NoKey,
                    _ => Drop::Malformed,
                };
                state.stats.count_drop(reason);
                gst::log!(CAT, imp = self, "dropping frame: {e}");
                (Verdict::Drop, StreamState::of_drop(reason))
            }
        };
        let changed = state.update_stream_state(stream_state);
        let key_index = changed.and_then(|_| lock(state.local_keys()).ctx().0.keys().current_index());
        drop(state);
        // Messages go out unlocked: their handlers may call back into the element.
        if let Some(now) = changed {
            if now == StreamState::MissingKey {
                gst::warning!(CAT, imp = self, "no key: dropping frames until one is set (never sending them in clear)");
            }
            self.keying.post_stream_state(self.obj().upcast_ref(), now, key_index, None);
        }
        Ok(verdict)
    }
}

/// Encrypts a frame where it is. The trailer goes into the room after the frame when its
/// memory has some (upstream allocators are asked for it), else into a memory of its own.
fn encrypt_in_place(
    ctx: &Context,
    media: Media,
    buffer: &mut gst::BufferRef,
    delta_unit: bool,
    iv: [u8; IV_LEN],
) -> Result<Result<EncryptOutcome, FrameError>, gst::FlowError> {
    let size = buffer.size();
    if let Some(memory) = filter::sole_memory(buffer)
        && memory.offset() + size + TRAILER_LEN <= memory.maxsize()
    {
        let start = memory.offset();
        memory.resize_maxsize(start..start + size + TRAILER_LEN);
        let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
        let (frame, room) = map.split_at_mut(size);
        let outcome = ctx.encrypt_frame_in_place(media.frame(frame, delta_unit), frame, iv);
        match &outcome {
            Ok(EncryptOutcome::Encrypted(trailer)) => room.copy_from_slice(trailer.as_bytes()),
            _ => {
                drop(map);
                memory.resize(..size);
            }
        }
        return Ok(outcome);
    }
    let mut map = filter::map_frame(buffer)?;
    let outcome = ctx.encrypt_frame_in_place(media.frame(&map, delta_unit), &mut map, iv);
    drop(map);
    if let Ok(EncryptOutcome::Encrypted(trailer)) = &outcome {
        buffer.append_memory(gst::Memory::from_slice(trailer.0));
    }
    Ok(outcome)
}
