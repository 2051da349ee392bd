"""Benchmark of the REST service against a real `dosewise serve` on 127.0.0.1.

    uv run python benchmarks/serve.py             # trains a small registry in a temp dir first
    uv run python benchmarks/serve.py --root .    # the project's registry (after dosewise up)
    uv run python benchmarks/serve.py --workers 1 --threads 2 --seconds 10

Prints, for the contract example request:
* sequential latency of POST /recommend over HTTP (p50 / p99; goal p50 < 8 ms, p99 < 25 ms),
* throughput at concurrency 16 for 20 s (goal >= 250 req/s), error count, the CPU the server
  workers and this load generator (same cores) spend per request, and the load average,
* CDS Hooks patient-view (issue #13) for the chemotherapy fixture patient: sequential p50 / p99
  (goal p50 < 15 ms), its ratio to /recommend's p50, and req/s at concurrency 16,
* the in-process cost of the same recommendation (`policy.recommend` called directly, the
  service's handler path without HTTP, and the worker thread's whole work: the handler plus the
  review page and monitoring rows written beside the answer), and the ratio HTTP / in-process.
Figures, never assertions (README: benchmarks are not timed tests). Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder comes first on sys.path and its features.py would shadow the
# `features` package: put the project root first instead
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))

from features.settings import Settings, apply_offline_environment  # noqa: E402
from tests.servers import free_port, spawn_server, stop_server, wait_for  # noqa: E402

KEY = "benchmark-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLE = json.loads((ROOT / "tests" / "fixtures" / "recommend-request.json").read_text())


# ------------------------------------------------------------------------------------------------
# registry and server
# ------------------------------------------------------------------------------------------------
def ensure_champions(root: Path, patients: int, weeks: int, seed: int) -> None:
    """Train and promote small models into `root` unless it already has champions."""
    apply_offline_environment()
    settings = Settings(root=root, default_patients=patients, default_weeks=weeks)
    from training.registry import has_champion

    if has_champion(settings):
        return
    print(f"no champion under {root}: training {patients} patients x {weeks} weeks ...")
    from training.train import run_training

    t0 = time.perf_counter()
    run_training(settings, None, seed)
    print(f"trained in {time.perf_counter() - t0:.0f} s")


# CDS Hooks patient-view (issue #13): every call carries a fresh client JWT (single-use jti), so
# tokens are signed before the clock starts and handed out from a pool.
CDS_BASE = "https://dosewise.bench"
CDS_PATH = "/cds-services/dosewise-patient-view"
CDS_ISS = "https://ehr.bench"


def cds_key() -> Any:
    from serving.cds.keys import generate_private_key

    global _CDS_KEY
    if _CDS_KEY is None:
        _CDS_KEY = generate_private_key("ES384")
    return _CDS_KEY


_CDS_KEY: Any = None


def cds_environment(root: Path) -> dict[str, str]:
    """Settings that let the server trust the benchmark's client key."""
    from serving.cds.keys import public_jwk

    trusted = root / "cds-trusted-clients.json"
    trusted.write_text(json.dumps({CDS_ISS: {"keys": [public_jwk(cds_key(), "b1", "ES384")]}}))
    return {"DOSEWISE_PUBLIC_BASE_URL": CDS_BASE, "DOSEWISE_CDS_TRUSTED_CLIENTS": str(trusted)}


def cds_tokens(n: int) -> list[dict[str, str]]:
    """`n` request headers, each with its own signed JWT for patient-view."""
    from serving.cds.keys import sign_token

    key = cds_key()
    return [
        {
            "Authorization": "Bearer "
            + sign_token(key, CDS_ISS, CDS_BASE + CDS_PATH, "b1", "ES384", lifetime_s=300),
            "content-type": "application/json",
        }
        for _ in range(n)
    ]


def cds_body() -> bytes:
    """The chemotherapy fixture patient's patient-view request, dated today."""
    sys.path.insert(0, str(ROOT))
    from tests.cds.helpers import fixture

    return json.dumps(fixture("chemo")).encode()


def cds_sequential(base: str, n: int, warmup: int = 20) -> tuple[list[float], int]:
    """Latencies (ms) of back-to-back patient-view calls on one keep-alive connection, and
    the number of answers other than 200 (counted and reported, so the /recommend figures
    are not lost to one failed call)."""
    body = cds_body()
    pool = cds_tokens(warmup + n)
    out, failed = [], 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for i, headers in enumerate(pool):
            t0 = time.perf_counter()
            resp = client.post(CDS_PATH, content=body, headers=headers)
            dt = (time.perf_counter() - t0) * 1000
            if resp.status_code != 200:
                failed += 1
                continue
            if i >= warmup:
                out.append(dt)
    return out, failed


