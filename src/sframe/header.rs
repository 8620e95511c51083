//! The SFrame header (RFC 9605 §4.3): a config byte `|X|KKK|Y|CCC|`, then the KID and
//! the CTR as big-endian numbers of 1 to 8 bytes when they do not fit inline (0-7).
//!
//! Encoding is minimal, as the RFC requires of senders. Parsing is strict: a header
//! that is not the minimal encoding of its values (a value below 8 in an extension
//! byte, a leading zero byte) is refused. Every header then has one encoding, so a
//! frame's AAD (which includes the header) cannot be varied by rewriting the header.

use super::error::HeaderError;

/// Longest header: the config byte, an 8-byte KID and an 8-byte CTR.
pub const MAX_HEADER_LEN: usize = 17;

/// The values a header carries: the key ID and the counter of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub kid: u64,
    pub ctr: u64,
}

/// An encoded header, at most [`MAX_HEADER_LEN`] bytes, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl std::ops::Deref for EncodedHeader {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for EncodedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedHeader(")?;
        self.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

/// Bytes needed beyond the config byte for `value`: 0 when it fits inline.
fn extension_len(value: u64) -> usize {
    if value < 8 { 0 } else { 8 - value.leading_zeros() as usize / 8 }
}

/// The 4-bit field (X and three bits) for `value`.
fn field(value: u64) -> u8 {
    match extension_len(value) {
        0 => value as u8,
        n => 0x08 | (n as u8 - 1),
    }
}

impl Header {
    pub fn new(kid: u64, ctr: u64) -> Header {
        Header { kid, ctr }
    }

    /// Length of the encoded header (1 to 17 bytes).
    pub fn encoded_len(&self) -> usize {
        1 + extension_len(self.kid) + extension_len(self.ctr)
    }

    /// The minimal encoding.
    pub fn encode(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        bytes[0] = field(self.kid) << 4 | field(self.ctr);
        let (kid_len, ctr_len) = (extension_len(self.kid), extension_len(self.ctr));
        bytes[1..1 + kid_len].copy_from_slice(&self.kid.to_be_bytes()[8 - kid_len..]);
        bytes[1 + kid_len..1 + kid_len + ctr_len].copy_from_slice(&self.ctr.to_be_bytes()[8 - ctr_len..]);
        EncodedHeader { bytes, len: (1 + kid_len + ctr_len) as u8 }
    }

    /// Parses the header at the start of `frame`; returns it with its length.
    pub fn parse(frame: &[u8]) -> Result<(Header, usize), HeaderError> {
        let (&config, rest) = frame.split_first().ok_or(HeaderError::Empty)?;
        let (kid_field, ctr_field) = (config >> 4, config & 0x0F);
        let needed = 1 + field_len(kid_field) + field_len(ctr_field);
        if frame.len() < needed {
            return Err(HeaderError::Truncated { needed, available: frame.len() });
        }
        let (kid, rest) = read_value(kid_field, rest)?;
        let (ctr, _) = read_value(ctr_field, rest)?;
        Ok((Header { kid, ctr }, needed))
    }
}

fn field_len(field: u8) -> usize {
    if field & 0x08 == 0 { 0 } else { usize::from(field & 0x07) + 1 }
}

/// Reads the value a field announces from `bytes`, which hold at least its extension.
fn read_value(field: u8, bytes: &[u8]) -> Result<(u64, &[u8]), HeaderError> {
    let len = field_len(field);
    if len == 0 {
        return Ok((u64::from(field), bytes));
    }
    let (value_bytes, rest) =
        bytes.split_at_checked(len).ok_or(HeaderError::Truncated { needed: len, available: bytes.len() })?;
    let value = value_bytes.iter().fold(0u64, |value, &b| value << 8 | u64::from(b));
    if extension_len(value) != len {
        return Err(HeaderError::NotMinimal);
    }
    Ok((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(kid: u64, ctr: u64) -> Vec<u8> {
        let header = Header::new(kid, ctr);
        let encoded = header.encode();
        assert_eq!(encoded.len(), header.encoded_len());
        assert_eq!(Header::parse(&encoded), Ok((header, encoded.len())));
        encoded.to_vec()
    }

    #[test]
    fn encodes_inline_and_extended_values_minimally() {
        assert_eq!(round_trip(0, 0), [0x00]);
        assert_eq!(round_trip(7, 7), [0x77]);
        assert_eq!(round_trip(8, 7), [0x87, 0x08]);
        assert_eq!(round_trip(7, 8), [0x78, 0x08]);
        assert_eq!(round_trip(0x123, 0x4567), [0x99, 0x01, 0x23, 0x45, 0x67]);
        assert_eq!(round_trip(u64::MAX, 2), [0xF2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(round_trip(u64::MAX, u64::MAX).len(), MAX_HEADER_LEN);
        for shift in 0..64 {
            round_trip(1 << shift, (1 << shift) - 1);
        }
    }

    #[test]
    fn refuses_non_minimal_and_truncated_headers() {
        assert_eq!(Header::parse(&[]), Err(HeaderError::Empty));
        assert_eq!(Header::parse(&[0x83, 0x05]), Err(HeaderError::NotMinimal));
        assert_eq!(Header::parse(&[0x38, 0x07]), Err(HeaderError::NotMinimal));
        assert_eq!(Header::parse(&[0x90, 0x00, 0x08]), Err(HeaderError::NotMinimal));
        assert_eq!(Header::parse(&[0xF0]), Err(HeaderError::Truncated { needed: 9, available: 1 }));
        assert_eq!(Header::parse(&[0x9F, 1, 2, 3]), Err(HeaderError::Truncated { needed: 11, available: 4 }));
        // Bytes after the header are the ciphertext's, not the header's.
        assert_eq!(Header::parse(&[0x12, 0xAA]), Ok((Header::new(1, 2), 1)));
    }
}
