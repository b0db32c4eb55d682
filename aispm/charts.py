"""Server-rendered SVG charts (no JavaScript, no CDN): a line for the score, stacked bars, horizontal bars.

Every chart is accessible markup (role="img", a <title>) and each page shows the same numbers as a table.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

OUTCOME_COLOURS = {
    "allow": "#3a9a5b",
    "audit_only": "#b7a23a",
    "require_approval": "#d98a1c",
    "block": "#c0392b",
}


def _svg_end(
    parts: list[str], ends: tuple[str, str] | None, *, x_from: float, x_to: float, y: float
) -> SafeString:
    """Closes a chart: the first and last x labels (when there are points) under the plot, then </svg>."""
    if ends is not None:
        parts.append(f'<text x="{x_from}" y="{y}" class="axis">{escape(ends[0])}</text>')
        parts.append(f'<text x="{x_to}" y="{y}" text-anchor="end" class="axis">{escape(ends[1])}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def line_chart(
    points: list[tuple[str, float | None]], *, title: str, width=640, height=180, ymax=100
) -> SafeString:
    pad_l, pad_b, pad_t, pad_r = 32, 22, 10, 8
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    n = max(len(points) - 1, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'data-chart="line" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']  # fmt: skip
    for tick in (0, 50, 100):
        y = pad_t + plot_h - plot_h * tick / ymax
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{tick}</text>')
    coords = []
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        x = pad_l + plot_w * i / n
        y = pad_t + plot_h - plot_h * max(0, min(value, ymax)) / ymax
        coords.append((x, y, label, value))
    if coords:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y, _, _) in enumerate(coords))
        parts.append(f'<path d="{path}" class="line"/>')
        for x, y, label, value in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="dot"><title>{escape(label)}: '
                         f"{value:g}</title></circle>")  # fmt: skip
    ends = (points[0][0], points[-1][0]) if points else None
    return _svg_end(parts, ends, x_from=pad_l, x_to=width - pad_r, y=height - 4)


def stacked_bars(days: list[dict], keys: tuple[str, ...], *, title: str, width=640, height=180) -> SafeString:
    pad_l, pad_b, pad_t, pad_r = 40, 22, 10, 8
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    top = max((sum(d[k] for k in keys) for d in days), default=0) or 1
    bar_w = plot_w / max(len(days), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'data-chart="stacked" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end" class="axis">{top}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end" class="axis">0</text>']  # fmt: skip
    for i, day in enumerate(days):
        x = pad_l + i * bar_w
        y = pad_t + plot_h
        for key in keys:
            h = plot_h * day[key] / top
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{OUTCOME_COLOURS.get(key, "#777")}"><title>{escape(str(day["day"]))} {key}: '
                         f"{day[key]}</title></rect>")  # fmt: skip
    ends = (str(days[0]["day"]), str(days[-1]["day"])) if days else None
    return _svg_end(parts, ends, x_from=pad_l, x_to=width - pad_r, y=height - 4)


def hbars(rows: list[tuple[str, float]], *, title: str, width=640, colour="#c0392b", row_h=20) -> SafeString:
    label_w = min(260, width // 2)
    height = max(len(rows), 1) * row_h + 6
    top = max((v for _, v in rows), default=0) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'data-chart="bars" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']  # fmt: skip
    for i, (label, value) in enumerate(rows):
        y = 3 + i * row_h
        w = (width - label_w - 60) * value / top
        short = label if len(label) <= 40 else label[:39] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="axis">{escape(short)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row_h - 6}" fill="{colour}"/>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" class="axis">{value:g}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
