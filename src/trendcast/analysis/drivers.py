"""What moves sales across the catalogue: correlations, PCA, factor analysis and a regression.

Drivers come in four groups, each used when the data has it:

- ``price``: ``price``, ``rel_price`` (against the previous four weeks'
  median), ``discount``, ``price_change``, from
  :func:`trendcast.features.covariates.price_features`;
- ``promotion``: ``promo`` (a ``promotion`` column is read as the same);
- ``behaviour``: ``views, carts, favourites, purchases, cart_rate, conversion,
  buyers``, columns of the panel or of a ``behaviour`` table
  (:func:`trendcast.features.covariates.behaviour_features`);
- ``calendar``: ``is_weekend`` (daily data), ``holiday`` (with a country),
  one ``fest_<name>`` window flag per shopping festival, and the month as
  ``month_sin, month_cos`` (a month number is not a quantity; the pair puts
  December next to January). For weekly or monthly data a flag is 1 when any
  day of the period has it.

**Pooling.** The panel is pooled across products with every product's sales
standardised within the product (``(y - mean) / sd`` per product), and so are
its level-type drivers (price, behaviour counts). A correlation then measures
how a product's sales move with its own price, not that cheap products sell
more units than expensive ones; products of every size weigh the same.
Relative drivers (relative price, discount, promotion, rates) and calendar
flags are used as they are. Products that never vary are left out.

**Sampling.** At most ``max_rows`` rows (200,000 by default), drawn at random
with a fixed seed, enter the correlations, PCA, factor analysis and regression:
a correlation from 200,000 rows has a standard error near 0.002.

**Models.** All drivers are standardised. PCA (scikit-learn) keeps the fewest
components explaining ``variance_target`` (90%) of the drivers' variance;
loadings are eigenvector times the square root of the eigenvalue, i.e. the
correlation of each driver with each component. Factor analysis (varimax
rotation) keeps as many factors as the correlation matrix has eigenvalues
above 1 (Kaiser's rule). Standardised sales are regressed (statsmodels OLS) on
the kept components; rows of one product are not independent, so standard
errors are clustered by product (HC1 with fewer than ten products).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from trendcast.analysis.decomposition import check_panel
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, InputError
from trendcast.features.calendar import FestivalWindows, calendar_features
from trendcast.features.covariates import price_features

__all__ = [
    "DRIVER_GROUPS",
    "DriverAnalysis",
    "driver_analysis",
    "driver_table",
    "period_calendar",
    "holiday_names",
]

DRIVER_GROUPS: dict[str, tuple[str, ...]] = {
    "price": ("price", "rel_price", "discount", "price_change"),
    "promotion": ("promo",),
    "behaviour": (
        "views",
        "carts",
        "favourites",
        "purchases",
        "cart_rate",
        "conversion",
        "buyers",
    ),
    "calendar": ("is_weekend", "holiday", "month_sin", "month_cos"),
}
"""Driver columns by group; ``fest_<name>`` columns also belong to ``calendar``."""

_WITHIN_PRODUCT = ("price", "views", "carts", "favourites", "purchases", "buyers")
_BEHAVIOUR_RATES = ("cart_rate", "conversion")


def _day_grained(calendar: TradingCalendar) -> bool:
    """Daily or finer: each period takes the flags of its own day."""
    offset = pd.tseries.frequencies.to_offset(calendar.freq)
    return calendar.is_daily or (
        isinstance(offset, pd.offsets.Tick) and pd.Timedelta(offset) < pd.Timedelta(days=1)
    )


def period_calendar(
    dates: pd.Series | pd.DatetimeIndex,
    calendar: TradingCalendar,
    *,
    country: str | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
) -> pd.DataFrame:
    """Calendar flags per period label: ``is_weekend, holiday, fest_<name>..., month``.

    For daily (or hourly) data these are
    :func:`~trendcast.features.calendar.calendar_features` of each period's
    day; for weeks or months a flag is 1 when any day of the period has it,
    and ``is_weekend`` is left out. Indexed by ``ds``.
    """
    labels = pd.DatetimeIndex(pd.unique(pd.Series(dates))).sort_values()
    if _day_grained(calendar):
        days = labels.normalize()
        feats = calendar_features(
            days.unique(), country=country, festivals=festivals, windows=windows
        ).reindex(days)
        feats.index = labels
        keep = ["is_weekend"]
    else:
        start = labels.min() - pd.Timedelta(days=400)
        days = pd.date_range(start, labels.max() + pd.Timedelta(days=400), freq="D")
        daily = calendar_features(days, country=country, festivals=festivals, windows=windows)
        label = calendar.floor(pd.Series(daily.index, index=daily.index))
        flags = [c for c in daily.columns if c == "holiday" or c.startswith("fest_")]
        feats = daily[flags].groupby(label.to_numpy()).max().reindex(labels, fill_value=0)
        feats["month"] = labels.month
        keep = []
    feats.index.name = "ds"
    keep += [c for c in feats.columns if c in ("holiday", "month") or c.startswith("fest_")]
    return feats[keep]


def holiday_names(
    dates: pd.Series | pd.DatetimeIndex, calendar: TradingCalendar, country: str
) -> pd.Series:
    """Names of the public holidays in each period (``"; "``-joined), indexed by ``ds``.

    Periods without a holiday are left out.
    """
    import holidays

    labels = pd.DatetimeIndex(pd.unique(pd.Series(dates))).sort_values()
    years = list(range(labels.min().year - 1, labels.max().year + 2))
    try:
        known = holidays.country_holidays(country, years=years)
    except NotImplementedError:
        raise ConfigError(
            f"Unknown holiday country {country!r}. Use an ISO code such as US, GB, CN, DE."
        ) from None
    days = pd.Series(list(known.values()), index=pd.DatetimeIndex(list(known.keys())))
    if days.empty:
        return pd.Series(dtype=object, name="holiday_name")
    if _day_grained(calendar):
        by_day = days.groupby(level=0).agg(lambda s: "; ".join(dict.fromkeys(s)))
        names = pd.Series(by_day.reindex(labels.normalize()).to_numpy(), index=labels).dropna()
    else:
        label = calendar.floor(days.index.to_series())
        names = days.groupby(label.to_numpy()).agg(lambda s: "; ".join(dict.fromkeys(s)))
        names = names[names.index.isin(labels)]
    names.index.name = "ds"
    return names.rename("holiday_name")


def _standardise_within(values: pd.Series, ids: pd.Series) -> pd.Series:
    grouped = values.groupby(ids)
    sd = grouped.transform("std")
    return ((values - grouped.transform("mean")) / sd.where(sd > 0)).astype(float)


def driver_table(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    country: str | None = None,
    behaviour: pd.DataFrame | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Every row's standardised sales and drivers, pooled as the module docs say.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The table ``unique_id, ds, sales, <drivers>...`` (``sales`` is the
        within-product standardised ``y``; rows of products whose sales never
        vary are left out) and notes on what was left out and why.
    """
    panel = check_panel(panel, "Driver analysis")
    if "promotion" in panel.columns and "promo" not in panel.columns:
        panel = panel.rename(columns={"promotion": "promo"})
    notes: list[str] = []
    base = panel[["unique_id", "ds"]].copy()
    base["sales"] = _standardise_within(panel["y"], panel["unique_id"])
    frames = [base]
    prices = price_features(panel).drop(columns=["unique_id", "ds"])
    frames.append(prices)
    behaviour_cols = [c for c in DRIVER_GROUPS["behaviour"] if c in panel.columns]
    if behaviour_cols:
        frames.append(panel[behaviour_cols])
    elif behaviour is not None:
        missing = [c for c in ("unique_id", "ds") if c not in behaviour.columns]
        if missing:
            raise InputError(f"Columns missing from the behaviour table: {missing}.")
        cols = [c for c in DRIVER_GROUPS["behaviour"] if c in behaviour.columns]
        if not cols:
            raise InputError(
                f"The behaviour table has none of {list(DRIVER_GROUPS['behaviour'])}; "
                "build it with trendcast.features.covariates.behaviour_features."
            )
        merged = panel[["unique_id", "ds"]].merge(
            behaviour[["unique_id", "ds", *cols]], on=["unique_id", "ds"], how="left"
        )
        frames.append(merged[cols].fillna(0.0))
    table = pd.concat(frames, axis=1)
    ids = table["unique_id"]
    for col in _WITHIN_PRODUCT:
        if col in table.columns:
            table[col] = _standardise_within(table[col].astype(float), ids).fillna(0.0)
    for col in ("rel_price", "discount", "price_change", "promo", *_BEHAVIOUR_RATES):
        if col in table.columns:
            table[col] = table[col].astype(float).fillna(0.0)

    cal = period_calendar(
        panel["ds"], calendar, country=country, festivals=festivals, windows=windows
    )
    month = cal.pop("month")
    cal["month_sin"] = np.sin(2 * np.pi * (month - 1) / 12)
    cal["month_cos"] = np.cos(2 * np.pi * (month - 1) / 12)
    table = table.merge(cal.astype(float), left_on="ds", right_index=True, how="left")
    if not country:
        notes.append("no holiday country given: public holidays are not a driver")

    flat = table["sales"].isna()
    if flat.any():
        n_flat = table.loc[flat, "unique_id"].nunique()
        notes.append(f"{n_flat} product(s) whose sales never vary are left out")
    return table[~flat].reset_index(drop=True), notes


