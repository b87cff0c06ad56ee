"""Plotly figures of a forecasting run, and the data behind the report's product explorer.

Each figure function takes the plain DataFrames of a run and returns a styled
:class:`plotly.graph_objects.Figure`; an empty input gives a figure that says so
instead of an error. :func:`explorer_data` returns the JSON-ready dict the report's
product explorer draws in the browser, one product at a time.

Plotly renders a subset of HTML in labels and hovers, so every user string placed in
a figure (model names, product ids, segments) goes through :func:`plotly_text`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from trendcast.reporting.i18n import text

__all__ = [
    "ACCENT",
    "COLORWAY",
    "SEGMENTS",
    "TEMPLATE",
    "WEBGL_POINTS",
    "best_model",
    "explorer_data",
    "metric_columns",
    "metric_label",
    "model_score_figure",
    "plotly_text",
    "predicted_vs_actual_figure",
    "score_metric",
    "segment_error_figure",
    "total_sales_figure",
]

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#eceef1"
ACCENT = "#2563eb"
ACTUAL = "#334155"
NEUTRAL = "#c3c8d0"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", sans-serif'
COLORWAY = (
    "#2563eb",
    "#d97706",
    "#059669",
    "#7c3aed",
    "#dc2626",
    "#0891b2",
    "#65a30d",
    "#db2777",
    "#475569",
    "#a16207",
)
SEGMENTS = ("fast", "slow", "intermittent", "lumpy", "dead")
#: points of one scatter trace above which it is drawn with WebGL
WEBGL_POINTS = 1_000
# Scale-free scores first: they compare products of any volume.
SCORE_METRICS = ("mase", "rmsse", "smape", "mape", "mae", "rmse")
_METRIC_ORDER = (
    "mase",
    "rmsse",
    "mae",
    "rmse",
    "mape",
    "smape",
    "r2",
    "bias",
    "pinball",
    "scaled_pinball",
    "wrmsse",
)
_METRIC_LABELS = {
    "mase": "MASE",
    "rmsse": "RMSSE",
    "mae": "MAE",
    "rmse": "RMSE",
    "mape": "MAPE",
    "smape": "sMAPE",
    "r2": "R²",
    "wrmsse": "WRMSSE",
    "time_s": "Time (s)",
    "unique_id": "Product",
}
_KEY_COLUMNS = ("model", "unique_id", "segment", "series", "rank", "time_s")

_axis = {
    "gridcolor": GRID,
    "linecolor": "#d1d5db",
    "zeroline": False,
    "automargin": True,
    "title": {"font": {"size": 12, "color": MUTED}},
    "tickfont": {"color": MUTED},
}
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 13, "color": INK},
        "colorway": list(COLORWAY),
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "xaxis": _axis,
        "yaxis": _axis,
        "hoverlabel": {"font": {"family": FONT, "size": 12}, "bordercolor": GRID},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "margin": {"l": 10, "r": 20, "t": 36, "b": 10},
    }
)


def plotly_text(value: object) -> str:
    """Escape a string for Plotly, which renders ``<b>``, ``<br>`` and entities in labels.

    Examples
    --------
    >>> plotly_text("A<br>&B")
    'A&lt;br&gt;&amp;B'
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def metric_label(name: str) -> str:
    """The display name of a metric or key column: ``mase`` -> ``MASE``."""
    if name in _METRIC_LABELS:
        return _METRIC_LABELS[name]
    coverage = re.fullmatch(r"coverage_(\d+)", name)
    if coverage:
        return f"Coverage {coverage.group(1)}%"
    return name.replace("_", " ").capitalize()


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric metric columns of a leaderboard-like frame, known metrics first."""
    numeric = [
        col
        for col in frame.columns
        if col not in _KEY_COLUMNS and pd.api.types.is_numeric_dtype(frame[col])
    ]
    known = [col for col in _METRIC_ORDER if col in numeric]
    return known + [col for col in numeric if col not in known]


def score_metric(frame: pd.DataFrame) -> str | None:
    """The metric models are compared on: the first of MASE, RMSSE, sMAPE... present."""
    return next(
        (col for col in SCORE_METRICS if col in frame.columns and frame[col].notna().any()),
        None,
    )


def best_model(leaderboard: pd.DataFrame) -> str | None:
    """The leaderboard's winner: the lowest ``rank`` if ranked, else the lowest score."""
    if leaderboard.empty or "model" not in leaderboard.columns:
        return None
    order = "rank" if "rank" in leaderboard.columns else score_metric(leaderboard)
    if order is None or leaderboard[order].isna().all():
        return str(leaderboard["model"].iloc[0])
    return str(leaderboard.sort_values(order, kind="stable")["model"].iloc[0])


