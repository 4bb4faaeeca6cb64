#!/usr/bin/env python3
"""Loss recovery and congestion control over a real network path:
signalsink in one network namespace, signalsrc in another, joined by a veth
pair (bench/net/netbed.py): no impairment, then 5 % of the packets into the
receiver dropped at random, then a 1 Mbit/s bottleneck for a 2 Mbit/s
stream.

Without recovery about 5-10 % of the frames come through clean at this loss
(a lost packet breaks the picture until the next key frame); with NACK and
RTX most do. Without congestion control next to none come through the
bottleneck (the queue overflows for good); with it the stream moves to a
lower tier within a second or two. The bounds are generous: the figures
belong to bench/net/.

    tests/network-test.py BUILD_DIR

Exit 77 (skipped) where network namespaces cannot be made (not root, or
iproute2/iptables missing); scripts/setup --tests installs them.
"""

import os
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "bench", "net"))

from netbed import NetBed  # noqa: E402
import phases  # noqa: E402

SECONDS = 25


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
    why = NetBed.unavailable()
    if why:
        print("SKIP: " + why)
        return 77
    program = phases.bench_program(build)
    with tempfile.TemporaryDirectory(prefix="signalbin-network-test-") as tmp, \
            open(os.path.join(tmp, "programs.log"), "w+") as log:
        env = phases.environment(build, tmp)
        # 640x480: the two programs share this machine's two cores.
        try:
            results = phases.measure(phases.Peers(program, build, env, log),
                                     [phases.phase("none"), phases.phase("loss5"), phases.phase("1mbit")],
                                     SECONDS, width=640, height=480, fps=30)
        except phases.PhaseError as e:
            log.seek(0)
            print(log.read()[-4000:])
            print("FAIL: %s" % e)
            return 1
    print(phases.table(results))
    clean, lossy, narrow = results
    failures = []
    if clean["clean_pct"] < 90:
        failures.append("without loss only %.1f %% of the frames were clean" % clean["clean_pct"])
    if lossy["nacks"] == 0:
        failures.append("at 5 % loss signalsrc sent no NACK")
    if lossy["retransmitted_kbytes"] <= 0:
        failures.append("at 5 % loss signalsink retransmitted nothing")
    if lossy["clean_pct"] < 60:
        failures.append("at 5 %% loss only %.1f %% of the frames were clean (at least 60 %% expected)"
                        % lossy["clean_pct"])
    if lossy["longest_frozen_s"] > 5:
        failures.append("at 5 %% loss the picture froze for %.1f s" % lossy["longest_frozen_s"])
    tiers = [t["tier"] for t in narrow["timeline"] if t["tier"] is not None]
    print("1mbit: tiers %s, estimates %s kbit/s" % (tiers, [t["estimate_kbps"] for t in narrow["timeline"]]))
    if not tiers or max(tiers) == 0:
        failures.append("behind 1 Mbit/s the consumer never left the top tier")
    if narrow["sender_kbps"] is None or narrow["sender_kbps"] >= 1000:
        failures.append("behind 1 Mbit/s signalsink sent %s kbit/s on average" % narrow["sender_kbps"])
    if narrow["clean_pct"] < 70:
        failures.append("behind 1 Mbit/s only %.1f %% of the frames were clean (at least 70 %% expected)"
                        % narrow["clean_pct"])
    if narrow["latency_median_ms"] is None or narrow["latency_median_ms"] > 150:
        failures.append("behind 1 Mbit/s the latency median was %s ms (a standing queue)"
                        % narrow["latency_median_ms"])
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
