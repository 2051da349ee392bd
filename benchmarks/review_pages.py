"""What a review page adds to one recommendation, in process: the policy's answer alone vs the
answer plus the page data (`prepare_pages`: the doses considered and the page's contents), and
the page's rendering when it is opened.

    uv run python benchmarks/review_pages.py [--root DIR] [--n 300]

Uses the champions of DIR's registry (default: the project's), or trains small ones first.
The request is the contract example. Prints p50/p99 and the ratio to the recommendation alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import ROOT, pct, settings_with_champions, time_calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()

    from features.contract.rest import RecommendRequest
    from serving.http.work import recommend_many
    from serving.models import load_champions
    from serving.policy import PolicyConfig
    from serving.ui.render import render_recommendation
    from serving.ui.routes import BANNER, prepare_pages

    settings = settings_with_champions(args.root)
    models = load_champions(settings)
    body = json.loads((ROOT / "tests" / "fixtures" / "recommend-request.json").read_text())
    req = RecommendRequest.model_validate(body)
    cfg = PolicyConfig()
    resp = recommend_many([req], models, cfg)[0]
    data = prepare_pages([req], [resp], models, cfg)[0][1]
    data = {**data, "page_id": "0" * 32, "audit": {"writer_id": "-", "seq": 0}}

    base = time_calls(lambda: recommend_many([req], models, cfg), args.n)
    with_page = time_calls(
        lambda: prepare_pages([req], recommend_many([req], models, cfg), models, cfg), args.n
    )
    render = time_calls(lambda: render_recommendation(data, BANNER), args.n)
    ratio = float(np.median(with_page) / np.median(base))
    print(f"recommendation alone          {pct(base)}")
    print(f"recommendation + page data    {pct(with_page)}   x{ratio:.2f} of alone (p50)")
    print(f"render the page (when opened) {pct(render)}")


if __name__ == "__main__":
    main()
