"""The self-contained HTML report of a forecasting run.

:func:`write_report` renders one offline file: Plotly's JavaScript is inlined once,
every figure and the product explorer's data are embedded as JSON, and a little
vanilla JavaScript draws them. Nothing is fetched from the network, so the file can
be mailed or archived as it is.

A sticky navigation bar leads through the groups of sections: overview (headline,
outlook, biggest movers, sales calendar), product explorer, trends, decisions
(every hierarchy level's forecast, alerts), drivers, time-series analysis, model
quality (leaderboard, predicted vs actual, error by segment, training curves) and
data & cleaning. The trends, decisions, drivers, analysis and training sections
appear when their inputs are given. Every text is in English or
Chinese (``lang``); every user-provided string is escaped, in the HTML and in the
embedded JSON alike.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from trendcast.exceptions import ConfigError, InputError
from trendcast.reporting import analysis_figures, figures, insight_sections
from trendcast.reporting.assets import CSS, JS
from trendcast.reporting.blocks import (
    figure_block,
    format_number,
    format_value,
    json_payload,
    ordered,
    product_link,
    table,
)
from trendcast.reporting.decision_sections import decisions_section
from trendcast.reporting.i18n import MESSAGES, check_language, html, text

__all__ = ["render_report", "write_report"]

_REQUIRED = {
    "panel": ("unique_id", "ds", "y"),
    "backtest": ("unique_id", "ds", "cutoff", "y", "model", "forecast"),
    "forecast": ("unique_id", "ds", "forecast"),
    "leaderboard": ("model",),
    "segment_leaderboard": ("model", "segment"),
    "per_series": ("model", "unique_id"),
    "trends": ("unique_id", "trend"),
}
_DATE_COLUMNS = {"panel": ("ds",), "backtest": ("ds", "cutoff"), "forecast": ("ds",)}
_CLEANING_COLUMNS = ("rule", "action", "rows", "units", "reason", "examples")
_NOTES_COLUMNS = ("unique_id", "issue", "detail")
_LEADING_COLUMNS = ("model", "rank", "series")
_NOTES_SHOWN_OPEN = 10
#: risers and fallers named in the overview, and always kept in the explorer
_MOVERS = 5
_EXPLORER_MOVERS = 25
#: the navigation: group key and the sections under it
_GROUPS = ("overview", "explorer", "trends", "decisions", "drivers", "analysis", "quality", "data")
_QUALITY = ("leaderboard", "accuracy", "segments", "training")


def write_report(path: str | Path, **arguments: Any) -> Path:
    """Write the HTML report of a forecasting run, atomically, and return its path.

    The page is rendered in full before anything touches the disk, then written to a
    temporary file beside ``path`` and moved over it, so a failure leaves an existing
    report untouched. The keyword arguments are those of :func:`render_report`.

    Examples
    --------
    >>> write_report("out/report.html", title="Online Retail", summary={"Series": 300},
    ...              cleaning=cleaning, series_notes=notes, leaderboard=board,
    ...              segment_leaderboard=by_segment, per_series=scores, panel=panel,
    ...              backtest=cv, forecast=future, lang="zh")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    document = render_report(**arguments)
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
    lang: str = "en",
    trends: pd.DataFrame | None = None,
    category_trends: pd.DataFrame | None = None,
    analysis: Mapping[str, pd.DataFrame] | Any | None = None,
    training_history: Mapping[str, pd.DataFrame] | None = None,
    hierarchy: pd.DataFrame | None = None,
    hierarchy_history: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
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
        Products offered in the explorer, the largest by volume (the biggest risers
        and fallers are added).
    history_periods
        Most recent periods of history shown per product.
    drivers
        What drives each product's forecast: ``unique_id, rank, driver, effect,
        direction`` (see :func:`trendcast.evaluation.explain.drivers_summary`).
    lang
        ``"en"`` or ``"zh"``: the language of every text of the report.
    trends
        Each product's trend: ``unique_id, trend, slope, growth_pct, p_value`` (see
        :func:`trendcast.analysis.trends.detect_trends`); adds the trends section.
    category_trends
        Trends per category and in total (:func:`trendcast.analysis.trends.category_trends`).
    analysis
        The time-series analysis: a :class:`trendcast.analysis.summary.AnalysisResult`
        or its tables by name (see :func:`trendcast.reporting.insight_sections.analysis_tables`);
        adds the analysis section and the drivers' correlations and components.
    training_history
        Loss curves of neural models by model name, each ``step, train_loss,
        valid_loss``; adds the training curves.
    hierarchy, hierarchy_history
        The reconciled forecast of every level (``level, value, unique_id, ds, forecast,
        base_forecast``, see :func:`trendcast.decisions.hierarchy_forecast`) and the levels'
        sales (``level, unique_id, ds, y`` as :func:`trendcast.data.hierarchy.aggregate_levels`
        gives them); add the decisions section's chart per level.
    alerts
        ``unique_id, alert, severity, reason, ds`` (see :func:`trendcast.decisions.find_alerts`);
        adds the alerts to the decisions section.

    Raises
    ------
    InputError
        A non-empty table lacks a required column, or its dates are not datetimes.
    ConfigError
        ``levels``, ``max_series``, ``history_periods`` or ``lang`` is out of range.
    """
    lang = check_language(lang)
    _check_options(levels, max_series, history_periods)
    panel = _checked(panel, "panel")
    backtest = _checked(backtest, "backtest")
    forecast = _checked(forecast, "forecast")
    leaderboard = _checked(leaderboard, "leaderboard")
    segment_leaderboard = _checked(segment_leaderboard, "segment_leaderboard")
    per_series = _checked(per_series, "per_series")
    if trends is not None:
        trends = _checked(trends, "trends")
    tables = insight_sections.analysis_tables(analysis)

    metric = figures.score_metric(leaderboard)
    order = "rank" if "rank" in leaderboard.columns else metric
    if order is not None:
        leaderboard = leaderboard.sort_values(order, kind="stable")
    best = figures.best_model(leaderboard)
    models = leaderboard["model"].astype(str).tolist()
    movers = insight_sections.movers(trends, _EXPLORER_MOVERS)
    explorer = figures.explorer_data(
        panel,
        backtest,
        forecast,
        per_series,
        levels=levels,
        max_series=max_series,
        history_periods=history_periods,
        models=models,
        include=[str(uid) for uid in movers["unique_id"]],
        anomalies=tables.get("anomalies"),
        trends=trends,
        lang=lang,
    )
    linked = {product["id"] for product in explorer["products"]}
    volume = panel.groupby(panel["unique_id"].astype(str))["y"].sum()
    ranking = volume.sort_values(ascending=False, kind="stable").index.tolist()
    context = insight_sections.Context(lang=lang, linked=linked, order=ranking)

    groups: dict[str, str] = {
        "overview": _overview(
            title, summary, leaderboard, metric, best, panel, forecast, trends, tables, context
        ),
        "explorer": _explorer_section(explorer, history_periods, lang),
        "trends": insight_sections.trends_section(trends, category_trends, context),
        "drivers": insight_sections.drivers_section(drivers, tables, panel, max_series, context),
        "analysis": insight_sections.analysis_section(tables, context),
        "decisions": decisions_section(hierarchy, hierarchy_history, alerts, lang=lang),
        "quality": _quality(
            leaderboard,
            segment_leaderboard,
            per_series,
            backtest,
            metric,
            best,
            models,
            training_history,
            lang,
        ),
        "data": _data_section(cleaning, series_notes, panel, forecast, lang),
    }
    shown = [key for key in _GROUPS if groups[key]]
    links = "".join(
        f'<a href="#{key}" data-nav="{key}">{escape(text(f"nav.{key}", lang))}</a>' for key in shown
    )
    body = "\n".join(groups[key] for key in shown)
    script_words = {
        key: value[lang]
        for key, value in MESSAGES.items()
        if key.startswith(("explorer.", "trend."))
    }
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="trendcast">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<nav class="topbar" aria-label="{escape(text("nav.label", lang))}"><div class="inner">
<span class="brand">{escape(title)}</span>{links}</div></nav>
<main>
{body}
</main>
<footer>{html("footer", lang, when=escape(generated))}</footer>
<script type="application/json" id="report-i18n">{json_payload(script_words)}</script>
<script>{get_plotlyjs()}</script>
<script>{JS}</script>
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
    trends: pd.DataFrame | None,
    tables: Mapping[str, pd.DataFrame],
    context: insight_sections.Context,
) -> str:
    lang = context.lang
    facts: dict[str, object] = dict(summary)
    classes: dict[str, str] = {}
    if trends is not None and not trends.empty:
        counts = trends["trend"].astype(str).value_counts()
        facts["Rising"] = int(counts.get("rising", 0))
        facts["Falling"] = int(counts.get("falling", 0))
        classes = {"Rising": " rising", "Falling": " falling"}
    anomalies = tables.get("anomalies")
    if anomalies is not None:
        facts["Anomalies"] = len(anomalies)
    cards = "".join(
        f'<div class="card{classes.get(str(key), "")}"><div class="label">'
        f"{escape(_summary_label(str(key), lang))}</div>"
        f'<div class="value">{escape(format_value(value, lang))}</div></div>'
        for key, value in facts.items()
    )
    outlook = _outlook(panel, forecast, lang)
    headline = ""
    if not (leaderboard.empty and forecast.empty):  # an analysis without models has none
        headline = f'<p class="headline">{_headline(leaderboard, metric, best, lang)}</p>'
    calendar = ""
    if not panel.empty and analysis_figures.is_daily(panel):
        calendar = (
            f"<h3>{html('overview.calendar', lang)}</h3>"
            f'<p class="note">{html("overview.calendar_note", lang)}</p>'
            + figure_block(
                analysis_figures.calendar_heatmap_figure(panel, lang=lang), "fig-calendar"
            )
        )
    return f"""<section id="overview" class="overview" data-group="overview">
