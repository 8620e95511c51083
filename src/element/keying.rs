//! The keys of an element: its settings and counters ([`State`]), keys installed from
//! properties and action signals into its participant's keys in the key store, the
//! element's rules checked against the participant's, and the state messages.

use std::sync::{Arc, Mutex, MutexGuard};

use glib::prelude::*;
use glib::subclass::prelude::*;
use gst::prelude::*;

use super::filter::FrameFilter;
use super::media::Media;
use super::stats::{KeyId, Stats, StreamState, state_message, update_reported};
use crate::jframe::verification::VerificationCode;
use crate::jframe::{KeyMode, Secret};
use crate::keystore::settings::{FormatSetting as Format, FormatSettings, describe};
use crate::keystore::{
    KEY_STORE_CONTEXT, KeyStore, LocalKeys, Participant, SharedLocalKeys, code_text, passphrase_key,
};

/// An element's settings and counters. Frames lock it only to find their keys and to
/// count; the encryption itself runs under the lock of the element's working copy of
/// the keys, so each frame is processed entirely under one key.
pub struct State {
    pub(super) store: KeyStore,
    /// Whether the store came from the application (through a context).
    pub(super) shared_store: bool,
    pub(super) participant_id: String,
    pub(super) participant: Arc<Participant>,
    pub(super) local: SharedLocalKeys,
    pub(super) key_index: u32,
    /// format=sframe: the KID keys from properties are installed under.
    pub(super) kid: u64,
    pub(super) key_mode: KeyMode,
    pub(super) settings: FormatSettings,
    /// A `key` or `passphrase` set while stopped: installed on start, once `key-mode`,
    /// `key-index` and the format are known whatever order they were set in.
    pub(super) pending_key: Option<KeyInput>,
    pub(super) started: bool,
    pub enabled: bool,
    pub media: Option<Media>,
    pub stats: Stats,
    pub(super) reported: Option<StreamState>,
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
        self.settings.format
    }

    /// Where a key from a property goes: the key index, or under SFrame the KID.
    pub(super) fn key_id(&self) -> u64 {
        match self.format() {
            Format::SFrame => self.kid,
            _ => u64::from(self.key_index),
        }
    }

    pub(super) fn use_participant(&mut self, id: String) {
        self.participant = self.store.participant(&id);
        self.local = LocalKeys::shared(self.participant.clone());
        self.participant_id = id;
    }

    /// Records the state of the element's stream after a frame; returns it when it changed.
    pub fn update_stream_state(&mut self, now: StreamState) -> Option<StreamState> {
        update_reported(&mut self.reported, now)
    }
}

/// Key bytes or a passphrase given to an element; how they become a key depends on the format.
pub enum KeyInput {
    Bytes(Secret),
    Passphrase(Secret),
}

/// The key handling of one element.
pub struct Keying {
    state: Mutex<State>,
    pub(super) cat: gst::DebugCategory,
}

