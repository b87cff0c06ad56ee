"""Benchmark: the scaling curve of ingest, backtest and forecast in the number of products.

Measures wall time and peak memory of three stages for catalogues of 1k, 10k and
100k products x 730 days (2 years, daily), on the local engine and on Dask (a
``LocalCluster`` of 2 worker processes), and fits each stage's growth exponent:
the slope of log seconds (and of log peak memory) against log products. A slope
of at most 1 means the stage grows no worse than linearly.

Stages, each in a fresh process so its peak memory is its own:

- ``ingest``: order lines (``ingest_scale.py``'s generator, about 1,000 lines per
  product) to a product-day panel with ``trendcast ingest`` out of core, through
  ``ingest_scale.ingest``. DuckDB does the work, so there is no Dask variant.
- ``backtest``: ``trendcast.pipeline.backtest`` of the fast model set (the
  baselines and intermittent-demand models of ``FAST_CANDIDATES``: seasonal_naive,
  window_average, croston, tsb, adida, imapa), ``--windows`` windows of 28 days.
- ``forecast``: ``trendcast.pipeline.forecast`` with ``auto`` choosing per product
  among the same fast set (its own 2 selection windows included), 28 days ahead.

Backtest and forecast read a synthetic catalogue (``catalogue_to_parquet``, seed 0,
no behaviour tables) from Parquet and prepare it with ``load_sales``; that loading
is timed apart (``load s``) and is inside the peak memory. On both engines the stages
stream: they read only ``product_id, date, units`` and prepare and run about
``CHUNK_PRODUCTS`` products at a time, cut between row groups where the product changes,
so their memory is that of one chunk; the fast models are local, one fit per product, so
the results are those of one pass. On Dask one cluster, started inside the timed stage,
runs every chunk (as ``trendcast forecast --chunk-size N --engine dask`` does). Engine
``cli`` is the forecast as ``trendcast forecast --chunk-size`` runs it on the file.

Peak memory is the largest sum of the proportional resident memory (PSS: a page
shared by n processes counts 1/n in each) of the stage's process and all its
descendants (statsforecast's forked worker pool, the Dask nanny and worker
processes, the ingest child), sampled every ``SAMPLE_SECONDS`` with psutil (every
0.25 s in the rows measured before 2026-11-22 04:30 UTC). CPU seconds are the
user + system time of the stage's process tree (``RUSAGE_CHILDREN``).

Results are cached per (stage, products, engine) in ``results/scaling.csv``: an
interrupted run continues where it stopped (``--redo`` measures again). Every step
logs a line; a running step logs its elapsed time and memory every minute. The
stage's own output goes to ``<data>/logs/``. ``results/scaling.md`` is rewritten
after every step, with the date, the machine and the load average of each step
(the machine is shared, so timings move with the load).

Run: ``.venv/bin/python benchmarks/scaling.py --products 1000 10000 100000
[--stages ingest backtest forecast] [--engines local dask] [--data /tmp/scaling]
[--windows 1] [--jobs 2] [--redo] [--resume] [--report]``; ``--report`` only rewrites the
report from the cached results. ``--resume`` lets the ``cli`` forecast, which resumes from
its finished chunks, be measured over several sittings (see :func:`measure`), for a size
that takes longer than one sitting can last (1M products: about three hours here).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ingest_scale
import numpy as np
from online_retail_models import machine, stack

RESULTS = Path(__file__).resolve().parent / "results"
CSV_PATH = RESULTS / "scaling.csv"
MD_PATH = RESULTS / "scaling.md"
STAGES = ("ingest", "backtest", "forecast")
#: ``cli``: the forecast as `trendcast forecast --input sales.parquet --chunk-size N` runs it
ENGINES = ("local", "dask", "cli")
HORIZON = 28
DAYS = 730
TARGET_PRODUCTS = 100_000
CHUNK_PRODUCTS = 10_000  # products a chunk of the streamed local forecast
TARGET_SECONDS = 30 * 60
#: seconds between two readings of the stage's memory: each reads every process's
#: smaps_rollup, which walks its page tables; at 0.25 s the sampler itself took about a
#: quarter of a core while forecasting 1M products
SAMPLE_SECONDS = 1.0
#: why a stage x engine was not measured at the larger sizes (when it was not)
_DASK_TIME = "about an hour on this machine (ten times the 10k chunk); not run for time"
NOT_RUN = {("backtest", "dask"): _DASK_TIME, ("forecast", "dask"): _DASK_TIME}
FIELDS = [
    "stage",
    "engine",
    "products",
    "seconds",
    "load_seconds",
    "peak_gib",
    "cpu_seconds",
    "rows",
    "load_1min",
    "finished",
    "source",
    "stack",
]


def log(msg: str) -> None:
    load = os.getloadavg()[0]
    print(f"[{datetime.now(UTC):%H:%M:%S} load {load:4.1f}] {msg}", flush=True)


# -- the stages, run inside a fresh process ------------------------------------------------------


def catalogue(data: Path, products: int) -> Path:
    """The synthetic catalogue's sales Parquet for ``products`` (written once, then reused)."""
    from trendcast.datasets.synthetic import catalogue_to_parquet

    folder = data / f"catalogue_{products}"
    sales = folder / "sales.parquet"
    if not sales.exists():
        started = time.perf_counter()
        tmp = data / f".catalogue_{products}.tmp"
        catalogue_to_parquet(tmp, products, "2024-01-01", DAYS, seed=0, behaviour=False)
        tmp.rename(folder)
        log(f"wrote the {products:,}-product catalogue in {time.perf_counter() - started:.0f}s")
    return sales


