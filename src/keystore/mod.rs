//! `GstJFrameKeyStore`: keys of every participant of a call, shared by elements.
//!
//! An application makes one store, sets each participant's keys on it from any
//! thread, and hands it to the pipeline as a `GstContext` of type
//! [`KEY_STORE_CONTEXT`] (`pipeline.set_context(&store.context())`, or in answer to the
//! `need-context` message the elements post when they go to READY). Every element
//! then encrypts or decrypts for its participant with the keys found there; an
//! element given no store keeps a private one.

use std::sync::{Arc, Mutex, MutexGuard};

use gst::glib;
use gst::subclass::prelude::*;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{Context, KeyError, KeyMode};

mod imp;

/// The context type under which the store travels through a pipeline.
pub const KEY_STORE_CONTEXT: &str = "gst-jframe.key-store";
const CONTEXT_FIELD: &str = "key-store";

glib::wrapper! {
    pub struct KeyStore(ObjectSubclass<imp::KeyStore>);
}

impl Default for KeyStore {
    fn default() -> Self {
        glib::Object::new()
    }
}

/// One participant's encryption state; a frame is processed entirely under its lock.
pub struct Participant {
    ctx: Mutex<Context>,
}

impl Participant {
    fn new() -> Participant {
        Participant { ctx: Mutex::new(Context::new(KeyMode::Derived)) }
    }

    pub fn lock(&self) -> MutexGuard<'_, Context> {
        self.ctx.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Installs a key at `index` and makes it current. A key of another mode than the
    /// ring's starts a new ring in that mode.
    pub fn set_key(&self, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        let mut ctx = self.lock();
        if ctx.keys().mode() != mode {
            let mut fresh = Context::new(mode);
            fresh.keys_mut().set_key(index, key)?;
            *ctx = fresh;
            return Ok(());
        }
        ctx.keys_mut().set_key(index, key)
    }

    /// The verification code of the current key.
    pub fn verification_code(&self) -> Option<VerificationCode> {
        let ctx = self.lock();
        let slot = ctx.keys().current_index()?;
        let key = match ctx.keys().mode() {
            KeyMode::Derived => ctx.keys().material(slot),
            KeyMode::Raw => ctx.keys().aes_key(slot),
        }?;
        Some(VerificationCode::of_key(key))
    }
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// A persistent context carrying this store, for `set_context`.
    pub fn context(&self) -> gst::Context {
        let mut context = gst::Context::new(KEY_STORE_CONTEXT, true);
        context.get_mut().map(|c| c.structure_mut().set(CONTEXT_FIELD, self));
        context
    }

    /// The store a context carries, if it is a key-store context.
    pub fn from_context(context: &gst::ContextRef) -> Option<KeyStore> {
        if !context.has_context_type(KEY_STORE_CONTEXT) {
            return None;
        }
        context.structure().get::<KeyStore>(CONTEXT_FIELD).ok()
    }

    /// The participant of that id, created empty on first use.
    pub fn participant(&self, id: &str) -> Arc<Participant> {
        let mut participants = self.imp().participants();
        participants.entry(id.to_owned()).or_insert_with(|| Arc::new(Participant::new())).clone()
    }

    /// Installs a key for a participant at `index` and makes it current.
    pub fn set_key(&self, participant: &str, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.participant(participant).set_key(index, key, mode)
    }

    /// Ratchets a participant's current key in place, as a sender does when someone joins.
    pub fn ratchet(&self, participant: &str) -> Result<(), KeyError> {
        self.participant(participant).lock().keys_mut().ratchet_current()
    }

    /// Forgets a participant (who left the call) and its keys.
    pub fn remove_participant(&self, participant: &str) {
        self.imp().participants().remove(participant);
    }

    /// The verification code of a participant's current key.
    pub fn verification_code(&self, participant: &str) -> Option<VerificationCode> {
        self.participant(participant).verification_code()
    }
}
