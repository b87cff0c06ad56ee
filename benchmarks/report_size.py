"""Benchmark: the HTML report of 1,000 products, its size and how fast a browser opens it.

Builds a synthetic two-year daily panel of 1,000 products (trends, weekly and
yearly seasons, promotions, price changes, a few launches and discontinuations),
backtests three cheap forecasters over three 28-day windows (seasonal naive,
7-day average, drift-adjusted seasonal naive) with 80/95% intervals, forecasts
28 days, runs the trend analysis and the time-series analysis as ``trendcast
run`` does, and writes the report in English and Chinese. Then headless Chromium
(Debian's, through playwright) opens each report several times and records the
time to the load event, until the charts of the first screen are drawn, and until
every chart is drawn.

Writes ``benchmarks/results/report_size.md`` with the machine and date.

Run: ``.venv/bin/python benchmarks/report_size.py [--products 1000] [--days 730] [--loads 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from online_retail_models import machine

from trendcast.data.prepare import prepare_sales
from trendcast.evaluation.leaderboard import leaderboard, segment_leaderboard
from trendcast.evaluation.metrics import evaluate
from trendcast.evaluation.segments import classify_demand
from trendcast.pipeline import analysis_inputs
from trendcast.reporting import write_report

RESULTS = Path(__file__).resolve().parent / "results"
HORIZON = 28
WINDOWS = 3
LEVELS = (80, 95)
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def synthetic_sales(products: int, days: int, seed: int = 0) -> pd.DataFrame:
    """A sales table: ``sku, date, units, price, promo, category``, one row per product and day."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days, freq="D")
    t = np.arange(days)
    level = rng.lognormal(1.2, 1.0, products)[:, None]
    growth = rng.normal(0, 0.6, products)[:, None] * t / days
    weekly = 1 + rng.uniform(0, 0.4, products)[:, None] * np.sin(2 * np.pi * (t + 2) / 7)
    yearly = 1 + rng.uniform(0, 0.3, products)[:, None] * np.sin(2 * np.pi * t / 365.25)
    promo = rng.random((products, days)) < 0.03
    price = np.round(rng.uniform(2, 40, products)[:, None] * (1 - 0.2 * promo), 2)
    rate = level * np.exp(growth) * weekly * yearly * (1 + 0.8 * promo)
    start = np.where(rng.random(products) < 0.05, rng.integers(days // 2, days - 60, products), 0)
    stop = np.where(rng.random(products) < 0.03, rng.integers(days // 2, days - 40, products), days)
    alive = (t >= start[:, None]) & (t < stop[:, None])
    units = rng.poisson(rate * alive).astype(float)
    return pd.DataFrame(
        {
            "sku": np.repeat([f"SKU-{i:04d}" for i in range(products)], days),
            "date": np.tile(dates, products),
            "units": units.ravel(),
            "price": price.ravel(),
            "promo": promo.ravel().astype(int),
            "category": np.repeat([f"cat-{i % 12:02d}" for i in range(products)], days),
        }
    )


def cheap_forecasts(
    panel: pd.DataFrame, cutoff: pd.Timestamp, horizon: int
) -> dict[str, pd.DataFrame]:
    """Three simple forecasters from the history up to ``cutoff``, with normal intervals."""
    wide = panel[panel["ds"] <= cutoff].pivot(index="unique_id", columns="ds", values="y")
    values = wide.fillna(0.0).to_numpy(float)  # before a product's launch it sold nothing
    last_week = values[:, -7:]
    season = np.tile(last_week, int(np.ceil(horizon / 7)))[:, :horizon]
    average = np.repeat(values[:, -7:].mean(axis=1, keepdims=True), horizon, axis=1)
    before = values[:, -35:-7].mean(axis=1, keepdims=True)
    drift = np.clip(last_week.mean(axis=1, keepdims=True) / np.maximum(before, 1e-9), 0.5, 2)
    spread = (values[:, -56:] - np.roll(values, 7, axis=1)[:, -56:]).std(axis=1)[:, None]
    dates = pd.date_range(cutoff + pd.Timedelta(days=1), periods=horizon, freq="D")
    out = {}
    for name, point in (
        ("SeasonalNaive", season),
        ("WindowAverage", average),
        ("DriftSeasonal", season * drift),
    ):
        frame = pd.DataFrame(
            {
                "unique_id": np.repeat(wide.index.to_numpy(), horizon),
                "ds": np.tile(dates, len(wide)),
                "forecast": point.ravel(),
            }
        )
        steps = np.sqrt(np.arange(1, horizon + 1) / 7)[None, :]
        for level, z in zip(LEVELS, (1.2816, 1.9600), strict=True):
            half = (z * spread * steps).ravel()
            frame[f"forecast-lo-{level}"] = np.clip(frame["forecast"] - half, 0, None)
            frame[f"forecast-hi-{level}"] = frame["forecast"] + half
        out[name] = frame
    return out


def build_report(products: int, days: int, folder: Path) -> dict[str, object]:
    """Prepare, backtest, forecast, analyse and write the reports; return the timings."""
    timings: dict[str, object] = {}
    started = time.perf_counter()
    sales = synthetic_sales(products, days)
    from trendcast.data.columns import ColumnMap

    data = prepare_sales(
        sales,
        ColumnMap(
            id_cols=("sku",),
            time_col="date",
            target_col="units",
            price_col="price",
            attributes={"category": "category"},
        ),
        freq="D",
        mode="sales",
    )
    panel = data.panel
    timings["prepare_s"] = time.perf_counter() - started

    started = time.perf_counter()
    last = panel["ds"].max()
    frames = []
    for k in range(WINDOWS, 0, -1):
        cutoff = last - pd.Timedelta(days=k * HORIZON)
        for name, frame in cheap_forecasts(panel, cutoff, HORIZON).items():
            frames.append(frame.assign(model=name, cutoff=cutoff))
    backtest = pd.concat(frames, ignore_index=True).merge(
        panel[["unique_id", "ds", "y"]], on=["unique_id", "ds"]
    )
    per_series = evaluate(backtest, panel, season_length=7, levels=LEVELS)
    segments = classify_demand(panel)
    board = leaderboard(per_series, timings={"SeasonalNaive": 0.2, "WindowAverage": 0.1})
    by_segment = segment_leaderboard(per_series, segments)
    per_series = per_series.merge(segments[["unique_id", "segment"]], on="unique_id")
    future = cheap_forecasts(panel, last, HORIZON)["DriftSeasonal"].assign(model="DriftSeasonal")
    timings["forecast_s"] = time.perf_counter() - started

    started = time.perf_counter()
    extra = analysis_inputs(data)
    timings["analysis_s"] = time.perf_counter() - started

    for lang in ("en", "zh"):
        started = time.perf_counter()
        path = write_report(
            folder / f"report_{lang}.html",
            title=f"{products:,} synthetic products",
            summary={"Series": data.n_series, "Horizon": HORIZON},
            cleaning=data.report.to_frame(),
            series_notes=data.report.series_notes,
            leaderboard=board,
            segment_leaderboard=by_segment,
            per_series=per_series,
            panel=panel[["unique_id", "ds", "y"]],
            backtest=backtest,
            forecast=future,
            levels=LEVELS,
            lang=lang,
            **extra,
        )
        timings[f"render_{lang}_s"] = time.perf_counter() - started
        timings[f"size_{lang}_mb"] = path.stat().st_size / 1e6
    return timings


# every chart container in the first screen has been drawn by Plotly
FIRST_SCREEN = """() => Array.from(document.querySelectorAll('div.figure'))
  .filter(function (node) { return node.getBoundingClientRect().top < window.innerHeight; })
  .every(function (node) { return node.classList.contains('js-plotly-plot'); })"""


def browser_times(
    path: Path, loads: int
) -> tuple[list[float], list[float], list[float], int, list[str]]:
    """Seconds to the load event, until the first screen's charts and until every chart is
    drawn, per fresh page load."""
    from playwright.sync_api import sync_playwright

    to_load, to_screen, to_charts, errors = [], [], [], []
    charts = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            started = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            to_load.append(time.perf_counter() - started)
            page.wait_for_function(FIRST_SCREEN, timeout=120_000, polling=20)
            to_screen.append(time.perf_counter() - started)
            page.wait_for_function(
                "document.documentElement.dataset.rendered === 'true'", timeout=120_000
            )
            to_charts.append(time.perf_counter() - started)
            charts = page.locator(".js-plotly-plot").count()
            page.close()
        browser.close()
    return to_load, to_screen, to_charts, charts, errors


def _spread(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f})"


def chromium_version() -> str:
    try:
        return subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timings = build_report(args.products, args.days, folder)
        measured = {
            lang: browser_times(folder / f"report_{lang}.html", args.loads) for lang in ("en", "zh")
        }
    load_avg = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        "# Report size and browser load time",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}; {chromium_version()} headless; load average at the end "
        f"{load_avg} (the machine was shared)",
        f"- Data: {args.products:,} products x {args.days} days (synthetic, daily), 3 models x "
        f"{WINDOWS} backtest windows of {HORIZON} days, 80/95% intervals, trends and "
        "time-series analysis",
        f"- Built in: prepare {timings['prepare_s']:.1f} s, forecasts and scores "
        f"{timings['forecast_s']:.1f} s, analysis {timings['analysis_s']:.1f} s",
        "",
        "| language | file size | render (Python) | load event | first screen drawn | all charts "
        "drawn | charts | JS errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lang, (to_load, to_screen, to_charts, charts, errors) in measured.items():
        lines.append(
            f"| {lang} | {timings[f'size_{lang}_mb']:.1f} MB | {timings[f'render_{lang}_s']:.1f} s "
            f"| {_spread(to_load)} | {_spread(to_screen)} | {_spread(to_charts)} "
            f"| {charts} | {len(errors)} |"
        )
    lines += [
        "",
        f"Times are medians (min-max) over {args.loads} fresh page loads in one browser, from "
        "`page.goto` to the load event, to the charts of the first screen (1366x900) drawn, "
        "and to the page's own signal that its last chart is drawn: charts are drawn after the "
        "load event, those in view first, so the page can be read before the last one is done.",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "report_size.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
