"""Unit tests of jframebot.jingle: the Jingle <-> SDP translation.

Run: /usr/bin/python3 bot/tests/test_jingle.py (last line `N passed, M failed`; tests/bot_units.rs runs it).

Material: the Jingle of a recorded lib-jitsi-meet P2P call (bot/tests/data/p2p-*.xml), SDPs of GStreamer 1.22's
webrtcbin, a live webrtcbin, and the translation cases of lib-jitsi-meet 01daa07c itself (see LjmCases below for
which apply to a participant that is not a browser and which were left out, and why).
"""

import copy
import json
import re
import unittest
import xml.etree.ElementTree as ET

import support as S
from support import jingle as J

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstSdp  # noqa: E402

Gst.init(None)

CRLF_LINES = re.compile(r"(?:[^\r\n]*\r\n)*")


def gst_sdp(sdp):
    """The SDP as GStreamer's own parser (the one webrtcbin uses) reads it."""
    result, message = GstSdp.SDPMessage.new_from_text(sdp)
    assert result == GstSdp.SDPResult.OK, result
    return message


KEEP = []  # the medias below point into their message: it must outlive them


def gst_medias(sdp):
    message = gst_sdp(sdp)
    KEEP.append(message)
    return [message.get_media(i) for i in range(message.medias_len())]


def round_trip(jingle, creator):
    sdp = J.jingle_to_sdp(jingle)
    return J.sdp_to_jingle(
        sdp, jingle.get("action"), jingle.get("sid"), jingle.get("initiator"), jingle.get("responder"), creator
    )


