#!/usr/bin/env python3
"""Turns the TWCC feedback signalsink received, as GStreamer's rtpsession
logs it at level DEBUG, into the trace tests/congestion-controller-test
replays (tests/data/twcc-*.trace):

    GST_DEBUG=rtpsession:5 bench/net/run.py --phases none,1mbit,none ...
    bench/net/twcc-trace.py build/bench/bench-net.log build/bench/net-results.json > trace

Trace lines, times in µs of the sender's monotonic clock:
    phase NAME START END
    report NOW                  (a feedback report arrived)
    SEND ARRIVAL|- SIZE         (a packet of it: sent, arrived or lost, bytes)
"""

import json
import re
import sys

PACKET = re.compile(r'local-ts\\=\\\(guint64\\\)(\d+)\\,\\ remote-ts\\=\\\(guint64\\\)(\d+)\\,.*?'
                    r'size\\=\\\(uint\\\)(\d+)\\,\\ lost\\=\\\(boolean\\\)(true|false)')
NONE = 18446744073709551615


def main():
    log_path, results_path = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    for p in results["phases"]:
        print("phase %s %d %d" % (p["phase"], p["monotonic_start"] * 1e6, p["monotonic_end"] * 1e6))
    # The log's times count from the program's start; the packets' from
    # the monotonic clock's. Their offset is at least what any report's
    # newest packet shows (it was sent before the report arrived), and that
    # bound is within a round trip of loopback.
    reports = []
    with open(log_path, errors="replace") as log:
        for line in log:
            if "Parsed TWCC: RTPTWCCPackets" not in line:
                continue
            h, m, sec = line.split(" ", 1)[0].split(":")
            logged = int((int(h) * 3600 + int(m) * 60 + float(sec)) * 1e9)
            packets = PACKET.findall(line)
            sent = [(int(s), int(r), int(z), lost == "true") for s, r, z, lost in packets if int(s) != NONE]
            if sent:
                reports.append((logged, sent))
    offset = max(max(s for s, _, _, _ in sent) - logged for logged, sent in reports)
    for logged, sent in reports:
        print("report %d" % ((logged + offset) // 1000))
        for s, r, z, lost in sent:
            arrival = "-" if lost or r == NONE else str(r // 1000)
            print("%d %s %d" % (s // 1000, arrival, z))


if __name__ == "__main__":
    main()
