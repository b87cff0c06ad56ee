"""The self-contained HTML report of a forecasting run.

:func:`write_report` renders one offline file: Plotly's JavaScript is inlined once,
every figure and the product explorer's data are embedded as JSON, and a little
vanilla JavaScript draws them. Nothing is fetched from the network, so the file can
be mailed or archived as it is.

Sections, linked from a sticky navigation bar: overview, data & cleaning,
leaderboard, product explorer, predicted vs actual and error by segment. Every
user-provided string is escaped, in the HTML and in the embedded JSON alike.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from trendcast.exceptions import ConfigError, InputError
from trendcast.reporting import figures

__all__ = ["render_report", "write_report"]

_SECTIONS = (
    ("overview", "Overview"),
    ("data", "Data & cleaning"),
    ("leaderboard", "Leaderboard"),
    ("explorer", "Product explorer"),
    ("accuracy", "Predicted vs actual"),
    ("segments", "Error by segment"),
)
_REQUIRED = {
    "panel": ("unique_id", "ds", "y"),
    "backtest": ("unique_id", "ds", "cutoff", "y", "model", "forecast"),
    "forecast": ("unique_id", "ds", "forecast"),
    "leaderboard": ("model",),
    "segment_leaderboard": ("model", "segment"),
    "per_series": ("model", "unique_id"),
}
_DATE_COLUMNS = {"panel": ("ds",), "backtest": ("ds", "cutoff"), "forecast": ("ds",)}
_CLEANING_COLUMNS = ("rule", "action", "rows", "units", "reason", "examples")
_NOTES_COLUMNS = ("unique_id", "issue", "detail")
_LEADING_COLUMNS = ("model", "rank", "series")
_NOTES_SHOWN_OPEN = 10
_METRIC_HELP = {
    "mase": "Mean absolute error divided by the in-sample seasonal naive error; "
    "below 1 beats the seasonal naive forecast.",
    "rmsse": "Root mean squared error scaled like MASE; punishes large misses more.",
    "mae": "Mean absolute error, in units.",
    "rmse": "Root mean squared error, in units.",
    "mape": "Mean absolute percentage error; undefined where actuals are zero.",
    "smape": "Symmetric mean absolute percentage error.",
    "bias": "Average signed error; far from 0 means systematic over- or under-forecasting.",
    "pinball": "Quantile (pinball) loss of the prediction intervals.",
    "scaled_pinball": "Pinball loss scaled like MASE.",
    "wrmsse": "Volume-weighted RMSSE, the M5 competition score.",
    "r2": "Share of variance explained; higher is better.",
    "time_s": "Fit and predict time in seconds.",
    "rank": "Overall position on the leaderboard.",
}


def write_report(
    path: str | Path,
    *,
    title: str,
    summary: Mapping[str, object],
    cleaning: pd.DataFrame,
    series_notes: pd.DataFrame,
    leaderboard: pd.DataFrame,
    segment_leaderboard: pd.DataFrame,
    per_series: pd.DataFrame,
    panel: pd.DataFrame,
    backtest: pd.DataFrame,
    forecast: pd.DataFrame,
    levels: Sequence[int] = (80, 95),
    max_series: int = 300,
    history_periods: int = 365,
    drivers: pd.DataFrame | None = None,
) -> Path:
    """Write the HTML report of a forecasting run, atomically, and return its path.

    The page is rendered in full before anything touches the disk, then written to a
    temporary file beside ``path`` and moved over it, so a failure leaves an existing
    report untouched. See :func:`render_report` for the arguments.

    Examples
    --------
    >>> write_report("out/report.html", title="Online Retail", summary={"Series": 300},
    ...              cleaning=cleaning, series_notes=notes, leaderboard=board,
    ...              segment_leaderboard=by_segment, per_series=scores, panel=panel,
    ...              backtest=cv, forecast=future)  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    document = render_report(
        title=title,
        summary=summary,
        cleaning=cleaning,
        series_notes=series_notes,
        leaderboard=leaderboard,
        segment_leaderboard=segment_leaderboard,
        per_series=per_series,
        panel=panel,
        backtest=backtest,
        forecast=forecast,
        levels=levels,
        max_series=max_series,
        history_periods=history_periods,
        drivers=drivers,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, document)
    return target