class Transcript(unittest.TestCase):
    """The session-initiate, session-accept and transport-info of the recorded call."""

    def setUp(self):
        self.initiate = S.load_jingle("p2p-session-initiate.xml")
        self.accept = S.load_jingle("p2p-session-accept.xml")

    def test_initiate_to_sdp_has_every_element(self):
        sdp = J.jingle_to_sdp(self.initiate)
        self.assertTrue(CRLF_LINES.fullmatch(sdp), "every line ends with CRLF")
        self.assertIn("\r\na=group:BUNDLE 0 1\r\n", sdp)
        media = S.sdp_media_lines(sdp)
        self.assertEqual(list(media), ["0", "1"])
        audio, video = media["0"], media["1"]
        self.assertEqual(audio[0], "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126")
        self.assertEqual(video[0], "m=video 9 UDP/TLS/RTP/SAVPF 45 98 96 114 104 108 102 46 99 97 115 109 107 103")
        for expected in (
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtcp-fb:111 transport-cc",
            "a=rtpmap:63 red/48000/2",
            "a=fmtp:63 111/111",
            "a=rtpmap:126 telephone-event/8000",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=extmap-allow-mixed",
            "a=rtcp-mux",
            "a=sendrecv",
            "a=ice-ufrag:Augy",
            "a=ice-pwd:Pkh78ArZhqzbT8KkB5k2PzGl",
            "a=fingerprint:sha-256 E6:DE:CF:95:0E:D8:90:2B:63:5B:24:06:1B:99:60:39:F4:98:A4:A7:56:76:FC:35:E6:ED:2F:"
            "12:14:42:6C:5A",
            "a=setup:actpass",
            "a=ssrc:1693699000 msid:3d42ad98-audio-0-1 3c91caa5-61fa-4b78-8afe-454ba33218a6-1",
            "a=ssrc:1693699000 name:3d42ad98-a0",
        ):
            self.assertIn(expected, audio)
        for expected in (
            "a=rtpmap:96 VP8/90000",
            "a=rtcp-fb:96 nack pli",
            "a=rtcp-fb:96 ccm fir",
            "a=fmtp:97 apt=96",
            "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
            "a=ssrc-group:FID 610999849 2257280590",
            "a=ssrc:2257280590 videoType:camera",
        ):
            self.assertIn(expected, video)
        # Counted against the Jingle: each payload type, rtcp-fb, header extension and source parameter once.
        for content, lines in zip(J.contents(self.initiate), (audio, video)):
            desc = J.description_of(content)
            pts = desc.findall(J.q(J.RTP, "payload-type"))
            self.assertEqual(len([x for x in lines if x.startswith("a=rtpmap:")]), len(pts))
            fbs = sum(len(pt.findall(J.q(J.RTCP_FB, "rtcp-fb"))) for pt in pts)
            self.assertEqual(len([x for x in lines if x.startswith("a=rtcp-fb:")]), fbs)
            exts = desc.findall(J.q(J.HDREXT, "rtp-hdrext"))
            self.assertEqual(len([x for x in lines if x.startswith("a=extmap:")]), len(exts))

    def test_accept_to_sdp_has_setup_active_and_its_own_transport(self):
        media = S.sdp_media_lines(J.jingle_to_sdp(self.accept))
        for lines in media.values():
            self.assertIn("a=setup:active", lines)
            self.assertIn("a=ice-ufrag:VZQ4", lines)
            self.assertIn("a=ice-pwd:2dvezs9BlZkUXeZY9GdTeAjK", lines)
        self.assertIn("a=ssrc:619421049 name:484d29e0-a0", media["0"])

    def test_round_trip_initiate_is_exact(self):
        self.assertEqual(S.canonical(round_trip(self.initiate, "initiator")), S.canonical(self.initiate))

    def test_round_trip_accept_is_exact(self):
        back = round_trip(self.accept, "responder")
        self.assertEqual(back.get("responder"), "v1iafsxeomxxryoyq68jdpde@localhost/V7MsEbap8XiB")
        self.assertEqual(S.canonical(back), S.canonical(self.accept))

    def test_round_trip_sdp_is_stable(self):
        sdp = J.jingle_to_sdp(self.initiate)
        self.assertEqual(J.jingle_to_sdp(J.sdp_to_jingle(sdp, "session-initiate", "3c70a5aef1d5", "x")), sdp)

    def test_gstreamer_parses_the_sdp(self):
        for jingle in (self.initiate, self.accept):
            medias = gst_medias(J.jingle_to_sdp(jingle))
            self.assertEqual([m.get_media() for m in medias], ["audio", "video"])
            self.assertEqual([m.get_attribute_val("mid") for m in medias], ["0", "1"])
            self.assertEqual(medias[0].formats_len(), 8)
            self.assertEqual(medias[1].formats_len(), 14)
            opus = medias[0].get_caps_from_media(111).get_structure(0)
            self.assertEqual(opus.get_string("encoding-name"), "OPUS")
            self.assertEqual(opus.get_string("minptime"), "10")
            vp8 = medias[1].get_caps_from_media(96).get_structure(0)
            self.assertEqual(vp8.get_string("encoding-name"), "VP8")
            self.assertTrue(vp8.get_value("rtcp-fb-nack-pli"))
            self.assertTrue(vp8.get_value("rtcp-fb-ccm-fir"))

    def test_sources(self):
        found = J.sources(self.initiate)
        self.assertEqual(
            found,
            [
                J.Source(1693699000, "audio", "3d42ad98-a0",
                         "3d42ad98-audio-0-1 3c91caa5-61fa-4b78-8afe-454ba33218a6-1", None),
                J.Source(610999849, "video", "3d42ad98-v0", "3d42ad98-video-0-1 af11a1ad-0473-486e-b67a-42cc19cb0961-1",
                         None),
                J.Source(2257280590, "video", "3d42ad98-v0",
                         "3d42ad98-video-0-1 af11a1ad-0473-486e-b67a-42cc19cb0961-1", None),
            ],
        )
        self.assertEqual(J.sources(J.contents(self.accept)[0]), [J.sources(self.accept)[0]])

    def test_trickled_candidates_both_ways(self):
        for name, port, tcp_foundation in (
            ("p2p-transport-info-initiator.xml", 42121, "2120543860"),
            ("p2p-transport-info-responder.xml", 49961, "2181952276"),
        ):
            transport = S.load_jingle(name).find(J.q(J.JINGLE, "content")).find(J.q(J.ICE_UDP, "transport"))
            candidates = transport.findall(J.q(J.ICE_UDP, "candidate"))
            lines = [J.candidate_to_sdp(c) for c in candidates]
            self.assertRegex(lines[0], rf"^candidate:\d+ 1 udp 2122260223 127\.0\.0\.1 {port} typ host generation 0$")
            self.assertEqual(
                lines[1],
                f"candidate:{tcp_foundation} 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0",
            )
            for candidate, line in zip(candidates, lines):
                back = J.sdp_to_candidate("a=" + line + "\r\n")
                self.assertEqual(S.canonical(back, ["id"]), S.canonical(candidate, ["id"]))
                self.assertRegex(back.get("id"), r"^[0-9a-f]{10}$")

    def test_inline_candidates_go_into_the_sdp_and_back(self):
        initiate = S.load_jingle("p2p-session-initiate.xml")
        trickled = S.load_jingle("p2p-transport-info-initiator.xml").find(J.q(J.JINGLE, "content"))
        for content in J.contents(initiate):
            transport = content.find(J.q(J.ICE_UDP, "transport"))
            for candidate in trickled.find(J.q(J.ICE_UDP, "transport")).findall(J.q(J.ICE_UDP, "candidate")):
                transport.append(candidate)
        sdp = J.jingle_to_sdp(initiate)
        self.assertEqual(sdp.count("\r\na=candidate:"), 4)
        self.assertEqual(len(gst_medias(sdp)[0].get_attribute_val_n("candidate", 1).split()), 12)
        back = J.sdp_to_jingle(sdp, "session-initiate", initiate.get("sid"), initiate.get("initiator"))
        self.assertEqual(S.canonical(back, ["id"]), S.canonical(initiate, ["id"]))

    def test_candidate_variants(self):
        line = "candidate:3 1 UDP 1694498815 203.0.113.7 50000 typ srflx raddr 10.0.0.1 rport 40000 generation 2"
        candidate = J.sdp_to_candidate(line)
        self.assertEqual(candidate.get("protocol"), "udp")
        self.assertEqual((candidate.get("rel-addr"), candidate.get("rel-port")), ("10.0.0.1", "40000"))
        self.assertEqual(J.candidate_to_sdp(candidate), line.replace("UDP", "udp"))
        # libnice (webrtcbin) writes no generation; the Jingle gets lib-jitsi-meet's default 0.
        nice = J.sdp_to_candidate("candidate:1 1 UDP 2015363327 127.0.0.1 40453 typ host")
        self.assertEqual(nice.get("generation"), "0")
        self.assertEqual(J.candidate_to_sdp(nice), "candidate:1 1 udp 2015363327 127.0.0.1 40453 typ host generation 0")


