"""Pretrained time-series foundation models: Chronos-Bolt, Chronos-2 and TimesFM.

``chronos_bolt`` (Chronos-Bolt, default ``amazon/chronos-bolt-small``),
``chronos2`` (Chronos-2, default ``amazon/chronos-2``), both through
chronos-forecasting, and ``timesfm`` (TimesFM 3, default
``google/timesfm-3.0-pytorch``, through the ``timesfm`` package) forecast every
product with one pretrained network, zero-shot: global models that need no
training on the user's data. Chronos-2 also reads covariates (price,
promotion, page views) and can be fine-tuned on the user's own history
(``fine_tune=True``).

Weights: ``model_path`` is a local folder (``hf download amazon/chronos-2
--local-dir DIR``) or a Hugging Face Hub id. A model loads once per process
(fp32 on CPU: bf16 is much slower on CPUs) and is shared by every instance
naming the same path. Weights that cannot be had raise
:class:`~trendcast.exceptions.ModelError` with the command that gets them.

Time grid: each series' history is laid on the trading calendar's integer
grid (closed weekdays stepped over, missing periods as NaN, which the models
treat as unobserved); its last ``context_length`` values are forecast and the
results map back to calendar dates.

Intervals: level ``L`` takes the quantiles ``(100 - L) / 200`` and
``1 - (100 - L) / 200``. Inside the range of quantiles a model was trained on
(Chronos-Bolt and TimesFM 0.1 to 0.9, Chronos-2 0.01 to 0.99) they are
interpolated linearly between the trained ones, as ``predict_quantiles`` does.
Outside it ``predict_quantiles`` would clamp to the outermost trained
quantile, which makes a 95% interval of Chronos-Bolt identical to its 80% one;
instead the tail is stretched: the distance from the median to the outermost
trained quantile, times ``z(q) / z(q_edge)`` with ``z`` the standard normal
quantile (1.53 for 95% bounds from 0.1 and 0.9), i.e. a normal-shaped tail
past the trained range. Backtest coverage shows how well that holds on the
data. Quantiles are sorted per period (networks may cross them), the point
forecast is the median and everything is floored at zero.

Series with fewer than ``MIN_HISTORY`` observed periods are forecast by
HistoricAverage; ``fallback_`` names them.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, MissingDependencyError, ModelError, format_examples
from trendcast.models.base import Forecaster, interval_columns
from trendcast.models.registry import register
from trendcast.models.statistical import FALLBACK_MODEL, HistoricAverage, _Grid

__all__ = [
    "ChronosBolt",
    "Chronos2",
    "TimesFM",
    "FoundationForecaster",
    "MIN_HISTORY",
    "load_chronos_pipeline",
    "load_timesfm",
    "clear_model_cache",
    "save_random_model",
]

#: fewest observed periods a series needs; shorter ones get HistoricAverage
MIN_HISTORY = 5

_LOADED: dict[tuple[str, str], Any] = {}
# the pipelines warn on every call past their trained horizon; the module docstring says it
_LONG_HORIZON_WARNING = "We recommend keeping prediction length"


def _require(module: str, package: str, extra: str | None = "ai") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            package, extra=extra, purpose="the foundation models"
        ) from None


@contextmanager
def _torch_threads(n_jobs: int) -> Iterator[None]:
    """Run torch on ``n_jobs`` threads (all cores for -1), restoring the setting afterwards."""
    torch = _require("torch", "torch")
    before = torch.get_num_threads()
    torch.set_num_threads((os.cpu_count() or 1) if n_jobs < 1 else n_jobs)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- loading ---------------------------------------------------------------------------------


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a folder rather than a Hub id (``owner/model``)."""
    return (
        name.startswith(("/", ".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or Path(name).exists()
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _load_once(
    model_path: str | os.PathLike[str], what: str, hub_example: str, load: Callable[[str], Any]
) -> Any:
    """Load ``model_path`` with ``load`` once per process, turning failures into ModelError."""
    name = os.fspath(model_path)
    folder = Path(name).expanduser()
    key = (what, str(folder.resolve()) if folder.is_dir() else name)
    if key in _LOADED:
        return _LOADED[key]
    get_them = (
        "Download them on a machine with internet (`hf download {id} --local-dir DIR`) and pass "
        "model_path=DIR (`--model-path DIR` on the command line)."
    )
    if not folder.is_dir() and _looks_like_path(name):
        raise ModelError(
            f"Cannot load {what} weights from {name!r}: there is no folder at that path. "
            + get_them.format(id=hub_example)
        )
    try:
        model = load(str(folder) if folder.is_dir() else name)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        if folder.is_dir():
            raise ModelError(
                f"Cannot load {what} weights from the folder {name!r}: it holds no {what} model "
                f"({_first_line(exc)}). It must contain the files of a {what} model as published "
                "(config.json, model.safetensors). " + get_them.format(id=hub_example)
            ) from exc
        why = "HF_HUB_OFFLINE is set" if _hub_offline() else "no connection, or no model by that id"
        raise ModelError(
            f"Cannot load {what} weights {name!r}: no local folder by that name and the Hugging "
            f"Face Hub cannot be reached ({why}). " + get_them.format(id=name)
        ) from exc
    _LOADED[key] = model
    return model


def load_chronos_pipeline(
    model_path: str | os.PathLike[str], hub_example: str = "amazon/chronos-2"
) -> Any:
    """Load a Chronos pipeline (fp32, CPU) from a local folder or a Hub id, once per process.

    Parameters
    ----------
    model_path
        A folder holding the model (``config.json``, ``model.safetensors``) or a
        Hugging Face Hub id such as ``amazon/chronos-bolt-small``.
    hub_example
        The Hub id named in the download hint when ``model_path`` is a folder.

    Raises
    ------
    ModelError
        When the weights cannot be loaded; the message says how to get them.
    """
    chronos = _require("chronos", "chronos-forecasting")
    torch = _require("torch", "torch")

    def load(path: str) -> Any:
        return chronos.BaseChronosPipeline.from_pretrained(
            path, device_map="cpu", torch_dtype=torch.float32
        )

    return _load_once(model_path, "Chronos", hub_example, load)


def load_timesfm(
    model_path: str | os.PathLike[str], hub_example: str = "google/timesfm-3.0-pytorch"
) -> Any:
    """Load a TimesFM 3 forecaster (fp32, CPU) from a local folder or a Hub id, once per process.

    Raises
    ------
    ModelError
        When the weights cannot be loaded; the message says how to get them.
    """
    timesfm = _require("timesfm3.torch", "timesfm", extra=None)

    def load(path: str) -> Any:
        # huggingface_hub prints a line on every local load: keep the command line quiet
        with redirect_stdout(io.StringIO()):
            return timesfm.TimesFM3Forecaster.from_pretrained(path, device="cpu")

    return _load_once(model_path, "TimesFM", hub_example, load)


def weights_available(model_path: str | os.PathLike[str]) -> bool:
    """Whether weights can be had without the network: a local folder, or a Hub id already
    in the local Hugging Face cache. ``auto`` tries foundation candidates only then."""
    name = os.fspath(model_path)
    if Path(name).is_dir():
        return True
    if _looks_like_path(name):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def clear_model_cache() -> None:
    """Forget the models loaded so far (they are otherwise kept for the life of the process)."""
    _LOADED.clear()


# --- random-weight models of the real architectures, for tests and timing -------------------

_BOLT_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
_CHRONOS2_QUANTILES = [0.01, 0.05, *[round(0.1 + 0.05 * i, 2) for i in range(17)], 0.95, 0.99]


def _dims(
    d_model: int, d_ff: int, num_layers: int, num_heads: int, d_kv: int = 64
) -> dict[str, int]:
    return {
        "d_model": d_model,
        "d_ff": d_ff,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "d_kv": d_kv,
    }


#: transformer dimensions per (kind, size): "toy" is for unit tests, the others follow the
#: published checkpoints (chronos-bolt-tiny and -small, chronos-2-small, chronos-2, timesfm-3.0)
RANDOM_SIZES: dict[tuple[str, str], dict[str, int]] = {
    ("chronos_bolt", "toy"): _dims(32, 64, 1, 2, d_kv=8),
    ("chronos_bolt", "tiny"): _dims(256, 1024, 4, 4),
    ("chronos_bolt", "small"): _dims(512, 2048, 6, 8),
    ("chronos2", "toy"): _dims(32, 64, 1, 2, d_kv=8),
    ("chronos2", "small"): _dims(512, 2048, 6, 8),
    ("chronos2", "base"): _dims(768, 3072, 12, 12),
    ("timesfm", "toy"): _dims(32, 32, 1, 2, d_kv=16),
    ("timesfm", "base"): _dims(1280, 1280, 20, 16, d_kv=80),
}


def save_random_model(
    directory: str | os.PathLike[str],
    kind: Literal["chronos_bolt", "chronos2", "timesfm"],
    size: str = "toy",
    seed: int = 0,
) -> Path:
    """Save a model of a real architecture with random weights, for tests and timing.

    The folder loads through ``model_path=DIR`` exactly like downloaded weights,
    with no network. Its forecasts are noise: accuracy needs the real weights.

    Examples
    --------
    >>> path = save_random_model(tmp_path / "bolt", "chronos_bolt")  # doctest: +SKIP
    >>> make_model("chronos_bolt", model_path=path).fit(panel).predict(28)  # doctest: +SKIP
    """
    if (kind, size) not in RANDOM_SIZES:
        raise ConfigError(
            f"No random model of kind {kind!r} and size {size!r}. Known: {sorted(RANDOM_SIZES)}."
        )
    torch = _require("torch", "torch")
    dims = RANDOM_SIZES[(kind, size)]
    torch.manual_seed(seed)
    model: Any
    if kind == "chronos_bolt":
        chronos = _require("chronos", "chronos-forecasting")
        transformers = _require("transformers", "transformers")
        config = transformers.T5Config(
            **dims,
            num_decoder_layers=dims["num_layers"],
            dropout_rate=0.1,
            feed_forward_proj="relu",
            vocab_size=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
            architectures=["ChronosBoltModelForForecasting"],
            chronos_pipeline_class="ChronosBoltPipeline",
            chronos_config={
                "context_length": 2048,
                "prediction_length": 64,
                "input_patch_size": 16,
                "input_patch_stride": 16,
                "quantiles": list(_BOLT_QUANTILES),
                "use_reg_token": True,
            },
        )
        model = chronos.chronos_bolt.ChronosBoltModelForForecasting(config)
    elif kind == "chronos2":
        chronos = _require("chronos", "chronos-forecasting")
        config = chronos.chronos2.Chronos2CoreConfig(
            **dims,
            dropout_rate=0.1,
            feed_forward_proj="relu",
            rope_theta=10000.0,
            architectures=["Chronos2Model"],
            chronos_pipeline_class="Chronos2Pipeline",
            chronos_config={
                "context_length": 8192,
                "input_patch_size": 16,
                "input_patch_stride": 16,
                "output_patch_size": 16,
                "max_output_patches": 64,
                "quantiles": list(_CHRONOS2_QUANTILES),
                "use_reg_token": True,
                "use_arcsinh": True,
                "time_encoding_scale": 8192,
            },
        )
        model = chronos.Chronos2Model(config)
    else:
        timesfm = _require("timesfm3.torch", "timesfm", extra=None)
        model = timesfm.TimesFM3Torch(
            residual_block_config=timesfm.ResidualBlockConfig(
                hidden_dims=dims["d_model"],
                output_dims=dims["d_model"],
                use_bias=False,
                activation="relu",
            ),
            transformer_config=timesfm.StackedTransformersConfig(
                num_layers=dims["num_layers"],
                transformer=timesfm.TransformerConfig(
                    model_dims=dims["d_model"],
                    hidden_dims=dims["d_ff"],
                    num_heads=dims["num_heads"],
                    attention_norm="rms",
                    feedforward_norm="rms",
                    qk_norm="rms",
                    use_rope_seq=True,
                    use_rope_var=False,
                    use_bias=False,
                    ff_activation="relu",
                    deterministic=True,
                ),
            ),
        )
    path = Path(directory)
    model.save_pretrained(path)
    return path


# --- history on the calendar grid ------------------------------------------------------------


@dataclass
class _History:
    """Per series: its id, last grid position and values on the grid (NaN where unobserved)."""

    ids: np.ndarray
    last: np.ndarray
    target: list[np.ndarray]
    covariates: dict[str, list[np.ndarray]]


def _column_values(col: pd.Series) -> np.ndarray:
    """Numbers as float32 (NaN when missing); anything else as objects Chronos-2 treats as categories."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float32, na_value=np.nan)
    return col.astype(object).to_numpy()


def _history(
    df: pd.DataFrame, grid: _Grid, covariates: Sequence[str], max_length: int | None
) -> _History:
    pos = df["ds"].map(grid.pos)
    if pos.isna().any():
        off = df.loc[pos.isna(), "ds"].dt.strftime("%Y-%m-%d").unique()
        raise ModelError(
            f"Dates off the trading calendar reached the model: {format_examples(off)}. Check the "
            "frequency and closed weekdays of the calendar."
        )
    frame = df.assign(_pos=pos.to_numpy(dtype=np.int64)).sort_values(
        ["unique_id", "_pos"], kind="stable"
    )
    codes, ids = pd.factorize(frame["unique_id"], sort=True)
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    ends = np.r_[starts[1:], len(codes)]
    positions = frame["_pos"].to_numpy()
    y = frame["y"].to_numpy(dtype=np.float32, na_value=np.nan)
    cov_values = {c: _column_values(frame[c]) for c in covariates}
    last = positions[ends - 1]
    target: list[np.ndarray] = []
    cov_out: dict[str, list[np.ndarray]] = {c: [] for c in covariates}
    for start, end, stop in zip(starts, ends, last, strict=True):
        p = positions[start:end]
        first = p[0] if max_length is None else max(p[0], stop - max_length + 1)
        keep = p >= first
        at = p[keep] - first
        length = int(stop - first + 1)
        values = np.full(length, np.nan, dtype=np.float32)
        values[at] = y[start:end][keep]
        target.append(values)
        for c, col in cov_values.items():
            filled = np.full(length, np.nan, dtype=col.dtype)
            filled[at] = col[start:end][keep]
            cov_out[c].append(filled)
    return _History(np.asarray(ids), last, target, cov_out)


def _future_covariates(
    X_df: pd.DataFrame, history: _History, grid: _Grid, columns: Sequence[str], h: int
) -> dict[str, list[np.ndarray]]:
    """The future values of ``columns`` over each series' next ``h`` periods (NaN if not given)."""
    future = X_df.assign(_pos=X_df["ds"].map(grid.pos)).dropna(subset=["_pos"])
    future["_pos"] = future["_pos"].astype(np.int64)
    future = future.set_index(["unique_id", "_pos"])
    future = future[~future.index.duplicated(keep="last")]
    wanted = pd.MultiIndex.from_arrays(
        [np.repeat(history.ids, h), (history.last[:, None] + np.arange(1, h + 1)).ravel()]
    )
    rows = future.reindex(wanted)
    out: dict[str, list[np.ndarray]] = {}
    for c in columns:
        values = _column_values(rows[c]).reshape(len(history.ids), h)
        out[c] = list(values)
    return out


# --- quantiles -------------------------------------------------------------------------------


def _wanted_quantiles(levels: Sequence[int]) -> list[float]:
    """The median plus both bounds of every level, rounded so 0.1 matches the trained 0.1."""
    qs = {0.5}
    for level in levels:
        lo = round((100 - level) / 200, 10)
        qs |= {lo, round(1 - lo, 10)}
    return sorted(qs)


def _asked_quantiles(wanted: Sequence[float], trained: Sequence[float]) -> list[float]:
    """What to ask the pipeline for: the wanted quantiles clipped to the trained range."""
    lo, hi = min(trained), max(trained)
    return sorted({min(max(q, lo), hi) for q in wanted} | {0.5})


def _interpolate_quantiles(
    values: np.ndarray, levels: Sequence[float], asked: Sequence[float]
) -> np.ndarray:
    """Quantiles at ``asked`` (inside the range of ``levels``) by linear interpolation."""
    values = np.sort(values, axis=-1)
    out = np.empty((*values.shape[:-1], len(asked)))
    grid = np.asarray(levels, dtype=np.float64)
    for j, q in enumerate(asked):
        upper = int(np.clip(np.searchsorted(grid, q), 1, len(grid) - 1))
        lower = upper - 1
        weight = (q - grid[lower]) / (grid[upper] - grid[lower])
        out[..., j] = (1 - weight) * values[..., lower] + weight * values[..., upper]
    return out


def _stretch_tails(
    values: np.ndarray, asked: Sequence[float], wanted: Sequence[float], trained: Sequence[float]
) -> np.ndarray:
    """Map the pipeline's quantiles (last axis, ``asked``) to ``wanted``, sorted.

    A wanted quantile beyond the trained range is the median plus the median's
    distance to the outermost trained quantile, scaled by ``z(q) / z(q_edge)``.
    """
    values = np.sort(values.astype(np.float64), axis=-1)
    median = values[..., list(asked).index(0.5)]
    lo, hi = min(trained), max(trained)
    z = NormalDist().inv_cdf
    out = np.empty((*values.shape[:-1], len(wanted)))
    for j, q in enumerate(wanted):
        edge = min(max(q, lo), hi)
        at_edge = values[..., list(asked).index(edge)]
        if q == edge or edge == 0.5:
            out[..., j] = at_edge
        else:
            out[..., j] = median + (at_edge - median) * (z(q) / z(edge))
    return out


# --- the models ------------------------------------------------------------------------------


class FoundationForecaster(Forecaster):
    """Common ground of the pretrained models: the calendar grid, intervals, fallback."""

    family: ClassVar[str] = "foundation"
    is_global: ClassVar[bool] = True
    default_model_path: ClassVar[str] = "amazon/chronos-2"

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        context_length: int | None = None,
        batch_size: int = 256,
        n_jobs: int = 1,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        alias: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, alias=alias, **params)
        self.model_path = model_path
        self.context_length = context_length
        self.batch_size = batch_size
        self.n_jobs = n_jobs

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "model_path": self.model_path,
            "context_length": self.context_length,
            "batch_size": self.batch_size,
            "n_jobs": self.n_jobs,
        }

    # -- protocol -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        """Load the pretrained model and keep the history; nothing is trained (zero-shot)."""
        if self.context_length is not None and self.context_length < 1:
            raise ConfigError(
                f"context_length must be a positive number of periods, not {self.context_length}."
            )
        with _torch_threads(self.n_jobs):
            self.pipeline_ = self._load(self.model_path or self.default_model_path)
        extra = [c for c in df.columns if c not in ("unique_id", "ds", "y")]
        self.covariates_ = extra if self.supports_future_covariates else []
        self.train_ = df[["unique_id", "ds", "y", *self.covariates_]].reset_index(drop=True)
        observed = self.train_.loc[self.train_["y"].notna(), "unique_id"].value_counts()
        ids = pd.unique(self.train_["unique_id"])
        self.short_ = {u for u in ids if observed.get(u, 0) < MIN_HISTORY}
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        """Forecast ``h`` periods after each series' last date, with median and intervals."""
        if h < 1:
            raise ConfigError(f"The horizon must be at least one period, not {h}.")
        levels = sorted(levels)
        bad = [lv for lv in levels if not 0 < lv < 100]
        if bad:
            raise ConfigError(f"Interval levels must lie strictly between 0 and 100; got {bad}.")
        cols = [self.alias, *interval_columns(self.alias, levels)]
        frames = []
        long_df = self.train_[~self.train_["unique_id"].isin(self.short_)]
        if len(long_df):
            grid = _Grid(self.train_, self.calendar_, h)
            context = self._context_length(self.pipeline_)
            history = _history(long_df, grid, self.covariates_, context)
            wanted = _wanted_quantiles(levels)
            with _torch_threads(self.n_jobs), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_LONG_HORIZON_WARNING)
                pipeline = self._pipeline_for(h, long_df, grid, X_df)
                # sample-based pipelines (original Chronos) have no fixed quantiles: any is fine
                trained = self._trained_quantiles(pipeline) or wanted
                asked = _asked_quantiles(wanted, trained)
                raw = self._predict_quantiles(pipeline, history, h, X_df, grid, asked)
            values = np.clip(_stretch_tails(raw, asked, wanted, trained), 0.0, None)
            fc = pd.DataFrame(
                {
                    "unique_id": np.repeat(history.ids, h),
                    "ds": grid.dates[(history.last[:, None] + np.arange(h)).ravel()],
                    self.alias: values[..., wanted.index(0.5)].ravel(),
                }
            )
            for level in levels:
                lo = round((100 - level) / 200, 10)
                fc[f"{self.alias}-lo-{level}"] = values[..., wanted.index(lo)].ravel()
                fc[f"{self.alias}-hi-{level}"] = values[
                    ..., wanted.index(round(1 - lo, 10))
                ].ravel()
            frames.append(fc[["unique_id", "ds", *cols]])
        self.fallback_ = set(self.short_)
        if self.short_:
            fb = HistoricAverage(season_length=self.season_length, calendar=self.calendar_)
            short = self.train_[self.train_["unique_id"].isin(self.short_)]
            short_fc = fb.fit(short[["unique_id", "ds", "y"]]).predict(h, levels=levels)
            short_fc.columns = [c.replace(FALLBACK_MODEL, self.alias) for c in short_fc.columns]
            frames.append(short_fc[["unique_id", "ds", *cols]])
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["unique_id", "ds"], ignore_index=True)

    # -- hooks --------------------------------------------------------------------------------
    def _load(self, model_path: str | os.PathLike[str]) -> Any:
        raise NotImplementedError

    def _trained_quantiles(self, pipeline: Any) -> list[float] | None:
        return getattr(pipeline, "quantiles", None)

    def _model_context_length(self, pipeline: Any) -> int:
        return int(pipeline.model_context_length)

    def _context_length(self, pipeline: Any) -> int:
        limit = self._model_context_length(pipeline)
        return min(self.context_length, limit) if self.context_length else limit

    def _pipeline_for(
        self, h: int, df: pd.DataFrame, grid: _Grid, X_df: pd.DataFrame | None
    ) -> Any:
        return self.pipeline_

    def _predict_quantiles(
        self,
        pipeline: Any,
        history: _History,
        h: int,
        X_df: pd.DataFrame | None,
        grid: _Grid,
        asked: list[float],
    ) -> np.ndarray:
        """Quantile forecasts of shape (series, h, len(asked))."""
        raise NotImplementedError


