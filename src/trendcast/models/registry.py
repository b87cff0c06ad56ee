"""A plain registry of model classes, filled by a decorator.

Built-in models register themselves exactly as a third-party plugin would::

    from trendcast.models import Forecaster, register

    @register("my_model")
    class MyModel(Forecaster):
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from trendcast.exceptions import ModelError

__all__ = ["register", "get_model_class", "make_model", "available_models", "models_table"]

_REGISTRY: dict[str, Any] = {}


def register(name: str) -> Callable[[Any], Any]:
    """Register a :class:`~trendcast.models.base.Forecaster` subclass under ``name``."""

    def decorator(cls: Any) -> Any:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ModelError(f"A model named {name!r} is already registered.")
        cls.alias = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load_builtins() -> None:
    # importing the modules runs their @register decorators
    from trendcast.models import auto, boosting, foundation, neural, statistical  # noqa: F401


def available_models() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> Any:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"Unknown model {name!r}. Available models: {', '.join(sorted(_REGISTRY))}. "
            "List them with `trendcast models`."
        ) from None


def make_model(name: str, **params: Any) -> Any:
    """Instantiate the registered model ``name`` with hyperparameters ``params``."""
    return get_model_class(name)(**params)


def models_table() -> pd.DataFrame:
    """One row per registered model with its family and capabilities."""
    rows = []
    for name in available_models():
        cls = _REGISTRY[name]
        rows.append(
            {
                "model": name,
                "family": cls.family,
                "intervals": cls.supports_intervals,
                "future_covariates": cls.supports_future_covariates,
                "static_covariates": cls.supports_static_covariates,
                "global": cls.is_global,
                "description": cls.description,
            }
        )
    return pd.DataFrame(rows)
