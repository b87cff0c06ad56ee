"""``auto``: per-series model choice (or an ensemble) by rolling-origin error.

For each series, auto compares its candidates and their median ensemble on
the most recent ``selection_windows`` backtest windows and forecasts with the
one with the lowest mean absolute error. Choices use only data before the
forecast origin, so the backtest of ``auto`` itself is honest: the choice for
evaluation window *k* is made on the windows that ended before *k*'s cutoff.

The default for every series is what did best over all of them: usually an
ensemble, or one model that wins across the board (LightGBM on long, regular
series). A series whose own winner beats that default by less than ``margin``
keeps the default, which is the more stable bet.

Candidates. Without a time budget, auto uses the statistical family
(``DEFAULT_CANDIDATES``), which is fast and strong on retail data. With
``time_budget`` (seconds) it considers every registered family, cheapest
first (baselines and intermittent models, then the linear and LightGBM
global models, Theta and ETS, the foundation models, the neural networks),
and starts a candidate only when its estimated cost still fits the budget:
a tight budget falls back to the fast models. Candidates that cannot run
(missing package, unreachable model weights) are skipped and listed in
``skipped_``.

Intervals of ``auto`` are the wider of two: the chosen forecast plus
quantiles of that choice's own errors on the selection windows (about 2 x h
errors per series), and the chosen forecast plus the median half-width of the
ETS/Theta/ARIMA candidates' model-based intervals.

A backtest already run over the candidates (``candidate_cv_``, wide, with
``cutoff`` and ``y``) can be handed to ``predict`` through ``selection_cv_`` to
skip the selection windows' refits.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import MissingDependencyError, ModelError
from trendcast.features.covariates import model_frame
from trendcast.models.base import Forecaster, interval_columns
from trendcast.models.intervals import residual_offsets
from trendcast.models.registry import available_models, get_model_class, make_model, register
from trendcast.models.statistical import StatsForecastModel, sf_cross_validation, sf_forecast

__all__ = ["AutoSelect", "ENSEMBLE", "DEFAULT_CANDIDATES", "BUDGET_POOL", "estimated_seconds"]

ENSEMBLE = "median_ensemble"
WEIGHTED = "weighted_ensemble"
TOP_K = 3
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
# every family, cheapest first, with a rough cost relative to one pass of the fast batch
BUDGET_POOL: tuple[tuple[str, float], ...] = (
    ("seasonal_naive", 0.0),
    ("window_average", 0.0),
    ("croston", 0.0),
    ("tsb", 0.0),
    ("adida", 0.0),
    ("imapa", 0.0),
    ("linear", 3.0),
    ("lightgbm", 8.0),
    ("auto_theta", 10.0),
    ("auto_ets", 20.0),
    ("auto_arima", 30.0),
    ("chronos_bolt", 10.0),
    ("chronos2", 30.0),
    ("timesfm", 80.0),
    ("nhits", 40.0),
    ("lstm", 40.0),
    ("patchtst", 60.0),
)


def relative_cost(name: str) -> float:
    """A candidate's rough cost relative to one pass of the fast statistical batch."""
    return dict(BUDGET_POOL).get(name, 0.0 if name in ("naive", "historic_average") else 10.0)


#: fewest series an expensive statistical candidate is timed on before auto commits to it
PILOT_MIN_SERIES = 8

#: CPU seconds per training step of a neural candidate (the demo's networks on 2 cores, rounded up)
NEURAL_STEP_SECONDS = 0.05


def estimated_seconds(model: Forecaster, unit: float, windows: int) -> float:
    """Rough seconds a candidate needs for a backtest of ``windows`` plus the final forecast.

    ``unit`` is what the batch of fast statistical models took. Local models cost in
    proportion to it (series x windows); a neural network trains once for the backtest
    and once for the forecast, for at most ``max_steps`` steps whatever the panel's size.
    """
    if model.family == "neural":
        return 2 * NEURAL_STEP_SECONDS * float(getattr(model, "max_steps", 250))
    # the final forecast costs about one more window of each candidate
    return relative_cost(model.alias) * unit * (windows + 1) / windows


