#!/usr/bin/python3
"""A call between the room bot (bot/jframebot) and lib-jitsi-meet itself, in headless Chromium, on a local
Prosody with no conference focus: P2P Jingle, webrtcbin media, keys only from Olm, SAS.

Run by tests/jitsi_call.rs (`cargo test --release --test jitsi_call`), which builds the lib-jitsi-meet bundle with
../shared/ljm/build.sh and sets GST_PLUGIN_PATH to the plugin cargo built. By hand, from the project root:

    GST_PLUGIN_PATH=<dir with libgstjframe.so> /usr/bin/python3 tests/jitsi_call.py --dist target/ljm/dist

The whole run re-executes itself in a network namespace with only `lo` (`unshare -n`; `unshare -rn` when not
root), so Prosody, Chromium, the bots and every ICE/DTLS/SRTP packet stay on 127.0.0.1. One Prosody, one Chromium
with the participant page of ../shared/ljm (`harness=1`: the test sends it commands and reads `window.report`), in
one room; the bots come and go:

1. the browser calls bot A; the browser starts the SAS; a third participant (bot C, `--media none`: Olm only, no
   call) joins and leaves, so both ends ratchet and then rotate their keys in the middle of the call;
2. bot B calls the browser with `--record`, starts the SAS itself; a plain slixmpp occupant sends it hostile
   Jingle during the call; the recording is demuxed and decoded afterwards;
3. negative: bot D with `--drop-key-messages`, called by the browser;
4. negative: bot E with `--tamper-sas-mac`, SAS started by the browser.

`--demo` runs the one-command local demonstration instead (scripts/jitsi-call). JITSI_CALL_BOT_ARGS adds arguments
to the bots of phases 1 and 2 (e.g. `--drop-key-messages`: those checks must then fail). Each check prints one line
with its figures; the last line is `N passed, M failed`, and the exit status is 0 only without failures.
"""

import argparse
import asyncio
import copy
import importlib.util
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LJM = os.path.realpath(os.environ.get("LJM_DIR", os.path.join(ROOT, "..", "shared", "ljm")))
PYTHON = "/usr/bin/python3"
NETNS_ENV = "JITSI_CALL_IN_NETNS"

ROOM = "call"
# Bot nicks (endpoint ids): 8 hex digits as lib-jitsi-meet's, fixed so that the logs read the same every run.
# A bot starts the SAS by itself when its id is the smaller of the pair: A's is larger than any page's (the browser
# starts it), B's smaller (the bot starts it); C's and E's are larger too (the page confirms a SAS only with its sole
# peer, and starts E's itself).
NICK = {"A": "fffffffa", "B": "0000000b", "C": "fffffffc", "D": "d4d4d4d4", "E": "fffffffe", "demo": "0b07b07b"}
HOSTILE_NICK = "f00dbad0"

# Deadlines for conditions: generous, the run normally reaches each in a few seconds.
JOIN = 30
CALL = 40
KEY_CHANGE = 30  # lib-jitsi-meet debounces its ratchet and rotation by 5 s
MIN_VIDEO = 150  # the browser decodes at least this many of the bot's video frames
FRAMES_AFTER_CHANGE = 60  # frames decoded after a key change show decoding went on (2 s of the bot's video)
NEGATIVE_PACKETS = 150  # video packets the browser must receive before the negative control counts

JINGLE = "urn:xmpp:jingle:1"
JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def q(ns, tag):
    return f"{{{ns}}}{tag}"


# ---- checks and waiting -----------------------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.passed = self.failed = 0
        self.began = time.monotonic()

    def check(self, name, ok, detail=""):
        ok = bool(ok)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok' if ok else 'FAIL'} - {name} [{self.elapsed()}]" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def elapsed(self):
        return f"{time.monotonic() - self.began:.1f} s"


# No wait goes beyond this (monotonic time), whatever its own deadline: the run ends in bounded time.
RUN_DEADLINE = [float("inf")]


def wait_until(condition, timeout, give_up=lambda: False, step=0.1):
    """Polls condition() until it is true, the deadline passes or give_up() is true; returns its last value."""
    deadline = min(time.monotonic() + timeout, RUN_DEADLINE[0])
    while True:
        try:
            value = condition()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            value = None
        if value or time.monotonic() > deadline or give_up():
            return value
        time.sleep(step)


def get(d, *path, default=None):
    for key in path:
        if isinstance(d, list) and isinstance(key, int) and -len(d) <= key < len(d):
            d = d[key]
        elif isinstance(d, dict) and d.get(key) is not None:
            d = d[key]
        else:
            return default
    return d


# ---- the bot ----------------------------------------------------------------------------------------------------

