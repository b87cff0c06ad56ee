"""Trend analysis: trends, stationarity, decomposition, residual diagnostics, drivers, anomalies.

Each module works on the long panel (``unique_id, ds, y`` plus covariates) that
:func:`trendcast.data.prepare.prepare_sales` produces, vectorised across
products where it can be, and returns plain DataFrames for the CLI, the store
and the report.
"""
