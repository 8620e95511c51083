//! What jframeenc and jframedec share: the key properties and signals, the media a
//! stream carries, statistics and the state messages posted on the bus.

use std::sync::{Arc, Mutex, MutexGuard};

use glib::prelude::*;
use glib::subclass::prelude::*;
use gst::prelude::*;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{
    Format, KEY_RING_SIZE, KeyDerivation, KeyMode, KeySize, KeySource, LIVEKIT_DEFAULT_FAILURE_TOLERANCE,
    LIVEKIT_DEFAULT_RATCHET_SALT, MAX_KEY_RING_SIZE,
    MediaFrame, Rules, Secret, VideoCodec, VideoFrameType,
};
use crate::keystore::{KEY_STORE_CONTEXT, KeyStore, LocalKeys, Participant, SharedLocalKeys};
use crate::lock;

/// How the bytes given as a key become an AES key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameKeyMode")]
pub enum KeyModeSetting {
    #[default]
    #[enum_value(name = "Key material, AES key by HKDF-SHA256, can ratchet (lib-jitsi-meet managed keys)", nick = "hkdf")]
    Hkdf,
    #[enum_value(name = "AES-128 or AES-256 key used as given, no ratchet (lib-jitsi-meet shared key)", nick = "raw")]
    Raw,
}

impl From<KeyModeSetting> for KeyMode {
    fn from(mode: KeyModeSetting) -> KeyMode {
        match mode {
            KeyModeSetting::Hkdf => KeyMode::Derived,
            KeyModeSetting::Raw => KeyMode::Raw,
        }
    }
}

/// The frame format an element reads and writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameFormat")]
pub enum FormatSetting {
    #[default]
    #[enum_value(name = "JFrame, lib-jitsi-meet's format (VP8 and Opus)", nick = "jitsi")]
    Jitsi,
    #[enum_value(name = "LiveKit's frame encryption (VP8, VP9, H.264, H.265 and Opus)", nick = "livekit")]
    LiveKit,
}

/// The AES key size of the LiveKit format, in bits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameKeySize")]
pub enum KeySizeSetting {
    #[default]
    #[enum_value(name = "AES-128", nick = "128")]
    Aes128 = 128,
    #[enum_value(name = "AES-256", nick = "256")]
    Aes256 = 256,
}

/// An element's format properties, which make the rules of its participant's keys.
#[derive(Debug, Clone)]
pub struct FormatSettings {
    format: FormatSetting,
    ratchet_salt: String,
    key_size: KeySizeSetting,
    key_ring_size: u32,
    failure_tolerance: i32,
}

impl Default for FormatSettings {
    fn default() -> FormatSettings {
        FormatSettings {
            format: FormatSetting::Jitsi,
            ratchet_salt: default_ratchet_salt(),
            key_size: KeySizeSetting::Aes128,
            key_ring_size: DEFAULT_KEY_RING_SIZE,
            failure_tolerance: LIVEKIT_DEFAULT_FAILURE_TOLERANCE as i32,
        }
    }
}

/// LiveKit's default salt, as text.
fn default_ratchet_salt() -> String {
    String::from_utf8_lossy(LIVEKIT_DEFAULT_RATCHET_SALT).into_owned()
}

const DEFAULT_KEY_RING_SIZE: u32 = KEY_RING_SIZE as u32;

impl FormatSettings {
    pub fn format(&self) -> Format {
        match self.format {
            FormatSetting::Jitsi => Format::JFrame,
            FormatSetting::LiveKit => Format::LiveKit,
        }
    }

    /// The rules; the LiveKit options count only under LiveKit's format.
    pub fn rules(&self) -> Rules {
        if self.format == FormatSetting::Jitsi {
            return Rules::jframe();
        }
        let key_size = match self.key_size {
            KeySizeSetting::Aes128 => KeySize::Aes128,
            KeySizeSetting::Aes256 => KeySize::Aes256,
        };
        Rules {
            key_derivation: KeyDerivation::livekit(self.ratchet_salt.as_bytes(), key_size),
            // The property keeps it within 1..=256.
            key_ring_size: self.key_ring_size as usize,
            failure_tolerance: u32::try_from(self.failure_tolerance).ok(),
            ..Rules::livekit()
        }
    }
}

