"""2,000,000 rows x 10 columns (int id, ints, floats with 1% NaN, two categoricals, emails),
and a shifted copy for drift. Usage: python make_data.py OUTDIR [ROWS]"""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)

    def with_nan(x):
        x[rng.random(n) < 0.01] = np.nan
        return x

    return pa.table({
        "id": np.arange(n, dtype=np.int64),
        "age": rng.integers(18, 90, n),
        "qty": rng.poisson(5 + shift * 5, n),
        "visits": rng.integers(0, 1000, n),
        "income": with_nan(rng.lognormal(10 + shift, 0.5, n)),
        "score": with_nan(rng.normal(shift, 1, n)),
        "ratio": with_nan(rng.uniform(0, 1, n)),
        "plan": rng.choice(["free", "pro", "team", "enterprise"], n, p=[0.5 - shift / 4, 0.3, 0.15, 0.05 + shift / 4]),
        "region": rng.choice([f"r{i:02d}" for i in range(20)], n),
        "email": pa.array([f"user{i}@example{i % 97}.com" for i in range(n)]),
    })


if __name__ == "__main__":
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(make(n, 1), out / "data.parquet")
    pq.write_table(make(n, 2, shift=0.3), out / "shifted.parquet")
    print(f"wrote {out}/data.parquet and shifted.parquet ({n} rows)")