def _group_of(driver: str) -> str:
    if driver.startswith("fest_"):
        return "calendar"
    return next(g for g, cols in DRIVER_GROUPS.items() if driver in cols)


@dataclass
class DriverAnalysis:
    """Tables of :func:`driver_analysis`; every table is a tidy DataFrame."""

    correlation: pd.DataFrame  # method, var_x, var_y, corr: the full matrix incl. sales
    sales_correlation: pd.DataFrame  # driver, group, pearson, spearman
    pca_variance: pd.DataFrame  # component, eigenvalue, explained_variance_ratio, cumulative
    pca_loadings: pd.DataFrame  # driver, group, PC1..PCk
    factor_variance: pd.DataFrame  # factor, variance_share
    factor_loadings: pd.DataFrame  # driver, group, F1..Fk, communality, uniqueness
    regression: pd.DataFrame  # term, coef, std_err, t, p_value
    r_squared: float = np.nan
    adj_r_squared: float = np.nan
    n_obs: int = 0
    groups_used: list[str] = field(default_factory=list)
    groups_missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def driver_analysis(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    country: str | None = None,
    behaviour: pd.DataFrame | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
    n_components: int | None = None,
    variance_target: float = 0.9,
    n_factors: int | None = None,
    max_rows: int = 200_000,
    seed: int = 0,
) -> DriverAnalysis:
    """Correlations of sales with their drivers, PCA, factor analysis and OLS on the components.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y`` with ``price``, ``promo`` and behaviour
        columns when the data has them.
    calendar
        The panel's trading calendar.
    country
        ISO code for public holidays (``US``, ``CN``...); none without it.
    behaviour
        A behaviour table (``unique_id, ds, views, carts...``) when the panel
        has no behaviour columns.
    festivals, windows
        Which shopping festivals to flag and their windows (default: all).
    n_components
        PCA components to keep; by default the fewest reaching ``variance_target``.
    n_factors
        Factors to fit; by default the number of eigenvalues above 1.
    max_rows
        Rows sampled for the statistics (see the module docs).
    seed
        Seed of that sample and of the factor analysis.

    Returns
    -------
    DriverAnalysis
        See the dataclass; ``groups_missing`` names the driver groups the data
        lacks, ``notes`` says what else was left out.
    """
    if not 0 < variance_target <= 1:
        raise ConfigError(f"variance_target must lie in (0, 1] (got {variance_target}).")
    if max_rows < 100:
        raise ConfigError(f"max_rows must be at least 100 (got {max_rows}).")
    for name, value in (("n_components", n_components), ("n_factors", n_factors)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value}).")
    table, notes = driver_table(
        panel,
        calendar,
        country=country,
        behaviour=behaviour,
        festivals=festivals,
        windows=windows,
    )
    candidates = [c for c in table.columns if c not in ("unique_id", "ds", "sales")]
    groups_present = {_group_of(c) for c in candidates}
    groups_missing = [g for g in ("price", "promotion", "behaviour") if g not in groups_present]
    for g in groups_missing:
        notes.append(f"no {g} columns in the data: {g} drivers are missing")
    if len(table) > max_rows:
        table = table.sample(max_rows, random_state=seed).reset_index(drop=True)
        notes.append(f"statistics from a random sample of {max_rows:,} rows")
    constant = [c for c in candidates if table[c].std() <= 1e-12 or table[c].isna().all()]
    if constant:
        notes.append(f"drivers that never vary in the data are left out: {constant}")
    drivers = [c for c in candidates if c not in constant]
    groups_used = [g for g in DRIVER_GROUPS if any(_group_of(c) == g for c in drivers)]
    result = DriverAnalysis(
        correlation=_empty(["method", "var_x", "var_y", "corr"]),
        sales_correlation=_empty(["driver", "group", "pearson", "spearman"]),
        pca_variance=_empty(["component", "eigenvalue", "explained_variance_ratio", "cumulative"]),
        pca_loadings=_empty(["driver", "group"]),
        factor_variance=_empty(["factor", "variance_share"]),
        factor_loadings=_empty(["driver", "group", "communality", "uniqueness"]),
        regression=_empty(["term", "coef", "std_err", "t", "p_value"]),
        groups_used=groups_used,
        groups_missing=groups_missing,
        notes=notes,
    )
    if not drivers or len(table) < 10:
        notes.append("no driver varies over enough rows: nothing to analyse")
        return result
    values = table[["sales", *drivers]].to_numpy(float)
    # threaded BLAS gains nothing on matrices this narrow and stalls on a busy machine
    with threadpool_limits(1, "blas"):
        _correlations(result, values, drivers)
        z = (values[:, 1:] - values[:, 1:].mean(axis=0)) / values[:, 1:].std(axis=0)
        scores = _pca(result, z, drivers, n_components, variance_target)
        _factors(result, z, drivers, n_factors, seed)
        _regression(result, values[:, 0], scores, table["unique_id"])
    return result


