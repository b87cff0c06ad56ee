"""Benchmark: how DuckDB's own GROUP BY grows when the groups grow with the rows.

The out-of-core ingest grows a little faster than its order lines (exponent about 1.15;
``ingest_scale.py``), and every one of its steps does. This asks whether DuckDB's hash
aggregation alone does the same on this machine, with nothing of trendcast around it:
``rows`` generated rows fall into about ``rows / 3`` groups (as order lines fall into
product-days), aggregated

- whole: one ``GROUP BY`` over all the rows;
- in parts: the same rows in parts of ``--part`` rows, one ``GROUP BY`` each, so no hash
  table holds more than a part's groups (as an ingest working on bounded groups of products
  would).

Each is run ``--repeats`` times; the median is reported, with the exponent from each size
to the next. DuckDB runs under the ingest's settings (``threads=2``, the memory limit
``duckdb_memory_limit('8GB')``).

Run: ``.venv/bin/python benchmarks/duckdb_groupby.py [--rows 10000000 30000000 100000000
300000000] [--part 10000000] [--repeats 3]``; writes ``benchmarks/results/duckdb_groupby.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
from online_retail_models import machine

from trendcast.data.outofcore import duckdb_memory_limit
from trendcast.pipeline import write_atomic

RESULTS = Path(__file__).resolve().parent / "results"
QUERY = (
    "SELECT count(*), sum(c) FROM (SELECT hash(i) % {groups} AS k, i % 7 AS d, count(*) AS c "
    "FROM range({start}, {stop}) t(i) GROUP BY ALL)"
)


def timed(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    started = time.perf_counter()
    con.execute(sql).fetchall()
    return time.perf_counter() - started


def whole(con: duckdb.DuckDBPyConnection, rows: int) -> float:
    return timed(con, QUERY.format(groups=rows // 3, start=0, stop=rows))


def in_parts(con: duckdb.DuckDBPyConnection, rows: int, part: int) -> float:
    return sum(
        timed(con, QUERY.format(groups=part // 3, start=a, stop=min(a + part, rows)))
        for a in range(0, rows, part)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[10_000_000, 30_000_000, 100_000_000, 300_000_000]
    )
    parser.add_argument("--part", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="duckdb_groupby-") as spill:
        con = duckdb.connect(
            config={
                "threads": 2,
                "memory_limit": duckdb_memory_limit("8GB"),
                "temp_directory": spill,
            }
        )
        times: dict[int, tuple[list[float], list[float]]] = {}
        for rows in sorted(args.rows):
            runs: tuple[list[float], list[float]] = ([], [])
            for _ in range(args.repeats):
                runs[0].append(whole(con, rows))
                runs[1].append(in_parts(con, rows, args.part))
            times[rows] = runs
            print(
                f"{rows:,} rows: whole {statistics.median(runs[0]):.1f}s, in parts "
                f"{statistics.median(runs[1]):.1f}s",
                flush=True,
            )

    table = []
    previous: tuple[int, float, float] | None = None
    for rows, (w, p) in times.items():
        mw, mp = statistics.median(w), statistics.median(p)
        if previous:
            scale = math.log(rows / previous[0])
            ew = f"{math.log(mw / previous[1]) / scale:.2f}"
            ep = f"{math.log(mp / previous[2]) / scale:.2f}"
        else:
            ew = ep = ""
        table.append(
            f"| {rows:,} | {rows // 3:,} | {mw:.1f} | {ew} | {mp:.1f} | {ep} | "
            f"{', '.join(f'{x:.1f}' for x in w)} | {', '.join(f'{x:.1f}' for x in p)} |"
        )
        previous = (rows, mw, mp)
    text = "\n".join(
        [
            "# DuckDB's GROUP BY, groups growing with the rows: whole or in parts",
            "",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {machine()}; duckdb {metadata.version('duckdb')}",
            f"- Query: `{QUERY}`, groups = rows / 3 (whole) or part / 3 (each part of "
            f"{args.part:,} rows); threads 2, memory limit {duckdb_memory_limit('8GB')}; the "
            f"median of {args.repeats} runs",
            "- Command: `.venv/bin/python benchmarks/duckdb_groupby.py "
            f"--rows {' '.join(str(r) for r in sorted(args.rows))} --part {args.part} "
            f"--repeats {args.repeats}`",
            "",
            "| rows | groups | whole s | exponent | in parts s | exponent | whole, every run "
            "| in parts, every run |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
            *table,
            "",
            "Exponent: the slope of log seconds on log rows from the previous size.",
            "",
        ]
    )
    write_atomic(RESULTS / "duckdb_groupby.md", lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
