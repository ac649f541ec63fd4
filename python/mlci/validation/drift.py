"""Drift: reference statistics (computed once, saved as JSON) and drift against them.

Reference statistics per column (reference_stats.json, format ``mlci-reference-stats/1``):
- numeric: count, nulls, non-finite count, min, max, mean, std, distinct count, and the
  CDF at up to 1001 quantile points ("edges"): for each edge the share of values below it
  (``cdf_lt``) and at or below it (``cdf_le``).
- categorical (strings, booleans): the counts of the ``max_categories`` most frequent
  values and the count of all other values.

The current data is never kept: each batch is counted into the reference's edges (numeric:
the batch is sorted once and the ~1000 edges are looked up in it) or categories
(categorical), so drift works in bounded memory.

Statistics (all are computed and recorded; one per kind decides drift):
- PSI = sum((c - r) * ln(c / r)) over categories, shares floored at 1e-4 (as Evidently).
- Jensen-Shannon distance, base 2 (0 = same distribution, 1 = disjoint).
- KS statistic D = sup |F_ref - F_cur|, evaluated at the reference's edges (both one-sided
  limits). Because the reference is known only at its quantile points, D can be
  underestimated by at most the reference mass between two neighbouring edges (1/1000 for
  continuous data; exact for columns with at most 1001 distinct values); it is never
  overestimated. The p-value uses the asymptotic Kolmogorov distribution.
- Wasserstein-1 distance between the two CDFs, divided by the reference standard deviation
  (floored at 0.001, as Evidently). Tails beyond the reference min/max are exact (sums of
  distances are tracked); inside each bin the integral of each CDF is exact (the reference
  stores it as ``bin_area``), so the result is exact except in bins where the two CDFs
  cross, where it is slightly underestimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from mlci.results import Failure, failure

STATS_FORMAT = "mlci-reference-stats/1"
QUANTILE_POINTS = 1001
PSI_FLOOR = 1e-4


def column_kind(arrow_type: Any) -> str | None:
    """'numeric', 'categorical' or None (not compared) for an Arrow type."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return "categorical"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "numeric"  # seconds since 1970 UTC, as the column-type contract uses dates
    return None


def is_time(type_name: str) -> bool:
    return type_name.startswith(("timestamp", "date"))


def _seconds(col: Any) -> Any:
    """A timestamp or date column as float64 seconds since 1970 (UTC; naive times as UTC)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_date32(t):
        return pc.multiply(pc.cast(pc.cast(col, pa.int32()), pa.float64()), 86400.0)
    if pa.types.is_date64(t):
        return pc.divide(pc.cast(pc.cast(col, pa.int64()), pa.float64()), 1000.0)
    per_second = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
    return pc.divide(pc.cast(pc.cast(col, pa.int64()), pa.float64()), per_second)


def _mostly_numbers(col: Any, dates: bool, sample: int = 1000) -> bool:
    """Text that is (mostly) numbers or dates, as mlci.columns decides for training data;
    anything else is a changed type."""
    from mlci.columns import MOSTLY_NUMERIC

    values = parse_numbers(col.slice(0, sample), dates)
    texts = col.slice(0, sample).null_count
    given = len(values) - texts
    return given > 0 and (len(values) - values.null_count) >= MOSTLY_NUMERIC * given


def parse_numbers(col: Any, dates: bool) -> Any:
    """Text in a column the reference has as numbers (or dates: ISO 8601 or seconds since 1970),
    read as the column-type contract reads it (mlci.columns); text that is neither (a
    placeholder such as `?`) is a missing value, as in training."""
    import pyarrow as pa

    from mlci.columns import number, seconds

    convert = seconds if dates else number

    def one(v: Any) -> float | None:
        try:
            x = convert(v)
        except (ValueError, TypeError, OverflowError):
            return None
        return None if x != x else x

    return pa.array([one(v) for v in col.to_pylist()], type=pa.float64())


def numeric_values(col: Any) -> Any:
    """Non-null values of an Arrow numeric column as float64 numpy (NaN/inf kept)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        col = pc.drop_null(col)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        col = _seconds(col)
    if not pa.types.is_floating(col.type) or col.type != pa.float64():
        col = pc.cast(col, pa.float64())
    if isinstance(col, pa.ChunkedArray):
        return np.concatenate([c.to_numpy(zero_copy_only=False) for c in col.chunks]) if col.num_chunks else np.empty(0)
    return col.to_numpy(zero_copy_only=False)