class Details(unittest.TestCase):
    """What the recorded call does not show."""

    def test_description_level_rtcp_fb_and_trr_int(self):
        jingle = S.load_jingle("p2p-session-initiate.xml")
        desc = J.description_of(J.contents(jingle)[1])
        ET.SubElement(desc, J.q(J.RTCP_FB, "rtcp-fb"), {"type": "nack"})
        ET.SubElement(desc, J.q(J.RTCP_FB, "rtcp-fb-trr-int"), {"value": "100"})
        video = S.sdp_media_lines(J.jingle_to_sdp(jingle))["1"]
        self.assertIn("a=rtcp-fb:* nack", video)
        self.assertIn("a=rtcp-fb:* trr-int 100", video)
        back = J.description_of(J.contents(J.sdp_to_jingle(J.jingle_to_sdp(jingle), "session-initiate", "s", "x"))[1])
        self.assertEqual([fb.get("type") for fb in back.findall(J.q(J.RTCP_FB, "rtcp-fb"))], ["nack"])
        self.assertEqual(back.find(J.q(J.RTCP_FB, "rtcp-fb-trr-int")).get("value"), "100")

    def test_bundled_m_line_without_its_own_transport(self):
        with open(S.DATA + "/webrtcbin-1.22-offer.sdp") as f:
            sdp = f.read()
        audio, video = sdp.split("m=video")
        video = "".join(line + "\r\n" for line in ("m=video" + video).splitlines()
                        if not line.startswith(("a=ice-", "a=fingerprint:", "a=setup:")))
        self.assertNotIn("a=ice-pwd", video)
        jingle = J.sdp_to_jingle(audio + video, "session-initiate", "s", "x")
        transport = J.contents(jingle)[1].find(J.q(J.ICE_UDP, "transport"))
        self.assertEqual(transport.get("pwd"), "EPwFWPffr5wdLZ6CKDu46FrYbdX3YvTE")
        self.assertEqual(transport.find(J.q(J.DTLS, "fingerprint")).get("setup"), "actpass")

    def test_extmap_direction(self):
        jingle = S.load_jingle("p2p-session-initiate.xml")
        J.description_of(J.contents(jingle)[0]).find(J.q(J.HDREXT, "rtp-hdrext")).set("senders", "initiator")
        self.assertIn("a=extmap:1/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level", J.jingle_to_sdp(jingle))
        back = J.sdp_to_jingle(J.jingle_to_sdp(jingle), "session-initiate", "s", "x")
        self.assertEqual(J.description_of(J.contents(back)[0]).find(J.q(J.HDREXT, "rtp-hdrext")).get("senders"),
                         "initiator")

    def test_rejected_content_and_directions(self):
        jingle = S.load_jingle("p2p-session-initiate.xml")
        audio, video = J.contents(jingle)
        audio.set("senders", "responder")
        video.set("senders", "rejected")
        media = S.sdp_media_lines(J.jingle_to_sdp(jingle))
        self.assertIn("a=recvonly", media["0"])
        self.assertTrue(media["1"][0].startswith("m=video 0 "))
        back = J.sdp_to_jingle(J.jingle_to_sdp(jingle), "session-initiate", "s", "x")
        self.assertEqual([c.get("senders") for c in J.contents(back)], ["responder", "rejected"])


