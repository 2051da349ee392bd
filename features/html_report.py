"""The pieces every self-contained HTML report shares (the batch report `serving/report.py`, the
closed-loop report `evaluation/report.py`, the monitoring report `monitoring/report.py`): plots
embedded as base64 PNG, escaped tables, one page style, the decision colours, an atomic write.

Here, at the bottom of the import graph, so evaluation, monitoring and serving can all use it.
matplotlib is imported by the callers' plots only (this module never draws).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from features.io import write_atomic

DECISION_COLOURS = {
    "progress": "#2a9d8f",
    "maintain": "#8ab17d",
    "regress": "#e9c46a",
    "hold": "#e76f51",
    "refer": "#9b5de5",
}


def png_base64(fig: Any, dpi: int = 80) -> str:
    """A matplotlib figure as base64 PNG text (for a `data:` URL); the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def html_table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    """An HTML table of `rows` (every value escaped) under `header`."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def image_sections(images: Mapping[str, str]) -> str:
    """One `<h3>` title and embedded PNG per (title -> base64 PNG) entry."""
    return "".join(
        f'<h3>{html.escape(k)}</h3><img alt="{html.escape(k)}" src="data:image/png;base64,{v}"/>'
        for k, v in images.items()
    )


def page_head(title: str, max_width_px: int) -> str:
    """The start of a report page up to the open `<body>`: charset, title and the one style."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:{max_width_px}px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:left}}img{{display:block;margin:1em 0;max-width:100%}}</style></head><body>
"""


def write_html(path: Path, text: str) -> None:
    """Write a report atomically (temporary file in the same folder, then rename)."""
    write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
