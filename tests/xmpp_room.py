#!/usr/bin/python3
"""A room on a local Prosody: jframebot participants (bot/jframebot, in its --media loopback test mode) exchange
keys through jframeolm over real XMPP stanzas and decrypt and decode each other's media.

Run by tests/xmpp_room.rs (`cargo test`) with GST_PLUGIN_PATH set to the plugin just built. By hand:

    GST_PLUGIN_PATH=target/release /usr/bin/python3 tests/xmpp_room.py

The scenario: three bots join; a fourth joins late; one leaves; a fifth joins without the E2EE feature
and E2EE off, then turns E2EE on with the feature in the same presence (lib-jitsi-meet reads a peer's
features again when its e2ee.enabled turns true), and leaves; the fourth turns E2EE off; the server goes
away. Two plain slixmpp clients are in the room too: `junk`, which has the E2EE feature, records
what the bots send it and answers with junk, and `plain`, which has E2EE keys in its presence but not
the feature. The server records every stanza the clients send (examples/local_prosody.py), and the
shapes of the bots' stanzas are checked against lib-jitsi-meet's (protocol section 1).

XMPP_ROOM_BOT_ARGS adds arguments to every bot: `--drop-key-messages` switches the key exchange off,
and the test must then fail. Ends with the line `N passed, M failed`; exit status 0 only without
failures.
"""

import asyncio
import base64
import collections
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
from local_prosody import LocalProsody  # noqa: E402

# Debian's slixmpp warns at import that it uses the pure-Python stringprep: nothing to act on.
logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)
from slixmpp import ClientXMPP  # noqa: E402
from slixmpp.stanza import Message, Presence  # noqa: E402
from slixmpp.xmlstream import ElementBase, register_stanza_plugin  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import StanzaPath  # noqa: E402

