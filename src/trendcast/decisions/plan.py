"""Replenishment plan: from forecasts to order quantities under a periodic-review policy.

The policy is (R, S): every review period R the stock is checked and an order
brings the inventory position (on hand + on order) up to the order-up-to level
S; an order arrives after the lead time L. An order placed now is the last
chance to cover demand until the next order, placed R periods later, arrives
at R + L, so S must cover the demand over the *protection interval* of
P = L + R periods.

How the protection-interval demand is built
-------------------------------------------
Per product, demand over the next P periods is ``D = max(F + E, 0)``:

- ``F`` is the sum of the model's point forecasts over the next P periods.
- ``E`` is the *cumulative* forecast error over P consecutive periods, learned
  from a rolling-origin backtest of the same model: within every backtest
  window of H = 2P periods (at least 8) each block of P consecutive periods
  gives one error ``sum(y) - sum(forecast)`` (H - P + 1 overlapping blocks per
  window, 4 windows by default). Summing errors over a block keeps their
  autocorrelation and the model's bias. Per-period quantiles are never summed:
  that would assume every period sits at its own extreme at once and overstock
  (for iid demand the spread of a sum grows like sqrt(P), a sum of quantiles
  like P).
- A product has only about two independent blocks per window, far too few
  for a 95% quantile, so the error's *shape* is pooled and its *scale* comes
  from the product's demand level: ``E = a * (level * P) ** b * Z``. a and b
  are fitted across products (log mean absolute block error on log
  ``level * P``, b kept within [0.5, 1]: Poisson-like noise gives b near 0.5,
  proportional noise b near 1). Z is drawn from the pooled standardised
  errors ``e / (a * (level * P) ** b)`` of the product's segment: products are
  pooled by their share of periods without demand (< 10%, 10-30%, 30-60%,
  more), so smooth sellers do not inherit the tails of lumpy ones (a segment
  of fewer than 30 products uses the pool of all). ``level`` is mean demand
  per period: over the backtest windows when standardising, over the last
  four seasons (28 days of daily data, 8 periods otherwise) when planning, so
  the spread follows a product whose sales have grown or shrunk.
- New products, not in the backtest, get their segment's shape at the scale of
  their current level.

The plan's columns at a cycle service level alpha (the probability that a
replenishment cycle ends without a stock-out):

- ``expected_demand``: mean of D.
- ``order_up_to``: the alpha-quantile of D.
- ``safety_stock``: ``order_up_to - expected_demand``.
- ``reorder_point``: ``order_up_to`` less the expected demand of one review
  period (= expected lead-time demand + safety stock): an inventory position
  below it at a review means an order is due.
- ``order_qty``: ``order_up_to - on_hand - on_order`` rounded up to whole units,
  raised to the minimum order quantity, rounded up to whole packs; 0 when the
  position already reaches ``order_up_to``.
- ``stockout_risk``: P(D > on_hand + on_order + order_qty), the probability
  that stock, with this order, runs out before the next order can arrive.
- ``days_of_cover``: calendar days the current position (on hand + on order)
  lasts at the expected demand rate.

Examples
--------
>>> import trendcast as tc
>>> from trendcast.decisions import replenishment_plan, plan_output
>>> data = tc.load_sales()                                        # doctest: +SKIP
>>> result = replenishment_plan(data, lead_time=7, review_period=7)  # doctest: +SKIP
>>> plan_output(result, data).head()                              # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.data.columns import ID_SEPARATOR
from trendcast.data.io import read_table
from trendcast.data.parse import parse_numbers
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError, InputError, format_examples
from trendcast.features.covariates import model_frame
from trendcast.models.registry import make_model

__all__ = [
    "FAST_CANDIDATES",
    "PLAN_COLUMNS",
    "STOCK_COLUMNS",
    "DemandDistribution",
    "ReplenishmentPlan",
    "backtest_forecasts",
    "check_policy",
    "demand_segments",
    "ErrorModel",
    "error_model",
    "level_window",
    "trailing_levels",
    "order_quantities",
    "plan_from_backtest",
    "plan_from_forecast",
    "plan_output",
    "read_stock",
    "replenishment_plan",
]

#: auto's candidates for planning: the baselines and intermittent-demand models, one batched
#: statsforecast pass each, so a few thousand products plan in about a minute (ETS and Theta
#: cost about 0.1 s per product and backtest window; add them with ``candidates=None``)
FAST_CANDIDATES: tuple[str, ...] = (
    "seasonal_naive",
    "window_average",
    "croston",
    "tsb",
    "adida",
    "imapa",
)
PLAN_COLUMNS: tuple[str, ...] = (
    "expected_demand",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "order_qty",
    "stockout_risk",
    "days_of_cover",
)
#: columns of the stock table (normalised names they are recognised by, English and Chinese)
STOCK_COLUMNS: dict[str, tuple[str, ...]] = {
    "on_hand": ("onhand", "stock", "stockonhand", "inventory", "qtyonhand", "库存", "现有库存"),
    "on_order": ("onorder", "intransit", "openorders", "pipeline", "在途", "在途库存"),
    "lead_time": ("leadtime", "lt", "提前期", "交货期", "采购周期"),
    "review_period": ("reviewperiod", "review", "检查周期", "补货周期"),
    "moq": ("moq", "minorder", "minorderqty", "minimumorderquantity", "最小起订量"),
    "pack_size": ("packsize", "pack", "casepack", "casesize", "packqty", "包装数", "箱规"),
    "unit_cost": ("unitcost", "cost", "purchaseprice", "单位成本", "成本", "进价"),
}
#: the pooled error distribution is kept as this many quantiles
POOL_GRID = 400
#: products are pooled by their share of periods without demand: < 10%, 10-30%, 30-60%, more
SEGMENT_EDGES: tuple[float, ...] = (0.1, 0.3, 0.6)
#: a segment with fewer products uses the pool of all products
MIN_POOL = 30
_EXPONENT_RANGE = (0.5, 1.0)

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


# -- checks ------------------------------------------------------------------------------------


def check_policy(lead_time: int, review_period: int, service_level: float) -> None:
    """Raise :class:`ConfigError` for a lead time, review period or service level out of range."""
    if lead_time < 0:
        raise ConfigError(f"--lead-time must be 0 or more periods, got {lead_time}.")
    if review_period < 1:
        raise ConfigError(f"--review-period must be at least 1 period, got {review_period}.")
    if not 0 < service_level < 1:
        raise ConfigError(
            f"--service-level must be between 0 and 1 (e.g. 0.95), got {service_level}."
        )


# -- the protection-interval demand distribution -----------------------------------------------


@dataclass
class DemandDistribution:
    """Per product, a discrete distribution of demand over its protection interval.

    Row i holds product ``ids[i]``'s support points ``values[i]`` (sorted) with
    probabilities ``weights[i]`` (rows padded with zero-weight points).
    """

    ids: np.ndarray
    values: np.ndarray
    weights: np.ndarray

    def mean(self) -> np.ndarray:
        return np.asarray((self.values * self.weights).sum(axis=1))

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        """The smallest demand whose cumulative probability reaches ``q`` (per product)."""
        level = np.broadcast_to(np.asarray(q, dtype=float), (len(self.ids),))
        cum = np.cumsum(self.weights, axis=1)
        cum = cum / cum[:, -1:]
        idx = np.argmax(cum >= level[:, None] - 1e-12, axis=1)
        return np.asarray(self.values[np.arange(len(self.ids)), idx])

    def exceedance(self, x: np.ndarray) -> np.ndarray:
        """P(demand > x) per product."""
        below = self.values <= np.asarray(x, dtype=float)[:, None] + 1e-9
        return np.asarray(np.clip(1.0 - (self.weights * below).sum(axis=1), 0.0, 1.0))


@dataclass
class ErrorModel:
    """The cumulative forecast error over each product's protection interval of P periods:
    ``a * (level * P) ** b * Z``, with ``level`` the product's current demand per period and
    Z drawn from its segment's pooled shape (see the module doc).

    ``shapes[pools[i]]`` holds product i's standardised errors as equally likely values;
    ``coefficients`` and ``exponents`` are a and b per interval length.
    """

    ids: np.ndarray
    lengths: np.ndarray
    pools: np.ndarray
    shapes: list[np.ndarray]
    coefficients: dict[int, float]
    exponents: dict[int, float]

    def scale(self, level: np.ndarray) -> np.ndarray:
        """Each product's error scale at its demand ``level`` per period."""
        now = np.maximum(np.nan_to_num(np.asarray(level, dtype=float)), 0.0)
        a = np.array([self.coefficients[int(p)] for p in self.lengths])
        b = np.array([self.exponents[int(p)] for p in self.lengths])
        return np.asarray(a * (now * self.lengths) ** b)

    def demand(self, forecast_sums: np.ndarray, level: np.ndarray) -> DemandDistribution:
        """Demand ``max(F + scale * Z, 0)`` for forecasts F over the interval and the
        products' current demand ``level`` per period."""
        width = max(len(z) for z in self.shapes)
        z = np.zeros((len(self.ids), width))
        weights = np.zeros((len(self.ids), width))
        for k, shape in enumerate(self.shapes):
            rows = self.pools == k
            z[rows, : len(shape)] = shape
            z[rows, len(shape) :] = shape[-1]
            weights[rows, : len(shape)] = 1.0 / len(shape)
        shift = np.asarray(forecast_sums, dtype=float)[:, None]
        values = np.maximum(shift + self.scale(level)[:, None] * z, 0.0)
        return DemandDistribution(self.ids, values, weights)

    def subset(self, ids: Sequence[Any] | pd.Index) -> ErrorModel:
        """The model of ``ids`` only, in that order."""
        rows = pd.Series(np.arange(len(self.ids)), index=self.ids).reindex(list(ids))
        if rows.isna().any():
            raise ValueError(f"The error model lacks {int(rows.isna().sum())} product(s).")
        r = rows.to_numpy(dtype=int)
        return ErrorModel(
            self.ids[r],
            self.lengths[r],
            self.pools[r],
            self.shapes,
            self.coefficients,
            self.exponents,
        )