class Webrtcbin(unittest.TestCase):
    """What GStreamer 1.22's webrtcbin writes and reads."""

    def test_offer_to_jingle(self):
        with open(S.DATA + "/webrtcbin-1.22-offer.sdp") as f:
            sdp = f.read()
        jingle = J.sdp_to_jingle(sdp, "session-initiate", "s1", "room@muc/bot", source_prefix="bot")
        self.assertEqual([c.get("name") for c in J.contents(jingle)], ["0", "1"])
        group = jingle.find(J.q(J.GROUPING, "group"))
        self.assertEqual([c.get("name") for c in group], ["0", "1"])
        audio, video = J.contents(jingle)
        for content in (audio, video):
            # the bundled m-line has port 0 and a=bundle-only: not a rejected content
            self.assertEqual(content.get("senders"), "both")
            transport = content.find(J.q(J.ICE_UDP, "transport"))
            self.assertEqual(transport.get("ufrag"), "PnBpqMX88stVTsICF3cZaruPRC5QIMGj")
            fingerprint = transport.find(J.q(J.DTLS, "fingerprint"))
            self.assertEqual(fingerprint.get("setup"), "actpass")
            self.assertTrue(fingerprint.text.startswith("F7:8A:E4"))
        self.assertEqual(
            J.sources(jingle),
            [
                J.Source(2222, "audio", "bot-a0", "bot-audio-0-1 webrtctransceiver0-1", None),
                J.Source(1111, "video", "bot-v0", "bot-video-0-1 webrtctransceiver1-1", None),
            ],
        )
        # webrtcbin's own stream id (user...@host-..., not an SDP token) stays out; its cname goes along
        params = J.description_of(audio).iter(J.q(J.SSMA, "parameter"))
        cnames = [p.get("value") for p in params if p.get("name") == "cname"]
        self.assertEqual(cnames, ["user436365539@host-6f10ba6c"])
        video_source = J.description_of(video).find(J.q(J.SSMA, "source"))
        self.assertEqual(video_source.get("videoType"), "camera")
        pt = J.description_of(audio).find(J.q(J.RTP, "payload-type"))
        self.assertEqual((pt.get("name"), pt.get("clockrate"), pt.get("channels")), ("OPUS", "48000", "2"))
        fbs = [(fb.get("type"), fb.get("subtype")) for fb in J.description_of(video).iter(J.q(J.RTCP_FB, "rtcp-fb"))]
        self.assertEqual(fbs, [("nack", "pli"), ("ccm", "fir"), ("transport-cc", None)])
        # and back: the SDP of that Jingle is one GStreamer reads, with the same medias and formats
        medias = gst_medias(J.jingle_to_sdp(jingle))
        self.assertEqual([(m.get_media(), m.get_attribute_val("mid")) for m in medias],
                         [("audio", "0"), ("video", "1")])

    def test_answer_to_jingle(self):
        with open(S.DATA + "/webrtcbin-1.22-answer.sdp") as f:
            sdp = f.read()
        jingle = J.sdp_to_jingle(sdp, "session-accept", "3c70a5aef1d5", "room@muc/a", "bot@localhost/r", "responder",
                                 source_prefix="bot")
        self.assertEqual([c.get("name") for c in J.contents(jingle)], ["0", "1"])
        for content in J.contents(jingle):
            self.assertEqual(content.get("creator"), "responder")
            fingerprint = content.find(J.q(J.ICE_UDP, "transport")).find(J.q(J.DTLS, "fingerprint"))
            self.assertEqual(fingerprint.get("setup"), "active")
        self.assertEqual([s.name for s in J.sources(jingle)], ["bot-a0", "bot-v0"])
        J.jingle_to_sdp(jingle)  # valid for lib-jitsi-meet's side too

    def test_live_webrtcbin_answers_the_translated_offer(self):
        gi.require_version("GstWebRTC", "1.0")
        from gi.repository import GstWebRTC

        webrtc = Gst.ElementFactory.make("webrtcbin")
        self.assertIsNotNone(webrtc, "webrtcbin (gstreamer1.0-plugins-bad)")
        sendrecv = GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV
        for caps in (
            "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2",
            "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
        ):
            webrtc.emit("add-transceiver", sendrecv, Gst.Caps.from_string(caps))
        webrtc.set_state(Gst.State.READY)
        try:
            offer = GstWebRTC.WebRTCSessionDescription.new(
                GstWebRTC.WebRTCSDPType.OFFER, gst_sdp(J.jingle_to_sdp(S.load_jingle("p2p-session-initiate.xml")))
            )
            promise = Gst.Promise.new()
            webrtc.emit("set-remote-description", offer, promise)
            promise.wait()
            reply = promise.get_reply()
            self.assertTrue(reply is None or not reply.has_field("error"), reply and reply.to_string())
            promise = Gst.Promise.new()
            webrtc.emit("create-answer", None, promise)
            promise.wait()
            reply = promise.get_reply()  # held: the answer lives inside it
            answer = reply.get_value("answer")
            self.assertIsNotNone(answer)
            sdp = answer.sdp.as_text()
        finally:
            webrtc.set_state(Gst.State.NULL)
        jingle = J.sdp_to_jingle(sdp, "session-accept", "3c70a5aef1d5", "room@muc/a", "bot@localhost/r", "responder")
        self.assertEqual([c.get("name") for c in J.contents(jingle)], ["0", "1"])
        self.assertEqual([J.description_of(c).get("media") for c in J.contents(jingle)], ["audio", "video"])
        self.assertEqual([c.get("senders") for c in J.contents(jingle)], ["both", "both"])
        payloads = [J.description_of(c).find(J.q(J.RTP, "payload-type")) for c in J.contents(jingle)]
        self.assertEqual([(pt.get("id"), pt.get("name")) for pt in payloads], [("111", "OPUS"), ("96", "VP8")])
        for content in J.contents(jingle):
            fingerprint = content.find(J.q(J.ICE_UDP, "transport")).find(J.q(J.DTLS, "fingerprint"))
            self.assertEqual(fingerprint.get("setup"), "active")


