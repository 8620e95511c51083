//! H.264/H.265 Annex B access units under LiveKit's rules: where the clear prefix ends
//! (two bytes into the first slice NAL unit), the 4-byte start codes of the prefix as
//! sent, and the emulation prevention that keeps the encrypted part free of start codes.
//!
//! NAL units are found the way LiveKit's parser finds them (`naluUtils.ts`), so that
//! both ends agree on the prefix of the same bytes.

/// The NAL unit syntax to read slice types with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NalCodec {
    H264,
    H265,
}

fn is_slice(codec: NalCodec, header: u8) -> bool {
    match codec {
        // Non-IDR and IDR slices.
        NalCodec::H264 => matches!(header & 0x1f, 1 | 5),
        // VCL types TRAIL_N ..= RASL_R and BLA_W_LP ..= CRA_NUT.
        NalCodec::H265 => matches!((header >> 1) & 0x3f, 0..=9 | 16..=21),
    }
}

const START_CODE_4: [u8; 4] = [0, 0, 0, 1];
const START_CODE_3: [u8; 3] = [0, 0, 1];

/// The next start code at or after `pos` that begins before `search_end`.
fn find_start_code(data: &[u8], mut pos: usize, search_end: usize) -> Option<usize> {
    while pos < search_end {
        if (pos + 1 < search_end && data[pos..].starts_with(&START_CODE_4)) || data[pos..].starts_with(&START_CODE_3) {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// The NAL units of an access unit: each unit's first byte offset, and the length of
/// the start code before it. Units starting in the last 3 bytes are not reported.
struct NalUnits<'a> {
    data: &'a [u8],
    search_end: usize,
    next_code: Option<usize>,
}

/// `None` when other bytes than zeros precede the first start code: not Annex B.
fn nal_units(data: &[u8]) -> Option<NalUnits<'_>> {
    let search_end = data.len().saturating_sub(3);
    let first = find_start_code(data, 0, search_end);
    let leading = &data[..first.unwrap_or(data.len())];
    if leading.iter().any(|&b| b != 0) {
        return None;
    }
    Some(NalUnits { data, search_end, next_code: first })
}

impl Iterator for NalUnits<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let code = self.next_code.take()?;
        let code_len = if self.data[code..].starts_with(&START_CODE_4) { 4 } else { 3 };
        let start = code + code_len;
        if start >= self.search_end {
            return None;
        }
        self.next_code = find_start_code(self.data, start, self.search_end);
        Some((start, code_len))
    }
}

/// Length of LiveKit's clear prefix of an access unit: up to and including the first
/// two bytes of its first slice NAL unit. The codec comes from the whole access unit, as
/// LiveKit reads it: H.264 if any unit is an H.264 slice, else H.265 if any is an H.265
/// slice. Read unit by unit, an H.264 SEI (0x06) or access unit delimiter (0x09) before
/// the slice would pass for an H.265 slice; H.265 headers of layer 0 are even bytes and
/// never pass for H.264 slices. The codec signalled with the frame does not count (LiveKit
/// uses it only when the units show no slice, and then finds none either). `None` if
/// `data` is no Annex B stream or has no slice: LiveKit then applies the VP8 rule.
pub(crate) fn first_slice_prefix(data: &[u8]) -> Option<usize> {
    let mut first_h265_slice = None;
    for (start, _) in nal_units(data)? {
        if is_slice(NalCodec::H264, data[start]) {
            return Some(start + 2);
        }
        if first_h265_slice.is_none() && is_slice(NalCodec::H265, data[start]) {
            first_h265_slice = Some(start + 2);
        }
    }
    first_h265_slice
}

/// Where else than at 0 the clear prefix of a received access unit may begin as its
/// sender wrote it: at every later 4-byte start code before byte `clear` (LiveKit's
/// prefix starts with one). A receiver may have put NAL units before the sender's:
/// `rtph264depay` and `rtph265depay` put the parameter sets of their caps before the
/// first access unit.
pub(crate) fn later_prefix_starts(data: &[u8], clear: usize) -> Vec<usize> {
    nal_units(data)
        .into_iter()
        .flatten()
        .take_while(|&(start, _)| start < clear)
        .filter(|&(start, code_len)| code_len == 4 && start > 4)
        .map(|(start, _)| start - 4)
        .collect()
}

/// The clear prefix (the first `clear` bytes of access unit `data`) as sent, when it has
/// 3-byte start codes: with 4-byte ones instead. `None` when it has none.
pub(crate) fn prefix_with_long_start_codes(data: &[u8], clear: usize) -> Option<Vec<u8>> {
    let prefix = data.get(..clear)?;
    let short_codes = nal_units(data)?
        .take_while(|&(start, _)| start < clear)
        .filter(|&(_, code_len)| code_len == 3)
        .map(|(start, _)| start - 3);
    let mut out = Vec::new();
    let mut copied = 0;
    for code in short_codes {
        out.extend_from_slice(&prefix[copied..code]);
        out.push(0);
        copied = code;
    }
    if out.is_empty() {
        return None;
    }
    out.extend_from_slice(&prefix[copied..]);
    Some(out)
}

/// Emulation prevention over consecutive pieces (LiveKit's `writeRbsp`): a 0x03 goes
/// before every byte ≤ 3 that follows two zeros, so no start code can appear.
#[derive(Default)]
pub(crate) struct Escaper {
    zeros: usize,
}

