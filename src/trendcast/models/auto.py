"""``auto``: per-series model choice (or a median ensemble) by rolling-origin error.

For each series, auto compares its candidates and their median ensemble on
the most recent ``selection_windows`` backtest windows and forecasts with the
one with the lowest mean absolute error. Choices use only data before the
forecast origin, so the backtest of ``auto`` itself is honest: the choice for
evaluation window *k* is made on the windows that ended before *k*'s cutoff.

A backtest already run over the candidates (``candidate_cv_``, wide, with
``cutoff`` and ``y``) can be handed to ``predict`` through ``selection_cv_`` to
skip the selection windows' refits.

Intervals of ``auto`` are the wider of two: the chosen forecast plus
quantiles of that choice's own errors on the selection windows (about 2 x h
errors per series), and the chosen forecast plus the median half-width of the
ETS/Theta/ARIMA candidates' model-based intervals. On Online Retail this gives
the lowest pinball loss of all models (see the benchmark).

A series whose choice is not clear-cut (the winner beats the ensemble by
less than ``margin``) keeps the ensemble, which is the more stable bet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.models.base import Forecaster, interval_columns
from trendcast.models.intervals import residual_offsets
from trendcast.models.registry import make_model, register
from trendcast.models.statistical import sf_cross_validation, sf_forecast

__all__ = ["AutoSelect", "ENSEMBLE", "DEFAULT_CANDIDATES"]

ENSEMBLE = "median_ensemble"
# candidates whose intervals come from a fitted model, not from a few windows of errors
WIDTH_MODELS = ("auto_ets", "auto_theta", "auto_arima")
DEFAULT_CANDIDATES: tuple[str, ...] = (
    "seasonal_naive",
    "window_average",
    "auto_ets",
    "auto_theta",
    "croston",
    "tsb",
    "adida",
    "imapa",
)


def median_ensemble(
    wide: pd.DataFrame, members: Sequence[str], levels: Sequence[int]
) -> pd.DataFrame:
    """Median across ``members`` of the point forecast and of each interval bound."""
    out = pd.DataFrame(index=wide.index)
    out[ENSEMBLE] = wide[list(members)].median(axis=1)
    for col in interval_columns("", levels):
        out[f"{ENSEMBLE}{col}"] = wide[[f"{m}{col}" for m in members]].median(axis=1)
    return out


@register("auto")
class AutoSelect(Forecaster):
    """Choose per series among candidate models and their median ensemble."""

    family: ClassVar[str] = "ensemble"
    description: ClassVar[str] = (
        "Per-series choice among baselines, ETS, Theta and intermittent models, or their median "
        "ensemble, by rolling-origin MAE."
    )

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        selection_windows: int = 2,
        margin: float = 0.3,
        n_jobs: int = 1,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, **params)
        self.candidates = tuple(candidates)
        self.selection_windows = selection_windows
        self.margin = margin
        self.n_jobs = n_jobs
        self.selection_cv_: pd.DataFrame | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "candidates": self.candidates,
            "selection_windows": self.selection_windows,
            "margin": self.margin,
        }

    def _models(self) -> list[Any]:
        return [
            make_model(
                name, season_length=self.season_length, calendar=self.calendar_, n_jobs=self.n_jobs
            )
            for name in self.candidates
        ]

    # -- selection ------------------------------------------------------------------------
    def choose(self, cv: pd.DataFrame) -> pd.Series:
        """Per series, the candidate (or ensemble) with the lowest MAE over ``cv``'s windows."""
        names = [*self.candidates, ENSEMBLE]
        err = cv[names].sub(cv["y"], axis=0).abs()
        err["unique_id"] = cv["unique_id"].to_numpy()
        mae = err.groupby("unique_id")[names].mean()
        best = mae.idxmin(axis=1)
        best_score = mae.min(axis=1)
        clear_cut = best_score < mae[ENSEMBLE] * (1 - self.margin)
        return best.where(clear_cut, ENSEMBLE).rename("model")

    def residual_offsets(
        self, cv: pd.DataFrame, choice: pd.Series, levels: Sequence[int]
    ) -> pd.DataFrame:
        """Per series, quantiles of the chosen model's errors over ``cv`` (see ``intervals``)."""
        names = [*self.candidates, ENSEMBLE]
        chosen = cv["unique_id"].map(choice).fillna(ENSEMBLE).to_numpy()
        idx = np.array([names.index(c) for c in chosen])
        point = cv[names].to_numpy()[np.arange(len(cv)), idx]
        errors = pd.Series(cv["y"].to_numpy() - point, index=cv["unique_id"].to_numpy())
        return residual_offsets(errors, levels)

    def _with_ensemble(self, wide: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
        return pd.concat([wide, median_ensemble(wide, self.candidates, levels)], axis=1)

    def _compose(
        self,
        wide: pd.DataFrame,
        choice: pd.Series,
        levels: Sequence[int],
        offsets: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Pick each row's columns from its series' chosen model into ``auto`` columns.

        With ``offsets`` (see :meth:`residual_offsets`) the bounds are the point
        forecast plus the series' empirical error quantiles.
        """
        chosen = wide["unique_id"].map(choice).fillna(ENSEMBLE).to_numpy()
        out = wide[[c for c in ("unique_id", "ds", "cutoff", "y") if c in wide.columns]].copy()
        names = [*self.candidates, ENSEMBLE]
        idx = np.array([names.index(c) for c in chosen])
        rows = np.arange(len(wide))
        for suffix in ["", *interval_columns("", levels)]:
            block = wide[[f"{n}{suffix}" for n in names]].to_numpy()
            out[f"{self.alias}{suffix}"] = block[rows, idx]
        if offsets is not None and len(offsets) and levels:
            point = out[self.alias].to_numpy()
            known = wide["unique_id"].isin(offsets.index).to_numpy()
            aligned = offsets.reindex(wide["unique_id"].to_numpy())
            widths = [m for m in self.candidates if m in WIDTH_MODELS]
            for suffix in interval_columns("", levels):
                lower = "-lo-" in suffix
                bound = point + aligned[suffix].to_numpy()
                if widths:
                    # the statistical models' own widths keep the bounds honest when the
                    # recent errors understate what is coming (a season's peak, a trend)
                    half = np.median(
                        np.stack(
                            [
                                np.abs(wide[f"{m}{suffix}"].to_numpy() - wide[m].to_numpy())
                                for m in widths
                            ]
                        ),
                        axis=0,
                    )
                    bound = (
                        np.minimum(bound, point - half)
                        if lower
                        else np.maximum(bound, point + half)
                    )
                bound = np.minimum(bound, point) if lower else np.maximum(bound, point)
                col = f"{self.alias}{suffix}"
                out[col] = np.where(known, np.clip(bound, 0.0, None), out[col].to_numpy())
        out["model"] = chosen
        return out

    # -- protocol ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        self.train_ = df[["unique_id", "ds", "y"]]
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        models = self._models()
        cv = self.selection_cv_
        if cv is None:
            cv, _ = sf_cross_validation(
                models,
                self.train_,
                h,
                self.selection_windows,
                h,
                levels,
                self.calendar_,
                self.n_jobs,
            )
        latest = sorted(cv["cutoff"].unique())[-self.selection_windows :]
        recent = self._with_ensemble(cv[cv["cutoff"].isin(latest)], levels)
        self.choice_ = self.choose(recent)
        offsets = self.residual_offsets(recent, self.choice_, levels)
        fc, fallback = sf_forecast(models, self.train_, h, levels, self.calendar_, self.n_jobs)
        self.fallback_ = fallback
        out = self._compose(self._with_ensemble(fc, levels), self.choice_, levels, offsets)
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
        step = step or h
        cv, self.fallback_ = sf_cross_validation(
            self._models(),
            df,
            h,
            n_windows + self.selection_windows,
            step,
            levels,
            self.calendar_,
            self.n_jobs,
        )
        self.candidate_cv_ = cv
        return self.select_over_windows(cv, h, n_windows, step, levels)

    def select_over_windows(
        self, cv: pd.DataFrame, h: int, n_windows: int, step: int, levels: Sequence[int]
    ) -> pd.DataFrame:
        """auto's backtest from the candidates' backtest: each evaluated window is chosen on the
        windows whose whole horizon ended by its cutoff."""
        wide = self._with_ensemble(cv.reset_index(drop=True), levels)
        cutoffs = sorted(wide["cutoff"].unique())
        frames = []
        for k in range(len(cutoffs) - n_windows, len(cutoffs)):
            # windows j whose horizon lies before cutoff k: cutoff_j + h periods <= cutoff_k
            past = [c for j, c in enumerate(cutoffs[:k]) if (k - j) * step >= h]
            past = past[-self.selection_windows :]
            current = wide[wide["cutoff"] == cutoffs[k]]
            offsets = None
            if past:
                history = wide[wide["cutoff"].isin(past)]
                choice = self.choose(history)
                offsets = self.residual_offsets(history, choice, levels)
            else:
                choice = pd.Series(ENSEMBLE, index=current["unique_id"].unique())
            frames.append(self._compose(current, choice, levels, offsets))
        return pd.concat(frames, ignore_index=True)
