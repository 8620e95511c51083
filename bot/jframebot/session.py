"""The Jingle session state machine of the call bot, sans-I/O: calls in, events out (no XMPP, no GStreamer, no
clock, no threads).

It speaks lib-jitsi-meet's peer-to-peer `JingleSessionPC`: session-initiate / session-accept (the accept's
`responder` is the real JID), trickled candidates in transport-info for the BUNDLE transport only (content '0',
fingerprint repeated with required='true'), content-modify acknowledged and ignored, source-add / source-remove,
session-terminate with a reason. Every incoming IQ set gets exactly one Reply or ReplyError (XEP-0166 §8
conditions). Every check runs before anything changes, so input that is refused leaves the session as it was.
"""

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Optional

from . import jingle as J
from .jingle import JingleError, q

# --- events -----------------------------------------------------------------------------------------------------


@dataclass
class SendIq:
    iq_id: str
    to: str
    jingle: ET.Element


@dataclass
class Reply:
    iq_id: str
    to: str


@dataclass
class ReplyError:
    iq_id: str
    to: str
    type: str
    condition: str
    jingle_condition: Optional[str]
    text: str


@dataclass
class NeedOffer:
    peer: str


@dataclass
class RemoteOffer:
    peer: str
    sdp: str


@dataclass
class RemoteAnswer:
    sdp: str


@dataclass
class RemoteCandidate:
    mline_index: int
    mid: str
    candidate_line: str


@dataclass
class SourcesAdded:
    sources: list


@dataclass
class SourcesRemoved:
    sources: list


@dataclass
class SessionActive:
    peer: str
    sid: str
    initiator: bool


@dataclass
class SessionEnded:
    peer: str
    sid: str
    reason: str


STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def error_element(error, ns="jabber:client"):
    """The `<error/>` of the IQ error that answers a ReplyError: RFC 6120 condition, optional text, and the
    XEP-0166 condition (`urn:xmpp:jingle:errors:1`) as the application-specific condition."""
    element = ET.Element(q(ns, "error"), {"type": error.type})
    ET.SubElement(element, q(STANZA_ERRORS, error.condition))
    if error.text:
        ET.SubElement(element, q(STANZA_ERRORS, "text")).text = error.text
    if error.jingle_condition:
        ET.SubElement(element, q(J.JINGLE_ERRORS, error.jingle_condition))
    return element


# Jingle actions of XEP-0166/0176 this bot does not implement: refused as such, not as malformed.
NOT_IMPLEMENTED = {
    "content-accept", "content-add", "content-reject", "content-remove", "description-info", "security-info",
    "transport-accept", "transport-reject", "transport-replace",
}

# session states
NEED_OFFER = "need-offer"  # call() made, waiting for the local offer
OFFERED = "offered"  # session-initiate sent, waiting for session-accept
ANSWERING = "answering"  # session-initiate received, waiting for the local answer
ACTIVE = "active"


@dataclass
class Call:
    """The one session: everything a refused input must leave unchanged."""

    sid: str
    peer: str
    initiator_jid: str
    we_initiate: bool
    state: str
    contents: list = field(default_factory=list)  # content names (= mids) in m-line order
    local_transport: Optional[tuple] = None  # (ufrag, pwd, hash, fingerprint) of our BUNDLE transport
    queued_local: list = field(default_factory=list)  # candidate lines waiting for our initiate/accept
    queued_remote: list = field(default_factory=list)  # RemoteCandidates waiting for the remote answer


