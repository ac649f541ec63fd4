"""The `mlci` command line: parse arguments, call the library, map errors to exit codes.

Startup must stay fast (every Jenkins step starts the CLI): this module imports only the
standard library. Each command lives in ``mlci.commands.<name>`` and is imported only
when that command runs; heavy libraries are imported inside the functions that need them.

A command module provides ``register(parser)`` to add its arguments (and subcommands) and
``run(args) -> int`` which returns the exit code or raises an ``MlciError``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys

from mlci import __version__

# name -> (module, one-line help). The order is the order of `mlci --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("mlci.commands.run", "run the whole pipeline, skipping stages whose inputs are unchanged"),
    "check": ("mlci.commands.check", "run the team's own code checks (lint, unit tests)"),
    "validate": ("mlci.commands.validate", "validate data against rules and check drift"),
    "data": ("mlci.commands.data", "has the training data changed? (from its listing: nothing downloaded)"),
    "train": ("mlci.commands.train", "train the model described in mlci.yaml"),
    "evaluate": ("mlci.commands.evaluate", "score the model and apply the gates"),
    "publish": ("mlci.commands.publish", "upload the run to the store and register a model version"),
    "image": ("mlci.commands.image", "build, verify and push the model server image"),
    "promote": ("mlci.commands.promote", "move an alias (e.g. production) to a model version"),
    "rollback": ("mlci.commands.rollback", "move an alias back to its previous version"),
    "deploy": ("mlci.commands.deploy", "deploy a model version to an environment"),
    "registry": ("mlci.commands.registry", "list, show and audit registered models"),
    "report": ("mlci.commands.report", "write the HTML report and Markdown summary"),
    "site": ("mlci.commands.site", "write the model catalog (static pages) from the store"),
    "serve": ("mlci.commands.serve", "serve a model over HTTP"),
    "schema": ("mlci.commands.schema", "infer a data schema (rules file)"),
    "fetch": ("mlci.commands.fetch", "download and verify a model from the store"),
    "doctor": ("mlci.commands.doctor", "check the infrastructure (Docker, GPU, S3, registry, Jenkins)"),
    "sweep": ("mlci.commands.sweep", "train a parameter grid in parallel and pick the best"),
    "monitor": ("mlci.commands.monitor", "live drift and performance from prediction logs"),
    "jenkins": ("mlci.commands.jenkins", "manage Jenkins jobs, builds and promotion inputs"),
    "gc": ("mlci.commands.gc", "delete store blobs no kept version references"),
    "reproduce": ("mlci.commands.reproduce", "retrain a registered version from its lineage"),
    "config": ("mlci.commands.config", "show the configuration schema or the resolved config"),
}

log = logging.getLogger("mlci")


def common_options() -> argparse.ArgumentParser:
    """Options every command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default="mlci.yaml", metavar="PATH",
                        help="pipeline configuration (default: ./mlci.yaml)")
    common.add_argument("--json", action="store_true",
                        help="print machine-readable results on stdout")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    return common


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(n) for n in COMMANDS)
    listing = "\n".join(f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="mlci",
        description="CI/CD for machine-learning models on Jenkins and on your own hardware.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"commands:\n{listing}\n\nRun `mlci COMMAND --help` for a command's options.\n"
               "Exit codes: 0 ok, 1 a check said no, 2 bad input, 3 infrastructure unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"mlci {__version__}")
    parser.add_argument("command", nargs="?", metavar="COMMAND", help="one of the commands below")
    return parser


def build_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    module_name, text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"mlci {name}", description=text,
                                     parents=[common_options()])
    module.register(parser)
    _share_common_options(parser)
    return parser, module


def _share_common_options(parser: argparse.ArgumentParser) -> None:
    """Let the common options also follow a subcommand (`mlci config show -c x.yaml`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for opt in common_options()._actions:
                    if opt.option_strings and not any(o in sub._option_string_actions for o in opt.option_strings):
                        kwargs = {"dest": opt.dest, "default": argparse.SUPPRESS, "help": opt.help}
                        if isinstance(opt, argparse._StoreTrueAction):
                            kwargs["action"] = "store_true"
                        elif isinstance(opt, argparse._CountAction):
                            kwargs["action"] = "count"
                        else:
                            kwargs["metavar"] = opt.metavar
                        sub.add_argument(*opt.option_strings, **kwargs)
                _share_common_options(sub)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose == 1 else logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from mlci.errors import redact

    class Redacting(logging.Formatter):  # a URL's user:password never reaches a log line
        def format(self, record: logging.LogRecord) -> str:
            return redact(super().format(record))

    for handler in logging.getLogger().handlers:
        handler.setFormatter(Redacting(handler.formatter._fmt if handler.formatter else None))


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    # Arrow objects left in reference cycles (an error's traceback holding tables) must be freed
    # now: freed during the interpreter's final teardown, after Arrow's thread pools and memory
    # pools are gone, they abort the process ("terminate called without an active exception",
    # apache/arrow#34314) after the command has already given its answer.
    if "pyarrow" in sys.modules:
        gc.collect()
    # The command is done. What is left is the interpreter's exit, whose garbage collector would
    # free every object in a reference cycle one by one (botocore's S3 model alone is tens of
    # thousands): about 0.1 s of CPU per S3 command. Frozen objects are left to the OS.
    gc.freeze()
    return code


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        args = parser.parse_args(argv[:1] if argv and argv[0].startswith("-") else argv[:1])
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        close = __import__("difflib").get_close_matches(args.command, COMMANDS, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        print(f"mlci: error: unknown command `{args.command}`{hint}; see `mlci --help`", file=sys.stderr)
        return 2

    from mlci.errors import MlciError, redact

    name = argv[0]
    args = None
    try:
        parser, module = build_parser(name)
        args = parser.parse_args(argv[1:])
        _setup_logging(args.verbose, args.quiet)
        from mlci import ui

        ui.PRINTED_JSON = False
        if args.quiet:
            ui.QUIET = True
        code = module.run(args)
        return int(code or 0)
    except MlciError as exc:
        print(f"mlci {name}: error: {redact(exc)}", file=sys.stderr)
        if exc.exit_code == 1 and getattr(args, "json", False):
            _print_failure(name, args, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"mlci {name}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse usage errors exit 2 themselves
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("MLCI_DEBUG"):
            raise
        print(f"mlci {name}: internal error: {type(exc).__name__}: {redact(exc)} "
              "(set MLCI_DEBUG=1 for the traceback)", file=sys.stderr)
        return 4


def _print_failure(name: str, args: argparse.Namespace, exc: Exception) -> None:
    """A check that said no before its command printed a result (promote of an unblessed
    version, an unhealthy deploy, an image that never started): with --json, stdout still
    carries the failures shape of mlci.results, naming what failed."""
    from mlci import ui
    from mlci.results import failure

    if ui.PRINTED_JSON:
        return
    action = getattr(args, "action", None)
    words = f"{name} {action}" if isinstance(action, str) else name
    failures = getattr(exc, "failures", None) or [failure(words, exc)]
    ui.print_json({"error": str(exc), "exit_code": 1, "failures": failures})


if __name__ == "__main__":
    raise SystemExit(main())
