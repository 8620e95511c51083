#!/usr/bin/env node
/*
 * lib-jitsi-meet's own OlmAdapter (libolm 3.2.15) in rooms of N participants, the same phases as
 * benches/scale_keys.rs: everyone joined and enabled E2EE; one leaves (the others rotate); one joins
 * (the others ratchet, it gets sessions and keys). Each phase is timed until everyone holds everyone's
 * current key (checked).
 *
 * The reference is loaded as the Olm oracle in ../shared/olm/oracle loads it (its ensureBuilt() extracts
 * and bundles OlmAdapter, its Network and LjmParticipant are the fake MUC and the few lines of
 * KeyHandler that drive it), without the oracle's recorder: nothing is recorded, no libolm call is
 * wrapped, lib-jitsi-meet's logs go nowhere.
 *
 *   node benches/scale/olm-reference.mjs 2,10,50,100,200     # each N in a child process
 *
 * Time is virtual for the reference's timers, as the Rust bench's clock is: the 5 s answer time-outs and the
 * 10 s wait for sessions fire only when the room has gone quiet with someone still waiting (counted as
 * `timeouts`), never because N participants share one event loop. Wall and CPU time are measured.
 *
 * Stops at the first N that does not finish within the budget (SCALE_REFERENCE_BUDGET_S, default 240 s,
 * for all N together). Prints one JSON line: { rows: [{ n, joined, left, rejoined, bytes_per_participant }],
 * reached, budget_s }. Set JFRAME_SHARED to the shared folder if it is not ../shared from the project.
 */