def render_report(
    *,
    title: str,
    summary: Mapping[str, object],
    cleaning: pd.DataFrame,
    series_notes: pd.DataFrame,
    leaderboard: pd.DataFrame,
    segment_leaderboard: pd.DataFrame,
    per_series: pd.DataFrame,
    panel: pd.DataFrame,
    backtest: pd.DataFrame,
    forecast: pd.DataFrame,
    levels: Sequence[int] = (80, 95),
    max_series: int = 300,
    history_periods: int = 365,
    drivers: pd.DataFrame | None = None,
) -> str:
    """Render the report of a forecasting run as one self-contained HTML document.

    Parameters
    ----------
    title
        Page title, e.g. the data set's name.
    summary
        Headline facts shown as cards, in order: ``{"Series": 300, "Horizon": 28}``.
    cleaning
        The cleaning report: ``rule, action, rows, units, reason, examples``.
    series_notes
        ``unique_id, issue, detail`` of short, dead or new products; may be empty.
    leaderboard
        One row per model: ``model`` and whichever metrics were computed.
    segment_leaderboard
        The same per demand ``segment``.
    per_series
        One row per (model, product): ``model, unique_id``, metrics and ``segment``.
    panel
        The history: ``unique_id, ds, y``.
    backtest
        Rolling-origin forecasts: ``unique_id, ds, cutoff, y, model, forecast`` and
        ``forecast-lo-L``/``forecast-hi-L``; may be empty.
    forecast
        The future: ``unique_id, ds, forecast``, intervals and the ``model`` that made
        each row.
    levels
        Interval levels to draw; those missing from ``forecast`` are skipped.
    max_series
        Products offered in the explorer, the largest by volume.
    history_periods
        Most recent periods of history shown per product.
    drivers
        What drives each product's forecast: ``unique_id, rank, driver, effect,
        direction`` (see :func:`trendcast.evaluation.explain.drivers_summary`); adds a
        section when given.

    Raises
    ------
    InputError
        A non-empty table lacks a required column, or its dates are not datetimes.
    ConfigError
        ``levels``, ``max_series`` or ``history_periods`` is out of range.
    """
    _check_options(levels, max_series, history_periods)
    panel = _checked(panel, "panel")
    backtest = _checked(backtest, "backtest")
    forecast = _checked(forecast, "forecast")
    leaderboard = _checked(leaderboard, "leaderboard")
    segment_leaderboard = _checked(segment_leaderboard, "segment_leaderboard")
    per_series = _checked(per_series, "per_series")

    metric = figures.score_metric(leaderboard)
    order = "rank" if "rank" in leaderboard.columns else metric
    if order is not None:
        leaderboard = leaderboard.sort_values(order, kind="stable")
    best = figures.best_model(leaderboard)
    models = leaderboard["model"].astype(str).tolist()
    explorer = figures.explorer_data(
        panel,
        backtest,
        forecast,
        per_series,
        levels=levels,
        max_series=max_series,
        history_periods=history_periods,
        models=models,
    )
    body = "\n".join(
        [
            _overview(title, summary, leaderboard, metric, best, panel, forecast),
            _data_section(cleaning, series_notes, panel, forecast),
            _leaderboard_section(leaderboard, segment_leaderboard, metric, best, models),
            _explorer_section(explorer, history_periods),
            _accuracy_section(backtest, models),
            _segments_section(per_series, models),
            _drivers_section(drivers, panel, max_series) if drivers is not None else "",
        ]
    )
    sections = [*_SECTIONS, *([("drivers", "Drivers")] if drivers is not None else [])]
    links = "".join(f'<a href="#{key}">{label}</a>' for key, label in sections)
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="trendcast">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<nav class="topbar"><div class="inner"><span class="brand">{escape(title)}</span>{links}</div></nav>
<main>
{body}
</main>
<footer>Generated by trendcast on {generated}.</footer>
<script>{get_plotlyjs()}</script>
<script>{_JS}</script>
</body>
</html>
"""


def _check_options(levels: Sequence[int], max_series: int, history_periods: int) -> None:
    bad = [level for level in levels if not 0 < level < 100]
    if bad:
        raise ConfigError(f"Interval levels must lie between 0 and 100, got {bad}.")
    if max_series < 1:
        raise ConfigError(f"max_series must be at least 1, got {max_series}.")
    if history_periods < 1:
        raise ConfigError(f"history_periods must be at least 1, got {history_periods}.")


def _checked(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The table if usable; an empty table gains the required columns it lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"The {name} table must be a pandas DataFrame, got {type(frame)}.")
    required = _REQUIRED[name]
    missing = [col for col in required if col not in frame.columns]
    if frame.empty:
        return frame.reindex(columns=[*frame.columns, *missing])
    if missing:
        raise InputError(
            f"Columns missing from the {name} table: {missing}. It needs {list(required)}."
        )
    not_dates = [
        col
        for col in _DATE_COLUMNS.get(name, ())
        if not pd.api.types.is_datetime64_any_dtype(frame[col])
    ]
    if not_dates:
        raise InputError(
            f"Columns of the {name} table are not datetimes: {not_dates}. "
            "Convert them with pd.to_datetime first."
        )
    return frame


def _overview(
    title: str,
    summary: Mapping[str, object],
    leaderboard: pd.DataFrame,
    metric: str | None,
    best: str | None,
    panel: pd.DataFrame,
    forecast: pd.DataFrame,
) -> str:
    cards = "".join(
        f'<div class="card"><div class="label">{escape(str(key))}</div>'
        f'<div class="value">{escape(_format_value(value))}</div></div>'
        for key, value in summary.items()
    )
    outlook = _outlook(panel, forecast)
    return f"""<section id="overview" class="overview">
