//! Encrypting and decrypting frames with a key ring under a format's rules: the
//! references' `Context` (lib-jitsi-meet) and `FrameCryptor` (LiveKit).

use super::annexb::{self, Escaper};
use super::cipher::{AeadFailed, FrameCipher};
use super::frame::{self, FrameKind, IV_LEN, Layout, MediaFrame, TAG_LEN, TRAILER_LEN, Trailer, UnsupportedFrame};
use super::keys::{KeyMode, KeyRing};
use super::rules::{Format, RatchetPolicy, Rules, RulesError};
use super::sif;

/// Ratchet steps a receiver tries by default to follow a sender that ratcheted.
pub const DEFAULT_RATCHET_WINDOW: u32 = 8;

/// What `encrypt` did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptOutcome {
    /// The frame was encrypted in place; append this trailer to it.
    Encrypted(Trailer),
    /// Encryption is disabled: send the frame unchanged.
    PassThrough,
}

/// What `decrypt` did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptOutcome {
    /// The first `len` bytes of the buffer are now the clear frame. The key was
    /// ratcheted `ratchet_steps` times to decrypt it (and keeps that state).
    Decrypted { len: usize, ratchet_steps: u32 },
    /// Decryption is disabled: pass the frame on unchanged.
    PassThrough,
}

/// Why a frame was not encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptError {
    /// No key in the current slot (none set, or the slot was emptied).
    NoKey,
    /// The frame is shorter than the clear prefix of its kind.
    ShorterThanClearPrefix { len: usize, clear: usize },
    /// The AEAD refused (a frame beyond AES-GCM's size limit).
    TooLong,
}

/// Why a frame was not decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// Empty frame: not even a key index.
    Empty,
    /// The key index names a slot that exists but holds no key.
    NoKey { kid: u8 },
    /// The key index is beyond the key ring.
    UnknownKeyIndex { kid: u8 },
    /// Too short for its clear prefix, tag and trailer, or an IV length the
    /// backend does not take (12 and 16 are taken).
    Malformed { kid: u8 },
    /// No key in the window authenticated the frame.
    AuthenticationFailed { kid: u8 },
}

impl std::fmt::Display for EncryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncryptError::NoKey => write!(f, "no key in the current slot"),
            EncryptError::ShorterThanClearPrefix { len, clear } => {
                write!(f, "frame of {len} bytes is shorter than its {clear}-byte clear prefix")
            }
            EncryptError::TooLong => write!(f, "frame too long for AES-GCM"),
        }
    }
}

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecryptError::Empty => write!(f, "empty frame"),
            DecryptError::NoKey { kid } => write!(f, "no key for key index {kid}"),
            DecryptError::UnknownKeyIndex { kid } => write!(f, "key index {kid} is beyond the key ring"),
            DecryptError::Malformed { kid } => write!(f, "malformed frame (key index {kid})"),
            DecryptError::AuthenticationFailed { kid } => {
                write!(f, "authentication failed (key index {kid})")
            }
        }
    }
}

impl std::error::Error for EncryptError {}
impl std::error::Error for DecryptError {}

/// What `decrypt_frame` did with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The first `len` bytes of the buffer are now the clear frame. The key was
    /// ratcheted `ratchet_steps` times to decrypt it (and keeps that state).
    Decrypted { len: usize, ratchet_steps: u32 },
    /// Decryption is disabled, or the frame is empty under LiveKit's rules: pass the
    /// frame on unchanged.
    PassThrough,
    /// A frame a LiveKit server injected in clear: pass on its first `len` bytes (the
    /// frame without the SIF trailer).
    ServerInjected { len: usize },
}

