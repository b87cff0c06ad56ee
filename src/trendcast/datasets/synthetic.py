"""Synthetic e-commerce catalogues whose ground truth is known.

:func:`generate_catalogue` draws a catalogue of products over a daily or weekly
calendar: a trend, weekly and yearly seasonality, shopping festivals, promotions
whose price cut raises demand through each product's price elasticity, a
views -> carts -> purchases funnel, smooth, intermittent and lumpy (long-tail)
products, launches, discontinuations and stock-outs. Every parameter that made the
data is returned next to it, so tests can check that a model recovers a planted
effect and benchmarks can scale to millions of products.

The demand model
----------------
For product ``i`` in period ``t`` (``t = 0`` is the first period) the expected
demand is

    mu[i, t] = level[i] * exp(trend[i] * t) * weekly[i, weekday(t)]
               * (1 + yearly_amplitude[i] * cos(2 pi (doy(t) - yearly_peak[i]) / 365.25))
               * festival_effect[t] ** festival_uplift[i]
               * (price[i, t] / base_price[i]) ** elasticity[i]
               * ramp[i, t]

while the product is live (from ``launch`` to the day before ``discontinued``)
and 0 otherwise. ``festival_effect`` is the catalogue's festival multiplier
(:attr:`SyntheticData.festival_effect`); ``ramp`` rises from 0 to 1 over the first
weeks of a product launched inside the window, as ``1 - exp(-(age + 1) * days /
launch_ramp_days)`` with ``age`` in periods since the launch and ``days`` the
period's length in days. Demand is negative binomial with mean
``mu`` and shape ``dispersion[i]`` (variance ``mu + mu**2 / dispersion``);
on a stock-out period the units sold are 0 (demand is censored, the mask is in
the truth). Behaviour is drawn on top: every unit sold is one purchase, carts
are the purchases plus abandoned carts, views are the carts plus views that did
not lead to a cart (views go on during stock-outs; carts and purchases do not),
and favourites are a share of the expected views.

Generation is vectorised over blocks of :data:`BLOCK_PRODUCTS` products x all
periods, each block drawn from its own random stream derived from ``seed`` and
the block's number. So a product's data depends only on the seed, the calendar,
the knobs and its position: the first 1,000 products of a million-product
catalogue are the 1,000-product catalogue, and writing in chunks of any size
gives the same data as generating at once.

Examples
--------
>>> data = generate_catalogue(50, "2024-01-01", 365, seed=1)
>>> data.sales.columns.tolist()
['product_id', 'date', 'units', 'price', 'promo', 'category', 'brand', 'store']
>>> data.events.columns.tolist()
['product_id', 'date', 'views', 'carts', 'favourites', 'purchases']
>>> sorted(data.truth["segment"].unique())
['intermittent', 'lumpy', 'smooth']
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trendcast.exceptions import ConfigError, InputError, format_examples
from trendcast.features.calendar import FESTIVALS, FestivalWindows, festival_dates

__all__ = [
    "BLOCK_PRODUCTS",
    "SEGMENTS",
    "CatalogueKnobs",
    "SyntheticData",
    "catalogue_to_parquet",
    "generate_catalogue",
    "iter_catalogue",
]

BLOCK_PRODUCTS = 256
"""Products drawn together from one random stream (a chunk is a whole number of blocks)."""

SEGMENTS = ("smooth", "intermittent", "lumpy")
"""The demand regimes a product is drawn from (``truth["segment"]``)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_FESTIVALS: dict[str, float] = {
    "618": 2.0,
    "double11": 3.0,
    "double12": 1.5,
    "black_friday": 1.6,
    "cyber_monday": 1.4,
    "christmas": 1.3,
    "spring_festival": 0.6,
}

# behaviour labels of the event log, as in Taobao's UserBehavior data
_LOG_LABELS = {"views": "pv", "carts": "cart", "favourites": "fav", "purchases": "buy"}
_SECOND = np.int64(1_000_000_000)
_DAY_SECONDS = 86_400


