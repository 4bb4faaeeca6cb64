#!/usr/bin/env python3
"""Many consumers spread over the quality tiers: one shared signalsink
(`signalbin-bench-media produce`, 1280x720 at 30 fps) on side a of a star
of network namespaces, and groups of consumers (`consume`, signalsrc without
decoding), each group on a side of its own behind its own bottleneck. Then
the same consumers with no bottleneck at all, on one tier. Per run: the
producer's CPU, how many encoders ran (never more than the ladder's rungs),
the consumers per tier and what each group was sent.

    bench/net/spread.py                          # 4 groups of 8, 20 s each run
    bench/net/spread.py --per-group 2 --seconds 10
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netbed import NetBed  # noqa: E402
import phases  # noqa: E402
from phases import PhaseError, _Lines, _wait  # noqa: E402

# Per consumer, what each group's link carries: none (top tier), then about
# 1.4x the default ladder's rungs for a 2048 kbit/s top (40, 20 and 10 %),
# the chooser's headroom (0.8) and some room for audio-less overhead.
GROUP_KBIT = [None, 1150, 575, 290]


def run(program, env, log, groups, per_group, seconds, shaped, congestion_control=True):
    with NetBed(receivers=len(groups)) as bed:
        if shaped:
            for side, kbit in zip(bed.others, groups):
                if kbit:
                    bed.shape("a", kbit * per_group, 300, toward=side)
        producer = bed.run("a", [program, "produce", "--design", "shared", "--consumers", str(len(groups) * per_group),
                                 "--seconds", str(seconds), "--idle-seconds", "0", "--join-timeout-s", "240",
                                 "--address", bed.address["a"],
                                 "--congestion-control", "true" if congestion_control else "false"],
                           stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        out = _Lines(producer, log)
        _wait(lambda: any(i.get("event") == "ready" for i in out.snapshot()), 60, "producer ready", [producer])
        ready = next(i for i in out.snapshot() if i.get("event") == "ready")
        consumers = []
        for side in bed.others:
            consumers.append(bed.run(side, [program, "consume", "--server-url", ready["url"], "--names", "shared",
                                            "--consumers", str(per_group), "--max-seconds", str(seconds + 300)],
                                     stdout=log, stderr=log, text=True, env=env))
        # The producer waits for every consumer, measures, prints and exits.
        deadline = time.monotonic() + 240 + seconds + 60
        while producer.poll() is None:
            if time.monotonic() > deadline:
                raise PhaseError("the producer did not finish")
            time.sleep(0.5)
        for c in consumers:
            bed.stop(c)
        if producer.returncode != 0:
            raise PhaseError("the producer exited with status %d" % producer.returncode)
        result = next((i for i in out.snapshot() if i.get("command") == "produce"), None)
        if result is None:
            raise PhaseError("the producer printed no result")
        return result


def describe(name, r):
    per = sorted(r["per_consumer"].values(), key=lambda c: c["kbps"])
    kbps = [c["kbps"] for c in per]
    return {
        "run": name,
        "consumers": r["consumers"],
        "all_streaming": r["all_streaming"],
        "join_s": round(r["join_s"], 1),
        "cpu_s_per_s": round(r["cpu_s_per_s"], 3),
        "rss_mb": round(r["rss_mb"], 1),
        "encoders_running_min": r["encoders_running_min"],
        "encoders_running_max": r["encoders_running_max"],
        "tiers": r["tiers"],
        "kbps_by_tier": {t: round(statistics.median([c["kbps"] for c in per if str(c["tier"]) == t]))
                         for t in r["tiers"]},
        "kbps_min": round(min(kbps)) if kbps else None,
        "kbps_max": round(max(kbps)) if kbps else None,
        "saturation": r["saturation"],
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--per-group", type=int, default=8, help="consumers per group (4 groups)")
    ap.add_argument("--seconds", type=float, default=20, help="the measured window of each run")
    ap.add_argument("--out", default=None, help="JSON results (default BUILD/bench/net-spread.json)")
    args = ap.parse_args()
    why = NetBed.unavailable()
    if why:
        sys.exit("bench/net: " + why)
    program = phases.bench_program(args.build)
    out = args.out or os.path.join(args.build, "bench", "net-spread.json")
    results = []
    with tempfile.TemporaryDirectory(prefix="signalbin-net-") as tmp, \
            open(out[:-len(".json")] + ".log", "w") as log:
        env = phases.environment(args.build, tmp)
        for name, shaped, cc in (("spread over the tiers", True, True), ("no bottleneck", False, True),
                                 ("no bottleneck, congestion-control=false", False, False)):
            r = run(program, env, log, GROUP_KBIT, args.per_group, args.seconds, shaped, cc)
            results.append(dict(describe(name, r), raw=r))
    print("| run | consumers | tiers (consumers) | encoders running | producer CPU | RSS | sent per consumer by tier |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %d%s | %s | %d-%d | %.2f s/s | %.0f MB | %s |" % (
            r["run"], r["consumers"], "" if r["all_streaming"] else " (not all streaming)",
            ", ".join("%s: %d" % kv for kv in sorted(r["tiers"].items())), r["encoders_running_min"],
            r["encoders_running_max"], r["cpu_s_per_s"], r["rss_mb"],
            ", ".join("%s: %d kbit/s" % kv for kv in sorted(r["kbps_by_tier"].items()))))
    with open(out, "w") as f:
        json.dump({"settings": vars(args), "group_kbit_per_consumer": GROUP_KBIT, "runs": results}, f, indent=1)
    print("bench/net: figures in %s" % out)


if __name__ == "__main__":
    main()
