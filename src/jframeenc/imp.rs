use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::element::filter::{FrameFilter, Verdict, frame_filter_glue};
use crate::element::keying::{Keying, current_key};
use crate::element::media::Media;
use crate::element::memory::{SpareMemories, sole_memory};
use crate::element::pads::Pads;
use crate::element::stats::{Drop, StreamState};
use crate::jframe::iv::{IvSequence, random_u32};
use crate::jframe::{Context, EncryptError, EncryptOutcome, FrameError, IV_LEN, TRAILER_LEN};
use crate::keystore::SFrameKeys;
use crate::keystore::settings::FormatSetting;
use crate::sframe::{self, CtrSequence, Header, MAX_HEADER_LEN, MAX_TAG_LEN};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("jframeenc", gst::DebugColorFlags::empty(), Some("JFrame encryption")));

pub struct JFrameEnc {
    pads: Pads,
    keying: Keying,
    sender: Mutex<Sender>,
}

struct Sender {
    /// IVs are `ssrc || counter` and the counter survives key changes and restarts,
    /// so no IV repeats under one key while the element lives.
    ivs: IvSequence,
    /// Memories for what goes around frames that have no room for it (trailers, SFrame
    /// headers and tags).
    spare: SpareMemories,
    /// SFrame CTRs, on the same terms: one sequence for the element's life, whatever
    /// the key (see `CtrSequence` for the odds across instances).
    ctrs: CtrSequence,
}

/// What became of a frame.
enum Sent {
    Encrypted,
    PassedThrough,
    Dropped(Drop),
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
            sender: Mutex::new(Sender {
                ivs: IvSequence::new(random_u32()),
                spare: SpareMemories::default(),
                ctrs: CtrSequence::new(),
            }),
        }
    }
}

impl JFrameEnc {
    fn sender(&self) -> std::sync::MutexGuard<'_, Sender> {
        lock(&self.sender)
    }
}

frame_filter_glue!(JFrameEnc);

impl FrameFilter for JFrameEnc {
    const ROOM: usize = if TRAILER_LEN > MAX_TAG_LEN { TRAILER_LEN } else { MAX_TAG_LEN };
    const PREFIX: usize = MAX_HEADER_LEN;
    const ENCRYPTS: bool = true;

    fn keying(&self) -> &Keying {
        &self.keying
    }

    fn pads(&self) -> &Pads {
        &self.pads
    }

    fn element_metadata() -> gst::subclass::ElementMetadata {
        gst::subclass::ElementMetadata::new(
            "JFrame encrypter",
            "Filter/Encoder/Video/Audio",
            "Encrypts VP8 and Opus frames with AES-GCM in the JFrame format of lib-jitsi-meet, or VP8, VP9, \
             H.264, H.265 and Opus frames in LiveKit's format (format=livekit), or whole frames of any of \
             those and AV1 in SFrame, RFC 9605 (format=sframe) (place between the encoder and the RTP \
             payloader; for VP8 use jframevp8pay, for SFrame rtpsframepay). Action signals: \
             set-key(index, key) -> bool, set-sframe-key(kid, key) -> bool, ratchet() -> bool, \
             clear-keys(); element message jframe-state on every change of the stream's state",
            "gst-jframe developers",
        )
    }

