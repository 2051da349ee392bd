"""Benchmark of batch scoring: pandas engine, Spark engine, and the per-patient REST path.

    uv run python benchmarks/batch.py                       # 100,000 patients, trained models
    uv run python benchmarks/batch.py --patients 5000 --rest-patients 200 --fake
    uv run python benchmarks/batch.py --spark-scaling       # driver peak RSS, 10,000 vs 100,000

Why these three numbers: the pandas engine must score 100,000 patients end to end (read, validate,
score, write) in under a minute; Spark must give the same rows (checked here too) at a useful
speed on `local[2]`; and the batch engine must be at least 10x faster per patient than calling
`recommend` once per patient, which is what scoring a cohort through `POST /recommend` would cost
(measured in process, so without HTTP overhead: the ratio is a lower bound).

The pandas engine uses compiled trees (`serving.batch.compiled`, bit-identical to LightGBM) unless
`--no-compiled`; they are compiled once per model version into the root's data folder (so run
with a DOSEWISE_ROOT you may write to), before the clock starts, and the time is printed apart.

The cohort is `training.simulator.simulate_cohort` on `--base` patients, replicated with new ids
up to `--patients` (simulating 100,000 patients directly takes minutes and adds nothing).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder comes first on sys.path, and benchmarks/features.py would shadow
# the `features` package: put the project root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from features.settings import Settings, apply_offline_environment  # noqa: E402

console = Console(stderr=True)
app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


def build_cohort(n_patients: int, base: int, weeks: int, seed: int) -> tuple[pd.DataFrame, ...]:
    """Simulate `base` patients and replicate them with new ids up to `n_patients`."""
    from training.simulator import simulate_cohort

    base = min(base, n_patients)
    patients, sessions = simulate_cohort(n_patients=base, weeks=weeks, seed=seed)
    reps = -(-n_patients // base)
    ps, ss = [], []
    for k in range(reps):
        p, s = patients, sessions
        if k:
            p = patients.assign(patient_id=patients["patient_id"] + f"-r{k}")
            s = sessions.assign(patient_id=sessions["patient_id"] + f"-r{k}")
        ps.append(p)
        ss.append(s)
    p = pd.concat(ps, ignore_index=True)
    s = pd.concat(ss, ignore_index=True)
    keep = set(p["patient_id"].drop_duplicates().iloc[:n_patients])
    return p[p["patient_id"].isin(keep)], s[s["patient_id"].isin(keep)]


def get_models(fake: bool, workdir: Path, train_patients: int, train_weeks: int, seed: int):
    """(settings, models, description): fake models, or champions (trained here if missing)."""
    if fake:
        from tests.fakes import fake_models

        return Settings(root=workdir), fake_models(), "fake models (tests/fakes.py)"
    from serving.models import ModelUnavailableError, load_champions

    settings = Settings(root=workdir, default_patients=train_patients, default_weeks=train_weeks)
    for candidate in (Settings(), settings):  # the project's registry, then one left in workdir
        try:
            models = load_champions(candidate)
        except ModelUnavailableError:
            continue
        return (
            candidate,
            models,
            f"champions v{models.tolerance.version}/v{models.adherence.version} from "
            f"{candidate.mlflow_tracking_uri}",
        )
    from training.train import run_training

    console.print(
        f"No champion in the project registry: training small models "
        f"({train_patients} patients x {train_weeks} weeks) into {workdir}"
    )
    run_training(settings, None, seed, console=console)
    models = load_champions(settings)
    return (
        settings,
        models,
        (
            f"champions trained here ({train_patients} patients x {train_weeks} weeks), "
            f"v{models.tolerance.version}/v{models.adherence.version}"
        ),
    )


def rest_path(
    patients: pd.DataFrame, sessions: pd.DataFrame, n: int, models: Any, cfg: Any
) -> tuple[float, int]:
    """Seconds for `recommend` called once per patient on n patients, with the input the REST
    service gives it (numpy columns, as from `requests_to_columns`; built before the clock)."""
    from features.contract.tables import PATIENT_COLUMNS, RX_COLUMNS, SESSION_COLUMNS
    from serving.batch import parse_as_of, select_snapshots
    from serving.policy import recommend

    as_of = parse_as_of(None, sessions)
    snaps, _ = select_snapshots(patients, as_of)
    snaps = snaps.iloc[:n].reindex(columns=list(PATIENT_COLUMNS) + list(RX_COLUMNS))
    sess = sessions[sessions["patient_id"].isin(set(snaps["patient_id"]))]
    by_patient = {pid: g[list(SESSION_COLUMNS)] for pid, g in sess.groupby("patient_id")}
    empty = sess.iloc[:0][list(SESSION_COLUMNS)]

    def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {c: frame[c].to_numpy() for c in frame.columns}

    inputs = []
    for i in range(len(snaps)):
        row = snaps.iloc[[i]].reset_index(drop=True)
        inputs.append((columns(row), columns(by_patient.get(row.at[0, "patient_id"], empty))))
    t0, (c0, _) = time.perf_counter(), cpu_seconds()
    for p_cols, s_cols in inputs:
        recommend(p_cols, s_cols, as_of, models, cfg)
    return time.perf_counter() - t0, cpu_seconds()[0] - c0, len(snaps)


def cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds of (this process, its reaped children: the pandas engine's
    workers, joined when its pool closes). Load from other processes inflates wall time much
    more than CPU time, so CPU time says what an idle machine would do."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def dataset_rows(folder: Path) -> int:
    """Rows of a Spark parquet dataset, from the parts' footers (nothing loaded)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("part-*")))


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident set (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spark_case(cohort: Path, out: Path, root: Path, chunk_size: int, master: str) -> None:
    """One Spark run in this (fresh) process; prints the driver's peak RSS as JSON on stdout.

    The driver is this Python process and its JVM (in local mode the JVM also hosts the
    executor); the Python workers are not the driver and are not counted."""
    import psutil

    from serving.batch import run_score
    from serving.batch.spark_session import spark_session

    settings = Settings(root=root)
    spark, _ = spark_session(master)
    t0 = time.perf_counter()
    code = run_score(settings, cohort, out, "spark", None, chunk_size, master, None, console)
    seconds = time.perf_counter() - t0
    jvm = [c for c in psutil.Process().children() if "java" in " ".join(c.cmdline())]
    result = {
        "exit": code,
        "seconds": seconds,
        "python_peak_mib": peak_rss_mib(os.getpid()),
        "jvm_peak_mib": peak_rss_mib(jvm[0].pid) if jvm else float("nan"),
        "rows": dataset_rows(out) if code == 0 else 0,
    }
    spark.stop()
    print(json.dumps(result))


def spark_scaling(
    p: pd.DataFrame,
    s: pd.DataFrame,
    tmp: Path,
    sizes: tuple[int, ...],
    chunk_size: int,
    master: str,
    root: Path,
    port: int,
) -> list[dict[str, Any]]:
    """Each size in its own process with a 512 MiB driver; peak RSS of the driver."""
    conf = tmp / "spark-conf"
    conf.mkdir(exist_ok=True)
    (conf / "spark-defaults.conf").write_text(
        f"spark.driver.port {port}\nspark.driver.blockManager.port {port + 1}\n"
        "spark.port.maxRetries 8\n"
    )
    env = os.environ | {
        "DOSEWISE_SPARK_DRIVER_MEMORY": "512m",
        "SPARK_CONF_DIR": str(conf),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    ids = p["patient_id"].drop_duplicates()
    runs = []
    for n in sizes:
        keep = set(ids.iloc[:n])
        cohort = tmp / f"cohort-{n}"
        cohort.mkdir(exist_ok=True)
        p[p["patient_id"].isin(keep)].to_parquet(cohort / "patients.parquet", index=False)
        s[s["patient_id"].isin(keep)].to_parquet(cohort / "sessions.parquet", index=False)
        out = tmp / f"spark-{n}.parquet"
        console.print(f"spark scaling: {n:,} patients on {master}, 512 MiB driver ...")
        proc = subprocess.run(
            [sys.executable, __file__, "--spark-case", str(cohort), str(out), str(root),
             str(chunk_size), master],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False,
        )  # fmt: skip
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise SystemExit(f"spark case {n} failed (exit {proc.returncode})")
        runs.append({"patients": n} | json.loads(lines[-1]))
    return runs


@app.command()
def main(
    patients: Annotated[int, typer.Option(min=10, help="Cohort size")] = 100_000,
    base: Annotated[int, typer.Option(min=10, help="Patients simulated, then replicated")] = 10_000,
    weeks: Annotated[int, typer.Option(min=2, help="Weeks simulated (~4.4 sessions/week)")] = 9,
    rest_patients: Annotated[int, typer.Option(min=1, help="Patients for the REST path")] = 1000,
    chunk_size: Annotated[int, typer.Option(min=1)] = 5000,
    jobs: Annotated[int | None, typer.Option(min=1, help="pandas workers (default all)")] = None,
    spark: Annotated[bool, typer.Option("--spark/--no-spark", help="Time Spark too")] = False,
    spark_scaling_: Annotated[
        bool,
        typer.Option(
            "--spark-scaling",
            help="Driver peak RSS on local Spark (512 MiB driver) for 1/10 and all patients",
        ),
    ] = False,
    spark_master: Annotated[str, typer.Option()] = "local[2]",
    spark_port: Annotated[int, typer.Option(help="Driver ports (this and the next)")] = 39450,
    fake: Annotated[bool, typer.Option(help="Fake models instead of champions")] = False,
    compiled: Annotated[
        bool,
        typer.Option(
            "--compiled/--no-compiled",
            help="pandas engine with compiled trees (compiled first, outside the clock, if not "
            "cached under the root's data folder)",
        ),
    ] = True,
    train_patients: Annotated[int, typer.Option(help="If training is needed")] = 1500,
    train_weeks: Annotated[int, typer.Option(help="If training is needed")] = 12,
    seed: Annotated[int, typer.Option()] = 7,
    workdir: Annotated[Path | None, typer.Option(help="Keep files here (default: temp)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here")] = None,
) -> None:
    """Time the pandas engine and the per-patient path (and Spark); print the ratios."""
    apply_offline_environment()
    from serving.batch import policy_config, run_score
    from serving.batch.engine_pandas import default_jobs

    tmp = Path(workdir or tempfile.mkdtemp(prefix="dosewise-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"patients": patients}
    try:
        settings, models, model_desc = get_models(fake, tmp, train_patients, train_weeks, seed)
        cfg = policy_config(settings)
        t0 = time.perf_counter()
        p, s = build_cohort(patients, base, weeks, seed)
        cohort = tmp / "cohort"
        cohort.mkdir(exist_ok=True)
        p.to_parquet(cohort / "patients.parquet", index=False)
        s.to_parquet(cohort / "sessions.parquet", index=False)
        console.print(
            f"cohort: {p['patient_id'].nunique():,} patients, {len(p):,} snapshots, "
            f"{len(s):,} sessions ({len(s) / max(p['patient_id'].nunique(), 1):.1f}/patient), "
            f"built in {time.perf_counter() - t0:.1f} s; models: {model_desc}"
        )
        results |= {"snapshots": len(p), "sessions": len(s), "models": model_desc}
        if spark_scaling_:
            if fake:
                raise SystemExit("--spark-scaling loads the champions on the executors: no --fake")
            sizes = (max(patients // 10, 1), patients)
            results["spark_scaling"] = spark_scaling(
                p, s, tmp, sizes, chunk_size, spark_master, settings.root, spark_port
            )
            print_scaling(results)
            return

        jobs = jobs or default_jobs()
        if compiled:
            # Compiled trees (serving.batch.compiled): compiled once per model version and cached
            # under the root's data folder, so a real deployment pays this once; timed apart.
            from serving.batch.compiled import CompiledPredictor, compiled_models

            t0, c0 = time.perf_counter(), cpu_seconds()
            ready = compiled_models(models, settings, patients, force=True, say=console.print)
            wall, (me, kids) = time.perf_counter() - t0, cpu_seconds()
            results["compile"] = {
                "seconds": wall,
                "cpu_seconds": me - c0[0] + kids - c0[1],
                "used": isinstance(ready.tolerance, CompiledPredictor),
            }
            console.print(
                f"compiled trees: {'ready' if results['compile']['used'] else 'NOT used'} in "
                f"{wall:.1f} s (cached per model version under {settings.data_dir})"
            )
        results["load_before"] = os.getloadavg()
        t0, c0 = time.perf_counter(), cpu_seconds()
        out_pd = tmp / "scores-pandas.parquet"
        code = run_score(settings, cohort, out_pd, "pandas", None, chunk_size, None, None,
                         console, models, cfg, jobs=jobs, compiled=compiled)  # fmt: skip
        wall, (me, kids) = time.perf_counter() - t0, cpu_seconds()
        serial, workers = me - c0[0], kids - c0[1]  # the parent's share is mostly serial work
        cpu = serial + workers
        assert code == 0, f"pandas engine exit code {code}"
        n_scored = len(pd.read_parquet(out_pd, columns=["patient_id"]))
        results["pandas"] = {
            "seconds": wall, "per_second": n_scored / wall, "scored": n_scored, "jobs": jobs,
            "cpu_seconds": cpu, "cpu_ms_per_patient": 1000 * cpu / max(n_scored, 1),
            "cpu_parent_seconds": serial, "cpu_workers_seconds": workers,
            "idle_estimate_seconds": serial + workers / jobs,
        }  # fmt: skip

        if spark:
            from serving.batch import finalize_scored

            t0 = time.perf_counter()
            out_sp = tmp / "scores-spark.parquet"
            code = run_score(settings, cohort, out_sp, "spark", None, chunk_size, spark_master,
                             None, console, models, cfg)  # fmt: skip
            wall = time.perf_counter() - t0
            assert code == 0, f"spark engine exit code {code}"
            got = finalize_scored(pd.read_parquet(out_sp))
            same = finalize_scored(pd.read_parquet(out_pd)).equals(got)
            results["spark"] = {
                "seconds": wall,
                "per_second": n_scored / wall,
                "master": spark_master,
                "identical_to_pandas": bool(same),
            }

        seconds, cpu, n = rest_path(p, s, rest_patients, models, cfg)
        results["rest_path"] = {
            "patients": n,
            "seconds": seconds,
            "per_second": n / seconds,
            "scaled_seconds": seconds / n * patients,
            "cpu_ms_per_patient": 1000 * cpu / n,
        }
        results["load_after"] = os.getloadavg()
        results["speedup_pandas_vs_rest"] = (
            results["pandas"]["per_second"] / results["rest_path"]["per_second"]
        )
        results["cpu_speedup_pandas_vs_rest"] = (
            results["rest_path"]["cpu_ms_per_patient"] / results["pandas"]["cpu_ms_per_patient"]
        )
        # What an idle machine would give: the pandas engine in its idle estimate (parent +
        # workers / jobs), the per-patient path in its CPU time (one process, one core).
        results["idle_speedup_estimate"] = (
            n_scored / results["pandas"]["idle_estimate_seconds"]
        ) / (1000 / results["rest_path"]["cpu_ms_per_patient"])
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
        if json_out:
            json_out.write_text(json.dumps(results, indent=2, default=float))
    print_results(results)


def print_scaling(r: dict[str, Any]) -> None:
    t = Table(title="Spark driver memory (local, 512 MiB driver)")
    for col in ("patients", "wall s", "rows written", "python driver peak MiB", "JVM peak MiB"):
        t.add_column(col, justify="right")
    for run in r["spark_scaling"]:
        t.add_row(f"{run['patients']:,}", f"{run['seconds']:.1f}", f"{run['rows']:,}",
                  f"{run['python_peak_mib']:.0f}", f"{run['jvm_peak_mib']:.0f}")  # fmt: skip
    Console().print(t)
    small, large = r["spark_scaling"][0], r["spark_scaling"][-1]
    for key, name in (("python_peak_mib", "Python driver"), ("jvm_peak_mib", "driver JVM")):
        ratio = large[key] / small[key]
        verdict = "met" if ratio <= 1.5 else "NOT met"
        Console().print(
            f"{name} peak, larger / smaller run: {ratio:.2f}x (goal <= 1.5x: {verdict})"
        )


def print_results(r: dict[str, Any]) -> None:
    t = Table(title=f"Batch scoring, {r['patients']:,} patients ({r['models']})")
    t.add_column("path")
    t.add_column("wall s", justify="right")
    t.add_column("patients/s", justify="right")
    t.add_column("note")
    pdx = r["pandas"]
    goal = "goal < 30 s: " + ("met" if pdx["seconds"] < 30 else "NOT met")
    trees = "compiled trees" if r.get("compile", {}).get("used") else "LightGBM"
    t.add_row(f"pandas engine (--jobs {pdx['jobs']}, {trees})", f"{pdx['seconds']:.1f}",
              f"{pdx['per_second']:,.0f}", goal)  # fmt: skip
    t.add_row("  CPU (user+sys, all processes)", f"{pdx['cpu_seconds']:.1f} CPU-s",
              f"{pdx['cpu_ms_per_patient']:.3f} ms/patient",
              f"parent {pdx['cpu_parent_seconds']:.1f} + workers {pdx['cpu_workers_seconds']:.1f}; "
              f"idle estimate parent + workers/{pdx['jobs']} = "
              f"{pdx['idle_estimate_seconds']:.1f} s")  # fmt: skip
    if "spark" in r:
        sp = r["spark"]
        t.add_row(
            f"spark engine ({sp['master']})",
            f"{sp['seconds']:.1f}",
            f"{sp['per_second']:,.0f}",
            "identical rows" if sp["identical_to_pandas"] else "OUTPUT DIFFERS",
        )
    rp = r["rest_path"]
    t.add_row(
        f"per-patient recommend ({rp['patients']:,})",
        f"{rp['scaled_seconds']:.1f} (scaled)",
        f"{rp['per_second']:,.0f}",
        f"measured {rp['seconds']:.1f} s; CPU {rp['cpu_ms_per_patient']:.2f} ms/patient",
    )
    Console().print(t)
    if "compile" in r:
        c = r["compile"]
        Console().print(
            f"compiled trees: {'used' if c['used'] else 'NOT used'}; ready in {c['seconds']:.1f} s "
            f"({c['cpu_seconds']:.1f} CPU-s; compiled once per model version, then loaded from "
            "the cache), outside the pandas engine's clock"
        )
    Console().print(
        "load average (1, 5, 15 min) before: {} / after: {}".format(
            *(", ".join(f"{x:.2f}" for x in r[k]) for k in ("load_before", "load_after"))
        )
    )
    sp = r["speedup_pandas_vs_rest"]
    verdict = "met" if sp >= 10 else "NOT met"
    Console().print(
        f"pandas engine vs per-patient path: {sp:,.1f}x per patient (goal >= 10x: {verdict}); "
        f"in CPU time per patient: {r['cpu_speedup_pandas_vs_rest']:,.1f}x"
    )
    idle_s, idle_x = pdx["idle_estimate_seconds"], r["idle_speedup_estimate"]
    Console().print(
        f"idle-machine estimate (CPU time): pandas {idle_s:.1f} s "
        f"(goal < 30 s: {'met' if idle_s < 30 else 'NOT met'}), "
        f"{idle_x:,.1f}x the per-patient path (goal >= 10x: {'met' if idle_x >= 10 else 'NOT met'})"
    )
    if "spark" in r:
        Console().print(
            f"spark vs pandas: {r['spark']['per_second'] / pdx['per_second']:.2f}x per patient"
        )


if __name__ == "__main__":
    np.seterr(all="ignore")
    if sys.argv[1:2] == ["--spark-case"]:  # one run of --spark-scaling, in a fresh process
        apply_offline_environment()
        a = sys.argv[2:]
        spark_case(Path(a[0]), Path(a[1]), Path(a[2]), int(a[3]), a[4])
    else:
        app()
