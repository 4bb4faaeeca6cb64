"""One signalsink -> signalsrc session across a NetBed, through a sequence of
impairments ("phases"), and what the viewer saw in each.

The sender (`signalbin-bench-media net-send`, side a) stamps every frame
with its clock in four bands; the receiver (`net-receive`, side b) reports
every decoded frame and whether it is clean (all four stamps read back,
equal, newer than the last clean one). Per phase: clean frames as a share
of the frames the source made, the longest time without a new clean frame
(a frozen or broken picture), the latency of clean frames, and from the
sender's stats its bitrate, the NACKs and PLIs it received and what it
retransmitted.
"""

import json
import os
import statistics
import subprocess
import threading
import time

from netbed import NetBed


class PhaseError(RuntimeError):
    pass


def bench_program(build):
    """signalbin-bench-media in a build directory."""
    return os.path.join(build, "bench", "media", "signalbin-bench-media")


def environment(build, tmp):
    """The programs' environment: our plugin from `build`, a GStreamer
    registry of their own in the directory `tmp`."""
    return dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "gst-plugin"),
                GST_REGISTRY=os.path.join(tmp, "registry.dat"))


# The phases of the table, by name.
KNOWN = {
    "none": {},
    "1mbit": {"rate_kbit": 1000},
    "500kbit": {"rate_kbit": 500},
    "loss2": {"loss": 0.02},
    "loss5": {"loss": 0.05},
}


def phase(name):
    if name not in KNOWN:
        raise PhaseError("unknown phase %s (known: %s)" % (name, ", ".join(KNOWN)))
    return dict(KNOWN[name], name=name)


class _Lines:
    """JSON lines from a process's stdout, collected by a thread."""

    def __init__(self, process, log):
        self.items = []
        self.lock = threading.Lock()
        self.log = log
        self.thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            try:
                item = json.loads(line)
            except ValueError:
                if self.log:
                    self.log.write(line)
                continue
            with self.lock:
                self.items.append(item)

    def snapshot(self):
        with self.lock:
            return list(self.items)


def _wait(condition, timeout_s, what, processes):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        for p in processes:
            if p.poll() is not None:
                raise PhaseError("%s: a program exited (status %d) before that" % (what, p.returncode))
        time.sleep(0.1)
    raise PhaseError("%s: not within %d s" % (what, timeout_s))


def _consumer(stats_line, key=None):
    consumers = stats_line.get("stats", {})
    if key is not None:
        return consumers.get(key)
    values = list(consumers.values())
    return values[0] if values else None


def _viewer(lines, t0, t1):
    """What Chromium's own stats said of the phase (receive side)."""
    in_phase = [line["viewer"] for line in lines if t0 <= line["t"] < t1]
    if not in_phase:
        return None

    def delta(field):
        values = [v.get(field, 0) for v in in_phase]
        return values[-1] - values[0]

    return {
        "codec": in_phase[-1].get("codec"),
        "frame_heights": sorted({v["frameHeight"] for v in in_phase if "frameHeight" in v}),
        "frames_decoded": delta("framesDecoded"),
        "frames_dropped": delta("framesDropped"),
        "packets_lost": delta("packetsLost"),
        "nacks_sent": delta("nackCount"),
        "plis_sent": delta("pliCount"),
        "freezes": delta("freezeCount"),
        "freezes_s": round(delta("totalFreezesDuration"), 2),
    }