def total_sales_figure(
    panel: pd.DataFrame, forecast: pd.DataFrame | None = None, *, lang: str = "en"
) -> go.Figure:
    """Total units over time across all products, with the summed forecast if given."""
    if panel.empty:
        return _empty_figure(text("empty.sales", lang))
    totals = panel.groupby("ds", sort=True)["y"].sum()
    fig = _figure(
        height=340,
        yaxis_title=text("figure.units", lang),
        hovermode="x unified",
        legend={"x": 0.18, "y": 1.02, "yanchor": "bottom"},
    )
    fig.add_scatter(
        x=totals.index,
        y=totals.to_numpy(),
        name=text("figure.actual", lang),
        mode="lines",
        line={"color": ACTUAL, "width": 1.4},
        hovertemplate="%{y:,.0f}",
    )
    if forecast is not None and not forecast.empty:
        future = forecast.groupby("ds", sort=True)["forecast"].sum()
        fig.add_scatter(
            x=future.index,
            y=future.to_numpy(),
            name=text("figure.forecast_sum", lang),
            mode="lines",
            line={"color": ACCENT, "width": 2},
            hovertemplate="%{y:,.0f}",
        )
    fig.update_xaxes(
        type="date",
        hoverformat="%a %d %b %Y",
        rangeselector={
            "buttons": [
                {"count": 3, "label": "3m", "step": "month", "stepmode": "backward"},
                {"count": 1, "label": "1y", "step": "year", "stepmode": "backward"},
                {"step": "all", "label": "all"},
            ],
            "x": 0,
            "y": 1.02,
            "bgcolor": "#f3f4f6",
            "font": {"size": 11},
        },
    )
    return fig


def model_score_figure(
    leaderboard: pd.DataFrame, metric: str | None = None, *, lang: str = "en"
) -> go.Figure:
    """Horizontal bars of each model's score, best (lowest) on top and highlighted."""
    metric = metric or score_metric(leaderboard)
    if metric is None or leaderboard.empty:
        return _empty_figure(text("empty.scores", lang))
    scores = leaderboard[["model", metric]].dropna().sort_values(metric, ascending=False)
    best = scores["model"].iloc[-1]
    fig = _figure(
        height=80 + 30 * len(scores),
        xaxis_title=text("figure.lower_better", lang, metric=metric_label(metric)),
        margin={"t": 30},
        showlegend=False,
        bargap=0.35,
    )
    fig.add_bar(
        x=scores[metric].to_numpy(),
        y=[plotly_text(model) for model in scores["model"]],
        orientation="h",
        marker_color=[ACCENT if model == best else NEUTRAL for model in scores["model"]],
        text=[f"{value:,.3f}" for value in scores[metric]],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: %{x:,.3f}<extra></extra>",
    )
    fig.update_yaxes(type="category", gridcolor="rgba(0,0,0,0)")
    return fig


