"""Optional MLflow tracking: when ``MLFLOW_TRACKING_URI`` is set, each run is logged there.

Parameters (the run's configuration), metrics (every model's leaderboard
scores and the stage timings) and artifacts (report, forecast, leaderboard)
go to the experiment named by ``MLFLOW_EXPERIMENT_NAME`` (default
``trendcast``), so teams see trendcast runs beside their other experiments.
A tracking server that cannot be reached costs a warning, never the run.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from trendcast.exceptions import MissingDependencyError

__all__ = ["tracking_enabled", "log_run"]

_METRICS = (
    "mase",
    "rmsse",
    "mae",
    "rmse",
    "smape",
    "scaled_pinball",
    "coverage_80",
    "coverage_95",
    "wrmsse",
    "time_s",
)


def tracking_enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text[:500]  # MLflow caps parameter values
    return out


def log_run(
    run_id: str,
    config: Mapping[str, Any],
    leaderboard: pd.DataFrame,
    timings: Mapping[str, float],
    artifacts: Sequence[Path] = (),
) -> str | None:
    """Log a trendcast run to MLflow; returns the MLflow run id (None when tracking is off)."""
    if not tracking_enabled():
        return None
    try:
        import mlflow
    except ImportError:
        hint = MissingDependencyError(
            "mlflow-skinny",
            extra="tracking",
            purpose="MLflow tracking (MLFLOW_TRACKING_URI is set)",
        )
        warnings.warn(f"{hint} The run is kept locally.", stacklevel=2)
        return None
    try:
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "trendcast"))
        with mlflow.start_run(run_name=f"trendcast-{run_id}") as active:
            mlflow.set_tag("trendcast.run_id", run_id)
            mlflow.log_params(_flat(config))
            metrics = {f"time.{k}": float(v) for k, v in timings.items()}
            for row in leaderboard.to_dict("records"):
                for metric in _METRICS:
                    value = row.get(metric)
                    if value is not None and pd.notna(value):
                        metrics[f"{row['model']}.{metric}"] = float(value)
            mlflow.log_metrics(metrics)
            for path in artifacts:
                if Path(path).exists():
                    mlflow.log_artifact(str(path))
            return str(active.info.run_id)
    except Exception as exc:  # any tracking-server failure must not lose the run
        warnings.warn(f"MLflow logging failed, the run is kept locally: {exc}", stacklevel=2)
        return None
