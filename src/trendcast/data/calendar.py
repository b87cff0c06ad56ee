"""The time grid of a panel: its frequency and the periods the business trades.

A shop that never opens on Saturdays has no Saturday demand to forecast. The
:class:`TradingCalendar` keeps the frequency together with the weekdays that
never trade, so series, backtests and forecasts all step over closed days the
same way, and models see a regular grid (one row per open period).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = ["TradingCalendar", "infer_freq", "normalize_freq", "detect_closed_weekdays"]

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_FREQ_ALIASES = {
    "d": "D",
    "day": "D",
    "daily": "D",
    "w": "W-SUN",
    "week": "W-SUN",
    "weekly": "W-SUN",
    "m": "MS",
    "month": "MS",
    "monthly": "MS",
    "ms": "MS",
    "me": "ME",
    "q": "QS",
    "quarterly": "QS",
    "h": "h",
    "hour": "h",
    "hourly": "h",
}

_SEASON_BY_BASE = {"D": 7, "W": 52, "M": 12, "Q": 4, "h": 24, "B": 5}


def normalize_freq(freq: str) -> str:
    """Turn a user's frequency ('daily', 'W', 'W-MON', 'MS'...) into a pandas alias."""
    key = freq.strip()
    alias = _FREQ_ALIASES.get(key.lower(), key)
    try:
        with warnings.catch_warnings():
            # pandas warns (FutureWarning) about spellings it is dropping, such as 'w-mon' or
            # 'sometimes', before accepting or refusing them; refuse them here in plain words
            warnings.simplefilter("error", FutureWarning)
            pd.tseries.frequencies.to_offset(alias)
    except (ValueError, FutureWarning):
        raise ConfigError(
            f"Unknown frequency {freq!r}. Use D (daily), W (weekly, or W-MON etc.), MS (monthly), "
            "QS (quarterly) or h (hourly)."
        ) from None
    return alias


def _base(freq: str) -> str:
    offset = pd.tseries.frequencies.to_offset(freq)
    name = offset.name.split("-")[0]
    if name in ("ME", "MS", "M", "SM", "SMS", "BMS", "BME"):
        return "M"
    if name in ("QS", "QE", "Q", "BQS", "BQE"):
        return "Q"
    if name in ("YS", "YE", "Y"):
        return "Y"
    return name


def infer_freq(dates: pd.Series | pd.DatetimeIndex) -> str:
    """Infer the frequency of a set of timestamps from the spacing of distinct dates.

    Uses the most common gap between consecutive distinct dates, so gaps from
    missing periods or closed days do not fool it.
    """
    # in nanoseconds, as the gaps below assume: DuckDB and Parquet dates arrive as datetime64[us]
    uniq = pd.DatetimeIndex(pd.unique(pd.Series(dates).dropna())).as_unit("ns").sort_values()
    if len(uniq) < 2:
        raise InputError(
            "Cannot infer the frequency from fewer than two distinct dates. Pass it with --freq "
            "(D, W or MS)."
        )
    if (uniq.normalize() != uniq).any():
        # timestamps with a time of day: the grain is the day unless it is clearly hourly
        diffs = np.diff(uniq.asi8) / 3.6e12
        return "h" if np.median(diffs) <= 1.0 else "D"
    days = np.diff(uniq.asi8) / 8.64e13
    step = pd.Series(days).mode().iloc[0]
    if step <= 1:
        return "D"
    if 6.5 <= step <= 7.5:
        weekday = pd.Series(uniq.dayofweek).mode().iloc[0]
        return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[weekday]
    if 27 <= step <= 32:
        return "MS" if (uniq.day == 1).mean() > 0.5 else "ME"
    if 88 <= step <= 93:
        return "QS" if (uniq.day == 1).mean() > 0.5 else "QE"
    if 364 <= step <= 367:
        return "YS"
    raise InputError(
        f"Cannot infer a regular frequency: the most common gap between dates is {step:g} days. "
        "Pass it with --freq (D, W or MS)."
    )


def detect_closed_weekdays(dates: pd.Series, min_weeks: int = 8) -> tuple[int, ...]:
    """Weekdays on which the business never trades, from the dates that have any sale.

    A weekday counts as closed when at most 2% of its dates in the covered
    span have any sale while the open weekdays trade on most of theirs. Needs
    ``min_weeks`` of history; less gives no closed days.
    """
    days = pd.DatetimeIndex(pd.unique(pd.Series(dates).dropna())).normalize().unique()
    if len(days) == 0:
        return ()
    span = pd.date_range(days.min(), days.max(), freq="D")
    if len(span) < 7 * min_weeks:
        return ()
    traded = pd.Series(span.isin(days), index=span)
    share = traded.groupby(span.dayofweek).mean()
    closed = tuple(int(d) for d in share.index if share[d] <= 0.02)
    open_share = share.drop(list(closed)).mean() if len(closed) < 7 else 0.0
    if len(closed) >= 7 or open_share < 0.5:
        return ()
    return closed


