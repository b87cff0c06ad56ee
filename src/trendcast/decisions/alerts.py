"""Alerts: the products a planner should look at today, each with its reason in plain words.

Every alert is one row: the product, the ``alert`` kind, a ``severity`` (``high``
or ``medium``), a ``reason`` that states the numbers, the ``value`` behind it, the
``threshold`` it crossed and the period ``ds`` it refers to. The kinds:

``stockout_risk`` (needs a replenishment plan, i.e. the stock)
    The probability that demand over the protection interval (lead time +
    review period) exceeds the stock on hand and on order, if nothing more is
    ordered, is above ``stockout_risk``. The demand distribution is the
    replenishment plan's (:func:`trendcast.decisions.replenishment_plan`: the
    forecast plus the model's cumulative backtest errors over the interval), so
    alerts and plan agree; the reason names the plan's order quantity. ``high``
    from a risk of one half (a stock-out is more likely than not) or with
    nothing in stock.
``overstock`` (needs a replenishment plan)
    The plan's days of cover (stock on hand and on order over the expected
    demand per calendar day) above ``overstock_days``; ``high`` beyond twice
    that, or with stock but no demand expected.
``dead_mover``
    No sale in the last ``dead_periods`` periods (or never); ``high`` when stock
    is on hand, tying up money.
``slow_mover``
    Sales over the last ``window`` periods below ``slow_ratio`` of the sales in
    the ``window`` periods before (products that sold at least ``min_units`` then);
    ``high`` below half the threshold.
``trend_break``
    The trend label of :func:`~trendcast.analysis.trends.detect_trends` changed
    between the previous ``window`` periods and the latest ``window`` among
    rising, falling and stable (say rising, now falling; a product gone dead is a
    ``dead_mover``). ``value`` is the latest window's Mann-Kendall p-value and
    ``threshold`` its significance level. ``high`` for a reversal (rising to
    falling or back).
``demand_anomaly``
    A spike, drop or stock-out signature of
    :func:`~trendcast.analysis.anomalies.detect_anomalies` in the last
    ``recent_periods`` periods; ``value`` is the period's sales and
    ``threshold`` the bound it crossed (the stretch's usual sales for a
    stock-out). ``high`` for a stock-out signature or a score beyond twice the
    anomaly threshold.

Examples
--------
>>> import trendcast as tc
>>> from trendcast.decisions import find_alerts
>>> data = tc.load_sales()                                  # doctest: +SKIP
>>> find_alerts(data).head()                                # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trendcast.analysis.anomalies import detect_anomalies
from trendcast.analysis.trends import default_window, detect_trends
from trendcast.data.calendar import TradingCalendar
from trendcast.data.prepare import PreparedData
from trendcast.decisions.plan import ReplenishmentPlan
from trendcast.exceptions import ConfigError

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_KINDS",
    "AlertSettings",
    "alerts_output",
    "default_lead_time",
    "find_alerts",
]

ALERT_KINDS = (
    "stockout_risk",
    "overstock",
    "dead_mover",
    "slow_mover",
    "trend_break",
    "demand_anomaly",
)
#: the columns of :func:`find_alerts`
ALERT_COLUMNS = ["unique_id", "alert", "severity", "reason", "value", "threshold", "ds"]
_SEVERITY_ORDER = {"high": 0, "medium": 1}
_REVERSALS = {("rising", "falling"), ("falling", "rising")}
# a product going dead is a dead mover; trend breaks are changes of direction
_TRENDED = ("rising", "falling", "stable")


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds of the alerts (periods are the data's periods: days, weeks...).

    ``None`` picks a default from the calendar: ``dead_periods`` 8 weeks of trading days, 13 weeks or
    6 months, ``window`` a quarter of a year (see
    :func:`~trendcast.analysis.trends.default_window`), ``recent_periods`` a week
    of trading days, 2 weeks or 1 month.
    """

    stockout_risk: float = 0.2
    overstock_days: float = 90.0
    dead_periods: int | None = None
    slow_ratio: float = 0.5
    min_units: float = 5.0
    window: int | None = None
    alpha: float = 0.05
    recent_periods: int | None = None
    anomaly_threshold: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.stockout_risk < 1:
            raise ConfigError(
                f"The stock-out risk threshold must lie between 0 and 1 (got {self.stockout_risk})."
            )
        if self.overstock_days <= 0:
            raise ConfigError(f"Overstock days must be positive (got {self.overstock_days}).")
        if not 0 < self.slow_ratio < 1:
            raise ConfigError(
                f"The slow-mover ratio must lie between 0 and 1 (got {self.slow_ratio}); 0.5 "
                "flags products selling under half of what they sold the window before."
            )
        if self.min_units < 0:
            raise ConfigError(f"min_units must be 0 or more (got {self.min_units}).")
        for name in ("dead_periods", "recent_periods"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1 period (got {value}).")
        if self.window is not None and self.window < 3:
            raise ConfigError(f"The trend window must be at least 3 periods (got {self.window}).")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must lie between 0 and 1 (got {self.alpha}).")
        if self.anomaly_threshold <= 0:
            raise ConfigError(
                f"The anomaly threshold must be positive (got {self.anomaly_threshold})."
            )

    def resolved(self, calendar: TradingCalendar) -> AlertSettings:
        """These settings with every ``None`` replaced by its calendar default."""
        week = calendar.season_length if calendar.is_daily else 1
        base = calendar.freq[0]
        return AlertSettings(
            stockout_risk=self.stockout_risk,
            overstock_days=self.overstock_days,
            dead_periods=self.dead_periods or {"W": 13, "M": 6}.get(base, 8 * week),
            slow_ratio=self.slow_ratio,
            min_units=self.min_units,
            window=self.window or default_window(calendar),
            alpha=self.alpha,
            recent_periods=self.recent_periods or {"W": 2}.get(base, week),
            anomaly_threshold=self.anomaly_threshold,
        )


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def _number(value: float, digits: int = 1) -> str:
    """``1,234.5``, ``90``, ``2.5``: grouped, without trailing decimal zeros."""
    if not math.isfinite(value):
        return "∞"
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def default_lead_time(calendar: TradingCalendar) -> int:
    """A week in the calendar's periods: the trading days of a week, else 1 period."""
    return calendar.season_length if calendar.is_daily else 1


def stock_alerts(
    plan: ReplenishmentPlan, settings: AlertSettings, last: pd.Timestamp
) -> pd.DataFrame:
    """Stock-out risk and overstock per product of a replenishment plan (see the module docs)."""
    table = plan.plan.set_index("unique_id")
    stock = plan.stock.set_index("unique_id").reindex(table.index)
    position = (stock["on_hand"] + stock["on_order"]).to_numpy(dtype=float)
    # the distribution's rows follow its own ids: line the positions up with them
    at = pd.Series(position, index=table.index).reindex(plan.distribution.ids)
    risk = pd.Series(
        plan.distribution.exceedance(at.to_numpy(dtype=float)), index=plan.distribution.ids
    ).reindex(table.index)
    columns = (
        position,
        risk.to_numpy(dtype=float),
        table["expected_demand"].to_numpy(dtype=float),
        table["days_of_cover"].to_numpy(dtype=float),
        table["order_qty"].to_numpy(dtype=float),
        (stock["lead_time"] + stock["review_period"]).to_numpy(dtype=float),
    )
    rows: list[dict[str, Any]] = []
    for uid, held, chance, expected, cover, order, periods in zip(
        table.index, *columns, strict=True
    ):
        if expected > 0 and chance > settings.stockout_risk:
            rows.append(
                {
                    "unique_id": uid,
                    "alert": "stockout_risk",
                    "severity": "high" if chance >= 0.5 or held <= 0 else "medium",
                    "reason": (
                        f"{chance:.0%} chance that the {_number(held)} units on hand and on "
                        f"order run out within {int(periods)} periods (lead time + review "
                        f"period; expected demand {_number(expected)}); the plan orders "
                        f"{_number(order)} (threshold {settings.stockout_risk:.0%})"
                    ),
                    "value": chance,
                    "threshold": settings.stockout_risk,
                    "ds": last,
                }
            )
        if cover > settings.overstock_days:
            rows.append(
                {
                    "unique_id": uid,
                    "alert": "overstock",
                    "severity": "high" if cover > 2 * settings.overstock_days else "medium",
                    "reason": (
                        f"{_number(held)} units on hand and on order cover "
                        + (
                            f"{_number(cover, 0)} days of the expected demand"
                            if np.isfinite(cover)
                            else "demand for good: none is expected"
                        )
                        + f" (threshold {_number(settings.overstock_days, 0)} days)"
                    ),
                    "value": cover,
                    "threshold": settings.overstock_days,
                    "ds": last,
                }
            )
    return _frame(rows)


def mover_alerts(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    settings: AlertSettings,
    stock: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Dead and slow movers from the sales (see the module docs); ``settings`` resolved,
    ``stock`` with ``unique_id, on_hand`` (the plan's stock table)."""
    assert settings.dead_periods is not None and settings.window is not None
    last = panel["ds"].max()
    grid = calendar.range(panel["ds"].min(), last)
    position = pd.Series(np.arange(len(grid)), index=grid)
    by_id = panel.groupby("unique_id")
    last_sale = panel[panel["y"] > 0].groupby("unique_id")["ds"].max().reindex(by_id.size().index)
    since = (len(grid) - 1 - last_sale.map(position)).astype(float)
    on_hand = (
        stock.set_index("unique_id")["on_hand"] if stock is not None else pd.Series(dtype=float)
    ).reindex(since.index)
    rows: list[dict[str, Any]] = []
    for uid, periods, held, sold in zip(
        since.index,
        since.to_numpy(dtype=float),
        on_hand.to_numpy(dtype=float),
        last_sale.to_numpy(),
        strict=True,
    ):
        never = not np.isfinite(periods)
        if not never and periods < settings.dead_periods:
            continue
        rows.append(
            {
                "unique_id": uid,
                "alert": "dead_mover",
                "severity": "high" if held > 0 else "medium",
                "reason": (
                    "never sold in the data"
                    if never
                    else f"no sale in the last {int(periods)} periods, since "
                    f"{pd.Timestamp(sold):%Y-%m-%d} (threshold {settings.dead_periods})"
                )
                + (f"; {_number(held)} units on hand" if held > 0 else ""),
                "value": float(len(grid)) if never else periods,
                "threshold": float(settings.dead_periods),
                "ds": last,
            }
        )
    dead = {row["unique_id"] for row in rows}

    window = settings.window
    if len(grid) >= 2 * window:
        recent_start, previous_start = grid[-window], grid[-2 * window]
        recent = panel[panel["ds"] >= recent_start].groupby("unique_id")["y"].sum()
        before = (
            panel[(panel["ds"] >= previous_start) & (panel["ds"] < recent_start)]
            .groupby("unique_id")["y"]
            .sum()
        )
        # a product must have lived through the whole earlier window to compare
        first = by_id["ds"].min()
        full = first.index[first <= previous_start]
        before = before.reindex(full).fillna(0.0)
        recent = recent.reindex(full).fillna(0.0)
        eligible = (before >= max(settings.min_units, 1e-9)) & ~before.index.isin(dead)
        ratio = recent[eligible] / before[eligible]
        slow = ratio[ratio < settings.slow_ratio]
        for uid, share, now, then in zip(
            slow.index,
            slow.to_numpy(dtype=float),
            recent.reindex(slow.index).to_numpy(dtype=float),
            before.reindex(slow.index).to_numpy(dtype=float),
            strict=True,
        ):
            rows.append(
                {
                    "unique_id": uid,
                    "alert": "slow_mover",
                    "severity": "high" if share < settings.slow_ratio / 2 else "medium",
                    "reason": (
                        f"sold {_number(now)} units in the last {window} periods, "
                        f"{share:.0%} of the {_number(then)} in the {window} before "
                        f"(threshold {settings.slow_ratio:.0%})"
                    ),
                    "value": float(share),
                    "threshold": settings.slow_ratio,
                    "ds": last,
                }
            )
    return _frame(rows)


def trend_break_alerts(
    panel: pd.DataFrame, calendar: TradingCalendar, settings: AlertSettings
) -> pd.DataFrame:
    """Products whose trend label changed from the previous window to the latest one."""
    assert settings.window is not None
    window = settings.window
    grid = calendar.range(panel["ds"].min(), panel["ds"].max())
    if len(grid) < 2 * window:
        return _frame([])
    cut = grid[-window - 1]
    now = detect_trends(panel, calendar, window, settings.alpha)
    then = detect_trends(panel[panel["ds"] <= cut], calendar, window, settings.alpha)
    both = now.merge(then, on="unique_id", how="inner", suffixes=("", "_before"))
    last = panel["ds"].max()
    rows: list[dict[str, Any]] = []
    for row in both.to_dict("records"):
        before, after = row["trend_before"], row["trend"]
        if before not in _TRENDED or after not in _TRENDED or before == after:
            continue
        earlier = _change(row["growth_pct_before"], row["slope_before"])
        rows.append(
            {
                "unique_id": row["unique_id"],
                "alert": "trend_break",
                "severity": "high" if (before, after) in _REVERSALS else "medium",
                "reason": (
                    f"trend changed from {before} ({earlier} over the {window} periods to "
                    f"{cut:%Y-%m-%d}) to {after} ({_change(row['growth_pct'], row['slope'])} "
                    f"over the last {window}, p {_p(row['p_value'])}, alpha {settings.alpha:g})"
                ),
                "value": float(row["p_value"]),
                "threshold": settings.alpha,
                "ds": last,
            }
        )
    return _frame(rows)


def _change(growth_pct: float, slope: float) -> str:
    """The change along a trend line: in percent, or as a slope when it starts at zero."""
    growth, slope = float(growth_pct), float(slope)
    if math.isfinite(growth):
        return f"{growth:+.0f}%"
    return f"slope {slope:+.2g} per period" if math.isfinite(slope) else "too short to tell"


def _p(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        return "n/a"
    return "< 0.001" if number < 0.001 else f"= {number:.3f}"


def anomaly_alerts(
    panel: pd.DataFrame, calendar: TradingCalendar, settings: AlertSettings
) -> pd.DataFrame:
    """Anomalies of the last ``recent_periods`` periods (see the module docs)."""
    assert settings.recent_periods is not None
    grid = calendar.range(panel["ds"].min(), panel["ds"].max())
    since = grid[-min(settings.recent_periods, len(grid))]
    found = detect_anomalies(panel, calendar, threshold=settings.anomaly_threshold)
    found = found[found["ds"] >= since]
    rows: list[dict[str, Any]] = []
    for record in found.to_dict("records"):
        kind = str(record["kind"])
        y, expected = float(record["y"]), float(record["expected"])
        bound = float(record["upper"] if kind == "spike" else record["lower"])
        if kind == "stockout":
            bound = expected
        cause = f"; likely cause: {record['likely_cause']}" if record["likely_cause"] else ""
        described = {
            "spike": f"a spike: sold {_number(y)}, expected about {_number(expected)} "
            f"(upper bound {_number(bound)})",
            "drop": f"a drop: sold {_number(y)}, expected about {_number(expected)} "
            f"(lower bound {_number(bound)})",
            "stockout": f"no sales where about {_number(expected)} per period sold before",
        }[kind]
        rows.append(
            {
                "unique_id": record["unique_id"],
                "alert": "demand_anomaly",
                "severity": "high"
                if kind == "stockout"
                or abs(float(record["score"])) > 2 * settings.anomaly_threshold
                else "medium",
                "reason": f"{pd.Timestamp(record['ds']):%Y-%m-%d}: {described}{cause}",
                "value": y,
                "threshold": bound,
                "ds": pd.Timestamp(record["ds"]),
            }
        )
    return _frame(rows)


def find_alerts(
    data: PreparedData,
    *,
    plan: ReplenishmentPlan | None = None,
    settings: AlertSettings | None = None,
    kinds: tuple[str, ...] = ALERT_KINDS,
) -> pd.DataFrame:
    """Every alert of ``kinds`` for the products of ``data`` (see the module docs).

    Parameters
    ----------
    data
        Prepared sales (:func:`trendcast.load_sales`).
    plan
        A replenishment plan with the stock (:func:`trendcast.decisions.replenishment_plan`)
        for the stock-out risk and overstock alerts; without it those are skipped.
    settings
        Thresholds; defaults from the calendar.
    kinds
        The alert kinds to look for.

    Returns
    -------
    pandas.DataFrame
        :data:`ALERT_COLUMNS`, high severity first, then by kind and product.
    """
    unknown = [k for k in kinds if k not in ALERT_KINDS]
    if unknown:
        raise ConfigError(f"Unknown alert kind(s) {unknown}; use some of {list(ALERT_KINDS)}.")
    resolved = (settings or AlertSettings()).resolved(data.calendar)
    panel = data.panel
    parts = []
    if plan is not None and {"stockout_risk", "overstock"} & set(kinds):
        found = stock_alerts(plan, resolved, panel["ds"].max())
        parts.append(found[found["alert"].isin(kinds)])
    if {"dead_mover", "slow_mover"} & set(kinds):
        stock = plan.stock if plan is not None else None
        found = mover_alerts(panel, data.calendar, resolved, stock)
        parts.append(found[found["alert"].isin(kinds)])
    if "trend_break" in kinds:
        parts.append(trend_break_alerts(panel, data.calendar, resolved))
    if "demand_anomaly" in kinds:
        parts.append(anomaly_alerts(panel, data.calendar, resolved))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _frame([])
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    out["threshold"] = out["threshold"].astype(float)
    order = out["severity"].map(_SEVERITY_ORDER)
    kind = out["alert"].map({k: i for i, k in enumerate(ALERT_KINDS)})
    out = out.assign(_s=order, _k=kind).sort_values(["_s", "_k", "unique_id", "ds"], kind="stable")
    return out[ALERT_COLUMNS].reset_index(drop=True)


def alerts_output(alerts: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """The alerts under the input's own id column(s), numbers rounded for reading."""
    out = data.ids.merge(alerts, on="unique_id", how="right")
    out["value"] = out["value"].round(4)
    out["threshold"] = out["threshold"].round(4)
    columns = [c for c in ALERT_COLUMNS if c != "unique_id"]
    return out[[*data.columns.id_cols, *columns]]