<h1>{escape(title)}</h1>
{headline}
{f'<p class="outlook">{outlook}</p>' if outlook else ""}
<div class="cards">{cards}</div>
{_movers_block(trends, context)}
{calendar}
</section>"""


def _summary_label(key: str, lang: str) -> str:
    name = f"summary.{key}"
    return text(name, lang) if name in MESSAGES else key


def _movers_block(trends: pd.DataFrame | None, context: insight_sections.Context) -> str:
    """The few biggest risers and fallers, each a link into the explorer."""
    top = insight_sections.movers(trends, _MOVERS)
    if top.empty:
        return ""
    lang = context.lang
    lists = []
    for label, css in (("rising", "up"), ("falling", "down")):
        rows = top[top["trend"] == label]
        items = "".join(
            f"<li>{product_link(uid, context.linked)} "
            f'<span class="{css}">{_growth(growth)}</span></li>'
            for uid, growth in zip(rows["unique_id"], rows["growth_pct"], strict=True)
        )
        empty = html(f"trends.none_{label}", lang)
        lists.append(
            f"<div><b>{html(f'overview.{label}', lang)}</b>"
            + (f"<ol>{items}</ol>" if items else f'<p class="note">{empty}</p>')
            + "</div>"
        )
    return (
        f"<h3>{html('overview.movers', lang)}</h3>"
        f'<p class="note">{html("overview.movers_note", lang)}</p>'
        f'<div class="movers">{"".join(lists)}</div>'
    )


def _growth(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return f"{number:+,.0f}%" if math.isfinite(number) else ""


def _headline(
    leaderboard: pd.DataFrame, metric: str | None, best: str | None, lang: str = "en"
) -> str:
    """One sentence on the winner, against SeasonalNaive when it ran."""
    if best is None:
        return html("headline.none", lang)
    count = f"{len(leaderboard)}"
    winner = f"<strong>{escape(best)}</strong>"
    scores = (
        leaderboard.set_index(leaderboard["model"].astype(str))[metric]
        if metric is not None
        else pd.Series(dtype=float)
    )
    score = float(scores.get(best, math.nan))
    if math.isnan(score):
        return html("headline.first", lang, winner=winner, count=count)
    label = escape(figures.metric_label(metric or ""))
    baseline = next(
        (name for name in scores.index if re.sub(r"[^a-z]", "", name.lower()) == "seasonalnaive"),
        None,
    )
    reference = float(scores.get(baseline, math.nan)) if baseline else math.nan
    if baseline == best:
        return html("headline.unbeaten", lang, winner=winner, label=label, score=f"{score:.3f}")
    if math.isnan(reference) or reference <= 0:
        return html(
            "headline.best", lang, winner=winner, label=label, score=f"{score:.3f}", count=count
        )
    change = 1 - score / reference
    against = html(
        "headline.against",
        lang,
        baseline=escape(str(baseline)),
        label=label,
        score=f"{score:.3f}",
        reference=f"{reference:.3f}",
    )
    if round(change * 100) == 0:
        return html("headline.matches", lang, winner=winner, against=against)
    if change > 0:
        return html("headline.better", lang, winner=winner, change=f"{change:.0%}", against=against)
    return html("headline.worse", lang, winner=winner, change=f"{-change:.0%}", against=against)


def _outlook(panel: pd.DataFrame, forecast: pd.DataFrame, lang: str = "en") -> str | None:
    """The forecast total over the horizon against the same span just before it."""
    if forecast.empty or panel.empty:
        return None
    steps = forecast["ds"].nunique()
    total = float(forecast["forecast"].sum())
    until = pd.Timestamp(forecast["ds"].max()).strftime("%Y-%m-%d")
    sentence = html(
        "outlook.total",
        lang,
        steps=f"{steps:,}",
        until=until,
        total=f"<strong>{total:,.0f}</strong>",
    )
    history = panel[panel["unique_id"].isin(forecast["unique_id"].unique())]
    recent = history[history["ds"].isin(np.sort(history["ds"].unique())[-steps:])]
    past = float(recent["y"].sum())
    if past <= 0:
        return html("outlook.plain", lang, sentence=sentence)
    change = total / past - 1
    last = html("outlook.last", lang, steps=f"{steps:,}", past=f"{past:,.0f}")
    if round(change * 100) == 0:
        return html("outlook.same", lang, sentence=sentence, last=last)
    key = "outlook.more" if change > 0 else "outlook.less"
    return html(key, lang, sentence=sentence, change=f"{abs(change):.0%}", last=last)


def _data_section(
    cleaning: pd.DataFrame,
    series_notes: pd.DataFrame,
    panel: pd.DataFrame,
    forecast: pd.DataFrame,
    lang: str,
) -> str:
    if cleaning.empty:
        cleaning_html = f'<p class="note">{html("data.no_cleaning", lang)}</p>'
    else:
        cleaning_html = table(cleaning, columns=ordered(cleaning, _CLEANING_COLUMNS), lang=lang)
    total = figures.total_sales_figure(panel, forecast, lang=lang)
    return f"""<section id="data" data-group="data">
