//! What an element counts (the `stats` property) and reports (the `jframe-state`
//! message on every change of a stream's state).

/// Name of the `stats` structure.
pub const STATS_NAME: &str = "application/x-jframe-stats";

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    NoKey,
    UnknownKeyIndex,
    AuthenticationFailed,
    Malformed,
    /// SFrame: a KID and CTR accepted before, or older than the replay window.
    Replayed,
}

/// Which key a frame or a stream uses: a key index (JFrame, LiveKit) or a KID (SFrame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyId {
    Index(u8),
    Kid(u64),
}

impl KeyId {
    /// Sets `index_field` (-1 without a key index) and, for a KID, `kid_field`.
    fn set_on(key: Option<KeyId>, structure: &mut gst::Structure, index_field: &str, kid_field: &str) {
        let index = match key {
            Some(KeyId::Index(index)) => i32::from(index),
            _ => -1,
        };
        structure.set(index_field, index);
        if let Some(KeyId::Kid(kid)) = key {
            structure.set(kid_field, kid);
        }
    }
}

/// Counters of one element, read through the `stats` property.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames: u64,
    pub bytes: u64,
    pub passed_through: u64,
    pub no_key: u64,
    pub unknown_key_index: u64,
    pub authentication_failed: u64,
    pub malformed: u64,
    pub replayed: u64,
    pub ratchets: u64,
    pub rejected_keys: u64,
}

/// What became of one frame, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Decrypted: its bytes in clear, and the ratchet steps followed to decrypt it.
    Processed {
        bytes: u64,
        ratchets: u64,
    },
    PassedThrough,
    Dropped(Drop),
}

impl Stats {
    /// Counts one frame: a few increments, where adding a whole `Stats` would touch every field.
    pub fn count(&mut self, frame: Counted) {
        match frame {
            Counted::Processed { bytes, ratchets } => {
                self.frames += 1;
                self.bytes += bytes;
                self.ratchets += ratchets;
            }
            Counted::PassedThrough => self.passed_through += 1,
            Counted::Dropped(reason) => self.count_drop(reason),
        }
    }

    pub fn count_drop(&mut self, reason: Drop) {
        *match reason {
            Drop::NoKey => &mut self.no_key,
            Drop::UnknownKeyIndex => &mut self.unknown_key_index,
            Drop::AuthenticationFailed => &mut self.authentication_failed,
            Drop::Malformed => &mut self.malformed,
            Drop::Replayed => &mut self.replayed,
        } += 1;
    }

    pub fn add(&mut self, other: &Stats) {
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.passed_through += other.passed_through;
        self.no_key += other.no_key;
        self.unknown_key_index += other.unknown_key_index;
        self.authentication_failed += other.authentication_failed;
        self.malformed += other.malformed;
        self.replayed += other.replayed;
        self.ratchets += other.ratchets;
        self.rejected_keys += other.rejected_keys;
    }

    /// The figures, and `current-key-index` (-1 when there is none, or under SFrame) and
    /// under SFrame `current-kid`.
    pub fn to_structure(&self, name: &str, current: Option<KeyId>) -> gst::Structure {
        let mut structure = gst::Structure::builder(name)
            .field("frames-processed", self.frames)
            .field("bytes-processed", self.bytes)
            .field("frames-passed-through", self.passed_through)
            .field("dropped-no-key", self.no_key)
            .field("dropped-unknown-key-index", self.unknown_key_index)
            .field("dropped-authentication-failed", self.authentication_failed)
            .field("dropped-malformed", self.malformed)
            .field("dropped-replayed", self.replayed)
            .field("ratchets", self.ratchets)
            .field("rejected-keys", self.rejected_keys)
            .build();
        KeyId::set_on(current, &mut structure, "current-key-index", "current-kid");
        structure
    }
}

/// What a stream's frames are going through, reported on the bus on change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Ok,
    MissingKey,
    Failing,
    Disabled,
}

impl StreamState {
    pub fn of_drop(reason: Drop) -> StreamState {
        match reason {
            Drop::NoKey | Drop::UnknownKeyIndex => StreamState::MissingKey,
            Drop::AuthenticationFailed | Drop::Malformed | Drop::Replayed => StreamState::Failing,
        }
    }

    pub fn nick(self) -> &'static str {
        match self {
            StreamState::Ok => "ok",
            StreamState::MissingKey => "missing-key",
            StreamState::Failing => "failing",
            StreamState::Disabled => "disabled",
        }
    }
}

/// Stores `now` as the last reported state; returns it when it differs.
pub fn update_reported(reported: &mut Option<StreamState>, now: StreamState) -> Option<StreamState> {
    (*reported != Some(now)).then(|| {
        *reported = Some(now);
        now
    })
}

/// The `jframe-state` message of a stream in state `now`; `stream` adds the SSRC and
/// participant.
pub fn state_message(
    element: &gst::Element,
    now: StreamState,
    key: Option<KeyId>,
    stream: Option<(u32, &str)>,
) -> gst::Message {
    let mut structure = gst::Structure::builder("jframe-state").field("state", now.nick()).build();
    KeyId::set_on(key, &mut structure, "key-index", "kid");
    if let Some((ssrc, participant)) = stream {
        structure.set("ssrc", ssrc);
        structure.set("participant", participant);
    }
    gst::message::Element::builder(structure).src(element).build()
}
