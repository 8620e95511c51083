//! A participant's keys: those the application set ([`Participant`]), and each element's
//! working copy of them ([`LocalKeys`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{Context, Format, KeyError, KeyMode, KeyRing, KeySource, Rules, RulesError, Secret};
use crate::lock;

/// The keys the application set for one participant, and the format rules they follow.
///
/// Elements do not encrypt with these directly: each keeps a [`LocalKeys`] copy that
/// takes in what changed here before its next frame. So a receiver that follows a
/// sender's ratchet on one stream (video) does not move the key under another stream
/// of the same sender (audio) whose frames of the older key are still in flight.
///
/// The rules (JFrame's by default) belong to the participant: its key ring and every
/// element's working copy are built with them. They are chosen by the first of
/// [`set_rules`](Self::set_rules), a key set for the participant, or an element starting
/// for it ([`use_rules`](Self::use_rules)); an element configured for other rules then
/// refuses to start.
pub struct Participant {
    keys: Mutex<StoredKeys>,
    /// `StoredKeys::generation`, readable without the lock on every frame.
    generation: AtomicU64,
}

struct StoredKeys {
    rules: Rules,
    /// Whether the rules were chosen; until then an element may bring its own.
    rules_chosen: bool,
    ring: KeyRing,
    generation: u64,
    /// The generation at which the ring was last rebuilt (other rules or key mode).
    ring_generation: u64,
    /// The generation at which each slot last changed.
    slot_generations: Vec<u64>,
}

/// What an edit of a participant's keys changed.
enum Changed {
    Slot(u8),
    AllSlots,
    /// A new ring: other rules or another key mode.
    Ring,
}

impl StoredKeys {
    /// Starts an empty ring with `rules`, which are valid, and `mode`.
    fn rebuild(&mut self, rules: Rules, mode: KeyMode) -> Changed {
        self.ring = KeyRing::with_valid_rules(mode, &rules);
        self.rules = rules;
        Changed::Ring
    }
}

impl Participant {
    pub(super) fn new() -> Participant {
        let rules = Rules::jframe();
        Participant {
            keys: Mutex::new(StoredKeys {
                ring: KeyRing::new(KeyMode::Derived),
                slot_generations: vec![0; rules.key_ring_size],
                rules,
                rules_chosen: false,
                generation: 0,
                ring_generation: 0,
            }),
            generation: AtomicU64::new(0),
        }
    }