@dataclass(frozen=True)
class CatalogueKnobs:
    """What the synthetic catalogue looks like; every field is a keyword of
    :func:`generate_catalogue`. Ranges ``(low, high)`` are drawn uniformly per
    product unless said otherwise; rates are per day (scaled for weekly data).

    Attributes
    ----------
    intermittent_share, lumpy_share
        Shares of products drawn as intermittent (rare sales of about one unit:
        ``intermittent_level`` units a day) and lumpy (rare sales of
        variable size: ``lumpy_level`` units a day, shape ``lumpy_dispersion``); the
        rest are smooth. Intermittent demand is Poisson (``dispersion`` inf).
    level_median, level_sigma
        Smooth products' daily level: log-normal with this median and log-sd (at
        least ``min_smooth_level``).
    dispersion
        Smooth products' negative-binomial shape (log-uniform in the range).
    growth_sd
        Standard deviation of the yearly log growth (``trend`` per day times
        365.25), cut at three standard deviations.
    weekly_strength
        Log-sd of the weekday profile around 1 (shared by a category, plus half
        as much product noise); 0 for no weekly pattern.
    yearly_amplitude
        Largest yearly amplitude (a category's is uniform up to it, a product's
        its category's times 0.5-1.5, capped at 0.9).
    festivals
        Festival name (see :data:`trendcast.features.calendar.FESTIVALS`) ->
        multiplier of demand on the festival day for a product of
        ``festival_uplift`` 1 (below 1 for a dip); it ramps over the festival's
        window of :class:`~trendcast.features.calendar.FestivalWindows`.
    festival_sensitivity
        Mean of the products' ``festival_uplift`` (gamma-distributed, shape 4).
    promo_rate, promo_days, discount
        Promotion starts per product and day (each product's rate is the mean
        times a gamma(2)/2 draw), promotion length in days and price cut (from
        the low end in steps of 0.05).
    elasticity_mean, elasticity_sd
        Price elasticity per product: normal, at most -0.2.
    price_median, price_sigma
        Regular price: log-normal around a category median (itself log-normal
        around ``price_median``), rounded to cents.
    stockout_rate, stockout_days
        Stock-out starts per product and day (exponential propensity per product)
        and their length in days.
    new_share, discontinued_share
        Shares of products launched inside the window, and discontinued before
        its end; every product lives at least an eighth of the window.
    launch_ramp_days
        Time constant of a new product's ramp-up (0 for none).
    cart_rate, buy_rate, favourite_rate
        Funnel per product: views -> cart, cart -> purchase, and favourites per view.
    n_categories, brands_per_category, n_stores
        Size of the catalogue's hierarchy.
    """

    intermittent_share: float = 0.25
    lumpy_share: float = 0.10
    level_median: float = 6.0
    level_sigma: float = 0.8
    min_smooth_level: float = 2.0
    dispersion: tuple[float, float] = (2.0, 20.0)
    intermittent_level: tuple[float, float] = (0.05, 0.5)
    lumpy_level: tuple[float, float] = (0.2, 1.5)
    lumpy_dispersion: tuple[float, float] = (0.05, 0.3)
    growth_sd: float = 0.25
    weekly_strength: float = 0.15
    yearly_amplitude: float = 0.4
    festivals: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FESTIVALS))
    festival_sensitivity: float = 1.0
    promo_rate: float = 0.02
    promo_days: tuple[int, int] = (3, 10)
    discount: tuple[float, float] = (0.1, 0.5)
    elasticity_mean: float = -2.0
    elasticity_sd: float = 0.5
    price_median: float = 25.0
    price_sigma: float = 0.6
    stockout_rate: float = 0.003
    stockout_days: tuple[int, int] = (1, 14)
    new_share: float = 0.15
    discontinued_share: float = 0.10
    launch_ramp_days: float = 14.0
    cart_rate: tuple[float, float] = (0.05, 0.20)
    buy_rate: tuple[float, float] = (0.2, 0.5)
    favourite_rate: tuple[float, float] = (0.01, 0.05)
    n_categories: int = 12
    brands_per_category: int = 10
    n_stores: int = 5

    def __post_init__(self) -> None:
        for name in (
            "intermittent_share",
            "lumpy_share",
            "new_share",
            "discontinued_share",
            "promo_rate",
            "stockout_rate",
        ):
            _check(0 <= getattr(self, name) <= 1, name, "between 0 and 1")
        _check(
            self.intermittent_share + self.lumpy_share <= 1,
            "intermittent_share + lumpy_share",
            "at most 1",
        )
        for name in ("level_median", "min_smooth_level", "price_median"):
            _check(getattr(self, name) > 0, name, "positive")
        for name in (
            "level_sigma",
            "growth_sd",
            "weekly_strength",
            "yearly_amplitude",
            "festival_sensitivity",
            "elasticity_sd",
            "price_sigma",
            "launch_ramp_days",
        ):
            _check(getattr(self, name) >= 0, name, "non-negative")
        _check(self.yearly_amplitude < 1, "yearly_amplitude", "below 1")
        for name in ("dispersion", "intermittent_level", "lumpy_level", "lumpy_dispersion"):
            low, high = getattr(self, name)
            _check(0 < low <= high, name, "a range (low, high) with 0 < low <= high")
        for name in ("promo_days", "stockout_days"):
            low, high = getattr(self, name)
            whole = isinstance(low, int) and isinstance(high, int)
            _check(whole and 1 <= low <= high, name, "whole days (low, high), 1 <= low <= high")
        low, high = self.discount
        _check(0 <= low <= high < 1, "discount", "a range (low, high) with 0 <= low <= high < 1")
        for name in ("cart_rate", "buy_rate", "favourite_rate"):
            low, high = getattr(self, name)
            _check(0 < low <= high <= 1, name, "a range (low, high) with 0 < low <= high <= 1")
        for name in ("n_categories", "brands_per_category", "n_stores"):
            value = getattr(self, name)
            _check(isinstance(value, int) and 1 <= value <= 999, name, "a whole number, 1 to 999")
        unknown = sorted(set(self.festivals) - set(FESTIVALS))
        if unknown:
            raise ConfigError(
                f"Unknown festival(s) {unknown} in the synthetic catalogue's knobs. "
                f"Known: {sorted(FESTIVALS)}."
            )
        bad = {k: v for k, v in self.festivals.items() if not v > 0}
        if bad:
            raise ConfigError(
                f"Festival multipliers must be positive (below 1 for a dip), got {bad}."
            )


def _check(ok: bool, name: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"The synthetic catalogue's knob {name} must be {what}.")


def _knobs(overrides: Mapping[str, Any]) -> CatalogueKnobs:
    known = {f.name for f in fields(CatalogueKnobs)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"Unknown knob(s) of the synthetic catalogue: {unknown}. Known: {sorted(known)}."
        )
    return CatalogueKnobs(**overrides)


