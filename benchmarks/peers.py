"""Benchmark: trendcast ``auto`` against the tools a user would pick instead, side by side.

Peers, each with the defaults its documentation shows, run in this one process on
the same cleaned panel, the same cutoffs and the same scoring:

- statsforecast ``AutoETS``, ``AutoTheta``, ``SeasonalNaive`` (season = open days per week);
- mlforecast with ``LGBMRegressor()`` as in its quick start: lags 1 and one season, an
  expanding mean of lag 1, a rolling season mean of the seasonal lag, day of week, first
  differences; conformal intervals (2 windows);
- neuralforecast ``NHITS`` (input 2 x h) and ``LSTM`` with their defaults, trained with
  ``MQLoss`` so they give intervals; neuralforecast's own cross-validation (one training
  before the first cutoff, as its default ``refit=False`` does);
- trendcast ``auto`` with ``--time-budget`` set to twice AutoETS's measured wall time.

Data sets: (a) UCI Online Retail, the 1,000 products with the most selling days,
(b) Store Item Demand, 500 daily series. Daily, h=28, 3 windows 28 days apart.
Both go through trendcast's cleaning first (the peers get the cleaned panel, on
the same trading-day grid: Online Retail does not trade on Saturdays, so its
frequency is a custom business day and its season is 6).

Reported per method: MASE, RMSSE, scaled pinball loss (median and the 80/95%
bounds), interval coverage, wall time. Results go to
``benchmarks/results/peers.{csv,md}`` with the machine and date.

Run: ``.venv/bin/python benchmarks/peers.py --cache DIR`` (hours on 2 cores: about
4.5 hours on 2026-11-21 with the machine shared, AutoETS, AutoTheta and the LSTM on
Store Item taking most of it; ``--cache`` keeps each method's backtest, so an
interrupted run resumes); ``--datasets online_retail --series 100`` for a quick look.
Needs ``../shared/data`` (the UCI and Store Item Demand files).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.data.io import read_table
from trendcast.data.prepare import prepare_sales
from trendcast.evaluation.leaderboard import HEADLINE_COLUMNS, leaderboard
from trendcast.evaluation.metrics import evaluate
from trendcast.models.registry import make_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = {
    "online_retail": SHARED / "online_retail" / "online_retail.csv.gz",
    "store_item": SHARED / "store_item_demand" / "train.csv.gz",
}
RESULTS = ROOT / "benchmarks" / "results"
LEVELS = (80, 95)
KEY = ["unique_id", "ds", "cutoff"]

sys.path.insert(0, str(ROOT / "benchmarks"))
from online_retail_models import machine  # noqa: E402


def load(name: str, series: int) -> tuple[pd.DataFrame, TradingCalendar]:
    data = prepare_sales(read_table(DATASETS[name]))
    selling_days = data.panel[data.panel["y"] > 0].groupby("unique_id").size()
    top = selling_days.sort_values(ascending=False, kind="stable").index[:series]
    panel = data.panel[data.panel["unique_id"].isin(top)][["unique_id", "ds", "y"]]
    return panel.reset_index(drop=True), data.calendar


def long_frame(cv: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    """One method's backtest in the long scoring contract."""
    out = cv[KEY].copy()
    out["model"] = name
    out["forecast"] = cv[column].to_numpy(dtype=float)
    for level in LEVELS:
        for side in ("lo", "hi"):
            src = f"{column}-{side}-{level}"
            out[f"forecast-{side}-{level}"] = cv[src].to_numpy(dtype=float) if src in cv else np.nan
    return out


def statsforecast_peer(model_name: str) -> Callable[..., pd.DataFrame]:
    def run(panel: pd.DataFrame, cal: TradingCalendar, h: int, windows: int) -> pd.DataFrame:
        from statsforecast import StatsForecast
        from statsforecast import models as sfm

        model = getattr(sfm, model_name)(season_length=cal.season_length)
        sf = StatsForecast(models=[model], freq=cal.offset, n_jobs=2)
        cv = sf.cross_validation(df=panel, h=h, n_windows=windows, step_size=h, level=list(LEVELS))
        return long_frame(cv, model_name, model_name)

    return run


