"""The service survives being killed mid-run: the job is marked failed, nothing else is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from test_api import RUN, free_port, sales_csv
from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState
from trendcast.store import RunStore

pytestmark = pytest.mark.slow


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trendcast",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("the server did not come up within 60 s")


def wait_state(client: httpx.Client, run_id: str, states: set[str], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/runs/{run_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never reached {states}")


def test_a_server_killed_mid_run_fails_that_job_resumes_the_queue_and_keeps_earlier_results(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = serve(tmp_path, port)
    _, key = create_key(ServiceState(tmp_path / "service.duckdb"), "analyst")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            dataset_id = c.post(
                "/api/datasets", params={"filename": "s.csv"}, content=sales_csv()
            ).json()["dataset_id"]
            first = c.post("/api/runs", json={"dataset_id": dataset_id, **RUN}).json()["run_id"]
            assert wait_state(c, first, {"succeeded", "failed"})["state"] == "succeeded"
            before = c.get(f"/api/runs/{first}/forecasts", params={"format": "csv"}).text

            second = c.post(
                "/api/runs", json={"dataset_id": dataset_id, **RUN, "model": "auto"}
            ).json()["run_id"]
            wait_state(c, second, {"running"})
            worker_pid = ServiceState(tmp_path / "service.duckdb").job(second)["pid"]
            # one job at a time: this one waits in the queue when the server dies
            third = c.post("/api/runs", json={"dataset_id": dataset_id, **RUN}).json()["run_id"]
            assert c.get(f"/api/runs/{third}").json()["state"] == "queued"
            time.sleep(2)  # well inside the run
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

        server = serve(tmp_path, port)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            job = c.get(f"/api/runs/{second}").json()
            assert job["state"] == "failed"
            assert "server stopped" in job["error"]
            # the orphaned worker was stopped, not left writing
            time.sleep(0.5)
            assert (
                not Path(f"/proc/{worker_pid}").exists()
                or b"Z (zombie)" in Path(f"/proc/{worker_pid}/status").read_bytes()
            )
            assert c.get(f"/api/runs/{first}/forecasts", params={"format": "csv"}).text == before
            assert c.get(f"/api/datasets/{dataset_id}").status_code == 200
            # the queued job starts again and the service goes on working
            assert wait_state(c, third, {"succeeded", "failed"})["state"] == "succeeded"
            # the run store holds the finished runs and nothing of the killed one
            with RunStore(tmp_path / "runs.duckdb", read_only=True) as store:
                assert set(store.list_runs()["run_id"]) == {first, third}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
