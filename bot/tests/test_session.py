"""Unit tests of jframebot.session: the sans-I/O Jingle session of the call bot.

Run: /usr/bin/python3 bot/tests/test_session.py (last line `N passed, M failed`; tests/bot_units.rs runs it).

The peer's IQs are the ones lib-jitsi-meet sent in the recorded call (bot/tests/data/p2p-*.xml); the bot's SDPs
are what GStreamer 1.22's webrtcbin wrote. Each hostile case of issue 19 is a test of Hostile: the exact error
conditions, and a session that is going on stays exactly as it was (and keeps working).
"""

import copy
import unittest
import xml.etree.ElementTree as ET

import support as S
from support import jingle as J
from jframebot import session as M

PEER = "e2eep2p@muc.localhost/3d42ad98"  # the initiator of the recorded call
OTHER = "e2eep2p@muc.localhost/cafe0001"
BOT = "e2eep2p@muc.localhost/bot"
BOT_REAL = "bot@localhost/res"
SID = "3c70a5aef1d5"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def read(name):
    with open(f"{S.DATA}/{name}") as f:
        return f.read()


def initiate(sid=SID):
    jingle = S.load_jingle("p2p-session-initiate.xml")
    jingle.set("sid", sid)
    return jingle


def accept_from_peer(sid):
    """The recorded session-accept, as the peer's answer to a session the bot started."""
    jingle = S.load_jingle("p2p-session-accept.xml")
    jingle.set("sid", sid)
    jingle.set("initiator", BOT)
    return jingle


def peer_candidates(sid=SID):
    jingle = S.load_jingle("p2p-transport-info-initiator.xml")
    jingle.set("sid", sid)
    return jingle


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


WEBRTCBIN_CANDIDATE = "candidate:1 1 UDP 2015363327 127.0.0.1 40453 typ host"