def mlforecast_lightgbm(
    panel: pd.DataFrame, cal: TradingCalendar, h: int, windows: int
) -> pd.DataFrame:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExpandingMean, RollingMean
    from mlforecast.target_transforms import Differences
    from mlforecast.utils import PredictionIntervals

    s = cal.season_length
    # its conformal intervals need 2 calibration windows plus the lags in every series
    # before the first cutoff: it refuses the whole panel otherwise, so shorter series
    # are left out here (and so out of every method's scores)
    lengths = panel.groupby("unique_id").size()
    need = windows * h + 2 * h + s + 1
    panel = panel[panel["unique_id"].isin(lengths.index[lengths >= need])]
    fcst = MLForecast(
        models={"LGBMRegressor": lgb.LGBMRegressor(random_state=0, verbosity=-1)},
        freq=cal.offset,
        lags=[1, s],
        lag_transforms={1: [ExpandingMean()], s: [RollingMean(window_size=s)]},
        date_features=["dayofweek"],
        target_transforms=[Differences([1])],
    )
    cv = fcst.cross_validation(
        df=panel,
        h=h,
        n_windows=windows,
        step_size=h,
        prediction_intervals=PredictionIntervals(n_windows=2, h=h),
        level=list(LEVELS),
    )
    return long_frame(cv, "LGBMRegressor", "mlforecast LightGBM")


def neural_peer(model_name: str) -> Callable[..., pd.DataFrame]:
    def run(panel: pd.DataFrame, cal: TradingCalendar, h: int, windows: int) -> pd.DataFrame:
        from neuralforecast import NeuralForecast
        from neuralforecast import models as nfm
        from neuralforecast.losses.pytorch import MQLoss

        kwargs = {"input_size": 2 * h} if model_name == "NHITS" else {}
        model = getattr(nfm, model_name)(
            h=h,
            loss=MQLoss(level=list(LEVELS)),
            random_seed=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
            **kwargs,
        )
        nf = NeuralForecast(models=[model], freq=cal.offset)
        cv = nf.cross_validation(df=panel, n_windows=windows, step_size=h)
        cv = cv.rename(columns={f"{model_name}-median": model_name})
        return long_frame(cv, model_name, model_name)

    return run


def trendcast_auto(budget: float, keep: Path) -> Callable[..., pd.DataFrame]:
    def run(panel: pd.DataFrame, cal: TradingCalendar, h: int, windows: int) -> pd.DataFrame:
        auto = make_model(
            "auto",
            season_length=cal.season_length,
            calendar=cal,
            n_jobs=2,
            time_budget=budget,
        )
        cv = auto.cross_validation(panel, h=h, n_windows=windows, step=h, levels=LEVELS)
        print(f"  auto used: {', '.join(auto.candidates_)}; skipped: {auto.skipped_}", flush=True)
        pd.to_pickle(
            {
                "candidates": auto.candidates_,
                "timings": auto.timings_,
                "skipped": auto.skipped_,
                "candidate_cv": auto.candidate_cv_,
            },
            keep,
        )
        return long_frame(cv, "auto", "trendcast auto")

    return run


def bench(
    name: str,
    series: int,
    h: int,
    windows: int,
    skip: set[str],
    cache: Path,
    rerun: set[str],
    auto_budget: dict[str, float],
) -> dict[str, object]:
    started = time.perf_counter()
    panel, cal = load(name, series)
    prep_s = time.perf_counter() - started
    n = panel["unique_id"].nunique()
    print(f"{name}: {n} series, {cal.describe()}, prepared in {prep_s:.0f}s", flush=True)
    peers: list[tuple[str, Callable[..., pd.DataFrame]]] = [
        ("AutoETS", statsforecast_peer("AutoETS")),
        ("AutoTheta", statsforecast_peer("AutoTheta")),
        ("SeasonalNaive", statsforecast_peer("SeasonalNaive")),
        ("mlforecast LightGBM", mlforecast_lightgbm),
        ("NHITS", neural_peer("NHITS")),
        ("LSTM", neural_peer("LSTM")),
    ]
    frames: list[pd.DataFrame] = []
    timings: dict[str, float] = {}
    key = f"{name}-{n}-{h}-{windows}"

    def timed(label: str, runner: Callable[..., pd.DataFrame]) -> None:
        # each method's backtest is kept in the cache: an interrupted benchmark resumes,
        # and --rerun repeats chosen methods (e.g. timings on a quiet machine)
        path = cache / f"{key}-{label.replace(' ', '_')}.pkl"
        if path.exists() and label not in rerun:
            frame, seconds = pd.read_pickle(path)
            print(f"  {label}: {seconds:.0f}s (cached)", flush=True)
        else:
            began = time.perf_counter()
            frame = runner(panel, cal, h, windows)
            seconds = time.perf_counter() - began
            pd.to_pickle((frame, seconds), path)
            print(f"  {label}: {seconds:.0f}s", flush=True)
        frames.append(frame)
        timings[str(frame["model"].iloc[0])] = seconds

    for label, runner in peers:
        if label not in skip:
            timed(label, runner)
    budget = auto_budget.get(name) or 2 * timings.get("AutoETS", 60.0)
    auto_runner = trendcast_auto(budget, cache / f"{key}-auto-candidates.pkl")
    timed("trendcast auto", auto_runner)

    stacked = pd.concat(frames, ignore_index=True)
    stacked["ds"] = pd.to_datetime(stacked["ds"])
    stacked["cutoff"] = pd.to_datetime(stacked["cutoff"])
    actual = panel.rename(columns={"y": "y"})
    stacked = stacked.merge(actual, on=["unique_id", "ds"], how="inner")
    # score every method on the same rows
    methods = stacked["model"].nunique()
    full = stacked.groupby(KEY)["model"].transform("nunique") == methods
    stacked = stacked[full].reset_index(drop=True)
    stacked = stacked[["unique_id", "ds", "cutoff", "y", "model", *stacked.columns[4:-1]]]
    per_series = evaluate(stacked, panel, cal.season_length, LEVELS)
    board = leaderboard(per_series, timings)
    return {
        "name": name,
        "series": n,
        "rows": len(stacked) // methods,
        "calendar": cal.describe(),
        "prep_s": prep_s,
        "budget": budget,
        "ets_s": timings.get("AutoETS", float("nan")),
        "note": _auto_note(pd.read_pickle(cache / f"{key}-auto-candidates.pkl")),
        "board": board,
    }