    /// Applies an edit and publishes it.
    fn change(&self, edit: impl FnOnce(&mut StoredKeys) -> Result<Changed, KeyError>) -> Result<(), KeyError> {
        let mut keys = lock(&self.keys);
        let changed = edit(&mut keys)?;
        keys.generation += 1;
        let generation = keys.generation;
        match changed {
            Changed::Slot(slot) => {
                if let Some(slot_generation) = keys.slot_generations.get_mut(usize::from(slot)) {
                    *slot_generation = generation;
                }
            }
            Changed::AllSlots => keys.slot_generations.iter_mut().for_each(|g| *g = generation),
            Changed::Ring => {
                keys.ring_generation = generation;
                keys.slot_generations = vec![generation; keys.ring.size()];
            }
        }
        self.generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// The rules of this participant's keys.
    pub fn rules(&self) -> Rules {
        lock(&self.keys).rules.clone()
    }

    /// Chooses the rules of this participant's keys; other rules than the current ones
    /// start an empty key ring.
    pub fn set_rules(&self, rules: Rules) -> Result<(), RulesError> {
        rules.validate()?;
        {
            let mut keys = lock(&self.keys);
            keys.rules_chosen = true;
            if keys.rules == rules {
                return Ok(());
            }
        }
        let _ = self.change(|keys| {
            let mode = keys.ring.mode();
            Ok(keys.rebuild(rules, mode))
        });
        Ok(())
    }

    /// An element's rules: taken if this participant's rules are not chosen yet, else
    /// they must be equal. `Err` holds this participant's rules.
    pub fn use_rules(&self, rules: &Rules) -> Result<(), Box<Rules>> {
        let mut keys = lock(&self.keys);
        if same_key_rules(&keys.rules, rules) {
            keys.rules_chosen = true;
            return Ok(());
        }
        if keys.rules_chosen {
            return Err(Box::new(keys.rules.clone()));
        }
        drop(keys);
        self.set_rules(rules.clone()).map_err(|_| Box::new(self.rules()))
    }

    /// Installs a key at `index` and makes it current. A key of another mode than the
    /// ring's starts a new ring in that mode.
    pub fn set_key(&self, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.set_key_from(index, KeySource::Bytes(key), mode)
    }

    /// Installs a key (bytes, or a passphrase in derived mode) at `index` and makes it
    /// current, as [`set_key`](Self::set_key). The key is derived with this participant's
    /// rules before its lock is taken: a passphrase costs PBKDF2's 100 000 rounds.
    pub fn set_key_from(&self, index: u32, source: KeySource<'_>, mode: KeyMode) -> Result<(), KeyError> {
        let derivation = {
            let mut keys = lock(&self.keys);
            keys.rules_chosen = true;
            keys.rules.key_derivation.clone()
        };
        let derived = match (mode, source) {
            (KeyMode::Derived, source) => Some(derivation.derive_key(source)?),
            (KeyMode::Raw, KeySource::Passphrase(_)) => return Err(KeyError::NeedsDerivedMode),
            (KeyMode::Raw, KeySource::Bytes(_)) => None,
        };
        self.change(|keys| {
            let mut changed = Changed::Slot(keys.ring.slot_for(index));
            if keys.ring.mode() != mode {
                let rules = keys.rules.clone();
                changed = keys.rebuild(rules, mode);
            }
            match (&derived, source) {
                (Some(key), _) => keys.ring.store_derived_key(index, key, true)?,
                (None, source) => keys.ring.store_key(index, source, true)?,
            }
            Ok(changed)
        })
    }

    /// Installs the key of a passphrase at `index` and makes it current. LiveKit's rules
    /// derive it with PBKDF2 (100 000 rounds: call it off the streaming thread); JFrame's
    /// have no passphrase of their own, so the key is the SHA-256 of the passphrase
    /// (lib-jitsi-meet's documented convention), used as `mode` says.
    pub fn set_passphrase(&self, index: u32, passphrase: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        let format = lock(&self.keys).rules.format;
        match format {
            Format::JFrame => self.set_key_from(index, KeySource::Bytes(&passphrase_key(passphrase)), mode),
            Format::LiveKit => self.set_key_from(index, KeySource::Passphrase(passphrase), mode),
        }
    }

    /// Ratchets the current key in place (a sender, when someone joins).
    pub fn ratchet(&self) -> Result<(), KeyError> {
        self.change(|keys| {
            keys.ring.ratchet_current()?;
            Ok(keys.ring.current_index().map_or(Changed::AllSlots, Changed::Slot))
        })
    }

    /// Empties every slot.
    pub fn clear(&self) {
        let _ = self.change(|keys| {
            keys.ring.clear();
            Ok(Changed::AllSlots)
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

/// Whether keys under rules `a` and `b` work alike. The ratchet window is left out: it
/// is a receiver's setting, which jframedec applies to every frame.
fn same_key_rules(a: &Rules, b: &Rules) -> bool {
    Rules { ratchet_window: b.ratchet_window, ..a.clone() } == *b
}

/// The verification code of a ring's current key.
pub fn current_code(ring: &KeyRing) -> Option<VerificationCode> {
    let slot = ring.current_index()?;
    ring.material(slot).or_else(|| ring.aes_key(slot)).map(VerificationCode::of_key)
}

/// [`LocalKeys`] as elements hold them: the streaming thread and property reads share them.
pub type SharedLocalKeys = Arc<Mutex<LocalKeys>>;

/// An element's working copy of a participant's keys (see [`Participant`]), under the
/// participant's rules.
pub struct LocalKeys {
    participant: Arc<Participant>,
    ctx: Context,
    generation: u64,
    ring_generation: u64,
    slot_generations: Vec<u64>,
}

impl LocalKeys {
    pub fn shared(participant: Arc<Participant>) -> SharedLocalKeys {
        let rules = Rules::jframe();
        Arc::new(Mutex::new(LocalKeys {
            participant,
            slot_generations: vec![0; rules.key_ring_size],
            ctx: Context::new(KeyMode::Derived),
            generation: 0,
            // A participant starts with JFrame's rules at ring generation 0.
            ring_generation: 0,
        }))
    }

    /// The context to process a frame with, after taking in the keys (and rules) the
    /// application changed since the last frame. `true` in the second place when they changed.
    pub fn ctx(&mut self) -> (&mut Context, bool) {
        if self.participant.generation.load(Ordering::Acquire) == self.generation {
            return (&mut self.ctx, false);
        }
        let keys = lock(&self.participant.keys);
        if keys.ring_generation != self.ring_generation
            && let Ok(ctx) = Context::with_rules(keys.ring.mode(), keys.rules.clone())
        {
            self.ctx = ctx;
            self.slot_generations = vec![0; keys.ring.size()];
            self.ring_generation = keys.ring_generation;
        }
        for (slot, (local, stored)) in self.slot_generations.iter_mut().zip(&keys.slot_generations).enumerate() {
            if local != stored {
                // Rings have at most 256 slots.
                self.ctx.keys_mut().copy_slot(&keys.ring, slot as u8);
                *local = *stored;
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

/// The key a passphrase stands for, its SHA-256, leaving no unwiped copy behind (the
/// caller wipes the passphrase, sha2's `zeroize` feature the hasher state).
fn passphrase_key(passphrase: &[u8]) -> Secret {
    let mut hasher = Sha256::new();
    hasher.update(passphrase);
    let mut key = Zeroizing::new([0u8; 32]);
    hasher.finalize_into((&mut *key).into());
    Secret::new(key.to_vec())
}
