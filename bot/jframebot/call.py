"""The call: session.py's Jingle events <-> a webrtcbin <-> the room.

Each Jingle session gets a bin of its own in the bot's pipeline (where jframeolm and the key store are): one
webrtcbin with one BUNDLE transport, mids '0' (audio) and '1' (video) as lib-jitsi-meet wants them, fed by
`opusenc ! jframeenc ! rtpopuspay` and `vp8enc ! jframeenc ! jframevp8pay`; each incoming stream goes through
media.py's `rtp*depay ! jframedec ! decoder` branch. The bin goes when the session ends; the next session gets a
new one. ICE: host candidates on every local address, loopback included, and no STUN or TURN server unless
`--stun`/`--turn` name one.
"""

import ctypes
import json
import re
import secrets
import xml.etree.ElementTree as ET

import gi

gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstVideo, GstWebRTC, Nice  # noqa: E402

from .media import KINDS, PAYLOAD_TYPE, Media, send_chain  # noqa: E402
from .session import (JingleSession, NeedOffer, RemoteAnswer, RemoteCandidate, RemoteOffer, Reply,  # noqa: E402
                      ReplyError, SendIq, SessionActive, SessionEnded, SourcesAdded, SourcesRemoved, error_element)
from .util import say, warn  # noqa: E402

MID = {"audio": "0", "video": "1"}  # lib-jitsi-meet's P2P content names, audio first
ENCODING = {"audio": "OPUS", "video": "VP8"}
CLOCK_RATE = {"audio": 48000, "video": 90000}


def rtp_caps(kind, payload_type, extra=""):
    caps = (f"application/x-rtp,media={kind},encoding-name={ENCODING[kind]},payload={payload_type},"
            f"clock-rate={CLOCK_RATE[kind]}")
    if kind == "audio":
        caps += ",encoding-params=(string)2"  # opus/48000/2, as browsers write it
    return caps + extra


def offered(sdp):
    """{kind: (mid, payload type)} of the first audio and video m-line of a remote offer, for Opus and VP8: what
    the answer's senders must use (lib-jitsi-meet peer to peer: '0' and 111, '1' and 96; a focus names its
    contents 'audio' and 'video')."""
    found = {}
    for media in re.split(r"^(?=m=)", sdp, flags=re.MULTILINE)[1:]:
        kind = media[2:7]
        mid = re.search(r"^a=mid:(\S+)", media, re.MULTILINE)
        rtpmap = re.search(rf"^a=rtpmap:(\d+) {ENCODING.get(kind, '-')}/", media, re.MULTILINE | re.IGNORECASE)
        if kind in KINDS and kind not in found and mid and rtpmap:
            found[kind] = (mid.group(1), int(rtpmap.group(1)))
    return found


_gobject = ctypes.CDLL("libgobject-2.0.so.0")
_gobject.g_object_ref.argtypes = [ctypes.c_void_p]
_gobject.g_object_ref.restype = ctypes.c_void_p
ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p


def ice_agent(webrtc):
    """webrtcbin's ICE agent; call once per webrtcbin. GStreamer 1.22's webrtcbin hands its agent out with a
    floating reference, which the first Python wrapper sinks as its own: webrtcbin gets one back here, or the agent
    would be freed under it when the wrapper goes (seen: a crash at the first candidate)."""
    agent = webrtc.get_property("ice-agent")
    _gobject.g_object_ref(ctypes.pythonapi.PyCapsule_GetPointer(agent.__gpointer__, None))
    return agent


def nick_of(jid):
    return jid.partition("/")[2] or jid


class CallMedia(Media):
    """`--media webrtc`: the bot's pipeline, to which each call adds its bin."""

    request_keyframes = True  # a lost key frame is asked again of the browser (PLI)

    def presence_elements(self):
        # As lib-jitsi-meet's presence: the sources (named as jingle.py names them) and that none is muted.
        info = ET.Element("{jabber:client}SourceInfo")
        info.text = json.dumps({f"{self.nick}-{s}0": {"muted": False} for s in "av"}, separators=(",", ":"))
        return (info,)

    def is_call_element(self, element):
        # An error inside a call's bin is a warning: it never ends the bot.
        while element is not None:
            if element.get_name().startswith(("call-", "recv-")):
                return True
            element = element.get_parent()
        return False