def orders(data: Path, products: int) -> Path:
    """``ingest_scale``'s order lines for ``products`` (about 1,000 lines each), written once."""
    lines = products * 1000
    folder = data / f"orders_{products}"
    if not any(folder.glob("*.parquet")):
        tmp = data / f".orders_{products}.tmp"
        parts, seconds = ingest_scale.generate(tmp, lines)
        tmp.rename(folder)
        log(f"wrote {lines:,} order lines in {parts} part(s) in {seconds:.0f}s")
    return folder


def streamed(stage: str, sales: Path, jobs: int, windows: int, engine: str) -> dict[str, object]:
    """The backtest or forecast, read, prepared and run about ``CHUNK_PRODUCTS`` products
    at a time (whole products: the fast models are local, one fit per product, so the
    results are those of one pass over the whole panel).

    Only the columns the fast models use are read. Preparing a whole 100k-product panel
    at once would take roughly ten times what 10k take (3.5 GiB), too much for this machine.
    A Dask cluster is started once, inside the timed stage, and runs every chunk.
    """
    import pyarrow.parquet as pq

    import trendcast as tc
    from trendcast.engines import Engine

    file = pq.ParquetFile(sales)
    # a product may span two row groups: cut only where the product changes between them
    per_group = [file.metadata.row_group(k).num_rows for k in range(file.num_row_groups)]
    ends = []
    for k in range(file.num_row_groups):
        ids = file.read_row_group(k, columns=["product_id"]).column(0)
        ends.append((ids[0].as_py(), ids[-1].as_py()))
    chunks: list[list[int]] = [[]]
    rows_per_chunk = CHUNK_PRODUCTS * DAYS * 0.9
    for k, n in enumerate(per_group):
        full = sum(per_group[g] for g in chunks[-1]) + n > rows_per_chunk
        if chunks[-1] and full and ends[k][0] != ends[k - 1][1]:
            chunks.append([])
        chunks[-1].append(k)
    load_seconds = seconds = 0.0
    rows = 0
    session = Engine(engine, workers=jobs)
    started = time.perf_counter()
    session.start()
    seconds += time.perf_counter() - started
    for number, groups in enumerate(chunks, 1):
        started = time.perf_counter()
        table = file.read_row_groups(groups, columns=["product_id", "date", "units"])
        data = tc.load_sales(table.to_pandas(), mode="sales")
        del table
        load_seconds += time.perf_counter() - started
        started = time.perf_counter()
        rows += run_models(stage, data, jobs, windows, session)
        seconds += time.perf_counter() - started
        log(
            f"chunk {number} of {len(chunks)}: {data.n_series:,} series, "
            f"{load_seconds:.0f}s loading and {seconds:.0f}s {stage} so far"
        )
        del data
    started = time.perf_counter()
    session.close()
    seconds += time.perf_counter() - started
    return {"seconds": seconds, "load_seconds": load_seconds, "rows": f"{rows:,}"}