def level_window(calendar: TradingCalendar) -> int:
    """Periods of the trailing mean that measures a product's demand level: four seasons of
    daily data (4 weeks), 8 periods otherwise."""
    return 4 * calendar.season_length if calendar.is_daily else 8


def trailing_levels(
    panel: pd.DataFrame, cutoffs: Sequence[pd.Timestamp] | pd.DatetimeIndex, window: int
) -> pd.DataFrame:
    """Each product's mean demand per period over the ``window`` periods up to each cutoff
    (inclusive; fewer for a younger product): rows ``unique_id``, one column per cutoff."""
    wide = panel.pivot(index="unique_id", columns="ds", values="y").sort_index(axis=1)
    dates = wide.columns
    out = {}
    for cutoff in cutoffs:
        end = int(dates.searchsorted(cutoff, side="right"))
        out[cutoff] = wide.iloc[:, max(end - window, 0) : end].mean(axis=1)
    return pd.DataFrame(out, index=wide.index)


def _block_errors(backtest: pd.DataFrame, length: int) -> pd.DataFrame:
    """Cumulative errors over every ``length`` consecutive periods of each backtest window."""
    bt = backtest.sort_values(["unique_id", "cutoff", "ds"])
    step = bt.groupby(["unique_id", "cutoff"], sort=False).cumcount().to_numpy()
    err = (bt["y"] - bt["forecast"]).to_numpy(dtype=float)
    keys = bt[["unique_id", "cutoff"]].drop_duplicates().reset_index(drop=True)
    group = bt.groupby(["unique_id", "cutoff"], sort=False).ngroup().to_numpy()
    horizon = int(step.max()) + 1 if len(step) else 0
    if horizon < length:
        return pd.DataFrame({"unique_id": [], "cutoff": [], "error": []})
    grid = np.full((len(keys), horizon), np.nan)
    grid[group, step] = err
    cum = np.concatenate([np.zeros((len(keys), 1)), np.cumsum(grid, axis=1)], axis=1)
    blocks = cum[:, length:] - cum[:, :-length]
    n_blocks = blocks.shape[1]
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(keys["unique_id"].to_numpy(), n_blocks),
            "cutoff": np.repeat(keys["cutoff"].to_numpy(), n_blocks),
            "error": blocks.ravel(),
        }
    )
    return out[np.isfinite(out["error"])].reset_index(drop=True)


