"""jframebot: a participant of an end-to-end encrypted Jitsi Meet room, as lib-jitsi-meet runs one.

It joins an XMPP MUC room anonymously, takes part in lib-jitsi-meet's Olm key exchange through the
`jframeolm` element, and (default `--media webrtc`) answers or starts a peer-to-peer Jingle call with an
occupant: test VP8 + Opus encrypted with its own key over webrtcbin, and the peer's media decrypted and decoded
with the keys it learned (`--record FILE.webm` keeps it). It prints each peer's SAS and, at the end, a summary.

`--media loopback` is a test mode: RTP over UDP on 127.0.0.1 straight to other bots, no Jingle (several bots in
a room without a bridge). `--media none`: keys only.

Needs Debian's /usr/bin/python3 with python3-gi, python3-gst-1.0 and python3-slixmpp, and the jframe plugin:
GST_PLUGIN_PATH=target/release (after `cargo build --release`).

Commands read from standard input, one per line: `call`, `hangup`, `sas <peer>`, `confirm <peer>` or
`reject <peer>` (once you have compared the SAS shown for that peer with what the peer shows), `e2ee on`,
`e2ee off`, `quit`.

Exit status: 0 after a normal end (--seconds, SIGINT, SIGTERM, `quit`), 1 when the XMPP server went
away or could not be reached, or on a pipeline error.
"""

import argparse
import asyncio
import json
import secrets
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

from . import media as media_module  # noqa: E402
from .keys import Keys  # noqa: E402
from .room import Room, presence_children  # noqa: E402
from .session import ReplyError, error_element  # noqa: E402
from .util import say, warn  # noqa: E402

COMMANDS = "call, hangup, sas PEER, confirm PEER, reject PEER, e2ee on, e2ee off, quit"


