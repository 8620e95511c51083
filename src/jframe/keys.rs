//! Key derivation, the ratchet and the key ring.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::cipher::{BadKeyLength, FrameCipher};

/// Number of key slots; a key index selects slot `index % KEY_RING_SIZE`.
pub const KEY_RING_SIZE: usize = 16;

/// Key bytes that are wiped from memory when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// How the bytes given for a key become an AES key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyMode {
    /// Key material: HKDF-SHA256 gives the AES-128 key, and the material can be
    /// ratcheted (the reference's managed mode).
    #[default]
    Derived,
    /// An AES-128 or AES-256 key used as given: no derivation, no ratchet (the
    /// reference's externally managed, shared-key mode).
    Raw,
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
        }
    }
}

impl std::error::Error for KeyError {}

const JFRAME_KEY_SALT: &[u8] = b"JFrameEncryptionKey";
const JFRAME_RATCHET_SALT: &[u8] = b"JFrameRatchetKey";
const AES_KEY_LEN: usize = 16;
const RATCHET_LEN: usize = 32;

fn hkdf_sha256(salt: &[u8], material: &[u8], len: usize) -> Secret {
    let mut out = Zeroizing::new(vec![0u8; len]);
    // Lengths up to 255 * 32 bytes cannot fail; ours are 16 and 32.
    if Hkdf::<Sha256>::new(Some(salt), material).expand(&[], &mut out).is_err() {
        unreachable!("HKDF-SHA256 output of {len} bytes");
    }
    out
}

/// The AES-128 key of a key material: HKDF-SHA256, salt `JFrameEncryptionKey`, no info.
pub fn derive_aes_key(material: &[u8]) -> Secret {
    hkdf_sha256(JFRAME_KEY_SALT, material, AES_KEY_LEN)
}

/// The next material of the ratchet: HKDF-SHA256, salt `JFrameRatchetKey`, 32 bytes.
pub fn ratchet(material: &[u8]) -> Secret {
    hkdf_sha256(JFRAME_RATCHET_SALT, material, RATCHET_LEN)
}

/// One usable key: the cipher, and the material it came from when it can ratchet.
pub(crate) struct Key {
    material: Option<Secret>,
    pub(crate) cipher: FrameCipher,
}

impl Key {
    fn from_material(material: Secret) -> Key {
        let aes_key = derive_aes_key(&material);
        match FrameCipher::new(&aes_key) {
            Ok(cipher) => Key { material: Some(material), cipher },
            Err(BadKeyLength(_)) => unreachable!("HKDF gives a 16-byte AES key"),
        }
    }

    fn new(mode: KeyMode, bytes: &[u8]) -> Result<Key, KeyError> {
        match mode {
            KeyMode::Derived if bytes.is_empty() => Err(KeyError::EmptyMaterial),
            KeyMode::Derived => Ok(Key::from_material(Zeroizing::new(bytes.to_vec()))),
            KeyMode::Raw => FrameCipher::new(bytes)
                .map(|cipher| Key { material: None, cipher })
                .map_err(|BadKeyLength(n)| KeyError::BadRawKeyLength(n)),
        }
    }

    /// The same key, derived anew (ciphers are not shared between rings).
    fn copy(&self) -> Option<Key> {
        match &self.material {
            Some(material) => Some(Key::from_material(material.clone())),
            None => FrameCipher::new(self.cipher.key()).ok().map(|cipher| Key { material: None, cipher }),
        }
    }

    fn ratcheted(&self) -> Option<Key> {
        self.material.as_ref().map(|m| Key::from_material(ratchet(m)))
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
    pub(crate) fn ahead(&mut self, steps: usize) -> Option<&Key> {
        while self.ahead.len() < steps {
            let next = self.ahead.last().unwrap_or(&self.key).ratcheted()?;
            self.ahead.push(next);
        }
        self.ahead.get(steps - 1)
    }

    /// Makes the key `steps` ratchets ahead (already derived by `ahead`) the slot's key.
    pub(crate) fn advance(&mut self, steps: usize) {
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

/// The key ring: `KEY_RING_SIZE` slots and the current one, which senders use.
pub struct KeyRing {
    mode: KeyMode,
    slots: Vec<Option<Slot>>,
    current: Option<u8>,
}

impl KeyRing {
    pub fn new(mode: KeyMode) -> KeyRing {
        KeyRing {
            mode,
            slots: (0..KEY_RING_SIZE).map(|_| None).collect(),
            current: None,
        }
    }

    pub fn mode(&self) -> KeyMode {
        self.mode
    }

    /// Slot of a key index, as the sender computes it.
    pub fn slot_of(index: u32) -> u8 {
        (index % KEY_RING_SIZE as u32) as u8
    }

    /// Installs a key at `index` (slot `index % 16`) and makes that slot current.
    /// On error nothing changes.
    pub fn set_key(&mut self, index: u32, bytes: &[u8]) -> Result<(), KeyError> {
        let key = Key::new(self.mode, bytes)?;
        let slot = Self::slot_of(index);
        self.slots[usize::from(slot)] = Some(Slot::new(key));
        self.current = Some(slot);
        Ok(())
    }

    /// Empties the slot of `index` and makes it current, as the reference's
    /// `setKey(false, index)`: a sender then drops frames, receivers drop its frames.
    pub fn disable_key(&mut self, index: u32) {
        let slot = Self::slot_of(index);
        self.slots[usize::from(slot)] = None;
        self.current = Some(slot);
    }

    /// Empties every slot.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.current = None;
    }

    /// Gives slot `slot` the key `from` has there (or empties it); the current slot
    /// stays as it is.
    pub fn copy_slot(&mut self, from: &KeyRing, slot: u8) {
        let key = from.slots.get(usize::from(slot)).and_then(Option::as_ref).and_then(|s| s.key.copy());
        if let Some(target) = self.slots.get_mut(usize::from(slot)) {
            *target = key.map(Slot::new);
        }
    }

    /// Makes `slot` the current slot (`None`: no current slot).
    pub fn set_current(&mut self, slot: Option<u8>) {
        self.current = slot.filter(|&s| usize::from(s) < KEY_RING_SIZE);
    }

    /// Ratchets the current key in place (same index), as a sender does when someone joins.
    pub fn ratchet_current(&mut self) -> Result<(), KeyError> {
        let slot = self.current_slot_mut().ok_or(KeyError::NoCurrentKey)?;
        slot.ahead(1).ok_or(KeyError::CannotRatchetRawKey)?;
        slot.advance(1);
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

    fn current_slot_mut(&mut self) -> Option<&mut Slot> {
        let index = self.current?;
        self.slots.get_mut(usize::from(index))?.as_mut()
    }

    /// The slot a received key index names, used as is: 16 and above name no slot.
    pub(crate) fn slot_mut(&mut self, kid: u8) -> Option<&mut Option<Slot>> {
        self.slots.get_mut(usize::from(kid))
    }

    /// Whether slot `index` holds a key.
    pub fn has_key(&self, index: u8) -> bool {
        matches!(self.slots.get(usize::from(index)), Some(Some(_)))
    }

    /// The material of slot `index` (derived mode), as it is after any ratchets.
    pub fn material(&self, index: u8) -> Option<&[u8]> {
        self.slots.get(usize::from(index))?.as_ref()?.key.material.as_ref().map(|m| m.as_slice())
    }

    /// The AES key of slot `index`.
    pub fn aes_key(&self, index: u8) -> Option<&[u8]> {
        Some(self.slots.get(usize::from(index))?.as_ref()?.key.cipher.key())
    }
}