class JingleSession:
    """All Jingle traffic of one bot in one room: at most one session at a time."""

    def __init__(self, own_jid, real_jid):
        self.own_jid = own_jid  # occupant JID room@muc/nick
        self.real_jid = real_jid  # user@domain/resource
        self.nick = own_jid.split("/", 1)[1] if "/" in own_jid else own_jid
        self.call_state: Optional[Call] = None
        self._events = []
        self._sent = {}  # iq id -> (action, sid) of the IQs we sent and wait an answer for

    # --- outputs ----------------------------------------------------------------------------------------------

    def events(self):
        """Drains the output queue."""
        events, self._events = self._events, []
        return events

    @property
    def state(self):
        return self.call_state.state if self.call_state else "idle"

    def _send(self, to, action, call, build=None):
        jingle = ET.Element(q(J.JINGLE, "jingle"), {"action": action, "initiator": call.initiator_jid, "sid": call.sid})
        if build:
            build(jingle)
        iq_id = secrets.token_hex(8)
        self._sent[iq_id] = (action, call.sid)
        self._events.append(SendIq(iq_id, to, jingle))
        return jingle

    # --- incoming IQs -----------------------------------------------------------------------------------------

    def handle_iq(self, iq_id, sender, iq_type, jingle):
        """An incoming Jingle IQ. A set gets exactly one Reply or ReplyError; results and errors go to
        handle_response, so they are ignored here."""
        if iq_type in ("result", "error"):
            return
        try:
            if iq_type != "set":
                raise JingleError("bad-request", None, "modify", "Jingle requests are IQ sets")
            if jingle is None or jingle.tag != q(J.JINGLE, "jingle"):
                raise JingleError("bad-request", None, "modify", "no Jingle element")
            events = self._dispatch(sender, jingle)
        except JingleError as error:
            self._events.append(ReplyError(iq_id, sender, error.type, error.condition, error.jingle_condition,
                                           error.text))
            return
        except Exception as error:  # noqa: BLE001 - hostile input must never escape; nothing was changed
            self._events.append(ReplyError(iq_id, sender, "modify", "bad-request", None, f"malformed: {error}"[:200]))
            return
        self._events.append(Reply(iq_id, sender))
        self._events.extend(events)

    def _dispatch(self, sender, jingle):
        """Checks the request and returns its events; the session changes only at the very end of each handler."""
        action, sid = jingle.get("action"), jingle.get("sid")
        if not action or not sid:
            raise JingleError("bad-request", None, "modify", "action and sid are required")
        if action == "session-initiate":
            return self._on_initiate(sender, sid, jingle)
        call = self.call_state
        if call is None or call.sid != sid or call.peer != sender:
            raise JingleError("item-not-found", "unknown-session", "cancel", "no such session")
        if action == "session-accept":
            return self._on_accept(call, jingle)
        if action == "transport-info":
            return self._on_transport_info(call, jingle)
        if action == "session-terminate":
            reason = jingle.find(q(J.JINGLE, "reason"))
            conditions = [child.tag.split("}")[-1] for child in reason if child.tag != q(J.JINGLE, "text")] \
                if reason is not None else []
            self.call_state = None
            return [SessionEnded(call.peer, call.sid, conditions[0] if conditions else "unknown")]
        if action == "content-modify":
            return []  # lib-jitsi-meet's video constraints: acknowledged, nothing to do
        if action in ("source-add", "source-remove"):
            found = J.sources(jingle)
            if not found:
                return []
            return [SourcesAdded(found) if action == "source-add" else SourcesRemoved(found)]
        if action == "session-info":
            if len(jingle):
                raise JingleError("feature-not-implemented", "unsupported-info", "modify", "no session-info payloads")
            return []  # an empty session-info is a ping
        if action in NOT_IMPLEMENTED:
            raise JingleError("feature-not-implemented", None, "cancel", f"{action} is not supported")
        raise JingleError("bad-request", None, "modify", f"unknown action {action}"[:200])

    def _on_initiate(self, sender, sid, jingle):
        if "/" not in sender or sender == self.own_jid:
            raise JingleError("bad-request", None, "modify", "session-initiate from no occupant")
        sdp = J.jingle_to_sdp(jingle)  # a malformed initiate is refused as such, also during a call
        if self.call_state is not None:
            raise JingleError("conflict", "tie-break", "cancel", "a session is already going on")
        found = J.sources(jingle)
        names = [c.get("name") for c in J.contents(jingle)]
        self.call_state = Call(sid, sender, jingle.get("initiator") or sender, False, ANSWERING, names)
        events = [RemoteOffer(sender, sdp)]
        return events + ([SourcesAdded(found)] if found else [])

    def _on_accept(self, call, jingle):
        if not call.we_initiate or call.state != OFFERED:
            raise JingleError("unexpected-request", "out-of-order", "wait", "no session-accept expected now")
        sdp = J.jingle_to_sdp(jingle)
        names = [c.get("name") for c in J.contents(jingle)]
        if names != call.contents:
            raise JingleError("bad-request", None, "modify", "session-accept contents differ from the offer")
        found = J.sources(jingle)
        call.state = ACTIVE
        events = [RemoteAnswer(sdp)] + ([SourcesAdded(found)] if found else [])
        events += [SessionActive(call.peer, call.sid, True)] + call.queued_remote
        call.queued_remote = []
        return events

    def _on_transport_info(self, call, jingle):
        found = []
        contents = J.contents(jingle)
        if not contents:
            raise JingleError("bad-request", None, "modify", "transport-info without content")
        for content in contents:
            name = content.get("name")
            if name not in call.contents:
                raise JingleError("bad-request", None, "modify", f"unknown content {name!r}"[:200])
            transport = J.transport_of(content)
            for candidate in transport.findall(q(J.ICE_UDP, "candidate")):
                found.append(RemoteCandidate(call.contents.index(name), name, J.candidate_to_sdp(candidate)))
        if call.we_initiate and call.state == OFFERED:
            call.queued_remote.extend(found)  # webrtcbin takes candidates only once it has the remote answer
            return []
        return found

    # --- answers to our IQs -----------------------------------------------------------------------------------

    def handle_response(self, iq_id, ok, error=None):
        """The result or error of an IQ we sent. A refused session-initiate or session-accept ends the session."""
        sent = self._sent.pop(iq_id, None)
        if sent is None or ok:
            return
        action, sid = sent
        call = self.call_state
        if action in ("session-initiate", "session-accept") and call is not None and call.sid == sid:
            self.call_state = None
            self._events.append(SessionEnded(call.peer, sid, f"refused: {error}" if error else "refused"))

    # --- local calls ------------------------------------------------------------------------------------------

    def call(self, peer_jid):
        """Starts a session with peer_jid: emits NeedOffer, then local_offer(sdp) sends the session-initiate.
        Returns False (and does nothing) while a session is going on."""
        if self.call_state is not None:
            return False
        self.call_state = Call(secrets.token_hex(6), peer_jid, self.own_jid, True, NEED_OFFER)
        self._events.append(NeedOffer(peer_jid))
        return True

    def local_offer(self, sdp):
        """webrtcbin's offer: sends the session-initiate."""
        call = self.call_state
        if call is None or call.state != NEED_OFFER:
            return False
        offer = self._translate_local(call, sdp, "session-initiate", self.own_jid, None, "initiator")
        if offer is None:
            return False
        call.contents = [c.get("name") for c in J.contents(offer)]
        call.local_transport = local_transport(offer)
        call.state = OFFERED
        self._send(call.peer, "session-initiate", call, lambda jingle: jingle.extend(list(offer)))
        self._flush_local(call)
        return True

    def local_answer(self, sdp):
        """webrtcbin's answer to the RemoteOffer: sends the session-accept; the session is active."""
        call = self.call_state
        if call is None or call.state != ANSWERING:
            return False
        answer = self._translate_local(call, sdp, "session-accept", call.initiator_jid, self.real_jid, "responder")
        if answer is None:
            return False
        call.local_transport = local_transport(answer)
        call.state = ACTIVE
        accept = self._send(call.peer, "session-accept", call, lambda jingle: jingle.extend(list(answer)))
        accept.set("responder", self.real_jid)
        self._events.append(SessionActive(call.peer, call.sid, False))
        self._flush_local(call)
        return True

    def _translate_local(self, call, sdp, action, initiator, responder, creator):
        """Our SDP as Jingle, checked as the peer will check it; an SDP that fails ends the session (a
        session-terminate tells the peer when it already knows of the session)."""
        try:
            jingle = J.sdp_to_jingle(sdp, action, call.sid, initiator, responder, creator, source_prefix=self.nick)
            J.jingle_to_sdp(jingle)
            return jingle
        except Exception as error:  # noqa: BLE001 - a bad local SDP ends the session, it does not crash the bot
            self.hangup("failed-application")
            self._events[-1].reason = f"failed-application: {error}"[:200]
            return None

    def local_candidate(self, mline_index, candidate_line):
        """A candidate of webrtcbin: sent in a transport-info for the BUNDLE transport (content of the first
        m-line), or queued until our initiate/accept is out. An empty line (end of candidates) is dropped."""
        call = self.call_state
        if call is None or not candidate_line.strip():
            return
        try:
            J.sdp_to_candidate(candidate_line)
        except JingleError:
            return  # not a candidate lib-jitsi-meet could read
        call.queued_local.append(candidate_line)
        self._flush_local(call)

    def _flush_local(self, call):
        """Sends the queued candidates once our initiate/accept is out (it sets local_transport)."""
        if not call.queued_local or call.local_transport is None:
            return
        lines, call.queued_local = call.queued_local, []
        ufrag, pwd, hash_name, fingerprint = call.local_transport

        def build(jingle):
            creator = "initiator" if call.we_initiate else "responder"
            content = ET.SubElement(jingle, q(J.JINGLE, "content"), {"creator": creator, "name": call.contents[0]})
            attrs = {k: v for k, v in (("ufrag", ufrag), ("pwd", pwd)) if v is not None}
            transport = ET.SubElement(content, q(J.ICE_UDP, "transport"), attrs)
            for line in lines:
                transport.append(J.sdp_to_candidate(line))
            if fingerprint is not None:
                element = ET.SubElement(transport, q(J.DTLS, "fingerprint"), {"hash": hash_name, "required": "true"})
                element.text = fingerprint

        self._send(call.peer, "transport-info", call, build)

    def hangup(self, reason="success"):
        """Ends the session with a session-terminate (none when nothing was sent to the peer yet)."""
        call = self.call_state
        if call is None:
            return
        self.call_state = None
        if call.state != NEED_OFFER:
            def build(jingle):
                element = ET.SubElement(jingle, q(J.JINGLE, "reason"))
                ET.SubElement(element, q(J.JINGLE, reason))

            self._send(call.peer, "session-terminate", call, build)
        self._events.append(SessionEnded(call.peer, call.sid, reason))

    def occupant_left(self, jid):
        """The occupant jid left the room: its session ends, with no IQ to it."""
        call = self.call_state
        if call is not None and call.peer == jid:
            self.call_state = None
            self._events.append(SessionEnded(call.peer, call.sid, "gone"))


def local_transport(jingle):
    """(ufrag, pwd, hash, fingerprint) of the first content's transport, for the transport-infos that follow."""
    for content in J.contents(jingle):
        transport = content.find(q(J.ICE_UDP, "transport"))
        if transport is None:
            continue
        fingerprint = transport.find(q(J.DTLS, "fingerprint"))
        if fingerprint is None:
            return transport.get("ufrag"), transport.get("pwd"), None, None
        return transport.get("ufrag"), transport.get("pwd"), fingerprint.get("hash"), fingerprint.text
    return None
