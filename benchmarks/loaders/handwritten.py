"""The script users start with: requests, then one INSERT ... ON CONFLICT per record, a commit per page.

Partitions and pages one after another; on a 429 it sleeps ``Retry-After`` and asks again::

    python handwritten.py API_URL DSN DATE p0,p1 PAGE_SIZE
"""

from __future__ import annotations

import json
import sys
import time

import psycopg
import requests

CREATE = """
CREATE TABLE IF NOT EXISTS bench (
    id text PRIMARY KEY, seq bigint, amount double precision, active boolean, name text,
    tags jsonb, meta jsonb, note text, label text, total bigint
)
"""

UPSERT = """
INSERT INTO bench (id, seq, amount, active, name, tags, meta, note, label, total)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    seq = EXCLUDED.seq, amount = EXCLUDED.amount, active = EXCLUDED.active, name = EXCLUDED.name,
    tags = EXCLUDED.tags, meta = EXCLUDED.meta, note = EXCLUDED.note, label = EXCLUDED.label,
    total = EXCLUDED.total
"""


def main(api_url: str, dsn: str, date: str, partitions: list[str], page_size: int) -> None:
    session = requests.Session()
    with psycopg.connect(dsn) as conn:
        conn.execute(CREATE)
        conn.commit()
        for partition in partitions:
            offset = 0
            while True:
                response = session.get(
                    f"{api_url}/offset/{date}/{partition}",
                    params={"offset": offset, "limit": page_size},
                    timeout=60,
                )
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                response.raise_for_status()
                items = response.json()["items"]
                if not items:
                    break
                with conn.cursor() as cur:
                    for r in items:
                        cur.execute(
                            UPSERT,
                            (
                                r["id"], r["seq"], r["amount"], r["active"], r["name"],
                                json.dumps(r["tags"]), json.dumps(r["meta"]), r["note"],
                                r["label"], r["total"],
                            ),
                        )  # fmt: skip
                conn.commit()
                offset += len(items)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], args[3].split(","), int(args[4]))
