"""The benchmark's ten rules in pandera (pandas backend), end to end from the Parquet file."""

import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402

try:
    import pandera.pandas as pa
except ImportError:  # older pandera
    import pandera as pa

REGIONS = [f"r{i:02d}" for i in range(20)]
schema = pa.DataFrameSchema({
    "id": pa.Column(int, nullable=False, unique=True),
    "age": pa.Column(int, [pa.Check.in_range(0, 120)]),
    "visits": pa.Column(int, [pa.Check.in_range(0, 1000)]),
    "income": pa.Column(float, [pa.Check.ge(0)], nullable=True),
    "score": pa.Column(float, [pa.Check.in_range(-10, 10)], nullable=True),
    "plan": pa.Column(str, [pa.Check.isin(["free", "pro", "team", "enterprise"])]),
    "region": pa.Column(str, [pa.Check.isin(REGIONS)]),
    "email": pa.Column(str, [pa.Check.str_matches(r"^[^@\s]+@[^@\s]+\.[a-z]+$")]),
    "qty": pa.Column(int),
    "ratio": pa.Column(float, nullable=True),
}, strict=True)
df = pd.read_parquet(sys.argv[1])
try:
    schema.validate(df, lazy=True)
    ok = True
except pa.errors.SchemaErrors:
    ok = False
print(f"pandera ok={ok} seconds={time.perf_counter() - t0:.3f}")
