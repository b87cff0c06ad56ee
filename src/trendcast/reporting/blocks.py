"""HTML building blocks of the report: tables, embedded figures, formatted values.

Every user-provided string is escaped here, in the HTML and in the embedded JSON
alike; the section modules only assemble these blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from trendcast.reporting.i18n import column_label, value_text

__all__ = [
    "attribute",
    "figure_block",
    "figure_set_block",
    "format_number",
    "format_value",
    "ordered",
    "product_link",
    "script_json",
    "table",
]

#: text columns whose values are labels the catalogue translates
_ENUMERATED = ("trend", "verdict", "kind", "flag", "direction")
_METRIC_HELP = {
    "mase": {
        "en": "Mean absolute error divided by the in-sample seasonal naive error; below 1 beats "
        "the seasonal naive forecast.",
        "zh": "平均绝对误差除以样本内季节性朴素预测的误差；小于 1 表示优于季节性朴素预测。",
    },
    "rmsse": {
        "en": "Root mean squared error scaled like MASE; punishes large misses more.",
        "zh": "按 MASE 方式缩放的均方根误差；对大误差惩罚更重。",
    },
    "mae": {"en": "Mean absolute error, in units.", "zh": "平均绝对误差（件）。"},
    "rmse": {"en": "Root mean squared error, in units.", "zh": "均方根误差（件）。"},
    "mape": {
        "en": "Mean absolute percentage error; undefined where actuals are zero.",
        "zh": "平均绝对百分比误差；实际为零时无定义。",
    },
    "smape": {"en": "Symmetric mean absolute percentage error.", "zh": "对称平均绝对百分比误差。"},
    "bias": {
        "en": "Average signed error; far from 0 means systematic over- or under-forecasting.",
        "zh": "平均有符号误差；远离 0 说明系统性高估或低估。",
    },
    "pinball": {
        "en": "Quantile (pinball) loss of the prediction intervals.",
        "zh": "预测区间的分位数（pinball）损失。",
    },
    "scaled_pinball": {
        "en": "Pinball loss scaled like MASE.",
        "zh": "按 MASE 方式缩放的 pinball 损失。",
    },
    "wrmsse": {
        "en": "Volume-weighted RMSSE, the M5 competition score.",
        "zh": "按销量加权的 RMSSE，M5 竞赛的评分。",
    },
    "r2": {
        "en": "Share of variance explained; higher is better.",
        "zh": "解释的方差比例；越高越好。",
    },
    "time_s": {"en": "Fit and predict time in seconds.", "zh": "拟合与预测耗时（秒）。"},
    "rank": {"en": "Overall position on the leaderboard.", "zh": "在排行榜上的总名次。"},
    "p_value": {
        "en": "Probability of a change this clear without a trend; small means significant.",
        "zh": "无趋势时出现如此明显变化的概率；越小越显著。",
    },
    "growth_pct": {
        "en": "Change along the trend line over the window, relative to its start.",
        "zh": "趋势线在窗口内的变化，相对于起点的百分比。",
    },
}


def figure_block(figure: go.Figure, element_id: str) -> str:
    """A figure's container and its JSON, drawn by the page's script."""
    return (
        f'<div class="figure" id="{element_id}"></div>'
        f'<script type="application/json" data-plot="{element_id}">'
        f"{script_json(figure.to_json())}</script>"
    )


def figure_set_block(figures: Sequence[go.Figure], element_id: str, control: str) -> str:
    """One chart showing one of several figures, the one chosen in the ``<select>`` ``control``.

    The first figure's layout is shared; only the traces of each figure are stored.
    """
    parsed = [json.loads(pio.to_json(figure, validate=False)) for figure in figures]
    payload = {
        "control": control,
        "layout": parsed[0]["layout"] if parsed else {},
        "data": [figure["data"] for figure in parsed],
    }
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        f'<div class="figure" id="{element_id}"></div>'
        f'<script type="application/json" data-plot-set="{element_id}">{script_json(body)}</script>'
    )


def script_json(text: str) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&``."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def product_link(product: object, linked: Collection[str]) -> str:
    """A product id that opens the product in the explorer, when the explorer holds it."""
    uid = str(product)
    if uid not in linked:
        return escape(uid)
    return (
        f'<a href="#explorer" class="product-link" data-product="{escape(uid)}">{escape(uid)}</a>'
    )


def ordered(frame: pd.DataFrame, leading: Sequence[str]) -> list[str]:
    """The frame's columns with those of ``leading`` first."""
    first = [col for col in leading if col in frame.columns]
    return first + [col for col in frame.columns if col not in first]


