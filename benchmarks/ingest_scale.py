"""Benchmark: out-of-core ingestion of order lines, wall time and peak memory by size.

Generates order-line Parquet files (``order_id, sku, order_time, quantity,
unit_price, customer_id``) of a given number of lines, vectorised with numpy and
pyarrow and written part by part, so generation holds one part in memory. The
lines look like a real export: popular and long-tail products (Zipf-like), a
weekly cycle, times of day, about 1% cancellations (order ids starting with
``C``, negative quantities), 0.5% exported twice, a few free samples and postage
lines. Each part covers a stretch of time, as daily or monthly exports do.

Then runs ``trendcast ingest --out-of-core`` on the glob of the parts in a fresh
process and measures its wall time and peak resident memory (``ru_maxrss`` of
the child, which includes DuckDB's buffers), under ``--memory-limit`` and
``--threads``. Writes ``benchmarks/results/ingest_scale.md`` with the machine,
the date and the load average (the machine is shared). ``--repeats N`` ingests each
size N times, each in a fresh process: the row gives the median time, every run's
time and the largest peak, and the step log of the median run. A growth exponent
from two sizes three times apart moves by about 0.08 for a 10% change in one
time, which is how much single runs vary here.

Run: ``.venv/bin/python benchmarks/ingest_scale.py --lines 1000000 10000000
[--products N ...] [--data /tmp/ingest_scale] [--memory-limit 8GB] [--threads 2] [--keep]
[--repeats 3] [--results benchmarks/results/ingest_scale.md]``.
Products default to a thousand lines each; ``--products`` sets them (one number for every
size, or one per size), e.g. ``--lines 100000000 --products 1000000`` for a million products
of a hundred lines on average. A run replaces the rows of the sizes it measures and keeps
the others in the results file, each row with its own date and load average.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from online_retail_models import machine, stack

from trendcast.pipeline import write_atomic

RESULTS = Path(__file__).resolve().parent / "results"
DAYS = 730
START = np.datetime64("2024-01-01T00:00:00", "s")
LINES_PER_PART = 5_000_000
WEEKLY = np.array([1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.2])  # Mon..Sun


def products_for(lines: int) -> int:
    """About a thousand lines per product over two years: 1M lines -> 1,000 products."""
    return max(100, lines // 1000)


def folder_for(data: Path, lines: int, products: int) -> Path:
    """Where a size's order lines are written (named by lines alone at the default products)."""
    if products == products_for(lines):
        return data / f"orders_{lines}"
    return data / f"orders_{lines}_{products}p"


def write_part(path: Path, rng: np.random.Generator, n: int, n_products: int, days: range) -> None:
    """One part of ``n`` order lines dated within ``days``."""
    popularity = 1.0 / np.arange(1, n_products + 1) ** 0.8
    popularity /= popularity.sum()
    product = rng.choice(n_products, size=n, p=popularity).astype(np.int32)
    day_weight = WEEKLY[(np.arange(days.start, days.stop) + 0) % 7]  # 2024-01-01 is a Monday
    day = rng.choice(np.arange(days.start, days.stop), size=n, p=day_weight / day_weight.sum())
    seconds = day.astype(np.int64) * 86_400 + rng.integers(8 * 3600, 23 * 3600, size=n)
    order_time = START + seconds.astype("timedelta64[s]")
    quantity = rng.geometric(0.45, size=n).astype(np.int32)
    base_price = np.round(np.exp(rng.normal(1.5, 0.8, size=n_products)), 2) + 0.25
    price = base_price[product]
    order_no = np.arange(n, dtype=np.int64) // 3 + int(rng.integers(0, 10**9))
    cancelled = rng.random(n) < 0.01
    quantity[cancelled] = -quantity[cancelled]
    free = rng.random(n) < 0.002
    price[free] = 0.0
    order_id = pc.binary_join_element_wise(
        pa.array(np.where(cancelled, "C", "")), pc.cast(pa.array(order_no), pa.string()), ""
    )
    names = np.char.add("SKU", np.char.zfill(np.arange(n_products).astype(str), 7))
    names[0] = "POST"  # postage: the most common 'product', as in real exports
    sku = pa.DictionaryArray.from_arrays(pa.array(product), pa.array(names))
    table = pa.table(
        {
            "order_id": order_id,
            "sku": sku,
            "order_time": pa.array(order_time),
            "quantity": pa.array(quantity),
            "unit_price": pa.array(price),
            "customer_id": pa.array(rng.integers(0, 10 * n_products, size=n)),
        }
    )
    twice = np.flatnonzero(rng.random(n) < 0.005)
    table = pa.concat_tables([table, table.take(pa.array(twice))])
    pq.write_table(table, path, compression="zstd")


