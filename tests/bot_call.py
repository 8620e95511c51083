#!/usr/bin/python3
"""Two room bots (bot/jframebot, `--media webrtc`) in a Jingle call with each other over webrtcbin, on a local
Prosody: call.py on both ends of the call, without a browser (tests/jitsi_call.py is the call with lib-jitsi-meet).

Run by tests/xmpp_room.rs (`cargo test --test xmpp_room`) with GST_PLUGIN_PATH set to the plugin just built.
By hand:

    GST_PLUGIN_PATH=target/release /usr/bin/python3 tests/bot_call.py

It re-executes itself in a network namespace with only `lo` (`unshare -n`, `unshare -rn` when not root): the bots'
ICE offers every local address, and there only 127.0.0.1 exists. The scenario: A calls B as soon as it holds B's
key (`--call`, `--record`); both decode each other; `hangup` and `call` give a second session; B leaves and comes
back, and A calls it again. Checks: every session decodes both ways with no decryption failure once keys are in,
the SAS is the same at both ends and verified, the recording decodes to the frame counts A reported.
BOT_CALL_ARGS adds arguments to both bots (`--drop-key-messages` must make it fail). Ends with `N passed, M failed`.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
from local_prosody import LocalProsody  # noqa: E402

NETNS_ENV = "BOT_CALL_IN_NETNS"
NICKS = {"A": "1a1a1a1a", "B": "2b2b2b2b"}  # A < B: A starts the Olm session and the SAS
ROOM = "botcall@muc.localhost"
KINDS = ("video", "audio")


class Bot:
    def __init__(self, label, port, extra):
        self.label, self.nick = label, NICKS[label]
        command = ["/usr/bin/python3", "-m", "jframebot", "--server", f"127.0.0.1:{port}", "--room", ROOM,
                   "--nick", self.nick, "--debounce", "0.3", "--confirm-sas", "--json"] + extra
        self.proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bot")),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def count(self, pattern):
        with self.lock:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def summary(self):
        with self.lock:
            found = [line for line in self.lines if line.startswith("summary-json: ")]
        return json.loads(found[-1][len("summary-json: "):]) if found else {}

    def output(self):
        with self.lock:
            return "\n".join(f"  [{self.label}] {line}" for line in self.lines)


def wait_for(expected, timeout=30):
    """expected: [(bot, regex, times)]; waits until each bot printed a matching line that many times."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [f"{bot.label}: {pattern} x{times}" for bot, pattern, times in expected if bot.count(pattern) < times]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.05)


def session_up(a, b, n_a, n_b):
    """A's n_a-th and B's n_b-th session is active, and both decode video and audio in it."""
    return [(a, f"^call with {b.nick}: active \\(initiator\\)$", n_a), (b, f"^call with {a.nick}: active", n_b)] + \
        [(x, f"^decoding {kind} from {y.nick}$", n) for x, y, n in ((a, b, n_a), (b, a, n_b)) for kind in KINDS]


def decode_file(path):
    """{kind: frames} of a WebM, demuxed and decoded by GStreamer."""
    pipeline = Gst.parse_launch(f"filesrc location={path} ! matroskademux name=d "
                                "d.video_0 ! queue ! vp8dec name=video ! fakesink sync=false "
                                "d.audio_0 ! queue ! opusdec name=audio ! fakesink sync=false")
    counts = {kind: 0 for kind in KINDS}

    def count(_pad, _info, kind):
        counts[kind] += 1
        return Gst.PadProbeReturn.OK

    for kind in KINDS:
        pipeline.get_by_name(kind).get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, count, kind)
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    return counts if message is not None and message.type == Gst.MessageType.EOS else None


