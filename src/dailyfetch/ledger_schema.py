"""The ledger's schema in PostgreSQL (schema ``dailyfetch``): create it, or upgrade it in place.

``dailyfetch.meta`` holds the schema version. :func:`ensure_ledger` is idempotent and
safe under concurrency: every statement is ``IF NOT EXISTS``-style, and an upgrade runs
in one transaction under a transaction-level advisory lock (no session state, so it
works behind PgBouncer).
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

__all__ = ["SCHEMA_VERSION", "ensure_ledger"]

Connection = psycopg.Connection[Any]

SCHEMA_VERSION = 5
_META = """
CREATE SCHEMA IF NOT EXISTS dailyfetch;
CREATE TABLE IF NOT EXISTS dailyfetch.meta (version int NOT NULL);
"""
_DDL = """
CREATE TABLE IF NOT EXISTS dailyfetch.runs (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    logical_date date NOT NULL,
    logical_time timestamp NOT NULL,
    generation int NOT NULL DEFAULT 1,
    status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    rows bigint NOT NULL DEFAULT 0,
    attempts int NOT NULL DEFAULT 0,
    partitions int NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    error_class text,
    error text
);
CREATE INDEX IF NOT EXISTS runs_job_started ON dailyfetch.runs (job, started_at DESC);
CREATE TABLE IF NOT EXISTS dailyfetch.partitions (
    run_id bigint NOT NULL REFERENCES dailyfetch.runs (id) ON DELETE CASCADE,
    key text NOT NULL,
    vars jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'interrupted')),
    rows bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0,
    progress jsonb,
    attempts int NOT NULL DEFAULT 0,
    claimed_by text,
    lease_until timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz,
    error_class text,
    error text,
    PRIMARY KEY (run_id, key)
);
ALTER TABLE dailyfetch.partitions
    ADD COLUMN IF NOT EXISTS bad_records bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS bad_sample jsonb;
CREATE TABLE IF NOT EXISTS dailyfetch.cursors (
    job text NOT NULL,
    partition text NOT NULL,
    value text,
    pending text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    set_by text,
    PRIMARY KEY (job, partition)
);
CREATE TABLE IF NOT EXISTS dailyfetch.cursor_changes (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    partition text NOT NULL,
    old_value text,
    new_value text,
    set_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
-- Version 5: the columns whose name is not their field's (dailyfetch.load.names); field as JSON text.
CREATE TABLE IF NOT EXISTS dailyfetch.column_names (
    schema text NOT NULL,
    "table" text NOT NULL,
    "column" text NOT NULL,
    field text NOT NULL,
    PRIMARY KEY (schema, "table", "column")
);
-- Version 5: the jobs writing each destination table, so a replace job can refuse to share one.
CREATE TABLE IF NOT EXISTS dailyfetch.destinations (
    schema text NOT NULL,
    "table" text NOT NULL,
    job text NOT NULL,
    mode text NOT NULL,
    PRIMARY KEY (schema, "table", job)
);
"""

# Version 4: a run is identified by its window start, ``logical_time`` (local wall time;
# midnight of ``logical_date`` for daily jobs), so hour windows get a run each. In place
# from version 3: existing rows get midnight of their date; uniqueness moves from
# ``(job, logical_date, generation)`` to ``(job, logical_time, generation)``. A trigger
# fills whichever of the two columns an insert leaves out, so rows written by version 3
# code (``logical_date`` only) still land, as daily runs.
_V4 = """
ALTER TABLE dailyfetch.runs ADD COLUMN IF NOT EXISTS logical_time timestamp;
UPDATE dailyfetch.runs SET logical_time = logical_date WHERE logical_time IS NULL;
ALTER TABLE dailyfetch.runs ALTER COLUMN logical_time SET NOT NULL;
ALTER TABLE dailyfetch.runs DROP CONSTRAINT IF EXISTS runs_job_logical_date_generation_key;
CREATE UNIQUE INDEX IF NOT EXISTS runs_job_logical_time_generation
    ON dailyfetch.runs (job, logical_time, generation);
CREATE INDEX IF NOT EXISTS runs_job_logical_date ON dailyfetch.runs (job, logical_date);
CREATE OR REPLACE FUNCTION dailyfetch.fill_logical_time() RETURNS trigger LANGUAGE plpgsql AS $fill$
BEGIN
    NEW.logical_time := coalesce(NEW.logical_time, NEW.logical_date::timestamp);
    NEW.logical_date := coalesce(NEW.logical_date, NEW.logical_time::date);
    RETURN NEW;
END
$fill$;
DROP TRIGGER IF EXISTS runs_fill_logical_time ON dailyfetch.runs;
CREATE TRIGGER runs_fill_logical_time BEFORE INSERT ON dailyfetch.runs
    FOR EACH ROW EXECUTE FUNCTION dailyfetch.fill_logical_time();
"""


# Tables dropped by hand: the next ensure_ledger recreates them. A ``runs`` dropped with
# CASCADE takes the partitions' foreign key with it; its rows then belong to no run, and a
# new run (numbered from 1 again) would inherit them, its partitions already 'succeeded'.
# So such orphans are deleted and the key restored.
_REPAIR = """
DO $repair$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint
                   WHERE conrelid = 'dailyfetch.partitions'::regclass AND contype = 'f') THEN
        DELETE FROM dailyfetch.partitions p WHERE NOT EXISTS (SELECT FROM dailyfetch.runs r WHERE r.id = p.run_id);
        ALTER TABLE dailyfetch.partitions ADD CONSTRAINT partitions_run_id_fkey
            FOREIGN KEY (run_id) REFERENCES dailyfetch.runs (id) ON DELETE CASCADE;
    END IF;
END $repair$;
"""
_STEPS = (_DDL, _V4, _REPAIR)
TABLES = ("dailyfetch.meta", *re.findall(r"CREATE TABLE IF NOT EXISTS ([\w.]+)", "".join(_STEPS)))


def ensure_ledger(conn: Connection) -> None:
    """Create, upgrade or repair the ledger schema (idempotent, safe under concurrency).

    The common case costs two lookups: every table is there and the version is current.
    A table dropped by hand is recreated (empty), as on a first run.
    """
    with conn.transaction():
        if _is_current(conn):
            return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('dailyfetch:ledger'))")
        # DDL sees what a concurrent upgrade committed while this one waited; a plain lookup
        # may not (the advisory lock does not refresh this backend's catalog cache).
        conn.execute(_META)
        if _is_current(conn):
            # Another process upgraded it while this one waited for the lock. Running the DDL
            # again would take table locks that deadlock with that process's first run.
            return
        for step in _STEPS:
            conn.execute(step)
        conn.execute(
            "INSERT INTO dailyfetch.meta (version) SELECT %s "
            "WHERE NOT EXISTS (SELECT FROM dailyfetch.meta WHERE version >= %s)",
            (SCHEMA_VERSION, SCHEMA_VERSION),
        )


def _is_current(conn: Connection) -> bool:
    """Whether the ledger is at :data:`SCHEMA_VERSION` with every one of its tables present."""
    missing = conn.execute(
        "SELECT count(*) FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL", (list(TABLES),)
    ).fetchone()
    if missing is None or missing[0]:
        return False
    row = conn.execute("SELECT max(version) FROM dailyfetch.meta").fetchone()
    return bool(row and row[0] is not None and row[0] >= SCHEMA_VERSION)