impl Escaper {
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        for &byte in bytes {
            if byte <= 3 && self.zeros >= 2 {
                out.push(3);
                self.zeros = 0;
            }
            out.push(byte);
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
        }
    }
}

/// Whether LiveKit unescapes a received encrypted part: a `00 00 03` starting before
/// its last 3 bytes.
pub(crate) fn needs_unescaping(data: &[u8]) -> bool {
    data.len() > 3 && data[..data.len() - 1].windows(3).any(|w| w == [0, 0, 3])
}

/// Removes the 0x03 of every `00 00 03` in place (LiveKit's `parseRbsp`); returns the
/// new length.
pub(crate) fn unescape_in_place(data: &mut [u8]) -> usize {
    let (mut read, mut write) = (0, 0);
    while read < data.len() {
        if data[read..].starts_with(&[0, 0, 3]) {
            data[write] = 0;
            data[write + 1] = 0;
            write += 2;
            read += 3;
        } else {
            data[write] = data[read];
            write += 1;
            read += 1;
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Escaper::default().push(&mut out, bytes);
        out
    }

    #[test]
    fn escaping_removes_start_codes_and_unescaping_restores() {
        let raw = [0, 0, 1, 7, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0];
        let escaped = escape(&raw);
        assert_eq!(escaped, [0, 0, 3, 1, 7, 0, 0, 3, 0, 0, 3, 3, 0, 0, 3, 2, 0, 0]);
        assert!(!escaped.windows(3).any(|w| w == START_CODE_3));
        let mut back = escaped.clone();
        let len = unescape_in_place(&mut back);
        assert_eq!(&back[..len], raw);
    }

    #[test]
    fn unescaping_is_only_needed_before_the_last_three_bytes() {
        assert!(needs_unescaping(&[0, 0, 3, 9]));
        assert!(!needs_unescaping(&[9, 0, 0, 3]));
        assert!(!needs_unescaping(&[0, 0, 3]));
    }

    #[test]
    fn first_slice_prefix_ends_two_bytes_into_the_first_slice() {
        // SPS, PPS, IDR slice (H.264).
        let au = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 4, 5, 6];
        assert_eq!(first_slice_prefix(&au), Some(18));
        // Leading bytes other than zeros: no Annex B stream.
        assert_eq!(first_slice_prefix(&[9, 0, 0, 1, 0x65, 1, 2, 3]), None);
        // SPS and PPS only: no slice.
        assert_eq!(first_slice_prefix(&[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 4]), None);
    }

    #[test]
    fn an_h264_slice_anywhere_outranks_units_that_read_as_h265_slices() {
        // SEI (0x06: H.265 type 3, TSA_R), then a non-IDR slice.
        let sei = [0, 0, 0, 1, 0x06, 5, 1, 0x80, 0, 0, 0, 1, 0x41, 0x9a, 7, 7, 7];
        assert_eq!(first_slice_prefix(&sei), Some(14));
        // AUD (0x09: H.265 type 4, STSA_N), SPS, PPS, IDR slice.
        let aud = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88, 7, 7];
        assert_eq!(first_slice_prefix(&aud), Some(24));
    }

    #[test]
    fn h265_units_are_read_as_h265_when_no_h264_slice_is_there() {
        // AUD (35), VPS (32), SPS (33), PPS (34), prefix SEI (39), IDR_W_RADL slice (19).
        let au = [
            0, 0, 0, 1, 0x46, 1, 0x50, 0, 0, 0, 1, 0x40, 1, 0x0c, 0, 0, 0, 1, 0x42, 1, 1, 0, 0, 0, 1, 0x44, 1, 0xc1, 0,
            0, 0, 1, 0x4e, 1, 5, 0, 0, 0, 1, 0x26, 1, 0xaf, 9, 9,
        ];
        assert_eq!(first_slice_prefix(&au), Some(41));
        // A trailing picture (TRAIL_R, 1) after an AUD.
        let trail = [0, 0, 0, 1, 0x46, 1, 0x50, 0, 0, 0, 1, 0x02, 1, 0xd0, 9, 9];
        assert_eq!(first_slice_prefix(&trail), Some(13));
    }

    #[test]
    fn a_sent_prefix_may_start_at_any_later_long_start_code() {
        // SPS and PPS put before an access unit of AUD, SPS, PPS (3-byte code) and an IDR slice.
        let au = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, // put before
            0, 0, 0, 1, 9, 0x10, 0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 0x88, 7, 7, 7,
        ];
        let clear = first_slice_prefix(&au).unwrap();
        assert_eq!(clear, 35);
        assert_eq!(later_prefix_starts(&au, clear), [6, 12, 18, 29]);
        assert!(later_prefix_starts(&[1, 2, 3], 2).is_empty());
    }

    #[test]
    fn short_start_codes_of_the_prefix_become_long_ones() {
        let au = [0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 0, 0, 1, 0x65, 0x88, 7, 0, 0, 1, 0x41, 9, 9, 9];
        let clear = first_slice_prefix(&au).unwrap();
        assert_eq!(clear, 15);
        let long = prefix_with_long_start_codes(&au, clear).unwrap();
        assert_eq!(long, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 0x88]);
        let mut sent = long.clone();
        sent.extend_from_slice(&au[clear..]);
        assert_eq!(prefix_with_long_start_codes(&sent, long.len()), None);
    }
}
