"""Scoring backtests: accuracy metrics, demand segments and model leaderboards.

Note that ``trendcast.evaluation.leaderboard`` is the :func:`leaderboard`
function; import from the module of the same name with
``from trendcast.evaluation.leaderboard import ...``.
"""

from trendcast.evaluation.leaderboard import best_model_per_series, leaderboard, segment_leaderboard
from trendcast.evaluation.metrics import (
    bias,
    coverage,
    evaluate,
    mae,
    mape,
    mse,
    pinball_loss,
    r2,
    rmse,
    smape,
)
from trendcast.evaluation.segments import classify_demand

__all__ = [
    "best_model_per_series",
    "bias",
    "classify_demand",
    "coverage",
    "evaluate",
    "leaderboard",
    "mae",
    "mape",
    "mse",
    "pinball_loss",
    "r2",
    "rmse",
    "segment_leaderboard",
    "smape",
]
