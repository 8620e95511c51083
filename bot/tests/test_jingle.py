"""Unit tests of jframebot.jingle: the Jingle <-> SDP translation.

Run: /usr/bin/python3 bot/tests/test_jingle.py (last line `N passed, M failed`; tests/bot_units.rs runs it).

Material: the Jingle of a recorded lib-jitsi-meet P2P call (bot/tests/data/p2p-*.xml), SDPs of GStreamer 1.22's
webrtcbin, a live webrtcbin, and the translation cases of lib-jitsi-meet 01daa07c itself (see LjmCases below for
which apply to a participant that is not a browser and which were left out, and why).
"""

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
                J.Source(1693699000, "audio", "3d42ad98-a0", "3d42ad98-audio-0-1 3c91caa5-61fa-4b78-8afe-454ba33218a6-1",
                         None),
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
                lines[1], f"candidate:{tcp_foundation} 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0"
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
                J.Source(2222, "audio", "bot-a0", "user436365539@host-6f10ba6c webrtctransceiver0", None),
                J.Source(1111, "video", "bot-v0", "user436365539@host-6f10ba6c webrtctransceiver1", None),
            ],
        )
        video_source = J.description_of(video).find(J.q(J.SSMA, "source"))
        self.assertEqual(video_source.get("videoType"), "camera")
        pt = J.description_of(audio).find(J.q(J.RTP, "payload-type"))
        self.assertEqual((pt.get("name"), pt.get("clockrate"), pt.get("channels")), ("OPUS", "48000", "2"))
        fbs = [(fb.get("type"), fb.get("subtype")) for fb in J.description_of(video).iter(J.q(J.RTCP_FB, "rtcp-fb"))]
        self.assertEqual(fbs, [("nack", "pli"), ("ccm", "fir"), ("transport-cc", None)])
        # and back: the SDP of that Jingle is one GStreamer reads, with the same medias and formats
        medias = gst_medias(J.jingle_to_sdp(jingle))
        self.assertEqual([(m.get_media(), m.get_attribute_val("mid")) for m in medias], [("audio", "0"), ("video", "1")])

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


if __name__ == "__main__":
    S.run(Transcript, Webrtcbin)
