"""Global machine-learning models over all products, through mlforecast.

``lightgbm``: one LightGBM model for every product, on lags, rolling means,
calendar/holiday/festival features, price and promotion (future-known) and
static attributes, with a Tweedie objective that suits intermittent,
non-negative demand. ``linear``: a ridge regression on the same features, the
interpretable baseline; its coefficients are kept in ``coefficients_``.

Prediction intervals are empirical (split conformal): the quantiles of the
model's own errors on refits over the last two windows of the training data
(:mod:`trendcast.models.intervals`). Series too short for the lags get
HistoricAverage, as in the statistical family.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import MissingDependencyError
from trendcast.features.calendar import calendar_features
from trendcast.features.covariates import lagged_past_covariates, past_covariate_columns
from trendcast.models.base import Forecaster, interval_columns
from trendcast.models.intervals import apply_offsets, residual_offsets
from trendcast.models.registry import register
from trendcast.models.statistical import FALLBACK_MODEL, HistoricAverage, _Grid

__all__ = ["MLForecastModel", "LightGBMModel", "LinearModel"]

CALENDAR_COLUMNS = (
    "dayofweek",
    "month",
    "dayofmonth",
    "weekofyear",
    "is_month_start",
    "is_month_end",
    "days_to_festival",
)


@contextmanager
def _quiet_young_series() -> Iterator[None]:
    """mlforecast warns when young products have no value yet for a lag; that is expected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(null values|too short|dropped completely).*")
        yield


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            package, extra="ai", purpose="the machine-learning models"
        ) from None


