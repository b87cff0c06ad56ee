"""Benchmark: how fast the synthetic catalogue generator draws product-days, and its memory.

Measures, on one core (the generator is single-threaded):

- the product x day matrices alone (demand, prices, promotions, stock-outs; with
  and without the behaviour funnel), the part the "a million product-days per
  second" target is about;
- ``generate_catalogue`` for 10,000 products x 730 days: sales only, with
  behaviour, and with behaviour and the per-day truth (the long tables built);
- 100,000 products x 730 days chunk by chunk with ``iter_catalogue``, and written
  to Parquet with ``catalogue_to_parquet``.

Each measurement runs in a fresh process: times are the best of ``--repeats``
runs (one for the large catalogue), and memory is the process's peak resident
set (``resource``'s ``ru_maxrss``, which also covers Arrow's buffers), shown
with the baseline of the interpreter and imports before the run. Writes
``benchmarks/results/synthetic_speed.md`` with the machine, the date and the load
average (the machine is shared, so the load is part of the result).

Run: ``.venv/bin/python benchmarks/synthetic_speed.py [--repeats 3] [--large-products 100000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from online_retail_models import machine

from trendcast.datasets.synthetic import (
    BLOCK_PRODUCTS,
    CatalogueKnobs,
    _block,
    _context,
    catalogue_to_parquet,
    generate_catalogue,
    iter_catalogue,
)

RESULTS = Path(__file__).resolve().parent / "results"
DAYS = 730
CHUNK = 8_192


def matrices(n: int, behaviour: bool) -> Callable[[], str]:
    """Draw every block's matrices and drop them: no long tables."""

    def run() -> str:
        ctx = _context(n, "2024-01-01", DAYS, "D", 0, CatalogueKnobs())
        for number in range(-(-n // BLOCK_PRODUCTS)):
            _block(ctx, number, behaviour)
        return ""

    return run


def generate(n: int, behaviour: bool, by_period: bool) -> Callable[[], str]:
    def run() -> str:
        data = generate_catalogue(n, periods=DAYS, behaviour=behaviour, truth_by_period=by_period)
        return f"{len(data.sales):,} rows"

    return run


def chunked(n: int, behaviour: bool) -> Callable[[], str]:
    def run() -> str:
        rows = 0
        for chunk in iter_catalogue(n, periods=DAYS, chunk_products=CHUNK, behaviour=behaviour):
            rows += len(chunk.sales)
            del chunk  # hold one chunk at a time, as a writer would
        return f"{rows:,} rows"

    return run


def parquet(n: int) -> Callable[[], str]:
    def run() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            paths = catalogue_to_parquet(Path(tmp), n, periods=DAYS, chunk_products=CHUNK)
            return ", ".join(f"{k} {p.stat().st_size / 2**20:,.0f} MiB" for k, p in paths.items())

    return run


RUNS: dict[str, Callable[[int], Callable[[], str]]] = {
    "matrices, sales only": lambda n: matrices(n, False),
    "matrices, sales + behaviour": lambda n: matrices(n, True),
    "generate_catalogue, sales only": lambda n: generate(n, False, False),
    "generate_catalogue, sales + behaviour": lambda n: generate(n, True, False),
    "generate_catalogue, sales + behaviour + per-day truth": lambda n: generate(n, True, True),
    f"iter_catalogue ({CHUNK:,} a chunk), sales only": lambda n: chunked(n, False),
    f"iter_catalogue ({CHUNK:,} a chunk), sales + behaviour": lambda n: chunked(n, True),
    "catalogue_to_parquet (sales, behaviour, truth)": parquet,
}


def child(label: str, n: int, repeats: int, out: Any) -> None:
    run = RUNS[label](n)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    times = []
    note = ""
    for _ in range(repeats):
        started = time.perf_counter()
        note = run()
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    out.put((min(times), peak, baseline, note))


def measure(label: str, n: int, repeats: int) -> tuple[float, float, float, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=child, args=(label, n, repeats, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--large-products", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for label in RUNS:
        n = args.large_products if label.startswith(("iter", "catalogue_to")) else args.products
        seconds, peak, baseline, note = measure(label, n, args.repeats if n == args.products else 1)
        rows.append((label, n, seconds, peak, baseline, note))
        print(
            f"{label}: {n * DAYS / seconds / 1e6:.2f} M product-days/s, {peak:,.0f} MiB", flush=True
        )

    load_after = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        "# Synthetic catalogue generator: speed and memory",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}; one thread; load average {load_before:.1f} at the start, "
        f"{load_after} at the end (the machine was shared)",
        f"- Data: daily, {DAYS} days from 2024-01-01, default knobs, seed 0; best of "
        f"{args.repeats} runs for {args.products:,} products, one run for "
        f"{args.large_products:,}; each line in a fresh process",
        "",
        "| what | products | product-days | seconds | M product-days/s | peak RSS (baseline) | "
        "output |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, n, seconds, peak, baseline, note in rows:
        lines.append(
            f"| {label} | {n:,} | {n * DAYS / 1e6:,.1f} M | {seconds:.2f} | "
            f"{n * DAYS / seconds / 1e6:.2f} | {peak:,.0f} MiB ({baseline:,.0f}) | {note} |"
        )
    lines += [
        "",
        "- Matrices: every block's product x day arrays drawn and dropped (the random draws "
        "and the demand model), the part the target of a million product-days a second is "
        "about. `generate_catalogue` adds the long tables, a row per live product-day.",
        "- The behaviour funnel costs three more Poisson draws per product-day (the views' "
        "with a large mean): Poisson draws are most of the time.",
        "- Chunked runs hold one chunk at a time, so their peak memory does not grow with the "
        "catalogue; `generate_catalogue` holds every table at once.",
        "- The machine was shared (see the load average): differences under about a fifth "
        "between lines, such as matrices alone against `generate_catalogue`, are noise.",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "synthetic_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