<h1>{escape(title)}</h1>
<p class="headline">{_headline(leaderboard, metric, best)}</p>
{f'<p class="outlook">{outlook}</p>' if outlook else ""}
<div class="cards">{cards}</div>
</section>"""


def _headline(leaderboard: pd.DataFrame, metric: str | None, best: str | None) -> str:
    """One sentence on the winner, against SeasonalNaive when it ran."""
    if best is None:
        return "No model was evaluated in this run."
    count = len(leaderboard)
    winner = f"<strong>{escape(best)}</strong>"
    scores = (
        leaderboard.set_index(leaderboard["model"].astype(str))[metric]
        if metric is not None
        else pd.Series(dtype=float)
    )
    score = float(scores.get(best, math.nan))
    if math.isnan(score):
        return f"{winner} ranks first of {count} models."
    label = figures.metric_label(metric or "")
    baseline = next(
        (name for name in scores.index if re.sub(r"[^a-z]", "", name.lower()) == "seasonalnaive"),
        None,
    )
    reference = float(scores.get(baseline, math.nan)) if baseline else math.nan
    if baseline == best:
        return f"No model beat {winner} on {label} ({score:.3f})."
    if math.isnan(reference) or reference <= 0:
        return f"{winner} has the best {label} ({score:.3f}) of {count} models."
    change = 1 - score / reference
    against = f"{escape(str(baseline))} on {label} ({score:.3f} vs {reference:.3f})"
    if round(change * 100) == 0:
        return f"{winner} ranks first and matches {against}."
    if change > 0:
        return f"{winner} is {change:.0%} better than {against}."
    return f"{winner} ranks first but is {-change:.0%} worse than {against}."


def _outlook(panel: pd.DataFrame, forecast: pd.DataFrame) -> str | None:
    """The forecast total over the horizon against the same span just before it."""
    if forecast.empty or panel.empty:
        return None
    steps = forecast["ds"].nunique()
    total = float(forecast["forecast"].sum())
    until = pd.Timestamp(forecast["ds"].max()).strftime("%Y-%m-%d")
    sentence = (
        f"Over the next {steps:,} periods (to {until}) the forecast totals "
        f"<strong>{total:,.0f}</strong> units"
    )
    history = panel[panel["unique_id"].isin(forecast["unique_id"].unique())]
    recent = history[history["ds"].isin(np.sort(history["ds"].unique())[-steps:])]
    past = float(recent["y"].sum())
    if past <= 0:
        return sentence + "."
    change = total / past - 1
    last = f"the last {steps:,} ({past:,.0f})"
    if round(change * 100) == 0:
        return f"{sentence}, about the same as {last}."
    return f"{sentence}, {abs(change):.0%} {'more' if change > 0 else 'less'} than {last}."


def _data_section(
    cleaning: pd.DataFrame,
    series_notes: pd.DataFrame,
    panel: pd.DataFrame,
    forecast: pd.DataFrame,
) -> str:
    if cleaning.empty:
        cleaning_html = '<p class="note">No cleaning rule changed the data.</p>'
    else:
        cleaning_html = _table(cleaning, columns=_ordered(cleaning, _CLEANING_COLUMNS))
    return f"""<section id="data">
