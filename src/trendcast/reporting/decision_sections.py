"""The report's decisions section: the reconciled forecast of every hierarchy level, and alerts.

Each part is left out when its input is missing; the section as a whole returns
``""`` when it has nothing to show, so the page and its navigation leave it out.
"""

from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go

from trendcast.reporting.blocks import figure_set_block, table
from trendcast.reporting.figures import COLORWAY, TEMPLATE, plotly_text
from trendcast.reporting.i18n import MESSAGES, html, text

__all__ = ["decisions_section"]

#: series drawn per level, the largest by forecast volume
_SERIES_PER_LEVEL = 8
_PRODUCT_LEVEL = "product"
_ALERT_COLUMNS = ("unique_id", "alert", "severity", "reason", "ds")
_ALERTS_OPEN = 25


def decisions_section(
    hierarchy: pd.DataFrame | None,
    hierarchy_history: pd.DataFrame | None,
    alerts: pd.DataFrame | None,
    *,
    lang: str = "en",
    history_periods: int = 90,
) -> str:
    """The section's HTML: hierarchy levels (a chart per level, chosen in a list, and a table
    of the aggregates) and the alerts table."""
    parts = []
    if hierarchy is not None and not hierarchy.empty:
        parts.append(_hierarchy(hierarchy, hierarchy_history, lang, history_periods))
    if alerts is not None:
        parts.append(_alerts(alerts, lang))
    if not parts:
        return ""
    return f"""<section id="decisions" data-group="decisions">
<h2>{html("decisions.title", lang)}</h2>
{"".join(parts)}
</section>"""


def _hierarchy(
    forecast: pd.DataFrame, history: pd.DataFrame | None, lang: str, history_periods: int
) -> str:
    levels = list(dict.fromkeys(forecast["level"].astype(str)))
    figures = [
        _level_figure(forecast[forecast["level"] == level], history, level, lang, history_periods)
        for level in levels
    ]
    options = "".join(
        f'<option value="{i}">{escape(_level_name(level, lang))}</option>'
        for i, level in enumerate(levels)
    )
    totals = (
        forecast[forecast["level"] != _PRODUCT_LEVEL]
        .groupby(["level", "value"], sort=False)[["base_forecast", "forecast"]]
        .sum()
        .reset_index()
        .rename(columns={"forecast": "reconciled"})
    )
    base = totals["base_forecast"].where(totals["base_forecast"] > 0)
    totals["change_pct"] = 100 * (totals["reconciled"] / base - 1)
    totals["level"] = [_level_name(level, lang) for level in totals["level"]]
    columns = ["level", "value", "base_forecast", "reconciled", "change_pct"]
    return (
        f"<h3>{html('hierarchy.title', lang)}</h3>"
        f'<p class="note">{html("hierarchy.note", lang)}</p>'
        f'<div class="controls"><label>{html("hierarchy.level", lang)}'
        f'<select id="hierarchy-level">{options}</select></label></div>'
        + figure_set_block(figures, "fig-hierarchy", "hierarchy-level")
        + '<div class="table-wrap scroll-table">'
        + table(totals, columns=columns, sortable=True, lang=lang)
        + "</div>"
    )


def _level_name(level: str, lang: str) -> str:
    key = f"hierarchy.level_{level}"
    return text(key, lang) if key in MESSAGES else level


def _level_figure(
    rows: pd.DataFrame,
    history: pd.DataFrame | None,
    level: str,
    lang: str,
    history_periods: int,
) -> go.Figure:
    """History (solid) and reconciled forecast (dashed) of a level's largest series."""
    volume = rows.groupby("value")["forecast"].sum().sort_values(ascending=False, kind="stable")
    shown = volume.index[:_SERIES_PER_LEVEL]
    fig = go.Figure(
        layout={
            "template": TEMPLATE,
            "height": 360,
            "yaxis_title": text("hierarchy.units", lang),
            "hovermode": "x unified",
        }
    )
    past = None
    if history is not None and not history.empty and level != _PRODUCT_LEVEL:
        past = history[history["level"].astype(str) == level]
        if not past.empty:
            start = sorted(past["ds"].unique())[-min(history_periods, past["ds"].nunique())]
            past = past[past["ds"] >= start]
    for i, value in enumerate(shown):
        color = COLORWAY[i % len(COLORWAY)]
        name = plotly_text(value)
        if past is not None:
            own = past[past["unique_id"].astype(str) == str(value)]
            if not own.empty:
                fig.add_scatter(
                    x=own["ds"],
                    y=own["y"],
                    name=name,
                    legendgroup=name,
                    line={"color": color, "width": 1.5},
                )
        future = rows[rows["value"] == value].sort_values("ds")
        fig.add_scatter(
            x=future["ds"],
            y=future["forecast"],
            name=f"{name} ({text('hierarchy.forecast', lang)})",
            legendgroup=name,
            line={"color": color, "width": 2, "dash": "dash"},
        )
    return fig


def _alerts(alerts: pd.DataFrame, lang: str) -> str:
    if alerts.empty:
        return (
            f'<h3>{html("alerts.title", lang)}</h3><p class="note">{html("alerts.none", lang)}</p>'
        )
    counts = alerts.groupby(["alert", "severity"]).size().unstack(fill_value=0)
    summary = ", ".join(
        f"{_value(kind, lang)} {int(row.sum()):,}"
        + (f" ({int(row.get('high', 0)):,} {_value('high', lang)})" if row.get("high", 0) else "")
        for kind, row in counts.iterrows()
    )
    shown = alerts.assign(
        alert=[_value(v, lang) for v in alerts["alert"]],
        severity=[_value(v, lang) for v in alerts["severity"]],
    )
    columns = [c for c in _ALERT_COLUMNS if c in shown.columns]
    head = shown.head(_ALERTS_OPEN)
    body = (
        '<div class="table-wrap scroll-table">' + table(head, columns=columns, lang=lang) + "</div>"
    )
    if len(shown) > _ALERTS_OPEN:
        body += (
            f"<details><summary>{html('alerts.all', lang, count=f'{len(shown):,}')}</summary>"
            '<div class="table-wrap scroll-table">'
            + table(shown, columns=columns, sortable=True, lang=lang)
            + "</div></details>"
        )
    return (
        f"<h3>{html('alerts.title', lang)}</h3>"
        f'<p class="note">{html("alerts.note", lang)} {escape(summary)}.</p>' + body
    )


def _value(value: object, lang: str) -> str:
    key = f"value.{value}"
    return text(key, lang) if key in MESSAGES else str(value)