def _fit_scale_law(mae: pd.Series, base: pd.Series) -> tuple[float, float]:
    """a and b in mean |block error| ~ a * (level * P) ** b across products, b kept in
    the allowed range."""
    ok = (mae > 0) & (base > 0)
    if not ok.any():
        return 0.0, 1.0
    x, y = np.log(base[ok].to_numpy()), np.log(mae[ok].to_numpy())
    b = 1.0
    if ok.sum() >= 3 and np.ptp(x) > 1e-6:
        b = float(np.clip(np.polyfit(x, y, 1)[0], *_EXPONENT_RANGE))
    return float(np.exp(np.mean(y - b * x))), b


def _shape(z: np.ndarray) -> np.ndarray:
    """Standardised errors as at most ``POOL_GRID`` equally likely quantiles, sorted."""
    if len(z) > POOL_GRID:
        z = np.quantile(z, (np.arange(POOL_GRID) + 0.5) / POOL_GRID)
    return np.sort(z) if len(z) else np.zeros(1)


def demand_segments(backtest: pd.DataFrame, ids: np.ndarray) -> pd.Series:
    """Each product's pool: its share of periods without demand in the backtest windows,
    cut at ``SEGMENT_EDGES`` (0 = sells nearly every period ... 3 = mostly no demand); NaN
    for products not in the backtest."""
    zero_share = (backtest["y"] <= 0).groupby(backtest["unique_id"]).mean().reindex(ids)
    segment = pd.Series(np.digitize(zero_share.to_numpy(), SEGMENT_EDGES), index=ids)
    return segment.where(zero_share.notna())


