#!/usr/bin/env python3
"""SVG bar chart of a throughput or uws CSV from scripts/bench.sh: one panel per point (C/S/D; C/S when every
row has depth 1), one bar per server, bar height = median of the column over the runs. Rows with a `status`
other than `ok` are left out. Python 3 standard library only.

usage: scripts/bench-chart.py target/bench/throughput-STAMP.csv [-o chart.svg] [--column msgs_per_s] [--title T]
       scripts/bench-chart.py target/bench/uws-STAMP.csv -o docs/img/bench-uws.svg --title "..."
"""

import argparse
import csv
import statistics
from html import escape

# rill's rows in reds (the subject first), uWebSockets in grey; the Rust anchors take the other colours in order.
FIXED_COLORS = {
    "rill": "#d62728",
    "rill-relay": "#ff9896",
    "rill-per-core": "#8c1d18",
    "rill-multi": "#e377c2",
    "uws": "#7f7f7f",
}
ANCHOR_COLORS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
PANEL_H, MARGIN, COLS, TOP, LEGEND_W = 200, 40, 4, 60, 170


def load(path, column):
    """Returns (points in first-seen order, servers in display order, {(point, server): median}, {server: legend})."""
    rows = []
    with open(path, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row.get(column) and row.get("status", "ok") == "ok"]
    with_depth = any(row.get("depth", "1") != "1" for row in rows)
    values, points, servers, legend = {}, [], [], {}
    for row in rows:
        point = f"C={row['conns']} S={row['size']}" + (f" D={row['depth']}" if with_depth else "")
        server = row["label"]
        if point not in points:
            points.append(point)
        if server not in servers:
            servers.append(server)
            cores = row.get("server_cores")
            legend[server] = f"{server} ({cores} cores)" if cores and cores != "1" else server
        values.setdefault((point, server), []).append(float(row[column]))
    # The rows with a fixed colour first (rill's, then uWebSockets), the anchors after in their order.
    fixed = list(FIXED_COLORS)
    servers.sort(key=lambda s: fixed.index(s) if s in fixed else len(fixed))
    return points, servers, {k: statistics.median(v) for k, v in values.items()}, legend


def color(servers, server):
    """rill's rows and uWebSockets have fixed colours; anchors take the other colours in order."""
    if server in FIXED_COLORS:
        return FIXED_COLORS[server]
    anchors = [s for s in servers if s not in FIXED_COLORS]
    return ANCHOR_COLORS[anchors.index(server) % len(ANCHOR_COLORS)]


def panel_width(servers):
    """Wide enough for one labelled bar per server."""
    return max(260, 36 * len(servers) + 20)


def human(v):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.1f}{unit}"
    # Small values (microseconds per message) keep a decimal: 1.2 and 1.6 are not both "2".
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def panel(x0, y0, point, servers, medians):
    panel_w = panel_width(servers)
    out = [f'<text x="{x0 + panel_w / 2}" y="{y0 + 14}" text-anchor="middle" font-weight="bold">{escape(point)}</text>']
    top = max([medians.get((point, s), 0) for s in servers] + [1])
    base, height = y0 + PANEL_H - 20, PANEL_H - 50
    slot = (panel_w - 20) / max(len(servers), 1)
    out.append(f'<line x1="{x0 + 5}" y1="{base}" x2="{x0 + panel_w - 5}" y2="{base}" stroke="#444"/>')
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
            f"<title>{escape(server)}: {human(v)}</title></rect>"
        )
        out.append(f'<text x="{x + slot / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">{human(v)}</text>')
    return out


def render(points, servers, medians, column, title, legend=None):
    legend = legend or {}
    panel_w = panel_width(servers)
    cols = min(COLS, max(len(points), 1))
    rows = (len(points) + cols - 1) // cols
    width = max(cols * panel_w, 600) + 2 * MARGIN
    per_line = max((width - 2 * MARGIN) // LEGEND_W, 1)
    legend_lines = (len(servers) + per_line - 1) // per_line
    top = TOP + (legend_lines - 1) * 16
    height = top + rows * PANEL_H + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">{escape(title)}: {escape(column)} (median)</text>',
    ]
    for i, server in enumerate(servers):
        x = MARGIN + (i % per_line) * LEGEND_W
        y = 35 + (i // per_line) * 16
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color(servers, server)}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 11}">{escape(legend.get(server, server))}</text>')
    for i, point in enumerate(points):
        x0 = MARGIN + (i % cols) * panel_w
        y0 = top + (i // cols) * PANEL_H
        out.extend(panel(x0, y0, point, servers, medians))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("-o", "--output", help="SVG file (default: the CSV path with .svg)")
    parser.add_argument("--column", default="msgs_per_s")
    parser.add_argument("--title", default="rill benchmarks")
    args = parser.parse_args()
    points, servers, medians, legend = load(args.csv, args.column)
    output = args.output or args.csv.rsplit(".", 1)[0] + ".svg"
    with open(output, "w") as f:
        f.write(render(points, servers, medians, args.column, args.title, legend))


if __name__ == "__main__":
    main()
