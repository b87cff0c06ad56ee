"""Price, promotion and user-behaviour covariates per product and period.

Three kinds, after darts:

- future-known (price, promotion, calendar): must be supplied for the forecast
  horizon; when the user gives no future prices the last price is carried
  forward and promotions are assumed off, and the docs say so;
- past-only (views, carts, favourites, purchases, conversion): known only up
  to the forecast origin, so models use them lagged by at least the horizon;
- static (category, brand, store): ``PreparedData.static_df``.

Nothing here looks past a row's own period: relative prices compare with the
median of the *previous* ``window`` periods.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar
from trendcast.data.parse import parse_dates
from trendcast.exceptions import InputError, format_examples

__all__ = [
    "price_features",
    "behaviour_features",
    "BEHAVIOURS",
    "normalise_behaviour",
    "model_frame",
    "PAST_COVARIATES",
    "past_covariate_columns",
    "lagged_past_covariates",
    "behaviour_table",
    "join_behaviour",
]

BEHAVIOURS: dict[str, tuple[str, ...]] = {
    "views": ("pv", "view", "views", "click", "impression", "detail", "浏览", "点击"),
    "carts": ("cart", "addtocart", "add_to_cart", "add-to-cart", "加购", "加入购物车"),
    "favourites": ("fav", "favorite", "favourite", "wishlist", "like", "收藏"),
    "purchases": ("buy", "purchase", "transaction", "order", "checkout", "购买", "下单"),
}


def normalise_behaviour(values: pd.Series) -> pd.Series:
    """Map raw behaviour labels (pv, addtocart, 收藏, ...) to views/carts/favourites/purchases."""
    lookup = {re.sub(r"[\s_\-]", "", v.lower()): k for k, vs in BEHAVIOURS.items() for v in vs}
    key = values.astype("string").str.lower().str.replace(r"[\s_\-]", "", regex=True)
    return key.map(lookup)


def price_features(panel: pd.DataFrame, window: int = 28) -> pd.DataFrame:
    """Price and promotion features: ``unique_id, ds`` plus the columns below.

    ``price``; ``rel_price`` (price / median price of the previous ``window``
    periods); ``discount`` (depth below that median, 0..1); ``price_change``
    (relative change from the previous period); ``promo`` when the panel has it.
    A panel without ``price`` gives only ``promo`` (or nothing).
    """
    out = panel[["unique_id", "ds"]].copy()
    if "price" in panel.columns:
        # grouped by integer codes, in whole-column passes (not a function per product)
        codes = pd.factorize(panel["unique_id"])[0]
        raw = pd.Series(panel["price"].to_numpy(dtype=float))
        price = raw.groupby(codes).ffill().groupby(codes).bfill()
        prev = price.groupby(codes).shift(1)
        ref = (
            prev.groupby(codes)
            .rolling(window, min_periods=1)
            .median()
            .droplevel(0)
            .reindex(price.index)
        )
        ref = ref.fillna(price)
        out["price"] = price.to_numpy()
        out["rel_price"] = (price / ref.replace(0, np.nan)).fillna(1.0).to_numpy()
        out["discount"] = (1 - out["rel_price"]).clip(lower=0)
        out["price_change"] = ((price - prev) / prev.replace(0, np.nan)).fillna(0.0).to_numpy()
    if "promo" in panel.columns:
        out["promo"] = panel["promo"].fillna(0).astype(float)
    return out


def behaviour_features(
    events: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    product_col: str,
    behaviour_col: str,
    time_col: str,
    user_col: str | None = None,
) -> pd.DataFrame:
    """Counts of views, carts, favourites and purchases per product and period, and rates.

    ``events`` has one row per user action. Returns ``unique_id, ds, views,
    carts, favourites, purchases, cart_rate, conversion, buyers`` (``buyers``:
    distinct users who bought, when ``user_col`` is given). Rates are NaN-free:
    a period without views has rate 0.
    """
    missing = [c for c in (product_col, behaviour_col, time_col, user_col) if c and c not in events]
    if missing:
        raise InputError(
            f"Columns missing from the behaviour table: {missing}. It has {list(events.columns)}."
        )
    kind = normalise_behaviour(events[behaviour_col])
    unknown = events.loc[kind.isna(), behaviour_col].dropna().unique()
    if len(unknown) == len(events[behaviour_col].dropna().unique()):
        raise InputError(
            f"No known behaviour types in {behaviour_col!r}: {format_examples(unknown)}. "
            f"Use labels like {sorted(v for vs in BEHAVIOURS.values() for v in vs[:2])}."
        )
    ts = parse_dates(events[time_col])
    frame = pd.DataFrame(
        {
            "unique_id": events[product_col].astype("string").str.strip(),
            "ds": calendar.floor(ts),
            "kind": kind,
        }
    )
    if user_col:
        frame["user"] = events[user_col].astype("string")
    frame = frame.dropna(subset=["unique_id", "ds", "kind"])
    counts = frame.pivot_table(
        index=["unique_id", "ds"],
        columns="kind",
        values="unique_id" if not user_col else "user",
        aggfunc="size",
        fill_value=0,
    )
    counts = counts.reindex(columns=list(BEHAVIOURS), fill_value=0).astype(float)
    out = counts.reset_index()
    out.columns.name = None
    views = out["views"].replace(0, np.nan)
    out["cart_rate"] = (out["carts"] / views).fillna(0.0)
    out["conversion"] = (out["purchases"] / views).fillna(0.0)
    if user_col:
        buyers = frame[frame["kind"] == "purchases"].groupby(["unique_id", "ds"])["user"].nunique()
        out = out.merge(buyers.rename("buyers").reset_index(), on=["unique_id", "ds"], how="left")
        out["buyers"] = out["buyers"].fillna(0.0)
    return out.sort_values(["unique_id", "ds"], ignore_index=True)


#: the past-only covariates :func:`behaviour_features` makes, in a panel's columns
PAST_COVARIATES = (*BEHAVIOURS, "cart_rate", "conversion", "buyers")


def past_covariate_columns(frame: pd.DataFrame) -> list[str]:
    """The past-only (behaviour) columns ``frame`` carries."""
    return [c for c in PAST_COVARIATES if c in frame.columns]


def lagged_past_covariates(
    frame: pd.DataFrame, columns: list[str], lag: int, window: int
) -> pd.DataFrame:
    """Past-only covariates as features a forecast ``lag`` periods ahead may use.

    Per series (rows sorted by ``unique_id, ds``), the mean of each column over
    ``window`` periods ending ``lag`` periods before the row: ``<col>_lag<lag>``.
    With ``lag`` at least the horizon, a forecast only reads values up to its
    origin. Rows without such a past get 0. Aligned to ``frame``'s index.
    """
    ordered = frame.sort_values(["unique_id", "ds"], kind="stable")
    grouped = ordered.groupby("unique_id", sort=False)[columns]
    means = grouped.transform(lambda s: s.rolling(window, min_periods=1).mean())
    shifted = means.groupby(ordered["unique_id"].to_numpy(), sort=False).shift(lag)
    shifted.columns = [f"{c}_lag{lag}" for c in columns]
    return shifted.fillna(0.0).reindex(frame.index)


def model_frame(
    panel: pd.DataFrame, future_covariates: bool, past_covariates: bool = False
) -> pd.DataFrame:
    """What a model is fitted on: ``unique_id, ds, y``, plus the future-known price and
    promotion features when the model can use them, and the past-only behaviour
    columns (views, carts...) when it can use those (it must lag them itself)."""
    base = panel[["unique_id", "ds", "y"]].reset_index(drop=True)
    parts = [base]
    if future_covariates:
        feats = price_features(panel.reset_index(drop=True))
        parts.append(feats.drop(columns=["unique_id", "ds"]))
    if past_covariates:
        parts.append(panel[past_covariate_columns(panel)].reset_index(drop=True))
    parts = [p for p in parts if len(p.columns)]
    return pd.concat(parts, axis=1) if len(parts) > 1 else base


_EVENT_ROLES: dict[str, tuple[str, ...]] = {
    "product": ("itemid", "item", "productid", "product", "sku", "skuid", "stockcode", "商品id"),
    "behaviour": (
        "behaviortype",
        "behaviourtype",
        "behavior",
        "behaviour",
        "eventtype",
        "event",
        "action",
        "type",
        "行为类型",
        "行为",
    ),
    "time": ("timestamp", "eventtime", "time", "datetime", "date", "ds", "时间", "日期"),
    "user": ("userid", "user", "visitorid", "customerid", "用户id", "用户"),
}


def behaviour_table(
    events: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    product_col: str | None = None,
    behaviour_col: str | None = None,
    time_col: str | None = None,
    user_col: str | None = None,
) -> pd.DataFrame:
    """:func:`behaviour_features` of an event table whose columns are found by name.

    Columns not given are detected from common names (``item_id``/``product_id``/
    ``sku``, ``behavior_type``/``event``/``action``, ``timestamp``/``time``,
    ``user_id``/``visitorid``, and their Chinese equivalents); ``user_col`` is
    optional. Timestamps may be dates, datetimes or Unix seconds.
    """
    norm = {re.sub(r"[\s_\-./()]+", "", str(c).strip().lower()): str(c) for c in events.columns}
    given = {"product": product_col, "behaviour": behaviour_col, "time": time_col, "user": user_col}
    found: dict[str, str | None] = {}
    for role, synonyms in _EVENT_ROLES.items():
        found[role] = given[role] or next((norm[s] for s in synonyms if s in norm), None)
    missing = [r for r in ("product", "behaviour", "time") if found[r] is None]
    if missing:
        raise InputError(
            f"Could not find the {missing} column(s) of the behaviour table (it has "
            f"{list(events.columns)}). Name them with --events-col product=COL, "
            "--events-col type=COL and --events-col time=COL."
        )
    product, behaviour, when = (str(found[r]) for r in ("product", "behaviour", "time"))
    return behaviour_features(
        events,
        calendar,
        product_col=product,
        behaviour_col=behaviour,
        time_col=when,
        user_col=found["user"],
    )


def join_behaviour(panel: pd.DataFrame, behaviour: pd.DataFrame) -> pd.DataFrame:
    """The panel with the behaviour columns per product and period (0 where none happened).

    Raises :class:`InputError` when no product of the behaviour table is in the panel.
    """
    known = set(panel["unique_id"].astype(str))
    ids = behaviour["unique_id"].astype(str)
    if len(behaviour) and not ids.isin(known).any():
        raise InputError(
            f"None of the behaviour table's products ({format_examples(ids.unique())}) are in "
            f"the sales data ({format_examples(sorted(known))}). Check that both use the same "
            "product ids (for several id columns, the ids are joined as in the forecast output)."
        )
    cols = [c for c in behaviour.columns if c not in ("unique_id", "ds")]
    right = behaviour.assign(unique_id=ids)
    out = panel.drop(columns=[c for c in cols if c in panel.columns])
    out = out.merge(right, on=["unique_id", "ds"], how="left")
    out[cols] = out[cols].fillna(0.0)
    return out
