"""The service's state in PostgreSQL (``--database-url``) instead of its DuckDB file."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_api import RUN, bearer, free_port, sales_csv, wait_for
from trendcast.api import ServiceConfig, create_app
from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState, open_state
from trendcast.exceptions import ConfigError

pytestmark = pytest.mark.slow

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free port, for this module."""
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    if not BIN:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    # not under pytest's temporary folder, which another user cannot enter
    base = Path(tempfile.mkdtemp(prefix="trendcast-pg-"))
    data = base / "data"
    # PostgreSQL refuses to run as root: run it as the postgres user then
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    subprocess.run(
        [*as_user, f"{BIN[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *as_user,
            f"{BIN[-1]}/postgres",
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql://postgres:secret@127.0.0.1:{port}/postgres"
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(url, connect_timeout=1).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(base, ignore_errors=True)


def test_keys_datasets_and_jobs_round_trip_through_postgres(database_url: str) -> None:
    state = ServiceState(database_url)
    key_id, key = create_key(state, "analyst", "pg")
    assert state.key(key_id)["role"] == "analyst"
    assert key not in str(state.keys())
    state.add_job("j1", "run", "d1", {"horizon": 7}, key_id)
    state.update_job("j1", state="running", pid=123)
    job = state.job("j1")
    assert job["state"] == "running" and job["params"] == {"horizon": 7} and job["pid"] == 123
    assert state.revoke_key(key_id) and not state.revoke_key(key_id)
    assert state.stamp() is None
    assert "secret" not in state.where and "***" in state.where


def test_a_database_url_must_be_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        open_state(tmp_path, "mysql://x@y/z")


def test_the_service_runs_with_its_state_in_postgres(database_url: str, tmp_path: Path) -> None:
    app = create_app(ServiceConfig(data_dir=tmp_path, database_url=database_url))
    _, key = create_key(ServiceState(database_url), "analyst")
    with TestClient(app) as c:
        up = c.post(
            "/api/datasets", params={"filename": "s.csv"}, content=sales_csv(), headers=bearer(key)
        )
        assert up.status_code == 201, up.text
        run = c.post(
            "/api/runs", json={"dataset_id": up.json()["dataset_id"], **RUN}, headers=bearer(key)
        )
        assert wait_for(c, run.json()["run_id"], bearer(key))["state"] == "succeeded"
        rows = c.get(
            "/api/runs/latest/forecasts", params={"product": "SKU2"}, headers=bearer(key)
        ).json()["rows"]
        assert len(rows) == RUN["horizon"]
    assert not (tmp_path / "service.duckdb").exists()
