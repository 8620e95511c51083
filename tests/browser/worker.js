// Encoded-transform worker of the browser interop page: encrypts the frames the page
// sends and decrypts those it receives with jframe.js, and counts them for the test.
//
// Like lib-jitsi-meet, one context encrypts every sender (its counters are per SSRC).
// Each receiver has a context of its own, so a ratchet followed on the video stream
// cannot make audio frames still in flight under the old key fail.
//
// Messages from the page: {id, op: 'setKey', side: 'send'|'recv', index, key: hex},
// {id, op: 'ratchet', side: 'send'|'recv'}, {id, op: 'loseIncoming', kind, frames} (the
// next `frames` received frames of that kind are dropped before decryption, as if lost),
// {id, op: 'counts'}; each is answered with {id, ok, error?, counts?} once it took effect.
// Transforms: new RTCRtpScriptTransform(worker, {side: 'send'|'recv', kind: 'audio'|'video'}).

import { JFrameContext } from './jframe.js';

const sender = new JFrameContext();
const receivers = { audio: new JFrameContext(), video: new JFrameContext() };

const perKind = () => ({ audio: 0, video: 0 });
const counts = {
    encrypted: perKind(),
    sendDropped: perKind(),
    sendErrors: perKind(),
    decrypted: perKind(),
    failures: perKind(),
    lost: perKind(),
    emptyPassed: { send: 0, recv: 0 },
    autoRatchets: perKind(),
    // KID of the frames decrypted, per kind: {kid: frames}.
    decryptedByKid: { audio: {}, video: {} },
};

// Received frames still to lose, per kind.
const toLose = perKind();

const contexts = (side) => (side === 'send' ? [sender] : Object.values(receivers));
const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

// The ArrayBuffer holding exactly these bytes, as RTCEncoded*Frame.data wants.
function exactBuffer(bytes) {
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.slice().buffer;
}

async function handle(message) {
    switch (message.op) {
        case 'setKey':
            await Promise.all(contexts(message.side).map((ctx) => ctx.setKey(message.index, fromHex(message.key))));
            return {};
        case 'ratchet':
            await Promise.all(contexts(message.side).map((ctx) => ctx.ratchet()));
            return {};
        case 'loseIncoming':
            toLose[message.kind] += message.frames;
            return {};
        case 'counts':
            return { counts };
        default:
            throw new Error(`unknown op ${message.op}`);
    }
}

self.onmessage = async ({ data: message }) => {
    try {
        self.postMessage({ id: message.id, ok: true, ...(await handle(message)) });
    } catch (e) {
        self.postMessage({ id: message.id, ok: false, error: String(e) });
    }
};

function encrypter(kind) {
    return async (frame, controller) => {
        // The format cannot carry an empty frame; pass it on as it is.
        if (frame.data.byteLength === 0) {
            counts.emptyPassed.send += 1;
            controller.enqueue(frame);
            return;
        }
        const metadata = frame.getMetadata();
        try {
            const out = await sender.encryptFrame(frame.data, frame.type, metadata.synchronizationSource,
                metadata.rtpTimestamp ?? frame.timestamp);
            if (out === null) {
                counts.sendDropped[kind] += 1;
                return;
            }
            frame.data = exactBuffer(out);
            counts.encrypted[kind] += 1;
            controller.enqueue(frame);
        } catch (e) {
            counts.sendErrors[kind] += 1;
        }
    };
}

function decrypter(kind) {
    const ctx = receivers[kind];
    return async (frame, controller) => {
        // Chromium hands the receiver one empty audio frame at the start of a call.
        if (frame.data.byteLength === 0) {
            counts.emptyPassed.recv += 1;
            controller.enqueue(frame);
            return;
        }
        if (toLose[kind] > 0) {
            toLose[kind] -= 1;
            counts.lost[kind] += 1;
            return;
        }
        const kid = new Uint8Array(frame.data).at(-1);
        const out = await ctx.decryptFrame(frame.data, frame.type);
        if (out === null) {
            counts.failures[kind] += 1;
            return;
        }
        frame.data = exactBuffer(out.data);
        counts.decrypted[kind] += 1;
        counts.autoRatchets[kind] += out.ratchetSteps;
        counts.decryptedByKid[kind][kid] = (counts.decryptedByKid[kind][kid] ?? 0) + 1;
        controller.enqueue(frame);
    };
}

self.onrtctransform = ({ transformer }) => {
    const { side, kind } = transformer.options;
    const transform = side === 'send' ? encrypter(kind) : decrypter(kind);
    transformer.readable
        .pipeThrough(new TransformStream({ transform }))
        .pipeTo(transformer.writable);
};
