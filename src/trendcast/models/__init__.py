"""Models: one protocol, a registry, and the built-in families."""

from trendcast.models.base import Forecaster, cutoffs_for, interval_columns
from trendcast.models.registry import (
    available_models,
    get_model_class,
    make_model,
    models_table,
    register,
)

__all__ = [
    "Forecaster",
    "available_models",
    "cutoffs_for",
    "get_model_class",
    "interval_columns",
    "make_model",
    "models_table",
    "register",
]
