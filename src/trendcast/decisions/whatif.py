"""What-if: the forecast under a planned price change or promotion.

A model that takes future-known covariates (``lightgbm``, ``linear``: see
``supports_future_covariates`` in ``trendcast models``) learned how price and
promotions move demand across all products. A scenario changes the future
price (``price_change``, relative, or ``price``, absolute) or switches a
promotion on (``promo``) for chosen products and periods of the horizon; the
fitted model forecasts the horizon twice:

- the **base**: the last known price carried forward and no promotion (the
  default of :func:`trendcast.pipeline.fit_forecast` without ``X_df``);
- the **scenario**: the same with the scenario's changes.

The price features (relative price to the recent median, discount depth,
change from the previous period) are recomputed for the future periods from the
scenario's prices, as they were for the history. Products not in the scenario
get exactly their base forecast, and so do the periods before a scenario starts;
after it ends the model's lags of its own (higher) forecasts can carry a little
uplift on (shown in the forecast table, left out of the summary).

**Uncertainty of the uplift**: the model is refit ``refits`` times on bootstrap
resamples of the products (drawn with replacement, each chosen product kept at
least once, a new random seed each time), and each refit forecasts the base and
the scenario again. ``uplift_lo``/``uplift_hi`` are ``uplift +/- z * sd`` of the
refits' uplifts at ``level`` (80% by default): how much the uplift depends on
which products the model learned from. They do not include the demand's own
noise; the forecasts' intervals do that. Products too short for the model's
lags get a historic average, which ignores prices: their uplift is zero and they
are listed in :attr:`WhatIfResult.fallback`.

Examples
--------
>>> import trendcast as tc
>>> from trendcast.decisions import scenario_changes, whatif
>>> data = tc.load_sales()                                              # doctest: +SKIP
>>> changes = scenario_changes(data, 28, products=["85123A"], price_change=-0.1)  # doctest: +SKIP
>>> result = whatif(data, changes, horizon=28, model="lightgbm")       # doctest: +SKIP
>>> result.summary                                                      # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from trendcast.data.columns import ID_SEPARATOR
from trendcast.data.io import read_table
from trendcast.data.parse import parse_dates, parse_numbers
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError, InputError, format_examples
from trendcast.features.covariates import model_frame, price_features
from trendcast.models.registry import get_model_class, make_model

__all__ = [
    "SCENARIO_COLUMNS",
    "WhatIfResult",
    "check_whatif_model",
    "parse_change",
    "read_scenario",
    "scenario_changes",
    "whatif",
    "whatif_output",
]

#: what a scenario may change
SCENARIO_COLUMNS = ("price_change", "price", "promo")
# periods of history the future price features need (their reference median looks 28 back)
_PRICE_MEMORY = 60

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


def parse_change(text: str | float) -> float:
    """A relative change as a fraction: ``"-10%"`` and ``-0.1`` are both -0.1.

    >>> parse_change("-10%"), parse_change("+5 %"), parse_change(-0.25)
    (-0.1, 0.05, -0.25)
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        raw = str(text).strip().replace("−", "-").replace("％", "%")
        percent = raw.endswith("%")
        try:
            value = float(raw.rstrip("%").strip())
        except ValueError:
            raise ConfigError(
                f"A price change must read like -10% or -0.1, got {text!r}."
            ) from None
        if percent:
            value /= 100
        elif abs(value) >= 1:
            raise ConfigError(
                f"A price change of {text!r} is ambiguous; write it as a percentage (-10%) or a "
                "fraction (-0.1)."
            )
    if not value > -1:
        raise ConfigError(f"A price change must stay above -100% (got {value:+.0%}).")
    return round(value, 10)


def check_whatif_model(model: str) -> None:
    """Raise :class:`ConfigError` unless ``model`` forecasts from future prices and promotions."""
    cls = get_model_class(model)
    if model == "auto":
        raise ConfigError(
            "auto chooses a model per product, mostly ones that ignore prices and promotions; "
            "pick a model that uses them for a what-if: --model lightgbm or --model linear."
        )
    if not cls.supports_future_covariates:
        raise ConfigError(
            f"The model {model} cannot use future prices or promotions, so a scenario would not "
            "change its forecast. Use --model lightgbm or --model linear."
        )


