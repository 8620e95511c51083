//! A participant's SFrame keys (RFC 9605): a key set of one cipher suite by KID, the KID
//! its sender writes, and the rules they follow.

use super::KeyError;
use crate::jframe::verification::VerificationCode;
use crate::sframe::{self, CipherSuite, KeySet, Ratchet};

/// What a participant's SFrame keys follow: the cipher suite, and how many low bits of a
/// KID count ratchet steps (RFC 9605 §5.1; 0: the keys never ratchet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SFrameRules {
    pub suite: CipherSuite,
    pub ratchet_bits: u8,
}

impl Default for SFrameRules {
    fn default() -> SFrameRules {
        SFrameRules { suite: CipherSuite::AesGcm128Sha256, ratchet_bits: 0 }
    }
}

impl SFrameRules {
    /// The ratchet of these rules, with a receiver's `window`; `None` without one.
    pub fn ratchet(&self, window: u32) -> Option<Ratchet> {
        (self.ratchet_bits > 0).then_some(Ratchet { step_bits: self.ratchet_bits, window })
    }

    pub fn validate(&self) -> Result<(), sframe::KeyError> {
        match self.ratchet_bits {
            0..=63 => Ok(()),
            bits => Err(sframe::KeyError::BadRatchetBits(bits)),
        }
    }
}

/// The SFrame keys of one participant (or an element's working copy of them).
#[derive(Clone, Debug)]
pub struct SFrameKeys {
    pub keys: KeySet,
    /// The KID a sender encrypts under: the last one set, moved on by a ratchet.
    pub current: Option<u64>,
    /// The verification code of the current key, computed when it was set (a ratchet
    /// changes the key, and the code with it).
    pub code: Option<VerificationCode>,
}

impl SFrameKeys {
    /// An empty key set under `rules` (which are valid).
    pub fn new(rules: SFrameRules) -> SFrameKeys {
        let mut keys = KeySet::new(rules.suite);
        let _ = keys.set_ratchet(rules.ratchet(0));
        SFrameKeys { keys, current: None, code: None }
    }

    /// Installs `base_key` under `kid` and makes it current.
    pub fn set(&mut self, kid: u64, base_key: &[u8]) -> Result<(), KeyError> {
        self.keys.insert(kid, base_key)?;
        self.current = Some(kid);
        self.code = Some(VerificationCode::of_key(base_key));
        Ok(())
    }

    /// A sender's ratchet of the current key: the next base key under the next KID.
    pub fn ratchet(&mut self) -> Result<u64, KeyError> {
        let kid = self.current.ok_or(KeyError::JFrame(crate::jframe::KeyError::NoCurrentKey))?;
        let next = self.keys.ratchet(kid)?;
        self.current = Some(next);
        self.code = None;
        Ok(next)
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.current = None;
        self.code = None;
    }
}
