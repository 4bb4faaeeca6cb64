#!/usr/bin/env python3
"""Mixed links: two viewers of one signalsink, one behind the impairment,
one in the sender's own namespace where nothing limits it. The second must
keep the top tier and its bitrate while the first adapts (a constrained
consumer never lowers what another receives). See bench/net/README.md.

    bench/net/mixed.py                       # none, then 1mbit, 35 s each
    bench/net/mixed.py --phases none,500kbit --seconds 20
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
    ap.add_argument("--phases", default="none,1mbit")
    ap.add_argument("--seconds", type=float, default=35)
    ap.add_argument("--out", default=None, help="JSON results (default BUILD/bench/net-mixed.json)")
    args = ap.parse_args()
    why = NetBed.unavailable()
    if why:
        sys.exit("bench/net: " + why)
    program = phases.bench_program(args.build)
    out = args.out or os.path.join(args.build, "bench", "net-mixed.json")
    specs = [phases.phase(name) for name in args.phases.split(",")]
    with tempfile.TemporaryDirectory(prefix="signalbin-net-") as tmp, \
            open(os.path.join(os.path.dirname(out), "bench-net-mixed.log"), "w") as log:
        env = phases.environment(args.build, tmp)
        impaired, clear = phases.measure(phases.Peers(program, args.build, env, log), specs, args.seconds,
                                         second_viewer=True)
    for name, results in (("behind the impairment", impaired), ("unimpaired", clear)):
        print("viewer %s:" % name)
        print(phases.table(results))
        for r in results:
            tiers = sorted({t["tier"] for t in r["timeline"] if t["tier"] is not None})
            print("  %s: tiers %s" % (r["phase"], tiers))
    with open(out, "w") as f:
        json.dump({"settings": vars(args), "impaired": impaired, "clear": clear}, f, indent=1)
    print("bench/net: figures in %s" % out)


if __name__ == "__main__":
    main()
