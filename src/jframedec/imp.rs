use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::element::filter::{FrameFilter, Verdict, frame_filter_glue};
use crate::element::keying::Keying;
use crate::element::keying::current_key;
use crate::element::memory::edit_frame;
use crate::element::pads::Pads;
use crate::element::stats::{Counted, Drop, KeyId, Stats, StreamState, update_reported};
use crate::jframe::{DEFAULT_RATCHET_WINDOW, DecryptError, Format, FrameError, KeyRing, Received, TRAILER_LEN};
use crate::keystore::settings::FormatSetting;
use crate::keystore::{LocalKeys, SFrameKeys, SharedLocalKeys};
use crate::sframe::{self, Header, ReplayWindow};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("jframedec", gst::DebugColorFlags::empty(), Some("JFrame decryption")));

/// How many SSRCs one element tracks (statistics, participant, state).
const MAX_STREAMS: usize = 1024;

/// Upper bound of `ratchet-window`: each step is one more AES-GCM attempt per bad frame.
const RATCHET_WINDOW_MAX: u32 = 64;

/// A stream from one SSRC (known from `GstRTPSourceMeta`) and whose keys it uses.
#[derive(Default)]
struct Stream {
    /// `None`: the element's own participant.
    participant: Option<(String, SharedLocalKeys)>,
    stats: Stats,
    reported: Option<StreamState>,
}

#[derive(Default)]
struct Streams {
    by_ssrc: HashMap<u32, Stream>,
    /// One working copy of each participant's keys, shared by its SSRCs.
    keys: HashMap<String, SharedLocalKeys>,
}

pub struct JFrameDec {
    pads: Pads,
    keying: Keying,
    streams: Mutex<Streams>,
    ratchet_window: AtomicU32,
    /// SFrame: the (KID, CTR) pairs accepted, per SSRC (`None`: frames without one, and
    /// SSRCs past the limit). Locked last, after the keys, and alone.
    replay: Mutex<HashMap<Option<u32>, ReplayWindow>>,
}

#[glib::object_subclass]
impl ObjectSubclass for JFrameDec {
    const NAME: &'static str = "GstJFrameDec";
    type Type = super::JFrameDec;
    type ParentType = gst::Element;

    fn new() -> Self {
        JFrameDec {
            pads: Pads::new::<Self>(),
            keying: Keying::new(*CAT),
            streams: Mutex::new(Streams::default()),
            ratchet_window: AtomicU32::new(DEFAULT_RATCHET_WINDOW),
            replay: Mutex::new(HashMap::new()),
        }
    }
}

