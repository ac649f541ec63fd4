"""mlci monitor drift|performance: live drift and live performance from prediction logs."""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = sub.add_parser("drift", help="live inputs (prediction logs or a data file) vs the model's reference "
                                     "statistics; exit 1 on drift")
    d.add_argument("--model", required=True, metavar="NAME@ALIAS", help="registered model: NAME@ALIAS, NAME@VERSION")
    d.add_argument("--current", required=True, metavar="PATH",
                   help="prediction logs (a .jsonl file or a directory of them) or a CSV/Parquet file")
    d.add_argument("--since", metavar="WHEN", help="only log records newer than this: 24h, 90m, 7d or an ISO time")
    d.add_argument("--out", metavar="DIR", help="where drift.json goes (default: .mlci/monitor beside mlci.yaml)")
    p = sub.add_parser("performance", help="join late labels to logged predictions; live metrics vs evaluation")
    p.add_argument("--model", required=True, metavar="NAME@ALIAS", help="registered model: NAME@ALIAS, NAME@VERSION")
    p.add_argument("--logs", required=True, metavar="PATH", help="prediction logs: a .jsonl file or a directory")
    p.add_argument("--labels", required=True, metavar="PATH",
                   help="CSV/Parquet with the request id and label columns (a `row` column for multi-row requests)")
    p.add_argument("--id-column", help="request id column in --labels (default: monitor.performance.id_column, request_id)")
    p.add_argument("--label-column", help="label column in --labels (default: monitor.performance.label_column, label)")
    p.add_argument("--max-drop", type=float, metavar="X",
                   help="gate: every compared metric may be worse than its evaluation value by at most X")
    p.add_argument("--min-labels", type=int, metavar="N",
                   help="judge the gates only with at least N labelled predictions (default 30)")
    p.add_argument("--since", metavar="WHEN", help="only log records newer than this: 24h, 90m, 7d or an ISO time")
    p.add_argument("--out", metavar="DIR", help="where performance.json goes (default: .mlci/monitor beside mlci.yaml)")
    for each in (d, p):
        each.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlci.monitor import drift as live
    from mlci.monitor.logs import parse_since

    store, record, cfg, workspace = live.open_model(args.model, args.config, args.store)
    since = parse_since(args.since)
    out_dir = Path(args.out) if args.out else workspace / "monitor"
    if args.action == "drift":
        from mlci.validation.settings import Validate

        settings = Validate()
        if cfg is not None:
            settings = cfg.validate_
            if cfg.monitor.drift is not None:
                settings = settings.model_copy(update={"drift": cfg.monitor.drift})
        stats = live.fetch_reference_stats(store, record, workspace)
        result = live.live_drift(record, stats, Path(args.current), settings, since)
        path = live.write_report(result, out_dir, "drift.json")
        _show_drift(args, result, path)
        return 1 if result["failed"] else 0

    from mlci.monitor.performance import live_performance
    from mlci.monitor.settings import LiveGate, Performance

    perf = cfg.monitor.performance if cfg is not None else Performance()
    updates = {k: v for k, v in (("id_column", args.id_column), ("label_column", args.label_column),
                                 ("min_labels", args.min_labels)) if v is not None}
    if updates:
        perf = perf.model_copy(update=updates)
    gates = list(perf.gates)
    if args.max_drop is not None:
        from mlci import metrics as metric_defs

        task = record.get("task") or "classification"
        gates += [LiveGate(metric=m, max_drop=args.max_drop) for m in (record.get("metrics") or {})
                  if m in metric_defs.names_for(task)]
    result = live_performance(record, Path(args.logs), Path(args.labels), perf, gates, since)
    path = live.write_report(result, out_dir, "performance.json")
    _show_performance(args, result, path)
    return 1 if result["failed"] else 0


def _show_drift(args: argparse.Namespace, result: dict, path) -> None:  # noqa: ANN001
    import sys

    from mlci import ui

    if args.json:
        ui.print_json(result)
    elif not args.quiet:
        d = result["drift"]
        ui.table(f"{result['model']} v{result['version']}: live drift ({result['current']['kind']})",
                 ["column", "method", "statistic", "threshold", "drifted"],
                 [[c["column"], c["method"], ui.fmt(c["statistic"]), ui.fmt(c["threshold"]),
                   "DRIFT" if c["drifted"] else ""] for c in d["columns"]])
    print(f"{result['summary']} -> {path}", file=sys.stderr)


def _show_performance(args: argparse.Namespace, result: dict, path) -> None:  # noqa: ANN001
    import sys

    from mlci import ui

    if args.json:
        ui.print_json(result)
    elif not args.quiet:
        ui.table(f"{result['model']} v{result['version']}: live vs evaluation",
                 ["metric", "live", "evaluation", "delta"],
                 [[m["metric"], ui.fmt(m["live"]), ui.fmt(m["evaluation"]), ui.fmt(m["delta"])]
                  for m in result["metrics"]])
        if result["gates"]:
            ui.table("live gates", ["metric", "value", "passed", "reason"],
                     [[g["metric"], ui.fmt(g["value"]), {True: "yes", False: "NO", None: "-"}[g["passed"]],
                       g["reason"]] for g in result["gates"]])
        j = result["join"]
        print(f"join: {j['labelled']} labelled of {j['predictions']} predictions; {j['unmatched_labels']} labels "
              f"without a logged prediction, {j['missing_labels']} empty, {j['duplicate_labels']} duplicate "
              f"({j['conflicting_labels']} conflicting), {j['duplicate_predictions']} duplicate request ids",
              file=sys.stderr)
    print(f"{result['summary']} -> {path}", file=sys.stderr)
