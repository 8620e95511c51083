//! A participant's keys: those the application set ([`Participant`]), and each element's
//! working copy of them ([`LocalKeys`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyError;
use super::sframe_keys::{SFrameKeys, SFrameRules};
use crate::jframe::verification::VerificationCode;
use crate::jframe::{self, Context, Format, KeyMode, KeyRing, KeySource, Rules, Secret};
use crate::sframe::Ratchet;
use crate::sync::lock;

/// The rules of a participant's keys: JFrame's or LiveKit's (a key ring), or SFrame's
/// (a key set by KID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRules {
    Frame(Rules),
    SFrame(SFrameRules),
}

impl From<Rules> for KeyRules {
    fn from(rules: Rules) -> KeyRules {
        KeyRules::Frame(rules)
    }
}

impl From<SFrameRules> for KeyRules {
    fn from(rules: SFrameRules) -> KeyRules {
        KeyRules::SFrame(rules)
    }
}

impl KeyRules {
    fn validate(&self) -> Result<(), KeyError> {
        match self {
            KeyRules::Frame(rules) => Ok(rules.validate()?),
            KeyRules::SFrame(rules) => Ok(rules.validate()?),
        }
    }
}

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
    rules: KeyRules,
    /// Whether the rules were chosen; until then an element may bring its own.
    rules_chosen: bool,
    ring: KeyRing,
    /// The keys under SFrame's rules (empty under the others).
    sframe: SFrameKeys,
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
    /// Starts empty keys with `rules`, which are valid, and `mode`.
    fn rebuild(&mut self, rules: KeyRules, mode: KeyMode) -> Changed {
        match &rules {
            KeyRules::Frame(frame_rules) => self.ring = KeyRing::with_valid_rules(mode, frame_rules),
            KeyRules::SFrame(sframe_rules) => self.sframe = SFrameKeys::new(*sframe_rules),
        }
        self.rules = rules;
        Changed::Ring
    }

    /// The SFrame keys, when the rules are SFrame's.
    fn sframe_mut(&mut self) -> Option<&mut SFrameKeys> {
        matches!(self.rules, KeyRules::SFrame(_)).then_some(&mut self.sframe)
    }
}

