"""The report's analysis sections: trends, drivers, time-series analysis and training curves.

Each function returns the HTML of its section, or ``""`` when it has nothing to
show, so the page and its navigation leave it out. The analysis arrives as a
:class:`trendcast.analysis.summary.AnalysisResult` or as its tables by name (as
the run store keeps them); :func:`analysis_tables` turns either into the tables.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from trendcast.reporting import analysis_figures as charts
from trendcast.reporting.blocks import figure_block, figure_set_block, table
from trendcast.reporting.i18n import html, value_text

__all__ = [
    "ANALYSIS_TABLES",
    "Context",
    "analysis_section",
    "analysis_products",
    "analysis_tables",
    "correlation_matrix",
    "explained_shares",
    "drivers_section",
    "movers",
    "training_section",
    "trends_section",
]

#: the tables of an analysis the report reads (``AnalysisResult.tables()``' names)
ANALYSIS_TABLES = (
    "strengths",
    "stationarity",
    "decomposition",
    "autocorrelation",
    "diagnostics",
    "drivers_correlation",
    "drivers_sales_correlation",
    "drivers_pca_variance",
    "drivers_pca_loadings",
    "drivers_factor_loadings",
    "drivers_regression",
    "drivers_fit",
    "anomalies",
    "notes",
)
_TREND_COLUMNS = ("unique_id", "trend", "growth_pct", "slope", "p_value")
_CATEGORY_COLUMNS = ("level", "value", "trend", "growth_pct", "slope", "p_value")
_ANOMALY_COLUMNS = ("unique_id", "ds", "kind", "y", "expected", "score", "likely_cause")
_STATIONARITY_COLUMNS = ("unique_id", "verdict", "d", "D", "adf_p", "kpss_p", "note")
_STRENGTH_COLUMNS = (
    "unique_id",
    "method",
    "period",
    "trend_strength",
    "seasonal_strength",
    "seasonal_strength_yearly",
)
_DIAGNOSTIC_COLUMNS = (
    "unique_id",
    "model",
    "bias_pct",
    "acf_1",
    "acf_season",
    "lb_p_season",
    "jb_p",
    "flag",
)
_TRENDS_SHOWN = 25
_ROWS_SHOWN = 300
_ANALYSIS_PRODUCTS = 20


@dataclass(frozen=True)
class Context:
    """What every section needs: the language, the products the explorer can open, and the
    products from the best seller down (the order of per-product tables)."""

    lang: str = "en"
    linked: Collection[str] = field(default_factory=frozenset)
    order: Sequence[str] = ()


def analysis_tables(analysis: Mapping[str, pd.DataFrame] | Any | None) -> dict[str, pd.DataFrame]:
    """The analysis' tables by name: a mapping as it is, an ``AnalysisResult`` by its
    ``tables()``. Tables that are ``None`` or not DataFrames are dropped."""
    if analysis is None:
        return {}
    found = dict(analysis) if isinstance(analysis, Mapping) else dict(analysis.tables())
    return {name: frame for name, frame in found.items() if isinstance(frame, pd.DataFrame)}


def movers(trends: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """The ``n`` biggest significant risers then fallers by ``growth_pct`` (empty without trends)."""
    if trends is None or trends.empty or "growth_pct" not in trends.columns:
        return pd.DataFrame(columns=["unique_id", "trend", "growth_pct"])
    rows = trends.dropna(subset=["growth_pct"])
    risers = rows[rows["trend"] == "rising"].nlargest(n, "growth_pct")
    fallers = rows[rows["trend"] == "falling"].nsmallest(n, "growth_pct")
    return pd.concat([risers, fallers], ignore_index=True)


def trends_section(
    trends: pd.DataFrame | None, category_trends: pd.DataFrame | None, context: Context
) -> str:
    """Counts by trend label, the top risers and fallers (chart and tables), category trends."""
    lang = context.lang
    if trends is None:
        return ""
    if trends.empty:
        return _section(
            "trends", "trends.title", f'<p class="note">{html("trends.none", lang)}</p>', lang
        )
    columns = [col for col in _TREND_COLUMNS if col in trends.columns]
    top = movers(trends, _TRENDS_SHOWN)
    blocks = [
        f'<p class="note">{html("trends.note", lang, alpha="0.05")} {html("trends.click", lang)}</p>',
        f"<h3>{html('trends.chart', lang)}</h3>",
        f'<p class="note">{html("trends.chart_note", lang)}</p>',
        figure_block(charts.trending_products_figure(trends, lang=lang), "fig-trending"),
        '<div class="grid-2">',
    ]
    for label in ("rising", "falling"):
        rows = top[top["trend"] == label]
        body = (
            _table_block(rows, columns, context, sorted_by=None)
            if not rows.empty
            else f'<p class="note">{html(f"trends.none_{label}", lang)}</p>'
        )
        blocks.append(f"<div><h3>{html(f'trends.{label}', lang)}</h3>{body}</div>")
    blocks.append("</div>")
    ordered = trends.sort_values("growth_pct", ascending=False, na_position="last", kind="stable")
    blocks.append(
        f"<details><summary>{html('trends.all', lang, count=f'{len(trends):,}')}</summary>"
        f'<div class="table-wrap scroll-table">'
        f"{table(ordered, columns=columns, sortable=True, lang=lang, linked=context.linked)}"
        "</div></details>"
    )
    if category_trends is not None and not category_trends.empty:
        values = category_trends.rename(columns={"unique_id": "value"})
        category_columns = [col for col in _CATEGORY_COLUMNS if col in values.columns]
        blocks += [
            f"<h3>{html('trends.categories', lang)}</h3>",
            figure_block(
                charts.category_trends_figure(category_trends, lang=lang), "fig-category-trends"
            ),
            '<div class="table-wrap scroll-table">'
            + table(values, columns=category_columns, sortable=True, lang=lang)
            + "</div>",
        ]
    return _section("trends", "trends.title", "\n".join(blocks), lang)


def drivers_section(
    drivers: pd.DataFrame | None,
    tables: Mapping[str, pd.DataFrame],
    panel: pd.DataFrame,
    max_series: int,
    context: Context,
) -> str:
    """Correlations of sales and drivers, principal components, regression, SHAP drivers."""
    lang = context.lang
    blocks: list[str] = []
    pictures: list[str] = []
    correlation = correlation_matrix(tables.get("drivers_correlation"))
    if correlation is not None:
        pictures.append(
            f"<div><h3>{html('drivers.correlation', lang)}</h3>"
            f'<p class="note">{html("drivers.correlation_note", lang)}</p>'
            + figure_block(
                charts.correlation_heatmap_figure(correlation, lang=lang), "fig-correlation"
            )
            + "</div>"
        )
    explained = explained_shares(tables.get("drivers_pca_variance"))
    if explained is not None:
        pictures.append(
            f"<div><h3>{html('drivers.pca', lang)}</h3>"
            f'<p class="note">{html("drivers.pca_note", lang)}</p>'
            + figure_block(
                charts.explained_variance_figure(explained, lang=lang), "fig-explained-variance"
            )
            + "</div>"
        )
    if pictures:
        blocks.append(f'<div class="grid-2">{"".join(pictures)}</div>')
    for name, key in (
        ("drivers_sales_correlation", "drivers.sales_correlation"),
        ("drivers_pca_loadings", "drivers.loadings"),
        ("drivers_factor_loadings", "drivers.factor_loadings"),
        ("drivers_regression", "drivers.regression"),
    ):
        frame = tables.get(name)
        if frame is None or frame.empty:
            continue
        frame = _with_index(frame)
        note = _fit_note(tables.get("drivers_fit"), lang) if name == "drivers_regression" else ""
        blocks.append(
            f'<h3>{html(key, lang)}</h3>{note}<div class="table-wrap">'
            f"{table(frame, columns=list(frame.columns), lang=lang)}</div>"
        )
    if drivers is not None and not drivers.empty:
        blocks.append(_shap_block(drivers, panel, max_series, context))
    if not blocks:
        return ""
    return _section("drivers", "drivers.title", "\n".join(blocks), lang)


def _fit_note(fit: pd.DataFrame | None, lang: str) -> str:
    """R² of the regression on the components, and the rows it saw."""
    if fit is None or fit.empty or "r_squared" not in fit.columns:
        return ""
    row = fit.iloc[0]
    rows = int(row["n_obs"]) if "n_obs" in fit.columns and pd.notna(row["n_obs"]) else 0
    r2 = float(row["r_squared"])
    if not np.isfinite(r2):
        return ""
    return f'<p class="note">{html("drivers.fit", lang, r2=f"{r2:.2f}", rows=f"{rows:,}")}</p>'


def _shap_block(
    drivers: pd.DataFrame, panel: pd.DataFrame, max_series: int, context: Context
) -> str:
    """Why forecasts are what they are: SHAP drivers overall and per product."""
    lang = context.lang
    overall = (
        drivers.assign(strength=drivers["effect"].abs())
        .groupby("driver")["strength"]
        .mean()
        .sort_values()
    )
    figure = charts.shap_drivers_figure(overall, lang=lang)
    volume = panel.groupby("unique_id")["y"].sum().sort_values(ascending=False)
    top = set(volume.index[:max_series])
    rows = drivers[drivers["unique_id"].isin(top)].copy()
    rows["effect"] = rows["effect"].round(3)
    per_product = table(
        rows,
        columns=["unique_id", "rank", "driver", "direction", "effect"],
        sortable=True,
        lang=lang,
        linked=context.linked,
    )
    count = f"{rows['unique_id'].nunique()}"
    return f"""<h3>{html("drivers.shap", lang)}</h3>
