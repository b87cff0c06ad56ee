"""Spikes, drops and stock-outs in each product's history, with their likely causes.

**Expected demand.** Per product: a centred rolling median (``window``
periods, three weeks for daily data) follows the level and any slow season;
the median of the detrended values per phase of the season (weekday for daily
data) adds the short season, when the series covers three seasons. Medians,
not means, so the anomalies being looked for do not drag the baseline.

**Bounds.** ``scale`` is 1.4826 times the median absolute deviation of the
product's residuals (the standard deviation, robustly), floored at the Poisson
standard deviation ``sqrt(max(expected, 1))`` so that counts of 0, 1 and 3 do
not look extreme. ``score = (y - expected) / scale``; a ``spike`` has a score
above ``threshold`` (5 by default, as the cleaning's spike rule), a ``drop``
one below ``-threshold``; ``lower, upper = expected -/+ threshold * scale``.

**Stock-outs.** A run of at least ``stockout_min_run`` zero periods right after
a ``stockout_lookback`` stretch that sold in at least 90% of its periods, and
so long that a Poisson rate at the stretch's mean would give it a chance below
one in a million, is a ``stockout``: every period of the run is a row, with the
stretch's mean as ``expected``. A zero run that reaches the end of the data may
also be a delisting, and its cause says so. When at least half of the
regularly selling products have no sales in the same period, the shop was
closed or the data has a gap: such zero runs are not stock-outs, and a drop
in that period gets that cause.

**Intermittent products are skipped**: those selling in fewer than
``min_selling_share`` (half) of their periods, or with fewer than
``min_periods`` periods. With mostly zeros, the median is zero and any sale
would look like a spike; intermittent demand has no "normal" day to depart from.

**Likely causes**, joined by ``"; "`` (None when the data explains nothing):
``festival: double11`` (a spike inside a shopping festival's window, see
:mod:`trendcast.features.calendar`), ``holiday: Christmas Day`` (with a
``country``), ``promotion`` (``promo`` > 0), ``price cut (-20% vs recent
median)`` for a spike or ``price rise (+15% ...)`` for a drop (the relative
price of :func:`~trendcast.features.covariates.price_features`, beyond
``price_tolerance``), ``rebound after a stock-out``, the stock-out signature,
and the shop-wide zero.

Spikes in a panel from :func:`~trendcast.data.prepare.prepare_sales` with
the default cleaning (``cleaning.outliers = "cap"``) are already capped at the
cleaning's bound, so their ``y`` is that bound.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from trendcast.analysis.decomposition import check_panel, series_layout
from trendcast.analysis.drivers import holiday_names, period_calendar
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError
from trendcast.features.calendar import FestivalWindows
from trendcast.features.covariates import price_features

__all__ = ["detect_anomalies", "anomaly_eligible", "ANOMALY_KINDS"]

ANOMALY_KINDS = ("spike", "drop", "stockout")

_STOCKOUT_CHANCE = 1e-6  # a zero run this unlikely under the recent sales rate is a stock-out
_REGULAR_SHARE = 0.9  # share of selling periods that makes a stretch "regular sales"
_SHOP_WIDE_SHARE = 0.5  # share of regular sellers at zero that means the shop, not the product
_REBOUND_PERIODS = 3

_COLUMNS = [
    "unique_id",
    "ds",
    "y",
    "expected",
    "lower",
    "upper",
    "score",
    "kind",
    "likely_cause",
]


def _default_window(calendar: TradingCalendar) -> int:
    m = calendar.season_length
    if calendar.is_daily:
        return 3 * m + (3 * m + 1) % 2  # odd: three weeks of trading days
    return 13  # a quarter of weekly data, a year of monthly


def anomaly_eligible(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    min_selling_share: float = 0.5,
    min_periods: int | None = None,
) -> pd.Series:
    """Whether each product is regular enough for anomaly detection (indexed by ``unique_id``)."""
    min_periods = min_periods or 2 * _default_window(calendar)
    grouped = panel.groupby("unique_id", sort=True)["y"]
    selling = (panel["y"] > 0).groupby(panel["unique_id"], sort=True).mean()
    return ((grouped.size() >= min_periods) & (selling >= min_selling_share)).rename("eligible")


def _check_options(
    threshold: float,
    window: int | None,
    min_selling_share: float,
    stockout_min_run: int,
    stockout_lookback: int | None,
) -> None:
    if threshold <= 0:
        raise ConfigError(f"threshold must be positive (got {threshold}).")
    if window is not None and window < 3:
        raise ConfigError(f"window must be at least 3 periods (got {window}).")
    if not 0 < min_selling_share <= 1:
        raise ConfigError(f"min_selling_share must lie in (0, 1] (got {min_selling_share}).")
    if stockout_min_run < 1:
        raise ConfigError(f"stockout_min_run must be at least 1 (got {stockout_min_run}).")
    if stockout_lookback is not None and stockout_lookback < 2:
        raise ConfigError(
            f"stockout_lookback must be at least 2 periods (got {stockout_lookback})."
        )


def detect_anomalies(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    threshold: float = 5.0,
    window: int | None = None,
    min_selling_share: float = 0.5,
    min_periods: int | None = None,
    stockout_min_run: int = 3,
    stockout_lookback: int | None = None,
    country: str | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
    price_tolerance: float = 0.05,
) -> pd.DataFrame:
    """Spikes, drops and stock-outs per product, each with its bounds and likely cause.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y``; ``price`` and ``promo`` (or
        ``promotion``) are used for causes when present.
    calendar
        The panel's trading calendar.
    threshold
        Robust z-score beyond which a period is a spike or a drop.
    window
        Periods of the rolling median; default three weeks (daily) or 13.
    min_selling_share, min_periods
        Products selling in fewer periods, or shorter (default ``2 * window``),
        are skipped (see the module docs).
    stockout_min_run
        Fewest zero periods in a row for a stock-out.
    stockout_lookback
        Periods before a zero run that must show regular sales; default four
        seasons (28 days) or 8.
    country
        ISO code for public holidays as causes.
    festivals, windows
        Shopping festivals to attribute and their windows (default: all).
    price_tolerance
        Relative price change that counts as a price cut or rise.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds, y, expected, lower, upper, score, kind, likely_cause``,
        one row per anomalous period, ``kind`` one of :data:`ANOMALY_KINDS`.
    """
    _check_options(threshold, window, min_selling_share, stockout_min_run, stockout_lookback)
    panel = check_panel(panel, "Anomaly detection")
    if "promotion" in panel.columns and "promo" not in panel.columns:
        panel = panel.rename(columns={"promotion": "promo"})
    window = window or _default_window(calendar)
    m = calendar.season_length
    lookback = stockout_lookback or (4 * m if calendar.is_daily else 8)
    eligible = anomaly_eligible(
        panel, calendar, min_selling_share=min_selling_share, min_periods=min_periods or 2 * window
    )
    panel = panel[panel["unique_id"].isin(eligible.index[eligible])].reset_index(drop=True)
    if panel.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})

    frame = _expected(panel, window, m, threshold)
    score = frame["score"]
    frame["kind"] = np.where(score > threshold, "spike", np.where(score < -threshold, "drop", ""))
    runs = _stockout_runs(frame, lookback, stockout_min_run, threshold)
    cols = ["expected", "lower", "upper", "score", "kind"]
    frame.loc[runs.index, cols] = runs[cols]
    frame["run_cause"] = runs["cause"].reindex(frame.index)
    found = frame[frame["kind"] != ""].copy()
    found["likely_cause"] = _causes(
        found, frame, panel, calendar, country, festivals, windows, price_tolerance
    )
    return found[_COLUMNS].sort_values(["unique_id", "ds"], ignore_index=True)


def _expected(panel: pd.DataFrame, window: int, m: int, threshold: float) -> pd.DataFrame:
    """Rolling median plus phase medians, the robust scale and each period's score."""
    _, codes, pos, length = series_layout(panel)
    y = panel["y"]
    trend = (
        y.groupby(codes, sort=False)
        .rolling(window, center=True, min_periods=window // 2 + 1)
        .median()
        .reset_index(level=0, drop=True)
        .sort_index()
    )
    detrended = y - trend
    if m > 1:
        phase = pos % m
        season = detrended.groupby([codes, phase]).transform("median")
        season = season - season.groupby(codes).transform("mean")
        season = season.where(length >= 3 * m, 0.0)
    else:
        season = pd.Series(0.0, index=y.index)
    expected = (trend + season).clip(lower=0.0)
    resid = y - expected
    centre = resid.groupby(codes).transform("median")
    mad = (resid - centre).abs().groupby(codes).transform("median") * 1.4826
    scale = np.maximum(mad, np.sqrt(expected.clip(lower=1.0)))
    frame = pd.DataFrame(
        {
            "unique_id": panel["unique_id"],
            "ds": panel["ds"],
            "y": y,
            "expected": expected,
            "lower": (expected - threshold * scale).clip(lower=0.0),
            "upper": expected + threshold * scale,
            "score": resid / scale,
            "mad": mad,
            "code": codes,
            "pos": pos,
            "length": length,
        }
    )
    return frame


def _stockout_runs(
    frame: pd.DataFrame, lookback: int, min_run: int, threshold: float
) -> pd.DataFrame:
    """Rows of zero runs right after regular sales, with their stand-in bounds and cause.

    Also sets ``frame["shop_zero"]``: the product is at zero while at least half
    of the regularly selling products are too (the shop, not the product).
    """
    y = frame["y"].to_numpy(float)
    pos = frame["pos"].to_numpy()
    length = frame["length"].to_numpy()
    csum = np.concatenate([[0.0], np.cumsum(y)])
    csell = np.concatenate([[0.0], np.cumsum(y > 0)])
    i = np.arange(len(y))
    has_history = pos >= lookback
    start_at = np.where(has_history, i - lookback, 0)
    before_mean = np.where(has_history, (csum[i] - csum[start_at]) / lookback, np.nan)
    before_share = np.where(has_history, (csell[i] - csell[start_at]) / lookback, 0.0)
    regular = before_share >= _REGULAR_SHARE

    zero = y == 0
    by_date = frame["ds"].to_numpy()
    at_zero = pd.Series(zero & regular).groupby(by_date).transform("sum").to_numpy()
    sellers = pd.Series(regular).groupby(by_date).transform("sum").to_numpy()
    shop_zero = zero & (at_zero >= 3) & (at_zero >= _SHOP_WIDE_SHARE * sellers)
    frame["shop_zero"] = shop_zero

    columns = ["expected", "lower", "upper", "score", "kind", "cause"]
    rows = np.flatnonzero(zero)
    if len(rows) == 0:
        return pd.DataFrame(columns=columns)
    run_id = np.cumsum(zero & ((pos == 0) | ~np.concatenate([[False], zero[:-1]])))[rows]
    runs = pd.DataFrame({"row": rows, "run": run_id, "shop": shop_zero[rows]})
    grouped = runs.groupby("run")
    first = grouped["row"].transform("min").to_numpy()
    last = grouped["row"].transform("max").to_numpy()
    run_len = last - first + 1
    rate = np.nan_to_num(before_mean[first])
    stockout = (
        regular[first]
        & (run_len >= min_run)
        & (rate * run_len >= -np.log(_STOCKOUT_CHANCE))
        & (grouped["shop"].transform("mean").to_numpy() < 0.5)
    )
    idx, first, last, run_len, rate = (a[stockout] for a in (rows, first, last, run_len, rate))
    scale = np.maximum(frame["mad"].to_numpy()[idx], np.sqrt(np.maximum(rate, 1.0)))
    dates = frame["ds"].to_numpy()
    to_end = pos[last] == length[last] - 1
    causes = [
        f"stock-out or delisting: no sales since {pd.Timestamp(dates[f]):%Y-%m-%d}"
        if end
        else f"stock-out signature: {n} zero periods after regular sales (about {r:.1f} per period)"
        for end, f, n, r in zip(to_end, first, run_len, rate, strict=True)
    ]
    return pd.DataFrame(
        {
            "expected": rate,
            "lower": np.maximum(rate - threshold * scale, 0.0),
            "upper": rate + threshold * scale,
            "score": -rate / scale,
            "kind": "stockout",
            "cause": causes,
        },
        index=frame.index[idx],
        columns=columns,
    )


def _causes(
    found: pd.DataFrame,
    frame: pd.DataFrame,
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    country: str | None,
    festivals: Iterable[str] | None,
    windows: FestivalWindows | None,
    price_tolerance: float,
) -> list[str | None]:
    """The likely causes of each anomaly, from calendar, promotion, price and stock-outs."""
    if found.empty:
        return []
    cal = period_calendar(found["ds"], calendar, festivals=festivals, windows=windows)
    fest_cols = [c for c in cal.columns if c.startswith("fest_")]
    fest = cal[fest_cols].reindex(found["ds"]).to_numpy() if fest_cols else None
    names = holiday_names(found["ds"], calendar, country) if country else pd.Series(dtype=object)
    holiday = found["ds"].map(names).to_numpy() if len(names) else [None] * len(found)
    promo = panel.loc[found.index, "promo"].to_numpy() if "promo" in panel.columns else None
    rel_price = None
    if "price" in panel.columns:
        rel_price = price_features(panel)["rel_price"].loc[found.index].to_numpy()
    stockout = (frame["kind"] == "stockout").groupby(frame["code"])
    after_run = pd.Series(False, index=frame.index)
    for k in range(1, _REBOUND_PERIODS + 1):
        after_run |= stockout.shift(k, fill_value=False).astype(bool)
    causes: list[str | None] = []
    for j, (row, kind) in enumerate(zip(found.index, found["kind"], strict=True)):
        parts: list[str] = []
        if isinstance(found.at[row, "run_cause"], str):
            parts.append(str(found.at[row, "run_cause"]))
        if kind == "drop" and found.at[row, "shop_zero"]:
            parts.append("no sales anywhere in the shop: closed or missing data")
        if kind == "spike" and fest is not None:
            parts += [
                f"festival: {c.removeprefix('fest_')}"
                for c, on in zip(fest_cols, fest[j], strict=True)
                if on
            ]
        if isinstance(holiday[j], str):
            parts.append(f"holiday: {holiday[j]}")
        if kind == "spike" and promo is not None and promo[j] > 0:
            parts.append("promotion")
        if rel_price is not None and np.isfinite(rel_price[j]):
            change = rel_price[j] - 1
            if kind == "spike" and change <= -price_tolerance:
                parts.append(f"price cut ({change:+.0%} vs recent median)")
            elif kind != "spike" and change >= price_tolerance:
                parts.append(f"price rise ({change:+.0%} vs recent median)")
        if kind == "spike" and after_run.at[row]:
            parts.append("rebound after a stock-out")
        causes.append("; ".join(parts) or None)
    return causes
