"""The XMPP side: a slixmpp MUC client on its own asyncio loop and thread.

It joins the room anonymously with the E2EE fields in every presence, and hands what it receives (presence,
Olm json-messages, Jingle IQs) to the application on the GLib main thread (GLib.idle_add). The application
calls it from the GLib side through `Room.call` (slixmpp is not thread-safe).
"""

import asyncio
import copy
import logging
import threading
import xml.etree.ElementTree as ET

from gi.repository import GLib

from .util import warn

# Debian's slixmpp warns at import that it uses the pure-Python stringprep: nothing to act on.
logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)
from slixmpp import ClientXMPP  # noqa: E402
from slixmpp.exceptions import IqError, IqTimeout  # noqa: E402
from slixmpp.stanza import Message, Presence  # noqa: E402
from slixmpp.xmlstream import ElementBase, register_stanza_plugin  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath, StanzaPath  # noqa: E402

JITMEET_NS = "http://jitsi.org/jitmeet"
E2EE_FEATURE = "https://jitsi.org/meet/e2ee"
CLIENT = "{jabber:client}"
PROPERTY_PREFIX = CLIENT + "jitsi_participant_"
DELAY_NS = "urn:xmpp:delay"
JINGLE = "{urn:xmpp:jingle:1}jingle"
IQ_TIMEOUT = 10


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


def presence_children(properties, extra=(), feature=True):
    """What goes into every presence to the room: presence is full state, so all of it each time.

    `properties`: jitsi_participant_NAME -> text ("" = an empty element, which is how lib-jitsi-meet
    writes false). Children without a namespace of their own are in jabber:client, as lib-jitsi-meet's
    Strophe children are. `extra`: more elements (the media's). `feature`: the E2EE feature."""
    children = []
    for name, value in properties.items():
        element = ET.Element(PROPERTY_PREFIX + name)
        if value:
            element.text = value
        children.append(element)
    if feature:
        features = ET.Element(CLIENT + "features")
        ET.SubElement(features, CLIENT + "feature", var=E2EE_FEATURE)
        children.append(features)
    children.extend(extra)
    return tuple(children)


def parse_presence(presence):
    """(properties, features, others) of a room presence; others: tag -> the other children."""
    properties, features, others = {}, set(), {}
    for child in presence.xml:
        if child.tag.startswith(PROPERTY_PREFIX):
            properties[child.tag[len(PROPERTY_PREFIX):]] = child.text or ""
        elif child.tag == CLIENT + "features":
            features.update(f.get("var") for f in child if f.get("var"))
        else:
            others[child.tag] = child
    return properties, features, others


