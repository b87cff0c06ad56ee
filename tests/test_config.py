"""Run configuration: defaults, validation and the TOML loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendcast.config import (
    DEFAULT_NON_PRODUCT_CODES,
    SETTINGS,
    BacktestConfig,
    CleaningConfig,
    ForecastConfig,
    load_config,
)
from trendcast.exceptions import ConfigError, TrendcastError


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trendcast.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_drop_returns_cap_spikes_and_detect_trading_days():
    cleaning = CleaningConfig()
    assert cleaning.returns == "drop"
    assert cleaning.outliers == "cap"
    assert cleaning.trading_days == "detect"
    assert cleaning.cancel_prefix == "C"
    assert "POST" in cleaning.non_product_codes and "运费" in cleaning.non_product_codes
    assert ForecastConfig().horizon == 28 and ForecastConfig().levels == (80, 95)
    assert BacktestConfig().windows == 3 and BacktestConfig().step is None


def test_load_config_reads_every_section_and_turns_lists_into_tuples(tmp_path):
    path = write_toml(
        tmp_path,
        """
[columns]
id_cols = ["StockCode"]
time_col = "InvoiceDate"

[cleaning]
returns = "net"
outliers = "flag"
non_product_codes = ["POST", "运费"]
max_bad_share = 0.1

[forecast]
horizon = 14
freq = "W"
levels = [90]

[backtest]
windows = 2
step = 7
""",
    )
    loaded = load_config(path)
    assert loaded["columns"] == {"id_cols": ["StockCode"], "time_col": "InvoiceDate"}
    assert loaded["cleaning"] == CleaningConfig(
        returns="net", outliers="flag", non_product_codes=("POST", "运费"), max_bad_share=0.1
    )
    assert loaded["forecast"] == ForecastConfig(horizon=14, freq="W", levels=(90,))
    assert loaded["backtest"] == BacktestConfig(windows=2, step=7)


def test_load_config_fills_left_out_sections_with_defaults(tmp_path):
    loaded = load_config(write_toml(tmp_path, '[cleaning]\nreturns = "net"\n'))
    assert loaded["columns"] == {}
    assert loaded["cleaning"].returns == "net"
    assert loaded["forecast"] == ForecastConfig()
    assert loaded["backtest"] == BacktestConfig()


def test_load_config_refuses_an_unknown_section_and_lists_the_known_ones(tmp_path):
    path = write_toml(tmp_path, "[cleanup]\nreturns = 'net'\n")
    with pytest.raises(ConfigError, match=r"Unknown section\(s\) in .*\['cleanup'\].*\[cleaning\]"):
        load_config(path)


def test_load_config_refuses_an_unknown_setting_and_lists_the_known_ones(tmp_path):
    path = write_toml(tmp_path, "[cleaning]\nreturn = 'net'\n")
    with pytest.raises(
        ConfigError,
        match=r"Unknown setting\(s\) in \[cleaning\]: \['return'\]\. Known settings: .*'returns'",
    ):
        load_config(path)


def test_load_config_reports_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="Configuration file not found: .*nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_load_config_reports_a_file_that_is_not_toml(tmp_path):
    path = write_toml(tmp_path, "[cleaning\nreturns = net\n")
    with pytest.raises(ConfigError, match="Cannot parse .* as TOML"):
        load_config(path)


def test_load_config_validates_values_it_reads(tmp_path):
    path = write_toml(tmp_path, "[cleaning]\nreturns = 'keep'\n")
    with pytest.raises(ConfigError, match="cleaning.returns must be 'drop' or 'net', not 'keep'"):
        load_config(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CleaningConfig(returns="keep"), "cleaning.returns must be 'drop' or 'net'"),
        (
            lambda: CleaningConfig(outliers="remove"),
            "cleaning.outliers must be 'cap', 'flag' or 'none'",
        ),
        (lambda: CleaningConfig(outlier_threshold=0), "outlier_threshold must be positive"),
        (lambda: CleaningConfig(max_bad_share=1.0), "max_bad_share must be between 0 and 1"),
        (lambda: CleaningConfig(max_bad_share=-0.1), "max_bad_share must be between 0 and 1"),
        (lambda: ForecastConfig(horizon=0), "--horizon must be at least 1, got 0"),
        (
            lambda: ForecastConfig(levels=(80, 100)),
            r"--level values must be between 0 and 100, got \[100\]",
        ),
        (lambda: BacktestConfig(windows=0), "--windows must be at least 1, got 0"),
        (lambda: BacktestConfig(step=0), "--step must be at least 1, got 0"),
    ],
)
def test_out_of_range_settings_raise_a_config_error_naming_the_setting(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_setting_of_the_wrong_type_raises_a_config_error(tmp_path):
    path = write_toml(tmp_path, '[forecast]\nhorizon = "28"\n')
    with pytest.raises(ConfigError, match="horizon"):
        load_config(path)


def test_config_errors_are_trendcast_errors_and_value_errors():
    assert issubclass(ConfigError, TrendcastError) and issubclass(ConfigError, ValueError)


def test_settings_table_documents_every_setting_with_its_default_and_help():
    names = [name for name, _, _ in SETTINGS]
    assert names[:2] == ["cleaning.returns", "cleaning.cancel_prefix"]
    assert {"forecast.horizon", "forecast.levels", "backtest.windows", "backtest.step"} <= set(
        names
    )
    assert len(names) == len(set(names))
    by_name = {name: (default, text) for name, default, text in SETTINGS}
    assert by_name["cleaning.non_product_codes"][0] == DEFAULT_NON_PRODUCT_CODES
    assert by_name["forecast.horizon"][0] == 28
    assert all(text for _, _, text in SETTINGS)