_CHRONOS_OWNERS = {"ChronosBoltPipeline": "chronos_bolt", "Chronos2Pipeline": "chronos2"}


class ChronosForecaster(FoundationForecaster):
    """A model loaded through chronos-forecasting's ``BaseChronosPipeline``."""

    #: the pipeline classes this model can drive
    pipeline_classes: ClassVar[tuple[str, ...]] = ()

    def _load(self, model_path: str | os.PathLike[str]) -> Any:
        pipeline = load_chronos_pipeline(model_path, self.default_model_path)
        kind = type(pipeline).__name__
        if kind not in self.pipeline_classes:
            owner = _CHRONOS_OWNERS.get(kind)
            use = f"; use the model {owner!r} for them" if owner else ""
            raise ModelError(
                f"The weights {os.fspath(model_path)!r} are a {kind} model, which {self.alias!r} "
                f"cannot run{use}."
            )
        return pipeline


@register("chronos_bolt")
class ChronosBolt(ChronosForecaster):
    """Chronos-Bolt: a T5 encoder-decoder over patches, direct multi-step quantiles.

    Trained quantiles 0.1 to 0.9 (wider bounds are stretched, see the module
    docstring) and a 64-period trained horizon; longer horizons are unrolled
    by the pipeline, feeding its own quantiles back in.
    """

    description = "Chronos-Bolt, pretrained and zero-shot (default amazon/chronos-bolt-small)."
    default_model_path = "amazon/chronos-bolt-small"
    # the original, sampling Chronos (chronos-t5-*) answers the same calls
    pipeline_classes = ("ChronosBoltPipeline", "ChronosPipeline")

    def _predict_quantiles(
        self,
        pipeline: Any,
        history: _History,
        h: int,
        X_df: pd.DataFrame | None,
        grid: _Grid,
        asked: list[float],
    ) -> np.ndarray:
        torch = _require("torch", "torch")
        parts = []
        for start in range(0, len(history.target), self.batch_size):
            batch = [torch.from_numpy(t) for t in history.target[start : start + self.batch_size]]
            quantiles, _ = pipeline.predict_quantiles(
                batch, prediction_length=h, quantile_levels=asked
            )
            parts.append(quantiles.numpy())
        return np.concatenate(parts)


