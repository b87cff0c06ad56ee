"""The run store: every pipeline run, its configuration and result tables, in DuckDB."""

from trendcast.store.duckdb_store import (
    RUN_KINDS,
    RUN_STATUSES,
    ParquetTable,
    RunRecord,
    RunStore,
    fingerprint_file,
    fingerprint_frame,
    new_run_id,
)

__all__ = [
    "RUN_KINDS",
    "RUN_STATUSES",
    "ParquetTable",
    "RunRecord",
    "RunStore",
    "fingerprint_file",
    "fingerprint_frame",
    "new_run_id",
]