    fn own_properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecUInt::builder("ssrc")
                .nick("SSRC")
                .blurb(
                    "First four bytes of every IV (random per element by default); the other eight are a \
                        frame counter that starts at random",
                )
                .mutable_playing()
                .build(),
        ]
    }

    fn own_signals() -> Vec<glib::subclass::Signal> {
        vec![
            glib::subclass::Signal::builder("ratchet")
                .return_type::<bool>()
                .action()
                .class_handler(|args| {
                    let element = args[0].get::<super::JFrameEnc>().ok()?;
                    Some(element.imp().keying.ratchet().to_value())
                })
                .build(),
        ]
    }

    fn set_own_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        if pspec.name() != "ssrc" {
            return false;
        }
        self.sender().ivs = IvSequence::new(value.get().unwrap_or_else(|_| random_u32()));
        true
    }

    fn own_property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        (pspec.name() == "ssrc").then(|| self.sender().ivs.ssrc().to_value())
    }

    fn process(&self, buffer: &mut gst::BufferRef) -> Result<Verdict, gst::FlowError> {
        let size = buffer.size() as u64;
        let delta_unit = buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let mut state = self.keying.lock();
        let media = state.media.ok_or(gst::FlowError::NotNegotiated)?;
        let sframe = state.format() == FormatSetting::SFrame;
        let sent = if !state.enabled {
            Sent::PassedThrough
        } else if sframe {
            let mut sender = self.sender();
            let Some(ctr) = sender.ctrs.next() else {
                drop(sender);
                drop(state);
                gst::element_imp_error!(self, gst::StreamError::Failed, ["SFrame CTR exhausted"]);
                return Err(gst::FlowError::Error);
            };
            encrypt_sframe(lock(state.local_keys()).sframe(), ctr, buffer, &mut sender.spare)?
        } else {
            let mut sender = self.sender();
            let Some(iv) = sender.ivs.next() else {
                drop(sender);
                drop(state);
                gst::element_imp_error!(self, gst::StreamError::Failed, ["IV counter exhausted"]);
                return Err(gst::FlowError::Error);
            };
            let mut local = lock(state.local_keys());
            let (ctx, _) = local.ctx();
            let outcome = if media.is_annex_b() {
                // Escaping changes the size: the frame is rebuilt, trailer included.
                let mut data = buffer.map_readable().map_err(|_| gst::FlowError::Error)?.to_vec();
                let outcome = ctx.encrypt_frame(media.frame(&data, delta_unit), &mut data, iv);
                if let Ok(EncryptOutcome::Encrypted(_)) = outcome {
                    buffer.replace_all_memory(gst::Memory::from_mut_slice(data));
                }
                outcome
            } else {
                encrypt_in_place(ctx, media, buffer, delta_unit, iv, &mut sender.spare)?
            };
            match outcome {
                Ok(EncryptOutcome::Encrypted(_)) => Sent::Encrypted,
                Ok(EncryptOutcome::PassThrough) => Sent::PassedThrough,
                Err(e) => {
                    gst::log!(CAT, imp = self, "dropping frame: {e}");
                    match e {
                        FrameError::Encrypt(EncryptError::NoKey) => Sent::Dropped(Drop::NoKey),
                        _ => Sent::Dropped(Drop::Malformed),
                    }
                }
            }
        };
        let (verdict, stream_state) = match sent {
            Sent::Encrypted => {
                state.stats.frames += 1;
                state.stats.bytes += size;
                (Verdict::Push, StreamState::Ok)
            }
            Sent::PassedThrough => {
                state.stats.passed_through += 1;
                (Verdict::Push, StreamState::Disabled)
            }
            Sent::Dropped(reason) => {
                state.stats.count_drop(reason);
                (Verdict::Drop, StreamState::of_drop(reason))
            }
        };
        let changed = state.update_stream_state(stream_state);
        let key_index = changed.and_then(|_| current_key(state.format(), &mut lock(state.local_keys())));
        drop(state);
        // Messages go out unlocked: their handlers may call back into the element.
        if let Some(now) = changed {
            if now == StreamState::MissingKey {
                gst::warning!(
                    CAT,
                    imp = self,
                    "no key: dropping frames until one is set (never sending them in clear)"
                );
            }
            self.keying.post_stream_state(self.obj().upcast_ref(), now, key_index, None);
        }
        Ok(verdict)
    }
}