/// The rules as the properties that make them, for messages.
fn describe(rules: &Rules) -> String {
    match rules.format {
        Format::JFrame => "format=jitsi".to_owned(),
        Format::LiveKit => format!(
            "format=livekit ratchet-salt=\"{}\" key-size={} key-ring-size={} failure-tolerance={}",
            String::from_utf8_lossy(&rules.key_derivation.ratchet_salt),
            rules.key_derivation.key_size.bytes() * 8,
            rules.key_ring_size,
            rules.failure_tolerance.map_or(-1, i64::from),
        ),
    }
}

/// The media of a stream, from its caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
    Opus,
}

impl Media {
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Media> {
        match caps.structure(0)?.name().as_str() {
            "video/x-vp8" => Some(Media::Vp8),
            "video/x-vp9" => Some(Media::Vp9),
            "video/x-h264" => Some(Media::H264),
            "video/x-h265" => Some(Media::H265),
            "video/x-av1" => Some(Media::Av1),
            "audio/x-opus" => Some(Media::Opus),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Media::Vp8 => "VP8",
            Media::Vp9 => "VP9",
            Media::H264 => "H.264",
            Media::H265 => "H.265",
            Media::Av1 => "AV1",
            Media::Opus => "Opus",
        }
    }

    /// Whether `format` has rules for this media; why not when it has none.
    pub fn check(self, format: Format) -> Result<(), String> {
        match (format, self) {
            (Format::JFrame, Media::Vp8 | Media::Opus) => Ok(()),
            (Format::JFrame, _) => Err(format!(
                "format=jitsi carries VP8 and Opus only, not {}; format=livekit carries VP9, H.264 and H.265 too",
                self.name()
            )),
            (Format::LiveKit, Media::Av1) => {
                Err("format=livekit has no rule for AV1: LiveKit's frame encryption refuses AV1 frames".to_owned())
            }
            (Format::LiveKit, _) => Ok(()),
        }
    }

    /// H.264/H.265 access units: under LiveKit's rules their encrypted part is escaped,
    /// so encryption changes their size and decryption may need the whole frame.
    pub fn is_annex_b(self) -> bool {
        matches!(self, Media::H264 | Media::H265)
    }

    /// The frame as the rules see it. A VP8 frame's type comes from its frame tag (an
    /// empty one counts as an inter frame: shorter than any clear prefix, it is dropped
    /// as such under JFrame's rules, passed under LiveKit's); other video's from the
    /// buffer's delta-unit flag, which only decides when an H.264/H.265 frame is no
    /// Annex B stream.
    pub fn frame(self, data: &[u8], delta_unit: bool) -> MediaFrame {
        let video = |codec, delta| MediaFrame::Video {
            codec,
            frame_type: if delta { VideoFrameType::Delta } else { VideoFrameType::Key },
        };
        match self {
            Media::Opus => MediaFrame::Audio,
            Media::Vp8 => video(VideoCodec::Vp8, data.first().is_none_or(|tag| tag & 1 == 1)),
            Media::Vp9 => video(VideoCodec::Vp9, delta_unit),
            Media::H264 => video(VideoCodec::H264, delta_unit),
            Media::H265 => video(VideoCodec::H265, delta_unit),
            Media::Av1 => video(VideoCodec::Av1, delta_unit),
        }
    }
}

/// The caps a format takes. LiveKit's include AV1, to refuse it when set with the reason
/// rather than at negotiation with none.
fn format_caps(format: Format) -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    let names: &[&str] = match format {
        Format::JFrame => &["video/x-vp8", "audio/x-opus"],
        Format::LiveKit => &["video/x-vp8", "video/x-vp9", "video/x-av1", "audio/x-opus"],
    };
    for name in names {
        caps.merge(gst::Caps::builder(*name).build());
    }
    if format == Format::LiveKit {
        for name in ["video/x-h264", "video/x-h265"] {
            caps.merge(gst::Caps::builder(name).field("stream-format", "byte-stream").field("alignment", "au").build());
        }
    }
    caps
}

/// The caps both elements take and give (any format's), output equal to input.
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = format_caps(Format::LiveKit);
    [gst::PadDirection::Src, gst::PadDirection::Sink]
        .into_iter()
        .filter_map(|direction| {
            let name = if direction == gst::PadDirection::Src { "src" } else { "sink" };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps).ok()
        })
        .collect()
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    NoKey,
    UnknownKeyIndex,
    AuthenticationFailed,
    Malformed,
}

