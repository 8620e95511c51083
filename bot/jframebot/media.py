"""The pipelines: jframeolm and the key store every jframeenc/jframedec shares, the test media sent
(`vp8enc ! jframeenc ! jframevp8pay`, `opusenc ! jframeenc ! rtpopuspay`), and one decoding branch per incoming
SSRC (`rtp*depay ! jframedec ! decoder`), counted.

`Media` alone is `--media none` (keys only). `LoopbackMedia` (`--media loopback`) is a test mode kept so that
several bots can meet without a videobridge: RTP over UDP on 127.0.0.1 to every other bot, with ports and SSRCs
in a presence element of this project, `<loopback-media xmlns="urn:x-gst-jframe:loopback-media:0">`.
The WebRTC call media is in call.py.
"""

import ipaddress
import secrets
import threading
import xml.etree.ElementTree as ET

from gi.repository import GLib, GObject, Gst

from .util import say, say_once, structure_dict, warn

KINDS = ("video", "audio")
PAYLOAD_TYPE = {"video": 96, "audio": 111}
RTP_CAPS = {
    "video": "application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96",
    "audio": "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111",
}
DEPAYLOADER = {"video": "rtpvp8depay", "audio": "rtpopusdepay"}
DECODER = {"video": "vp8dec", "audio": "opusdec"}
LOOPBACK_NS = "urn:x-gst-jframe:loopback-media:0"
LOOPBACK_TAG = "{%s}loopback-media" % LOOPBACK_NS


def send_chain(kind, nick, ssrc, payload_type, keyframe_interval, video="width=320,height=240,framerate=30/1",
               name="send"):
    """Test media of one kind, encrypted with the own key (participant `nick` in the store), as RTP (a gst-launch
    description ending with the payloader). jframeenc drops every frame while the own key is not in: nothing
    leaves in clear."""
    if kind == "video":
        source = (f"videotestsrc is-live=true pattern=ball ! video/x-raw,{video} ! "
                  f"vp8enc deadline=1 keyframe-max-dist={keyframe_interval} ! ")
        payloader = "jframevp8pay"
    else:
        source = "audiotestsrc is-live=true wave=sine freq=440 ! opusenc ! "
        payloader = "rtpopuspay"
    return f"{source}jframeenc name={name}-{kind}-enc participant={nick} ! {payloader} ssrc={ssrc} pt={payload_type}"


DROP_REASONS = ("no-key", "unknown-key-index", "authentication-failed", "malformed")


def drops(decrypter):
    """{reason: frames} jframedec dropped."""
    stats = decrypter.get_property("stats")
    return {reason: stats.get_value("dropped-" + reason) for reason in DROP_REASONS}


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
        # (frames_in, decrypted, frames jframedec dropped) before the first frame after the sender left
        self.at_leave = None

    def counts(self):
        dropped = drops(self.decrypter)
        frames_in, decrypted, dropped_total = self.at_leave or (self.frames_in, self.decrypted, sum(dropped.values()))
        first = self.in_at_first_decrypt
        return {
            "ssrc": self.ssrc,
            "frames-in": self.frames_in,
            "decrypted": self.decrypted,
            "decoded": self.decoded,
            # Frames dropped while no key had worked yet on this stream (keys not in yet).
            "dropped-before-key": frames_in if first is None else first - 1,
            # Frames jframedec dropped after the stream's first decrypted frame, while the sender was here (every frame
            # before that one was dropped; a frame on its way when the call ended is no failure).
            "failed-after-key": 0 if first is None else max(0, dropped_total - (first - 1)),
            "dropped-after-leave": (self.frames_in - frames_in) - (self.decrypted - decrypted),
            "by-key-index": {str(k): v for k, v in sorted(self.by_key_index.items())},
            "ratchets-followed": self.decrypter.get_property("stats").get_value("ratchets"),
            "dropped": dropped,
        }