impl Participant {
    pub(super) fn new() -> Participant {
        let rules = Rules::jframe();
        Participant {
            keys: Mutex::new(StoredKeys {
                ring: KeyRing::new(KeyMode::Derived),
                sframe: SFrameKeys::new(SFrameRules::default()),
                slot_generations: vec![0; rules.key_ring_size],
                rules: KeyRules::Frame(rules),
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
    pub fn rules(&self) -> KeyRules {
        lock(&self.keys).rules.clone()
    }

    /// Chooses the rules of this participant's keys; other rules than the current ones
    /// start empty keys.
    pub fn set_rules(&self, rules: impl Into<KeyRules>) -> Result<(), KeyError> {
        let rules = rules.into();
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
    pub fn use_rules(&self, rules: &KeyRules) -> Result<(), Box<KeyRules>> {
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
    /// ring's starts a new ring in that mode. Under SFrame's rules `index` is the KID.
    pub fn set_key(&self, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.set_key_from(index, KeySource::Bytes(key), mode)
    }

    /// Installs an SFrame base key under `kid` and makes it current. Rules not chosen yet
    /// become SFrame's defaults (AES_128_GCM_SHA256_128, no ratchet).
    pub fn set_sframe_key(&self, kid: u64, base_key: &[u8]) -> Result<(), KeyError> {
        self.change(|keys| {
            let mut changed = Changed::AllSlots;
            if !keys.rules_chosen && !matches!(keys.rules, KeyRules::SFrame(_)) {
                changed = keys.rebuild(KeyRules::SFrame(SFrameRules::default()), KeyMode::Derived);
            }
            keys.rules_chosen = true;
            keys.sframe_mut().ok_or(KeyError::NotSFrame)?.set(kid, base_key)?;
            Ok(changed)
        })
    }

    /// Installs a key (bytes, or a passphrase in derived mode) at `index` and makes it
    /// current, as [`set_key`](Self::set_key). The key is derived with this participant's
    /// rules before its lock is taken: a passphrase costs PBKDF2's 100 000 rounds.
    pub fn set_key_from(&self, index: u32, source: KeySource<'_>, mode: KeyMode) -> Result<(), KeyError> {
        let derivation = {
            let mut keys = lock(&self.keys);
            keys.rules_chosen = true;
            match &keys.rules {
                KeyRules::Frame(rules) => rules.key_derivation.clone(),
                KeyRules::SFrame(_) => {
                    drop(keys);
                    return match (mode, source) {
                        (KeyMode::Derived, KeySource::Bytes(key)) => self.set_sframe_key(u64::from(index), key),
                        (KeyMode::Derived, KeySource::Passphrase(_)) => Err(jframe::KeyError::NeedsDerivedMode.into()),
                        (KeyMode::Raw, _) => Err(KeyError::SFrameRawKey),
                    };
                }
            }
        };
        let derived = match (mode, source) {
            (KeyMode::Derived, source) => Some(derivation.derive_key(source)?),
            (KeyMode::Raw, KeySource::Passphrase(_)) => return Err(jframe::KeyError::NeedsDerivedMode.into()),
            (KeyMode::Raw, KeySource::Bytes(_)) => None,
        };
        self.change(|keys| {
            let mut changed = Changed::Slot(keys.ring.slot_for(index));
            if keys.ring.mode() != mode {
                let rules = keys.rules.clone();
                changed = keys.rebuild(rules, mode);
            }
            // The derivation was the ring's: other rules chosen meanwhile refuse the key.
            if !matches!(keys.rules, KeyRules::Frame(_)) {
                return Err(jframe::KeyError::OtherDerivation.into());
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
    /// and SFrame's have no passphrase of their own, so the key is the SHA-256 of the
    /// passphrase (lib-jitsi-meet's documented convention), used as `mode` says (under
    /// SFrame's rules as the base key of KID `index`).
    pub fn set_passphrase(&self, index: u32, passphrase: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        let format = match &lock(&self.keys).rules {
            KeyRules::Frame(rules) => Some(rules.format),
            KeyRules::SFrame(_) => None,
        };
        match format {
            Some(Format::JFrame) | None => {
                self.set_key_from(index, KeySource::Bytes(&passphrase_key(passphrase)), mode)
            }
            Some(Format::LiveKit) => self.set_key_from(index, KeySource::Passphrase(passphrase), mode),
        }
    }

    /// Ratchets the current key in place (a sender, when someone joins); under SFrame's
    /// rules, to the next KID (RFC 9605 §5.1).
    pub fn ratchet(&self) -> Result<(), KeyError> {
        self.change(|keys| {
            if let Some(sframe) = keys.sframe_mut() {
                sframe.ratchet()?;
                return Ok(Changed::AllSlots);
            }
            keys.ring.ratchet_current()?;
            Ok(keys.ring.current_index().map_or(Changed::AllSlots, Changed::Slot))
        })
    }

    /// Empties every slot.
    pub fn clear(&self) {
        let _ = self.change(|keys| {
            keys.ring.clear();
            keys.sframe.clear();
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
        match keys.rules {
            KeyRules::Frame(_) => current_code(&keys.ring),
            KeyRules::SFrame(_) => keys.sframe.code,
        }
    }

    /// The KID an SFrame sender uses, as set here.
    pub fn current_kid(&self) -> Option<u64> {
        lock(&self.keys).sframe.current
    }
}

/// Whether keys under rules `a` and `b` work alike. The ratchet window is left out: it
/// is a receiver's setting, which jframedec applies to every frame.
fn same_key_rules(a: &KeyRules, b: &KeyRules) -> bool {
    match (a, b) {
        (KeyRules::Frame(a), KeyRules::Frame(b)) => Rules { ratchet_window: b.ratchet_window, ..a.clone() } == *b,
        (a, b) => a == b,
    }
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
    sframe: SFrameKeys,
    /// The participant's generation the SFrame keys were copied at.
    sframe_generation: u64,
    /// The ratchet window a receiver set on its copy of the SFrame keys.
    sframe_window: u32,
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
            sframe: SFrameKeys::new(SFrameRules::default()),
            sframe_generation: 0,
            sframe_window: 0,
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
            && let KeyRules::Frame(rules) = &keys.rules
            && let Ok(ctx) = Context::with_rules(keys.ring.mode(), rules.clone())
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

    /// The SFrame keys to process a frame with, after taking in what the application
    /// changed since the last frame. Any change replaces the whole copy (key sets are
    /// small): a ratchet this element followed by itself is followed again, once.
    pub fn sframe(&mut self) -> &mut SFrameKeys {
        self.refresh_sframe();
        &mut self.sframe
    }

    /// [`sframe`](Self::sframe) as a receiver uses them: the participant's ratchet steps
    /// followed at most `window` steps, set when the copy is made or the window changes.
    pub fn sframe_receiving(&mut self, window: u32) -> &mut SFrameKeys {
        if self.refresh_sframe() || self.sframe_window != window {
            let ratchet = self.sframe.keys.ratchet_config().map(|ratchet| Ratchet { window, ..ratchet });
            let _ = self.sframe.keys.set_ratchet(ratchet);
            self.sframe_window = window;
        }
        &mut self.sframe
    }

    /// Copies the participant's SFrame keys if they changed; `true` when it did.
    fn refresh_sframe(&mut self) -> bool {
        if self.participant.generation.load(Ordering::Acquire) == self.sframe_generation {
            return false;
        }
        let keys = lock(&self.participant.keys);
        self.sframe = keys.sframe.clone();
        self.sframe_generation = keys.generation;
        true
    }

    /// The verification code of the current key as this element uses it (after any
    /// ratchet it followed).
    pub fn verification_code(&self) -> Option<VerificationCode> {
        match self.participant.rules() {
            KeyRules::Frame(_) => current_code(self.ctx.keys()),
            KeyRules::SFrame(_) => self.participant.verification_code(),
        }
    }
}

/// The key a passphrase stands for, its SHA-256, leaving no unwiped copy behind (the
/// caller wipes the passphrase, sha2's `zeroize` feature the hasher state).
pub fn passphrase_key(passphrase: &[u8]) -> Secret {
    let mut hasher = Sha256::new();
    hasher.update(passphrase);
    let mut key = Zeroizing::new([0u8; 32]);
    hasher.finalize_into((&mut *key).into());
    Secret::new(key.to_vec())
}
