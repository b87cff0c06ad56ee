"""The whole trend analysis of a prepared panel in one call, as tidy tables.

:func:`analyze` runs, in order (each step's seconds land in ``timings``):

1. strength of trend and season for every product (moving-average
   decomposition, vectorised);
2. ADF/KPSS stationarity and differencing per product;
3. STL/MSTL components, and ACF/PACF, of the ``top_n`` best sellers; their
   STL/MSTL strengths replace the moving-average ones;
4. residual diagnostics, of the given residuals or of a simple model fitted to
   the ``diagnostics_top_n`` best sellers;
5. drivers of sales pooled across products (correlations, PCA, factor
   analysis, OLS);
6. spikes, drops and stock-outs per product with their likely causes.

Per-product statistics (ADF, KPSS, STL, ETS) run on one BLAS thread: their
matrices are tiny, and threaded BLAS only contends for the cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from trendcast.analysis.anomalies import anomaly_eligible, detect_anomalies
from trendcast.analysis.decomposition import (
    autocorrelations,
    check_panel,
    component_strengths,
    decompose,
    strengths,
    top_series,
)
from trendcast.analysis.diagnostics import (
    ResidualModel,
    fitted_residuals,
    residual_acf,
    residual_diagnostics,
)
from trendcast.analysis.drivers import DriverAnalysis, driver_analysis
from trendcast.analysis.stationarity import stationarity_tests
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError
from trendcast.features.calendar import FestivalWindows

__all__ = ["AnalysisResult", "analyze"]


@dataclass
class AnalysisResult:
    """Every table of :func:`analyze`; see each module for the columns."""

    strengths: pd.DataFrame  # one row per product: trend/seasonal strength (+ yearly)
    stationarity: pd.DataFrame  # one row per product: ADF, KPSS, verdict, d, D, note
    decomposition: pd.DataFrame  # long: unique_id, ds, method, component, value
    autocorrelation: pd.DataFrame  # unique_id, lag, acf, acf_bound, pacf, pacf_bound
    diagnostics: pd.DataFrame  # one row per product and model: tests and a plain flag
    residual_acf: pd.DataFrame  # unique_id, model, lag, acf, bound
    drivers: DriverAnalysis
    anomalies: pd.DataFrame  # unique_id, ds, y, expected, lower, upper, score, kind, cause
    focus_ids: list[str] = field(default_factory=list)  # the products decomposed
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name, flat, for a store or a report (drivers' as ``drivers_*``)."""
        d = self.drivers
        fit = pd.DataFrame(
            {
                "r_squared": [d.r_squared],
                "adj_r_squared": [d.adj_r_squared],
                "n_obs": [d.n_obs],
                "groups_used": [", ".join(d.groups_used)],
                "groups_missing": [", ".join(d.groups_missing)],
            }
        )
        return {
            "strengths": self.strengths,
            "stationarity": self.stationarity,
            "decomposition": self.decomposition,
            "autocorrelation": self.autocorrelation,
            "diagnostics": self.diagnostics,
            "residual_acf": self.residual_acf,
            "drivers_correlation": d.correlation,
            "drivers_sales_correlation": d.sales_correlation,
            "drivers_pca_variance": d.pca_variance,
            "drivers_pca_loadings": d.pca_loadings,
            "drivers_factor_variance": d.factor_variance,
            "drivers_factor_loadings": d.factor_loadings,
            "drivers_regression": d.regression,
            "drivers_fit": fit,
            "anomalies": self.anomalies,
            "notes": pd.DataFrame({"note": self.notes}),
        }


def _merge_strengths(cheap: pd.DataFrame, fitted: pd.DataFrame) -> pd.DataFrame:
    out = cheap.assign(seasonal_strength_yearly=np.nan)
    if fitted.empty:
        return out
    out = out[~out["unique_id"].isin(fitted["unique_id"])]
    return pd.concat([out, fitted[out.columns]], ignore_index=True).sort_values(
        "unique_id", ignore_index=True
    )


