"""Jingle <-> SDP translation for lib-jitsi-meet's peer-to-peer sessions, as pure functions.

Jingle (XEP-0166) with RTP (XEP-0167), ICE-UDP (XEP-0176), DTLS-SRTP (XEP-0320), grouping (XEP-0338),
source-specific media attributes (XEP-0339), RTCP feedback (XEP-0293), header extensions (XEP-0294) and Jitsi's
extensions (source names, videoType, `ssrc-info` owner, `extmap-allow-mixed`). The line layout of the SDP follows
lib-jitsi-meet's own `SDP.jingle2media`, the Jingle layout its `SDP.toJingle` (P2P mode: content names are mids).

Elements are `xml.etree.ElementTree.Element`s in Clark notation. Everything that comes from the network is checked
before it reaches an SDP line: a value with a line break or a blank where a token belongs would let a peer write
SDP lines of its own, so such input raises `JingleError` (or, where lib-jitsi-meet ignores it, is skipped).
"""

import hashlib
import re
import xml.etree.ElementTree as ET
import zlib
from typing import NamedTuple, Optional

JINGLE = "urn:xmpp:jingle:1"
JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
RTP = "urn:xmpp:jingle:apps:rtp:1"
RTCP_FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
HDREXT = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"
GROUPING = "urn:xmpp:jingle:apps:grouping:0"
ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
JITMEET = "http://jitsi.org/jitmeet"


def q(ns, name):
    """Clark notation: `{ns}name`."""
    return f"{{{ns}}}{name}"


class JingleError(Exception):
    """Input that cannot be accepted, with the stanza error to answer it with (RFC 6120 condition, XEP-0166
    application condition or None, error type, human text)."""

    def __init__(self, condition, jingle_condition=None, type=None, text=""):
        super().__init__(text or condition)
        self.condition = condition
        self.jingle_condition = jingle_condition
        self.type = type or ("modify" if condition == "bad-request" else "cancel")
        self.text = text


def bad_request(text):
    return JingleError("bad-request", None, "modify", text)


class Source(NamedTuple):
    ssrc: int
    media: str
    name: Optional[str]
    msid: Optional[str]
    owner: Optional[str]


# --- checks on values that end up in SDP lines ---------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~/:@=\[\]?,;()<>\"\\]+")  # printable ASCII, no blank
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+")
MAX_SSRC = 0xFFFFFFFF
SETUP_ROLES = ("actpass", "active", "passive", "holdconn")
SENDERS_TO_DIRECTION = {"initiator": "sendonly", "responder": "recvonly", "none": "inactive", "both": "sendrecv"}
DIRECTION_TO_SENDERS = {v: k for k, v in SENDERS_TO_DIRECTION.items()}
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
CANDIDATE_PROTOCOLS = ("udp", "tcp", "ssltcp")
# `a=ssrc:N name:` / `videoType:` / `owner:` are attributes of the Jingle source; every other ssrc attribute is a
# parameter (msid, cname, ...).
SOURCE_ATTRIBUTES = ("name", "videoType", "owner")
# RFC 5576/5956 and simulcast: lib-jitsi-meet ignores groups with other semantics.
SSRC_GROUP_SEMANTICS = ("FID", "SIM", "FEC-FR", "FEC", "DUP")


def token(value, what):
    """A value that must be one SDP word (no blank, no control character)."""
    if value is None or not _TOKEN.fullmatch(value):
        raise bad_request(f"bad {what}: {value!r}"[:200])
    return value


def text(value, what):
    """A value that may hold blanks but must stay on its line."""
    if value is None or _TEXT_FORBIDDEN.search(value):
        raise bad_request(f"bad {what}: {value!r}"[:200])
    return value


def integer(value, what, low, high):
    if value is None or not re.fullmatch(r"[0-9]{1,10}", value) or not low <= int(value) <= high:
        raise bad_request(f"bad {what}: {value!r}"[:200])
    return int(value)