class Media:
    """The pipeline with jframeolm and the key store; decoding branches for incoming streams.

    `on_element_message(structure)` and `on_fatal(text)` are called on the GLib main thread."""

    request_keyframes = False  # a video depayloader asks the sender for a key frame when it needs one

    def __init__(self, nick, args, on_element_message, on_fatal):
        self.nick, self.args = nick, args
        self.on_element_message, self.on_fatal = on_element_message, on_fatal
        self.pipeline = Gst.Pipeline.new("jframebot")
        self.olm = Gst.ElementFactory.make("jframeolm", "olm")
        if self.olm is None:
            raise RuntimeError("no jframeolm element (GST_PLUGIN_PATH must name the directory of libgstjframe.so)")
        self.olm.set_property("local-id", nick)
        self.pipeline.add(self.olm)
        # One key store for jframeolm (which fills it) and every jframeenc/jframedec.
        self.store = GObject.new(GObject.type_from_name("GstJFrameKeyStore"))
        self.pipeline.set_context(self.store.props.context)
        self.lock = threading.Lock()  # guards streams and ssrc_owner (streaming threads read them)
        self.streams = {}  # ssrc -> its latest Stream
        self.all_streams = []  # every Stream so far, for the summary (a peer may use an SSRC again in a new call)
        self.ssrc_owner = {}  # ssrc -> nick
        self.sent = {kind: 0 for kind in KINDS}
        self.recorder = Recorder(self.pipeline, args.record) if args.record else None
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_bus_message)

    def add(self, description):
        """Adds the elements of a gst-launch description to the pipeline (unlinked pads stay unlinked)."""
        bin = Gst.parse_bin_from_description(description, False)
        self.pipeline.add(bin)
        return bin

    def ready(self):
        # READY makes jframeolm announce the identity keys (connect its signals first).
        if self.pipeline.set_state(Gst.State.READY) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("the pipeline does not start (is GST_PLUGIN_PATH set to the jframe plugin?)")

    def play(self):
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self):
        if self.recorder is not None:
            self.recorder.finish()  # while PLAYING: the muxer writes the file's end
        self.pipeline.set_state(Gst.State.NULL)

    def presence_elements(self):
        return ()

    def occupant(self, nick, others):
        """Another occupant's presence: its presence children other than properties and features."""

    def occupant_left(self, nick):
        with self.lock:
            for stream in self.streams.values():
                if stream.participant == nick:
                    stream.sender_left = True

    # ---- sending ----------------------------------------------------------------------------------

    def count_sent(self, bin, prefix="send"):
        for kind in KINDS:
            encrypter = bin.get_by_name(f"{prefix}-{kind}-enc")
            encrypter.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._count_sent, kind)

    def _count_sent(self, _pad, _info, kind):
        self.sent[kind] += 1
        return Gst.PadProbeReturn.OK

    # ---- receiving --------------------------------------------------------------------------------

    def decode(self, pad, kind, ssrc, parent=None):
        """A new incoming stream (any thread): depayload, decrypt, decode, count. Returns its Stream."""
        parent = parent or self.pipeline
        stream = Stream(kind, ssrc)
        prefix = f"recv-{kind}-{ssrc}"
        depay = Gst.ElementFactory.make(DEPAYLOADER[kind], f"{prefix}-depay")
        depay.set_property("source-info", True)  # jframedec finds the SSRC in the buffer's meta
        if kind == "video" and self.request_keyframes:
            depay.set_property("request-keyframe", True)
            depay.set_property("wait-for-keyframe", True)
        dec = Gst.ElementFactory.make("jframedec", f"{prefix}-jframedec")
        decoder = Gst.ElementFactory.make(DECODER[kind], f"{prefix}-decoder")
        sink = Gst.ElementFactory.make("fakesink", f"{prefix}-sink")
        sink.set_property("sync", False)
        sink.set_property("async", False)  # no preroll: the pipeline is playing already
        stream.decrypter = dec
        dec.connect("request-participant", self.on_request_participant)
        dec.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.count_in, stream)
        dec.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.count_decrypted, stream)
        decoder.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.count_decoded, stream)
        elements = [depay, dec, decoder, sink]
        recording = self.recorder is not None and self.recorder.takes(kind)
        if recording:
            # The decrypted frames also go, as they are, to the recording.
            tee = Gst.ElementFactory.make("tee", f"{prefix}-tee")
            elements[2:2] = [tee, Gst.ElementFactory.make("queue", f"{prefix}-queue")]
        for element in elements:
            parent.add(element)  # jframedec gets the pipeline's key store here
        Gst.Element.link_many(*elements)
        if recording:
            self.recorder.link(kind, tee.request_pad_simple("src_%u"))
        for element in reversed(elements):
            element.sync_state_with_parent()
        # Known to the main thread (which may map the SSRC) only once jframedec has the key store.
        with self.lock:
            self.streams[ssrc] = stream
            self.all_streams.append(stream)
        pad.link(depay.get_static_pad("sink"))
        GLib.idle_add(self.say_new_stream, stream)
        return stream

    def say_new_stream(self, stream):
        with self.lock:
            owner = self.ssrc_owner.get(stream.ssrc)
        if owner is not None and stream.participant is None:
            self.map_stream(stream, owner)
        say(f"receiving {stream.kind} SSRC {stream.ssrc} from {owner or 'someone not announced yet'}")
        return False

    def set_owner(self, ssrc, nick, replace=True):
        """The SSRC is `nick`'s (from the signalling); with replace=False only if nobody else is known."""
        with self.lock:
            if replace or ssrc not in self.ssrc_owner:
                self.ssrc_owner[ssrc] = nick
            nick = self.ssrc_owner[ssrc]
            stream = self.streams.get(ssrc)
        if stream is not None and stream.participant is None:
            self.map_stream(stream, nick)

    def on_request_participant(self, _dec, ssrc):
        # Streaming thread; None until the owner is known (set-ssrc-participant then).
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
            stream.at_leave = (stream.frames_in, stream.decrypted, sum(drops(stream.decrypter).values()))
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
            GLib.idle_add(say_once, f"decoding {stream.kind} from {stream.participant}")
        return Gst.PadProbeReturn.OK

    # ---- the bus, the summary ---------------------------------------------------------------------

    def on_bus_message(self, _bus, message):
        if message.type == Gst.MessageType.ELEMENT:
            self.on_element_message(message.get_structure())
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            source = message.src.get_name() if message.src else "?"
            if self.is_call_element(message.src):
                # One broken incoming stream, or a failed call, does not end the bot.
                warn(f"{source}: {error.message}")
            else:
                self.on_fatal(f"{source}: {error.message} ({debug})")
        elif message.type == Gst.MessageType.WARNING:
            error, _debug = message.parse_warning()
            warn(f"{message.src.get_name() if message.src else '?'}: {error.message}")

    def is_call_element(self, element):
        return element is not None and element.get_name().startswith("recv-")

    def stream_counts(self):
        """[(participant, kind, counts)] of every incoming stream so far."""
        with self.lock:
            streams = list(self.all_streams)
        return [(st.participant, st.kind, st.counts()) for st in streams]

    def summary(self):
        return {"olm-stats": structure_dict(self.olm.get_property("stats"))}