<h2>Data &amp; cleaning</h2>
<h3>Total sales</h3>
{_figure_block(figures.total_sales_figure(panel, forecast), "fig-total-sales")}
<h3>Cleaning</h3>
<p class="note">What each cleaning rule dropped or changed, and why.</p>
<div class="table-wrap">{cleaning_html}</div>
<h3>Series notes</h3>
{_series_notes(series_notes)}
</section>"""


def _series_notes(notes: pd.DataFrame) -> str:
    if notes.empty:
        return '<p class="note">No product needed a note.</p>'
    columns = _ordered(notes, _NOTES_COLUMNS)
    table = f'<div class="table-wrap">{_table(notes, columns=columns)}</div>'
    if "issue" in notes.columns:
        counts = notes["issue"].astype(str).value_counts()
        tally = ", ".join(f"{n:,} {escape(str(issue))}" for issue, n in counts.items())
    else:
        tally = f"{len(notes):,} notes"
    if len(notes) <= _NOTES_SHOWN_OPEN:
        return f'<p class="note">{tally}.</p>{table}'
    return f"<details><summary>{len(notes):,} notes: {tally}</summary>{table}</details>"


def _leaderboard_section(
    leaderboard: pd.DataFrame,
    segment_leaderboard: pd.DataFrame,
    metric: str | None,
    best: str | None,
    models: list[str],
) -> str:
    if leaderboard.empty:
        return """<section id="leaderboard"><h2>Leaderboard</h2>
<p class="note">No model was evaluated in this run.</p></section>"""
    columns = [
        *[col for col in _LEADING_COLUMNS if col in leaderboard.columns],
        *[col for col in figures.metric_columns(leaderboard) if col != "time_s"],
        *[col for col in ("time_s",) if col in leaderboard.columns],
    ]
    sorted_by = "rank" if "rank" in leaderboard.columns else metric
    table = _table(leaderboard, columns=columns, sortable=True, highlight=best, sorted_by=sorted_by)
    return f"""<section id="leaderboard">
<h2>Leaderboard</h2>
<p class="note">Backtest scores over all products. Click a column to sort;
hover a column name for what it measures. The highlighted row is the selected model.</p>
<div class="table-wrap">{table}</div>
<div class="grid-2">
<div><h3>{escape(figures.metric_label(metric or "score"))} per model</h3>
{_figure_block(figures.model_score_figure(leaderboard, metric), "fig-model-scores")}</div>
<div><h3>{escape(figures.metric_label(metric or "score"))} by segment</h3>
{_segment_table(segment_leaderboard, metric, models)}</div>
</div>
</section>"""


def _segment_table(frame: pd.DataFrame, metric: str | None, models: list[str]) -> str:
    """Models x segments, the best score of each segment highlighted."""
    if frame.empty or metric is None or metric not in frame.columns:
        return '<p class="note">No segment scores in this run.</p>'
    frame = frame.assign(model=frame["model"].astype(str), segment=frame["segment"].astype(str))
    pivot = frame.pivot_table(index="model", columns="segment", values=metric, aggfunc="first")
    segments = [s for s in figures.SEGMENTS if s in pivot.columns]
    segments += sorted(set(pivot.columns) - set(segments))
    order = [m for m in models if m in pivot.index] + sorted(set(pivot.index) - set(models))
    pivot = pivot.reindex(index=order, columns=segments)
    sizes = (
        frame.groupby("segment")["series"].max()
        if "series" in frame.columns
        else pd.Series(dtype=float)
    )
    head = "".join(
        f'<th class="num">{escape(s)}'
        + (f'<span class="sub">{sizes[s]:,.0f} products</span>' if s in sizes else "")
        + "</th>"
        for s in segments
    )
    lowest = pivot.min().to_numpy()
    rows = []
    for model, values in zip(pivot.index, pivot.to_numpy(), strict=True):
        cells = "".join(
            f'<td class="num{" best-cell" if value == best else ""}">'
            f"{_format_number(value, 3)}</td>"
            for value, best in zip(values, lowest, strict=True)
        )
        rows.append(f"<tr><td>{escape(str(model))}</td>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="segment-table"><thead><tr><th>Model</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="note">Lower is better; the best model of each segment is marked.</p>'
    )


def _explorer_section(explorer: dict[str, Any], history_periods: int) -> str:
    products = explorer["products"]
    if not products:
        return """<section id="explorer"><h2>Product explorer</h2>
<p class="note">No product history in this run.</p></section>"""
    payload = json.dumps(explorer, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    levels = explorer["levels"]
    bands = (
        " and " + "/".join(f"{level}%" for level in sorted(levels)) + " prediction intervals"
        if levels
        else ""
    )
    return f"""<section id="explorer">
<h2>Product explorer</h2>
<p class="note">The {len(products):,} largest products by volume. The chart shows up to the
last {history_periods:,} periods of sales, the backtest forecasts of the product's model (dotted
lines mark the backtest cutoffs) and the forecast{bands}.</p>
<div class="controls">
<label>Find<input type="search" id="product-search" placeholder="Product id" autocomplete="off">
</label>
<label>Product<select id="product-select"></select></label>
<label>Compare with<select id="compare-select"></select></label>
<span class="note" id="product-count"></span>
</div>
<div class="chips" id="product-facts"></div>
<div class="figure" id="explorer-chart"></div>
<h3>Scores of this product</h3>
<div class="table-wrap"><table id="product-metrics"></table></div>
<script type="application/json" id="explorer-data">{_script_json(payload)}</script>
</section>"""


def _accuracy_section(backtest: pd.DataFrame, models: list[str]) -> str:
    figure = figures.predicted_vs_actual_figure(backtest, models=models)
    return f"""<section id="accuracy">