def main():
    if os.environ.get(NETNS_ENV) != "1":
        unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
        os.execvpe(unshare[0], unshare + ["--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable,
                                          os.path.abspath(__file__)], dict(os.environ, **{NETNS_ENV: "1"}))
    Gst.init(None)
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        passed, failed = passed + bool(ok), failed + (not ok)
        print(("ok - " if ok else "FAIL - ") + name + (f": {detail}" if detail else ""), flush=True)
        return ok

    extra = shlex.split(os.environ.get("BOT_CALL_ARGS", ""))
    bots = {}
    with LocalProsody() as server, tempfile.TemporaryDirectory(prefix="bot-call-") as scratch:
        record = os.path.join(scratch, "call.webm")
        try:
            a = bots["A"] = Bot("A", server.port, ["--call", "--record", record] + extra)
            b = bots["B"] = Bot("B", server.port, extra)
            missing = wait_for(session_up(a, b, 1, 1) + [(x, "^verification with .*: verified$", 1) for x in (a, b)])
            if check("A calls B once it holds B's key; both decode video and audio; both verified the SAS",
                     not missing, f"missing {missing}"):
                a.command("hangup")
                missing = wait_for([(x, "^call with .*: ended \\(success\\)$", 1) for x in (a, b)])
                check("`hangup` ends the call at both ends", not missing, f"missing {missing}")
                a.command("call")
                missing = wait_for(session_up(a, b, 2, 2))
                check("`call` starts a second session, decoded both ways", not missing, f"missing {missing}")
                code = b.stop()
                missing = wait_for([(a, "^call with .*: ended ", 2), (a, f"^peer left: {b.nick}$", 1)])
                check("B leaves (exit status 0): the call ends", code == 0 and not missing, f"{code}, {missing}")
                summary_b1 = b.summary()
                b = bots["B2"] = Bot("B", server.port, extra)
                # The SAS of the new Olm session too: quitting before it is confirmed would leave it unverified.
                missing = wait_for(session_up(a, b, 3, 1) + [(a, "^verification with .*: verified$", 2),
                                                             (b, "^verification with .*: verified$", 1)])
                check("B comes back: A calls it again, decoded both ways, the new SAS verified at both ends",
                      not missing, f"missing {missing}")
                a.command("quit")
                check("A quits with exit status 0", a.stop() == 0)
                b.stop()
                summary_a = a.summary()
                peer_a = summary_a.get("peers", {}).get(NICKS["B"], {})  # B as it came back
                peer_b1 = summary_b1.get("peers", {}).get(NICKS["A"], {})
                peer_b = b.summary().get("peers", {}).get(NICKS["A"], {})
                # One stream per kind and session: A had three sessions, B two, then (back) one.
                streams = {f"A<-B {k}": (peer_a.get(k, []), 3) for k in KINDS}
                streams.update({f"B<-A {k}": (peer_b1.get(k, []) + peer_b.get(k, []), 3) for k in KINDS})
                decoded = {name: [s["decoded"] for s in st] for name, (st, _) in streams.items()}
                failures = {name: sum(s["failed-after-key"] for s in st) for name, (st, _) in streams.items()}
                check("every stream of every session decoded frames, none failed once keys were in",
                      all(len(decoded[name]) == n and min(decoded[name]) > 0 for name, (_, n) in streams.items())
                      and not any(failures.values()), f"decoded {decoded}, failures {failures}")
                sas_a, sas_b = peer_a.get("sas"), peer_b.get("sas")
                check("the same SAS at both ends, both verified", sas_a and sas_a == sas_b and peer_a.get("verified")
                      and peer_b.get("verified"), f"{sas_a} / {sas_b}")
                call = summary_a.get("call", {})
                check("A's summary counts its sessions", call.get("sessions-started") == 3, str(call))
                recorded, in_file = call.get("recorded"), decode_file(record)
                check("the recording (the first call) decodes to the frame counts A reported",
                      recorded and in_file == recorded and min(recorded.values()) > 0, f"{recorded} / {in_file}")
        finally:
            for bot in bots.values():
                bot.stop()
    crashed = [label for label, bot in bots.items() if bot.count("Traceback")]
    check("no bot raised an exception", not crashed, str(crashed))
    if failed:
        for bot in bots.values():
            print(bot.output())
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