def valid_ssrc(value):
    """lib-jitsi-meet's `isValidSsrc`: a decimal 32-bit value."""
    return value is not None and re.fullmatch(r"[0-9]{1,10}", value) is not None and int(value) <= MAX_SSRC


# --- candidates ---------------------------------------------------------------------------------------------------


def candidate_to_sdp(candidate):
    """A Jingle `<candidate/>` as an SDP candidate line ('candidate:...', no 'a=', no line end). Raises JingleError
    (bad-request) for a malformed candidate."""
    get = candidate.get
    foundation = token(get("foundation"), "candidate foundation")
    component = integer(get("component"), "candidate component", 1, 256)
    protocol = token(get("protocol"), "candidate protocol").lower()
    if protocol not in CANDIDATE_PROTOCOLS:
        raise bad_request(f"bad candidate protocol: {protocol!r}"[:200])
    priority = integer(get("priority"), "candidate priority", 0, 0xFFFFFFFF)
    ip = token(get("ip"), "candidate ip")
    port = integer(get("port"), "candidate port", 0, 65535)
    kind = get("type")
    if kind not in CANDIDATE_TYPES:
        raise bad_request(f"bad candidate type: {kind!r}"[:200])
    line = f"candidate:{foundation} {component} {protocol} {priority} {ip} {port} typ {kind}"
    if kind != "host" and get("rel-addr") is not None and get("rel-port") is not None:
        line += f" raddr {token(get('rel-addr'), 'candidate rel-addr')}"
        line += f" rport {integer(get('rel-port'), 'candidate rel-port', 0, 65535)}"
    if protocol == "tcp" and get("tcptype") is not None:
        line += f" tcptype {token(get('tcptype'), 'candidate tcptype')}"
    generation = get("generation") or "0"
    return line + f" generation {integer(generation, 'candidate generation', 0, 0xFFFFFFFF)}"


def sdp_to_candidate(line):
    """An SDP candidate line (with or without 'a=') as a Jingle `<candidate/>` (network '1' and an id derived from
    the line, as lib-jitsi-meet's `candidateToJingle` fills them). Raises JingleError (bad-request)."""
    line = line.strip()
    if line.startswith("a="):
        line = line[2:]
    if not line.startswith("candidate:"):
        raise bad_request(f"not a candidate line: {line!r}"[:200])
    words = line[len("candidate:") :].split()
    if len(words) < 8 or words[6] != "typ":
        raise bad_request(f"malformed candidate line: {line!r}"[:200])
    attrs = {
        "foundation": words[0],
        "component": words[1],
        "protocol": words[2].lower(),
        "priority": words[3],
        "ip": words[4],
        "port": words[5],
        "type": words[7],
        "generation": "0",
    }
    names = {"raddr": "rel-addr", "rport": "rel-port", "generation": "generation", "tcptype": "tcptype"}
    for key, value in zip(words[8::2], words[9::2]):
        if key in names:
            attrs[names[key]] = value
    attrs["network"] = "1"
    attrs["id"] = hashlib.sha1(line.encode()).hexdigest()[:10]
    candidate = ET.Element(q(ICE_UDP, "candidate"), attrs)
    candidate_to_sdp(candidate)  # the same checks both ways
    return candidate


# --- Jingle -> SDP --------------------------------------------------------------------------------------------------


def contents(jingle):
    return jingle.findall(q(JINGLE, "content"))


def description_of(content):
    return content.find(q(RTP, "description"))


def transport_of(content, validate=True):
    """The content's ICE-UDP transport. With validate: a content without a transport is a bad request and one with
    another transport (raw UDP, ...) is unsupported (XEP-0166 `unsupported-transports`)."""
    ice = content.find(q(ICE_UDP, "transport"))
    if ice is None and validate:
        if any(child.tag.endswith("}transport") for child in content):
            raise JingleError("feature-not-implemented", "unsupported-transports", "cancel", "only ICE-UDP")
        raise bad_request("content without transport")
    return ice