import { execFileSync, spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.JFRAME_SHARED || path.join(here, '..', '..', '..', 'shared');
const budgetS = Number(process.env.SCALE_REFERENCE_BUDGET_S || 240);

const nick = i => (((i + 1) * 0x9e3779b1) >>> 0).toString(16).padStart(8, '0');

async function loadReference() {
    const oracle = await import(pathToFileURL(path.join(shared, 'olm', 'oracle', 'olm-oracle.mjs')).href);
    const build = await oracle.ensureBuilt();
    const req = oracle.ensureDeps();

    globalThis.window = globalThis.window || {};
    globalThis.window.crypto = webcrypto;
    const Olm = req('@matrix-org/olm');

    await Olm.init();
    // libolm's emscripten runtime rethrows from these; the reference's async handlers only log in a browser.
    process.removeAllListeners('unhandledRejection');
    process.removeAllListeners('uncaughtException');
    let uncaught = 0;

    process.on('unhandledRejection', () => uncaught++);
    globalThis.window.Olm = Olm;
    globalThis.Olm = Olm;
    const lib = await import(pathToFileURL(build.bundle).href);

    lib.JitsiLogger.removeGlobalTransport(console);
    lib.JitsiLogger.setLogLevel('error');

    return { oracle, lib, uncaught: () => uncaught };
}

/** Heap, wasm memory (libolm's) and other buffers of this process, after a full collection. */
function memoryBytes() {
    globalThis.gc?.();
    const m = process.memoryUsage();

    return m.heapUsed + m.external;
}

/** setTimeout and clearTimeout on a virtual clock: a timer fires only through fireNextTimer(). */
function virtualTimers() {
    const timers = new Map();
    let next = 1;
    let now = 0;

    globalThis.setTimeout = (fn, ms = 0, ...args) => {
        const id = next++;

        timers.set(id, { at: now + ms, fn, args });

        return { id, unref() { return this; }, ref() { return this; }, hasRef: () => false };
    };
    globalThis.clearTimeout = t => timers.delete(t?.id ?? t);

    return () => {
        let first = null;

        for (const [ id, t ] of timers) {
            if (!first || t.at < first[1].at) {
                first = [ id, t ];
            }
        }
        if (!first) {
            return false;
        }
        timers.delete(first[0]);
        now = Math.max(now, first[1].at);
        first[1].fn(...first[1].args);

        return true;
    };
}

async function room(n) {
    const { oracle, lib, uncaught } = await loadReference();
    const fireNextTimer = virtualTimers();
    const rec = { as: (_p, fn) => fn(), add: () => ({ seq: 0 }), timeline: [] };
    const env = { lib, rec, randomBytes: k => webcrypto.getRandomValues(new Uint8Array(k)) };
    let messages = 0;
    let presences = 0;

    class Relay extends oracle.Network {
        sendMessage(from, to, json) {
            messages++;
            this.queue.push({ type: 'message', m: { from, to, json } });
            this.schedule();
        }

        sendPresence(from, name, value) {
            presences++;
            super.sendPresence(from, name, value);
        }
    }
    const net = new Relay(rec);
    const members = [];
    const join = id => {
        for (const m of members) {
            m.conf.addParticipant(id);
        }
        // The MUC sends the newcomer everyone's presence.
        for (const m of members) {
            for (const [ name, node ] of m.conf._presence) {
                const value = node.value ? String(node.value) : undefined;

                net.queue.push({ type: 'presence', from: m.id, to: id, name, value });
            }
        }
        net.schedule();
        const p = new oracle.LjmParticipant({ label: id, id, network: net, env, peers: members.map(m => m.id) });

        members.push(p);

        return p;
    };
    const hex = b => Buffer.from(b).toString('hex');
    const holds = (m, o) => {
        const last = [ ...m.received ].reverse().find(r => r.pId === o.id);

        return last && last.key === hex(o.key) && last.keyIndex === o.keyIndex;
    };
    const complete = (only = null) => members.every(m => members.every(o => m === o
        || (only && m !== only && o !== only) || holds(m, o)));
    const timed = async run => {
        const [ m0, p0 ] = [ messages, presences ];
        const [ t0, c0 ] = [ performance.now(), process.cpuUsage() ];

        let done = false;
        let timeouts = 0;
        const running = run().then(() => (done = true));

        // Until the phase is over: deliver everything, then let the next time-out fire.
        for (;;) {
            await net.settle(2);
            if (done || !fireNextTimer()) {
                break;
            }
            timeouts++;
        }
        await running;
        const cpu = process.cpuUsage(c0);

        return { ms: performance.now() - t0, cpu_ms: (cpu.user + cpu.system) / 1e3, messages: messages - m0,
            presences: presences - p0, timeouts };
    };

    const before = memoryBytes();

    for (let i = 0; i < n; i++) {
        join(nick(i));
    }
    await net.settle(2);
    const joined = await timed(() => Promise.all(members.map(m => m.enable())));

    joined.complete = complete();
    const bytesPerParticipant = (memoryBytes() - before) / n;

    const leaver = members.splice(Math.floor(n / 2), 1)[0];

    net.endpoints.delete(leaver.id);
    const left = await timed(() => Promise.all(members.map(m => {
        const p = m.participant(leaver.id);

        m.conf._participants.delete(leaver.id);
        m.conf.emit(lib.JitsiConferenceEvents.USER_LEFT, leaver.id, p);

        return m.rotate();
    })));

    left.complete = complete();

    let newcomer;
    const rejoined = await timed(async () => {
        newcomer = join(nick(n));
        await net.settle(2);
        await Promise.all([ newcomer.enable(), ...members.filter(m => m !== newcomer).map(m => m.ratchet()) ]);
    });

    rejoined.complete = complete(newcomer);

    return { n, joined, left, rejoined, bytes_per_participant: bytesPerParticipant, uncaught: uncaught() };
}

if (process.argv[2] === '--one') {
    const row = await room(Number(process.argv[3]));

    console.log(JSON.stringify(row));
    process.exit(0);
}

const sizes = (process.argv[2] || '2,10,50,100,200').split(',').map(Number);
const deadline = Date.now() + budgetS * 1000;
const rows = [];

// The bundle and its dependencies, once, outside the budget.
execFileSync(process.execPath, [ path.join(shared, 'olm', 'oracle', 'olm-oracle.mjs'), '--build-only' ],
    { stdio: [ 'ignore', 'ignore', 'inherit' ] });
for (const n of sizes) {
    const left = deadline - Date.now();
    const child = spawn(process.execPath, [ '--expose-gc', fileURLToPath(import.meta.url), '--one', String(n) ],
        { stdio: [ 'ignore', 'pipe', 'inherit' ] });
    let out = '';

    child.stdout.on('data', d => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(left, 0));
    const code = await new Promise(r => child.on('close', r));

    clearTimeout(timer);
    if (code !== 0) {
        process.stderr.write(`reference: N=${n} did not finish within the budget of ${budgetS} s\n`);
        break;
    }
    const row = JSON.parse(out.trim().split('\n').pop());

    process.stderr.write(`reference: N=${n} all joined ${row.joined.ms.toFixed(0)} ms`
        + ` (complete: ${row.joined.complete})\n`);
    rows.push(row);
}
console.log(JSON.stringify({ rows, reached: rows.length ? rows[rows.length - 1].n : 0, budget_s: budgetS }));
