"""The errors trendcast raises on purpose.

Every error a user can cause by their input or configuration is a
:class:`TrendcastError`; the CLI turns these into a short message and exit
code 2, never a traceback. Anything else reaching the user is a bug.

- ``InputError``: the data given cannot be used as it is (missing file or
  columns, unparseable dates, non-numeric quantities, duplicate keys...).
  The message names the problem, shows a few offending values and says the fix.
- ``ConfigError``: an option or configuration value is out of range or unknown.
- ``ModelError``: an unknown model name, or a model that cannot run on the data.
- ``MissingDependencyError``: an optional library is not installed; the message
  carries the ``pip install`` line.
- ``StoreError``: the run store cannot be opened or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "ModelError",
    "NoSalesLeftError",
    "StoreError",
    "TrendcastError",
    "format_examples",
]


class TrendcastError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class InputError(TrendcastError, ValueError):
    """The input data cannot be used as given."""


class NoSalesLeftError(InputError):
    """Cleaning left no sales: nothing to forecast. ``report`` says what was dropped and why."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ConfigError(TrendcastError, ValueError):
    """An option or configuration value is invalid."""


class ModelError(TrendcastError):
    """A model is unknown or cannot run on the given data."""


class MissingDependencyError(TrendcastError, ImportError):
    """An optional dependency is missing."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f'pip install "trendcast[{extra}]"' if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"The package '{package}' is not installed{what}. Install it with: {hint}")
        self.package = package


class StoreError(TrendcastError):
    """The run store cannot be opened or written."""


def format_examples(values: Iterable[object], limit: int = 5) -> str:
    """Render a few offending values for an error message: ``['a', 'b', ...]``."""
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"
