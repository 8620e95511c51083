//! A participant's rules and key mode as GLib types: the enums of the elements'
//! properties and of the key store's signals, and the rules the format options make.

use gst::glib;

use super::{KeyRules, SFrameRules};
use crate::jframe::{
    Format, KEY_RING_SIZE, KeyDerivation, KeyMode, KeySize, LIVEKIT_DEFAULT_FAILURE_TOLERANCE,
    LIVEKIT_DEFAULT_RATCHET_SALT, MAX_KEY_RING_SIZE, Rules,
};
use crate::sframe::CipherSuite;

/// How the bytes given as a key become an AES key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameKeyMode")]
pub enum KeyModeSetting {
    #[default]
    #[enum_value(
        name = "Key material, AES key by HKDF-SHA256, can ratchet (lib-jitsi-meet managed keys)",
        nick = "hkdf"
    )]
    Hkdf,
    #[enum_value(name = "AES-128 or AES-256 key used as given, no ratchet (lib-jitsi-meet shared key)", nick = "raw")]
    Raw,
}

impl From<KeyMode> for KeyModeSetting {
    fn from(mode: KeyMode) -> KeyModeSetting {
        match mode {
            KeyMode::Derived => KeyModeSetting::Hkdf,
            KeyMode::Raw => KeyModeSetting::Raw,
        }
    }
}

impl From<KeyModeSetting> for KeyMode {
    fn from(mode: KeyModeSetting) -> KeyMode {
        match mode {
            KeyModeSetting::Hkdf => KeyMode::Derived,
            KeyModeSetting::Raw => KeyMode::Raw,
        }
    }
}

/// The frame format an element reads and writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameFormat")]
pub enum FormatSetting {
    #[default]
    #[enum_value(name = "JFrame, lib-jitsi-meet's format (VP8 and Opus)", nick = "jitsi")]
    Jitsi,
    #[enum_value(name = "LiveKit's frame encryption (VP8, VP9, H.264, H.265 and Opus)", nick = "livekit")]
    LiveKit,
    #[enum_value(name = "SFrame, RFC 9605 (whole frames, any codec; send with rtpsframepay)", nick = "sframe")]
    SFrame,
}

/// An SFrame cipher suite (RFC 9605 §4.5 and the IANA registry), by its registry value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameSFrameCipherSuite")]
pub enum CipherSuiteSetting {
    #[enum_value(name = "AES_128_CTR_HMAC_SHA256_80", nick = "aes-128-ctr-hmac-sha256-80")]
    AesCtr128HmacSha256Tag80 = 0x0001,
    #[enum_value(name = "AES_128_CTR_HMAC_SHA256_64", nick = "aes-128-ctr-hmac-sha256-64")]
    AesCtr128HmacSha256Tag64 = 0x0002,
    #[enum_value(name = "AES_128_CTR_HMAC_SHA256_32", nick = "aes-128-ctr-hmac-sha256-32")]
    AesCtr128HmacSha256Tag32 = 0x0003,
    #[default]
    #[enum_value(name = "AES_128_GCM_SHA256_128", nick = "aes-128-gcm-sha256-128")]
    AesGcm128Sha256 = 0x0004,
    #[enum_value(name = "AES_256_GCM_SHA512_128", nick = "aes-256-gcm-sha512-128")]
    AesGcm256Sha512 = 0x0005,
    #[enum_value(name = "AES_256_CTR_HMAC_SHA512_80", nick = "aes-256-ctr-hmac-sha512-80")]
    AesCtr256HmacSha512Tag80 = 0x0006,
    #[enum_value(name = "AES_256_CTR_HMAC_SHA512_64", nick = "aes-256-ctr-hmac-sha512-64")]
    AesCtr256HmacSha512Tag64 = 0x0007,
    #[enum_value(name = "AES_256_CTR_HMAC_SHA512_32", nick = "aes-256-ctr-hmac-sha512-32")]
    AesCtr256HmacSha512Tag32 = 0x0008,
}

impl CipherSuiteSetting {
    fn of(suite: CipherSuite) -> CipherSuiteSetting {
        let all = [
            CipherSuiteSetting::AesCtr128HmacSha256Tag80,
            CipherSuiteSetting::AesCtr128HmacSha256Tag64,
            CipherSuiteSetting::AesCtr128HmacSha256Tag32,
            CipherSuiteSetting::AesGcm128Sha256,
            CipherSuiteSetting::AesGcm256Sha512,
            CipherSuiteSetting::AesCtr256HmacSha512Tag80,
            CipherSuiteSetting::AesCtr256HmacSha512Tag64,
            CipherSuiteSetting::AesCtr256HmacSha512Tag32,
        ];
        all.into_iter().find(|setting| setting.suite() == suite).unwrap_or_default()
    }

