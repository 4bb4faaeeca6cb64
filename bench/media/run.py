#!/usr/bin/env python3
"""Media benchmarks of signalbin (A) against plain webrtcbin (B), on loopback.

Runs build/bench/media/signalbin-bench-media (build it first: ninja -C build):

  1. first-frame: time from a receiver reaching PLAYING to its first decoded
     frame, A (signalsrc against a running signalsink) and B (webrtcbin ->
     decodebin against a webrtcbin sender, gst-examples style) interleaved.
  2. latency: end-to-end latency of every frame (a frame number drawn into
     the picture, read back after decoding), A and B interleaved.
  3. fan-out: the producer's own CPU and memory with N consumers, for one
     shared encoder (signalsink) and one encoder per consumer, interleaved
     per N; consumers run in a second process and do not decode.

Prints tables and writes every raw number to --out (JSON). Every process it
starts is killed before it exits, whatever happens. The default plan takes
about 6 minutes on 2 cores; --quick is a short smoke run.
"""

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


# ---- processes -------------------------------------------------------------------

class Processes:
    """Every child, in its own process group, killed on the way out."""

    def __init__(self):
        self.children = []

    def start(self, cmd, env, stderr_path):
        err = open(stderr_path, "ab")
        err.write(("\n$ " + " ".join(cmd) + "\n").encode())
        err.flush()
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             start_new_session=True)
        err.close()
        self.children.append(p)
        return p

    def stop(self, p, grace=10.0, exit_wait=0.0):
        """Waits `exit_wait` seconds for `p` to end by itself, then SIGTERM,
        then SIGKILL after `grace` seconds. Returns the rest of its stdout."""
        if exit_wait > 0:
            try:
                p.wait(timeout=exit_wait)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            out, _ = p.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = p.communicate()
        if p in self.children:
            self.children.remove(p)
        return out.decode(errors="replace") if out else ""

    def kill_all(self):
        for p in list(self.children):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.communicate(timeout=5)
            except Exception:
                pass
        self.children.clear()


PROCS = Processes()


def read_line(p, timeout):
    """The next stdout line of `p` within `timeout` seconds, or None."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not sel.select(timeout=left):
                return None
            chunk = os.read(p.stdout.fileno(), 1)
            if not chunk:
                return buf.decode(errors="replace") if buf else None
            if chunk == b"\n":
                return buf.decode(errors="replace")
            buf += chunk
    finally:
        sel.close()


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_bench(args, env, subcommand, options, timeout):
    """Runs one subcommand to completion; its JSON result (or an error dict)."""
    cmd = [args.binary, subcommand] + options
    p = PROCS.start(cmd, env, args.log)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = PROCS.stop(p, grace=5).encode()
        result = last_json(out.decode(errors="replace")) or {}
        result.setdefault("error", "timed out after %d s" % timeout)
        return result
    PROCS.children.remove(p)
    result = last_json(out.decode(errors="replace"))
    if result is None:
        return {"error": "no JSON result (exit code %s); see %s" % (p.returncode, args.log)}
    return result


def size_options(args):
    return ["--width", str(args.width), "--height", str(args.height), "--fps", str(args.fps),
            "--motion", str(args.motion)]


# ---- the three parts -------------------------------------------------------------

def first_frame(args, env):
    options = ["--repeats", str(args.first_frame_repeats)] + size_options(args)
    return run_bench(args, env, "first-frame", options, timeout=120 + 40 * args.first_frame_repeats)


def latency(args, env):
    options = ["--seconds", str(args.latency_seconds), "--repeats", str(args.latency_repeats),
               "--settle-s", str(args.latency_settle)] + size_options(args)
    per_run = args.latency_seconds + args.latency_settle + 40
    return run_bench(args, env, "latency", options, timeout=60 + 2 * args.latency_repeats * per_run)


def finish_consumer(p):
    """SIGTERM `p` (consume), read its result, and make sure it is gone."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    line = read_line(p, timeout=15)
    result = json.loads(line) if line and line.startswith("{") else None
    took = time.monotonic()
    PROCS.stop(p, grace=10)
    if result is not None:
        result["teardown_s"] = round(time.monotonic() - took, 1)
    return result


