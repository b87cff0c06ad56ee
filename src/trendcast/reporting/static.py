"""Static PNG images of the report's figures, for slides, mails and documents.

Plotly draws the images through kaleido (1.x), which drives a local Chrome or
Chromium: the one named by the ``BROWSER_PATH`` environment variable, else the
first ``chromium``, ``chromium-browser``, ``google-chrome`` or ``chrome`` on the
``PATH`` (Debian's ``apt-get install chromium`` is enough). Nothing is downloaded,
so the export works offline. :func:`export_figures` draws many figures with one
browser, which is much faster than one :func:`export_png` call per figure.

Examples
--------
>>> fig = total_sales_figure(panel)                              # doctest: +SKIP
>>> export_png(fig, "out/total_sales.png")                       # doctest: +SKIP
>>> export_figures(report_figures(panel=panel, ...), "out/figures")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from trendcast.exceptions import ConfigError, MissingDependencyError
from trendcast.reporting import analysis_figures, figures
from trendcast.reporting.insight_sections import (
    analysis_products,
    analysis_tables,
    correlation_matrix,
    explained_shares,
    movers,
)

__all__ = ["browser_path", "export_figures", "export_png", "report_figures"]

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_WIDTH = 1100
_HEIGHT = 520


def browser_path() -> str | None:
    """The Chrome or Chromium kaleido will drive: ``BROWSER_PATH``, else the first on the PATH."""
    given = os.environ.get("BROWSER_PATH")
    if given:
        return given
    return next((found for name in _BROWSERS if (found := shutil.which(name))), None)


def export_png(
    figure: go.Figure,
    path: str | Path,
    *,
    width: int = _WIDTH,
    height: int | None = None,
    scale: float = 2,
) -> Path:
    """Write one figure as a PNG image and return its path (see :func:`export_figures`)."""
    target = Path(path)
    return export_figures(
        {target.stem: figure}, target.parent, width=width, height=height, scale=scale
    )[0]


def export_figures(
    figures_by_name: Mapping[str, go.Figure],
    folder: str | Path,
    *,
    width: int = _WIDTH,
    height: int | None = None,
    scale: float = 2,
) -> list[Path]:
    """Write each figure as ``<folder>/<name>.png`` with one browser; return the paths.

    A figure's own layout height is used when ``height`` is None. The images are
    written beside their targets first and moved into place, so a failure leaves no
    half-written image.

    Raises
    ------
    MissingDependencyError
        kaleido is not installed.
    ConfigError
        No Chrome or Chromium was found.
    """
    try:
        import kaleido  # noqa: F401
        import plotly.io as pio
    except ImportError:
        raise MissingDependencyError("kaleido", purpose="PNG images of the figures") from None
    if not figures_by_name:
        return []
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    names = list(figures_by_name)
    paths = [target / f"{name}.png" for name in names]
    scratch = Path(tempfile.mkdtemp(dir=target, prefix=".png-"))
    try:
        drafts = [scratch / path.name for path in paths]
        with _browser():
            pio.write_images(
                [figures_by_name[name] for name in names],
                drafts,
                format="png",
                width=width,
                height=[height or _height(figures_by_name[name]) for name in names],
                scale=scale,
            )
        for draft, path in zip(drafts, paths, strict=True):
            os.replace(draft, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return paths


@contextmanager
def _browser() -> Iterator[None]:
    """Point kaleido at the local browser for the duration of an export."""
    found = browser_path()
    if found is None:
        raise ConfigError(
            "PNG export needs Chrome or Chromium, and none was found. Install one (e.g. "
            "apt-get install chromium) or set BROWSER_PATH to its executable."
        )
    before = os.environ.get("BROWSER_PATH")
    os.environ["BROWSER_PATH"] = found
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BROWSER_PATH", None)
        else:
            os.environ["BROWSER_PATH"] = before


def _height(figure: go.Figure) -> int:
    return int(figure.layout.height or _HEIGHT)


def report_figures(
    *,
    panel: pd.DataFrame,
    forecast: pd.DataFrame | None = None,
    leaderboard: pd.DataFrame | None = None,
    backtest: pd.DataFrame | None = None,
    per_series: pd.DataFrame | None = None,
    trends: pd.DataFrame | None = None,
    category_trends: pd.DataFrame | None = None,
    analysis: Mapping[str, pd.DataFrame] | Any | None = None,
    training_history: Mapping[str, pd.DataFrame] | None = None,
    levels: tuple[int, ...] = (80, 95),
    lang: str = "en",
) -> dict[str, go.Figure]:
    """The report's main figures by file name, those the given tables allow.

    The forecast of the best-selling product (and of the top riser and faller), the
    totals, the sales calendar, the model scores, predicted vs actual, error by
    segment, trending products, category trends, correlations, principal
    components, the decomposition and ACF of the best seller, and training curves.
    """
    tables = analysis_tables(analysis)
    out: dict[str, go.Figure] = {
        "total_sales": figures.total_sales_figure(panel, forecast, lang=lang)
    }
    if not panel.empty and analysis_figures.is_daily(panel):
        out["sales_calendar"] = analysis_figures.calendar_heatmap_figure(panel, lang=lang)
    products = [("forecast_top_product", _best_seller(panel))]
    top = movers(trends, 1)
    products += [
        (f"forecast_top_{label}", str(uid))
        for label, uid in zip(top["trend"], top["unique_id"], strict=True)
    ]
    for name, uid in products:
        if uid is not None:
            out[name] = analysis_figures.product_forecast_figure(
                panel, forecast, uid, levels=levels, anomalies=tables.get("anomalies"), lang=lang
            )
    if leaderboard is not None and not leaderboard.empty:
        out["model_scores"] = figures.model_score_figure(leaderboard, lang=lang)
    models = (
        leaderboard["model"].astype(str).tolist()
        if leaderboard is not None and "model" in leaderboard.columns
        else []
    )
    if backtest is not None and not backtest.empty:
        out["predicted_vs_actual"] = figures.predicted_vs_actual_figure(
            backtest, models=models, lang=lang
        )
    if per_series is not None and not per_series.empty:
        out["error_by_segment"] = figures.segment_error_figure(per_series, models=models, lang=lang)
    if trends is not None and not trends.empty:
        out["trending_products"] = analysis_figures.trending_products_figure(trends, lang=lang)
    if category_trends is not None and not category_trends.empty:
        out["category_trends"] = analysis_figures.category_trends_figure(category_trends, lang=lang)
    correlation = correlation_matrix(tables.get("drivers_correlation"))
    if correlation is not None:
        out["correlation"] = analysis_figures.correlation_heatmap_figure(correlation, lang=lang)
    explained = explained_shares(tables.get("drivers_pca_variance"))
    if explained is not None:
        out["explained_variance"] = analysis_figures.explained_variance_figure(explained, lang=lang)
    chosen = analysis_products(tables.get("decomposition"), tables.get("autocorrelation"))
    if chosen:
        uid = chosen[0]
        for name, key, draw in (
            ("decomposition", "decomposition", analysis_figures.decomposition_figure),
            ("autocorrelation", "autocorrelation", analysis_figures.acf_figure),
        ):
            frame = tables.get(key)
            if frame is not None and not frame.empty:
                figure = draw(frame[frame["unique_id"].astype(str) == uid], lang=lang)
                out[name] = figure.update_layout(
                    title={"text": figures.plotly_text(uid), "x": 0, "xref": "paper"},
                    margin={"t": 70},
                )
    if training_history:
        out["training_curves"] = analysis_figures.training_curves_figure(
            training_history, lang=lang
        )
    return out


def _best_seller(panel: pd.DataFrame) -> str | None:
    if panel.empty:
        return None
    return str(panel.groupby("unique_id")["y"].sum().idxmax())
