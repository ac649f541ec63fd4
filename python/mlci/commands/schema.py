"""`mlci schema infer` (a rules file from data) and `mlci schema stats` (reference statistics)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    infer = sub.add_parser("infer", help="write a rules file (schema.yaml) that this data passes")
    infer.add_argument("--data", required=True, metavar="PATH", help="CSV or Parquet sample: a file, a directory, a glob or s3://bucket/prefix/")
    infer.add_argument("-o", "--output", default="schema.yaml", metavar="PATH",
                       help="rules file to write (default: schema.yaml); `-` for stdout")
    infer.add_argument("--margin", type=float, default=0.1,
                       help="numeric ranges widened by this share of the observed range (default 0.1)")
    infer.add_argument("--max-categories", type=int, default=20,
                       help="string columns with at most this many values get an allowed set (default 20)")
    infer.add_argument("--force", action="store_true", help="overwrite an existing output file")
    stats = sub.add_parser("stats", help="write reference statistics (reference_stats.json) for drift")
    stats.add_argument("--data", required=True, metavar="PATH", help="reference data, CSV or Parquet: a file, a directory, a glob or s3://bucket/prefix/")
    stats.add_argument("-o", "--output", default="reference_stats.json", metavar="PATH")
    stats.add_argument("--chunk-rows", type=int, metavar="N", help="read in batches of N rows")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.errors import UsageError
    from mlci.validation.io import iter_source

    out = Path(args.output)
    if args.action == "stats":
        from mlci.validation import reference_stats, write_reference_stats

        stats = reference_stats(args.data, chunk_rows=args.chunk_rows)
        write_reference_stats(stats, out)
        if args.json:
            ui.print_json({"output": str(out), "rows": stats["rows"], "columns": list(stats["columns"])})
        if not args.quiet:
            ui.console().print(f"wrote {out}: {stats['rows']} rows, {len(stats['columns'])} columns",
                               markup=False, soft_wrap=True)
        return 0

    from mlci.validation.infer import infer_schema
    from mlci.validation.schema import dump_schema

    if not 0 <= args.margin <= 10:
        raise UsageError("--margin must be between 0 and 10")
    if args.output != "-" and out.exists() and not args.force:
        raise UsageError(f"{out}: already exists; pass --force to overwrite")
    table = next(iter(iter_source(args.data)[1].batches()))  # unchunked: one table of every part
    if Path(args.config).is_file():  # mlci.yaml's data.na_values, read as training reads them
        import logging

        from mlci import config as config_mod
        from mlci.errors import ConfigError
        from mlci.validation.infer import apply_na_values

        try:
            table = apply_na_values(table, config_mod.load(Path(args.config)).data.na_values)
        except ConfigError as exc:  # inference does not need the config: say so, go on
            logging.getLogger("mlci.schema").warning("data.na_values not applied: %s", exc)
    schema = infer_schema(table, margin=args.margin, max_categories=args.max_categories)
    text = dump_schema(schema)
    if args.output == "-":
        print(text, end="")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    if args.json:
        ui.print_json({"output": str(out), "rows": table.num_rows, "columns": list(schema.columns)})
    elif not args.quiet and args.output != "-":
        ui.console().print(f"wrote {out}: {len(schema.columns)} columns from {table.num_rows} rows; "
                           "review it, then point data.schema at it", markup=False, soft_wrap=True)
    return 0
