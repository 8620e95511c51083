//! What jframeenc and jframedec share: the key properties and signals, the media a
//! stream carries, statistics and the state messages posted on the bus.

use std::sync::{Arc, Mutex, MutexGuard};

use glib::prelude::*;
use glib::subclass::prelude::*;
use gst::prelude::*;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{FrameKind, KeyMode, Secret};
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

/// The media of a stream, from its caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Vp8,
    Opus,
}

impl Media {
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Media> {
        match caps.structure(0)?.name().as_str() {
            "video/x-vp8" => Some(Media::Vp8),
            "audio/x-opus" => Some(Media::Opus),
            _ => None,
        }
    }

    /// The frame kind, from the VP8 frame tag for video. An empty VP8 frame counts as
    /// an inter frame: it is shorter than any clear prefix and is dropped as such.
    pub fn frame_kind(self, frame: &[u8]) -> FrameKind {
        match self {
            Media::Vp8 => FrameKind::of_vp8(frame).unwrap_or(FrameKind::VideoDelta),
            Media::Opus => FrameKind::Audio,
        }
    }
}

/// The caps both elements take and give, output equal to input.
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let mut caps = gst::Caps::builder("video/x-vp8").build();
    caps.merge(gst::Caps::builder("audio/x-opus").build());
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
    /// A `key` set while stopped: installed on start, once `key-mode` and
    /// `key-index` are known whatever order they were set in.
    pending_key: Option<Secret>,
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
                .blurb("Key material (key-mode=hkdf) or AES-128/256 key (key-mode=raw), installed at key-index \
                        and made current; hex on the command line. Write-only")
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("passphrase")
                .nick("Passphrase")
                .blurb("Sets the key to the SHA-256 of this UTF-8 passphrase (as the key property). Write-only")
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("key-index")
                .nick("Key index")
                .blurb("Index the key property is installed at (slot = index mod 16); the KID senders write")
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
                Ok(Some(buffer)) => buffer_bytes(&buffer),
                _ => None,
            },
            "passphrase" => match value.get::<Option<String>>() {
                Ok(Some(passphrase)) => Some(passphrase_key(&Zeroizing::new(passphrase))),
                _ => None,
            },
            "key-index" => {
                state.key_index = value.get().unwrap_or(0);
                return true;
            }
            "key-mode" if state.started => {
                gst::warning!(self.cat, obj = element, "key-mode can only change in NULL or READY state");
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
        let result = self.install(&mut state, index, &key);
        drop(state);
        if let Err(message) = result {
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

    /// Installs a key set while stopped.
    pub fn start(&self) -> Result<(), gst::ErrorMessage> {
        let mut state = self.lock();
        state.started = true;
        state.reported = None;
        if let Some(key) = state.pending_key.take() {
            let index = state.key_index;
            self.install(&mut state, index, &key)
                .map_err(|message| gst::error_msg!(gst::LibraryError::Settings, ["{}", message]))?;
        }
        Ok(())
    }

    pub fn stop(&self) {
        self.lock().started = false;
    }

    fn install(&self, state: &mut State, index: u32, key: &[u8]) -> Result<(), String> {
        if index > KEY_INDEX_MAX {
            state.stats.rejected_keys += 1;
            return Err(format!("key index {index} is above {KEY_INDEX_MAX}"));
        }
        match state.participant.set_key(index, key, state.key_mode) {
            Ok(()) => {
                self.log_key_change(&state.participant_id, index, state.participant.verification_code());
                Ok(())
            }
            Err(e) => {
                state.stats.rejected_keys += 1;
                Err(format!("key refused: {e}"))
            }
        }
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
        let result = self.install(&mut self.lock(), index, &key);
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
fn passphrase_key(passphrase: &str) -> Secret {
    let mut hasher = Sha256::new();
    hasher.update(passphrase.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    hasher.finalize_into((&mut *key).into());
    Secret::new(key.to_vec())
}

fn buffer_bytes(buffer: &gst::Buffer) -> Option<Secret> {
    let map = buffer.map_readable().ok()?;
    Some(Secret::new(map.as_slice().to_vec()))
}
