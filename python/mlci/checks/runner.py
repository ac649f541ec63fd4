"""Code checks: the team's own commands (lint, unit tests) run as a pipeline stage.

mlci.yaml lists them under ``checks:``. Each is one command, run WITHOUT a shell by default:
``run`` is split with :func:`shlex.split` and executed as an argument list, so ``;``, ``|``,
``$(...)`` in it are plain arguments. ``shell: true`` opts into ``/bin/sh -c`` for pipelines
(the text is the user's own config, never a value from elsewhere).

Checks whose ``needs`` are met run in parallel (a thread per running check, each waiting on
one subprocess in its own process group). Every output line goes to a reporter prefixed with
the check's name, written as one whole line, so parallel outputs never interleave mid-line.
A timeout kills the check's whole process group (SIGTERM, then SIGKILL after a grace period).

Results: ``checks.json`` (one record per check) and one merged JUnit XML in which a command's
own JUnit file becomes its test suites and a command without one becomes a single testcase.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

from mlci import junit as junit_xml
from mlci.checks.output import Reporter, StreamReporter
from mlci.checks.settings import Check
from mlci.errors import UsageError
from mlci.results import Failure, failure

TAIL_LINES = 40          # output lines kept in checks.json
SYSTEM_OUT_LINES = 2000  # output lines kept in the JUnit system-out of a command without JUnit
KILL_GRACE_S = 3.0       # SIGTERM -> SIGKILL
PIPE_GRACE_S = 5.0       # after exit, how long leftover children may hold the output pipe
STATUSES = ("passed", "failed", "timeout", "missing", "skipped")


# --------------------------------------------------------------------------- checks.json

class CheckRecord(TypedDict):
    """One check's result in checks.json."""

    name: str
    status: Literal["passed", "failed", "timeout", "missing", "skipped"]
    exit_code: int | None
    duration_s: float
    blocking: bool
    command: str | list[str]
    shell: bool
    cwd: str
    junit: str | None
    tests: dict[str, int] | None  # tests, failures, errors, skipped of the command's own JUnit
    message: str
    output_tail: list[str]
    log: str | None
    started_at: float | None
    finished_at: float | None


class ChecksResult(TypedDict):
    """checks.json, the result of `mlci check` (also its --json output)."""

    passed: bool              # no blocking check failed
    unstable: bool            # passed, but a non-blocking check failed
    result: Literal["passed", "unstable", "failed"]
    summary: str
    failed_blocking: list[str]
    failed_non_blocking: list[str]
    failures: list[Failure]   # the blocking checks that failed (what made it exit 1)
    counts: dict[str, int]
    duration_s: float
    config: str
    only: list[str] | None
    checks_json: str
    junit: str
    checks: list[CheckRecord]


# --------------------------------------------------------------------------- running

@dataclass
class _Outcome:
    record: CheckRecord
    suites: list[junit_xml.Suite] = field(default_factory=list)  # from the command's own JUnit file
    output: list[str] = field(default_factory=list)  # last SYSTEM_OUT_LINES lines


