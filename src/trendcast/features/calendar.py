"""Calendar, public-holiday and shopping-festival features (all known in advance).

Holidays come from the maintained ``holidays`` package for any country code.
Shopping festivals are not public holidays, so they are defined here: 618
(June 18), Double 11 (Nov 11), Double 12 (Dec 12), Black Friday (the day
after US Thanksgiving), Cyber Monday (the Monday after), Christmas (Dec 25)
and Spring Festival (Chinese New Year, from the CN calendar). Each festival
gets a window flag: 1 from ``before`` days ahead of it to ``after`` days
after it, because demand builds up before a festival and drains after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from trendcast.exceptions import ConfigError, MissingDependencyError

__all__ = ["event_flags", "FestivalWindows", "FESTIVALS", "festival_dates", "calendar_features"]


def _fixed(month: int, day: int) -> Callable[[int], date]:
    return lambda year: date(year, month, day)


def _thanksgiving(year: int) -> date:
    nov1 = date(year, 11, 1)
    first_thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def _spring_festival(year: int) -> date:
    holidays = _holidays_module()
    cn = holidays.country_holidays("CN", years=year)
    days = sorted(d for d, name in cn.items() if "Spring Festival" in name)
    if not days:  # the package covers 1950 onward; outside that there is no festival row
        raise ConfigError(f"No Spring Festival date is known for {year}.")
    return days[0]


FESTIVALS: dict[str, Callable[[int], date]] = {
    "618": _fixed(6, 18),
    "double11": _fixed(11, 11),
    "double12": _fixed(12, 12),
    "black_friday": lambda y: _thanksgiving(y) + timedelta(days=1),
    "cyber_monday": lambda y: _thanksgiving(y) + timedelta(days=4),
    "christmas": _fixed(12, 25),
    "spring_festival": _spring_festival,
}
"""Shopping festivals: name -> the festival's date in a given year."""


@dataclass(frozen=True)
class FestivalWindows:
    """Days before and after each festival that count as its window.

    ``default`` applies to festivals not named in ``windows``.
    """

    default: tuple[int, int] = (7, 1)
    windows: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"spring_festival": (14, 7), "christmas": (14, 2)}
    )

    def of(self, name: str) -> tuple[int, int]:
        before, after = self.windows.get(name, self.default)
        if before < 0 or after < 0:
            raise ConfigError(
                f"Festival window of {name!r} must be non-negative, got {(before, after)}."
            )
        return before, after


def _holidays_module() -> Any:
    try:
        import holidays
    except ImportError:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("holidays", purpose="holiday features") from None
    return holidays


def festival_dates(years: Iterable[int], names: Iterable[str] | None = None) -> pd.DataFrame:
    """The festivals' dates in ``years``: columns ``festival, ds``."""
    names = list(names) if names is not None else list(FESTIVALS)
    unknown = sorted(set(names) - set(FESTIVALS))
    if unknown:
        raise ConfigError(f"Unknown festival(s) {unknown}. Known: {sorted(FESTIVALS)}.")
    rows = [(n, pd.Timestamp(FESTIVALS[n](y))) for n in names for y in years]
    return pd.DataFrame(rows, columns=["festival", "ds"])


