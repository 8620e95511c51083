#!/usr/bin/python3
"""jitsi-room-bot: a participant of an end-to-end encrypted room, as lib-jitsi-meet runs one.

It joins an XMPP MUC room anonymously, takes part in lib-jitsi-meet's Olm key exchange through the
`jframeolm` element (identity keys, `e2ee.enabled` and the E2EE feature in presence; Olm messages as
private `<json-message xmlns="http://jitsi.org/jitmeet">` stanzas), sends test VP8 + Opus encrypted
with its own key, and decrypts and decodes the other participants' media with the keys it learned.
It prints each peer's SAS and, at the end, a summary: keys learned, frames decrypted and decoded per
peer, failures.

Media goes as RTP over UDP on 127.0.0.1 straight to the other bots: a stand-in for Jitsi's
videobridge. What a peer needs to reach this bot and to tell its streams apart (UDP ports, SSRCs) is
in a presence element of its own, <loopback-media xmlns="urn:x-gst-jframe:loopback-media:0">: a
stand-in for Jingle's source signalling. README.md, "Joining an E2EE room", says what a real Jitsi
deployment changes.

Needs Debian's /usr/bin/python3 with python3-gi, python3-gst-1.0 and python3-slixmpp, and the jframe
plugin: GST_PLUGIN_PATH=target/release (after `cargo build --release`).

Commands read from standard input, one per line: `confirm <peer>` or `reject <peer>` once you have
compared the SAS shown for that peer with what the peer shows; `e2ee off`, `e2ee on`; `quit`.

Exit status: 0 after a normal end (--seconds, SIGINT, SIGTERM, `quit`), 1 when the XMPP server went
away or could not be reached, or on a pipeline error.
"""

import argparse
import asyncio
import copy
import ipaddress
import json
import logging
import secrets
import signal
import sys
import threading
import xml.etree.ElementTree as ET

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, GObject, Gst  # noqa: E402

# Debian's slixmpp warns at import that it uses the pure-Python stringprep: nothing to act on.
logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)
from slixmpp import ClientXMPP  # noqa: E402
from slixmpp.stanza import Message, Presence  # noqa: E402
from slixmpp.xmlstream import ElementBase, register_stanza_plugin  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import StanzaPath  # noqa: E402

JITMEET_NS = "http://jitsi.org/jitmeet"
E2EE_FEATURE = "https://jitsi.org/meet/e2ee"
CLIENT = "{jabber:client}"
PROPERTY_PREFIX = CLIENT + "jitsi_participant_"
MEDIA_NS = "urn:x-gst-jframe:loopback-media:0"
DELAY_NS = "urn:xmpp:delay"
MEDIA_CAPS = {
    "video": "application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96",
    "audio": "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111",
}
DEPAYLOADER = {"video": "rtpvp8depay", "audio": "rtpopusdepay"}
DECODER = {"video": "vp8dec", "audio": "opusdec"}


def say(text):
    print(text, flush=True)


def say_from_idle(text):
    say(text)
    return False  # once


def warn(text):
    print("warning: " + text, flush=True)


class JsonMessage(ElementBase):
    """<json-message xmlns="http://jitsi.org/jitmeet">JSON</json-message>; msg["json_message"] is the text."""

    name = "json-message"
    namespace = JITMEET_NS
    plugin_attrib = "json_message"
    interfaces = {"json_message"}
    is_extension = True

    def get_json_message(self):
        return self.xml.text or ""

    def set_json_message(self, value):
        self.xml.text = value

    def del_json_message(self):
        self.parent().xml.remove(self.xml)


register_stanza_plugin(Message, JsonMessage)


