"""Jinja2 rendering of the review pages: autoescaped, strict undefined, one stylesheet inlined
under a Content-Security-Policy hash (no external request, no JavaScript, no inline `style`)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from serving.ui.svg import Chart, Marker, Series, calibration_plot, gauge, line_chart

HERE = Path(__file__).resolve().parent
STYLESHEET = HERE / "static" / "dosewise.css"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda p: "n/a" if p is None else f"{100 * float(p):.0f}%"
    env.globals["gauge"] = gauge
    env.globals["calibration_plot"] = calibration_plot
    env.filters["n"] = lambda x: f"{float(x):g}"
    env.filters["num"] = lambda x, d=2: "n/a" if x is None else f"{float(x):.{d}f}"
    return env


@lru_cache(maxsize=1)
def stylesheet() -> str:
    return STYLESHEET.read_text()


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """Nothing but the inlined stylesheet (by hash) and data: images; may be framed (EHR)."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the signed link must not travel on
        "Cache-Control": "no-store",
    }


def trajectory_charts(traj: dict[str, Any]) -> list[Any]:
    """The two history charts (aerobic minutes, resistance load) as inline SVG."""
    weeks = traj["weeks"]
    labels = [w["label"] for w in weeks]
    markers = [
        Marker(i, "ae", f"{w['adverse_event']} adverse event, week of {w['start']}")
        for i, w in enumerate(weeks)
        if w["adverse_event"] != "none"
    ] + [Marker(m["x"], "infusion", f"infusion day {m['date']}") for m in traj["infusions"]]

    def chart(chart_id: str, title: str, y_label: str, key: str, unit: str = "") -> Any:
        planned = [w[f"planned_{key}"] for w in weeks]
        completed = [w[f"completed_{key}"] for w in weeks]
        return line_chart(
            Chart(
                chart_id=chart_id,
                title=title,
                y_label=y_label,
                x_labels=labels,
                series=[
                    Series("planned", "Planned", planned, "planned"),
                    Series("completed", "Completed", completed, "completed"),
                ],
                markers=markers,
                next_value=traj[f"next_{key}"],
                unit=unit,
            )
        )

    return [
        chart(
            "chart-aerobic",
            "Aerobic minutes per week: planned, completed, and next week's recommendation",
            "min / week",
            "aerobic",
            " min",
        ),
        chart(
            "chart-resistance",
            "Resistance load per week (sets x reps x %1RM / 100): planned, completed, next",
            "load / week",
            "load",
        ),
    ]


def render_recommendation(data: dict[str, Any], banner: str) -> str:
    return (
        environment()
        .get_template("recommendation.html")
        .render(
            d=data, charts=trajectory_charts(data["trajectory"]), css=stylesheet(), banner=banner
        )
    )


def render_model_card(card: dict[str, Any], banner: str) -> str:
    return (
        environment()
        .get_template("model_card.html")
        .render(c=card, css=stylesheet(), banner=banner)
    )
