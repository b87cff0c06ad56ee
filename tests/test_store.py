"""Tests of the DuckDB run store."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from trendcast.exceptions import InputError, StoreError
from trendcast.store import (
    ParquetTable,
    RunRecord,
    RunStore,
    duckdb_store,
    fingerprint_file,
    fingerprint_frame,
    new_run_id,
)

T0 = datetime(2024, 11, 21, 7, 15, 3, tzinfo=UTC)


def tricky_table() -> pd.DataFrame:
    """A table with awkward column names and every dtype a run produces."""
    return pd.DataFrame(
        {
            "商品编码": ["SKU-1", "SKU-2", None],
            "数量": np.array([3, 0, 7], dtype="int64"),
            "unit price-€": [9.5, np.nan, 12.25],
            "on promo": [True, False, True],
            "ds": pd.to_datetime(
                ["2026-01-01 00:00:00", "2026-01-02 03:04:05.123456789", None], format="ISO8601"
            ),
            "ds-local": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]).tz_localize(
                "Asia/Shanghai"
            ),
            'say "cheese"': np.array([1, 2, 3], dtype="int32"),
            "select": pd.array([1, None, 3], dtype="Int64"),
            "segment": pd.Categorical(["b", "a", "b"], categories=["c", "b", "a"]),
            "note": pd.array(["x", None, "z"], dtype="string"),
        }
    )


def make_record(
    run_id: str,
    created_at: datetime = T0,
    kind: str = "run",
    tables: dict[str, pd.DataFrame] | None = None,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        created_at=created_at,
        kind=kind,
        status="succeeded",
        input_fingerprint="f" * 64,
        config={"horizon": 28, "models": ["auto_ets", "naive"], "input": Path("orders.csv")},
        summary={"n_series": np.int64(42), "best": "auto_ets", "seconds": 1.5},
        tables={"leaderboard": pd.DataFrame({"model": ["a"], "mase": [0.9]})}
        if tables is None
        else tables,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "runs.duckdb") as opened:
        yield opened


def test_saved_run_round_trips_config_summary_and_tricky_tables(store: RunStore) -> None:
    panel = tricky_table()
    by_sku = panel.set_index(["商品编码", "ds"])
    store.save_run(make_record("r1", tables={"panel": panel, "by sku": by_sku}))

    loaded = store.get_run("r1")

    assert loaded.created_at == T0
    assert loaded.created_at.tzinfo == UTC
    assert (loaded.kind, loaded.status, loaded.error) == ("run", "succeeded", None)
    assert loaded.config == {"horizon": 28, "models": ["auto_ets", "naive"], "input": "orders.csv"}
    assert loaded.summary == {"n_series": 42, "best": "auto_ets", "seconds": 1.5}
    assert list(loaded.tables) == ["panel", "by sku"]
    pd.testing.assert_frame_equal(loaded.tables["panel"], panel)
    pd.testing.assert_frame_equal(loaded.tables["by sku"], by_sku)
    pd.testing.assert_frame_equal(store.load_table("r1", "panel"), panel)


def test_a_table_in_parquet_parts_is_copied_in_and_reads_back_as_one_frame(
    store: RunStore, tmp_path: Path
) -> None:
    # Parquet keeps no zone name, and DuckDB reads its categories back as text
    frame = tricky_table().drop(columns=["ds-local", "segment"])
    paths = []
    for k, part in enumerate((frame.iloc[:2], frame.iloc[2:])):
        paths.append(str(tmp_path / f"part{k}.parquet"))
        part.to_parquet(paths[-1], index=False)
    record = make_record("r1")
    store.save_run(replace(record, parquet_tables={"history": ParquetTable(tuple(paths))}))

    loaded = store.get_run("r1")

    assert list(loaded.tables) == ["leaderboard", "history"]
    pd.testing.assert_frame_equal(loaded.tables["history"], frame)


def test_parquet_parts_that_differ_or_clash_with_a_frame_are_refused(
    store: RunStore, tmp_path: Path
) -> None:
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"b": [1.0]}).to_parquet(tmp_path / "b.parquet")
    parts = ParquetTable((str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")))
    record = make_record("r1")

    with pytest.raises(InputError, match="parts differ in columns or types"):
        store.save_run(replace(record, parquet_tables={"history": parts}))
    clash = ParquetTable((str(tmp_path / "a.parquet"),))
    with pytest.raises(InputError, match=r"\['leaderboard'\] are given twice"):
        store.save_run(replace(record, parquet_tables={"leaderboard": clash}))
    assert store.list_runs().empty


def test_tables_keep_row_order_and_empty_tables_keep_columns(store: RunStore) -> None:
    shuffled = pd.DataFrame({"y": np.random.default_rng(0).permutation(50_000).astype(float)})
    empty = tricky_table().iloc[:0]
    store.save_run(make_record("r1", tables={"shuffled": shuffled, "empty": empty}))

    pd.testing.assert_frame_equal(store.load_table("r1", "shuffled"), shuffled)
    pd.testing.assert_frame_equal(store.load_table("r1", "empty"), empty.reset_index(drop=True))


def test_stored_tables_can_be_queried_with_plain_sql(store: RunStore) -> None:
    store.save_run(make_record("r1", tables={"panel": tricky_table()}))

    with duckdb.connect(str(store.path), read_only=True) as con:
        total = con.execute('SELECT sum("数量") FROM run_data."r1/panel"').fetchone()

    assert total == (10,)


def test_list_runs_shows_newest_first_and_filters_by_kind(store: RunStore) -> None:
    store.save_run(make_record("old", created_at=T0, kind="backtest"))
    store.save_run(make_record("new", created_at=T0 + timedelta(hours=1), tables={}))
    store.record_failure("broken", "forecast", "0" * 64, {"horizon": 7}, "boom")

    runs = store.list_runs()

    assert list(runs.columns) == [
        "run_id",
        "created_at",
        "kind",
        "status",
        "input_fingerprint",
        "n_tables",
        "summary",
        "error",
    ]
    assert list(runs["run_id"]) == ["broken", "new", "old"]
    assert list(runs["n_tables"]) == [0, 0, 1]
    assert str(runs["created_at"].dt.tz) == "UTC"
    assert runs.loc[2, "summary"] == '{"n_series": 42, "best": "auto_ets", "seconds": 1.5}'
    assert list(store.list_runs(kind="backtest")["run_id"]) == ["old"]
    assert list(store.list_runs(limit=1)["run_id"]) == ["broken"]


def test_list_runs_of_an_empty_store_has_the_columns_and_no_rows(store: RunStore) -> None:
    runs = store.list_runs()

    assert runs.empty
    assert "n_tables" in runs.columns


def test_list_runs_refuses_an_unknown_kind(store: RunStore) -> None:
    with pytest.raises(InputError, match=r"Unknown run kind 'forecasts'"):
        store.list_runs(kind="forecasts")


def test_get_run_accepts_a_unique_prefix_and_latest(store: RunStore) -> None:
    store.save_run(make_record("20261121-071503-ab12cd", created_at=T0))
    store.save_run(make_record("20261121-081503-ef34ab", created_at=T0 + timedelta(hours=1)))

    assert store.get_run("20261121-07").run_id == "20261121-071503-ab12cd"
    assert store.get_run("latest").run_id == "20261121-081503-ef34ab"
    assert list(store.load_table("20261121-08", "leaderboard")["model"]) == ["a"]


def test_get_run_prefers_an_exact_id_over_longer_ids_it_prefixes(store: RunStore) -> None:
    store.save_run(make_record("run-1"))
    store.save_run(make_record("run-10"))

    assert store.get_run("run-1").run_id == "run-1"


def test_get_run_with_an_ambiguous_prefix_names_the_matches(store: RunStore) -> None:
    store.save_run(make_record("run-a"))
    store.save_run(make_record("run-b"))

    with pytest.raises(StoreError, match=r"'run-' is ambiguous.*'run-a', 'run-b'"):
        store.get_run("run-")


def test_unknown_run_id_error_names_it_and_lists_recent_runs(store: RunStore) -> None:
    store.save_run(make_record("20261121-071503-ab12cd"))

    with pytest.raises(
        StoreError, match=r"No run 'nope'.*Recent runs: \['20261121-071503-ab12cd'\]"
    ):
        store.get_run("nope")


def test_an_empty_run_id_is_refused(store: RunStore) -> None:
    store.save_run(make_record("r1"))

    with pytest.raises(StoreError, match="Give a run id, a unique start of one, or 'latest'"):
        store.get_run("")


def test_latest_of_an_empty_store_says_there_are_no_runs(store: RunStore) -> None:
    with pytest.raises(StoreError, match="has no runs yet"):
        store.get_run("latest")


def test_load_table_with_an_unknown_name_lists_the_run_tables(store: RunStore) -> None:
    store.save_run(make_record("r1"))

    with pytest.raises(StoreError, match=r"Run r1 has no table 'forecast'.*\['leaderboard'\]"):
        store.load_table("r1", "forecast")


def test_save_run_failing_half_way_leaves_no_trace_and_keeps_earlier_runs(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_run(make_record("earlier"))
    write_table = duckdb_store._write_table
    written: list[str] = []

    def write_then_fail(
        con: duckdb.DuckDBPyConnection, run_id: str, position: int, name: str, table: object
    ) -> None:
        if written:
            raise duckdb.IOException("disk full")
        written.append(name)
        write_table(con, run_id, position, name, table)

    monkeypatch.setattr(duckdb_store, "_write_table", write_then_fail)
    tables = {"metrics": tricky_table(), "forecast": tricky_table()}

    with pytest.raises(StoreError, match=r"could not save run half; nothing of it was kept"):
        store.save_run(make_record("half", tables=tables))

    assert written == ["metrics"]
    assert list(store.list_runs()["run_id"]) == ["earlier"]
    assert list(store.get_run("earlier").tables) == ["leaderboard"]
    with duckdb.connect(str(store.path), read_only=True) as con:
        physical = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'run_data'"
        ).fetchall()
        catalogue = con.execute("SELECT count(*) FROM run_tables WHERE run_id = 'half'").fetchone()
    assert physical == [("earlier/leaderboard",)]
    assert catalogue == (0,)

    monkeypatch.undo()
    store.save_run(make_record("half", tables=tables))
    assert list(store.get_run("half").tables) == ["metrics", "forecast"]


def test_a_table_with_an_unsupported_column_is_refused_and_nothing_is_saved(
    store: RunStore,
) -> None:
    bad = pd.DataFrame({"basket": [["a", "b"], ["c"]], "n": [1, 2]})

    with pytest.raises(InputError, match=r"'basket': mixed values in an object column"):
        store.save_run(make_record("bad", tables={"ok": tricky_table(), "bad": bad}))

    assert store.list_runs().empty


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"y": [1], "Y": [2]}), r"differ only in case or repeat: \['y', 'Y'\]"),
        (pd.DataFrame({0: [1]}), r"not non-empty strings: \[0\]"),
        (pd.DataFrame(index=[0, 1]), "has no columns"),
        (pd.DataFrame({"ds": [1]}, index=pd.Index([5], name="ds")), "cannot store its index"),
    ],
)
def test_tables_whose_columns_cannot_round_trip_are_refused(
    store: RunStore, table: pd.DataFrame, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        store.save_run(make_record("bad", tables={"t": table}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "train"}, r"Unknown run kind 'train'"),
        ({"status": "done"}, r"Unknown run status 'done'"),
        ({"run_id": "latest"}, r"Invalid run id 'latest'"),
        ({"run_id": "a/b"}, r"Invalid run id 'a/b'"),
        ({"created_at": datetime(2026, 1, 1)}, "must be a timezone-aware datetime"),
        ({"config": {"model": object()}}, r"config of run r1 cannot be stored as JSON"),
    ],
)
def test_invalid_records_are_refused_with_the_fix(
    store: RunStore, changes: dict, message: str
) -> None:
    fields = vars(make_record("r1")) | changes

    with pytest.raises(InputError, match=message):
        store.save_run(RunRecord(**fields))


def test_created_at_in_another_timezone_is_stored_in_utc(store: RunStore) -> None:
    local = T0.astimezone(timezone(timedelta(hours=8)))
    store.save_run(make_record("r1", created_at=local))

    assert store.get_run("r1").created_at == T0
    assert store.get_run("r1").created_at.tzinfo == UTC


def test_saving_a_run_id_twice_is_refused(store: RunStore) -> None:
    store.save_run(make_record("r1"))

    with pytest.raises(StoreError, match=r"run with id 'r1' is already in"):
        store.save_run(make_record("r1"))


def test_record_failure_adds_a_failed_run_without_tables(store: RunStore) -> None:
    store.save_run(make_record("good"))

    store.record_failure("bad", "forecast", "0" * 64, {"horizon": 7}, "InputError: no 'ds'")

    failed = store.get_run("bad")
    assert (failed.status, failed.kind, failed.error) == (
        "failed",
        "forecast",
        "InputError: no 'ds'",
    )
    assert failed.config == {"horizon": 7}
    assert failed.tables == {}
    assert list(store.get_run("good").tables) == ["leaderboard"]
    with pytest.raises(StoreError, match=r"no table 'forecast'.*The run failed: InputError"):
        store.load_table("bad", "forecast")


def test_delete_run_removes_its_row_and_tables_only(store: RunStore) -> None:
    store.save_run(make_record("keep"))
    store.save_run(make_record("drop", tables={"panel": tricky_table()}))

    store.delete_run("drop")

    assert list(store.list_runs()["run_id"]) == ["keep"]
    with pytest.raises(StoreError, match="No run 'drop'"):
        store.get_run("drop")
    with duckdb.connect(str(store.path), read_only=True) as con:
        physical = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'run_data'"
        ).fetchall()
    assert physical == [("keep/leaderboard",)]
    store.save_run(make_record("drop"))


def test_a_file_that_is_not_duckdb_is_not_a_trendcast_store(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,qty\n1,2\n")

    with pytest.raises(StoreError, match=r"orders\.csv is not a trendcast store"):
        RunStore(orders)


def test_a_store_from_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    RunStore(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE schema_version SET version = ?", [duckdb_store.SCHEMA_VERSION + 1])

    with pytest.raises(StoreError, match="written by a newer trendcast: upgrade trendcast"):
        RunStore(path)


def test_a_duckdb_file_of_other_tables_becomes_a_store_but_not_read_only(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders (qty INTEGER)")

    with pytest.raises(StoreError, match="is not a trendcast store: it is a DuckDB database"):
        RunStore(path, read_only=True)
    with RunStore(path) as created:
        assert created.list_runs().empty


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "runs.duckdb"

    RunStore(path).save_run(make_record("r1"))

    assert RunStore(path, read_only=True).get_run("r1").run_id == "r1"


def test_read_only_open_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="There is no run store at"):
        RunStore(tmp_path / "missing.duckdb", read_only=True)


def test_a_read_only_store_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    RunStore(path).close()
    reader = RunStore(path, read_only=True)

    with pytest.raises(StoreError, match="is open read-only, so it cannot save run r1"):
        reader.save_run(make_record("r1"))


def test_two_stores_over_one_file_in_one_process_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    writer, other_writer = RunStore(path), RunStore(path)
    reader = RunStore(path, read_only=True)

    writer.save_run(make_record("r1"))
    other_writer.save_run(make_record("r2"))

    assert sorted(reader.list_runs()["run_id"]) == ["r1", "r2"]
    assert reader.get_run("r2").run_id == "r2"
    writer.delete_run("r2")
    assert list(reader.list_runs()["run_id"]) == ["r1"]


def test_opening_a_store_another_process_is_writing_says_so(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    RunStore(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="Another process may be writing to it"):
            RunStore(path, read_only=True)
    finally:
        holder.communicate(timeout=30)


def test_a_closed_store_refuses_operations(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.duckdb") as opened:
        opened.save_run(make_record("r1"))

    with pytest.raises(StoreError, match="is closed"):
        opened.list_runs()


def test_fingerprint_file_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    content = b"order_id,qty\n" + b"1,2\n" * 600_000
    path.write_bytes(content)

    assert fingerprint_file(path) == hashlib.sha256(content).hexdigest()


def test_fingerprint_file_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.csv: there is no such file"):
        fingerprint_file(tmp_path / "missing.csv")


def test_fingerprint_frame_depends_on_content_only() -> None:
    frame = tricky_table()
    reference = fingerprint_frame(frame)

    assert re.fullmatch(r"[0-9a-f]{64}", reference)
    assert fingerprint_frame(tricky_table()) == reference
    assert fingerprint_frame(frame.set_axis([10, 11, 12])) == reference
    assert fingerprint_frame(frame.assign(数量=[3, 0, 8])) != reference
    assert fingerprint_frame(frame.rename(columns={"数量": "qty"})) != reference
    assert fingerprint_frame(frame.astype({"数量": "float64"})) != reference
    assert fingerprint_frame(frame.set_index("商品编码")) != reference


def test_fingerprint_frame_of_unhashable_values_says_the_fix() -> None:
    with pytest.raises(InputError, match="Convert columns of lists or dicts to text"):
        fingerprint_frame(pd.DataFrame({"basket": [["a"], ["b"]]}))


def test_new_run_ids_are_timestamped_and_unique() -> None:
    ids = {new_run_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", run_id) for run_id in ids)