class RoomClient(ClientXMPP):
    """The slixmpp client. `events` is the application's object, called on the GLib main thread:
    on_presence(nick, type, is_self, properties, features, others), on_json_message(nick, text),
    on_jingle(iq_id, sender, iq_type, jingle), on_server_gone(reason)."""

    def __init__(self, events, server, domain, room, nick):
        super().__init__(domain, "")  # domain-only JID, no password: SASL ANONYMOUS
        self.events, self.address, self.room, self.nick = events, server, room, nick
        self.children = ()  # what presence_children() gave last; replaced as a whole
        self.leaving = False
        self.register_plugin("xep_0045")
        self.add_filter("out", self._add_children)
        self.add_event_handler("groupchat_presence", self._on_presence)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connection_failed", self._on_disconnected)
        self.register_handler(Callback("json-message", StanzaPath("message@type=chat/json_message"),
                                       self._on_json_message))
        self.register_handler(Callback("jingle", MatchXPath(f"{CLIENT}iq/{JINGLE}"), self._on_jingle))

    @property
    def own_jid(self):
        return f"{self.room}/{self.nick}"

    def _add_children(self, stanza):
        # Also the join presence: keys, e2ee.enabled and the feature go out with it, as in lib-jitsi-meet.
        if isinstance(stanza, Presence) and stanza["to"].bare == self.room and stanza["type"] != "unavailable":
            stanza.xml.extend(copy.deepcopy(child) for child in self.children)
        return stanza

    async def join(self, timeout):
        started = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
        self.connect(self.address, force_starttls=False, disable_starttls=True)
        await asyncio.wait_for(started, timeout)
        await self.plugin["xep_0045"].join_muc_wait(self.room, self.nick, maxstanzas=0, timeout=timeout)

    def send_presence_update(self, children):
        self.children = children
        self.make_presence(pto=self.own_jid).send()

    def send_json(self, to, text):
        message = self.make_message(mto=f"{self.room}/{to}", mtype="chat")
        message["json_message"] = text
        message.send()

    def send_jingle(self, iq_id, to, jingle, on_response):
        """An IQ set with `jingle`; on_response(iq_id, ok, error) on the GLib thread once answered."""
        iq = self.make_iq_set(ito=to)
        iq["id"] = iq_id
        iq.xml.append(jingle)

        def done(future):
            if future.cancelled():
                return  # the connection went: nothing will answer
            error = future.exception()
            if error is None:
                GLib.idle_add(on_response, iq_id, True, None)
            elif isinstance(error, IqError):
                GLib.idle_add(on_response, iq_id, False, error.iq["error"]["condition"])
            elif isinstance(error, IqTimeout):
                GLib.idle_add(on_response, iq_id, False, "timeout")

        iq.send(timeout=IQ_TIMEOUT).add_done_callback(done)

    def send_result(self, iq_id, to):
        self.make_iq_result(iq_id, ito=to).send()

    def send_error(self, iq_id, to, error):
        """An IQ error with `error`, an <error/> element (session.error_element)."""
        iq = self.make_iq(id=iq_id, ito=to, itype="error")
        iq.xml.append(error)
        iq.send()

    async def leave(self):
        self.leaving = True
        if self.transport is not None:
            self.make_presence(pto=self.own_jid, ptype="unavailable").send()
            await self.disconnect(wait=1.0)

    def _on_presence(self, presence):
        if presence["from"].bare != self.room:
            return
        status_codes = presence["muc"]["status_codes"]
        properties, features, others = parse_presence(presence)
        GLib.idle_add(self.events.on_presence, presence["from"].resource, presence["type"], 110 in status_codes,
                      properties, features, others)

    def _on_json_message(self, message):
        sender = message["from"]
        # lib-jitsi-meet ignores delayed (replayed) messages; only occupants of the room count.
        if sender.bare != self.room or not sender.resource or message.xml.find("{%s}delay" % DELAY_NS) is not None:
            return
        GLib.idle_add(self.events.on_json_message, sender.resource, message["json_message"])

    def _on_jingle(self, iq):
        if iq["type"] not in ("set", "get"):
            return  # results and errors go to send_jingle's futures
        GLib.idle_add(self.events.on_jingle, iq["id"], iq["from"].full, iq["type"], iq.xml.find(JINGLE))

    def _on_disconnected(self, reason):
        if not self.leaving:
            GLib.idle_add(self.events.on_server_gone, str(reason or "connection closed"))


class Room:
    """The client and its asyncio thread, seen from the GLib main thread."""

    def __init__(self, events, server, domain, room, nick):
        self.events, self.server, self.domain, self.room, self.nick = events, server, domain, room, nick
        self.loop = asyncio.new_event_loop()
        self.client = None
        self.children = ()
        threading.Thread(target=self.loop.run_forever, name="xmpp", daemon=True).start()

    def join(self, timeout, on_done):
        """Connects and joins; on_done(error or None) on the GLib thread."""

        async def join():
            # slixmpp objects are made on their own loop.
            self.client = RoomClient(self.events, self.server, self.domain, self.room, self.nick)
            self.client.children = self.children
            await self.client.join(timeout)

        future = asyncio.run_coroutine_threadsafe(join(), self.loop)
        future.add_done_callback(lambda f: GLib.idle_add(on_done, f.exception()))

    def call(self, method, *args):
        """Runs RoomClient.`method` on the client's loop."""

        def run():
            try:
                getattr(self.client, method)(*args)
            except Exception as error:  # a stanza for a connection that is gone: the server-gone path reports it
                warn(f"could not send ({method}): {error}")

        if self.client is not None:
            self.loop.call_soon_threadsafe(run)

    def set_presence(self, children, joined):
        """The presence children from now on; sent at once once joined (before, the join presence takes them)."""
        self.children = children
        if joined:
            self.call("send_presence_update", children)
        elif self.client is not None:
            self.loop.call_soon_threadsafe(setattr, self.client, "children", children)

    def leave(self):
        if self.client is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.client.leave(), self.loop).result(3)
            except Exception:  # the server may be gone already
                pass

    @property
    def own_jid(self):
        return f"{self.room}/{self.nick}"

    @property
    def real_jid(self):
        return self.client.boundjid.full if self.client is not None else ""