def presence_children(properties, media):
    """What goes into every presence to the room: presence is full state, so all of it each time.

    `properties`: jitsi_participant_NAME -> text ("" = an empty element, which is how lib-jitsi-meet
    writes false). Children without a namespace of their own are in jabber:client, as lib-jitsi-meet's
    Strophe children are."""
    children = []
    for name, value in properties.items():
        element = ET.Element(PROPERTY_PREFIX + name)
        if value:
            element.text = value
        children.append(element)
    features = ET.Element(CLIENT + "features")
    ET.SubElement(features, CLIENT + "feature", var=E2EE_FEATURE)
    children.append(features)
    loopback = ET.Element("{%s}loopback-media" % MEDIA_NS, host=media["host"])
    for kind in ("video", "audio"):
        ET.SubElement(loopback, "{%s}source" % MEDIA_NS, media=kind, port=str(media[kind]["port"]),
                      ssrc=str(media[kind]["ssrc"]))
    children.append(loopback)
    return tuple(children)


def parse_presence(presence):
    """(properties, features, media) of a room presence; media is None when absent or unusable."""
    properties, features, media = {}, set(), None
    for child in presence.xml:
        if child.tag.startswith(PROPERTY_PREFIX):
            properties[child.tag[len(PROPERTY_PREFIX):]] = child.text or ""
        elif child.tag == CLIENT + "features":
            features.update(f.get("var") for f in child if f.get("var"))
        elif child.tag == "{%s}loopback-media" % MEDIA_NS:
            media = parse_media(child)
    return properties, features, media


def parse_media(element):
    """{"host": h, "video": {"port", "ssrc"}, "audio": {...}} or None. Only loopback hosts: the bot
    sends to nobody else."""
    try:
        host = element.get("host", "")
        if not ipaddress.ip_address(host).is_loopback:
            return None
        media = {"host": host}
        for source in element:
            kind = source.get("media")
            if kind in MEDIA_CAPS:
                port, ssrc = int(source.get("port")), int(source.get("ssrc"))
                if not (0 < port < 65536 and 0 <= ssrc < 2**32):
                    return None
                media[kind] = {"port": port, "ssrc": ssrc}
        return media if "video" in media and "audio" in media else None
    except (TypeError, ValueError):
        return None


class RoomClient(ClientXMPP):
    """The XMPP side. Lives on its own asyncio loop and thread; hands everything it receives to the
    bot on the GLib main thread (GLib.idle_add) and sends what the bot asks for (call())."""

    def __init__(self, bot, domain, room, nick):
        super().__init__(domain, "")  # domain-only JID, no password: SASL ANONYMOUS
        self.bot, self.room, self.nick = bot, room, nick
        self.children = ()  # what presence_children() gave last; replaced as a whole
        self.leaving = False
        self.register_plugin("xep_0045")
        self.add_filter("out", self._add_children)
        self.add_event_handler("groupchat_presence", self._on_presence)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connection_failed", self._on_disconnected)
        self.register_handler(Callback("json-message", StanzaPath("message@type=chat/json_message"),
                                       self._on_json_message))

    def _add_children(self, stanza):
        # Also the join presence: keys, e2ee.enabled and the feature go out with it, as in lib-jitsi-meet.
        if isinstance(stanza, Presence) and stanza["to"].bare == self.room and stanza["type"] != "unavailable":
            stanza.xml.extend(copy.deepcopy(child) for child in self.children)
        return stanza

    async def join(self, timeout):
        started = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
        host, port = self.bot.args.server
        self.connect((host, port), force_starttls=False, disable_starttls=True)
        await asyncio.wait_for(started, timeout)
        await self.plugin["xep_0045"].join_muc_wait(self.room, self.nick, maxstanzas=0, timeout=timeout)

    def send_presence_update(self, children):
        self.children = children
        self.make_presence(pto=f"{self.room}/{self.nick}").send()

    def send_json(self, to, text):
        message = self.make_message(mto=f"{self.room}/{to}", mtype="chat")
        message["json_message"] = text
        message.send()

    async def leave(self):
        self.leaving = True
        if self.transport is not None:
            self.make_presence(pto=f"{self.room}/{self.nick}", ptype="unavailable").send()
            await self.disconnect(wait=1.0)

    def _on_presence(self, presence):
        if presence["from"].bare != self.room:
            return
        status_codes = presence["muc"]["status_codes"]
        properties, features, media = parse_presence(presence)
        GLib.idle_add(self.bot.on_presence, presence["from"].resource, presence["type"],
                      110 in status_codes, properties, features, media)

    def _on_json_message(self, message):
        sender = message["from"]
        # lib-jitsi-meet ignores delayed (replayed) messages; only occupants of the room count.
        if sender.bare != self.room or not sender.resource or message.xml.find("{%s}delay" % DELAY_NS) is not None:
            return
        GLib.idle_add(self.bot.on_json_message, sender.resource, message["json_message"])

    def _on_disconnected(self, reason):
        if not self.leaving:
            GLib.idle_add(self.bot.on_server_gone, str(reason or "connection closed"))


