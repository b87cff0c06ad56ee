"""Rolling-origin backtests of several models, scored into a leaderboard.

Every model is refit at each cutoff (``windows`` cutoffs ``step`` periods
apart, the last one ``horizon`` periods before the end of the data). ``auto``
is evaluated honestly: it runs its candidates over extra, earlier windows and
makes each window's per-series choice only on windows that ended before that
window's cutoff. The candidates' own scores come from the same runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.evaluation.leaderboard import leaderboard, segment_leaderboard
from trendcast.evaluation.metrics import evaluate
from trendcast.evaluation.segments import classify_demand
from trendcast.exceptions import ConfigError
from trendcast.features.covariates import model_frame
from trendcast.models.auto import AutoSelect
from trendcast.models.base import interval_columns
from trendcast.models.registry import available_models, make_model

__all__ = ["BacktestResult", "run_backtest", "to_long", "DEFAULT_BACKTEST_MODELS"]

DEFAULT_BACKTEST_MODELS: tuple[str, ...] = (
    "auto",
    "naive",
    "seasonal_naive",
    "window_average",
    "auto_ets",
    "auto_theta",
    "croston",
    "tsb",
    "adida",
    "imapa",
)


@dataclass
class BacktestResult:
    """Forecasts at every cutoff (long), their scores, and the leaderboard."""

    backtest: pd.DataFrame  # unique_id, ds, cutoff, y, model, forecast, forecast-lo-L, ...
    per_series: pd.DataFrame  # one row per (model, unique_id) with metrics and segment
    leaderboard: pd.DataFrame
    segment_leaderboard: pd.DataFrame
    segments: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    candidate_cv: pd.DataFrame | None = None  # auto's candidates, wide, all windows


def to_long(wide: pd.DataFrame, aliases: Sequence[str], levels: Sequence[int]) -> pd.DataFrame:
    """Wide backtest (one column block per model) to the long contract with a ``model`` column."""
    frames = []
    base = [c for c in ("unique_id", "ds", "cutoff", "y") if c in wide.columns]
    for alias in aliases:
        cols = [alias, *interval_columns(alias, levels)]
        part = wide[base + cols].rename(columns={c: "forecast" + c[len(alias) :] for c in cols})
        part.insert(len(base), "model", alias)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _check_models(models: Sequence[str]) -> list[str]:
    known = set(available_models())
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(
            f"Unknown model(s) {unknown}. Available: {sorted(known)}. See `trendcast models`."
        )
    return list(dict.fromkeys(models))


def run_backtest(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    horizon: int,
    windows: int = 3,
    step: int | None = None,
    models: Sequence[str] = DEFAULT_BACKTEST_MODELS,
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    static_df: pd.DataFrame | None = None,
) -> BacktestResult:
    """Backtest ``models`` on ``panel`` and score them.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y`` (``price`` is used for revenue weights).
    horizon, windows, step
        Each of ``windows`` cutoffs forecasts ``horizon`` periods; cutoffs are
        ``step`` periods apart (default: ``horizon``).
    progress
        Called with a line per finished model.
    static_df
        Static attributes (category, store...) for models that use them.
    """
    step = step or horizon
    models = _check_models(models)
    levels = sorted(levels)
    say = progress or (lambda _msg: None)
    season = calendar.season_length
    timings: dict[str, float] = {}
    wides: dict[str, pd.DataFrame] = {}
    auto: AutoSelect | None = None
    if "auto" in models:
        auto = make_model("auto", season_length=season, calendar=calendar, n_jobs=n_jobs)
        extra = auto.selection_windows
        needed = [m for m in auto.candidates]
    else:
        extra = 0
        needed = []
    singles = [m for m in models if m != "auto"]
    total_windows = windows + extra
    # each model once, over enough windows for auto's selection too; timed separately
    for name in dict.fromkeys([*needed, *singles]):
        model = make_model(name, season_length=season, calendar=calendar, n_jobs=n_jobs)
        n_win = total_windows if name in needed else windows
        started = time.perf_counter()
        frame = model_frame(panel, model.supports_future_covariates)
        wide = model.cross_validation(
            frame,
            h=horizon,
            n_windows=n_win,
            step=step,
            levels=levels,
            static_df=static_df if model.supports_static_covariates else None,
        )
        timings[name] = time.perf_counter() - started
        wides[name] = wide
        say(f"backtest {name}: {timings[name]:.1f}s")
    cutoffs = sorted(next(iter(wides.values()))["cutoff"].unique())[-windows:]
    frames = []
    for name in singles:
        w = wides[name]
        frames.append(to_long(w[w["cutoff"].isin(cutoffs)], [name], levels))
    candidate_cv = None
    if auto is not None:
        key = ["unique_id", "ds", "cutoff", "y"]
        candidate_cv = wides[needed[0]]
        for name in needed[1:]:
            candidate_cv = candidate_cv.merge(wides[name].drop(columns="y"), on=key[:3])
        started = time.perf_counter()
        auto_long = auto.select_over_windows(candidate_cv, horizon, windows, step, levels)
        timings["auto"] = sum(timings[n] for n in needed) + time.perf_counter() - started
        auto_long = auto_long.rename(
            columns=lambda c: "forecast" + c[4:] if c.startswith("auto") else c
        )
        auto_long = auto_long.rename(columns={"model": "chosen"})
        auto_long.insert(4, "model", "auto")
        frames.insert(0, auto_long.drop(columns="chosen"))
        say(f"backtest auto: per-series choice over {len(needed)} candidates")
    backtest = pd.concat(frames, ignore_index=True)
    # score every model on the same series: those old enough for every model's windows
    counts = backtest.groupby("unique_id")["model"].nunique()
    common = counts.index[counts == backtest["model"].nunique()]
    backtest = backtest[backtest["unique_id"].isin(common)].reset_index(drop=True)
    history = panel[[c for c in ("unique_id", "ds", "y", "price") if c in panel.columns]]
    per_series = evaluate(backtest, history, season, levels)
    segments = classify_demand(panel[panel["ds"] <= cutoffs[0]][["unique_id", "ds", "y"]])
    # series born after the first cutoff have no history to classify: they are "new"
    labels = pd.DataFrame({"unique_id": per_series["unique_id"].unique()}).merge(
        segments[["unique_id", "segment"]], on="unique_id", how="left"
    )
    labels["segment"] = labels["segment"].fillna("new")
    board = leaderboard(per_series, timings)
    seg_board = segment_leaderboard(per_series, labels)
    per_series = per_series.merge(labels, on="unique_id", how="left")
    return BacktestResult(backtest, per_series, board, seg_board, segments, timings, candidate_cv)
