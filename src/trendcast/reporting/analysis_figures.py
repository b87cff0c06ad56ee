"""Plotly figures of the trend analysis: movers, calendar, drivers, decomposition, ACF, training.

Like :mod:`trendcast.reporting.figures`, each function takes plain DataFrames and
returns a styled :class:`plotly.graph_objects.Figure`; an empty input gives a figure
that says so. Every user string (product ids, driver names) goes through
:func:`~trendcast.reporting.figures.plotly_text`, and every label through the
message catalogue, so the figures speak the report's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from trendcast.reporting.figures import (
    ACCENT,
    ACTUAL,
    COLORWAY,
    MUTED,
    TEMPLATE,
    _empty_figure,
    _figure,
    _iso_dates,
    plotly_text,
)
from trendcast.reporting.i18n import MESSAGES, text

__all__ = [
    "RISING",
    "FALLING",
    "acf_figure",
    "calendar_heatmap_figure",
    "category_trends_figure",
    "correlation_heatmap_figure",
    "decomposition_figure",
    "explained_variance_figure",
    "is_daily",
    "product_forecast_figure",
    "shap_drivers_figure",
    "training_curves_figure",
    "trend_name",
    "trending_products_figure",
]

RISING = "#059669"
FALLING = "#dc2626"
_TREND_COLORS = {"rising": RISING, "falling": FALLING, "stable": "#9ca3af", "new": "#7c3aed"}


def product_forecast_figure(
    panel: pd.DataFrame,
    forecast: pd.DataFrame | None,
    product: str,
    *,
    levels: Sequence[int] = (80, 95),
    history_periods: int = 365,
    anomalies: pd.DataFrame | None = None,
    lang: str = "en",
) -> go.Figure:
    """One product's recent sales, its forecast with prediction bands, and its anomalies.

    The static counterpart of the report's product explorer: ``forecast`` holds
    ``unique_id, ds, forecast`` and ``forecast-lo-L``/``forecast-hi-L`` for each of
    ``levels`` it has; ``anomalies`` (``unique_id, ds``) are circled on the history.
    """
    history = panel[panel["unique_id"].astype(str) == product].sort_values("ds")
    history = history.tail(history_periods)
    if history.empty:
        return _empty_figure(text("empty.sales", lang))
    fig = _figure(
        height=420,
        title={"text": plotly_text(product), "x": 0, "xref": "paper", "font": {"size": 14}},
        yaxis_title=text("figure.units", lang),
        hovermode="x unified",
        legend={"y": -0.12, "yanchor": "top"},
        margin={"t": 40},
    )
    future = (
        forecast[forecast["unique_id"].astype(str) == product].sort_values("ds")
        if forecast is not None and not forecast.empty
        else pd.DataFrame()
    )
    if not future.empty:
        dates = _iso_dates(future["ds"]).to_list()
        shown = [
            level
            for level in sorted(levels, reverse=True)
            if {f"forecast-lo-{level}", f"forecast-hi-{level}"} <= set(future.columns)
        ]
        for i, level in enumerate(shown):
            alpha = 0.12 + 0.14 * i / max(len(shown) - 1, 1)
            fig.add_scatter(
                x=dates,
                y=future[f"forecast-lo-{level}"].to_numpy(dtype=float),
                mode="lines",
                line={"width": 0, "color": ACCENT},
                hoverinfo="skip",
                showlegend=False,
            )
            fig.add_scatter(
                x=dates,
                y=future[f"forecast-hi-{level}"].to_numpy(dtype=float),
                mode="lines",
                line={"width": 0, "color": ACCENT},
                fill="tonexty",
                fillcolor=f"rgba(37, 99, 235, {alpha:.2f})",
                name=text("explorer.interval", lang, level=level),
                hovertemplate="%{y:,.2f}",
            )
    fig.add_scatter(
        x=_iso_dates(history["ds"]).to_list(),
        y=history["y"].to_numpy(dtype=float),
        name=text("explorer.actual", lang),
        mode="lines",
        line={"color": ACTUAL, "width": 1.4},
        hovertemplate="%{y:,.2f}",
    )
    if anomalies is not None and not anomalies.empty:
        marks = anomalies[anomalies["unique_id"].astype(str) == product][["ds"]].merge(
            history[["ds", "y"]], on="ds"
        )
        if not marks.empty:
            fig.add_scatter(
                x=_iso_dates(marks["ds"]).to_list(),
                y=marks["y"].to_numpy(dtype=float),
                name=text("explorer.anomaly", lang),
                mode="markers",
                marker={"color": FALLING, "size": 9, "symbol": "circle-open", "line": {"width": 2}},
            )
    if not future.empty:
        fig.add_scatter(
            x=_iso_dates(future["ds"]).to_list(),
            y=future["forecast"].to_numpy(dtype=float),
            name=text("explorer.forecast", lang),
            mode="lines",
            line={"color": ACCENT, "width": 2.4},
            hovertemplate="%{y:,.2f}",
        )
    fig.update_xaxes(type="date")
    fig.update_yaxes(rangemode="tozero")
    return fig


def trending_products_figure(trends: pd.DataFrame, n: int = 10, *, lang: str = "en") -> go.Figure:
    """Diverging bars of the ``n`` biggest risers and fallers by ``growth_pct``.

    ``trends`` holds ``unique_id, trend, growth_pct`` and optionally ``slope`` and
    ``p_value`` (see :func:`trendcast.analysis.trends.detect_trends`); products whose
    growth is undefined are left out of the picture.
    """
    if trends is None or trends.empty:
        return _empty_figure(text("empty.trends", lang))
    rows = trends[trends["trend"].isin(["rising", "falling"])].dropna(subset=["growth_pct"])
    risers = rows[rows["trend"] == "rising"].nlargest(n, "growth_pct")
    fallers = rows[rows["trend"] == "falling"].nsmallest(n, "growth_pct")
    shown = pd.concat([fallers, risers]).sort_values("growth_pct", kind="stable")
    if shown.empty:
        return _empty_figure(text("empty.trends", lang))
    slope = shown["slope"] if "slope" in shown.columns else pd.Series(np.nan, shown.index)
    p_value = shown["p_value"] if "p_value" in shown.columns else pd.Series(np.nan, shown.index)
    labels = [trend_name(label, lang) for label in shown["trend"]]
    fig = _figure(
        height=max(220, 60 + 24 * len(shown)),
        xaxis_title=text("trends.growth_axis", lang),
        showlegend=False,
        bargap=0.3,
        margin={"t": 20},
    )
    fig.add_bar(
        x=shown["growth_pct"].to_numpy(dtype=float),
        y=[plotly_text(uid) for uid in shown["unique_id"]],
        orientation="h",
        marker_color=[_TREND_COLORS[label] for label in shown["trend"]],
        text=[f"{value:+,.0f}%" for value in shown["growth_pct"]],
        textposition="outside",
        cliponaxis=False,
        customdata=np.column_stack([labels, slope.to_numpy(), p_value.to_numpy()]),
        hovertemplate="%{y}: %{x:+,.1f}% (%{customdata[0]})<br>slope %{customdata[1]:,.3f}, "
        "p %{customdata[2]:.3g}<extra></extra>",
    )
    fig.update_yaxes(type="category", gridcolor="rgba(0,0,0,0)")
    fig.add_vline(x=0, line={"color": MUTED, "width": 1})
    return fig


def category_trends_figure(
    category_trends: pd.DataFrame, max_rows: int = 30, *, lang: str = "en"
) -> go.Figure:
    """Growth of each category (or other attribute value) and of the total, by trend label.

    ``category_trends`` holds ``level, unique_id, trend, growth_pct`` (see
    :func:`trendcast.analysis.trends.category_trends`); the ``max_rows`` largest moves
    are shown.
    """
    if category_trends is None or category_trends.empty:
        return _empty_figure(text("empty.categories", lang))
    rows = category_trends.dropna(subset=["growth_pct"])
    if rows.empty:
        return _empty_figure(text("empty.categories", lang))
    rows = rows.loc[rows["growth_pct"].abs().nlargest(max_rows).index]
    rows = rows.sort_values("growth_pct", kind="stable")
    level = rows["level"].astype(str) if "level" in rows.columns else pd.Series("", rows.index)
    names = [
        plotly_text(f"{lvl}: {uid}" if lvl and lvl != str(uid) else uid)
        for lvl, uid in zip(level, rows["unique_id"], strict=True)
    ]
    fig = _figure(
        height=max(200, 60 + 24 * len(rows)),
        xaxis_title=text("trends.growth_axis", lang),
        showlegend=False,
        bargap=0.3,
        margin={"t": 20},
    )
    fig.add_bar(
        x=rows["growth_pct"].to_numpy(dtype=float),
        y=names,
        orientation="h",
        marker_color=[_TREND_COLORS.get(str(label), MUTED) for label in rows["trend"]],
        text=[trend_name(label, lang) for label in rows["trend"]],
        textposition="auto",
        hovertemplate="%{y}: %{x:+,.1f}%<extra></extra>",
    )
    fig.update_yaxes(type="category", gridcolor="rgba(0,0,0,0)")
    fig.add_vline(x=0, line={"color": MUTED, "width": 1})
    return fig


def trend_name(label: object, lang: str = "en") -> str:
    """A trend label (rising, falling, stable, new, dead) in the report's language."""
    key = f"trend.{label}"
    return text(key, lang) if key in MESSAGES else str(label)


