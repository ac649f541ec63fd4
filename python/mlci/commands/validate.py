"""`mlci validate`: check data against the rules file and drift against a reference.

With `--data` and `--schema` no mlci.yaml is needed. With mlci.yaml: data.train (and
data.test), data.schema and data.reference, overridden by the options given. Without a
reference, drift is measured against the statistics stored with the baseline model
(evaluate.baseline, e.g. production), as `mlci run` does, unless the data is the very data
that model was trained on.
Exit 0 passed, 1 an error-level rule failed or drift over threshold, 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", metavar="PATH",
                        help="data to validate: a CSV or Parquet file, a directory, a glob or s3://bucket/prefix/ (repeatable); default: data.train and data.test")
    parser.add_argument("--schema", metavar="PATH", help="rules file; default: data.schema")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--reference", metavar="PATH", help="reference data for drift (a file, directory, glob or s3:// source); default: data.reference")
    ref.add_argument("--reference-stats", metavar="PATH",
                     help="reference statistics (reference_stats.json) instead of reference data")
    parser.add_argument("--junit", metavar="PATH", help="also write the JUnit XML here")
    parser.add_argument("--out", metavar="DIR",
                        help="where validation.json and validation.xml go (default: .mlci/validation)")
    parser.add_argument("--chunk-rows", type=int, metavar="N",
                        help="read the data in batches of N rows: memory does not grow with the file "
                             "(unique rules write keys beyond N to TMPDIR)")
    parser.add_argument("--no-drift", action="store_true", help="skip the drift check")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.errors import UsageError
    from mlci.validation import run_validation
    from mlci.validation.settings import Validate

    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be a positive number of rows")
    config_path = Path(args.config)
    config = None
    if config_path.exists():
        from mlci import config as config_mod

        config = config_mod.load(config_path)
    elif not (args.data and args.config == "mlci.yaml"):
        raise UsageError(f"{args.config}: file not found; pass --data and --schema to validate "
                         "without an mlci.yaml")

    if config:
        from mlci.validation import project_settings

        settings = project_settings(config)
    else:
        settings = Validate()
    if args.no_drift:
        settings = settings.model_copy(update={"drift": settings.drift.model_copy(update={"enabled": False})})
    target = None
    from mlci.sources import open_source

    datasets: list[tuple[str, Any]]
    if args.data:
        datasets = [(Path(p.rstrip("/")).stem if len(args.data) > 1 else "data", open_source(p, Path.cwd(), "--data"))
                    for p in args.data]
    else:
        assert config is not None
        datasets = [("train", open_source(config.data.train, config.root, "data.train"))]
        if config.data.test:
            datasets.append(("test", open_source(config.data.test, config.root, "data.test")))
        target = config.data.target
    if config and args.data:
        target = config.data.target
    schema = Path(args.schema) if args.schema else (
        config.resolve(config.data.schema_) if config and config.data.schema_ else None)
    drift_reference = None
    if args.reference_stats:
        from mlci.validation.engine import read_stats

        reference = read_stats(Path(args.reference_stats))
    else:
        reference = (open_source(args.reference, Path.cwd(), "--reference") if args.reference else
                     open_source(config.data.reference, config.root, "data.reference")
                     if config and config.data.reference else None)
    drift_skipped = ""
    if reference is None and config is not None and settings.drift.enabled:
        # As in `mlci run`: new data (data.train, or --data) against the statistics stored with
        # the baseline (production) model; or one line saying why not.
        from mlci.pipeline import baseline_statistics
        from mlci.runs import Project

        project = Project(config)
        hashes = [source.fingerprint(project.hashes) for _, source in datasets] if args.data else None
        reference, baseline, drift_skipped = baseline_statistics(project, hashes)
        if baseline:
            drift_reference = f"{baseline['name']} v{baseline['version']} (training data statistics)"
    out_dir = Path(args.out) if args.out else (config.root if config else Path.cwd()) / ".mlci" / "validation"
    result = run_validation(datasets, schema=schema, settings=settings, reference=reference, target=target,
                            chunk_rows=args.chunk_rows, out_dir=out_dir,
                            junit=Path(args.junit) if args.junit else None)
    if drift_reference:
        result["drift_reference"] = drift_reference
    if drift_skipped:
        result["drift_skipped"] = f"no drift check against the baseline model: {drift_skipped}"
    result["outputs"] = {"json": str(out_dir / "validation.json"), "junit": str(out_dir / "validation.xml")}
    if args.json:
        ui.print_json(result)
    if not args.quiet:
        _print_summary(result)
    return 0 if result["passed"] else 1


def _print_summary(result: dict) -> None:
    from mlci import ui

    rows = []
    for ds in result["datasets"]:
        for r in ds["rules"]:
            if r["status"] == "failed":
                rows.append((ds["name"], r["id"], r["severity"], r["failing"], r["message"]))
        if ds.get("drift"):
            for c in ds["drift"]["columns"]:
                if c["drifted"]:
                    value = c["statistic"]
                    shown = f"{c['method']}={value:.3f} > {c['threshold']}" if isinstance(value, float) else \
                        c["stats"].get("reason", "")
                    rows.append((ds["name"], f"drift.{c['column']}", c.get("severity", "warn"), "", shown))
    con = ui.console()
    if result.get("drift_skipped"):
        con.print(result["drift_skipped"], markup=False, soft_wrap=True)
    if rows:
        from rich.markup import escape

        rows = [tuple(escape(str(v)) for v in row) for row in rows]
        ui.table("validation problems", ["data", "rule", "severity", "failing rows", "detail"], rows)
    for ds in result["datasets"]:
        passed = sum(1 for r in ds["rules"] if r["status"] == "passed")
        line = f"{ds['name']}: {ds['path']}: {ds['rows']} rows, {passed}/{len(ds['rules'])} rules passed"
        if ds.get("drift"):
            d = ds["drift"]
            line += (f"; drift {d['drifted']}/{d['compared']} columns (share {d['share']:.2f}, "
                     f"dataset drift at {d['drift_share']})")
            if result.get("drift_reference"):
                line += f" against {result['drift_reference']}"
        con.print(line, markup=False, soft_wrap=True)
    con.print(result["summary"].split(";")[0] + f"; details in {result['outputs']['json']}", markup=False, soft_wrap=True)
