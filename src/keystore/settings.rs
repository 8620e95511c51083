//! A participant's rules and key mode as GLib types: the enums of the elements'
//! properties and of the key store's signals, and the rules the format options make.

use gst::glib;

use crate::jframe::{
    Format, KEY_RING_SIZE, KeyDerivation, KeyMode, KeySize, LIVEKIT_DEFAULT_FAILURE_TOLERANCE,
    LIVEKIT_DEFAULT_RATCHET_SALT, MAX_KEY_RING_SIZE, Rules,
};

/// How the bytes given as a key become an AES key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstJFrameKeyMode")]
pub enum KeyModeSetting {
    #[default]
    #[enum_value(name = "Key material, AES key by HKDF-SHA256, can ratchet (lib-jitsi-meet managed keys)", nick = "hkdf")]
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
}

impl Default for FormatSettings {
    fn default() -> FormatSettings {
        FormatSettings {
            format: FormatSetting::Jitsi,
            ratchet_salt: default_ratchet_salt(),
            key_size: KeySizeSetting::Aes128,
            key_ring_size: DEFAULT_KEY_RING_SIZE,
            failure_tolerance: LIVEKIT_DEFAULT_FAILURE_TOLERANCE as i32,
        }
    }
}

/// LiveKit's default salt, as text.
pub fn default_ratchet_salt() -> String {
    String::from_utf8_lossy(LIVEKIT_DEFAULT_RATCHET_SALT).into_owned()
}

pub const DEFAULT_KEY_RING_SIZE: u32 = KEY_RING_SIZE as u32;

impl FormatSettings {
    pub fn format(&self) -> Format {
        match self.format {
            FormatSetting::Jitsi => Format::JFrame,
            FormatSetting::LiveKit => Format::LiveKit,
        }
    }

    /// The rules; the LiveKit options count only under LiveKit's format.
    pub fn rules(&self) -> Rules {
        if self.format == FormatSetting::Jitsi {
            return Rules::jframe();
        }
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
pub fn describe(rules: &Rules) -> String {
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
    /// `format` (`jitsi` or `livekit`), `ratchet-salt`, `key-size` (128 or 256),
    /// `key-ring-size` (1 to 256) and `failure-tolerance` (-1 = never); a field left out
    /// keeps its default. Any other field, or a value out of range, is refused with the reason.
    pub fn from_structure(structure: &gst::StructureRef) -> Result<FormatSettings, String> {
        let mut settings = FormatSettings::default();
        for (field, value) in structure.iter() {
            let number = || integer(value).ok_or_else(|| format!("{field}: not an integer"));
            match field.as_str() {
                "format" => {
                    settings.format = match value.get::<FormatSetting>() {
                        Ok(format) => format,
                        Err(_) => by_nick(value).ok_or("format: jitsi or livekit")?,
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
                other => return Err(format!("unknown field {other}")),
            }
        }
        Ok(settings)
    }
}

/// Rules as a structure of the fields [`FormatSettings::from_structure`] reads.
pub fn rules_structure(rules: &Rules) -> gst::Structure {
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
    }
}

fn by_nick(value: &glib::SendValue) -> Option<FormatSetting> {
    let nick = value.get::<&str>().ok()?;
    [FormatSetting::Jitsi, FormatSetting::LiveKit].into_iter().find(|format| format_nick(*format) == nick)
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