class Bot:
    def __init__(self, args):
        self.args = args
        self.nick = args.nick or secrets.token_hex(4)
        self.main_loop = GLib.MainLoop()
        self.exit_code = 0
        self.finished = False
        self.joined = False
        self.properties = {}  # jitsi_participant_* of the own presence, from jframeolm's set-presence
        self.room = Room(self, args.server, args.domain, args.room, self.nick)
        self.call = None
        if args.media == "webrtc":
            from . import call  # GstWebRTC and libnice: only for calls

            self.media = call.CallMedia(self.nick, args, self.on_element_message, self.on_fatal)
            self.call = call.Call(self)
        else:
            media = media_module.LoopbackMedia if args.media == "loopback" else media_module.Media
            self.media = media(self.nick, args, self.on_element_message, self.on_fatal)
        self.keys = Keys(self.media.olm, self.nick, args)

    # ---- set-up -------------------------------------------------------------------------------

    def start(self):
        olm = self.media.olm
        olm.connect("send-message", self.on_olm_send_message)
        olm.connect("set-presence", self.on_olm_set_presence)
        self.media.ready()
        # As lib-jitsi-meet's setEnabled(true): presence e2ee.enabled, sessions, own key.
        olm.set_property("enabled", self.keys.enabled)
        self.media.play()
        self.send_presence()
        self.room.join(self.args.timeout, self.on_join_done)
        for signum in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.finish, 0)
        if self.args.seconds > 0:
            GLib.timeout_add(int(self.args.seconds * 1000), self.finish, 0)
        GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.IN | GLib.IOCondition.HUP, self.on_stdin)

    def on_join_done(self, error):
        if error is not None and not self.finished:
            reason = "timed out" if isinstance(error, (asyncio.TimeoutError, TimeoutError)) else str(error)
            say(f"error: could not join {self.args.room} on {self.args.server[0]}:{self.args.server[1]}: {reason}")
            self.finish(1)
        return False

    # ---- jframeolm's output (any thread) ----------------------------------------------------------

    def on_olm_send_message(self, _olm, to, text):
        self.room.call("send_json", to, self.keys.tampered(text))

    def on_olm_set_presence(self, _olm, name, value):
        GLib.idle_add(self.set_property, name, value or "")

    def set_property(self, name, value):
        self.properties[name] = value
        self.send_presence()
        return False

    def send_presence(self):
        # Before the join the join presence carries everything.
        feature = self.keys.enabled or not self.args.feature_with_e2ee
        self.room.set_presence(presence_children(self.properties, self.media.presence_elements(), feature), self.joined)

    # ---- the room (GLib main thread) --------------------------------------------------------------

    def on_presence(self, nick, kind, is_self, properties, features, others):
        if self.finished:
            return False
        if is_self or nick == self.nick:
            if kind != "unavailable" and not self.joined:
                self.joined = True
                say(f"joined {self.args.room} as {self.nick}")
                self.send_presence()  # anything jframeolm changed while the join was on its way
                if self.call is not None:
                    self.call.joined()
            return False
        if kind == "error":
            warn(f"error presence from {nick}")
        elif kind == "unavailable":
            self.media.occupant_left(nick)  # first: frames after its keys went are no failures
            if self.keys.occupant_left(nick):
                if self.call is not None:
                    self.call.occupant_left(nick)
        else:
            self.keys.occupant(nick, features, properties, self.joined)
            self.media.occupant(nick, others)
            if self.call is not None:
                self.call.occupant(nick)
        return False

    def on_json_message(self, nick, text):
        if not self.finished:
            self.keys.message(nick, text)
        return False

    def on_jingle(self, iq_id, sender, iq_type, jingle):
        if self.finished:
            return False
        if self.call is not None:
            self.call.on_jingle(iq_id, sender, iq_type, jingle)
        else:
            refusal = ReplyError(iq_id, sender, "cancel", "feature-not-implemented", None, "no calls (--media)")
            self.room.call("send_error", iq_id, sender, error_element(refusal))
        return False

    def on_server_gone(self, reason):
        if not self.finished:
            host, port = self.args.server
            if self.joined:
                say(f"error: lost the XMPP server: {reason}")
            else:
                say(f"error: cannot reach the XMPP server at {host}:{port}: {reason}")
            self.finish(1)
        return False

    # ---- the pipeline -----------------------------------------------------------------------------

    def on_element_message(self, structure):
        self.keys.on_element_message(structure)
        if self.call is not None and structure.get_name() == "jframeolm-key" and structure.get_value("has-key") \
                and not structure.get_value("local"):
            self.call.peer_key(structure.get_value("participant"))

    def on_fatal(self, text):
        say(f"error: {text}")
        self.finish(1)

    # ---- standard input ---------------------------------------------------------------------------

    def on_stdin(self, _channel, condition):
        if condition & GLib.IOCondition.HUP and not condition & GLib.IOCondition.IN:
            return False
        line = sys.stdin.readline()
        if not line:
            return False  # end of input: no more commands
        words = line.split()
        if words[:1] in (["confirm"], ["reject"]) and len(words) == 2:
            self.keys.confirm(words[1], words[0] == "confirm")
        elif words[:1] == ["sas"] and len(words) == 2:
            self.keys.start_verification(words[1])
        elif words in (["e2ee", "on"], ["e2ee", "off"]):
            self.keys.set_enabled(words[1] == "on")
        elif words in (["call"], ["hangup"]) and self.call is not None:
            self.call.start() if words == ["call"] else self.call.hangup()
        elif words == ["quit"]:
            self.finish(0)
        elif words:
            warn(f"unknown command {line.strip()!r}: {COMMANDS}")
        return True

    # ---- the end ----------------------------------------------------------------------------------

    def finish(self, code):
        if self.finished:
            return False
        self.finished = True
        self.exit_code = code
        self.keys.stop()
        if self.call is not None:
            self.call.stop()
        self.media.stop()  # first: no frame is on its way while counting
        self.print_summary(self.summary())
        self.room.leave()
        self.main_loop.quit()
        return False

    def summary(self):
        keys, streams = self.keys, self.media.stream_counts()
        peers = {}
        for nick, peer in keys.peers.items():
            media = {kind: [c for owner, k, c in streams if owner == nick and k == kind] for kind in media_module.KINDS}
            peers[nick] = {
                "present": peer.present,
                "e2ee-feature": peer.has_feature,
                "keys": [{"index": i, "has-key": k} for i, k in peer.keys],
                "key-in-store": self.media.store.emit("get-verification-code", nick) is not None,
                "sas": peer.sas,
                "verified": peer.verified,
                "rejected": peer.rejected,
                **media,
            }
        summary = {
            "nick": self.nick,
            "own-keys": keys.own_keys,
            "ratchets": keys.ratchets,
            "rotations": keys.rotations,
            "sent": dict(self.media.sent),
            "ignored-messages": keys.ignored_messages,
            "rejected-from-unknown": keys.rejected_unknown,
            "peers": peers,
            "unmapped-streams": [c for owner, _, c in streams if owner is None],
            **self.media.summary(),
        }
        if self.call is not None:
            summary["call"] = self.call.summary()
        return summary

    def print_summary(self, summary):
        own = summary["own-keys"]
        say(f"summary of {self.nick}: own key index {own[-1] if own else 'none'} (set {len(own)} times, ratchets "
            f"included), ratchets={summary['ratchets']} rotations={summary['rotations']} "
            f"sent video={summary['sent']['video']} audio={summary['sent']['audio']}")
        verified = {True: "verified", False: "verification FAILED", None: "not confirmed"}
        for nick, peer in summary["peers"].items():
            keys = ",".join(str(k["index"]) if k["has-key"] else "none" for k in peer["keys"]) or "none"
            sas = f"SAS {peer['sas']['decimal']} ({verified[peer['verified']]})" if peer["sas"] else "no SAS"
            say(f"  {nick}: {'here' if peer['present'] else 'left'}, "
                f"{'E2EE' if peer['e2ee-feature'] else 'no E2EE feature'}, keys learned at index [{keys}], "
                f"{'key held' if peer['key-in-store'] else 'no key held'}, {sas}, "
                f"rejected messages={peer['rejected']}")
            for kind in media_module.KINDS:
                for st in peer[kind]:
                    say(f"    {kind}: decrypted={st['decrypted']} decoded={st['decoded']} "
                        f"failed={st['failed-after-key']} waiting-for-key={st['dropped-before-key']} "
                        f"ratchets-followed={st['ratchets-followed']}")
        if "call" in summary:
            call = summary["call"]
            say(f"  call: sessions started={call['sessions-started']} ended={call['sessions-ended']}"
                + (f", recorded video={call['recorded']['video']} audio={call['recorded']['audio']}"
                   if "recorded" in call else ""))
        if self.args.json:
            say("summary-json: " + json.dumps(summary, sort_keys=True))


