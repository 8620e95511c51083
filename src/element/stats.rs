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
    pub ratchets: u64,
    pub rejected_keys: u64,
}

impl Stats {
    pub fn count_drop(&mut self, reason: Drop) {
        *match reason {
            Drop::NoKey => &mut self.no_key,
            Drop::UnknownKeyIndex => &mut self.unknown_key_index,
            Drop::AuthenticationFailed => &mut self.authentication_failed,
            Drop::Malformed => &mut self.malformed,
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
        self.ratchets += other.ratchets;
        self.rejected_keys += other.rejected_keys;
    }

    pub fn to_structure(&self, name: &str, current_key_index: Option<u8>) -> gst::Structure {
        gst::Structure::builder(name)
            .field("frames-processed", self.frames)
            .field("bytes-processed", self.bytes)
            .field("frames-passed-through", self.passed_through)
            .field("dropped-no-key", self.no_key)
            .field("dropped-unknown-key-index", self.unknown_key_index)
            .field("dropped-authentication-failed", self.authentication_failed)
            .field("dropped-malformed", self.malformed)
            .field("ratchets", self.ratchets)
            .field("rejected-keys", self.rejected_keys)
            .field("current-key-index", current_key_index.map_or(-1, i32::from))
            .build()
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
            Drop::AuthenticationFailed | Drop::Malformed => StreamState::Failing,
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
    key_index: Option<u8>,
    stream: Option<(u32, &str)>,
) -> gst::Message {
    let mut structure = gst::Structure::builder("jframe-state")
        .field("state", now.nick())
        .field("key-index", key_index.map_or(-1, i32::from))
        .build();
    if let Some((ssrc, participant)) = stream {
        structure.set("ssrc", ssrc);
        structure.set("participant", participant);
    }
    gst::message::Element::builder(structure).src(element).build()
}
