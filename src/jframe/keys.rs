//! Key derivation, the ratchet and the key ring.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::cipher::{BadKeyLength, FrameCipher};
use super::rules::{KeyDerivation, Rules};

/// Number of key slots of a JFrame ring; a key index selects slot `index % KEY_RING_SIZE`.
pub const KEY_RING_SIZE: usize = 16;

/// Key bytes that are wiped from memory when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// How the bytes given for a key become an AES key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyMode {
    /// Key material: a KDF gives the AES key, and the material can be ratcheted (the
    /// reference's managed mode; LiveKit's keys).
    #[default]
    Derived,
    /// An AES-128 or AES-256 key used as given: no derivation, no ratchet (the
    /// reference's externally managed, shared-key mode).
    Raw,
}

/// The KDF a key's material goes through, for its AES key and its ratchet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// HKDF-SHA256: key bytes.
    Hkdf,
    /// PBKDF2-HMAC-SHA256: a passphrase (LiveKit).
    Pbkdf2,
}

/// A key that cannot be installed or ratcheted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Empty key material.
    EmptyMaterial,
    /// A raw AES key must be 16 or 32 bytes.
    BadRawKeyLength(usize),
    /// Ratchet asked for with no current key.
    NoCurrentKey,
    /// Raw keys have no material to ratchet.
    CannotRatchetRawKey,
    /// A ratchet asked for at a key index whose slot holds no key.
    NoKeyAtIndex(u32),
    /// A passphrase or derived key given to a key ring of raw AES keys.
    NeedsDerivedMode,
    /// A derived key installed in a key ring of another key derivation.
    OtherDerivation,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::EmptyMaterial => write!(f, "key material is empty"),
            KeyError::BadRawKeyLength(n) => {
                write!(f, "a raw AES key must be 16 or 32 bytes, got {n}")
            }
            KeyError::NoCurrentKey => write!(f, "there is no current key to ratchet"),
            KeyError::CannotRatchetRawKey => write!(f, "a raw AES key cannot be ratcheted"),
            KeyError::NoKeyAtIndex(i) => write!(f, "there is no key at key index {i} to ratchet"),
            KeyError::NeedsDerivedMode => write!(f, "a key ring of raw AES keys takes no derived keys"),
            KeyError::OtherDerivation => write!(f, "the key was derived for another key derivation"),
        }
    }
}

impl std::error::Error for KeyError {}

pub(crate) const JFRAME_KEY_SALT: &[u8] = b"JFrameEncryptionKey";
pub(crate) const JFRAME_RATCHET_SALT: &[u8] = b"JFrameRatchetKey";
const JFRAME_AES_KEY_LEN: usize = 16;
const RATCHET_LEN: usize = 32;

fn hkdf_sha256(salt: &[u8], info: &[u8], material: &[u8], len: usize) -> Secret {
    let mut out = Zeroizing::new(vec![0u8; len]);
    // Lengths up to 255 * 32 bytes cannot fail; ours are 16 and 32.
    if Hkdf::<Sha256>::new(Some(salt), material).expand(info, &mut out).is_err() {
        unreachable!("HKDF-SHA256 output of {len} bytes");
    }
    out
}

/// The AES-128 key of a key material: HKDF-SHA256, salt `JFrameEncryptionKey`, no info.
pub fn derive_aes_key(material: &[u8]) -> Secret {
    hkdf_sha256(JFRAME_KEY_SALT, &[], material, JFRAME_AES_KEY_LEN)
}

/// The next material of the ratchet: HKDF-SHA256, salt `JFrameRatchetKey`, 32 bytes.
pub fn ratchet(material: &[u8]) -> Secret {
    hkdf_sha256(JFRAME_RATCHET_SALT, &[], material, RATCHET_LEN)
}

impl KeyDerivation {
    fn derive(&self, kdf: Kdf, salt: &[u8], material: &[u8], len: usize) -> Secret {
        match kdf {
            Kdf::Hkdf => hkdf_sha256(salt, &self.hkdf_info, material, len),
            Kdf::Pbkdf2 => {
                let mut out = Zeroizing::new(vec![0u8; len]);
                pbkdf2::pbkdf2_hmac::<Sha256>(material, salt, self.pbkdf2_iterations, &mut out);
                out
            }
        }
    }

    /// The AES key of a material.
    pub fn aes_key(&self, kdf: Kdf, material: &[u8]) -> Secret {
        self.derive(kdf, &self.key_salt, material, self.key_size.bytes())
    }

    /// The material one ratchet after `material` (32 bytes, same KDF).
    pub fn ratchet(&self, kdf: Kdf, material: &[u8]) -> Secret {
        self.derive(kdf, &self.ratchet_salt, material, RATCHET_LEN)
    }