impl JFrameDec {
    fn streams(&self) -> MutexGuard<'_, Streams> {
        lock(&self.streams)
    }

    /// The keys of the participant an SSRC is mapped to. A new SSRC is asked about
    /// once, through `request-participant`; the answer may also come later, by
    /// `set-ssrc-participant`.
    fn keys_of(&self, ssrc: u32) -> Option<SharedLocalKeys> {
        {
            let mut streams = self.streams();
            if let Some(stream) = streams.by_ssrc.get(&ssrc) {
                return stream.participant.as_ref().map(|(_, keys)| keys.clone());
            }
            // A flood of new SSRCs must not grow the element without bound: past the
            // limit, new ones count in the element's totals and use its own keys.
            if streams.by_ssrc.len() >= MAX_STREAMS {
                gst::debug!(CAT, imp = self, "SSRC {ssrc} not tracked: {MAX_STREAMS} streams already");
                return None;
            }
            streams.by_ssrc.insert(ssrc, Stream::default());
        }
        let answer = self.obj().emit_by_name::<Option<String>>("request-participant", &[&ssrc]);
        answer.map(|id| self.map_ssrc(ssrc, &id))
    }

    /// The SSRCs mapped to participants of the old store now name those of the new one.
    fn remap_ssrcs(&self) {
        let mapped: Vec<(u32, String)> = {
            let mut streams = self.streams();
            streams.keys.clear();
            streams.by_ssrc.iter().filter_map(|(ssrc, s)| Some((*ssrc, s.participant.as_ref()?.0.clone()))).collect()
        };
        for (ssrc, id) in mapped {
            self.map_ssrc(ssrc, &id);
        }
    }

    fn map_ssrc(&self, ssrc: u32, id: &str) -> SharedLocalKeys {
        let store = self.keying.lock().store().clone();
        gst::info!(CAT, imp = self, "SSRC {ssrc} is participant '{id}'");
        if let Err(message) = self.keying.use_rules_of(&store.participant(id), id) {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ["SSRC {}: {}", ssrc, message]);
        }
        let mut streams = self.streams();
        let keys =
            streams.keys.entry(id.to_owned()).or_insert_with(|| LocalKeys::shared(store.participant(id))).clone();
        streams.by_ssrc.entry(ssrc).or_default().participant = Some((id.to_owned(), keys.clone()));
        keys
    }

    /// Counts a frame in its SSRC's stream; returns the stream's new state if it changed,
    /// and then the participant's name (for the message).
    fn count_in_stream(&self, ssrc: u32, frame: Counted, now: StreamState) -> (Option<StreamState>, String) {
        let mut streams = self.streams();
        let Some(stream) = streams.by_ssrc.get_mut(&ssrc) else {
            // Past the limit of tracked streams: the element's own state.
            drop(streams);
            return (self.keying.lock().update_stream_state(now), String::new());
        };
        stream.stats.count(frame);
        let changed = update_reported(&mut stream.reported, now);
        // The name is only for a message or a log line: no copy per frame.
        let ratcheted = matches!(frame, Counted::Processed { ratchets: 1.., .. });
        let id = match (&stream.participant, changed.is_some() || ratcheted) {
            (Some((id, _)), true) => id.clone(),
            _ => String::new(),
        };
        (changed, id)
    }

    fn stats(&self) -> gst::Structure {
        let mut stats = self.keying.property_stats();
        let format = self.keying.format();
        let streams = self.streams();
        let mut participants: HashMap<&str, (Stats, Option<KeyId>)> = HashMap::new();
        let mut per_ssrc = Vec::new();
        for (ssrc, stream) in streams.by_ssrc.iter() {
            let (id, key_index) = match &stream.participant {
                Some((id, keys)) => (id.as_str(), current_key(format, &mut lock(keys))),
                None => ("", None),
            };
            let mut structure = stream.stats.to_structure("application/x-jframe-stream-stats", key_index);
            structure.set("ssrc", *ssrc);
            structure.set("participant", id);
            per_ssrc.push(structure.to_send_value());
            let entry = participants.entry(id).or_insert_with(|| (Stats::default(), key_index));
            entry.0.add(&stream.stats);
        }
        let per_participant = participants.into_iter().map(|(id, (stats, key_index))| {
            let mut structure = stats.to_structure("application/x-jframe-participant-stats", key_index);
            structure.set("participant", id);
            structure.to_send_value()
        });
        stats.set("streams", gst::Array::from_values(per_ssrc));
        stats.set("participants", gst::Array::from_values(per_participant));
        stats
    }
}

/// Decrypts an SFrame ciphertext in place; the frame becomes its plaintext (no bytes
/// move). Refuses replayed frames of the stream (`ssrc`). Gives the frame's KID too,
/// when its header could be read.
fn decrypt_sframe(
    keys: &mut SFrameKeys,
    replay: &mut ReplayWindow,
    buffer: &mut gst::BufferRef,
) -> Result<(Result<Received, sframe::DecryptError>, Option<u64>), gst::FlowError> {
    edit_frame(buffer, |frame| match keys.keys.decrypt(&[], frame, Some(replay)) {
        Ok(decrypted) => {
            let received =
                Received::Decrypted { len: decrypted.plaintext.len(), ratchet_steps: decrypted.ratchet_steps };
            ((Ok(received), Some(decrypted.header.kid)), Some(decrypted.plaintext))
        }
        Err(e) => ((Err(e), e.kid()), None),
    })
}

