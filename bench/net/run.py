#!/usr/bin/env python3
"""signalsink -> signalsrc across two network namespaces, through
impairments: a bottleneck (tbf) and random loss (iptables on the receiver).
Prints a table per run and writes every figure to --out. See
bench/net/README.md.

    bench/net/run.py                         # the five phases, 35 s each
    bench/net/run.py --phases none,loss5 --seconds 15
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netbed import NetBed  # noqa: E402
import phases  # noqa: E402


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--phases", default="none,1mbit,500kbit,loss2,loss5")
    ap.add_argument("--seconds", type=float, default=35)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--congestion-control", default="true", choices=["true", "false"],
                    help="signalsink's congestion-control (false: one tier, no estimate)")
    ap.add_argument("--out", default=None, help="JSON results (default BUILD/bench/net-results.json)")
    args = ap.parse_args()

    why = NetBed.unavailable()
    if why:
        sys.exit("bench/net: " + why)
    program = os.path.join(args.build, "bench", "media", "signalbin-bench-media")
    if not os.access(program, os.X_OK):
        sys.exit("bench/net: %s is missing: build first (ninja -C %s)" % (program, args.build))
    out = args.out or os.path.join(args.build, "bench", "net-results.json")
    specs = [phases.phase(name) for name in args.phases.split(",")]
    log_path = os.path.join(os.path.dirname(out), "bench-net.log")
    with tempfile.TemporaryDirectory(prefix="signalbin-net-") as tmp, open(log_path, "w") as log:
        env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(args.build, "gst-plugin"),
                   GST_REGISTRY=os.path.join(tmp, "registry.dat"))
        results = phases.measure(program, specs, args.seconds, env, args.width, args.height, args.fps, log=log,
                                 send_args=["--congestion-control", args.congestion_control])
    print(phases.table(results))
    with open(out, "w") as f:
        json.dump({"settings": vars(args), "phases": results}, f, indent=1)
    print("bench/net: figures in %s, programs' output in %s" % (out, log_path))


if __name__ == "__main__":
    main()