class Stream:
    """One incoming RTP stream (one SSRC): its decrypting and decoding branch and its counts. The
    counts change in the streaming thread, where one frame goes through jframedec at a time."""

    def __init__(self, kind, ssrc):
        self.kind, self.ssrc = kind, ssrc
        self.participant = None
        self.decrypter = None
        self.frames_in = 0  # frames that reached jframedec
        self.decrypted = 0
        self.decoded = 0
        self.in_at_first_decrypt = None  # frames_in when the first frame came out decrypted
        self.by_key_index = {}
        self.last_key_index = None
        # Set when the sender left (its keys go): frames after that are no decryption failures.
        self.sender_left = False
        self.at_leave = None  # (frames_in, decrypted) before the first frame after the sender left

    def counts(self):
        frames_in, decrypted = self.at_leave or (self.frames_in, self.decrypted)
        first = self.in_at_first_decrypt
        stats = self.decrypter.get_property("stats") if self.decrypter else None
        return {
            "ssrc": self.ssrc,
            "frames-in": self.frames_in,
            "decrypted": self.decrypted,
            "decoded": self.decoded,
            # Frames dropped while no key had worked yet on this stream (keys not in yet).
            "dropped-before-key": frames_in if first is None else first - 1,
            # Frames dropped after the stream's first decrypted frame, while the sender was here.
            "failed-after-key": 0 if first is None else frames_in - first + 1 - decrypted,
            "dropped-after-leave": (self.frames_in - frames_in) - (self.decrypted - decrypted),
            "by-key-index": {str(k): v for k, v in sorted(self.by_key_index.items())},
            "ratchets-followed": stats.get_value("ratchets") if stats else 0,
            "dropped": {f: stats.get_value("dropped-" + f) for f in
                        ("no-key", "unknown-key-index", "authentication-failed", "malformed")} if stats else {},
        }


class Peer:
    def __init__(self, nick, has_feature):
        self.nick, self.has_feature = nick, has_feature
        self.properties = {}
        self.media = None
        self.present = True
        self.keys = []  # (key index, has key) as learned, in order
        self.sas = None
        self.verified = None
        self.rejected = 0