class Recorder:
    """`--record FILE.webm`: the first incoming video and audio stream, decrypted, into WebM as they came
    (webmmux, no re-encoding). Both muxer pads exist from the start, so the muxer waits for both kinds."""

    def __init__(self, pipeline, path):
        self.mux = Gst.ElementFactory.make("webmmux", "record-mux")
        sink = Gst.ElementFactory.make("filesink", "record-file")
        sink.set_property("location", path)
        sink.set_property("async", False)
        pipeline.add(self.mux)
        pipeline.add(sink)
        self.mux.link(sink)
        self.queues = {}  # kind -> the queue in front of the muxer's pad
        self.linked, self.ended = set(), set()
        self.written = {kind: 0 for kind in KINDS}
        self.lock = threading.Lock()
        self.file_done = threading.Event()
        for kind in KINDS:
            queue = Gst.ElementFactory.make("queue", f"record-{kind}")
            # The muxer waits for both kinds; if one never comes the call must go on: the oldest frames go.
            queue.set_property("leaky", "downstream")
            queue.set_property("max-size-buffers", 0)
            queue.set_property("max-size-bytes", 0)
            queue.set_property("max-size-time", 3 * Gst.SECOND)
            pipeline.add(queue)
            pad = self.mux.request_pad_simple("video_%u" if kind == "video" else "audio_%u")
            if kind == "audio":
                # The depayloader's Opus caps have no rate, which the muxer needs: opusparse completes them.
                parser = Gst.ElementFactory.make("opusparse", "record-opusparse")
                pipeline.add(parser)
                queue.link(parser)
                parser.get_static_pad("src").link(pad)
            else:
                queue.get_static_pad("src").link(pad)
            pad.add_probe(Gst.PadProbeType.BUFFER, self._count, kind)
            self.queues[kind] = queue
        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_sink_event)

    def takes(self, kind):
        """True once per kind: the first stream of that kind is recorded, while the recording runs."""
        with self.lock:
            if kind in self.linked or kind in self.ended:
                return False
            self.linked.add(kind)
            return True

    def link(self, kind, pad):
        pad.link_maybe_ghosting(self.queues[kind].get_static_pad("sink"))

    def end(self, kinds=None):
        """No more frames of these kinds (default: those recorded so far, whose call ended)."""
        with self.lock:
            ending = set(self.linked if kinds is None else kinds) - self.ended
            self.ended |= ending
        for kind in ending:
            self.queues[kind].get_static_pad("sink").send_event(Gst.Event.new_eos())

    def finish(self, timeout=5):
        """Ends the file (the muxer writes its index) while the pipeline still plays."""
        self.end(KINDS)
        self.file_done.wait(timeout)

    def _count(self, _pad, _info, kind):
        self.written[kind] += 1
        return Gst.PadProbeReturn.OK

    def _on_sink_event(self, _pad, info):
        if info.get_event().type == Gst.EventType.EOS:
            self.file_done.set()
        return Gst.PadProbeReturn.OK