def generate(
    folder: Path, lines: int, seed: int = 0, products: int | None = None
) -> tuple[int, float]:
    """Write ``lines`` order lines (before the 0.5% duplicates) of ``products`` products (by
    default :func:`products_for`) in parts; return files, seconds."""
    n_products = products or products_for(lines)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_parts = -(-lines // LINES_PER_PART)
    edges = np.linspace(0, DAYS, n_parts + 1).astype(int)
    for k in range(n_parts):
        n = min(LINES_PER_PART, lines - k * LINES_PER_PART)
        days = range(int(edges[k]), int(edges[k + 1]))
        write_part(folder / f"part-{k:04d}.parquet", rng, n, n_products, days)
    return n_parts, time.perf_counter() - started


def ingest(folder: Path, memory_limit: str, threads: int) -> tuple[float, float, str]:
    """Run the out-of-core ingest in a child process: seconds, peak RSS in GiB, its log.

    The peak is the child's own (``os.wait4``), not ``RUSAGE_CHILDREN``'s largest child so
    far, which an earlier child, or one of the process this one was exec'd from, can hold."""
    output = folder.parent / f"{folder.name}_panel.parquet"
    command = [
        sys.executable,
        "-m",
        "trendcast",
        "ingest",
        "--input",
        str(folder / "*.parquet"),
        "--output",
        str(output),
        "--memory-limit",
        memory_limit,
        "--threads",
        str(threads),
    ]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # reaps the child: Popen must not wait again
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode:
        raise SystemExit(f"ingest failed:\n{stderr}")
    output.unlink(missing_ok=True)
    output.with_name(output.stem + "_cleaning.csv").unlink(missing_ok=True)
    return seconds, usage.ru_maxrss / 2**20, stderr + stdout


ROW = re.compile(r"^\| ([\d,]+) \| ([\d,]+) \|")
STEPS = re.compile(r"^## Steps at ([\d,]+) lines(?:, ([\d,]+) products)?$")


def earlier_results(path: Path) -> tuple[dict[tuple[int, int], str], dict[tuple[int, int], str]]:
    """Rows and step logs of the results file, by (lines, products). Rows written before rows
    had their own date and load get the file's; rows written before they had their DuckDB
    version get an empty one."""
    if not path.exists():
        return {}, {}
    text = path.read_text()
    date = re.search(r"- Date: (.+) UTC", text)
    load = re.search(r"load average ([\d.]+) at the start, ([\d.]+)", text)
    rows: dict[tuple[int, int], str] = {}
    steps: dict[tuple[int, int], str] = {}
    current: tuple[int, int] | None = None
    for line in text.splitlines():
        row = ROW.match(line)
        if row:
            key = (int(row.group(1).replace(",", "")), int(row.group(2).replace(",", "")))
            if line.count("|") == 9:  # the older layout: no date or load of its own
                was = f"{load.group(1)} to {load.group(2)}" if load else ""
                line += f" {date.group(1) if date else ''} | {was} |"
            if line.count("|") == 11:  # no DuckDB version of its own: not recorded
                line += "  |"
            if line.count("|") == 12:  # one run, before rows listed their runs
                line += "  |"
            rows[key] = line
            continue
        heading = STEPS.match(line)
        if heading:
            lines = int(heading.group(1).replace(",", ""))
            products = heading.group(2)
            current = (lines, int(products.replace(",", "")) if products else products_for(lines))
            steps[current] = ""
        elif current is not None:
            steps[current] += line + "\n"
    return rows, {k: v.strip() for k, v in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--products", type=int, nargs="+", help="products per size (default: lines / 1000)"
    )
    parser.add_argument("--data", type=Path, default=Path("/tmp/ingest_scale"))
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--repeats", type=int, default=1, help="ingests of each size; the row gives the median"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS / "ingest_scale.md",
        help="the results file (another one for runs under another --memory-limit or --threads, "
        "whose header names the command)",
    )
    args = parser.parse_args()
    products = args.products or [products_for(n) for n in args.lines]
    if len(products) == 1:
        products = products * len(args.lines)
    if len(products) != len(args.lines):
        parser.error("give one --products for every --lines, or one for all")

    results = args.results
    rows, steps = earlier_results(results)
    for lines, n_products in zip(args.lines, products, strict=True):
        folder = folder_for(args.data, lines, n_products)
        if not any(folder.glob("*.parquet")):
            # written aside and renamed when whole: an interrupted run leaves no half folder
            # that the next one would take for the data
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            parts, gen_seconds = generate(partial, lines, products=n_products)
            shutil.rmtree(folder, ignore_errors=True)
            partial.rename(folder)
            print(
                f"generated {lines:,} lines of {n_products:,} products in {parts} part(s) "
                f"in {gen_seconds:.0f}s",
                flush=True,
            )
        else:
            gen_seconds = float("nan")
        size = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**30
        load_start = os.getloadavg()[0]
        runs = []
        for k in range(args.repeats):
            runs.append(ingest(folder, args.memory_limit, args.threads))
            print(
                f"{lines:,} lines, run {k + 1}: {runs[-1][0]:.1f}s, peak RSS {runs[-1][1]:.2f} GiB"
            )
        load_end = os.getloadavg()[0]
        seconds, _, log = sorted(runs)[(len(runs) - 1) // 2]  # the median run (lower middle)
        peak = max(r[1] for r in runs)
        print(log)
        series = next((ln for ln in log.splitlines() if "Wrote" in ln), "")
        rows[(lines, n_products)] = (
            f"| {lines:,} | {n_products:,} | {size:.2f} GiB | {gen_seconds:.0f} | "
            f"{seconds:.1f} | {lines / seconds / 1e6:.2f} | {peak:.2f} GiB | {series} | "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} | {load_start:.1f} to {load_end:.1f} | "
            f"{metadata.version('duckdb')} | {', '.join(f'{r[0]:.1f}' for r in runs)} |"
        )
        steps[(lines, n_products)] = "```\n" + log.strip() + "\n```"
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        write_results(results, args, rows, steps)  # after each size: a later failure keeps it


