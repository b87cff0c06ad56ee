"""Forecasting in chunks of products: bounded model memory, and resumable.

:func:`forecast_in_chunks` fits and forecasts ``chunk_size`` series at a time.
Each finished chunk is written (atomically) to a work folder beside the output,
``<output>.parts/``, with a manifest of the data's fingerprint and the settings.
Run the same command again after an interruption and the finished chunks are
skipped; the final output is assembled from the parts and written atomically,
then the work folder is removed.

Local models (baselines, statistical, intermittent) forecast each series on its
own, so the chunked forecast is identical to the unchunked one. Global models
(``lightgbm``, ``linear``, the networks) learn across the series they are given:
chunked, each chunk gets a model of its own, which is a different (usually
slightly weaker) forecast. ``auto`` chooses per series, but weighs its ensemble
and picks its default over the series it is given, so chunked it may choose
differently for some series.

This module takes a prepared panel, already in memory; for a file, streamed a
chunk at a time from disk, see :mod:`trendcast.streamed`.

Examples
--------
>>> from trendcast.chunked import forecast_in_chunks
>>> fc = forecast_in_chunks(data, "forecast.csv", chunk_size=5000, horizon=28,
...                         model="auto_ets")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trendcast.data.prepare import PreparedData
from trendcast.engines import Engine, as_engine, engine_scope
from trendcast.exceptions import ConfigError
from trendcast.pipeline import fit_forecast, to_output, write_atomic, write_csv_atomic

__all__ = ["forecast_in_chunks", "parts_folder", "remove_parts"]

Progress = Callable[[str], None]
MANIFEST = "manifest.json"
_FORMAT = 1


def _quiet(_msg: str) -> None:
    return None


def parts_folder(output: str | Path) -> Path:
    """The work folder of a chunked forecast: ``<output>.parts`` beside the output."""
    output = Path(output)
    return output.with_name(output.name + ".parts")


def _part(folder: Path, number: int) -> Path:
    return folder / f"chunk-{number:05d}.parquet"


def _manifest(
    data: PreparedData, chunk_size: int, n_chunks: int, settings: dict[str, Any]
) -> dict[str, Any]:
    from trendcast.store import fingerprint_frame

    return {
        "format": _FORMAT,
        "data": fingerprint_frame(data.panel),
        "static": fingerprint_frame(data.static_df),
        "calendar": {"freq": data.calendar.freq, "closed": list(data.calendar.closed_weekdays)},
        "chunk_size": chunk_size,
        "chunks": n_chunks,
        "series": data.n_series,
        "settings": settings,
    }


def chunks_engine(
    session: Engine, todo: bool, n_jobs: int, say: Progress
) -> AbstractContextManager[Engine | None]:
    """The engine for the chunks still to do, started once for all of them (none when
    every chunk is finished already)."""
    if not todo:
        return engine_scope(None, n_jobs)
    if not session.is_local:
        say(f"starting the {session.describe()} engine")
    return engine_scope(session, n_jobs)


def engine_setting(engine: Engine) -> dict[str, str]:
    """The engine as a setting of the manifest: a distributed one is named (its global
    models may train differently), the local one is left out (manifests from before)."""
    return {} if engine.is_local else {"engine": engine.name}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)]


def _start(folder: Path, manifest: dict[str, Any], restart: bool, say: Progress) -> None:
    """Check the work folder belongs to this forecast (or empty it on ``restart``)."""
    path = folder / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        if old != manifest:
            if not restart:
                changed = ", ".join(_differences(old, manifest)) or "the manifest"
                raise ConfigError(
                    f"The work folder {folder} holds chunks of another forecast (changed: "
                    f"{changed}). Pass --restart to discard them and start fresh, or choose "
                    "another --output."
                )
            finished = [*folder.glob("chunk-[0-9]*[0-9].parquet"), *folder.glob("chunk-*.empty")]
            for part in folder.glob("chunk-*"):  # with a streamed chunk's history and report
                part.unlink()
            say(
                f"starting fresh: discarded {len(finished)} chunk(s) of another forecast in {folder}"
            )
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True)))


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _chunk_bounds(panel: pd.DataFrame, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row offsets where each chunk of series starts (panel sorted by id), and the chunk ids."""
    uid = panel["unique_id"].to_numpy()
    firsts = np.flatnonzero(np.r_[True, uid[1:] != uid[:-1]])
    starts = firsts[::chunk_size]
    return np.r_[starts, len(panel)], uid[firsts]


