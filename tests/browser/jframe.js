// JFrame, the end-to-end media frame encryption of lib-jitsi-meet, on WebCrypto.
//
// Frame on the wire: clear header (n bytes, also the AES-GCM additional data) ||
// AES-128-GCM ciphertext || tag (16) || IV (12) || 0x0C || KID, where n is 10 for a VP8
// key frame ('key'), 3 for a VP8 inter frame ('delta') and 1 for audio (no type).
// AES key = HKDF-SHA256(material, salt "JFrameEncryptionKey", no info, 16 bytes);
// ratchet: next material = HKDF-SHA256(material, salt "JFrameRatchetKey", no info, 32 bytes).
// IV = SSRC || RTP timestamp || (per-SSRC frame counter mod 65535), each u32 big-endian.
//
// Interface (any implementation with the same one can replace this module):
//
//   const ctx = new JFrameContext({ ratchetWindow = 8, sendCounters = {} })
//       One participant's state: a key ring of 16 slots and per-SSRC send counters
//       (sendCounters maps an SSRC to its first counter; random when absent).
//   await ctx.setKey(index, material)
//       Installs key material (Uint8Array, any length) at slot index % 16 and makes that
//       slot current; material false empties the slot (a sender then drops frames).
//   await ctx.ratchet(index = current)
//       Replaces the material of a slot by its ratchet and makes the slot current.
//   ctx.setEnabled(enabled)
//       Disabled, frames pass through unchanged both ways.
//   await ctx.encryptFrame(frameData, type, ssrc, timestamp) -> Uint8Array | null
//       The frame to send, or null (drop it) when the current slot holds no key. Throws a
//       RangeError for a frame shorter than its clear header (its counter is consumed).
//   await ctx.decryptFrame(frameData, type) -> { data: Uint8Array, ratchetSteps } | null
//       The clear frame, and how many ratchet steps of the frame's KID slot it took (the
//       slot keeps the ratcheted key); null when the frame cannot be decrypted (drop it).
//   ctx.currentKeyIndex, ctx.material(index) (Uint8Array or null)
//
// frameData: ArrayBuffer or Uint8Array; type: 'key', 'delta', or undefined/null for audio.
// Calls on one context take effect in call order (each waits for the previous one), so a
// key set before a frame is the key that frame sees.
//
// Difference from lib-jitsi-meet, deliberate: a receiver that fails on a frame ratchets
// the slot the frame's KID names and stores the result there. The reference derives from
// that slot but stores into the current slot, so it can only follow a sender whose KID is
// its current slot. Both agree when KID = current slot, the normal case.

const RING_SIZE = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const COUNTER_MODULUS = 0xffff;
const CLEAR_BYTES = { key: 10, delta: 3 };
const AUDIO_CLEAR_BYTES = 1;

export const TRAILER_LENGTH = TAG_LENGTH + IV_LENGTH + 2;

const text = new TextEncoder();
const ENCRYPTION_SALT = text.encode('JFrameEncryptionKey');
const RATCHET_SALT = text.encode('JFrameRatchetKey');
const NO_INFO = new Uint8Array(0);

// Clear header length of a frame type; undefined for types the format has no rule for
// (the reference then treats the whole frame as header and encrypts it all).
function clearBytes(type) {
    return type === undefined || type === null ? AUDIO_CLEAR_BYTES : CLEAR_BYTES[type];
}

function bytesOf(frameData) {
    return frameData instanceof Uint8Array ? frameData : new Uint8Array(frameData);
}

// A ring entry: the material bytes, its HKDF key and the AES key derived from it.
async function keyFromMaterial(bytes) {
    const material = await crypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveBits', 'deriveKey']);
    const encryptionKey = await crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: ENCRYPTION_SALT, info: NO_INFO },
        material, { name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
    return { bytes, material, encryptionKey };
}

async function ratchetKey(key) {
    const next = await crypto.subtle.deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: RATCHET_SALT, info: NO_INFO }, key.material, 256);
    return keyFromMaterial(new Uint8Array(next));
}

export class JFrameContext {
    constructor({ ratchetWindow = 8, sendCounters = {} } = {}) {
        this.ratchetWindow = ratchetWindow;
        this.currentKeyIndex = -1;
        this._ring = new Array(RING_SIZE).fill(null);
        // Ratcheted keys of a slot already derived while trying to follow a sender.
        this._ahead = new Array(RING_SIZE).fill(null).map(() => []);
        this._enabled = true;
        this._sendCounts = new Map(Object.entries(sendCounters).map(([ssrc, n]) => [Number(ssrc), n]));
        this._queue = Promise.resolve();
    }

    // Runs fn after every call made before it.
    _inOrder(fn) {
        const run = this._queue.then(fn);
        this._queue = run.catch(() => {});
        return run;
    }

