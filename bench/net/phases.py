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
import statistics
import subprocess
import threading
import time

from netbed import NetBed


class PhaseError(RuntimeError):
    pass


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


def _summarize(spec, t0, t1, frames, stats, fps, key=None):
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
    }


def measure(program, phases, seconds, env, width=1280, height=720, fps=30, log=None, start_timeout_s=60,
            send_args=(), second_viewer=False):
    """Runs the phases (dicts from phase()) in order, `seconds` each, on a new
    NetBed; returns one summary per phase. `log` (a file) gets the programs'
    stderr and non-JSON output. With `second_viewer`, another receiver
    watches from the sender's own namespace, where no impairment reaches it;
    then the result is (the impaired viewer's summaries, the other's)."""
    common = ["--width", str(width), "--height", str(height), "--fps", str(fps)]
    with NetBed() as bed:
        port = "8443"
        sender = bed.run("a", [program, "net-send", "--address", bed.address["a"], "--port", port] + common
                         + list(send_args),
                         stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True, env=env)
        sent = _Lines(sender, log)
        _wait(lambda: any(i.get("ready") for i in sent.snapshot()), start_timeout_s, "sender ready", [sender])
        receiver = bed.run("b", [program, "net-receive", "--server-url", "ws://%s:%s" % (bed.address["a"], port)]
                           + common, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True, env=env)
        received = _Lines(receiver, log)
        _wait(lambda: sum(1 for f in received.snapshot() if f.get("clean")) >= fps, start_timeout_s,
              "first second of clean frames", [sender, receiver])
        keys = [None]
        processes = [receiver]
        viewers = [received]
        if second_viewer:
            # Told apart in the sender's stats by who came first.
            first = [k for line in sent.snapshot() for k in line.get("stats", {})]
            keys = [first[-1]]
            other = bed.run("a", [program, "net-receive", "--server-url", "ws://%s:%s" % (bed.address["a"], port)]
                            + common, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True, env=env)
            processes.append(other)
            viewers.append(_Lines(other, log))
            _wait(lambda: sum(1 for f in viewers[1].snapshot() if f.get("clean")) >= fps, start_timeout_s,
                  "the second viewer's first second of clean frames", [sender, receiver, other])
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
                for p in [sender] + processes:
                    if p.poll() is not None:
                        raise PhaseError("phase %s: a program exited (status %d)" % (spec["name"], p.returncode))
                time.sleep(0.2)
            windows.append((spec, t0, time.monotonic()))
        bed.clear()
        for p in processes[::-1] + [sender]:
            status = bed.stop(p)
            if status != 0:
                raise PhaseError("a program exited with status %d when stopped" % status)
        stats = [s for s in sent.snapshot() if "stats" in s]
        results = []
        for viewer, key in zip(viewers, keys):
            frames = [f for f in viewer.snapshot() if "clean" in f]
            results.append([_summarize(spec, t0, t1, frames, stats, fps, key) for spec, t0, t1 in windows])
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