def _correlations(result: DriverAnalysis, values: np.ndarray, drivers: list[str]) -> None:
    names = ["sales", *drivers]
    ranks = pd.DataFrame(values).rank().to_numpy()
    frames = []
    for method, data in (("pearson", values), ("spearman", ranks)):
        corr = np.corrcoef(data, rowvar=False)
        frame = pd.DataFrame(corr, index=names, columns=names).stack().reset_index()
        frame.columns = ["var_x", "var_y", "corr"]
        frame.insert(0, "method", method)
        frames.append(frame)
    result.correlation = pd.concat(frames, ignore_index=True)
    pearson = np.corrcoef(values, rowvar=False)[0, 1:]
    spearman = np.corrcoef(ranks, rowvar=False)[0, 1:]
    table = pd.DataFrame(
        {
            "driver": drivers,
            "group": [_group_of(d) for d in drivers],
            "pearson": pearson,
            "spearman": spearman,
        }
    )
    order = table["spearman"].abs().sort_values(ascending=False, kind="stable").index
    result.sales_correlation = table.loc[order].reset_index(drop=True)


def _pca(
    result: DriverAnalysis,
    z: np.ndarray,
    drivers: list[str],
    n_components: int | None,
    variance_target: float,
) -> np.ndarray:
    from sklearn.decomposition import PCA

    pca = PCA(svd_solver="full").fit(z)
    ratio = pca.explained_variance_ratio_
    cumulative = np.cumsum(ratio)
    k = n_components or int(np.searchsorted(cumulative, variance_target - 1e-9) + 1)
    k = min(k, len(drivers))
    labels = [f"PC{i + 1}" for i in range(len(ratio))]
    result.pca_variance = pd.DataFrame(
        {
            "component": labels,
            "eigenvalue": pca.explained_variance_,
            "explained_variance_ratio": ratio,
            "cumulative": cumulative,
        }
    )
    loadings = pca.components_[:k].T * np.sqrt(pca.explained_variance_[:k])
    frame = pd.DataFrame(loadings, columns=labels[:k])
    frame.insert(0, "group", [_group_of(d) for d in drivers])
    frame.insert(0, "driver", drivers)
    result.pca_loadings = frame
    return np.asarray(pca.transform(z)[:, :k])