/// Counters of one element, read through the `stats` property.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: u64,
    pub bytes: u64,
    pub passed_through: u64,
    pub no_key: u64,
    pub unknown_key_index: u64,
    pub authentication_failed: u64,
    pub malformed: u64,
    pub ratchets: u64,
    pub rejected_keys: u64,
}

impl Stats {
    pub fn count_drop(&mut self, reason: Drop) {
        *match reason {
            Drop::NoKey => &mut self.no_key,
            Drop::UnknownKeyIndex => &mut self.unknown_key_index,
            Drop::AuthenticationFailed => &mut self.authentication_failed,
            Drop::Malformed => &mut self.malformed,
        } += 1;
    }

    pub fn add(&mut self, other: &Stats) {
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.passed_through += other.passed_through;
        self.no_key += other.no_key;
        self.unknown_key_index += other.unknown_key_index;
        self.authentication_failed += other.authentication_failed;
        self.malformed += other.malformed;
        self.ratchets += other.ratchets;
        self.rejected_keys += other.rejected_keys;
    }

    pub fn to_structure(&self, name: &str, current_key_index: Option<u8>) -> gst::Structure {
        gst::Structure::builder(name)
            .field("frames-processed", self.frames)
            .field("bytes-processed", self.bytes)
            .field("frames-passed-through", self.passed_through)
            .field("dropped-no-key", self.no_key)
            .field("dropped-unknown-key-index", self.unknown_key_index)
            .field("dropped-authentication-failed", self.authentication_failed)
            .field("dropped-malformed", self.malformed)
            .field("ratchets", self.ratchets)
            .field("rejected-keys", self.rejected_keys)
            .field("current-key-index", current_key_index.map_or(-1, i32::from))
            .build()
    }
}

/// What a stream's frames are going through, reported on the bus on change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Ok,
    MissingKey,
    Failing,
    Disabled,
}

impl StreamState {
    pub fn of_drop(reason: Drop) -> StreamState {
        match reason {
            Drop::NoKey | Drop::UnknownKeyIndex => StreamState::MissingKey,
            Drop::AuthenticationFailed | Drop::Malformed => StreamState::Failing,
        }
    }

    fn nick(self) -> &'static str {
        match self {
            StreamState::Ok => "ok",
            StreamState::MissingKey => "missing-key",
            StreamState::Failing => "failing",
            StreamState::Disabled => "disabled",
        }
    }
}

/// An element's settings and counters. Frames lock it only to find their keys and to
/// count; the encryption itself runs under the lock of the element's working copy of
/// the keys, so each frame is processed entirely under one key.
pub struct State {
    store: KeyStore,
    /// Whether the store came from the application (through a context).
    shared_store: bool,
    participant_id: String,
    participant: Arc<Participant>,
    local: SharedLocalKeys,
    key_index: u32,
    key_mode: KeyMode,
    settings: FormatSettings,
    /// A `key` or `passphrase` set while stopped: installed on start, once `key-mode`,
    /// `key-index` and the format are known whatever order they were set in.
    pending_key: Option<KeyInput>,
    started: bool,
    pub enabled: bool,
    pub media: Option<Media>,
    pub stats: Stats,
    reported: Option<StreamState>,
}

impl State {
    pub fn store(&self) -> &KeyStore {
        &self.store
    }

    /// The element's working copy of its participant's keys.
    pub fn local_keys(&self) -> &SharedLocalKeys {
        &self.local
    }

    pub fn format(&self) -> Format {
        self.settings.format()
    }

    fn use_participant(&mut self, id: String) {
        self.participant = self.store.participant(&id);
        self.local = LocalKeys::shared(self.participant.clone());
        self.participant_id = id;
    }

    /// Records the state of the element's stream after a frame; returns it when it changed.
    pub fn update_stream_state(&mut self, now: StreamState) -> Option<StreamState> {
        update_reported(&mut self.reported, now)
    }
}

/// Stores `now` as the last reported state; returns it when it differs.
pub fn update_reported(reported: &mut Option<StreamState>, now: StreamState) -> Option<StreamState> {
    (*reported != Some(now)).then(|| {
        *reported = Some(now);
        now
    })
}

/// Key bytes or a passphrase given to an element; how they become a key depends on the format.
pub enum KeyInput {
    Bytes(Secret),
    Passphrase(Secret),
}

/// The key handling of one element.
pub struct Keying {
    state: Mutex<State>,
    cat: gst::DebugCategory,
}