class LoopbackMedia(Media):
    """`--media loopback`, a TEST MODE: RTP over UDP on 127.0.0.1 straight to the other bots (no bridge)."""

    def __init__(self, nick, args, on_element_message, on_fatal):
        super().__init__(nick, args, on_element_message, on_fatal)
        self.ssrc = {kind: secrets.randbits(32) for kind in KINDS}
        self.peer_media = {}  # nick -> their parsed loopback-media
        parts = []
        for kind in KINDS:
            chain = send_chain(kind, nick, self.ssrc[kind], PAYLOAD_TYPE[kind], args.keyframe_interval,
                               "width=160,height=120,framerate=15/1")
            parts.append(f"{chain} ! "
                         f"multiudpsink name=send-{kind} sync=false async=false")
            parts.append(f"udpsrc name=recv-{kind} address=127.0.0.1 port=0 caps=\"{RTP_CAPS[kind]}\" ! "
                         f"rtpssrcdemux name=demux-{kind}")
        self.bin = self.add(" ".join(parts))
        self.count_sent(self.bin)
        for kind in KINDS:
            self.bin.get_by_name("demux-" + kind).connect("new-ssrc-pad", self.on_new_ssrc_pad, kind)

    def is_call_element(self, element):
        # The receiving udpsrc is no call element: it failing is fatal, as before.
        return super().is_call_element(element) and element.get_name() not in ("recv-video", "recv-audio")

    def on_new_ssrc_pad(self, _demux, ssrc, pad, kind):
        self.decode(pad, kind, ssrc, self.bin)

    def presence_elements(self):
        # Known once READY has bound the receiving ports.
        element = ET.Element(LOOPBACK_TAG, host="127.0.0.1")
        for kind in KINDS:
            port = self.bin.get_by_name("recv-" + kind).get_property("port")
            ET.SubElement(element, "{%s}source" % LOOPBACK_NS, media=kind, port=str(port), ssrc=str(self.ssrc[kind]))
        return (element,)

    def occupant(self, nick, others):
        media = parse_loopback(others.get(LOOPBACK_TAG))
        old = self.peer_media.get(nick)
        if media == old:
            return
        self.peer_media[nick] = media
        for kind in KINDS:
            sink = self.bin.get_by_name("send-" + kind)
            if old is not None:
                sink.emit("remove", old["host"], old[kind]["port"])
            if media is not None:
                sink.emit("add", media["host"], media[kind]["port"])
        if media is not None:
            for kind in KINDS:
                self.set_owner(media[kind]["ssrc"], nick)

    def occupant_left(self, nick):
        media = self.peer_media.pop(nick, None)
        if media is not None:
            for kind in KINDS:
                self.bin.get_by_name("send-" + kind).emit("remove", media["host"], media[kind]["port"])
        super().occupant_left(nick)


def parse_loopback(element):
    """{"host": h, "video": {"port", "ssrc"}, "audio": {...}} or None. Only loopback hosts: the bot
    sends to nobody else."""
    if element is None:
        return None
    try:
        host = element.get("host", "")
        if not ipaddress.ip_address(host).is_loopback:
            return None
        media = {"host": host}
        for source in element:
            kind = source.get("media")
            if kind in KINDS:
                port, ssrc = int(source.get("port")), int(source.get("ssrc"))
                if not (0 < port < 65536 and 0 <= ssrc < 2**32):
                    return None
                media[kind] = {"port": port, "ssrc": ssrc}
        return media if "video" in media and "audio" in media else None
    except (TypeError, ValueError):
        return None