def table(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    sortable: bool = False,
    highlight: str | None = None,
    sorted_by: str | None = None,
    lang: str = "en",
    linked: Collection[str] = (),
    css_class: str | None = None,
) -> str:
    """An HTML table: numbers right-aligned and formatted, text escaped.

    ``highlight`` marks the row whose ``model`` equals it; ``sortable`` tables carry
    the raw numbers in ``data-value`` for the page's sorting script. Product ids in
    ``linked`` open the product explorer.
    """
    formats = {col: _formatter(frame[col], col, lang) for col in columns}
    numeric = {col for col in columns if _is_number(frame[col])}
    head = "".join(
        "<th"
        + attribute("class", "num" if col in numeric else None)
        + attribute("title", _METRIC_HELP.get(str(col), {}).get(lang))
        + attribute("aria-sort", "ascending" if col == sorted_by else None)
        + f">{escape(column_label(str(col), lang))}</th>"
        for col in columns
    )
    rows = []
    models = frame["model"].astype(str).to_numpy() if "model" in frame.columns else None
    for position, record in enumerate(frame[list(columns)].itertuples(index=False)):
        cells = []
        for col, value in zip(columns, record, strict=True):
            if col in numeric:
                key = attribute("data-value", _sort_key(value)) if sortable else ""
                cells.append(f'<td class="num"{key}>{formats[col](value)}</td>')
            elif col == "unique_id" and linked:
                cells.append(f"<td>{product_link(value, linked)}</td>")
            else:
                kind = ' class="examples"' if col == "examples" else ""
                cells.append(f"<td{kind}>{formats[col](value)}</td>")
        marked = highlight is not None and models is not None and models[position] == highlight
        rows.append(f"<tr{attribute('class', 'best' if marked else None)}>{''.join(cells)}</tr>")
    classes = " ".join(c for c in ("sortable" if sortable else None, css_class) if c)
    kind = attribute("class", classes or None)
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _formatter(values: pd.Series, name: str, lang: str) -> Callable[[object], str]:
    """How to show one column: digits chosen from the column's magnitude."""
    if not _is_number(values):
        if name in _ENUMERATED:
            return lambda value: escape(value_text(value, lang))
        return lambda value: escape(format_value(value, lang))
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if name.startswith("coverage") and finite.size and finite.max() <= 1:
        return lambda value: format_number(value, 1, scale=100, suffix="%")
    if name == "p_value":
        return lambda value: _format_p(value)
    if not finite.size or np.all(finite == np.round(finite)):
        return lambda value: format_number(value, 0)
    largest = float(np.abs(finite).max())
    digits = 3 if largest < 10 else 2 if largest < 100 else 1 if largest < 1000 else 0
    return lambda value: format_number(value, digits)


def _format_p(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        return '<span class="missing">–</span>'
    return "&lt; 0.001" if number < 0.001 else f"{number:.3f}"


def format_number(value: object, digits: int, scale: float = 1, suffix: str = "") -> str:
    """A number with thousands separators and ``digits`` decimals; a dash when missing."""
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        return '<span class="missing">–</span>'
    return f"{number * scale:,.{digits}f}{suffix}"


def format_value(value: object, lang: str = "en") -> str:
    """A summary value or table cell as text: numbers grouped, dates without midnight."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return {"en": ("yes", "no"), "zh": ("是", "否")}[lang][0 if value else 1]
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}".rstrip("0")
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item, lang) for item in value)
    return str(value)


def _sort_key(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return repr(number) if math.isfinite(number) else ""


def attribute(name: str, value: str | None) -> str:
    """`` name="value"`` escaped, or nothing for ``None``."""
    return "" if value is None else f' {name}="{escape(value)}"'


def json_payload(data: Any) -> str:
    """Compact JSON of plain data, safe inside ``<script>``."""
    return script_json(json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