@dataclass(frozen=True)
class SyntheticData:
    """A synthetic catalogue and the truth that made it.

    Attributes
    ----------
    sales
        One row per product and period while the product is live, sorted by
        product and date: ``product_id`` (categorical), ``date``, ``units`` (int32;
        0 on stock-outs), ``price`` (float64, in whole cents; the promotion price
        on promotion periods), ``promo`` (int8 0/1) and the static ``category``,
        ``brand`` and ``store`` (categorical). :func:`trendcast.pipeline.load_sales` detects
        every column.
    events
        Behaviour per product and period, row for row with ``sales``:
        ``product_id, date, views, carts, favourites, purchases`` (int32;
        ``purchases`` equals ``units``). None when made without behaviour.
        :meth:`event_log` expands it into one row per action.
    truth
        One row per product: ``product_id, category, brand, store, segment``
        (smooth/intermittent/lumpy), ``level`` (expected units per period at
        ``t = 0`` at the regular price and neutral season), ``trend`` (log growth
        per period), ``weekly_mon .. weekly_sun`` (weekday multipliers averaging
        1; all 1 for weekly data), ``yearly_amplitude``, ``yearly_peak`` (day of
        the year of the yearly high), ``festival_uplift`` (exponent on
        :attr:`festival_effect`), ``elasticity``, ``base_price``, ``dispersion``
        (negative-binomial shape; inf for Poisson), ``promo_rate`` and
        ``stockout_rate`` (starts per period), ``launch`` (first live period),
        ``is_new`` (launched inside the window), ``discontinued`` (first period
        no longer sold; NaT if never) and the funnel's ``cart_rate, buy_rate,
        favourite_rate``.
    truth_by_period
        Row for row with ``sales``: ``product_id, date, expected`` (float32, the
        mean demand ``mu`` before noise and censoring) and ``stockout`` (bool).
        None when not asked for.
    festival_effect
        Demand multiplier of the festivals per period for a product of
        ``festival_uplift`` 1 (1 outside festival windows), indexed by date.
    freq
        ``"D"`` or a weekly alias such as ``"W-SUN"`` (weeks labelled by their
        last day, as pandas and trendcast do).
    seed
        The seed the catalogue was drawn with.
    """

    sales: pd.DataFrame
    events: pd.DataFrame | None
    truth: pd.DataFrame
    truth_by_period: pd.DataFrame | None
    festival_effect: pd.Series
    freq: str
    seed: int

    def event_log(
        self,
        products: Sequence[str] | None = None,
        *,
        n_users: int = 10_000,
        seed: int = 0,
        max_events: int = 2_000_000,
    ) -> pd.DataFrame:
        """Expand :attr:`events` into one row per user action, for small catalogues.

        Each period's views get random users (a few heavy users, many light
        ones) and times inside the period. The users of a period's first
        ``carts`` views add to cart and the first ``purchases`` of those buy,
        each a little later than the step before, so every buyer viewed and
        carted the product first. Favourites go to other random users.

        Parameters
        ----------
        products
            Product ids to expand (all when None).
        n_users
            Size of the user pool.
        seed
            Seed of the users and times (the counts are the catalogue's).
        max_events
            Refuse to build a larger log (it would not fit in memory for long).

        Returns
        -------
        pandas.DataFrame
            ``user_id`` (int64), ``product_id`` (str), ``behaviour`` (``pv``,
            ``cart``, ``fav``, ``buy``) and ``timestamp``, sorted by time. Its
            counts per product and period are :attr:`events`; pass it to
            :func:`trendcast.pipeline.load_sales` as ``events=``.
        """
        if self.events is None:
            raise ConfigError(
                "This synthetic catalogue was made without behaviour; generate it with "
                "behaviour=True to expand an event log."
            )
        if n_users < 1:
            raise ConfigError(f"n_users must be at least 1, got {n_users}.")
        events = self.events
        if products is not None:
            wanted = pd.Index([str(p) for p in products])
            known = pd.Index(self.truth["product_id"].astype(str))
            unknown = wanted.difference(known)
            if len(unknown):
                raise InputError(
                    f"Products not in the synthetic catalogue: {format_examples(unknown)}. "
                    f"It has {format_examples(known)}."
                )
            events = events[events["product_id"].astype(str).isin(wanted)]
        counts = {k: events[k].to_numpy(np.int64) for k in _LOG_LABELS}
        total = int(sum(c.sum() for c in counts.values()))
        if total > max_events:
            raise ConfigError(
                f"The event log would have {total:,} rows, more than max_events={max_events:,}. "
                "Expand fewer products (products=[...]) or raise max_events."
            )
        rng = np.random.default_rng([self.seed, seed, 2])
        period_days = 7 if self.freq.startswith("W") else 1
        span = np.int64(period_days * _DAY_SECONDS)
        first_day = events["date"].to_numpy("datetime64[ns]") - np.timedelta64(period_days - 1, "D")
        starts = first_day.astype(np.int64) // _SECOND
        ids = events["product_id"].astype(str).to_numpy()

        views = counts["views"]
        cell = np.repeat(np.arange(len(views)), views)
        rank = np.arange(len(cell)) - np.repeat(np.cumsum(views) - views, views)
        view_users = _users(rng, n_users, len(cell))
        view_time = starts[cell] + (rng.random(len(cell)) * span).astype(np.int64)
        end = starts[cell] + span - 1
        cart_time = view_time + (rng.random(len(cell)) * (end - view_time) / 2).astype(np.int64)
        buy_time = cart_time + (rng.random(len(cell)) * (end - cart_time) / 2).astype(np.int64)
        carted = rank < counts["carts"][cell]
        bought = rank < counts["purchases"][cell]

        fav_cell = np.repeat(np.arange(len(views)), counts["favourites"])
        fav_users = _users(rng, n_users, len(fav_cell))
        fav_time = starts[fav_cell] + (rng.random(len(fav_cell)) * span).astype(np.int64)

        parts = [
            (view_users, cell, "pv", view_time),
            (view_users[carted], cell[carted], "cart", cart_time[carted]),
            (fav_users, fav_cell, "fav", fav_time),
            (view_users[bought], cell[bought], "buy", buy_time[bought]),
        ]
        seconds = np.concatenate([p[3] for p in parts])
        order = np.argsort(seconds, kind="stable")
        return pd.DataFrame(
            {
                "user_id": np.concatenate([p[0] for p in parts])[order],
                "product_id": ids[np.concatenate([p[1] for p in parts])[order]],
                "behaviour": np.repeat([p[2] for p in parts], [len(p[1]) for p in parts])[order],
                "timestamp": (seconds[order] * _SECOND).astype("datetime64[ns]"),
            }
        )


