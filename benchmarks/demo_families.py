"""Benchmark: every model family on the embedded demo (300 real Online Retail products).

Daily (closed Saturdays), horizon 28, one or more rolling windows, 80/95%
intervals; ``auto`` with a time budget so it may use every family. Writes
``benchmarks/results/demo_families.{csv,md}`` with the machine and date.

Run: ``.venv/bin/python benchmarks/demo_families.py [--windows 1] [--budget 900]``.
Needs only the package (the demo ships inside it).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from online_retail_models import machine

from trendcast.evaluation.backtest import run_backtest
from trendcast.evaluation.leaderboard import HEADLINE_COLUMNS
from trendcast.pipeline import _static, load_sales

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = [
    "auto",
    "seasonal_naive",
    "window_average",
    "auto_theta",
    "auto_ets",
    "linear",
    "lightgbm",
    "lstm",
    "nhits",
    "patchtst",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--budget", type=float, default=900.0, help="auto's time budget (s)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    data = load_sales(None)
    started = time.perf_counter()
    result = run_backtest(
        data.panel,
        data.calendar,
        horizon=args.horizon,
        windows=args.windows,
        models=MODELS,
        levels=(80, 95),
        n_jobs=args.jobs,
        static_df=_static(data),
        time_budget=args.budget,
        progress=lambda m: print(m, flush=True),
    )
    total = time.perf_counter() - started
    cols = list(HEADLINE_COLUMNS)
    table = result.leaderboard[cols]
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "demo_families.csv", index=False)
    lines = [
        "# Every family on the embedded demo (300 Online Retail products)",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- daily ({data.calendar.describe()}), horizon {args.horizon}, {args.windows} window(s); "
        f"auto with --time-budget {args.budget:g}s; all backtests {total:.0f}s",
        "- auto's time covers its candidates (2 extra windows for its choice); the statistical "
        "candidates' times are their share of auto's batched run",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (RESULTS / "demo_families.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
