"""Hyperparameter search with Optuna, inside a time budget.

The objective is the mean MASE of a rolling-origin backtest (the last
``windows`` windows of ``horizon``), so tuning never sees the periods it is
scored on while fitting. Every trial is kept: ``TuningResult.history`` goes
into the run store beside the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.evaluation.backtest import to_long
from trendcast.evaluation.metrics import evaluate
from trendcast.exceptions import ConfigError, MissingDependencyError
from trendcast.features.covariates import model_frame
from trendcast.models.registry import make_model

__all__ = ["TuningResult", "SEARCH_SPACES", "tune"]


def _lightgbm_space(trial: Any) -> dict[str, Any]:
    return {
        "objective": trial.suggest_categorical("objective", ["tweedie", "poisson", "l2"]),
        "n_estimators": trial.suggest_int("n_estimators", 100, 600, step=50),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 127, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
    }


def _linear_space(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _neural_space(trial: Any) -> dict[str, Any]:
    return {
        "max_steps": trial.suggest_int("max_steps", 100, 500, step=50),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "hidden_size": trial.suggest_categorical("hidden_size", [16, 32, 64, 128]),
    }


SEARCH_SPACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "lightgbm": _lightgbm_space,
    "linear": _linear_space,
    "lstm": _neural_space,
    "nhits": _neural_space,
    "patchtst": _neural_space,
}
"""Models that can be tuned, with their search space."""


@dataclass
class TuningResult:
    """The best hyperparameters found and every trial tried."""

    model: str
    best_params: dict[str, Any]
    best_mase: float
    history: pd.DataFrame  # trial, mase, seconds, state, and one column per hyperparameter


def tune(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    model: str = "lightgbm",
    horizon: int = 28,
    windows: int = 1,
    time_budget: float = 300.0,
    n_trials: int | None = None,
    static_df: pd.DataFrame | None = None,
    n_jobs: int = 1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> TuningResult:
    """Search ``model``'s hyperparameters for the lowest backtest MASE within ``time_budget``."""
    if model not in SEARCH_SPACES:
        raise ConfigError(f"{model!r} cannot be tuned. Tunable models: {sorted(SEARCH_SPACES)}.")
    if time_budget <= 0:
        raise ConfigError(f"--time-budget must be positive, got {time_budget}.")
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError(
            "optuna", extra="ai", purpose="hyperparameter tuning"
        ) from None
    say = progress or (lambda _msg: None)
    season = calendar.season_length
    history_cols = ["unique_id", "ds", "y", *(["price"] if "price" in panel.columns else [])]
    space = SEARCH_SPACES[model]

    def objective(trial: Any) -> float:
        params = space(trial)
        m = make_model(model, season_length=season, calendar=calendar, n_jobs=n_jobs, **params)
        started = time.perf_counter()
        cv = m.cross_validation(
            model_frame(panel, *m.covariates_used()),
            h=horizon,
            n_windows=windows,
            static_df=static_df if m.supports_static_covariates else None,
        )
        scores = evaluate(to_long(cv, [model], ()), panel[history_cols], season)
        value = float(scores["mase"].mean())
        trial.set_user_attr("seconds", time.perf_counter() - started)
        say(f"trial {trial.number}: MASE {value:.4f} {params}")
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=time_budget)
    rows = [
        {
            "trial": t.number,
            "mase": t.value,
            "seconds": t.user_attrs.get("seconds"),
            "state": t.state.name,
            **t.params,
        }
        for t in study.trials
    ]
    history = pd.DataFrame(rows)
    done = history[history["state"] == "COMPLETE"]
    if done.empty:
        raise ConfigError(
            f"No tuning trial finished within {time_budget:g}s; give --time-budget more time."
        )
    return TuningResult(model, dict(study.best_params), float(study.best_value), history)
