#!/usr/bin/python3
"""Keys from Python (PyGObject): a sender and a receiver pipeline, each with its own
GstJFrameKeyStore, keys driven through the stores' action signals while the media runs.

The sender encrypts Opus with jframeenc for participant "me"; the receiver depayloads
with source-info=true, so jframedec knows each frame's SSRC and asks, through its
request-participant signal, whose keys to use ("alice"). During the call the keys
rotate (a new key at index 1, given to the receiver first) and the sender ratchets (the
receiver follows by itself, emitting ratcheted). Both ends use LiveKit's format with
their own options, chosen through the stores' set-rules.

Run from the repository after `cargo build --release --locked`:

    GST_PLUGIN_PATH=$PWD/target/release /usr/bin/python3 examples/keystore_call.py
    ... --receiver-passphrase wrong     # a wrong key: nothing decrypts, the drops are reported

Needs Debian's python3-gi, python3-gst-1.0 and gir1.2-gstreamer-1.0.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst  # noqa: E402

SSRC = 0x1234ABCD
PASSPHRASE = "correct horse battery staple"
SECOND_KEY = bytes(range(32))
# The participant's format and its options, as the store's set-rules takes them; the
# elements of the participant get the same values as properties (they must agree).
RULES = {"format": "livekit", "ratchet-salt": "example-salt", "key-size": 256, "key-ring-size": 32}
KEY_MODE_HKDF = 0  # GstJFrameKeyMode: hkdf (key material), 1 = raw AES key


def load_plugin():
    """Initialises GStreamer and loads the jframe plugin, which registers the key store's type."""
    Gst.init(None)
    if Gst.Plugin.load_by_name("jframe") is None:
        sys.exit("the jframe plugin is not found: set GST_PLUGIN_PATH to the directory of libgstjframe.so")


def new_key_store():
    """A GstJFrameKeyStore: no introspection data, so it is made by its type name."""
    return GObject.new(GObject.type_from_name("GstJFrameKeyStore"))


def rules_structure():
    structure = Gst.Structure.new_empty("application/x-jframe-rules")
    for field, value in RULES.items():
        structure.set_value(field, value)
    return structure


def element_rules():
    return " ".join(f"{field}={value}" for field, value in RULES.items())


def key_buffer(key):
    return Gst.Buffer.new_wrapped(bytes(key))


def check(done, what):
    if not done:
        raise RuntimeError(f"{what} refused (see GST_DEBUG=jframekeystore:4)")


