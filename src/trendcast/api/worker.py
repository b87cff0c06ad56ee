"""A job's own process: ``python -m trendcast.api.worker JOB_DIR``.

The server writes ``job.json`` (the job's kind, dataset file, column mapping and
parameters) into the job's folder and starts this process. It runs the library, and
reports only through files in that folder, each replaced atomically:

- ``progress.json``: the fraction done and the current step, for the dashboard;
- ``log.txt``: one timestamped line per step;
- ``result.json``: at the end, the run id or the error.

The run itself goes into ``runs.duckdb`` through the ordinary run store, which keeps
earlier runs intact when a job fails or is killed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trendcast.data.columns import ColumnMap

__all__ = ["JobProgress", "run_job"]

# fraction of a run job done when the pipeline reports a step that starts with each phrase
_RUN_STEPS = (
    ("reading and cleaning", 0.02),
    ("prepared", 0.10),
    ("backtest", 0.15),
    ("forecasting", 0.60),
    ("looking for alerts", 0.70),
    ("planning", 0.72),
    ("writing the report", 0.75),
)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``payload`` as JSON."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, default=str), encoding="utf-8")
    os.replace(tmp, path)


class JobProgress:
    """The pipeline's progress callback: a log line and a progress file per step."""

    def __init__(self, folder: Path, steps: tuple[tuple[str, float], ...] = _RUN_STEPS) -> None:
        self.folder = folder
        self.steps = steps
        self.started = time.perf_counter()
        self.fraction = 0.0

    def __call__(self, message: str) -> None:
        for phrase, fraction in self.steps:
            if message.startswith(phrase):
                self.fraction = max(self.fraction, fraction)
        if message.startswith("backtest "):
            # each finished model moves the bar inside the backtest's share
            self.fraction = min(max(self.fraction, 0.15) + 0.05, 0.58)
        self.report(message)

    def report(self, message: str, fraction: float | None = None) -> None:
        if fraction is not None:
            self.fraction = fraction
        elapsed = time.perf_counter() - self.started
        with open(self.folder / "log.txt", "a", encoding="utf-8") as log:
            log.write(f"[{elapsed:7.1f}s] {message}\n")
        write_json(
            self.folder / "progress.json",
            {"fraction": round(self.fraction, 3), "step": message, "elapsed_s": round(elapsed, 1)},
        )


def column_map(named: dict[str, Any]) -> ColumnMap | None:
    """The columns an uploader named, as a ColumnMap; load_sales detects the rest by name."""
    from trendcast.data.columns import ColumnMap

    mapping: dict[str, Any] = {k: tuple(v) if k == "id_cols" else v for k, v in named.items()}
    return ColumnMap(**mapping) if mapping else None


def run_job(folder: Path) -> dict[str, Any]:
    """Run the job described in ``folder/job.json``; return what goes into ``result.json``."""
    spec = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    params: dict[str, Any] = spec["params"]
    say = JobProgress(folder)
    say.report(f"started {spec['kind']} on dataset {spec['dataset_id']}", 0.01)
    columns = column_map(spec["columns"])
    common = {
        "freq": spec["options"].get("freq"),
        "mode": spec["options"].get("mode", "auto"),
    }
    if spec["kind"] == "run":
        from trendcast.pipeline import run

        result = run(
            spec["input"],
            columns,
            out_dir=folder / "out",
            store_path=spec["store"],
            horizon=params["horizon"],
            windows=params["windows"],
            model=params["model"],
            n_jobs=params["jobs"],
            time_budget=params.get("time_budget"),
            lead_time=params.get("lead_time"),
            review_period=params.get("review_period", 1),
            service_level=params.get("service_level", 0.95),
            title=f"trendcast: {spec['dataset_name']}",
            progress=say,
            run_id=spec["run_id"],
            **common,
        )
        run_id = result.run_id
    else:
        from trendcast.pipeline import backtest, load_sales, record

        say.report("reading and cleaning the input", 0.02)
        data = load_sales(
            spec["input"],
            columns,
            **common,
        )
        say.report(f"prepared {data.n_series:,} series", 0.10)
        bt = backtest(
            data,
            horizon=params["horizon"],
            windows=params["windows"],
            models=list(dict.fromkeys([params["model"], "seasonal_naive"])),
            n_jobs=params["jobs"],
            progress=say,
            time_budget=params.get("time_budget"),
        )
        run_id = record(
            spec["store"],
            "backtest",
            data,
            {"horizon": params["horizon"], "windows": params["windows"], "model": params["model"]},
            {"leaderboard": bt.leaderboard, "metrics": bt.per_series, "backtest": bt.backtest},
            run_id=spec["run_id"],
        )
    say.report("finished", 1.0)
    return {"state": "succeeded", "run_id": run_id}


def main(argv: list[str] | None = None) -> int:
    from trendcast.exceptions import TrendcastError

    folder = Path((argv or sys.argv[1:])[0])
    try:
        outcome = run_job(folder)
    except TrendcastError as exc:
        outcome = {"state": "failed", "error": str(exc)}
    except Exception as exc:  # a bug: keep the traceback in the job's log, not in the API
        with open(folder / "log.txt", "a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        outcome = {
            "state": "failed",
            "error": f"internal error ({type(exc).__name__}); see the log",
        }
    write_json(folder / "result.json", outcome)
    return 0 if outcome["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
