"""Residual checks: does a fitted model leave structure behind, and can its intervals be trusted?

Give :func:`residual_diagnostics` residuals per product and model, either
in-sample (``y - fitted``) or a backtest's errors (a frame with ``y`` and
``forecast``, as :func:`trendcast.evaluation.backtest.run_backtest` returns),
or compute them here with :func:`fitted_residuals` from a simple model so the
analysis runs without a forecasting run.

Per product and model (statsmodels and scipy):

- Ljung-Box at lags ``m`` and ``2m`` (``m``: the season length), residual ACF
  at lag 1 and at the seasonal lags;
- Jarque-Bera normality, skewness and kurtosis;
- mean bias, as a share of mean demand when ``y`` is given.

Daily panels have hundreds of periods, so the tests find even tiny
correlations significant. A flag therefore needs a significant test *and* a
correlation of practical size (at least ``min_acf``, default 0.1, and outside
the ``z / sqrt(n)`` band). Flags, joined by ``"; "``:

- ``leaves weekly structure`` (``yearly`` for weekly data...): a positive
  correlation at a seasonal lag, the season the model missed;
- ``over-corrects the weekly pattern``: a negative one, as from copying last
  week (seasonal naive), which doubles the noise;
- ``leaves short-term autocorrelation``: lag-1 correlation without a seasonal one;
- ``residuals not normal: intervals from the normal approximation are unreliable``;
- ``biased: under-forecasts by 12% on average`` (or over-forecasts);
- ``fine`` when nothing is flagged.

Backtest errors ``h`` steps ahead are correlated up to lag ``h - 1`` by
construction; read their short-lag flags with that in mind.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from trendcast.analysis.decomposition import check_panel, season_name, top_series
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = ["fitted_residuals", "residual_diagnostics", "residual_acf", "RESIDUAL_MODELS"]

ResidualModel = Literal["auto_ets", "ets", "seasonal_naive", "naive"]
RESIDUAL_MODELS: tuple[str, ...] = ("auto_ets", "ets", "seasonal_naive", "naive")
"""Models :func:`fitted_residuals` fits: statsforecast's AutoETS (all ETS forms),
a fast additive-season ETS (``ANA``), last season's value, last period's value."""

NOT_NORMAL = "residuals not normal: intervals from the normal approximation are unreliable"
_MAX_ETS_SEASON = 24  # statsforecast's state-space models are slow and fragile on longer seasons

FloatArray = npt.NDArray[np.float64]


def fitted_residuals(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    model: ResidualModel = "auto_ets",
    ids: Sequence[str] | None = None,
    top_n: int | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """In-sample one-step residuals of a simple model, per product.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y``.
    calendar
        Gives the season length.
    model
        One of :data:`RESIDUAL_MODELS`. ``auto_ets`` costs about a fifth of a
        second per two-year daily series; ``ets`` about a tenth of that.
    ids, top_n
        Products to fit: ``ids``, or the ``top_n`` best sellers, or all.
    n_jobs
        Processes for the ETS fits.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds, model, y, fitted, residual`` with ``residual = y - fitted``.
        Periods without a fitted value (the first season of a naive model) are
        left out; ETS skips series shorter than three seasons (and ten periods).
    """
    if model not in RESIDUAL_MODELS:
        raise ConfigError(f"Unknown residual model {model!r}. Use one of {list(RESIDUAL_MODELS)}.")
    panel = check_panel(panel, "Residual diagnostics")
    if ids is not None:
        unknown = sorted(set(ids) - set(panel["unique_id"].unique()))
        if unknown:
            raise InputError(f"Unknown product id(s) {format_examples(unknown)}: not in the panel.")
        panel = panel[panel["unique_id"].isin(list(ids))]
    elif top_n is not None:
        panel = panel[panel["unique_id"].isin(top_series(panel, top_n))]
    panel = panel[["unique_id", "ds", "y"]].reset_index(drop=True)
    m = calendar.season_length
    if model in ("naive", "seasonal_naive"):
        lag = 1 if model == "naive" else max(m, 1)
        fitted = panel.groupby("unique_id", sort=False)["y"].shift(lag)
        out = panel.assign(model=model, fitted=fitted).dropna(subset=["fitted"])
    else:
        out = _ets_fitted(panel, m, model, n_jobs)
    out["residual"] = out["y"] - out["fitted"]
    return out[["unique_id", "ds", "model", "y", "fitted", "residual"]].reset_index(drop=True)


def _ets_fitted(panel: pd.DataFrame, m: int, model: str, n_jobs: int) -> pd.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    season = m if 1 < m <= _MAX_ETS_SEASON else 1
    n = panel.groupby("unique_id", sort=False)["y"].transform("size")
    panel = panel[n >= max(3 * season, 10)].reset_index(drop=True)
    columns = ["unique_id", "ds", "model", "y", "fitted"]
    if panel.empty:
        return pd.DataFrame(columns=columns)
    spec = "ZZZ" if model == "auto_ets" else ("ANA" if season > 1 else "ANN")
    # statsforecast runs on a plain integer index, as trendcast's models do
    frame = panel.assign(step=panel.groupby("unique_id", sort=False).cumcount())
    sf = StatsForecast(models=[AutoETS(season_length=season, model=spec)], freq=1, n_jobs=n_jobs)
    with warnings.catch_warnings():
        # statsforecast warns on near-constant series; those fits are still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        sf.forecast(
            df=frame[["unique_id", "step", "y"]].rename(columns={"step": "ds"}), h=1, fitted=True
        )
        fitted = sf.forecast_fitted_values()
    fitted = fitted.rename(columns={"ds": "step", "AutoETS": "fitted"})[
        ["unique_id", "step", "fitted"]
    ]
    out = frame.merge(fitted, on=["unique_id", "step"], how="inner")
    return out.assign(model=model)[columns]


def _residual_frame(residuals: pd.DataFrame) -> pd.DataFrame:
    """Residuals with ``unique_id, model, residual`` (and ``y``) in time order per series."""
    df = residuals
    if "residual" not in df.columns:
        if {"y", "forecast"} <= set(df.columns):
            df = df.assign(residual=df["y"] - df["forecast"])
        else:
            raise InputError(
                f"The residual table needs a 'residual' column, or 'y' and 'forecast' (a "
                f"backtest's errors); it has {list(df.columns)}."
            )
    missing = [c for c in ("unique_id", "ds") if c not in df.columns]
    if missing:
        raise InputError(f"Columns missing from the residual table: {missing}.")
    if "model" not in df.columns:
        df = df.assign(model="model")
    order = [c for c in ("unique_id", "model", "cutoff", "ds") if c in df.columns]
    df = df.dropna(subset=["residual"]).sort_values(order, kind="stable", ignore_index=True)
    return df


def _lags(calendar: TradingCalendar) -> tuple[int, int]:
    m = calendar.season_length
    return (m, 2 * m) if m > 1 else (10, 20)


def residual_diagnostics(
    residuals: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    alpha: float = 0.05,
    min_acf: float = 0.1,
    bias_tolerance: float = 0.05,
) -> pd.DataFrame:
    """Ljung-Box, residual ACF, normality and bias per product and model, with a plain flag.

    Parameters
    ----------
    residuals
        ``unique_id, ds`` with ``residual`` (or ``y`` and ``forecast``), and
        optionally ``model``, ``y`` and ``cutoff``; e.g. :func:`fitted_residuals`.
    calendar
        Gives the season length: Ljung-Box runs at lags ``m`` and ``2m``.
    alpha
        Significance level of the tests.
    min_acf
        Smallest residual autocorrelation worth a flag.
    bias_tolerance
        Mean residual, as a share of mean demand, worth a flag (needs ``y``).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, model, n, mean_residual, bias_pct, acf_1, acf_season,
        acf_2season, lb_stat_season, lb_p_season, lb_stat_2season,
        lb_p_2season, jb_stat, jb_p, skew, kurtosis, flag``. ``bias_pct`` is
        ``100 * mean(residual) / mean(y)`` (NaN without ``y``); positive means
        the model under-forecasts.
    """
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import jarque_bera
    from statsmodels.tsa.stattools import acf

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1 (got {alpha}).")
    if not 0 <= min_acf < 1:
        raise ConfigError(f"min_acf must lie in [0, 1) (got {min_acf}).")
    df = _residual_frame(residuals)
    lag1, lag2 = _lags(calendar)
    season = season_name(calendar) if calendar.season_length > 1 else ""
    z = float(norm.ppf(1 - alpha / 2))
    rows = []
    for (uid, model), part in df.groupby(["unique_id", "model"], sort=False):
        e = part["residual"].to_numpy(float)
        n = len(e)
        row: dict[str, object] = {"unique_id": uid, "model": model, "n": n}
        mean_y = float(part["y"].mean()) if "y" in part.columns else np.nan
        mean_e = float(e.mean()) if n else np.nan
        bias = 100 * mean_e / mean_y if mean_y > 0 else np.nan
        row.update(mean_residual=mean_e, bias_pct=bias)
        stats = dict.fromkeys(
            [
                "acf_1",
                "acf_season",
                "acf_2season",
                "lb_stat_season",
                "lb_p_season",
                "lb_stat_2season",
                "lb_p_2season",
                "jb_stat",
                "jb_p",
                "skew",
                "kurtosis",
            ],
            np.nan,
        )
        if n < lag2 + 2 or np.ptp(e) == 0:
            why = "too few residuals to judge" if n < lag2 + 2 else "residuals are constant"
            rows.append({**row, **stats, "flag": why})
            continue
        r = np.asarray(acf(e, nlags=lag2, fft=True, result_object=True).acf)
        lb = acorr_ljungbox(e, lags=[lag1, lag2])
        jb, jb_p, skew, kurtosis = jarque_bera(e)
        stats.update(
            acf_1=float(r[1]),
            acf_season=float(r[lag1]),
            acf_2season=float(r[lag2]),
            lb_stat_season=float(lb["lb_stat"].iloc[0]),
            lb_p_season=float(lb["lb_pvalue"].iloc[0]),
            lb_stat_2season=float(lb["lb_stat"].iloc[1]),
            lb_p_2season=float(lb["lb_pvalue"].iloc[1]),
            jb_stat=float(jb),
            jb_p=float(jb_p),
            skew=float(skew),
            kurtosis=float(kurtosis),
        )
        threshold = max(min_acf, z / np.sqrt(n))
        correlated = min(stats["lb_p_season"], stats["lb_p_2season"]) < alpha
        flags = []
        seasonal = [float(r[lag1]), float(r[lag2])] if season else []
        strongest = max(seasonal, key=abs) if seasonal else 0.0
        if correlated and abs(strongest) >= threshold:
            flags.append(
                f"leaves {season} structure"
                if strongest > 0
                else f"over-corrects the {season} pattern (negative autocorrelation at lag "
                f"{lag1 if abs(r[lag1]) >= abs(r[lag2]) else lag2})"
            )
        elif correlated and abs(r[1]) >= threshold:
            flags.append("leaves short-term autocorrelation")
        if jb_p < alpha:
            flags.append(NOT_NORMAL)
        sd = float(e.std(ddof=1))
        bias_p = 2 * student_t.sf(abs(e.mean()) / (sd / np.sqrt(n)), n - 1) if sd > 0 else 1.0
        if abs(bias) >= 100 * bias_tolerance and bias_p < alpha:
            side = "under" if bias > 0 else "over"
            flags.append(f"biased: {side}-forecasts by {abs(bias):.0f}% on average")
        rows.append({**row, **stats, "flag": "; ".join(flags) or "fine"})
    columns = [
        "unique_id",
        "model",
        "n",
        "mean_residual",
        "bias_pct",
        "acf_1",
        "acf_season",
        "acf_2season",
        "lb_stat_season",
        "lb_p_season",
        "lb_stat_2season",
        "lb_p_2season",
        "jb_stat",
        "jb_p",
        "skew",
        "kurtosis",
        "flag",
    ]
    return pd.DataFrame(rows, columns=columns)


def residual_acf(
    residuals: pd.DataFrame,
    calendar: TradingCalendar,
    *,
    nlags: int | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Residual autocorrelations per product and model, for a correlogram.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, model, lag, acf, bound`` for lags 1..``nlags`` (default
        ``2m``), with ``bound = z / sqrt(n)``, the band of white noise.
    """
    from statsmodels.tsa.stattools import acf

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1 (got {alpha}).")
    df = _residual_frame(residuals)
    lags = nlags or _lags(calendar)[1]
    z = float(norm.ppf(1 - alpha / 2))
    frames = []
    for (uid, model), part in df.groupby(["unique_id", "model"], sort=False):
        e = part["residual"].to_numpy(float)
        k = min(lags, len(e) - 1)
        if k < 1 or np.ptp(e) == 0:
            continue
        r = np.asarray(acf(e, nlags=k, fft=True, result_object=True).acf)[1:]
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "model": model,
                    "lag": np.arange(1, k + 1),
                    "acf": r,
                    "bound": z / np.sqrt(len(e)),
                }
            )
        )
    columns = ["unique_id", "model", "lag", "acf", "bound"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