def is_daily(panel: pd.DataFrame) -> bool:
    """Whether the panel's dates are (trading) days: most steps between dates are one day."""
    dates = pd.DatetimeIndex(panel["ds"].unique()).sort_values()
    if len(dates) < 2:
        return False
    steps = np.diff(dates.asi8)
    return bool(np.median(steps) == pd.Timedelta(days=1).value)


def calendar_heatmap_figure(
    panel: pd.DataFrame, max_weeks: int = 106, *, lang: str = "en"
) -> go.Figure:
    """Total daily sales as a calendar: one column per week, one row per weekday.

    Only the last ``max_weeks`` weeks are drawn; days without a row (closed days) are
    blank.
    """
    if panel.empty:
        return _empty_figure(text("empty.sales", lang))
    if not is_daily(panel):
        return _empty_figure(text("empty.daily", lang))
    totals = panel.groupby("ds", sort=True)["y"].sum()
    days = pd.DatetimeIndex(totals.index).normalize()
    weeks = days - pd.to_timedelta(days.weekday, unit="D")
    first_week = weeks.max() - pd.Timedelta(weeks=max_weeks - 1)
    keep = weeks >= first_week
    days, weeks, values = days[keep], weeks[keep], totals.to_numpy(dtype=float)[keep]
    columns = pd.DatetimeIndex(weeks.unique()).sort_values()
    grid = np.full((7, len(columns)), np.nan)
    grid[days.weekday, columns.get_indexer(weeks)] = values
    stamps = np.full((7, len(columns)), "", dtype=object)
    stamps[days.weekday, columns.get_indexer(weeks)] = _iso_dates(pd.Series(days)).to_numpy()
    weekdays = text("figure.weekdays", lang).split(",")
    fig = _figure(height=260, margin={"t": 10, "b": 10})
    fig.add_heatmap(
        z=grid,
        x=_iso_dates(pd.Series(columns)).to_list(),
        y=weekdays,
        customdata=stamps,
        colorscale="Blues",
        xgap=1,
        ygap=1,
        hoverongaps=False,
        colorbar={"thickness": 10, "len": 0.9},
        hovertemplate="%{customdata} (%{y}): %{z:,.0f}<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", showgrid=False, type="category")
    fig.update_xaxes(showgrid=False, type="date")
    return fig


