"""The HTML report of a forecasting run and the Plotly figures it is built from.

:func:`write_report` is the entry point; the figure functions are public so the
dashboard and notebooks can show the same pictures, and :func:`export_png` and
:func:`export_figures` save them as static images.
"""

from trendcast.reporting.analysis_figures import (
    acf_figure,
    calendar_heatmap_figure,
    category_trends_figure,
    correlation_heatmap_figure,
    decomposition_figure,
    explained_variance_figure,
    training_curves_figure,
    trending_products_figure,
)
from trendcast.reporting.figures import (
    explorer_data,
    model_score_figure,
    predicted_vs_actual_figure,
    segment_error_figure,
    total_sales_figure,
)
from trendcast.reporting.html import render_report, write_report
from trendcast.reporting.i18n import LANGUAGES

__all__ = [
    "LANGUAGES",
    "acf_figure",
    "calendar_heatmap_figure",
    "category_trends_figure",
    "correlation_heatmap_figure",
    "decomposition_figure",
    "explained_variance_figure",
    "explorer_data",
    "model_score_figure",
    "predicted_vs_actual_figure",
    "render_report",
    "segment_error_figure",
    "total_sales_figure",
    "training_curves_figure",
    "trending_products_figure",
    "write_report",
]