def category_counts(col: Any, limit: int | None = None) -> dict[str, int] | None:
    """Counts of each value (as text); None when there are more than ``limit`` values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    if limit is not None and len(col) > 4 * limit:
        # free text / ids show themselves in a slice: no hash table of millions of strings
        if pc.count_distinct(col.slice(0, 4 * limit)).as_py() > limit:
            return None
    vc = pc.value_counts(col)
    if limit is not None and len(vc) > limit + 1:
        return None
    values = vc.field("values").to_pylist()
    counts = vc.field("counts").to_pylist()
    return {v: c for v, c in zip(values, counts) if v is not None}


# -- reference statistics -----------------------------------------------------------------
@dataclass
class _RefColumn:
    kind: str
    dtype: str
    rows: int = 0
    nulls: int = 0
    parts: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    high_cardinality: bool = False


def build_reference_stats(batches: Any, max_categories: int = 1000, label: str = "") -> dict[str, Any]:
    """Reference statistics from an iterable of Arrow tables/batches (see module doc)."""
    from mlci.validation.threads import run_jobs

    cols: dict[str, _RefColumn] = {}
    rows = 0
    cap = 10 * max_categories  # more distinct values than this: free text or ids, not compared

    def take(ref: _RefColumn, col: Any, kind: str | None) -> None:
        ref.rows += len(col)
        ref.nulls += col.null_count
        if ref.kind == "numeric" and kind == "numeric":
            ref.parts.append(numeric_values(col))
        elif ref.kind == "categorical" and not ref.high_cardinality:
            counts = category_counts(col, limit=cap)
            if counts is None:
                ref.high_cardinality, ref.counts = True, {}
                return
            for k, v in counts.items():
                ref.counts[k] = ref.counts.get(k, 0) + v
            if len(ref.counts) > cap:
                ref.high_cardinality, ref.counts = True, {}

    for batch in batches:
        rows += batch.num_rows
        jobs = []
        for name in batch.schema.names:
            col = batch.column(name)
            kind = column_kind(col.type)
            if name not in cols:
                cols[name] = _RefColumn(kind=kind or "other", dtype=str(col.type))
            jobs.append(lambda r=cols[name], c=col, k=kind: take(r, c, k))
        run_jobs(jobs, batch.num_rows)
    entries = run_jobs([lambda r=ref: _entry(r, max_categories) for ref in cols.values()], rows)
    return {"format": STATS_FORMAT, "source": label, "rows": rows, "columns": dict(zip(cols, entries))}


def _entry(ref: _RefColumn, max_categories: int) -> dict[str, Any]:
    import numpy as np

    entry: dict[str, Any] = {"kind": ref.kind, "dtype": ref.dtype, "rows": ref.rows, "nulls": ref.nulls}
    if ref.kind == "numeric":
        x = np.concatenate(ref.parts) if ref.parts else np.empty(0)
        ref.parts.clear()
        finite = np.isfinite(x)
        entry["nonfinite"] = int((~finite).sum())
        x = np.sort(x[finite])
        entry.update(_numeric_summary(x))
    elif ref.kind == "categorical" and ref.high_cardinality:
        entry.update({"count": ref.rows - ref.nulls, "distinct": None, "high_cardinality": True,
                      "categories": {}, "other": ref.rows - ref.nulls})
    elif ref.kind == "categorical":
        ranked = sorted(ref.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = dict(ranked[:max_categories])
        entry["count"] = sum(ref.counts.values())
        entry["distinct"] = len(ref.counts)
        entry["categories"] = kept
        entry["other"] = sum(v for _, v in ranked[max_categories:])
    return entry


def _numeric_summary(x: Any) -> dict[str, Any]:
    """Summary and CDF-at-quantiles of a sorted finite float64 array."""
    import numpy as np

    n = len(x)
    if n == 0:
        return {"count": 0, "distinct": 0, "min": None, "max": None, "mean": None, "std": None,
                "edges": [], "cdf_lt": [], "cdf_le": []}
    idx = np.round(np.linspace(0, 1, QUANTILE_POINTS) * (n - 1)).astype(np.int64)
    edges = np.unique(x[idx])
    lt_i = np.searchsorted(x, edges, side="left")
    le_i = np.searchsorted(x, edges, side="right")
    lt = np.round(lt_i / n, 8)  # 8 decimals keep the JSON small
    le = np.round(le_i / n, 8)
    distinct = int(1 + np.count_nonzero(x[1:] != x[:-1])) if n > 1 else 1
    # per bin (edges[i], edges[i+1]): the integral of F_ref there. x is sorted, so the values
    # strictly inside bin i are x[le_i[i]:lt_i[i+1]]; their sum comes from a running sum.
    csum = np.concatenate([[0.0], np.cumsum(x - x[0])])  # shifted: keeps the differences precise
    lo, hi = le_i[:-1], lt_i[1:]
    count = hi - lo
    inside_sum = csum[hi] - csum[lo] + count * x[0]
    gap = count * edges[1:] - inside_sum
    area = le_i[:-1] / n * np.diff(edges) + gap / n
    return {"count": int(n), "distinct": distinct, "min": float(x[0]), "max": float(x[-1]),
            "mean": float(x.mean()), "std": float(x.std()),
            "edges": edges.tolist(), "cdf_lt": lt.tolist(), "cdf_le": le.tolist(),
            "bin_area": [float(f"{v:.10g}") for v in area]}


def check_stats(stats: Any, source: str = "reference statistics") -> dict[str, Any]:
    from mlci.errors import DataError

    if not isinstance(stats, dict) or stats.get("format") != STATS_FORMAT or not isinstance(
            stats.get("columns"), dict):
        raise DataError(f"{source}: not mlci reference statistics (expected format {STATS_FORMAT!r})")
    return stats


# -- the current data, counted against the reference ---------------------------------------
class _NumericCounter:
    def __init__(self, ref: dict[str, Any]):
        import numpy as np

        self.edges = np.asarray(ref["edges"], dtype=np.float64)
        k = len(self.edges)
        self.inside = np.zeros(k + 1, dtype=np.int64)  # inside[j]: edges[j-1] < x < edges[j]
        self.at = np.zeros(k, dtype=np.int64)  # at[j]: x == edges[j]
        self.gap = np.zeros(max(k - 1, 0))  # per interior bin: sum of (right edge - x) over x inside
        self.n = 0
        self.nonfinite = 0
        self.low_sum = 0.0  # sum of (edges[0] - x) for x below the reference minimum
        self.high_sum = 0.0  # sum of (x - edges[-1]) for x above the reference maximum

    def update(self, col: Any) -> None:
        import numpy as np

        x = numeric_values(col)
        finite = np.isfinite(x)
        self.nonfinite += int(len(x) - finite.sum())
        x = x[finite] if not finite.all() else x
        if not len(x) or not len(self.edges):
            self.n += len(x)
            return
        # sort the batch once; then every count and sum is a lookup of the ~1000 edges in it
        xs = np.sort(x)
        e = self.edges
        k = len(e)
        lt_i = np.searchsorted(xs, e, side="left")
        le_i = np.searchsorted(xs, e, side="right")
        self.at += le_i - lt_i
        self.inside[0] += lt_i[0]
        self.inside[1:k] += lt_i[1:] - le_i[:-1]
        self.inside[k] += len(xs) - le_i[-1]
        if k > 1:
            csum = np.concatenate([[0.0], np.cumsum(xs - xs[0])])  # shifted: precise differences
            lo, hi = le_i[:-1], lt_i[1:]
            count = hi - lo
            self.gap += count * e[1:] - (csum[hi] - csum[lo] + count * xs[0])
        self.n += len(xs)
        if lt_i[0]:
            self.low_sum += float(lt_i[0] * e[0] - xs[: lt_i[0]].sum())
        if le_i[-1] < len(xs):
            self.high_sum += float(xs[le_i[-1]:].sum() - (len(xs) - le_i[-1]) * e[-1])

    def statistics(self, ref: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        n, m = ref.get("count", 0), self.n
        if not n or not m:
            return {"ks": None, "ks_pvalue": None, "wasserstein": None, "wasserstein_normed": None,
                    "current_count": m, "reason": "no values in " + ("reference" if not n else "current data")}
        ref_lt, ref_le = np.asarray(ref["cdf_lt"]), np.asarray(ref["cdf_le"])
        cum_inside = np.cumsum(self.inside[:-1])
        cum_at = np.concatenate([[0], np.cumsum(self.at)[:-1]])
        cur_lt = (cum_inside + cum_at) / m
        cur_le = cur_lt + self.at / m
        ks = float(max(np.abs(ref_lt - cur_lt).max(), np.abs(ref_le - cur_le).max()))
        from scipy.special import kolmogorov

        n_eff = n * m / (n + m)
        pvalue = float(kolmogorov(math.sqrt(n_eff) * ks)) if ks > 0 else 1.0
        # Wasserstein-1 = integral of |F_ref - F_cur|: the tails beyond the reference range
        # exactly; inside each bin |integral of F_ref - integral of F_cur| (both known exactly:
        # bin_area, gap), which is exact unless the CDFs cross inside the bin (then a slight
        # underestimate). Statistics without bin_area: both CDFs linear inside each bin.
        w = (self.low_sum + self.high_sum) / m
        if len(self.edges) > 1:
            width = np.diff(self.edges)
            d0 = ref_le[:-1] - cur_le[:-1]
            d1 = ref_lt[1:] - cur_lt[1:]
            same = (d0 * d1) >= 0
            a0, a1 = np.abs(d0), np.abs(d1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cross = np.where(a0 + a1 > 0, (d0 ** 2 + d1 ** 2) / (2 * (a0 + a1)), 0.0)
            if ref.get("bin_area") is not None and len(ref["bin_area"]) == len(width):
                cur_area = cur_le[:-1] * width + self.gap / m
                exact = np.abs(np.asarray(ref["bin_area"]) - cur_area)
                w += float(exact.sum())
            else:
                w += float((width * np.where(same, (a0 + a1) / 2, cross)).sum())
        std = ref.get("std") or 0.0
        return {"ks": ks, "ks_pvalue": pvalue, "wasserstein": w,
                "wasserstein_normed": w / max(std, 0.001), "current_count": m,
                "current_nonfinite": self.nonfinite}


class _CategoryCounter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def update(self, col: Any) -> None:
        for k, v in category_counts(col).items():
            self.counts[k] = self.counts.get(k, 0) + v

    def statistics(self, ref: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        ref_counts: dict[str, int] = dict(ref.get("categories") or {})
        other_ref = int(ref.get("other") or 0)
        cur: dict[str, int] = {}
        cur_other = 0
        for k, v in self.counts.items():
            if k in ref_counts or not other_ref:
                cur[k] = cur.get(k, 0) + v
            else:
                cur_other += v
        keys = list(dict.fromkeys([*ref_counts, *cur]))
        r = np.array([ref_counts.get(k, 0) for k in keys] + [other_ref], dtype=np.float64)
        c = np.array([cur.get(k, 0) for k in keys] + [cur_other], dtype=np.float64)
        if r.sum() == 0 or c.sum() == 0:
            return {"psi": None, "jensenshannon": None, "current_count": int(c.sum()),
                    "reason": "no values in " + ("reference" if r.sum() == 0 else "current data")}
        p, q = r / r.sum(), c / c.sum()
        new = sorted(k for k in cur if k not in ref_counts)
        return {"psi": psi(p, q), "jensenshannon": jensenshannon(p, q), "current_count": int(c.sum()),
                "new_categories": new[:20], "new_category_count": len(new)}


def psi(p: Any, q: Any) -> float:
    import numpy as np

    p = np.maximum(np.asarray(p, dtype=np.float64), PSI_FLOOR)
    q = np.maximum(np.asarray(q, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def jensenshannon(p: Any, q: Any) -> float:
    """Jensen-Shannon distance, base 2, of two discrete distributions."""
    import numpy as np

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: Any, b: Any) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return float(math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2)))


class DriftColumn(TypedDict):
    """One compared column in a drift result."""

    column: str
    kind: Literal["numeric", "categorical"]
    method: str                # the statistic that decides: wasserstein | ks | psi | jensenshannon | type
    statistic: float | None    # its value (None when the type changed or nothing was comparable)
    threshold: float | None
    drifted: bool
    stats: dict[str, Any]      # every statistic computed (ks, ks_pvalue, psi, ...) or {"reason": ...}
    severity: NotRequired[Literal["error", "warn"]]  # set by the validation engine


class DriftResult(TypedDict):
    """The drift section of validation.json (per dataset and the flat ``drift``) and of the
    live drift.json of `mlci monitor drift`."""

    reference: str             # what the data was compared with
    columns: list[DriftColumn]
    skipped: list[dict[str, str]]  # {column, reason}
    compared: int
    drifted: int               # how many columns drifted
    share: float               # drifted / compared
    drift_share: float         # the share at which the dataset counts as drifted
    dataset_drift: bool
    methods: dict[str, str]    # {numeric, categorical}
    thresholds: dict[str, float]
    failed: NotRequired[bool]  # set by the validation engine: the drift fails the validation


class DriftRule:
    """Accumulates the current data batch by batch; ``result()`` gives every statistic."""

    def __init__(self, stats: dict[str, Any], settings: Any, reference_label: str = ""):
        self.stats = check_stats(stats)
        self.settings = settings
        self.reference_label = reference_label or stats.get("source", "")
        self.counters: dict[str, Any] = {}
        self.skipped: list[dict[str, str]] = []
        self.type_changed: dict[str, str] = {}
        self.as_text: dict[str, bool] = {}  # text here, numbers in the reference: {column: dates?}
        self._planned = False

    def _plan(self, schema: Any, table: Any = None) -> None:
        import pyarrow as pa

        s = self.settings
        present = set(schema.names)
        wanted = s.columns if s.columns is not None else list(self.stats["columns"])
        for name in wanted:
            ref = self.stats["columns"].get(name)
            if name in s.exclude:
                continue
            if ref is None:
                self.skipped.append({"column": name, "reason": "not in the reference"})
                continue
            if name not in present:
                self.skipped.append({"column": name, "reason": "not in the current data"})
                continue
            explicit = s.columns is not None
            kind = ref["kind"]
            cur_kind = column_kind(schema.field(name).type)
            if kind not in ("numeric", "categorical"):
                self.skipped.append({"column": name, "reason": f"type {ref['dtype']} is not compared"})
                continue
            if (kind == "numeric" and cur_kind == "categorical" and not pa.types.is_boolean(schema.field(name).type)
                    and table is not None and _mostly_numbers(table.column(name), is_time(ref["dtype"]))):
                self.as_text[name] = is_time(ref["dtype"])
            elif cur_kind != kind:
                self.type_changed[name] = f"type changed: reference {ref['dtype']}, current {schema.field(name).type}"
                continue
            if kind == "categorical" and ref.get("high_cardinality"):
                self.skipped.append({"column": name, "reason": f"more than {10 * s.max_categories} distinct "
                                     "values (free text or identifiers)"})
                continue
            if kind == "categorical" and ref.get("distinct", 0) > s.max_categories:
                self.skipped.append({"column": name, "reason": f"{ref['distinct']} distinct values "
                                     f"(more than max_categories {s.max_categories})"})
                continue
            if (kind == "numeric" and not explicit and ref["dtype"].startswith(("int", "uint"))
                    and ref.get("count", 0) >= 100 and ref.get("distinct") == ref.get("count")):
                self.skipped.append({"column": name, "reason": "all reference values distinct "
                                     "(an identifier); list it in validate.drift.columns to compare"})
                continue
            self.counters[name] = _NumericCounter(ref) if kind == "numeric" else _CategoryCounter()
        self._planned = True

    def update(self, table: Any) -> None:
        for job in self.jobs(table):
            job()

    def jobs(self, table: Any) -> list[Any]:
        """One callable per compared column (independent; run them in any order)."""
        if not self._planned:
            self._plan(table.schema, table)
        return [lambda c=counter, n=name: c.update(parse_numbers(table.column(n), self.as_text[n])
                                                   if n in self.as_text else table.column(n))
                for name, counter in self.counters.items()]

    def result(self) -> DriftResult:
        s = self.settings
        th = s.thresholds
        columns: list[DriftColumn] = []
        for name, counter in self.counters.items():
            ref = self.stats["columns"][name]
            stats = counter.statistics(ref)
            if ref["kind"] == "numeric":
                method = s.numeric_method
                value = stats["wasserstein_normed"] if method == "wasserstein" else stats["ks"]
            else:
                method = s.categorical_method
                value = stats[method]
            threshold = getattr(th, method)
            drifted = value is not None and value > threshold
            columns.append({"column": name, "kind": ref["kind"], "method": method, "statistic": value,
                            "threshold": threshold, "drifted": bool(drifted), "stats": _clean(stats)})
        for name, why in self.type_changed.items():
            columns.append({"column": name, "kind": self.stats["columns"][name]["kind"], "method": "type",
                            "statistic": None, "threshold": None, "drifted": True,
                            "stats": {"reason": why}})
        drifted = sum(c["drifted"] for c in columns)
        share = drifted / len(columns) if columns else 0.0
        return {"reference": self.reference_label, "columns": columns, "skipped": self.skipped,
                "compared": len(columns), "drifted": drifted, "share": share,
                "drift_share": s.drift_share, "dataset_drift": bool(columns) and share >= s.drift_share,
                "methods": {"numeric": s.numeric_method, "categorical": s.categorical_method},
                "thresholds": th.model_dump()}


def drift_text(c: DriftColumn) -> str:
    """``wasserstein = 0.4210 > 0.1``, or why a column counts as drifted without a statistic."""
    value = c["statistic"]
    if isinstance(value, float):
        return f"{c['method']} = {value:.4f} > {c['threshold']}"
    return str(c["stats"].get("reason", "drifted"))


def drift_failures(drift: DriftResult, where: str = "") -> list[Failure]:
    """The drift that fails a validation (error severity), named as validation.xml names its
    test cases: ``drift.<column>`` and ``drift.dataset``; ``where`` starts each detail."""
    out = [failure(f"drift.{c['column']}", where + drift_text(c))
           for c in drift["columns"] if c["drifted"] and c.get("severity") == "error"]
    if drift["dataset_drift"] and drift.get("failed"):
        out.append(failure("drift.dataset", where + dataset_drift_text(drift)))
    return out


def dataset_drift_text(drift: DriftResult) -> str:
    return (f"{drift['drifted']} of {drift['compared']} columns drifted "
            f"(share {drift['share']:.2f}, limit {drift['drift_share']})")


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