def _summarize(spec, t0, t1, frames, stats, fps, key=None, viewer_lines=()):
    window = [f for f in frames if t0 <= f["t"] < t1]
    # Clean frames by when they were sent (arrival less latency): at most
    # every frame of the phase, whatever arrives late from the one before.
    clean = [f for f in frames if f["clean"] and t0 <= f["t"] - f["latency_ms"] / 1000.0 < t1]
    times = [t0] + [f["t"] for f in clean if f["t"] < t1] + [t1]
    frozen = max(b - a for a, b in zip(times, times[1:]))
    latencies = [f["latency_ms"] for f in clean]
    in_phase = [c for c in (_consumer(s, key) for s in stats if t0 <= s["t"] < t1) if c]
    bitrates = [c.get("bitrate", 0) for c in in_phase]
    rtts = [c["round-trip-time"] * 1000 for c in in_phase if c.get("round-trip-time", -1) >= 0]
    fps_sent = [c["frames-per-second"] for c in in_phase if "frames-per-second" in c]

    def delta(field):
        values = [c.get(field, 0) for c in in_phase]
        return (values[-1] - values[0]) if len(values) >= 2 else 0

    # Second by second, for the plots: what the sender estimated and sent,
    # its tier, and the clean frames that arrived.
    timeline = []
    for second in range(int(t1 - t0)):
        a, b = t0 + second, t0 + second + 1
        now = [c for c in (_consumer(s, key) for s in stats if a <= s["t"] < b) if c]
        last = now[-1] if now else {}
        timeline.append({
            "t": second,
            "estimate_kbps": round(last.get("estimated-bitrate", 0) / 1000),
            "sent_kbps": round(last.get("bitrate", 0) / 1000),
            "tier": last.get("tier"),
            "frame_height": last.get("frame-height"),  # Chromium's: it scales, it has no tiers
            "queue_delay_ms": round(last.get("queue-delay", 0) * 1000, 1),
            "clean_fps": sum(1 for f in clean if a <= f["t"] < b),
        })
    expected = fps * (t1 - t0)
    return {
        "monotonic_start": t0,  # the clock of the programs' timestamps too
        "monotonic_end": t1,
        "timeline": timeline,
        "phase": spec["name"],
        "rate_kbit": spec.get("rate_kbit"),
        "loss": spec.get("loss", 0),
        "seconds": round(t1 - t0, 2),
        "frames_expected": round(expected),
        "frames_decoded": len(window),
        "frames_clean": len(clean),
        "clean_pct": min(100.0, round(100.0 * len(clean) / expected, 1)) if expected else 0,
        "longest_frozen_s": round(frozen, 2),
        "latency_median_ms": statistics.median(latencies) if latencies else None,
        "sender_kbps": round(statistics.mean(bitrates) / 1000) if bitrates else None,
        "nacks": delta("nack-count"),
        "plis": delta("keyframe-requests"),
        "retransmitted_kbytes": round(delta("retransmitted-bytes") / 1000, 1),
        "fraction_lost_max": max((c.get("fraction-lost", 0) for c in in_phase), default=0),
        "rtt_ms_median": statistics.median(rtts) if rtts else None,
        "codec": next((c["codec"] for c in in_phase[::-1] if c.get("codec")), None),
        # A Chromium sender's own frame rate and what it says limits it.
        "sender_fps": round(statistics.mean(fps_sent), 1) if fps_sent else None,
        "quality_limitation": sorted({c["quality-limitation"] for c in in_phase if c.get("quality-limitation")}),
        "frame_heights": sorted({c["frame-height"] for c in in_phase if c.get("frame-height")}),
        "viewer": _viewer(viewer_lines, t0, t1),
    }


# The peers a session can have, by name: on side a a sender, on side b a
# receiver (bench/net/browser.mjs drives Chromium).
SENDERS = ("signalsink", "chromium")
RECEIVERS = ("signalsrc", "chromium")


class Peers:
    """How to start each peer: signalbin-bench-media (`program`), node with
    bench/net/browser.mjs, signalbin-server for a Chromium sender."""

    def __init__(self, program, build, env, log=None):
        self.program = program
        self.build = build
        self.env = env
        self.log = log
        self.browser = [os.environ.get("NODE", "node"), os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                     "browser.mjs")]
        self.server = os.path.join(build, "signaling-server", "signalbin-server")

    def start(self, bed, side, argv):
        return bed.run(side, argv, stdout=subprocess.PIPE, stderr=self.log or subprocess.DEVNULL, text=True,
                       env=self.env)

    def sender(self, bed, kind, port, common, send_args):
        """Starts the sender on side a; (the processes started, its output)."""
        url = "ws://%s:%s" % (bed.address["a"], port)
        if kind == "signalsink":
            p = self.start(bed, "a", [self.program, "net-send", "--address", bed.address["a"], "--port", port]
                           + common + list(send_args))
            return [p], _Lines(p, self.log)
        if kind != "chromium":
            raise PhaseError("unknown sender %s (known: %s)" % (kind, ", ".join(SENDERS)))
        # A producer in Chromium needs a server to publish to.
        server = self.start(bed, "a", [self.server, "--host", bed.address["a"], "--port", port])
        lines = _Lines(server, self.log)
        _wait(lambda: server.poll() is None and _listening(bed, port), 30, "signalbin-server listening", [server])
        p = self.start(bed, "a", self.browser + ["send", "--server-url", url, "--build", self.build] + common)
        return [server, p], _Lines(p, self.log)

    def receiver(self, bed, kind, port, common, side="b"):
        url = "ws://%s:%s" % (bed.address["a"], port)
        if kind == "signalsrc":
            p = self.start(bed, side, [self.program, "net-receive", "--server-url", url] + common)
        elif kind == "chromium":
            p = self.start(bed, side, self.browser + ["receive", "--server-url", url, "--build", self.build] + common)
        else:
            raise PhaseError("unknown receiver %s (known: %s)" % (kind, ", ".join(RECEIVERS)))
        return p, _Lines(p, self.log)