def write_results(
    path: Path,
    args: argparse.Namespace,
    rows: dict[tuple[int, int], str],
    steps: dict[tuple[int, int], str],
) -> None:
    text = [
        "# Out-of-core ingestion: order lines to a product-day panel",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (each row: when it finished, and the "
        "1-minute load average at its start and end; the machine is shared)",
        f"- Machine: {machine()}; at this writing {stack()} (each row names the DuckDB it ran)",
        f"- Command: `trendcast ingest --input 'orders_N/*.parquet' --memory-limit "
        f"{args.memory_limit} --threads {args.threads}` (out of core because the input is a "
        "glob), in a fresh process; an input of 15 M lines or more is split by product into "
        "parts of about 10 M lines (`PART_LINES` in `trendcast.data.outofcore`), one log line "
        "per part and phase",
        "- Data: `benchmarks/ingest_scale.py` order lines over 730 days, about 1,000 lines per "
        "product unless the row says otherwise (Zipf-like popularity), 1% cancellations, 0.5% "
        "exported twice, 0.2% free lines, a postage code; Parquet (zstd) parts of 5 M lines",
        "",
        "| order lines | products | Parquet on disk | generate s | ingest s | M lines/s "
        "| peak RSS | output | finished (UTC) | load avg | DuckDB | every run, s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |",
        *[rows[k] for k in sorted(rows)],
        "",
        "Peak RSS is the ingest process's peak resident memory (`ru_maxrss`), DuckDB's "
        "buffers included; DuckDB spills beyond its memory limit to a folder beside the output. "
        "With several runs of a size (`--repeats`), `ingest s` is their median (the lower "
        "middle one of an even number), `peak RSS` the largest, the load average from the "
        "first run's start to the last one's end, and the steps are the median run's; rows with "
        "one run (or none) in the last column were measured once.",
        "",
    ]
    for lines, n_products in sorted(steps):
        text += [
            f"## Steps at {lines:,} lines, {n_products:,} products",
            "",
            steps[(lines, n_products)],
            "",
        ]
    write_atomic(path, lambda tmp: tmp.write_text("\n".join(text)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
