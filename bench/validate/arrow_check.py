"""A bare pyarrow read + compute pass over the same ten rules (the floor to compare with)."""

import sys
import time

t0 = time.perf_counter()
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

t = pq.read_table(sys.argv[1])
REGIONS = pa.array([f"r{i:02d}" for i in range(20)])
bad = 0
bad += t.column("id").null_count
bad += len(t) - pc.count_distinct(t.column("id")).as_py()
for name, lo, hi in (("age", 0, 120), ("visits", 0, 1000), ("income", 0, None), ("score", -10, 10)):
    col = t.column(name)
    bad += pc.sum(pc.less(col, lo)).as_py() or 0
    if hi is not None:
        bad += pc.sum(pc.greater(col, hi)).as_py() or 0
bad += pc.sum(pc.invert(pc.is_in(t.column("plan"), value_set=pa.array(["free", "pro", "team", "enterprise"])))).as_py()
bad += pc.sum(pc.invert(pc.is_in(t.column("region"), value_set=REGIONS))).as_py()
bad += pc.sum(pc.invert(pc.match_substring_regex(t.column("email"), pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$"))).as_py()
bad += len(set(t.column_names) ^ {"id", "age", "qty", "visits", "income", "score", "ratio", "plan", "region", "email"})
print(f"arrow ok={bad == 0} seconds={time.perf_counter() - t0:.3f}")