def fanout_one(args, env, n, design):
    # One encoder per consumer saturates 2 cores from N = 16 at 720p30, and
    # sessions then take long to come up: wait a bounded time, then measure
    # with whoever streams (the result says how many).
    join_timeout = min(15 + n, 40)
    produce_cmd = [args.binary, "produce", "--consumers", str(n), "--design", design,
                   "--seconds", str(args.fanout_seconds), "--idle-seconds", str(args.idle_seconds),
                   "--join-timeout-s", str(join_timeout)] + size_options(args)
    producer = PROCS.start(produce_cmd, env, args.log)
    consumer = None
    try:
        line = read_line(producer, timeout=60 + n)
        ready = json.loads(line) if line and line.startswith("{") else None
        if not ready or ready.get("event") != "ready":
            rest = PROCS.stop(producer, grace=5)
            return {"error": "producer not ready", "output": (line or "") + rest[-2000:]}
        names = ready["names"]
        consume_cmd = [args.binary, "consume", "--server-url", ready["url"], "--consumers", str(n),
                       "--names", ",".join(names),
                       "--max-seconds", str(join_timeout + args.fanout_seconds + 90)] + size_options(args)
        consumer = PROCS.start(consume_cmd, env, args.log)
        line = read_line(producer, timeout=join_timeout + args.fanout_seconds + 60)
        result = json.loads(line) if line and line.startswith("{") else {"error": "no result from producer",
                                                                           "output": line}
        rest = PROCS.stop(producer, grace=10, exit_wait=15)
        if "error" in result and rest:
            result["output"] = rest[-2000:]
        consumed = finish_consumer(consumer)
        consumer = None
        result["consume"] = consumed
        return result
    finally:
        if consumer is not None:
            PROCS.stop(consumer, grace=5)
        if producer.poll() is None or producer in PROCS.children:
            PROCS.stop(producer, grace=5)


def fanout(args, env, deadline):
    runs = []
    skipped = []
    for i, n in enumerate(args.consumers):
        # A pair (shared + per-consumer) costs about 2 x (10 s + 0.6 s per consumer) plus the window.
        estimate = 2 * (args.fanout_seconds + args.idle_seconds + 8 + 0.6 * n)
        if time.monotonic() + estimate > deadline and i > 0:
            skipped.append(n)
            continue
        order = ["shared", "per-consumer"] if i % 2 == 0 else ["per-consumer", "shared"]
        pair = {}
        for design in order:
            started = time.monotonic()
            pair[design] = fanout_one(args, env, n, design)
            pair[design]["driver_seconds"] = round(time.monotonic() - started, 1)
            r = pair[design]
            print("  fan-out N=%-2d %-12s cpu %s s/s  rss %s MB  encoder fps %s  %s" % (
                n, design, fmt(r.get("cpu_s_per_s")), fmt(r.get("rss_mb")),
                fmt((r.get("encoder_fps") or {}).get("min")),
                "saturated: " + "; ".join(r.get("saturation", [])) if r.get("saturated") else
                ("error: " + r["error"] if "error" in r else "")), flush=True)
        runs.append({"consumers": n, "shared": pair["shared"], "per_consumer": pair["per-consumer"]})
    return {"runs": runs, "skipped_for_time": skipped}


# ---- summary ---------------------------------------------------------------------

def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%." + str(digits) + "g") % v
    return str(v)


def derive(results):
    """Ratios and targets from the raw results."""
    d = {}
    targets = []
    ff = results.get("first_frame") or {}
    if "signalbin" in ff:
        a = ff["signalbin"]["summary"]
        b = ff["baseline"]["summary"]
        d["first_frame_ms"] = {"signalbin": a, "baseline": b,
                               "ratio_baseline_over_signalbin": ff.get("ratio_baseline_over_signalbin"),
                               "cold_first_session": ff.get("cold_first_session_ms")}
        if a.get("n"):
            targets.append({"target": "first frame median <= 100 ms", "value": a["median"],
                            "met": a["median"] <= 100})
    lat = results.get("latency") or {}
    if "signalbin" in lat:
        d["latency_ms"] = {side: {k: lat[side][k] for k in ("decoded_median_ms", "decoded_p99_ms",
                                                             "displayed_median_ms", "displayed_p99_ms")}
                           for side in ("signalbin", "baseline")}
        d["latency_ms"]["ratio_baseline_over_signalbin_displayed"] = \
            lat.get("ratio_baseline_over_signalbin_displayed_median")
        d["latency_ms"]["ratio_baseline_over_signalbin_decoded"] = \
            lat.get("ratio_baseline_over_signalbin_decoded_median")
        s = lat["signalbin"]
        for kind in ("decoded", "displayed"):
            med = s[kind + "_median_ms"].get("median")
            p99 = s[kind + "_p99_ms"].get("median")
            if med is not None:
                targets.append({"target": "latency (%s) median <= 30 ms" % kind, "value": med, "met": med <= 30})
            if p99 is not None:
                targets.append({"target": "latency (%s) p99 <= 60 ms" % kind, "value": p99, "met": p99 <= 60})
    fo = results.get("fanout") or {}
    rows = []
    for run in fo.get("runs", []):
        s, p = run["shared"], run["per_consumer"]
        row = {"consumers": run["consumers"],
               "shared_cpu": s.get("cpu_s_per_s"), "per_consumer_cpu": p.get("cpu_s_per_s"),
               "shared_rss_mb": s.get("rss_mb"), "per_consumer_rss_mb": p.get("rss_mb"),
               "shared_idle_rss_mb": s.get("idle_rss_mb"),
               "shared_saturated": s.get("saturated"), "per_consumer_saturated": p.get("saturated"),
               "shared_min_fps": (s.get("encoder_fps") or {}).get("min"),
               "per_consumer_min_fps": (p.get("encoder_fps") or {}).get("min")}
        if s.get("cpu_s_per_s") and p.get("cpu_s_per_s"):
            row["cpu_ratio_per_consumer_over_shared"] = p["cpu_s_per_s"] / s["cpu_s_per_s"]
        if s.get("rss_mb") and s.get("idle_rss_mb") is not None:
            row["shared_rss_per_consumer_vs_idle_mb"] = (s["rss_mb"] - s["idle_rss_mb"]) / run["consumers"]
        rows.append(row)
    if rows:
        d["fanout"] = rows
        one = next((r for r in rows if r["consumers"] == 1), None)
        top = max(rows, key=lambda r: r["consumers"])
        if one and top is not one and one.get("shared_cpu") and top.get("shared_cpu"):
            ratio = top["shared_cpu"] / one["shared_cpu"]
            d["shared_cpu_growth"] = {"n": top["consumers"], "cpu_n_over_cpu_1": ratio}
            targets.append({"target": "shared CPU(%d)/CPU(1) <= 2.0" % top["consumers"], "value": ratio,
                            "met": ratio <= 2.0})
        if one and top is not one and one.get("shared_rss_mb") and top.get("shared_rss_mb"):
            per = (top["shared_rss_mb"] - one["shared_rss_mb"]) / (top["consumers"] - 1)
            d["shared_rss_per_extra_consumer_mb"] = per
            targets.append({"target": "RSS per extra consumer <= 3 MB (shared, N=1..%d)" % top["consumers"],
                            "value": per, "met": per <= 3.0})
    d["targets"] = targets
    return d


