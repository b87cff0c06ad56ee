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
from trendcast.engines import distribute
from trendcast.evaluation.leaderboard import leaderboard, segment_leaderboard
from trendcast.evaluation.metrics import evaluate
from trendcast.evaluation.segments import classify_demand
from trendcast.exceptions import ConfigError
from trendcast.features.covariates import model_frame
from trendcast.models.auto import DEFAULT_CANDIDATES
from trendcast.models.base import interval_columns
from trendcast.models.registry import available_models, make_model
from trendcast.models.statistical import StatsForecastModel

__all__ = ["BacktestResult", "run_backtest", "to_long", "DEFAULT_BACKTEST_MODELS"]

DEFAULT_BACKTEST_MODELS: tuple[str, ...] = ("auto", "naive", *DEFAULT_CANDIDATES)


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
    time_budget: float | None = None,
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
    time_budget
        Seconds ``auto`` may spend; with a budget it considers every model family.
    """
    step = step or horizon
    models = _check_models(models)
    levels = sorted(levels)
    say = progress or (lambda _msg: None)
    season = calendar.season_length
    timings: dict[str, float] = {}
    frames: list[pd.DataFrame] = []
    candidate_cv = None
    reused: set[str] = set()
    cutoffs: list[pd.Timestamp] = []
    if "auto" in models:
        # auto backtests its candidates over extra, earlier windows for its choice; the
        # statistical candidates' own scores come from the same runs
        auto = make_model(
            "auto", season_length=season, calendar=calendar, n_jobs=n_jobs, time_budget=time_budget
        )
        started = time.perf_counter()
        auto_long = auto.cross_validation(
            model_frame(panel, *auto.covariates_used()),
            h=horizon,
            n_windows=windows,
            step=step,
            levels=levels,
            static_df=static_df,
        )
        timings["auto"] = time.perf_counter() - started
        candidate_cv = auto.candidate_cv_
        cutoffs = sorted(auto_long["cutoff"].unique())
        for name, seconds in auto.timings_.items():
            if name in models and isinstance(make_model(name), StatsForecastModel):
                timings[name] = seconds
                reused.add(name)
                window = candidate_cv[candidate_cv["cutoff"].isin(cutoffs)]
                frames.append(to_long(window, [name], levels))
        auto_long = auto_long.rename(
            columns=lambda c: "forecast" + c[4:] if c.startswith("auto") else c
        ).drop(columns="model")
        auto_long.insert(4, "model", "auto")
        frames.insert(0, auto_long)
        skipped = f"; skipped {auto.skipped_}" if auto.skipped_ else ""
        say(
            f"backtest auto: {timings['auto']:.1f}s over {len(auto.candidates_)} candidates"
            f"{skipped}"
        )
    for name in [m for m in models if m != "auto" and m not in reused]:
        model = distribute(make_model(name, season_length=season, calendar=calendar, n_jobs=n_jobs))
        started = time.perf_counter()
        wide = model.cross_validation(
            model_frame(panel, *model.covariates_used()),
            h=horizon,
            n_windows=windows,
            step=step,
            levels=levels,
            static_df=static_df if model.supports_static_covariates else None,
        )
        timings[name] = time.perf_counter() - started
        cutoffs = cutoffs or sorted(wide["cutoff"].unique())
        frames.append(to_long(wide, [name], levels))
        say(f"backtest {name}: {timings[name]:.1f}s")
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
