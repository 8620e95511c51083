use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::jframe::{DEFAULT_RATCHET_WINDOW, DecryptError, DecryptOutcome};
use crate::keying::{self, Drop, Keyed, Keying, Media, StreamState};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframedec", gst::DebugColorFlags::empty(), Some("JFrame decryption"))
});

/// Upper bound of `ratchet-window`: each step is one more AES-GCM attempt per bad frame.
const RATCHET_WINDOW_MAX: u32 = 64;

pub struct JFrameDec {
    keying: Keying,
}

impl Keyed for JFrameDec {
    fn keying(&self) -> &Keying {
        &self.keying
    }
}

#[glib::object_subclass]
impl ObjectSubclass for JFrameDec {
    const NAME: &'static str = "GstJFrameDec";
    type Type = super::JFrameDec;
    type ParentType = gst_base::BaseTransform;

    fn new() -> Self {
        JFrameDec { keying: Keying::new(*CAT) }
    }
}

fn drop_reason(error: DecryptError) -> Drop {
    match error {
        DecryptError::NoKey { .. } => Drop::NoKey,
        DecryptError::UnknownKeyIndex { .. } => Drop::UnknownKeyIndex,
        DecryptError::AuthenticationFailed { .. } => Drop::AuthenticationFailed,
        DecryptError::Empty | DecryptError::Malformed { .. } => Drop::Malformed,
    }
}

impl ObjectImpl for JFrameDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = Keying::properties();
            properties.push(
                glib::ParamSpecUInt::builder("ratchet-window")
                    .nick("Ratchet window")
                    .blurb("How many ratchet steps to try to follow a sender that ratcheted its key (0 = never)")
                    .maximum(RATCHET_WINDOW_MAX)
                    .default_value(DEFAULT_RATCHET_WINDOW)
                    .mutable_playing()
                    .build(),
            );
            properties
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            let mut signals = keying::signals::<JFrameDec>();
            signals.push(
                glib::subclass::Signal::builder("ratcheted")
                    .param_types([u32::static_type(), u32::static_type()])
                    .run_last()
                    .build(),
            );
            signals
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "ratchet-window" {
            let window = value.get().unwrap_or(DEFAULT_RATCHET_WINDOW);
            self.keying.lock().ctx.set_ratchet_window(window);
            return;
        }
        self.keying.set_property(self.obj().upcast_ref(), pspec, value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "ratchet-window" {
            return self.keying.lock().ctx.ratchet_window().to_value();
        }
        self.keying.property(pspec).unwrap_or_else(|| pspec.default_value().clone())
    }
}

impl GstObjectImpl for JFrameDec {}

impl ElementImpl for JFrameDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "JFrame decrypter",
                "Filter/Decoder/Video/Audio",
                "Decrypts VP8 and Opus frames encrypted in the JFrame format of lib-jitsi-meet \
                 (place between the RTP depayloader and the decoder); drops and counts frames it cannot \
                 decrypt. Action signals: set-key(index, key) -> bool, clear-keys(); signal \
                 ratcheted(key-index, steps)",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(keying::pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for JFrameDec {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.keying.start()
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.keying.stop();
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let media = Media::from_caps(incaps)
            .ok_or_else(|| gst::loggable_error!(CAT, "jframedec takes VP8 or Opus, not {incaps}"))?;
        self.keying.lock().media = Some(media);
        Ok(())
    }

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.keying.lock();
        let media = state.media.ok_or(gst::FlowError::NotNegotiated)?;
        let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
        let frame_kid = map.last().copied();
        let outcome = state.ctx.decrypt(media.frame_kind(&map), &mut map);
        drop(map);
        let mut ratcheted = None;
        let (result, stream_state) = match outcome {
            Ok(DecryptOutcome::Decrypted { len, ratchet_steps }) => {
                buffer.set_size(len);
                state.stats.frames += 1;
                state.stats.bytes += len as u64;
                if ratchet_steps > 0 {
                    state.stats.ratchets += u64::from(ratchet_steps);
                    ratcheted = Some(ratchet_steps);
                }
                (Ok(gst::FlowSuccess::Ok), StreamState::Ok)
            }
            Ok(DecryptOutcome::PassThrough) => {
                state.stats.passed_through += 1;
                (Ok(gst::FlowSuccess::Ok), StreamState::Disabled)
            }
            Err(e) => {
                let reason = drop_reason(e);
                state.stats.count_drop(reason);
                gst::log!(CAT, imp = self, "dropping frame: {e}");
                (Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED), StreamState::of_drop(reason))
            }
        };
        let changed = state.update_stream_state(stream_state);
        let key_index = state.ctx.keys().current_index();
        drop(state);
        // Signals and messages go out unlocked: their handlers may call back into the element.
        if let (Some(steps), Some(kid)) = (ratcheted, frame_kid) {
            gst::info!(CAT, imp = self, "followed a sender ratchet of {steps} step(s) at key index {kid}");
            self.obj().emit_by_name::<()>("ratcheted", &[&u32::from(kid), &steps]);
        }
        if let Some(now) = changed {
            self.keying.post_stream_state(self.obj().upcast_ref(), now, key_index);
        }
        result
    }
}
