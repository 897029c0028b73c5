"""Unit tests for the CloudWatch Embedded Metric Format lines a run writes to stdout."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from dailyfetch import metrics

# The units CloudWatch accepts in an EMF MetricDefinition.
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
    "Count/Second", "None",
}  # fmt: skip
RUN_METRICS = {"RunSucceeded", "RunFailed", "RowsWritten", "DurationSeconds", "PartitionsDone"}
HTTP_METRICS = {"HttpRequests", "HttpRetries", "Http429"}


def _emit(**kwargs: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    defaults: dict[str, Any] = {"succeeded": True, "rows": 1234, "duration": 12.34567, "partitions_done": 3}
    metrics.emit_run_metrics("orders", **{**defaults, **kwargs}, stream=out)
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def assert_valid_emf(doc: dict[str, Any]) -> set[str]:
    """Check one EMF document against the specification; return the metric names it declares."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int)
    directives = aws["CloudWatchMetrics"]
    assert len(directives) == 1
    directive = directives[0]
    assert directive["Namespace"] == "dailyfetch"
    assert directive["Dimensions"] == [["job"]]
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(doc[dimension], str), f"dimension {dimension} needs a string value"
    names = [m["Name"] for m in directive["Metrics"]]
    assert len(names) == len(set(names)), "a metric is declared twice"
    assert 1 <= len(names) <= 100
    for definition in directive["Metrics"]:
        assert definition["Unit"] in CLOUDWATCH_UNITS, definition
        value = doc[definition["Name"]]
        assert isinstance(value, int | float) and not isinstance(value, bool), definition["Name"]
    undeclared = {k for k, v in doc.items() if isinstance(v, int | float) and k not in names}
    assert not undeclared, f"numeric members not declared as metrics: {undeclared}"
    return set(names)


def test_run_line_is_one_json_object_that_declares_every_metric() -> None:
    """A finished run writes one JSON line whose every number is a declared metric."""
    (doc,) = _emit()
    assert assert_valid_emf(doc) == RUN_METRICS
    assert doc["job"] == "orders"


def test_succeeded_and_failed_runs_set_the_counters() -> None:
    """RunSucceeded/RunFailed are 1/0 for a success and 0/1 for a failure."""
    (ok,) = _emit(succeeded=True)
    (bad,) = _emit(succeeded=False)
    assert (ok["RunSucceeded"], ok["RunFailed"]) == (1, 0)
    assert (bad["RunSucceeded"], bad["RunFailed"]) == (0, 1)


def test_values_and_units() -> None:
    """Rows, partitions and the rounded duration are written with Count and Seconds units."""
    (doc,) = _emit(rows=42, duration=1.23456, partitions_done=7)
    assert (doc["RowsWritten"], doc["PartitionsDone"], doc["DurationSeconds"]) == (42, 7, 1.235)
    units = {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["DurationSeconds"] == "Seconds"
    assert units["RowsWritten"] == units["RunSucceeded"] == "Count"


def test_http_counters_are_declared_when_carried() -> None:
    """HttpRequests, HttpRetries and Http429 ride on the run line, declared as counts."""
    extra = {name: n for n, name in enumerate(sorted(HTTP_METRICS), start=1)}
    (doc,) = _emit(extra=extra)
    assert assert_valid_emf(doc) == RUN_METRICS | HTTP_METRICS
    units = {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert all(units[name] == "Count" for name in HTTP_METRICS)


def test_http_metric_names_match_the_module_constants() -> None:
    """The HTTP metric names the alarms use are the ones metrics.py exports."""
    names = {getattr(metrics, attr, None) for attr in ("HTTP_REQUESTS", "HTTP_RETRIES", "HTTP_429")}
    if None in names:
        pytest.skip("metrics.py does not export the HTTP metric names yet")
    assert names == HTTP_METRICS


def test_timestamp_is_now_in_milliseconds() -> None:
    """The timestamp is epoch milliseconds, close to now."""
    (doc,) = _emit()
    assert abs(doc["_aws"]["Timestamp"] - time.time() * 1000) < 60_000


def test_emf_line_with_a_fixed_time_and_any_metric() -> None:
    """emf_line declares whatever it carries; unknown names get the unit None."""
    doc = json.loads(metrics.emf_line("job-1", {"SomethingElse": 2}, now_ms=1_700_000_000_000))
    assert assert_valid_emf(doc) == {"SomethingElse"}
    assert doc["_aws"]["Timestamp"] == 1_700_000_000_000
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "SomethingElse", "Unit": "None"}]


@pytest.mark.parametrize("job", ['quotes"and\\slashes', "ünïcödé-東京", "a.b-c_d"])
def test_job_names_are_escaped_into_valid_json(job: str) -> None:
    """Any job name survives as the dimension value of a parseable line."""
    doc = json.loads(metrics.emf_line(job, {"RunSucceeded": 1}))
    assert doc["job"] == job
    assert_valid_emf(doc)


def test_emit_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream the line goes to stdout, where CloudWatch Logs picks it up."""
    metrics.emit_run_metrics("orders", succeeded=True, rows=1, duration=0.5, partitions_done=1)
    out = capsys.readouterr()
    assert out.err == ""
    assert assert_valid_emf(json.loads(out.out)) == RUN_METRICS