    /// Derives the key of `source`: HKDF material for key bytes, a PBKDF2 password for a
    /// passphrase.
    pub fn derive_key(&self, source: KeySource<'_>) -> Result<DerivedKey, KeyError> {
        let (kdf, bytes) = match source {
            KeySource::Bytes(bytes) => (Kdf::Hkdf, bytes),
            KeySource::Passphrase(bytes) => (Kdf::Pbkdf2, bytes),
        };
        if bytes.is_empty() {
            return Err(KeyError::EmptyMaterial);
        }
        let (material, aes_key) = self.derive_material(kdf, Zeroizing::new(bytes.to_vec()));
        Ok(DerivedKey { derivation: self.clone(), material, aes_key })
    }

    fn derive_material(&self, kdf: Kdf, bytes: Secret) -> (Material, Secret) {
        let key_len = self.key_size.bytes();
        // With one salt for both (LiveKit), the AES key is the start of the next material
        // (both KDFs give prefixes of their longer outputs): one derivation gives both.
        if self.key_salt == self.ratchet_salt && key_len <= RATCHET_LEN {
            let next = self.ratchet(kdf, &bytes);
            let aes_key = Zeroizing::new(next[..key_len].to_vec());
            (Material { kdf, bytes, next: Some(next) }, aes_key)
        } else {
            let aes_key = self.aes_key(kdf, &bytes);
            (Material { kdf, bytes, next: None }, aes_key)
        }
    }
}

/// Where a key comes from.
#[derive(Clone, Copy, Debug)]
pub enum KeySource<'a> {
    /// Key bytes: HKDF material in derived mode, the AES key itself in raw mode.
    Bytes(&'a [u8]),
    /// A passphrase (its bytes are the PBKDF2 password); derived mode only.
    Passphrase(&'a [u8]),
}

#[derive(Clone)]
struct Material {
    kdf: Kdf,
    bytes: Secret,
    /// The material one ratchet on, when the AES key's derivation gave it too.
    next: Option<Secret>,
}

/// A key derived once, to install in any key ring of the same derivation without
/// deriving again (see [`KeyRing::store_derived_key`]): a passphrase costs 100 000
/// PBKDF2 rounds, so derive it once, away from the streaming thread.
#[derive(Clone)]
pub struct DerivedKey {
    derivation: KeyDerivation,
    material: Material,
    aes_key: Secret,
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKey").field("kdf", &self.material.kdf).finish_non_exhaustive()
    }
}

/// One usable key: the cipher, and the material it came from when it can ratchet.
pub(crate) struct Key {
    material: Option<Material>,
    pub(crate) cipher: FrameCipher,
}

impl Key {
    fn from_material(material: Material, aes_key: &[u8]) -> Key {
        match FrameCipher::new(aes_key) {
            Ok(cipher) => Key { material: Some(material), cipher },
            Err(BadKeyLength(n)) => unreachable!("key sizes are 16 or 32 bytes, not {n}"),
        }
    }

    fn raw(aes_key: &[u8]) -> Result<Key, KeyError> {
        FrameCipher::new(aes_key)
            .map(|cipher| Key { material: None, cipher })
            .map_err(|BadKeyLength(n)| KeyError::BadRawKeyLength(n))
    }

    /// The same key with a cipher of its own (ciphers are not shared between rings).
    fn copy(&self) -> Option<Key> {
        let cipher = FrameCipher::new(self.cipher.key()).ok()?;
        Some(Key { material: self.material.clone(), cipher })
    }

    fn ratcheted(&self, derivation: &KeyDerivation) -> Option<Key> {
        let material = self.material.as_ref()?;
        let next = match &material.next {
            Some(next) => next.clone(),
            None => derivation.ratchet(material.kdf, &material.bytes),
        };
        let (next, aes_key) = derivation.derive_material(material.kdf, next);
        Some(Key::from_material(next, &aes_key))
    }
}

/// A filled slot: its key, and the keys a ratchet ahead of it, derived once when a
/// frame first needs them so that later failures cost no key derivation.
pub(crate) struct Slot {
    pub(crate) key: Key,
    ahead: Vec<Key>,
}

impl Slot {
    fn new(key: Key) -> Slot {
        Slot { key, ahead: Vec::new() }
    }

    /// The key `steps` (≥ 1) ratchets ahead, or `None` for a raw key.
    fn ahead(&mut self, steps: usize, derivation: &KeyDerivation) -> Option<&Key> {
        while self.ahead.len() < steps {
            let next = self.ahead.last().unwrap_or(&self.key).ratcheted(derivation)?;
            self.ahead.push(next);
        }
        self.ahead.get(steps - 1)
    }