def analyze(
    data: PreparedData,
    *,
    top_n: int = 10,
    diagnostics_top_n: int = 25,
    residual_model: ResidualModel = "auto_ets",
    residuals: pd.DataFrame | None = None,
    country: str | None = None,
    behaviour: pd.DataFrame | None = None,
    festivals: Iterable[str] | None = None,
    windows: FestivalWindows | None = None,
    alpha: float = 0.05,
    anomaly_threshold: float = 5.0,
    max_driver_rows: int = 200_000,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """Stationarity, decomposition, residual diagnostics, drivers and anomalies of a panel.

    Parameters
    ----------
    data
        The output of :func:`trendcast.data.prepare.prepare_sales`.
    top_n
        Best sellers to decompose (STL/MSTL) and show ACF/PACF for.
    diagnostics_top_n
        Best sellers to fit ``residual_model`` to when no ``residuals`` are given.
    residual_model
        See :data:`trendcast.analysis.diagnostics.RESIDUAL_MODELS`.
    residuals
        In-sample residuals or backtest errors of the user's own run (see
        :func:`trendcast.analysis.diagnostics.residual_diagnostics`); when
        given, no model is fitted here.
    country
        ISO code for public holidays (drivers and anomaly causes).
    behaviour
        Behaviour table for the drivers when the panel has no behaviour columns.
    festivals, windows
        Shopping festivals and their windows (default: all, as in
        :mod:`trendcast.features.calendar`).
    alpha
        Significance level of the stationarity and residual tests (0.01..0.10).
    anomaly_threshold
        Robust z-score of a spike or drop.
    max_driver_rows
        Rows sampled for the driver statistics.
    n_jobs
        Processes for the ETS fits.
    progress
        Called with one line per finished step (the CLI passes its ``say``).

    Returns
    -------
    AnalysisResult
    """
    say = progress or (lambda _msg: None)
    if top_n < 0 or diagnostics_top_n < 0:
        raise ConfigError(
            f"top_n and diagnostics_top_n must be zero or more (got {top_n}, {diagnostics_top_n})."
        )
    calendar = data.calendar
    panel = check_panel(data.panel, "The analysis")
    n_series = panel["unique_id"].nunique()
    timings: dict[str, float] = {}
    notes: list[str] = []

    def step(name: str) -> Callable[[str], None]:
        started = time.perf_counter()

        def done(detail: str) -> None:
            timings[name] = time.perf_counter() - started
            say(f"analysis {name}: {detail} ({timings[name]:.1f}s)")

        return done

    with threadpool_limits(1, "blas"):
        done = step("strengths")
        cheap = strengths(panel, calendar)
        done(f"{n_series:,} products")

        done = step("stationarity")
        stationarity = stationarity_tests(panel, calendar, alpha=alpha, seasonal_strength=cheap)
        counts = stationarity["verdict"].value_counts()
        done(", ".join(f"{v} {k}" for k, v in counts.items()))

        done = step("decomposition")
        focus = top_series(panel, top_n)
        decomposition = decompose(panel, calendar, focus)
        strength_table = _merge_strengths(cheap, component_strengths(decomposition))
        autocorrelation = autocorrelations(panel, calendar, focus)
        methods = sorted(decomposition["method"].unique())
        done(f"{len(focus)} best sellers by {', '.join(methods) or 'none (too short)'}")

        done = step("diagnostics")
        if residuals is None:
            residuals = fitted_residuals(
                panel, calendar, model=residual_model, top_n=diagnostics_top_n, n_jobs=n_jobs
            )
            notes.append(
                f"diagnostics: in-sample residuals of {residual_model} on the "
                f"{min(diagnostics_top_n, n_series)} best sellers"
            )
        diagnostics = residual_diagnostics(residuals, calendar, alpha=alpha)
        acf_table = residual_acf(residuals, calendar, alpha=alpha)
        flagged = int((diagnostics["flag"] != "fine").sum())
        done(f"{flagged} of {len(diagnostics)} residual series flagged")

        done = step("drivers")
        drivers = driver_analysis(
            panel,
            calendar,
            country=country,
            behaviour=behaviour,
            festivals=festivals,
            windows=windows,
            max_rows=max_driver_rows,
        )
        notes += [f"drivers: {n}" for n in drivers.notes]
        done(
            f"{len(drivers.sales_correlation)} drivers from {', '.join(drivers.groups_used)}; "
            f"R² {drivers.r_squared:.2f}"
        )

    done = step("anomalies")
    anomalies = detect_anomalies(
        panel,
        calendar,
        threshold=anomaly_threshold,
        country=country,
        festivals=festivals,
        windows=windows,
    )
    skipped = int((~anomaly_eligible(panel, calendar)).sum())
    if skipped:
        notes.append(
            f"anomalies: {skipped} intermittent or short product(s) skipped (selling in under "
            "half their periods, or too short for a baseline)"
        )
    kinds = anomalies["kind"].value_counts()
    done(", ".join(f"{v} {k}" for k, v in kinds.items()) or "none found")
    return AnalysisResult(
        strengths=strength_table,
        stationarity=stationarity,
        decomposition=decomposition,
        autocorrelation=autocorrelation,
        diagnostics=diagnostics,
        residual_acf=acf_table,
        drivers=drivers,
        anomalies=anomalies,
        focus_ids=focus,
        notes=notes,
        timings=timings,
    )