<p class="note">{html("drivers.shap_note", lang)}</p>
{figure_block(figure, "fig-drivers")}
<details><summary>{html("drivers.per_product", lang, count=count)}</summary>
<div class="table-wrap scroll-table">{per_product}</div>
</details>"""


def analysis_section(tables: Mapping[str, pd.DataFrame], context: Context) -> str:
    """Decomposition and ACF of a chosen best seller, strengths, stationarity, residual checks
    and anomalies."""
    lang = context.lang
    shown = {
        name: tables[name]
        for name in ("decomposition", "autocorrelation", "strengths", "stationarity")
        + ("diagnostics", "anomalies")
        if name in tables
    }
    if not shown:
        return ""
    blocks = [
        f'<p class="note">{html("analysis.note", lang)}</p>',
        _notes(tables.get("notes"), lang),
    ]
    decomposition = tables.get("decomposition")
    acf = tables.get("autocorrelation")
    products = analysis_products(decomposition, acf)
    if products:
        options = "".join(
            f'<option value="{i}">{escape(uid)}</option>' for i, uid in enumerate(products)
        )
        blocks.append(
            f'<div class="controls"><label>{html("analysis.product", lang)}'
            f'<select id="analysis-product">{options}</select></label></div>'
        )
        if decomposition is not None and not decomposition.empty:
            figures = [
                charts.decomposition_figure(_rows(decomposition, uid), lang=lang)
                for uid in products
            ]
            blocks.append(
                f"<h3>{html('analysis.decomposition', lang)}</h3>"
                + figure_set_block(figures, "fig-decomposition", "analysis-product")
            )
        if acf is not None and not acf.empty:
            figures = [charts.acf_figure(_rows(acf, uid), lang=lang) for uid in products]
            blocks.append(
                f"<h3>{html('analysis.acf', lang)}</h3>"
                f'<p class="note">{html("analysis.acf_note", lang)}</p>'
                + figure_set_block(figures, "fig-acf", "analysis-product")
            )
    for name, key, note, columns in (
        ("strengths", "analysis.strength", "analysis.strength_note", _STRENGTH_COLUMNS),
        (
            "stationarity",
            "analysis.stationarity",
            "analysis.stationarity_note",
            _STATIONARITY_COLUMNS,
        ),
        ("diagnostics", "analysis.diagnostics", "analysis.diagnostics_note", _DIAGNOSTIC_COLUMNS),
    ):
        frame = tables.get(name)
        if frame is None or frame.empty:
            continue
        blocks.append(
            f'<h3>{html(key, lang)}</h3><p class="note">{html(note, lang)}'
            f"{_tally(frame, lang)}</p>" + _ranked_table(frame, columns, context)
        )
    blocks.append(_anomalies_block(tables.get("anomalies"), context))
    return _section("analysis", "analysis.section", "\n".join(blocks), lang)


def _notes(notes: pd.DataFrame | None, lang: str) -> str:
    """What the analysis left out or assumed, folded away."""
    if notes is None or notes.empty or "note" not in notes.columns:
        return ""
    items = "".join(f"<li>{escape(str(note))}</li>" for note in notes["note"])
    summary = html("analysis.notes", lang, count=f"{len(notes):,}")
    return f'<details class="note"><summary>{summary}</summary><ul>{items}</ul></details>'


def _tally(frame: pd.DataFrame, lang: str) -> str:
    """`` Verdicts: 12 stationary, 3 inconclusive.`` for a table with a label column."""
    column = next((c for c in ("verdict", "flag") if c in frame.columns), None)
    if column is None:
        return ""
    counts = frame[column].astype(str).value_counts()
    parts = ", ".join(f"{n:,} {escape(value_text(label, lang))}" for label, n in counts.items())
    return " " + html("analysis.tally", lang, counts=parts)


def _ranked_table(frame: pd.DataFrame, columns: Sequence[str], context: Context) -> str:
    """The rows of the best sellers first (at most a few hundred), the known columns first."""
    if "unique_id" in frame.columns and context.order:
        rank = {uid: i for i, uid in enumerate(context.order)}
        position = frame["unique_id"].astype(str).map(rank).fillna(len(rank))
        frame = frame.iloc[np.argsort(position.to_numpy(), kind="stable")]
    total = len(frame)
    frame = frame.head(_ROWS_SHOWN)
    known = [col for col in columns if col in frame.columns]
    block = _table_block(frame, known or list(frame.columns), context)
    if total > len(frame):
        count = html("analysis.shown", context.lang, shown=f"{len(frame):,}", total=f"{total:,}")
        block = f'<p class="note">{count}</p>' + block
    return block


def _anomalies_block(anomalies: pd.DataFrame | None, context: Context) -> str:
    lang = context.lang
    if anomalies is None:
        return ""
    head = (
        f"<h3>{html('analysis.anomalies', lang)}</h3>"
        f'<p class="note">{html("analysis.anomalies_note", lang)}{_kinds(anomalies, lang)}</p>'
    )
    if anomalies.empty:
        return head + f'<p class="note">{html("analysis.no_anomalies", lang)}</p>'
    rows = anomalies
    if "score" in rows.columns:
        rows = rows.iloc[np.argsort(-rows["score"].abs().to_numpy(), kind="stable")]
    shown = rows.head(_ROWS_SHOWN)
    columns = [col for col in _ANOMALY_COLUMNS if col in shown.columns]
    count = ""
    if len(rows) > len(shown):
        total = f"{len(rows):,}"
        count = f'<p class="note">{html("analysis.shown", lang, shown=f"{len(shown):,}", total=total)}</p>'
    return head + count + _table_block(shown, columns, context)


def _kinds(anomalies: pd.DataFrame, lang: str) -> str:
    if anomalies.empty or "kind" not in anomalies.columns:
        return ""
    counts = anomalies["kind"].astype(str).value_counts()
    parts = ", ".join(f"{n:,} {escape(value_text(kind, lang))}" for kind, n in counts.items())
    return " " + html("analysis.tally", lang, counts=parts)


def training_section(histories: Mapping[str, pd.DataFrame] | None, lang: str) -> str:
    """Loss curves of the neural models, when the run trained any."""
    usable = {
        name: frame for name, frame in (histories or {}).items() if frame is not None and len(frame)
    }
    if not usable:
        return ""
    figure = charts.training_curves_figure(usable, lang=lang)
    return f"""<section id="training" data-group="quality">