def run_models(stage: str, data: Any, jobs: int, windows: int, engine: Any) -> int:
    """The backtest (fast model set) or the forecast (``auto`` among it); rows made."""
    from trendcast.decisions.plan import FAST_CANDIDATES
    from trendcast.pipeline import backtest, forecast

    if stage == "backtest":
        result = backtest(
            data,
            horizon=HORIZON,
            windows=windows,
            models=list(FAST_CANDIDATES),
            n_jobs=jobs,
            engine=engine,
            progress=log,
        )
        return len(result.backtest)
    fc = forecast(
        data,
        horizon=HORIZON,
        model="auto",
        params={"candidates": list(FAST_CANDIDATES)},
        n_jobs=jobs,
        engine=engine,
    )
    return len(fc)


def engines_for(stage: str, engines: list[str] | tuple[str, ...]) -> list[str]:
    """The engines a stage runs on: ingest only here, the product's streamed CLI path only
    for the forecast."""
    if stage == "ingest":
        return ["local"]
    return [e for e in engines if e != "cli" or stage == "forecast"]


def cli_forecast(
    sales: Path, jobs: int, resume: bool = False, keep: Path | None = None
) -> dict[str, object]:
    """``trendcast forecast --input sales.parquet --chunk-size CHUNK_PRODUCTS --model auto``
    (with the fast candidates), through the function the command calls: the file is read,
    prepared and forecast a chunk of products at a time; the CSV is written from the parts
    (and moved to ``keep`` if given, else removed)."""
    from trendcast.data.columns import ColumnMap
    from trendcast.decisions.plan import FAST_CANDIDATES
    from trendcast.streamed import forecast_file_in_chunks

    out = sales.parent / "forecast_cli.csv"
    started = time.perf_counter()
    result = forecast_file_in_chunks(
        sales,
        out,
        chunk_size=CHUNK_PRODUCTS,
        horizon=HORIZON,
        model="auto",
        params={"candidates": list(FAST_CANDIDATES)},
        columns=ColumnMap(id_cols=("product_id",), time_col="date", target_col="units"),
        mode="sales",
        n_jobs=jobs,
        restart=not resume,  # resumed: the chunks an interrupted sitting finished are kept
        progress=log,
    )
    seconds = time.perf_counter() - started
    if keep is None:
        out.unlink()
    else:
        out.replace(keep)
    return {"seconds": seconds, "load_seconds": 0.0, "rows": f"{result.rows:,}"}


def run_stage(args: argparse.Namespace) -> dict[str, object]:
    """One stage at one size on one engine, in this (fresh) process."""
    if args.stage == "ingest":
        # ingest_scale.ingest runs `trendcast ingest` in a child of this process
        seconds, _, out = ingest_scale.ingest(orders(args.data, args.products), "8GB", 2)
        print(out, flush=True)
        wrote = re.search(r"Wrote ([\d,]+) rows", out)
        return {"seconds": seconds, "load_seconds": 0.0, "rows": wrote.group(1) if wrote else ""}

    sales = catalogue(args.data, args.products)
    if args.engine == "cli":
        return cli_forecast(sales, args.jobs, args.resume)
    return streamed(args.stage, sales, args.jobs, args.windows, args.engine)


# -- the driver ----------------------------------------------------------------------------------