class Bot:
    def __init__(self, args):
        self.args = args
        self.nick = args.nick or secrets.token_hex(4)
        self.room = args.room
        self.main_loop = GLib.MainLoop()
        self.exit_code = 0
        self.finished = False
        self.joined = False
        self.e2ee = not args.no_e2ee
        self.peers = {}
        self.streams = {}  # ssrc -> Stream
        self.lock = threading.Lock()  # guards properties, streams and ssrc_owner (streaming threads read them)
        self.ssrc_owner = {}  # ssrc -> nick, from the peers' loopback-media
        self.properties = {}  # jitsi_participant_* of the own presence, from jframeolm's set-presence
        self.own_keys = []
        self.ratchets = 0
        self.rotations = 0
        self.rejected_unknown = 0
        self.ignored_messages = 0
        self.sent = {"video": 0, "audio": 0}
        self.debounce_timers = {}
        self.aloop = None
        self.client = None
        self.media = None

    # ---- set-up -------------------------------------------------------------------------------

    def build_pipeline(self):
        ssrc = {kind: secrets.randbits(32) for kind in MEDIA_CAPS}
        self.pipeline = Gst.parse_launch(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 ! "
            f"vp8enc deadline=1 keyframe-max-dist={self.args.keyframe_interval} ! "
            f"jframeenc name=send-video-enc participant={self.nick} ! "
            f"jframevp8pay ssrc={ssrc['video']} pt=96 ! multiudpsink name=send-video sync=false async=false "
            "audiotestsrc is-live=true wave=sine freq=440 ! opusenc ! "
            f"jframeenc name=send-audio-enc participant={self.nick} ! "
            f"rtpopuspay ssrc={ssrc['audio']} pt=111 ! multiudpsink name=send-audio sync=false async=false "
            f"udpsrc name=recv-video address=127.0.0.1 port=0 caps=\"{MEDIA_CAPS['video']}\" ! "
            "rtpssrcdemux name=demux-video "
            f"udpsrc name=recv-audio address=127.0.0.1 port=0 caps=\"{MEDIA_CAPS['audio']}\" ! "
            "rtpssrcdemux name=demux-audio "
            f"jframeolm name=olm local-id={self.nick}")
        # One key store for jframeolm (which fills it) and every jframeenc/jframedec.
        store_type = GObject.type_from_name("GstJFrameKeyStore")
        self.store = GObject.new(store_type)
        self.pipeline.set_context(self.store.props.context)
        self.olm = self.pipeline.get_by_name("olm")
        self.olm.connect("send-message", self.on_olm_send_message)
        self.olm.connect("set-presence", self.on_olm_set_presence)
        for kind in MEDIA_CAPS:
            self.pipeline.get_by_name("demux-" + kind).connect("new-ssrc-pad", self.on_new_stream, kind)
            self.pipeline.get_by_name(f"send-{kind}-enc").get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER, self.count_sent, kind)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_bus_message)
        # READY binds the UDP ports and makes jframeolm announce the identity keys.
        if self.pipeline.set_state(Gst.State.READY) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("the pipeline does not start (is GST_PLUGIN_PATH set to the jframe plugin?)")
        self.media = {"host": "127.0.0.1"}
        for kind in MEDIA_CAPS:
            port = self.pipeline.get_by_name("recv-" + kind).get_property("port")
            self.media[kind] = {"port": port, "ssrc": ssrc[kind]}
        # As lib-jitsi-meet's setEnabled(true): presence e2ee.enabled, sessions, own key.
        self.olm.set_property("enabled", self.e2ee)
        self.pipeline.set_state(Gst.State.PLAYING)

    def start(self):
        self.build_pipeline()
        self.aloop = asyncio.new_event_loop()
        threading.Thread(target=self.aloop.run_forever, name="xmpp", daemon=True).start()
        joined = asyncio.run_coroutine_threadsafe(self._join(), self.aloop)
        joined.add_done_callback(lambda f: GLib.idle_add(self.on_join_done, f))
        for signum in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.finish, 0)
        if self.args.seconds > 0:
            GLib.timeout_add(int(self.args.seconds * 1000), self.finish, 0)
        GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.IN | GLib.IOCondition.HUP, self.on_stdin)

    async def _join(self):
        # slixmpp objects are made on their own loop.
        self.client = RoomClient(self, self.args.domain, self.room, self.nick)
        self.client.children = self.presence_snapshot()
        await self.client.join(self.args.timeout)

    def on_join_done(self, future):
        error = future.exception()
        if error is not None:
            reason = "timed out" if isinstance(error, (asyncio.TimeoutError, TimeoutError)) else str(error)
            say(f"error: could not join {self.room} on {self.args.server[0]}:{self.args.server[1]}: {reason}")
            self.finish(1)
        return False

    def call_xmpp(self, function, *args):
        """Runs a RoomClient method on its loop (slixmpp is not thread-safe)."""
        if self.client is not None and self.aloop is not None:
            self.aloop.call_soon_threadsafe(function, *args)

    def presence_snapshot(self):
        with self.lock:
            return presence_children(dict(self.properties), self.media)

    # ---- jframeolm's output (any thread) ----------------------------------------------------------

    def on_olm_send_message(self, _olm, to, text):
        if self.client is not None:
            self.aloop.call_soon_threadsafe(self.client.send_json, to, text)

    def on_olm_set_presence(self, _olm, name, value):
        with self.lock:
            self.properties[name] = value or ""
        GLib.idle_add(self.send_presence)

    def send_presence(self):
        # Before the join the join presence carries everything (RoomClient._add_children).
        if self.client is not None and self.joined:
            self.call_xmpp(self.client.send_presence_update, self.presence_snapshot())
        elif self.client is not None:
            self.client.children = self.presence_snapshot()
        return False

    # ---- the room (GLib main thread) --------------------------------------------------------------

    def on_presence(self, nick, kind, is_self, properties, features, media):
        if self.finished:
            return False
        if is_self or nick == self.nick:
            if kind != "unavailable" and not self.joined:
                self.joined = True
                say(f"joined {self.room} as {self.nick}")
                self.send_presence()  # anything jframeolm changed while the join was on its way
            return False
        if kind == "error":
            warn(f"error presence from {nick}")
            return False
        if kind == "unavailable":
            self.peer_left(nick)
            return False
        peer = self.peers.get(nick)
        if peer is None or not peer.present:
            peer = Peer(nick, E2EE_FEATURE in features)
            self.peers[nick] = peer
            say(f"peer joined: {nick} (E2EE feature: {'yes' if peer.has_feature else 'no'})")
            self.olm.emit("participant-joined", nick, peer.has_feature)
            # lib-jitsi-meet ratchets its key when someone joins after itself (debounced).
            if self.joined:
                self.debounce("ratchet-key")
        elif peer.has_feature != (E2EE_FEATURE in features):
            # lib-jitsi-meet reads the feature from the latest presence; tell jframeolm of the change.
            peer.has_feature = E2EE_FEATURE in features
            self.olm.emit("participant-joined", nick, peer.has_feature)
        e2ee = {n: v for n, v in properties.items() if n.startswith("e2ee.")}
        for name in sorted(set(e2ee) | set(peer.properties)):
            if e2ee.get(name) != peer.properties.get(name):
                self.olm.emit("handle-presence", nick, name, e2ee.get(name))
        peer.properties = e2ee
        if media != peer.media:
            self.update_media(peer, media)
        return False

    def update_media(self, peer, media):
        old = peer.media
        peer.media = media
        for kind in MEDIA_CAPS:
            sink = self.pipeline.get_by_name("send-" + kind)
            if old is not None:
                sink.emit("remove", old["host"], old[kind]["port"])
            if media is not None:
                sink.emit("add", media["host"], media[kind]["port"])
        if media is None:
            return
        for kind in MEDIA_CAPS:
            ssrc = media[kind]["ssrc"]
            with self.lock:
                self.ssrc_owner[ssrc] = peer.nick
                stream = self.streams.get(ssrc)
            if stream is not None and stream.participant is None:
                self.map_stream(stream, peer.nick)

    def peer_left(self, nick):
        peer = self.peers.get(nick)
        if peer is None or not peer.present:
            return
        peer.present = False
        say(f"peer left: {nick}")
        if peer.media is not None:
            for kind in MEDIA_CAPS:
                self.pipeline.get_by_name("send-" + kind).emit("remove", peer.media["host"], peer.media[kind]["port"])
        with self.lock:
            for stream in self.streams.values():
                if stream.participant == nick:
                    stream.sender_left = True
        # jframeolm drops its session and keys; lib-jitsi-meet then rotates its own key (debounced).
        self.olm.emit("participant-left", nick)
        self.debounce("rotate-key")

    def debounce(self, action):
        """lib-jitsi-meet's debounce: the action runs once, `--debounce` seconds after the last call."""
        timer = self.debounce_timers.pop(action, None)
        if timer is not None:
            GLib.source_remove(timer)
        self.debounce_timers[action] = GLib.timeout_add(int(self.args.debounce * 1000), self.run_debounced, action)

    def run_debounced(self, action):
        self.debounce_timers.pop(action, None)
        if self.e2ee and not self.finished:
            self.olm.emit(action)
            if action == "ratchet-key":
                self.ratchets += 1
                say("ratcheted the own key (someone joined)")
            else:
                self.rotations += 1
                say("rotating the own key (someone left)")
        return False

    def on_json_message(self, nick, text):
        if self.finished:
            return False
        if self.args.drop_key_messages:
            self.ignored_messages += 1
            return False
        if not self.olm.emit("handle-message", nick, text):
            peer = self.peers.get(nick)
            if peer is not None:
                peer.rejected += 1
            else:
                self.rejected_unknown += 1
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

    # ---- media ------------------------------------------------------------------------------------

    def count_sent(self, _pad, _info, kind):
        self.sent[kind] += 1
        return Gst.PadProbeReturn.OK

    def on_new_stream(self, _demux, ssrc, pad, kind):
        """A new SSRC on the receiving port (streaming thread): depayload, decrypt, decode, count."""
        stream = Stream(kind, ssrc)
        depay = Gst.ElementFactory.make(DEPAYLOADER[kind], f"recv-{kind}-{ssrc}-depay")
        depay.set_property("source-info", True)  # jframedec finds the SSRC in the buffer's meta
        dec = Gst.ElementFactory.make("jframedec", f"recv-{kind}-{ssrc}-jframedec")
        decoder = Gst.ElementFactory.make(DECODER[kind], f"recv-{kind}-{ssrc}-decoder")
        sink = Gst.ElementFactory.make("fakesink", f"recv-{kind}-{ssrc}-sink")
        sink.set_property("sync", False)
        sink.set_property("async", False)  # no preroll: the pipeline is playing already
        stream.decrypter = dec
        dec.connect("request-participant", self.on_request_participant)
        dec.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.count_in, stream)
        dec.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.count_decrypted, stream)
        decoder.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.count_decoded, stream)
        elements = [depay, dec, decoder, sink]
        for element in elements:
            self.pipeline.add(element)  # jframedec gets the pipeline's key store here
        Gst.Element.link_many(*elements)
        for element in reversed(elements):
            element.sync_state_with_parent()
        # Known to the main thread (which may map the SSRC) only once jframedec has the key store.
        with self.lock:
            self.streams[ssrc] = stream
        pad.link(depay.get_static_pad("sink"))
        GLib.idle_add(self.say_new_stream, stream)

    def say_new_stream(self, stream):
        with self.lock:
            owner = self.ssrc_owner.get(stream.ssrc)
        if owner is not None and stream.participant is None:
            self.map_stream(stream, owner)
        say(f"receiving {stream.kind} SSRC {stream.ssrc} from {owner or 'someone not announced yet'}")
        return False

    def on_request_participant(self, _dec, ssrc):
        # Streaming thread; None until the owner's loopback-media arrives (set-ssrc-participant then).
        with self.lock:
            owner = self.ssrc_owner.get(ssrc)
            stream = self.streams.get(ssrc)
            if owner is not None and stream is not None:
                stream.participant = owner
        return owner

    def map_stream(self, stream, nick):
        stream.participant = nick
        stream.decrypter.emit("set-ssrc-participant", stream.ssrc, nick)

    def count_in(self, _pad, info, stream):
        if stream.sender_left and stream.at_leave is None:
            stream.at_leave = (stream.frames_in, stream.decrypted)
        stream.frames_in += 1
        buffer = info.get_buffer()
        size = buffer.get_size()
        # The key index is the frame's last byte (the JFrame trailer).
        stream.last_key_index = buffer.extract_dup(size - 1, 1)[0] if size > 0 else None
        return Gst.PadProbeReturn.OK

    def count_decrypted(self, _pad, _info, stream):
        stream.decrypted += 1
        if stream.in_at_first_decrypt is None:
            stream.in_at_first_decrypt = stream.frames_in
        index = stream.last_key_index
        stream.by_key_index[index] = stream.by_key_index.get(index, 0) + 1
        return Gst.PadProbeReturn.OK

    def count_decoded(self, _pad, _info, stream):
        stream.decoded += 1
        if stream.decoded == 1:
            GLib.idle_add(say_from_idle, f"decoding {stream.kind} from {stream.participant}")
        return Gst.PadProbeReturn.OK

    # ---- jframeolm's bus messages, errors -----------------------------------------------------------

    def on_bus_message(self, _bus, message):
        if message.type == Gst.MessageType.ELEMENT:
            structure = message.get_structure()
            handler = {
                "jframeolm-key": self.on_key,
                "jframeolm-session": self.on_session,
                "jframeolm-sas-ready": self.on_sas_ready,
                "jframeolm-verification": self.on_verification,
                "jframeolm-error": self.on_olm_error,
            }.get(structure.get_name())
            if handler is not None:
                handler(structure)
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            source = message.src.get_name() if message.src else "?"
            if source.startswith("recv-"):
                # One broken incoming stream does not end the call.
                warn(f"{source}: {error.message}")
            else:
                say(f"error: {source}: {error.message} ({debug})")
                self.finish(1)
        elif message.type == Gst.MessageType.WARNING:
            error, _debug = message.parse_warning()
            warn(f"{message.src.get_name() if message.src else '?'}: {error.message}")

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
            self.olm.emit("start-verification", participant)

    def on_sas_ready(self, s):
        participant = s.get_value("participant")
        sas = {"decimal": s.get_value("decimal"), "emoji": s.get_value("emoji")}
        peer = self.peers.get(participant)
        if peer is not None:
            peer.sas = sas
        say(f"SAS with {participant}: {sas['decimal']} | {sas['emoji']}")
        if self.args.confirm_sas:
            # Tests only: a real user compares the SAS with the peer's before confirming.
            self.olm.emit("confirm-verification", participant, True)
        elif sys.stdin.isatty():
            say(f"  compare it with what {participant} shows, then type `confirm {participant}` or "
                f"`reject {participant}`")

    def on_verification(self, s):
        participant, ok = s.get_value("participant"), s.get_value("ok")
        peer = self.peers.get(participant)
        if peer is not None:
            peer.verified = ok
        reason = s.get_value("reason") if s.has_field("reason") else ""
        say(f"verification of {participant}: {'ok' if ok else 'FAILED'}" + (f" ({reason})" if reason else ""))

    def on_olm_error(self, s):
        participant = s.get_value("participant") or "?"
        warn(f"rejected a message from {participant}: {s.get_value('reason')}")

    def on_stdin(self, channel, condition):
        if condition & GLib.IOCondition.HUP and not condition & GLib.IOCondition.IN:
            return False
        line = sys.stdin.readline()
        if not line:
            return False  # end of input: no more commands
        words = line.split()
        if words[:1] in (["confirm"], ["reject"]) and len(words) == 2:
            self.olm.emit("confirm-verification", words[1], words[0] == "confirm")
        elif words in (["e2ee", "on"], ["e2ee", "off"]):
            self.e2ee = words[1] == "on"
            say(f"E2EE {words[1]}")
            self.olm.set_property("enabled", self.e2ee)
        elif words == ["quit"]:
            self.finish(0)
        elif words:
            warn(f"unknown command {line.strip()!r}: confirm PEER, reject PEER, e2ee on, e2ee off, quit")
        return True

    # ---- the end ----------------------------------------------------------------------------------

    def finish(self, code):
        if self.finished:
            return False
        self.finished = True
        self.exit_code = code
        self.pipeline.set_state(Gst.State.NULL)  # first: no frame is on its way while counting
        self.print_summary(self.summary())
        if self.client is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.client.leave(), self.aloop).result(3)
            except Exception:  # the server may be gone already
                pass
        self.main_loop.quit()
        return False

    def summary(self):
        with self.lock:
            streams = list(self.streams.values())
        peers = {}
        for nick, peer in self.peers.items():
            media = {kind: [st.counts() for st in streams if st.participant == nick and st.kind == kind]
                     for kind in MEDIA_CAPS}
            peers[nick] = {
                "present": peer.present,
                "e2ee-feature": peer.has_feature,
                "keys": [{"index": i, "has-key": k} for i, k in peer.keys],
                "key-in-store": self.store.emit("get-verification-code", nick) is not None,
                "sas": peer.sas,
                "verified": peer.verified,
                "rejected": peer.rejected,
                **media,
            }
        unmapped = [st.counts() for st in streams if st.participant is None]
        return {
            "nick": self.nick,
            "own-keys": self.own_keys,
            "ratchets": self.ratchets,
            "rotations": self.rotations,
            "sent": dict(self.sent),
            "ignored-messages": self.ignored_messages,
            "rejected-from-unknown": self.rejected_unknown,
            "olm-stats": structure_dict(self.olm.get_property("stats")),
            "peers": peers,
            "unmapped-streams": unmapped,
        }

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
            for kind in MEDIA_CAPS:
                for st in peer[kind]:
                    say(f"    {kind}: decrypted={st['decrypted']} decoded={st['decoded']} "
                        f"failed={st['failed-after-key']} waiting-for-key={st['dropped-before-key']} "
                        f"ratchets-followed={st['ratchets-followed']}")
        if self.args.json:
            say("summary-json: " + json.dumps(summary, sort_keys=True))