def _auto_note(kept: dict[str, object]) -> str:
    used = ", ".join(str(c) for c in kept["candidates"])  # type: ignore[attr-defined]
    skipped = "; ".join(f"{k}: {v}" for k, v in kept["skipped"].items())  # type: ignore[attr-defined]
    return f"candidates used: {used}" + (f"; skipped: {skipped}" if skipped else "")


def verdict(board: pd.DataFrame) -> str:
    auto = board.set_index("model").loc["trendcast auto"]
    others = board[board["model"] != "trendcast auto"].set_index("model")
    parts = []
    for metric in ("mase", "scaled_pinball"):
        best = others[metric].idxmin()
        gain = 100 * (1 - auto[metric] / others[metric].min())
        parts.append(f"{metric}: {gain:+.1f}% vs the best peer ({best})")
    ets = board.set_index("model")["time_s"].get("AutoETS")
    if ets:
        parts.append(f"wall time {auto['time_s'] / ets:.2f}x AutoETS")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="peer labels to leave out")
    parser.add_argument("--out", default="peers", help="results file stem")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "trendcast-peers",
        help="folder keeping each method's backtest (resume, --rerun)",
    )
    parser.add_argument(
        "--rerun", nargs="*", default=[], help="method labels to run again despite the cache"
    )
    parser.add_argument(
        "--auto-budget",
        nargs="*",
        default=[],
        metavar="DATASET=SECONDS",
        help="auto's --time-budget on a data set, below the default of 2 x AutoETS's time",
    )
    args = parser.parse_args()
    missing = [str(DATASETS[d]) for d in args.datasets if not DATASETS[d].exists()]
    if missing:
        sys.exit(f"Missing {missing}: this benchmark needs ../shared/data.")
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

    args.cache.mkdir(parents=True, exist_ok=True)
    auto_budget = {k: float(v) for k, v in (b.split("=", 1) for b in args.auto_budget)}
    results = [
        bench(
            d,
            args.series,
            args.horizon,
            args.windows,
            set(args.skip),
            args.cache,
            set(args.rerun),
            auto_budget,
        )
        for d in args.datasets
    ]
    lines = [
        "# trendcast auto vs the peers",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- daily, horizon {args.horizon}, {args.windows} windows {args.horizon} periods apart; "
        "levels 80/95; every method scored on the same rows",
        "- peers with their documented defaults (see the script's docstring); "
        "trendcast auto with --time-budget = 2 x AutoETS's wall time unless a lower one is "
        "given (each data set's line says which)",
        "",
    ]
    tables = []
    for res in results:
        board = res["board"]
        assert isinstance(board, pd.DataFrame)
        table = board[list(HEADLINE_COLUMNS)]
        tables.append(table.assign(dataset=res["name"]))
        lines += [
            f"## {res['name']}: {res['series']} series ({res['calendar']}), "
            f"{res['rows']} scored rows",
            "",
            f"- {verdict(board)}",
            f"- auto's budget {res['budget']:.0f}s (AutoETS took {res['ets_s']:.0f}s); "
            f"{res['note']}",
            "",
            table.to_markdown(index=False, floatfmt=".3f"),
            "",
        ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(tables).to_csv(RESULTS / f"{args.out}.csv", index=False)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