def _horizon_dates(data: PreparedData, horizon: int) -> pd.DatetimeIndex:
    if horizon < 1:
        raise ConfigError(f"The horizon must be at least 1 period (got {horizon}).")
    return data.calendar.future(data.panel["ds"].max(), horizon)


def _check_products(data: PreparedData, products: Sequence[str] | None) -> list[str]:
    known = list(data.ids["unique_id"].astype(str))
    if products is None:
        return known
    chosen = list(dict.fromkeys(str(p).strip() for p in products if str(p).strip()))
    if not chosen:
        raise ConfigError("The scenario names no products; list them, e.g. --products A,B.")
    unknown = [p for p in chosen if p not in set(known)]
    if unknown:
        id_cols = list(data.columns.id_cols)
        joined = f" (ids of several columns {id_cols} joined by {ID_SEPARATOR!r})"
        raise InputError(
            f"Unknown product(s) {format_examples(unknown)} in the scenario; use the ids of the "
            f"sales data{joined if len(id_cols) > 1 else ''}, e.g. {format_examples(known[:3])}."
        )
    return chosen


def scenario_changes(
    data: PreparedData,
    horizon: int,
    *,
    products: Sequence[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    price_change: float | str | None = None,
    price: float | None = None,
    promo: bool | None = None,
) -> pd.DataFrame:
    """The scenario's changes, one row per chosen product and horizon period in [start, end].

    Parameters
    ----------
    data
        Prepared sales.
    horizon
        Periods forecast; the scenario's dates must fall inside them.
    products
        Product ids (``unique_id``); default every product.
    start, end
        First and last date of the change, inclusive; default the whole horizon.
    price_change
        Relative price change (``-0.1`` or ``"-10%"``), or
    price
        the new unit price;
    promo
        ``True`` runs a promotion in those periods, ``False`` rules one out.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds`` and those of ``price_change, price, promo`` that are set.
    """
    if price_change is None and price is None and promo is None:
        raise ConfigError(
            "A scenario needs a change: a price change (e.g. --price-change -10%), a new price "
            "(--price) or a promotion (--promo)."
        )
    if price_change is not None and price is not None:
        raise ConfigError("Give a price change or a new price, not both.")
    if price is not None and not price > 0:
        raise ConfigError(f"A new price must be positive (got {price}).")
    chosen = _check_products(data, products)
    dates = _horizon_dates(data, horizon)
    first = _date(start, "start") if start is not None else dates[0]
    last = _date(end, "end") if end is not None else dates[-1]
    if last < first:
        raise ConfigError(
            f"The scenario ends ({last:%Y-%m-%d}) before it starts ({first:%Y-%m-%d})."
        )
    inside = dates[(dates >= first) & (dates <= last)]
    if inside.empty:
        raise ConfigError(
            f"The scenario's dates {first:%Y-%m-%d} .. {last:%Y-%m-%d} fall outside the forecast "
            f"horizon {dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}; move them or use a longer "
            "--horizon."
        )
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(np.asarray(chosen, dtype=object), len(inside)),
            "ds": np.tile(inside.to_numpy(), len(chosen)),
        }
    )
    if price_change is not None:
        out["price_change"] = parse_change(price_change)
    if price is not None:
        out["price"] = float(price)
    if promo is not None:
        out["promo"] = float(bool(promo))
    return out


def _date(value: str | pd.Timestamp, name: str) -> pd.Timestamp:
    parsed = parse_dates(pd.Series([value]))
    if parsed.isna().any():
        raise ConfigError(f"The scenario's {name} date {value!r} is not a date (e.g. 2024-12-01).")
    return pd.Timestamp(parsed.iloc[0]).normalize()