def _users(rng: np.random.Generator, n_users: int, size: int) -> np.ndarray:
    """User ids with a long tail of activity: a few users do most of the browsing."""
    return (n_users * rng.random(size) ** 3).astype(np.int64)


# -- the catalogue-wide context ---------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Everything shared by all blocks: calendar, festival effect, category parameters."""

    knobs: CatalogueKnobs
    seed: int
    n_products: int
    dates: pd.DatetimeIndex
    freq: str
    period_days: int
    weekday: np.ndarray  # int, per period
    year_cos: np.ndarray  # float32, per period: cos and sin of the day of the year
    year_sin: np.ndarray
    festival_log: np.ndarray  # float32, per period: log of the festival effect
    category_weights: np.ndarray  # cumulative category probabilities
    category_weekly: np.ndarray  # (n_categories, 7) log weekday profile
    category_amplitude: np.ndarray
    category_peak: np.ndarray
    category_price: np.ndarray

    @property
    def periods(self) -> int:
        return len(self.dates)


def _context(
    n_products: int, start: Any, periods: int, freq: str, seed: int, knobs: CatalogueKnobs
) -> _Context:
    if not isinstance(n_products, int | np.integer) or n_products < 1:
        raise ConfigError(f"n_products must be a whole number of at least 1, got {n_products!r}.")
    if not isinstance(periods, int | np.integer) or periods < 1:
        raise ConfigError(f"periods must be a whole number of at least 1, got {periods!r}.")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative whole number, got {seed!r}.")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        offset = None
    daily = isinstance(offset, pd.offsets.Day) and offset.n == 1
    weekly = (
        isinstance(offset, pd.offsets.Week)
        and offset.n == 1
        and getattr(offset, "weekday", None) is not None
    )
    if offset is None or not (daily or weekly):
        raise ConfigError(
            f"The synthetic catalogue is daily or weekly: use freq='D' or 'W' (or 'W-MON'...), "
            f"not {freq!r}."
        )
    try:
        first = pd.Timestamp(start).normalize()
    except (ValueError, TypeError):
        raise ConfigError(f"start must be a date such as '2024-01-01', got {start!r}.") from None
    dates = pd.date_range(first, periods=int(periods), freq=offset)
    period_days = 1 if daily else 7
    # weeks are labelled by their last day: a week's middle carries its season
    middle = dates - pd.Timedelta(days=(period_days - 1) / 2)
    angle = 2 * np.pi * middle.dayofyear.to_numpy() / 365.25
    days = pd.date_range(dates[0] - pd.Timedelta(days=period_days - 1), dates[-1], freq="D")
    festival = _festival_log(days, knobs.festivals).reshape(len(dates), period_days).mean(axis=1)

    rng = np.random.default_rng([int(seed), 0])
    n_cat = knobs.n_categories
    weights = 1.0 / np.arange(1, n_cat + 1) ** 0.8
    return _Context(
        knobs=knobs,
        seed=int(seed),
        n_products=int(n_products),
        dates=dates,
        freq=str(offset.freqstr),
        period_days=period_days,
        weekday=(dates.dayofweek.to_numpy() if daily else np.zeros(len(dates), dtype=np.int64)),
        year_cos=np.cos(angle).astype(np.float32),
        year_sin=np.sin(angle).astype(np.float32),
        festival_log=festival.astype(np.float32),
        category_weights=np.cumsum(weights / weights.sum()),
        category_weekly=rng.normal(0, knobs.weekly_strength, (n_cat, 7)),
        category_amplitude=rng.uniform(0, knobs.yearly_amplitude, n_cat),
        category_peak=rng.uniform(0, 365.25, n_cat),
        category_price=knobs.price_median * np.exp(rng.normal(0, 0.7, n_cat)),
    )


def _festival_log(days: pd.DatetimeIndex, uplifts: Mapping[str, float]) -> np.ndarray:
    """Log of the festival multiplier per day: each festival's log uplift, ramping linearly
    from its window's edges to the festival day."""
    out = np.zeros(len(days))
    if not uplifts or not len(days):
        return out
    windows = FestivalWindows()
    years = range(days[0].year - 1, days[-1].year + 2)
    table = festival_dates(years, list(uplifts))
    for name, group in table.groupby("festival", sort=False):
        before, after = windows.of(str(name))
        offsets = np.arange(-before, after + 1)
        weight = np.where(offsets <= 0, 1 + offsets / (before + 1), 1 - offsets / (after + 1))
        for day in group["ds"]:
            at = (day - days[0]) // pd.Timedelta(days=1) + offsets
            inside = (at >= 0) & (at < len(days))
            np.add.at(out, at[inside], math.log(uplifts[str(name)]) * weight[inside])
    return out