def print_tables(results, d):
    ff = d.get("first_frame_ms")
    if ff:
        print("\nFirst frame (ms, receiver PLAYING -> first decoded frame)")
        print("  %-10s %8s %8s %8s %4s" % ("", "min", "median", "max", "n"))
        for side in ("signalbin", "baseline"):
            s = ff[side]
            print("  %-10s %8s %8s %8s %4s" % (side, fmt(s.get("min")), fmt(s.get("median")), fmt(s.get("max")),
                                             s.get("n")))
        r = ff.get("ratio_baseline_over_signalbin") or {}
        print("  baseline/signalbin per repeat: min %s median %s max %s" % (
            fmt(r.get("min")), fmt(r.get("median")), fmt(r.get("max"))))
        cold = ff.get("cold_first_session") or {}
        print("  first session of the process (not counted; B runs after A, so only A's is cold): "
              "signalbin %s ms, baseline %s ms" % (fmt(cold.get("signalbin")), fmt(cold.get("baseline"))))
    lat = d.get("latency_ms")
    if lat:
        print("\nEnd-to-end latency (ms; per run median and p99; min/median/max over repeats)")
        print("  %-10s %-22s %-22s %-22s %-22s" % ("", "decoded median", "decoded p99", "displayed median",
                                                   "displayed p99"))
        for side in ("signalbin", "baseline"):
            cells = []
            for k in ("decoded_median_ms", "decoded_p99_ms", "displayed_median_ms", "displayed_p99_ms"):
                m = lat[side][k]
                cells.append("%s/%s/%s" % (fmt(m.get("min")), fmt(m.get("median")), fmt(m.get("max"))))
            print("  %-10s %-22s %-22s %-22s %-22s" % tuple([side] + cells))
        for k in ("decoded", "displayed"):
            r = lat.get("ratio_baseline_over_signalbin_" + k) or {}
            print("  baseline/signalbin (%s median): min %s median %s max %s" % (
                k, fmt(r.get("min")), fmt(r.get("median")), fmt(r.get("max"))))
    rows = d.get("fanout")
    if rows:
        print("\nFan-out: producer process CPU (s/s) and RSS (MB) with N streaming consumers")
        print("  %3s %10s %10s %7s %9s %9s %9s %9s  %s" % ("N", "shared", "per-cons", "ratio", "rss-sh",
                                                         "rss-pc", "fps-sh", "fps-pc", "notes"))
        for r in rows:
            notes = []
            if r.get("shared_saturated"):
                notes.append("shared saturated")
            if r.get("per_consumer_saturated"):
                notes.append("per-consumer saturated")
            print("  %3d %10s %10s %7s %9s %9s %9s %9s  %s" % (
                r["consumers"], fmt(r.get("shared_cpu")), fmt(r.get("per_consumer_cpu")),
                fmt(r.get("cpu_ratio_per_consumer_over_shared")), fmt(r.get("shared_rss_mb")),
                fmt(r.get("per_consumer_rss_mb")), fmt(r.get("shared_min_fps")),
                fmt(r.get("per_consumer_min_fps")), ", ".join(notes)))
        if results["fanout"].get("skipped_for_time"):
            print("  skipped for time: N = %s" % results["fanout"]["skipped_for_time"])
        if "shared_cpu_growth" in d:
            g = d["shared_cpu_growth"]
            print("  shared CPU(%d)/CPU(1) = %s" % (g["n"], fmt(g["cpu_n_over_cpu_1"])))
        if "shared_rss_per_extra_consumer_mb" in d:
            print("  shared RSS per extra consumer = %s MB" % fmt(d["shared_rss_per_extra_consumer_mb"]))
    if d.get("targets"):
        print("\nTargets")
        for t in d["targets"]:
            print("  %-50s %10s  %s" % (t["target"], fmt(t["value"]), "met" if t["met"] else "NOT met"))