def tree_sum(proc: object, value: Any) -> float:
    """``value(p)`` summed over ``proc`` and all its live descendants (0 for one that ended)."""
    import psutil

    try:
        members = [proc, *proc.children(recursive=True)]  # type: ignore[attr-defined]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in members:
        try:
            total += value(member)
        except psutil.Error:
            pass
    return total


def tree_pss(proc: object) -> int:
    """Proportional resident bytes (PSS) of ``proc`` and all its descendants now.

    PSS splits each shared page among the processes sharing it, so the forked pool
    workers of statsforecast, which share their parent's pages, are not counted
    twice (their summed RSS would be).
    """
    return int(tree_sum(proc, lambda p: p.memory_full_info().pss))


def tree_cpu(proc: object) -> float:
    """User + system CPU seconds of ``proc``, its live descendants and the children it reaped."""

    def seconds(p: Any) -> float:
        t = p.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)

    return tree_sum(proc, seconds)


def read_sittings(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def write_sittings(path: Path, sittings: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(sittings, indent=1))
    tmp.replace(path)


def measure(args: argparse.Namespace, stage: str, products: int, engine: str) -> dict[str, object]:
    """Run one stage in a fresh process; sample its process tree's memory until it ends.

    With ``--resume`` (the ``cli`` forecast only, the one that resumes from its finished
    chunks) a step may take several sittings: each sitting's wall time, peak memory and CPU
    are kept in ``<data>/logs/<step>.sittings.json``, written every minute and when the
    sitting is stopped (SIGTERM or Ctrl-C; one killed outright is counted to its last
    minute); the step's row sums the sittings' seconds and CPU and takes the largest peak.
    Each sitting repeats the listing and census of the input, so the sum is an upper bound
    of one uninterrupted run.
    """
    import psutil

    logs = args.data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_path = logs / f"{stage}_{products}_{engine}.log"
    command = [
        sys.executable,
        __file__,
        "--worker",
        stage,
        "--products",
        str(products),
        "--engine",
        engine,
        "--data",
        str(args.data),
        "--windows",
        str(args.windows),
        "--jobs",
        str(args.jobs),
    ]
    resume = bool(args.resume) and engine == "cli"
    ledger = logs / f"{stage}_{products}_{engine}.sittings.json"
    sittings = read_sittings(ledger) if resume else []
    if resume:
        command.append("--resume")
        out_path = logs / f"{stage}_{products}_{engine}.sitting{len(sittings) + 1}.log"
        sittings.append({"started": f"{datetime.now(UTC):%Y-%m-%d %H:%M}", "ended": "running"})
    peak = 0
    cpu_seen = 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    next_note = started + 60

    def record(ended: str = "running", seconds: float | None = None) -> None:
        """This sitting's seconds, peak and CPU so far, in the ledger."""
        elapsed = time.perf_counter() - started if seconds is None else seconds
        sittings[-1].update(
            seconds=round(elapsed, 1),
            peak_gib=round(peak / 2**30, 2),
            cpu_seconds=round(cpu_seen),
            ended=ended,
        )
        write_sittings(ledger, sittings)

    def stopped(signum: int, frame: object) -> None:
        # a sitting ended from outside (kill, Ctrl-C) is counted to this moment
        nonlocal cpu_seen
        cpu_seen = max(cpu_seen, tree_cpu(proc))
        record("stopped")
        for member in [*proc.children(recursive=True), proc]:
            try:
                member.kill()
            except psutil.Error:
                pass
        raise SystemExit(f"stopped; {ledger} has this sitting")

    with out_path.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        proc = psutil.Process(child.pid)
        handlers = {}
        if resume:
            handlers = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        while child.poll() is None:
            peak = max(peak, tree_pss(proc))
            if time.perf_counter() > next_note:
                next_note += 60
                cpu_seen = max(cpu_seen, tree_cpu(proc))
                log(
                    f"  {stage} {products:,} {engine}: {time.perf_counter() - started:.0f}s, "
                    f"{tree_pss(proc) / 2**30:.2f} GiB now, peak {peak / 2**30:.2f} GiB"
                )
                if resume:
                    record()
            time.sleep(SAMPLE_SECONDS)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
    text = out_path.read_text()
    found = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    if child.returncode or not found:
        raise SystemExit(f"{stage} {products} {engine} failed; see {out_path}:\n{text[-3000:]}")
    result = json.loads(found[-1][len("RESULT ") :])
    finished = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    if resume:
        cpu_seen = cpu
        record("finished", float(result["seconds"]))
        if len(sittings) > 1:
            result["seconds"] = sum(float(t.get("seconds", 0.0)) for t in sittings)
            peak = max(peak, *(int(float(t.get("peak_gib", 0)) * 2**30) for t in sittings))
            cpu = sum(float(t.get("cpu_seconds", 0)) for t in sittings)
            finished += f" ({len(sittings)} sittings)"
        ledger.rename(ledger.with_suffix(f".done-{datetime.now(UTC):%Y%m%d%H%M}.json"))
    return {
        "stage": stage,
        "engine": engine,
        "products": products,
        "seconds": round(float(result["seconds"]), 1),
        "load_seconds": round(float(result["load_seconds"]), 1),
        "peak_gib": round(peak / 2**30, 2),
        "cpu_seconds": round(cpu),
        "rows": result["rows"],
        "load_1min": round(os.getloadavg()[0], 1),
        "finished": finished,
        "source": "measured",
        "stack": stack(),
    }


def read_rows() -> list[dict[str, object]]:
    if not CSV_PATH.exists():
        return []
    with CSV_PATH.open() as f:
        return [{k: v or "" for k, v in row.items()} for row in csv.DictReader(f)]


def write_rows(rows: list[dict[str, object]]) -> None:
    rank = {name: i for i, name in enumerate(STAGES + ENGINES)}
    rows.sort(key=lambda r: (rank[str(r["stage"])], rank[str(r["engine"])], int(r["products"])))
    tmp = CSV_PATH.with_name(".scaling.csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(CSV_PATH)


def ingest_scale_rows() -> list[dict[str, object]]:
    """Ingest sizes measured by ``ingest_scale.py`` (same generator, same command), from its
    results file (read by its own parser), for sizes this script has not run itself."""
    table, _ = ingest_scale.earlier_results(RESULTS / "ingest_scale.md")
    rows: list[dict[str, object]] = []
    for (lines, products), line in sorted(table.items()):
        # | lines | products | on disk | generate s | ingest s | M lines/s | peak | output
        # | finished | load "start to end" | DuckDB version |
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        wrote = re.search(r"Wrote ([\d,]+) rows", cells[7])
        source = "ingest_scale.md"
        if lines != products * 1000:
            source += f", {lines // products:,} lines a product"
        rows.append(
            {
                "stage": "ingest",
                "engine": "local",
                "products": products,
                "seconds": float(cells[4]),
                "load_seconds": 0.0,
                "peak_gib": float(cells[6].split()[0]),
                "rows": wrote.group(1) if wrote else "",
                "load_1min": cells[9].split()[-1] if cells[9] else "",
                "finished": cells[8],
                "source": source,
                "stack": f"duckdb {cells[10]}" if cells[10] else "",
            }
        )
    return rows


def with_ingest_scale(
    rows: list[dict[str, object]], steps: list[tuple[str, int, str]]
) -> list[dict[str, object]]:
    """``rows`` with the ingest sizes that this script neither measured nor is about to
    measure taken, afresh, from ``ingest_scale.py``'s results."""
    rows = [r for r in rows if not str(r["source"]).startswith("ingest_scale.md")]
    have = {(r["stage"], int(str(r["products"])), r["engine"]) for r in rows}
    for r in ingest_scale_rows():
        key = ("ingest", int(str(r["products"])), "local")
        if key not in have and key not in steps:
            rows.append(r)
            have.add(key)
    return rows


def exponent(sizes: list[float], values: list[float]) -> float:
    """Least-squares slope of log value on log size (nan with fewer than two sizes)."""
    if len(sizes) < 2:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def fmt(x: float, digits: int = 2) -> str:
    return "" if math.isnan(x) else f"{x:.{digits}f}"


def stack_labels(rows: list[dict[str, object]]) -> tuple[dict[str, str], str]:
    """A short label (A, B, ...) for each library stack the rows ran, and the legend that
    spells them out. A stack that names fewer libraries, all at the versions of a fuller one
    (``ingest_scale.md`` records only DuckDB's), gets the fuller one's label: it is no
    evidence of another install."""
    stacks = {str(r["stack"]) for r in rows if r.get("stack")}
    parts = {s: set(s.split(", ")) for s in stacks}
    labels: dict[str, str] = {}
    full: dict[str, str] = {}  # label -> the fullest stack under it
    for name in sorted(stacks, key=lambda s: (-len(parts[s]), s)):
        label = next((k for k, f in full.items() if parts[name] <= parts[f]), None)
        if label is None:
            label = chr(ord("A") + len(full))
            full[label] = name
        labels[name] = label
    legend = [f"{label}: {name}" for label, name in full.items()]
    if any(full[labels[s]] != s for s in stacks):
        legend.append("rows that record fewer libraries carry the label they agree with")
    if any(not r.get("stack") for r in rows):
        legend.append("-: not recorded (an earlier install)")
    return labels, "; ".join(legend)


def write_markdown(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault((str(r["stage"]), str(r["engine"])), []).append(r)
    table = []
    fits = []
    labels, legend = stack_labels(rows)
    for (stage, engine), rows_of in groups.items():
        rows_of.sort(key=lambda r: int(r["products"]))
        # an ingest row with other than 1,000 lines a product is shown but not fitted: its
        # time grows with the lines as well as the products
        group = [r for r in rows_of if "lines a product" not in str(r["source"])]
        n = [float(r["products"]) for r in group]
        t = [max(float(r["seconds"]), 0.1) for r in group]
        m = [max(float(r["peak_gib"]), 0.01) for r in group]
        for r in rows_of:
            k = group.index(r) if r in group else -1
            step_t = exponent(n[k - 1 : k + 1], t[k - 1 : k + 1]) if k > 0 else math.nan
            step_m = exponent(n[k - 1 : k + 1], m[k - 1 : k + 1]) if k > 0 else math.nan
            note = f" ({r['source']})" if r["source"] != "measured" else ""
            load_s = float(r["load_seconds"])
            cpu = f"{float(r['cpu_seconds']):,.0f}" if r.get("cpu_seconds") else ""
            table.append(
                f"| {stage} | {engine} | {int(r['products']):,} | {float(r['seconds']):,.1f} | "
                f"{'' if stage == 'ingest' else f'{load_s:,.1f}'} | {cpu} | "
                f"{float(r['peak_gib']):.2f} | "
                f"{fmt(step_t)} | {fmt(step_m)} | {r['load_1min']} | {r['finished']}{note} | "
                f"{labels.get(str(r.get('stack') or ''), '-')} |"
            )
        if len(group) >= 2:
            time_fit, mem_fit = exponent(n, t), exponent(n, m)
            top_t, top_m = exponent(n[-2:], t[-2:]), exponent(n[-2:], m[-2:])
            linear = "yes" if top_t <= 1.1 and top_m <= 1.1 else "no"
            fits.append(
                f"| {stage} | {engine} | {int(n[0]):,}-{int(n[-1]):,} | {time_fit:.2f} | "
                f"{top_t:.2f} | {mem_fit:.2f} | {top_m:.2f} | {linear} |"
            )
    target = [r for r in rows if r["stage"] == "forecast" and int(r["products"]) == TARGET_PRODUCTS]
    verdicts = []
    for r in sorted(target, key=lambda r: str(r["engine"])):
        total = float(r["seconds"]) + float(r["load_seconds"])
        spent = (
            f"{total / 60:.1f} min in all (listing, reading every column with a role, "
            "preparing, forecasting, writing the CSV)"
            if r["engine"] == "cli"
            else f"{float(r['seconds']) / 60:.1f} min forecasting, {total / 60:.1f} min with "
            "loading and preparing the data"
        )
        verdicts.append(
            f"- Target, 100k products x 2 years daily, fast model set, under 30 minutes on 2 "
            f"cores, {r['engine']} engine: {spent}: "
            f"{'met' if total < TARGET_SECONDS else 'NOT met'}."
        )
    if not verdicts:
        verdicts = ["- Target (100k products forecast under 30 minutes): not measured yet."]
    have = {(str(r["stage"]), str(r["engine"]), int(r["products"])) for r in rows}
    missing = []
    for stage in STAGES:
        for engine in engines_for(stage, ENGINES):
            sizes = [n for n in (1000, 10_000, 100_000) if (stage, engine, n) not in have]
            if sizes:
                which = " and ".join(f"{n:,}" for n in sizes)
                reason = NOT_RUN.get((stage, engine), "not run yet")
                missing.append(f"- {stage}, {engine}, {which} products: {reason}")
    for stage, engine in (("ingest", "local"), ("forecast", "cli")):
        if (stage, engine, 1_000_000) not in have:
            missing.append(
                f"- {stage}, {engine}, 1,000,000 products: not finished yet"
                + (" (measured over several sittings with `--resume`)" if engine == "cli" else "")
            )
    if missing:
        verdicts += ["", "Not measured:", "", *missing]
    lines = [
        "# Scaling curve: ingest, backtest and forecast by number of products",
        "",
        f"- Written: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; each row's finishing time and the "
        "1-minute load average then are in the table (the machine is shared: when other jobs "
        "ran alongside, timings are upper bounds of what an idle machine does)",
        f"- Machine: {machine()}",
        f"- Stacks (the `stack` column): {legend}",
        "- Data: 730 days, daily. Ingest: `ingest_scale.py` order lines, about 1,000 lines per "
        "product, `trendcast ingest --memory-limit 8GB --threads 2` out of core. Backtest and "
        "forecast: `catalogue_to_parquet(n, periods=730, seed=0, behaviour=False)` read with "
        "`load_sales(mode='sales')`",
        f"- Backtest: the fast model set (seasonal_naive, window_average, croston, tsb, adida, "
        f"imapa), {args.windows} window(s) of {HORIZON} days. Forecast: `auto` choosing per "
        f"product among the same set (2 selection windows), {HORIZON} days ahead. Both on the "
        f"local engine and on Dask streamed in chunks of about {CHUNK_PRODUCTS:,} whole "
        "products (read, prepare, run; only `product_id, date, units` read; up to 10k products "
        "that is one chunk, the whole panel). Local "
        f"engine with {args.jobs} processes; Dask: a `LocalCluster` of {args.jobs} worker "
        "processes, started once inside the timed stage for all the chunks. Engine `cli`: the "
        "forecast as `trendcast "
        f"forecast --input sales.parquet --chunk-size {CHUNK_PRODUCTS:,} --model auto` runs it "
        "(`trendcast.streamed.forecast_file_in_chunks`: DuckDB lists the products, each chunk "
        "is read with every column that has a role (price, promotion and attributes too), "
        "prepared and forecast, and the CSV is written from the parts); its seconds include "
        "reading, preparing and writing",
        "- Seconds: the stage's wall time, data loading apart (`load s`); peak: the largest "
        "summed proportional resident memory (PSS) of the stage's process tree, loading "
        "included (ingest rows from `ingest_scale.md`: the ingest process's `ru_maxrss`); "
        "CPU s: user + system seconds of the whole process tree, loading included (on an idle "
        "2-core machine the wall time would lie between half of it and all of it)",
        "- Commands: `.venv/bin/python benchmarks/scaling.py --products 1000 10000 100000 "
        "--stages backtest forecast --engines local dask` (measured again with `--redo` on "
        "2026-11-22 from 10:32 UTC, the machine otherwise idle); ingest: `--products 1000 "
        "--stages ingest`, and at 10k, 30k, 100k and 300k "
        "products it is read from `benchmarks/results/ingest_scale.md` (`ingest_scale.py "
        "--lines 1000000 10000000 30000000 100000000 300000000 --repeats 3`, medians of three "
        "runs in one sitting; same generator and command) when this script has not "
        "measured it; the 1M ingest row: `ingest_scale.py --lines 100000000 --products 1000000` "
        "(100 lines a product on average, the 100k row's 100M lines); the `cli` rows: "
        "`--products 1000 10000 100000 1000000 --stages forecast --engines cli` (`--resume` "
        "continues an interrupted 1M sitting), measured again with `--redo` on 2026-11-22 from "
        "07:20 UTC with the code of commit fc9f02a (each chunk reads only its range of "
        "products), the machine otherwise idle",
        "",
        "| stage | engine | products | seconds | load s | CPU s | peak GiB | time exponent | "
        "memory exponent | load avg | finished (UTC) | stack |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        *table,
        "",
        "Exponents per row: the slope of log seconds (log peak memory) from the previous size "
        "to this one. Fitted exponents per stage:",
        "",
        "| stage | engine | products | time (all sizes) | time (largest two) | "
        "memory (all sizes) | memory (largest two) | no worse than linear |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
        *fits,
        "",
        "The largest two sizes decide linearity (at most 1.1): at 1k products fixed costs "
        "(imports, starting a cluster) dominate and flatten the all-sizes slope. Ingest rows "
        "marked with their lines a product have other than about 1,000 order lines per "
        "product: they are shown but not fitted, as ingest time grows with the lines as well "
        "as the products (the 1M row has the 100k row's 100M lines).",
        "",
        *verdicts,
        "",
    ]
    text = "\n".join(lines)
    MD_PATH.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--data", type=Path, default=Path("/tmp/scaling"))
    parser.add_argument("--windows", type=int, default=1, help="backtest windows")
    parser.add_argument("--jobs", type=int, default=2, help="processes / Dask workers")
    parser.add_argument("--redo", action="store_true", help="measure cached steps again")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="cli forecast: continue from the chunks an interrupted sitting finished",
    )
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--worker", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, default="local", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)

    if args.worker:
        args.stage = args.worker
        args.products = args.products[0]
        print("RESULT " + json.dumps(run_stage(args)), flush=True)
        return

    steps = (
        []
        if args.report
        else [
            (stage, n, engine)
            for n in sorted(args.products)
            for stage in args.stages
            for engine in engines_for(stage, args.engines)
        ]
    )
    rows = with_ingest_scale(read_rows(), steps)
    if args.report:
        write_rows(rows)
        print(write_markdown(rows, args))
        return
    # a step asked for is measured here even where ingest_scale.py's results have its size
    done = {
        (r["stage"], int(r["products"]), r["engine"])
        for r in rows
        if r["source"] == "measured" or (r["stage"], int(r["products"]), r["engine"]) not in steps
    }
    for k, (stage, n, engine) in enumerate(steps, 1):
        key = (stage, n, engine)
        if key in done and not args.redo:
            log(f"[{k}/{len(steps)}] {stage} {n:,} {engine}: cached, skipped")
            continue
        log(f"[{k}/{len(steps)}] {stage} {n:,} {engine}: started")
        row = measure(args, stage, n, engine)
        rows = [r for r in rows if (r["stage"], int(r["products"]), r["engine"]) != key]
        rows.append(row)
        done.add(key)
        write_rows(rows)
        write_markdown(rows, args)
        log(
            f"[{k}/{len(steps)}] {stage} {n:,} {engine}: {row['seconds']}s "
            f"(+{row['load_seconds']}s loading), peak {row['peak_gib']} GiB"
        )
    write_rows(rows)
    print(write_markdown(rows, args))


if __name__ == "__main__":
    main()