# -- one block of products ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """A block's per-product parameters (a dict of arrays) and its product x period matrices.

    Cells outside a product's life hold draws too (so the random streams do not
    depend on launches); they are never written out.
    """

    params: dict[str, np.ndarray]
    units: np.ndarray
    price: np.ndarray
    promo: np.ndarray
    expected: np.ndarray
    stockout: np.ndarray
    behaviour: dict[str, np.ndarray] | None


@dataclass(frozen=True)
class _Windows:
    """Random windows over a product x period matrix: the mask, and per cell the number of
    the window that covers it (-1 for none) with each window's row and spare uniform."""

    active: np.ndarray
    number: np.ndarray
    rows: np.ndarray
    spare: np.ndarray


def _between(u: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _windows(
    u: np.ndarray, rate: np.ndarray, lengths: tuple[int, int], period_days: int
) -> _Windows:
    """Windows (promotions, stock-outs) starting in a period with probability ``rate``.

    The starting uniform, rescaled below the rate, gives the window's length and
    a spare uniform (the promotion's depth), so one draw per cell suffices. A
    later start cuts an earlier window short. Starts are few, so they are handled
    as a list and spread over the matrix by a running maximum of window numbers.
    """
    low = -(-lengths[0] // period_days)
    high = -(-lengths[1] // period_days)
    rows, cols = np.nonzero(u < rate[:, None])
    scaled = u[rows, cols] / rate[rows] * (high - low + 1)
    whole = np.floor(scaled)
    number = np.full(u.shape, -1, dtype=np.int32)
    number[rows, cols] = np.arange(len(rows), dtype=np.int32)
    np.maximum.accumulate(number, axis=1, out=number)
    # the extra last end (-1) is read by cells before any window: never active
    ends = np.append(cols + low + whole.astype(np.int64), -1)
    active = np.arange(u.shape[1]) < ends[number]
    return _Windows(active, number, rows, scaled - whole)


def _block(ctx: _Context, number: int, behaviour: bool) -> _Block:
    """Draw block ``number`` (all ``BLOCK_PRODUCTS`` products, also past ``n_products``)."""
    params, rng = _products(ctx, number)
    return _matrices(ctx, params, rng, behaviour)


def _products(ctx: _Context, number: int) -> tuple[dict[str, np.ndarray], np.random.Generator]:
    """The per-product parameters of block ``number``, and its random stream, which goes on
    to draw the block's matrices."""
    k = ctx.knobs
    rng = np.random.default_rng([ctx.seed, 1, number])
    n, periods, pdays = BLOCK_PRODUCTS, ctx.periods, ctx.period_days

    segment_u = rng.random(n)
    segment = np.where(
        segment_u < k.intermittent_share,
        1,
        np.where(segment_u < k.intermittent_share + k.lumpy_share, 2, 0),
    )
    category = np.searchsorted(ctx.category_weights, rng.random(n), side="right")
    category = np.minimum(category, k.n_categories - 1)
    pick = (k.brands_per_category * rng.random(n) ** 2).astype(np.int64)
    brand = category * k.brands_per_category + pick
    store = rng.integers(0, k.n_stores, n)

    smooth_level = np.maximum(
        k.level_median * np.exp(k.level_sigma * rng.normal(size=n)), k.min_smooth_level
    )
    level_u = rng.random(n)
    daily_level = np.select(
        [segment == 0, segment == 1],
        [smooth_level, _between(level_u, k.intermittent_level)],
        _between(level_u, k.lumpy_level),
    )
    dispersion_u = rng.random(n)
    log_dispersion = _between(dispersion_u, (math.log(k.dispersion[0]), math.log(k.dispersion[1])))
    dispersion = np.select(
        [segment == 0, segment == 1],
        [np.exp(log_dispersion), np.full(n, np.inf)],
        _between(dispersion_u, k.lumpy_dispersion),
    )
    trend = np.clip(k.growth_sd * rng.normal(size=n), -3 * k.growth_sd, 3 * k.growth_sd)
    trend = trend / 365.25 * pdays
    weekly = np.exp(ctx.category_weekly[category] + rng.normal(0, k.weekly_strength / 2, (n, 7)))
    weekly /= weekly.mean(axis=1, keepdims=True)
    if pdays > 1:
        weekly[:] = 1.0
    amplitude = np.minimum(ctx.category_amplitude[category] * rng.uniform(0.5, 1.5, n), 0.9)
    peak = (ctx.category_peak[category] + rng.normal(0, 20, n)) % 365.25
    uplift = k.festival_sensitivity * rng.standard_gamma(4.0, n) / 4.0
    elasticity = np.minimum(k.elasticity_mean + k.elasticity_sd * rng.normal(size=n), -0.2)
    base_price = np.maximum(
        np.round(ctx.category_price[category] * np.exp(k.price_sigma * rng.normal(size=n)), 2),
        0.5,
    )
    promo_rate = np.minimum(k.promo_rate * pdays * rng.standard_gamma(2.0, n) / 2.0, 0.9)
    stockout_rate = np.minimum(k.stockout_rate * pdays * rng.standard_exponential(n), 0.9)

    min_life = max(1, periods // 8)
    new_u, launch_u, gone_u, end_u = rng.random((4, n))
    is_new = (new_u < k.new_share) & (periods - min_life >= 1)
    launch = np.where(is_new, 1 + (launch_u * max(periods - min_life, 0)).astype(np.int64), 0)
    room = periods - 1 - (launch + min_life)  # latest end minus earliest end
    gone = (gone_u < k.discontinued_share) & (room >= 0)
    end = np.where(gone, launch + min_life + (end_u * (room + 1)).astype(np.int64), periods)
    cart_rate = _between(rng.random(n), k.cart_rate)
    buy_rate = _between(rng.random(n), k.buy_rate)
    favourite_rate = _between(rng.random(n), k.favourite_rate)

    params = {
        "category": category,
        "brand": brand,
        "store": store,
        "segment": segment,
        "level": daily_level * pdays,
        "trend": trend,
        "weekly": weekly,
        "yearly_amplitude": amplitude,
        "yearly_peak": peak,
        "festival_uplift": uplift,
        "elasticity": elasticity,
        "base_price": base_price,
        "dispersion": dispersion,
        "promo_rate": promo_rate,
        "stockout_rate": stockout_rate,
        "launch": launch,
        "is_new": is_new,
        "end": end,
        "cart_rate": cart_rate,
        "buy_rate": buy_rate,
        "favourite_rate": favourite_rate,
    }
    return params, rng


def _matrices(
    ctx: _Context, params: dict[str, np.ndarray], rng: np.random.Generator, behaviour: bool
) -> _Block:
    """A block's product x period matrices, drawn from ``rng`` after its parameters."""
    k = ctx.knobs
    periods, pdays = ctx.periods, ctx.period_days
    base_price, elasticity = params["base_price"], params["elasticity"]
    launch, is_new, dispersion = params["launch"], params["is_new"], params["dispersion"]
    amplitude, peak = params["yearly_amplitude"], params["yearly_peak"]
    buy_rate, cart_rate = params["buy_rate"], params["cart_rate"]

    promo = _windows(
        rng.random((BLOCK_PRODUCTS, periods)), params["promo_rate"], k.promo_days, pdays
    )
    steps = int(round((k.discount[1] - k.discount[0]) / 0.05)) + 1
    depth = k.discount[0] + 0.05 * np.minimum(np.floor(promo.spare * steps), steps - 1)
    promo_price = np.maximum(np.round(base_price[promo.rows] * (1 - depth), 2), 0.01)
    price_effect = elasticity[promo.rows] * np.log(promo_price / base_price[promo.rows])
    price = np.where(promo.active, np.append(promo_price, 0.0)[promo.number], base_price[:, None])
    stockout = _windows(
        rng.random((BLOCK_PRODUCTS, periods)), params["stockout_rate"], k.stockout_days, pdays
    ).active

    t = np.arange(periods, dtype=np.float32)
    log_mu = np.multiply(params["trend"].astype(np.float32)[:, None], t)
    log_mu += np.log(params["level"]).astype(np.float32)[:, None]
    if pdays == 1:
        log_mu += np.log(params["weekly"]).astype(np.float32)[:, ctx.weekday]
    phase = 2 * np.pi * peak / 365.25
    yearly = np.multiply((amplitude * np.cos(phase)).astype(np.float32)[:, None], ctx.year_cos)
    yearly += (amplitude * np.sin(phase)).astype(np.float32)[:, None] * ctx.year_sin
    yearly += 1
    log_mu += np.log(yearly, out=yearly)
    log_mu += params["festival_uplift"].astype(np.float32)[:, None] * ctx.festival_log
    effect = np.append(price_effect.astype(np.float32), np.float32(0))[promo.number]
    log_mu += np.where(promo.active, effect, np.float32(0))
    if k.launch_ramp_days > 0 and is_new.any():
        age = np.maximum(t - launch[is_new, None].astype(np.float32), 0) + 1
        log_mu[is_new] += np.log(-np.expm1(-age * np.float32(pdays / k.launch_ramp_days)))
    expected = np.exp(log_mu, out=log_mu)

    # negative binomial as a gamma-Poisson mixture; intermittent products are plain Poisson
    mixed = np.flatnonzero(np.isfinite(dispersion))
    lam = expected.copy()
    shape = dispersion[mixed].astype(np.float32)[:, None]
    gamma = rng.standard_gamma(np.broadcast_to(shape, (len(mixed), periods)), dtype=np.float32)
    lam[mixed] *= gamma / shape
    units = rng.poisson(lam).astype(np.int32)
    units[stockout] = 0

    funnel = None
    if behaviour:
        # expected views follow expected demand, so traffic goes on during a stock-out
        viewed = 1 / (buy_rate * cart_rate)
        abandoned = np.where(stockout, 0, expected * ((1 - buy_rate) / buy_rate)[:, None])
        browsing = expected * np.where(stockout, viewed[:, None], (viewed - 1 / buy_rate)[:, None])
        carts = units + rng.poisson(abandoned).astype(np.int32)
        views = carts + rng.poisson(browsing).astype(np.int32)
        favourites = rng.poisson(expected * (viewed * params["favourite_rate"])[:, None])
        funnel = {
            "views": views,
            "carts": carts,
            "favourites": favourites.astype(np.int32),
            "purchases": units,
        }

    return _Block(params, units, price, promo.active, expected, stockout, funnel)


# -- tables --------------------------------------------------------------------------------------


def _product_ids(first: int, count: int) -> list[str]:
    return [f"P{i:07d}" for i in range(first, first + count)]


def _labels(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i + 1:02d}" for i in range(count)]


def _categorical(codes: np.ndarray, labels: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels))


def _live_cells(launch: np.ndarray, end: np.ndarray, periods: int) -> np.ndarray:
    """Flat (row-major) indices of the cells from each row's launch to before its end."""
    lengths = np.maximum(end - launch, 0)
    offsets = np.cumsum(lengths) - lengths
    firsts = np.arange(len(launch)) * periods + launch
    return np.arange(int(lengths.sum())) + np.repeat(firsts - offsets, lengths)


def _assemble(
    ctx: _Context, first: int, count: int, behaviour: bool, by_period: bool
) -> SyntheticData:
    """The tables of products ``first .. first + count - 1`` (``first`` on a block boundary)."""
    k = ctx.knobs
    numbers = range(first // BLOCK_PRODUCTS, -(-(first + count) // BLOCK_PRODUCTS))
    drawn = [_products(ctx, number) for number in numbers]
    keeps = [min(BLOCK_PRODUCTS, first + count - number * BLOCK_PRODUCTS) for number in numbers]
    params = [
        {name: v[:keep] for name, v in p.items()} for (p, _), keep in zip(drawn, keeps, strict=True)
    ]
    param = {name: np.concatenate([p[name] for p in params]) for name in params[0]}
    # the tables are filled block by block: no second copy of a chunk's rows
    sizes = [int(np.maximum(p["end"] - p["launch"], 0).sum()) for p in params]
    total = sum(sizes)
    columns: dict[str, type[np.generic]] = {
        "product": np.int32,
        "units": np.int32,
        "price": np.float64,
        "promo": np.int8,
    }
    if by_period:
        columns |= {"expected": np.float32, "stockout": np.bool_}
    if behaviour:
        columns |= {name: np.int32 for name in _LOG_LABELS}
    cell = {name: np.empty(total, dtype=dtype) for name, dtype in columns.items()}
    dates = np.empty(total, dtype="datetime64[ns]")
    date_at = ctx.dates.to_numpy()
    at = 0
    for number, (block_params, rng), part, size in zip(numbers, drawn, params, sizes, strict=True):
        block = _matrices(ctx, block_params, rng, behaviour)
        flat = _live_cells(part["launch"], part["end"], ctx.periods)
        rows = slice(at, at + size)
        at += size
        cell["product"][rows] = number * BLOCK_PRODUCTS - first + flat // ctx.periods
        dates[rows] = date_at[flat % ctx.periods]
        matrices = {"units": block.units, "price": block.price, "promo": block.promo}
        if by_period:
            matrices |= {"expected": block.expected, "stockout": block.stockout}
        if block.behaviour is not None:
            matrices |= block.behaviour
        for name, matrix in matrices.items():
            np.take(matrix.ravel(), flat, out=cell[name][rows].view(matrix.dtype), mode="clip")

    ids = _product_ids(first, count)
    product = _categorical(cell["product"], ids)
    brands = [
        f"brand_{c + 1:02d}_{b + 1:02d}"
        for c in range(k.n_categories)
        for b in range(k.brands_per_category)
    ]
    static = {
        "category": _categorical(param["category"], _labels("cat_", k.n_categories)),
        "brand": _categorical(param["brand"], brands),
        "store": _categorical(param["store"], _labels("store_", k.n_stores)),
    }
    owner = cell["product"]
    # copy=False: each column keeps its own array instead of being stacked by dtype (the
    # other tables get their own keys, so that editing one table never changes another)
    sales = pd.DataFrame(
        {
            "product_id": product,
            "date": dates,
            "units": cell["units"],
            "price": cell["price"],
            "promo": cell["promo"],
            **{name: values.take(owner) for name, values in static.items()},
        },
        copy=False,
    )
    events = None
    if behaviour:
        events = pd.DataFrame(
            {"product_id": product.copy(), "date": dates.copy()}
            | {name: cell[name] for name in _LOG_LABELS},
            copy=False,
        )
    truth_by_period = None
    if by_period:
        truth_by_period = pd.DataFrame(
            {
                "product_id": product.copy(),
                "date": dates.copy(),
                "expected": cell["expected"],
                "stockout": cell["stockout"],
            },
            copy=False,
        )

    weekly = param["weekly"]
    truth = pd.DataFrame(
        {
            "product_id": pd.Categorical(ids, categories=ids),
            **static,
            "segment": _categorical(param["segment"], SEGMENTS),
            "level": param["level"],
            "trend": param["trend"],
            **{f"weekly_{day}": weekly[:, i] for i, day in enumerate(WEEKDAYS)},
            "yearly_amplitude": param["yearly_amplitude"],
            "yearly_peak": param["yearly_peak"],
            "festival_uplift": param["festival_uplift"],
            "elasticity": param["elasticity"],
            "base_price": param["base_price"],
            "dispersion": param["dispersion"],
            "promo_rate": param["promo_rate"],
            "stockout_rate": param["stockout_rate"],
            "launch": date_at[param["launch"]],
            "is_new": param["is_new"],
            "discontinued": np.where(
                param["end"] < ctx.periods,
                date_at[np.minimum(param["end"], ctx.periods - 1)],
                np.datetime64("NaT"),
            ),
            "cart_rate": param["cart_rate"],
            "buy_rate": param["buy_rate"],
            "favourite_rate": param["favourite_rate"],
        }
    )
    festival_effect = pd.Series(
        np.exp(ctx.festival_log.astype(np.float64)), index=ctx.dates, name="festival_effect"
    )
    festival_effect.index.name = "date"
    return SyntheticData(
        sales=sales,
        events=events,
        truth=truth,
        truth_by_period=truth_by_period,
        festival_effect=festival_effect,
        freq=ctx.freq,
        seed=ctx.seed,
    )


# -- public entry points -------------------------------------------------------------------------


def generate_catalogue(
    n_products: int,
    start: str | pd.Timestamp = "2024-01-01",
    periods: int = 730,
    freq: str = "D",
    seed: int = 0,
    *,
    behaviour: bool = True,
    truth_by_period: bool = True,
    **knobs: Any,
) -> SyntheticData:
    """Draw a synthetic e-commerce catalogue with known ground truth.

    Parameters
    ----------
    n_products
        Number of products (``P0000000``, ``P0000001``...).
    start, periods, freq
        The calendar: ``periods`` days (``freq="D"``) or weeks (``"W"``, weeks
        ending on Sunday, or ``"W-MON"``...) from ``start``.
    seed
        Seed of every random draw; the same seed gives the same catalogue.
    behaviour
        Draw the views/carts/favourites/purchases per product and period.
    truth_by_period
        Keep the expected demand and the stock-out mask per product and period.
    **knobs
        Fields of :class:`CatalogueKnobs` (shares of segments, promotion and
        stock-out rates, festival multipliers...).

    Returns
    -------
    SyntheticData
        ``sales``, ``events``, ``truth``, ``truth_by_period`` and ``festival_effect``.

    Raises
    ------
    ConfigError
        An unknown knob, a value out of range, or a frequency other than daily or weekly.

    Examples
    --------
    >>> data = generate_catalogue(20, "2024-01-01", 28, freq="W", seed=3, promo_rate=0)
    >>> data.sales["date"].dt.day_name().unique().tolist()
    ['Sunday']
    >>> int(data.sales["promo"].sum())
    0
    """
    ctx = _context(n_products, start, periods, freq, seed, _knobs(knobs))
    return _assemble(ctx, 0, ctx.n_products, behaviour, truth_by_period)


def iter_catalogue(
    n_products: int,
    start: str | pd.Timestamp = "2024-01-01",
    periods: int = 730,
    freq: str = "D",
    seed: int = 0,
    *,
    chunk_products: int = 8_192,
    behaviour: bool = True,
    truth_by_period: bool = False,
    **knobs: Any,
) -> Iterator[SyntheticData]:
    """The catalogue of :func:`generate_catalogue` in chunks of products, for catalogues too
    large to hold at once.

    ``chunk_products`` is rounded up to a whole number of :data:`BLOCK_PRODUCTS`.
    Each chunk's categorical ``product_id`` has only that chunk's products as
    categories; the data is the same as from one call, whatever the chunk size.
    """
    ctx = _context(n_products, start, periods, freq, seed, _knobs(knobs))
    if chunk_products < 1:
        raise ConfigError(f"chunk_products must be at least 1, got {chunk_products}.")
    step = -(-chunk_products // BLOCK_PRODUCTS) * BLOCK_PRODUCTS
    for first in range(0, ctx.n_products, step):
        count = min(step, ctx.n_products - first)
        yield _assemble(ctx, first, count, behaviour, truth_by_period)


def catalogue_to_parquet(
    folder: str | os.PathLike[str],
    n_products: int,
    start: str | pd.Timestamp = "2024-01-01",
    periods: int = 730,
    freq: str = "D",
    seed: int = 0,
    *,
    chunk_products: int = 8_192,
    behaviour: bool = True,
    truth_by_period: bool = False,
    **knobs: Any,
) -> dict[str, Path]:
    """Write a synthetic catalogue to Parquet chunk by chunk, in bounded memory.

    Writes ``sales.parquet``, ``truth.parquet`` and, when asked for,
    ``events.parquet`` and ``truth_by_period.parquet`` into ``folder`` (created if
    needed), one row group per chunk, with the columns and types of
    :class:`SyntheticData` (``product_id`` and the static columns dictionary-encoded).
    Memory is that of one chunk, about 70 bytes per product-day with behaviour
    (some 0.5 GB for the default 8,192 products x 730 days), whatever the
    catalogue's size.

    Returns
    -------
    dict[str, Path]
        Table name -> the file written.

    Examples
    --------
    >>> paths = catalogue_to_parquet("/tmp/cat", 1_000_000, periods=730)  # doctest: +SKIP
    >>> pd.read_parquet(paths["sales"], columns=["units"]).sum()  # doctest: +SKIP
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = ["sales", "truth"]
    names += ["events"] if behaviour else []
    names += ["truth_by_period"] if truth_by_period else []
    paths = {name: out / f"{name}.parquet" for name in names}
    writers: dict[str, Any] = {}
    chunks = iter_catalogue(
        n_products,
        start,
        periods,
        freq,
        seed,
        chunk_products=chunk_products,
        behaviour=behaviour,
        truth_by_period=truth_by_period,
        **knobs,
    )
    try:
        for chunk in chunks:
            for name in names:
                table = pa.Table.from_pandas(getattr(chunk, name), preserve_index=False)
                # pandas picks the smallest code type per chunk; one file needs one schema
                schema = pa.schema(
                    [
                        pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                        if pa.types.is_dictionary(f.type)
                        else f
                        for f in table.schema
                    ]
                )
                table = table.cast(schema).replace_schema_metadata(None)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(paths[name], table.schema)
                writers[name].write_table(table)
                del table
            del chunk  # let the next chunk reuse the memory
    finally:
        for writer in writers.values():
            writer.close()
    return paths
