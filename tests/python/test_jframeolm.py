#!/usr/bin/python3
"""jframeolm from Python (PyGObject): two elements, wired to each other by signal handlers the
way an application wires jframeolm to its XMPP client, exchange their keys over Olm into their
key stores and verify each other with SAS. Ends with `N passed, M failed`."""

import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
import keystore_call as call  # noqa: E402
from keystore_call import Gst  # noqa: E402

import cases  # noqa: E402

E2EE_FEATURE = "https://jitsi.org/meet/e2ee"


class Room:
    """An in-memory MUC: stanzas are delivered in order, after the handler that sent them returns."""

    def __init__(self):
        self.clients = {}
        self.stanzas = collections.deque()

    def deliver(self):
        while self.stanzas:
            element, args = self.stanzas.popleft()
            element.emit(*args)


class Client:
    """What an XMPP client does for jframeolm: a pipeline with the element and a key store."""

    def __init__(self, room, nick):
        self.room, self.nick, self.presence = room, nick, {}
        self.store = call.new_key_store()
        self.pipeline = Gst.Pipeline.new(nick)
        self.pipeline.set_context(self.store.get_property("context"))
        self.olm = Gst.ElementFactory.make("jframeolm")
        self.olm.set_property("local-id", nick)
        self.pipeline.add(self.olm)
        # Connected before READY: the element announces its identity keys then.
        self.olm.connect("send-message", self.on_send_message)
        self.olm.connect("set-presence", self.on_set_presence)
        self.pipeline.set_state(Gst.State.PLAYING)

    def on_send_message(self, olm, to, json):
        # <message to="ROOM/to" type="chat"><json-message xmlns="http://jitsi.org/jitmeet">json</json-message>
        self.room.stanzas.append((self.room.clients[to].olm, ("handle-message", self.nick, json)))

    def on_set_presence(self, olm, name, value):
        # <jitsi_participant_NAME>value</jitsi_participant_NAME>, in every presence sent from now on.
        self.presence[name] = value
        for other in self.room.clients.values():
            if other is not self:
                self.send_presence(other)

    def send_presence(self, to):
        for name, value in self.presence.items():
            self.room.stanzas.append((to.olm, ("handle-presence", self.nick, name, value or None)))

    def join(self):
        for other in self.room.clients.values():
            other.olm.emit("participant-joined", self.nick, True)  # its presence has E2EE_FEATURE
            self.olm.emit("participant-joined", other.nick, True)
            self.send_presence(other)
            other.send_presence(self)
        self.room.clients[self.nick] = self

    def messages(self, name):
        bus, found = self.pipeline.get_bus(), []
        while (message := bus.pop_filtered(Gst.MessageType.ELEMENT)) is not None:
            structure = message.get_structure()
            if structure.get_name() == name:
                found.append(structure)
        return found

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)


def two_clients():
    room = Room()
    alice, bob = Client(room, "a1b2c3d4"), Client(room, "e5f6a7b8")
    alice.join()
    bob.join()
    for client in (alice, bob):
        client.olm.set_property("enabled", True)
    room.deliver()
    return room, alice, bob


def keys_are_exchanged_into_the_key_stores():
    room, alice, bob = two_clients()
    for sender in (alice, bob):
        own = sender.store.emit("get-verification-code", sender.nick)
        assert own is not None, f"{sender.nick} has no key of its own"
        for receiver in (alice, bob):
            theirs = receiver.store.emit("get-verification-code", sender.nick)
            assert theirs is not None and theirs.to_string() == own.to_string(), (receiver.nick, sender.nick)
    keys = alice.messages("jframeolm-key")
    assert {(k.get_value("participant"), k.get_value("local")) for k in keys} == {
        (alice.nick, True), (bob.nick, False)}, [k.to_string() for k in keys]
    assert alice.olm.get_property("stats").get_value("sessions") == 1
    for client in (alice, bob):
        client.stop()


def both_see_the_same_sas_and_verify_each_other():
    room, alice, bob = two_clients()
    alice.olm.emit("start-verification", bob.nick)
    room.deliver()
    (seen_by_alice,), (seen_by_bob,) = alice.messages("jframeolm-sas-ready"), bob.messages("jframeolm-sas-ready")
    for field in ("decimal", "emoji", "emoji-names"):
        assert seen_by_alice.get_value(field) == seen_by_bob.get_value(field), field
    assert len(seen_by_alice.get_value("emoji").split(" ")) == 7
    alice.olm.emit("confirm-verification", bob.nick, True)
    bob.olm.emit("confirm-verification", alice.nick, True)
    room.deliver()
    for client, peer in ((alice, bob), (bob, alice)):
        (result,) = client.messages("jframeolm-verification")
        assert result.get_value("participant") == peer.nick and result.get_value("ok"), result.to_string()
    for client in (alice, bob):
        client.stop()


def junk_is_refused_with_an_error_message():
    room, alice, bob = two_clients()
    alice.messages("jframeolm-key")  # empties the bus
    assert not alice.olm.emit("handle-message", bob.nick, "{not json")
    (error,) = alice.messages("jframeolm-error")
    assert error.get_value("participant") == bob.nick and "JSON" in error.get_value("reason"), error.to_string()
    assert alice.olm.get_property("stats").get_value("messages-rejected") == 1
    for client in (alice, bob):
        client.stop()


if __name__ == "__main__":
    call.load_plugin()
    cases.run([
        keys_are_exchanged_into_the_key_stores,
        both_see_the_same_sas_and_verify_each_other,
        junk_is_refused_with_an_error_message,
    ])
