"""CloudWatch Embedded Metric Format: one JSON line on stdout per finished run.

CloudWatch Logs turns these lines into metrics with no API call and no IAM
permission. The missed-run alarm in ``infra/alerts.tf`` watches
``RunSucceeded``; the names below are the single source of truth for both.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import orjson

NAMESPACE = "dailyfetch"
DIMENSION = "job"
RUN_SUCCEEDED = "RunSucceeded"
RUN_FAILED = "RunFailed"
ROWS_WRITTEN = "RowsWritten"
DURATION_SECONDS = "DurationSeconds"
PARTITIONS_DONE = "PartitionsDone"
HTTP_REQUESTS = "HttpRequests"
HTTP_RETRIES = "HttpRetries"
HTTP_429 = "Http429"
NOTIFICATIONS_FAILED = "NotificationsFailed"

_UNITS = {
    RUN_SUCCEEDED: "Count",
    RUN_FAILED: "Count",
    ROWS_WRITTEN: "Count",
    DURATION_SECONDS: "Seconds",
    PARTITIONS_DONE: "Count",
    HTTP_REQUESTS: "Count",
    HTTP_RETRIES: "Count",
    HTTP_429: "Count",
    NOTIFICATIONS_FAILED: "Count",
}


def emf_line(job: str, values: dict[str, float], *, now_ms: int | None = None) -> bytes:
    """One EMF document declaring ``values`` under namespace ``dailyfetch``, dimension ``job``."""
    document = {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": _UNITS.get(name, "None")} for name in values],
                }
            ],
        },
        DIMENSION: job,
        **values,
    }
    return orjson.dumps(document)


def emit_run_metrics(
    job: str,
    *,
    succeeded: bool,
    rows: int,
    duration: float,
    partitions_done: int,
    extra: dict[str, float] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Write the end-of-run EMF line to stdout."""
    values: dict[str, float] = {
        RUN_SUCCEEDED: 1 if succeeded else 0,
        RUN_FAILED: 0 if succeeded else 1,
        ROWS_WRITTEN: rows,
        DURATION_SECONDS: round(duration, 3),
        PARTITIONS_DONE: partitions_done,
        **(extra or {}),
    }
    out = stream or sys.stdout
    out.write(emf_line(job, values).decode() + "\n")
    out.flush()
