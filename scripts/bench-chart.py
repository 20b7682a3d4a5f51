#!/usr/bin/env python3
"""SVG bar chart of a throughput CSV from scripts/bench.sh: one panel per point (C/S/D), one bar per server,
bar height = median msgs/s over the runs. Python 3 standard library only.

usage: scripts/bench-chart.py target/bench/throughput-STAMP.csv [-o chart.svg] [--column msgs_per_s]
"""

import argparse
import csv
import statistics
from html import escape

RILL_COLOR = "#d62728"
ANCHOR_COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
PANEL_W, PANEL_H, MARGIN, COLS, TOP = 260, 200, 40, 4, 60


def load(path, column):
    """Returns (points in first-seen order, servers in first-seen order, {(point, server): median})."""
    values, points, servers = {}, [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get(column):
                continue
            point = f"C={row['conns']} S={row['size']} D={row['depth']}"
            server = row["label"]
            if point not in points:
                points.append(point)
            if server not in servers:
                servers.append(server)
            values.setdefault((point, server), []).append(float(row[column]))
    # rill, when present, first: it is the subject; anchors keep their order.
    servers.sort(key=lambda s: s != "rill")
    return points, servers, {k: statistics.median(v) for k, v in values.items()}


def color(servers, server):
    """rill is always red; anchors take the other colours in order."""
    if server == "rill":
        return RILL_COLOR
    anchors = [s for s in servers if s != "rill"]
    return ANCHOR_COLORS[anchors.index(server) % len(ANCHOR_COLORS)]


def human(v):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.1f}{unit}"
    return f"{v:.0f}"


def panel(x0, y0, point, servers, medians):
    out = [f'<text x="{x0 + PANEL_W / 2}" y="{y0 + 14}" text-anchor="middle" font-weight="bold">{escape(point)}</text>']
    top = max([medians.get((point, s), 0) for s in servers] + [1])
    base, height = y0 + PANEL_H - 20, PANEL_H - 50
    slot = (PANEL_W - 20) / max(len(servers), 1)
    out.append(f'<line x1="{x0 + 5}" y1="{base}" x2="{x0 + PANEL_W - 5}" y2="{base}" stroke="#444"/>')
    for i, server in enumerate(servers):
        v = medians.get((point, server))
        x = x0 + 10 + i * slot
        if v is None:
            out.append(f'<text x="{x + slot / 2}" y="{base - 4}" text-anchor="middle" fill="#999">n/a</text>')
            continue
        h = height * v / top
        out.append(
            f'<rect x="{x + 4:.1f}" y="{base - h:.1f}" width="{slot - 8:.1f}" height="{h:.1f}" '
            f'fill="{color(servers, server)}">'
            f"<title>{escape(server)}: {v:.0f}</title></rect>"
        )
        out.append(f'<text x="{x + slot / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">{human(v)}</text>')
    return out


def render(points, servers, medians, column, title):
    rows = (len(points) + COLS - 1) // COLS
    width = COLS * PANEL_W + 2 * MARGIN
    height = TOP + rows * PANEL_H + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">{escape(title)}: {escape(column)} (median)</text>',
    ]
    for i, server in enumerate(servers):
        x = MARGIN + i * 150
        out.append(f'<rect x="{x}" y="35" width="12" height="12" fill="{color(servers, server)}"/>')
        out.append(f'<text x="{x + 16}" y="46">{escape(server)}</text>')
    for i, point in enumerate(points):
        x0 = MARGIN + (i % COLS) * PANEL_W
        y0 = TOP + (i // COLS) * PANEL_H
        out.extend(panel(x0, y0, point, servers, medians))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("-o", "--output", help="SVG file (default: the CSV path with .svg)")
    parser.add_argument("--column", default="msgs_per_s")
    args = parser.parse_args()
    points, servers, medians = load(args.csv, args.column)
    output = args.output or args.csv.rsplit(".", 1)[0] + ".svg"
    with open(output, "w") as f:
        f.write(render(points, servers, medians, args.column, "rill benchmarks"))


if __name__ == "__main__":
    main()