def jingle_to_sdp(jingle, validate=True):
    """The SDP of a session-initiate / session-accept (or any Jingle with full contents).

    With validate (the default) every content must be an RTP application over ICE-UDP with ufrag, pwd and a DTLS
    fingerprint; anything else raises JingleError with the XEP-0166 condition to answer with. Without it (pieces
    of Jingle as lib-jitsi-meet's own cases use them) what is missing is simply left out."""
    all_contents = contents(jingle)
    if validate and not all_contents:
        raise bad_request("no content")
    sid = jingle.get("sid") or ""
    lines = ["v=0", f"o=- {zlib.crc32(sid.encode())} 2 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    for group in jingle.findall(q(GROUPING, "group")):
        semantics = token(group.get("semantics") or group.get("type"), "group semantics")
        names = [token(c.get("name"), "group content name") for c in group.findall(q(GROUPING, "content"))]
        if names:
            lines.append(f"a=group:{semantics} {' '.join(names)}")
    transports = [t for c in all_contents for t in c.findall(q(ICE_UDP, "transport"))]
    if any(f.get("cryptex") == "true" for t in transports for f in t.findall(q(DTLS, "fingerprint"))):
        lines.append("a=cryptex")  # RFC 9335, as lib-jitsi-meet signals it
    sdp = "\r\n".join(lines) + "\r\n"
    return sdp + "".join(content_to_media(content, validate) for content in all_contents)


def content_to_media(content, validate=True):
    """One Jingle content as an SDP media section (lines end with CRLF), as lib-jitsi-meet's `jingle2media`."""
    mid = token(content.get("name"), "content name")
    desc = description_of(content)
    if desc is None:
        if validate:
            if any(child.tag.endswith("}description") for child in content):
                raise JingleError("feature-not-implemented", "unsupported-applications", "cancel", "only RTP")
            raise bad_request("content without description")
        desc = ET.Element(q(RTP, "description"))
    media = desc.get("media")
    if media not in ("audio", "video") and (validate or media is None):
        raise bad_request(f"bad media: {media!r}"[:200])
    media = token(media, "media")
    payloads = desc.findall(q(RTP, "payload-type"))
    if validate and not payloads:
        raise bad_request("description without payload-type")
    ids = [str(integer(pt.get("id"), "payload-type id", 0, 127)) for pt in payloads]
    port = "0" if content.get("senders") == "rejected" else "9"
    out = [f"m={media} {port} UDP/TLS/RTP/SAVPF {' '.join(ids)}".rstrip(), "c=IN IP4 0.0.0.0"]

    transport = transport_of(content, validate)
    if transport is not None:
        ufrag, pwd = transport.get("ufrag"), transport.get("pwd")
        if validate and (ufrag is None or pwd is None):
            raise bad_request("transport without ufrag/pwd")
        if ufrag is not None:
            out.append(f"a=ice-ufrag:{token(ufrag, 'ufrag')}")
        if pwd is not None:
            out.append(f"a=ice-pwd:{token(pwd, 'pwd')}")
        fingerprints = transport.findall(q(DTLS, "fingerprint"))
        if validate and not fingerprints:
            raise JingleError("not-acceptable", None, "cancel", "no DTLS fingerprint")
        for fingerprint in fingerprints:
            value = (fingerprint.text or "").strip()
            if not _FINGERPRINT.fullmatch(value):
                raise bad_request(f"bad fingerprint: {value!r}"[:200])
            out.append(f"a=fingerprint:{token(fingerprint.get('hash'), 'fingerprint hash')} {value}")
            setup = fingerprint.get("setup")
            if setup is not None:
                if setup not in SETUP_ROLES:
                    raise bad_request(f"bad setup: {setup!r}"[:200])
                out.append(f"a=setup:{setup}")
        for candidate in transport.findall(q(ICE_UDP, "candidate")):
            out.append("a=" + candidate_to_sdp(candidate))

    direction = SENDERS_TO_DIRECTION.get(content.get("senders"))
    if direction:
        out.append(f"a={direction}")
    out.append(f"a=mid:{mid}")
    if desc.find(q(RTP, "rtcp-mux")) is not None:
        out.append("a=rtcp-mux")

    for pt, pt_id in zip(payloads, ids):
        name = token(pt.get("name"), "payload-type name")
        clockrate = integer(pt.get("clockrate"), "payload-type clockrate", 1, 0xFFFFFFFF)
        rtpmap = f"a=rtpmap:{pt_id} {name}/{clockrate}"
        channels = pt.get("channels")
        if channels and channels != "1":
            rtpmap += f"/{integer(channels, 'payload-type channels', 1, 255)}"
        out.append(rtpmap)
        params = pt.findall(q(RTP, "parameter"))
        if params:
            pairs = []
            for param in params:
                name, value = param.get("name") or "", param.get("value") or ""
                if ";" in name + value or "=" in name:
                    raise bad_request(f"bad fmtp parameter: {name!r}={value!r}"[:200])
                pairs.append((token(name, "parameter name") + "=" if name else "") + token(value, "parameter value"))
            out.append(f"a=fmtp:{pt_id} {';'.join(pairs)}")
        out.extend(rtcp_fb_lines(pt, pt_id))
    out.extend(rtcp_fb_lines(desc, "*"))

    for ext in desc.findall(q(HDREXT, "rtp-hdrext")):
        ext_id = integer(ext.get("id"), "rtp-hdrext id", 1, 255)
        senders = ext.get("senders")
        suffix = f"/{SENDERS_TO_DIRECTION[senders]}" if senders in SENDERS_TO_DIRECTION and senders != "both" else ""
        out.append(f"a=extmap:{ext_id}{suffix} {token(ext.get('uri'), 'rtp-hdrext uri')}")
    if desc.find(q(HDREXT, "extmap-allow-mixed")) is not None:
        out.append("a=extmap-allow-mixed")

    for group in desc.findall(q(SSMA, "ssrc-group")):
        members = [s.get("ssrc") for s in group.findall(q(SSMA, "source"))]
        semantics = group.get("semantics")
        # Like lib-jitsi-meet for source-add: a group that is not well formed is ignored, not fatal.
        if members and all(valid_ssrc(m) for m in members) and semantics in SSRC_GROUP_SEMANTICS:
            out.append(f"a=ssrc-group:{semantics} {' '.join(members)}")
    for source in desc.findall(q(SSMA, "source")):
        ssrc = source.get("ssrc")
        if not valid_ssrc(ssrc):
            continue  # lib-jitsi-meet ignores a source with an invalid ssrc
        for param in source.findall(q(SSMA, "parameter")):
            name, value = token(param.get("name"), "source parameter name"), param.get("value")
            out.append(f"a=ssrc:{ssrc} {name}" + (f":{text(value, 'source parameter value')}" if value else ""))
        for attr, key in (("name", "name"), ("videoType", "videoType")):
            if source.get(attr) is not None:
                out.append(f"a=ssrc:{ssrc} {key}:{token(source.get(attr), 'source ' + attr)}")
        owner = source_owner(source)
        if owner is not None:
            out.append(f"a=ssrc:{ssrc} owner:{token(owner, 'ssrc-info owner')}")
    return "".join(line + "\r\n" for line in out)


def rtcp_fb_lines(element, pt_id):
    out = []
    trr = element.find(q(RTCP_FB, "rtcp-fb-trr-int"))
    if trr is not None:
        out.append(f"a=rtcp-fb:{pt_id} trr-int {integer(trr.get('value') or '0', 'trr-int', 0, 0xFFFFFFFF)}")
    for fb in element.findall(q(RTCP_FB, "rtcp-fb")):
        line = f"a=rtcp-fb:{pt_id} {token(fb.get('type'), 'rtcp-fb type')}"
        if fb.get("subtype") is not None:
            line += f" {token(fb.get('subtype'), 'rtcp-fb subtype')}"
        out.append(line)
    return out


# --- sources --------------------------------------------------------------------------------------------------------


def source_owner(source):
    info = source.find(q(JITMEET, "ssrc-info"))
    return info.get("owner") if info is not None else None


def sources(jingle_or_content):
    """The sources of a Jingle element (every content) or of one content, in document order. Sources whose ssrc is
    not a decimal 32-bit value are left out, as lib-jitsi-meet does. owner: the resource of the `ssrc-info` owner
    (what lib-jitsi-meet's `getEndpointId` takes), else None."""
    element = jingle_or_content
    found = [element] if element.tag == q(JINGLE, "content") else contents(element)
    result = []
    for content in found:
        desc = description_of(content)
        if desc is None:
            continue
        media = desc.get("media")
        for source in desc.findall(q(SSMA, "source")):
            ssrc = source.get("ssrc")
            if not valid_ssrc(ssrc):
                continue
            msid = None
            for param in source.findall(q(SSMA, "parameter")):
                if param.get("name") == "msid":
                    msid = param.get("value")
                    break
            owner = source_owner(source)
            if owner is not None and "/" in owner:
                owner = owner.split("/", 1)[1]
            result.append(Source(int(ssrc), media, source.get("name"), msid, owner or None))
    return result


# --- SDP -> Jingle --------------------------------------------------------------------------------------------------


class _Sdp:
    """An SDP split into its session lines and its media sections (lists of lines without 'a=' stripped)."""

    def __init__(self, sdp):
        lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
        self.session, self.media = [], []
        for line in lines:
            if line.startswith("m="):
                self.media.append([line])
            elif self.media:
                self.media[-1].append(line)
            else:
                self.session.append(line)

    @staticmethod
    def values(lines, prefix):
        return [line[len(prefix) :] for line in lines if line.startswith(prefix)]

    @staticmethod
    def value(lines, prefix):
        found = _Sdp.values(lines, prefix)
        return found[0] if found else None

    def find(self, section, prefix, bundle_tag=None):
        """Lines of the media section, else of the session, else of the BUNDLE tag's section (transport
        attributes of a bundled section may be given only once)."""
        for lines in (section, self.session, bundle_tag or []):
            found = self.values(lines, prefix)
            if found:
                return found
        return []

    def mid(self, section):
        return self.value(section, "a=mid:")


def sdp_to_jingle(sdp, action, sid, initiator, responder=None, creator="initiator", source_prefix=None):
    """A Jingle element (`action`, `sid`, ...) carrying the SDP's media: one content per RTP m-line, named by its
    mid; BUNDLE groups; payload types with fmtp parameters and rtcp-fb; header extensions; sources with msid (and
    name/videoType when the SDP has `a=ssrc:N name:`/`videoType:` lines) and ssrc-groups; ICE ufrag/pwd, DTLS
    fingerprint with setup, and the candidates the SDP already holds.

    source_prefix (e.g. the own MUC nick): sources without a name are named as lib-jitsi-meet names its own,
    `<prefix>-a0`, `<prefix>-v0` (one index per media stream, RTX and simulcast SSRCs share their stream's name),
    with videoType 'camera' for video, and their msid in lib-jitsi-meet's form (see lib_jitsi_meet_msid)."""
    parsed = _Sdp(sdp)
    jingle = ET.Element(q(JINGLE, "jingle"), {"action": action, "initiator": initiator, "sid": sid})
    if responder is not None:
        jingle.set("responder", responder)
    rtp_sections = [m for m in parsed.media if m[0].split()[0][2:] in ("audio", "video")]
    by_mid = {parsed.mid(m): m for m in rtp_sections}
    bundle_tag = None
    for group in _Sdp.values(parsed.session, "a=group:"):
        semantics, *mids = group.split()
        mids = [mid for mid in mids if mid in by_mid]
        if not mids:
            continue
        if semantics == "BUNDLE" and bundle_tag is None:
            bundle_tag = by_mid[mids[0]]
        element = ET.SubElement(jingle, q(GROUPING, "group"), {"semantics": semantics})
        for mid in mids:
            ET.SubElement(element, q(GROUPING, "content"), {"name": mid})
    counters = {}
    for section in rtp_sections:
        jingle.append(media_to_content(parsed, section, creator, bundle_tag, source_prefix, counters))
    return jingle


def media_to_content(parsed, section, creator, bundle_tag, source_prefix, counters):
    media, port, _proto, *fmts = section[0][2:].split()
    mid = parsed.mid(section)
    if mid is None:
        raise bad_request(f"m={media} without a=mid")
    content = ET.Element(q(JINGLE, "content"), {"creator": creator, "name": mid})
    desc = ET.SubElement(content, q(RTP, "description"), {"media": media})
    rtpmaps = {}
    for value in _Sdp.values(section, "a=rtpmap:"):
        pt_id, _, encoding = value.partition(" ")
        rtpmaps[pt_id] = encoding.split("/")
    fmtps = {}
    for value in _Sdp.values(section, "a=fmtp:"):
        pt_id, _, params = value.partition(" ")
        fmtps[pt_id] = params
    for pt_id in fmts:
        if pt_id not in rtpmaps:
            continue  # as lib-jitsi-meet: a payload type is signalled through its rtpmap
        name, clockrate, *channels = rtpmaps[pt_id]
        pt = ET.SubElement(
            desc, q(RTP, "payload-type"),
            {"id": pt_id, "name": name, "clockrate": clockrate, "channels": channels[0] if channels else "1"},
        )
        for part in fmtps.get(pt_id, "").split(";"):
            key, has_value, value = part.strip().partition("=")
            if key and has_value:
                ET.SubElement(pt, q(RTP, "parameter"), {"name": key, "value": value})
            elif key:
                ET.SubElement(pt, q(RTP, "parameter"), {"name": "", "value": key})  # RFC 4733 style '0-15'
        add_rtcp_fb(pt, section, pt_id)

    add_sources(desc, section, media, source_prefix, counters)
    if "a=rtcp-mux" in section:
        ET.SubElement(desc, q(RTP, "rtcp-mux"))
    add_rtcp_fb(desc, section, "*")
    for value in parsed.find(section, "a=extmap:"):
        ext_id, _, rest = value.partition(" ")
        uri = rest.split()[0] if rest.split() else ""
        ext = ET.SubElement(desc, q(HDREXT, "rtp-hdrext"), {"uri": uri, "id": ext_id.split("/")[0]})
        if "/" in ext_id:
            ext.set("senders", DIRECTION_TO_SENDERS.get(ext_id.split("/", 1)[1], "both"))
    if parsed.find(section, "a=extmap-allow-mixed"):
        ET.SubElement(desc, q(HDREXT, "extmap-allow-mixed"))

    transport = ET.SubElement(content, q(ICE_UDP, "transport"))
    ufrag = parsed.find(section, "a=ice-ufrag:", bundle_tag)
    pwd = parsed.find(section, "a=ice-pwd:", bundle_tag)
    if ufrag:
        transport.set("ufrag", ufrag[0])
    if pwd:
        transport.set("pwd", pwd[0])
    setup = parsed.find(section, "a=setup:", bundle_tag)
    for value in parsed.find(section, "a=fingerprint:", bundle_tag):
        hash_name, _, fingerprint = value.partition(" ")
        element = ET.SubElement(transport, q(DTLS, "fingerprint"), {"hash": hash_name})
        element.text = fingerprint.strip()
        if setup:
            element.set("setup", setup[0])
        if "a=cryptex" in section or "a=cryptex" in parsed.session:
            element.set("cryptex", "true")
    for value in _Sdp.values(section, "a=candidate:"):
        transport.append(sdp_to_candidate("candidate:" + value))

    for line in section:
        if line[2:] in DIRECTION_TO_SENDERS and line.startswith("a="):
            content.set("senders", DIRECTION_TO_SENDERS[line[2:]])
    if port == "0" and "a=bundle-only" not in section:
        content.set("senders", "rejected")
    return content


def add_rtcp_fb(element, section, pt_id):
    for value in _Sdp.values(section, f"a=rtcp-fb:{pt_id} "):
        kind, *params = value.split()
        if kind == "trr-int":
            ET.SubElement(element, q(RTCP_FB, "rtcp-fb-trr-int"), {"value": params[0] if params else "0"})
        else:
            fb = ET.SubElement(element, q(RTCP_FB, "rtcp-fb"), {"type": kind})
            if params:
                fb.set("subtype", params[0])


def add_sources(desc, section, media, source_prefix, counters):
    attributes = {}  # ssrc -> {attribute: value}, in the order of first appearance
    for value in _Sdp.values(section, "a=ssrc:"):
        ssrc, _, attribute = value.partition(" ")
        name, _, attr_value = attribute.partition(":")
        attributes.setdefault(ssrc, {}).setdefault(name, attr_value)
    groups = []
    for value in _Sdp.values(section, "a=ssrc-group:"):
        semantics, *members = value.split()
        if members:
            groups.append((semantics, members))
    named = {}  # ssrc -> (name, msid) given from source_prefix
    if source_prefix is not None:
        # RTX (FID) and simulcast (SIM) SSRCs belong to the stream of their group's first SSRC.
        primary = {}
        for semantics, members in groups:
            for member in members[1:]:
                primary.setdefault(member, primary.get(members[0], members[0]))
        for ssrc, attrs in attributes.items():
            if "name" in attrs:
                continue
            root = primary.get(ssrc, ssrc)
            if root not in named:
                index = counters.get(media, 0)
                counters[media] = index + 1
                named[root] = (f"{source_prefix}-{media[0]}{index}", lib_jitsi_meet_msid(source_prefix, media, index,
                                                                                      attributes[root].get("msid")))
            named[ssrc] = named[root]
    for ssrc, attrs in attributes.items():
        element = ET.SubElement(desc, q(SSMA, "source"), {"ssrc": ssrc})
        name, msid = named.get(ssrc, (attrs.get("name"), None))
        if name:
            element.set("name", name)
        video_type = attrs.get("videoType") or ("camera" if ssrc in named and media == "video" else None)
        if video_type:
            element.set("videoType", video_type)
        for key, value in attrs.items():
            if key not in SOURCE_ATTRIBUTES:
                value = msid if key == "msid" and msid else value
                ET.SubElement(element, q(SSMA, "parameter"), {"name": key, "value": value})
        if attrs.get("owner"):
            ET.SubElement(element, q(JITMEET, "ssrc-info"), {"owner": attrs["owner"]})
    for semantics, members in groups:
        group = ET.SubElement(desc, q(SSMA, "ssrc-group"), {"semantics": semantics})
        for member in members:
            ET.SubElement(group, q(SSMA, "source"), {"ssrc": member})


def lib_jitsi_meet_msid(prefix, media, index, msid):
    """The msid lib-jitsi-meet gives its own sources (LocalSdpMunger: '<endpoint>-<media>-<index>-<pc> <track>-<pc>'),
    keeping the SDP's track id when it is a plain token. webrtcbin's stream id ('user...@host-...') is not an
    RFC 4566 token, so it is not handed to the browser."""
    track = (msid or "").split(" ")[-1]
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", track):
        track = f"{prefix}-{media}-{index}"
    return f"{prefix}-{media}-{index}-1 {track}-1"