<h2>{html("data.title", lang)}</h2>
<h3>{html("data.total", lang)}</h3>
{figure_block(total, "fig-total-sales")}
<h3>{html("data.cleaning", lang)}</h3>
<p class="note">{html("data.cleaning_note", lang)}</p>
<div class="table-wrap">{cleaning_html}</div>
<h3>{html("data.notes", lang)}</h3>
{_series_notes(series_notes, lang)}
</section>"""


def _series_notes(notes: pd.DataFrame, lang: str) -> str:
    if notes.empty:
        return f'<p class="note">{html("data.no_notes", lang)}</p>'
    columns = ordered(notes, _NOTES_COLUMNS)
    block = f'<div class="table-wrap">{table(notes, columns=columns, lang=lang)}</div>'
    if "issue" in notes.columns:
        counts = notes["issue"].astype(str).value_counts()
        tally = ", ".join(f"{n:,} {escape(str(issue))}" for issue, n in counts.items())
    else:
        tally = html("data.notes_count", lang, count=f"{len(notes):,}")
    if len(notes) <= _NOTES_SHOWN_OPEN:
        return f'<p class="note">{tally}.</p>{block}'
    summary = html("data.notes_summary", lang, count=f"{len(notes):,}", tally=tally)
    return f"<details><summary>{summary}</summary>{block}</details>"


def _quality(
    leaderboard: pd.DataFrame,
    segment_leaderboard: pd.DataFrame,
    per_series: pd.DataFrame,
    backtest: pd.DataFrame,
    metric: str | None,
    best: str | None,
    models: list[str],
    training_history: Mapping[str, pd.DataFrame] | None,
    lang: str,
) -> str:
    """The model-quality group: a heading with its own links, then its sections; nothing for
    an analysis without models."""
    training = insight_sections.training_section(training_history, lang)
    if leaderboard.empty and backtest.empty and per_series.empty and not training:
        return ""
    keys = [key for key in _QUALITY if key != "training" or training]
    links = "".join(f'<a href="#{key}">{html(f"nav.{key}", lang)}</a>' for key in keys)
    return "\n".join(
        [
            f"""<header id="quality" class="group-head" data-group="quality">