BOT_PACKAGE = os.path.join(ROOT, "bot")
PYTHON = "/usr/bin/python3"
ROOM_NAME = "e2ee-test"
# Fixed ids, ordered as lib-jitsi-meet orders them (string <): the smaller one starts the Olm session.
NICKS = {"A": "1b07a3e2", "B": "5c19d4f0", "C": "9a2e8b61", "D": "3f6c0d95", "E": "e5a0b1c2"}
JUNK_NICK = "f0f0f0f0"  # larger than every bot: the bots start sessions with it
PLAIN_NICK = "fe0e0e0e"  # the same, were the missing feature ignored
JITMEET_NS = "http://jitsi.org/jitmeet"
E2EE_FEATURE = "https://jitsi.org/meet/e2ee"
CLIENT = "{jabber:client}"
PROPERTY = CLIENT + "jitsi_participant_"
MUC_NS = "{http://jabber.org/protocol/muc}"
UNPADDED_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")
UNPADDED_B64 = re.compile(r"^[A-Za-z0-9+/]+$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# protocol.md section 2: the exact fields of `data` for each message type.
DATA_FIELDS = {
    "session-init": {"idKey", "otKey", "uuid"},
    "session-ack": {"ciphertext", "uuid"},
    "key-info": {"ciphertext", "uuid"},
    "key-info-ack": {"ciphertext", "uuid"},
    "error": {"error"},
    "sas-start": {"transactionId"},
    "sas-accept": {"commitment", "transactionId"},
    "sas-key": {"key", "transactionId"},
    "sas-mac": {"keys", "mac", "transactionId"},
}
JUNK = [
    "this is not JSON",
    "{}",
    '{"type":"olm","olm":{"type":"no-such-type","data":{}}}',
    '{"type":"olm","olm":{"type":"key-info","data":{"ciphertext":{"type":1,"body":"bm90IG9sbQ"},'
    '"uuid":"00000000-0000-4000-8000-000000000000"}}}',
    '{"type":"olm","olm":{"type":"session-init","data":{"idKey":"short","otKey":"!!","uuid":"x"}}}',
    "[" * 50000,
]


class Checks:
    def __init__(self):
        self.passed = self.failed = 0
        self.began = time.monotonic()

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok - {name} ({self.elapsed()})", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {name} ({self.elapsed()})" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def elapsed(self):
        return f"{time.monotonic() - self.began:.1f} s"


class BotProcess:
    """One jframebot (`python3 -m jframebot`), its output collected line by line. Were this script killed, the
    bot would still end: Prosody dies with this script, and a bot exits when its server goes away."""

    def __init__(self, label, port, extra_args):
        self.label, self.nick = label, NICKS[label]
        # --media loopback: the bots' test mode, media straight to each other over UDP (no Jingle, no bridge).
        command = [PYTHON, "-m", "jframebot", "--media", "loopback", "--server", f"127.0.0.1:{port}",
                   "--room", f"{ROOM_NAME}@muc.localhost",
                   "--nick", self.nick, "--debounce", "0.3", "--confirm-sas", "--json"] + extra_args
        env = dict(os.environ, PYTHONPATH=BOT_PACKAGE)
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def has(self, pattern):
        with self.changed:
            return any(re.search(pattern, line) for line in self.lines)

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def summary(self):
        with self.changed:
            found = [line for line in self.lines if line.startswith("summary-json: ")]
        return json.loads(found[-1][len("summary-json: "):]) if found else None

    def output(self):
        with self.changed:
            return "\n".join(f"  [{self.label} {self.nick}] {line}" for line in self.lines)


def wait_for_lines(expected, timeout):
    """expected: [(bot, regex)]. Waits until every bot printed its line; returns what is missing."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [(bot, pattern) for bot, pattern in expected if not bot.has(pattern)]
        if not missing or time.monotonic() > deadline:
            return [f"{bot.label}: {pattern}" for bot, pattern in missing]
        time.sleep(0.05)


class JsonMessage(ElementBase):
    name = "json-message"
    namespace = JITMEET_NS
    plugin_attrib = "json_message"
    interfaces = {"json_message"}
    is_extension = True

    def get_json_message(self):
        return self.xml.text or ""

    def set_json_message(self, value):
        self.xml.text = value


register_stanza_plugin(Message, JsonMessage)


def fake_key():
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


class Watcher(ClientXMPP):
    """A plain slixmpp occupant. It records the bots' presences and the json-messages sent to it.
    With `junk`, it has the E2EE feature and answers the bots with junk."""

    def __init__(self, room, nick, junk):
        super().__init__("localhost", "")
        self.room, self.nick, self.junk = room, nick, junk
        self.presences = collections.defaultdict(list)  # nick -> [(type, properties, features)]
        self.messages = []  # (sender nick, json text)
        self.junk_sent = collections.Counter()
        self.register_plugin("xep_0045")
        self.add_filter("out", self._add_children)
        self.add_event_handler("groupchat_presence", self._on_presence)
        self.register_handler(Callback("json", StanzaPath("message@type=chat/json_message"), self._on_json))
        # As a lib-jitsi-meet participant would publish them, but the keys are random bytes.
        self.properties = {"e2ee.idKey.curve25519": fake_key(), "e2ee.idKey.ed25519": fake_key(),
                           "e2ee.enabled": "true"}

    def _add_children(self, stanza):
        if isinstance(stanza, Presence) and stanza["to"].bare == self.room and stanza["type"] != "unavailable":
            for name, value in self.properties.items():
                ET.SubElement(stanza.xml, PROPERTY + name).text = value
            if self.junk:
                features = ET.SubElement(stanza.xml, CLIENT + "features")
                ET.SubElement(features, CLIENT + "feature", var=E2EE_FEATURE)
        return stanza

    async def join(self, port):
        started = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
        self.connect(("127.0.0.1", port), force_starttls=False, disable_starttls=True)
        await asyncio.wait_for(started, 10)
        await self.plugin["xep_0045"].join_muc_wait(self.room, self.nick, maxstanzas=0, timeout=10)

    def _on_presence(self, presence):
        nick = presence["from"].resource
        if presence["from"].bare != self.room or nick not in NICKS.values():
            return
        properties, features = {}, set()
        for child in presence.xml:
            if child.tag.startswith(PROPERTY):
                properties[child.tag[len(PROPERTY):]] = child.text
            elif child.tag == CLIENT + "features":
                features.update(f.get("var") for f in child)
        first = not self.presences[nick]
        self.presences[nick].append((presence["type"], properties, features))
        if self.junk and first and presence["type"] != "unavailable":
            for text in JUNK:
                self.send_json(nick, text)

    def _on_json(self, message):
        nick = message["from"].resource
        text = message["json_message"]
        self.messages.append((nick, text))
        if not self.junk:
            return
        try:
            olm = json.loads(text)["olm"]
        except (ValueError, KeyError, TypeError):
            return
        if olm.get("type") == "session-init":
            # A session-ack with the right uuid and a ciphertext that is no Olm message.
            self.send_json(nick, json.dumps({"type": "olm", "olm": {"type": "session-ack", "data": {
                "ciphertext": {"type": 0, "body": "bm90IGFuIE9sbSBtZXNzYWdl"}, "uuid": olm["data"].get("uuid")}}}))

    def send_json(self, nick, text):
        message = self.make_message(mto=f"{self.room}/{nick}", mtype="chat")
        message["json_message"] = text
        message.send()
        self.junk_sent[nick] += 1


class Watchers:
    """The two plain clients, on an asyncio loop of their own."""

    def __init__(self, port):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.junk, self.plain = asyncio.run_coroutine_threadsafe(self._start(port), self.loop).result(30)

    async def _start(self, port):
        room = f"{ROOM_NAME}@muc.localhost"
        junk, plain = Watcher(room, JUNK_NICK, True), Watcher(room, PLAIN_NICK, False)
        await asyncio.gather(junk.join(port), plain.join(port))
        return junk, plain

    def close(self):
        async def disconnect():
            await asyncio.gather(*(c.disconnect(wait=1.0) for c in (self.junk, self.plain)), return_exceptions=True)
            # slixmpp leaves tasks behind; end them before the loop stops.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(disconnect(), self.loop).result(5)
        except Exception:  # the server may be gone already
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)


def peer(summary, label):
    return (summary or {}).get("peers", {}).get(NICKS[label], {})


def streams(summary, label, kind):
    return peer(summary, label).get(kind, [])


def total(summary, label, kind, field):
    return sum(stream[field] for stream in streams(summary, label, kind))


def check_decoding(checks, summaries, receiver, senders, what):
    """The receiver decoded video and audio of each sender, with no decryption failure after its keys came."""
    counts, failures, low = {}, {}, []
    for sender in senders:
        for kind, least in (("video", 5), ("audio", 10)):
            name = f"{sender} {kind}"
            counts[name] = total(summaries[receiver], sender, kind, "decoded")
            failures[name] = total(summaries[receiver], sender, kind, "failed-after-key")
            if counts[name] < least:
                low.append(name)
    checks.check(f"{receiver} {what}", not low, f"decoded {counts}")
    checks.check(f"{receiver}: no decryption failure once keys were in, from {', '.join(senders)}",
                 summaries[receiver] is not None and not any(failures.values()), f"failures {failures}")


def parse_stanza_log(path):
    """[(sender's nick, stanza element)] from the server's record; the nick comes from the sender's join."""
    stanzas = []
    with open(path) as f:
        for line in f:
            try:
                # Stanzas are written without the stream's default namespace: put them back in it.
                stanzas.append(ET.fromstring(f'<log xmlns="jabber:client">{line}</log>')[0])
            except ET.ParseError:
                pass
    nick_of = {}
    for stanza in stanzas:
        if stanza.tag == CLIENT + "presence" and stanza.find(MUC_NS + "x") is not None:
            nick_of[stanza.get("from")] = stanza.get("to", "").partition("/")[2]
    return [(nick_of.get(s.get("from")), s) for s in stanzas]


def check_json_message(stanza, sender, curve25519_of):
    """What is wrong with one json-message stanza of a bot, against protocol.md sections 1 and 2 (or None)."""
    to_room, _, to_nick = stanza.get("to", "").partition("/")
    if stanza.get("type") != "chat" or to_room != f"{ROOM_NAME}@muc.localhost" or not to_nick:
        return f"not a private chat message to an occupant: type={stanza.get('type')} to={stanza.get('to')}"
    payloads = [c for c in stanza if c.tag == "{%s}json-message" % JITMEET_NS]
    if len(payloads) != 1:
        return f"{len(payloads)} json-message children"
    try:
        body = json.loads(payloads[0].text or "")
    except ValueError:
        return "text is not JSON"
    if set(body) != {"type", "olm"} or body["type"] != "olm" or set(body["olm"]) != {"data", "type"}:
        return f"envelope {sorted(body)}"
    kind, data = body["olm"]["type"], body["olm"]["data"]
    if DATA_FIELDS.get(kind) != set(data):
        return f"{kind} with fields {sorted(data)}"
    if kind == "session-init":
        if not (UNPADDED_KEY.match(data["idKey"]) and UNPADDED_KEY.match(data["otKey"]) and UUID4.match(data["uuid"])):
            return f"session-init values {data}"
        if data["idKey"] != curve25519_of.get(sender):
            return "session-init idKey is not the sender's presence curve25519 key"
    if kind in ("session-ack", "key-info", "key-info-ack"):
        ciphertext = data["ciphertext"]
        if set(ciphertext) != {"type", "body"} or ciphertext["type"] not in (0, 1) or \
                not UNPADDED_B64.match(ciphertext["body"]) or not UUID4.match(data["uuid"]):
            return f"{kind} ciphertext {ciphertext} uuid {data['uuid']}"
        if kind == "session-ack" and ciphertext["type"] != 0:
            return "session-ack is not a pre-key message"
    if kind == "sas-mac" and list(data["mac"]) != [f"ed25519:{to_nick}"]:
        return f"sas-mac labels {list(data['mac'])}, not ed25519:<receiver>"
    return None


def check_stanzas(checks, log, bots):
    bot_nicks = {NICKS[label] for label in bots}
    curve25519_of = {}
    presence_problems, message_problems = [], []
    types = collections.Counter()
    to_plain = []
    for sender, stanza in log:
        if stanza.tag == CLIENT + "message" and sender == PLAIN_NICK:
            continue
        if stanza.tag == CLIENT + "message" and stanza.get("to", "").endswith("/" + PLAIN_NICK):
            to_plain.append(sender)
        if sender not in bot_nicks:
            continue
        if stanza.tag == CLIENT + "presence" and stanza.get("type") != "unavailable":
            properties = {c.tag[len(PROPERTY):]: c.text or "" for c in stanza if c.tag.startswith(PROPERTY)}
            features = {f.get("var") for c in stanza if c.tag == CLIENT + "features" for f in c}
            curve25519_of[sender] = properties.get("e2ee.idKey.curve25519")
            problems = [name for name in ("e2ee.idKey.curve25519", "e2ee.idKey.ed25519")
                        if not UNPADDED_KEY.match(properties.get(name, ""))]
            if properties.get("e2ee.enabled") not in ("true", ""):
                problems.append(f"e2ee.enabled={properties.get('e2ee.enabled')!r}")
            if E2EE_FEATURE not in features:
                problems.append("no E2EE feature")
            if problems:
                kind = "join" if stanza.find(MUC_NS + "x") is not None else "update"
                presence_problems.append(f"{sender} {kind} presence: {problems}")
        elif stanza.tag == CLIENT + "message" and stanza.find("{%s}json-message" % JITMEET_NS) is not None:
            problem = check_json_message(stanza, sender, curve25519_of)
            if problem:
                message_problems.append(f"{sender}: {problem}")
            else:
                types[json.loads(stanza.find("{%s}json-message" % JITMEET_NS).text)["olm"]["type"]] += 1
    joins = {s for s, st in log if s in bot_nicks and st.tag == CLIENT + "presence" and st.find(MUC_NS + "x") is not None}
    checks.check("every bot's presence, the join presence too, has both identity keys, e2ee.enabled and "
                 "the E2EE feature (server's record)", joins == bot_nicks and not presence_problems,
                 f"joins {sorted(joins)}, {presence_problems[:5]}")
    checks.check("every json-message of the bots is a private chat message of lib-jitsi-meet's shape "
                 "(server's record)", not message_problems and sum(types.values()) > 0, str(message_problems[:5]))
    needed = ["session-init", "session-ack", "key-info", "key-info-ack", "sas-start", "sas-accept", "sas-key",
              "sas-mac"]
    checks.check("keys went over real stanzas: sessions, key-info and SAS messages between the bots",
                 all(types[t] > 0 for t in needed), f"counts {dict(types)}")
    checks.check("nobody sent a json-message to the participant without the E2EE feature", not to_plain,
                 f"from {to_plain}")


def check_observed_presence(checks, watcher, bots):
    problems = []
    for label in bots:
        seen = [p for p in watcher.presences.get(NICKS[label], []) if p[0] != "unavailable"]
        if not seen:
            problems.append(f"{label}: no presence")
        keys = {(p[1].get("e2ee.idKey.curve25519"), p[1].get("e2ee.idKey.ed25519")) for p in seen}
        if len(keys) != 1 or not all(k and UNPADDED_KEY.match(k) for k in next(iter(keys), (None, None))):
            problems.append(f"{label}: identity keys {keys}")
        if any(E2EE_FEATURE not in p[2] or "e2ee.enabled" not in p[1] for p in seen):
            problems.append(f"{label}: a presence without the feature or e2ee.enabled")
    checks.check("an occupant sees every bot presence complete: the same identity keys, e2ee.enabled and the "
                 "feature each time (presence is full state)", not problems, str(problems))


def scenario(checks, server, watchers, bots, extra):
    def start(label, *more):
        bots[label] = BotProcess(label, server.port, extra + list(more))

    def decoding(receiver, senders):
        return [(bots[receiver], f"^decoding {kind} from {NICKS[s]}$") for s in senders for kind in ("video", "audio")]

    for label in "ABC":
        start(label)
    missing = wait_for_lines(decoding("A", "BC") + decoding("B", "AC") + decoding("C", "AB"), 30)
    if not checks.check("three bots joined, exchanged keys and decode each other's video and audio", not missing,
                        f"missing {missing}"):
        return None
    time.sleep(1.0)

    start("D")
    missing = wait_for_lines(decoding("D", "ABC") + [(bots[x], "^ratcheted the own key") for x in "ABC"], 20)
    checks.check("a fourth bot joined late decodes the three others; they ratcheted their keys", not missing,
                 f"missing {missing}")
    time.sleep(1.0)

    code = bots["C"].stop()
    checks.check("a bot that is stopped leaves with exit status 0", code == 0, f"exit status {code}")
    rotated = [(bots[x], "^rotating the own key") for x in "ABD"]
    new_keys = [(bots[x], f"^key of {NICKS[y]}: index [1-9]") for x in "ABD" for y in "ABD" if x != y]
    missing = wait_for_lines(rotated + new_keys, 20)
    checks.check("when one bot left, the three others rotated their keys and learned each other's new ones",
                 not missing, f"missing {missing}")
    time.sleep(1.5)

    # E's nick is the largest: the others start the sessions with it, once they know its feature.
    start("E", "--no-e2ee", "--feature-with-e2ee")
    seen = [(bots[x], f"^peer joined: {NICKS['E']} \\(E2EE feature: no\\)") for x in "ABD"]
    missing = wait_for_lines(seen + [(bots["E"], "^joined ")], 20)
    checks.check("a fifth bot joins with E2EE off and without the E2EE feature", not missing, f"missing {missing}")
    bots["E"].command("e2ee on")
    # (E's own key follows only after its wait for a session with `junk`, which never answers right.)
    sessions = [(bots[x], f"^Olm session with {NICKS['E']} \\(initiator\\)") for x in "ABD"]
    keys = [(bots["E"], f"^key of {NICKS[x]}: index") for x in "ABD"]
    missing = wait_for_lines(sessions + keys, 20)
    checks.check("when its E2EE feature comes with its e2ee.enabled, the others start sessions with it and send "
                 "it their keys", not missing, f"missing {missing}")
    code = bots["E"].stop()
    checks.check("E stops with exit status 0", code == 0, f"exit status {code}")

    for label in "AB":
        code = bots[label].stop()
        checks.check(f"{label} stops with exit status 0", code == 0, f"exit status {code}")

    bots["D"].command("e2ee off")
    deadline = time.monotonic() + 10
    last = None
    while time.monotonic() < deadline:
        seen = watchers.junk.presences.get(NICKS["D"], [])
        last = seen[-1][1] if seen else None
        if last is not None and "e2ee.enabled" in last and not last["e2ee.enabled"]:
            break
        time.sleep(0.05)
    checks.check("E2EE off: the bot's presence has an empty e2ee.enabled element (as lib-jitsi-meet writes false)",
                 last is not None and "e2ee.enabled" in last and last["e2ee.enabled"] is None, f"last {last}")

    log = parse_stanza_log(server.stanza_log)
    server.stop()
    code = bots["D"].wait(15)
    checks.check("when the server goes away the bot says so and exits non-zero",
                 code != 0 and bots["D"].has("^error: lost the XMPP server"), f"exit status {code}")
    return log


def check_summaries(checks, bots, watchers):
    summaries = {label: bot.summary() for label, bot in bots.items()}
    checks.check("every bot printed its summary", all(summaries.values()),
                 f"missing {[k for k, v in summaries.items() if not v]}")
    for receiver in "ABC":
        check_decoding(checks, summaries, receiver, [x for x in "ABC" if x != receiver],
                       "decoded the two others' video and audio")
    check_decoding(checks, summaries, "D", "ABC", "(late) decoded the three others from a key frame on")
    checks.check("A, B and C ratcheted when D joined", all(summaries[x]["ratchets"] >= 1 for x in "ABC"),
                 str({x: summaries[x]["ratchets"] for x in "ABC"}))
    followed = {f"{r}<-{s}": total(summaries[r], s, "video", "ratchets-followed") for r in "AB" for s in "ABC" if r != s}
    checks.check("receivers followed the senders' ratchets by themselves", all(followed.values()), str(followed))

    for x in "ABD":
        p = peer(summaries[x], "C")
        checks.check(f"{x}: C left and its keys are gone", p.get("present") is False and p.get("key-in-store") is False,
                     str({k: p.get(k) for k in ("present", "key-in-store")}))
        checks.check(f"{x} rotated its key after C left",
                     summaries[x]["rotations"] >= 1 and max(summaries[x]["own-keys"], default=0) >= 1,
                     f"rotations {summaries[x]['rotations']}, own keys {summaries[x]['own-keys']}")
        after = {}
        for y in "ABD":
            if y != x:
                for kind in ("video", "audio"):
                    by_index = collections.Counter()
                    for stream in streams(summaries[x], y, kind):
                        by_index.update({int(k): v for k, v in stream["by-key-index"].items()})
                    after[f"{y} {kind}"] = sum(v for k, v in by_index.items() if k >= 1)
        checks.check(f"{x} decrypts the others' frames under their rotated keys", all(v > 0 for v in after.values()),
                     str(after))

    late = {x: bool(learned_keys(peer(summaries.get("E"), x))) for x in "ABD"}
    checks.check("E, whose E2EE feature came later, learned the others' keys", all(late.values()), str(late))

    pairs = [(x, y) for x in "ABCD" for y in "ABCD" if x < y]
    unequal = []
    for x, y in pairs:
        sx, sy = peer(summaries[x], y).get("sas"), peer(summaries[y], x).get("sas")
        if not sx or sx != sy or peer(summaries[x], y).get("verified") is not True \
                or peer(summaries[y], x).get("verified") is not True:
            unequal.append(f"{x}-{y}: {sx} / {sy}")
    checks.check("the SAS of every pair is the same at both ends, and both verified", not unequal, str(unequal))

    junk = watchers.junk
    for x, summary in summaries.items():
        p = peer_by_nick(summary, JUNK_NICK)
        sent = junk.junk_sent[NICKS[x]]
        checks.check(f"{x}: junk from a peer was rejected with a warning ({sent} messages), no key from it",
                     p.get("rejected", 0) >= sent > 0 and not learned_keys(p) and not p.get("key-in-store")
                     and bots[x].has("^warning: rejected a message from " + JUNK_NICK),
                     f"rejected {p.get('rejected')}, keys {p.get('keys')}")
        q = peer_by_nick(summary, PLAIN_NICK)
        checks.check(f"{x}: the participant without the E2EE feature got no session and gave no key",
                     q.get("e2ee-feature") is False and not learned_keys(q), str(q))
    key_messages = [t for _, t in junk.messages if '"key-info' in t or '"session-ack"' in t]
    checks.check("the peer that only sent junk got no key-info", not key_messages, f"{len(key_messages)} messages")
    checks.check("the participant without the E2EE feature received no message", not watchers.plain.messages,
                 str(watchers.plain.messages[:3]))
    crashed = [x for x, bot in bots.items() if bot.has("Traceback")]
    checks.check("no bot raised an exception", not crashed, str(crashed))


def learned_keys(peer_summary):
    return [k for k in peer_summary.get("keys", []) if k["has-key"]]


def peer_by_nick(summary, nick):
    return (summary or {}).get("peers", {}).get(nick, {})


def main():
    checks = Checks()
    extra = shlex.split(os.environ.get("XMPP_ROOM_BOT_ARGS", ""))
    bots = {}
    server = LocalProsody().start()  # before any thread: it is started with preexec_fn
    try:
        watchers = Watchers(server.port)
        try:
            log = scenario(checks, server, watchers, bots, extra)
            if log is not None:
                check_stanzas(checks, log, "ABCD")
                check_observed_presence(checks, watchers.junk, "ABCD")
                check_summaries(checks, bots, watchers)
        finally:
            watchers.close()
    finally:
        for bot in bots.values():
            bot.stop(5)
        server.stop()
    if checks.failed:
        for bot in bots.values():
            print(bot.output())
    print(f"room test: {checks.elapsed()}")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
