"""Background jobs: each run or backtest in its own worker process, outside the request path.

:class:`JobManager` keeps a queue in the service state. A supervisor thread starts queued
jobs while fewer than ``max_jobs`` run, notices when a worker ends and records how it
ended. Each worker is started in its own session so that cancelling a job stops the job's
whole process tree and nothing else.

When the server starts, any job the state still calls ``running`` belonged to a server
that was killed: its worker (if still alive) is stopped and the job is marked failed, with
nothing of it in the run store, because a run is written there in one transaction at its
end. Queued jobs are started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trendcast.api.state import FINISHED, ServiceState, utc_now
from trendcast.api.worker import write_json
from trendcast.exceptions import ConfigError

__all__ = ["JOB_KINDS", "JobManager"]

JOB_KINDS = ("run", "backtest")
_KILLED = "The server stopped while this job ran; nothing of it was saved. Start it again."


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    cancelled: bool = False


class JobManager:
    """Start, watch and cancel the worker processes of one service data directory."""

    def __init__(
        self,
        state: ServiceState,
        data_dir: Path,
        max_jobs: int = 1,
        poll_seconds: float = 0.25,
    ) -> None:
        self.state = state
        self.jobs_dir = data_dir / "jobs"
        self.store_path = data_dir / "runs.duckdb"
        self.max_jobs = max_jobs
        self.poll_seconds = poll_seconds
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Settle the jobs a killed server left behind, then start the supervisor."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        for job in self.state.jobs(state="running", limit=10_000):
            _stop_orphan(job.get("pid"), self.jobs_dir / job["job_id"])
            self.state.update_job(
                job["job_id"], state="failed", error=_KILLED, finished_at=utc_now(), pid=None
            )
        self._thread = threading.Thread(target=self._supervise, name="trendcast-jobs", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the supervisor and every running worker; their jobs are marked failed."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            running = dict(self._running)
            self._running.clear()
        for job_id, entry in running.items():
            _kill_tree(entry.process)
            self.state.update_job(
                job_id,
                state="failed",
                error="The server shut down while this job ran. Start it again.",
                finished_at=utc_now(),
                pid=None,
            )

    # -- requests -----------------------------------------------------------------------------

    def submit(
        self,
        job_id: str,
        kind: str,
        dataset: dict[str, Any],
        params: dict[str, Any],
        created_by: str,
    ) -> None:
        """Queue a job on ``dataset`` (a row of the datasets table)."""
        if kind not in JOB_KINDS:
            raise ConfigError(f"Unknown job kind {kind!r}; use one of {list(JOB_KINDS)}.")
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True)
        write_json(
            folder / "job.json",
            {
                "kind": kind,
                "dataset_id": dataset["dataset_id"],
                "dataset_name": dataset["name"],
                "input": dataset["stored_as"],
                "columns": dataset["columns"],
                "options": dataset["options"],
                "params": params,
                "store": str(self.store_path),
                "run_id": job_id,
            },
        )
        self.state.add_job(job_id, kind, dataset["dataset_id"], params, created_by)
        self._wake.set()

    def cancel(self, job_id: str) -> str:
        """Cancel a queued or running job; returns its state afterwards."""
        job = self.state.job(job_id)
        if job is None:
            raise KeyError(job_id)
        if job["state"] in FINISHED:
            return str(job["state"])
        with self._lock:
            entry = self._running.get(job_id)
            if entry is not None:
                entry.cancelled = True
        if entry is not None:
            _kill_tree(entry.process)
        self.state.update_job(job_id, state="cancelled", finished_at=utc_now(), pid=None)
        self._wake.set()
        return "cancelled"

    def progress(self, job_id: str) -> dict[str, Any]:
        """The worker's last progress report (empty before it starts)."""
        path = self.jobs_dir / job_id / "progress.json"
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def log(self, job_id: str, tail: int = 200) -> list[str]:
        path = self.jobs_dir / job_id / "log.txt"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return lines[-tail:]

    def output_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / "out"

    # -- supervision --------------------------------------------------------------------------

    def _supervise(self) -> None:
        # the queue is read from the state only when it may have changed (a job was submitted
        # or cancelled, one ended, or the manager started): opening the file costs tens of ms
        check_queue = True
        while not self._stop.is_set():
            try:
                if self._reap():
                    check_queue = True
                if check_queue:
                    self._launch()
                    check_queue = False
            except Exception as exc:  # keep supervising; the state will be retried
                print(f"trendcast jobs: {type(exc).__name__}: {exc}", file=sys.stderr)
                check_queue = True
            if self._wake.wait(self.poll_seconds):
                self._wake.clear()
                check_queue = True

    def _reap(self) -> bool:
        """Record the jobs whose worker ended; whether there were any."""
        with self._lock:
            ended = {j: e for j, e in self._running.items() if e.process.poll() is not None}
            for job_id in ended:
                del self._running[job_id]
        for job_id, entry in ended.items():
            if entry.cancelled:
                continue
            outcome = _read_result(self.jobs_dir / job_id / "result.json")
            if outcome is None:
                outcome = {
                    "state": "failed",
                    "error": f"The worker ended (exit code {entry.process.returncode}) without "
                    "a result; see the job's log.",
                }
            self.state.update_job(
                job_id,
                state=outcome["state"],
                run_id=outcome.get("run_id"),
                error=outcome.get("error"),
                finished_at=utc_now(),
                pid=None,
            )
        return bool(ended)

    def _launch(self) -> None:
        with self._lock:
            free = self.max_jobs - len(self._running)
        if free <= 0:
            return
        for job in self.state.jobs(state="queued", limit=free):
            folder = self.jobs_dir / job["job_id"]
            with open(folder / "worker.out", "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "trendcast.api.worker", str(folder)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            with self._lock:
                self._running[job["job_id"]] = _Running(process)
            self.state.update_job(
                job["job_id"], state="running", started_at=utc_now(), pid=process.pid
            )


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker and its children (they share its session's process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _stop_orphan(pid: int | None, folder: Path) -> None:
    """Stop a worker left running by a killed server, if ``pid`` is still that worker."""
    if not pid:
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return
    if b"trendcast.api.worker" in cmdline and str(folder).encode() in cmdline:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
