"""Trained models kept beside the run store, so new periods can be forecast without refitting.

A model is pickled with what it needs to be trusted later: the trendcast and
library versions it was trained with, the data fingerprint, the run's
configuration, the trading calendar and the column map. Files live in
``<store>.models/<run_id>.pkl`` and are written atomically. Loading under
other versions of trendcast or of the model's libraries is refused with a
message that says to refit, because a pickled model is only as good as the
code that reads it.
"""

from __future__ import annotations

import pickle
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from trendcast.exceptions import ModelError, StoreError

__all__ = ["SavedModel", "save_model", "load_model", "model_path", "library_versions"]

_LIBRARIES = (
    "trendcast",
    "statsforecast",
    "mlforecast",
    "lightgbm",
    "scikit-learn",
    "neuralforecast",
    "torch",
    "chronos-forecasting",
    "pandas",
    "numpy",
)


def library_versions() -> dict[str, str]:
    """Installed versions of trendcast and the libraries models are built on."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class SavedModel:
    """A fitted model and the context needed to use it again."""

    run_id: str
    model_name: str
    model: Any
    fingerprint: str
    config: dict[str, Any]
    calendar: Any
    columns: Any
    ids: Any
    versions: dict[str, str] = field(default_factory=library_versions)


def model_path(store_path: str | Path, run_id: str) -> Path:
    store = Path(store_path)
    return store.with_name(store.name + ".models") / f"{run_id}.pkl"


def save_model(store_path: str | Path, saved: SavedModel) -> Path:
    """Pickle ``saved`` next to the store, atomically; returns the file."""
    target = model_path(store_path, saved.run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with tmp.open("wb") as fh:
            pickle.dump(saved, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(target)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        raise StoreError(f"Cannot save the trained model of run {saved.run_id}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_model(store_path: str | Path, run_id: str) -> SavedModel:
    """Load a run's trained model, refusing one saved under other library versions."""
    path = model_path(store_path, run_id)
    if not path.exists():
        raise ModelError(
            f"Run {run_id} has no saved model at {path}. Models are saved by `trendcast forecast` "
            "and `trendcast run`; list runs with `trendcast runs`."
        )
    try:
        with path.open("rb") as fh:
            saved = pickle.load(fh)  # noqa: S301 - our own file, written by save_model
    except Exception as exc:  # unpickling under changed code raises many kinds
        raise ModelError(
            f"The saved model of run {run_id} cannot be read by this installation ({exc}). "
            "Refit it with `trendcast forecast` or `trendcast run`."
        ) from None
    now = library_versions()
    changed = {k: (v, now.get(k, "missing")) for k, v in saved.versions.items() if now.get(k) != v}
    if changed:
        detail = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in sorted(changed.items()))
        raise ModelError(
            f"Run {run_id} was trained under other versions ({detail}). A model pickled by "
            "other code may forecast wrongly; refit with `trendcast forecast` or `trendcast run`."
        )
    return saved