def error_model(backtest: pd.DataFrame, lengths: pd.Series) -> ErrorModel:
    """Each product's cumulative forecast error over its protection interval: its scale,
    from its demand level, times the pooled shape of its segment's standardised errors
    (see the module doc).

    Parameters
    ----------
    backtest
        Long rolling-origin backtest ``unique_id, ds, cutoff, y, forecast``; every window at
        least as long as the longest interval.
    lengths
        Per product (index ``unique_id``), the protection interval in periods (lead time +
        review period). Products missing from the backtest get their segment's shape at the
        scale of their current level.
    """
    ids = lengths.index.to_numpy()
    lengths = lengths.astype(int)
    level = backtest.groupby("unique_id")["y"].mean().reindex(ids).fillna(0.0)
    segment = demand_segments(backtest, ids)
    pools = pd.Series(0, index=ids)
    shapes: list[np.ndarray] = []
    exponents: dict[int, float] = {}
    coefficients: dict[int, float] = {}
    for length in sorted(lengths.unique()):
        p = int(length)
        blocks = _block_errors(backtest, p)
        blocks = blocks[blocks["unique_id"].map(level).fillna(0.0).to_numpy() > 0]
        mae = blocks["error"].abs().groupby(blocks["unique_id"]).mean()
        a, b = _fit_scale_law(mae, level.reindex(mae.index) * p)
        coefficients[p], exponents[p] = a, b
        mine = lengths.index[lengths == length]
        scale = a * (blocks["unique_id"].map(level).to_numpy() * p) ** b
        z = blocks["error"].to_numpy() / scale
        ok = np.isfinite(z)
        seg = blocks["unique_id"].map(segment).to_numpy()
        shapes.append(_shape(z[ok]))
        pools[mine] = len(shapes) - 1
        counts = segment[mine].value_counts()
        for k in counts.index[counts >= MIN_POOL]:
            members = ok & (seg == k)
            if members.any():
                shapes.append(_shape(z[members]))
                pools[mine[segment[mine] == k]] = len(shapes) - 1
    return ErrorModel(ids, lengths.to_numpy(), pools.to_numpy(), shapes, coefficients, exponents)


# -- backtest and forecast ---------------------------------------------------------------------


def _make(model: str, data: PreparedData, candidates: Sequence[str] | None, n_jobs: int) -> Any:
    extra: dict[str, Any] = {}
    if model == "auto" and candidates is not None:
        extra["candidates"] = tuple(candidates)
    return make_model(
        model,
        season_length=data.calendar.season_length,
        calendar=data.calendar,
        n_jobs=n_jobs,
        **extra,
    )


def _static(data: PreparedData, m: Any) -> pd.DataFrame | None:
    if not m.supports_static_covariates or len(data.static_df.columns) <= 1:
        return None
    return data.static_df