class CallBin:
    """One session's webrtcbin and its senders and receivers, in the bot's pipeline."""

    def __init__(self, call, peer, senders=None):
        self.call, self.peer, self.media, self.args = call, peer, call.media, call.bot.args
        self.bin = Gst.Bin.new(f"call-{call.sessions_started + 1}")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        if self.args.stun:
            self.webrtc.set_property("stun-server", self.args.stun)
        if self.args.turn:
            self.webrtc.set_property("turn-server", self.args.turn)
        self.bin.add(self.webrtc)
        self.use_local_addresses()
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        self.webrtc.connect("pad-added", self.on_pad_added)
        self.webrtc.connect("notify::connection-state", self.on_connection_state)
        self.ssrc = {kind: secrets.randbits(32) for kind in KINDS}  # new ones for each call, as browsers do
        self.key_frame_pad = None  # the video encrypter's sink: force-key-unit requests go up from there
        # Audio first: the m-lines follow the order of the sink pads.
        senders = senders or {kind: (MID[kind], PAYLOAD_TYPE[kind]) for kind in KINDS}
        for kind in ("audio", "video"):
            if kind in senders:
                self.add_sender(kind, *senders[kind])
        self.media.count_sent(self.bin, prefix=self.bin.get_name())
        self.media.pipeline.add(self.bin)
        self.bin.sync_state_with_parent()

    def use_local_addresses(self):
        """libnice skips loopback interfaces; with them it also calls on 127.0.0.1 (a namespace with only lo)."""
        agent = ice_agent(self.webrtc)
        agent.set_property("ice-tcp", False)
        nice = agent.get_property("agent")
        for ip in Nice.interfaces_get_local_ips(True):
            address = Nice.Address.new()
            if "%" not in ip and address.set_from_string(ip):  # not link-local (scoped) IPv6
                nice.add_local_address(address)

    def add_sender(self, kind, mid, payload_type):
        name = self.bin.get_name()
        ssrc = self.ssrc[kind]
        chain = send_chain(kind, self.call.bot.nick, ssrc, payload_type, self.args.keyframe_interval, name=name)
        # The caps are also the transceiver's codec preferences: the offer or answer has the SSRC and mid
        # before the first frame comes.
        caps = rtp_caps(kind, payload_type, f",ssrc=(uint){ssrc},a-mid=(string){mid}")
        sender = Gst.parse_bin_from_description(f"{chain} ! capsfilter caps=\"{caps}\"", True)
        sender.set_name(f"{name}-send-{kind}")
        self.bin.add(sender)
        sink = self.webrtc.request_pad_simple("sink_%u")
        sender.get_static_pad("src").link(sink)
        transceiver = sink.get_property("transceiver")
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV)
        transceiver.set_property("codec-preferences", Gst.Caps.from_string(caps))
        if kind == "video":
            encrypter = sender.get_by_name(f"{name}-video-enc")
            self.key_frame_pad = encrypter.get_static_pad("sink")
            # The browser's PLI/FIR come up from webrtcbin's RTP session as force-key-unit events.
            encrypter.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self.count_key_frame_request)

    # ---- negotiation (promises answer on webrtcbin's thread; everything goes back to the main loop) -------

    def offer(self):
        self.webrtc.emit("create-offer", None, Gst.Promise.new_with_change_func(self.on_description, "offer"))

    def answer(self, sdp):
        self.set_description("set-remote-description", sdp, GstWebRTC.WebRTCSDPType.OFFER)
        self.webrtc.emit("create-answer", None, Gst.Promise.new_with_change_func(self.on_description, "answer"))

    def set_description(self, signal, sdp, sdp_type):
        result, message = GstSdp.SDPMessage.new_from_text(sdp)
        if result != GstSdp.SDPResult.OK:
            warn(f"{signal}: the SDP does not parse")
            return
        self.webrtc.emit(signal, GstWebRTC.WebRTCSessionDescription.new(sdp_type, message), None)

    def on_description(self, promise, kind):
        # The reply lives as long as the promise: its SDP is taken as text here.
        reply = promise.get_reply()
        description = reply.get_value(kind) if reply is not None and reply.has_field(kind) else None
        sdp = description.sdp.as_text() if description is not None else None
        GLib.idle_add(self.call.on_local_description, self, kind, sdp)

    def set_local(self, kind, sdp):
        sdp_type = GstWebRTC.WebRTCSDPType.OFFER if kind == "offer" else GstWebRTC.WebRTCSDPType.ANSWER
        self.set_description("set-local-description", sdp, sdp_type)
        return sdp

    def add_candidate(self, mline_index, line):
        # mDNS names (.local) would mean multicast lookups: only addresses are taken.
        if ".local " not in line:
            self.webrtc.emit("add-ice-candidate", mline_index, line)

    def on_ice_candidate(self, _webrtc, mline_index, candidate):
        GLib.idle_add(self.call.on_local_candidate, self, mline_index, candidate)

    def on_connection_state(self, webrtc, _pspec):
        state = webrtc.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            self.force_key_frame()  # the first frames went nowhere: start the picture again
        GLib.idle_add(self.call.on_connection_state, self, state.value_nick)

    def count_key_frame_request(self, _pad, info):
        if GstVideo.video_event_is_force_key_unit(info.get_event()):
            self.call.key_frame_requests += 1
        return Gst.PadProbeReturn.OK

    def force_key_frame(self):
        if self.key_frame_pad is not None:
            request = Gst.Structure.new_from_string("GstForceKeyUnit, all-headers=(boolean)true")
            self.key_frame_pad.push_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, request))

    # ---- receiving --------------------------------------------------------------------------------

    def on_pad_added(self, _webrtc, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps()
        structure = caps.get_structure(0) if caps is not None else None
        kind = structure.get_value("media") if structure is not None else None
        ok, ssrc = structure.get_uint("ssrc") if structure is not None else (False, 0)
        if kind not in KINDS or not ok:
            warn(f"incoming stream with caps {caps}: not decoded")
            return
        self.media.set_owner(ssrc, self.peer, replace=False)  # peer to peer, the streams are the peer's
        self.media.decode(pad, kind, ssrc, self.bin)

    def stop(self):
        self.bin.set_state(Gst.State.NULL)
        self.media.pipeline.remove(self.bin)


class Call:
    """Jingle signalling (session.py) for the bot: at most one call at a time, with the sole other occupant
    when it starts one (`--call`, the `call` command); it answers a session-initiate from any occupant."""

    def __init__(self, bot):
        self.bot, self.media, self.room, self.args = bot, bot.media, bot.room, bot.args
        self.session = None  # once joined: the session needs the own JIDs
        self.bin = None
        self.sessions_started = 0
        self.sessions_ended = 0
        self.key_frame_requests = 0  # from the peer (PLI, FIR), all calls
        self.occupants = set()
        self.ready = set()  # occupants a call may go to
        self.wants_call = self.args.call

    # ---- the room ---------------------------------------------------------------------------------

    def joined(self):
        self.session = JingleSession(self.room.own_jid, self.room.real_jid)
        self.maybe_call()

    def occupant(self, nick):
        if nick not in self.occupants:
            self.occupants.add(nick)
            self.maybe_call()

    def peer_key(self, nick):
        """The bot holds nick's media key. lib-jitsi-meet ends its calls once its own key is out, after it
        turned E2EE on (a restart), so --call waits for the peer's key, as the web client waits for its own."""
        if nick in self.occupants and nick not in self.ready:
            self.ready.add(nick)
            self.maybe_call()

    def occupant_left(self, nick):
        self.occupants.discard(nick)
        self.ready.discard(nick)
        if self.session is not None:
            self.session.occupant_left(f"{self.room.room}/{nick}")
            self.pump()

    def maybe_call(self):
        """--call: calls the sole other occupant when we join or it comes and is ready (again each time it comes
        back)."""
        if self.wants_call and self.session is not None and self.session.state == "idle" \
                and len(self.occupants) == 1 and self.occupants <= self.ready:
            self.start()

    def start(self):
        if self.session is None:
            warn("not in the room yet")
        elif len(self.occupants) != 1:
            warn(f"call: {len(self.occupants)} other occupants, not one")
        elif not self.session.call(f"{self.room.room}/{next(iter(self.occupants))}"):
            warn("call: a call is going on")
        self.pump()

    def hangup(self):
        if self.session is not None:
            self.session.hangup("success")
            self.pump()

    def on_jingle(self, iq_id, sender, iq_type, jingle):
        if self.session is None:
            refusal = ReplyError(iq_id, sender, "wait", "unexpected-request", None, "not in the room yet")
            self.room.call("send_error", iq_id, sender, error_element(refusal))
            return
        self.session.handle_iq(iq_id, sender, iq_type, jingle)
        self.pump()

    def on_response(self, iq_id, ok, error):
        if self.session is not None:
            self.session.handle_response(iq_id, ok, error)
            self.pump()
        return False

    # ---- session.py's events ----------------------------------------------------------------------

    def pump(self):
        for event in self.session.events() if self.session is not None else ():
            if isinstance(event, SendIq):
                self.room.call("send_jingle", event.iq_id, event.to, event.jingle, self.on_response)
            elif isinstance(event, Reply):
                self.room.call("send_result", event.iq_id, event.to)
            elif isinstance(event, ReplyError):
                self.room.call("send_error", event.iq_id, event.to, error_element(event))
            elif isinstance(event, NeedOffer):
                self.bin = CallBin(self, nick_of(event.peer))
                self.bin.offer()
            elif isinstance(event, RemoteOffer):
                self.bin = CallBin(self, nick_of(event.peer), offered(event.sdp))
                self.bin.answer(event.sdp)
            elif isinstance(event, RemoteAnswer) and self.bin is not None:
                self.bin.set_description("set-remote-description", event.sdp, GstWebRTC.WebRTCSDPType.ANSWER)
            elif isinstance(event, RemoteCandidate) and self.bin is not None:
                self.bin.add_candidate(event.mline_index, event.candidate_line)
            elif isinstance(event, SourcesAdded):
                for source in event.sources:
                    if self.bin is not None:  # the ssrc-info owner where there is one, else the peer
                        self.media.set_owner(source.ssrc, source.owner or self.bin.peer)
            elif isinstance(event, SourcesRemoved):
                pass  # the streams stop; their branches go with the call
            elif isinstance(event, SessionActive):
                self.sessions_started += 1
                say(f"call with {nick_of(event.peer)}: active ({'initiator' if event.initiator else 'responder'})")
            elif isinstance(event, SessionEnded):
                self.end(event)

    def end(self, event):
        if self.media.recorder is not None:
            self.media.recorder.end()  # the recording is of one call: the streams it took end here
        if self.bin is not None:
            self.bin.stop()
            self.bin = None
        self.sessions_ended += 1
        say(f"call with {nick_of(event.peer)}: ended ({event.reason})")

    # ---- the CallBin's callbacks (main loop) ------------------------------------------------------

    def on_local_description(self, bin, kind, sdp):
        if bin is not self.bin or self.session is None:
            return False
        if sdp is None:
            warn(f"webrtcbin made no {kind}")
            self.session.hangup("failed-application")
        elif kind == "offer":
            self.session.local_offer(bin.set_local(kind, sdp))
        else:
            self.session.local_answer(bin.set_local(kind, sdp))
        self.pump()
        return False

    def on_local_candidate(self, bin, mline_index, candidate):
        if bin is self.bin and self.session is not None:
            self.session.local_candidate(mline_index, candidate)
            self.pump()
        return False

    def on_connection_state(self, bin, state):
        if bin is self.bin:
            say(f"call with {bin.peer}: {state}")
        return False

    def stop(self):
        """The bot leaves: the call ends with a session-terminate."""
        self.wants_call = False
        self.hangup()

    def summary(self):
        summary = {"sessions-started": self.sessions_started, "sessions-ended": self.sessions_ended,
                   "sent": dict(self.media.sent), "key-frame-requests": self.key_frame_requests}
        if self.media.recorder is not None:
            summary["recorded"] = dict(self.media.recorder.written)
        return summary