def correlation_heatmap_figure(matrix: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """A correlation matrix (a square DataFrame) as a heatmap from -1 (blue) to +1 (red)."""
    if matrix is None or matrix.empty:
        return _empty_figure(text("empty.correlation", lang))
    names = [plotly_text(name) for name in matrix.columns]
    rows = [plotly_text(name) for name in matrix.index]
    values = matrix.to_numpy(dtype=float)
    size = max(len(names), len(rows))
    fig = _figure(height=min(720, max(320, 120 + 34 * size)), margin={"t": 10})
    fig.add_heatmap(
        z=np.round(values, 3),
        x=names,
        y=rows,
        zmin=-1,
        zmax=1,
        colorscale="RdBu",
        reversescale=True,
        text=np.round(values, 2) if size <= 16 else None,
        texttemplate="%{text}" if size <= 16 else None,
        colorbar={"thickness": 10, "title": {"text": text("figure.correlation", lang)}},
        hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False, tickangle=-35)
    return fig


def explained_variance_figure(explained: pd.Series, *, lang: str = "en") -> go.Figure:
    """Share of variance per principal component (bars) and cumulated (line).

    ``explained`` is indexed by component name with shares between 0 and 1.
    """
    if explained is None or explained.empty:
        return _empty_figure(text("empty.variance", lang))
    names = [plotly_text(name) for name in explained.index]
    shares = explained.to_numpy(dtype=float)
    fig = _figure(
        height=320,
        yaxis_title=text("drivers.variance_axis", lang),
        legend={"x": 0, "y": 1.02, "yanchor": "bottom"},
    )
    fig.add_bar(
        x=names,
        y=shares,
        name=text("drivers.explained", lang),
        marker_color=ACCENT,
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    )
    fig.add_scatter(
        x=names,
        y=np.cumsum(shares),
        name=text("drivers.cumulative", lang),
        mode="lines+markers",
        line={"color": COLORWAY[1], "width": 2},
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def decomposition_figure(components: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Stacked panels of one product's decomposition: observed, trend, seasons, remainder.

    ``components`` is long, ``ds, component, value`` with components ``observed,
    trend, seasonal_<period>..., remainder`` (see
    :func:`trendcast.analysis.decomposition.decompose`), or wide with ``ds`` and
    those columns.
    """
    if components is None or components.empty:
        return _empty_figure(text("empty.sales", lang))
    wide = components
    if "component" in components.columns:
        wide = components.pivot_table(
            index="ds", columns="component", values="value", aggfunc="first"
        ).reset_index()
    seasons = sorted(
        (str(c) for c in wide.columns if str(c).startswith("seasonal")),
        key=lambda c: int(c.split("_")[1]) if c.split("_")[-1].isdigit() else 0,
    )
    present = [c for c in ("observed", "trend", *seasons, "remainder") if c in wide.columns]
    if not present:
        return _empty_figure(text("empty.sales", lang))
    names = [_component_name(c, lang) for c in present]
    fig = make_subplots(
        rows=len(present),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        subplot_titles=names,
    )
    fig.update_layout(
        template=TEMPLATE, height=90 + 120 * len(present), showlegend=False, margin={"t": 30}
    )
    dates = _iso_dates(wide["ds"]).to_list()
    for row, (col, name) in enumerate(zip(present, names, strict=True), start=1):
        remainder = col == "remainder"
        fig.add_scatter(
            x=dates,
            y=np.round(wide[col].to_numpy(dtype=float), 3),
            name=plotly_text(name),
            mode="markers" if remainder else "lines",
            marker={"size": 3, "color": MUTED},
            line={"color": ACTUAL if col == "observed" else ACCENT, "width": 1.3},
            hovertemplate="%{x}: %{y:,.2f}<extra></extra>",
            row=row,
            col=1,
        )
    for annotation in fig.layout.annotations:
        annotation.update(x=0, xanchor="left", font={"size": 12, "color": MUTED})
    fig.update_xaxes(type="date")
    return fig


def _component_name(column: str, lang: str) -> str:
    if column.startswith("seasonal"):
        period = column.split("_")[-1]
        base = text("analysis.seasonal", lang)
        return f"{base} ({period})" if period.isdigit() else base
    return text(f"analysis.{column}", lang)


def shap_drivers_figure(strength: pd.Series, *, lang: str = "en") -> go.Figure:
    """Horizontal bars of each driver's mean absolute SHAP contribution, strongest on top.

    ``strength`` is indexed by driver name, sorted from weakest to strongest.
    """
    if strength is None or strength.empty:
        return _empty_figure(text("drivers.none", lang))
    fig = _figure(
        height=max(260, 28 * len(strength) + 80),
        xaxis_title=text("drivers.shap_axis", lang),
        showlegend=False,
        margin={"t": 20},
    )
    fig.add_bar(
        x=strength.to_numpy(dtype=float),
        y=[plotly_text(name) for name in strength.index],
        orientation="h",
        marker_color=ACCENT,
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    fig.update_yaxes(type="category", gridcolor="rgba(0,0,0,0)")
    return fig


def acf_figure(acf: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Autocorrelation and partial autocorrelation by lag, with the 95% band of zero.

    ``acf`` holds ``lag, acf`` and optionally ``acf_bound`` (the band's half width
    per lag), ``pacf`` (see :func:`trendcast.analysis.decomposition.autocorrelations`).
    """
    if acf is None or acf.empty:
        return _empty_figure(text("empty.sales", lang))
    rows = acf[acf["lag"] > 0].sort_values("lag")
    lags = rows["lag"].to_numpy(dtype=float)
    fig = _figure(
        height=320,
        xaxis_title=text("analysis.lag", lang),
        barmode="group",
        bargap=0.35,
        legend={"x": 0, "y": 1.02, "yanchor": "bottom"},
    )
    if "acf_bound" in rows.columns and rows["acf_bound"].notna().any():
        band = np.round(rows["acf_bound"].to_numpy(dtype=float), 4)
        fig.add_scatter(
            x=np.r_[lags, lags[::-1]],
            y=np.r_[band, -band[::-1]],
            fill="toself",
            fillcolor="rgba(37, 99, 235, 0.10)",
            line={"width": 0},
            name=text("analysis.band", lang),
            hoverinfo="skip",
        )
    fig.add_bar(
        x=lags,
        y=np.round(rows["acf"].to_numpy(dtype=float), 4),
        name=text("analysis.acf_label", lang),
        marker_color=ACCENT,
        hovertemplate="%{x}: %{y:.3f}<extra></extra>",
    )
    if "pacf" in rows.columns and rows["pacf"].notna().any():
        fig.add_bar(
            x=lags,
            y=np.round(rows["pacf"].to_numpy(dtype=float), 4),
            name=text("analysis.pacf_label", lang),
            marker_color=COLORWAY[1],
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    fig.add_hline(y=0, line={"color": MUTED, "width": 1})
    return fig


def training_curves_figure(histories: Mapping[str, pd.DataFrame], *, lang: str = "en") -> go.Figure:
    """Training (solid) and validation (dashed) loss per step, one colour per model.

    Each history holds ``step, train_loss, valid_loss`` (a neural model's ``history_``).
    """
    usable = {
        name: frame.sort_values("step")
        for name, frame in (histories or {}).items()
        if frame is not None and not frame.empty and "step" in frame.columns
    }
    if not usable:
        return _empty_figure(text("empty.training", lang))
    fig = _figure(
        height=380,
        xaxis_title=text("training.step", lang),
        yaxis_title=text("training.loss", lang),
        hovermode="x unified",
        legend={"x": 0, "y": 1.02, "yanchor": "bottom"},
    )
    losses: list[Any] = []
    for i, (name, frame) in enumerate(usable.items()):
        color = COLORWAY[i % len(COLORWAY)]
        for column, key, dash in (
            ("train_loss", "training.train", "solid"),
            ("valid_loss", "training.valid", "dash"),
        ):
            if column not in frame.columns:
                continue
            points = frame[["step", column]].dropna()
            if points.empty:
                continue
            losses.append(points[column].to_numpy(dtype=float))
            fig.add_scatter(
                x=points["step"].to_numpy(),
                y=points[column].to_numpy(dtype=float),
                name=plotly_text(f"{name} · {text(key, lang)}"),
                mode="lines+markers" if len(points) < 30 else "lines",
                line={"color": color, "width": 1.8, "dash": dash},
                hovertemplate="%{y:.4g}",
            )
    if not losses:
        return _empty_figure(text("empty.training", lang))
    values = np.concatenate(losses)
    positive = values[values > 0]
    if positive.size == values.size and positive.max() / positive.min() > 20:
        fig.update_yaxes(type="log")
    return fig