    pub fn suite(self) -> CipherSuite {
        // Both enums hold the registry values.
        CipherSuite::from_id(self as u16).unwrap_or(CipherSuite::AesGcm128Sha256)
    }
}

/// The AES key size of the LiveKit format, in bits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameKeySize")]
pub enum KeySizeSetting {
    #[default]
    #[enum_value(name = "AES-128", nick = "128")]
    Aes128 = 128,
    #[enum_value(name = "AES-256", nick = "256")]
    Aes256 = 256,
}

/// An element's format properties, which make the rules of its participant's keys.
#[derive(Debug, Clone)]
pub struct FormatSettings {
    pub format: FormatSetting,
    pub ratchet_salt: String,
    pub key_size: KeySizeSetting,
    pub key_ring_size: u32,
    pub failure_tolerance: i32,
    pub cipher_suite: CipherSuiteSetting,
    pub sframe_ratchet_bits: u32,
}

impl Default for FormatSettings {
    fn default() -> FormatSettings {
        FormatSettings {
            format: FormatSetting::Jitsi,
            ratchet_salt: default_ratchet_salt(),
            key_size: KeySizeSetting::Aes128,
            key_ring_size: DEFAULT_KEY_RING_SIZE,
            failure_tolerance: LIVEKIT_DEFAULT_FAILURE_TOLERANCE as i32,
            cipher_suite: CipherSuiteSetting::default(),
            sframe_ratchet_bits: 0,
        }
    }
}

/// LiveKit's default salt, as text.
pub fn default_ratchet_salt() -> String {
    String::from_utf8_lossy(LIVEKIT_DEFAULT_RATCHET_SALT).into_owned()
}

pub const DEFAULT_KEY_RING_SIZE: u32 = KEY_RING_SIZE as u32;

/// Upper bound of the `sframe-ratchet-bits` property (RFC 9605 §5.1's R, 0: no ratchet).
pub const MAX_SFRAME_RATCHET_BITS: u32 = 63;

impl FormatSettings {
    /// The rules; the LiveKit options count only under LiveKit's format, the SFrame
    /// options only under SFrame's.
    pub fn rules(&self) -> KeyRules {
        match self.format {
            FormatSetting::Jitsi => KeyRules::Frame(Rules::jframe()),
            FormatSetting::LiveKit => KeyRules::Frame(self.livekit_rules()),
            FormatSetting::SFrame => KeyRules::SFrame(SFrameRules {
                suite: self.cipher_suite.suite(),
                // The property keeps it within 0..=63.
                ratchet_bits: self.sframe_ratchet_bits as u8,
            }),
        }
    }

    fn livekit_rules(&self) -> Rules {
        let key_size = match self.key_size {
            KeySizeSetting::Aes128 => KeySize::Aes128,
            KeySizeSetting::Aes256 => KeySize::Aes256,
        };
        Rules {
            key_derivation: KeyDerivation::livekit(self.ratchet_salt.as_bytes(), key_size),
            // The property keeps it within 1..=256.
            key_ring_size: self.key_ring_size as usize,
            failure_tolerance: u32::try_from(self.failure_tolerance).ok(),
            ..Rules::livekit()
        }
    }
}

/// The rules as the properties that make them, for messages.
pub fn describe(rules: &KeyRules) -> String {
    let rules = match rules {
        KeyRules::Frame(rules) => rules,
        KeyRules::SFrame(rules) => {
            return format!(
                "format=sframe cipher-suite={} sframe-ratchet-bits={}",
                rules.suite.name(),
                rules.ratchet_bits
            );
        }
    };
    match rules.format {
        Format::JFrame => "format=jitsi".to_owned(),
        Format::LiveKit => format!(
            "format=livekit ratchet-salt=\"{}\" key-size={} key-ring-size={} failure-tolerance={}",
            String::from_utf8_lossy(&rules.key_derivation.ratchet_salt),
            rules.key_derivation.key_size.bytes() * 8,
            rules.key_ring_size,
            rules.failure_tolerance.map_or(-1, i64::from),
        ),
    }
}

/// Name of the structure that carries a participant's rules (the key store's `set-rules`
/// and `get-rules`).
pub const RULES_NAME: &str = "application/x-jframe-rules";