def structure_dict(structure):
    if structure is None:
        return {}
    out = {}
    for i in range(structure.n_fields()):
        name = structure.nth_field_name(i)
        value = structure.get_value(name)
        if isinstance(value, (int, float, str, bool)):
            out[name] = value
    return out


def server_address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", type=server_address, default=("127.0.0.1", 5222),
                        help="XMPP server, HOST:PORT (default 127.0.0.1:5222)")
    parser.add_argument("--domain", default="localhost", help="XMPP domain for the anonymous login")
    parser.add_argument("--room", default="e2ee@muc.localhost", help="room JID (default e2ee@muc.localhost)")
    parser.add_argument("--nick", help="participant id (default: 8 random hex digits, as lib-jitsi-meet)")
    parser.add_argument("--seconds", type=float, default=0, help="leave after this long (default: never)")
    parser.add_argument("--debounce", type=float, default=5.0,
                        help="seconds to wait before ratcheting (someone joined) or rotating (someone left) "
                             "the own key; lib-jitsi-meet's 5 by default")
    parser.add_argument("--keyframe-interval", type=int, default=15, help="video frames between key frames")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to log in and join")
    parser.add_argument("--confirm-sas", action="store_true",
                        help="FOR TESTS: confirm every SAS without comparing it (a person must compare it)")
    parser.add_argument("--no-e2ee", action="store_true", help="join with E2EE off (`e2ee on` turns it on)")
    parser.add_argument("--drop-key-messages", action="store_true",
                        help="FOR TESTS: never pass Olm messages to jframeolm (the key exchange is off)")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = parser.parse_args()

    Gst.init(None)
    bot = Bot(args)
    try:
        bot.start()
    except GLib.Error as error:
        say(f"error: {error.message} (GST_PLUGIN_PATH must name the directory of libgstjframe.so)")
        return 1
    except RuntimeError as error:
        say(f"error: {error}")
        return 1
    bot.main_loop.run()
    return bot.exit_code


if __name__ == "__main__":
    sys.exit(main())
