"""Fleet indexing benchmark (metric names: README "Benchmarks").

Issue #15 names one figure, `search_index_ms_p50`, for 200 and for 2,000 things; it is written
as two: `search_index_ms_p50_200` and `search_index_ms_p50_2000`. Each is the median wall time
of `Cloud.search_index` (what `buttonrig iot search-index` runs, without the interpreter's
start-up) for the workshop's query `shadow.reported.temperature>20 AND
attributes.room_number:*`, over a fleet of that many things made as the workshop's
fleet-indexing.py leaves them (attribute room_number, a reported temperature 15..30), indexing
REGISTRY_AND_SHADOW, on a quiet cloud database (no `cloud up`). Every query reads the live
tables (docs/cloud-decisions.md X-1), so the figure includes building every thing's document.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from rig.benchmarks.shadow import Context
from rig.cloud.api import Cloud

METRICS = ("search_index_ms_p50_200", "search_index_ms_p50_2000")
QUERY = "shadow.reported.temperature>20 AND attributes.room_number:*"


def _fleet(home: Path, size: int) -> Cloud:
    cloud = Cloud(home)
    chooser = random.Random(size)
    for number in range(size):
        name = f"bulky{number}"
        cloud.create_thing(
            name, attribute_payload={"attributes": {"room_number": str(100 + number)}}
        )
        reported = {"state": {"reported": {"temperature": chooser.randint(15, 30)}}}
        cloud.update_thing_shadow(name, json.dumps(reported).encode())
    cloud.update_indexing_configuration({"thingIndexingMode": "REGISTRY_AND_SHADOW"})
    return cloud


def search_ms_p50(workdir: Path, size: int, samples: int) -> float:
    home = workdir / f"indexing-{size}"
    home.mkdir(mode=0o700)
    cloud = _fleet(home, size)
    try:
        everything = cloud.search_index("thingName:bulky*", max_results=500)
        if size <= 500 and len(everything["things"]) != size:  # measure a working index only
            raise RuntimeError(f"search-index found {len(everything['things'])} of {size}")
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            found = cloud.search_index(QUERY)
            times.append((time.perf_counter() - started) * 1000)
            if not found["things"]:
                raise RuntimeError("the workshop's query found nothing")
        return round(statistics.median(times), 2)
    finally:
        cloud.close()


def run(ctx: Context) -> dict[str, int | float]:
    samples = 5 if ctx.quick else 21
    return {
        "search_index_ms_p50_200": search_ms_p50(ctx.workdir, 200, samples),
        "search_index_ms_p50_2000": search_ms_p50(ctx.workdir, 2000, samples),
    }