def ljm_case(name):
    """A case of lib-jitsi-meet 01daa07c's own specs, copied as data into ljm-spec-cases.json."""
    with open(S.DATA + "/ljm-spec-cases.json") as f:
        return json.load(f)[name]


def ljm_jingle(name):
    """The `<jingle>` (or `<content>`) of a case, whatever wraps it."""
    root = ET.fromstring(ljm_case(name).strip())
    return root if root.tag != "iq" else root.find(J.q(J.JINGLE, "jingle"))


def descriptions(jingle, media):
    return [d for d in (J.description_of(c) for c in J.contents(jingle)) if d is not None and d.get("media") == media]


def count(jingle, media, tag):
    return sum(len(d.findall(J.q(J.SSMA, tag))) for d in descriptions(jingle, media))


class LjmCases(unittest.TestCase):
    """lib-jitsi-meet's own translation cases (modules/sdp/SDP.spec.ts, modules/sdp/SampleSdpStrings.ts,
    modules/xmpp/JingleSessionPC.spec.ts at 01daa07c), as they apply to a participant that is not a browser.

    Applied (each a test below): SDP.spec toJingle (both), the three multi-m-line toJingle cases (source and group
    counts), fromJingle 'should handle no sources' and 'gets converted to SDP' (the focus session-initiate with
    candidates inline and several sources), the three jingle2media cases, the six cryptex cases; every SDP of
    SampleSdpStrings (round trip SDP -> Jingle -> SDP); JingleSessionPC.spec _processSourceAddOrRemove: no sources,
    a single source, several SSRCs of one source, of several sources, invalid SSRCs, unknown ssrc-group semantics.

    Left out, and why:
    - SDP.spec multi-m-line toJingle: lib-jitsi-meet folds all m-lines of one media into one content named by media
      type plus a 'data' content. That is its bridge (Jicofo) mode; the P2P mode the bot speaks names one content
      per m-line by its mid, and the bot has no SCTP data channel (P2P signals none). The source and group counts
      of those cases are checked.
    - 'gets converted to SDP': lib-jitsi-meet's bridge mode renumbers the mids 0..n, adds `a=msid-semantic` and
      `a=rtcp:1`, and (an artefact of sdp-transform) keeps only the first `a=ssrc` line of each source. The bot
      keeps the content names as mids (its answer must name the same contents) and every source parameter; every
      other expected line is checked, media by media.
    - 'fromJingleWithJSONFormat': Jicofo sends JSON-encoded sources only to clients that announce
      `http://jitsi.org/json-encoded-sources`; the bot does not, so it always gets `<source>` elements. Its expected
      SDP is also one m-line per remote source, the browser's Unified Plan layout for the bridge.
    - 'should parse the mid parameter' / 'leaves mid null': the `mid` parameter of a source is for the bridge's
      mid-based demultiplexing; BOT-API's Source has no mid (the parameter still goes through jingle_to_sdp).
    - addMlineForNewSource, updateRemoteSources (SDP.spec) and _recoverWedgedAudioSource, notifyMySSRCUpdate,
      the in-place ICE restart, content-modify video constraints (JingleSessionPC.spec): how a browser edits its
      own remote description or talks to the bridge; the bot keeps its SSRC map from SourcesAdded/SourcesRemoved,
      acknowledges content-modify and sends no session-info (see test_session.py).
    """

    def test_to_jingle_groups_ssrc_lines_that_are_not_in_order(self):
        jingle = J.sdp_to_jingle(ljm_case("SDP.spec.ts: toJingle [sdp]"), "session-accept", "temp-sid", "x", "y",
                                 "responder")
        self.assertEqual(count(jingle, "video", "source"), 2)

    def test_to_jingle_puts_source_names_as_attributes(self):
        jingle = J.sdp_to_jingle(ljm_case("SDP.spec.ts: toJingle [sdp]"), "session-accept", "temp-sid", "x", "y",
                                 "responder")
        self.assertEqual({s.name for s in J.sources(jingle) if s.media == "audio"}, {"a8f7g30-a0"})
        self.assertEqual({s.name for s in J.sources(jingle) if s.media == "video"}, {"a8f7g30-v0"})

    def test_to_jingle_for_multiple_m_lines(self):
        for name, video_sources, audio_sources, video_groups in (
            ("toJingle for multiple m-lines", 6, 1, 4),
            ("toJingle for multiple m-lines with recv-only", 12, 1, 8),
            ("toJingle for multiple m-lines with only recv-only", 0, 0, 0),
        ):
            with self.subTest(name):
                sdp = ljm_case(f"SDP.spec.ts: {name} [sdp]")
                jingle = J.sdp_to_jingle(sdp, "session-accept", "temp-sid", "x", "y", "responder")
                self.assertEqual(count(jingle, "video", "source"), video_sources)
                self.assertEqual(count(jingle, "audio", "source"), audio_sources)
                self.assertEqual(count(jingle, "video", "ssrc-group"), video_groups)
                rtp_m_lines = sdp.count("\r\nm=") - sdp.count("m=application")
                self.assertEqual(len(gst_medias(J.jingle_to_sdp(jingle))), rtp_m_lines)

    def test_from_jingle_handles_no_sources(self):
        jingle = ljm_jingle("SDP.spec.ts: should handle no sources [xml]")
        self.assertIn("m=audio", J.jingle_to_sdp(jingle, validate=False))
        with self.assertRaises(J.JingleError):
            J.jingle_to_sdp(jingle)  # not a session-initiate the bot could answer

    def test_from_jingle_focus_initiate_with_inline_candidates(self):
        jingle = ljm_jingle("SDP.spec.ts: gets converted to SDP [xml]")
        ours = J.jingle_to_sdp(jingle)
        expected = ljm_case("SDP.spec.ts: gets converted to SDP [expected-sdp]")
        self.assertIn("\r\na=group:BUNDLE audio video\r\n", ours)
        ours_media = S.sdp_media_lines(ours)
        self.assertEqual(list(ours_media), ["audio", "video"])
        for mid, (name, lines) in zip(("0", "1"), ours_media.items()):
            wanted = S.sdp_media_lines(expected)[mid]
            left_out = {"a=rtcp:1 IN IP4 0.0.0.0", f"a=mid:{mid}"}
            missing = [line for line in wanted if line not in lines and line not in left_out]
            self.assertEqual(missing, [], name)
            self.assertIn(f"a=mid:{name}", lines)
            extra = [line for line in lines if line not in wanted and line != f"a=mid:{name}"]
            self.assertTrue(all(line.startswith("a=ssrc:") for line in extra), extra)  # the other source parameters
            self.assertEqual(len([x for x in lines if x.startswith("a=candidate:")]), 2)
        medias = gst_medias(ours)
        self.assertEqual([m.get_attribute_val("mid") for m in medias], ["audio", "video"])
        # the sources, with every parameter, and the rest of the session survive the way back
        back = J.sdp_to_jingle(ours, "session-initiate", "123", "focus")
        self.assertEqual(S.canonical(normalised(back)), S.canonical(normalised(jingle)))
        self.assertEqual([s.msid for s in J.sources(back)], ["mixedmslabel mixedlabelaudio0",
                                                              "mixedmslabel mixedlabelvideo0"])

    def test_jingle2media(self):
        for name, expected in (
            ("should convert basic Jingle content to SDP", [
                "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "c=IN IP4 0.0.0.0",
                "a=candidate:1 1 udp 2130706431 192.168.1.1 10000 typ host"]),
            ("should convert Jingle content with multiple payload types to SDP", [
                "m=video 9 UDP/TLS/RTP/SAVPF 100 101", "a=rtpmap:100 VP8/90000", "a=rtpmap:101 VP9/90000",
                "c=IN IP4 0.0.0.0", "a=candidate:1 1 udp 2130706431 192.168.1.1 10000 typ host"]),
            ("should convert Jingle content with ICE candidates to SDP", [
                "a=candidate:1 1 udp 2130706431 192.168.1.1 10000 typ host",
                "a=candidate:2 1 tcp 2130706430 192.168.1.2 10001 typ host"]),
        ):
            with self.subTest(name):
                media = J.content_to_media(ljm_jingle(f"SDP.spec.ts: {name} [xml]"), validate=False)
                for text in expected:
                    self.assertIn(text, media)

    def test_cryptex_sdp_to_jingle(self):
        for name, cryptex in (
            ('should add cryptex="true" attribute to fingerprints when session has a=cryptex', "true"),
            ('should add cryptex="true" attribute to fingerprints when media has a=cryptex', "true"),
            ("should not add cryptex attribute when a=cryptex is not present", None),
        ):
            with self.subTest(name):
                jingle = J.sdp_to_jingle(ljm_case(f"SDP.spec.ts: {name} [sdp]"), "session-accept", "sid1", "x", "y",
                                         "responder")
                fingerprint = J.contents(jingle)[0].find(J.q(J.ICE_UDP, "transport")).find(J.q(J.DTLS, "fingerprint"))
                self.assertEqual((fingerprint.get("cryptex"), fingerprint.get("hash")), (cryptex, "sha-256"))

    def test_cryptex_jingle_to_sdp(self):
        for name, lines in (
            ('should add session-level a=cryptex when Jingle fingerprint has cryptex="true"', 1),
            ('should add session-level a=cryptex only once when multiple fingerprints have cryptex="true"', 1),
            ("should not add a=cryptex when Jingle fingerprint does not have cryptex attribute", 0),
        ):
            with self.subTest(name):
                sdp = J.jingle_to_sdp(ljm_jingle(f"SDP.spec.ts: {name} [xml]"), validate=False)
                session = sdp.split("\r\nm=")[0]
                self.assertEqual(session.count("a=cryptex"), lines)
                self.assertEqual(sdp.count("a=cryptex"), lines)
                self.assertIn("a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                              "00:11:22:33:44:55:66:77:88:99", sdp)

    def test_sample_sdps_round_trip(self):
        with open(S.DATA + "/ljm-sample-sdps.json") as f:
            samples = json.load(f)
        self.assertEqual(len(samples), 12)
        for name, sdp in samples.items():
            with self.subTest(name):
                jingle = J.sdp_to_jingle(sdp, "session-initiate", "sid", "x")
                again = J.jingle_to_sdp(jingle)
                original = S.sdp_media_lines(sdp)
                translated = S.sdp_media_lines(again)
                rtp = [mid for mid, lines in original.items() if not lines[0].startswith("m=application")]
                self.assertEqual(list(translated), rtp)
                for mid in rtp:
                    # A payload type is signalled by its rtpmap (lib-jitsi-meet too): some samples offer one
                    # without rtpmap (rtx 96 in rtxVideoSdpStr), which Jingle cannot name.
                    mapped = [x.split()[0][len("a=rtpmap:"):] for x in original[mid] if x.startswith("a=rtpmap:")]
                    fmts = [pt for pt in original[mid][0].split()[3:] if pt in mapped]
                    for line in original[mid]:
                        pt = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\S+) ", line)
                        if pt and pt.group(1) not in fmts + ["*"]:
                            continue
                        kept = re.match(r"a=(rtpmap|rtcp-fb|extmap|ssrc|ssrc-group|ice-ufrag|ice-pwd|fingerprint|setup"
                                        r"|candidate|mid|sendrecv|sendonly|recvonly|inactive|rtcp-mux)\b", line)
                        if kept:
                            self.assertIn(normal_line(line), [normal_line(x) for x in translated[mid]], line)
                        if line.startswith("a=fmtp:"):
                            self.assertIn(normal_line(line), [normal_line(x) for x in translated[mid]], line)
                    self.assertEqual(translated[mid][0].split()[3:], fmts)
                self.assertEqual(len(gst_medias(again)), len(rtp))
                # and the Jingle of that SDP is the same Jingle again
                self.assertEqual(S.canonical(J.sdp_to_jingle(again, "session-initiate", "sid", "x"), ["id"]),
                                 S.canonical(jingle, ["id"]))

    def test_source_add_cases(self):
        def sources(name):
            return J.sources(ljm_jingle(f"JingleSessionPC.spec.ts: {name} [xml]"))

        self.assertEqual(sources("should handle no sources"), [])
        self.assertEqual(sources("should handle a single source"),
                         [J.Source(1234, "audio", "source1", "stream1", None)])
        self.assertEqual(
            sources("should handle multiple ssrcs belonging to the same source"),
            [J.Source(1234, "video", "source1", "stream1", None), J.Source(5678, "video", "source1", "stream1", None)],
        )
        self.assertEqual(
            [(s.ssrc, s.name, s.msid, s.media)
             for s in sources("should handle multiple ssrcs belonging to different sources")],
            [(1234, "source1", "stream1", "video"), (5678, "source1", "stream1", "video"),
             (4321, "source2", "stream2", "video"), (8765, "source2", "stream2", "video")],
        )
        for name in ("should handle multiple ssrcs belonging to the same source",
                     "should handle multiple ssrcs belonging to different sources"):
            sdp = J.jingle_to_sdp(ljm_jingle(f"JingleSessionPC.spec.ts: {name} [xml]"), validate=False)
            self.assertIn("a=ssrc-group:FID 1234 5678\r\n", sdp)
        invalid = "ignores a source whose ssrc is not a valid 32-bit decimal integer"
        self.assertEqual([(s.ssrc, s.name) for s in sources(invalid)], [(1234, "ok")])
        sdp = J.jingle_to_sdp(ljm_jingle(f"JingleSessionPC.spec.ts: {invalid} [xml]"), validate=False)
        self.assertEqual([x for x in sdp.split("\r\n") if x.startswith("a=ssrc:")],
                         ["a=ssrc:1234 msid:stream3", "a=ssrc:1234 name:ok"])
        unknown = "ignores an ssrc-group whose semantics is not a known value"
        sdp = J.jingle_to_sdp(ljm_jingle(f"JingleSessionPC.spec.ts: {unknown} [xml]"), validate=False)
        self.assertNotIn("a=ssrc-group", sdp)
        self.assertEqual(len(sources(unknown)), 2)


