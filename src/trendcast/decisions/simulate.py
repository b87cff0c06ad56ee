"""Policy simulator: replay (R, S) replenishment over real history and score it.

The simulation
--------------
Periods are the data's periods (trading days for a shop closed some weekdays).
Reviews happen every R periods; at a review the order brings the inventory
position (on hand + on order) up to the review's order-up-to level S. Each
period, in this order:

1. at a review, order ``max(S - on_hand - on_order, 0)`` (rounded up to whole
   units when demand comes in whole units, as a plan's ``order_qty``); it is
   placed at the start of the period;
2. orders placed L periods earlier arrive (with L = 0, this period's order);
3. demand (the real sales of the period) is served from stock on hand.

Demand that stock cannot meet is **lost** (e-commerce customers buy elsewhere;
it is not backordered), so stock on hand never goes negative. Lost sales make
a level set at P(demand over L + R <= S) = alpha achieve slightly more than
alpha when L > 0 (demand lost late in one cycle does not deplete the next,
whose lead time overlaps it); with backorders it would achieve alpha exactly.
The simulation starts at the first review with stock on hand equal to that
review's order-up-to level (rounded up) and nothing on order (so the first
order is 0).

At review j (period ``j * R``) a policy only knows sales up to the period
before, and does what ``trendcast plan`` would do with that history: its
forecast is made from there, and its errors are learned from ``windows``
backtest windows of 2(L + R) periods that ended by then
(:mod:`trendcast.decisions.plan`'s method). Both come from one rolling-origin
backtest with a window every R periods, so the simulated stretch ends where
the last window's first L + R periods end: L + R periods before the data does
(8 - L - R when L + R < 4, as windows are at least 8 periods long).

Scores (over the periods from L on: the first L periods are covered by the
starting stock)
-----------------------------------------------------------------------------
- **Cycle service level**: the share of replenishment cycles without a
  stock-out. The cycle of review j is the R periods from the arrival of its
  order (``j * R + L``) to the next arrival; it has a stock-out when any of its
  demand is lost. Every cycle counts, with or without demand. This is the
  quantity the target service level promises.
- **Fill rate**: the share of demand met from stock (sales / demand).
- **Stock-out periods**: series-periods with lost demand.
- **Average inventory**: stock on hand at the end of each period, averaged
  over the periods, summed over products (units).
- **Total cost**: holding (``holding_rate`` a year of each unit's value, per
  period held at the end of a period) plus lost sales (``stockout_penalty`` of
  the unit value per unit lost). A unit's value is its mean price in the data
  when the data has prices, else 1.

Policies compared: each model's forecasts with trendcast's protection-interval
errors, and ``moving_average``: the mean of the last ``ma_window`` periods times
L + R plus ``z * sd * sqrt(L + R)`` (sd of the same periods' demand, z the normal
quantile of the target), the textbook policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from trendcast.data.prepare import PreparedData
from trendcast.decisions.plan import (
    FAST_CANDIDATES,
    backtest_forecasts,
    check_policy,
    error_model,
    level_window,
    trailing_levels,
)
from trendcast.exceptions import ConfigError, InputError

__all__ = [
    "MOVING_AVERAGE",
    "PolicyLedger",
    "SimulationResult",
    "moving_average_levels",
    "policy_scores",
    "simulate_policies",
    "simulate_policy",
]

MOVING_AVERAGE = "moving_average"

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


@dataclass
class PolicyLedger:
    """Period-by-period stock flows of one simulation; arrays are (series, periods).

    ``on_hand`` and ``on_order`` are at the end of each period. The books balance:
    ``on_hand[t] = on_hand[t-1] + arrivals[t] - sales[t]``,
    ``on_order[t] = on_order[t-1] + orders[t] - arrivals[t]`` and
    ``sales[t] + lost[t] = demand[t]``.
    """

    demand: np.ndarray
    orders: np.ndarray
    arrivals: np.ndarray
    sales: np.ndarray
    lost: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    start_on_hand: np.ndarray
    lead_time: int
    review_period: int

    @property
    def n_reviews(self) -> int:
        return (self.demand.shape[1] - self.lead_time) // self.review_period

    def cycle_stockouts(self) -> np.ndarray:
        """(series, reviews): whether the cycle of each review lost any demand."""
        start = self.lead_time
        lost = self.lost[:, start : start + self.n_reviews * self.review_period]
        shaped = lost.reshape(lost.shape[0], self.n_reviews, self.review_period)
        return np.asarray((shaped > 1e-9).any(axis=2))


def simulate_policy(
    demand: np.ndarray,
    order_up_to: np.ndarray,
    *,
    lead_time: int,
    review_period: int,
    start_on_hand: np.ndarray | None = None,
    whole_units: bool = True,
) -> PolicyLedger:
    """Replay an (R, S) policy with lost sales (see the module doc).

    Parameters
    ----------
    demand
        (series, periods) demand per period; periods = reviews * R + L.
    order_up_to
        (series, reviews) the order-up-to level S set at each review.
    start_on_hand
        Stock on hand before the first period; default the first review's level.
    whole_units
        Order whole units (the shortfall rounded up), as a plan's ``order_qty`` does, and
        start from the first level rounded up.
    """
    demand = np.asarray(demand, dtype=float)
    order_up_to = np.asarray(order_up_to, dtype=float)
    check_policy(lead_time, review_period, 0.5)
    n, periods = demand.shape
    reviews = order_up_to.shape[1]
    if order_up_to.shape[0] != n or periods != reviews * review_period + lead_time:
        raise ConfigError(
            f"{reviews} reviews every {review_period} period(s) with lead time {lead_time} need "
            f"{reviews * review_period + lead_time} periods of demand for each of the "
            f"{order_up_to.shape[0]} series; got {periods} periods for {n}."
        )
    ledger = {
        k: np.zeros((n, periods)) for k in ("orders", "arrivals", "sales", "lost", "hand", "pipe")
    }
    if start_on_hand is None:
        start = np.ceil(order_up_to[:, 0] - 1e-9) if whole_units else order_up_to[:, 0].copy()
    else:
        start = np.asarray(start_on_hand, dtype=float)
    on_hand = start.copy()
    on_order = np.zeros(n)
    for t in range(periods):
        if t % review_period == 0 and t // review_period < reviews:
            order = np.maximum(order_up_to[:, t // review_period] - on_hand - on_order, 0.0)
            if whole_units:
                order = np.ceil(order - 1e-9)
            ledger["orders"][:, t] = order
            on_order = on_order + order
        if t >= lead_time:
            arrival = ledger["orders"][:, t - lead_time]
            ledger["arrivals"][:, t] = arrival
            on_hand = on_hand + arrival
            on_order = on_order - arrival
        sales = np.minimum(demand[:, t], np.maximum(on_hand, 0.0))
        ledger["sales"][:, t] = sales
        ledger["lost"][:, t] = demand[:, t] - sales
        on_hand = on_hand - sales
        ledger["hand"][:, t] = on_hand
        ledger["pipe"][:, t] = on_order
    return PolicyLedger(
        demand=demand,
        orders=ledger["orders"],
        arrivals=ledger["arrivals"],
        sales=ledger["sales"],
        lost=ledger["lost"],
        on_hand=ledger["hand"],
        on_order=ledger["pipe"],
        start_on_hand=start,
        lead_time=lead_time,
        review_period=review_period,
    )


def policy_scores(
    ledger: PolicyLedger,
    *,
    unit_value: np.ndarray | float = 1.0,
    holding_per_period: float = 0.0,
    stockout_penalty: float = 0.0,
) -> pd.DataFrame:
    """Per series: cycles, stock-out cycles, demand, sales, lost, stock-out periods, average
    inventory and cost, over the scored periods (from the lead time on)."""
    start = ledger.lead_time
    end = start + ledger.n_reviews * ledger.review_period
    demand = ledger.demand[:, start:end]
    lost = ledger.lost[:, start:end]
    on_hand = ledger.on_hand[:, start:end]
    value = np.broadcast_to(np.asarray(unit_value, dtype=float), (demand.shape[0],))
    holding = holding_per_period * value * on_hand.sum(axis=1)
    shortage = stockout_penalty * value * lost.sum(axis=1)
    return pd.DataFrame(
        {
            "cycles": ledger.n_reviews,
            "stockout_cycles": ledger.cycle_stockouts().sum(axis=1),
            "demand": demand.sum(axis=1),
            "sales": ledger.sales[:, start:end].sum(axis=1),
            "lost": lost.sum(axis=1),
            "stockout_periods": (lost > 1e-9).sum(axis=1),
            "periods": end - start,
            "avg_inventory": on_hand.mean(axis=1),
            "holding_cost": holding,
            "stockout_cost": shortage,
            "total_cost": holding + shortage,
        }
    )


def moving_average_levels(
    history: np.ndarray,
    *,
    protection: int,
    service_level: float,
    window: int,
) -> np.ndarray:
    """The textbook order-up-to level from the last ``window`` periods of ``history``
    (series, periods): ``mean * P + z * sd * sqrt(P)``, floored at zero."""
    recent = np.asarray(history, dtype=float)[:, -window:]
    mean = recent.mean(axis=1)
    sd = recent.std(axis=1, ddof=1) if recent.shape[1] > 1 else np.zeros(len(recent))
    z = NormalDist().inv_cdf(service_level)
    return np.asarray(np.maximum(mean * protection + z * sd * np.sqrt(protection), 0.0))


@dataclass
class SimulationResult:
    """Scores of every policy at every target, overall and per series."""

    summary: pd.DataFrame  # one row per policy and target service level
    per_series: pd.DataFrame  # policy, service_level, unique_id and policy_scores' columns
    start: pd.Timestamp  # first simulated period
    end: pd.Timestamp  # last scored period
    ledgers: dict[tuple[str, float], PolicyLedger] = field(default_factory=dict, repr=False)


def _summary(per_series: pd.DataFrame) -> pd.DataFrame:
    g = per_series.groupby(["policy", "service_level"], sort=False)
    total = g[
        [
            "cycles",
            "stockout_cycles",
            "demand",
            "sales",
            "stockout_periods",
            "periods",
            "avg_inventory",
            "total_cost",
        ]
    ].sum()
    out = pd.DataFrame(
        {
            "series": g.size(),
            "cycle_service_level": 1 - total["stockout_cycles"] / total["cycles"],
            "fill_rate": total["sales"] / total["demand"].where(total["demand"] > 0),
            "stockout_periods": total["stockout_periods"],
            "stockout_period_share": total["stockout_periods"] / total["periods"],
            "avg_inventory": total["avg_inventory"],
            "total_cost": total["total_cost"],
        }
    ).reset_index()
    return out


def simulate_policies(
    data: PreparedData,
    *,
    lead_time: int,
    review_period: int = 1,
    service_levels: Sequence[float] = (0.95,),
    models: Sequence[str] = ("auto", "seasonal_naive"),
    reviews: int = 12,
    windows: int = 4,
    candidates: Sequence[str] | None = FAST_CANDIDATES,
    ma_window: int | None = None,
    holding_rate: float = 0.25,
    stockout_penalty: float = 0.5,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> SimulationResult:
    """Replay (R, S) policies over the last ``reviews`` review cycles of the data.

    Parameters
    ----------
    lead_time, review_period
        L and R in periods of the data.
    service_levels
        Target cycle service levels; each policy runs at each.
    models
        Forecasting models driving trendcast's policy (``auto`` chooses among ``candidates``).
        The moving-average policy always runs beside them.
    reviews
        Review cycles to replay; the stretch simulated is ``reviews * R + L`` periods
        ending L + R periods before the data does.
    windows
        Backtest windows each review learns its forecast errors from.
    ma_window
        Periods of the moving average (default four seasons: 4 weeks of daily data, else 8).
    holding_rate, stockout_penalty
        Cost of holding a unit for a year and of losing a sale, as shares of its value.
    """
    for level in service_levels:
        check_policy(lead_time, review_period, level)
    if reviews < 1:
        raise ConfigError(f"--reviews must be at least 1, got {reviews}.")
    if windows < 1:
        raise ConfigError(f"--windows must be at least 1, got {windows}.")
    say = progress or _quiet
    cal = data.calendar
    protection = lead_time + review_period
    horizon = max(2 * protection, 8)
    # one backtest, a window every R periods: each review's forecast is the first L + R
    # periods of the window at its cutoff; its errors come from `windows` earlier windows
    # `spacing` grid steps apart (no overlap), all ended by that cutoff
    spacing = -(-horizon // review_period)
    ma_window = ma_window or level_window(cal)
    dates = pd.DatetimeIndex(sorted(data.panel["ds"].unique()))
    last = len(dates) - 1 - horizon  # the last review's cutoff: the backtest's last window
    cutoffs = [last - (reviews - 1 - j) * review_period for j in range(reviews)]
    grid_windows = reviews + windows * spacing
    earliest = cutoffs[0] - windows * spacing * review_period
    selection = 2 * review_period if "auto" in models else 0
    first = min(earliest - selection - horizon, cutoffs[0] - ma_window)
    if first < 0:
        raise InputError(
            f"Simulating {reviews} reviews (every {review_period} period(s), lead time "
            f"{lead_time}) with forecast errors from {windows} backtest windows of {horizon} "
            f"periods needs {len(dates) - first} periods of history; the data has "
            f"{len(dates)}. Use fewer --reviews or --windows, or a longer history."
        )
    panel = data.panel
    wide = panel.pivot(index="unique_id", columns="ds", values="y").reindex(columns=dates)
    # products with the whole history the simulation and its backtest need
    wide = wide[wide.iloc[:, first:].notna().all(axis=1)]
    if wide.empty:
        raise InputError("No product has sales history over the whole simulated stretch.")
    ids = wide.index
    panel = panel[panel["unique_id"].isin(ids)]
    start, stop = cutoffs[0] + 1, cutoffs[-1] + protection + 1
    demand = wide.iloc[:, start:stop].to_numpy(dtype=float)
    history = wide.to_numpy(dtype=float)
    value = np.ones(len(ids))
    if "price" in panel.columns:
        price = panel.groupby("unique_id")["price"].mean().reindex(ids)
        value = price.where(price > 0).fillna(1.0).to_numpy()
    holding = holding_rate / cal.periods_per_year
    lengths = pd.Series(protection, index=ids)
    now = trailing_levels(panel, dates[cutoffs], level_window(cal)).reindex(ids).to_numpy()

    levels: dict[str, dict[float, np.ndarray]] = {}
    for model in models:
        say(f"{model}: backtesting {grid_windows} windows of {horizon} periods, one per review")
        grid, _ = backtest_forecasts(
            data,
            panel,
            model=model,
            horizon=horizon,
            windows=grid_windows,
            step=review_period,
            candidates=candidates,
            n_jobs=n_jobs,
        )
        step = grid.groupby(["unique_id", "cutoff"]).cumcount()
        first_periods = grid[step < protection].groupby(["unique_id", "cutoff"])["forecast"]
        sums = (
            first_periods.sum()
            .unstack("cutoff")
            .reindex(index=ids, columns=dates[cutoffs])
            .to_numpy()
        )
        if np.isnan(sums).any():
            raise InputError(
                f"{model} did not forecast {int(np.isnan(sums).any(axis=1).sum())} product(s) "
                "at every review; pick another model."
            )
        columns: dict[float, list[np.ndarray]] = {t: [] for t in service_levels}
        for j, cutoff in enumerate(cutoffs):
            learned = [dates[cutoff - k * spacing * review_period] for k in range(1, windows + 1)]
            errors = error_model(grid[grid["cutoff"].isin(learned)], lengths)
            dist = errors.demand(sums[:, j], now[:, j])
            for target in service_levels:
                columns[target].append(dist.quantile(target))
        levels[model] = {t: np.column_stack(v) for t, v in columns.items()}
    levels[MOVING_AVERAGE] = {
        target: np.column_stack(
            [
                moving_average_levels(
                    history[:, : c + 1],
                    protection=protection,
                    service_level=target,
                    window=ma_window,
                )
                for c in cutoffs
            ]
        )
        for target in service_levels
    }

    whole = bool((np.nan_to_num(history) % 1 == 0).all())
    frames = []
    ledgers: dict[tuple[str, float], PolicyLedger] = {}
    for policy, by_target in levels.items():
        for target, up_to in by_target.items():
            ledger = simulate_policy(
                demand,
                up_to,
                lead_time=lead_time,
                review_period=review_period,
                whole_units=whole,
            )
            ledgers[(policy, target)] = ledger
            scores = policy_scores(
                ledger,
                unit_value=value,
                holding_per_period=holding,
                stockout_penalty=stockout_penalty,
            )
            scores.insert(0, "unique_id", ids.to_numpy())
            scores.insert(0, "service_level", target)
            scores.insert(0, "policy", policy)
            frames.append(scores)
    per_series = pd.concat(frames, ignore_index=True)
    return SimulationResult(
        summary=_summary(per_series),
        per_series=per_series,
        start=dates[start],
        end=dates[stop - 1],
        ledgers=ledgers,
    )