/// Encrypts a frame into an SFrame ciphertext where it is: the header goes into the room
/// before the frame and the tag into the room after it when its memory has both
/// (upstream allocators are asked for them), else into spare memories.
fn encrypt_sframe(
    keys: &mut SFrameKeys,
    ctr: u64,
    buffer: &mut gst::BufferRef,
    spare: &mut SpareMemories,
) -> Result<Sent, gst::FlowError> {
    let Some(kid) = keys.current else { return Ok(Sent::Dropped(Drop::NoKey)) };
    let size = buffer.size();
    let header_len = Header::new(kid, ctr).encoded_len();
    let tag_len = keys.keys.suite().tag_len();
    let sealed = match sole_memory(buffer) {
        Some(memory) if memory.offset() >= header_len && memory.offset() + size + tag_len <= memory.maxsize() => {
            let start = memory.offset() - header_len;
            memory.resize_maxsize(start..start + header_len + size + tag_len);
            let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
            let (header, rest) = map.split_at_mut(header_len);
            let (frame, tag) = rest.split_at_mut(size);
            let sealed = keys.keys.encrypt(kid, ctr, &[], frame);
            if let Ok(sealed) = &sealed {
                header.copy_from_slice(&sealed.header);
                tag.copy_from_slice(&sealed.tag);
            }
            drop(map);
            if sealed.is_err() {
                memory.resize_maxsize(start + header_len..start + header_len + size);
            }
            return Ok(sent_of(sealed.map(|_| ())));
        }
        Some(memory) => {
            keys.keys.encrypt(kid, ctr, &[], &mut memory.map_writable().map_err(|_| gst::FlowError::Error)?)
        }
        None => keys.keys.encrypt(kid, ctr, &[], &mut buffer.map_writable().map_err(|_| gst::FlowError::Error)?),
    };
    if let Ok(sealed) = &sealed {
        buffer.prepend_memory(spare.memory_with(&sealed.header));
        buffer.append_memory(spare.memory_with(&sealed.tag));
    }
    Ok(sent_of(sealed.map(|_| ())))
}

fn sent_of(sealed: Result<(), sframe::EncryptError>) -> Sent {
    match sealed {
        Ok(()) => Sent::Encrypted,
        Err(sframe::EncryptError::NoKey { .. }) => Sent::Dropped(Drop::NoKey),
        Err(_) => Sent::Dropped(Drop::Malformed),
    }
}

/// Encrypts a frame where it is. The trailer goes into the room after the frame when its
/// memory has some (upstream allocators are asked for it), else into a spare memory.
fn encrypt_in_place(
    ctx: &Context,
    media: Media,
    buffer: &mut gst::BufferRef,
    delta_unit: bool,
    iv: [u8; IV_LEN],
    spare: &mut SpareMemories,
) -> Result<Result<EncryptOutcome, FrameError>, gst::FlowError> {
    let size = buffer.size();
    let encrypt = |frame: &mut [u8]| ctx.encrypt_frame_in_place(media.frame(frame, delta_unit), frame, iv);
    let (outcome, trailer_written) = match sole_memory(buffer) {
        // Mapped through its one memory (the cheaper way), grown into the room if any.
        Some(memory) => {
            let start = memory.offset();
            let room = start + size + TRAILER_LEN <= memory.maxsize();
            if room {
                memory.resize_maxsize(start..start + size + TRAILER_LEN);
            }
            let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
            let (frame, rest) = map.split_at_mut(size);
            let outcome = encrypt(frame);
            let trailer_written = match (&outcome, room) {
                (Ok(EncryptOutcome::Encrypted(trailer)), true) => {
                    rest.copy_from_slice(trailer.as_bytes());
                    true
                }
                _ => false,
            };
            drop(map);
            if room && !trailer_written {
                memory.resize(..size);
            }
            (outcome, trailer_written)
        }
        None => (encrypt(&mut buffer.map_writable().map_err(|_| gst::FlowError::Error)?), false),
    };
    if let (Ok(EncryptOutcome::Encrypted(trailer)), false) = (&outcome, trailer_written) {
        buffer.append_memory(spare.memory_with(trailer.as_bytes()));
    }
    Ok(outcome)
}