fn sframe_drop_reason(error: sframe::DecryptError, keys: &SFrameKeys) -> Drop {
    use sframe::DecryptError as E;
    match error {
        E::UnknownKid { .. } if keys.keys.is_empty() => Drop::NoKey,
        E::UnknownKid { .. } => Drop::UnknownKeyIndex,
        E::AuthenticationFailed { .. } => Drop::AuthenticationFailed,
        E::Header(_) | E::TooShort { .. } => Drop::Malformed,
        E::Replayed { .. } | E::TooOld { .. } => Drop::Replayed,
    }
}

/// The KID of an SFrame ciphertext, read from its header without mapping it for writing
/// (for a frame passed through: a decrypted one gives its KID on the way).
fn sframe_kid(buffer: &gst::BufferRef) -> Option<KeyId> {
    let mut header = [0u8; sframe::MAX_HEADER_LEN];
    let len = header.len().min(buffer.size());
    buffer.copy_to_slice(0, &mut header[..len]).ok()?;
    Header::parse(&header[..len]).ok().map(|(header, _)| KeyId::Kid(header.kid))
}

fn drop_reason(error: FrameError) -> Drop {
    match error {
        // An index given up after too many failures has no usable key until a new one.
        FrameError::Decrypt(DecryptError::NoKey { .. }) | FrameError::KeyMarkedInvalid { .. } => Drop::NoKey,
        FrameError::Decrypt(DecryptError::UnknownKeyIndex { .. }) => Drop::UnknownKeyIndex,
        FrameError::Decrypt(DecryptError::AuthenticationFailed { .. }) => Drop::AuthenticationFailed,
        FrameError::Decrypt(DecryptError::Empty | DecryptError::Malformed { .. })
        | FrameError::Encrypt(_)
        | FrameError::UnsupportedFrame
        | FrameError::UnknownServerInjectedFrame => Drop::Malformed,
    }
}

/// LiveKit's trailer ends with the IV length (12) and the key index.
const IV_LENGTH_BYTE: u8 = 12;

/// Whether an H.264/H.265 frame lost its last byte, a key index of 0, on the way.
/// `rtph264pay` and `rtph265pay` drop the zero bytes that end a NAL unit (Annex B's
/// trailing_zero_8bits), and under LiveKit's rules the trailer ends the last NAL unit;
/// the IV-length byte before the key index is never zero, so at most that one byte goes.
/// A frame that ends with the IV-length byte lost it, unless the byte before is one too
/// and the ring has a key at that index (12): then it is read as sent with key index 12.
fn lost_zero_key_index(frame: &[u8], ring: &KeyRing) -> bool {
    match frame {
        [.., before, IV_LENGTH_BYTE] if frame.len() >= TRAILER_LEN => {
            *before != IV_LENGTH_BYTE || !ring.has_key(IV_LENGTH_BYTE)
        }
        _ => false,
    }
}

frame_filter_glue!(JFrameDec);

impl FrameFilter for JFrameDec {
    const ENCRYPTS: bool = false;

    fn keying(&self) -> &Keying {
        &self.keying
    }

    fn pads(&self) -> &Pads {
        &self.pads
    }

    fn element_metadata() -> gst::subclass::ElementMetadata {
        gst::subclass::ElementMetadata::new(
            "JFrame decrypter",
            "Filter/Decoder/Video/Audio",
            "Decrypts VP8 and Opus frames encrypted in the JFrame format of lib-jitsi-meet, or VP8, VP9, \
             H.264, H.265 and Opus frames in LiveKit's format (format=livekit), or SFrame ciphertexts (RFC \
             9605, format=sframe) of those and AV1 (place between the RTP depayloader and the decoder; for \
             SFrame after rtpsframedepay); drops and counts frames it cannot decrypt. Action signals: \
             set-key(index, key) -> bool, set-sframe-key(kid, key) -> bool, clear-keys(), \
             set-ssrc-participant(ssrc, participant); signals: ratcheted(key-index, steps) when it followed a \
             sender's ratchet, request-participant(ssrc) -> participant once per new SSRC (needs \
             GstRTPSourceMeta: rtp*depay source-info=true); element message jframe-state on every change of \
             a stream's state",
            "gst-jframe developers",
        )
    }