/// Why `encrypt_frame` or `decrypt_frame` refused a frame: a reason of `encrypt` or
/// `decrypt`, or one that only the codec-aware rules have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    Encrypt(EncryptError),
    Decrypt(DecryptError),
    /// The format has no rule for this frame (AV1 under LiveKit's rules, `empty`
    /// video frames under JFrame's).
    UnsupportedFrame,
    /// More failures than the failure tolerance at this key index: its frames are
    /// dropped unread until a key is set there or a ratchet is asked for.
    KeyMarkedInvalid {
        kid: u8,
    },
    /// A frame with the SIF trailer whose payload is no known server-injected frame.
    UnknownServerInjectedFrame,
}

impl From<EncryptError> for FrameError {
    fn from(e: EncryptError) -> FrameError {
        FrameError::Encrypt(e)
    }
}

impl From<DecryptError> for FrameError {
    fn from(e: DecryptError) -> FrameError {
        FrameError::Decrypt(e)
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Encrypt(e) => e.fmt(f),
            FrameError::Decrypt(e) => e.fmt(f),
            FrameError::UnsupportedFrame => write!(f, "the format has no rule for this kind of frame"),
            FrameError::KeyMarkedInvalid { kid } => {
                write!(f, "key index {kid} failed too often; waiting for a new key")
            }
            FrameError::UnknownServerInjectedFrame => {
                write!(f, "frame with the server-injected trailer but an unknown payload")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// The parts of a received frame, located from its trailer.
struct Parts {
    clear: usize,
    ciphertext_end: usize,
    iv_start: usize,
    iv_len: usize,
}

fn locate(clear: usize, frame: &[u8]) -> Option<Parts> {
    let len = frame.len();
    let iv_len = usize::from(*frame.get(len.checked_sub(2)?)?);
    let iv_start = len.checked_sub(2 + iv_len)?;
    let ciphertext_end = iv_start.checked_sub(TAG_LEN)?;
    (clear <= ciphertext_end).then_some(Parts { clear, ciphertext_end, iv_start, iv_len })
}

/// One participant's encryption state: key ring, enabled flag and the format's rules.
///
/// A sender encrypts with the current slot; a receiver picks the slot by the frame's
/// key index and, for keys from material, follows a sender that ratcheted (see
/// [`RatchetPolicy`]).
///
/// Under JFrame's rules a key index other than the current slot ratchets too, unlike
/// lib-jitsi-meet, which derives from the named slot but stores into the current one, so
/// never catches up there and briefly breaks the current slot. Under LiveKit's rules
/// an H.264/H.265 frame is unescaped once, where LiveKit unescapes it again on every
/// ratchet retry (and so cannot follow a ratchet on a frame whose ciphertext holds
/// `00 00 03`).
pub struct Context {
    keys: KeyRing,
    enabled: bool,
    ratchet_window: u32,
    format: Format,
    ratchet_policy: RatchetPolicy,
    failure_tolerance: Option<u32>,
    sif_trailer: Vec<u8>,
}

impl Context {
    /// A context with JFrame's rules.
    pub fn new(mode: KeyMode) -> Context {
        Context::with_valid_rules(mode, Rules::jframe())
    }

    /// A context with the given rules, e.g. [`Rules::livekit`].
    pub fn with_rules(mode: KeyMode, rules: Rules) -> Result<Context, RulesError> {
        rules.validate()?;
        Ok(Context::with_valid_rules(mode, rules))
    }

    fn with_valid_rules(mode: KeyMode, rules: Rules) -> Context {
        Context {
            keys: KeyRing::with_valid_rules(mode, &rules),
            enabled: true,
            ratchet_window: rules.ratchet_window,
            format: rules.format,
            ratchet_policy: rules.ratchet_policy,
            failure_tolerance: rules.failure_tolerance,
            sif_trailer: rules.sif_trailer,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn keys_mut(&mut self) -> &mut KeyRing {
        &mut self.keys
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Disabled, frames pass through unchanged in both directions.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    pub fn ratchet_window(&self) -> u32 {
        self.ratchet_window
    }

    /// How many ratchet steps a receiver tries; 0 never ratchets.
    pub fn set_ratchet_window(&mut self, window: u32) {
        self.ratchet_window = window;
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn failure_tolerance(&self) -> Option<u32> {
        self.failure_tolerance
    }

    /// Failures tolerated per key index before its frames are dropped unread; `None`: never.
    pub fn set_failure_tolerance(&mut self, tolerance: Option<u32>) {
        self.failure_tolerance = tolerance;
    }

    /// The trailer that marks server-injected frames (LiveKit sends it on joining);
    /// empty: none.
    pub fn set_sif_trailer(&mut self, trailer: &[u8]) {
        self.sif_trailer = trailer.to_vec();
    }

    /// Whether frames with key index `kid` are dropped unread for failing too often.
    pub fn is_key_marked_invalid(&self, kid: u8) -> bool {
        self.failure_tolerance.is_some_and(|tolerance| self.keys.failure_count(kid) > tolerance)
    }

    fn passes_through(&self, frame: &[u8]) -> bool {
        !self.enabled || (frame.is_empty() && self.format == Format::LiveKit)
    }

    /// Encrypts `frame` in place with the current key: the clear prefix of `kind`
    /// stays as it is and is authenticated. Append the returned trailer to the frame.
    pub fn encrypt(&self, kind: FrameKind, frame: &mut [u8], iv: [u8; IV_LEN]) -> Result<EncryptOutcome, EncryptError> {
        if self.passes_through(frame) {
            return Ok(EncryptOutcome::PassThrough);
        }
        self.seal(frame, kind.clear_len(), None, iv).map(EncryptOutcome::Encrypted)
    }

    /// Encrypts `data` with the current key under the format's rule for `frame`, and
    /// appends the trailer (the returned one, escaped if need be). An H.264/H.265 access
    /// unit under LiveKit's rules stays one: its clear prefix is sent with 4-byte start
    /// codes and the rest is escaped, so the frame is rebuilt; every other frame is
    /// encrypted in place.
    pub fn encrypt_frame(
        &self,
        frame: MediaFrame,
        data: &mut Vec<u8>,
        iv: [u8; IV_LEN],
    ) -> Result<EncryptOutcome, FrameError> {
        let Some(layout) = self.send_layout(frame, data)? else {
            return Ok(EncryptOutcome::PassThrough);
        };
        if !layout.annex_b {
            let trailer = self.seal(data, layout.clear, None, iv)?;
            data.extend_from_slice(trailer.as_bytes());
            return Ok(EncryptOutcome::Encrypted(trailer));
        }
        let long_prefix = annexb::prefix_with_long_start_codes(data, layout.clear);
        let trailer = self.seal(data, layout.clear, long_prefix.as_deref(), iv)?;
        let (prefix, encrypted) = data.split_at(layout.clear);
        let prefix = long_prefix.as_deref().unwrap_or(prefix);
        // Escaping adds at most one byte in two.
        let escaped = encrypted.len() + TRAILER_LEN;
        let mut sent = Vec::with_capacity(prefix.len() + escaped + escaped / 2 + 1);
        sent.extend_from_slice(prefix);
        let mut escaper = Escaper::default();
        escaper.push(&mut sent, encrypted);
        escaper.push(&mut sent, trailer.as_bytes());
        *data = sent;
        Ok(EncryptOutcome::Encrypted(trailer))
    }

    /// [`encrypt_frame`](Self::encrypt_frame) without moving the frame, for the frames
    /// whose bytes stay where they are: encrypts `data` in place; append the returned
    /// trailer. H.264/H.265 access units under LiveKit's rules change size and are
    /// refused as `UnsupportedFrame`: use `encrypt_frame` for those.
    pub fn encrypt_frame_in_place(
        &self,
        frame: MediaFrame,
        data: &mut [u8],
        iv: [u8; IV_LEN],
    ) -> Result<EncryptOutcome, FrameError> {
        let Some(layout) = self.send_layout(frame, data)? else {
            return Ok(EncryptOutcome::PassThrough);
        };
        if layout.annex_b {
            return Err(FrameError::UnsupportedFrame);
        }
        Ok(EncryptOutcome::Encrypted(self.seal(data, layout.clear, None, iv)?))
    }

    /// The layout a frame to send is encrypted with; `None` when it passes through.
    fn send_layout(&self, frame: MediaFrame, data: &[u8]) -> Result<Option<Layout>, FrameError> {
        if self.passes_through(data) {
            return Ok(None);
        }
        if self.keys.current_slot().is_none() {
            return Err(EncryptError::NoKey.into());
        }
        frame::layout(self.format, frame, data).map(Some).map_err(|UnsupportedFrame| FrameError::UnsupportedFrame)
    }

    /// Encrypts `frame[clear..]` in place with the current key, authenticating the clear
    /// prefix as sent (`sent_prefix`, by default the frame's own).
    fn seal(
        &self,
        frame: &mut [u8],
        clear: usize,
        sent_prefix: Option<&[u8]>,
        iv: [u8; IV_LEN],
    ) -> Result<Trailer, EncryptError> {
        let (kid, slot) = self.keys.current_slot().ok_or(EncryptError::NoKey)?;
        if frame.len() < clear {
            return Err(EncryptError::ShorterThanClearPrefix { len: frame.len(), clear });
        }
        let (prefix, payload) = frame.split_at_mut(clear);
        let aad = sent_prefix.unwrap_or(prefix);
        let tag = slot.key.cipher.seal(&iv, aad, payload).map_err(|AeadFailed| EncryptError::TooLong)?;
        Ok(Trailer::new(&tag, &iv, kid))
    }

    /// Decrypts `frame` in place with the slot its key index names, trying ratcheted
    /// keys of that slot on failure. On success the slot keeps the key that worked.
    ///
    /// This is [`decrypt_frame`](Self::decrypt_frame) for a VP8 or audio frame, with the
    /// reasons only LiveKit's rules have told as the nearest of these: a server-injected
    /// frame comes out decrypted with no ratchet step (pass on its first `len` bytes just
    /// the same), an index marked invalid has no key, an unknown injected payload is
    /// malformed.
    pub fn decrypt(&mut self, kind: FrameKind, frame: &mut [u8]) -> Result<DecryptOutcome, DecryptError> {
        let kid = frame.last().copied().unwrap_or(0);
        match self.decrypt_frame(kind.into(), frame) {
            Ok(Received::Decrypted { len, ratchet_steps }) => Ok(DecryptOutcome::Decrypted { len, ratchet_steps }),
            Ok(Received::ServerInjected { len }) => Ok(DecryptOutcome::Decrypted { len, ratchet_steps: 0 }),
            Ok(Received::PassThrough) => Ok(DecryptOutcome::PassThrough),
            Err(FrameError::Decrypt(e)) => Err(e),
            Err(FrameError::KeyMarkedInvalid { kid }) => Err(DecryptError::NoKey { kid }),
            Err(FrameError::Encrypt(_) | FrameError::UnsupportedFrame | FrameError::UnknownServerInjectedFrame) => {
                Err(DecryptError::Malformed { kid })
            }
        }
    }

    /// Decrypts `data` in place under the format's rule for `frame` (the receiver's own
    /// view of the frame, as the references take it), as [`decrypt`](Self::decrypt)
    /// does. Under LiveKit's rules it also passes server-injected frames and counts
    /// failures per key index. A frame that fails may be left altered (H.264/H.265
    /// unescaped).
    pub fn decrypt_frame(&mut self, frame: MediaFrame, data: &mut [u8]) -> Result<Received, FrameError> {
        if self.passes_through(data) {
            return Ok(Received::PassThrough);
        }
        if let Some(outcome) = self.server_injected(data) {
            return outcome;
        }
        let kid = *data.last().ok_or(DecryptError::Empty)?;
        if self.is_key_marked_invalid(kid) {
            return Err(FrameError::KeyMarkedInvalid { kid });
        }
        if !self.keys.has_key(kid) {
            self.count_failure(kid);
            return Err(if self.keys.names_slot(kid) {
                DecryptError::NoKey { kid }
            } else {
                DecryptError::UnknownKeyIndex { kid }
            }
            .into());
        }
        let layout =
            frame::layout(self.format, frame, data).map_err(|UnsupportedFrame| FrameError::UnsupportedFrame)?;
        let result = self.open(layout, data, kid);
        // LiveKit counts a failed decryption only while the current index is not given up.
        let current = self.keys.current_index().unwrap_or(0);
        if result.is_err() && !self.is_key_marked_invalid(current) {
            self.count_failure(kid);
        }
        result.map_err(FrameError::Decrypt)
    }

    /// A frame ending with the SIF trailer: passed on without it when its payload is
    /// one a server injects, refused otherwise. `None` for any other frame.
    fn server_injected(&self, data: &[u8]) -> Option<Result<Received, FrameError>> {
        if self.sif_trailer.is_empty() {
            return None;
        }
        let payload = data.strip_suffix(self.sif_trailer.as_slice())?;
        Some(if sif::is_known_payload(payload) {
            Ok(Received::ServerInjected { len: payload.len() })
        } else {
            Err(FrameError::UnknownServerInjectedFrame)
        })
    }

    fn count_failure(&mut self, kid: u8) {
        if self.failure_tolerance.is_some() {
            self.keys.count_failure(kid);
        }
    }

    /// Decrypts a frame whose key index `kid` names a filled slot.
    fn open(&mut self, layout: Layout, data: &mut [u8], kid: u8) -> Result<Received, DecryptError> {
        let mut len = data.len();
        if layout.annex_b && annexb::needs_unescaping(&data[layout.clear..]) {
            len = layout.clear + annexb::unescape_in_place(&mut data[layout.clear..]);
        }
        let data = &mut data[..len];
        let parts = locate(layout.clear, data).ok_or(DecryptError::Malformed { kid })?;
        if !matches!(parts.iv_len, 12 | 16) {
            return Err(DecryptError::Malformed { kid });
        }
        // An access unit's receiver may have put NAL units before the sender's: the
        // sender's prefix, which the tag authenticates, is then a suffix of the clear part.
        let later_starts = if layout.annex_b { annexb::later_prefix_starts(data, parts.clear) } else { Vec::new() };
        let (head, trailer) = data.split_at_mut(parts.ciphertext_end);
        let (aad, ciphertext) = head.split_at_mut(parts.clear);
        let tag = &trailer[..TAG_LEN];
        let iv = &trailer[parts.iv_start - parts.ciphertext_end..][..parts.iv_len];
        let max_steps = match self.ratchet_policy {
            RatchetPolicy::Ahead => self.ratchet_window,
            RatchetPolicy::OneStep => self.ratchet_window.min(1),
        };
        let opens = |cipher: &FrameCipher| {
            let mut opens_from = |start: usize| cipher.open(iv, &aad[start..], ciphertext, tag).is_ok();
            opens_from(0) || later_starts.iter().any(|&start| opens_from(start))
        };
        let steps =
            self.keys.find_key(kid, max_steps as usize, opens).ok_or(DecryptError::AuthenticationFailed { kid })?;
        if steps > 0 && self.ratchet_policy == RatchetPolicy::OneStep {
            self.keys.make_current(kid);
        }
        self.keys.reset_failures(kid);
        Ok(Received::Decrypted { len: parts.ciphertext_end, ratchet_steps: steps as u32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jframe::{KeyDerivation, KeyError, KeySize, KeySource, VideoCodec, VideoFrameType};

    fn livekit(rules: Rules) -> Context {
        let mut ctx = Context::with_rules(KeyMode::Derived, rules).unwrap();
        ctx.keys_mut().set_key(0, b"key material").unwrap();
        ctx
    }

    #[test]
    fn key_ring_sizes_beyond_a_byte_are_refused() {
        for size in [0, 257] {
            let rules = Rules { key_ring_size: size, ..Rules::livekit() };
            assert_eq!(Context::with_rules(KeyMode::Derived, rules).err(), Some(RulesError::KeyRingSize(size)));
        }
        let rules = Rules { key_ring_size: 256, ..Rules::livekit() };
        assert_eq!(Context::with_rules(KeyMode::Derived, rules).unwrap().keys().slot_for(511), 255);
    }

    #[test]
    fn derived_keys_install_only_where_they_were_derived_for() {
        let key = KeyDerivation::livekit(b"salt", KeySize::Aes256).derive_key(KeySource::Bytes(b"k")).unwrap();
        let mut other = Context::with_rules(KeyMode::Derived, Rules::livekit()).unwrap();
        assert_eq!(other.keys_mut().store_derived_key(0, &key, true), Err(KeyError::OtherDerivation));
        let mut raw = Context::with_rules(KeyMode::Raw, Rules::livekit()).unwrap();
        assert_eq!(raw.keys_mut().store_derived_key(0, &key, true), Err(KeyError::NeedsDerivedMode));
        let mut same = Rules::livekit();
        same.key_derivation = KeyDerivation::livekit(b"salt", KeySize::Aes256);
        let mut ctx = Context::with_rules(KeyMode::Derived, same).unwrap();
        ctx.keys_mut().store_derived_key(3, &key, false).unwrap();
        assert_eq!(ctx.keys().aes_key(3).map(<[u8]>::len), Some(32));
        assert_eq!(ctx.keys().current_index(), None);
    }

    #[test]
    fn jframe_has_no_rule_for_empty_video_frames() {
        let mut ctx = Context::new(KeyMode::Derived);
        ctx.keys_mut().set_key(0, b"key material").unwrap();
        let frame = MediaFrame::Video { codec: VideoCodec::Vp8, frame_type: VideoFrameType::Empty };
        let result = ctx.encrypt_frame(frame, &mut vec![1, 2, 3], [0; IV_LEN]);
        assert_eq!(result, Err(FrameError::UnsupportedFrame));
    }

    #[test]
    fn server_injected_frames_pass_the_frame_kind_api_too() {
        let trailer = [0x82, 0xc6, 0xba, 0xfc];
        let mut ctx = livekit(Rules { sif_trailer: trailer.to_vec(), ..Rules::livekit() });
        let mut frame = [0xf8, 0xff, 0xfe].iter().copied().chain([0; 77]).chain(trailer).collect::<Vec<_>>();
        assert_eq!(
            ctx.decrypt(FrameKind::Audio, &mut frame),
            Ok(DecryptOutcome::Decrypted { len: 80, ratchet_steps: 0 })
        );
        frame[3] = 1;
        assert_eq!(ctx.decrypt_frame(MediaFrame::Audio, &mut frame), Err(FrameError::UnknownServerInjectedFrame));
    }

    #[test]
    fn h264_access_units_stay_annex_b_and_round_trip() {
        let mut ctx = livekit(Rules::livekit());
        let frame = MediaFrame::Video { codec: VideoCodec::H264, frame_type: VideoFrameType::Key };
        // SPS with a 3-byte start code, then an IDR slice whose data is mostly zeros.
        let mut au = vec![0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88];
        au.extend((0..300).map(|i| if i % 7 == 0 { 1 } else { 0 }));
        let mut sent = au.clone();
        // An IV full of zeros must be escaped too.
        assert!(matches!(ctx.encrypt_frame(frame, &mut sent, [0; IV_LEN]), Ok(EncryptOutcome::Encrypted(_))));
        let prefix = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88];
        assert_eq!(sent[..prefix.len()], prefix);
        assert!(!sent[prefix.len()..].windows(3).any(|w| matches!(w, [0, 0, 0..=2])));
        let Ok(Received::Decrypted { len, ratchet_steps: 0 }) = ctx.decrypt_frame(frame, &mut sent) else {
            panic!("the access unit does not decrypt");
        };
        assert_eq!(sent[..len], [&prefix[..], &au[11..]].concat());
    }
}
