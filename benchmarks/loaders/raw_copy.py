"""The raw limit: fetch every page with a bare threaded httpx client, COPY it into an UNLOGGED table.

No typing, no checks, no ledger, no upsert: the records go in as ``jsonb`` lines in one
transaction. It knows the page count up front (no empty last page). Nothing that lands
data exactly once can be faster, so it is the ceiling to compare against. A 429 is
retried after its ``Retry-After`` (it has no rate limiter of its own)::

    python raw_copy.py API_URL DSN DATE p0=100000,p1=100000 PAGE_SIZE [THREADS]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx
import orjson
import psycopg


def main(api_url: str, dsn: str, date: str, parts: str, page_size: int, threads: int = 8) -> None:
    sizes = {name: int(n) for name, n in (p.split("=") for p in parts.split(","))}
    pages = [
        (f"{api_url}/offset/{date}/{name}", offset)
        for name, n in sizes.items()
        for offset in range(0, n, page_size)
    ]
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with (
        psycopg.connect(dsn) as conn,
        httpx.Client(limits=limits, timeout=60) as client,
        ThreadPoolExecutor(threads) as pool,
    ):
        conn.execute("CREATE UNLOGGED TABLE raw (doc jsonb)")

        def fetch(page: tuple[str, int]) -> bytes:
            while True:
                response = client.get(page[0], params={"offset": page[1], "limit": page_size})
                if response.status_code != 429:
                    response.raise_for_status()
                    return response.content
                time.sleep(float(response.headers.get("Retry-After", "1")))

        with conn.cursor() as cur, cur.copy("COPY raw (doc) FROM STDIN") as copy:
            # At most 2 pages per thread outstanding, so memory stays bounded like a real loader.
            queue = iter(pages)
            running: set[Future[bytes]] = set()
            while True:
                while len(running) < 2 * threads and (page := next(queue, None)) is not None:
                    running.add(pool.submit(fetch, page))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    items = orjson.loads(future.result())["items"]
                    # JSON text has no raw tabs or newlines; only backslashes need escaping.
                    copy.write(b"".join(orjson.dumps(r).replace(b"\\", b"\\\\") + b"\n" for r in items))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], args[3], int(args[4]), *(int(a) for a in args[5:6]))
