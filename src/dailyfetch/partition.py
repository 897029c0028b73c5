"""Process one claimed partition: fetch its pages, write them in batches, commit progress.

The exactly-once argument lives in :meth:`PartitionWorker._flush`: a batch's
rows and the partition's progress (the source state to resume after the batch)
commit in one transaction that also re-checks this worker's claim. A crash at
any point loses at most the uncommitted batch, which the next run fetches again
from the committed progress.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Any

import httpx
import psycopg
import structlog

from dailyfetch import cursor_state, dberrors, jsontext, ledger
from dailyfetch.config import Config
from dailyfetch.errors import RunInterrupted, SourceError
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.python import fetch_python_pages, load_function
from dailyfetch.fetch.rest import fetch_rest_pages, typed_decoding_applies
from dailyfetch.fetch.shape import ShapeSlot, TypedRecords, join_records
from dailyfetch.fetch.source import FetchContext, PageIterator, Record
from dailyfetch.incremental import batch_mark, horizon, since_for
from dailyfetch.load import columns as cols
from dailyfetch.load import locate, shadow, writer
from dailyfetch.plan import Partition, RunPlan
from dailyfetch.redact import clip, redact

log = structlog.get_logger("dailyfetch")
BAD_SAMPLE_SIZE = 5


@dataclass
class BadRecords:
    """Records skipped under ``on_bad_record = "skip"``: a count and a capped sample."""

    count: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: Any, reason: str) -> None:
        """Count one bad record and keep it in the sample while there is room."""
        self.count += 1
        if len(self.sample) < BAD_SAMPLE_SIZE:
            text = clip(_json_text(record), 500)
            self.sample.append({"reason": redact(reason), "record": text})


@dataclass
class PartitionWorker:
    """Everything one worker needs to process partitions of one run."""

    config: Config
    plan: RunPlan
    conn: psycopg.Connection[Any]
    run_id: int
    worker: str
    client: httpx.Client
    control: FetchControl
    url: str
    config_dir: Path | None = None
    finished_run: bool = False
    spec: writer.TableSpec = field(init=False)
    into: str = field(init=False)
    columns: dict[str, str] = field(default_factory=dict)
    since: str | None = None
    share: int = 1  # partition threads in this process: they split the batch memory and the in-flight slots
    _committed: tuple[int, int] = (0, 0)  # (rows, pages) this worker has committed for its partition

    def __post_init__(self) -> None:
        dest = self.config.destination
        self.spec = writer.TableSpec(
            schema=dest.schema_,
            table=dest.table,
            primary_key=list(dest.primary_key),
            mode=dest.write_mode,
            declared=dict(dest.columns),
            sub_day=self.config.job.run_window.sub_day,
        )
        replace = self.spec.mode == "replace"
        self.into = shadow.shadow_name(dest.table, self.run_id) if replace else dest.table

    def process(self, claim: ledger.Claim) -> int:
        """Fetch and commit ``claim``'s partition to the end; return the rows written now."""
        bound = log.bind(job=self.plan.job, date=self.plan.logical_date.isoformat(), partition=claim.key)
        bound.info("partition.started", attempt=claim.attempts, resumed=claim.progress is not None)
        self.control.observer.partition_started(claim.key, claim.rows)
        started = time.monotonic()
        writer.claim_table(self.conn, self.spec, self.plan.job)  # a replace job writes its table alone
        if self.spec.mode == "replace":
            shadow.prepare_shadow(self.conn, self.spec, self.into)
        self.columns = writer.read_fields(self.conn, self.spec, self.into) or {}  # keyed by field
        if self.columns and self.spec.primary_key and self.spec.mode != "append":
            # A plain INSERT first is only safe where the key is enforced (see write_batch).
            self.spec.expect_new = writer.has_unique_key(self.conn, self.spec, self.into)
        self.conn.commit()
        bad = BadRecords()
        rows = 0
        claim = self._with_since(claim)
        self._committed = (claim.rows, claim.pages)
        if claim.progress is not None and claim.progress.get("done"):
            return self._flush([], claim, claim.progress, pages=0, fresh=False, final=True, bad=bad)
        fresh = claim.progress is None
        # Pages decoded typed from the first page's shape on (fetch/shape.py); not under
        # on_bad_record = "skip", which looks at every value of every batch.
        source = self.config.source
        typed = typed_decoding_applies(source) and source.on_bad_record == "fail"
        slot = ShapeSlot(source.records) if typed else None
        parts: list[Sequence[Record]] = []  # the batch so far, a page's records each
        count = 0
        bodies: list[bytes] | None = []  # the raw pages behind ``parts``, while every page has one
        pages, resume = 0, claim.progress or {}
        configured = self.config.destination.batch_size
        batch_size = max(min(configured, 500), configured // self.share)
        # Batches are written in this thread, between pages: the fetch window (``[source]
        # concurrency``) keeps requests in flight meanwhile. A writer thread beside it was
        # slower (W1 6% slower on two CPUs, the GIL passed back and forth between more
        # threads) and held a second batch in memory (+20 MiB); benchmarks/README.md.
        try:
            for page in self._pages(claim, slot):
                parts.append(
                    page.records if slot is None else slot.settle(page.records, page.raw, self._describe)
                )
                count += len(page.records)
                if page.records and bodies is not None:
                    if page.raw is None:
                        bodies = None
                    else:
                        bodies.append(page.raw)
                pages += 1
                resume = page.resume
                self.control.stats.count_page()
                self.control.observer.page_fetched(claim.key, len(page.records))
                if count >= batch_size and not resume.get("done"):
                    batch = join_records(parts)
                    rows += self._flush(
                        batch, claim, resume, pages=pages, fresh=fresh, final=False, bad=bad, bodies=bodies
                    )
                    parts, count, bodies, pages, fresh = [], 0, [], 0, False
                self.control.stop.check()
        except RunInterrupted:
            if count or pages:  # commit what has arrived, so the next run starts after it
                batch = join_records(parts)
                rows += self._flush(batch, claim, resume, pages=pages, fresh=fresh, final=False, bad=bad)
            raise
        rows += self._flush(
            join_records(parts),
            claim,
            {"done": True},
            pages=pages,
            fresh=fresh,
            final=True,
            bad=bad,
            bodies=bodies,
        )
        extra: dict[str, int] = {"bad_records": bad.count} if bad.count else {}
        if slot is not None:
            extra["typed_pages"] = slot.typed_pages
        bound.info("partition.done", rows=rows, seconds=round(time.monotonic() - started, 3), **extra)
        return rows

    def _with_since(self, claim: ledger.Claim) -> ledger.Claim:
        """For incremental jobs: the ``since`` this partition asks for, kept across resumes."""
        inc = self.config.source.incremental
        if inc is None:
            return claim
        progress = dict(claim.progress) if claim.progress is not None else None
        if progress is not None and "since" in progress:
            self.since = str(progress.pop("since"))
        else:
            mark = cursor_state.read_mark(self.conn, self.plan.job, claim.key)
            self.since = since_for(inc, mark, partition=claim.key, latest=horizon(self.plan))
            self.conn.commit()
        log.info("incremental.since", partition=claim.key, since=self.since, cursor=inc.cursor)
        return replace(claim, progress=progress or None)

    def _describe(self, records: Sequence[Record]) -> tuple[list[str], dict[str, str | None]]:
        return cols.describe(records, self.columns, self.spec.declared)

    def _pages(self, claim: ledger.Claim, slot: ShapeSlot | None = None) -> PageIterator:
        variables = self.plan.variables(Partition(dict(claim.values)))
        source = self.config.source
        extra: dict[str, Any] = {}
        if source.incremental is not None:
            variables["since"] = self.since
            if source.incremental.param:
                extra[source.incremental.param] = self.since
        if source.kind == "rest":
            return fetch_rest_pages(
                source,
                self.client,
                variables,
                claim.progress,
                control=self.control,
                extra_params=extra,
                window=max(1, source.concurrency // self.share),
                shape=slot,
                key=self.config.destination.primary_key,
            )
        assert source.function is not None
        function = load_function(source.function, self.config_dir)
        ctx = FetchContext(
            date=self.plan.logical_date,
            partition=dict(claim.values),
            client=self.client,
            variables=variables,
            log=log.bind(job=self.plan.job, partition=claim.key),
            since=self.since,
        )
        return fetch_python_pages(function, ctx, claim.progress)

    def _screen(self, buffer: Sequence[Record], bad: BadRecords) -> Sequence[Record]:
        """Drop (``skip``) or reject (``fail``) records that are not objects or lack their key."""
        keys = self.spec.primary_key
        if isinstance(buffer, TypedRecords):
            if buffer.has_values(keys):
                return buffer  # objects by construction; keys checked column by column
        elif set(map(type, buffer)) <= {dict} and not any(
            None in map(dict.get, buffer, repeat(key)) for key in keys
        ):
            return buffer  # the common case, checked at C speed
        skip = self.config.source.on_bad_record == "skip"
        good: list[Record] = []
        for index, record in enumerate(buffer):
            problem = None
            if not isinstance(record, dict):
                problem = f"a {type(record).__name__}, not a JSON object"
            elif keys and any(record.get(k) is None for k in keys):
                missing = [k for k in keys if record.get(k) is None]
                problem = f"no value for primary key field(s) {', '.join(map(repr, missing))}"
            if problem is None:
                good.append(record)
            elif skip:
                bad.add(record, problem)
                log.warning("record.skipped", reason=problem, job=self.plan.job)
            else:
                raise SourceError(
                    f"bad record #{index + 1} of the batch: {problem}",
                    hint="set [source] on_bad_record = 'skip' to skip such records",
                )
        return good

    def _raw_pages(self, bodies: list[bytes] | None, intact: bool) -> writer.RawPages | None:
        """The raw bodies to send as they came, when they hold exactly the batch (nothing skipped or merged away)."""
        path = self.config.source.records
        parts = path.split(".") if path else []
        if not bodies or not intact or any(p.lstrip("-").isdigit() and p.startswith("-") for p in parts):
            return None
        return writer.RawPages(bodies, parts)

    def _locate(
        self, records: Sequence[Record], names: list[str], tags: writer.AppendTags | None
    ) -> cols.BadValueError | None:
        """Name the record and column PostgreSQL refused (e.g. a bad timestamp in a timestamptz column)."""
        found = locate.locate_bad_record(
            self.conn, self.spec, self.into, records, self.columns, names, tags=tags
        )
        if found is None:
            return None
        index, column, message = found
        key = cols.describe_key(records[index], self.spec.primary_key, index)
        return cols.BadValueError(
            f"column {column!r} ({self.columns[column]}) cannot store the value in row {key}: {redact(message)}",
            index=index,
            hint="fix the source or declare another type in [destination.columns]",
        )

    def _skip_unstorable(self, records: Sequence[Record], bad: BadRecords) -> Sequence[Record]:
        """Under ``skip``, drop records holding a value their column cannot store."""
        while True:
            error = cols.find_bad_value(records, self.columns, self.spec.primary_key)
            if error is None:
                return records
            index = error.index
            bad.add(records[index], str(error))
            log.warning("record.skipped", reason=str(error), job=self.plan.job)
            records = [*records[:index], *records[index + 1 :]]

    def _flush(
        self,
        buffer: Sequence[Record],
        claim: ledger.Claim,
        resume: dict[str, Any],
        *,
        pages: int,
        fresh: bool,
        final: bool,
        bad: BadRecords,
        bodies: list[bytes] | None = None,
    ) -> int:
        spec = self.spec
        records = self._screen(buffer, bad)
        if spec.primary_key:
            latest = records.latest_by_key(spec.primary_key) if isinstance(records, TypedRecords) else None
            records = latest if latest is not None else writer.dedupe(list(records), spec.primary_key)
        values: cols.Columns | None
        if isinstance(records, TypedRecords):
            values, observed = records.columns(), records.observed()
        else:
            values = cols.field_values(records)
            observed = cols.observe(records, values)
        unready = writer.bookkeeping_missing(spec, self.columns, len(records))  # append: no or an old table
        if unready or any(
            name not in self.columns for name, types in observed.items() if cols.infer_type(types)
        ):
            self.columns = writer.prepare_table(self.conn, spec, self.into, observed, records)
        if self.config.source.on_bad_record == "skip":
            records = self._skip_unstorable(records, bad)
            values = cols.field_values(records)
            observed = cols.observe(records, values)
        names = [n for n in observed if n in self.columns]
        writer.check_values(records, observed, self.columns, spec.primary_key)
        raw = self._raw_pages(bodies, len(records) == len(buffer))
        lease = self.config.job.lease_seconds
        inc = self.config.source.incremental
        mark = None  # checked before the transaction: a poisoned cursor fails the batch unwritten
        if inc is not None:
            mark = batch_mark(_field_of(records, inc.cursor), inc, latest=horizon(self.plan),
                              key_of=lambda i: cols.describe_key(records[i], spec.primary_key, i))  # fmt: skip
        try:
            with self.conn.transaction():
                tags = None
                if spec.mode == "append":
                    start = self.plan.start_wall if spec.window_column else None
                    tags = writer.AppendTags(self.plan.logical_date, claim.key, start, job=self.plan.job)
                    if fresh:
                        writer.delete_partition_rows(self.conn, spec, self.into, tags)
                if fresh:
                    ledger.reset_partition_rows(self.conn, self.run_id, claim.key)
                before = (0, 0) if fresh else self._committed
                written = writer.write_batch(
                    self.conn,
                    spec,
                    self.into,
                    records,
                    self.columns,
                    names,
                    tags=tags,
                    pages=raw,
                    by_field=values,
                )
                if inc is not None:
                    cursor_state.record_pending(self.conn, self.plan.job, claim.key, mark, inc)
                    if final:
                        cursor_state.promote(self.conn, self.plan.job, claim.key, f"run {self.run_id}", inc)
                    resume = {**resume, "since": self.since}
                ledger.save_progress(
                    self.conn, self.run_id, claim.key, self.worker, resume,
                    rows=written, pages=pages, lease_seconds=lease, bad=bad.count, bad_sample=bad.sample,
                    expect=before,
                    # Rows and progress commit together, so a batch lost to a database crash is
                    # lost whole and refetched from the durable progress; the final commit is
                    # synchronous and makes every earlier one durable with it.
                    asynchronous_commit=not final,
                )  # fmt: skip
                bad.count, bad.sample = 0, []
                if final:
                    ledger.lock_run(self.conn, self.run_id)
                    if ledger.complete_partition(self.conn, self.run_id, claim.key, self.worker):
                        if spec.mode == "replace":
                            shadow.swap_in(self.conn, spec, self.into)
                            stale = ledger.other_generations(self.conn, self.run_id)
                            shadow.drop_tables(
                                self.conn, spec, [shadow.shadow_name(spec.table, r) for r in stale]
                            )
                        ledger.finish_run(self.conn, self.run_id)
                        self.finished_run = True
        except psycopg.errors.DataError as exc:
            found = cols.find_bad_value(records, self.columns, spec.primary_key) or self._locate(
                records, names, tags
            )
            if found is not None and self.config.source.on_bad_record == "skip":
                bad.add(records[found.index], str(found))
                log.warning("record.skipped", reason=redact(str(found)), job=self.plan.job)
                rest = [*records[: found.index], *records[found.index + 1 :]]
                return self._flush(rest, claim, resume, pages=pages, fresh=fresh, final=final, bad=bad)
            raise found or dberrors.translate(
                exc, where=f"cannot write to {spec.schema}.{self.into}"
            ) from None
        except (
            psycopg.Error
        ) as exc:  # by SQLSTATE: reconnect, retry, interrupted by the deadline, or permanent
            where = f"cannot write to {spec.schema}.{self.into}"
            if exc.sqlstate in dberrors.ROW_LIMITS:  # one row over a limit (a btree index row): name its key
                at = dberrors.refused_row(self.conn, records, type(exc), lambda part: writer.write_batch(
                    self.conn, spec, self.into, part, self.columns, names, tags=tags))  # fmt: skip
                where += "" if at is None else f": row {cols.describe_key(records[at], spec.primary_key, at)}"
            raise dberrors.translate(exc, where=where, stop=self.control.stop, conn=self.conn) from None
        self._committed = (before[0] + written, before[1] + pages)
        self.control.observer.batch_committed(claim.key, written)
        log.debug("batch.committed", partition=claim.key, rows=written, final=final)
        return written


def _field_of(records: Sequence[Record], name: str) -> Sequence[Any]:
    """Every record's value of field ``name`` (``None`` where it has none)."""
    if isinstance(records, TypedRecords):
        return records.column(name) if name in records.shape.attr_of else []
    return [record.get(name) for record in records]


def _json_text(record: Any) -> str:
    """A bad record as JSON text for its sample: exact, or (a value JSON cannot hold) its repr."""
    try:
        return jsontext.dumps(record).decode()
    except (TypeError, ValueError):
        return repr(record)