const KEY_INDEX_MAX: u32 = 255;
/// Name of the `stats` structure.
pub const STATS_NAME: &str = "application/x-jframe-stats";

impl Keying {
    pub fn new(cat: gst::DebugCategory) -> Keying {
        let store = KeyStore::new();
        let participant = store.participant("");
        let local = LocalKeys::shared(participant.clone());
        Keying {
            state: Mutex::new(State {
                store,
                shared_store: false,
                participant_id: String::new(),
                participant,
                local,
                key_index: 0,
                key_mode: KeyMode::Derived,
                settings: FormatSettings::default(),
                pending_key: None,
                started: false,
                enabled: true,
                media: None,
                stats: Stats::default(),
                reported: None,
            }),
            cat,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        crate::lock(&self.state)
    }

    /// The properties both elements have.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecBoxed::builder::<gst::Buffer>("key")
                .nick("Key")
                .blurb("Key material (key-mode=hkdf; format=livekit: its HKDF with ratchet-salt) or AES-128/256 \
                        key (key-mode=raw), installed at key-index and made current; hex on the command line. \
                        Write-only")
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("passphrase")
                .nick("Passphrase")
                .blurb("Sets the key from this UTF-8 passphrase: format=jitsi: key material = its SHA-256 (as the \
                        key property); format=livekit: PBKDF2-HMAC-SHA256 with ratchet-salt, 100000 rounds (derived \
                        when the element starts, or at once while playing, never per frame). Write-only")
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("key-index")
                .nick("Key index")
                .blurb("Index the key property is installed at (slot = index mod 16, format=livekit: mod \
                        key-ring-size); the KID senders write")
                .maximum(KEY_INDEX_MAX)
                .mutable_playing()
                .build(),
            glib::ParamSpecEnum::builder::<KeyModeSetting>("key-mode")
                .nick("Key mode")
                .blurb("How the keys this element installs become AES keys; a key of another mode than the \
                        participant's current keys replaces them all")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("participant")
                .nick("Participant")
                .blurb("Participant (in the key store) whose keys this element's key properties and signals \
                        set and, unless an SSRC is mapped to another, uses for frames")
                .default_value(Some(""))
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<FormatSetting>("format")
                .nick("Format")
                .blurb("Frame format: jitsi (JFrame, lib-jitsi-meet; VP8 and Opus) or livekit (LiveKit's E2EE; VP8, \
                        VP9, H.264, H.265 byte-stream/au and Opus). The participant's keys follow the format: \
                        elements of one participant must agree, else the element fails to start")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("ratchet-salt")
                .nick("Ratchet salt")
                .blurb("format=livekit: salt of the key derivation and of the ratchet (LiveKit's ratchetSalt)")
                .default_value(Some(default_ratchet_salt().as_str()))
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<KeySizeSetting>("key-size")
                .nick("Key size")
                .blurb("format=livekit: AES key size in bits of derived keys, 128 or 256 (LiveKit's keySize)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("key-ring-size")
                .nick("Key ring size")
                .blurb("format=livekit: number of key slots, key index i uses slot i mod size (LiveKit's \
                        keyringSize); format=jitsi always has 16")
                .minimum(1)
                .maximum(MAX_KEY_RING_SIZE as u32)
                .default_value(DEFAULT_KEY_RING_SIZE)
                .mutable_ready()
                .build(),
            glib::ParamSpecInt::builder("failure-tolerance")
                .nick("Failure tolerance")
                .blurb("format=livekit: decryption failures tolerated per key index before its frames are dropped \
                        unread until a new key is set there (LiveKit's failureTolerance); -1 = never")
                .minimum(-1)
                .default_value(LIVEKIT_DEFAULT_FAILURE_TOLERANCE as i32)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("enabled")
                .nick("Enabled")
                .blurb("Encrypt/decrypt frames; when false, frames pass through unchanged")
                .default_value(true)
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("verification-code")
                .nick("Verification code")
                .blurb("Short code of the participant's current key, to compare with the other end: three \
                        numbers and seven emoji (a one-way function of the key)")
                .read_only()
                .build(),
            glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Statistics")
                .blurb("Frames and bytes processed, frames dropped by reason, ratchets, current key index")
                .read_only()
                .build(),
        ]
    }