<h2>{html("training.title", lang)}</h2>
<p class="note">{html("training.note", lang)}</p>
{figure_block(figure, "fig-training")}
</section>"""


def _section(key: str, title: str, body: str, lang: str) -> str:
    return f"""<section id="{key}" data-group="{key}">
<h2>{html(title, lang)}</h2>
{body}
</section>"""


def _table_block(
    frame: pd.DataFrame, columns: list[str], context: Context, sorted_by: str | None = None
) -> str:
    return (
        '<div class="table-wrap scroll-table">'
        + table(
            frame,
            columns=columns,
            sortable=True,
            sorted_by=sorted_by,
            lang=context.lang,
            linked=context.linked,
        )
        + "</div>"
    )


def _rows(frame: pd.DataFrame, uid: str) -> pd.DataFrame:
    return frame[frame["unique_id"].astype(str) == uid]


def analysis_products(*frames: pd.DataFrame | None) -> list[str]:
    """The products every given frame (decomposition, ACF) has, in the analysis' order."""
    given = [
        frame["unique_id"].astype(str).drop_duplicates().tolist()
        for frame in frames
        if frame is not None and not frame.empty and "unique_id" in frame.columns
    ]
    if not given:
        return []
    shared = set(given[0]).intersection(*given[1:])
    return [uid for uid in given[0] if uid in shared][:_ANALYSIS_PRODUCTS]


