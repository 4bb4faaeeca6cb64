#!/usr/bin/env python3
"""signalsink -> signalsrc (or Chromium at either end) across two network
namespaces, through impairments: a bottleneck (tbf) and random loss
(iptables on the receiver). Prints a table per pair and writes every figure
to --out. See bench/net/README.md.

    bench/net/run.py                         # the five phases, 35 s each
    bench/net/run.py --phases none,loss5 --seconds 15
    bench/net/run.py --pairs signalsink:signalsrc,signalsink:chromium,chromium:chromium
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
    ap.add_argument("--pairs", default="signalsink:signalsrc",
                    help="sender:receiver, comma-separated, one session each (senders %s, receivers %s)"
                    % ("/".join(phases.SENDERS), "/".join(phases.RECEIVERS)))
    ap.add_argument("--out", default=None, help="JSON results (default BUILD/bench/net-results.json, and "
                    "net-results-SENDER-RECEIVER.json for other pairs)")
    args = ap.parse_args()

    why = NetBed.unavailable()
    if why:
        sys.exit("bench/net: " + why)
    program = phases.bench_program(args.build)
    if not os.access(program, os.X_OK):
        sys.exit("bench/net: %s is missing: build first (ninja -C %s)" % (program, args.build))
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    for pair in pairs:
        if len(pair) != 2 or pair[0] not in phases.SENDERS or pair[1] not in phases.RECEIVERS:
            sys.exit("bench/net: --pairs: %s is not sender:receiver" % ":".join(pair))
    if args.out and len(pairs) > 1:
        sys.exit("bench/net: --out takes one pair (several write BUILD/bench/net-results-SENDER-RECEIVER.json)")
    specs = [phases.phase(name) for name in args.phases.split(",")]
    outputs = []
    for sender, receiver in pairs:
        default = (sender, receiver) == ("signalsink", "signalsrc")
        name = "net-results.json" if default else "net-results-%s-%s.json" % (sender, receiver)
        out = args.out or os.path.join(args.build, "bench", name)
        log_path = out[:-len(".json")] + ".log"
        with tempfile.TemporaryDirectory(prefix="signalbin-net-") as tmp, open(log_path, "w") as log:
            env = phases.environment(args.build, tmp)
            peers = phases.Peers(program, args.build, env, log)
            results = phases.measure(peers, specs, args.seconds, args.width, args.height, args.fps,
                                     send_args=["--congestion-control", args.congestion_control],
                                     sender=sender, receiver=receiver)
        print("%s -> %s:" % (sender, receiver))
        print(phases.table(results))
        with open(out, "w") as f:
            json.dump({"settings": dict(vars(args), sender=sender, receiver=receiver), "phases": results}, f,
                      indent=1)
        outputs.append((out, log_path))
    for out, log_path in outputs:
        print("bench/net: figures in %s, programs' output in %s" % (out, log_path))

if __name__ == "__main__":
    main()