    /// Handles a property both elements have; `false` for any other.
    pub fn set_property(&self, element: &gst::Element, pspec: &glib::ParamSpec, value: &glib::Value) -> bool {
        let mut state = self.lock();
        let key = match pspec.name() {
            "key" => match value.get::<Option<gst::Buffer>>() {
                Ok(Some(buffer)) => buffer_bytes(&buffer).map(KeyInput::Bytes),
                _ => None,
            },
            "passphrase" => match value.get::<Option<String>>() {
                Ok(Some(passphrase)) => Some(KeyInput::Passphrase(Secret::new(passphrase.into_bytes()))),
                _ => None,
            },
            "key-index" => {
                state.key_index = value.get().unwrap_or(0);
                return true;
            }
            "key-mode" | "format" | "ratchet-salt" | "key-size" | "key-ring-size" | "failure-tolerance"
                if state.started =>
            {
                gst::warning!(self.cat, obj = element, "{} can only change in NULL or READY state", pspec.name());
                return true;
            }
            "format" => {
                state.settings.format = value.get().unwrap_or_default();
                return true;
            }
            "ratchet-salt" => {
                let salt: Option<String> = value.get().unwrap_or(None);
                state.settings.ratchet_salt = salt.unwrap_or_else(default_ratchet_salt);
                return true;
            }
            "key-size" => {
                state.settings.key_size = value.get().unwrap_or_default();
                return true;
            }
            "key-ring-size" => {
                state.settings.key_ring_size = value.get().unwrap_or(DEFAULT_KEY_RING_SIZE);
                return true;
            }
            "failure-tolerance" => {
                state.settings.failure_tolerance = value.get().unwrap_or(-1);
                return true;
            }
            "key-mode" => {
                state.key_mode = value.get::<KeyModeSetting>().unwrap_or_default().into();
                return true;
            }
            "participant" => {
                let id: Option<String> = value.get().unwrap_or(None);
                state.use_participant(id.unwrap_or_default());
                return true;
            }
            "enabled" => {
                state.enabled = value.get().unwrap_or(true);
                return true;
            }
            _ => return false,
        };
        let Some(key) = key else {
            gst::warning!(self.cat, obj = element, "no key in {}", pspec.name());
            return true;
        };
        if !state.started {
            state.pending_key = Some(key);
            return true;
        }
        let index = state.key_index;
        drop(state);
        if let Err(message) = self.install(index, &key) {
            gst::element_error!(element, gst::LibraryError::Settings, ["{}", message]);
        }
        true
    }