def forecast_in_chunks(
    data: PreparedData,
    output: str | Path,
    *,
    chunk_size: int,
    horizon: int,
    model: str = "auto",
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
    restart: bool = False,
    engine: Engine | str | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Forecast ``chunk_size`` series at a time, resumably; write the output CSV at the end.

    Parameters
    ----------
    data
        The prepared panel (see :func:`trendcast.pipeline.load_sales`).
    output
        The forecast CSV (under the input's column names), written atomically
        once every chunk is done. Chunks go to ``<output>.parts/`` meanwhile.
    chunk_size
        Series per chunk. Global models are fitted per chunk (see the module notes).
    restart
        Discard finished chunks of a different forecast (other data or settings)
        instead of refusing to mix them.
    engine
        Where each chunk is forecast (see :func:`trendcast.pipeline.fit_forecast`);
        one cluster serves every chunk.

    Returns the forecast as :func:`trendcast.pipeline.fit_forecast` does.
    """
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}.")
    session = as_engine(engine, n_jobs)
    session.check_models([model], time_budget)
    say = progress or _quiet
    panel = data.panel
    if not panel["unique_id"].is_monotonic_increasing:
        panel = panel.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    bounds, ids = _chunk_bounds(panel, chunk_size)
    n_chunks = len(bounds) - 1
    settings = {
        "horizon": horizon,
        "model": model,
        "levels": sorted(int(v) for v in levels),
        "time_budget": time_budget,
        "params": params or {},
        **engine_setting(session),
    }
    folder = parts_folder(output)
    _start(folder, _manifest(data, chunk_size, n_chunks, settings), restart, say)
    done = [k for k in range(n_chunks) if _part(folder, k).exists()]
    if done:
        say(
            f"resuming: {len(done)} of {n_chunks} chunk(s) already finished in {folder}; "
            "skipping them"
        )
    with chunks_engine(session, len(done) < n_chunks, n_jobs, say):
        for k in range(n_chunks):
            if k in done:
                continue
            rows = panel.iloc[bounds[k] : bounds[k + 1]]
            chunk_ids = ids[k * chunk_size : (k + 1) * chunk_size]
            part = replace(
                data,
                panel=rows.reset_index(drop=True),
                static_df=data.static_df[data.static_df["unique_id"].isin(chunk_ids)],
                ids=data.ids[data.ids["unique_id"].isin(chunk_ids)],
            )
            say(f"chunk {k + 1} of {n_chunks}: {len(chunk_ids):,} series")
            fc, _ = fit_forecast(
                part,
                horizon=horizon,
                model=model,
                levels=levels,
                n_jobs=n_jobs,
                time_budget=time_budget,
                params=params,
                engine=session,
            )
            write_atomic(_part(folder, k), partial(_write_parquet, fc))
    fc = pd.concat([pd.read_parquet(_part(folder, k)) for k in range(n_chunks)], ignore_index=True)
    write_csv_atomic(to_output(fc, data), output)
    remove_parts(folder, [_part(folder, k) for k in range(n_chunks)], say)
    return fc


def remove_parts(folder: Path, parts: Sequence[Path], say: Progress) -> None:
    """Remove a finished forecast's parts, its manifest and then the work folder, unless
    someone else's files are in it."""
    for path in parts:
        path.unlink(missing_ok=True)
    (folder / MANIFEST).unlink()
    try:
        folder.rmdir()
    except OSError:  # someone else's files in the folder: leave them be
        say(f"left {folder} in place: it holds files other than the chunks")