def weighted_ensemble(
    wide: pd.DataFrame, weights: pd.Series, levels: Sequence[int]
) -> pd.DataFrame:
    """Weighted mean of the point forecasts and bounds of the models in ``weights``."""
    out = pd.DataFrame(index=wide.index)
    w = weights / weights.sum()
    out[WEIGHTED] = wide[list(w.index)].to_numpy() @ w.to_numpy()
    for col in interval_columns("", levels):
        have = w[[m for m in w.index if f"{m}{col}" in wide.columns]]
        if have.empty:
            out[f"{WEIGHTED}{col}"] = out[WEIGHTED]
            continue
        have = have / have.sum()
        out[f"{WEIGHTED}{col}"] = (
            wide[[f"{m}{col}" for m in have.index]].to_numpy() @ have.to_numpy()
        )
    return out


def median_ensemble(
    wide: pd.DataFrame, members: Sequence[str], levels: Sequence[int]
) -> pd.DataFrame:
    """Median across ``members`` of the point forecast and of each interval bound present."""
    out = pd.DataFrame(index=wide.index)
    out[ENSEMBLE] = wide[list(members)].median(axis=1)
    for col in interval_columns("", levels):
        have = [f"{m}{col}" for m in members if f"{m}{col}" in wide.columns]
        out[f"{ENSEMBLE}{col}"] = wide[have].median(axis=1) if have else out[ENSEMBLE]
    return out