    fn own_properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecUInt::builder("ratchet-window")
                .nick("Ratchet window")
                .blurb(
                    "How many ratchet steps to try to follow a sender that ratcheted its key (0 = never); \
                        format=livekit: how many retries, all with the key one ratchet ahead",
                )
                .maximum(RATCHET_WINDOW_MAX)
                .default_value(DEFAULT_RATCHET_WINDOW)
                .mutable_playing()
                .build(),
        ]
    }

    fn own_signals() -> Vec<glib::subclass::Signal> {
        vec![
            glib::subclass::Signal::builder("ratcheted")
                .param_types([u32::static_type(), u32::static_type()])
                .run_last()
                .build(),
            glib::subclass::Signal::builder("request-participant")
                .param_types([u32::static_type()])
                .return_type::<Option<String>>()
                .run_last()
                .build(),
            glib::subclass::Signal::builder("set-ssrc-participant")
                .param_types([u32::static_type(), String::static_type()])
                .action()
                .class_handler(|args| {
                    let element = args[0].get::<super::JFrameDec>().ok()?;
                    let ssrc = args[1].get::<u32>().ok()?;
                    let id = args[2].get::<String>().ok()?;
                    element.imp().map_ssrc(ssrc, &id);
                    None
                })
                .build(),
        ]
    }

    fn set_own_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        if pspec.name() != "ratchet-window" {
            return false;
        }
        let window = value.get().unwrap_or(DEFAULT_RATCHET_WINDOW);
        self.ratchet_window.store(window, Ordering::Relaxed);
        true
    }

    fn store_changed(&self) {
        self.remap_ssrcs();
    }

    fn own_property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        match pspec.name() {
            "ratchet-window" => Some(self.ratchet_window.load(Ordering::Relaxed).to_value()),
            // Besides the element's totals, per SSRC and per participant.
            "stats" => Some(self.stats().to_value()),
            _ => None,
        }
    }

    fn process(&self, buffer: &mut gst::BufferRef) -> Result<Verdict, gst::FlowError> {
        let ssrc = buffer.meta::<gst_rtp::RTPSourceMeta>().and_then(|meta| meta.ssrc());
        let stream_keys = ssrc.and_then(|ssrc| self.keys_of(ssrc));
        let delta_unit = buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let mut state = self.keying.lock();
        let (media, enabled) = (state.media.ok_or(gst::FlowError::NotNegotiated)?, state.enabled);
        let mut keys = lock(stream_keys.as_ref().unwrap_or(state.local_keys()));
        let window = self.ratchet_window.load(Ordering::Relaxed);
        let (outcome, frame_kid) = match (enabled, state.format()) {
            (true, FormatSetting::SFrame) => {
                // The ratchet's step bits are the participant's, the window this element's.
                let sframe_keys = keys.sframe_receiving(window);
                let mut replay = lock(&self.replay);
                // Past the limit of tracked streams, their frames share the element's window.
                let tracked = replay.len() < MAX_STREAMS || replay.contains_key(&ssrc);
                let stream_replay = replay.entry(if tracked { ssrc } else { None }).or_default();
                let (outcome, kid) = decrypt_sframe(sframe_keys, stream_replay, buffer)?;
                drop(replay);
                let outcome = outcome.map_err(|e| {
                    gst::log!(CAT, imp = self, "dropping frame of SSRC {ssrc:?}: {e}");
                    sframe_drop_reason(e, sframe_keys)
                });
                (outcome, kid.map(KeyId::Kid))
            }
            (false, FormatSetting::SFrame) => (Ok(Received::PassThrough), sframe_kid(buffer)),
            (_, _) => {
                let (outcome, frame_kid) =
                    self.decrypt_frame(keys.ctx().0, enabled, media, delta_unit, window, buffer)?;
                let outcome = outcome.map_err(|e| {
                    gst::log!(CAT, imp = self, "dropping frame of SSRC {ssrc:?}: {e}");
                    drop_reason(e)
                });
                (outcome, frame_kid.map(KeyId::Index))
            }
        };
        let ratchet_steps = match outcome {
            Ok(Received::Decrypted { ratchet_steps, .. }) => ratchet_steps,
            _ => 0,
        };
        let code = (ratchet_steps > 0).then(|| keys.verification_code()).flatten();
        drop(keys);
        let (counted, verdict, stream_state) = match outcome {
            Ok(Received::Decrypted { len, ratchet_steps }) => {
                let counted = Counted::Processed { bytes: len as u64, ratchets: u64::from(ratchet_steps) };
                (counted, Verdict::Push, StreamState::Ok)
            }
            Ok(Received::PassThrough) => (Counted::PassedThrough, Verdict::Push, StreamState::Disabled),
            // A frame a LiveKit server sent in clear, without its trailer (cut off).
            Ok(Received::ServerInjected { .. }) => (Counted::PassedThrough, Verdict::Push, StreamState::Ok),
            Err(reason) => (Counted::Dropped(reason), Verdict::Drop, StreamState::of_drop(reason)),
        };
        state.stats.count(counted);
        let (changed, participant_id) = match ssrc {
            Some(ssrc) => {
                drop(state);
                self.count_in_stream(ssrc, counted, stream_state)
            }
            None => {
                let changed = state.update_stream_state(stream_state);
                drop(state);
                (changed, String::new())
            }
        };
        // Signals and messages go out unlocked: their handlers may call back into the element.
        if let (steps @ 1.., Some(key)) = (ratchet_steps, frame_kid) {
            let index = match key {
                KeyId::Index(index) => u64::from(index),
                KeyId::Kid(kid) => kid,
            };
            gst::info!(CAT, imp = self, "followed a sender ratchet of {steps} step(s) at key index {index}");
            self.keying.log_key_change(&participant_id, index, code);
            // `ratcheted` carries 32 bits: larger KIDs are in the log and the stats only.
            if let Ok(index) = u32::try_from(index) {
                self.obj().emit_by_name::<()>("ratcheted", &[&index, &steps]);
            }
        }
        if let Some(now) = changed {
            let stream = ssrc.map(|ssrc| (ssrc, participant_id.as_str()));
            // The key index of the frame that changed the state.
            self.keying.post_stream_state(self.obj().upcast_ref(), now, frame_kid, stream);
        }
        Ok(verdict)
    }
}

