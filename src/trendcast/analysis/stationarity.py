"""Is each product's demand stationary, and how many differences would make it so?

Two tests with opposite null hypotheses run on every series (statsmodels):
the augmented Dickey-Fuller test (null: a unit root) and KPSS (null: stationary
around a level). Read together they give a plain verdict:

- ``stationary``: ADF rejects a unit root and KPSS does not reject stationarity.
- ``trend-stationary``: not stationary around a level, but the same pair of
  tests with a linear trend (ADF and KPSS with ``regression="ct"``) says it is
  stationary around the trend: model the trend rather than difference it away.
- ``difference-stationary (unit root)``: ADF keeps the unit root and KPSS
  rejects stationarity: the level wanders, difference it.
- ``inconclusive``: both tests reject (the series reverts to its level in
  the short term, but the level itself moves: a yearly season, a step change
  or changing variance), or neither does (too little data or too much noise).
- ``constant``, ``too short to test``: the tests are not run.

Differencing recommendation, the order ``auto.arima`` uses: ``D`` (0/1
seasonal differences) is 1 when the seasonal strength (see
:mod:`trendcast.analysis.decomposition`) is at least 0.64, the rule of
``feasts::unitroot_nsdiffs`` and of statsforecast's ``nsdiffs(test="seas")``.
``d`` (0..2) then counts the KPSS tests that reject on the (seasonally
differenced) series before it is stationary, as ``forecast::ndiffs`` does.

The ADF lag order is fixed by Schwert's rule ``12 * (n / 100) ** 0.25`` (at
most a quarter of the series) rather than searched by AIC: the search refits
the regression for every lag and is twenty times slower, with the same
verdicts on retail series. KPSS p-values come from a table and are bounded to
0.01..0.10; statsmodels warns when a statistic falls outside it, which is
expected here, so that warning is silenced and ``alpha`` must lie in that range.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from trendcast.analysis.decomposition import check_panel, season_name, strengths
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError

__all__ = ["stationarity_tests", "SEASONAL_DIFF_STRENGTH", "VERDICTS"]

SEASONAL_DIFF_STRENGTH = 0.64
"""Seasonal strength at and above which one seasonal difference is recommended."""

VERDICTS = (
    "stationary",
    "trend-stationary",
    "difference-stationary (unit root)",
    "inconclusive",
    "constant",
    "too short to test",
)

FloatArray = npt.NDArray[np.float64]


@dataclass
class _Tests:
    adf_stat: float = np.nan
    adf_p: float = np.nan
    kpss_stat: float = np.nan
    kpss_p: float = np.nan
    trend_adf_p: float = np.nan
    trend_kpss_p: float = np.nan


def _adf_lags(n: int) -> int:
    return max(0, min(int(12 * (n / 100) ** 0.25), n // 4))


def _adf(x: FloatArray, regression: str) -> tuple[float, float]:
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SingularMatrixWarning)
        res = adfuller(
            x, maxlag=_adf_lags(len(x)), regression=regression, autolag=None, result_object=True
        )
    for w in caught:
        if not issubclass(w.category, SingularMatrixWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if any(issubclass(w.category, SingularMatrixWarning) for w in caught):
        # a degenerate regression (long runs of one value): the statistic means nothing
        return np.nan, np.nan
    return float(res.statistic), float(res.pvalue)


def _kpss(x: FloatArray, regression: str) -> tuple[float, float]:
    from statsmodels.tools.sm_exceptions import InterpolationWarning
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():
        # the p-value table spans 0.01..0.10; outside it statsmodels returns the bound and
        # warns, which is expected for strongly (non-)stationary series
        warnings.simplefilter("ignore", InterpolationWarning)
        res = kpss(x, regression=regression, nlags="auto", result_object=True)
    return float(res.statistic), float(res.pvalue)


def _kpss_rejects(x: FloatArray, alpha: float) -> bool:
    if len(x) < 4 or np.ptp(x) == 0:
        return False
    return _kpss(x, "c")[1] < alpha


def _n_diffs(x: FloatArray, alpha: float, max_d: int = 2) -> int:
    d = 0
    while d < max_d and _kpss_rejects(x, alpha):
        x = np.diff(x)
        d += 1
    return d


def _verdict(x: FloatArray, alpha: float) -> tuple[str, _Tests, str]:
    t = _Tests()
    t.adf_stat, t.adf_p = _adf(x, "c")
    t.kpss_stat, t.kpss_p = _kpss(x, "c")
    adf_rejects, kpss_rejects = t.adf_p < alpha, t.kpss_p < alpha
    if adf_rejects and not kpss_rejects:
        return "stationary", t, ""
    t.trend_adf_p = _adf(x, "ct")[1]
    t.trend_kpss_p = _kpss(x, "ct")[1]
    if t.trend_adf_p < alpha and t.trend_kpss_p >= alpha:
        return (
            "trend-stationary",
            t,
            "stationary around a linear trend: a trend term models it as well as a difference",
        )
    if kpss_rejects and not adf_rejects:
        return "difference-stationary (unit root)", t, "the level wanders: difference it"
    if adf_rejects:
        return (
            "inconclusive",
            t,
            "both tests reject: it reverts to its level short-term, but the level moves (a yearly season, a step change or changing variance)",
        )
    return "inconclusive", t, "neither test rejects: too little data or too much noise to tell"


def _test_each(
    panel: pd.DataFrame,
    alpha: float,
    m: int,
    min_length: int,
    season_by_id: pd.Series,
    season: str,
) -> list[dict[str, object]]:
    rows = []
    values = panel["y"].to_numpy(float)
    codes, ids = pd.factorize(panel["unique_id"], sort=False)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(ids)))])
    for i, uid in enumerate(ids):
        x = values[bounds[i] : bounds[i + 1]]
        n = len(x)
        strength = float(season_by_id.get(uid, np.nan))
        row: dict[str, object] = {"unique_id": uid, "n": n, "seasonal_strength": strength}
        untested = {**row, **asdict(_Tests()), "d": 0, "D": 0}
        if np.ptp(x) == 0:
            note = "never sold: nothing to test" if x[0] == 0 else "the same value every period"
            rows.append({**untested, "verdict": "constant", "note": note})
            continue
        if n < min_length:
            note = f"{n} periods; the tests need at least {min_length}"
            rows.append({**untested, "verdict": "too short to test", "note": note})
            continue
        try:
            with warnings.catch_warnings():
                # near-degenerate regressions (a few sales in long runs of zeros) divide by zero
                warnings.simplefilter("ignore", RuntimeWarning)
                verdict, tests, note = _verdict(x, alpha)
                D = int(m > 1 and strength >= SEASONAL_DIFF_STRENGTH and n - m >= min_length)
                d = _n_diffs(x[m:] - x[:-m] if D else x, alpha)
        except (ValueError, np.linalg.LinAlgError) as err:
            note = f"the tests could not run: {err}"
            rows.append({**untested, "verdict": "inconclusive", "note": note})
            continue
        notes = [note] if note else []
        if D:
            notes.append(
                f"strong {season} season (strength {strength:.2f}): one seasonal difference"
            )
        zeros = float(np.mean(x == 0))
        if zeros > 0.5:
            notes.append(
                f"{zeros:.0%} of periods have no sales: the tests describe the rate roughly"
            )
        rows.append(
            {**row, **asdict(tests), "verdict": verdict, "d": d, "D": D, "note": "; ".join(notes)}
        )
    return rows


def stationarity_tests(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    alpha: float = 0.05,
    seasonal_strength: pd.DataFrame | None = None,
    min_length: int | None = None,
) -> pd.DataFrame:
    """ADF and KPSS per product, a plain verdict and the differences to take.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y``.
    calendar
        Gives the season length for the seasonal difference.
    alpha
        Significance level of every test, between 0.01 and 0.10 (the range of
        KPSS's p-value table).
    seasonal_strength
        :func:`~trendcast.analysis.decomposition.strengths` of the same panel,
        when already computed; computed here otherwise.
    min_length
        Fewest periods to run the tests on; default ``max(3 * season, 24)``.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, n, adf_stat, adf_p, kpss_stat, kpss_p, trend_adf_p,
        trend_kpss_p, verdict, d, D, seasonal_strength, note``. ``trend_*`` are
        the tests with a linear trend, run only when the level tests do not
        agree on ``stationary``. ``note`` explains the verdict in a sentence.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> walk = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=300),
    ...                      "y": 100 + rng.normal(size=300).cumsum()})
    >>> stationarity_tests(walk, TradingCalendar("D"))[["verdict", "d", "D"]].to_dict("records")
    [{'verdict': 'difference-stationary (unit root)', 'd': 1, 'D': 0}]
    """
    if not 0.01 <= alpha <= 0.10:
        raise ConfigError(
            f"alpha must lie between 0.01 and 0.10 for the stationarity tests (got {alpha}): "
            "KPSS p-values are only tabulated in that range."
        )
    if min_length is not None and min_length < 10:
        raise ConfigError(f"min_length must be at least 10 periods (got {min_length}).")
    panel = check_panel(panel, "Stationarity testing")
    m = calendar.season_length
    min_length = min_length or max(3 * m, 24)
    if seasonal_strength is None:
        seasonal_strength = strengths(panel, calendar)
    season_by_id = seasonal_strength.set_index("unique_id")["seasonal_strength"]

    with threadpool_limits(1, "blas"):
        rows = _test_each(panel, alpha, m, min_length, season_by_id, season_name(calendar))
    columns = [
        "unique_id",
        "n",
        "adf_stat",
        "adf_p",
        "kpss_stat",
        "kpss_p",
        "trend_adf_p",
        "trend_kpss_p",
        "verdict",
        "d",
        "D",
        "seasonal_strength",
        "note",
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"n": int, "d": int, "D": int})