    /// Makes the key `steps` ratchets ahead (already derived by `ahead`) the slot's key.
    fn advance(&mut self, steps: usize) {
        if steps == 0 || steps > self.ahead.len() {
            return;
        }
        let mut rest = self.ahead.split_off(steps);
        std::mem::swap(&mut rest, &mut self.ahead);
        // `rest` now holds the keys up to the new one; the last of them is it.
        if let Some(key) = rest.pop() {
            self.key = key;
        }
    }
}

/// The key ring: its slots, the current one (which senders use), and per slot the
/// receiver's count of failures since its last key or success.
pub struct KeyRing {
    mode: KeyMode,
    derivation: KeyDerivation,
    slots: Vec<Option<Slot>>,
    failures: Vec<u32>,
    current: Option<u8>,
}

impl KeyRing {
    /// A JFrame key ring of `KEY_RING_SIZE` slots.
    pub fn new(mode: KeyMode) -> KeyRing {
        let rules = Rules::jframe();
        KeyRing::with_valid_rules(mode, &rules)
    }

    /// A key ring with the key derivation and size of `rules`, which must be valid.
    pub(crate) fn with_valid_rules(mode: KeyMode, rules: &Rules) -> KeyRing {
        KeyRing {
            mode,
            derivation: rules.key_derivation.clone(),
            slots: (0..rules.key_ring_size).map(|_| None).collect(),
            failures: vec![0; rules.key_ring_size],
            current: None,
        }
    }

    pub fn mode(&self) -> KeyMode {
        self.mode
    }

    pub fn derivation(&self) -> &KeyDerivation {
        &self.derivation
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Slot of a key index in a ring of `KEY_RING_SIZE` slots, as a JFrame sender computes it.
    pub fn slot_of(index: u32) -> u8 {
        (index % KEY_RING_SIZE as u32) as u8
    }

    /// Slot of a key index in this ring.
    pub fn slot_for(&self, index: u32) -> u8 {
        // The size is 1..=256, so the slot fits a byte.
        (index % self.slots.len() as u32) as u8
    }

    /// Installs a key at `index` (slot `index % size`) and makes that slot current.
    /// On error nothing changes.
    pub fn set_key(&mut self, index: u32, bytes: &[u8]) -> Result<(), KeyError> {
        self.store_key(index, KeySource::Bytes(bytes), true)
    }

    /// Installs a key derived from a passphrase (PBKDF2) at `index` and makes it current.
    pub fn set_passphrase(&mut self, index: u32, passphrase: &[u8]) -> Result<(), KeyError> {
        self.store_key(index, KeySource::Passphrase(passphrase), true)
    }

    /// Installs a key at `index`. Making it current also forgets the failures counted
    /// for its slot; otherwise the current slot stays (LiveKit's
    /// `updateCurrentKeyIndex: false`). On error nothing changes.
    pub fn store_key(&mut self, index: u32, source: KeySource<'_>, make_current: bool) -> Result<(), KeyError> {
        let key = match (self.mode, source) {
            (KeyMode::Raw, KeySource::Bytes(aes_key)) => Key::raw(aes_key)?,
            (KeyMode::Raw, KeySource::Passphrase(_)) => return Err(KeyError::NeedsDerivedMode),
            (KeyMode::Derived, source) => {
                let key = self.derivation.derive_key(source)?;
                Key::from_material(key.material, &key.aes_key)
            }
        };
        self.install(index, key, make_current);
        Ok(())
    }

    /// Installs a key derived beforehand, as [`store_key`](Self::store_key) does.
    pub fn store_derived_key(&mut self, index: u32, key: &DerivedKey, make_current: bool) -> Result<(), KeyError> {
        if self.mode == KeyMode::Raw {
            return Err(KeyError::NeedsDerivedMode);
        }
        if key.derivation != self.derivation {
            return Err(KeyError::OtherDerivation);
        }
        self.install(index, Key::from_material(key.material.clone(), &key.aes_key), make_current);
        Ok(())
    }

    fn install(&mut self, index: u32, key: Key, make_current: bool) {
        let slot = self.slot_for(index);
        self.slots[usize::from(slot)] = Some(Slot::new(key));
        if make_current {
            self.make_current(slot);
        }
    }

    /// Empties the slot of `index` and makes it current, as the reference's
    /// `setKey(false, index)`: a sender then drops frames, receivers drop its frames.
    pub fn disable_key(&mut self, index: u32) {
        let slot = self.slot_for(index);
        self.slots[usize::from(slot)] = None;
        self.current = Some(slot);
    }

    /// Empties every slot.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.failures.iter_mut().for_each(|n| *n = 0);
        self.current = None;
    }

