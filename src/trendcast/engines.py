"""Where the forecasting runs: this machine, or a Dask, Ray or Spark cluster.

trendcast schedules nothing itself. The statistical family goes through
statsforecast on Fugue, LightGBM through mlforecast's ``DistributedMLForecast``
with ``DaskLGBMForecast``, and the other families run as they do locally on
partitions of the products handed out by Dask.

=========  ============================================================================
engine     model families
=========  ============================================================================
local      all of them, in this process (``--jobs`` processes for statsforecast)
dask       all of them: baseline, statistical and intermittent through statsforecast +
           Fugue; ``lightgbm`` trained on the workers by LightGBM's Dask interface
           (``DaskLGBMForecast``) and predicted on the driver from the gathered booster;
           ``linear``, the neural networks and the foundation models per partition of
           the products (a global model is then trained once per partition, on its
           products only); ``auto`` on the driver, its candidates as above
ray        baseline, statistical, intermittent and ``auto`` without a time budget
spark      the same as ray
=========  ============================================================================

An engine connects to ``address`` when given (a Dask scheduler ``tcp://host:8786``,
a Ray address ``ray://host:10001`` or ``auto``, a Spark master URL such as
``spark://host:7077``); otherwise it starts a local one with ``workers`` processes
(``LocalCluster``, ``ray.init(num_cpus=...)``, ``local[N]``).

Examples
--------
>>> from trendcast.engines import Engine
>>> with Engine("dask", workers=2) as engine:          # doctest: +SKIP
...     fc = tc.forecast(data, horizon=28, model="auto_ets", engine=engine)
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self

import numpy as np
import pandas as pd

from trendcast.exceptions import ConfigError, MissingDependencyError
from trendcast.models.base import Forecaster

__all__ = [
    "ENGINES",
    "FUGUE_FAMILIES",
    "Engine",
    "PartitionedForecaster",
    "active_engine",
    "as_engine",
    "distribute",
    "engine_scope",
]

ENGINES: tuple[str, ...] = ("local", "dask", "ray", "spark")
#: the families statsforecast runs, and so every engine through Fugue
FUGUE_FAMILIES: tuple[str, ...] = ("baseline", "statistical", "intermittent")

# why Ray and Spark run only the statistical family, named in their refusals
_LIMITS = {
    "ray": (
        "LightGBM on Ray needs lightgbm_ray, which pulls CUDA packages, and the linear, neural "
        "and foundation models have no Ray runner in trendcast"
    ),
    "spark": (
        "LightGBM on Spark needs SynapseML's jars from Maven, and the linear, neural and "
        "foundation models have no Spark runner in trendcast"
    ),
}
_PACKAGES = {
    "dask": ("distributed", "fugue_dask", "dask.dataframe"),
    "ray": ("ray", "ray.data", "fugue_ray"),
    "spark": ("pyspark", "fugue_spark"),
}

_ACTIVE: ContextVar[Engine | None] = ContextVar("trendcast_engine", default=None)


def active_engine() -> Engine | None:
    """The distributed engine the current forecast or backtest runs on (None: local)."""
    return _ACTIVE.get()


class Engine:
    """A connection to a distributed engine, or to none (``local``).

    Use it as a context manager (or ``start()`` / ``close()``): a cluster the engine
    started itself is shut down on exit, one it connected to is left running.

    Parameters
    ----------
    name
        ``local``, ``dask``, ``ray`` or ``spark``.
    address
        The cluster to connect to; None starts a local one.
    workers
        Worker processes of a local cluster (``--jobs``).
    """

    def __init__(self, name: str = "local", address: str | None = None, workers: int = 2) -> None:
        if name not in ENGINES:
            raise ConfigError(f"Unknown engine {name!r}. Choose one of: {', '.join(ENGINES)}.")
        if name == "local" and address:
            raise ConfigError(
                "--engine-address needs a distributed engine: --engine dask, ray or spark."
            )
        if workers < 1:
            raise ConfigError(f"An engine needs at least one worker, not {workers}.")
        self.name = name
        self.address = address
        self.workers = workers
        self.started = False
        self._owned: list[Any] = []
        self.client: Any = None  # dask.distributed.Client
        self.fugue: Any = None  # the Fugue execution engine over the cluster

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def describe(self) -> str:
        where = f"at {self.address}" if self.address else f"local, {self.workers} worker(s)"
        return "local" if self.is_local else f"{self.name} ({where})"

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, address={self.address!r}, workers={self.workers})"

    # -- what runs where ----------------------------------------------------------------------
    def check_models(self, names: Sequence[str], time_budget: float | None = None) -> None:
        """Refuse, before any work, models this engine cannot run (the message says why)."""
        if self.name not in _LIMITS:
            return
        from trendcast.models.registry import get_model_class

        for name in names:
            family = get_model_class(name).family
            if family in FUGUE_FAMILIES:
                continue
            if name == "auto" and time_budget is None:
                continue  # without a budget auto chooses among the statistical models
            what = (
                "auto with a time budget (it then tries every family)"
                if name == "auto"
                else f"{name!r} ({family})"
            )
            raise ConfigError(
                f"The {self.name} engine runs the statistical models only (families "
                f"{', '.join(FUGUE_FAMILIES)}, through statsforecast and Fugue), not {what}: "
                f"{_LIMITS[self.name]}. Use --engine dask, which runs every model family, or "
                "--engine local."
            )

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        """Connect to the cluster, or start a local one; a no-op when already started."""
        if self.started or self.is_local:
            self.started = True
            return self
        _require(self.name)
        getattr(self, f"_start_{self.name}")()
        self.started = True
        return self

    def close(self) -> None:
        """Shut down what this engine started; leave a cluster it connected to running."""
        while self._owned:
            stop = self._owned.pop()
            try:
                stop()
            except Exception:  # a cluster that is already gone needs no shutdown
                logging.getLogger(__name__).debug("engine shutdown failed", exc_info=True)
        self.client = self.fugue = None
        self.started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_dask(self) -> None:
        from distributed import Client, LocalCluster
        from fugue import make_execution_engine

        if self.address:
            self.client = Client(self.address)
        else:
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # the scheduler serves its metrics anyway, by default on port 8787: take a
                # free local port, so that two clusters on one machine do not collide
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
            self._owned.append(cluster.close)
            self.client = Client(cluster)
            self.client.run(_quiet_worker)
        self._owned.append(self.client.close)
        self.fugue = make_execution_engine(self.client)

    def _start_ray(self) -> None:
        import ray
        from fugue import make_execution_engine

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._owned.append(ray.shutdown)
        self.fugue = make_execution_engine("ray")

    def _start_spark(self) -> None:
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise ConfigError(
                "The spark engine needs Java (17 or newer): install a JDK and put `java` on the "
                "PATH or set JAVA_HOME."
            )
        from fugue import make_execution_engine
        from pyspark.sql import SparkSession

        # the executors must run this interpreter, with trendcast's libraries
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = (
            SparkSession.builder.appName("trendcast")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        if self.address:
            builder = builder.master(self.address)
        else:
            builder = builder.master(f"local[{self.workers}]").config(
                "spark.sql.shuffle.partitions", str(2 * self.workers)
            )
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        self._owned.append(session.stop)
        self.fugue = make_execution_engine(session)

    # -- the work -----------------------------------------------------------------------------
    @property
    def n_partitions(self) -> int:
        """Partitions of the products for the per-partition families: one per Dask worker."""
        if self.client is not None:
            return max(len(self.client.scheduler_info(n_workers=-1)["workers"]), 1)
        return self.workers

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once (worker threads, executor cores, CPUs)."""
        try:
            if self.client is not None:
                workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
                return max(sum(int(w.get("nthreads", 1)) for w in workers), 1)
            if self.name == "spark":
                from pyspark.sql import SparkSession

                session = SparkSession.getActiveSession()
                if session is not None:
                    return max(int(session.sparkContext.defaultParallelism), 1)
            if self.name == "ray":
                import ray

                return max(int(ray.cluster_resources().get("CPU", self.workers)), 1)
        except Exception:  # a cluster that cannot say: fall back on the local worker count
            logging.getLogger(__name__).debug("could not count the cluster's slots", exc_info=True)
        return self.workers

    def statsforecast(self, sf: Any, method: str, df: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
        """``sf.forecast`` or ``sf.cross_validation`` on the cluster, through Fugue.

        The products are dealt into a few coarse partitions (whole products, about two
        per slot of the cluster), and each partition runs one ordinary statsforecast call:
        one task per product, as statsforecast's own Fugue backend makes, costs more in
        scheduling than the small models cost to fit. Forecasts keep float64, so they
        equal the local engine's; ``y`` of a backtest is taken back from ``df`` exactly.
        """
        import fugue.api as fa
        from triad import Schema

        frame = df.assign(unique_id=df["unique_id"].astype(str))
        params = {"models": sf.models, "freq": sf.freq, "method": method, "kwargs": kwargs}
        # the output's schema, from one product run here (the same code the partitions run)
        first = frame[frame["unique_id"] == frame["unique_id"].iloc[0]]
        schema = Schema(_statsforecast_part(first, **params))
        n_parts = max(1, min(frame["unique_id"].nunique(), 2 * self.slots))
        spec: dict[str, Any] | None = {"by": ["unique_id"], "algo": "coarse", "num": n_parts}
        data: Any = frame
        if self.client is not None:
            # Dask: cut the (sorted) panel between products into partitions up front, so
            # Fugue maps over them as they are instead of shuffling every row by product
            import dask.dataframe as dd

            ordered = frame.sort_values(["unique_id", "ds"], kind="stable").set_index("unique_id")
            data = dd.from_pandas(ordered, npartitions=n_parts, sort=True).reset_index()
            spec = None
        with fa.engine_context(self.fugue), warnings.catch_warnings():
            # Fugue's Ray engine sets Ray options Ray has renamed; not ours to fix
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(fugue_)?ray")
            out = fa.as_pandas(
                fa.transform(
                    data, _statsforecast_part, schema=schema, params=params, partition=spec
                )
            )
        out["unique_id"] = out["unique_id"].astype(str).astype(df["unique_id"].dtype)
        for col in out.columns:
            if col in ("ds", "cutoff"):
                out[col] = out[col].astype(np.int64)
            elif col != "unique_id":
                out[col] = out[col].to_numpy(dtype=np.float64, na_value=np.nan)
        if "y" in out.columns:
            exact = df[["unique_id", "ds", "y"]]
            out = out.drop(columns="y").merge(exact, on=["unique_id", "ds"], how="left")
            out = out[[*out.columns[:3], "y", *out.columns[3:-1]]]
        key = ["unique_id", "ds", "cutoff"] if "cutoff" in out.columns else ["unique_id", "ds"]
        return out.sort_values(key, ignore_index=True)

    def mlforecast(self, models: dict[str, Any], **kwargs: Any) -> DaskMLForecast:
        """An ``MLForecast`` look-alike whose training runs on the Dask workers."""
        if self.name != "dask":
            raise ConfigError(
                f"The {self.name} engine cannot train LightGBM: {_LIMITS[self.name]}."
            )
        return DaskMLForecast(self, models, **kwargs)

    def map_partitions(self, task: Any, args: list[tuple[Any, ...]]) -> list[Any]:
        """``task(*a)`` for each ``a`` in ``args`` on the Dask workers, results in order."""
        futures = self.client.map(task, *zip(*args, strict=True), pure=False)
        return list(self.client.gather(futures))


def _statsforecast_part(df: pd.DataFrame, *, models, freq, method, kwargs) -> pd.DataFrame:  # noqa: ANN001
    """One partition's products through one local statsforecast call (runs on a worker).

    The keyword parameters carry no annotations: Fugue reads them and refuses types it
    does not know.
    """
    from statsforecast import StatsForecast

    from trendcast.models.statistical import remember_normal_quantiles

    remember_normal_quantiles()
    sf = StatsForecast(models=models, freq=freq, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        out = getattr(sf, method)(df=df, **kwargs)
    out = out.reset_index() if "unique_id" not in out.columns else out
    out["unique_id"] = out["unique_id"].astype(str)
    return out


def _quiet_worker() -> None:
    """On the workers of a cluster trendcast started: Fugue's Dask groupby warns about a
    pandas deprecation on every task; it is Fugue's to fix, not the user's."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"dask\.dataframe")


def _require(name: str) -> None:
    import importlib

    for module in _PACKAGES[name]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(
                module.split(".")[0], extra=name, purpose=f"--engine {name}"
            ) from None


def as_engine(engine: Engine | str | None, workers: int = 2) -> Engine:
    """``engine`` as an :class:`Engine` (a name gets ``workers`` local workers); not started."""
    if isinstance(engine, Engine):
        return engine
    return Engine(engine or "local", workers=max(workers, 1))


@contextmanager
def engine_scope(engine: Engine | str | None, workers: int = 2) -> Iterator[Engine | None]:
    """Run the enclosed forecasting on ``engine`` (a name or an :class:`Engine`).

    A name starts the engine (with ``workers`` local workers) for the scope and shuts
    it down after; an :class:`Engine` started by the caller stays up. Yields the active
    engine, or None for ``local``.
    """
    session = as_engine(engine, workers)
    if session.is_local:
        yield None
        return
    owned = not session.started
    session.start()
    token = _ACTIVE.set(session)
    try:
        yield session
    finally:
        _ACTIVE.reset(token)
        if owned:
            session.close()


def distribute(model: Any) -> Any:
    """``model`` ready for the active engine: itself where it distributes natively
    (statsforecast models, LightGBM, auto), else wrapped to run per partition of the
    products on Dask. Without an active engine the model is returned as it is."""
    engine = active_engine()
    if engine is None or model.family in FUGUE_FAMILIES or model.alias in ("lightgbm", "auto"):
        return model
    return PartitionedForecaster(model, engine.n_partitions)


# -- LightGBM on Dask --------------------------------------------------------------------------

_EPOCH = pd.Timestamp("2000-01-01")


class DaskMLForecast:
    """``fit`` and ``cross_validation`` of ``mlforecast.MLForecast`` with the training on Dask.

    ``fit`` trains a ``DaskLGBMForecast`` on the workers (data-parallel LightGBM) and
    returns the local ``MLForecast`` of :meth:`DistributedMLForecast.to_local`, so
    prediction, pickling and feature importance work as they do locally.
    """

    def __init__(self, engine: Engine, models: dict[str, Any], **kwargs: Any) -> None:
        self.engine = engine
        self.models = models
        self.kwargs = kwargs
        self.kwargs.pop("num_threads", None)

    def _distributed(self, freq: int | str = 1) -> Any:
        import lightgbm as lgb
        from mlforecast.distributed import DistributedMLForecast
        from mlforecast.distributed.models.dask.lgb import DaskLGBMForecast

        models = {}
        for name, model in self.models.items():
            if not isinstance(model, lgb.LGBMRegressor):
                raise ConfigError(f"Only LightGBM trains on Dask, not {type(model).__name__}.")
            params = {k: v for k, v in model.get_params().items() if k != "n_jobs"}
            models[name] = DaskLGBMForecast(client=self.engine.client, **params)
        return DistributedMLForecast(
            models=models,
            num_partitions=self.engine.n_partitions,
            engine=self.engine.fugue,
            lag_transforms_namer=_feature_name,
            **{**self.kwargs, "freq": freq},
        )

    def _frame(self, df: pd.DataFrame) -> Any:
        import dask
        import dask.dataframe as dd

        # keep the ids' dtype: Dask would turn them into Arrow strings
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(df, npartitions=self.engine.n_partitions, sort=False)

    def fit(self, df: pd.DataFrame, static_features: list[str] | None = None) -> Any:
        dist = self._distributed()
        with _quiet_lightgbm():
            dist.fit(self._frame(df), static_features=static_features)
        return dist.to_local()

    def cross_validation(
        self,
        df: pd.DataFrame,
        n_windows: int,
        h: int,
        step_size: int | None = None,
        static_features: list[str] | None = None,
    ) -> pd.DataFrame:
        # DistributedMLForecast's backtest types its cutoffs as datetimes: run it on days
        # counted from an epoch (lags are positional, so the features are the same)
        days = df.assign(ds=_EPOCH + pd.to_timedelta(df["ds"], unit="D"))
        dist = self._distributed(freq="D")
        with _quiet_lightgbm():
            lazy = dist.cross_validation(
                self._frame(days),
                n_windows=n_windows,
                h=h,
                step_size=step_size,
                static_features=static_features,
            )
            cv = self.engine.client.compute(lazy).result()
        out = pd.DataFrame({"unique_id": cv["unique_id"].astype(str).to_numpy()})
        for col in ("ds", "cutoff"):
            stamps = pd.to_datetime(cv[col].astype("datetime64[ns]")).to_numpy()
            out[col] = ((stamps - _EPOCH.to_datetime64()) // np.timedelta64(1, "D")).astype(
                np.int64
            )
        for col in ("y", *self.models):
            out[col] = cv[col].to_numpy(dtype=np.float64, na_value=np.nan)
        return out.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)


def _feature_name(transform: Any, lag: int, *args: Any) -> str:
    """mlforecast's own feature names; a module-level function, so fitted models pickle."""
    from mlforecast.core import _build_transform_name

    return str(_build_transform_name(transform, lag, *args))


@contextmanager
def _quiet_lightgbm() -> Iterator[None]:
    with warnings.catch_warnings():
        # LightGBM's Dask interface sets each worker's threads itself and says so
        warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
        yield


# -- every other family on Dask: the local model per partition of the products ---------------


def _fit_part(model: Any, df: pd.DataFrame, static_df: pd.DataFrame | None) -> Any:
    return model.fit(df, static_df=static_df)


def _predict_part(
    model: Any, h: int, X_df: pd.DataFrame | None, levels: Sequence[int]
) -> tuple[pd.DataFrame, set[str]]:
    fc = model.predict(h, X_df=X_df, levels=levels)
    return fc, set(getattr(model, "fallback_", set()))


def _cross_validation_part(
    model: Any,
    df: pd.DataFrame,
    h: int,
    n_windows: int,
    step: int | None,
    levels: Sequence[int],
    static_df: pd.DataFrame | None,
) -> tuple[pd.DataFrame, set[str]]:
    out = model.cross_validation(
        df, h=h, n_windows=n_windows, step=step, levels=levels, static_df=static_df
    )
    return out, set(getattr(model, "fallback_", set()))


def _only(df: pd.DataFrame | None, ids: set[str]) -> pd.DataFrame | None:
    return None if df is None else df[df["unique_id"].isin(ids)]


class PartitionedForecaster(Forecaster):
    """A local model run on Dask, one copy per partition of the products.

    Products are split into ``n_partitions`` groups of about equal rows (sorted ids,
    contiguous, so a split is reproducible); each worker fits and predicts the wrapped
    model on its group. For a local model this is exactly the local result. A global
    model (linear, neural) is trained once per partition on that partition's products,
    so its forecasts differ from one model trained on all of them; a foundation model
    is zero-shot and gives the local forecasts.

    The fitted copies come back to the driver, so the wrapper pickles (the run store
    keeps it) and predicts locally when no engine is active.
    """

    def __init__(self, model: Any, n_partitions: int) -> None:
        super().__init__(season_length=model.season_length, calendar=model.calendar)
        self.model = model
        self.n_partitions = n_partitions
        self.alias = model.alias
        # capability flags of the wrapped model, so callers treat the wrapper like it
        self.family = model.family  # type: ignore[misc]
        self.description = model.description  # type: ignore[misc]
        self.supports_future_covariates = model.supports_future_covariates  # type: ignore[misc]
        self.supports_static_covariates = model.supports_static_covariates  # type: ignore[misc]
        self.supports_past_covariates = model.supports_past_covariates  # type: ignore[misc]
        self.supports_intervals = model.supports_intervals  # type: ignore[misc]
        self.is_global = model.is_global  # type: ignore[misc]

    def get_params(self) -> dict[str, Any]:
        return dict(self.model.get_params())

    def __getattr__(self, name: str) -> Any:
        # hyperparameters and learned state the callers read (model_path, history_...)
        if name.startswith("__") or name == "model":
            raise AttributeError(name)
        if name.endswith("_") and self.__dict__.get("models_"):
            return getattr(self.models_[0], name)
        return getattr(self.model, name)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("futures_", None)
        return state

    def partition_ids(self, df: pd.DataFrame) -> list[set[str]]:
        """The products of each partition: contiguous runs of sorted ids of about equal rows."""
        sizes = df.groupby("unique_id", sort=True).size()
        bounds = np.linspace(0, sizes.sum(), self.n_partitions + 1)[1:-1]
        cut = np.searchsorted(sizes.cumsum().to_numpy(), bounds, side="left") + 1
        groups = np.split(sizes.index.to_numpy(), cut)
        return [set(g) for g in groups if len(g)]

    def fit(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        self.ids_ = self.partition_ids(df)
        args = [
            (copy.deepcopy(self.model), df[df["unique_id"].isin(ids)], _only(static_df, ids))
            for ids in self.ids_
        ]
        engine = active_engine()
        if engine is None:
            self.models_ = [_fit_part(*a) for a in args]
            return self
        self.futures_ = engine.client.map(_fit_part, *zip(*args, strict=True), pure=False)
        self.models_ = list(engine.client.gather(self.futures_))
        return self

    def update(self, df: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Self:
        # products new since the fit join the first partition
        known = set().union(*self.ids_)
        self.ids_[0] = self.ids_[0] | (set(df["unique_id"]) - known)
        for model, ids in zip(self.models_, self.ids_, strict=True):
            model.update(df[df["unique_id"].isin(ids)], static_df=_only(static_df, ids))
        self.__dict__.pop("futures_", None)
        return self

    def predict(
        self, h: int, X_df: pd.DataFrame | None = None, levels: Sequence[int] = ()
    ) -> pd.DataFrame:
        engine = active_engine()
        futures = self.__dict__.get("futures_")
        if engine is not None and futures is not None:
            models: list[Any] = futures  # the fitted copies stay where they were trained
        else:
            models = self.models_
        args = [(m, h, _only(X_df, ids), levels) for m, ids in zip(models, self.ids_, strict=True)]
        if engine is None:
            results = [_predict_part(*a) for a in args]
        else:
            results = engine.map_partitions(_predict_part, args)
        self.fallback_ = set().union(*(fallback for _, fallback in results))
        out = pd.concat([fc for fc, _ in results], ignore_index=True)
        return out.sort_values(["unique_id", "ds"], ignore_index=True)

    def cross_validation(
        self,
        df: pd.DataFrame,
        h: int,
        n_windows: int,
        step: int | None = None,
        levels: Sequence[int] = (),
        static_df: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        args = [
            (
                copy.deepcopy(self.model),
                df[df["unique_id"].isin(ids)],
                h,
                n_windows,
                step,
                levels,
                _only(static_df, ids),
            )
            for ids in self.partition_ids(df)
        ]
        engine = active_engine()
        if engine is None:
            results = [_cross_validation_part(*a) for a in args]
        else:
            results = engine.map_partitions(_cross_validation_part, args)
        self.fallback_ = set().union(*(fallback for _, fallback in results))
        out = pd.concat([cv for cv, _ in results], ignore_index=True)
        return out.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)