def server_address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="jframebot", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", type=server_address, default=("127.0.0.1", 5222),
                        help="XMPP server, HOST:PORT (default 127.0.0.1:5222)")
    parser.add_argument("--domain", default="localhost", help="XMPP domain for the anonymous login")
    parser.add_argument("--room", default="e2ee@muc.localhost", help="room JID (default e2ee@muc.localhost)")
    parser.add_argument("--nick", help="participant id (default: 8 random hex digits, as lib-jitsi-meet)")
    parser.add_argument("--media", choices=("webrtc", "loopback", "none"), default="webrtc",
                        help="webrtc: a Jingle call (default); loopback: TEST MODE, RTP over UDP on 127.0.0.1 to "
                             "other bots, no Jingle; none: keys only")
    parser.add_argument("--call", action="store_true", help="call the sole other occupant once it is there")
    parser.add_argument("--record", metavar="FILE.webm", help="write the peer's decrypted VP8 and Opus to WebM")
    parser.add_argument("--stun", metavar="URL", help="STUN server (stun://HOST:PORT); none by default")
    parser.add_argument("--turn", metavar="URL", help="TURN server (turn://USER:PASSWORD@HOST:PORT); none by default")
    parser.add_argument("--seconds", type=float, default=0, help="leave after this long (default: never)")
    parser.add_argument("--debounce", type=float, default=5.0,
                        help="seconds to wait before ratcheting (someone joined) or rotating (someone left) "
                             "the own key; lib-jitsi-meet's 5 by default")
    parser.add_argument("--keyframe-interval", type=int, default=15, help="video frames between key frames")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to log in and join")
    parser.add_argument("--confirm-sas", action="store_true",
                        help="FOR TESTS: confirm every SAS without comparing it (a person must compare it)")
    parser.add_argument("--no-e2ee", action="store_true", help="join with E2EE off (`e2ee on` turns it on)")
    parser.add_argument("--feature-with-e2ee", action="store_true",
                        help="FOR TESTS: announce the E2EE feature only while E2EE is on (a feature that comes later)")
    parser.add_argument("--drop-key-messages", action="store_true",
                        help="FOR TESTS: never pass Olm messages to jframeolm (the key exchange is off)")
    parser.add_argument("--tamper-sas-mac", action="store_true",
                        help="FOR TESTS: alter the MAC of every sas-mac message, in and out (no side may verify)")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    Gst.init(None)
    try:
        bot = Bot(args)
        bot.start()
    except GLib.Error as error:
        say(f"error: {error.message} (GST_PLUGIN_PATH must name the directory of libgstjframe.so)")
        return 1
    except RuntimeError as error:
        say(f"error: {error}")
        return 1
    bot.main_loop.run()
    return bot.exit_code
