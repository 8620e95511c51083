"""A throw-away Prosody for a local room: 127.0.0.1 only, a free port, a temp dir,
anonymous logins, no TLS, a MUC component without room locking.

    with LocalProsody() as server:
        print(server.port, server.muc)      # e.g. 40123 muc.localhost

The server is a child process that dies with its parent (PR_SET_PDEATHSIG) and is
stopped when the `with` block ends, even on an exception. Every message and presence
that a client sends to a room occupant or a room is also written to
`server.stanza_log`, one stanza per line, as the server received it (for tests).

Run as a program, it serves until Ctrl-C: `python3 examples/local_prosody.py`.
Debian's packages: prosody (0.12). Use /usr/bin/python3.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DOMAIN = "localhost"
MUC = "muc." + DOMAIN

CONFIG = """\
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}"
certificates = "{dir}"
plugin_paths = {{ "{dir}" }}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_require_encryption = false
modules_enabled = {{ "saslauth", "disco", "ping", "record_stanzas" }}
modules_disabled = {{ "s2s", "s2s_auth_certs", "offline" }}
storage = "memory"
record_stanzas_file = "{dir}/stanzas.log"
VirtualHost "{domain}"
    authentication = "anonymous"
Component "{muc}" "muc"
    muc_room_locking = false
"""

# Loaded on the client host: sees each stanza a client sends before it is routed.
RECORD_MODULE = """\
local file = assert(io.open(module:get_option_string("record_stanzas_file"), "a"));
local function record(event)
    file:write((tostring(event.stanza):gsub("\\n", " ")), "\\n");
    file:flush();
end
module:hook("pre-message/full", record, 1000);
module:hook("pre-presence/full", record, 1000);
module:hook("pre-presence/bare", record, 1000);
"""

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: nothing is loaded between fork and exec


def free_port():
    """A port that was free a moment ago (a small race, acceptable here)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """For subprocess.Popen's preexec_fn: the child gets SIGTERM when its parent dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalProsody:
    def __init__(self, start_timeout=10.0):
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = None
        self.port = None
        self.domain = DOMAIN
        self.muc = MUC

    @property
    def stanza_log(self):
        return os.path.join(self.dir, "stanzas.log")

    def log(self):
        try:
            with open(os.path.join(self.dir, "prosody.log")) as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        if not shutil.which("prosody"):
            raise RuntimeError("prosody is not installed (Debian package prosody; scripts/install-deps)")
        self.dir = tempfile.mkdtemp(prefix="jframe-prosody-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prosody.cfg.lua")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(dir=self.dir, port=self.port, domain=DOMAIN, muc=MUC))
        with open(os.path.join(self.dir, "mod_record_stanzas.lua"), "w") as f:
            f.write(RECORD_MODULE)
        with open(os.path.join(self.dir, "stdout.log"), "w") as out:
            # preexec_fn is not thread-safe: start the server before any thread.
            self.proc = subprocess.Popen(["prosody", "-F", "--config", cfg], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"prosody did not open port {self.port}:\n{self.log()}")
                time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL) and removes its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    with LocalProsody() as server:
        print(f"prosody on 127.0.0.1:{server.port}, rooms at {server.muc}; Ctrl-C stops it", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
