"""Run configuration: frozen dataclasses, loadable from a TOML file.

A TOML file mirrors the CLI flags::

    [columns]
    id_cols = ["StockCode"]
    time_col = "InvoiceDate"
    target_col = "Quantity"
    price_col = "UnitPrice"

    [cleaning]
    returns = "drop"          # or "net"
    outliers = "cap"          # or "flag" / "none"
    non_product_codes = ["POST", "DOT", "M"]

    [forecast]
    horizon = 28
    freq = "D"
    model = "auto"
    levels = [80, 95]

    [backtest]
    windows = 3
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from trendcast.exceptions import ConfigError

__all__ = [
    "CleaningConfig",
    "ForecastConfig",
    "BacktestConfig",
    "load_config",
    "SETTINGS",
    "DEFAULT_NON_PRODUCT_CODES",
]

DEFAULT_NON_PRODUCT_CODES: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "D",
    "S",
    "B",
    "C2",
    "CRUK",
    "PADS",
    "BANK CHARGES",
    "AMAZONFEE",
    "ADJUST",
    "ADJUST2",
    "TEST001",
    "TEST002",
    "CHARGE",
    "FEE",
    "SHIPPING",
    "POSTAGE",
    "DISCOUNT",
    "MANUAL",
    "运费",
    "邮费",
    "手续费",
)


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class CleaningConfig:
    """How raw order lines and sales rows are cleaned. Every rule is reported."""

    returns: Literal["drop", "net"] = _opt(
        "drop", "returns and cancellations: drop them, or net them against demand"
    )
    cancel_prefix: str = _opt("C", "order ids starting with this mark cancellations")
    non_product_codes: tuple[str, ...] = _opt(
        DEFAULT_NON_PRODUCT_CODES, "product codes that are postage, fees or adjustments"
    )
    non_product_prefixes: tuple[str, ...] = _opt(
        ("gift_0001",), "code prefixes that are not products"
    )
    outliers: Literal["cap", "flag", "none"] = _opt("cap", "what to do with demand spikes")
    outlier_threshold: float = _opt(5.0, "spike bound: robust z-score on log demand")
    max_bad_share: float = _opt(
        0.05, "largest share of unparseable rows dropped before the input is refused"
    )
    trading_days: Literal["detect", "all"] = _opt(
        "detect", "detect weekdays the business never trades, or keep all days"
    )

    def __post_init__(self) -> None:
        if self.returns not in ("drop", "net"):
            raise ConfigError(f"cleaning.returns must be 'drop' or 'net', not {self.returns!r}.")
        if self.outliers not in ("cap", "flag", "none"):
            raise ConfigError(
                f"cleaning.outliers must be 'cap', 'flag' or 'none', not {self.outliers!r}."
            )
        if self.outlier_threshold <= 0:
            raise ConfigError("cleaning.outlier_threshold must be positive.")
        if not 0 <= self.max_bad_share < 1:
            raise ConfigError("cleaning.max_bad_share must be between 0 and 1.")


@dataclass(frozen=True)
class BacktestConfig:
    """Rolling-origin evaluation: ``windows`` cutoffs ``step`` periods apart."""

    windows: int = _opt(3, "backtest windows")
    step: int | None = _opt(None, "periods between cutoffs (default: the horizon)")

    def __post_init__(self) -> None:
        if self.windows < 1:
            raise ConfigError(f"--windows must be at least 1, got {self.windows}.")
        if self.step is not None and self.step < 1:
            raise ConfigError(f"--step must be at least 1, got {self.step}.")


@dataclass(frozen=True)
class ForecastConfig:
    """What to forecast and how."""

    horizon: int = _opt(28, "periods to forecast")
    freq: str | None = _opt(None, "D, W or MS; inferred when left out")
    model: str = _opt("auto", "a model name from `trendcast models`, or auto")
    levels: tuple[int, ...] = _opt((80, 95), "prediction interval levels in percent")
    n_jobs: int = _opt(1, "parallel processes for the statistical models")

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ConfigError(f"--horizon must be at least 1, got {self.horizon}.")
        bad = [lv for lv in self.levels if not 0 < lv < 100]
        if bad:
            raise ConfigError(f"--level values must be between 0 and 100, got {bad}.")


# name, default, help: the one table of settings documented in README
SETTINGS: tuple[tuple[str, object, str], ...] = tuple(
    (f"{section}.{f.name}", f.default, f.metadata.get("help", ""))
    for section, cls in (
        ("cleaning", CleaningConfig),
        ("forecast", ForecastConfig),
        ("backtest", BacktestConfig),
    )
    for f in fields(cls)
)


def _build(cls: type, section: dict[str, Any], name: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) in [{name}]: {unknown}. Known settings: {sorted(known)}."
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
    defaults = cls()
    for key, value in values.items():
        default = getattr(defaults, key)
        if default is not None and not isinstance(value, type(default)):
            if not (isinstance(default, float) and isinstance(value, int)):
                raise ConfigError(
                    f"[{name}] {key} must be a {type(default).__name__} like {default!r}, "
                    f"not {value!r}."
                )
    return replace(defaults, **values)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML configuration into ``{"columns": {...}, "cleaning": CleaningConfig, ...}``."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"Configuration file not found: {p}.")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot parse {p} as TOML: {exc}.") from None
    unknown = sorted(set(raw) - {"columns", "cleaning", "forecast", "backtest"})
    if unknown:
        raise ConfigError(
            f"Unknown section(s) in {p}: {unknown}. Use [columns], [cleaning], [forecast], "
            "[backtest]."
        )
    return {
        "columns": dict(raw.get("columns", {})),
        "cleaning": _build(CleaningConfig, raw.get("cleaning", {}), "cleaning"),
        "forecast": _build(ForecastConfig, raw.get("forecast", {}), "forecast"),
        "backtest": _build(BacktestConfig, raw.get("backtest", {}), "backtest"),
    }
