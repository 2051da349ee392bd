"""Units of the review pages: the inline-SVG chart helper and the signed links (serving/ui/)."""

from __future__ import annotations

import itertools
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.settings import Settings
from serving.ui import links
from serving.ui.svg import Chart, Marker, Series, gauge, line_chart, nice_ticks

SECRET = b"s" * 32
PAGE = "0123456789abcdef0123456789abcdef"


# --- charts ------------------------------------------------------------------------------------
@given(st.floats(min_value=1e-3, max_value=1e6))
def test_nice_ticks_start_at_zero_cover_the_top_and_are_evenly_spaced(top: float) -> None:
    ticks = nice_ticks(top)
    assert ticks[0] == 0 and ticks[-1] >= top - 1e-9
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and 2 <= len(ticks) <= 6


def test_nice_ticks_of_nothing() -> None:
    assert nice_ticks(0.0) == [0.0, 1.0]


def chart(**kw) -> Chart:
    base = dict(
        chart_id="c1",
        title="Aerobic <minutes>",
        y_label="min / week",
        x_labels=["01 Nov", "08 Nov", "15 Nov"],
        series=[
            Series("planned", "Planned", [90, 90, None], "planned"),
            Series("completed", "Completed", [60, 85.5, None], "completed"),
        ],
        markers=[Marker(1, "ae", "moderate adverse event"), Marker(3, "infusion", "infusion")],
        next_value=99,
        unit=" min",
    )
    return Chart(**{**base, **kw})


def points(svg: str) -> list[tuple[str, str, str]]:
    return re.findall(r'data-series="(\w+)" data-x="(\d+)" data-value="([\d.]+)"', svg)


def test_line_chart_draws_each_point_with_its_label_and_the_next_week_dashed() -> None:
    svg = str(line_chart(chart()))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert points(svg) == [
        ("planned", "0", "90"),
        ("planned", "1", "90"),
        ("completed", "0", "60"),
        ("completed", "1", "85.5"),
        ("next", "3", "99"),
    ]
    next_pt = re.search(r'<circle class="pt next"[^>]*>', svg).group(0)
    assert 'stroke-dasharray="3 2"' in next_pt
    assert "<title>Completed, 08 Nov: 85.5 min</title>" in svg
    assert [m for m in re.findall(r'data-kind="(\w+)"', svg)] == ["ae", "infusion"]
    assert ">next week</text>" in svg and ">15 Nov</text>" in svg
    assert "Aerobic &lt;minutes&gt;" in svg  # escaped, never raw markup
    assert "style=" not in svg  # a strict CSP blocks inline style attributes


def test_points_are_drawn_to_scale() -> None:
    svg = str(line_chart(chart(next_value=None, markers=[])))
    found = re.findall(r'cy="([\d.]+)" r="4" data-series="(\w+)" data-x="(\d)"', svg)
    ys = {series + x: float(y) for y, series, x in found}
    # higher values sit higher (smaller y); equal values at equal height
    assert ys["planned0"] == ys["planned1"] < ys["completed1"] < ys["completed0"]


def test_chart_with_no_data_still_renders_axes_and_the_next_point() -> None:
    svg = str(line_chart(chart(series=[Series("planned", "Planned", [None] * 3)], markers=[])))
    assert points(svg) == [("next", "3", "99")]
    assert svg.count('class="tick x-tick"') == 4


def test_gauge_marks_the_bound_and_says_whether_the_value_meets_it() -> None:
    ok, low = str(gauge("g", "Tolerance", 0.8, 0.5)), str(gauge("g", "Tolerance", 0.3, 0.5))
    assert 'class="gauge-fill meets"' in ok and 'class="gauge-fill below"' in low
    assert 'data-bound="0.5000"' in ok and "Tolerance: 80%; policy bound 50%" in ok
    assert "gauge-fill" not in str(gauge("g", "Tolerance", None, 0.5))


# --- links -------------------------------------------------------------------------------------
def test_a_signed_link_is_valid_until_it_expires() -> None:
    query = links.signed_query(PAGE, SECRET, 900, now=1000.0)
    assert links.check_link(PAGE, query, SECRET, now=1000.0) == "valid"
    assert links.check_link(PAGE, query, SECRET, now=1899.0) == "valid"
    assert links.check_link(PAGE, query, SECRET, now=1900.0) == "invalid"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda q: q.replace("sig=", "sig=0"),  # forged signature
        lambda q: q.replace("exp=1900", "exp=9900"),  # stretched expiry
        lambda q: q.split("&")[0],  # no signature
        lambda q: q + "&sig=abc",  # two signatures
        lambda q: "exp=-5&sig=abc",  # malformed expiry
    ],
)
def test_a_tampered_link_is_invalid(mutate) -> None:
    query = links.signed_query(PAGE, SECRET, 900, now=1000.0)
    assert links.check_link(PAGE, mutate(query), SECRET, now=1000.0) == "invalid"


def test_a_link_is_bound_to_its_page_and_secret() -> None:
    query = links.signed_query(PAGE, SECRET, 900, now=1000.0)
    other = "f" * 32
    assert links.check_link(other, query, SECRET, now=1000.0) == "invalid"
    assert links.check_link(PAGE, query, b"t" * 32, now=1000.0) == "invalid"
    assert links.check_link(PAGE, "", SECRET) == "absent"


def test_link_access_only_applies_to_review_pages() -> None:
    query = links.signed_query(PAGE, SECRET, 900)
    assert links.link_access(links.page_path(PAGE), query, SECRET) == "valid"
    assert links.link_access("/recommend", query, SECRET) == "absent"
    assert links.link_access("/ui/model-card", query, SECRET) == "absent"


def test_the_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    first = links.load_secret(settings)
    assert len(first) == 64 and links.load_secret(settings) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / links.SECRET_FILE).st_mode)
    assert mode == 0o600
    assert links.load_secret(Settings(root=tmp_path, review_secret="abc")) == b"abc"