    _install(index, key) {
        const slot = index % RING_SIZE;
        this.currentKeyIndex = slot;
        this._ring[slot] = key;
        this._ahead[slot] = [];
    }

    setKey(index, material) {
        if (!Number.isInteger(index) || index < 0) {
            return Promise.reject(new RangeError(`key index ${index} is not a non-negative integer`));
        }
        const key = material === false ? Promise.resolve(false) : keyFromMaterial(new Uint8Array(material));
        return this._inOrder(async () => this._install(index, await key));
    }

    ratchet(index = this.currentKeyIndex) {
        return this._inOrder(async () => {
            const key = this._ring[index % RING_SIZE];
            if (!key) {
                throw new Error(`no key at index ${index} to ratchet`);
            }
            this._install(index, await ratchetKey(key));
        });
    }

    setEnabled(enabled) {
        this._enabled = enabled;
    }

    material(index) {
        const key = this._ring[index % RING_SIZE];
        return key ? key.bytes : null;
    }

    _makeIv(ssrc, timestamp) {
        ssrc >>>= 0;
        if (!this._sendCounts.has(ssrc)) {
            this._sendCounts.set(ssrc, Math.floor(Math.random() * COUNTER_MODULUS));
        }
        const count = this._sendCounts.get(ssrc);
        this._sendCounts.set(ssrc, count + 1);
        const iv = new Uint8Array(IV_LENGTH);
        const view = new DataView(iv.buffer);
        view.setUint32(0, ssrc);
        view.setUint32(4, timestamp >>> 0);
        view.setUint32(8, count % COUNTER_MODULUS);
        return iv;
    }

    encryptFrame(frameData, type, ssrc, timestamp) {
        return this._inOrder(async () => {
            const frame = bytesOf(frameData);
            if (!this._enabled) {
                return frame;
            }
            const kid = this.currentKeyIndex;
            const key = kid >= 0 ? this._ring[kid] : null;
            if (!key) {
                return null;
            }
            const iv = this._makeIv(ssrc, timestamp);
            const n = clearBytes(type) ?? frame.length;
            if (frame.length < n) {
                throw new RangeError(`Invalid typed array length: ${n}`);
            }
            const header = frame.subarray(0, n);
            const sealed = new Uint8Array(await crypto.subtle.encrypt(
                { name: 'AES-GCM', iv, additionalData: header, tagLength: TAG_LENGTH * 8 },
                key.encryptionKey, clearBytes(type) === undefined ? frame : frame.subarray(n)));
            const out = new Uint8Array(n + sealed.length + IV_LENGTH + 2);
            out.set(header, 0);
            out.set(sealed, n);
            out.set(iv, n + sealed.length);
            out[out.length - 2] = IV_LENGTH;
            out[out.length - 1] = kid;
            return out;
        });
    }

    decryptFrame(frameData, type) {
        return this._inOrder(async () => {
            const frame = bytesOf(frameData);
            if (!this._enabled) {
                return { data: frame, ratchetSteps: 0 };
            }
            if (frame.length === 0) {
                return null;
            }
            const kid = frame[frame.length - 1];
            const key = kid < RING_SIZE ? this._ring[kid] : null;
            if (!key) {
                return null;
            }
            const ivLength = frame[frame.length - 2];
            const ivStart = frame.length - 2 - ivLength;
            const n = clearBytes(type) ?? frame.length;
            if (ivStart - n < TAG_LENGTH) {
                return null;
            }
            const parts = {
                header: frame.subarray(0, n),
                sealed: frame.subarray(n, ivStart),
                iv: frame.subarray(ivStart, frame.length - 2),
            };
            let plain = await open(key, parts);
            let steps = 0;
            while (!plain && steps < this.ratchetWindow) {
                steps += 1;
                plain = await open(await this._keyAhead(kid, steps), parts);
            }
            if (!plain) {
                return null;
            }
            if (steps > 0) {
                this._ring[kid] = this._ahead[kid][steps - 1];
                this._ahead[kid] = this._ahead[kid].slice(steps);
            }
            const data = new Uint8Array(n + plain.length);
            data.set(parts.header, 0);
            data.set(plain, n);
            return { data, ratchetSteps: steps };
        });
    }

    // The key of slot kid ratcheted `steps` times, derived once and kept until the slot changes.
    async _keyAhead(kid, steps) {
        const ahead = this._ahead[kid];
        while (ahead.length < steps) {
            ahead.push(await ratchetKey(ahead.length ? ahead[ahead.length - 1] : this._ring[kid]));
        }
        return ahead[steps - 1];
    }
}

async function open(key, { header, sealed, iv }) {
    try {
        return new Uint8Array(await crypto.subtle.decrypt(
            { name: 'AES-GCM', iv, additionalData: header, tagLength: TAG_LENGTH * 8 },
            key.encryptionKey, sealed));
    } catch {
        return null;
    }
}
