"""Coherent forecasts across the hierarchy: product, category, store... and the total.

A forecast made for every product and, separately, for every category, store and
the total rarely adds up: the category's own forecast differs from the sum of its
products'. Reconciliation (through Nixtla's ``hierarchicalforecast``) turns the
base forecasts of every series into one coherent set, where every aggregate is
exactly the sum of its products.

The hierarchy
-------------
Built from the static attributes that are constant within each product
(``PreparedData.static_df``: category, store, brand...). Every attribute is one
level, each of its values one series (``category/Foods``); the ``total`` sums
all products and the products are the bottom level (their own ``unique_id``).
Several attributes (category *and* store) make a grouped structure, which
MinTrace and BottomUp handle. An attribute with one value (it is the total) or
one product per value (it is the products) adds nothing and is left out.

Methods
-------
- ``mint_shrink`` (MinTrace with a shrunk covariance, Wickramasuriya et al.,
  2019): weights every series' base forecast by how reliable it was. The error
  covariance comes from a rolling-origin backtest of the same model on every
  series (horizon-step errors, not one-step in-sample residuals); products too
  young for a window count as errors of zero there.
- ``wls_struct``: MinTrace weighted by the number of products under each series;
  needs no backtest.
- ``bottom_up``: the aggregates are the sums of the product forecasts.
- ``top_down``: the total's forecast shared out by each product's share of the
  sales over the last year (proportion of averages, Gross and Sohl, 1990).

Non-negativity: a MinTrace result with a negative product forecast is solved
again as a quadratic programme with the products at zero or above
(``nonnegative=True``, Wickramasuriya et al., 2020); every aggregate is then the
sum of its non-negative products, so coherence holds exactly.

Intervals: Gaussian, ``forecast +/- z * sigma``. Each base series' ``sigma`` per
step is read from its widest base interval (``(hi - lo) / (2 z)``); the
reconciled variance is ``diag(S P C P' S')`` with ``C`` the base covariance
(the correlations of MinTrace's ``W``; independent series for the other methods)
(the ``normality`` method of Panagiotelis et al., 2022). Lower bounds are floored
at zero and bounds never cross the point forecast. Interval bounds are not
additive: a category's 95% bound is not the sum of its products' bounds.

The computations are dense, so the hierarchy is limited to
:data:`MAX_PRODUCTS` products; forecast at a coarser level (or with
``bottom_up`` on a subset) beyond that.

Examples
--------
>>> import trendcast as tc
>>> from trendcast.decisions import hierarchy_forecast
>>> data = tc.load_sales("m5-folder")                                  # doctest: +SKIP
>>> result = hierarchy_forecast(data, horizon=28, model="lightgbm")    # doctest: +SKIP
>>> result.forecast.query("level == 'category'").head()                # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from trendcast.data.hierarchy import aggregate_levels
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError, InputError, MissingDependencyError, format_examples
from trendcast.models.base import interval_columns

__all__ = [
    "MAX_PRODUCTS",
    "PRODUCT_LEVEL",
    "RECONCILE_METHODS",
    "TOTAL",
    "Hierarchy",
    "HierarchyForecast",
    "build_hierarchy",
    "check_reconcile_method",
    "hierarchy_forecast",
    "levels_output",
    "reconcile_forecasts",
]

#: reconciliation methods, the first the default
RECONCILE_METHODS = ("mint_shrink", "wls_struct", "bottom_up", "top_down")
#: the id and level name of the sum of all products
TOTAL = "total"
#: the level name of the products (the bottom of the hierarchy)
PRODUCT_LEVEL = "product"
#: most products reconciled at once (the matrices are dense: products x all series)
MAX_PRODUCTS = 2000

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


@dataclass(frozen=True)
class Hierarchy:
    """Which products every series sums.

    Attributes
    ----------
    series
        One row per series, aggregates first (the total, then each level's
        values), products last: ``unique_id, level, value``.
    summing
        The summing matrix ``S``: one row per series (in ``series``' order), one
        column per product, 1 where the series includes the product.
    """

    series: pd.DataFrame
    summing: np.ndarray

    @property
    def products(self) -> pd.Index:
        """The bottom series, in the columns' order of :attr:`summing`."""
        bottom = self.series[self.series["level"] == PRODUCT_LEVEL]
        return pd.Index(bottom["unique_id"].to_numpy())

    @property
    def levels(self) -> list[str]:
        """The levels from the top: ``total``, the attributes, ``product``."""
        return list(dict.fromkeys(self.series["level"]))

    def tags(self) -> dict[str, np.ndarray]:
        """Each level's rows of :attr:`summing` (``hierarchicalforecast``'s ``tags``)."""
        level = self.series["level"].to_numpy()
        return {name: np.flatnonzero(level == name) for name in self.levels}


def _useful_attributes(static_df: pd.DataFrame, attributes: Sequence[str] | None) -> list[str]:
    known = [c for c in static_df.columns if c != "unique_id"]
    if attributes is not None:
        unknown = [a for a in attributes if a not in known]
        if unknown:
            raise ConfigError(
                f"Unknown hierarchy level(s) {unknown}; the data's product attributes are "
                f"{known or 'none'}. Map attribute columns (category, store...) when loading."
            )
        known = list(attributes)
    n_products = len(static_df)
    useful = []
    for name in known:
        values = static_df[name].astype("string").fillna("(none)").nunique()
        # one value is the total again, one product per value the products again
        if 1 < values < n_products:
            useful.append(name)
    return useful


def build_hierarchy(
    panel: pd.DataFrame,
    static_df: pd.DataFrame | None = None,
    attributes: Sequence[str] | None = None,
) -> tuple[Hierarchy, pd.DataFrame]:
    """The hierarchy of the products' attributes and the sales history of every series.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y`` of the products.
    static_df
        Product attributes (``unique_id`` and e.g. ``category``, ``store``).
    attributes
        The attributes to use as levels, in order; default all that add a level.

    Returns
    -------
    tuple
        The :class:`Hierarchy` and the history ``unique_id, ds, y`` of the
        aggregates (total and attribute values; the products' rows are the panel's).

    Examples
    --------
    >>> panel = pd.DataFrame({"unique_id": ["a", "b", "c"], "ds": pd.Timestamp("2024-01-01"),
    ...                       "y": [1.0, 2.0, 4.0]})
    >>> static = pd.DataFrame({"unique_id": ["a", "b", "c"], "category": ["x", "x", "y"]})
    >>> hierarchy, history = build_hierarchy(panel, static)
    >>> hierarchy.series["unique_id"].tolist()
    ['total', 'category/x', 'category/y', 'a', 'b', 'c']
    >>> history["y"].tolist()
    [7.0, 3.0, 4.0]
    """
    missing = [c for c in ("unique_id", "ds", "y") if c not in panel.columns]
    if missing:
        raise InputError(
            f"Columns missing from the panel: {missing}. Reconciliation needs the long panel "
            "unique_id, ds, y (see trendcast.load_sales)."
        )
    products = pd.Index(sorted(panel["unique_id"].astype(str).unique()))
    static = pd.DataFrame({"unique_id": products})
    if static_df is not None and len(static_df.columns) > 1:
        attrs = static_df.assign(unique_id=static_df["unique_id"].astype(str))
        static = static.merge(attrs, on="unique_id", how="left")
    chosen = _useful_attributes(static, attributes)
    rows = [pd.DataFrame({"unique_id": [TOTAL], "level": [TOTAL], "value": [TOTAL]})]
    blocks = [np.ones((1, len(products)))]
    for name in chosen:
        keys = static[name].astype("string").fillna("(none)")
        values = sorted(keys.unique())
        rows.append(
            pd.DataFrame(
                {"unique_id": [f"{name}/{v}" for v in values], "level": name, "value": values}
            )
        )
        blocks.append((keys.to_numpy()[None, :] == np.asarray(values)[:, None]).astype(float))
    rows.append(pd.DataFrame({"unique_id": products, "level": PRODUCT_LEVEL, "value": products}))
    blocks.append(np.eye(len(products)))
    series = pd.concat(rows, ignore_index=True)
    clash = series.loc[series["level"] != PRODUCT_LEVEL, "unique_id"]
    clash = clash[clash.isin(products)]
    if len(clash):
        raise InputError(
            f"Product id(s) {format_examples(clash)} equal the name of an aggregate series; "
            "rename those products to reconcile."
        )

    flat = panel[["unique_id", "ds", "y"]].assign(unique_id=panel["unique_id"].astype(str))
    levels = aggregate_levels(flat, static[["unique_id", *chosen]] if chosen else None)
    levels["unique_id"] = np.where(
        levels["level"] == TOTAL, TOTAL, levels["level"] + "/" + levels["unique_id"].astype(str)
    )
    order = pd.Series(np.arange(len(series)), index=series["unique_id"])
    levels = levels.assign(_order=levels["unique_id"].map(order))
    history = levels.sort_values(["_order", "ds"], kind="stable")[["unique_id", "ds", "y"]]
    return Hierarchy(series, np.vstack(blocks)), history.reset_index(drop=True)


@dataclass
class HierarchyForecast:
    """Reconciled forecasts of every series of a hierarchy.

    Attributes
    ----------
    forecast
        ``level, value, unique_id, ds, forecast, forecast-lo-L, forecast-hi-L...,
        base_forecast, model``: the reconciled forecast of every series (products
        under their own ``unique_id``) and its base forecast before reconciliation.
    hierarchy
        The series and the summing matrix.
    method
        One of :data:`RECONCILE_METHODS`.
    history
        The aggregates' sales history ``unique_id, ds, y``.
    """

    forecast: pd.DataFrame
    hierarchy: Hierarchy
    method: str
    history: pd.DataFrame

    def products(self) -> pd.DataFrame:
        """The products' reconciled forecast in the forecast contract
        (``unique_id, ds, forecast, forecast-lo-L, forecast-hi-L..., model``)."""
        rows = self.forecast[self.forecast["level"] == PRODUCT_LEVEL]
        columns = [c for c in rows.columns if c not in ("level", "value", "base_forecast")]
        return rows[columns].reset_index(drop=True)


def check_reconcile_method(method: str) -> None:
    """Raise :class:`ConfigError` unless ``method`` is one of :data:`RECONCILE_METHODS`."""
    if method not in RECONCILE_METHODS:
        raise ConfigError(
            f"Unknown reconciliation method {method!r}; use one of {list(RECONCILE_METHODS)}."
        )


def _wide(frame: pd.DataFrame, column: str, ids: pd.Index, dates: pd.Index) -> np.ndarray:
    table = frame.pivot_table(index="unique_id", columns="ds", values=column, aggfunc="first")
    return table.reindex(index=ids, columns=dates).to_numpy(dtype=float)


def _base_sigma(base: pd.DataFrame, ids: pd.Index, dates: pd.Index, levels: Sequence[int]):
    """Each series' standard deviation per step, from its widest base interval."""
    if not levels:
        return np.zeros((len(ids), len(dates)))
    widest = max(levels)
    lo, hi = interval_columns("forecast", [widest])
    if lo not in base.columns or hi not in base.columns:
        raise InputError(
            f"The base forecasts lack the {widest}% interval columns {lo!r} and {hi!r}."
        )
    z = float(norm.ppf(0.5 + widest / 200))
    width = _wide(base, hi, ids, dates) - _wide(base, lo, ids, dates)
    return np.nan_to_num(np.clip(width, 0.0, None) / (2 * z))


def _reconciler(method: str, nonnegative: bool = False) -> Any:
    try:
        from hierarchicalforecast.methods import BottomUp, MinTrace, TopDown
    except ImportError:
        raise MissingDependencyError(
            "hierarchicalforecast", purpose="reconciling forecasts across the hierarchy"
        ) from None
    if method == "bottom_up":
        return BottomUp()
    if method == "top_down":
        return TopDown(method="proportion_averages")
    return MinTrace(method=method, nonnegative=nonnegative)


def _fit(reconciler: Any, **arrays: Any) -> Any:
    try:
        with warnings.catch_warnings():
            # qpsolvers notes that it converts the dense QP matrices for clarabel; harmless
            warnings.filterwarnings("ignore", message=".*Converted matrix.*")
            return reconciler.fit(**arrays)
    except Exception as exc:  # the library raises bare Exceptions for ill-conditioned problems
        if isinstance(exc, MemoryError):
            raise
        raise ConfigError(
            f"Reconciliation failed: {exc} Try --reconcile wls_struct or bottom_up."
        ) from None


def _reconciled_sigma(
    sp: np.ndarray, sigma: np.ndarray, correlation: np.ndarray | None
) -> np.ndarray:
    """``sqrt(diag(SP C P'S'))`` per step, ``C = diag(sigma) R diag(sigma)``; R = I when None.

    Computed step by step rather than through ``hierarchicalforecast``'s sampler,
    which keeps every step's full covariance matrix in memory.
    """
    out = np.empty((sp.shape[0], sigma.shape[1]))
    for step in range(sigma.shape[1]):
        scaled = sp * sigma[:, step][None, :]
        if correlation is None:
            var = (scaled**2).sum(axis=1)
        else:
            var = ((scaled @ correlation) * scaled).sum(axis=1)
        out[:, step] = np.sqrt(np.clip(var, 0.0, None))
    return out


def _correlation(w: np.ndarray | None) -> np.ndarray | None:
    if w is None:
        return None
    off = w - np.diag(np.diag(w))
    if not np.any(off):
        return None
    std = np.sqrt(np.clip(np.diag(w), 1e-300, None))
    return np.asarray(w / np.outer(std, std))


def reconcile_forecasts(
    base: pd.DataFrame,
    hierarchy: Hierarchy,
    *,
    method: str = "mint_shrink",
    levels: Sequence[int] = (80, 95),
    history: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reconcile base forecasts of every series into a coherent, non-negative set.

    Parameters
    ----------
    base
        Base forecasts of every series of ``hierarchy``: ``unique_id, ds, forecast``
        and ``forecast-lo-L``/``forecast-hi-L`` for ``levels``.
    hierarchy
        From :func:`build_hierarchy`.
    method
        One of :data:`RECONCILE_METHODS` (see the module docs).
    levels
        Interval levels to return.
    history
        Sales ``unique_id, ds, y`` of every series (aggregates and products);
        ``top_down`` takes the products' shares of the last year from it.
    errors
        Backtest errors ``unique_id, ds, error`` (actual minus forecast) of every
        series; ``mint_shrink`` estimates the error covariance from them.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds, forecast, forecast-lo-L, forecast-hi-L...`` for every series,
        in the hierarchy's order.
    """
    check_reconcile_method(method)
    levels = sorted(levels)
    ids = pd.Index(hierarchy.series["unique_id"])
    dates = pd.Index(sorted(base["ds"].unique()))
    y_hat = _wide(base, "forecast", ids, dates)
    if np.isnan(y_hat).any():
        lacking = ids[np.isnan(y_hat).any(axis=1)]
        raise InputError(
            f"Base forecasts are missing for {len(lacking)} series, e.g. "
            f"{format_examples(lacking)}; every series needs one for every date."
        )
    sigma = _base_sigma(base, ids, dates, levels)
    s = hierarchy.summing
    arrays: dict[str, Any] = {"S": s, "y_hat": y_hat, "tags": hierarchy.tags()}
    if method == "mint_shrink":
        if errors is None or errors.empty:
            raise InputError("mint_shrink needs the backtest errors of every series (errors=).")
        residual = _wide(errors, "error", ids, pd.Index(sorted(errors["ds"].unique())))
        # a product too young for a backtest window had nothing to get wrong there
        residual = np.nan_to_num(residual)
        arrays["y_insample"] = residual
        arrays["y_hat_insample"] = np.zeros_like(residual)
    if method == "top_down":
        if history is None or history.empty:
            raise InputError("top_down needs the sales history of every series (history=).")
        recent = pd.Index(sorted(history["ds"].unique()))
        recent = recent[-min(len(recent), _year(history)) :]
        arrays["y_insample"] = np.nan_to_num(_wide(history, "y", ids, recent))
        # shares of the total only: the attribute levels follow from the products' sums
        arrays["tags"] = {TOTAL: np.array([0]), PRODUCT_LEVEL: hierarchy.tags()[PRODUCT_LEVEL]}

    fitted = _fit(_reconciler(method), **arrays)
    p = np.asarray(fitted.P, dtype=float)
    bottom = p @ y_hat
    if method in ("mint_shrink", "wls_struct") and (bottom < -1e-9).any():
        bottom = np.asarray(_fit(_reconciler(method, nonnegative=True), **arrays).y_hat)[
            -s.shape[1] :
        ]
    bottom = np.clip(bottom, 0.0, None)
    mean = s @ bottom
    sp = s @ p
    correlation = _correlation(getattr(fitted, "W", None)) if method == "mint_shrink" else None
    spread = _reconciled_sigma(sp, sigma, correlation)

    out = pd.DataFrame(
        {
            "unique_id": np.repeat(ids.to_numpy(), len(dates)),
            "ds": np.tile(dates.to_numpy(), len(ids)),
            "forecast": mean.ravel(),
        }
    )
    for level in levels:
        z = float(norm.ppf(0.5 + level / 200))
        lo, hi = interval_columns("forecast", [level])
        out[lo] = np.clip(mean - z * spread, 0.0, None).ravel()
        out[hi] = (mean + z * spread).ravel()
    return out


def _year(history: pd.DataFrame) -> int:
    """Periods in about a year of ``history``'s dates."""
    dates = pd.DatetimeIndex(sorted(history["ds"].unique()))
    if len(dates) < 2:
        return 1
    step = float(np.median(np.diff(dates.asi8))) / 86_400e9
    return max(int(round(365.25 / max(step, 1e-9))), 1)


def _errors(backtest: pd.DataFrame) -> pd.DataFrame:
    """Errors per series and date of a backtest's latest window covering each date."""
    frame = backtest.sort_values("cutoff").drop_duplicates(["unique_id", "ds"], keep="last")
    return pd.DataFrame(
        {
            "unique_id": frame["unique_id"].astype(str).to_numpy(),
            "ds": frame["ds"].to_numpy(),
            "error": (frame["y"] - frame["forecast"]).to_numpy(),
        }
    )


def hierarchy_forecast(
    data: PreparedData,
    *,
    horizon: int,
    model: str = "auto",
    method: str = "mint_shrink",
    levels: Sequence[int] = (80, 95),
    attributes: Sequence[str] | None = None,
    windows: int = 2,
    n_jobs: int = 1,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
    product_forecast: pd.DataFrame | None = None,
    product_backtest: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> HierarchyForecast:
    """Forecast every level of the products' hierarchy and reconcile the forecasts.

    The products are forecast as :func:`trendcast.pipeline.fit_forecast` does (with
    their prices, promotions and attributes); every aggregate (total, category,
    store...) is forecast from its own sales with the same ``model``; then the
    forecasts are reconciled with ``method`` (see the module docs).

    Parameters
    ----------
    data
        Prepared sales (:func:`trendcast.load_sales`).
    horizon, model, levels, n_jobs, time_budget, params
        As for :func:`trendcast.pipeline.fit_forecast`.
    method
        One of :data:`RECONCILE_METHODS`.
    attributes
        Product attributes to use as levels; default every one that adds a level.
    windows
        Backtest windows of ``horizon`` periods for ``mint_shrink``'s error covariance.
    product_forecast, product_backtest
        The products' forecast (``unique_id, ds, forecast``, intervals, ``model``) and
        backtest (``unique_id, ds, cutoff, y, forecast``) of ``model`` when already
        made (``trendcast run`` has both); made here otherwise.

    Raises
    ------
    ConfigError
        For an unknown method or level, or more than :data:`MAX_PRODUCTS` products.
    """
    from trendcast.pipeline import backtest, fit_forecast

    check_reconcile_method(method)
    say = progress or _quiet
    hierarchy, history = build_hierarchy(data.panel, data.static_df, attributes)
    n_products = len(hierarchy.products)
    if n_products > MAX_PRODUCTS:
        raise ConfigError(
            f"Reconciliation handles up to {MAX_PRODUCTS:,} products at once; the data has "
            f"{n_products:,}. Forecast a subset, or aggregate the input to a coarser product level."
        )
    names = [n for n in hierarchy.levels if n not in (TOTAL, PRODUCT_LEVEL)]
    say(
        f"reconciling {len(hierarchy.series):,} series ({method}): total, "
        + (", ".join(names) + ", " if names else "")
        + f"{n_products:,} products"
    )
    aggregates = replace(
        data,
        panel=history,
        static_df=pd.DataFrame({"unique_id": history["unique_id"].unique()}),
        ids=pd.DataFrame({"unique_id": history["unique_id"].unique()}),
    )

    def forecast(part: PreparedData) -> pd.DataFrame:
        fc, _ = fit_forecast(
            part,
            horizon=horizon,
            model=model,
            levels=levels,
            n_jobs=n_jobs,
            time_budget=time_budget,
            params=params,
        )
        return fc

    def errors_of(part: PreparedData) -> pd.DataFrame:
        found = backtest(
            part,
            horizon=horizon,
            windows=windows,
            models=[model],
            levels=levels,
            n_jobs=n_jobs,
            time_budget=time_budget,
        )
        return found.backtest

    if product_forecast is None:
        say(f"forecasting the products with {model}")
        product_forecast = forecast(data)
    say(f"forecasting the {len(hierarchy.series) - n_products} aggregate series with {model}")
    aggregate_forecast = forecast(aggregates)
    base = pd.concat([aggregate_forecast, product_forecast], ignore_index=True)
    base["unique_id"] = base["unique_id"].astype(str)

    errors = None
    if method == "mint_shrink":
        if product_backtest is None:
            say(f"backtesting {model} on the products over {windows} window(s) for its errors")
            product_backtest = errors_of(data)
        say(f"backtesting {model} on the aggregates for their errors")
        aggregate_backtest = errors_of(aggregates)
        errors = pd.concat([_errors(aggregate_backtest), _errors(product_backtest)])
        errors = errors[errors["ds"].isin(set(aggregate_backtest["ds"]))]

    everything = pd.concat(
        [history, data.panel[["unique_id", "ds", "y"]].astype({"unique_id": str})],
        ignore_index=True,
    )
    reconciled = reconcile_forecasts(
        base, hierarchy, method=method, levels=levels, history=everything, errors=errors
    )
    reconciled = reconciled.merge(hierarchy.series, on="unique_id", how="left")
    reconciled = reconciled.merge(
        base[["unique_id", "ds", "forecast", "model"]].rename(
            columns={"forecast": "base_forecast"}
        ),
        on=["unique_id", "ds"],
        how="left",
    )
    value_cols = [c for c in reconciled.columns if c.startswith("forecast")]
    columns = ["level", "value", "unique_id", "ds", *value_cols, "base_forecast", "model"]
    return HierarchyForecast(reconciled[columns], hierarchy, method, history)


def levels_output(result: HierarchyForecast, data: PreparedData) -> pd.DataFrame:
    """Every level's reconciled forecast under the input's time column, for a CSV."""
    time_col = data.columns.time_col or "ds"
    return result.forecast.rename(columns={"ds": time_col})
