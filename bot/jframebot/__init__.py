"""jframebot: a participant of a Jitsi Meet end-to-end encrypted room and call, in GStreamer.

Modules, one per concern: room (XMPP), keys (jframeolm), media (pipelines), jingle and session (Jingle
signalling, pure), call (a Jingle session's media), cli (the command line). Run as
`PYTHONPATH=bot /usr/bin/python3 -m jframebot --help`.
"""