pub(super) const KEY_INDEX_MAX: u32 = 255;

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
                kid: 0,
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
        crate::sync::lock(&self.state)
    }

    /// The format the element reads and writes.
    pub fn format(&self) -> Format {
        self.lock().format()
    }

    /// Takes the media of new caps; refuses (with an error that says why) media the
    /// element's format has no rule for.
    pub fn set_media(&self, element: &gst::Element, caps: &gst::CapsRef) -> Result<(), gst::LoggableError> {
        let format = self.format();
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

    /// Takes a key store handed over in a context; `true` when it is another store than before.
    pub fn set_context(&self, context: &gst::Context) -> bool {
        let Some(store) = KeyStore::from_context(context) else { return false };
        let mut state = self.lock();
        let changed = state.store != store;
        state.store = store;
        state.shared_store = true;
        let id = std::mem::take(&mut state.participant_id);
        state.use_participant(id);
        changed
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
            (state.pending_key.take(), state.key_id())
        };
        self.use_rules().map_err(|message| gst::error_msg!(gst::LibraryError::Settings, ("{}", message)))?;
        if let Some(key) = pending {
            self.install(index, &key)
                .map_err(|message| gst::error_msg!(gst::LibraryError::Settings, ["{}", message]))?;
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

    /// Installs a key at `index` (under SFrame: KID) and makes it current. The key is
    /// derived here, on the thread that sets it, without holding the element's lock.
    pub(super) fn install(&self, index: u64, key: &KeyInput) -> Result<(), String> {
        let result = self.install_unlocked(index, key);
        let mut state = self.lock();
        match result {
            Ok(()) => self.log_key_change(&state.participant_id, index, state.participant.verification_code()),
            Err(_) => state.stats.rejected_keys += 1,
        }
        result
    }

    fn install_unlocked(&self, index: u64, key: &KeyInput) -> Result<(), String> {
        let (participant, format, mode) = {
            let state = self.lock();
            (state.participant.clone(), state.format(), state.key_mode)
        };
        if format != Format::SFrame && index > u64::from(KEY_INDEX_MAX) {
            return Err(format!("key index {index} is above {KEY_INDEX_MAX}"));
        }
        self.use_rules()?;
        // The participant's rules are this element's now: its passphrase convention is the format's.
        let result = match (format, key) {
            (Format::SFrame, _) if mode == KeyMode::Raw => Err(crate::keystore::KeyError::SFrameRawKey),
            (Format::SFrame, KeyInput::Bytes(bytes)) => participant.set_sframe_key(index, bytes),
            (Format::SFrame, KeyInput::Passphrase(passphrase)) => {
                participant.set_sframe_key(index, &passphrase_key(passphrase))
            }
            // Checked above: at most KEY_INDEX_MAX.
            (_, KeyInput::Bytes(bytes)) => participant.set_key(index as u32, bytes, mode),
            (_, KeyInput::Passphrase(passphrase)) => participant.set_passphrase(index as u32, passphrase, mode),
        };
        result.map_err(|e| format!("key refused: {e}"))
    }

    /// Ratchets the participant's current key in place (a sender, when someone joins).
    pub fn ratchet(&self) -> bool {
        let mut state = self.lock();
        match state.participant.ratchet() {
            Ok(()) => {
                state.stats.ratchets += 1;
                let index = match state.format() {
                    Format::SFrame => state.participant.current_kid().unwrap_or(0),
                    _ => state.participant.current_index().map_or(0, u64::from),
                };
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
    pub fn log_key_change(&self, id: &str, index: u64, code: Option<VerificationCode>) {
        match code {
            Some(code) => {
                gst::info!(self.cat, "participant '{id}': key at index {index}, verification code {}", code_text(&code))
            }
            None => gst::info!(self.cat, "participant '{id}': key at index {index}"),
        }
    }

    /// `set-key`: installs and makes current atomically; `false` (with a warning
    /// on the bus) when the key or index is refused.
    /// `set-key` and `set-sframe-key`: installs and makes current atomically; `false`
    /// (with a warning on the bus) when the key or index is refused.
    fn set_key_signal(&self, element: &gst::Element, signal: &str, index: u64, key: Option<gst::Buffer>) -> bool {
        let Some(key) = key.as_ref().and_then(buffer_bytes) else {
            gst::element_warning!(element, gst::LibraryError::Settings, ["{}: no key given", signal]);
            return false;
        };
        let result = if signal == SET_SFRAME_KEY && self.format() != Format::SFrame {
            Err("needs format=sframe (set-key takes a key index)".to_owned())
        } else {
            self.install(index, &KeyInput::Bytes(key))
        };
        if let Err(message) = &result {
            gst::element_warning!(element, gst::LibraryError::Settings, ["{}: {}", signal, message]);
        }
        result.is_ok()
    }

    /// Posts a `jframe-state` element message; `stream` adds the SSRC and participant.
    pub fn post_stream_state(
        &self,
        element: &gst::Element,
        now: StreamState,
        key: Option<KeyId>,
        stream: Option<(u32, &str)>,
    ) {
        gst::info!(self.cat, obj = element, "stream {stream:?} state: {}", now.nick());
        let _ = element.post_message(state_message(element, now, key, stream));
    }
}

const SET_SFRAME_KEY: &str = "set-sframe-key";

/// The action signals both elements have: `set-key(index, key) -> bool`,
/// `set-sframe-key(kid, key) -> bool` and `clear-keys()`.
pub fn signals<T>() -> Vec<glib::subclass::Signal>
where
    T: FrameFilter,
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
                Some(keying.set_key_signal(element.upcast_ref(), "set-key", u64::from(index), key).to_value())
            })
            .build(),
        // KIDs are 64-bit: `set-key`'s index covers those below 2^32.
        glib::subclass::Signal::builder(SET_SFRAME_KEY)
            .param_types([u64::static_type(), gst::Buffer::static_type()])
            .return_type::<bool>()
            .action()
            .class_handler(|args| {
                let element = args[0].get::<T::Type>().ok()?;
                let kid = args[1].get::<u64>().ok()?;
                let key = args[2].get::<Option<gst::Buffer>>().ok()?;
                let keying = T::from_obj(&element).keying();
                Some(keying.set_key_signal(element.upcast_ref(), SET_SFRAME_KEY, kid, key).to_value())
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

/// The key a sender uses now, in an element's working copy of its participant's keys.
pub fn current_key(format: Format, local: &mut LocalKeys) -> Option<KeyId> {
    match format {
        Format::SFrame => local.sframe().current.map(KeyId::Kid),
        _ => local.ctx().0.keys().current_index().map(KeyId::Index),
    }
}

pub(super) fn buffer_bytes(buffer: &gst::Buffer) -> Option<Secret> {
    let map = buffer.map_readable().ok()?;
    Some(Secret::new(map.as_slice().to_vec()))
}