class Bot:
    """One `python3 -m jframebot`, its output collected line by line with the time each line came."""

    def __init__(self, label, port, args, out):
        self.label, self.nick = label, NICK[label]
        command = [PYTHON, "-m", "jframebot", "--server", f"127.0.0.1:{port}", "--domain", "localhost",
                   "--room", f"{ROOM}@muc.localhost", "--nick", self.nick, "--json"] + args
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bot"), PYTHONUNBUFFERED="1")
        self.log = open(os.path.join(out, f"bot-{label}.log"), "w")
        self.log.write("$ " + shlex.join(command) + "\n")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []  # (monotonic time, line)
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.log.write(line + "\n")
            self.log.flush()
            with self.changed:
                self.lines.append((time.monotonic(), line))
                self.changed.notify_all()

    def find(self, pattern, after=0.0):
        """(time, match) of the first line at or after `after` matching the regex, or None."""
        with self.changed:
            for t, line in self.lines:
                match = re.search(pattern, line)
                if t >= after and match:
                    return t, match
        return None

    def wait(self, pattern, timeout, after=0.0):
        return wait_until(lambda: self.find(pattern, after), timeout, give_up=lambda: not self.alive())

    def command(self, text):
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def alive(self):
        return self.proc.poll() is None

    def quit(self, timeout=20):
        """`quit` on standard input; SIGTERM, then SIGKILL when it does not end. Returns the exit status."""
        if self.alive():
            self.command("quit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.reader.join(5)
        self.log.close()
        return self.proc.returncode

    def summary(self):
        """The --json summary: one JSON object line (maybe after a `summary-json: ` prefix), the last one."""
        with self.changed:
            lines = [line for _, line in self.lines]
        for line in reversed(lines):
            text = line[len("summary-json: "):] if line.startswith("summary-json: ") else line
            if text.startswith("{"):
                try:
                    return json.loads(text)
                except ValueError:
                    continue
        return None

    def tail(self, n=40):
        with self.changed:
            return "\n".join(f"    [{self.label}] {line}" for _, line in self.lines[-n:])


def peer_streams(summary, nick, kind):
    """The bot's counts of the streams it received from `nick` (a list, one per SSRC)."""
    streams = get(summary, "peers", nick, kind, default=[])
    return streams if isinstance(streams, list) else [streams]


def stream_total(summary, nick, kind, field):
    return sum(int(s.get(field) or 0) for s in peer_streams(summary, nick, kind))


def by_key_index(summary, nick, kind):
    counts = {}
    for s in peer_streams(summary, nick, kind):
        for index, n in (s.get("by-key-index") or {}).items():
            counts[int(index)] = counts.get(int(index), 0) + int(n)
    return counts


# ---- the browser ------------------------------------------------------------------------------------------------

class Page:
    """The participant page in Chromium: its report (posted every second) sampled into a history."""

    def __init__(self, rp, hub, prosody, out, url_extra=None):
        self.hub = hub
        params = {"id": "web", "ws": prosody.websocket_url, "domain": prosody.domain, "muc": prosody.muc,
                  "room": ROOM, "e2ee": "1", "harness": "1", **(url_extra or {})}
        self.url = f"http://127.0.0.1:{hub.port}/client.html?{urllib.parse.urlencode(params)}"
        self.browser = rp.Browser(self.url, os.path.join(out, "chromium.log"))
        self.history = []  # (monotonic time, report) for each new report
        self.stopped = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        last = None
        while not self.stopped.wait(0.1):
            report = self.hub.report("web")
            if report is not None and report is not last:
                last = report
                self.history.append((time.monotonic(), report))

    def report(self):
        return self.history[-1][1] if self.history else {}

    def send(self, command):
        self.hub.send("web", command)

    def my_id(self):
        return self.report().get("myId")

    def has_key_of(self, nick):
        return any(k.get("participant") == nick and k.get("len") for k in get(self.report(), "e2ee", "keys",
                                                                                default=[]))

    def own_key_ready(self):
        return any(k.get("len") for k in get(self.report(), "e2ee", "ownKeys", default=[]))

    def present(self, nick, report=None):
        p = get(report or self.report(), "participants", nick)
        return p is not None and not p.get("left")

    def gone(self, nick):
        p = get(self.report(), "participants", nick)
        return p is not None and p.get("left")

    @staticmethod
    def current_peer(report):
        """Whose P2P call the page is in now: the participant of the last video track added since P2P last started
        (remote tracks carry no SSRC in the report; the stats are those of the current PeerConnection)."""
        peer = None
        for e in report.get("events", []):
            if e.get("name") == "P2P_STATUS":
                peer = None
            elif e.get("name") == "TRACK_ADDED" and e.get("type") == "video":
                peer = e.get("participant")
            elif e.get("name") == "TRACK_REMOVED" and e.get("participant") == peer:
                peer = None
        return peer if get(report, "p2p", "status") is True else None

    def inbound(self, nick, kind, report=None):
        """The inbound-rtp stats of `kind` when they belong to a call with `nick` (an SSRC of the remote SDP), else {}."""
        report = report or self.report()
        stats = get(report, "stats", kind, default={})
        in_sdp = f"a=ssrc:{stats.get('ssrc')} " in (get(report, "p2p", "remoteSdp") or "")
        return stats if self.current_peer(report) == nick and in_sdp else {}

    def decoded(self, nick, report=None):
        return self.inbound(nick, "video", report).get("framesDecoded") or 0

    def decoded_at(self, nick, t):
        """Video frames of `nick` decoded by the first report at or after monotonic time t."""
        for when, report in self.history:
            if when >= t:
                return self.decoded(nick, report)
        return None

    def call_active(self, nick):
        r = self.report()
        return get(r, "p2p", "ice") in ("connected", "completed") and self.inbound(nick, "video", r)

    def verification(self, nick):
        return get(self.report(), "e2ee", "verification", nick, default={})

    def events(self, name, after_t=0):
        return [e for e in self.report().get("events", []) if e.get("name") == name and e.get("t", 0) >= after_t]

    def sas_starter(self, nick):
        """'the browser' or 'the bot': who sent the first sas-start between the page and `nick`."""
        for s in self.report().get("stanzas", []):
            xml = s.get("xml", "")
            if "sas-start" in xml and f"/{nick}" in xml:
                return "the browser" if s.get("dir") == "out" else "the bot"
        return None

    def session_sid(self, nick):
        """The sid of the last session-initiate between the page and `nick`, read from the page's own stanzas."""
        sid = None
        for s in self.report().get("stanzas", []):
            xml = s.get("xml", "")
            if "session-initiate" in xml and f"/{nick}" in xml:
                match = re.search(r"""\bsid=['"]([^'"]+)['"]""", xml)
                sid = match.group(1) if match else sid
        return sid

    def stop(self):
        self.stopped.set()
        self.browser.stop()


def frames_lost_around(page, nick, t, window=2.0):
    """About how many of `nick`'s video frames the browser lost around time t: the decode rate of the `window` seconds
    before t, projected over the samples up to `window` seconds after it, against what was decoded then. Returns
    (lost, decode rate before, decode rate after, in frames per second) or None without samples."""
    samples = [(when, page.decoded(nick, report)) for when, report in page.history]
    before = [x for x in samples if x[0] <= t - window] or samples[:1]
    at = [x for x in samples if x[0] <= t]
    after = [x for x in samples if t < x[0] <= t + window]
    if not before or not at or not after or at[-1][0] <= before[-1][0]:
        return None
    (t0, d0), (t1, d1), (t2, d2) = before[-1], at[-1], after[-1]
    rate_before, rate_after = (d1 - d0) / (t1 - t0), (d2 - d1) / (t2 - t1)
    return max(0, round((rate_before - rate_after) * (t2 - t1))), rate_before, rate_after


# ---- hostile Jingle from a plain occupant -----------------------------------------------------------------------

def transcript_jingle(action):
    """A lib-jitsi-meet Jingle element of `action` from the recorded P2P call (../shared/ljm/transcripts)."""
    root = ET.parse(os.path.join(LJM, "transcripts", "p2p-e2ee-run.xml")).getroot()
    for entry in root:
        iq = entry.find("iq")
        jingle = iq.find(q(JINGLE, "jingle")) if iq is not None else None
        if entry.get("dir") == "in" and jingle is not None and jingle.get("action") == action:
            return copy.deepcopy(jingle)
    raise RuntimeError(f"no {action} in the transcript")


def hostile_cases(room, call_sid):
    """(name, jingle element, acceptable error conditions, required Jingle condition or None). XEP-0166: bad-request
    for a malformed request, item-not-found + unknown-session for a session the receiver does not know (or is not a
    party of); a second session-initiate during a call is refused with an error of the receiver's choice."""
    me = f"{room}/{HOSTILE_NICK}"
    offer = transcript_jingle("session-initiate")
    offer.set("initiator", me)

    def initiate():
        jingle = copy.deepcopy(offer)
        jingle.set("sid", secrets.token_hex(6))
        return jingle

    no_content = initiate()
    for content in no_content.findall(q(JINGLE, "content")):
        no_content.remove(content)

    unknown_transport = initiate()
    for content in unknown_transport.findall(q(JINGLE, "content")):
        for transport in content.findall(q(ICE_UDP, "transport")):
            content.remove(transport)
        ET.SubElement(content, q("urn:xmpp:jingle:transports:raw-udp:1", "transport"))

    no_fingerprint = initiate()
    for transport in no_fingerprint.iter(q(ICE_UDP, "transport")):
        for fingerprint in transport.findall(q(DTLS, "fingerprint")):
            transport.remove(fingerprint)

    bogus_candidate = initiate()
    for transport in bogus_candidate.iter(q(ICE_UDP, "transport")):
        ET.SubElement(transport, q(ICE_UDP, "candidate"), component="1", foundation="1", generation="0",
                      id="bogus", ip="not-an-address", port="99999", priority="-1", protocol="carrier-pigeon",
                      type="host", network="1")

    transport_info = ET.Element(q(JINGLE, "jingle"), action="transport-info", sid="0badc0ffee00", initiator=me)
    content = ET.SubElement(transport_info, q(JINGLE, "content"), creator="initiator", name="0")
    transport = ET.SubElement(content, q(ICE_UDP, "transport"), ufrag="abcd", pwd="0123456789abcdefghijkl")
    ET.SubElement(transport, q(ICE_UDP, "candidate"), component="1", foundation="1", generation="0", id="c1",
                  ip="127.0.0.1", port="40000", priority="2122260223", protocol="udp", type="host", network="1")

    accept = transcript_jingle("session-accept")
    accept.set("sid", call_sid or "unknown")
    accept.set("responder", me)
    accept.attrib.pop("initiator", None)

    malformed = {"bad-request", "feature-not-implemented", "not-acceptable"}
    return [
        ("a session-initiate with no content", no_content, malformed, None),
        ("a session-initiate with an unknown transport (raw-udp)", unknown_transport, malformed, None),
        ("a session-initiate with no DTLS fingerprint", no_fingerprint, malformed, None),
        ("a session-initiate with a bogus candidate", bogus_candidate, malformed, None),
        ("a transport-info for an unknown session", transport_info, {"item-not-found"}, "unknown-session"),
        ("a session-accept of the ongoing call from an occupant that is not the peer", accept,
         {"item-not-found"}, "unknown-session"),
        ("a second session-initiate during the call", initiate(), None, None),
    ]


class Hostile:
    """A plain slixmpp occupant of the room (no E2EE) that sends Jingle IQs to a bot, on an asyncio loop of its own."""

    def __init__(self, port, room):
        logging.getLogger("slixmpp").setLevel(logging.CRITICAL)
        from slixmpp import ClientXMPP
        self.room = room
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.client = ClientXMPP("localhost", "")
        self.client.register_plugin("xep_0045")
        self.port = port

    def run(self, coroutine, timeout=30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def join(self):
        async def join():
            started = asyncio.get_running_loop().create_future()
            self.client.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
            self.client.connect(("127.0.0.1", self.port), force_starttls=False, disable_starttls=True)
            await asyncio.wait_for(started, 15)
            await self.client.plugin["xep_0045"].join_muc_wait(self.room, HOSTILE_NICK, maxstanzas=0, timeout=15)
        self.run(join())

    def send(self, to, jingle):
        """Sends an IQ set with `jingle`; returns ('result', None, None) or ('error', condition, jingle condition)."""
        from slixmpp.exceptions import IqError, IqTimeout

        async def send():
            iq = self.client.make_iq_set(ito=to)
            iq.xml.append(jingle)
            try:
                await iq.send(timeout=15)
                return "result", None, None
            except IqError as error:
                element = error.iq.xml.find("{jabber:client}error")
                condition = jingle_condition = None
                for child in (element if element is not None else []):
                    if child.tag.startswith(f"{{{STANZA_ERRORS}}}") and child.tag != q(STANZA_ERRORS, "text"):
                        condition = child.tag.split("}")[1]
                    elif child.tag.startswith(f"{{{JINGLE_ERRORS}}}"):
                        jingle_condition = child.tag.split("}")[1]
                return "error", condition, jingle_condition
            except IqTimeout:
                return "timeout", None, None
        return self.run(send())

    def close(self):
        async def leave():
            await self.client.disconnect(wait=1.0)
            # slixmpp leaves tasks behind; end them before the loop stops.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        try:
            self.run(leave(), 5)
        except Exception:  # the server may be gone already
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


# ---- the recording ----------------------------------------------------------------------------------------------

def decode_recording(path):
    """Demuxes and decodes a WebM with GStreamer; returns ({'video': frames, 'audio': frames}, error or None)."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    counts = {"video": 0, "audio": 0}
    pipeline = Gst.parse_launch(
        "filesrc name=file ! matroskademux name=demux "
        "demux.video_0 ! queue ! vp8dec name=video ! fakesink sync=false "
        "demux.audio_0 ! queue ! opusdec name=audio ! fakesink sync=false")
    pipeline.get_by_name("file").set_property("location", path)

    def counter(kind):
        def probe(pad, info):
            counts[kind] += 1
            return Gst.PadProbeReturn.OK
        return probe

    for kind in counts:
        pipeline.get_by_name(kind).get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, counter(kind))
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    error = None
    if message is None:
        error = "no end of stream within 60 s"
    elif message.type == Gst.MessageType.ERROR:
        error = message.parse_error()[0].message
    pipeline.set_state(Gst.State.NULL)
    return counts, error


# ---- the phases -------------------------------------------------------------------------------------------------

class Run:
    def __init__(self, checks, prosody, page, out, extra):
        self.checks, self.prosody, self.page, self.out, self.extra = checks, prosody, page, out, extra
        self.bots = []

    def bot(self, label, args):
        bot = Bot(label, self.prosody.c2s_port, args, self.out)
        self.bots.append(bot)
        return bot

    def check(self, name, ok, detail=""):
        return self.checks.check(name, ok, detail)

    def web(self):
        return self.page.my_id()

    def wait_keys(self, bot):
        """Until the page holds its own key and the bot's, and the bot printed the page's key."""
        return wait_until(lambda: self.page.own_key_ready() and self.page.has_key_of(bot.nick)
                          and bot.find(rf"^key of {self.web()}: index \d"), JOIN, give_up=lambda: not bot.alive())

    def leave(self, bot):
        with open(os.path.join(self.out, f"page-report-{bot.label}.json"), "w") as f:
            json.dump(self.page.report(), f)
        code = bot.quit()
        wait_until(lambda: self.page.gone(bot.nick), JOIN)
        return code

    def check_call(self, what, bot, role):
        """The call is up: the bot says so with its role, the page has P2P over 127.0.0.1 with E2EE transforms."""
        web = self.web()
        up = bot.wait(rf"^call with {web}: active \({role}\)", CALL)
        active = wait_until(lambda: self.page.call_active(bot.nick), CALL, give_up=lambda: not bot.alive())
        r = self.page.report()
        pair = get(r, "stats", "pair", "remote") or ""
        self.check(f"{what}: the call is active, the bot is the {role}, ICE connected on 127.0.0.1",
                   up and active and "127.0.0.1" in pair and get(r, "p2p", "isInitiator") is (role == "responder"),
                   f"bot: {'active' if up else 'no active line'}, page: P2P_STATUS={get(r, 'p2p', 'status')} "
                   f"ice={get(r, 'p2p', 'ice')} initiator={get(r, 'p2p', 'isInitiator')} "
                   f"pair={get(r, 'stats', 'pair', 'local')} -> {pair} dtls={get(r, 'stats', 'transport', 'dtlsState')}")
        return up and active

    def check_transforms(self, what):
        transforms = get(self.page.report(), "transforms", default={})
        ends = [x for x in transforms.get("senders", []) + transforms.get("receivers", []) if x.get("kind")]
        kinds = sorted(f"{x['kind']}:{x.get('transform')}" for x in ends)
        self.check(f"{what}: the browser's E2EE transforms are attached to every P2P sender and receiver",
                   len(ends) >= 4 and all(x.get("transform") == "RTCRtpScriptTransform" for x in ends), str(kinds))

    def check_browser_media(self, what, bot):
        web_video = self.page.inbound(bot.nick, "video")
        audio = self.page.inbound(bot.nick, "audio")
        decoded = web_video.get("framesDecoded") or 0
        self.check(f"{what}: the browser decodes at least {MIN_VIDEO} of the bot's video frames", decoded >= MIN_VIDEO,
                   f"{web_video.get('codec')} decoded {decoded} of {web_video.get('framesReceived')} received, "
                   f"{web_video.get('frameWidth')}x{web_video.get('frameHeight')}, key frames "
                   f"{web_video.get('keyFramesDecoded')}, PLI {web_video.get('pliCount')}")
        samples, concealed = audio.get("totalSamplesReceived") or 0, audio.get("concealedSamples") or 0
        share = concealed / samples if samples else 1.0
        self.check(f"{what}: the browser receives the bot's audio, concealment under 20 %",
                   samples >= 96000 and share < 0.2,
                   f"{audio.get('codec')} {samples} samples, {concealed} concealed ({share:.1%})")

    def check_sas(self, what, bot, starter):
        web = self.web()
        ready = bot.wait(rf"^SAS with {web}: ", JOIN)
        done = wait_until(lambda: self.page.verification(bot.nick).get("completed")
                          and bot.find(rf"^verification with {web}: "), JOIN)
        v = self.page.verification(bot.nick)
        page_sas = v.get("sas") or {}
        page_text = " ".join(str(n) for n in page_sas.get("decimal") or [])
        page_emoji = "".join(e[0] if isinstance(e, list) else str(e) for e in page_sas.get("emoji") or [])
        bot_line = ready[1].string if ready else ""
        bot_decimal, _, bot_emoji = bot_line.partition(": ")[2].partition(" | ")
        same = bool(page_text) and bot_decimal.strip() == page_text and \
            bot_emoji.replace(" ", "") == page_emoji.replace(" ", "")
        started = self.page.sas_starter(bot.nick)
        self.check(f"{what}: {starter} started the SAS; the same SAS on both sides", same and started == starter,
                   f"started by {started}; browser {page_text} {page_emoji}, bot {bot_decimal} {bot_emoji}")
        bot_verdict = bot.find(rf"^verification with {web}: (.*)")
        verdict = bot_verdict[1].group(1) if bot_verdict else None
        self.check(f"{what}: each side reports the other verified",
                   done and v.get("success") is True and verdict == "verified",
                   f"browser: success={v.get('success')} {v.get('message') or ''}, bot: {verdict}")

    def browser_sent(self, report):
        """(video frames encoded, audio packets sent) by the page in its current call, from its last report."""
        outbound = {o.get("kind"): o for o in get(report, "stats", "outbound", default=[])}
        return get(outbound, "video", "framesEncoded", default=0), get(outbound, "audio", "packetsSent", default=0)

    def wait_media(self, bot):
        """Until the browser decoded MIN_VIDEO of the bot's video frames and sent 100 of its own."""
        return wait_until(lambda: self.page.decoded(bot.nick) >= MIN_VIDEO
                          and self.browser_sent(self.page.report())[0] >= 100, CALL, give_up=lambda: not bot.alive())

    def check_bot_decoding(self, what, bot, summary, page_report):
        """The bot decoded what the browser sent (counted in the page's last report before the bot left, so a little
        less than all): at least 80 % of it, 0 failures once it had the key."""
        web = self.web()
        video_sent, audio_sent = self.browser_sent(page_report)
        video = stream_total(summary, web, "video", "decoded")
        audio = stream_total(summary, web, "audio", "decoded")
        failures = {kind: stream_total(summary, web, kind, "failed-after-key") for kind in ("video", "audio")}
        self.check(f"{what}: the bot decodes the browser's video and audio, 0 decryption failures after the first key",
                   summary is not None and video_sent >= 100 and video >= 0.8 * video_sent
                   and audio >= 0.8 * audio_sent > 0 and not any(failures.values()),
                   f"video {video} decoded of the {video_sent} the browser encoded, audio {audio} of {audio_sent} "
                   f"packets, failures {failures}, waiting for a key: "
                   f"{stream_total(summary, web, 'video', 'dropped-before-key')} video")

    # -- phase 1 --------------------------------------------------------------------------------------------------

    def start_call(self, what, bot, browser_calls):
        """Keys over Olm, then the call, started by the browser or (`--call`) by the bot. Without the keys the call
        goes ahead all the same: the checks on its media must then fail."""
        self.check(f"{what}: the bot joined and keys went both ways over Olm", self.wait_keys(bot),
                   f"the page holds the bot's key: {self.page.has_key_of(bot.nick)}, the bot the page's: "
                   f"{bool(bot.find(rf'^key of {self.web()}: index'))}")
        if browser_calls and wait_until(lambda: self.page.present(bot.nick), JOIN, give_up=lambda: not bot.alive()):
            self.page.send({"op": "p2p"})
        return self.check_call(what, bot, "responder" if browser_calls else "initiator")

    def check_ended(self, what, bot, code):
        self.check(f"{what}: on `quit` the bot ends the call and exits with status 0",
                   code == 0 and bot.find(rf"^call with {self.web()}: ended"), f"exit status {code}")

    def browser_calls(self):
        what = "browser calls"
        bot = self.bot("A", ["--confirm-sas", "--debounce", "1"] + self.extra)
        up = False
        try:
            up = self.start_call(what, bot, browser_calls=True)
            if up:
                self.page.send({"op": "sas"})
                self.check_sas(what, bot, "the browser")
                self.key_changes(bot)
                self.wait_media(bot)
                self.check_transforms(what)
                self.check_browser_media(what, bot)
        finally:
            report = self.page.report()
            code = self.leave(bot)
        if up:
            summary = bot.summary()
            self.check_bot_decoding(what, bot, summary, report)
            self.check_key_change_decoding(bot, summary)
            self.check_ended(what, bot, code)

    def key_changes(self, bot):
        """A third participant (bot C: Olm, no media) joins and leaves during the call: ratchet, then rotation."""
        web = self.web()
        own = lambda: get(self.page.report(), "e2ee", "ownKeys", default=[])  # noqa: E731
        before = own()[-1] if own() else {}
        bot_keys = lambda: [k for k in get(self.page.report(), "e2ee", "keys", default=[])  # noqa: E731
                            if k.get("participant") == bot.nick and k.get("len")]
        bot_index = max((k.get("index", 0) for k in bot_keys()), default=0)
        third = self.bot("C", ["--media", "none", "--debounce", "1"])
        joined = time.monotonic()
        ratcheted = wait_until(lambda: len(own()) > 0 and own()[-1].get("sha256_16") != before.get("sha256_16")
                               and own()[-1] or None, KEY_CHANGE)
        t_page_ratchet = time.monotonic()
        bot_ratchet = bot.wait(r"^ratcheted the own key", KEY_CHANGE, after=joined)
        self.changes = {"ratchet": max(t_page_ratchet, bot_ratchet[0] if bot_ratchet else 0)}
        self.check("key change: a third participant joined (not in the call); the browser and the bot ratcheted",
                   ratcheted and ratcheted.get("index") == before.get("index") and bot_ratchet,
                   f"browser own key index {before.get('index')} -> {get(ratcheted or {}, 'index')} "
                   f"(new hash {get(ratcheted or {}, 'sha256_16')}), bot: "
                   f"{'ratcheted' if bot_ratchet else 'no ratchet line'}")
        self.wait_decoded_after(bot, self.changes["ratchet"])
        third.quit()
        left = time.monotonic()
        rotated = wait_until(lambda: own()[-1] if own()[-1].get("index", 0) > before.get("index", 0) else None,
                             KEY_CHANGE)
        t_page_rotation = time.monotonic()
        bot_rotation = bot.wait(r"^rotating the own key", KEY_CHANGE, after=left)
        bot_learned = bot.wait(rf"^key of {web}: index [1-9]", KEY_CHANGE)
        page_learned = wait_until(lambda: max((k.get("index", 0) for k in bot_keys()), default=0) > bot_index,
                                  KEY_CHANGE)
        self.changes["rotation"] = max(t_page_rotation, bot_rotation[0] if bot_rotation else 0)
        self.check("key change: it left; the browser and the bot rotated and learned each other's new keys",
                   rotated and bot_rotation and bot_learned and page_learned,
                   f"browser own key index -> {get(rotated or {}, 'index')}, browser holds the bot's key index "
                   f"{max((k.get('index', 0) for k in bot_keys()), default=None)}, bot: "
                   f"{'rotated' if bot_rotation else 'no rotation line'}, "
                   f"{bot_learned[1].string if bot_learned else 'no new key of the browser'}")
        self.wait_decoded_after(bot, self.changes["rotation"])
        self.check_key_change_on_page(bot)

    def wait_decoded_after(self, bot, t):
        """Until the page reports FRAMES_AFTER_CHANGE more video frames of `bot` than in its first report after t."""
        return wait_until(lambda: self.page.decoded(bot.nick) - self.page.decoded_at(bot.nick, t)
                          >= FRAMES_AFTER_CHANGE, CALL)

    def check_key_change_on_page(self, bot):
        changes = getattr(self, "changes", {})
        lost = {name: frames_lost_around(self.page, bot.nick, t) for name, t in changes.items()}
        after = {name: self.page.decoded(bot.nick) - (self.page.decoded_at(bot.nick, t) or 0)
                 for name, t in changes.items()}
        self.check("key change: the browser kept decoding the bot's video across the ratchet and the rotation",
                   len(changes) == 2 and all(n >= FRAMES_AFTER_CHANGE for n in after.values()),
                   "; ".join(f"{name}: {after[name]} decoded after it, about {lost[name][0]} lost (decoding at "
                             f"{lost[name][1]:.1f}/s before it, {lost[name][2]:.1f}/s after)"
                             if lost.get(name) else f"{name}: no figures" for name in changes))

    def check_key_change_decoding(self, bot, summary):
        web = self.web()
        followed = sum(int(s.get("ratchets-followed") or 0) for s in peer_streams(summary, web, "video"))
        indexes = {kind: by_key_index(summary, web, kind) for kind in ("video", "audio")}
        failures = {kind: stream_total(summary, web, kind, "failed-after-key") for kind in ("video", "audio")}
        dropped = {kind: sum(sum((s.get("dropped") or {}).values()) for s in peer_streams(summary, web, kind))
                   for kind in ("video", "audio")}
        self.check("key change: the bot followed the browser's ratchet and decodes under its rotated key, "
                   "no frame failed",
                   followed >= 1 and all(sum(n for i, n in v.items() if i >= 1) > 0 for v in indexes.values())
                   and not any(failures.values()),
                   f"ratchets followed {followed}, frames decoded by key index {indexes}, failures {failures}, "
                   f"frames dropped (so lost around the changes) {dropped}")

    # -- phase 2 --------------------------------------------------------------------------------------------------

    def bot_calls(self):
        what = "bot calls"
        recording = os.path.join(self.out, "call.webm")
        bot = self.bot("B", ["--call", "--confirm-sas", "--record", recording] + self.extra)
        up = False
        try:
            up = self.start_call(what, bot, browser_calls=False)
            if up:
                self.check_sas(what, bot, "the bot")  # its id is the smaller one: it starts by itself
                self.hostile_jingle(bot)
                self.wait_media(bot)
                self.check_transforms(what)
                self.check_browser_media(what, bot)
        finally:
            report = self.page.report()
            code = self.leave(bot)
        if not up:
            return
        summary = bot.summary()
        self.check_bot_decoding(what, bot, summary, report)
        self.check_ended(what, bot, code)
        recorded = get(summary, "call", "recorded", default={})
        counts, error = decode_recording(recording) if os.path.exists(recording) else ({}, "no file")
        self.check("recording: the WebM demuxes and decodes with GStreamer, with the frame counts the bot reported",
                   not error and recorded.get("video", 0) >= 60 and recorded.get("audio", 0) >= 100
                   and counts == {"video": recorded.get("video"), "audio": recorded.get("audio")},
                   f"decoded {counts}, the bot reported {recorded}"
                   + (f", {os.path.getsize(recording)} bytes" if os.path.exists(recording) else "")
                   + (f", error: {error}" if error else ""))

    def hostile_jingle(self, bot):
        """Each hostile IQ gets an error and leaves the bot running; afterwards the call must be the same one, still
        decoding (checked once more frames came, so that late effects of the stanzas show)."""
        web = self.web()
        room = f"{ROOM}@muc.localhost"
        hostile = Hostile(self.prosody.c2s_port, room)
        sid = self.page.session_sid(bot.nick)
        try:
            hostile.join()
            for name, jingle, conditions, jingle_condition in hostile_cases(room, sid):
                reply, condition, got_jingle = hostile.send(f"{room}/{bot.nick}", jingle)
                self.check(f"hostile Jingle: {name} gets an IQ error, the bot runs on",
                           reply == "error" and condition and (conditions is None or condition in conditions)
                           and (jingle_condition is None or got_jingle == jingle_condition) and bot.alive(),
                           f"{reply} {condition or ''} {got_jingle or ''}".strip()
                           + f" (expected {'/'.join(sorted(conditions)) if conditions else 'an error'}"
                           + (f" {jingle_condition}" if jingle_condition else "") + ")")
        finally:
            hostile.close()
        done = time.monotonic()
        flowing = self.wait_decoded_after(bot, done)
        ended = bot.find(rf"^call with {web}: ended")
        removed = self.page.events("TRACK_REMOVED")
        same = self.page.session_sid(bot.nick) == sid and self.page.call_active(bot.nick)
        self.check("hostile Jingle: afterwards the call is untouched: the same session on both ends, still decoding",
                   flowing and same and not ended and bot.alive() and not [e for e in removed
                                                                          if e.get("participant") == bot.nick],
                   f"session {sid} {'still active' if same else 'GONE'} on the page, bot: "
                   f"{ended[1].string if ended else 'no end'}, "
                   f"{self.page.decoded(bot.nick) - (self.page.decoded_at(bot.nick, done) or 0)} more frames decoded")

    # -- phases 3 and 4 -------------------------------------------------------------------------------------------

    def without_keys(self):
        what = "negative, --drop-key-messages"
        bot = self.bot("D", ["--drop-key-messages"])
        try:
            if wait_until(lambda: self.page.present(bot.nick) and bot.find(r"^joined "), JOIN,
                          give_up=lambda: not bot.alive()):
                self.page.send({"op": "p2p"})
            # Video packets, not frames: lib-jitsi-meet drops what it cannot decrypt before Chromium counts frames.
            wait_until(lambda: (self.page.inbound(bot.nick, "video").get("packetsReceived") or 0) >= NEGATIVE_PACKETS,
                       CALL, give_up=lambda: not bot.alive())
            video = self.page.inbound(bot.nick, "video")
            received, decoded = video.get("framesReceived") or 0, video.get("framesDecoded") or 0
            packets = video.get("packetsReceived") or 0
        finally:
            self.leave(bot)
        summary = bot.summary()
        sent = get(summary, "call", "sent", "video", default=get(summary, "sent", "video"))
        self.check(f"{what}: the browser decodes at most 5 % of the bot's video frames",
                   packets >= NEGATIVE_PACKETS and (sent or 0) > 0 and decoded <= 0.05 * sent,
                   f"decoded {decoded} of the {sent} the bot sent ({received} frames passed lib-jitsi-meet's "
                   f"decryption, {packets} packets arrived, PLI {video.get('pliCount')}); the browser holds a key of "
                   f"the bot: {self.page.has_key_of(bot.nick)}")
        web = self.web()
        arrived = {k: stream_total(summary, web, k, "dropped-before-key") + stream_total(summary, web, k, "decrypted")
                   + stream_total(summary, web, k, "failed-after-key") for k in ("video", "audio")}
        decoded_by_bot = {k: stream_total(summary, web, k, "decoded") for k in ("video", "audio")}
        self.check(f"{what}: the bot decodes none of the browser's frames",
                   summary is not None and arrived["video"] > 0 and not any(decoded_by_bot.values()),
                   f"frames that arrived {arrived}, decoded {decoded_by_bot}")

    def tampered_sas(self):
        what = "negative, --tamper-sas-mac"
        bot = self.bot("E", ["--tamper-sas-mac", "--confirm-sas", "--media", "none"])
        web = self.web()
        try:
            if self.wait_keys(bot):
                self.page.send({"op": "sas"})
                wait_until(lambda: self.page.verification(bot.nick).get("completed")
                           and bot.find(rf"^verification with {web}: "), JOIN, give_up=lambda: not bot.alive())
        finally:
            self.leave(bot)
        v = self.page.verification(bot.nick)
        shown = bot.find(rf"^SAS with {web}: ") and v.get("sas")
        verdict = bot.find(rf"^verification with {web}: (.*)")
        self.check(f"{what}: both showed a SAS, and neither side verified the other",
                   shown and v.get("completed") and v.get("success") is not True and verdict
                   and verdict[1].group(1) != "verified",
                   f"browser: completed={bool(v.get('completed'))} success={v.get('success')} "
                   f"{v.get('message') or ''}, bot: {verdict[1].group(1) if verdict else 'no verdict'}")

    def check_page(self):
        errors = self.page.report().get("errors", [])
        self.check("the browser page had no errors", not errors, json.dumps(errors)[:600])
        crashed = [b.label for b in self.bots if any("Traceback" in line for _, line in b.lines)]
        self.check("no bot raised an exception", not crashed, str(crashed))


PHASES = ("browser_calls", "bot_calls", "without_keys", "tampered_sas")


# ---- set-up -----------------------------------------------------------------------------------------------------

def load_ljm():
    sys.dont_write_bytecode = True  # keep __pycache__ out of ../shared/ljm
    sys.path.insert(0, LJM)
    from prosody import Prosody
    spec = importlib.util.spec_from_file_location("ljm_run_pair", os.path.join(LJM, "run-pair.py"))
    rp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rp)
    return rp, Prosody


def reexec_in_netns():
    """Re-runs this script in a new network namespace with only `lo` up (as root, else in a user namespace)."""
    if os.environ.get(NETNS_ENV) == "1":
        return
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    command = unshare + ["--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", PYTHON,
                         os.path.abspath(__file__)] + sys.argv[1:]
    sys.stdout.flush()
    os.execvpe(command[0], command, dict(os.environ, **{NETNS_ENV: "1"}))


def test(args):
    reexec_in_netns()
    # SIGTERM ends the run through the clean-up below (Chromium runs in a session of its own and would stay).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rp, Prosody = load_ljm()
    out = args.out or tempfile.mkdtemp(prefix="jitsi-call-")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    checks = Checks()
    RUN_DEADLINE[0] = time.monotonic() + args.deadline
    extra = shlex.split(os.environ.get("JITSI_CALL_BOT_ARGS", ""))
    prosody = Prosody(log_dir=out).start()  # before any thread: it is started with preexec_fn
    page = run = None
    try:
        hub = rp.Hub(args.dist)
        page = Page(rp, hub, prosody, out)
        joined = wait_until(lambda: page.report().get("joined") and page.own_key_ready(), JOIN)
        if checks.check("the browser page joined the room with E2EE on (lib-jitsi-meet, no focus)", joined,
                        f"myId {page.my_id()}, errors {page.report().get('errors')}"):
            run = Run(checks, prosody, page, out, extra)
            for phase in PHASES:
                if not args.phase or phase in args.phase:
                    began = time.monotonic()
                    getattr(run, phase)()
                    print(f"-- phase {phase}: {time.monotonic() - began:.1f} s", flush=True)
            run.check_page()
    finally:
        for bot in (run.bots if run else []):
            bot.quit(5)
        if page is not None:
            with open(os.path.join(out, "page-report.json"), "w") as f:
                json.dump(page.report(), f)
            page.stop()
        prosody.stop()
    if checks.failed and run:
        for bot in run.bots:
            print(f"  bot {bot.label} ({bot.nick}), last lines:\n{bot.tail(25)}")
    print(f"logs: {out}")
    print(f"run time: {checks.elapsed()}")
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    if not checks.failed and not args.out and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if checks.failed else 0


def demo(args):
    """scripts/jitsi-call: Prosody, the page (headless Chromium unless --no-browser) and the bot, which calls the
    browser. The bot's output is shown as it comes; Ctrl-C (or --seconds) ends it all."""
    rp, Prosody = load_ljm()
    out = args.out or tempfile.mkdtemp(prefix="jitsi-call-demo-")
    os.makedirs(out, exist_ok=True)
    prosody = Prosody(log_dir=out).start()
    hub = rp.Hub(args.dist)
    params = {"ws": prosody.websocket_url, "domain": prosody.domain, "muc": prosody.muc, "room": ROOM, "e2ee": "1"}
    url = f"http://127.0.0.1:{hub.port}/client.html?{urllib.parse.urlencode(params)}"
    print(f"Prosody on 127.0.0.1:{prosody.c2s_port} (WebSocket {prosody.websocket_url}), room {ROOM}@{prosody.muc}")
    print(f"the participant page: {url}")
    page = None
    if not args.no_browser:
        page = Page(rp, hub, prosody, out)
        print("  (running in headless Chromium; open the address above in a browser of your own instead with "
              "--no-browser)")
    command = [PYTHON, "-m", "jframebot", "--server", f"127.0.0.1:{prosody.c2s_port}", "--domain", "localhost",
               "--room", f"{ROOM}@muc.localhost", "--nick", NICK["demo"], "--call"] + args.bot_args
    print("$ PYTHONPATH=bot " + shlex.join(command), flush=True)
    bot = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bot")))
    try:
        bot.wait(args.seconds or None)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        pass
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(10)
            except subprocess.TimeoutExpired:
                bot.kill()
        if page is not None:
            r = page.report()
            for kind in ("video", "audio"):
                print(f"the browser's {kind} from the bot: {json.dumps(page.inbound(NICK['demo'], kind, r))}")
            page.stop()
        prosody.stop()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", required=True, help="lib-jitsi-meet bundle built by ../shared/ljm/build.sh")
    parser.add_argument("--out", help="directory for logs, the recording and the page's report (kept)")
    parser.add_argument("--phase", action="append", choices=PHASES, help="run only this phase (repeatable)")
    parser.add_argument("--deadline", type=float, default=400, help="no wait goes beyond this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary log directory")
    parser.add_argument("--demo", action="store_true", help="the local demonstration instead of the test")
    parser.add_argument("--no-browser", action="store_true", help="demo: do not start Chromium, only print the URL")
    parser.add_argument("--seconds", type=float, default=0, help="demo: end after this long (default: Ctrl-C)")
    parser.add_argument("bot_args", nargs="*", help="demo: more arguments for the bot (after --)")
    args = parser.parse_args()
    args.dist = os.path.abspath(args.dist)
    return demo(args) if args.demo else test(args)


if __name__ == "__main__":
    sys.exit(main())