class Flows(unittest.TestCase):
    """The calls of the recorded session, with the bot on either side."""

    def setUp(self):
        self.bot = M.JingleSession(BOT, BOT_REAL)

    def answer(self):
        """Bot answers the recorded session-initiate; returns the events of each step."""
        self.bot.handle_iq("i1", PEER, "set", initiate())
        first = self.bot.events()
        self.bot.local_candidate(0, WEBRTCBIN_CANDIDATE)  # before the answer: queued
        queued = self.bot.events()
        self.bot.local_answer(read("webrtcbin-1.22-answer.sdp"))
        answered = self.bot.events()
        self.sent = of(answered, M.SendIq)
        return first, queued, answered

    def test_answering_the_recorded_initiate(self):
        first, queued, answered = self.answer()
        self.assertEqual(first[0], M.Reply("i1", PEER))
        offer = first[1]
        self.assertIsInstance(offer, M.RemoteOffer)
        self.assertEqual((offer.peer, offer.sdp), (PEER, J.jingle_to_sdp(initiate())))
        self.assertEqual([s.ssrc for s in first[2].sources], [1693699000, 610999849, 2257280590])
        self.assertEqual(len(first), 3)
        self.assertEqual(queued, [])

        accept, active, trickle = answered
        self.assertEqual(accept.to, PEER)
        jingle = accept.jingle
        self.assertEqual(
            (jingle.get("action"), jingle.get("sid"), jingle.get("initiator"), jingle.get("responder")),
            ("session-accept", SID, PEER, BOT_REAL),
        )
        self.assertEqual([(c.get("creator"), c.get("name")) for c in J.contents(jingle)],
                         [("responder", "0"), ("responder", "1")])
        self.assertEqual([s.name for s in J.sources(jingle)], ["bot-a0", "bot-v0"])
        self.assertEqual(active, M.SessionActive(PEER, SID, False))
        self.assertEqual(self.bot.state, M.ACTIVE)

        # the queued candidate: transport-info for content 0 only, fingerprint repeated with required='true'
        info = trickle.jingle
        self.assertEqual((info.get("action"), info.get("sid"), info.get("initiator")), ("transport-info", SID, PEER))
        (content,) = J.contents(info)
        self.assertEqual((content.get("creator"), content.get("name")), ("responder", "0"))
        transport = content.find(J.q(J.ICE_UDP, "transport"))
        self.assertEqual(transport.get("ufrag"), "7YEDGbCqw9+RnfN+LGUpTLRrJTUYSJUm")
        (candidate,) = transport.findall(J.q(J.ICE_UDP, "candidate"))
        self.assertEqual(J.candidate_to_sdp(candidate),
                         "candidate:1 1 udp 2015363327 127.0.0.1 40453 typ host generation 0")
        fingerprint = transport.find(J.q(J.DTLS, "fingerprint"))
        self.assertEqual((fingerprint.get("hash"), fingerprint.get("required"), fingerprint.get("setup")),
                         ("sha-256", "true", None))
        self.assertTrue(fingerprint.text.startswith("35:6A:79"))

        # later candidates go out at once, and every one in its own transport-info
        self.bot.local_candidate(0, "candidate:2 1 TCP 1015021823 127.0.0.1 9 typ host tcptype active")
        self.bot.local_candidate(0, "")  # end of candidates: nothing to send
        (more,) = self.bot.events()
        self.assertEqual(more.jingle.get("action"), "transport-info")

    def test_the_recorded_peer_traffic_after_the_accept(self):
        self.answer()
        self.bot.handle_iq("t1", PEER, "set", peer_candidates())
        events = self.bot.events()
        self.assertEqual(events[0], M.Reply("t1", PEER))
        self.assertEqual(
            events[1:],
            [
                M.RemoteCandidate(
                    0, "0", "candidate:2160999136 1 udp 2122260223 127.0.0.1 42121 typ host generation 0"
                ),
                M.RemoteCandidate(
                    0, "0", "candidate:2120543860 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0"
                ),
            ],
        )
        for name in ("p2p-content-modify-empty.xml", "p2p-content-modify.xml"):
            self.bot.handle_iq("m", PEER, "set", S.load_jingle(name))
            self.assertEqual(self.bot.events(), [M.Reply("m", PEER)])
        self.assertEqual(self.bot.state, M.ACTIVE)

    def test_terminate_from_the_peer_and_a_new_session(self):
        self.answer()
        terminate = ET.fromstring(
            f"<jingle xmlns='{J.JINGLE}' action='session-terminate' initiator='{PEER}' sid='{SID}'>"
            "<reason><success/><text>bye</text></reason></jingle>"
        )
        self.bot.handle_iq("x", PEER, "set", terminate)
        self.assertEqual(self.bot.events(), [M.Reply("x", PEER), M.SessionEnded(PEER, SID, "success")])
        self.assertEqual(self.bot.state, "idle")
        # the old session is gone: its IQs are refused; a new session-initiate is welcome
        self.bot.handle_iq("t", PEER, "set", peer_candidates())
        self.assertEqual(self.bot.events()[0].jingle_condition, "unknown-session")
        self.bot.handle_iq("i2", PEER, "set", initiate("0123456789ab"))
        events = self.bot.events()
        self.assertEqual(events[0], M.Reply("i2", PEER))
        self.assertIsInstance(events[1], M.RemoteOffer)

    def test_calling(self):
        self.assertTrue(self.bot.call(PEER))
        self.assertEqual(self.bot.events(), [M.NeedOffer(PEER)])
        self.assertFalse(self.bot.call(OTHER))  # one session at a time
        self.bot.local_candidate(0, WEBRTCBIN_CANDIDATE)  # before the offer: queued
        self.assertEqual(self.bot.events(), [])
        self.bot.local_offer(read("webrtcbin-1.22-offer.sdp"))
        send_initiate, send_candidates = self.bot.events()
        jingle = send_initiate.jingle
        sid = jingle.get("sid")
        self.assertRegex(sid, r"^[0-9a-f]{12}$")
        self.assertEqual((send_initiate.to, jingle.get("action"), jingle.get("initiator")),
                         (PEER, "session-initiate", BOT))
        self.assertEqual([c.get("name") for c in J.contents(jingle)], ["0", "1"])
        self.assertEqual([c.get("name") for c in jingle.find(J.q(J.GROUPING, "group"))], ["0", "1"])
        self.assertEqual([(s.name, s.ssrc) for s in J.sources(jingle)], [("bot-a0", 2222), ("bot-v0", 1111)])
        J.jingle_to_sdp(jingle)  # what lib-jitsi-meet receives is a valid session-initiate
        (content,) = J.contents(send_candidates.jingle)
        self.assertEqual((content.get("creator"), content.get("name")), ("initiator", "0"))
        self.bot.handle_response(send_initiate.iq_id, True)

        # an accept from an occupant that is not the peer, while the bot waits for one: refused, nothing changes
        before = copy.deepcopy(self.bot.call_state)
        self.bot.handle_iq("o", OTHER, "set", accept_from_peer(sid))
        (error,) = self.bot.events()
        self.assertEqual((error.to, error.condition, error.jingle_condition),
                         (OTHER, "item-not-found", "unknown-session"))
        self.assertEqual(self.bot.call_state, before)

        # an accept whose contents are not the offered ones is refused, and the bot still waits for one
        wrong = accept_from_peer(sid)
        J.contents(wrong)[1].set("name", "video")
        self.bot.handle_iq("w", PEER, "set", wrong)
        (error,) = self.bot.events()
        self.assertEqual((error.condition, error.jingle_condition), ("bad-request", None))
        self.assertEqual(self.bot.state, M.OFFERED)

        # the peer's candidates may come before its accept: held until the answer is out
        self.bot.handle_iq("t", PEER, "set", peer_candidates(sid))
        self.assertEqual(self.bot.events(), [M.Reply("t", PEER)])
        self.bot.handle_iq("a", PEER, "set", accept_from_peer(sid))
        events = self.bot.events()
        self.assertEqual(events[0], M.Reply("a", PEER))
        self.assertEqual(events[1], M.RemoteAnswer(J.jingle_to_sdp(accept_from_peer(sid))))
        self.assertEqual([s.ssrc for s in events[2].sources], [619421049, 866188660, 205414182])
        self.assertEqual(events[3], M.SessionActive(PEER, sid, True))
        self.assertEqual([type(e) for e in events[4:]], [M.RemoteCandidate, M.RemoteCandidate])

        self.bot.hangup()
        terminate, ended = self.bot.events()
        self.assertEqual((terminate.to, terminate.jingle.get("action"), terminate.jingle.get("sid")),
                         (PEER, "session-terminate", sid))
        reason = terminate.jingle.find(J.q(J.JINGLE, "reason"))
        self.assertEqual([child.tag for child in reason], [J.q(J.JINGLE, "success")])
        self.assertEqual(ended, M.SessionEnded(PEER, sid, "success"))
        self.assertTrue(self.bot.call(PEER))  # and again

    def test_refused_initiate_ends_the_session(self):
        self.bot.call(PEER)
        self.bot.events()
        self.bot.local_offer(read("webrtcbin-1.22-offer.sdp"))
        send_initiate = self.bot.events()[0]
        self.bot.handle_response(send_initiate.iq_id, False, "service-unavailable")
        (ended,) = self.bot.events()
        self.assertIsInstance(ended, M.SessionEnded)
        self.assertEqual(self.bot.state, "idle")

    def test_refused_accept_ends_the_session(self):
        self.answer()
        accept = next(e for e in self.sent if e.jingle.get("action") == "session-accept")
        self.bot.handle_response(accept.iq_id, False, "not-acceptable")
        self.assertEqual(self.bot.events(), [M.SessionEnded(PEER, SID, "refused: not-acceptable")])
        self.assertEqual(self.bot.state, "idle")

    def test_peer_leaves(self):
        self.answer()
        self.bot.occupant_left(OTHER)
        self.assertEqual(self.bot.events(), [])
        self.bot.occupant_left(PEER)
        self.assertEqual(self.bot.events(), [M.SessionEnded(PEER, SID, "gone")])  # no IQ to someone who left
        self.bot.hangup()
        self.assertEqual(self.bot.events(), [])

    def test_hangup_before_the_offer_sends_nothing(self):
        self.bot.call(PEER)
        self.bot.events()
        self.bot.hangup()
        (ended,) = self.bot.events()
        self.assertEqual(ended.reason, "success")

    def test_source_add_and_remove(self):
        self.answer()
        add = ET.fromstring(
            f"<jingle xmlns='{J.JINGLE}' action='source-add' sid='{SID}'><content name='1'>"
            f"<description xmlns='{J.RTP}' media='video'>"
            f"<source xmlns='{J.SSMA}' ssrc='4242' name='3d42ad98-v1' videoType='desktop'>"
            "<parameter name='msid' value='3d42ad98-video-1-1 t'/>"
            f"<ssrc-info xmlns='{J.JITMEET}' owner='e2eep2p@muc.localhost/3d42ad98'/></source>"
            "</description></content></jingle>"
        )
        self.bot.handle_iq("s", PEER, "set", add)
        source = J.Source(4242, "video", "3d42ad98-v1", "3d42ad98-video-1-1 t", "3d42ad98")
        self.assertEqual(self.bot.events(), [M.Reply("s", PEER), M.SourcesAdded([source])])
        add.set("action", "source-remove")
        self.bot.handle_iq("r", PEER, "set", add)
        self.assertEqual(self.bot.events(), [M.Reply("r", PEER), M.SourcesRemoved([source])])


