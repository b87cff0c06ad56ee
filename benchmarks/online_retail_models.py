"""Benchmark: every model on UCI Online Retail, the 1,000 products with the most selling days.

Daily, horizon 28, 3 rolling-origin windows. Reports MASE, RMSSE, scaled
pinball loss, interval coverage and wall time per model, plus the wall time of
``trendcast run`` on the embedded demo. Results go to
``benchmarks/results/online_retail_models.{csv,md}`` with the machine and date.

Run: ``make bench`` or ``.venv/bin/python benchmarks/online_retail_models.py``.
Needs ``../shared/data/online_retail/online_retail.csv.gz`` (the UCI file).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from trendcast.data.io import read_table
from trendcast.data.prepare import prepare_sales
from trendcast.evaluation.backtest import DEFAULT_BACKTEST_MODELS, run_backtest
from trendcast.evaluation.leaderboard import HEADLINE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


#: the libraries whose versions decide a scale benchmark's times
STACK = ("duckdb", "statsforecast", "numpy", "pandas", "pyarrow", "scipy", "dask")


def stack() -> str:
    """The installed versions of :data:`STACK`, e.g. ``duckdb 2.0.0, statsforecast 2.1.1``
    (an optional one that is not installed is left out)."""
    found = []
    for name in STACK:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def time_demo_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "trendcast",
                "run",
                "--out",
                f"{tmp}/out",
                "--store",
                f"{tmp}/runs.duckdb",
                "--jobs",
                "2",
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--demo-only",
        action="store_true",
        help="only time `trendcast run` on the embedded demo (results/demo_run.md)",
    )
    args = parser.parse_args()
    if args.demo_only:
        seconds = time_demo_run()
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "demo_run.md").write_text(
            f"# `trendcast run` on the embedded demo\n\n"
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}\n"
            f"- 300 products, `--jobs 2`, defaults (backtests, forecast, trends, analysis, "
            f"alerts, report): {seconds:.0f} s\n",
            encoding="utf-8",
        )
        print(f"trendcast run on the demo: {seconds:.0f}s")
        return
    if not DATA.exists():
        sys.exit(f"Missing {DATA}: this benchmark needs the shared UCI Online Retail file.")

    started = time.perf_counter()
    data = prepare_sales(read_table(DATA))
    selling_days = data.panel[data.panel["y"] > 0].groupby("unique_id").size()
    top = selling_days.sort_values(ascending=False, kind="stable").index[: args.products]
    panel = data.panel[data.panel["unique_id"].isin(top)].reset_index(drop=True)
    prep_s = time.perf_counter() - started
    print(f"prepared {panel['unique_id'].nunique()} series in {prep_s:.1f}s", flush=True)

    models = [*DEFAULT_BACKTEST_MODELS, "auto_arima"]
    started = time.perf_counter()
    result = run_backtest(
        panel,
        data.calendar,
        horizon=args.horizon,
        windows=args.windows,
        models=models,
        levels=(80, 95),
        n_jobs=args.jobs,
        progress=lambda m: print(m, flush=True),
    )
    total_s = time.perf_counter() - started
    board = result.leaderboard
    cols = list(HEADLINE_COLUMNS)
    table = board[cols].copy()
    snaive = float(board.loc[board["model"] == "seasonal_naive", "mase"].iloc[0])
    auto = float(board.loc[board["model"] == "auto", "mase"].iloc[0])
    best_single = float(board.loc[board["model"] != "auto", "mase"].min())
    demo_s = None if args.skip_demo else time_demo_run()

    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "online_retail_models.csv", index=False)
    lines = [
        f"# Online Retail, top {args.products} products by selling days",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- daily ({data.calendar.describe()}), horizon {args.horizon}, {args.windows} windows, "
        f"step {args.horizon}; levels 80/95",
        f"- data preparation {prep_s:.0f}s; all backtests {total_s:.0f}s "
        f"(auto's candidates run {args.windows + 2} windows: 2 more for auto's choice, "
        "so their times include them; auto's time is their sum)",
        f"- auto vs SeasonalNaive MASE: {100 * (1 - auto / snaive):.1f}% better; "
        f"vs the best single model: {100 * (1 - auto / best_single):.1f}% better",
    ]
    if demo_s is not None:
        lines.append(
            f"- `trendcast run` on the embedded demo (300 products, --jobs 2): {demo_s:.0f}s"
        )
    lines += ["", table.to_markdown(index=False, floatfmt=".3f"), ""]
    (RESULTS / "online_retail_models.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