<h2>{html("nav.quality", lang)}</h2>
<p class="note">{html("quality.note", lang)}</p>
<nav class="subnav">{links}</nav>
</header>""",
            _leaderboard_section(leaderboard, segment_leaderboard, metric, best, models, lang),
            _accuracy_section(backtest, models, lang),
            _segments_section(per_series, models, lang),
            training,
        ]
    )


def _leaderboard_section(
    leaderboard: pd.DataFrame,
    segment_leaderboard: pd.DataFrame,
    metric: str | None,
    best: str | None,
    models: list[str],
    lang: str = "en",
) -> str:
    if leaderboard.empty:
        return f"""<section id="leaderboard" data-group="quality">
<h2>{html("leaderboard.title", lang)}</h2>
<p class="note">{html("leaderboard.none", lang)}</p></section>"""
    columns = [
        *[col for col in _LEADING_COLUMNS if col in leaderboard.columns],
        *[col for col in figures.metric_columns(leaderboard) if col != "time_s"],
        *[col for col in ("time_s",) if col in leaderboard.columns],
    ]
    sorted_by = "rank" if "rank" in leaderboard.columns else metric
    board = table(
        leaderboard, columns=columns, sortable=True, highlight=best, sorted_by=sorted_by, lang=lang
    )
    label = escape(figures.metric_label(metric or "score"))
    scores = figures.model_score_figure(leaderboard, metric, lang=lang)
    return f"""<section id="leaderboard" data-group="quality">