def correlation_matrix(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A square correlation matrix, from a long ``[method,] var_x, var_y, corr`` table (Pearson
    rows when several methods) or a square one whose row names are its first text column."""
    if frame is None or frame.empty:
        return None
    if {"var_x", "var_y", "corr"} <= set(frame.columns):
        if "method" in frame.columns:
            methods = frame["method"].astype(str)
            frame = frame[
                methods == ("pearson" if (methods == "pearson").any() else methods.iloc[0])
            ]
        order = list(dict.fromkeys(frame["var_x"].astype(str)))
        square = frame.assign(var_x=frame["var_x"].astype(str), var_y=frame["var_y"].astype(str))
        square = square.pivot_table(index="var_x", columns="var_y", values="corr", aggfunc="first")
        return square.reindex(index=order, columns=order)
    first = frame.columns[0]
    if not pd.api.types.is_numeric_dtype(frame[first]):
        frame = frame.set_index(first)
    return frame.select_dtypes("number")


def explained_shares(frame: pd.DataFrame | None) -> pd.Series | None:
    """Explained variance shares by component from a frame of ``component`` and a ratio."""
    if frame is None or frame.empty:
        return None
    numeric = [col for col in frame.columns if pd.api.types.is_numeric_dtype(frame[col])]
    labels = [col for col in frame.columns if col not in numeric]
    ratio = next((col for col in numeric if "ratio" in col or "share" in col), None)
    ratio = ratio or (numeric[0] if numeric else None)
    if ratio is None:
        return None
    index = (
        frame[labels[0]].astype(str)
        if labels
        else pd.Index([f"PC{i + 1}" for i in range(len(frame))])
    )
    values = frame[ratio].to_numpy(dtype=float)
    if np.nanmax(values) > 1.0:  # given in percent
        values = values / 100
    return pd.Series(values, index=index)


def _with_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A named index becomes the first column, so a table shows it."""
    if any(name is not None for name in frame.index.names):
        return frame.reset_index()
    return frame
