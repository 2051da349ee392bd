"""Issue #17, finding 1: does unauthenticated junk traffic grow `/metrics` or worker memory?

    uv run python benchmarks/junk_metrics.py                    # 20,000 requests, concurrency 8
    uv run python benchmarks/junk_metrics.py --requests 2000    # quick look

Starts a real `dosewise serve` on 127.0.0.1 (a free port, an empty temporary root: no models are
needed, every junk request is refused with 401 before any model is touched), then measures the
size and render time of `/metrics`, the size of the Prometheus multiprocess folder and the RSS of
each BentoML worker before and after `--requests` `GET /junk-<n>` without a key (the "before"
snapshot follows a warm-up of `--warmup` such requests: first-use allocations are not growth).
Loopback only, bounded (the request count and the concurrency are the only load). Verdict: every
figure but the render time stays within 5% of its value before.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import free_port, spawn_server, stop_server, wait_for  # noqa: E402

TOLERANCE = 0.05


def worker_pids(pid: int) -> list[int]:
    """Pids of the BentoML worker processes under the `dosewise serve` process."""
    import psutil

    procs = psutil.Process(pid).children(recursive=True)
    return [p.pid for p in procs if "_bentoml_impl.worker" in " ".join(p.cmdline())]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def snapshot(base: str, pids: list[int], home: Path) -> dict[str, float]:
    """Size and render time of /metrics, multiprocess folder size, RSS of each worker."""
    t0 = time.perf_counter()
    resp = httpx.get(base + "/metrics", timeout=120)
    render_ms = (time.perf_counter() - t0) * 1000
    out = {
        "metrics_kb": len(resp.content) / 1024,
        "render_ms": render_ms,
        "prometheus_dir_mb": folder_mb(home),
    }
    for i, pid in enumerate(pids):
        out[f"worker{i}_rss_mb"] = rss_mb(pid)
    return out


def junk(base: str, total: int, concurrency: int) -> dict[int, int]:
    """`total` GET /junk-<n> without a key, over `concurrency` keep-alive connections."""
    counter = iter(range(total))
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def run() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                code = client.get(f"/junk-{n}").status_code
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--warmup",
        type=int,
        default=2000,
        help="junk requests before the first snapshot (one-off allocations are not growth)",
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dosewise-junk-") as tmp:
        root, home = Path(tmp) / "root", Path(tmp) / "bentoml"
        root.mkdir()
        home.mkdir()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"DOSEWISE_ROOT": str(root), "DOSEWISE_API_KEYS": "junk-bench-key"}
        env["BENTOML_HOME"] = str(home)
        proc = spawn_server(port, env, workers=args.workers, log_path=Path(tmp) / "server.log")
        try:
            if not wait_for(base + "/livez", timeout=180):
                print((Path(tmp) / "server.log").read_text()[-3000:])
                return 2
            time.sleep(2)
            pids = worker_pids(proc.pid)
            junk(base, max(args.warmup, 1), args.concurrency)
            before = snapshot(base, pids, home)
            t0 = time.perf_counter()
            statuses = junk(base, args.requests, args.concurrency)
            took = time.perf_counter() - t0
            time.sleep(1)
            after = snapshot(base, pids, home)
        finally:
            stop_server(proc)
    print(
        f"{args.requests} unauthenticated GET /junk-<n> in {took:.1f} s, statuses {statuses}, "
        f"workers {len(pids)}, after a warm-up of {args.warmup}"
    )
    print(f"{'figure':<22} {'before':>10} {'after':>10} {'change':>8}")
    ok = True
    for key in before:
        b, a = before[key], after[key]
        change = (a - b) / b if b else 0.0
        print(f"{key:<22} {b:10.1f} {a:10.1f} {change:8.1%}")
        if key != "render_ms" and change > TOLERANCE:
            ok = False
    print("bounded: within 5%" if ok else "GROWS: more than 5% (finding 1)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
