"""dlt's ``rest_api`` source with a ``merge`` write to PostgreSQL, run in ``benchmarks/.venv-dlt``.

One resource per partition, offset paging until the first empty page, all written to
table ``bench`` of dataset ``dlt_bench`` with ``write_disposition="merge"`` on ``id``.
dlt's defaults otherwise (INSERT ... VALUES load files, nested lists as child tables,
nested objects flattened), plus its one-line parallelism: ``parallelized=True``, which
extracts the partitions in parallel threads::

    RUNTIME__DLTHUB_TELEMETRY=false python dlt_rest_api.py API_URL DSN DATE p0,p1 PAGE_SIZE PIPELINES_DIR
"""

from __future__ import annotations

import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def main(
    api_url: str, dsn: str, date: str, partitions: list[str], page_size: int, pipelines_dir: str
) -> None:
    paginator = {
        "type": "offset",
        "limit": page_size,
        "offset_param": "offset",
        "limit_param": "limit",
        "total_path": None,
    }
    source = rest_api_source(
        {
            "client": {"base_url": f"{api_url}/"},
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": f"bench_{partition}",
                    "table_name": "bench",
                    "endpoint": {
                        "path": f"offset/{date}/{partition}",
                        "data_selector": "items",
                        "paginator": paginator,
                    },
                }
                for partition in partitions
            ],
        },
        parallelized=True,
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.postgres(credentials=dsn),
        dataset_name="dlt_bench",
        pipelines_dir=pipelines_dir,
    )
    pipeline.run(source)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], args[3].split(","), int(args[4]), args[5])
