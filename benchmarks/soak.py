"""Soak test: a real `dosewise serve` under steady load, watching worker memory.

    uv run python benchmarks/soak.py                     # 10 minutes, concurrency 8
    uv run python benchmarks/soak.py --minutes 2 --interval 10 --root .

Every `--interval` seconds it prints requests, errors, throughput, latency and the RSS of each
BentoML worker (psutil, /proc as fallback). The verdict: did every worker's RSS stay within 20% of
its value after the first minute (the baseline; for runs shorter than 4 minutes, after a quarter
of the run)? Registry: like benchmarks/serve.py (a temp dir trained first, or --root).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.settings import apply_offline_environment  # noqa: E402

TOLERANCE = 0.20


def _bench() -> object:
    """benchmarks/serve.py, imported by path (this folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_serve", Path(__file__).with_name("serve.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (psutil, else /proc/<pid>/status)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil comes with mlflow
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Load:
    """`concurrency` keep-alive clients posting the contract example until stopped."""

    def __init__(self, base: str, body: bytes, headers: dict[str, str], concurrency: int) -> None:
        self.base, self.body, self.headers = base, body, headers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(concurrency)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = client.post("/recommend", content=self.body, headers=self.headers)
                    good = ok.status_code == 200
                except httpx.HTTPError:
                    good = False
                dt = (time.perf_counter() - t0) * 1000
                with self.lock:
                    if good:
                        self.latencies.append(dt)
                    else:
                        self.errors += 1

    def take(self) -> tuple[list[float], int]:
        with self.lock:
            lat, err = self.latencies, self.errors
            self.latencies, self.errors = [], 0
        return lat, err

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="duration of the soak")
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--root", type=Path, default=None, help="DOSEWISE_ROOT with a registry")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the samples here")
    args = ap.parse_args(argv)

    apply_offline_environment()
    bench = _bench()
    tmp = None
    if args.root is None:
        tmp = tempfile.TemporaryDirectory(prefix="dosewise-soak-")
        root = Path(tmp.name)
    else:
        root = args.root.resolve()
    duration = args.minutes * 60
    baseline_at = 60.0 if duration >= 240 else duration / 4
    samples: list[dict] = []
    try:
        bench.ensure_champions(root, 300, 8, 7)  # type: ignore[attr-defined]
        with bench.RunningServer(root, args.workers, None) as srv:  # type: ignore[attr-defined]
            pids = srv.worker_pids()
            body = json.dumps(bench.EXAMPLE).encode()  # type: ignore[attr-defined]
            headers = {**bench.AUTH, "content-type": "application/json"}  # type: ignore[attr-defined]
            print(f"soak: {args.minutes:g} min at concurrency {args.concurrency}, workers {pids}")
            print(
                f"{'t (s)':>6} {'ok':>7} {'err':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  "
                "RSS per worker (MiB)"
            )
            t0 = time.monotonic()
            start = {pid: rss_mb(pid) for pid in pids}
            with Load(srv.base, body, headers, args.concurrency) as load:
                next_at = t0 + args.interval
                while True:
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    now = time.monotonic() - t0
                    lat, err = load.take()
                    rss = {pid: rss_mb(pid) for pid in pids}
                    sample = {
                        "t": round(now, 1),
                        "ok": len(lat),
                        "errors": err,
                        "rps": len(lat) / args.interval,
                        "p50_ms": float(np.percentile(lat, 50)) if lat else None,
                        "p99_ms": float(np.percentile(lat, 99)) if lat else None,
                        "rss_mb": rss,
                    }
                    samples.append(sample)
                    rss_txt = " ".join(f"{v:7.1f}" if v else "   gone" for v in rss.values())
                    print(
                        f"{now:6.0f} {len(lat):7d} {err:5d} {sample['rps']:7.1f} "
                        f"{sample['p50_ms'] or float('nan'):8.1f} "
                        f"{sample['p99_ms'] or float('nan'):8.1f}  {rss_txt}",
                        flush=True,
                    )
                    next_at += args.interval
                    if now >= duration - 1e-6:
                        break
    finally:
        if tmp is not None:
            tmp.cleanup()

    base = next((s for s in samples if s["t"] >= baseline_at - 1e-6), samples[0])
    verdicts = []
    print()
    for pid in pids:
        b = base["rss_mb"].get(pid)
        series = [s["rss_mb"].get(pid) for s in samples if s["t"] >= base["t"]]
        if not b or any(v is None for v in series):
            print(f"worker {pid}: exited during the soak")
            verdicts.append(False)
            continue
        peak, last = max(series), series[-1]
        ok = all(abs(v - b) <= TOLERANCE * b for v in series)
        verdicts.append(ok)
        print(
            f"worker {pid}: start {start.get(pid) or 0:.1f} MiB, baseline (t={base['t']:.0f} s) "
            f"{b:.1f} MiB, peak {peak:.1f} MiB, last {last:.1f} MiB -> "
            f"{'within' if ok else 'OUTSIDE'} {TOLERANCE:.0%} of baseline"
        )
    total_ok = sum(s["ok"] for s in samples)
    total_err = sum(s["errors"] for s in samples)
    print(
        f"{total_ok} requests answered 200, {total_err} errors, "
        f"{total_ok / max(samples[-1]['t'], 1e-9):.1f} req/s overall"
    )
    verdict = all(verdicts) and total_err == 0
    print("memory stable and no errors" if verdict else "NOT STABLE (see above)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"samples": samples, "stable": verdict}, indent=2))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