class Call:
    """One sender and one receiver pipeline, joined in process by appsink and appsrc."""

    def __init__(self, frames, rotate_at, ratchet_at, receiver_passphrase):
        self.frames, self.rotate_at, self.ratchet_at = frames, rotate_at, ratchet_at
        self.sender_store, self.receiver_store = new_key_store(), new_key_store()
        check(self.sender_store.emit("set-rules", "me", rules_structure()), "set-rules")
        check(self.receiver_store.emit("set-rules", "alice", rules_structure()), "set-rules")
        check(self.sender_store.emit("set-passphrase", "me", 0, PASSPHRASE), "set-passphrase")
        check(self.receiver_store.emit("set-passphrase", "alice", 0, receiver_passphrase), "set-passphrase")

        self.sender = Gst.parse_launch(
            f"audiotestsrc num-buffers={frames} samplesperbuffer=960 ! opusenc ! "
            f"jframeenc name=enc participant=me {element_rules()} ! rtpopuspay pt=96 ssrc={SSRC} ! "
            "appsink name=out emit-signals=true sync=false"
        )
        self.receiver = Gst.parse_launch(
            "appsrc name=in format=time "
            "caps=application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96 ! "
            f"rtpopusdepay source-info=true ! jframedec name=dec {element_rules()} ! opusdec ! "
            "fakesink name=sink signal-handoffs=true sync=false"
        )
        # Each pipeline finds its store in a context, as GstContext of type gst-jframe.key-store.
        self.sender.set_context(self.sender_store.props.context)
        self.receiver.set_context(self.receiver_store.props.context)
        self.enc, self.dec = self.sender.get_by_name("enc"), self.receiver.get_by_name("dec")
        self.appsrc = self.receiver.get_by_name("in")

        self.sent = self.decoded = 0
        self.ratchets, self.states, self.codes = [], [], {}
        self.dec.connect("request-participant", lambda _dec, ssrc: "alice" if ssrc == SSRC else None)
        self.dec.connect("ratcheted", lambda _dec, index, steps: self.ratchets.append((index, steps)))
        self.receiver.get_by_name("sink").connect("handoff", self.on_decoded)
        self.sender.get_by_name("out").connect("new-sample", self.on_sent)

    def on_decoded(self, *_):
        self.decoded += 1

    def on_sent(self, appsink):
        """Runs in the sender's streaming thread: changes keys between frames, then hands the packet on."""
        sample = appsink.emit("pull-sample")
        self.sent += 1
        if self.sent == self.rotate_at:
            # A new key at a new index: the receiver first, so that no frame arrives before its key.
            check(self.receiver_store.emit("set-key", "alice", 1, key_buffer(SECOND_KEY), KEY_MODE_HKDF), "set-key")
            check(self.sender_store.emit("set-key", "me", 1, key_buffer(SECOND_KEY), KEY_MODE_HKDF), "set-key")
            self.codes = {
                "sender": self.sender_store.emit("get-verification-code", "me").get_value("decimal"),
                "receiver": self.receiver_store.emit("get-verification-code", "alice").get_value("decimal"),
            }
        if self.sent == self.ratchet_at:
            # Someone joined: the sender ratchets in place; the receiver catches up by itself.
            check(self.sender_store.emit("ratchet", "me"), "ratchet")
        self.appsrc.emit("push-sample", sample)
        return Gst.FlowReturn.OK

    def run(self, timeout_s=30):
        self.receiver.set_state(Gst.State.PLAYING)
        self.sender.set_state(Gst.State.PLAYING)
        self.wait(self.sender, timeout_s, collect_states=False)
        self.appsrc.emit("end-of-stream")
        self.wait(self.receiver, timeout_s, collect_states=True)
        result = {
            "sent": self.sent,
            "decoded": self.decoded,
            "ratchets": self.ratchets,
            "states": self.states,
            "codes": self.codes,
            "sender-stats": self.enc.props.stats,
            "receiver-stats": self.dec.props.stats,
        }
        self.sender.set_state(Gst.State.NULL)
        self.receiver.set_state(Gst.State.NULL)
        return result

    def wait(self, pipeline, timeout_s, collect_states):
        """Waits for EOS, noting the receiver's jframe-state messages; an error stops the run."""
        bus = pipeline.get_bus()
        wanted = Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT
        while True:
            message = bus.timed_pop_filtered(timeout_s * Gst.SECOND, wanted)
            if message is None:
                raise RuntimeError("no end of stream in time")
            if message.type == Gst.MessageType.ERROR:
                raise RuntimeError(f"pipeline error: {message.parse_error()[0].message}")
            if message.type == Gst.MessageType.EOS:
                return
            structure = message.get_structure()
            if collect_states and structure.get_name() == "jframe-state":
                self.states.append((structure.get_value("state"), structure.get_value("participant")))


def drops(stats):
    return sum(stats.get_value(f"dropped-{reason}") for reason in
               ("no-key", "unknown-key-index", "authentication-failed", "malformed"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--receiver-passphrase", default=PASSPHRASE)
    args = parser.parse_args()
    load_plugin()
    result = Call(args.frames, args.frames // 3, 2 * args.frames // 3, args.receiver_passphrase).run()
    sender, receiver = result["sender-stats"], result["receiver-stats"]
    print(f"sent={result['sent']} encrypted={sender.get_value('frames-processed')} "
          f"decrypted={receiver.get_value('frames-processed')} decoded={result['decoded']} "
          f"dropped={drops(receiver)}")
    print(f"verification codes after the rotation: sender {result['codes'].get('sender')}, "
          f"receiver {result['codes'].get('receiver')}")
    print(f"receiver followed ratchets (key index, steps): {result['ratchets']}")
    print(f"receiver stream states: {result['states']}")


if __name__ == "__main__":
    main()
