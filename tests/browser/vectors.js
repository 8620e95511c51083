// Runs the reference test vectors (managed-key cases) through jframe.js.
// Usage: node vectors.js <jframe-vectors.json> [jframe module]; exits 1 if a case fails.
// Prints one line per failing case and a closing "N passed, M failed, K skipped".

import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Node 18 (Debian 12's) has WebCrypto only as node:crypto's webcrypto, not as a global.
globalThis.crypto ??= webcrypto;

const [vectorsPath, modulePath = './jframe.js'] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const { JFrameContext } = await import(pathToFileURL(resolve(here, modulePath)).href);
const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8'));

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (bytes) => Buffer.from(bytes).toString('hex');

function check(what, got, want) {
    if (got !== want) {
        throw new Error(`${what}: got ${got}, want ${want}`);
    }
}

async function setKey(ctx, key) {
    const material = key.effectiveMaterial ?? key.material;
    await ctx.setKey(key.keyIndex, material === false ? false : fromHex(material));
}

async function encryptStep(ctx, step) {
    const { expect } = step;
    let out;
    try {
        out = await ctx.encryptFrame(fromHex(step.input), step.frameType, step.ssrc, step.rtpTimestamp);
    } catch (e) {
        check('result', 'error', expect.result);
        check('error', `${e.name}: ${e.message}`, expect.error);
        return;
    }
    if (out === null) {
        check('result', 'dropped', expect.result);
    } else {
        check('result', expect.result === 'dropped' || expect.result === 'error' ? 'output' : expect.result,
            expect.result);
        check('output', toHex(out), expect.output);
    }
}

// The quirk case: the reference cannot follow a ratchet on a KID other than its current
// slot; jframe.js ratchets the KID slot and decrypts (see jframe.js).
async function decryptStep(ctx, step, quirk) {
    const { expect } = step;
    const out = await ctx.decryptFrame(fromHex(step.input), step.frameType);
    if (quirk && expect.result === 'dropped' && expect.reason === 'decrypt-failed') {
        check('quirk: decrypted after ratcheting the KID slot', out !== null && out.ratchetSteps > 0, true);
        return;
    }
    if (out === null) {
        check('result', 'dropped', expect.result);
        return;
    }
    check('result', expect.result === 'dropped' ? 'output' : expect.result, expect.result);
    check('output', toHex(out.data), expect.output);
    if (expect.result === 'decrypted') {
        check('ratchet steps', out.ratchetSteps, expect.ratchetDerivations);
    }
}

async function runCase(testCase) {
    const quirk = (testCase.tags ?? []).includes('quirk');
    // Counters of SSRCs the case does not list start at 0 (vectors README).
    const sendCounters = Object.fromEntries(testCase.steps.filter((s) => s.ssrc !== undefined).map((s) => [s.ssrc, 0]));
    Object.assign(sendCounters, testCase.initialSendCounters);
    const ctx = new JFrameContext({ sendCounters });
    for (const key of testCase.keys) {
        await setKey(ctx, key);
    }
    ctx.setEnabled(testCase.enabled !== false);
    for (const [n, step] of testCase.steps.entries()) {
        try {
            if (step.action === 'setKey') {
                await setKey(ctx, step);
            } else if (step.action === 'setEnabled') {
                ctx.setEnabled(step.enabled);
            } else if (testCase.direction === 'encrypt') {
                await encryptStep(ctx, step);
            } else {
                await decryptStep(ctx, step, quirk);
            }
        } catch (e) {
            throw new Error(`step ${n}: ${e.message}`);
        }
    }
    if (testCase.direction === 'decrypt' && !quirk) {
        for (const [slot, material] of Object.entries(testCase.keyRingAfter ?? {})) {
            const got = ctx.material(Number(slot));
            check(`key ring slot ${slot}`, got === null ? false : toHex(got), material);
        }
        check('current key index', ctx.currentKeyIndex, testCase.currentKeyIndexAfter);
    }
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const testCase of vectors.cases) {
    if (testCase.mode !== 'managed') {
        skipped += 1;
        continue;
    }
    try {
        await runCase(testCase);
        passed += 1;
    } catch (e) {
        failed += 1;
        console.log(`FAIL ${testCase.id}: ${e.message}`);
    }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
