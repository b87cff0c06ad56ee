"""Baselines, classical statistics and intermittent-demand models, all through statsforecast.

Every model here produces prediction intervals: natively where statsforecast
has them (Naive, SeasonalNaive, AutoETS, AutoARIMA, AutoTheta, HistoricAverage)
and by conformal prediction over two extra windows otherwise (WindowAverage,
Croston, TSB, ADIDA, IMAPA).

Series too short for a model (AutoETS needs about two seasons, conformal
intervals need ``2 * h + 1`` periods) are forecast by HistoricAverage; the
``fallback_`` attribute says which series, and outputs name the model used.
Forecasts and bounds are floored at zero: demand is never negative.

statsforecast runs on an integer time index built from the trading calendar,
so closed weekdays are stepped over and weekly or monthly grids stay exact.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.models.base import Forecaster, cutoffs_for, interval_columns
from trendcast.models.registry import register

__all__ = [
    "StatsForecastModel",
    "sf_forecast",
    "sf_cross_validation",
    "FALLBACK_MODEL",
]

FALLBACK_MODEL = "historic_average"
_MAX_SEASON_FOR_STATE_SPACE = 24


class StatsForecastModel(Forecaster):
    """A Forecaster backed by one statsforecast model."""

    family: ClassVar[str] = "statistical"
    native_intervals: ClassVar[bool] = True

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        n_jobs: int = 1,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, **params)
        self.n_jobs = n_jobs

    def min_length(self, h: int, levels: Sequence[int]) -> int:
        """Fewest observations a series needs for this model (shorter ones use the fallback)."""
        base = self._base_min_length()
        if levels and not self.native_intervals:
            base = max(base, 2 * h + 1)
        return base

    def _base_min_length(self) -> int:
        return 1

    def make_sf_model(self, h: int, levels: Sequence[int]) -> Any:
        """The statsforecast model instance, with conformal intervals when needed."""
        kwargs: dict[str, Any] = {"alias": self.alias}
        if levels and not self.native_intervals:
            from statsforecast.utils import ConformalIntervals

            kwargs["prediction_intervals"] = ConformalIntervals(h=h, n_windows=2)
        return self._sf_model(**kwargs)

    def _sf_model(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        # statsforecast fits and forecasts in one pass; keeping the history is the cheap path
        self.train_ = df[["unique_id", "ds", "y"]]
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        out, fallback = sf_forecast([self], self.train_, h, levels, self.calendar_, self.n_jobs)
        self.fallback_ = fallback[self.alias]
        return out

    def cross_validation(
        self,
        df: pd.DataFrame,
        h: int,
        n_windows: int,
        step: int | None = None,
        levels: Sequence[int] = (),
        static_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        out, fallback = sf_cross_validation(
            [self], df, h, n_windows, step or h, levels, self.calendar_, self.n_jobs
        )
        self.fallback_ = fallback[self.alias]
        return out


def _seasonal(season_length: int) -> int:
    return season_length if 1 < season_length <= _MAX_SEASON_FOR_STATE_SPACE else 1


@register("naive")
class Naive(StatsForecastModel):
    family = "baseline"
    description = "Last observed value carried forward."

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import Naive as SFNaive

        return SFNaive(**kwargs)


@register("historic_average")
class HistoricAverage(StatsForecastModel):
    family = "baseline"
    description = "Mean of the whole history; the fallback for very short series."

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import HistoricAverage as SFHistoricAverage

        return SFHistoricAverage(**kwargs)


@register("seasonal_naive")
class SeasonalNaive(StatsForecastModel):
    family = "baseline"
    description = "Value of the same period one season ago (last week's same weekday)."

    def _base_min_length(self) -> int:
        return self.season_length

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import SeasonalNaive as SFSeasonalNaive

        return SFSeasonalNaive(season_length=self.season_length, **kwargs)


@register("window_average")
class WindowAverage(StatsForecastModel):
    family = "baseline"
    description = "Mean of the last window (default: four seasons, 8 weeks or 6 months)."
    native_intervals = False

    @property
    def window_size(self) -> int:
        size = self.params.get("window_size")
        if size:
            return int(size)
        cal = self.calendar_
        if cal.is_daily:
            return 4 * self.season_length
        return 8 if cal.freq.startswith("W") else 6

    def min_length(self, h: int, levels: Sequence[int]) -> int:
        extra = 2 * h if levels else 0
        return self.window_size + extra

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import WindowAverage as SFWindowAverage

        return SFWindowAverage(window_size=self.window_size, **kwargs)


@register("auto_ets")
class AutoETS(StatsForecastModel):
    description = "Exponential smoothing (error, trend, season) chosen by AICc."

    def _base_min_length(self) -> int:
        return max(2 * _seasonal(self.season_length), 10)

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import AutoETS as SFAutoETS

        model = self.params.get("model", "ZZZ")
        return SFAutoETS(season_length=_seasonal(self.season_length), model=model, **kwargs)


@register("auto_arima")
class AutoARIMA(StatsForecastModel):
    description = (
        "Seasonal ARIMA, orders chosen stepwise by AICc (small orders, approximated: fast)."
    )

    def _base_min_length(self) -> int:
        return max(2 * _seasonal(self.season_length), 10)

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import AutoARIMA as SFAutoARIMA

        return SFAutoARIMA(
            season_length=_seasonal(self.season_length),
            max_p=self.params.get("max_p", 2),
            max_q=self.params.get("max_q", 2),
            max_P=self.params.get("max_P", 1),
            max_Q=self.params.get("max_Q", 1),
            nmodels=self.params.get("nmodels", 10),
            approximation=self.params.get("approximation", True),
            **kwargs,
        )


@register("auto_theta")
class AutoTheta(StatsForecastModel):
    description = "Theta method (standard, optimised, dynamic) chosen by fit."

    def _base_min_length(self) -> int:
        return max(2 * self.season_length, 10) if self.season_length > 1 else 10

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import AutoTheta as SFAutoTheta

        return SFAutoTheta(
            season_length=self.season_length, decomposition_type="additive", **kwargs
        )


@register("croston")
class Croston(StatsForecastModel):
    family = "intermittent"
    description = "Croston's method (optimised smoothing) for intermittent demand."
    native_intervals = False

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import CrostonOptimized

        return CrostonOptimized(**kwargs)


@register("tsb")
class TSB(StatsForecastModel):
    family = "intermittent"
    description = "Teunter-Syntetos-Babai: demand probability decays when sales stop."
    native_intervals = False

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import TSB as SFTSB

        return SFTSB(
            alpha_d=self.params.get("alpha_d", 0.1),
            alpha_p=self.params.get("alpha_p", 0.1),
            **kwargs,
        )


@register("adida")
class ADIDA(StatsForecastModel):
    family = "intermittent"
    description = "Aggregate-disaggregate intermittent demand approach."
    native_intervals = False

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import ADIDA as SFADIDA

        return SFADIDA(**kwargs)


@register("imapa")
class IMAPA(StatsForecastModel):
    family = "intermittent"
    description = "Intermittent multiple aggregation prediction algorithm."
    native_intervals = False

    def _sf_model(self, **kwargs: Any) -> Any:
        from statsforecast.models import IMAPA as SFIMAPA

        return SFIMAPA(**kwargs)


# --- the engine: integer time index, fallbacks, batching -------------------------------------


class _Grid:
    """Maps a panel's dates to integer positions on the trading calendar and back."""

    def __init__(self, df: pd.DataFrame, calendar: TradingCalendar, h: int) -> None:
        start, end = df["ds"].min(), df["ds"].max()
        dates = calendar.range(start, end)
        self.dates = dates.append(calendar.future(end, h)) if h else dates
        self.pos = pd.Series(np.arange(1, len(self.dates) + 1), index=self.dates)

    def to_int(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df[["unique_id", "ds", "y"]].copy()
        out["ds"] = out["ds"].map(self.pos)
        if out["ds"].isna().any():
            raise ValueError("Dates off the trading calendar reached the model engine.")
        out["ds"] = out["ds"].astype(np.int64)
        return out

    def to_dates(self, values: pd.Series) -> pd.Series:
        return pd.Series(self.dates[values.to_numpy(dtype=np.int64) - 1], index=values.index)


def remember_normal_quantiles() -> None:
    """Make statsforecast remember the normal quantiles of its interval levels.

    statsforecast 2.x builds a frozen scipy distribution for every series' intervals to
    read the same few quantiles (about 0.8 ms a call: a third of the fast models' time
    in one process, ``benchmarks/quantile_memo.py``). The quantiles of the same levels are the same numbers, so
    they are computed once by statsforecast's own function and then reused; other
    distributions still go to it every time. Idempotent, and a no-op when a statsforecast
    version no longer has the function.
    """
    import sys

    import statsforecast.models  # noqa: F401  (loaded, so its copy is replaced too)
    import statsforecast.utils as sf_utils

    original = getattr(sf_utils, "_quantiles", None)
    if original is None or getattr(original, "remembers", False):
        return
    known: dict[bytes, np.ndarray] = {}

    def quantiles(level: Any, distribution: str = "normal", dist_params: Any = None) -> Any:
        if distribution != "normal" or dist_params is not None:
            return original(level, distribution, dist_params)
        key = np.asarray(level, dtype=np.float64).tobytes()
        z = known.get(key)
        if z is None:
            z = original(level, distribution, dist_params)
            if len(known) < 256:
                known[key] = z
        return np.array(z, copy=True)

    quantiles.remembers = True  # type: ignore[attr-defined]
    # every statsforecast module that imported the function by name gets the remembering one
    for name, module in list(sys.modules.items()):
        if name.startswith("statsforecast") and getattr(module, "_quantiles", None) is original:
            module._quantiles = quantiles  # type: ignore[attr-defined]


def _run(models: list[Any], df: pd.DataFrame, n_jobs: int, fn: str, **kwargs: Any) -> pd.DataFrame:
    from statsforecast import StatsForecast

    from trendcast.engines import active_engine

    remember_normal_quantiles()

    sf = StatsForecast(models=models, freq=1, n_jobs=n_jobs)
    engine = active_engine()
    with warnings.catch_warnings():
        # statsforecast warns on near-constant series; those fits are still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        if engine is not None:
            # a Dask, Ray or Spark cluster runs the same models through Fugue
            return engine.statsforecast(sf, fn, df, **kwargs)
        return getattr(sf, fn)(df=df, **kwargs)


def _floor_at_zero(out: pd.DataFrame, aliases: list[str], levels: Sequence[int]) -> pd.DataFrame:
    cols = [c for a in aliases for c in [a, *interval_columns(a, levels)] if c in out.columns]
    out[cols] = out[cols].clip(lower=0.0)
    return out


def _partition(
    models: list[StatsForecastModel], lengths: pd.Series, h: int, levels: Sequence[int], extra: int
) -> dict[int, list[StatsForecastModel]]:
    """Group models by their length requirement so each group runs in one statsforecast call."""
    groups: dict[int, list[StatsForecastModel]] = {}
    for m in models:
        groups.setdefault(m.min_length(h, levels) + extra, []).append(m)
    return groups


def _fallback_model(
    season_length: int, calendar: TradingCalendar, n_jobs: int
) -> StatsForecastModel:
    return HistoricAverage(season_length=season_length, calendar=calendar, n_jobs=n_jobs)


def _fill_fallback(
    out: pd.DataFrame,
    fb: pd.DataFrame,
    alias: str,
    fb_alias: str,
    ids: set[str],
    levels: Sequence[int],
    key: list[str],
) -> pd.DataFrame:
    cols = [alias, *interval_columns(alias, levels)]
    fb_cols = [fb_alias, *interval_columns(fb_alias, levels)]
    fb = fb[fb["unique_id"].isin(ids)].set_index(key)[fb_cols]
    fb.columns = cols
    out = out.set_index(key)
    out.loc[fb.index, cols] = fb.to_numpy()
    return out.reset_index()


def _engine(
    models: list[StatsForecastModel],
    df: pd.DataFrame,
    h: int,
    levels: Sequence[int],
    calendar: TradingCalendar,
    n_jobs: int,
    fn: str,
    n_windows: int = 0,
    step: int = 1,
    points_only: bool = False,
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    # ``points_only``: no intervals are computed, but each model still gets only the series
    # long enough for its intervals at ``levels``, so the same series fall back as with them
    need_levels = sorted(levels)
    levels = [] if points_only else need_levels
    grid = _Grid(df, calendar, h if fn == "forecast" else 0)
    idf = grid.to_int(df)
    lengths = idf.groupby("unique_id").size()
    kwargs: dict[str, Any] = {"h": h, "level": list(levels) or None}
    key = ["unique_id", "ds"]
    extra = 0
    if fn == "cross_validation":
        kwargs.update(n_windows=n_windows, step_size=step)
        key = ["unique_id", "ds", "cutoff"]
        # the earliest cutoff sees `extra` fewer periods than the full series
        extra = h + (n_windows - 1) * step
    season = models[0].season_length
    fallback_model = _fallback_model(season, calendar, n_jobs)
    fb_extra = extra + 1
    eligible_all = lengths[lengths >= fb_extra].index
    if len(eligible_all) == 0:
        raise ValueError("No series is long enough for this backtest.")
    fb_out = _run(
        [fallback_model.make_sf_model(h, levels)],
        idf[idf["unique_id"].isin(eligible_all)],
        n_jobs,
        fn,
        **kwargs,
    )
    fallback: dict[str, set[str]] = {}
    result: pd.DataFrame | None = None
    for need, group in _partition(models, lengths, h, need_levels, extra).items():
        ok_ids = lengths[lengths >= need].index
        part = fb_out[key + (["y"] if fn == "cross_validation" else [])].copy()
        if len(ok_ids):
            sub = _run(
                [m.make_sf_model(h, levels) for m in group],
                idf[idf["unique_id"].isin(ok_ids)],
                n_jobs,
                fn,
                **kwargs,
            )
            part = part.merge(sub.drop(columns=["y"], errors="ignore"), on=key, how="left")
        for m in group:
            cols = [m.alias, *interval_columns(m.alias, levels)]
            for c in cols:
                if c not in part.columns:
                    part[c] = np.nan
            missing = set(part.loc[part[m.alias].isna(), "unique_id"])
            fallback[m.alias] = missing
            if missing:
                part = _fill_fallback(part, fb_out, m.alias, FALLBACK_MODEL, missing, levels, key)
        result = (
            part
            if result is None
            else result.merge(part, on=key + (["y"] if fn == "cross_validation" else []))
        )
    assert result is not None
    result = _floor_at_zero(result, [m.alias for m in models], levels)
    result["ds"] = grid.to_dates(result["ds"])
    if "cutoff" in result.columns:
        result["cutoff"] = grid.to_dates(result["cutoff"])
        order = ["unique_id", "ds", "cutoff", "y"]
    else:
        order = ["unique_id", "ds"]
    value_cols = [c for m in models for c in [m.alias, *interval_columns(m.alias, levels)]]
    result = result[order + value_cols].sort_values(order[:3] if "cutoff" in order else order)
    return result.reset_index(drop=True), fallback


def sf_forecast(
    models: list[StatsForecastModel],
    df: pd.DataFrame,
    h: int,
    levels: Sequence[int],
    calendar: TradingCalendar,
    n_jobs: int = 1,
    points_only: bool = False,
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """Forecast ``h`` periods with several statsforecast-backed models in as few passes as possible.

    Returns the wide forecast (``unique_id, ds, <alias>, <alias>-lo-L...``) and,
    per alias, the series that fell back to HistoricAverage. ``points_only``: see
    :func:`sf_cross_validation`.
    """
    return _engine(models, df, h, levels, calendar, n_jobs, "forecast", points_only=points_only)


def sf_cross_validation(
    models: list[StatsForecastModel],
    df: pd.DataFrame,
    h: int,
    n_windows: int,
    step: int,
    levels: Sequence[int],
    calendar: TradingCalendar,
    n_jobs: int = 1,
    points_only: bool = False,
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """Rolling-origin forecasts (``cutoff`` and ``y`` added) on the panel's common cutoffs.

    ``points_only`` leaves the intervals out (a conformal interval costs a backtest of its
    own per series) while the same series fall back as they would with ``levels``.
    """
    cutoffs_for(df, h, n_windows, step)  # validates the window arithmetic with a clear error
    return _engine(
        models, df, h, levels, calendar, n_jobs, "cross_validation", n_windows, step, points_only
    )