_ALIASES = {
    "start": ("from", "start", "startdate", "datefrom", "开始", "开始日期"),
    "end": ("to", "end", "enddate", "dateto", "until", "结束", "结束日期"),
    "price_change": ("pricechange", "change", "pricechangepct", "调价", "价格变化"),
    "price": ("price", "newprice", "unitprice", "价格"),
    "promo": ("promo", "promotion", "onpromotion", "促销"),
}


def _key(name: object) -> str:
    return re.sub(r"[\s_\-%]", "", str(name).lower())


def read_scenario(
    scenario: pd.DataFrame | str | Path, data: PreparedData, horizon: int
) -> pd.DataFrame:
    """The changes of a scenario table (see :func:`scenario_changes`), one row per product and
    period.

    Each row of the table is one change: the sales input's product id column(s)
    (left out or empty: every product), optional ``from`` and ``to`` dates (left
    out: the whole horizon) and at least one of ``price_change`` (``-10%`` or
    ``-0.1``), ``price`` and ``promo`` (1/0). Rows may not overlap on a product
    and period.
    """
    table = scenario if isinstance(scenario, pd.DataFrame) else read_table(scenario)
    if table.empty:
        raise InputError("The scenario table has no rows.")
    id_cols = [c for c in data.columns.id_cols if c in table.columns]
    by_key = {_key(c): c for c in table.columns if c not in id_cols}
    found = {
        role: next((by_key[n] for n in names if n in by_key), None)
        for role, names in _ALIASES.items()
    }
    if not any(found[role] for role in SCENARIO_COLUMNS):
        raise InputError(
            f"The scenario table has none of the columns price_change, price and promo; it has "
            f"{list(table.columns)}."
        )
    if id_cols and len(id_cols) < len(data.columns.id_cols):
        raise InputError(
            f"The scenario table has only some of the product id columns {list(data.columns.id_cols)}; "
            "give all of them, or none to change every product."
        )
    frames = []
    for position, row in enumerate(table.itertuples(index=False)):
        values = dict(zip(table.columns, row, strict=True))
        products = None
        if id_cols and not any(pd.isna(values[c]) or str(values[c]).strip() == "" for c in id_cols):
            products = [ID_SEPARATOR.join(str(values[c]).strip() for c in id_cols)]
        change = {role: _cell(values, found[role]) for role in (*SCENARIO_COLUMNS, "start", "end")}
        try:
            promo = change["promo"]
            frames.append(
                scenario_changes(
                    data,
                    horizon,
                    products=products,
                    start=change["start"],
                    end=change["end"],
                    price_change=change["price_change"],
                    price=_number(change["price"], "price"),
                    promo=None if promo is None else bool(_number(promo, "promo")),
                )
            )
        except (ConfigError, InputError) as exc:
            raise InputError(f"Row {position + 1} of the scenario table: {exc}") from None
    out = pd.concat(frames, ignore_index=True)
    clash = out.duplicated(["unique_id", "ds"], keep=False)
    if clash.any():
        first = out[clash].iloc[0]
        raise InputError(
            f"Rows of the scenario table overlap, e.g. on {first['unique_id']} at "
            f"{first['ds']:%Y-%m-%d}; give each product and period one change."
        )
    return out


def _cell(values: dict[str, Any], column: str | None) -> Any:
    if column is None:
        return None
    value = values[column]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return None if str(value).strip() == "" else value


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    number = parse_numbers(pd.Series([value])).iloc[0]
    if pd.isna(number):
        raise InputError(f"The scenario's {name} {value!r} is not a number.")
    return float(number)


def _check_data(data: PreparedData, changes: pd.DataFrame) -> None:
    panel = data.panel
    wants_price = any(c in changes.columns for c in ("price_change", "price"))
    if wants_price and "price" not in panel.columns:
        raise ConfigError(
            "The data has no price column, so a price scenario has nothing to learn from. Map the "
            "unit price with --price-col (or price_col in [columns])."
        )
    if "promo" in changes.columns and "promo" not in panel.columns:
        raise ConfigError(
            "The data has no promotion column, so the model never saw a promotion's effect. "
            "Add a promo column (1 on promotion days) to the sales input."
        )
    if wants_price:
        last = panel.groupby("unique_id")["price"].last()
        unpriced = [p for p in changes["unique_id"].unique() if pd.isna(last.get(p, np.nan))]
        if unpriced:
            raise InputError(
                f"Product(s) {format_examples(unpriced)} have no known price to change."
            )