impl JFrameDec {
    /// Decrypts a JFrame or LiveKit frame in place (or passes it, disabled); gives its key index.
    fn decrypt_frame(
        &self,
        ctx: &mut crate::jframe::Context,
        enabled: bool,
        media: crate::element::media::Media,
        delta_unit: bool,
        window: u32,
        buffer: &mut gst::BufferRef,
    ) -> Result<(Result<Received, FrameError>, Option<u8>), gst::FlowError> {
        if enabled && media.is_annex_b() && ctx.format() == Format::LiveKit {
            let lost = lost_zero_key_index(&buffer.map_readable().map_err(|_| gst::FlowError::Error)?, ctx.keys());
            if lost {
                gst::log!(CAT, imp = self, "restoring the key index 0 the payloader dropped");
                buffer.append_memory(gst::Memory::from_slice([0u8]));
            }
        }
        if enabled {
            edit_frame(buffer, |frame| {
                let frame_kid = frame.last().copied();
                ctx.set_ratchet_window(window);
                let outcome = ctx.decrypt_frame(media.frame(frame, delta_unit), frame);
                let kept = match outcome {
                    Ok(Received::Decrypted { len, .. } | Received::ServerInjected { len }) => Some(0..len),
                    _ => None,
                };
                ((outcome, frame_kid), kept)
            })
        } else {
            // Read, not mapped for writing: no copy of a frame that is not writable.
            let mut last = [0u8];
            let at = buffer.size().checked_sub(1);
            let frame_kid = at.and_then(|at| buffer.copy_to_slice(at, &mut last).ok()).map(|()| last[0]);
            Ok((Ok(Received::PassThrough), frame_kid))
        }
    }
}