# ---- main ------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(SOURCE_ROOT, "build"), help="meson build directory")
    parser.add_argument("--out", default=None, help="JSON file for every raw number "
                        "(default: BUILD/bench/media/results.json)")
    parser.add_argument("--only", default="first-frame,latency,fanout",
                        help="comma-separated parts: first-frame, latency, fanout")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (320x240, few repeats)")
    parser.add_argument("--budget-s", type=float, default=330, help="fan-out N are skipped past this total")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--motion", type=int, default=0,
                        help="videotestsrc horizontal-speed (moving bars, costlier to encode); default 0")
    parser.add_argument("--first-frame-repeats", type=int, default=20)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--latency-repeats", type=int, default=3)
    parser.add_argument("--latency-settle", type=float, default=2)
    parser.add_argument("--fanout-seconds", type=float, default=8)
    parser.add_argument("--idle-seconds", type=float, default=1)
    parser.add_argument("--consumers", default="1,2,4,8,16,32", help="fan-out N, comma-separated")
    args = parser.parse_args()
    if args.quick:
        args.width, args.height = 320, 240
        args.first_frame_repeats = 3
        args.latency_seconds, args.latency_repeats, args.latency_settle = 3, 1, 1
        args.fanout_seconds, args.idle_seconds = 3, 1
        args.consumers = "1,2"
    args.consumers = [int(x) for x in args.consumers.split(",") if x]
    parts = set(args.only.split(","))

    build = os.path.abspath(args.build)
    args.binary = os.path.join(build, "bench", "media", "signalbin-bench-media")
    plugin_dir = os.path.join(build, "gst-plugin")
    if not os.access(args.binary, os.X_OK):
        sys.exit("no %s: build first (meson setup %s && ninja -C %s)" % (args.binary, build, build))
    out_path = args.out or os.path.join(build, "bench", "media", "results.json")
    args.log = os.path.join(os.path.dirname(os.path.abspath(out_path)), "bench-media.log")
    open(args.log, "w").close()

    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = plugin_dir + (os.pathsep + env["GST_PLUGIN_PATH"] if env.get("GST_PLUGIN_PATH") else "")
    env["GST_REGISTRY"] = os.path.join(build, "bench", "media", "registry.dat")
    env.setdefault("GST_DEBUG", "1")

    def on_signal(signum, _frame):
        PROCS.kill_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.monotonic()
    results = {"settings": {k: v for k, v in vars(args).items() if k not in ("binary", "log")},
               "machine": {"cores": os.cpu_count(), "load_before": os.getloadavg()}}
    try:
        if "first-frame" in parts:
            print("first-frame: %d repeats, A and B interleaved..." % args.first_frame_repeats, flush=True)
            t = time.monotonic()
            results["first_frame"] = first_frame(args, env)
            results["first_frame"]["driver_seconds"] = round(time.monotonic() - t, 1)
        if "latency" in parts:
            print("latency: %d repeats x %g s, A and B interleaved..." % (args.latency_repeats, args.latency_seconds),
                  flush=True)
            t = time.monotonic()
            results["latency"] = latency(args, env)
            results["latency"]["driver_seconds"] = round(time.monotonic() - t, 1)
        if "fanout" in parts:
            print("fan-out: N = %s, shared and per-consumer interleaved..." % args.consumers, flush=True)
            results["fanout"] = fanout(args, env, started + args.budget_s)
    finally:
        PROCS.kill_all()
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["load_after"] = os.getloadavg()
    for part in ("first_frame", "latency"):
        if part in results and "error" in results[part]:
            print("%s failed: %s" % (part, results[part]["error"]), file=sys.stderr)
    results["derived"] = derive(results)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    print_tables(results, results["derived"])
    print("\ntotal %.0f s; raw numbers in %s; bench output in %s" % (results["total_seconds"], out_path, args.log))


if __name__ == "__main__":
    main()
