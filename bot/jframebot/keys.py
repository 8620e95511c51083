"""The key exchange: jframeolm wired to the room, lib-jitsi-meet's ratchet/rotate debounce, the SAS.

Keys come only from jframeolm (lib-jitsi-meet's Olm exchange); it fills the pipeline's key store, which every
jframeenc and jframedec read. Test-only switches: `--drop-key-messages` (no Olm message reaches jframeolm) and
`--tamper-sas-mac` (the MAC of every sas-mac message is altered, the bot's own on the way out and the peer's on
the way in, as a man in the middle would: neither side may verify).
"""

import json
import sys

from gi.repository import GLib

from .room import E2EE_FEATURE
from .util import say, warn

# --confirm-sas confirms a little later, as a person would: a responder may report the SAS before its own sas-key
# is out (lib-jitsi-meet's OlmAdapter does), and a sas-mac sent at once would overtake it; the initiator then fails.
CONFIRM_DELAY_MS = 500


class Peer:
    def __init__(self, nick, has_feature):
        self.nick, self.has_feature = nick, has_feature
        self.properties = {}  # the peer's e2ee.* presence properties
        self.present = True
        self.keys = []  # (key index, has key) as learned, in order
        self.sas = None
        self.verified = None
        self.rejected = 0


class Keys:
    """jframeolm's inputs from the room and its element messages, on the GLib main thread."""

    def __init__(self, olm, nick, args):
        self.olm, self.nick, self.args = olm, nick, args
        self.enabled = not args.no_e2ee
        self.peers = {}
        self.own_keys = []
        self.ratchets = 0
        self.rotations = 0
        self.rejected_unknown = 0
        self.ignored_messages = 0
        self.debounce_timers = {}
        self.finished = False

    # ---- the room's inputs ----------------------------------------------------------------------

    def occupant(self, nick, features, properties, joined):
        """A presence of another occupant (not unavailable). `joined`: we are in the room already."""
        peer = self.peers.get(nick)
        has_feature = E2EE_FEATURE in features
        if peer is None or not peer.present:
            peer = Peer(nick, has_feature)
            self.peers[nick] = peer
            say(f"peer joined: {nick} (E2EE feature: {'yes' if has_feature else 'no'})")
            self.olm.emit("participant-joined", nick, has_feature)
            # lib-jitsi-meet ratchets its key when someone joins after itself (debounced).
            if joined:
                self.debounce("ratchet-key")
        elif peer.has_feature != has_feature:
            # lib-jitsi-meet reads the feature from the latest presence; tell jframeolm of the change.
            peer.has_feature = has_feature
            self.olm.emit("handle-features", nick, has_feature)
        e2ee = {n: v for n, v in properties.items() if n.startswith("e2ee.")}
        for name in sorted(set(e2ee) | set(peer.properties)):
            if e2ee.get(name) != peer.properties.get(name):
                self.olm.emit("handle-presence", nick, name, e2ee.get(name))
        peer.properties = e2ee

    def occupant_left(self, nick):
        """True if it was a peer that is gone now."""
        peer = self.peers.get(nick)
        if peer is None or not peer.present:
            return False
        peer.present = False
        say(f"peer left: {nick}")
        # jframeolm drops its session and keys; lib-jitsi-meet then rotates its own key (debounced).
        self.olm.emit("participant-left", nick)
        self.debounce("rotate-key")
        return True

    def message(self, nick, text):
        if self.args.drop_key_messages:
            self.ignored_messages += 1
            return
        if not self.olm.emit("handle-message", nick, self.tampered(text)):
            peer = self.peers.get(nick)
            if peer is not None:
                peer.rejected += 1
            else:
                self.rejected_unknown += 1

    def tampered(self, text):
        """An Olm message, in or out: altered only with --tamper-sas-mac."""
        if not self.args.tamper_sas_mac or '"sas-mac"' not in text:
            return text
        try:
            body = json.loads(text)
            macs = body["olm"]["data"]["mac"]
            for label, mac in macs.items():
                macs[label] = ("B" if mac[:1] != "B" else "C") + mac[1:]
            return json.dumps(body, separators=(",", ":"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return text

    # ---- commands ---------------------------------------------------------------------------------

    def set_enabled(self, on):
        self.enabled = on
        say(f"E2EE {'on' if on else 'off'}")
        self.olm.set_property("enabled", on)

    def start_verification(self, nick):
        self.olm.emit("start-verification", nick)

    def confirm(self, nick, matches):
        self.olm.emit("confirm-verification", nick, matches)
        return False  # once, when a timeout

    def debounce(self, action):
        """lib-jitsi-meet's debounce: the action runs once, `--debounce` seconds after the last call."""
        timer = self.debounce_timers.pop(action, None)
        if timer is not None:
            GLib.source_remove(timer)
        self.debounce_timers[action] = GLib.timeout_add(int(self.args.debounce * 1000), self.run_debounced, action)

    def run_debounced(self, action):
        self.debounce_timers.pop(action, None)
        if self.enabled and not self.finished:
            self.olm.emit(action)
            if action == "ratchet-key":
                self.ratchets += 1
                say("ratcheted the own key (someone joined)")
            else:
                self.rotations += 1
                say("rotating the own key (someone left)")
        return False

    # ---- jframeolm's element messages -------------------------------------------------------------

    def on_element_message(self, structure):
        """True if it was one of jframeolm's."""
        handler = {
            "jframeolm-key": self.on_key,
            "jframeolm-session": self.on_session,
            "jframeolm-sas-ready": self.on_sas_ready,
            "jframeolm-verification": self.on_verification,
            "jframeolm-error": self.on_error,
        }.get(structure.get_name())
        if handler is not None:
            handler(structure)
        return handler is not None

    def on_key(self, s):
        participant, index = s.get_value("participant"), s.get_value("key-index")
        has_key = s.get_value("has-key")
        code = s.get_value("verification-code") if has_key and s.has_field("verification-code") else None
        if s.get_value("local"):
            self.own_keys.append(index)
            say(f"own key: index {index}" + (f", code {code}" if code else ""))
            return
        peer = self.peers.get(participant)
        if peer is None:
            return
        if not has_key:
            if any(k for _, k in peer.keys):
                peer.keys.append((index, has_key))
                say(f"key of {participant}: none" + (f" (index {index})" if index >= 0 else " (dropped)"))
            return
        peer.keys.append((index, has_key))
        say(f"key of {participant}: index {index}" + (f", code {code}" if code else ""))

    def on_session(self, s):
        participant = s.get_value("participant")
        say(f"Olm session with {participant} ({s.get_value('role')})")
        # One side of each pair starts the SAS: the one with the smaller id, as for the session.
        if self.nick < participant:
            self.start_verification(participant)

    def on_sas_ready(self, s):
        participant = s.get_value("participant")
        sas = {"decimal": s.get_value("decimal"), "emoji": s.get_value("emoji")}
        peer = self.peers.get(participant)
        if peer is not None:
            peer.sas = sas
        say(f"SAS with {participant}: {sas['decimal']} | {sas['emoji']}")
        if self.args.confirm_sas:
            # Tests only: a real user compares the SAS with the peer's before confirming.
            GLib.timeout_add(CONFIRM_DELAY_MS, self.confirm, participant, True)
        elif sys.stdin.isatty():
            say(f"  compare it with what {participant} shows, then type `confirm {participant}` or "
                f"`reject {participant}`")

    def on_verification(self, s):
        participant, ok = s.get_value("participant"), s.get_value("ok")
        peer = self.peers.get(participant)
        if peer is not None:
            peer.verified = ok
        reason = s.get_value("reason") if s.has_field("reason") else ""
        say(f"verification with {participant}: " + ("verified" if ok else f"not verified ({reason or 'rejected'})"))

    def on_error(self, s):
        participant = s.get_value("participant") or "?"
        warn(f"rejected a message from {participant}: {s.get_value('reason')}")

    def stop(self):
        self.finished = True
        for timer in self.debounce_timers.values():
            GLib.source_remove(timer)
        self.debounce_timers.clear()