@register("auto")
class AutoSelect(Forecaster):
    """Choose per series among candidate models and their median ensemble."""

    family: ClassVar[str] = "ensemble"
    description: ClassVar[str] = (
        "Per-series choice among the candidates (statistical by default; every family within "
        "--time-budget) or their median ensemble, by rolling-origin MAE."
    )
    supports_future_covariates: ClassVar[bool] = True
    supports_static_covariates: ClassVar[bool] = True
    supports_past_covariates: ClassVar[bool] = True

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        candidates: Sequence[str] | None = None,
        time_budget: float | None = None,
        selection_windows: int = 2,
        margin: float = 0.3,
        ensemble_size: int | None = None,
        n_jobs: int = 1,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, **params)
        self.candidates = tuple(candidates) if candidates is not None else None
        self.time_budget = time_budget
        self.selection_windows = selection_windows
        self.margin = margin
        self.ensemble_size = ensemble_size
        self.n_jobs = n_jobs
        self.selection_cv_: pd.DataFrame | None = None
        self.skipped_: dict[str, str] = {}

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "candidates": self.candidates,
            "time_budget": self.time_budget,
            "selection_windows": self.selection_windows,
            "margin": self.margin,
            "ensemble_size": self.ensemble_size,
        }

    # -- candidates ---------------------------------------------------------------------------
    def pool(self) -> list[tuple[str, float]]:
        """Candidate names with their relative cost, cheapest first."""
        known = set(available_models())
        if self.candidates is not None:
            names = list(self.candidates)
        elif self.time_budget is None:
            names = list(DEFAULT_CANDIDATES)
        else:
            names = [n for n, _ in BUDGET_POOL]
        names = [n for n in names if n in known and n != self.alias]
        return sorted(((n, relative_cost(n)) for n in names), key=lambda t: t[1])

    def covariates_used(self) -> tuple[bool, bool]:
        """What any candidate reads: none of them, say, when all are local statistical models,
        and then no price or behaviour features are built for auto."""
        classes = [get_model_class(name) for name, _ in self.pool()]
        return (
            any(c.supports_future_covariates for c in classes),
            any(c.supports_past_covariates for c in classes),
        )

    def _make(self, name: str) -> Forecaster:
        from trendcast.engines import distribute

        model = make_model(
            name, season_length=self.season_length, calendar=self.calendar_, n_jobs=self.n_jobs
        )
        return distribute(model)  # on a cluster, the candidate's own way of running there

    def _run_candidates(
        self,
        df: pd.DataFrame,
        h: int,
        levels: Sequence[int],
        static_df: pd.DataFrame | None,
        n_windows: int | None,
        step: int,
        X_df: pd.DataFrame | None = None,
        names: Sequence[str] | None = None,
        points_only: bool = False,
        bounds_for: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """Backtest (``n_windows``) or forecast (``None``) the candidates into one wide frame.

        ``points_only``: without the intervals where leaving them out changes nothing else
        (choosing needs only the point forecasts). ``bounds_for``: in a forecast, the series
        whose candidates' own bounds are used (see :meth:`_forecast_bounds_where_used`)."""
        started = time.perf_counter()
        base = df[["unique_id", "ds", "y"]]
        chosen = list(names) if names is not None else [n for n, _ in self.pool()]
        models = [self._make(n) for n in chosen]
        cheap = [
            m for m in models if isinstance(m, StatsForecastModel) and relative_cost(m.alias) == 0
        ]
        key = ["unique_id", "ds", "cutoff"] if n_windows else ["unique_id", "ds"]
        self.fallback_: dict[str, set[str]] = {}
        self.timings_: dict[str, float] = {}
        self.histories_: dict[str, pd.DataFrame] = {}
        wide: pd.DataFrame | None = None
        used: list[str] = []
        if cheap:
            wide, self.fallback_ = self._stats_run(
                cheap, base, h, levels, n_windows, step, points_only, bounds_for
            )
            used = [m.alias for m in cheap]
            for m in cheap:  # one batched pass: each gets its share
                self.timings_[m.alias] = (time.perf_counter() - started) / len(cheap)
        unit = max(time.perf_counter() - started, 0.5)
        windows = n_windows or 1
        rest = [m for m in models if m not in cheap]
        for model in sorted(rest, key=lambda m: estimated_seconds(m, unit, windows)):
            elapsed = time.perf_counter() - started
            estimate = estimated_seconds(model, unit, windows)
            how = "estimated"
            budget = self.time_budget if names is None else None
            if budget is not None and elapsed + estimate <= budget:
                # a local statistical model's cost grows with the series' length far faster
                # than the fast batch's: time it on a sample of the series before committing
                piloted = self._pilot_seconds(model, base, h, levels, windows, step)
                if piloted is not None:
                    estimate, how = piloted, "estimated from a sample of the series"
                    elapsed = time.perf_counter() - started
            if budget is not None and elapsed + estimate > budget:
                self.skipped_[model.alias] = f"over the time budget ({estimate:.0f}s {how})"
                continue
            if model.family == "foundation" and names is None:
                from trendcast.models.foundation import weights_available

                path = str(
                    getattr(model, "model_path", None) or getattr(model, "default_model_path", "")
                )
                if not weights_available(path):
                    self.skipped_[model.alias] = f"no local weights for {path}"
                    continue
            began = time.perf_counter()
            try:
                part = self._model_run(
                    model, df, h, levels, static_df, n_windows, step, X_df, points_only
                )
            except (ModelError, MissingDependencyError) as exc:
                if names is not None:
                    raise
                self.skipped_[model.alias] = str(exc).splitlines()[0]
                continue
            self.timings_[model.alias] = time.perf_counter() - began
            history = getattr(model, "history_", None)
            if isinstance(history, pd.DataFrame) and not history.empty:
                # the networks' loss curves, for the report's training panel
                self.histories_[model.alias] = history
            cols = [c for c in part.columns if c.startswith(model.alias)]
            if wide is None:
                wide = part[key + (["y"] if n_windows else []) + cols]
            else:
                wide = wide.merge(part[key + cols], on=key, how="left")
            self.fallback_[model.alias] = set(getattr(model, "fallback_", set()))
            used.append(model.alias)
        if wide is None:
            raise ModelError(
                f"auto could not run any candidate: {self.skipped_}. Raise --time-budget or "
                "pick a model with --model."
            )
        # a candidate missing a row (a series it could not forecast) takes the others' median
        values = wide[used].to_numpy(dtype=float)
        median = np.nanmedian(
            np.where(np.isnan(values).all(axis=1, keepdims=True), 0.0, values), axis=1
        )
        wide[used] = np.where(np.isnan(values), median[:, None], values)
        self.candidates_ = tuple(used)
        return wide

    def _stats_run(
        self,
        models: list[Any],
        base: pd.DataFrame,
        h: int,
        levels: Sequence[int],
        n_windows: int | None,
        step: int,
        points_only: bool = False,
        bounds_for: Collection[str] | None = None,
    ) -> tuple[pd.DataFrame, dict[str, set[str]]]:
        if n_windows:
            return sf_cross_validation(
                models, base, h, n_windows, step, levels, self.calendar_, self.n_jobs, points_only
            )
        if bounds_for is not None and levels and not any(m.alias in WIDTH_MODELS for m in models):
            # (a model whose widths widen auto's bounds needs them on every series)
            return self._forecast_bounds_where_used(models, base, h, levels, bounds_for)
        return sf_forecast(models, base, h, levels, self.calendar_, self.n_jobs)

    def _forecast_bounds_where_used(
        self,
        models: list[Any],
        base: pd.DataFrame,
        h: int,
        levels: Sequence[int],
        bounds_for: Collection[str],
    ) -> tuple[pd.DataFrame, dict[str, set[str]]]:
        """The fast batch's forecast with its intervals only on the series in ``bounds_for``:
        the ones without error quantiles of their own, which take the chosen candidate's
        bounds. Elsewhere the interval columns are NaN; the points and the fallbacks are
        those of a forecast with every interval."""
        own = base["unique_id"].isin(bounds_for).to_numpy()
        parts: list[pd.DataFrame] = []
        fallback: dict[str, set[str]] = {m.alias: set() for m in models}
        for rows, points in ((own, False), (~own, True)):
            if not rows.any():
                continue
            out, fell = sf_forecast(
                models, base[rows], h, levels, self.calendar_, self.n_jobs, points
            )
            parts.append(out)
            for alias, ids in fell.items():
                fallback[alias] |= ids
        key = ["unique_id", "ds"]
        wide = pd.concat(parts, ignore_index=True).sort_values(key, ignore_index=True)
        columns = [c for m in models for c in [m.alias, *interval_columns(m.alias, levels)]]
        return wide.reindex(columns=key + columns), fallback

    def _pilot_seconds(
        self,
        model: Any,
        base: pd.DataFrame,
        h: int,
        levels: Sequence[int],
        windows: int,
        step: int,
    ) -> float | None:
        """Seconds an expensive local statistical candidate would take on the whole panel,
        from one window of it on 1% of the series (at least ``PILOT_MIN_SERIES``, in one
        process); None for other candidates, small panels, a sample that fails, or on a
        cluster (there a small call costs mostly the engine's fixed overhead, and scaling
        that up would refuse every expensive candidate)."""
        from trendcast.engines import active_engine

        if not isinstance(model, StatsForecastModel) or relative_cost(model.alias) == 0:
            return None
        if active_engine() is not None:
            return None
        ids = base["unique_id"].unique()
        size = max(PILOT_MIN_SERIES, len(ids) // 100)
        if len(ids) < 4 * size:
            return None
        sample = np.random.default_rng(0).choice(ids, size=size, replace=False)
        part = base[base["unique_id"].isin(sample)]
        pilot = make_model(
            model.alias, season_length=self.season_length, calendar=self.calendar_, n_jobs=1
        )
        began = time.perf_counter()
        try:
            pilot.cross_validation(part, h=h, n_windows=1, step=step, levels=levels)
        except Exception:  # the real run will report what is wrong with the model
            return None
        seconds = time.perf_counter() - began
        # per window and series, in parallel over the jobs; the final forecast is one more window
        return seconds * len(ids) / size * (windows + 1) / max(self.n_jobs, 1)

    def _model_run(
        self,
        model: Any,
        df: pd.DataFrame,
        h: int,
        levels: Sequence[int],
        static_df: pd.DataFrame | None,
        n_windows: int | None,
        step: int,
        X_df: pd.DataFrame | None,
        points_only: bool = False,
    ) -> pd.DataFrame:
        frame = model_frame(df, *model.covariates_used())
        static = static_df if model.supports_static_covariates else None
        # statistical candidates keep their model-based intervals for auto's widths; a model
        # with conformal intervals keeps them even for points, as they decide its fallbacks
        native = getattr(model, "native_intervals", False)
        stats = isinstance(model, StatsForecastModel) and not (points_only and native)
        wanted = levels if stats else ()
        if n_windows:
            return model.cross_validation(
                frame, h=h, n_windows=n_windows, step=step, levels=wanted, static_df=static
            )
        return model.fit(frame, static_df=static).predict(h, X_df=X_df, levels=wanted)

    # -- selection ----------------------------------------------------------------------------
    def _names(self, wide: pd.DataFrame) -> list[str]:
        used = getattr(self, "candidates_", None)
        if used is None:
            used = tuple(n for n, _ in self.pool() if n in wide.columns)
            self.candidates_ = used
        return [*used, ENSEMBLE, *([WEIGHTED] if WEIGHTED in wide.columns else [])]

    def ensemble_weights(self, cv: pd.DataFrame) -> pd.Series:
        """Weights of the backtest-weighted ensemble: the ``TOP_K`` candidates with the lowest
        relative error over ``cv`` (each series' MAE divided by its mean over candidates, so
        big sellers do not dominate), weighted by the inverse square of that error."""
        names = list(self.candidates_)
        mae = cv[names].sub(cv["y"], axis=0).abs().groupby(cv["unique_id"].to_numpy()).mean()
        scale = mae.mean(axis=1).replace(0, np.nan)
        score = mae.div(scale, axis=0).mean().dropna().sort_values()
        self.scores_ = score
        top = score.head(TOP_K).clip(lower=1e-6)
        return (1 / top**2).rename("weight")

    def _relative_mae(self, cv: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        err = cv[names].sub(cv["y"], axis=0).abs()
        err["unique_id"] = cv["unique_id"].to_numpy()
        return err.groupby("unique_id")[names].mean()

    def choose(self, cv: pd.DataFrame) -> pd.Series:
        """Per series, the candidate or ensemble with the lowest MAE over ``cv``'s windows.

        The default is whatever did best over all series (each series' MAE relative to its
        mean over the candidates, so big sellers do not decide alone): one of the ensembles,
        or a single model that beats them everywhere, such as a global LightGBM on long,
        regular series. Another model replaces the default for a series only when it beats
        it there by more than ``margin``.
        """
        names = self._names(cv)
        mae = self._relative_mae(cv, names)
        scale = mae.mean(axis=1).replace(0, np.nan)
        default = str(mae.div(scale, axis=0).mean().idxmin())
        best = mae.idxmin(axis=1)
        clear_cut = mae.min(axis=1) < mae[default] * (1 - self.margin)
        return best.where(clear_cut, default).rename("model")

    def residual_offsets(
        self, cv: pd.DataFrame, choice: pd.Series, levels: Sequence[int]
    ) -> pd.DataFrame:
        """Per series, quantiles of the chosen model's errors over ``cv`` (see ``intervals``)."""
        names = self._names(cv)
        chosen = cv["unique_id"].map(choice).fillna(ENSEMBLE).to_numpy()
        idx = np.array([names.index(c) for c in chosen])
        point = cv[names].to_numpy()[np.arange(len(cv)), idx]
        errors = pd.Series(cv["y"].to_numpy() - point, index=cv["unique_id"].to_numpy())
        return residual_offsets(errors, levels)

    def _with_ensemble(
        self, wide: pd.DataFrame, levels: Sequence[int], weights: pd.Series | None = None
    ) -> pd.DataFrame:
        members = list(self.candidates_) if hasattr(self, "candidates_") else self._names(wide)[:-1]
        if weights is not None and self.ensemble_size:
            # the median of the best few candidates, not of every weak one
            members = list(self.scores_.index[: self.ensemble_size])
        parts = [wide, median_ensemble(wide, members, levels)]
        if weights is not None and len(weights):
            parts.append(weighted_ensemble(wide, weights, levels))
        return pd.concat(parts, axis=1)

    def _compose(
        self,
        wide: pd.DataFrame,
        choice: pd.Series,
        levels: Sequence[int],
        offsets: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Pick each row's point forecast from its series' choice into ``auto`` columns.

        Bounds: with ``offsets`` (see :meth:`residual_offsets`) the point forecast
        plus the series' empirical error quantiles, widened to the statistical
        models' own widths; otherwise the chosen model's bounds, or the ensemble's.
        """
        names = self._names(wide)
        chosen = wide["unique_id"].map(choice).fillna(ENSEMBLE).to_numpy()
        out = wide[[c for c in ("unique_id", "ds", "cutoff", "y") if c in wide.columns]].copy()
        idx = np.array([names.index(c) for c in chosen])
        rows = np.arange(len(wide))
        point = wide[names].to_numpy()[rows, idx]
        out[self.alias] = point
        known = np.zeros(len(wide), dtype=bool)
        if offsets is not None and len(offsets):
            known = wide["unique_id"].isin(offsets.index).to_numpy()
            aligned = offsets.reindex(wide["unique_id"].to_numpy())
        widths = [m for m in names if m in WIDTH_MODELS]
        for suffix in interval_columns("", levels):
            lower = "-lo-" in suffix
            own = np.column_stack(
                [
                    wide[f"{n}{suffix}"].to_numpy()
                    if f"{n}{suffix}" in wide.columns
                    else wide[f"{ENSEMBLE}{suffix}"].to_numpy()
                    for n in names
                ]
            )[rows, idx]
            bound = own
            if known.any():
                empirical = point + aligned[suffix].to_numpy()
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
                    empirical = (
                        np.minimum(empirical, point - half)
                        if lower
                        else np.maximum(empirical, point + half)
                    )
                bound = np.where(known, empirical, own)
            bound = np.minimum(bound, point) if lower else np.maximum(bound, point)
            out[f"{self.alias}{suffix}"] = np.clip(bound, 0.0, None)
        out["model"] = chosen
        return out

    # -- protocol -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        self.train_ = df
        self.static_df_ = static_df
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        cv = self.selection_cv_
        if cv is None:
            # choosing and the error quantiles need only the windows' point forecasts
            cv = self._run_candidates(
                self.train_,
                h,
                levels,
                self.static_df_,
                self.selection_windows,
                h,
                points_only=True,
            )
        latest = sorted(cv["cutoff"].unique())[-self.selection_windows :]
        self._names(cv)
        raw = cv[cv["cutoff"].isin(latest)]
        self.weights_ = self.ensemble_weights(raw)
        recent = self._with_ensemble(raw, (), self.weights_)
        self.choice_ = self.choose(recent)
        offsets = self.residual_offsets(recent, self.choice_, levels)
        fc = self._run_candidates(
            self.train_,
            h,
            levels,
            self.static_df_,
            None,
            h,
            X_df=X_df,
            names=self._names(cv)[:-1],
            # the candidates' own bounds are read only where a series has no error quantiles
            bounds_for=set(self.train_["unique_id"].unique()).difference(offsets.index),
        )
        fc = self._with_ensemble(fc, levels, self.weights_)
        return self._compose(fc, self.choice_, levels, offsets)

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
        cv = self._run_candidates(
            df, h, levels, static_df, n_windows + self.selection_windows, step
        )
        self.candidate_cv_ = cv
        return self.select_over_windows(cv, h, n_windows, step, levels)

    def select_over_windows(
        self, cv: pd.DataFrame, h: int, n_windows: int, step: int, levels: Sequence[int]
    ) -> pd.DataFrame:
        """auto's backtest from the candidates' backtest: each evaluated window is chosen on the
        windows whose whole horizon ended by its cutoff."""
        wide = cv.reset_index(drop=True)
        self._names(wide)
        cutoffs = sorted(wide["cutoff"].unique())
        frames = []
        for k in range(len(cutoffs) - n_windows, len(cutoffs)):
            # windows j whose horizon lies before cutoff k: cutoff_j + h periods <= cutoff_k
            past = [c for j, c in enumerate(cutoffs[:k]) if (k - j) * step >= h]
            past = past[-self.selection_windows :]
            current = wide[wide["cutoff"] == cutoffs[k]]
            if past:
                raw = wide[wide["cutoff"].isin(past)]
                weights = self.ensemble_weights(raw)
                history = self._with_ensemble(raw, levels, weights)
                choice = self.choose(history)
                offsets = self.residual_offsets(history, choice, levels)
                current = self._with_ensemble(current, levels, weights)
            else:
                current = self._with_ensemble(current, levels)
                choice = pd.Series(ENSEMBLE, index=current["unique_id"].unique())
                offsets = None
            frames.append(self._compose(current, choice, levels, offsets))
        return pd.concat(frames, ignore_index=True)