impl FormatSettings {
    /// The settings a structure gives, under the names of the elements' properties:
    /// `format` (`jitsi`, `livekit` or `sframe`), `ratchet-salt`, `key-size` (128 or 256),
    /// `key-ring-size` (1 to 256), `failure-tolerance` (-1 = never), `cipher-suite` (the
    /// registry value, 1 to 8) and `sframe-ratchet-bits` (0 to 63); a field left out
    /// keeps its default. Any other field, or a value out of range, is refused with the reason.
    pub fn from_structure(structure: &gst::StructureRef) -> Result<FormatSettings, String> {
        let mut settings = FormatSettings::default();
        for (field, value) in structure.iter() {
            let number = || integer(value).ok_or_else(|| format!("{field}: not an integer"));
            match field.as_str() {
                "format" => {
                    settings.format = match value.get::<FormatSetting>() {
                        Ok(format) => format,
                        Err(_) => by_nick(value).ok_or("format: jitsi, livekit or sframe")?,
                    }
                }
                "ratchet-salt" => {
                    settings.ratchet_salt = value.get::<String>().map_err(|_| "ratchet-salt: not a string")?;
                }
                "key-size" => {
                    settings.key_size = match number()? {
                        128 => KeySizeSetting::Aes128,
                        256 => KeySizeSetting::Aes256,
                        size => return Err(format!("key-size: 128 or 256, not {size}")),
                    }
                }
                "key-ring-size" => {
                    settings.key_ring_size = u32::try_from(number()?)
                        .ok()
                        .filter(|size| (1..=MAX_KEY_RING_SIZE as u32).contains(size))
                        .ok_or_else(|| format!("key-ring-size: 1 to {MAX_KEY_RING_SIZE}"))?;
                }
                "failure-tolerance" => {
                    settings.failure_tolerance =
                        i32::try_from(number()?).ok().filter(|n| *n >= -1).ok_or("failure-tolerance: -1 or more")?;
                }
                "cipher-suite" => {
                    let id = u16::try_from(number()?).map_err(|_| "cipher-suite: 1 to 8")?;
                    let suite = CipherSuite::from_id(id).map_err(|e| e.to_string())?;
                    settings.cipher_suite = CipherSuiteSetting::of(suite);
                }
                "sframe-ratchet-bits" => {
                    settings.sframe_ratchet_bits = u32::try_from(number()?)
                        .ok()
                        .filter(|bits| *bits <= MAX_SFRAME_RATCHET_BITS)
                        .ok_or("sframe-ratchet-bits: 0 to 63")?;
                }
                other => return Err(format!("unknown field {other}")),
            }
        }
        Ok(settings)
    }
}

/// Rules as a structure of the fields [`FormatSettings::from_structure`] reads.
pub fn rules_structure(rules: &KeyRules) -> gst::Structure {
    let rules = match rules {
        KeyRules::Frame(rules) => rules,
        KeyRules::SFrame(rules) => {
            return gst::Structure::builder(RULES_NAME)
                .field("format", format_nick(FormatSetting::SFrame))
                .field("cipher-suite", i32::from(rules.suite.id()))
                .field("sframe-ratchet-bits", i32::from(rules.ratchet_bits))
                .build();
        }
    };
    let format = match rules.format {
        Format::JFrame => FormatSetting::Jitsi,
        Format::LiveKit => FormatSetting::LiveKit,
    };
    let mut structure = gst::Structure::builder(RULES_NAME).field("format", format_nick(format)).build();
    if rules.format == Format::LiveKit {
        structure.set("ratchet-salt", String::from_utf8_lossy(&rules.key_derivation.ratchet_salt).into_owned());
        structure.set("key-size", (rules.key_derivation.key_size.bytes() * 8) as i32);
        structure.set("key-ring-size", rules.key_ring_size as i32);
        structure.set("failure-tolerance", rules.failure_tolerance.map_or(-1, |n| n as i32));
    }
    structure
}

fn format_nick(format: FormatSetting) -> &'static str {
    match format {
        FormatSetting::Jitsi => "jitsi",
        FormatSetting::LiveKit => "livekit",
        FormatSetting::SFrame => "sframe",
    }
}

fn by_nick(value: &glib::SendValue) -> Option<FormatSetting> {
    let nick = value.get::<&str>().ok()?;
    [FormatSetting::Jitsi, FormatSetting::LiveKit, FormatSetting::SFrame]
        .into_iter()
        .find(|format| format_nick(*format) == nick)
}

/// An integer field of any of GLib's integer types.
fn integer(value: &glib::SendValue) -> Option<i64> {
    value
        .get::<i32>()
        .map(i64::from)
        .or_else(|_| value.get::<u32>().map(i64::from))
        .or_else(|_| value.get::<i64>())
        .ok()
        .or_else(|| value.get::<u64>().ok().and_then(|n| i64::try_from(n).ok()))
}