def calendar_features(
    dates: pd.DatetimeIndex | pd.Series,
    *,
    country: str | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Calendar features for each distinct date, indexed by date.

    Columns: ``dayofweek, weekofyear, month, quarter, dayofmonth, is_weekend,
    is_month_start, is_month_end``; ``holiday`` (a public holiday of ``country``,
    when given); ``fest_<name>`` (inside the festival's window) and
    ``days_to_festival`` (days until the next festival day, capped at 60); and
    every column of ``events`` (known-ahead 0/1 flags indexed by date, such as
    the M5 calendar's ``event_<type>`` and ``snap_<state>``; see
    :func:`event_flags`), 0 on dates it does not cover.

    Examples
    --------
    >>> f = calendar_features(pd.date_range("2024-11-10", periods=4), country="CN")
    >>> f["fest_double11"].tolist()  # the window runs 7 days before to 1 day after
    [1, 1, 1, 0]
    """
    idx = pd.DatetimeIndex(pd.unique(pd.Series(dates))).sort_values().normalize().unique()
    out = pd.DataFrame(index=idx)
    out.index.name = "ds"
    out["dayofweek"] = idx.dayofweek
    out["weekofyear"] = idx.isocalendar().week.to_numpy().astype(int)
    out["month"] = idx.month
    out["quarter"] = idx.quarter
    out["dayofmonth"] = idx.day
    out["is_weekend"] = (idx.dayofweek >= 5).astype(int)
    out["is_month_start"] = idx.is_month_start.astype(int)
    out["is_month_end"] = idx.is_month_end.astype(int)
    if len(idx) == 0:
        return out
    years = range(idx.min().year - 1, idx.max().year + 2)
    if country:
        holidays = _holidays_module()
        try:
            known = holidays.country_holidays(country, years=list(years))
        except NotImplementedError:
            raise ConfigError(
                f"Unknown holiday country {country!r}. Use an ISO code such as US, GB, CN, DE."
            ) from None
        out["holiday"] = idx.isin(pd.DatetimeIndex(list(known.keys()))).astype(int)
    names = list(festivals) if festivals is not None else list(FESTIVALS)
    windows = windows or FestivalWindows()
    fest = festival_dates(years, names)
    for name in names:
        before, after = windows.of(name)
        flag = np.zeros(len(idx), dtype=int)
        for day in fest.loc[fest["festival"] == name, "ds"]:
            flag |= (
                (idx >= day - pd.Timedelta(days=before)) & (idx <= day + pd.Timedelta(days=after))
            ).astype(int)
        out[f"fest_{name}"] = flag
    if names:
        days = np.sort(fest["ds"].to_numpy())
        nxt = np.searchsorted(days, idx.to_numpy())
        gap = (days[np.minimum(nxt, len(days) - 1)] - idx.to_numpy()) / np.timedelta64(1, "D")
        out["days_to_festival"] = np.clip(gap, 0, 60).astype(int)
    if events is not None and len(events.columns):
        known = events.reindex(idx).fillna(0).astype(int)
        for col in known.columns:
            out[col] = known[col].to_numpy()
    return out


def event_flags(calendar: pd.DataFrame) -> pd.DataFrame:
    """Known-ahead event flags per date from an M5-style calendar table.

    ``calendar`` has ``ds`` and any of ``event_type_1``, ``event_type_2`` (event
    categories such as Sporting, Cultural, National, Religious; empty on plain
    days) and ``snap_<state>`` 0/1 columns. The result, indexed by date, has
    ``event_<type>`` (1 on a day with an event of that type) and the ``snap_*``
    columns unchanged; a global model with the store or state as a static
    feature learns which SNAP flag matters for which series.

    Examples
    --------
    >>> cal = pd.DataFrame({"ds": pd.to_datetime(["2016-02-07", "2016-02-08"]),
    ...                     "event_type_1": ["Sporting", None], "snap_CA": [1, 0]})
    >>> event_flags(cal).to_dict("list")
    {'event_Sporting': [1, 0], 'snap_CA': [1, 0]}
    """
    dates = pd.DatetimeIndex(pd.to_datetime(calendar["ds"])).normalize()
    out = pd.DataFrame(index=dates)
    out.index.name = "ds"
    types = [c for c in ("event_type_1", "event_type_2") if c in calendar.columns]
    kinds = sorted({str(v) for c in types for v in calendar[c].dropna().unique()})
    for kind in kinds:
        hit = np.zeros(len(calendar), dtype=int)
        for c in types:
            hit |= (calendar[c].astype("object") == kind).to_numpy().astype(int)
        out[f"event_{kind}"] = hit
    for col in sorted(c for c in calendar.columns if str(c).startswith("snap_")):
        out[col] = calendar[col].to_numpy().astype(int)
    return out[~out.index.duplicated()]