@dataclass(frozen=True)
class TradingCalendar:
    """Frequency plus closed weekdays (daily data only).

    Examples
    --------
    >>> cal = TradingCalendar("D", closed_weekdays=(5,))
    >>> list(cal.future(pd.Timestamp("2011-12-09"), 2).strftime("%a"))
    ['Sun', 'Mon']
    """

    freq: str = "D"
    closed_weekdays: tuple[int, ...] = field(default_factory=tuple)
    #: known-ahead flags per date beyond holidays and festivals (the M5 calendar's event types
    #: and SNAP days): a 0/1 frame indexed by date, used as features by the global models
    events: pd.DataFrame | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "freq", normalize_freq(self.freq))
        if self.closed_weekdays and _base(self.freq) != "D":
            raise ConfigError("Closed weekdays only apply to daily data.")

    @property
    def is_daily(self) -> bool:
        return _base(self.freq) == "D"

    @property
    def offset(self) -> pd.offsets.BaseOffset:
        if self.closed_weekdays:
            mask = " ".join(d for i, d in enumerate(WEEKDAY_NAMES) if i not in self.closed_weekdays)
            return pd.offsets.CustomBusinessDay(weekmask=mask)
        return pd.tseries.frequencies.to_offset(self.freq)

    @property
    def season_length(self) -> int:
        """Periods per natural season: open days per week, 52 weeks, 12 months..."""
        base = _base(self.freq)
        if base == "D":
            return 7 - len(self.closed_weekdays)
        return _SEASON_BY_BASE.get(base, 1)

    @property
    def periods_per_year(self) -> int:
        base = _base(self.freq)
        return {"D": 52 * self.season_length, "W": 52, "M": 12, "Q": 4, "h": 24 * 365}.get(base, 1)

    def describe(self) -> str:
        text = {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly", "h": "hourly"}.get(
            _base(self.freq), self.freq
        )
        if self.closed_weekdays:
            text += ", closed on " + "/".join(WEEKDAY_NAMES[d] for d in self.closed_weekdays)
        return text

    @property
    def labels_at_end(self) -> bool:
        """Whether a period is labelled by its last day (W-SUN, ME, QE) rather than its first."""
        name = pd.tseries.frequencies.to_offset(self.freq).name
        return name.startswith("W") or name.split("-")[0].endswith("E")

    def floor(self, ts: pd.Series) -> pd.Series:
        """Map timestamps to the label of their period (weeks by their last day, as pandas does)."""
        ts = pd.to_datetime(ts)
        base = _base(self.freq)
        if base == "D":
            return ts.dt.normalize()
        if base == "h":
            return ts.dt.floor("h")
        period = {"M": "M", "Q": "Q", "Y": "Y"}.get(base, self.freq)
        if base == "W":
            period = self.freq
        periods = ts.dt.to_period(period)
        if self.labels_at_end:
            return periods.dt.end_time.dt.normalize()
        return periods.dt.start_time

    def period_end(self, label: pd.Timestamp) -> pd.Timestamp:
        """The last day covered by the period labelled ``label``."""
        if self.labels_at_end or self.is_daily:
            return label.normalize()
        return self.future(label, 1)[0] - pd.Timedelta(days=1)

    def range(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        """All open periods from ``start`` to ``end`` inclusive."""
        return pd.date_range(start, end, freq=self.offset)

    def future(self, last: pd.Timestamp, h: int) -> pd.DatetimeIndex:
        """The ``h`` open periods after ``last``."""
        # start from the next open period itself: date_range would first roll a closed or
        # off-grid ``last`` forward onto the grid, and dropping that point would skip a period
        return pd.date_range(last + self.offset, periods=h, freq=self.offset)

    def check_fits(self, dates: pd.Series) -> None:
        """Raise if dates do not lie on this calendar's grid (e.g. daily dates with --freq W)."""
        uniq = pd.DatetimeIndex(pd.unique(pd.Series(dates).dropna()))
        if len(uniq) == 0:
            return
        grid = self.range(uniq.min(), uniq.max())
        off = uniq[~uniq.isin(grid)]
        if len(off) > 0:
            raise InputError(
                f"The frequency {self.freq!r} does not fit the dates: {len(off)} date(s) fall off its "
                f"grid, e.g. {format_examples(off.strftime('%Y-%m-%d'))}. Pass the right --freq, "
                "or let trendcast infer it by leaving --freq out."
            )