class _Running:
    """Process groups still running, so an interrupt can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)

    def remove(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the pid is the process group id
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    # children that ignored SIGTERM may outlive the leader
    _signal_group(proc, signal.SIGKILL)


def _record(check: Check, argv: list[str], cwd: Path, junit: Path | None) -> CheckRecord:
    return {
        "name": check.name, "status": "failed", "exit_code": None, "duration_s": 0.0,
        "blocking": check.blocking, "command": check.run if check.shell else argv,
        "shell": check.shell, "cwd": str(cwd), "junit": str(junit) if junit else None,
        "tests": None, "message": "", "output_tail": [], "log": None,
        "started_at": None, "finished_at": None,
    }


def check_environment(check: Check) -> dict[str, str]:
    """The environment a check runs in: ours, then the check's ``env`` over it.

    When mlci itself runs in a virtualenv, that virtualenv's bin directory goes first on PATH
    (as if activated), so `python -m pytest` in a check uses the same environment as mlci.
    """
    env = dict(os.environ)
    if sys.prefix != sys.base_prefix:
        bin_dir = str(Path(sys.executable).parent)
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
        env["PATH"] = os.pathsep.join([bin_dir, *parts])
        env["VIRTUAL_ENV"] = sys.prefix
    env.update(check.env)
    return env


def _run_one(check: Check, config: Any, log_dir: Path, reporter: Reporter,
             running: _Running) -> _Outcome:
    argv = check.argv()
    cwd = config.resolve(check.cwd) if check.cwd else config.root
    junit = Path(cwd, check.junit) if check.junit else None
    record = _record(check, argv, cwd, junit)
    out = _Outcome(record)
    record["started_at"] = time.time()
    t0 = time.monotonic()

    ended: list[float] = []  # when the command itself ended (before collecting leftovers)

    def finish(status: str, message: str = "") -> _Outcome:
        record["status"], record["message"] = status, message
        record["duration_s"] = round((ended[0] if ended else time.monotonic()) - t0, 3)
        record["finished_at"] = time.time()
        reporter.finished(record)
        return out

    if not Path(cwd).is_dir():
        return finish("failed", f"working directory not found: {cwd}")
    if junit is not None and junit.is_file():
        junit.unlink()  # a stale report from an earlier run must not be merged as this one's
    env = check_environment(check)
    reporter.started(check, argv, cwd)
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except FileNotFoundError:
        return finish("missing", f"command not found: {argv[0]}")
    except PermissionError:
        return finish("failed", f"permission denied: {argv[0]} (not executable?)")
    except OSError as exc:
        return finish("failed", f"cannot start {argv[0]}: {exc.strerror or exc}")
    running.add(proc)

    tail: collections.deque[str] = collections.deque(maxlen=SYSTEM_OUT_LINES)
    log_path = log_dir / f"{check.name}.log"
    record["log"] = str(log_path)

    def pump() -> None:
        assert proc.stdout is not None
        with open(log_path, "wb") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(text)
                reporter.line(check.name, text)

    reader = threading.Thread(target=pump, name=f"mlci-check-{check.name}", daemon=True)
    reader.start()
    timed_out = leftovers = False
    try:
        proc.wait(timeout=check.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    finally:
        ended.append(time.monotonic())
        reader.join(timeout=PIPE_GRACE_S)
        if reader.is_alive():  # background children still hold the output pipe
            leftovers = True
            _signal_group(proc, signal.SIGKILL)
            reader.join(timeout=PIPE_GRACE_S)
        running.remove(proc)

    out.output = list(tail)
    record["output_tail"] = out.output[-TAIL_LINES:]
    code = proc.returncode
    if timed_out:
        elapsed = ended[0] - t0
        return finish("timeout", f"timed out after {elapsed:.1f} s (limit {check.timeout:g} s); "
                                 "killed its process group")
    record["exit_code"] = code
    if code == 0:
        status, message = "passed", ""
    elif code < 0:
        try:
            signame = signal.Signals(-code).name
        except ValueError:
            signame = f"signal {-code}"
        status, message = "failed", f"killed by {signame}"
    else:
        status, message = "failed", f"exit code {code}"
    if junit is not None:
        status, message = _read_command_junit(out, check, junit, status, message)
    if leftovers:
        note = f"killed background processes still holding its output {PIPE_GRACE_S:g} s after it ended"
        message = f"{message}; {note}" if message else note
    return finish(status, message)


def _read_command_junit(out: _Outcome, check: Check, junit: Path, status: str,
                        message: str) -> tuple[str, str]:
    import xml.etree.ElementTree as ET

    shown = check.junit
    if not junit.is_file():
        if status == "passed":
            return "failed", f"exited 0 but wrote no JUnit file at {shown}"
        return status, f"{message}; no JUnit file at {shown}"
    try:
        suites = junit_xml.read(junit)
    except ET.ParseError as exc:
        return "failed", f"{message + '; ' if message else ''}JUnit file {shown} is not valid XML: {exc}"
    except ValueError as exc:
        return "failed", f"{message + '; ' if message else ''}JUnit file {shown}: {exc}"
    out.suites = suites
    out.record["tests"] = _count(suites)
    return status, message


def _count(suites: list[junit_xml.Suite]) -> dict[str, int]:
    cases = [c for s in suites for c in s.cases]
    return {"tests": len(cases), "failures": sum(c.result == "failure" for c in cases),
            "errors": sum(c.result == "error" for c in cases),
            "skipped": sum(c.result == "skipped" for c in cases)}


def _skipped(check: Check, config: Any, blocker: dict[str, Any]) -> _Outcome:
    cwd = config.resolve(check.cwd) if check.cwd else config.root
    record = _record(check, check.argv(), cwd, None)
    now = time.time()
    record.update(status="skipped", started_at=now, finished_at=now,
                  message=f"not run: needs `{blocker['name']}`, which {_verb(blocker['status'])}")
    return _Outcome(record)


def _verb(status: str) -> str:
    return {"failed": "failed", "timeout": "timed out", "missing": "could not start (missing)",
            "skipped": "was skipped"}.get(status, status)


def select(checks: list[Check], only: list[str] | None) -> list[Check]:
    """The checks named in ``only`` (names or comma-separated names), in config order."""
    if not only:
        return list(checks)
    wanted = [n for item in only for n in item.replace(",", " ").split()]
    known = [c.name for c in checks]
    for name in wanted:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            listed = ", ".join(known) if known else "none are configured"
            raise UsageError(f"--only: unknown check `{name}`{hint}; expected one of: {listed}")
    return [c for c in checks if c.name in wanted]


def run_checks(config: Any, out_dir: Path, only: list[str] | None = None, jobs: int | None = None,
               junit_path: Path | None = None, reporter: Reporter | None = None) -> ChecksResult:
    """Run the configured checks; write ``checks.json``, the merged JUnit XML and logs.

    ``only``: run just these checks (their ``needs`` outside the selection count as met).
    ``jobs``: how many checks run at once (default: the CPU count).
    ``reporter``: receives every output line; default: streamed to stderr as ``name | line``.
    Returns the checks.json content: ``passed`` (no blocking check failed), ``unstable``
    (passed, but a non-blocking check failed), ``result`` (passed|unstable|failed),
    ``summary`` (one line for people), ``counts`` (per status),
    ``checks`` (one record each), ``failed_blocking``/``failed_non_blocking`` (names),
    ``failures`` (the failed blocking checks, each with its reason).
    Raises UsageError for an unknown name in ``only``.
    """
    all_checks: list[Check] = list(getattr(config, "checks", []) or [])
    selected = select(all_checks, only)
    out_dir = Path(out_dir)
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    junit_path = Path(junit_path) if junit_path else out_dir / "junit.xml"
    if reporter is None:
        reporter = StreamReporter([c.name for c in selected])
    jobs = max(1, jobs or os.cpu_count() or 2)

    started = time.time()
    outcomes = _schedule(selected, config, log_dir, reporter, jobs)
    ordered = [outcomes[c.name] for c in selected]
    records = [o.record for o in ordered]

    failed_blocking = [r["name"] for r in records if r["blocking"] and r["status"] != "passed"]
    failed_other = [r["name"] for r in records if not r["blocking"] and r["status"] != "passed"]
    passed = not failed_blocking
    unstable = passed and bool(failed_other)
    counts = {s: sum(1 for r in records if r["status"] == s) for s in STATUSES}
    counts["total"] = len(records)
    by_name = {r["name"]: r for r in records}
    result: ChecksResult = {
        "passed": passed,
        "unstable": unstable,
        "result": "failed" if not passed else "unstable" if unstable else "passed",
        "summary": _summary(records, failed_blocking, failed_other, bool(all_checks)),
        "failed_blocking": failed_blocking,
        "failed_non_blocking": failed_other,
        "failures": [failure(n, by_name[n]["message"] or by_name[n]["status"]) for n in failed_blocking],
        "counts": counts,
        "duration_s": round(time.time() - started, 3),
        "config": str(getattr(config, "path", "")),
        "only": [c.name for c in selected] if only else None,
        "checks_json": str(out_dir / "checks.json"),
        "junit": str(junit_path),
        "checks": records,
    }
    write_junit(ordered, junit_path)
    tmp = out_dir / "checks.json.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "checks.json")
    return result


def _summary(records: list[CheckRecord], failed_blocking: list[str], failed_other: list[str],
             configured: bool) -> str:
    if not configured:
        return "no checks configured"
    by_name = {r["name"]: r for r in records}

    def listing(names: list[str]) -> str:
        return ", ".join(f"{n} ({by_name[n]['message'] or by_name[n]['status']})" for n in names)

    if failed_blocking:
        return f"blocking check failed: {listing(failed_blocking)}"
    if failed_other:
        return f"non-blocking check failed (build unstable): {listing(failed_other)}"
    return f"{len(records)} check{'s' if len(records) != 1 else ''} passed"


def _schedule(selected: list[Check], config: Any, log_dir: Path, reporter: Reporter,
              jobs: int) -> dict[str, _Outcome]:
    names = {c.name for c in selected}
    pending = {c.name: c for c in selected}
    done: dict[str, _Outcome] = {}
    running_futures: dict[Future[_Outcome], str] = {}
    procs = _Running()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="mlci-check")
    try:
        while pending or running_futures:
            progressed = False
            for name, check in list(pending.items()):
                needs = [n for n in check.needs if n in names]
                if any(n not in done for n in needs):
                    continue
                if len(running_futures) >= jobs:
                    break
                del pending[name]
                progressed = True
                blocker = next((done[n].record for n in needs if done[n].record["status"] != "passed"), None)
                if blocker is not None:
                    done[name] = _skipped(check, config, blocker)
                    reporter.finished(done[name].record)
                else:
                    future = pool.submit(_run_one, check, config, log_dir, reporter, procs)
                    running_futures[future] = name
            if running_futures:
                finished, _ = wait(list(running_futures), return_when=FIRST_COMPLETED)
                for future in finished:
                    done[running_futures.pop(future)] = future.result()
            elif pending and not progressed:  # cannot happen: needs are validated acyclic
                raise RuntimeError(f"checks cannot be scheduled: {sorted(pending)}")
    except BaseException:
        procs.kill_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return done


# --------------------------------------------------------------------------- JUnit

def write_junit(outcomes: list[_Outcome], path: Path) -> None:
    """One JUnit XML: each command's own suites (renamed ``check.suite``), or one testcase."""
    suites: list[junit_xml.Suite] = []
    for outcome in outcomes:
        rec = outcome.record
        if outcome.suites:
            for suite in outcome.suites:
                suite.name = f"{rec['name']}.{suite.name}" if suite.name else rec["name"]
                suites.append(suite)
            counts = rec["tests"] or {}
            if rec["status"] != "passed" and not (counts.get("failures") or counts.get("errors")):
                # e.g. tests passed but a coverage threshold failed the command: make it visible
                suites.append(_single_case_suite(outcome, f"{rec['name']} (exit status)"))
        else:
            suites.append(_single_case_suite(outcome, rec["name"]))
    junit_xml.write(path, suites, "mlci check")


def _single_case_suite(outcome: _Outcome, case_name: str) -> junit_xml.Suite:
    rec = outcome.record
    text = "\n".join(outcome.output)
    case = junit_xml.Case(case_name, "mlci.checks", time=rec["duration_s"], system_out=text)
    if rec["status"] == "skipped":
        case.result, case.message = "skipped", rec["message"]
    elif rec["status"] != "passed":
        case.result = "error" if rec["status"] == "missing" else "failure"
        case.message = rec["message"] + ("" if rec["blocking"] else " (non-blocking)")
        case.type, case.detail = rec["status"], text
    return junit_xml.Suite(case_name, [case], time=rec["duration_s"])