<h2>Predicted vs actual</h2>
<p class="note">Each point is one product on one backtest day; points on the dashed line are
perfect. The selected model is shown: click other models in the legend to add them,
double-click one to show it alone. Up to 20,000 points are sampled.</p>
{_figure_block(figure, "fig-predicted-actual")}
</section>"""


def _segments_section(per_series: pd.DataFrame, models: list[str]) -> str:
    figure = figures.segment_error_figure(per_series, models=models)
    return f"""<section id="segments">
<h2>Error by segment</h2>
<p class="note">How each model's per-product score spreads within each demand segment
(box: middle half of products, line: median, whiskers: 1.5 IQR). The number of products is
shown with each segment.</p>
{_figure_block(figure, "fig-segment-errors")}
</section>"""


def _drivers_section(drivers: pd.DataFrame, panel: pd.DataFrame, max_series: int) -> str:
    """Why forecasts are what they are: drivers overall and per product."""
    if drivers.empty:
        return ""
    overall = (
        drivers.assign(strength=drivers["effect"].abs())
        .groupby("driver")["strength"]
        .mean()
        .sort_values()
    )
    figure = go.Figure(
        go.Bar(
            x=overall.to_numpy(),
            y=[figures.plotly_text(d) for d in overall.index],
            orientation="h",
            marker_color="#4c78a8",
        )
    )
    figure.update_layout(
        height=max(260, 28 * len(overall) + 80),
        margin={"l": 200, "r": 20, "t": 20, "b": 40},
        xaxis_title="mean |contribution| (log demand)",
        template="plotly_white",
    )
    volume = panel.groupby("unique_id")["y"].sum().sort_values(ascending=False)
    top = set(volume.index[:max_series])
    rows = drivers[drivers["unique_id"].isin(top)].copy()
    rows["effect"] = rows["effect"].round(3)
    table = _table(
        rows, columns=["unique_id", "rank", "driver", "direction", "effect"], sortable=True
    )
    return f"""<section id="drivers">
<h2>What drives the forecasts</h2>
<p class="note">Each product's forecast explained by the LightGBM model's exact SHAP
contributions, averaged over the horizon and grouped into drivers: recent sales level, season,
day of week, festivals, holidays, price and promotion. "raises" pushes the forecast up from the
typical level, "lowers" pulls it down.</p>
{_figure_block(figure, "fig-drivers")}
<details><summary>Top drivers per product ({rows["unique_id"].nunique()} products)</summary>
{table}
</details>
</section>"""


def _figure_block(figure: go.Figure, element_id: str) -> str:
    return (
        f'<div class="figure" id="{element_id}"></div>'
        f'<script type="application/json" data-plot="{element_id}">'
        f"{_script_json(figure.to_json())}</script>"
    )


def _script_json(text: str) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&``."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _ordered(frame: pd.DataFrame, leading: Sequence[str]) -> list[str]:
    first = [col for col in leading if col in frame.columns]
    return first + [col for col in frame.columns if col not in first]


def _table(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    sortable: bool = False,
    highlight: str | None = None,
    sorted_by: str | None = None,
) -> str:
    """An HTML table: numbers right-aligned and formatted, text escaped.

    ``highlight`` marks the row whose ``model`` equals it; ``sortable`` tables carry
    the raw numbers in ``data-value`` for the page's sorting script.
    """
    formats = {col: _formatter(frame[col], col) for col in columns}
    numeric = {col for col in columns if _is_number(frame[col])}
    head = "".join(
        "<th"
        + _attribute("class", "num" if col in numeric else None)
        + _attribute("title", _METRIC_HELP.get(col))
        + _attribute("aria-sort", "ascending" if col == sorted_by else None)
        + f">{escape(figures.metric_label(str(col)))}</th>"
        for col in columns
    )
    rows = []
    for position, record in enumerate(frame[list(columns)].itertuples(index=False)):
        cells = []
        for col, value in zip(columns, record, strict=True):
            if col in numeric:
                key = _attribute("data-value", _sort_key(value)) if sortable else ""
                cells.append(f'<td class="num"{key}>{formats[col](value)}</td>')
            else:
                kind = ' class="examples"' if col == "examples" else ""
                cells.append(f"<td{kind}>{formats[col](value)}</td>")
        marked = (
            highlight is not None
            and "model" in frame.columns
            and str(frame["model"].iloc[position]) == highlight
        )
        rows.append(f"<tr{_attribute('class', 'best' if marked else None)}>{''.join(cells)}</tr>")
    kind = ' class="sortable"' if sortable else ""
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _formatter(values: pd.Series, name: str) -> Callable[[object], str]:
    """How to show one column: digits chosen from the column's magnitude."""
    if not _is_number(values):
        return lambda value: escape(_format_value(value))
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if name.startswith("coverage") and finite.size and finite.max() <= 1:
        return lambda value: _format_number(value, 1, scale=100, suffix="%")
    if not finite.size or np.all(finite == np.round(finite)):
        return lambda value: _format_number(value, 0)
    largest = float(np.abs(finite).max())
    digits = 3 if largest < 10 else 2 if largest < 100 else 1 if largest < 1000 else 0
    return lambda value: _format_number(value, digits)