def normal_line(line):
    """An SDP line as the translation may rewrite it without changing what it says: fmtp without empty parts and
    blanks; `a=ssrc` values without the characters lib-jitsi-meet filters; candidates with lower-case protocol
    and lib-jitsi-meet's default generation."""
    if line.startswith("a=fmtp:"):
        pt, _, params = line.partition(" ")
        return pt + " " + ";".join(p.strip() for p in params.split(";") if p.strip())
    if line.startswith("a=candidate:"):
        words = line.split()
        words[2] = words[2].lower()
        return " ".join(words) + ("" if "generation" in words else " generation 0")
    return line


def normalised(jingle):
    """A copy without what the SDP does not carry: description maxptime, the fingerprint's `required`, the
    candidates' `id` and `network` (lib-jitsi-meet makes them up too), and `channels='1'`, the default."""
    jingle = copy.deepcopy(jingle)
    for element in jingle.iter():
        for attr in ("maxptime", "required", "id", "network"):
            if element.tag != J.q(J.RTP, "payload-type") or attr != "id":
                element.attrib.pop(attr, None)
        if element.tag == J.q(J.RTP, "payload-type") and element.get("channels") is None:
            element.set("channels", "1")
    for parent in list(jingle.iter(J.q(J.RTP, "description"))) + list(jingle.iter(J.q(J.RTP, "payload-type"))):
        children = sorted(parent, key=lambda child: child.tag)  # the order that matters is among equal elements
        for child in children:
            parent.remove(child)
        parent.extend(children)
    for group in jingle.findall(J.q(J.GROUPING, "group")):  # lib-jitsi-meet's cases put the group last
        jingle.remove(group)
        jingle.insert(0, group)
    return jingle


if __name__ == "__main__":
    S.run(Transcript, Details, Webrtcbin, LjmCases)
