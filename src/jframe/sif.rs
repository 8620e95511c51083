//! Server-injected frames: the few frames a LiveKit server sends in clear on encrypted
//! tracks (LiveKit's `sifPayload.ts`, which compares their SHA-256).

/// VP8 key frame of 8×8 pixels.
const VP8_KEY_FRAME_8X8: [u8; 31] = [
    0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x08, 0x00, 0x08, 0x00, 0x00, 0x47, 0x08, 0x85, 0x85, 0x88, 0x85, 0x84, 0x88,
    0x02, 0x02, 0x00, 0x0c, 0x0d, 0x60, 0x00, 0xfe, 0xff, 0xab, 0x50, 0x80,
];

/// The SPS, PPS and IDR NAL units of an H.264 key frame of 2×2 pixels, each injected alone.
const H264_2X2_SPS: [u8; 24] = [
    0x67, 0x42, 0xc0, 0x1f, 0x0f, 0xd9, 0x1f, 0x88, 0x88, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
    0xc8, 0x3c, 0x60, 0xc9, 0x20,
];
const H264_2X2_PPS: [u8; 6] = [0x68, 0x87, 0xcb, 0x83, 0xcb, 0x20];
const H264_2X2_IDR: [u8; 10] = [0x65, 0x88, 0x84, 0x0a, 0xf2, 0x62, 0x80, 0x00, 0xa7, 0xbe];

/// Opus silence: TOC 0xf8, then 0xff 0xfe and zeros (80 bytes).
const OPUS_SILENCE: [u8; 80] = {
    let mut frame = [0u8; 80];
    frame[0] = 0xf8;
    frame[1] = 0xff;
    frame[2] = 0xfe;
    frame
};

const KNOWN_PAYLOADS: [&[u8]; 5] = [&VP8_KEY_FRAME_8X8, &H264_2X2_SPS, &H264_2X2_PPS, &H264_2X2_IDR, &OPUS_SILENCE];

/// Whether a frame stripped of its SIF trailer is one a server injects.
pub(crate) fn is_known_payload(frame: &[u8]) -> bool {
    KNOWN_PAYLOADS.contains(&frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The payloads are the ones whose SHA-256 LiveKit lists (`CryptoHashes`).
    #[test]
    fn payloads_have_livekits_hashes() {
        let hashes = [
            "ef0161653d8b2b23aad46624b420af1d03ce48950e9fc85718028f91b50f9219",
            "f0a0e09647d891d6d50aa898bce7108090375d0d55e50a2bb21147afee558e44",
            "61d9665eed71b6d424ae9539330a3bdd5cb386d4d781c808219a6e36750493a7",
            "faffc26b68a2fc09096fa20f3351e706398b6f838a7500c8063472c2e476e90d",
            "aad8d31fc56b2802ca500e58c2fb9d0b29ad71bb7cb52cd6530251eade188988",
        ];
        for (payload, hash) in KNOWN_PAYLOADS.iter().zip(hashes) {
            let digest: String = Sha256::digest(payload).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digest, hash);
        }
        assert!(!is_known_payload(&OPUS_SILENCE[..79]));
    }
}