    /// Gives slot `slot` the key `from` has there (or empties it) and forgets the failures
    /// counted for it, as setting a key does; the current slot stays as it is.
    pub fn copy_slot(&mut self, from: &KeyRing, slot: u8) {
        let key = from.slots.get(usize::from(slot)).and_then(Option::as_ref).and_then(|s| s.key.copy());
        if let Some(target) = self.slots.get_mut(usize::from(slot)) {
            *target = key.map(Slot::new);
            self.reset_failures(slot);
        }
    }

    /// Makes `slot` the current slot (`None`: no current slot).
    pub fn set_current(&mut self, slot: Option<u8>) {
        self.current = slot.filter(|&s| usize::from(s) < self.slots.len());
    }

    /// Ratchets the current key in place (same index), as a sender does when someone joins.
    pub fn ratchet_current(&mut self) -> Result<(), KeyError> {
        let slot = self.current.filter(|&s| self.has_key(s)).ok_or(KeyError::NoCurrentKey)?;
        self.ratchet_slot(slot)
    }

    /// Ratchets the key at `index` in place and makes its slot current, forgetting every
    /// failure counted (LiveKit's ratchet request).
    pub fn ratchet_key(&mut self, index: u32) -> Result<(), KeyError> {
        let slot = self.slot_for(index);
        if !self.has_key(slot) {
            return Err(KeyError::NoKeyAtIndex(index));
        }
        self.ratchet_slot(slot)?;
        self.current = Some(slot);
        self.failures.iter_mut().for_each(|n| *n = 0);
        Ok(())
    }

    /// Ratchets the key of a filled slot in place.
    fn ratchet_slot(&mut self, slot: u8) -> Result<(), KeyError> {
        let Some(Some(filled)) = self.slots.get_mut(usize::from(slot)) else {
            return Err(KeyError::NoCurrentKey);
        };
        filled.ahead(1, &self.derivation).ok_or(KeyError::CannotRatchetRawKey)?;
        filled.advance(1);
        Ok(())
    }

    /// The current slot index, if a slot was ever made current.
    pub fn current_index(&self) -> Option<u8> {
        self.current
    }

    pub(crate) fn current_slot(&self) -> Option<(u8, &Slot)> {
        let index = self.current?;
        self.slots.get(usize::from(index))?.as_ref().map(|s| (index, s))
    }

    /// Makes `slot` current and forgets the failures counted for it.
    pub(crate) fn make_current(&mut self, slot: u8) {
        self.current = Some(slot);
        self.reset_failures(slot);
    }

    /// Whether slot `index` holds a key.
    pub fn has_key(&self, index: u8) -> bool {
        matches!(self.slots.get(usize::from(index)), Some(Some(_)))
    }

    /// Whether a received key index names a slot of this ring (it is used as is: not
    /// reduced modulo the size).
    pub fn names_slot(&self, kid: u8) -> bool {
        usize::from(kid) < self.slots.len()
    }

    /// Tries the key of slot `kid`, then the keys 1 to `max_steps` ratchets ahead of it,
    /// until `opens` accepts one; the slot keeps the key that worked. Returns the ratchet
    /// steps it took, or `None` if no key worked (or the slot is empty).
    pub(crate) fn find_key(
        &mut self,
        kid: u8,
        max_steps: usize,
        mut opens: impl FnMut(&FrameCipher) -> bool,
    ) -> Option<usize> {
        let slot = self.slots.get_mut(usize::from(kid))?.as_mut()?;
        if opens(&slot.key.cipher) {
            return Some(0);
        }
        for steps in 1..=max_steps {
            let key = slot.ahead(steps, &self.derivation)?;
            if opens(&key.cipher) {
                slot.advance(steps);
                return Some(steps);
            }
        }
        None
    }

    /// The material of slot `index` (derived mode), as it is after any ratchets.
    pub fn material(&self, index: u8) -> Option<&[u8]> {
        self.slots.get(usize::from(index))?.as_ref()?.key.material.as_ref().map(|m| m.bytes.as_slice())
    }

    /// The AES key of slot `index`.
    pub fn aes_key(&self, index: u8) -> Option<&[u8]> {
        Some(self.slots.get(usize::from(index))?.as_ref()?.key.cipher.key())
    }

    /// Failures counted for slot `index` since its last key, success or ratchet request
    /// (only counted when the rules have a failure tolerance).
    pub fn failure_count(&self, index: u8) -> u32 {
        self.failures.get(usize::from(index)).copied().unwrap_or(0)
    }

    /// Counts a failure for a received key index; indexes beyond the ring count nothing.
    pub(crate) fn count_failure(&mut self, kid: u8) {
        if let Some(n) = self.failures.get_mut(usize::from(kid)) {
            *n = n.saturating_add(1);
        }
    }

    pub(crate) fn reset_failures(&mut self, kid: u8) {
        if let Some(n) = self.failures.get_mut(usize::from(kid)) {
            *n = 0;
        }
    }
}
