//! Short codes two people compare to check they hold the same key.
//!
//! The code comes from the key through HKDF-SHA256 with a label of its own, so it is
//! a one-way function of the key: equal keys give equal codes, and the code tells
//! nothing usable about the key. It is shown in lib-jitsi-meet's two SAS forms
//! (`SAS.ts generateSas`): three decimal numbers and seven emoji.

use hkdf::Hkdf;
use sha2::Sha256;

const LABEL: &[u8] = b"JFrameKeyVerificationCode";

/// The 64 emoji of lib-jitsi-meet's SAS table (`SAS.ts`, Matrix's), with their names, as the
/// reference writes them (🙂 for smiley, ⚓️ with its variation selector).
pub const EMOJI: [(&str, &str); 64] = [
    ("🐶", "dog"),
    ("🐱", "cat"),
    ("🦁", "lion"),
    ("🐎", "horse"),
    ("🦄", "unicorn"),
    ("🐷", "pig"),
    ("🐘", "elephant"),
    ("🐰", "rabbit"),
    ("🐼", "panda"),
    ("🐓", "rooster"),
    ("🐧", "penguin"),
    ("🐢", "turtle"),
    ("🐟", "fish"),
    ("🐙", "octopus"),
    ("🦋", "butterfly"),
    ("🌷", "flower"),
    ("🌳", "tree"),
    ("🌵", "cactus"),
    ("🍄", "mushroom"),
    ("🌏", "globe"),
    ("🌙", "moon"),
    ("☁️", "cloud"),
    ("🔥", "fire"),
    ("🍌", "banana"),
    ("🍎", "apple"),
    ("🍓", "strawberry"),
    ("🌽", "corn"),
    ("🍕", "pizza"),
    ("🎂", "cake"),
    ("❤️", "heart"),
    ("🙂", "smiley"),
    ("🤖", "robot"),
    ("🎩", "hat"),
    ("👓", "glasses"),
    ("🔧", "spanner"),
    ("🎅", "santa"),
    ("👍", "thumbs up"),
    ("☂️", "umbrella"),
    ("⌛", "hourglass"),
    ("⏰", "clock"),
    ("🎁", "gift"),
    ("💡", "light bulb"),
    ("📕", "book"),
    ("✏️", "pencil"),
    ("📎", "paperclip"),
    ("✂️", "scissors"),
    ("🔒", "lock"),
    ("🔑", "key"),
    ("🔨", "hammer"),
    ("☎️", "telephone"),
    ("🏁", "flag"),
    ("🚂", "train"),
    ("🚲", "bicycle"),
    ("✈️", "aeroplane"),
    ("🚀", "rocket"),
    ("🏆", "trophy"),
    ("⚽", "ball"),
    ("🎸", "guitar"),
    ("🎺", "trumpet"),
    ("🔔", "bell"),
    ("⚓️", "anchor"),
    ("🎧", "headphones"),
    ("📁", "folder"),
    ("📌", "pin"),
];

/// A key's verification code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerificationCode {
    bytes: [u8; 6],
}

impl VerificationCode {
    /// The code of a key (its material in derived mode, the AES key in raw mode).
    pub fn of_key(key: &[u8]) -> VerificationCode {
        let mut bytes = [0u8; 6];
        // Six bytes of HKDF-SHA256 output cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(LABEL), key).expand(&[], &mut bytes);
        VerificationCode { bytes }
    }

    /// From SAS bytes as they are (for checking the two forms).
    pub fn from_bytes(bytes: [u8; 6]) -> VerificationCode {
        VerificationCode { bytes }
    }

    /// Three numbers of 13 bits plus 1000 (1000..=9191), from bytes 0..5.
    pub fn decimal(&self) -> [u16; 3] {
        let b = self.bytes.map(u16::from);
        [
            (b[0] << 5 | b[1] >> 3) + 1000,
            ((b[1] & 0x7) << 10 | b[2] << 2 | b[3] >> 6) + 1000,
            ((b[3] & 0x3f) << 7 | b[4] >> 1) + 1000,
        ]
    }

    /// Seven indices into [`EMOJI`]: the first 42 bits, six at a time.
    pub fn emoji_indices(&self) -> [usize; 7] {
        let bits = self.bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        std::array::from_fn(|i| ((bits >> (42 - 6 * i)) & 0x3f) as usize)
    }

    /// `"1234 5678 9012"`.
    pub fn decimal_string(&self) -> String {
        let [a, b, c] = self.decimal();
        format!("{a} {b} {c}")
    }

    /// The seven emoji, separated by spaces.
    pub fn emoji_string(&self) -> String {
        self.emoji_indices().map(|i| EMOJI[i].0).join(" ")
    }

    /// The seven emoji names, separated by commas.
    pub fn emoji_names(&self) -> String {
        self.emoji_indices().map(|i| EMOJI[i].1).join(", ")
    }
}