def _listening(bed, port):
    return bed.ip("a", ["bash", "-c", "exec 3<>/dev/tcp/%s/%s" % (bed.address["a"], port)], check=False).returncode == 0


def measure(peers, phases, seconds, width=1280, height=720, fps=30, start_timeout_s=90, send_args=(),
            second_viewer=False, sender="signalsink", receiver="signalsrc"):
    """Runs the phases (dicts from phase()) in order, `seconds` each, on a new
    NetBed, between a `sender` and a `receiver` (names from SENDERS and
    RECEIVERS) started by `peers` (a Peers); returns one summary per phase.
    With `second_viewer`, another receiver of the same kind watches from the
    sender's own namespace, where no impairment reaches it; then the result
    is (the impaired viewer's summaries, the other's)."""
    common = ["--width", str(width), "--height", str(height), "--fps", str(fps)]
    with NetBed() as bed:
        port = "8443"
        senders, sent = peers.sender(bed, sender, port, common, send_args)
        _wait(lambda: any(i.get("ready") for i in sent.snapshot()), start_timeout_s, "sender ready", senders)
        first, received = peers.receiver(bed, receiver, port, common)
        _wait(lambda: sum(1 for f in received.snapshot() if f.get("clean")) >= fps, start_timeout_s,
              "first second of clean frames", senders + [first])
        keys = [None]
        processes = [first]
        viewers = [received]
        if second_viewer:
            # Told apart in the sender's stats by who came first.
            known = [k for line in sent.snapshot() for k in line.get("stats", {})]
            keys = [known[-1]]
            other, lines = peers.receiver(bed, receiver, port, common, side="a")
            processes.append(other)
            viewers.append(lines)
            _wait(lambda: sum(1 for f in viewers[1].snapshot() if f.get("clean")) >= fps, start_timeout_s,
                  "the second viewer's first second of clean frames", senders + processes)
            both = [k for line in sent.snapshot()[-2:] for k in line.get("stats", {})]
            keys.append(next(k for k in both if k != keys[0]))
        windows = []
        for spec in phases:
            bed.clear()
            if spec.get("rate_kbit"):
                bed.shape("a", spec["rate_kbit"], spec.get("queue_ms", 300))
            if spec.get("loss"):
                bed.loss("b", spec["loss"], spare_tcp_port=port)
            t0 = time.monotonic()
            deadline = t0 + seconds
            while time.monotonic() < deadline:
                for p in senders + processes:
                    if p.poll() is not None:
                        raise PhaseError("phase %s: a program exited (status %d)" % (spec["name"], p.returncode))
                time.sleep(0.2)
            windows.append((spec, t0, time.monotonic()))
        bed.clear()
        for p in processes[::-1] + senders[::-1]:
            status = bed.stop(p)
            if status != 0:
                raise PhaseError("a program exited with status %d when stopped" % status)
        stats = [s for s in sent.snapshot() if "stats" in s]
        results = []
        for viewer, key in zip(viewers, keys):
            lines = viewer.snapshot()
            frames = [f for f in lines if "clean" in f]
            chromium = [line for line in lines if "viewer" in line]
            results.append([_summarize(spec, t0, t1, frames, stats, fps, key, chromium) for spec, t0, t1 in windows])
        return tuple(results) if second_viewer else results[0]


def table(results):
    """Markdown rows, as docs/networks.md shows them."""
    rows = ["| phase | clean frames | longest frozen picture | latency median | sender bitrate | NACKs | key-frame requests "
            "| retransmitted |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        latency = "%.0f ms" % r["latency_median_ms"] if r["latency_median_ms"] is not None else "-"
        rate = "%d kbit/s" % r["sender_kbps"] if r["sender_kbps"] is not None else "-"
        rows.append("| %s | %.1f %% | %.1f s | %s | %s | %d | %d | %.0f kB |" % (
            r["phase"], r["clean_pct"], r["longest_frozen_s"], latency, rate, r["nacks"], r["plis"],
            r["retransmitted_kbytes"]))
    return "\n".join(rows)
