//! The properties `jframeenc` and `jframedec` share: their specs, and how they are set
//! and read.

use glib::prelude::*;
use gst::prelude::*;

use super::keying::{KEY_INDEX_MAX, KeyInput, Keying, buffer_bytes, current_key};
use super::stats::STATS_NAME;
use crate::jframe::{LIVEKIT_DEFAULT_FAILURE_TOLERANCE, MAX_KEY_RING_SIZE, Secret};
use crate::keystore::code_text;
use crate::keystore::settings::{
    CipherSuiteSetting, DEFAULT_KEY_RING_SIZE, FormatSetting, KeyModeSetting, KeySizeSetting, MAX_SFRAME_RATCHET_BITS,
    default_ratchet_salt,
};
use crate::sync::lock;

impl Keying {
    /// The properties both elements have.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecBoxed::builder::<gst::Buffer>("key")
                .nick("Key")
                .blurb(
                    "Key material (key-mode=hkdf; format=livekit: its HKDF with ratchet-salt) or AES-128/256 \
                        key (key-mode=raw), installed at key-index and made current; hex on the command line. \
                        Write-only",
                )
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("passphrase")
                .nick("Passphrase")
                .blurb(
                    "Sets the key from this UTF-8 passphrase: format=jitsi: key material = its SHA-256 (as the \
                        key property); format=livekit: PBKDF2-HMAC-SHA256 with ratchet-salt, 100000 rounds (derived \
                        when the element starts, or at once while playing, never per frame). Write-only",
                )
                .write_only()
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("key-index")
                .nick("Key index")
                .blurb(
                    "Index the key property is installed at (slot = index mod 16, format=livekit: mod \
                        key-ring-size); the KID senders write. format=sframe uses kid instead",
                )
                .maximum(KEY_INDEX_MAX)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("kid")
                .nick("SFrame KID")
                .blurb(
                    "format=sframe: the key ID (any 64-bit value) the key property is installed under and \
                        made current; the KID senders write in the SFrame header",
                )
                .mutable_playing()
                .build(),
            glib::ParamSpecEnum::builder::<KeyModeSetting>("key-mode")
                .nick("Key mode")
                .blurb(
                    "How the keys this element installs become AES keys; a key of another mode than the \
                        participant's current keys replaces them all",
                )
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("participant")
                .nick("Participant")
                .blurb(
                    "Participant (in the key store) whose keys this element's key properties and signals \
                        set and, unless an SSRC is mapped to another, uses for frames",
                )
                .default_value(Some(""))
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<FormatSetting>("format")
                .nick("Format")
                .blurb(
                    "Frame format: jitsi (JFrame, lib-jitsi-meet; VP8 and Opus), livekit (LiveKit's E2EE; VP8, \
                        VP9, H.264, H.265 byte-stream/au and Opus) or sframe (RFC 9605: whole frames of VP8, VP9, \
                        H.264, H.265, AV1 or Opus, as application/x-sframe; send with rtpsframepay). The \
                        participant's keys follow the format: elements of one participant must agree, else the \
                        element fails to start",
                )
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("ratchet-salt")
                .nick("Ratchet salt")
                .blurb("format=livekit: salt of the key derivation and of the ratchet (LiveKit's ratchetSalt)")
                .default_value(Some(default_ratchet_salt().as_str()))
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<KeySizeSetting>("key-size")
                .nick("Key size")
                .blurb("format=livekit: AES key size in bits of derived keys, 128 or 256 (LiveKit's keySize)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("key-ring-size")
                .nick("Key ring size")
                .blurb(
                    "format=livekit: number of key slots, key index i uses slot i mod size (LiveKit's \
                        keyringSize); format=jitsi always has 16",
                )
                .minimum(1)
                .maximum(MAX_KEY_RING_SIZE as u32)
                .default_value(DEFAULT_KEY_RING_SIZE)
                .mutable_ready()
                .build(),
            glib::ParamSpecInt::builder("failure-tolerance")
                .nick("Failure tolerance")
                .blurb(
                    "format=livekit: decryption failures tolerated per key index before its frames are dropped \
                        unread until a new key is set there (LiveKit's failureTolerance); -1 = never",
                )
                .minimum(-1)
                .default_value(LIVEKIT_DEFAULT_FAILURE_TOLERANCE as i32)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder::<CipherSuiteSetting>("cipher-suite")
                .nick("SFrame cipher suite")
                .blurb("format=sframe: the cipher suite (RFC 9605 §4.5 and IANA registry, 0x0001 to 0x0008)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("sframe-ratchet-bits")
                .nick("SFrame ratchet bits")
                .blurb(
                    "format=sframe: how many low bits of a KID count ratchet steps (RFC 9605 §5.1's R); 0 = \
                        no ratchet. With R > 0 the ratchet signal moves the sender to the next KID, and jframedec \
                        follows within ratchet-window steps",
                )
                .maximum(MAX_SFRAME_RATCHET_BITS)
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
                .blurb(
                    "Short code of the participant's current key, to compare with the other end: three \
                        numbers and seven emoji (a one-way function of the key)",
                )
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
                Ok(Some(buffer)) => buffer_bytes(&buffer).map(KeyInput::Bytes),
                _ => None,
            },
            "passphrase" => match value.get::<Option<String>>() {
                Ok(Some(passphrase)) => Some(KeyInput::Passphrase(Secret::new(passphrase.into_bytes()))),
                _ => None,
            },
            "key-index" => {
                state.key_index = value.get().unwrap_or(0);
                return true;
            }
            "kid" => {
                state.kid = value.get().unwrap_or(0);
                return true;
            }
            "key-mode"
            | "format"
            | "ratchet-salt"
            | "key-size"
            | "key-ring-size"
            | "failure-tolerance"
            | "cipher-suite"
            | "sframe-ratchet-bits"
                if state.started =>
            {
                gst::warning!(self.cat, obj = element, "{} can only change in NULL or READY state", pspec.name());
                return true;
            }
            "format" => {
                state.settings.format = value.get().unwrap_or_default();
                return true;
            }
            "ratchet-salt" => {
                let salt: Option<String> = value.get().unwrap_or(None);
                state.settings.ratchet_salt = salt.unwrap_or_else(default_ratchet_salt);
                return true;
            }
            "key-size" => {
                state.settings.key_size = value.get().unwrap_or_default();
                return true;
            }
            "key-ring-size" => {
                state.settings.key_ring_size = value.get().unwrap_or(DEFAULT_KEY_RING_SIZE);
                return true;
            }
            "failure-tolerance" => {
                state.settings.failure_tolerance = value.get().unwrap_or(-1);
                return true;
            }
            "cipher-suite" => {
                state.settings.cipher_suite = value.get().unwrap_or_default();
                return true;
            }
            "sframe-ratchet-bits" => {
                state.settings.sframe_ratchet_bits = value.get().unwrap_or(0);
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
        let index = state.key_id();
        drop(state);
        if let Err(message) = self.install(index, &key) {
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
            "kid" => state.kid.to_value(),
            "key-mode" => KeyModeSetting::from(state.key_mode).to_value(),
            "participant" => state.participant_id.to_value(),
            "format" => state.settings.format.to_value(),
            "ratchet-salt" => state.settings.ratchet_salt.to_value(),
            "key-size" => state.settings.key_size.to_value(),
            "key-ring-size" => state.settings.key_ring_size.to_value(),
            "failure-tolerance" => state.settings.failure_tolerance.to_value(),
            "cipher-suite" => state.settings.cipher_suite.to_value(),
            "sframe-ratchet-bits" => state.settings.sframe_ratchet_bits.to_value(),
            "enabled" => state.enabled.to_value(),
            "verification-code" => lock(&state.local).verification_code().map(|c| code_text(&c)).to_value(),
            _ => return None,
        })
    }

    /// The `stats` structure of the element as a whole.
    pub fn property_stats(&self) -> gst::Structure {
        let state = self.lock();
        let current = current_key(state.format(), &mut lock(&state.local));
        state.stats.to_structure(STATS_NAME, current)
    }
}