def cds_load(base: str, concurrency: int, seconds: float, pool_size: int) -> dict[str, Any]:
    """patient-view at `concurrency` for `seconds` (or until the token pool is used up)."""
    pool = cds_tokens(pool_size)
    lock = threading.Lock()

    def next_headers() -> dict[str, str] | None:
        with lock:
            return pool.pop() if pool else None

    out = load(base, concurrency, seconds, CDS_PATH, cds_body(), next_headers)
    out["tokens_left"] = len(pool)
    return out


class RunningServer:
    """`dosewise serve` in a child process, ready (every worker) before use."""

    def __init__(
        self, root: Path, workers: int | None, threads: int | None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="dosewise-bench-", suffix=".log")[1])
        env = {"DOSEWISE_ROOT": str(root), "DOSEWISE_API_KEYS": KEY, **cds_environment(root)}
        if threads is not None:
            env["DOSEWISE_SERVE_THREADS"] = str(threads)
        self.proc = spawn_server(self.port, env, workers=workers, log_path=self.log)

    def __enter__(self) -> RunningServer:
        if not wait_for(self.base + "/livez", timeout=240):
            self.__exit__()
            raise RuntimeError(f"server did not start; log: {self.log}")
        streak, deadline = 0, time.monotonic() + 240
        while streak < 10 and time.monotonic() < deadline:
            ok = httpx.get(self.base + "/readyz", timeout=10).status_code == 200
            streak = streak + 1 if ok else 0
            time.sleep(0.1)
        if streak < 10:
            self.__exit__()
            raise RuntimeError(f"server not ready (no champion?); log: {self.log}")
        return self

    def __exit__(self, *exc: object) -> None:
        stop_server(self.proc)

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time used so far by all worker processes."""
        import psutil

        total = 0.0
        for pid in self.worker_pids():
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def worker_pids(self) -> list[int]:
        """Pids of the BentoML worker processes (they run the service)."""
        import psutil

        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [p.pid for p in procs if "_bentoml_impl.worker" in " ".join(p.cmdline())]


# ------------------------------------------------------------------------------------------------
# measurements
# ------------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def sequential(
    base: str, n: int, warmup: int = 30, body_obj: Any = None, expect: int = 200
) -> list[float]:
    """Latencies (ms) of `n` back-to-back POST /recommend on one keep-alive connection."""
    body = json.dumps(EXAMPLE if body_obj is None else body_obj).encode()
    headers = {**AUTH, "content-type": "application/json"}
    out = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            resp = client.post("/recommend", content=body, headers=headers)
            dt = (time.perf_counter() - t0) * 1000
            if resp.status_code != expect:
                raise RuntimeError(f"status {resp.status_code}: {resp.text[:200]}")
            if i >= warmup:
                out.append(dt)
    return out


def load(
    base: str,
    concurrency: int,
    seconds: float,
    path: str = "/recommend",
    body: bytes | None = None,
    next_headers: Any = None,
) -> dict[str, Any]:
    """`concurrency` threads, each a keep-alive client posting as fast as answers come back.

    `next_headers()` gives each request its own headers (a CDS call needs a fresh JWT); a
    worker stops when it returns None (its pool of pre-signed tokens is used up)."""
    body = json.dumps(EXAMPLE).encode() if body is None else body
    headers = {**AUTH, "content-type": "application/json"}
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start = threading.Event()
    deadline = [0.0]

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            start.wait()
            while time.perf_counter() < deadline[0]:
                h = headers if next_headers is None else next_headers()
                if h is None:
                    break
                t0 = time.perf_counter()
                try:
                    ok = client.post(path, content=body, headers=h).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    lat[k].append((time.perf_counter() - t0) * 1000)
                else:
                    errors[k] += 1

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.set()
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.perf_counter() - t0
    flat = [x for xs in lat for x in xs]
    return {
        "requests": len(flat),
        "errors": sum(errors),
        "seconds": elapsed,
        "rps": len(flat) / elapsed,
        "p50_ms": pct(flat, 50),
        "p99_ms": pct(flat, 99),
    }


def in_process(root: Path, n: int) -> dict[str, float]:
    """The same recommendation without HTTP: the policy alone, and the whole handler path."""
    warnings.filterwarnings("ignore")
    from features.contract.convert import requests_to_columns
    from features.contract.rest import RecommendRequest
    from serving import monitoring
    from serving.audit import make_record
    from serving.http.work import hash_request, recommend_many
    from serving.models import load_champions
    from serving.policy import PolicyConfig, recommend, response_json
    from serving.ui import routes as review

    settings = Settings(root=root)
    models = load_champions(settings)
    cfg = PolicyConfig.from_settings(settings)
    req = RecommendRequest.model_validate(EXAMPLE)
    patients, sessions = requests_to_columns([req])  # what the service hands the policy
    body = json.dumps(EXAMPLE).encode()

    def policy_only() -> None:
        recommend(patients, sessions, req.as_of, models, cfg)

    def handler_path() -> None:  # parse + validate + frames + policy + response + hash
        r = RecommendRequest.model_validate_json(body)
        rec = recommend_many([r], models, cfg)[0]
        hash_request(r)
        json.dumps(response_json(rec))

    def worker_path() -> None:  # the handler + what /recommend writes beside the answer
        r = RecommendRequest.model_validate_json(body)
        derived: list[Any] = []
        recs = recommend_many([r], models, cfg, inputs=derived)
        pages = review.prepare_pages([r], recs, models, cfg, derived)  # review page row
        resp = response_json(recs[0])
        record = make_record(resp, hash_request(r), 0.0, "recommend")
        inputs = monitoring.served_inputs([d.row for d in derived], recs, models)
        rows = monitoring.attach([record], inputs)  # monitoring row
        json.dumps([resp, rows[0][monitoring.MONITORING_KEY], pages[0][1]], default=str)

    out = {}
    for name, fn in (("policy", policy_only), ("handler", handler_path), ("worker", worker_path)):
        for _ in range(10):
            fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        out[f"{name}_p50_ms"] = pct(times, 50)
        out[f"{name}_p99_ms"] = pct(times, 99)
    return out


# ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", type=Path, default=None, help="DOSEWISE_ROOT with a registry")
    ap.add_argument("--workers", type=int, default=None, help="server workers (default: serve's)")
    ap.add_argument("--threads", type=int, default=None, help="policy threads per worker")
    ap.add_argument("--sequential", type=int, default=300, help="sequential requests")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--port", type=int, default=None, help="loopback port (default: any free)")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of the load phase")
    ap.add_argument("--patients", type=int, default=300, help="cohort size when training")
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cds-seconds", type=float, default=10.0, help="patient-view load phase")
    ap.add_argument("--cds-tokens", type=int, default=3000, help="JWTs pre-signed for that phase")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    apply_offline_environment()
    tmp = None
    if args.root is None:
        tmp = tempfile.TemporaryDirectory(prefix="dosewise-bench-")
        root = Path(tmp.name)
    else:
        root = args.root.resolve()
    try:
        ensure_champions(root, args.patients, args.weeks, args.seed)
        with RunningServer(root, args.workers, args.threads, args.port) as srv:
            n_workers = len(srv.worker_pids())
            seq = sequential(srv.base, args.sequential)
            invalid = dict(EXAMPLE, unknown_field=1)  # the HTTP + validation path, no policy
            seq_422 = sequential(srv.base, args.sequential, body_obj=invalid, expect=422)
            cpu0, client0 = srv.worker_cpu_seconds(), time.process_time()
            thr = load(srv.base, args.concurrency, args.seconds)
            cpu_ms = (srv.worker_cpu_seconds() - cpu0) * 1000 / max(thr["requests"], 1)
            client_ms = (time.process_time() - client0) * 1000 / max(thr["requests"], 1)
            load_avg = os.getloadavg()
            cds_seq, cds_failed = cds_sequential(srv.base, min(args.sequential, 200))
            cds_thr = cds_load(srv.base, args.concurrency, args.cds_seconds, args.cds_tokens)
        inproc = in_process(root, min(args.sequential, 200))
    finally:
        if tmp is not None:
            tmp.cleanup()

    figures = {
        "workers": n_workers,
        "threads": args.threads or Settings().serve_threads,
        "cpus": os.cpu_count(),
        "http_seq_p50_ms": pct(seq, 50),
        "http_seq_p99_ms": pct(seq, 99),
        "http_seq_mean_ms": statistics.fmean(seq),
        "http_seq_422_p50_ms": pct(seq_422, 50),
        "http_seq_422_p99_ms": pct(seq_422, 99),
        "load_worker_cpu_ms_per_request": cpu_ms,
        "load_client_cpu_ms_per_request": client_ms,
        "loadavg_1m_after_load": load_avg[0],
        "load_rps_if_cores_were_free": (os.cpu_count() or 1) * 1000 / cpu_ms,
        **{f"load_{k}": v for k, v in thr.items()},
        **{f"inproc_{k}": v for k, v in inproc.items()},
    }
    figures |= {
        "cds_patient_view_seq_p50_ms": pct(cds_seq, 50),
        "cds_patient_view_seq_p99_ms": pct(cds_seq, 99),
        "cds_patient_view_seq_errors": cds_failed,
        **{f"cds_patient_view_load_{k}": v for k, v in cds_thr.items()},
    }
    figures["ratio_patient_view_to_recommend_p50"] = pct(cds_seq, 50) / figures["http_seq_p50_ms"]
    figures["ratio_http_to_policy_p50"] = figures["http_seq_p50_ms"] / inproc["policy_p50_ms"]
    figures["ratio_http_to_handler_p50"] = figures["http_seq_p50_ms"] / inproc["handler_p50_ms"]
    figures["http_overhead_p50_ms"] = figures["http_seq_p50_ms"] - inproc["handler_p50_ms"]

    print()
    print(f"POST /recommend, contract example; {n_workers} worker(s) on {os.cpu_count()} CPU(s)")
    print(
        f"  sequential over HTTP   p50 {figures['http_seq_p50_ms']:7.2f} ms   "
        f"p99 {figures['http_seq_p99_ms']:7.2f} ms   (goal p50 < 8, p99 < 25)"
    )
    print(
        f"  concurrency {args.concurrency:<3d}        {thr['rps']:7.1f} req/s "
        f"({thr['requests']} ok, {thr['errors']} errors in {thr['seconds']:.0f} s; "
        f"p50 {thr['p50_ms']:.1f} ms, p99 {thr['p99_ms']:.1f} ms)   (goal >= 250 req/s)"
    )
    print(
        f"  server CPU per request {cpu_ms:7.2f} ms   -> at most "
        f"{figures['load_rps_if_cores_were_free']:.0f} req/s on {os.cpu_count()} idle cores"
    )
    print(
        f"  client CPU per request {client_ms:7.2f} ms   (this load generator shares the cores; "
        f"1-min load average after the phase {load_avg[0]:.2f})"
    )
    print(
        f"  422 path over HTTP     p50 {figures['http_seq_422_p50_ms']:7.2f} ms   "
        f"p99 {figures['http_seq_422_p99_ms']:7.2f} ms   (HTTP + auth + validation, no policy)"
    )
    print(
        f"  in process: policy     p50 {inproc['policy_p50_ms']:7.2f} ms   "
        f"p99 {inproc['policy_p99_ms']:7.2f} ms"
    )
    print(
        f"  in process: handler    p50 {inproc['handler_p50_ms']:7.2f} ms   "
        f"p99 {inproc['handler_p99_ms']:7.2f} ms   (validate + policy + response + hash)"
    )
    print(
        f"  in process: worker     p50 {inproc['worker_p50_ms']:7.2f} ms   "
        f"p99 {inproc['worker_p99_ms']:7.2f} ms   (handler + review page row + monitoring row)"
    )
    print(
        f"  ratio HTTP / policy    {figures['ratio_http_to_policy_p50']:.2f}x   "
        f"HTTP / handler {figures['ratio_http_to_handler_p50']:.2f}x   "
        f"(HTTP + audit overhead {figures['http_overhead_p50_ms']:.2f} ms)"
    )
    print(
        f"CDS Hooks patient-view (chemotherapy fixture, JWT ES384, FHIR mapping, card, audit)\n"
        f"  sequential over HTTP   p50 {figures['cds_patient_view_seq_p50_ms']:7.2f} ms   "
        f"p99 {figures['cds_patient_view_seq_p99_ms']:7.2f} ms   (goal p50 < 15; "
        f"{cds_failed} not 200)   "
        f"{figures['ratio_patient_view_to_recommend_p50']:.2f}x /recommend p50"
    )
    print(
        f"  concurrency {args.concurrency:<3d}        {cds_thr['rps']:7.1f} req/s "
        f"({cds_thr['requests']} ok, {cds_thr['errors']} errors in {cds_thr['seconds']:.0f} s; "
        f"p50 {cds_thr['p50_ms']:.1f} ms, p99 {cds_thr['p99_ms']:.1f} ms; "
        f"{cds_thr['tokens_left']} tokens left)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