def backtest_forecasts(
    data: PreparedData,
    panel: pd.DataFrame,
    *,
    model: str,
    horizon: int,
    windows: int,
    step: int | None = None,
    candidates: Sequence[str] | None = FAST_CANDIDATES,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Rolling-origin forecasts of ``model`` on ``panel`` (a slice of ``data.panel``).

    Returns the long backtest ``unique_id, ds, cutoff, y, forecast`` and, for ``auto``,
    its candidates' backtest (which lets the final forecast skip the selection refits).
    """
    m = _make(model, data, candidates, n_jobs)
    frame = model_frame(panel, *m.covariates_used())
    wide = m.cross_validation(
        frame,
        h=horizon,
        n_windows=windows,
        step=step or horizon,
        levels=(),
        static_df=_static(data, m),
    )
    long = wide[["unique_id", "ds", "cutoff", "y", m.alias]].rename(columns={m.alias: "forecast"})
    return long.reset_index(drop=True), getattr(m, "candidate_cv_", None)


def _forecast(
    data: PreparedData,
    model: str,
    horizon: int,
    candidates: Sequence[str] | None,
    n_jobs: int,
    selection_cv: pd.DataFrame | None,
) -> pd.DataFrame:
    m = _make(model, data, candidates, n_jobs)
    if selection_cv is not None:
        m.selection_cv_ = selection_cv
    frame = model_frame(data.panel, *m.covariates_used())
    fc = m.fit(frame, static_df=_static(data, m)).predict(horizon, levels=())
    return fc[["unique_id", "ds", m.alias]].rename(columns={m.alias: "forecast"})


def _window_shape(periods: int, longest: int, windows: int, model: str) -> tuple[int, int]:
    """Backtest horizon and windows for protection intervals of up to ``longest`` periods.

    The horizon is twice the longest interval (at least 8 periods), so each window gives
    several overlapping blocks; while the history is too short, windows are dropped, then
    the horizon shortened down to the longest interval.
    """
    horizon = max(2 * longest, 8)
    # history the models see before the first cutoff; auto chooses on 2 earlier windows
    warmup = horizon
    extra = 2 if model == "auto" else 0
    while windows > 1 and (windows + extra) * horizon + warmup > periods:
        windows -= 1
    if (windows + extra) * horizon + warmup > periods:
        horizon = max(longest, (periods - warmup) // (windows + extra))
    if (windows + extra) * horizon + warmup > periods:
        raise InputError(
            f"The data has {periods} periods: too few to learn the forecast errors over a "
            f"protection interval of {longest} periods (lead time + review period), which needs "
            f"at least {(windows + extra) * horizon + warmup}. Use a shorter --lead-time or "
            "--review-period, or a longer history."
        )
    return horizon, windows


# -- the stock table ---------------------------------------------------------------------------


def _key(name: object) -> str:
    return re.sub(r"[\s_\-./()]+", "", str(name).strip().lower())


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as the loader reads them: text, stripped; 123.0 read from a float column is 123."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype("string").str.strip()


def read_stock(
    stock: pd.DataFrame | str | Path,
    data: PreparedData,
    *,
    lead_time: int,
    review_period: int,
) -> pd.DataFrame:
    """The stock table as ``unique_id, on_hand, on_order, lead_time, review_period, moq,
    pack_size, unit_cost``, one row per product of ``data``.

    The table has the sales input's id column(s) and ``on_hand``, optionally ``on_order``,
    ``lead_time``, ``review_period`` (periods), ``moq``, ``pack_size`` and ``unit_cost``
    (names recognised loosely: ``On Hand``, ``stock``, ``库存``, ``LeadTime``...). Empty
    optional cells take the defaults (no stock on order, the global lead time and review
    period, no minimum, packs of one). Products without a row have nothing on hand.

    Raises
    ------
    InputError
        For missing columns, unreadable or out-of-range numbers, duplicate or unknown
        products.
    """
    if not isinstance(stock, pd.DataFrame) and not Path(str(stock).split("::")[0]).exists():
        raise InputError(f"Stock file not found: {stock}. Check the path given to --stock.")
    table = stock if isinstance(stock, pd.DataFrame) else read_table(stock)
    id_cols = list(data.columns.id_cols)
    missing_ids = [c for c in id_cols if c not in table.columns]
    if missing_ids:
        raise InputError(
            f"The stock table lacks the id column(s) {missing_ids} of the sales data; it has "
            f"{list(table.columns)}. Name them as in the sales input."
        )
    found: dict[str, str] = {}
    by_key = {_key(c): c for c in table.columns if c not in id_cols}
    for role, names in STOCK_COLUMNS.items():
        for name in (_key(role), *names):
            if name in by_key:
                found[role] = by_key[name]
                break
    if "on_hand" not in found:
        raise InputError(
            f"The stock table has no on-hand column among {list(table.columns)}. Add one named "
            "on_hand (optional: on_order, lead_time, review_period, moq, pack_size, unit_cost)."
        )
    ids = table[id_cols].apply(_id_text)
    uid = ids.iloc[:, 0] if len(id_cols) == 1 else ids.agg(ID_SEPARATOR.join, axis=1)
    if uid.isna().any() or (uid == "").any():
        raise InputError(
            f"The stock table has {int(uid.isna().sum())} row(s) without a product id."
        )
    dup = uid[uid.duplicated()]
    if len(dup):
        raise InputError(
            f"The stock table lists {dup.nunique()} product(s) more than once, e.g. "
            f"{format_examples(dup.unique())}. Keep one row per product."
        )
    known = set(data.ids["unique_id"])
    unknown = uid[~uid.isin(known)]
    if len(unknown):
        raise InputError(
            f"The stock table has {len(unknown)} product(s) not in the sales data, e.g. "
            f"{format_examples(unknown)}. Check the id column(s) {id_cols} or remove those rows."
        )
    out = pd.DataFrame({"unique_id": uid.to_numpy()})
    defaults = {
        "on_order": 0.0,
        "lead_time": float(lead_time),
        "review_period": float(review_period),
        "moq": 0.0,
        "pack_size": 1.0,
        "unit_cost": np.nan,
    }
    for role in STOCK_COLUMNS:
        col = found.get(role)
        if col is None:
            out[role] = defaults[role] if role != "on_hand" else 0.0
            continue
        raw = table[col].reset_index(drop=True)
        values = parse_numbers(raw)
        empty = raw.isna() | (raw.astype("string").str.strip() == "")
        bad = values.isna() & ~empty
        if role == "on_hand" and empty.any():
            bad |= empty
        if bad.any():
            raise InputError(
                f"The stock column {col!r} has {int(bad.sum())} value(s) that are not numbers, "
                f"e.g. {format_examples(raw[bad].astype('string').fillna('<empty>'))}, for "
                f"{format_examples(uid[bad.to_numpy()])}. Fix them or leave optional cells empty."
            )
        values = values.where(~empty, defaults.get(role, 0.0))
        _check_range(role, col, values, uid)
        out[role] = values.to_numpy(dtype=float)
    # every product of the data gets a row; those not in the table have nothing in stock
    full = pd.DataFrame({"unique_id": data.ids["unique_id"].to_numpy()})
    full = full.merge(out, on="unique_id", how="left")
    for role, value in defaults.items():
        full[role] = full[role].fillna(value)
    full["on_hand"] = full["on_hand"].fillna(0.0)
    return full


def _check_range(role: str, col: str, values: pd.Series, uid: pd.Series) -> None:
    rules: dict[str, tuple[pd.Series, str]] = {
        "on_order": (values < 0, "0 or more"),
        "lead_time": ((values < 0) | (values % 1 != 0), "whole periods, 0 or more"),
        "review_period": ((values < 1) | (values % 1 != 0), "whole periods, at least 1"),
        "moq": (values < 0, "0 or more"),
        "pack_size": (values <= 0, "more than 0"),
        "unit_cost": (values < 0, "0 or more"),
    }
    if role not in rules:
        return
    bad, rule = rules[role]
    if bad.any():
        raise InputError(
            f"The stock column {col!r} must be {rule}; {int(bad.sum())} value(s) are not, e.g. "
            f"{format_examples(values[bad])} for {format_examples(uid[bad.to_numpy()])}."
        )


# -- the plan ----------------------------------------------------------------------------------


def order_quantities(
    order_up_to: np.ndarray,
    position: np.ndarray,
    moq: np.ndarray | float = 0.0,
    pack_size: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Units to order: up to ``order_up_to`` from the inventory ``position``, in whole units,
    at least ``moq``, in whole packs; nothing when the position already reaches the level.

    >>> order_quantities(np.array([10.2, 5.0, 30.0]), np.array([0.0, 8.0, 0.0]), 12.0, 5.0)
    array([15.,  0., 30.])
    """
    need = np.asarray(order_up_to, dtype=float) - np.asarray(position, dtype=float)
    units = np.where(need > 1e-9, np.ceil(need - 1e-9), 0.0)
    units = np.where(units > 0, np.maximum(units, moq), 0.0)
    pack = np.broadcast_to(np.asarray(pack_size, dtype=float), units.shape)
    return np.asarray(np.where(units > 0, np.ceil(units / pack - 1e-9) * pack, 0.0))


@dataclass
class ReplenishmentPlan:
    """A replenishment plan and what it was built from."""

    plan: pd.DataFrame  # unique_id, PLAN_COLUMNS (+ order_value with unit costs)
    forecast: pd.DataFrame  # unique_id, ds, forecast over the longest protection interval
    backtest: pd.DataFrame  # unique_id, ds, cutoff, y, forecast: where the errors come from
    errors: ErrorModel
    distribution: DemandDistribution
    stock: pd.DataFrame  # read_stock's table
    service_level: float
    model: str
    horizon: int  # backtest window length
    windows: int


def _stock_table(
    data: PreparedData,
    stock: pd.DataFrame | str | Path | None,
    lead_time: int,
    review_period: int,
) -> pd.DataFrame:
    """The stock table indexed by ``unique_id``; without one nothing is on hand or on order."""
    if stock is None:
        table = pd.DataFrame({"unique_id": data.ids["unique_id"].to_numpy()}).assign(
            on_hand=0.0,
            on_order=0.0,
            lead_time=float(lead_time),
            review_period=float(review_period),
            moq=0.0,
            pack_size=1.0,
            unit_cost=np.nan,
        )
    else:
        table = read_stock(stock, data, lead_time=lead_time, review_period=review_period)
    return table.set_index("unique_id")


def replenishment_plan(
    data: PreparedData,
    *,
    lead_time: int,
    review_period: int = 1,
    service_level: float = 0.95,
    stock: pd.DataFrame | str | Path | None = None,
    model: str = "auto",
    candidates: Sequence[str] | None = FAST_CANDIDATES,
    windows: int = 4,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> ReplenishmentPlan:
    """Order-up-to levels and order quantities for every product (see the module doc).

    Parameters
    ----------
    data
        Prepared sales (``trendcast.load_sales``).
    lead_time, review_period
        In periods of the data's frequency (trading days for a shop closed some weekdays);
        the stock table's ``lead_time`` and ``review_period`` override them per product.
    service_level
        Target cycle service level: the probability a replenishment cycle has no stock-out.
    stock
        On hand, on order, MOQ, pack size... per product (see :func:`read_stock`); without
        it nothing is on hand or on order.
    model, candidates
        The forecasting model; ``auto`` chooses per product among ``candidates`` (the fast
        set by default; None for auto's own set, which adds ETS and Theta).
    windows
        Backtest windows the forecast errors are learned from (fewer when the history is short).
    """
    check_policy(lead_time, review_period, service_level)
    say = progress or _quiet
    table = _stock_table(data, stock, lead_time, review_period)
    lengths = (table["lead_time"] + table["review_period"]).astype(int)
    longest = int(lengths.max())
    periods = int(data.panel["ds"].nunique())
    horizon, windows = _window_shape(periods, longest, windows, model)
    say(f"backtesting {model} over {windows} window(s) of {horizon} periods for its errors")
    backtest, selection_cv = backtest_forecasts(
        data,
        data.panel,
        model=model,
        horizon=horizon,
        windows=windows,
        candidates=candidates,
        n_jobs=n_jobs,
    )
    say(f"forecasting {longest} periods (the longest lead time + review period)")
    fc = _forecast(data, model, longest, candidates, n_jobs, selection_cv)
    last = data.panel["ds"].max()
    errors = error_model(backtest, lengths)
    now = trailing_levels(data.panel, [last], level_window(data.calendar))[last]
    plan, dist = plan_from_forecast(fc, errors, now, table, data, service_level)
    return ReplenishmentPlan(
        plan=plan.reset_index(),
        forecast=fc,
        backtest=backtest,
        errors=errors,
        distribution=dist,
        stock=table.reset_index(),
        service_level=service_level,
        model=model,
        horizon=horizon,
        windows=windows,
    )


def plan_from_backtest(
    data: PreparedData,
    forecast: pd.DataFrame,
    backtest: pd.DataFrame,
    *,
    lead_time: int,
    review_period: int = 1,
    service_level: float = 0.95,
    stock: pd.DataFrame | str | Path | None = None,
) -> pd.DataFrame:
    """The plan of :func:`replenishment_plan` from a forecast and backtest already made
    (a run's), instead of running new ones: under the input's id columns, as
    :func:`plan_output` gives it.

    ``forecast`` is ``unique_id, ds, forecast``; ``backtest`` the same model's long
    backtest ``unique_id, ds, cutoff, y, forecast``. Both must reach at least
    ``lead_time + review_period`` periods ahead. The result keeps ``unique_id`` first.
    """
    check_policy(lead_time, review_period, service_level)
    table = _stock_table(data, stock, lead_time, review_period)
    lengths = (table["lead_time"] + table["review_period"]).astype(int)
    longest = int(lengths.max())
    reach = int(forecast.groupby("unique_id")["ds"].size().min()) if len(forecast) else 0
    window = int(backtest.groupby(["unique_id", "cutoff"]).size().max()) if len(backtest) else 0
    if min(reach, window) < longest:
        raise ConfigError(
            f"The plan needs forecasts and backtest windows of at least lead time + review "
            f"period = {longest} periods; these reach {min(reach, window)}. Use a longer "
            "horizon or a shorter lead time."
        )
    last = data.panel["ds"].max()
    errors = error_model(backtest, lengths)
    now = trailing_levels(data.panel, [last], level_window(data.calendar))[last]
    plan, dist = plan_from_forecast(forecast, errors, now, table, data, service_level)
    result = ReplenishmentPlan(
        plan=plan.reset_index(),
        forecast=forecast,
        backtest=backtest,
        errors=errors,
        distribution=dist,
        stock=table.reset_index(),
        service_level=service_level,
        model=str(forecast["model"].iloc[0]) if "model" in forecast and len(forecast) else "",
        horizon=window,
        windows=int(backtest["cutoff"].nunique()),
    )
    out = plan_output(result, data)
    if "unique_id" not in out.columns:
        # plan_output keeps the right-hand (plan) row order
        out.insert(0, "unique_id", result.plan["unique_id"].to_numpy())
    return out


def _days_per_period(data: PreparedData, last: pd.Timestamp, periods: int) -> float:
    future = data.calendar.future(last, periods)
    span = (future[-1] - last).days
    return max(span, 1) / periods


def plan_from_forecast(
    forecast: pd.DataFrame,
    errors: ErrorModel,
    level: pd.Series,
    stock: pd.DataFrame,
    data: PreparedData,
    service_level: float,
) -> tuple[pd.DataFrame, DemandDistribution]:
    """The plan's columns per product (index ``unique_id``) and the demand distribution behind
    them.

    From a point forecast (``unique_id, ds, forecast``), its model's :class:`ErrorModel`, the
    products' current demand ``level`` per period (:func:`trailing_levels`) and the stock
    table (indexed by ``unique_id``; see :func:`read_stock`).
    """
    fc = forecast.sort_values(["unique_id", "ds"])
    step = fc.groupby("unique_id").cumcount() + 1
    lead = fc["unique_id"].map(stock["lead_time"])
    length = lead + fc["unique_id"].map(stock["review_period"])
    inside = step <= length
    sums = fc[inside].groupby("unique_id")["forecast"].sum()
    review_part = fc[inside & (step > lead)].groupby("unique_id")["forecast"].sum()
    ids = sums.index
    table = stock.reindex(ids)
    lengths = (table["lead_time"] + table["review_period"]).astype(int)
    dist = errors.subset(ids).demand(sums.to_numpy(), level.reindex(ids).fillna(0.0).to_numpy())
    expected = dist.mean()
    up_to = dist.quantile(service_level)
    share = np.where(
        sums.to_numpy() > 0,
        review_part.reindex(ids).fillna(0.0).to_numpy() / np.maximum(sums.to_numpy(), 1e-12),
        table["review_period"].to_numpy() / lengths.to_numpy(),
    )
    position = (table["on_hand"] + table["on_order"]).to_numpy()
    qty = order_quantities(up_to, position, table["moq"].to_numpy(), table["pack_size"].to_numpy())
    last = data.panel["ds"].max()
    days = np.array([_days_per_period(data, last, int(p)) for p in lengths.to_numpy()])
    rate = expected / (lengths.to_numpy() * days)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(rate > 0, position / np.where(rate > 0, rate, 1.0), np.inf)
    cover = np.where(position <= 0, 0.0, cover)
    out = pd.DataFrame(
        {
            "expected_demand": expected,
            "safety_stock": up_to - expected,
            "reorder_point": up_to - expected * share,
            "order_up_to": up_to,
            "order_qty": qty,
            "stockout_risk": dist.exceedance(position + qty),
            "days_of_cover": cover,
        },
        index=ids,
    )
    if table["unit_cost"].notna().any():
        out["order_value"] = out["order_qty"] * table["unit_cost"].to_numpy()
    return out, dist


def plan_output(result: ReplenishmentPlan, data: PreparedData) -> pd.DataFrame:
    """The plan under the input's own id column(s), rounded for reading."""
    plan = result.plan.copy()
    for col in ("expected_demand", "safety_stock", "reorder_point", "order_up_to"):
        plan[col] = plan[col].round(2)
    plan["stockout_risk"] = plan["stockout_risk"].round(4)
    plan["days_of_cover"] = plan["days_of_cover"].round(1)
    if "order_value" in plan.columns:
        plan["order_value"] = plan["order_value"].round(2)
    out = data.ids.merge(plan, on="unique_id", how="right")
    value_cols = [c for c in plan.columns if c != "unique_id"]
    return out[[*data.columns.id_cols, *value_cols]]