def _format_number(value: object, digits: int, scale: float = 1, suffix: str = "") -> str:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        return '<span class="missing">–</span>'
    return f"{number * scale:,.{digits}f}{suffix}"


def _format_value(value: object) -> str:
    """A summary value or table cell as text: numbers grouped, dates without midnight."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}".rstrip("0")
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(_format_value(item) for item in value)
    return str(value)


def _sort_key(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return repr(number) if math.isfinite(number) else ""


def _attribute(name: str, value: str | None) -> str:
    return "" if value is None else f' {name}="{escape(value)}"'


def _write_atomic(target: Path, document: str) -> None:
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(document)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file private to its owner; a report is meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_CSS = """
:root {
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f5f6f8; --panel: #fff;
  --accent: #2563eb; --accent-soft: #eef4ff; --compare: #d97706; --compare-soft: #fef6e7;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body {
  margin: 0; color: var(--ink); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC",
    "Microsoft YaHei", sans-serif;
}
.topbar {
  position: sticky; top: 0; z-index: 100; background: rgba(255, 255, 255, 0.96);
  border-bottom: 1px solid var(--line); backdrop-filter: blur(6px);
}
.topbar .inner {
  max-width: 1240px; margin: 0 auto; padding: 0 24px; height: 50px;
  display: flex; align-items: center; gap: 2px; overflow-x: auto;
}
.topbar .brand {
  font-weight: 650; margin-right: auto; padding-right: 16px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; max-width: 320px;
}
.topbar a {
  color: var(--muted); text-decoration: none; padding: 6px 10px; border-radius: 6px;
  white-space: nowrap; font-size: 13px;
}
.topbar a:hover { background: var(--accent-soft); color: var(--accent); }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
section {
  background: var(--panel); border: 1px solid var(--line); border-radius: 12px;
  padding: 22px 26px; margin-bottom: 22px; scroll-margin-top: 66px;
}
h1 { font-size: 26px; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 {
  font-size: 12px; margin: 22px 0 8px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.06em;
}
.headline { font-size: 17px; margin: 4px 0; }
.outlook { font-size: 15px; margin: 4px 0 0; color: #374151; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; max-width: 900px; }
.cards {
  display: grid; gap: 12px; margin-top: 18px;
  grid-template-columns: repeat(auto-fill, minmax(180px, 1fr));
}
.card {
  border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; background: #fafbfc;
}
.card .label {
  font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em;
}
.card .value { font-size: 16px; font-weight: 600; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td {
  padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top;
}
th {
  font-size: 11px; font-weight: 600; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; background: #fafbfc; white-space: nowrap;
}
th .sub { display: block; font-weight: 400; text-transform: none; letter-spacing: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover td { background: #f9fafb; }
tr.best td { background: var(--accent-soft); }
tr.best td:first-child { box-shadow: inset 3px 0 0 var(--accent); font-weight: 600; }
tr.compare td { background: var(--compare-soft); }
tr.compare td:first-child { box-shadow: inset 3px 0 0 var(--compare); }
td.best-cell { color: var(--accent); font-weight: 700; }
td.examples {
  color: var(--muted); font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
  max-width: 380px; overflow-wrap: anywhere;
}
.missing { color: #b0b6bf; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { color: var(--ink); }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; color: var(--accent); }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; color: var(--accent); }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0 8px; }
.grid-2 { display: grid; grid-template-columns: 1fr 1fr; gap: 28px; }
@media (max-width: 960px) { .grid-2 { grid-template-columns: 1fr; } }
.figure { width: 100%; }
.controls { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-end; margin: 12px 0; }
.controls label {
  display: flex; flex-direction: column; gap: 3px; font-size: 11px; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.05em;
}
input, select {
  font: inherit; font-size: 14px; padding: 6px 9px; border: 1px solid #d1d5db;
  border-radius: 7px; background: #fff; color: var(--ink); min-width: 200px;
}
#product-select { min-width: 320px; }
input:focus, select:focus { outline: 2px solid var(--accent-soft); border-color: var(--accent); }
.chips { margin: 4px 0 6px; }
.chips span {
  display: inline-block; background: #f3f4f6; border-radius: 999px; padding: 3px 11px;
  margin: 0 6px 6px 0; font-size: 12.5px;
}
.chips b { font-weight: 600; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 4px 0 32px; }
"""

_JS = """
(function () {
  'use strict';
  const CONFIG = {displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d']};
  const ACCENT = '#2563eb', COMPARE = '#d97706', ACTUAL = '#334155';

  document.querySelectorAll('script[data-plot]').forEach(function (node) {
    const figure = JSON.parse(node.textContent);
    Plotly.newPlot(node.dataset.plot, figure.data, figure.layout, CONFIG);
  });

  document.querySelectorAll('table.sortable').forEach(function (table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    const key = function (row, col) {
      const cell = row.cells[col];
      if (!('value' in cell.dataset)) return cell.textContent.trim().toLowerCase();
      return cell.dataset.value === '' ? null : Number(cell.dataset.value);
    };
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      const sort = function () {
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = Array.from(body.rows).sort(function (a, b) {
          const x = key(a, col), y = key(b, col);
          if (x === null || y === null) return (x === null) - (y === null);
          const order = typeof x === 'number' ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        body.append.apply(body, rows);
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
    });
  });

  const data = document.getElementById('explorer-data');
  if (!data) return;
  const D = JSON.parse(data.textContent);
  const search = document.getElementById('product-search');
  const select = document.getElementById('product-select');
  const compare = document.getElementById('compare-select');
  const count = document.getElementById('product-count');
  const facts = document.getElementById('product-facts');
  const scores = document.getElementById('product-metrics');
  const chart = document.getElementById('explorer-chart');

  const plotText = function (s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  };
  const times = function (runs) {
    const days = [];
    for (let i = 0; i < runs.length; i += 2) {
      for (let k = 0; k < runs[i + 1]; k++) days.push(D.dates[runs[i] + k]);
    }
    return days;
  };
  const number = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return '\\u2013';
    const a = Math.abs(v);
    const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
    return v.toLocaleString('en-US',
      {minimumFractionDigits: digits, maximumFractionDigits: digits});
  };
  const units = function (v) { return Math.round(v).toLocaleString('en-US'); };
  const sum = function (values) {
    return values.reduce(function (a, v) { return a + (v === null ? 0 : v); }, 0);
  };

  function backtestTrace(p, m, color) {
    const x = [], y = [];
    p.backtest.forEach(function (w) {
      if (!w.y[m]) return;
      const days = times(w.t);
      x.push.apply(x, days.concat([days[days.length - 1]]));
      y.push.apply(y, w.y[m].concat([null]));
    });
    return {x: x, y: y, name: 'Backtest \\u00b7 ' + plotText(D.models[m]), mode: 'lines',
      line: {color: color, width: 1.6}, hovertemplate: '%{y:,.2f}'};
  }

  function plot(p, primary, second) {
    const traces = [];
    const shapes = p.backtest.map(function (w) {
      const day = D.dates[w.cutoff];
      return {type: 'line', xref: 'x', yref: 'paper', x0: day, x1: day, y0: 0, y1: 1,
        line: {color: '#b6bec9', width: 1, dash: 'dot'}};
    });
    const f = p.future;
    if (f) {
      const x = times(f.t);
      shapes.push({type: 'rect', xref: 'x', yref: 'paper', x0: x[0], x1: x[x.length - 1],
        y0: 0, y1: 1, fillcolor: '#f3f6fb', line: {width: 0}, layer: 'below'});
      const levels = D.levels.slice().sort(function (a, b) { return b - a; });
      levels.forEach(function (level, i) {
        const alpha = 0.12 + 0.14 * i / Math.max(levels.length - 1, 1);
        traces.push({x: x, y: f.lo[level], mode: 'lines', line: {width: 0, color: ACCENT},
          hoverinfo: 'skip', showlegend: false, legendgroup: 'pi' + level});
        traces.push({x: x, y: f.hi[level], mode: 'lines', line: {width: 0, color: ACCENT},
          fill: 'tonexty', fillcolor: 'rgba(37, 99, 235, ' + alpha.toFixed(2) + ')',
          name: level + '% interval', legendgroup: 'pi' + level, customdata: f.lo[level],
          hovertemplate: level + '%: %{customdata:,.2f} \\u2013 %{y:,.2f}'});
      });
    }
    traces.push({x: times(p.history.t), y: p.history.y, name: 'Actual', mode: 'lines',
      line: {color: ACTUAL, width: 1.4}, hovertemplate: '%{y:,.2f}'});
    if (primary !== null) traces.push(backtestTrace(p, primary, ACCENT));
    if (second !== null) traces.push(backtestTrace(p, second, COMPARE));
    if (f) {
      const name = primary === null
        ? 'Forecast' : 'Forecast \\u00b7 ' + plotText(D.models[primary]);
      traces.push({x: times(f.t), y: f.y, name: name, mode: 'lines',
        line: {color: ACCENT, width: 2.4}, hovertemplate: '%{y:,.2f}'});
    }
    Plotly.react(chart, traces, Object.assign({}, D.layout, {shapes: shapes}), CONFIG);
  }

  function describe(p, primary) {
    const items = [['Volume', units(p.volume) + ' units']];
    if (p.segment !== null) items.push(['Segment', p.segment]);
    if (primary !== null) items.push(['Model', D.models[primary]]);
    if (p.future) {
      const steps = p.future.y.length;
      const ahead = sum(p.future.y), before = sum(p.history.y.slice(-steps));
      let text = units(ahead) + ' units';
      if (before > 0) {
        const change = Math.round(100 * (ahead / before - 1));
        text += ' (' + (change >= 0 ? '+' : '') + change + '% vs last ' + steps + ')';
      }
      items.push(['Next ' + steps, text]);
    }
    facts.replaceChildren.apply(facts, items.map(function (item) {
      const chip = document.createElement('span');
      const label = document.createElement('b');
      label.textContent = item[0] + ': ';
      chip.append(label, item[1]);
      return chip;
    }));
  }

  function tabulate(p, primary, second) {
    const head = document.createElement('tr');
    ['Model'].concat(D.metric_labels).forEach(function (label, i) {
      const th = document.createElement('th');
      th.textContent = label;
      if (i) th.className = 'num';
      head.append(th);
    });
    const rows = p.metrics.slice().sort(function (a, b) {
      const x = a[1], y = b[1];
      if (x === null || y === null) return (x === null) - (y === null);
      return x - y;
    }).map(function (row) {
      const tr = document.createElement('tr');
      if (row[0] === primary) tr.className = 'best';
      if (row[0] === second) tr.className = 'compare';
      row.forEach(function (value, i) {
        const td = document.createElement('td');
        td.textContent = i ? number(value) : D.models[value];
        if (i) td.className = 'num';
        tr.append(td);
      });
      return tr;
    });
    const thead = document.createElement('thead'), tbody = document.createElement('tbody');
    thead.append(head);
    tbody.append.apply(tbody, rows);
    scores.replaceChildren(thead, tbody);
  }

  function render() {
    const p = D.products[Number(select.value)];
    const second = compare.value === '' ? null : Number(compare.value);
    plot(p, p.model, second);
    tabulate(p, p.model, second);
  }

  function choose() {
    const p = D.products[Number(select.value)];
    const previous = compare.value;
    const others = D.models.map(function (m, i) { return i; }).filter(function (i) {
      return i !== p.model && p.backtest.some(function (w) { return w.y[i]; });
    });
    compare.replaceChildren.apply(compare, [new Option('none', '')].concat(
      others.map(function (i) { return new Option(D.models[i], String(i)); })));
    if (others.indexOf(Number(previous)) >= 0 && previous !== '') compare.value = previous;
    describe(p, p.model);
    render();
  }

  function filter() {
    const query = search.value.trim().toLowerCase();
    const current = select.value;
    const matches = [];
    D.products.forEach(function (p, i) {
      if (!query || p.id.toLowerCase().indexOf(query) >= 0) matches.push(i);
    });
    select.replaceChildren.apply(select, matches.map(function (i) {
      const p = D.products[i];
      return new Option(p.id + ' \\u2014 ' + units(p.volume) + ' units', String(i));
    }));
    count.textContent = matches.length + ' of ' + D.products.length + ' products';
    if (current !== '' && matches.indexOf(Number(current)) >= 0) select.value = current;
    else if (matches.length) choose();
  }

  search.addEventListener('input', filter);
  select.addEventListener('change', choose);
  compare.addEventListener('change', render);
  filter();
})();
"""
