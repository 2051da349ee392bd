"""Line charts as inline SVG, drawn on the server: no JavaScript, no external request, prints.

Why hand-drawn: the page must work under a strict Content-Security-Policy inside an EHR frame, so
no charting script; a dozen points per series do not need a plotting library. Every point is a
circle with a `<title>` (its label and value, read by screen readers and shown on hover) and
`data-*` attributes (tests and tools read them); colours come from the one stylesheet through
classes, never `style` attributes (a strict CSP blocks those).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    """One line: a value per x position (None: no point), drawn with CSS class `css`."""

    key: str
    label: str
    values: Sequence[float | None]
    css: str = ""


@dataclass(frozen=True)
class Marker:
    """An event at an x position (an adverse event, an infusion day), drawn under the axis."""

    x: int
    kind: str
    label: str


@dataclass(frozen=True)
class Chart:
    """What `line_chart` draws; `next_value` is the dashed point after the last x position."""

    chart_id: str
    title: str
    y_label: str
    x_labels: Sequence[str]
    series: Sequence[Series]
    markers: Sequence[Marker] = field(default_factory=tuple)
    next_label: str = "next week"
    next_value: float | None = None
    unit: str = ""


WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 x 10^k) up to at least `top`."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 6) for i in range(n + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


def line_chart(chart: Chart) -> Markup:
    """The chart as an `<svg>` element (safe markup: every text escaped)."""
    n = len(chart.x_labels)
    slots = n + (1 if chart.next_value is not None else 0)
    values = [v for s in chart.series for v in s.values if v is not None]
    if chart.next_value is not None:
        values.append(chart.next_value)
    ticks = nice_ticks(max(values, default=0.0))
    y_top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / max(slots, 1))

    def y_at(v: float) -> float:
        return TOP + plot_h * (1 - v / y_top)

    cid = escape(chart.chart_id)
    out = [
        f'<svg class="chart" id="{cid}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{cid}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(chart.title)}</title>',
    ]
    for t in ticks:  # horizontal grid and y labels
        y = y_at(t)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="tick y-tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(t)}</text>"
        )
    out.append(
        f'<text class="axis-label" x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">{escape(chart.y_label)}</text>'
    )
    base = TOP + plot_h
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    labels = [*chart.x_labels, *([chart.next_label] if chart.next_value is not None else [])]
    for i, label in enumerate(labels):
        out.append(
            f'<text class="tick x-tick" x="{x_at(i):.1f}" y="{base + 16}" text-anchor="middle" '
            f'data-x="{i}">{escape(label)}</text>'
        )
    for s in chart.series:
        key = escape(s.key)
        pts = [(i, v) for i, v in enumerate(s.values) if v is not None]
        if len(pts) > 1:
            path = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in pts)
            out.append(f'<polyline class="line {escape(s.css)}" points="{path}"/>')
        for i, v in pts:
            out.append(
                f'<circle class="pt {escape(s.css)}" cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="4" '
                f'data-series="{key}" data-x="{i}" data-value="{_fmt(v)}">'
                f"<title>{escape(s.label)}, {escape(labels[i])}: {_fmt(v)}{escape(chart.unit)}"
                "</title></circle>"
            )
    if chart.next_value is not None:
        i, v = n, chart.next_value
        anchor = next(
            (s.values[-1] for s in chart.series if s.values and s.values[-1] is not None), None
        )
        if anchor is not None and n > 0:
            out.append(
                f'<line class="next-line" x1="{x_at(n - 1):.1f}" y1="{y_at(anchor):.1f}" '
                f'x2="{x_at(i):.1f}" y2="{y_at(v):.1f}" stroke-dasharray="5 4"/>'
            )
        out.append(
            f'<circle class="pt next" cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="5" '
            f'stroke-dasharray="3 2" data-series="next" data-x="{i}" data-value="{_fmt(v)}">'
            f"<title>Recommended, {escape(chart.next_label)}: {_fmt(v)}{escape(chart.unit)}"
            "</title></circle>"
        )
    for m in chart.markers:
        x, y = x_at(m.x), base + 30
        shape = (
            f"M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 5:.1f} L{x - 6:.1f},{y + 5:.1f} Z"
            if m.kind == "ae"
            else f"M{x - 5:.1f},{y - 5:.1f} h10 v10 h-10 Z"
        )
        out.append(
            f'<path class="marker marker-{escape(m.kind)}" d="{shape}" data-x="{m.x}" '
            f'data-kind="{escape(m.kind)}"><title>{escape(m.label)}</title></path>'
        )
    out.append("</svg>")
    return Markup("\n".join(out))


def gauge(gauge_id: str, label: str, value: float | None, bound: float) -> Markup:
    """A 0-100% bar with the value filled and the policy's bound as a tick; `meets` or
    `below` as a class (text says it too: colour is never the only cue)."""
    w, h, pad = 320, 34, 8
    span = w - 2 * pad
    bx = pad + span * min(max(bound, 0.0), 1.0)
    gid = escape(gauge_id)
    parts = [
        f'<svg class="gauge" id="{gid}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="{gid}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{gid}-title">{escape(label)}: '
        f"{'no prediction' if value is None else f'{100 * value:.0f}%'}; "
        f"policy bound {100 * bound:.0f}%</title>",
        f'<rect class="gauge-track" x="{pad}" y="8" width="{span}" height="12" rx="3"/>',
    ]
    if value is not None:
        state = "meets" if value >= bound else "below"
        vw = span * min(max(value, 0.0), 1.0)
        parts.append(
            f'<rect class="gauge-fill {state}" x="{pad}" y="8" width="{vw:.1f}" height="12" '
            f'rx="3" data-value="{value:.4f}"/>'
        )
    parts.append(
        f'<line class="gauge-bound" x1="{bx:.1f}" x2="{bx:.1f}" y1="3" y2="25" '
        f'data-bound="{bound:.4f}"/>'
    )
    parts.append(
        f'<text class="tick" x="{bx:.1f}" y="33" text-anchor="middle">bound '
        f"{100 * bound:.0f}%</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def calibration_plot(plot_id: str, title: str, bins: list[dict[str, float]]) -> Markup:
    """Reliability diagram: mean prediction (x) vs observed rate (y) per bin, 0-1 on both axes,
    the diagonal (perfect calibration) dashed."""
    size, pad = 260, 36
    span = size - 2 * pad

    def at(v: float) -> float:
        return pad + span * min(max(v, 0.0), 1.0)

    pid = escape(plot_id)
    out = [
        f'<svg class="calibration" id="{pid}" viewBox="0 0 {size} {size}" role="img" '
        f'aria-labelledby="{pid}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{pid}-title">{escape(title)}</title>',
        f'<rect class="gauge-track" x="{pad}" y="{pad}" width="{span}" height="{span}"/>',
        f'<line class="grid" x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" '
        'stroke-dasharray="4 3"/>',
    ]
    for t in (0.0, 0.5, 1.0):
        out.append(
            f'<text class="tick" x="{at(t):.1f}" y="{size - pad + 14}" text-anchor="middle">'
            f"{t:g}</text>"
        )
        out.append(
            f'<text class="tick" x="{pad - 6}" y="{size - at(t) + 4:.1f}" text-anchor="end">'
            f"{t:g}</text>"
        )
    out.append(
        f'<text class="axis-label" x="{size / 2}" y="{size - 4}" text-anchor="middle">'
        "predicted</text>"
    )
    out.append(
        f'<text class="axis-label" x="10" y="{size / 2}" text-anchor="middle" '
        f'transform="rotate(-90 10 {size / 2})">observed</text>'
    )
    pts = [(at(b["predicted"]), size - at(b["observed"])) for b in bins]
    if len(pts) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f'<polyline class="line completed" points="{path}"/>')
    for b, (x, y) in zip(bins, pts, strict=True):
        out.append(
            f'<circle class="pt completed" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
            f'data-predicted="{b["predicted"]:.4f}" data-observed="{b["observed"]:.4f}">'
            f"<title>predicted {b['predicted']:.2f}, observed {b['observed']:.2f} "
            f"({b['n']:.0f} rows)</title></circle>"
        )
    out.append("</svg>")
    return Markup("\n".join(out))
