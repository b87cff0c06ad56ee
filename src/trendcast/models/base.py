"""The model protocol every forecaster follows.

A model is a small class. ``__init__`` only stores keyword hyperparameters;
``fit(df, static_df=None)`` learns from a long panel (``unique_id, ds, y``)
and returns ``self``; learned state ends in ``_``; ``predict(h, X_df=None,
levels=())`` returns ``unique_id, ds, <alias>, <alias>-lo-<L>, <alias>-hi-<L>``.
``cross_validation`` gives rolling-origin forecasts with ``cutoff`` and ``y``
added; the default refits per cutoff, wrappers of libraries with a faster
native path override it.

Capability flags say what a model can use, so callers never need isinstance
chains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ModelError
from trendcast.features.covariates import PAST_COVARIATES

__all__ = ["Forecaster", "interval_columns", "cutoffs_for"]


def interval_columns(alias: str, levels: Sequence[int]) -> list[str]:
    """Column names of the prediction intervals of ``alias`` at ``levels``."""
    cols = []
    for level in sorted(levels):
        cols += [f"{alias}-lo-{level}", f"{alias}-hi-{level}"]
    return cols


def cutoffs_for(df: pd.DataFrame, h: int, n_windows: int, step: int) -> list[pd.Timestamp]:
    """The cutoffs of a rolling-origin backtest on the panel's common time grid.

    The last window ends at the panel's last date; earlier windows step back by
    ``step`` periods. Cutoffs are positions on the sorted distinct dates, so a
    calendar with closed days is respected.
    """
    dates = pd.DatetimeIndex(df["ds"].unique()).sort_values()
    need = h + (n_windows - 1) * step
    if need >= len(dates):
        raise ModelError(
            f"A backtest of {n_windows} window(s) of {h} periods with step {step} needs more than "
            f"{need} periods of history; the data has {len(dates)}. Use fewer --windows or a "
            "shorter --horizon."
        )
    last = len(dates) - 1
    return [dates[last - h - i * step] for i in reversed(range(n_windows))]


class Forecaster(ABC):
    """Base class of all trendcast models."""

    family: ClassVar[str] = "baseline"
    description: ClassVar[str] = ""
    supports_future_covariates: ClassVar[bool] = False
    supports_static_covariates: ClassVar[bool] = False
    #: uses past-only covariates (views, carts...), lagged by at least the horizon
    supports_past_covariates: ClassVar[bool] = False
    supports_intervals: ClassVar[bool] = True
    is_global: ClassVar[bool] = False

    #: column name in outputs; the registry sets it to the registered name
    alias: str = "model"

    def covariates_used(self) -> tuple[bool, bool]:
        """Whether this model reads future-known and past-only covariates: what
        :func:`~trendcast.features.covariates.model_frame` needs to build for it."""
        return self.supports_future_covariates, self.supports_past_covariates

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        alias: str | None = None,
        **params: Any,
    ) -> None:
        self.season_length = season_length
        self.calendar = calendar
        if alias is not None:
            self.alias = alias
        self.params = params

    def get_params(self) -> dict[str, Any]:
        return {"season_length": self.season_length, **self.params}

    @property
    def calendar_(self) -> TradingCalendar:
        return self.calendar or TradingCalendar("D")

    @abstractmethod
    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        """Learn from a long panel with columns ``unique_id, ds, y``."""

    @abstractmethod
    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        """Forecast ``h`` periods after each series' last date."""

    def update(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        """Take new observations (the full, longer history) and forecast from their end,
        keeping what was learned.

        Global models (machine learning, neural) keep their trained weights and read the
        new history as input. For the statistical family estimation is part of
        forecasting (a fraction of a second per series), so the default stores the new
        history and the next ``predict`` estimates on it.
        """
        return self.fit(df, static_df=static_df)

    def cross_validation(
        self,
        df: pd.DataFrame,
        h: int,
        n_windows: int,
        step: int | None = None,
        levels: Sequence[int] = (),
        static_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Rolling-origin forecasts: refit on data up to each cutoff and forecast ``h``."""
        step = step or h
        frames = []
        # future-known covariates of a window are handed over as X_df; past-only ones
        # (behaviour) never are: the model reads them from the training rows, lagged
        covariates = [c for c in df.columns if c not in ("unique_id", "ds", "y", *PAST_COVARIATES)]
        dates = pd.DatetimeIndex(df["ds"].unique()).sort_values()
        cutoffs = cutoffs_for(df, h, n_windows, step)
        for cutoff in cutoffs:
            train = df[df["ds"] <= cutoff]
            X_df = None
            if covariates and self.supports_future_covariates:
                # future-known covariates (planned prices, promotions) of the window itself
                window = dates[(dates > cutoff)][:h]
                X_df = df.loc[df["ds"].isin(window), ["unique_id", "ds", *covariates]]
            fitted = self._fit_window(train, static_df, first=cutoff == cutoffs[0])
            fc = fitted.predict(h, X_df=X_df, levels=levels)
            fc.insert(2, "cutoff", cutoff)
            frames.append(fc)
        out = pd.concat(frames, ignore_index=True)
        return out.merge(df[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")

    def _fit_window(self, train: pd.DataFrame, static_df: pd.DataFrame | None, first: bool) -> Self:
        """Fit for one backtest window: a refit on the history up to its cutoff."""
        return self.fit(train, static_df=static_df)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