    /// Reads a property both elements have; `None` for any other.
    pub fn property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        if pspec.name() == "stats" {
            return Some(self.property_stats().to_value());
        }
        let state = self.lock();
        Some(match pspec.name() {
            "key-index" => state.key_index.to_value(),
            "key-mode" => match state.key_mode {
                KeyMode::Derived => KeyModeSetting::Hkdf,
                KeyMode::Raw => KeyModeSetting::Raw,
            }
            .to_value(),
            "participant" => state.participant_id.to_value(),
            "format" => state.settings.format.to_value(),
            "ratchet-salt" => state.settings.ratchet_salt.to_value(),
            "key-size" => state.settings.key_size.to_value(),
            "key-ring-size" => state.settings.key_ring_size.to_value(),
            "failure-tolerance" => state.settings.failure_tolerance.to_value(),
            "enabled" => state.enabled.to_value(),
            "verification-code" => lock(&state.local).verification_code().map(|c| code_text(&c)).to_value(),
            _ => return None,
        })
    }

    /// The `stats` structure of the element as a whole.
    pub fn property_stats(&self) -> gst::Structure {
        let state = self.lock();
        let current = lock(&state.local).ctx().0.keys().current_index();
        state.stats.to_structure(STATS_NAME, current)
    }

    /// The caps on the other pad: the same, less what the element's format never takes.
    pub fn transform_caps(&self, caps: &gst::Caps, filter: Option<&gst::Caps>) -> gst::Caps {
        let taken = caps.intersect_with_mode(&format_caps(self.lock().format()), gst::CapsIntersectMode::First);
        match filter {
            Some(filter) => filter.intersect_with_mode(&taken, gst::CapsIntersectMode::First),
            None => taken,
        }
    }

    /// Takes the media of new caps; refuses (with an error that says why) media the
    /// element's format has no rule for.
    pub fn set_media(&self, element: &gst::Element, caps: &gst::CapsRef) -> Result<(), gst::LoggableError> {
        let format = self.lock().format();
        let media = Media::from_caps(caps)
            .ok_or_else(|| format!("unsupported caps {caps}"))
            .and_then(|media| media.check(format).map(|()| media));
        match media {
            Ok(media) => {
                self.lock().media = Some(media);
                Ok(())
            }
            Err(message) => {
                gst::element_error!(element, gst::StreamError::Format, ("{}", message));
                Err(gst::loggable_error!(self.cat, "{}", message))
            }
        }
    }

    /// Takes a key store handed over in a context.
    pub fn set_context(&self, context: &gst::Context) {
        let Some(store) = KeyStore::from_context(context) else { return };
        let mut state = self.lock();
        state.store = store;
        state.shared_store = true;
        let id = std::mem::take(&mut state.participant_id);
        state.use_participant(id);
    }

    /// Asks the application and the bins around for a shared key store (NULL to READY).
    pub fn request_store(&self, element: &gst::Element) {
        if self.lock().shared_store {
            return;
        }
        let message = gst::message::NeedContext::builder(KEY_STORE_CONTEXT).src(element).build();
        let _ = element.post_message(message);
    }

    /// Gives the participant this element's rules (or finds it has other ones: an error
    /// that says which) and installs a key set while stopped.
    pub fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (pending, index) = {
            let mut state = self.lock();
            state.started = true;
            state.reported = None;
            (state.pending_key.take(), state.key_index)
        };
        self.use_rules().map_err(|message| gst::error_msg!(gst::LibraryError::Settings, ("{}", message)))?;
        if let Some(key) = pending {
            self.install(index, &key).map_err(|message| gst::error_msg!(gst::LibraryError::Settings, ["{}", message]))?;
        }
        Ok(())
    }

    pub fn stop(&self) {
        self.lock().started = false;
    }

    /// Makes this element's rules those of its participant's keys, unless they are other
    /// rules already.
    fn use_rules(&self) -> Result<(), String> {
        let (participant, id) = {
            let state = self.lock();
            (state.participant.clone(), state.participant_id.clone())
        };
        self.use_rules_of(&participant, &id)
    }

    /// Makes this element's rules those of a participant's keys, unless they are other
    /// rules already: then an error that says which.
    pub fn use_rules_of(&self, participant: &Participant, id: &str) -> Result<(), String> {
        let rules = self.lock().settings.rules();
        participant.use_rules(&rules).map_err(|theirs| {
            format!(
                "participant '{id}' has keys under {}, this element is set to {}: set the same format and \
                 options on every element of a participant (or choose them with KeyStore::set_rules)",
                describe(&theirs),
                describe(&rules)
            )
        })
    }

    /// Installs a key at `index` and makes it current. The key is derived here, on the
    /// thread that sets it, without holding the element's lock.
    fn install(&self, index: u32, key: &KeyInput) -> Result<(), String> {
        let result = self.install_unlocked(index, key);
        let mut state = self.lock();
        match result {
            Ok(()) => self.log_key_change(&state.participant_id, index, state.participant.verification_code()),
            Err(_) => state.stats.rejected_keys += 1,
        }
        result
    }

    fn install_unlocked(&self, index: u32, key: &KeyInput) -> Result<(), String> {
        if index > KEY_INDEX_MAX {
            return Err(format!("key index {index} is above {KEY_INDEX_MAX}"));
        }
        self.use_rules()?;
        let (participant, format, mode) = {
            let state = self.lock();
            (state.participant.clone(), state.format(), state.key_mode)
        };
        let digest;
        let source = match (key, format) {
            (KeyInput::Bytes(bytes), _) => KeySource::Bytes(bytes),
            // lib-jitsi-meet has no passphrases: key material = SHA-256 of the passphrase.
            (KeyInput::Passphrase(passphrase), Format::JFrame) => {
                digest = passphrase_key(passphrase);
                KeySource::Bytes(&digest)
            }
            (KeyInput::Passphrase(passphrase), Format::LiveKit) => KeySource::Passphrase(passphrase),
        };
        participant.set_key_from(index, source, mode).map_err(|e| format!("key refused: {e}"))
    }

    /// Ratchets the participant's current key in place (a sender, when someone joins).
    pub fn ratchet(&self) -> bool {
        let mut state = self.lock();
        match state.participant.ratchet() {
            Ok(()) => {
                state.stats.ratchets += 1;
                let index = state.participant.current_index().map_or(0, u32::from);
                self.log_key_change(&state.participant_id, index, state.participant.verification_code());
                true
            }
            Err(e) => {
                gst::warning!(self.cat, "cannot ratchet: {e}");
                false
            }
        }
    }

    /// Logs, at INFO, a participant's new key by its verification code (never the key).
    pub fn log_key_change(&self, id: &str, index: u32, code: Option<VerificationCode>) {
        if let Some(code) = code {
            gst::info!(self.cat, "participant '{id}': key at index {index}, verification code {}", code_text(&code));
        }
    }

    /// `set-key`: installs and makes current atomically; `false` (with a warning
    /// on the bus) when the key or index is refused.
    fn set_key_signal(&self, element: &gst::Element, index: u32, key: Option<gst::Buffer>) -> bool {
        let Some(key) = key.as_ref().and_then(buffer_bytes) else {
            gst::element_warning!(element, gst::LibraryError::Settings, ["set-key: no key given"]);
            return false;
        };
        let result = self.install(index, &KeyInput::Bytes(key));
        if let Err(message) = &result {
            gst::element_warning!(element, gst::LibraryError::Settings, ["set-key: {}", message]);
        }
        result.is_ok()
    }

    /// Posts a `jframe-state` element message; `stream` adds the SSRC and participant.
    pub fn post_stream_state(
        &self,
        element: &gst::Element,
        now: StreamState,
        key_index: Option<u8>,
        stream: Option<(u32, &str)>,
    ) {
        gst::info!(self.cat, obj = element, "stream {stream:?} state: {}", now.nick());
        let mut structure = gst::Structure::builder("jframe-state")
            .field("state", now.nick())
            .field("key-index", key_index.map_or(-1, i32::from))
            .build();
        if let Some((ssrc, participant)) = stream {
            structure.set("ssrc", ssrc);
            structure.set("participant", participant);
        }
        let _ = element.post_message(gst::message::Element::builder(structure).src(element).build());
    }
}