<h2>{html("leaderboard.title", lang)}</h2>
<p class="note">{html("leaderboard.note", lang)}</p>
<div class="table-wrap">{board}</div>
<div class="grid-2">
<div><h3>{html("leaderboard.per_model", lang, metric=label)}</h3>
{figure_block(scores, "fig-model-scores")}</div>
<div><h3>{html("leaderboard.by_segment", lang, metric=label)}</h3>
{_segment_table(segment_leaderboard, metric, models, lang)}</div>
</div>
</section>"""


def _segment_table(
    frame: pd.DataFrame, metric: str | None, models: list[str], lang: str = "en"
) -> str:
    """Models x segments, the best score of each segment highlighted."""
    if frame.empty or metric is None or metric not in frame.columns:
        return f'<p class="note">{html("leaderboard.no_segments", lang)}</p>'
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
        + (
            f'<span class="sub">{html("leaderboard.products", lang, count=f"{sizes[s]:,.0f}")}'
            "</span>"
            if s in sizes
            else ""
        )
        + "</th>"
        for s in segments
    )
    lowest = pivot.min().to_numpy()
    rows = []
    for model, values in zip(pivot.index, pivot.to_numpy(), strict=True):
        cells = "".join(
            f'<td class="num{" best-cell" if value == best else ""}">{format_number(value, 3)}</td>'
            for value, best in zip(values, lowest, strict=True)
        )
        rows.append(f"<tr><td>{escape(str(model))}</td>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="segment-table"><thead><tr>'
        f"<th>{html('leaderboard.model', lang)}</th>{head}"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f'<p class="note">{html("leaderboard.segment_note", lang)}</p>'
    )


def _explorer_section(explorer: dict[str, Any], history_periods: int, lang: str = "en") -> str:
    products = explorer["products"]
    if not products:
        return f"""<section id="explorer" data-group="explorer">
<h2>{html("explorer.title", lang)}</h2>
<p class="note">{html("explorer.none", lang)}</p></section>"""
    levels = explorer["levels"]
    bands = (
        html("explorer.bands", lang, levels="/".join(f"{level}%" for level in sorted(levels)))
        if levels
        else ""
    )
    note = html(
        "explorer.note",
        lang,
        count=f"{len(products):,}",
        periods=f"{history_periods:,}",
        bands=bands,
    )
    return f"""<section id="explorer" data-group="explorer">
<h2>{html("explorer.title", lang)}</h2>
<p class="note">{note}</p>
<div class="controls">
<label>{html("explorer.find", lang)}<input type="search" id="product-search"
placeholder="{escape(text("explorer.placeholder", lang))}" autocomplete="off"></label>
<label>{html("explorer.product", lang)}<select id="product-select"></select></label>
<label>{html("explorer.compare", lang)}<select id="compare-select"></select></label>
<span class="note" id="product-count"></span>
</div>
<div class="chips" id="product-facts"></div>
<div class="figure" id="explorer-chart"></div>
<h3>{html("explorer.scores", lang)}</h3>
<div class="table-wrap"><table id="product-metrics"></table></div>
<script type="application/json" id="explorer-data">{json_payload(explorer)}</script>
</section>"""


def _accuracy_section(backtest: pd.DataFrame, models: list[str], lang: str = "en") -> str:
    figure = figures.predicted_vs_actual_figure(backtest, models=models, lang=lang)
    return f"""<section id="accuracy" data-group="quality">
<h2>{html("accuracy.title", lang)}</h2>
<p class="note">{html("accuracy.note", lang)}</p>
{figure_block(figure, "fig-predicted-actual")}
</section>"""


def _segments_section(per_series: pd.DataFrame, models: list[str], lang: str = "en") -> str:
    figure = figures.segment_error_figure(per_series, models=models, lang=lang)
    return f"""<section id="segments" data-group="quality">
<h2>{html("segments.title", lang)}</h2>
<p class="note">{html("segments.note", lang)}</p>
{figure_block(figure, "fig-segment-errors")}
</section>"""


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
