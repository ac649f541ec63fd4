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
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from mlci.errors import UsageError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
TAIL_LINES = 40          # output lines kept in checks.json
SYSTEM_OUT_LINES = 2000  # output lines kept in the JUnit system-out of a command without JUnit
KILL_GRACE_S = 3.0       # SIGTERM -> SIGKILL
PIPE_GRACE_S = 5.0       # after exit, how long leftover children may hold the output pipe
STATUSES = ("passed", "failed", "timeout", "missing", "skipped")


# --------------------------------------------------------------------------- configuration

class Check(BaseModel):
    """One entry of ``checks:`` in mlci.yaml.

    Not a subclass of ``config.Section`` only because config.py imports this module (an
    import cycle otherwise); the model config is the same (unknown keys are errors).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN, description="unique name, shown before each output line")
    run: str | list[str] = Field(
        description="the command; a string is split like a shell would (shlex) but run WITHOUT "
                    "a shell; or a list of arguments")
    shell: bool = Field(False, description="run `run` with /bin/sh -c (pipes, &&, globs); opt-in")
    cwd: str | None = Field(None, description="working directory, relative to mlci.yaml (default: its directory)")
    env: dict[str, str] = Field(default_factory=dict, description="variables set over the environment")
    timeout: float | None = Field(None, gt=0, description="seconds; then the process group is killed")
    blocking: bool = Field(True, description="false: a failure marks the build unstable instead of failing it")
    junit: str | None = Field(None, description="JUnit XML the command writes, relative to its cwd")
    needs: list[str] = Field(default_factory=list, description="checks that must pass before this one runs")

    @field_validator("run", mode="before")
    @classmethod
    def _run_is_text_or_arguments(cls, value: Any) -> Any:
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        got = {bool: "a boolean", int: "a number", float: "a number", dict: "a mapping",
               list: "a list with non-string items", type(None): "null"}.get(type(value), type(value).__name__)
        raise ValueError(f"expected a command (a string) or a list of string arguments, got {got}")

    @field_validator("env", mode="before")
    @classmethod
    def _env_scalars_as_text(cls, value: Any) -> Any:
        # YAML turns `PYTHONHASHSEED: 0` into an int and `CI: true` into a bool.
        if isinstance(value, dict):
            return {k: ("true" if v is True else "false" if v is False else
                        str(v) if isinstance(v, (int, float)) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _run_is_runnable(self) -> "Check":
        if isinstance(self.run, list):
            if not self.run or not self.run[0]:
                raise ValueError(f"check `{self.name}`: `run` is an empty list")
            if self.shell:
                raise ValueError(f"check `{self.name}`: `shell: true` needs `run` as one string")
        else:
            if not self.run.strip():
                raise ValueError(f"check `{self.name}`: `run` is empty")
            if not self.shell:
                try:
                    shlex.split(self.run)
                except ValueError as exc:
                    raise ValueError(f"check `{self.name}`: cannot split `run` into arguments: "
                                     f"{exc}") from None
        return self

    def argv(self) -> list[str]:
        """The argument list that is executed (no shell unless ``shell: true``)."""
        if isinstance(self.run, list):
            return list(self.run)
        if self.shell:
            return ["/bin/sh", "-c", self.run]
        return shlex.split(self.run)


def _validate_check_list(checks: list[Check]) -> list[Check]:
    seen: dict[str, int] = {}
    for i, check in enumerate(checks):
        if check.name in seen:
            raise ValueError(f"duplicate check name `{check.name}` "
                             f"(checks[{seen[check.name]}] and checks[{i}])")
        seen[check.name] = i
    for check in checks:
        for need in check.needs:
            if need == check.name:
                raise ValueError(f"check `{check.name}` needs itself")
            if need not in seen:
                raise ValueError(f"check `{check.name}` needs `{need}`, which is not a check; "
                                 f"expected one of: {', '.join(seen)}")
    _find_cycle(checks)
    return checks


def _find_cycle(checks: list[Check]) -> None:
    needs = {c.name: c.needs for c in checks}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = path[path.index(name):] + [name]
            raise ValueError(f"checks need each other in a loop: {' -> '.join(loop)}")
        state[name] = 1
        for need in needs[name]:
            visit(need, path + [name])
        state[name] = 2

    for name in needs:
        visit(name, [])


# The type of Config.checks: a list of Check with unique names and resolvable `needs`.
CheckList = Annotated[list[Check], AfterValidator(_validate_check_list)]


def checks_fingerprint_inputs(config: Any) -> dict[str, Any]:
    """What a checks result depends on, besides the code (the caller adds the code version).

    The normalized check definitions (commands, cwd, env, timeouts, blocking, JUnit paths,
    needs). The environment outside ``env`` and the tools' own versions are not included.
    """
    return {"checks": [c.model_dump(mode="json") for c in getattr(config, "checks", [])]}


# --------------------------------------------------------------------------- reporting

class Reporter(Protocol):
    def started(self, check: Check, argv: list[str], cwd: Path) -> None: ...
    def line(self, name: str, text: str) -> None: ...
    def finished(self, record: dict[str, Any]) -> None: ...


class StreamReporter:
    """Writes each output line as ``name | text`` to a stream (stderr), one whole line at a time."""

    def __init__(self, names: list[str] | None = None, stream: Any = None, quiet: bool = False):
        self.width = max((len(n) for n in names or []), default=0)
        self.stream = stream
        self.quiet = quiet
        self._lock = threading.Lock()

    def _write(self, name: str, text: str) -> None:
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(f"{name.ljust(self.width)} | {text}\n")
            stream.flush()

    def started(self, check: Check, argv: list[str], cwd: Path) -> None:
        if not self.quiet:
            shown = check.run if check.shell else shlex.join(argv)
            self._write(check.name, f"$ {shown}")

    def line(self, name: str, text: str) -> None:
        if not self.quiet:
            self._write(name, text)

    def finished(self, record: dict[str, Any]) -> None:
        if not self.quiet:
            self._write(record["name"], f"==> {describe(record)}")


class NullReporter:
    def started(self, check: Check, argv: list[str], cwd: Path) -> None:
        pass

    def line(self, name: str, text: str) -> None:
        pass

    def finished(self, record: dict[str, Any]) -> None:
        pass


def describe(record: dict[str, Any]) -> str:
    """'passed in 1.2 s', 'failed in 0.3 s: exit code 1', ..."""
    text = f"{record['status']} in {record['duration_s']:.1f} s"
    if record["status"] in ("missing", "skipped", "timeout"):
        text = record["status"]
    if record.get("message"):
        text += f": {record['message']}"
    if record["status"] != "passed" and not record["blocking"]:
        text += " (non-blocking)"
    return text


# --------------------------------------------------------------------------- running

@dataclass
class _Outcome:
    record: dict[str, Any]
    suites: list[Any] = field(default_factory=list)  # JUnit <testsuite> elements of the command
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


def _record(check: Check, argv: list[str], cwd: Path, junit: Path | None) -> dict[str, Any]:
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
        root = ET.parse(junit).getroot()
    except ET.ParseError as exc:
        return "failed", f"{message + '; ' if message else ''}JUnit file {shown} is not valid XML: {exc}"
    if root.tag == "testsuites":
        suites = [s for s in root if s.tag == "testsuite"]
    elif root.tag == "testsuite":
        suites = [root]
    else:
        return "failed", (f"{message + '; ' if message else ''}JUnit file {shown}: expected "
                          f"<testsuites> or <testsuite> at the top, got <{root.tag}>")
    out.suites = suites
    out.record["tests"] = _count(suites)
    return status, message


def _count(suites: list[Any]) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for case in suite.iter("testcase"):
            counts["tests"] += 1
            if case.find("failure") is not None:
                counts["failures"] += 1
            elif case.find("error") is not None:
                counts["errors"] += 1
            elif case.find("skipped") is not None:
                counts["skipped"] += 1
    return counts


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
               junit_path: Path | None = None, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run the configured checks; write ``checks.json``, the merged JUnit XML and logs.

    ``only``: run just these checks (their ``needs`` outside the selection count as met).
    ``jobs``: how many checks run at once (default: the CPU count).
    ``reporter``: receives every output line; default: streamed to stderr as ``name | line``.
    Returns the checks.json content: ``passed`` (no blocking check failed), ``unstable``
    (passed, but a non-blocking check failed), ``result`` (passed|unstable|failed),
    ``summary`` (one line for people), ``counts`` (per status),
    ``checks`` (one record each), ``failed_blocking``/``failed_non_blocking`` (names).
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
    result: dict[str, Any] = {
        "passed": passed,
        "unstable": unstable,
        "result": "failed" if not passed else "unstable" if unstable else "passed",
        "summary": _summary(records, failed_blocking, failed_other, bool(all_checks)),
        "failed_blocking": failed_blocking,
        "failed_non_blocking": failed_other,
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


def _summary(records: list[dict[str, Any]], failed_blocking: list[str], failed_other: list[str],
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
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="mlci check")
    for outcome in outcomes:
        rec = outcome.record
        if outcome.suites:
            for suite in outcome.suites:
                original = suite.get("name")
                suite.set("name", f"{rec['name']}.{original}" if original else rec["name"])
                root.append(suite)
            counts = rec["tests"] or {}
            if rec["status"] != "passed" and not (counts.get("failures") or counts.get("errors")):
                # e.g. tests passed but a coverage threshold failed the command: make it visible
                root.append(_single_case_suite(outcome, f"{rec['name']} (exit status)"))
        else:
            root.append(_single_case_suite(outcome, rec["name"]))
    for suite in root.iter("testsuite"):
        _set_counts(suite)
    _set_counts(root)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)


def _single_case_suite(outcome: _Outcome, case_name: str) -> Any:
    import xml.etree.ElementTree as ET

    rec = outcome.record
    seconds = f"{rec['duration_s']:.3f}"
    suite = ET.Element("testsuite", name=case_name, time=seconds)
    case = ET.SubElement(suite, "testcase", classname="mlci.checks", name=case_name, time=seconds)
    text = _xml_text("\n".join(outcome.output))
    if rec["status"] == "skipped":
        ET.SubElement(case, "skipped", message=rec["message"])
    elif rec["status"] != "passed":
        kind = "error" if rec["status"] in ("missing",) else "failure"
        note = "" if rec["blocking"] else " (non-blocking)"
        element = ET.SubElement(case, kind, message=_xml_text(rec["message"] + note), type=rec["status"])
        element.text = text
    if text:
        ET.SubElement(case, "system-out").text = text
    return suite


def _xml_text(text: str) -> str:
    # XML 1.0 cannot carry most control characters; drop them rather than write invalid XML
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def _set_counts(element: Any) -> None:
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    element.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    if element.tag == "testsuites" or element.get("time") is None:
        total = 0.0
        for c in cases:
            try:
                total += float(c.get("time") or 0)
            except ValueError:
                pass
        element.set("time", f"{total:.3f}")