class Hostile(unittest.TestCase):
    """Issue 19's hostile Jingle, each during a call: one IQ error with XEP-0166 conditions, nothing else, and
    the call untouched and still working."""

    def setUp(self):
        self.bot = M.JingleSession(BOT, BOT_REAL)
        self.bot.handle_iq("i1", PEER, "set", initiate())
        self.bot.local_answer(read("webrtcbin-1.22-answer.sdp"))
        self.bot.events()
        self.before = copy.deepcopy(self.bot.call_state)

    def refused(self, sender, jingle, condition, jingle_condition, error_type, iq_type="set"):
        self.bot.handle_iq("h", sender, iq_type, jingle)
        events = self.bot.events()
        self.assertEqual(len(events), 1, events)
        (error,) = events
        self.assertIsInstance(error, M.ReplyError)
        self.assertEqual((error.iq_id, error.to), ("h", sender))
        self.assertEqual((error.condition, error.jingle_condition, error.type),
                         (condition, jingle_condition, error_type))
        self.untouched()
        return error

    def untouched(self):
        self.assertEqual(self.bot.call_state, self.before)
        self.bot.handle_iq("t", PEER, "set", peer_candidates())
        events = self.bot.events()
        self.assertEqual(events[0], M.Reply("t", PEER))
        self.assertEqual(len(of(events, M.RemoteCandidate)), 2)

    def new_initiate(self, sid="feedfeedfeed"):
        return initiate(sid)

    def test_error_element(self):
        error = self.refused(PEER, peer_candidates("000000000000"), "item-not-found", "unknown-session", "cancel")
        element = M.error_element(error)
        self.assertEqual((element.tag, element.get("type")), ("{jabber:client}error", "cancel"))
        self.assertEqual([child.tag for child in element], [f"{{{STANZA_ERRORS}}}item-not-found",
                                                           f"{{{STANZA_ERRORS}}}text",
                                                           "{urn:xmpp:jingle:errors:1}unknown-session"])

    def test_any_damage_to_the_recorded_iqs_gets_one_reply_and_changes_nothing(self):
        """Each attribute or element of the recorded initiate, accept and transport-info removed, emptied or given
        a hostile value, one at a time (about 3500 IQs): never an exception, always exactly one reply, and
        whenever the reply is an error the call is as it was."""
        values = ("", "-1", "99999999999", "a b", "x\r\na=setup:passive", "\u00e9\u0000")
        variants = 0
        for name, sender in (("p2p-session-initiate.xml", OTHER), ("p2p-session-accept.xml", PEER),
                             ("p2p-transport-info-initiator.xml", PEER)):
            original = S.load_jingle(name)
            paths = [(i, attr) for i, el in enumerate(original.iter()) for attr in list(el.attrib) + [None]]
            for index, attr in paths:
                for value in values if attr else (None,):
                    jingle = copy.deepcopy(original)
                    element = list(jingle.iter())[index]
                    if attr is None:
                        parent = next((p for p in jingle.iter() if element in list(p)), None)
                        if parent is None:
                            continue
                        parent.remove(element)
                    else:
                        element.set(attr, value)
                    self.bot.handle_iq("h", sender, "set", jingle)
                    events = self.bot.events()
                    replies = [e for e in events if isinstance(e, (M.Reply, M.ReplyError))]
                    self.assertEqual(len(replies), 1, (name, index, attr, value))
                    if isinstance(replies[0], M.ReplyError):
                        self.assertEqual(events, replies)
                        self.assertEqual(self.bot.call_state, self.before, (name, index, attr, value))
                    variants += 1
        self.assertGreater(variants, 2000)
        print(f"{variants} damaged IQs", end=" ... ")
        self.untouched()

    def test_initiate_with_no_content(self):
        jingle = self.new_initiate()
        for content in J.contents(jingle):
            jingle.remove(content)
        self.refused(OTHER, jingle, "bad-request", None, "modify")

    def test_initiate_with_an_unknown_transport(self):
        jingle = self.new_initiate()
        for content in J.contents(jingle):
            transport = content.find(J.q(J.ICE_UDP, "transport"))
            content.remove(transport)
            ET.SubElement(content, "{urn:xmpp:jingle:transports:raw-udp:1}transport")
        self.refused(OTHER, jingle, "feature-not-implemented", "unsupported-transports", "cancel")

    def test_initiate_with_no_fingerprint(self):
        jingle = self.new_initiate()
        for content in J.contents(jingle):
            transport = content.find(J.q(J.ICE_UDP, "transport"))
            transport.remove(transport.find(J.q(J.DTLS, "fingerprint")))
        self.refused(OTHER, jingle, "not-acceptable", None, "cancel")

    def test_initiate_with_a_bogus_candidate(self):
        for bogus in (
            {"port": "99999"},
            {"ip": "127.0.0.1\r\na=fingerprint:sha-256 00:00"},  # an SDP line smuggled in
            {"type": "evil"},
            {"protocol": "sctp"},
            {"priority": "-1"},
            {"component": None},
        ):
            jingle = self.new_initiate()
            transport = J.contents(jingle)[0].find(J.q(J.ICE_UDP, "transport"))
            attrs = {"component": "1", "foundation": "1", "generation": "0", "id": "x", "ip": "127.0.0.1",
                     "network": "1", "port": "5000", "priority": "1", "protocol": "udp", "type": "host"}
            attrs.update(bogus)
            ET.SubElement(transport, J.q(J.ICE_UDP, "candidate"), {k: v for k, v in attrs.items() if v is not None})
            with self.subTest(bogus=bogus):
                self.refused(OTHER, jingle, "bad-request", None, "modify")

    def test_transport_info_for_an_unknown_session(self):
        self.refused(PEER, peer_candidates("000000000000"), "item-not-found", "unknown-session", "cancel")

    def test_session_accept_from_an_occupant_that_is_not_the_peer(self):
        accept = S.load_jingle("p2p-session-accept.xml")  # right sid, wrong sender
        self.refused(OTHER, accept, "item-not-found", "unknown-session", "cancel")

    def test_session_accept_out_of_order(self):
        accept = S.load_jingle("p2p-session-accept.xml")  # the bot is the responder here
        self.refused(PEER, accept, "unexpected-request", "out-of-order", "wait")

    def test_second_session_initiate_during_a_call(self):
        self.refused(OTHER, self.new_initiate(), "conflict", "tie-break", "cancel")
        self.refused(PEER, self.new_initiate(), "conflict", "tie-break", "cancel")
        self.refused(PEER, initiate(SID), "conflict", "tie-break", "cancel")

    def test_transport_info_with_a_bogus_candidate_adds_none(self):
        jingle = peer_candidates()
        transport = J.contents(jingle)[0].find(J.q(J.ICE_UDP, "transport"))
        transport.find(J.q(J.ICE_UDP, "candidate")).set("port", "x")
        self.refused(PEER, jingle, "bad-request", None, "modify")

    def test_transport_info_with_an_unknown_transport(self):
        jingle = peer_candidates()
        content = J.contents(jingle)[0]
        content.remove(content.find(J.q(J.ICE_UDP, "transport")))
        ET.SubElement(content, "{urn:xmpp:jingle:transports:s5b:1}transport")
        self.refused(PEER, jingle, "feature-not-implemented", "unsupported-transports", "cancel")

    def test_transport_info_for_an_unknown_content(self):
        jingle = peer_candidates()
        J.contents(jingle)[0].set("name", "7")
        self.assertIn("unknown content", self.refused(PEER, jingle, "bad-request", None, "modify").text)

    def test_terminate_from_another_occupant(self):
        terminate = ET.fromstring(f"<jingle xmlns='{J.JINGLE}' action='session-terminate' sid='{SID}'/>")
        self.refused(OTHER, terminate, "item-not-found", "unknown-session", "cancel")

    def test_malformed_requests(self):
        self.refused(PEER, None, "bad-request", None, "modify")
        self.refused(PEER, ET.Element("{urn:xmpp:jingle:0}jingle"), "bad-request", None, "modify")
        self.refused(PEER, ET.fromstring(f"<jingle xmlns='{J.JINGLE}' sid='{SID}'/>"), "bad-request", None, "modify")
        self.refused(PEER, ET.fromstring(f"<jingle xmlns='{J.JINGLE}' action='session-initiate'/>"), "bad-request",
                     None, "modify")
        self.refused(PEER, ET.fromstring(f"<jingle xmlns='{J.JINGLE}' action='dance' sid='{SID}'/>"), "bad-request",
                     None, "modify")
        self.refused(PEER, peer_candidates(), "bad-request", None, "modify", iq_type="get")

    def test_unsupported_actions(self):
        info = ET.fromstring(f"<jingle xmlns='{J.JINGLE}' action='session-info' sid='{SID}'><ringing "
                             "xmlns='urn:xmpp:jingle:apps:rtp:info:1'/></jingle>")
        self.refused(PEER, info, "feature-not-implemented", "unsupported-info", "modify")
        replace = ET.fromstring(f"<jingle xmlns='{J.JINGLE}' action='transport-replace' sid='{SID}'/>")
        self.refused(PEER, replace, "feature-not-implemented", None, "cancel")

    def test_sdp_injection_in_a_parameter(self):
        jingle = self.new_initiate()
        pt = J.description_of(J.contents(jingle)[0]).find(J.q(J.RTP, "payload-type"))
        ET.SubElement(pt, J.q(J.RTP, "parameter"), {"name": "x", "value": "1\r\na=setup:passive"})
        self.refused(OTHER, jingle, "bad-request", None, "modify")

    def test_nonsense_attributes_never_escape(self):
        for mutate in (
            lambda j: J.description_of(J.contents(j)[0]).set("media", "\x00"),
            lambda j: J.description_of(J.contents(j)[1]).find(J.q(J.RTP, "payload-type")).set("id", "1000"),
            lambda j: J.description_of(J.contents(j)[1]).find(J.q(J.RTP, "payload-type")).set("clockrate", "x"),
            lambda j: J.description_of(J.contents(j)[1]).find(J.q(J.HDREXT, "rtp-hdrext")).set("id", "0"),
            lambda j: J.contents(j)[0].set("name", "a b"),
            lambda j: J.contents(j)[0].find(J.q(J.ICE_UDP, "transport")).set("ufrag", "a b"),
            lambda j: J.contents(j)[0].find(J.q(J.ICE_UDP, "transport")).find(J.q(J.DTLS, "fingerprint")).set(
                "setup", "sideways"),
            lambda j: setattr(J.contents(j)[0].find(J.q(J.ICE_UDP, "transport")).find(J.q(J.DTLS, "fingerprint")),
                              "text", "not hex"),
            # a value that would add an fmtp parameter or an SDP line of its own
            lambda j: J.description_of(J.contents(j)[0]).find(J.q(J.RTP, "payload-type")).find(
                J.q(J.RTP, "parameter")).set("value", "10;stereo=1"),
            lambda j: J.description_of(J.contents(j)[0]).find(J.q(J.RTP, "payload-type")).find(
                J.q(J.RTP, "parameter")).set("name", "a=b"),
            lambda j: J.description_of(J.contents(j)[0]).find(J.q(J.SSMA, "source")).find(
                J.q(J.SSMA, "parameter")).set("value", "m t\r\na=setup:passive"),
        ):
            jingle = self.new_initiate()
            mutate(jingle)
            with self.subTest(mutate=mutate):
                self.refused(OTHER, jingle, "bad-request", None, "modify")

    def test_what_is_not_an_element_is_refused_too(self):
        for jingle in ("<jingle/>", b"\x00", 42):
            self.refused(PEER, jingle, "bad-request", None, "modify")

    def test_invalid_sources_are_ignored(self):
        add = ET.fromstring(
            f"<jingle xmlns='{J.JINGLE}' action='source-add' sid='{SID}'><content name='1'>"
            f"<description xmlns='{J.RTP}' media='video'>"
            f"<source xmlns='{J.SSMA}' ssrc='(.+)+$' name='evil'/>"
            f"<source xmlns='{J.SSMA}' ssrc='99999999999999999999' name='big'/>"
            "</description></content></jingle>"
        )
        self.bot.handle_iq("s", PEER, "set", add)
        self.assertEqual(self.bot.events(), [M.Reply("s", PEER)])
        self.untouched()

    def test_responses_to_unknown_ids_and_results_are_ignored(self):
        self.bot.handle_response("nobody-asked", False, "bad-request")
        self.bot.handle_iq("r", PEER, "result", None)
        self.assertEqual(self.bot.events(), [])
        self.untouched()


if __name__ == "__main__":
    S.run(Flows, Hostile)
