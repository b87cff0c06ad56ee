"""The HTML report of a forecasting run and the Plotly figures it is built from.

:func:`write_report` is the entry point; the figure functions are public so the
dashboard and notebooks can show the same pictures.
"""

from trendcast.reporting.figures import (
    explorer_data,
    model_score_figure,
    predicted_vs_actual_figure,
    segment_error_figure,
    total_sales_figure,
)
from trendcast.reporting.html import render_report, write_report

__all__ = [
    "explorer_data",
    "model_score_figure",
    "predicted_vs_actual_figure",
    "render_report",
    "segment_error_figure",
    "total_sales_figure",
    "write_report",
]