/// `"1234 5678 9012 | 🐶 🐱 …"`.
fn code_text(code: &VerificationCode) -> String {
    format!("{} | {}", code.decimal_string(), code.emoji_string())
}

/// A verification code as a structure: `decimal`, `emoji` and `emoji-names`.
pub fn verification_structure(code: &VerificationCode) -> gst::Structure {
    gst::Structure::builder("application/x-jframe-verification-code")
        .field("decimal", code.decimal_string())
        .field("emoji", code.emoji_string())
        .field("emoji-names", code.emoji_names())
        .build()
}

/// Gives access to an element's key handling from signal handlers.
pub trait Keyed: ObjectSubclass {
    fn keying(&self) -> &Keying;
}

/// The action signals both elements have: `set-key(index, key) -> bool` and `clear-keys()`.
pub fn signals<T>() -> Vec<glib::subclass::Signal>
where
    T: Keyed,
    T::Type: IsA<gst::Element>,
{
    vec![
        glib::subclass::Signal::builder("set-key")
            .param_types([u32::static_type(), gst::Buffer::static_type()])
            .return_type::<bool>()
            .action()
            .class_handler(|args| {
                let element = args[0].get::<T::Type>().ok()?;
                let index = args[1].get::<u32>().ok()?;
                let key = args[2].get::<Option<gst::Buffer>>().ok()?;
                let keying = T::from_obj(&element).keying();
                Some(keying.set_key_signal(element.upcast_ref(), index, key).to_value())
            })
            .build(),
        glib::subclass::Signal::builder("clear-keys")
            .action()
            .class_handler(|args| {
                let element = args[0].get::<T::Type>().ok()?;
                T::from_obj(&element).keying().lock().participant.clear();
                None
            })
            .build(),
    ]
}

/// The key a passphrase stands for, its SHA-256, leaving no unwiped copy behind (the
/// caller wipes the passphrase, sha2's `zeroize` feature the hasher state).
/// SHA-256 of a passphrase, computed where every copy is wiped.
fn passphrase_key(passphrase: &[u8]) -> Secret {
    let mut hasher = Sha256::new();
    hasher.update(passphrase);
    let mut key = Zeroizing::new([0u8; 32]);
    hasher.finalize_into((&mut *key).into());
    Secret::new(key.to_vec())
}

fn buffer_bytes(buffer: &gst::Buffer) -> Option<Secret> {
    let map = buffer.map_readable().ok()?;
    Some(Secret::new(map.as_slice().to_vec()))
}
