//! `GstJFrameKeyStore`: keys of every participant of a call, shared by elements.
//!
//! An application makes one store, sets each participant's keys on it from any
//! thread, and hands it to the pipeline as a `GstContext` of type
//! [`KEY_STORE_CONTEXT`] (`pipeline.set_context(&store.context())`, or in answer to the
//! `need-context` message the elements post when they go to READY). Every element
//! then encrypts or decrypts for its participant with the keys found there; an
//! element given no store keeps a private one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::glib;
use gst::subclass::prelude::*;

use crate::jframe::verification::VerificationCode;
use crate::lock;
use crate::jframe::{Context, KEY_RING_SIZE, KeyError, KeyMode, KeyRing};

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

/// The keys the application set for one participant.
///
/// Elements do not encrypt with these directly: each keeps a [`LocalKeys`] copy that
/// takes in what changed here before its next frame. So a receiver that follows a
/// sender's ratchet on one stream (video) does not move the key under another stream
/// of the same sender (audio) whose frames of the older key are still in flight.
pub struct Participant {
    keys: Mutex<StoredKeys>,
    /// `StoredKeys::generation`, readable without the lock on every frame.
    generation: AtomicU64,
}

struct StoredKeys {
    ring: KeyRing,
    generation: u64,
    /// The generation at which each slot last changed.
    slot_generations: [u64; KEY_RING_SIZE],
}

impl Participant {
    fn new() -> Participant {
        Participant {
            keys: Mutex::new(StoredKeys {
                ring: KeyRing::new(KeyMode::Derived),
                generation: 0,
                slot_generations: [0; KEY_RING_SIZE],
            }),
            generation: AtomicU64::new(0),
        }
    }

    /// Applies an edit and publishes it. The edit returns the slot it changed, or
    /// `None` when it changed them all.
    fn change(&self, edit: impl FnOnce(&mut KeyRing) -> Result<Option<u8>, KeyError>) -> Result<(), KeyError> {
        let mut keys = lock(&self.keys);
        let touched = edit(&mut keys.ring)?;
        keys.generation += 1;
        let generation = keys.generation;
        match touched {
            Some(slot) => keys.slot_generations[usize::from(slot) % KEY_RING_SIZE] = generation,
            None => keys.slot_generations = [generation; KEY_RING_SIZE],
        }
        self.generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// Installs a key at `index` and makes it current. A key of another mode than the
    /// ring's starts a new ring in that mode.
    pub fn set_key(&self, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.change(|ring| {
            if ring.mode() == mode {
                ring.set_key(index, key)?;
                return Ok(Some(KeyRing::slot_of(index)));
            }
            let mut fresh = KeyRing::new(mode);
            fresh.set_key(index, key)?;
            *ring = fresh;
            Ok(None)
        })
    }

    /// Ratchets the current key in place (a sender, when someone joins).
    pub fn ratchet(&self) -> Result<(), KeyError> {
        self.change(|ring| ring.ratchet_current().map(|()| ring.current_index()))
    }

    /// Empties every slot.
    pub fn clear(&self) {
        let _ = self.change(|ring| {
            ring.clear();
            Ok(None)
        });
    }

    /// The current slot as set here.
    pub fn current_index(&self) -> Option<u8> {
        lock(&self.keys).ring.current_index()
    }

    /// The verification code of the current key as set here.
    pub fn verification_code(&self) -> Option<VerificationCode> {
        let keys = lock(&self.keys);
        current_code(&keys.ring)
    }
}

/// The verification code of a ring's current key.
pub fn current_code(ring: &KeyRing) -> Option<VerificationCode> {
    let slot = ring.current_index()?;
    ring.material(slot).or_else(|| ring.aes_key(slot)).map(VerificationCode::of_key)
}

/// [`LocalKeys`] as elements hold them: the streaming thread and property reads share them.
pub type SharedLocalKeys = Arc<Mutex<LocalKeys>>;

/// An element's working copy of a participant's keys (see [`Participant`]).
pub struct LocalKeys {
    participant: Arc<Participant>,
    ctx: Context,
    generation: u64,
    slot_generations: [u64; KEY_RING_SIZE],
}

impl LocalKeys {
    pub fn shared(participant: Arc<Participant>) -> SharedLocalKeys {
        Arc::new(Mutex::new(LocalKeys {
            participant,
            ctx: Context::new(KeyMode::Derived),
            generation: 0,
            slot_generations: [0; KEY_RING_SIZE],
        }))
    }

    /// The context to process a frame with, after taking in the keys the application
    /// changed since the last frame. `true` in the second place when keys changed.
    pub fn ctx(&mut self) -> (&mut Context, bool) {
        if self.participant.generation.load(Ordering::Acquire) == self.generation {
            return (&mut self.ctx, false);
        }
        let keys = lock(&self.participant.keys);
        for slot in 0..KEY_RING_SIZE {
            if keys.slot_generations[slot] != self.slot_generations[slot] {
                self.ctx.keys_mut().copy_slot(&keys.ring, slot as u8);
                self.slot_generations[slot] = keys.slot_generations[slot];
            }
        }
        self.ctx.keys_mut().set_current(keys.ring.current_index());
        self.generation = keys.generation;
        (&mut self.ctx, true)
    }

    /// The verification code of the current key as this element uses it (after any
    /// ratchet it followed).
    pub fn verification_code(&self) -> Option<VerificationCode> {
        current_code(self.ctx.keys())
    }
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// A persistent context carrying this store, for `set_context`.
    pub fn context(&self) -> gst::Context {
        let mut context = gst::Context::new(KEY_STORE_CONTEXT, true);
        if let Some(context) = context.get_mut() {
            context.structure_mut().set(CONTEXT_FIELD, self);
        }
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
        self.participant(participant).ratchet()
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