def _factors(
    result: DriverAnalysis, z: np.ndarray, drivers: list[str], n_factors: int | None, seed: int
) -> None:
    from sklearn.decomposition import FactorAnalysis
    from sklearn.exceptions import ConvergenceWarning

    eigen = result.pca_variance["eigenvalue"].to_numpy(float)
    k = min(n_factors or max(int((eigen > 1).sum()), 1), len(drivers))
    model = FactorAnalysis(
        n_components=k,
        rotation="varimax" if k > 1 else None,
        svd_method="lapack",
        tol=1e-7,
        max_iter=2000,
        random_state=seed,
    )
    # the factor model depends on the data only through its covariance, so fit it on 2p rows
    # with exactly that covariance: each iteration then costs microseconds, not an SVD of
    # every sampled row (sklearn's tolerance is on the total log-likelihood, hence the tiny tol)
    p = z.shape[1]
    w, v = np.linalg.eigh(np.cov(z, rowvar=False, ddof=0).reshape(p, p))
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(np.sqrt(p) * np.vstack([root, -root]))
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        result.notes.append(
            "factor analysis stopped before converging, as it does when one factor explains a "
            "driver almost fully (a Heywood case); its loadings are approximate"
        )
    loadings = model.components_.T
    labels = [f"F{i + 1}" for i in range(k)]
    frame = pd.DataFrame(loadings, columns=labels)
    frame.insert(0, "group", [_group_of(d) for d in drivers])
    frame.insert(0, "driver", drivers)
    frame["communality"] = (loadings**2).sum(axis=1)
    frame["uniqueness"] = model.noise_variance_
    result.factor_loadings = frame
    result.factor_variance = pd.DataFrame(
        {"factor": labels, "variance_share": (loadings**2).sum(axis=0) / len(drivers)}
    )


def _regression(
    result: DriverAnalysis, sales: np.ndarray, scores: np.ndarray, ids: pd.Series
) -> None:
    import statsmodels.api as sm

    labels = [f"PC{i + 1}" for i in range(scores.shape[1])]
    exog = sm.add_constant(pd.DataFrame(scores, columns=labels), has_constant="add")
    codes = pd.factorize(ids)[0]
    model = sm.OLS(sales, exog)
    if len(np.unique(codes)) >= 10:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes})
        result.notes.append("regression standard errors are clustered by product")
    else:
        fit = model.fit(cov_type="HC1")
        result.notes.append(
            "regression standard errors are HC1 (too few products to cluster by product)"
        )
    result.regression = pd.DataFrame(
        {
            "term": exog.columns,
            "coef": np.asarray(fit.params),
            "std_err": np.asarray(fit.bse),
            "t": np.asarray(fit.tvalues),
            "p_value": np.asarray(fit.pvalues),
        }
    )
    result.r_squared = float(fit.rsquared)
    result.adj_r_squared = float(fit.rsquared_adj)
    result.n_obs = int(fit.nobs)