@register("chronos2")
class Chronos2(ChronosForecaster):
    """Chronos-2: an encoder with group attention over a series and its covariates.

    Columns of the fitted frame other than ``unique_id, ds, y`` are covariates:
    past values go in as ``past_covariates``; those that ``X_df`` gives for the
    horizon also go in as ``future_covariates`` (NaN where a value is missing,
    which the model reads as unknown). Text columns are categories.

    With ``fine_tune=True`` a copy of the network is fine-tuned on the fitted
    history through ``Chronos2Pipeline.fit`` (``fine_tune_steps`` steps of
    ``fine_tune_batch_size`` windows at ``learning_rate``). It runs at the first
    ``predict`` for a horizon, because the training windows are as long as the
    horizon; the shared pretrained pipeline is left untouched.
    """

    description = (
        "Chronos-2, pretrained, zero-shot, with covariates; optional fine-tuning "
        "(default amazon/chronos-2)."
    )
    default_model_path = "amazon/chronos-2"
    supports_future_covariates = True
    pipeline_classes = ("Chronos2Pipeline",)

    def __init__(
        self,
        *,
        fine_tune: bool = False,
        fine_tune_steps: int = 100,
        fine_tune_batch_size: int = 32,
        learning_rate: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fine_tune = fine_tune
        self.fine_tune_steps = fine_tune_steps
        self.fine_tune_batch_size = fine_tune_batch_size
        self.learning_rate = learning_rate

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        if self.fine_tune:
            params.update(
                fine_tune=True,
                fine_tune_steps=self.fine_tune_steps,
                fine_tune_batch_size=self.fine_tune_batch_size,
                learning_rate=self.learning_rate,
            )
        return params

    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        super().fit(df, static_df)
        self.fine_tuned_: dict[tuple[int, tuple[str, ...]], Any] = {}
        return self

    def _known_future(self, X_df: pd.DataFrame | None) -> list[str]:
        if X_df is None:
            return []
        return [c for c in self.covariates_ if c in X_df.columns]

    def _inputs(
        self,
        history: _History,
        future: dict[str, list[np.ndarray]] | None,
        known_future: Sequence[str],
    ) -> list[Any]:
        """Plain tensors without covariates, else the dicts of ``Chronos2Pipeline.predict``."""
        if not self.covariates_:
            torch = _require("torch", "torch")
            return [torch.from_numpy(t) for t in history.target]
        inputs = []
        for i, target in enumerate(history.target):
            item: dict[str, Any] = {
                "target": target,
                "past_covariates": {c: history.covariates[c][i] for c in self.covariates_},
            }
            if known_future:
                # None marks a covariate as known ahead without giving values (fine-tuning)
                item["future_covariates"] = {
                    c: None if future is None else future[c][i] for c in known_future
                }
            inputs.append(item)
        return inputs

    def _pipeline_for(
        self, h: int, df: pd.DataFrame, grid: _Grid, X_df: pd.DataFrame | None
    ) -> Any:
        if not self.fine_tune:
            return self.pipeline_
        known_future = self._known_future(X_df)
        key = (h, tuple(known_future))
        if key not in self.fine_tuned_:
            # the whole history: fine-tuning draws windows from all of it
            history = _history(df, grid, self.covariates_, None)
            inputs = self._inputs(history, None, known_future)
            with tempfile.TemporaryDirectory(prefix="trendcast-chronos2-") as tmp:
                try:
                    tuned = self.pipeline_.fit(
                        inputs,
                        prediction_length=h,
                        context_length=self._context_length(self.pipeline_),
                        learning_rate=self.learning_rate,
                        num_steps=self.fine_tune_steps,
                        batch_size=self.fine_tune_batch_size,
                        output_dir=tmp,
                        remove_printer_callback=True,
                        disable_tqdm=True,
                        logging_strategy="no",
                    )
                except ValueError as exc:
                    if "empty after filtering" not in str(exc):
                        raise
                    raise ModelError(
                        f"Fine-tuning Chronos-2 for a horizon of {h} needs series with at least "
                        f"{2 * h} periods of history; none is that long. Forecast zero-shot "
                        "(fine_tune=False) or shorten the horizon."
                    ) from exc
            tuned.model.eval()
            self.fine_tuned_[key] = tuned
        return self.fine_tuned_[key]

    def _predict_quantiles(
        self,
        pipeline: Any,
        history: _History,
        h: int,
        X_df: pd.DataFrame | None,
        grid: _Grid,
        asked: list[float],
    ) -> np.ndarray:
        known_future = self._known_future(X_df)
        future = None
        if X_df is not None and known_future:
            future = _future_covariates(X_df, history, grid, known_future, h)
        quantiles, _ = pipeline.predict_quantiles(
            self._inputs(history, future, known_future),
            prediction_length=h,
            quantile_levels=asked,
            batch_size=self.batch_size,
            context_length=self._context_length(pipeline),
        )
        # one (variates=1, h, quantiles) tensor per series
        return np.stack([q[0].numpy() for q in quantiles])


@register("timesfm")
class TimesFM(FoundationForecaster):
    """TimesFM 3: a decoder-only transformer over patches, Google's foundation model.

    Trained quantiles 0.1 to 0.9 (wider bounds are stretched, see the module
    docstring); one pass for any horizon, up to 15,360 periods of context.
    Univariate here: covariate columns are not used.
    """

    description = "TimesFM 3, pretrained and zero-shot (default google/timesfm-3.0-pytorch)."
    default_model_path = "google/timesfm-3.0-pytorch"

    def _load(self, model_path: str | os.PathLike[str]) -> Any:
        return load_timesfm(model_path, self.default_model_path)

    def _trained_quantiles(self, pipeline: Any) -> list[float] | None:
        return list(pipeline.config.quantiles)

    def _model_context_length(self, pipeline: Any) -> int:
        return int(pipeline.global_context)

    def _predict_quantiles(
        self,
        pipeline: Any,
        history: _History,
        h: int,
        X_df: pd.DataFrame | None,
        grid: _Grid,
        asked: list[float],
    ) -> np.ndarray:
        # the forecaster batches by its config; the loaded one is shared, so set it per call
        pipeline.config = replace(pipeline.config, per_core_batch_size=self.batch_size)
        outputs = pipeline.predict_batch(history.target, horizon=h, return_quantiles=True)
        trained = self._trained_quantiles(pipeline) or asked
        values = np.stack([out.quantiles for out in outputs])
        return _interpolate_quantiles(values, trained, asked)
