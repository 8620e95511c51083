#!/usr/bin/python3
"""The key store and the elements from Python (PyGObject), through examples/keystore_call.py:
every frame decrypts through a rotation and a ratchet, a wrong key is reported, and the
store's signals refuse what they cannot do. Ends with `N passed, M failed`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
import keystore_call as call  # noqa: E402
from keystore_call import Gst  # noqa: E402

import cases  # noqa: E402

FRAMES = 90


def every_frame_decrypts_through_a_rotation_and_a_ratchet():
    result = call.Call(FRAMES, 30, 60, call.PASSPHRASE).run()
    sender, receiver = result["sender-stats"], result["receiver-stats"]
    assert result["sent"] == FRAMES + 1, result["sent"]  # opusenc adds one frame at the end
    assert sender.get_value("frames-processed") == result["sent"]
    assert receiver.get_value("frames-processed") == result["sent"], receiver.to_string()
    assert result["decoded"] == result["sent"], result["decoded"]
    assert call.drops(receiver) == 0, receiver.to_string()
    assert result["ratchets"] == [(1, 1)], result["ratchets"]
    assert result["states"] == [("ok", "alice")], result["states"]
    assert result["codes"]["sender"] == result["codes"]["receiver"], result["codes"]


def a_wrong_key_is_reported_and_nothing_of_it_decodes():
    # The receiver's key at index 0 is wrong; the rotation to index 1 brings the right one.
    result = call.Call(FRAMES, 30, 60, "wrong passphrase").run()
    receiver = result["receiver-stats"]
    failed = receiver.get_value("dropped-authentication-failed")
    assert failed > 0, receiver.to_string()
    # Every frame encrypted before the rotation (the 30th was on its way when the keys changed).
    assert call.drops(receiver) == 30, receiver.to_string()
    assert result["decoded"] == result["sent"] - 30, result["decoded"]
    assert result["states"][0] == ("failing", "alice"), result["states"]
    assert result["states"][-1] == ("ok", "alice"), result["states"]


def the_store_refuses_what_it_cannot_do_and_reads_back_its_rules():
    store = call.new_key_store()
    assert store.emit("set-rules", "bob", call.rules_structure())
    rules = store.emit("get-rules", "bob")
    assert [rules.get_value(field) for field in call.RULES] == list(call.RULES.values()), rules.to_string()
    bad = Gst.Structure.new_from_string("application/x-jframe-rules, key-size=100")
    assert not store.emit("set-rules", "bob", bad)
    assert not store.emit("set-rules", "bob", Gst.Structure.new_from_string("application/x-jframe-rules, typo=1"))
    assert not store.emit("set-key", "carol", 0, call.key_buffer(b"short"), 1)  # a raw key of 5 bytes
    assert store.emit("get-verification-code", "carol") is None
    assert store.emit("set-key", "carol", 3, call.key_buffer(call.SECOND_KEY), call.KEY_MODE_HKDF)
    assert store.emit("get-verification-code", "carol") is not None
    store.emit("clear-keys", "carol")
    assert store.emit("get-verification-code", "carol") is None
    assert not store.emit("ratchet", "carol")


if __name__ == "__main__":
    call.load_plugin()
    cases.run([
        every_frame_decrypts_through_a_rotation_and_a_ratchet,
        a_wrong_key_is_reported_and_nothing_of_it_decodes,
        the_store_refuses_what_it_cannot_do_and_reads_back_its_rules,
    ])