class MLForecastModel(Forecaster):
    """A global model over all series with lag, calendar and covariate features."""

    family: ClassVar[str] = "machine_learning"
    supports_future_covariates: ClassVar[bool] = True
    supports_static_covariates: ClassVar[bool] = True
    supports_past_covariates: ClassVar[bool] = True
    is_global: ClassVar[bool] = True

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        country: str | None = None,
        n_jobs: int = 1,
        conformal_windows: int = 2,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, **params)
        self.country = country
        self.n_jobs = n_jobs
        self.conformal_windows = conformal_windows

    # -- features -----------------------------------------------------------------------------
    def _lags(self) -> list[int]:
        s = max(self.season_length, 1)
        return sorted({1, 2, 3, s, 2 * s, 4 * s} if s > 1 else {1, 2, 3, 4, 8, 13})

    def _lag_transforms(self) -> dict[int, list[Any]]:
        lt = _require("mlforecast.lag_transforms", "mlforecast")
        s = max(self.season_length, 1)
        return {
            1: [
                lt.RollingMean(window_size=s),
                lt.RollingMean(window_size=4 * s),
                lt.RollingStd(window_size=4 * s),
                lt.ExpandingMean(),
            ],
            s: [lt.RollingMean(window_size=4 * s)],
        }

    def min_length(self) -> int:
        return max(self._lags()) + 2

    def _calendar_frame(self, dates: pd.DatetimeIndex) -> pd.DataFrame:
        feats = calendar_features(dates, country=self.country, events=self.calendar_.events)
        keep = [
            c
            for c in feats.columns
            if c in CALENDAR_COLUMNS or c.startswith(("fest_", "event_", "snap_")) or c == "holiday"
        ]
        if not self.calendar_.is_daily:
            keep = [c for c in keep if c not in ("dayofweek", "dayofmonth")]
        return feats[keep]

    def _regressor(self) -> Any:
        raise NotImplementedError

    def _mlforecast(self) -> Any:
        from trendcast.engines import active_engine

        mlf = _require("mlforecast", "mlforecast")
        engine = active_engine()
        # on Dask, LightGBM trains on the workers (the other models run per partition)
        make = engine.mlforecast if engine is not None else mlf.MLForecast
        return make(
            models={self.alias: self._regressor()},
            freq=1,
            lags=self._lags(),
            lag_transforms=self._lag_transforms(),
            target_transforms=self._target_transforms(),
            num_threads=self.n_jobs,
        )

    def _target_transforms(self) -> list[Any] | None:
        return None

    def _design(
        self, df: pd.DataFrame, grid: _Grid, static_df: pd.DataFrame | None
    ) -> pd.DataFrame:
        """Integer-time frame with calendar features, covariates and static attributes."""
        base = grid.to_int(df)
        cal = self._calendar_frame(pd.DatetimeIndex(df["ds"].unique()))
        extra = df.drop(columns=["unique_id", "ds", "y", *self.past_covariates_], errors="ignore")
        extra = extra.reset_index(drop=True)
        if self.past_covariates_:
            extra = pd.concat([extra, self._past_features(df).reset_index(drop=True)], axis=1)
        out = pd.concat([base.reset_index(drop=True), extra], axis=1)
        out = pd.concat([out, cal.reindex(df["ds"].to_numpy()).reset_index(drop=True)], axis=1)
        if static_df is not None and len(static_df.columns) > 1:
            out = out.merge(static_df, on="unique_id", how="left")
        return out

    def _past_features(self, df: pd.DataFrame) -> pd.DataFrame:
        """Behaviour features of ``df``'s rows from the history ``past_lag_`` periods back.

        Rows after the training history (the forecast horizon) read the training rows.
        """
        cols = self.past_covariates_
        if df["ds"].min() > self.train_["ds"].max():
            history = self.train_[["unique_id", "ds", *cols]]
            both = pd.concat([history, df[["unique_id", "ds"]]], ignore_index=True)
            feats = lagged_past_covariates(both, cols, self.past_lag_, self.season_length)
            return feats.iloc[len(history) :].set_axis(df.index)
        return lagged_past_covariates(df, cols, self.past_lag_, self.season_length)

    def _static_columns(self, static_df: pd.DataFrame | None) -> list[str]:
        return [] if static_df is None else [c for c in static_df.columns if c != "unique_id"]

    def _prepare_static(self, static_df: pd.DataFrame | None) -> pd.DataFrame | None:
        if static_df is None or len(static_df.columns) <= 1:
            return None
        out = static_df.copy()
        for col in out.columns:
            if col != "unique_id":
                out[col] = out[col].astype("string").fillna("(none)").astype("category")
        return out

    # -- protocol -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        lengths = df.groupby("unique_id").size()
        self.short_ = set(lengths.index[lengths < self.min_length()])
        self.train_ = df
        self.fit_train_ = df
        self.static_raw_ = static_df
        self.static_df_ = self._prepare_static(static_df)
        self.past_covariates_ = past_covariate_columns(df)
        # behaviour is only known up to the origin: features read it this many periods back,
        # at least the horizon (a longer forecast refits with a longer lag)
        self.past_lag_ = max(
            int(self.params.get("past_lag", 0) or 0), getattr(self, "past_lag_", 0)
        )
        self.past_lag_ = self.past_lag_ or 28
        self.covariates_ = [
            c for c in df.columns if c not in ("unique_id", "ds", "y", *self.past_covariates_)
        ]
        self.grid_ = _Grid(df, self.calendar_, 0)
        long_df = df[~df["unique_id"].isin(self.short_)]
        self.model_ = None
        self.design_ = None
        if len(long_df):
            self.design_ = self._design(long_df, self.grid_, self.static_df_)
            with _quiet_young_series():
                self.model_ = self._mlforecast().fit(
                    self.design_, static_features=self._static_columns(self.static_df_)
                )
        self.offsets_: dict[tuple[int, tuple[int, ...]], pd.DataFrame] = {}
        self.update_design_: pd.DataFrame | None = None
        self.importance_ = self._importance()
        return self

    def update(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        """New history for the trained model: forecasts start at its end, no refit."""
        if self.model_ is None:
            return self.fit(df, static_df=static_df)
        lengths = df.groupby("unique_id").size()
        self.short_ = set(lengths.index[lengths < self.min_length()])
        self.train_ = df
        long_df = df[~df["unique_id"].isin(self.short_)]
        grid = _Grid(df, self.calendar_, 0)
        self.update_design_ = self._design(long_df, grid, self.static_df_)
        return self

    def _offsets(self, h: int, levels: Sequence[int]) -> pd.DataFrame:
        """Error quantiles from refits on the last ``conformal_windows`` windows of ``h``."""
        key = (h, tuple(levels))
        if key not in self.offsets_:
            assert self.design_ is not None
            periods = self.design_["ds"].nunique()
            windows = min(self.conformal_windows, max((periods - self.min_length()) // h, 0))
            if windows < 1:
                self.offsets_[key] = pd.DataFrame()
            else:
                with _quiet_young_series():
                    cv = self._mlforecast().cross_validation(
                        self.design_,
                        n_windows=windows,
                        h=h,
                        step_size=h,
                        static_features=self._static_columns(self.static_df_),
                    )
                errors = pd.Series(
                    (cv["y"] - cv[self.alias].clip(lower=0)).to_numpy(), index=cv["unique_id"]
                )
                self.offsets_[key] = residual_offsets(errors, levels)
        return self.offsets_[key]

    def _future_design(self, h: int, X_df: pd.DataFrame | None, ids: Sequence[str]) -> pd.DataFrame:
        end = self.train_["ds"].max()
        dates = self.calendar_.future(end, h)
        future = pd.DataFrame(
            {"unique_id": np.repeat(np.asarray(ids), h), "ds": np.tile(dates, len(ids))}
        )
        if self.covariates_:
            if X_df is not None:
                future = future.merge(X_df, on=["unique_id", "ds"], how="left")
            last = self.train_.sort_values("ds").groupby("unique_id")[self.covariates_].last()
            for col in self.covariates_:
                if col not in future.columns:
                    future[col] = np.nan
                # no future value given: carry the last known one (prices) or assume off (promo)
                fill = 0.0 if col == "promo" else future["unique_id"].map(last[col])
                future[col] = future[col].fillna(fill)
        future["y"] = 0.0
        design = self._design(future, _Grid(self.train_, self.calendar_, h), None)
        return design.drop(columns=["y"])

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        levels = sorted(levels)
        if self.past_covariates_ and h > self.past_lag_:
            self.past_lag_ = h
            update = self.update_design_ is not None
            train = self.train_
            self.fit(self.fit_train_, static_df=self.static_raw_)
            if update:
                self.update(train)
        frames = []
        cols = [self.alias, *interval_columns(self.alias, levels)]
        ids_long = sorted(set(self.train_["unique_id"]) - self.short_)
        if self.model_ is not None and ids_long:
            with _quiet_young_series():
                fc = self.model_.predict(
                    h, X_df=self._future_design(h, X_df, ids_long), new_df=self.update_design_
                )
            fc["ds"] = _Grid(self.train_, self.calendar_, h).to_dates(fc["ds"])
            fc[self.alias] = fc[self.alias].clip(lower=0.0)
            if levels:
                fc = apply_offsets(fc, self.alias, self._offsets(h, levels), levels)
            frames.append(fc[["unique_id", "ds", *cols]])
        self.fallback_ = set(self.short_)
        if self.short_:
            fb = HistoricAverage(season_length=self.season_length, calendar=self.calendar_)
            short_fc = fb.fit(self.train_[self.train_["unique_id"].isin(self.short_)]).predict(
                h, levels=levels
            )
            short_fc.columns = [c.replace(FALLBACK_MODEL, self.alias) for c in short_fc.columns]
            frames.append(short_fc[["unique_id", "ds", *cols]])
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["unique_id", "ds"], ignore_index=True)

    def _importance(self) -> pd.DataFrame:
        return pd.DataFrame(columns=["feature", "importance"])


@register("lightgbm")
class LightGBMModel(MLForecastModel):
    description = (
        "Global LightGBM over all products: lags, calendar, festivals, price, promo (Tweedie)."
    )

    def _regressor(self) -> Any:
        lgb = _require("lightgbm", "lightgbm")
        return lgb.LGBMRegressor(
            objective=self.params.get("objective", "tweedie"),
            n_estimators=self.params.get("n_estimators", 300),
            learning_rate=self.params.get("learning_rate", 0.05),
            num_leaves=self.params.get("num_leaves", 31),
            min_child_samples=self.params.get("min_child_samples", 20),
            subsample=self.params.get("subsample", 0.8),
            subsample_freq=1,
            colsample_bytree=self.params.get("colsample_bytree", 0.8),
            random_state=self.params.get("seed", 0),
            n_jobs=self.n_jobs,
            verbose=-1,
        )

    def _importance(self) -> pd.DataFrame:
        if self.model_ is None:
            return super()._importance()
        booster = self.model_.models_[self.alias]
        return pd.DataFrame(
            {
                "feature": booster.feature_name_,
                "importance": booster.booster_.feature_importance("gain"),
            }
        ).sort_values("importance", ascending=False, ignore_index=True)


@register("linear")
class LinearModel(MLForecastModel):
    description = "Ridge regression on the same features: the interpretable baseline."

    def _calendar_frame(self, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Linear terms need shapes a line can use: weekday dummies and yearly Fourier terms,
        not weekday or month numbers."""
        feats = super()._calendar_frame(dates)
        out = feats.drop(
            columns=[
                c
                for c in ("dayofweek", "month", "weekofyear", "dayofmonth", "days_to_festival")
                if c in feats.columns
            ]
        )
        days = pd.DatetimeIndex(feats.index)
        if self.calendar_.is_daily:
            for day in range(7):
                out[f"dow_{day}"] = (days.dayofweek == day).astype(float)
        angle = 2 * np.pi * days.dayofyear.to_numpy() / 365.25
        out["year_sin"], out["year_cos"] = np.sin(angle), np.cos(angle)
        return out

    def _target_transforms(self) -> list[Any] | None:
        # one line for products of every size: fit on each product's standardised demand
        transforms = _require("mlforecast.target_transforms", "mlforecast")
        return [transforms.LocalStandardScaler()]

    def _regressor(self) -> Any:
        linear = _require("sklearn.linear_model", "scikit-learn")
        pipeline = _require("sklearn.pipeline", "scikit-learn")
        preprocessing = _require("sklearn.preprocessing", "scikit-learn")
        impute = _require("sklearn.impute", "scikit-learn")
        # a product younger than the longest lag has no value there yet: no sales
        return pipeline.make_pipeline(
            impute.SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True),
            preprocessing.StandardScaler(),
            linear.Ridge(alpha=self.params.get("alpha", 1.0)),
        )

    def _importance(self) -> pd.DataFrame:
        if self.model_ is None:
            return super()._importance()
        pipe = self.model_.models_[self.alias]
        ridge = pipe[-1]
        names = pipe[0].feature_names_in_
        # coefficients per standard deviation of each feature: comparable across features
        self.coefficients_ = pd.DataFrame({"feature": names, "coefficient": ridge.coef_})
        return self.coefficients_.assign(importance=np.abs(ridge.coef_)).sort_values(
            "importance", ascending=False, ignore_index=True
        )[["feature", "importance"]]
