#!/usr/bin/env python3
"""An SVG of one bench/net run: second by second, the consumer's estimate,
what signalsink sent and the bottleneck's capacity (kbit/s), its tier, and
the clean frames per second, across the phases in order (for a Chromium
sender, which has no tiers, its frame height instead). No dependencies.

    bench/net/plot.py build/bench/net-results.json docs/images/net-after.svg
"""

import json
import math
import sys

WIDTH, HEIGHT = 960, 420
LEFT, RIGHT, TOP = 60, 60, 30
RATE_H, TIER_H, FPS_H, GAP = 200, 50, 70, 20


def polyline(points, color, width=1.5, dash=None):
    if len(points) < 2:
        return ""
    d = " ".join("%.1f,%.1f" % p for p in points)
    extra = ' stroke-dasharray="%s"' % dash if dash else ""
    return '<polyline fill="none" stroke="%s" stroke-width="%s"%s points="%s"/>\n' % (color, width, extra, d)


def text(x, y, s, anchor="start", size=11, color="#333"):
    return '<text x="%.1f" y="%.1f" font-size="%d" font-family="sans-serif" fill="%s" text-anchor="%s">%s</text>\n' % (
        x, y, size, color, anchor, s)


def main():
    results = json.load(open(sys.argv[1]))
    phases = results["phases"]
    seconds = [(p, t) for p in phases for t in p["timeline"]]
    n = max(1, len(seconds))
    top_kbps = max([t["estimate_kbps"] for _, t in seconds] + [t["sent_kbps"] for _, t in seconds] + [1]) * 1.1
    x = lambda i: LEFT + (WIDTH - LEFT - RIGHT) * i / n  # noqa: E731
    rate_y = lambda v: TOP + RATE_H * (1 - min(v, top_kbps) / top_kbps)  # noqa: E731
    tier_top = TOP + RATE_H + GAP
    tier_y = lambda v: tier_top + TIER_H * v / 3.0  # noqa: E731
    fps_top = tier_top + TIER_H + GAP
    fps_y = lambda v: fps_top + FPS_H * (1 - min(v, 40) / 40.0)  # noqa: E731
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">\n' % (WIDTH, HEIGHT),
           '<rect width="100%" height="100%" fill="white"/>\n']
    # Phases, named, with the bottleneck's capacity.
    i = 0
    capacity = []
    for p in phases:
        k = len(p["timeline"])
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ccc"/>\n' % (x(i), TOP, x(i), fps_top + FPS_H))
        out.append(text(x(i) + 3, TOP - 8, p["phase"]))
        if p.get("rate_kbit"):
            capacity += [(x(i), rate_y(p["rate_kbit"])), (x(i + k), rate_y(p["rate_kbit"]))]
        elif capacity:
            out.append(polyline(capacity, "#999", 2, "6,4"))
            capacity = []
        i += k
    if capacity:
        out.append(polyline(capacity, "#999", 2, "6,4"))
    out.append(polyline([(x(j), rate_y(t["estimate_kbps"])) for j, (_, t) in enumerate(seconds)], "#d62728"))
    out.append(polyline([(x(j), rate_y(t["sent_kbps"])) for j, (_, t) in enumerate(seconds)], "#1f77b4"))
    tiers = [(j, t["tier"]) for j, (_, t) in enumerate(seconds) if t.get("tier") is not None and t["tier"] >= 0]
    by_height = not tiers
    if by_height:
        # A Chromium sender has no tiers; it scales: each halving of the
        # frame height is a step down, as a tier's divisor of 2 is.
        top_height = max([t.get("frame_height") or 0 for _, t in seconds] + [1])
        tiers = [(j, min(3.0, math.log2(top_height / t["frame_height"]))) for j, (_, t) in enumerate(seconds)
                 if t.get("frame_height")]
    steps = []
    for j, v in tiers:
        steps += [(x(j), tier_y(v)), (x(j + 1), tier_y(v))]
    out.append(polyline(steps, "#2ca02c", 2))
    out.append(polyline([(x(j), fps_y(t["clean_fps"])) for j, (_, t) in enumerate(seconds)], "#9467bd"))
    # Axes and legends.
    for v in range(0, int(top_kbps) + 1, 500):
        out.append(text(LEFT - 5, rate_y(v) + 4, str(v), "end", 10))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>\n' % (LEFT, rate_y(v), WIDTH - RIGHT,
                                                                                   rate_y(v)))
    out.append(text(LEFT - 5, TOP - 8, "kbit/s", "end", 10))
    for v in range(4):
        label = str(round(top_height / 2 ** v)) if by_height else str(v)
        out.append(text(LEFT - 5, tier_y(v) + 4, label, "end", 10))
    out.append(text(2, tier_top + TIER_H / 2, "height" if by_height else "tier", "start", 10))
    for v in (0, 30):
        out.append(text(LEFT - 5, fps_y(v) + 4, str(v), "end", 10))
    out.append(text(2, fps_top + FPS_H / 2, "clean/s", "start", 10))
    legend = [("estimate", "#d62728"), ("sent", "#1f77b4"), ("capacity", "#999"),
              ("frame height" if by_height else "tier", "#2ca02c"),
              ("clean frames/s", "#9467bd")]
    lx = LEFT
    for name, color in legend:
        out.append('<rect x="%d" y="%d" width="12" height="4" fill="%s"/>\n' % (lx, HEIGHT - 14, color))
        out.append(text(lx + 16, HEIGHT - 9, name, size=10))
        lx += 110
    out.append(text(WIDTH - RIGHT, HEIGHT - 9, "%d s" % n, "end", 10))
    settings = results.get("settings", {})
    if settings.get("sender"):
        out.append(text(WIDTH - 5, 14, "%s &#8594; %s" % (settings["sender"], settings["receiver"]), "end", 11))
    out.append("</svg>\n")
    with open(sys.argv[2], "w") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
