"""Benchmark: (R, S) replenishment replayed on real sales with ``simulate_policies``.

trendcast's policy (``trendcast plan``'s method: point forecasts plus pooled cumulative
backtest errors scaled by each product's level) driven by auto (the fast candidates) and by
SeasonalNaive, beside the textbook moving average with a normal safety stock.

- UCI Online Retail: the ``--products`` products with the most selling days, daily
  (closed Saturdays), weekly review and a one-week lead time (R = L = 6 trading days).
- Kaggle Store Item Demand: all 500 series, daily, history from ``--store-item-from``,
  R = L = 7 days.

Every policy runs at a sweep of target service levels, so besides what each achieves at
the targets 0.90 and 0.95 the inventory each needs to *achieve* a given cycle service level
is read off its sweep (linear interpolation). Results go to
``benchmarks/results/policy_simulation.{md,csv}`` with the machine and date.

Run: ``.venv/bin/python benchmarks/policy_simulation.py`` (add ``--lightgbm`` for the
global LightGBM as a third forecaster; about ten minutes more). Needs ``../shared/data``;
exits cleanly without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from online_retail_models import machine

from trendcast.data.columns import ColumnMap
from trendcast.data.io import read_table
from trendcast.data.prepare import PreparedData, prepare_sales
from trendcast.decisions.simulate import MOVING_AVERAGE, simulate_policies

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ONLINE_RETAIL = SHARED / "online_retail" / "online_retail.csv.gz"
STORE_ITEM = SHARED / "store_item_demand" / "train.csv.gz"
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
HEADLINE = (0.90, 0.95)


def online_retail(products: int) -> PreparedData:
    data = prepare_sales(read_table(ONLINE_RETAIL))
    selling_days = data.panel[data.panel["y"] > 0].groupby("unique_id").size()
    top = selling_days.sort_values(ascending=False, kind="stable").index[:products]
    return replace(
        data,
        panel=data.panel[data.panel["unique_id"].isin(top)].reset_index(drop=True),
        ids=data.ids[data.ids["unique_id"].isin(top)].reset_index(drop=True),
    )


def store_item(start: str) -> PreparedData:
    raw = read_table(STORE_ITEM)
    raw = raw[pd.to_datetime(raw["date"]) >= pd.Timestamp(start)]
    return prepare_sales(
        raw, ColumnMap(id_cols=("store", "item"), time_col="date", target_col="sales")
    )


def inventory_at(summary: pd.DataFrame, policy: str, csl: float) -> float:
    """Average inventory the policy needs to achieve ``csl``, from its sweep of targets."""
    sweep = summary[summary["policy"] == policy].sort_values("service_level")
    achieved = np.maximum.accumulate(sweep["cycle_service_level"].to_numpy())
    if not achieved[0] <= csl <= achieved[-1]:
        return float("nan")
    return float(np.interp(csl, achieved, sweep["avg_inventory"].to_numpy()))


def report(name: str, summary: pd.DataFrame, policies: list[str]) -> tuple[list[str], list[str]]:
    """Markdown lines for one data set, and its verdict lines."""
    at_target = summary[summary["service_level"].isin(HEADLINE)].copy()
    cols = [
        "policy",
        "service_level",
        "cycle_service_level",
        "fill_rate",
        "stockout_period_share",
        "avg_inventory",
        "total_cost",
    ]
    lines = [
        "At the targets (what each policy achieves when asked for 0.90 and 0.95):",
        "",
        at_target[cols]
        .rename(columns={"service_level": "target", "cycle_service_level": "achieved_csl"})
        .to_markdown(index=False, floatfmt=".3f"),
        "",
        "Average inventory (units) each policy needs to achieve a cycle service level "
        "(interpolated over its sweep of targets; blank: out of its reach):",
        "",
    ]
    rows = []
    for policy in policies:
        row: dict[str, object] = {"policy": policy}
        for csl in (0.85, *HEADLINE):
            row[f"inventory at CSL {csl:.2f}"] = inventory_at(summary, policy, csl)
        rows.append(row)
    needs = pd.DataFrame(rows).set_index("policy")
    needs = needs.apply(lambda col: col.map(lambda v: "" if np.isnan(v) else f"{v:,.0f}"))
    lines += [needs.reset_index().to_markdown(index=False), ""]
    verdicts = []
    for policy in [p for p in policies if p != MOVING_AVERAGE]:
        for target in HEADLINE:
            got = float(
                at_target.loc[
                    (at_target["policy"] == policy) & (at_target["service_level"] == target),
                    "cycle_service_level",
                ].iloc[0]
            )
            ok = abs(got - target) <= 0.03
            mine = inventory_at(summary, policy, target)
            ma = inventory_at(summary, MOVING_AVERAGE, target)
            if np.isnan(ma):
                versus = "the moving average cannot reach it at any target up to 0.999"
            else:
                cut = 100 * (1 - mine / ma)
                versus = (
                    f"{abs(cut):.1f}% {'less' if cut >= 0 else 'more'} inventory than the "
                    "moving average needs for the same achieved level "
                    f"({'meets' if cut >= 15 else 'misses'} the 15% target)"
                )
            verdicts.append(
                f"- {name}, {policy}, target {target:.2f}: achieved {got:.3f} "
                f"({'within' if ok else 'outside'} 3 points); {versus}"
            )
    return lines, verdicts


def run(
    name: str, data: PreparedData, lead: int, review: int, reviews: int, models: list[str]
) -> tuple[pd.DataFrame, list[str], list[str]]:
    started = time.perf_counter()
    result = simulate_policies(
        data,
        lead_time=lead,
        review_period=review,
        service_levels=TARGETS,
        models=models,
        reviews=reviews,
        progress=lambda m: print(f"  {name}: {m}", flush=True),
    )
    seconds = time.perf_counter() - started
    summary = result.summary
    summary.insert(0, "dataset", name)
    policies = [*models, MOVING_AVERAGE]
    head = [
        f"## {name}",
        "",
        f"- {summary['series'].iloc[0]:,} products, {data.calendar.describe()}; "
        f"lead time L = {lead}, review period R = {review} periods; {reviews} reviews "
        f"replayed, {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}; "
        f"{reviews * summary['series'].iloc[0]:,} replenishment cycles per policy and target",
        f"- simulation (backtests of every model, the sweep of {len(TARGETS)} targets): "
        f"{seconds:.0f}s",
        "",
    ]
    body, verdicts = report(name, summary, policies)
    return summary, head + body, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--store-item-from", default="2015-07-01")
    parser.add_argument("--online-retail-reviews", type=int, default=24)
    parser.add_argument("--store-item-reviews", type=int, default=52)
    parser.add_argument("--lightgbm", action="store_true")
    args = parser.parse_args()
    missing = [p for p in (ONLINE_RETAIL, STORE_ITEM) if not p.exists()]
    if missing:
        print(f"Skipped: this benchmark needs the shared data files {missing}.")
        sys.exit(0)
    models = ["auto", "seasonal_naive", *(["lightgbm"] if args.lightgbm else [])]

    frames, sections, verdicts = [], [], []
    for name, load, lead, review, reviews in (
        (
            f"Online Retail, top {args.products} products",
            lambda: online_retail(args.products),
            6,
            6,
            args.online_retail_reviews,
        ),
        (
            "Store Item Demand, 500 series",
            lambda: store_item(args.store_item_from),
            7,
            7,
            args.store_item_reviews,
        ),
    ):
        print(f"{name}: preparing", flush=True)
        summary, lines, verdict = run(name, load(), lead, review, reviews, models)
        frames.append(summary)
        sections += lines
        verdicts += verdict

    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(RESULTS / "policy_simulation.csv", index=False)
    text = [
        "# Replenishment policies replayed on real sales",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- command: `.venv/bin/python benchmarks/policy_simulation.py"
        f"{' --lightgbm' if args.lightgbm else ''}`",
        "- policy: (R, S), lost sales, whole-unit orders, starting at the first level; each "
        "review uses only the sales before it (see `trendcast.decisions.simulate`)",
        f"- trendcast's policies: {', '.join(models)} forecasts (auto over the fast candidates) "
        "with the plan's protection-interval errors, learned at each review from 4 earlier "
        "backtest windows; `moving_average`: mean of the last 4 weeks x (L + R) + "
        "z x sd x sqrt(L + R)",
        "- targets swept: " + ", ".join(f"{t:g}" for t in TARGETS),
        "",
        "## Verdicts",
        "",
        *verdicts,
        "",
        *sections,
    ]
    (RESULTS / "policy_simulation.md").write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text))


if __name__ == "__main__":
    main()
