#!/usr/bin/env python3
"""Embedding signalsink and signalsrc in a Python (gi) program.

A "robot" publishes its camera with signalsink and an application channel
called "robot"; a "remote" watches it with signalsrc and drives it over the
same channel. The robot reacts to consumer-added and consumer-removed and
reads the `stats` of its consumers. Both run in this process for the
example: in real life they are two machines and the server one of them (or
signalbin-server). examples/app-channel.c is the same program in C.

    GST_PLUGIN_PATH=build/gst-plugin python3 examples/app-channel.py

(no GST_PLUGIN_PATH once installed). It prints what each side hears and
exits 0 once the consumer came, both have heard the other, its stats
counted bytes and it left (1 after 30 s without).

signalsink's signals come on its own threads (signalling, SCTP): the
handlers here only print, set flags, or hand work to the main loop.
"""
import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
heard = {"robot": False, "remote": False}
done = {"came": False, "stats": False, "left": False}

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


def consumer_added(sink, peer_id, webrtcbin):
    # Before negotiation: webrtcbin's properties could be set here.
    print(f"robot: consumer {peer_id} joined ({webrtcbin.get_name()})")
    done["came"] = True


def consumer_removed(sink, peer_id, webrtcbin):
    print(f"robot: consumer {peer_id} left")
    done["left"] = True
    GLib.idle_add(loop.quit)


sink.connect("app-message", robot_heard)
sink.connect("consumer-added", consumer_added)
sink.connect("consumer-removed", consumer_removed)
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


src.connect("app-message", remote_heard)  # on webrtcbin's thread: do not block here
remote.set_state(Gst.State.PLAYING)


def drive():
    # FALSE until the channel is open: try again.
    if src.emit("send-app-message", json.dumps({"drive": [0.5, 0.0]})):
        return GLib.SOURCE_REMOVE
    return GLib.SOURCE_CONTINUE


def read_stats():
    # A snapshot, refreshed every second; reading it never blocks.
    stats = sink.get_property("stats")
    for i in range(stats.n_fields()):
        name = stats.nth_field_name(i)
        if not name.startswith("consumer-"):
            continue
        consumer = stats.get_value(name)
        sent = consumer.get_value("bytes-sent")
        print(f"robot: stats of {consumer.get_value('peer-id')}: {consumer.get_value('connection-state')}, "
              f"{sent} bytes sent")
        done["stats"] = done["stats"] or sent > 0
    if heard["robot"] and heard["remote"] and done["stats"]:
        print("remote: leaving")
        remote.set_state(Gst.State.NULL)
        return GLib.SOURCE_REMOVE
    return GLib.SOURCE_CONTINUE


GLib.timeout_add(100, drive)
GLib.timeout_add_seconds(1, read_stats)
GLib.timeout_add_seconds(30, loop.quit)
loop.run()
remote.set_state(Gst.State.NULL)
robot.set_state(Gst.State.NULL)
ok = heard["robot"] and heard["remote"] and all(done.values())
print("done: the consumer came, both sides heard each other, its stats counted bytes, it left" if ok
      else f"not done: heard {heard}, {done}")
sys.exit(0 if ok else 1)
