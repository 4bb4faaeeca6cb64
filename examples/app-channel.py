#!/usr/bin/env python3
"""The application channel of signalsink and signalsrc, from Python.

A "robot" publishes its camera with signalsink and an application channel
called "robot"; a "remote" watches it with signalsrc and drives it over the
same channel. Both run in this process for the example: in real life they
are two machines and the server one of them (or signalbin-server).

    GST_PLUGIN_PATH=build/gst-plugin python3 examples/app-channel.py

It prints what each side hears and exits 0 once both have heard the other
(1 after 30 s without).
"""
import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
heard = {"robot": False, "remote": False}

robot = Gst.parse_launch(
    "videotestsrc is-live=true ! video/x-raw,width=320,height=240 ! "
    "signalsink name=sink run-server=true server-url=ws://127.0.0.1:0 "
    "ice-local-addresses=127.0.0.1 meta=\"meta,name=robot\" app-data-channel=robot"
)
sink = robot.get_by_name("sink")


def robot_heard(sink, peer_id, text):
    command = json.loads(text)
    print(f"robot: {peer_id} says {command}")
    heard["robot"] = True
    # Answer that consumer only.
    sink.emit("send-app-message", peer_id, json.dumps({"battery": 0.82, "speed": command["drive"][0]}))


sink.connect("app-message", robot_heard)
robot.set_state(Gst.State.PLAYING)
robot.get_state(Gst.CLOCK_TIME_NONE)
port = sink.get_property("server-port")

remote = Gst.parse_launch(
    f"signalsrc name=src server-url=ws://127.0.0.1:{port} producer-name=robot "
    "ice-local-addresses=127.0.0.1 app-data-channel=robot ! fakesink"
)
src = remote.get_by_name("src")


def remote_heard(src, text):
    print(f"remote: the robot says {json.loads(text)}")
    heard["remote"] = True
    GLib.idle_add(loop.quit)


src.connect("app-message", remote_heard)  # on webrtcbin's thread: do not block here
remote.set_state(Gst.State.PLAYING)


def drive():
    # FALSE until the channel is open: try again.
    if src.emit("send-app-message", json.dumps({"drive": [0.5, 0.0]})):
        return GLib.SOURCE_REMOVE
    return GLib.SOURCE_CONTINUE


GLib.timeout_add(100, drive)
GLib.timeout_add_seconds(30, loop.quit)
loop.run()
remote.set_state(Gst.State.NULL)
robot.set_state(Gst.State.NULL)
ok = heard["robot"] and heard["remote"]
print("both sides heard each other" if ok else f"not heard: {heard}")
sys.exit(0 if ok else 1)
