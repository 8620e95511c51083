//! The keys of one party, by KID (any 64-bit value, as many as needed), and the
//! optional ratchet of RFC 9605 §5.1.

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::aead::Aead;
use super::error::KeyError;
use super::kdf::{Secret, derive_key, ratchet_base_key};
use super::suite::{CipherSuite, NONCE_LEN};

/// How KIDs carry ratchet steps (§5.1): `KID = generation << step_bits | step`, the step
/// counted modulo `2^step_bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratchet {
    /// R: bits of the KID that hold the step (1 to 63).
    pub step_bits: u8,
    /// How many steps ahead of a known key of the same generation a receiver follows
    /// by itself (0: never).
    pub window: u32,
}

impl Ratchet {
    fn mask(self) -> u64 {
        (1u64 << self.step_bits) - 1
    }

    fn generation(self, kid: u64) -> u64 {
        kid >> self.step_bits
    }

    /// The KID one step after `kid`, in the same generation.
    pub fn next_kid(self, kid: u64) -> u64 {
        (kid & !self.mask()) | (kid.wrapping_add(1) & self.mask())
    }

    /// Steps from `from` to `to` (same generation), modulo 2^R.
    fn steps(self, from: u64, to: u64) -> u64 {
        to.wrapping_sub(from) & self.mask()
    }
}

/// One usable key: its base key (to ratchet), the AEAD keyed with `sframe_key`, the
/// salt, and the last CTR encrypted under it.
#[derive(Clone)]
pub(crate) struct KidKey {
    base_key: Secret,
    pub(crate) aead: Aead,
    pub(crate) salt: Zeroizing<[u8; NONCE_LEN]>,
    pub(crate) last_sent_ctr: Option<u64>,
}

impl KidKey {
    fn new(suite: CipherSuite, kid: u64, base_key: Secret) -> KidKey {
        let derived = derive_key(suite, kid, &base_key);
        match Aead::new(suite, &derived.key) {
            Ok(aead) => KidKey { base_key, aead, salt: derived.salt, last_sent_ctr: None },
            Err(e) => unreachable!("a derived key has the suite's length: {e}"),
        }
    }

    /// The key `steps` ratchets on, for `kid`.
    fn ratcheted(&self, suite: CipherSuite, kid: u64, steps: u64) -> KidKey {
        let mut base_key = ratchet_base_key(suite, &self.base_key);
        for _ in 1..steps {
            base_key = ratchet_base_key(suite, &base_key);
        }
        KidKey::new(suite, kid, base_key)
    }
}

/// The keys of one cipher suite, by KID. Its Debug lists the suite and the KIDs only.
#[derive(Clone)]
pub struct KeySet {
    suite: CipherSuite,
    ratchet: Option<Ratchet>,
    pub(crate) keys: HashMap<u64, KidKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<u64> = self.kids().collect();
        kids.sort_unstable();
        f.debug_struct("KeySet")
            .field("suite", &self.suite)
            .field("ratchet", &self.ratchet)
            .field("kids", &kids)
            .finish()
    }
}

impl KeySet {
    pub fn new(suite: CipherSuite) -> KeySet {
        KeySet { suite, ratchet: None, keys: HashMap::new() }
    }

    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    pub fn ratchet_config(&self) -> Option<Ratchet> {
        self.ratchet
    }

    /// Makes KIDs carry ratchet steps (§5.1), or not (`None`, the default).
    pub fn set_ratchet(&mut self, ratchet: Option<Ratchet>) -> Result<(), KeyError> {
        if let Some(Ratchet { step_bits, .. }) = ratchet
            && !(1..=63).contains(&step_bits)
        {
            return Err(KeyError::BadRatchetBits(step_bits));
        }
        self.ratchet = ratchet;
        Ok(())
    }

    /// Installs `base_key` under `kid` (replacing the key there). Derives its key and salt.
    pub fn insert(&mut self, kid: u64, base_key: &[u8]) -> Result<(), KeyError> {
        if base_key.is_empty() {
            return Err(KeyError::EmptyBaseKey);
        }
        let entry = KidKey::new(self.suite, kid, Zeroizing::new(base_key.to_vec()));
        self.keys.insert(kid, entry);
        Ok(())
    }

    /// Removes the key of `kid`; false if there was none.
    pub fn remove(&mut self, kid: u64) -> bool {
        self.keys.remove(&kid).is_some()
    }

    pub fn clear(&mut self) {
        self.keys.clear();
    }

    pub fn contains(&self, kid: u64) -> bool {
        self.keys.contains_key(&kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A sender's ratchet: replaces the key of `kid` by the next base key, installed
    /// under the next step's KID, which it returns. The old key is dropped (forward
    /// secrecy is the point of ratcheting); receivers keep it a while by themselves.
    pub fn ratchet(&mut self, kid: u64) -> Result<u64, KeyError> {
        let ratchet = self.ratchet.ok_or(KeyError::NoRatchet)?;
        let old = self.keys.get(&kid).ok_or(KeyError::NoKey { kid })?;
        let next_kid = ratchet.next_kid(kid);
        let next = old.ratcheted(self.suite, next_kid, 1);
        self.keys.remove(&kid);
        self.keys.insert(next_kid, next);
        Ok(next_kid)
    }

    /// For a KID with no key: the key a receiver reaches by ratcheting the nearest known
    /// earlier step of the same generation, within the window, with the steps it took.
    pub(crate) fn ratchet_candidate(&self, kid: u64) -> Option<(KidKey, u32)> {
        let ratchet = self.ratchet?;
        let window = u64::from(ratchet.window);
        let (from, steps) = self
            .keys
            .keys()
            .filter(|&&known| ratchet.generation(known) == ratchet.generation(kid))
            .map(|&known| (known, ratchet.steps(known, kid)))
            .filter(|&(_, steps)| (1..=window).contains(&steps))
            .min_by_key(|&(_, steps)| steps)?;
        let candidate = self.keys.get(&from)?.ratcheted(self.suite, kid, steps);
        Some((candidate, steps as u32))
    }

    /// Installs a key the receiver ratcheted to, once it authenticated a frame. Of its
    /// generation it keeps the new key and the one it was ratcheted from (frames still in
    /// flight), no other.
    pub(crate) fn commit_ratchet(&mut self, kid: u64, key: KidKey, steps: u32) {
        if let Some(ratchet) = self.ratchet {
            let previous = kid.wrapping_sub(u64::from(steps)) & ratchet.mask() | (kid & !ratchet.mask());
            self.keys.retain(|&known, _| known == previous || ratchet.generation(known) != ratchet.generation(kid));
        }
        self.keys.insert(kid, key);
    }
}