def future_covariates(
    data: PreparedData, horizon: int, changes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The future-known covariates of every product over the horizon (``X_df``).

    Prices are carried forward from each product's last known price and
    promotions are off, then ``changes`` (see :func:`scenario_changes`) are
    applied; the price features are computed over the recent history and the
    future together, as for the training data.
    """
    panel = data.panel
    dates = _horizon_dates(data, horizon)
    ids = panel["unique_id"].unique()
    future = pd.DataFrame(
        {"unique_id": np.repeat(ids, len(dates)), "ds": np.tile(dates.to_numpy(), len(ids))}
    )
    covariates = [c for c in ("price", "promo") if c in panel.columns]
    if not covariates:
        return future
    if "price" in panel.columns:
        last_price = panel.groupby("unique_id")["price"].last()
        future["price"] = future["unique_id"].map(last_price).astype(float)
    if "promo" in panel.columns:
        future["promo"] = 0.0
    if changes is not None and not changes.empty:
        keyed = future.merge(changes, on=["unique_id", "ds"], how="left", suffixes=("", "_new"))
        if "price_change" in keyed.columns:
            factor = 1 + keyed["price_change"].fillna(0.0)
            keyed["price"] = keyed["price"] * factor
        if "price_new" in keyed.columns:
            keyed["price"] = keyed["price_new"].fillna(keyed["price"])
        if "promo_new" in keyed.columns:
            keyed["promo"] = keyed["promo_new"].fillna(keyed["promo"])
        future = keyed[["unique_id", "ds", *covariates]]
    recent = panel[panel["ds"] > panel["ds"].max() - _PRICE_MEMORY * data.calendar.offset]
    both = pd.concat(
        [recent[["unique_id", "ds", *covariates]], future], ignore_index=True
    ).sort_values(["unique_id", "ds"], ignore_index=True)
    feats = price_features(both)
    return feats[feats["ds"].isin(dates)].reset_index(drop=True)


@dataclass
class WhatIfResult:
    """A scenario's forecasts.

    Attributes
    ----------
    forecast
        One row per chosen product and horizon period: ``unique_id, ds, in_scenario,
        base, scenario, uplift, uplift_lo, uplift_hi, uplift_pct`` and the base and
        scenario ``price``/``promo`` when the data has them.
    summary
        Per chosen product, over its scenario periods: ``unique_id, periods, base,
        scenario, uplift, uplift_lo, uplift_hi, uplift_pct``.
    model
        The model's name.
    level
        The level of the uplift's interval, in percent.
    refits
        Bootstrap refits behind the interval.
    fallback
        Products forecast by a historic average (too short for the model's lags).
    """

    forecast: pd.DataFrame
    summary: pd.DataFrame
    model: str
    level: int
    refits: int
    fallback: list[str]


def _resample(
    frame: pd.DataFrame,
    static: pd.DataFrame | None,
    chosen: Sequence[str],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, str]]:
    """Products drawn with replacement (each chosen one at least once), renamed apart."""
    positions = frame.groupby("unique_id", sort=True).indices
    products = np.asarray(list(positions), dtype=object)
    draw = list(rng.choice(products, size=len(products), replace=True))
    draw += [p for p in chosen if p not in set(draw)]
    names = [f"{p}#{k}" for k, p in enumerate(draw)]
    rows = np.concatenate([positions[p] for p in draw])
    boot = frame.iloc[rows].reset_index(drop=True)
    boot["unique_id"] = np.repeat(names, [len(positions[p]) for p in draw])
    copy_of = {p: n for n, p in reversed(list(zip(names, draw, strict=True)))}
    boot_static = None
    if static is not None:
        attrs = static.set_index("unique_id").reindex(draw).reset_index(drop=True)
        boot_static = attrs.assign(unique_id=names)[static.columns]
    return boot, boot_static, {p: copy_of[p] for p in chosen}


def _predict(m: Any, horizon: int, x: pd.DataFrame, ids: dict[str, str]) -> pd.Series:
    """The point forecast of the chosen products (by their names in the fit) under ``x``."""
    renamed = x[x["unique_id"].isin(ids)].assign(unique_id=lambda f: f["unique_id"].map(ids))
    fc = m.predict(horizon, X_df=renamed)
    back = {v: k for k, v in ids.items()}
    fc = fc[fc["unique_id"].isin(back)]
    index = pd.MultiIndex.from_arrays([fc["unique_id"].map(back), fc["ds"]])
    return pd.Series(fc[m.alias].to_numpy(dtype=float), index=index)


def whatif(
    data: PreparedData,
    changes: pd.DataFrame,
    *,
    horizon: int,
    model: str = "lightgbm",
    refits: int = 10,
    level: int = 80,
    n_jobs: int = 1,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> WhatIfResult:
    """Base and scenario forecasts, the uplift and its uncertainty (see the module docs).

    Parameters
    ----------
    data
        Prepared sales with a ``price`` (and ``promo``) column.
    changes
        From :func:`scenario_changes` or :func:`read_scenario`.
    horizon
        Periods to forecast; must cover the scenario's dates.
    model
        A model that uses future covariates (``lightgbm``, ``linear``).
    refits
        Bootstrap refits for the uplift's interval (0: none; the interval is then the
        uplift itself).
    level
        Level of the uplift's interval, in percent.
    params
        Hyperparameters for the model.
    seed
        Seed of the fit and of the resampling.

    Raises
    ------
    ConfigError
        The model cannot use covariates, or the data lacks the scenario's column.
    """
    say = progress or _quiet
    check_whatif_model(model)
    if refits < 0:
        raise ConfigError(f"refits must be 0 or more (got {refits}).")
    if not 0 < level < 100:
        raise ConfigError(f"The interval level must lie between 0 and 100 (got {level}).")
    missing = [c for c in ("unique_id", "ds") if c not in changes.columns]
    if missing or not any(c in changes.columns for c in SCENARIO_COLUMNS):
        raise InputError(
            "The scenario needs unique_id, ds and at least one of price_change, price, promo "
            "(see scenario_changes)."
        )
    _check_data(data, changes)
    chosen = list(dict.fromkeys(changes["unique_id"].astype(str)))
    _check_products(data, chosen)
    dates = _horizon_dates(data, horizon)
    outside = changes[~changes["ds"].isin(dates)]
    if len(outside):
        raise ConfigError(
            f"{len(outside)} scenario row(s) fall outside the forecast horizon "
            f"{dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}; use a longer --horizon."
        )

    cls = get_model_class(model)
    base_x = future_covariates(data, horizon)
    scenario_x = future_covariates(data, horizon, changes)
    frame = model_frame(data.panel, True, cls.supports_past_covariates)
    static = data.static_df if len(data.static_df.columns) > 1 else None
    static = static if cls.supports_static_covariates else None

    def fitted(frame: pd.DataFrame, static: pd.DataFrame | None, run_seed: int) -> Any:
        extra = {"seed": run_seed} if "seed" not in (params or {}) else {}
        m = make_model(
            model,
            season_length=data.calendar.season_length,
            calendar=data.calendar,
            n_jobs=n_jobs,
            **{**extra, **(params or {})},
        )
        return m.fit(frame, static_df=static)

    say(f"fitting {model} and forecasting the base and the scenario")
    m = fitted(frame, static, seed)
    same = {p: p for p in chosen}
    base = _predict(m, horizon, base_x, same)
    scenario = _predict(m, horizon, scenario_x, same)
    fallback = sorted(set(chosen) & set(getattr(m, "fallback_", set())))
    uplifts = []
    rng = np.random.default_rng(seed)
    for r in range(refits):
        say(f"bootstrap refit {r + 1} of {refits} for the uplift's uncertainty")
        boot, boot_static, names = _resample(frame, static, chosen, rng)
        refit = fitted(boot, boot_static, seed + r + 1)
        uplifts.append(
            _predict(refit, horizon, scenario_x, names) - _predict(refit, horizon, base_x, names)
        )
    return _result(
        changes, base, scenario, uplifts, base_x, scenario_x, model, level, refits, fallback
    )


def _result(
    changes: pd.DataFrame,
    base: pd.Series,
    scenario: pd.Series,
    uplifts: list[pd.Series],
    base_x: pd.DataFrame,
    scenario_x: pd.DataFrame,
    model: str,
    level: int,
    refits: int,
    fallback: list[str],
) -> WhatIfResult:
    z = float(norm.ppf(0.5 + level / 200))
    out = pd.DataFrame({"base": base, "scenario": scenario.reindex(base.index)})
    out.index.names = ["unique_id", "ds"]
    out["uplift"] = out["scenario"] - out["base"]
    draws = pd.concat(uplifts, axis=1).reindex(out.index) if uplifts else None
    spread = draws.std(axis=1, ddof=1) if draws is not None and draws.shape[1] > 1 else 0.0
    out["uplift_lo"] = out["uplift"] - z * spread
    out["uplift_hi"] = out["uplift"] + z * spread
    out["uplift_pct"] = 100 * out["uplift"] / out["base"].where(out["base"] > 0)
    out = out.reset_index()
    keys = pd.MultiIndex.from_frame(changes[["unique_id", "ds"]])
    out["in_scenario"] = pd.MultiIndex.from_frame(out[["unique_id", "ds"]]).isin(keys)
    for name, x in (("base", base_x), ("scenario", scenario_x)):
        cols = [c for c in ("price", "promo") if c in x.columns]
        if cols:
            renamed = x[["unique_id", "ds", *cols]].rename(columns={c: f"{c}_{name}" for c in cols})
            out = out.merge(renamed, on=["unique_id", "ds"], how="left")
    lead = ["unique_id", "ds", "in_scenario", "base", "scenario", "uplift"]
    lead += ["uplift_lo", "uplift_hi", "uplift_pct"]
    out = out[[*lead, *[c for c in out.columns if c not in lead]]]
    out = out.sort_values(["unique_id", "ds"], ignore_index=True)

    inside = out[out["in_scenario"]]
    summary = inside.groupby("unique_id", sort=True).agg(
        periods=("ds", "size"), base=("base", "sum"), scenario=("scenario", "sum")
    )
    summary["uplift"] = summary["scenario"] - summary["base"]
    if draws is not None and draws.shape[1] > 1:
        mask = out.set_index(["unique_id", "ds"])["in_scenario"].reindex(draws.index)
        totals = draws[mask.to_numpy()].groupby(level=0).sum()
        total_spread = totals.std(axis=1, ddof=1).reindex(summary.index)
    else:
        total_spread = pd.Series(0.0, index=summary.index)
    summary["uplift_lo"] = summary["uplift"] - z * total_spread
    summary["uplift_hi"] = summary["uplift"] + z * total_spread
    summary["uplift_pct"] = 100 * summary["uplift"] / summary["base"].where(summary["base"] > 0)
    return WhatIfResult(out, summary.reset_index(), model, level, refits, fallback)


def whatif_output(result: WhatIfResult, data: PreparedData) -> pd.DataFrame:
    """The scenario's forecast table under the input's own id and time columns, rounded."""
    numbers = ["base", "scenario", "uplift", "uplift_lo", "uplift_hi"]
    rounded = result.forecast.round({**dict.fromkeys(numbers, 4), "uplift_pct": 2})
    out = data.ids.merge(rounded, on="unique_id", how="right")
    time_col = data.columns.time_col or "ds"
    values = [c for c in result.forecast.columns if c not in ("unique_id", "ds")]
    out = out.rename(columns={"ds": time_col})
    return out[[*data.columns.id_cols, time_col, *values]]
