"""Deep networks trained globally across products on CPU, through neuralforecast.

``lstm`` (an LSTM encoder with an MLP decoder), ``nhits`` (N-HiTS: stacks of
MLPs reading the history at several rates) and ``patchtst`` (PatchTST: a
Transformer over patches of about a week) each learn one network from the
history of every product, trained for a few hundred steps on the CPU.

Quantiles, not conformal offsets: the network is trained with a multi-quantile
loss at the median and the bounds of ``levels``; the point forecast is the
median. Quantiles are rearranged per row so they never cross, and floored at
zero. The levels a network can serve are fixed when it is trained: the model's
``levels`` hyperparameter (default 80 and 95), plus, when the network is
trained at predict time, the levels that predict asked for. Asking a trained
network for any other level raises :class:`~trendcast.exceptions.ModelError`.

A network forecasts a fixed number of periods. With ``horizon`` given, ``fit``
trains for it; without, the first ``predict(h)`` trains for ``h``. A trained
network serves any shorter horizon (its first periods); a longer one trains
another network, and every network is kept, per horizon.

The last ``h`` periods of each series are held out for validation and early
stopping, so a network learns from the history before them (it still reads
them when forecasting). Series shorter than ``input_size + 2 * h`` periods
(one training window plus the validation window) are forecast by
HistoricAverage; ``fallback_`` names them. After training, ``history_`` holds
the loss curves (``step, train_loss, valid_loss``).

The networks run on the integer time index of the trading calendar, so closed
weekdays are stepped over. Training is seeded (``random_seed``) and runs on
``n_jobs`` torch threads: the same data and settings give the same forecasts.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import MissingDependencyError, ModelError
from trendcast.models.base import Forecaster, interval_columns
from trendcast.models.registry import register
from trendcast.models.statistical import FALLBACK_MODEL, HistoricAverage, _Grid

__all__ = ["NeuralModel", "LSTMModel", "NHITSModel", "PatchTSTModel"]

#: name of the network inside neuralforecast's output columns
_NET = "net"
#: seasons longer than this (52 weeks) make a poor default input window
_MAX_SEASON = 24
_LIGHTNING_LOGGERS = (
    "pytorch_lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "lightning.fabric",
)


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, extra="ai", purpose="the neural models") from None


def _import_torch() -> Any:
    if "torch" not in sys.modules:
        # torch's idle OpenMP threads spin by default: on a machine busy with other work
        # (pytest workers, a second model) two spinning threads ran these small networks 5 to
        # 50 times slower than one. Sleeping threads cost nothing measurable here.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return _require("torch", "torch")


@contextmanager
def _quiet_cpu_training(n_jobs: int) -> Iterator[None]:
    """Train on ``n_jobs`` torch threads without Lightning's banners and expected warnings.

    The thread count and logger levels are process-wide: both are restored afterwards.
    """
    torch = _import_torch()
    threads = torch.get_num_threads()
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    torch.set_num_threads(n_jobs if n_jobs > 0 else os.cpu_count() or 1)
    try:
        for lg in loggers:
            # "GPU available: False", "Seed set to 0"... on every Trainer: noise in a CLI
            lg.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # batches are built in the main process on purpose (small windows, few cores);
            # Lightning suggests worker processes on machines with more than two cores
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates; not ours to fix
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning
            )
            yield
    finally:
        torch.set_num_threads(threads)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@dataclass
class _Network:
    """A network trained for ``h`` periods and the quantile levels it can serve."""

    h: int
    levels: tuple[int, ...]
    nf: Any  # the fitted NeuralForecast; None when every series was too short
    fallback: set[str]
    history: pd.DataFrame = field(repr=False)


def _loss_history(net: Any) -> pd.DataFrame:
    train = pd.DataFrame(net.train_trajectories, columns=["step", "train_loss"])
    valid = pd.DataFrame(net.valid_trajectories, columns=["step", "valid_loss"])
    history = train.merge(valid, on="step", how="outer").sort_values("step", ignore_index=True)
    history["step"] = history["step"].astype(np.int64)
    return history


def _ordered_quantiles(fc: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """Sort each row's quantiles (lo-95, lo-80, median, hi-80, hi-95) and floor them at zero.

    Rearranging crossed quantiles into order never makes them worse estimates
    (Chernozhukov, Fernández-Val and Galichon, 2010).
    """
    cols = [f"{_NET}-lo-{lv}" for lv in sorted(levels, reverse=True)]
    cols += [f"{_NET}-median"] + [f"{_NET}-hi-{lv}" for lv in sorted(levels)]
    fc = fc.copy()
    fc[cols] = np.clip(np.sort(fc[cols].to_numpy(dtype=float), axis=1), 0.0, None)
    return fc


class NeuralModel(Forecaster):
    """A deep network over all series, trained with a multi-quantile loss.

    Parameters
    ----------
    n_jobs
        Torch threads while training and forecasting (``-1``: all cores).
    horizon
        Periods to train for at ``fit``; ``None`` trains at the first ``predict(h)``.
    levels
        Prediction-interval levels the network learns quantiles for.
    input_size
        Periods the network reads; default four seasons and at least ``h``.
    hidden_size
        Width of the layers; default per network (32 LSTM, 256 N-HiTS, 64 PatchTST).
    max_steps, learning_rate, batch_size, windows_batch_size
        Training budget: Adam steps, step size, series and windows per batch.
    val_check_steps, early_stop_patience_steps
        Validation loss every that many steps; stop after that many checks without
        improvement (``-1``: never stop early).
    scaler_type
        neuralforecast's per-window scaler of each series (``robust``, ``standard``...).
    random_seed
        Seed of weights and batch sampling.

    Examples
    --------
    >>> model = NHITSModel(season_length=7, max_steps=100, levels=(80, 95))  # doctest: +SKIP
    >>> model.fit(panel).predict(28, levels=[80, 95])  # doctest: +SKIP
    """

    family: ClassVar[str] = "neural"
    supports_intervals: ClassVar[bool] = True
    is_global: ClassVar[bool] = True
    #: defaults of ``hidden_size``, ``scaler_type`` and ``windows_batch_size``, per network
    default_hidden_size: ClassVar[int] = 64
    default_scaler_type: ClassVar[str] = "robust"
    default_windows_batch_size: ClassVar[int] = 256

    def __init__(
        self,
        *,
        season_length: int = 7,
        calendar: TradingCalendar | None = None,
        n_jobs: int = 1,
        horizon: int | None = None,
        levels: Sequence[int] = (80, 95),
        input_size: int | None = None,
        hidden_size: int | None = None,
        max_steps: int = 250,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        windows_batch_size: int | None = None,
        val_check_steps: int = 25,
        early_stop_patience_steps: int = 4,
        scaler_type: str | None = None,
        random_seed: int = 0,
        **params: Any,
    ) -> None:
        super().__init__(season_length=season_length, calendar=calendar, **params)
        self.n_jobs = n_jobs
        self.horizon = horizon
        self.levels = tuple(levels)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.windows_batch_size = windows_batch_size
        self.val_check_steps = val_check_steps
        self.early_stop_patience_steps = early_stop_patience_steps
        self.scaler_type = scaler_type
        self.random_seed = random_seed

    def get_params(self) -> dict[str, Any]:
        names = (
            "n_jobs horizon levels input_size hidden_size max_steps learning_rate batch_size "
            "windows_batch_size val_check_steps early_stop_patience_steps scaler_type random_seed"
        )
        return {**super().get_params(), **{n: getattr(self, n) for n in names.split()}}

    # -- sizes --------------------------------------------------------------------------------
    def input_size_for(self, h: int) -> int:
        """Periods the network reads: ``input_size``, else four seasons and at least ``h``.

        Without a short season (weekly data's 52 weeks) the default is ``2 * h``.
        """
        if self.input_size:
            return int(self.input_size)
        if 1 < self.season_length <= _MAX_SEASON:
            return max(4 * self.season_length, h)
        return 2 * h

    def min_length(self, h: int) -> int:
        """Fewest periods a series needs: one training window plus the validation window."""
        return self.input_size_for(h) + 2 * h

    @property
    def width(self) -> int:
        return int(self.hidden_size or self.default_hidden_size)

    # -- the network --------------------------------------------------------------------------
    def _network(self, h: int, input_size: int, loss: Any, common: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _common_kwargs(self, h: int, input_size: int, loss: Any) -> dict[str, Any]:
        steps = max(int(self.max_steps), 1)
        return {
            "h": h,
            "input_size": input_size,
            "loss": loss,
            "max_steps": steps,
            "learning_rate": self.learning_rate,
            "val_check_steps": min(int(self.val_check_steps), steps),
            "early_stop_patience_steps": self.early_stop_patience_steps,
            "batch_size": self.batch_size,
            "windows_batch_size": self.windows_batch_size or self.default_windows_batch_size,
            "scaler_type": self.scaler_type or self.default_scaler_type,
            "random_seed": self.random_seed,
            "alias": _NET,
            # Lightning trainer: CPU, silent, nothing written to disk
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "num_sanity_val_steps": 0,
        }

    def _train(self, h: int, levels: Sequence[int]) -> _Network:
        levels = tuple(sorted(set(levels)))
        lengths = self.train_.groupby("unique_id").size()
        need = self.min_length(h)
        fallback = set(lengths.index[lengths < need])
        empty = pd.DataFrame(columns=["step", "train_loss", "valid_loss"])
        if len(fallback) == len(lengths):
            return _Network(h, levels, None, fallback, empty)
        _import_torch()
        core = _require("neuralforecast", "neuralforecast")
        losses = _require("neuralforecast.losses.pytorch", "neuralforecast")
        long_df = self.train_[~self.train_["unique_id"].isin(fallback)]
        idf = self.grid_.to_int(long_df).sort_values(["unique_id", "ds"], ignore_index=True)
        input_size = self.input_size_for(h)
        with _quiet_cpu_training(self.n_jobs):
            loss = losses.MQLoss(level=list(levels))
            net = self._network(h, input_size, loss, self._common_kwargs(h, input_size, loss))
            nf = core.NeuralForecast(models=[net], freq=1)
            nf.fit(idf, val_size=h)
        return _Network(h, levels, nf, fallback, _loss_history(nf.models[0]))

    def _network_for(self, h: int, levels: Sequence[int]) -> _Network:
        """The shortest trained network covering ``h`` periods; trains one if there is none."""
        covering = sorted((k, n) for k, n in self.networks_.items() if k >= h)
        if not covering:
            network = self._train(h, [*self.levels, *levels])
            self.networks_[h] = network
            self.history_ = network.history
            return network
        for _, network in covering:
            if set(levels) <= set(network.levels):
                return network
        network = covering[0][1]
        missing = sorted(set(levels) - set(network.levels))
        raise ModelError(
            f"The {self.alias} network for {network.h} periods was trained for the levels "
            f"{list(network.levels)}, not {missing}: a quantile network only serves the levels it "
            f"was trained for. Create the model with levels={tuple(sorted({*levels, *self.levels}))}"
            " (or fit again without a fixed horizon) to get them."
        )

    # -- protocol -----------------------------------------------------------------------------
    def update(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        """New history for the trained networks: forecasts start at its end, no retraining."""
        if not getattr(self, "networks_", None):
            return self.fit(df, static_df=static_df)
        self.train_ = df[["unique_id", "ds", "y"]]
        network = next(iter(self.networks_.values()))
        self.update_df_: pd.DataFrame | None = _Grid(self.train_, self.calendar_, 0).to_int(
            self.train_[~self.train_["unique_id"].isin(network.fallback)]
        )
        return self

    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        self.update_df_ = None
        self.train_ = df[["unique_id", "ds", "y"]]
        self.grid_ = _Grid(self.train_, self.calendar_, 0)
        self.networks_: dict[int, _Network] = {}
        self.history_ = pd.DataFrame(columns=["step", "train_loss", "valid_loss"])
        self.fallback_: set[str] = set()
        if self.horizon:
            network = self._train(int(self.horizon), self.levels)
            self.networks_[network.h] = network
            self.history_ = network.history
            self.fallback_ = set(network.fallback)
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        levels = sorted(levels)
        network = self._network_for(h, levels)
        cols = [self.alias, *interval_columns(self.alias, levels)]
        frames = []
        if network.nf is not None:
            with _quiet_cpu_training(self.n_jobs):
                fc = network.nf.predict(df=self.update_df_)
            fc = fc.sort_values(["unique_id", "ds"], ignore_index=True)
            fc = fc[fc.groupby("unique_id").cumcount() < h]
            fc = _ordered_quantiles(fc, network.levels)
            fc = fc.rename(columns=lambda c: c.replace(_NET, self.alias, 1))
            fc = fc.rename(columns={f"{self.alias}-median": self.alias})
            fc["unique_id"] = fc["unique_id"].astype(self.train_["unique_id"].dtype)
            fc["ds"] = _Grid(self.train_, self.calendar_, h).to_dates(fc["ds"])
            frames.append(fc[["unique_id", "ds", *cols]])
        self.fallback_ = set(network.fallback)
        if network.fallback:
            short = self.train_[self.train_["unique_id"].isin(network.fallback)]
            fb = HistoricAverage(season_length=self.season_length, calendar=self.calendar_)
            short_fc = fb.fit(short).predict(h, levels=levels)
            short_fc.columns = [c.replace(FALLBACK_MODEL, self.alias) for c in short_fc.columns]
            frames.append(short_fc[["unique_id", "ds", *cols]])
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["unique_id", "ds"], ignore_index=True)

    def _fit_window(self, train: pd.DataFrame, static_df: pd.DataFrame | None, first: bool) -> Self:
        """A backtest trains one network, on the data before the first cutoff.

        Later windows give the network the history up to their own cutoff (as
        :meth:`update` does) without retraining, which is neuralforecast's own
        default (``refit=False``): no window sees data after its cutoff, and a
        backtest costs one training instead of one per window. ``refit=True`` in
        the model's parameters retrains at every cutoff instead.
        """
        if first or self.params.get("refit"):
            return self.fit(train[["unique_id", "ds", "y"]], static_df=static_df)
        return self.update(train[["unique_id", "ds", "y"]], static_df=static_df)


@register("lstm")
class LSTMModel(NeuralModel):
    description = "Global LSTM over all products (encoder + MLP decoder), quantile loss; CPU."
    # on the demo, per-window standard scaling gave steadier LSTM quantiles than robust scaling
    default_hidden_size = 32
    default_scaler_type = "standard"
    default_windows_batch_size = 128

    def _network(self, h: int, input_size: int, loss: Any, common: dict[str, Any]) -> Any:
        models = _require("neuralforecast.models", "neuralforecast")
        return models.LSTM(
            encoder_n_layers=self.params.get("encoder_n_layers", 2),
            encoder_hidden_size=self.width,
            decoder_hidden_size=self.width,
            decoder_layers=self.params.get("decoder_layers", 2),
            **common,
        )


@register("nhits")
class NHITSModel(NeuralModel):
    description = "Global N-HiTS over all products (multi-rate MLP stacks), quantile loss; CPU."
    default_hidden_size = 256

    def _network(self, h: int, input_size: int, loss: Any, common: dict[str, Any]) -> Any:
        models = _require("neuralforecast.models", "neuralforecast")
        return models.NHITS(
            mlp_units=3 * [[self.width, self.width]],
            n_pool_kernel_size=self.params.get("n_pool_kernel_size", [2, 2, 1]),
            n_freq_downsample=self.params.get("n_freq_downsample", [4, 2, 1]),
            dropout_prob_theta=self.params.get("dropout", 0.0),
            **common,
        )


@register("patchtst")
class PatchTSTModel(NeuralModel):
    description = (
        "Global PatchTST over all products (Transformer on weekly patches), quantile loss; CPU."
    )

    def patch_len(self) -> int:
        """Periods per patch: one season (a trading week) when the season is short, else 8."""
        if self.params.get("patch_len"):
            return int(self.params["patch_len"])
        return self.season_length if 1 < self.season_length <= _MAX_SEASON else 8

    def _network(self, h: int, input_size: int, loss: Any, common: dict[str, Any]) -> Any:
        models = _require("neuralforecast.models", "neuralforecast")
        patch = self.patch_len()
        return models.PatchTST(
            encoder_layers=self.params.get("encoder_layers", 2),
            # attention heads must divide the width
            n_heads=math.gcd(int(self.params.get("n_heads", 4)), self.width),
            hidden_size=self.width,
            linear_hidden_size=2 * self.width,
            dropout=self.params.get("dropout", 0.1),
            fc_dropout=self.params.get("dropout", 0.1),
            patch_len=patch,
            stride=max(patch // 2, 1),
            **common,
        )