def predicted_vs_actual_figure(
    backtest: pd.DataFrame,
    models: Sequence[str] | None = None,
    max_points: int = 20_000,
    seed: int = 0,
    *,
    lang: str = "en",
) -> go.Figure:
    """Backtest forecast against actual, one toggleable trace per model.

    The same random sample of (product, date, cutoff) points is drawn for every model,
    at most ``max_points`` in all, so the models are compared on equal ground. The
    first of ``models`` (the leaderboard order) is shown, the others are a legend
    click away. A model with more than :data:`WEBGL_POINTS` points is drawn with WebGL
    (``scattergl``), three times faster than SVG in the browser.
    """
    points = backtest.dropna(subset=["y", "forecast"]) if not backtest.empty else backtest
    if points.empty:
        return _empty_figure(text("empty.backtest", lang))
    present = list(dict.fromkeys(points["model"].astype(str)))
    order = [m for m in (models or []) if m in present] + [
        m for m in sorted(present) if m not in (models or [])
    ]
    keys = points[["unique_id", "ds", "cutoff"]].drop_duplicates()
    per_model = max(1, max_points // len(order))
    if len(keys) > per_model:
        points = points.merge(keys.sample(per_model, random_state=seed))
    high = float(max(points["y"].max(), points["forecast"].max(), 0))
    low = float(min(points["y"].min(), points["forecast"].min(), 0))
    pad = 0.03 * (high - low or 1)
    fig = _figure(
        height=560,
        xaxis_title=text("accuracy.actual", lang),
        yaxis_title=text("accuracy.forecast", lang),
        legend={"orientation": "v", "x": 0.7, "y": 1, "yanchor": "top"},
    )
    for i, model in enumerate(order):
        rows = points[points["model"].astype(str) == model]
        labels = rows["unique_id"].astype(str).map(plotly_text) + ", " + _iso_dates(rows["ds"])
        kind = go.Scattergl if len(rows) > WEBGL_POINTS else go.Scatter
        fig.add_trace(
            kind(
                x=rows["y"].to_numpy(dtype=np.float32),
                y=rows["forecast"].to_numpy(dtype=np.float32),
                name=plotly_text(model),
                mode="markers",
                marker={"size": 5, "opacity": 0.45, "color": COLORWAY[i % len(COLORWAY)]},
                text=labels.to_list(),
                hovertemplate="%{text}<br>"
                + text("accuracy.hover", lang, x="%{x:,.2f}", y="%{y:,.2f}")
                + "<extra>%{fullData.name}</extra>",
                visible=True if i == 0 else "legendonly",
            )
        )
    fig.add_scatter(
        x=[low - pad, high + pad],
        y=[low - pad, high + pad],
        name=text("accuracy.identity", lang),
        mode="lines",
        line={"color": MUTED, "width": 1, "dash": "dash"},
        hoverinfo="skip",
    )
    axis_range = [low - pad, high + pad]
    fig.update_xaxes(range=axis_range, constrain="domain", domain=[0, 0.66])
    fig.update_yaxes(range=axis_range, scaleanchor="x", scaleratio=1, constrain="domain")
    return fig


def segment_error_figure(
    per_series: pd.DataFrame,
    metric: str | None = None,
    models: Sequence[str] | None = None,
    *,
    lang: str = "en",
) -> go.Figure:
    """Box plots of the per-product score by demand segment, one box per model.

    The boxes are summarised here (quartiles and 1.5 IQR whiskers) rather than
    shipping every point to the browser; outliers are left out of the picture.
    """
    metric = metric or score_metric(per_series)
    if metric is None or per_series.empty:
        return _empty_figure(text("empty.per_product", lang))
    scores = per_series.assign(model=per_series["model"].astype(str))
    scores["segment"] = scores["segment"].astype(str) if "segment" in scores else "all"
    scores = scores[np.isfinite(scores[metric].astype(float))]
    if scores.empty:
        return _empty_figure(text("empty.finite", lang, metric=metric_label(metric)))
    segments = [s for s in SEGMENTS if s in set(scores["segment"])]
    segments += sorted(set(scores["segment"]) - set(segments))
    products = scores.groupby("segment")["unique_id"].nunique()
    names = {s: plotly_text(f"{s} ({products[s]:,})") for s in segments}
    boxes = _box_statistics(scores, metric)
    present = list(dict.fromkeys(scores["model"]))
    order = [m for m in (models or []) if m in present] + [
        m for m in present if m not in (models or [])
    ]
    fig = _figure(
        height=440,
        yaxis_title=text("segments.axis", lang, metric=metric_label(metric)),
        boxmode="group",
        boxgroupgap=0.25,
        legend={"y": -0.12, "yanchor": "top"},
    )
    for i, model in enumerate(order):
        stats = boxes.loc[model].reindex(segments).dropna(subset=["median"])
        fig.add_box(
            name=plotly_text(model),
            x=[names[s] for s in stats.index],
            q1=stats["q1"].to_numpy(),
            median=stats["median"].to_numpy(),
            q3=stats["q3"].to_numpy(),
            lowerfence=stats["lowerfence"].to_numpy(),
            upperfence=stats["upperfence"].to_numpy(),
            mean=stats["mean"].to_numpy(),
            marker_color=COLORWAY[i % len(COLORWAY)],
            line={"width": 1.2},
        )
    if metric in ("mase", "rmsse"):
        fig.add_hline(y=1, line={"color": MUTED, "width": 1, "dash": "dot"})
    fig.update_xaxes(categoryorder="array", categoryarray=[names[s] for s in segments])
    return fig


def explorer_data(
    panel: pd.DataFrame,
    backtest: pd.DataFrame,
    forecast: pd.DataFrame,
    per_series: pd.DataFrame,
    *,
    levels: Sequence[int] = (80, 95),
    max_series: int = 300,
    history_periods: int = 365,
    models: Sequence[str] = (),
    include: Sequence[str] = (),
    anomalies: pd.DataFrame | None = None,
    trends: pd.DataFrame | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """The compact, JSON-ready data of the product explorer.

    Holds the ``max_series`` largest products by total volume and the products of
    ``include`` (e.g. the top risers and fallers), largest first. Every
    date is an index into the shared ``dates`` list, and each list of dates is stored
    as flat ``[start, length, ...]`` runs of consecutive indexes, so a regular series
    costs two numbers. Values are rounded to three significant digits of the
    product's peak, missing values are ``null``. ``models`` gives the leaderboard
    order; its first is the model of products the forecast does not name.
    ``anomalies`` (``unique_id, ds`` and optionally ``likely_cause``) are marked on the
    history; ``trends`` (``unique_id, trend, growth_pct``) label each product.

    Returns
    -------
    dict
        ``dates``, ``models``, ``metrics``, ``metric_labels``, ``levels``, ``layout``
        (the Plotly layout to draw with) and ``products``: a list of ``{id, volume,
        segment, model, history: {t, y}, backtest: [{cutoff, t, y: [values per model or
        null]}], future: {t, y, lo: {level: values}, hi: {level: values}} or null,
        metrics: [[model index, value per metric]], anomalies: {t, y, cause} or null,
        trend: [label, growth %] or null}``.
    """
    panel = panel.assign(unique_id=panel["unique_id"].astype(str))
    volume = panel.groupby("unique_id")["y"].sum().sort_values(ascending=False, kind="stable")
    extra = volume.index[max_series:].isin([str(uid) for uid in include])
    volume = pd.concat([volume.iloc[:max_series], volume.iloc[max_series:][extra]])
    ids = volume.index
    history = panel[panel["unique_id"].isin(ids)].sort_values(["unique_id", "ds"])
    history = history.groupby("unique_id").tail(history_periods)
    backtest = _rows_of(backtest, ids)
    forecast = _rows_of(forecast, ids).drop_duplicates(["unique_id", "ds"])
    per_series = _rows_of(per_series, ids)
    levels = [
        level
        for level in sorted(levels)
        if {f"forecast-lo-{level}", f"forecast-hi-{level}"} <= set(forecast.columns)
    ]

    stamps = [history["ds"]]
    if not backtest.empty:
        stamps += [backtest["ds"], backtest["cutoff"]]
    if not forecast.empty:
        stamps.append(forecast["ds"])
    dates = pd.DatetimeIndex(pd.concat(stamps, ignore_index=True).unique()).sort_values()
    history = history.assign(t=dates.get_indexer(pd.Index(history["ds"])))
    forecast = forecast.assign(t=dates.get_indexer(pd.Index(forecast["ds"]))).sort_values("t")
    default_model = models[0] if models else None
    models = _model_order(models, backtest, forecast, per_series)
    metrics = metric_columns(per_series)
    chosen = (
        forecast.groupby("unique_id")["model"].first().astype(str)
        if "model" in forecast.columns
        else pd.Series(dtype=str)
    )
    peak = history.assign(y=history["y"].abs()).groupby("unique_id")["y"].max()
    if not forecast.empty:
        peak = peak.combine(forecast.groupby("unique_id")["forecast"].max(), max, 0.0)

    windows = _backtest_windows(backtest, models, dates)
    futures = dict(tuple(forecast.groupby("unique_id")))
    histories = dict(tuple(history.groupby("unique_id")))
    scores = dict(tuple(per_series.groupby("unique_id")))
    segments = (
        per_series.groupby("unique_id")["segment"].first().astype(str)
        if "segment" in per_series.columns
        else pd.Series(dtype=str)
    )
    position = {model: i for i, model in enumerate(models)}
    marks = _anomaly_marks(anomalies, history)
    labels = _trend_labels(trends)
    products = []
    for key, total in volume.items():
        uid = str(key)
        digits = _digits(float(peak.get(uid, 0.0)))
        model = chosen.get(uid, default_model)
        hist = histories[uid]
        products.append(
            {
                "id": uid,
                "volume": _round(total, 4),
                "segment": segments.get(uid),
                "model": position.get(model) if model is not None else None,
                "history": {"t": _runs(hist["t"]), "y": _values(hist["y"], digits)},
                "backtest": [
                    {
                        "cutoff": cutoff,
                        "t": _runs(days),
                        "y": [
                            _values(column, digits) if np.isfinite(column).any() else None
                            for column in block.T
                        ],
                    }
                    for cutoff, days, block in windows.get(uid, [])
                ],
                "future": _future(futures.get(uid), levels, digits),
                "metrics": _metric_rows(scores.get(uid), metrics, position),
                "anomalies": marks.get(uid),
                "trend": labels.get(uid),
            }
        )
    layout = go.Layout(
        template=TEMPLATE,
        height=460,
        hovermode="x unified",
        legend={"y": -0.1, "yanchor": "top"},
        xaxis={"type": "date", "hoverformat": "%a %d %b %Y"},
        yaxis={"title": {"text": text("figure.units", lang)}, "rangemode": "tozero"},
    )
    return {
        "dates": _iso_dates(pd.Series(dates)).to_list(),
        "models": models,
        "metrics": metrics,
        "metric_labels": [metric_label(metric) for metric in metrics],
        "levels": levels,
        "layout": layout.to_plotly_json(),
        "products": products,
    }


def _anomaly_marks(
    anomalies: pd.DataFrame | None, history: pd.DataFrame
) -> dict[str, dict[str, list[Any]]]:
    """Per product, its anomalies within the shown history: date indexes, sales, causes."""
    if anomalies is None or anomalies.empty:
        return {}
    rows = anomalies.assign(
        unique_id=anomalies["unique_id"].astype(str), ds=pd.to_datetime(anomalies["ds"])
    )
    rows = rows.drop(columns="y", errors="ignore").merge(
        history[["unique_id", "ds", "y", "t"]], on=["unique_id", "ds"], how="inner"
    )
    if "likely_cause" not in rows.columns:
        rows["likely_cause"] = ""
    rows = rows.drop_duplicates(["unique_id", "ds"]).sort_values(["unique_id", "t"])
    return {
        str(uid): {
            "t": group["t"].astype(int).tolist(),
            "y": _values(group["y"], 3),
            "cause": group["likely_cause"].fillna("").astype(str).tolist(),
        }
        for uid, group in rows.groupby("unique_id")
    }


def _trend_labels(trends: pd.DataFrame | None) -> dict[str, list[Any]]:
    """Per product, ``[trend label, growth in percent or None]``."""
    if trends is None or trends.empty or "trend" not in trends.columns:
        return {}
    growth = trends["growth_pct"] if "growth_pct" in trends.columns else pd.Series(np.nan)
    return {
        str(uid): [str(label), _round(value, 3)]
        for uid, label, value in zip(
            trends["unique_id"], trends["trend"], growth.reindex(trends.index), strict=True
        )
    }


def _figure(**layout: object) -> go.Figure:
    return go.Figure(layout={"template": TEMPLATE, **layout})


def _empty_figure(message: str) -> go.Figure:
    fig = _figure(height=160)
    fig.add_annotation(
        text=plotly_text(message),
        showarrow=False,
        font={"color": MUTED, "size": 14},
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _iso_dates(stamps: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(stamps)
    daily = bool((stamps == stamps.dt.normalize()).all())
    return stamps.dt.strftime("%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M")


def _box_statistics(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    keys = ["model", "segment"]
    groups = scores.groupby(keys)[metric]
    q1, q3 = groups.transform("quantile", 0.25), groups.transform("quantile", 0.75)
    value, reach = scores[metric], 1.5 * (q3 - q1)
    inside = scores.assign(
        q1=q1,
        q3=q3,
        low=value.where(value >= q1 - reach),
        high=value.where(value <= q3 + reach),
    )
    return inside.groupby(keys).agg(
        q1=("q1", "first"),
        median=(metric, "median"),
        q3=("q3", "first"),
        mean=(metric, "mean"),
        lowerfence=("low", "min"),
        upperfence=("high", "max"),
    )


def _rows_of(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.assign(unique_id=frame["unique_id"].astype(str))
    return frame[frame["unique_id"].isin(ids)]


def _model_order(leading: Sequence[str], *frames: pd.DataFrame) -> list[str]:
    names = list(leading)
    for frame in frames:
        if "model" in frame.columns:
            names += sorted(frame["model"].astype(str).unique())
    return list(dict.fromkeys(names))


def _backtest_windows(
    backtest: pd.DataFrame, models: list[str], dates: pd.DatetimeIndex
) -> dict[str, list[tuple[int, np.ndarray, np.ndarray]]]:
    """Per product, its backtest windows: (cutoff index, date indexes, values x models)."""
    if backtest.empty:
        return {}
    wide = (
        backtest.assign(model=backtest["model"].astype(str))
        .drop_duplicates(["unique_id", "cutoff", "ds", "model"])
        .set_index(["unique_id", "cutoff", "ds", "model"])["forecast"]
        .unstack("model")
        .reindex(columns=models)
        .sort_index()
    )
    ids = wide.index.get_level_values("unique_id").to_numpy()
    cutoffs = dates.get_indexer(wide.index.get_level_values("cutoff"))
    days = dates.get_indexer(wide.index.get_level_values("ds"))
    values = wide.to_numpy(dtype=float)
    starts = np.flatnonzero((ids[1:] != ids[:-1]) | (cutoffs[1:] != cutoffs[:-1])) + 1
    windows: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for start, end in zip(np.r_[0, starts], np.r_[starts, len(wide)], strict=True):
        windows.setdefault(ids[start], []).append(
            (int(cutoffs[start]), days[start:end], values[start:end])
        )
    return windows


def _future(rows: pd.DataFrame | None, levels: list[int], digits: int) -> dict[str, object] | None:
    if rows is None:
        return None
    return {
        "t": _runs(rows["t"]),
        "y": _values(rows["forecast"], digits),
        "lo": {str(level): _values(rows[f"forecast-lo-{level}"], digits) for level in levels},
        "hi": {str(level): _values(rows[f"forecast-hi-{level}"], digits) for level in levels},
    }


def _metric_rows(
    rows: pd.DataFrame | None, metrics: list[str], position: dict[str, int]
) -> list[list[object]]:
    if rows is None:
        return []
    return [
        [position[str(model)], *(_round(value, 4) for value in values)]
        for model, *values in rows[["model", *metrics]].itertuples(index=False)
    ]


def _runs(index: pd.Series | np.ndarray) -> list[int]:
    """Date indexes as flat ``[start, length, ...]`` runs of consecutive dates."""
    index = np.asarray(index)
    if not index.size:
        return []
    starts = np.flatnonzero(np.diff(index) != 1) + 1
    first, stop = np.r_[0, starts], np.r_[starts, index.size]
    return np.column_stack([index[first], stop - first]).ravel().tolist()


def _digits(peak: float) -> int:
    """Decimals that keep three significant digits of a product's peak value."""
    if not math.isfinite(peak) or peak <= 0:
        return 0
    return max(0, 2 - math.floor(math.log10(peak)))


def _values(values: pd.Series | np.ndarray, digits: int) -> list[float | int | None]:
    """Rounded values; whole numbers as ints so that ``12.0`` costs two characters."""
    rounded = np.round(np.asarray(values, dtype=float), digits).tolist()
    return [(int(v) if v.is_integer() else v) if math.isfinite(v) else None for v in rounded]


def _round(value: object, significant: int) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return float(f"{number:.{significant}g}") if math.isfinite(number) else None
