"""`mlci check`: the team's own code checks, run for real as subprocesses."""

from __future__ import annotations

import json
import re
import shlex
import site
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import cli_env
from junit_schema import assert_junit_10
from mlci.checks import runner
from mlci.checks.settings import checks_fingerprint_inputs
from mlci import config as config_mod

REPO = Path(__file__).resolve().parents[2]
PY = shlex.quote(sys.executable)


def project(tmp_path: Path, checks: list[dict], **extra) -> Path:
    """An mlci.yaml with the given checks; returns its path."""
    data = {"name": "demo", "task": "classification",
            "data": {"train": "train.csv", "target": "y"}, "checks": checks, **extra}
    path = tmp_path / "mlci.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / ".mlci" / "checks" / "checks.json").read_text())


def by_name(report: dict) -> dict[str, dict]:
    return {r["name"]: r for r in report["checks"]}


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_passing_check_exits_0_and_records_output(tmp_path, mlci):
    cfg = project(tmp_path, [{"name": "hello", "run": "echo hello from the check"}])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "hello | hello from the check" in r.stderr.splitlines()
    rec = by_name(results(tmp_path))["hello"]
    assert rec["status"] == "passed" and rec["exit_code"] == 0 and rec["blocking"] is True
    assert rec["output_tail"] == ["hello from the check"]
    assert results(tmp_path)["passed"] is True and results(tmp_path)["unstable"] is False
    assert Path(rec["log"]).read_text() == "hello from the check\n"


def test_failing_blocking_check_exits_1_naming_it(tmp_path, mlci):
    cfg = project(tmp_path, [
        {"name": "ok", "run": "true"},
        {"name": "unit", "run": f"{PY} -c \"print('2 tests failed'); raise SystemExit(3)\""},
    ])
    r = mlci("check", "-c", cfg, "--json", cwd=tmp_path)
    assert r.returncode == 1
    assert "mlci check: error: blocking check failed: unit (exit code 3)" in r.stderr
    out = json.loads(r.stdout)
    assert out["passed"] is False and out["result"] == "failed"
    assert out["failed_blocking"] == ["unit"]
    assert by_name(out)["unit"]["exit_code"] == 3
    assert by_name(out)["unit"]["output_tail"] == ["2 tests failed"]
    assert "unit | 2 tests failed" in r.stderr


def test_non_blocking_failure_is_unstable_not_failed(tmp_path, mlci):
    cfg = project(tmp_path, [
        {"name": "unit", "run": "true"},
        {"name": "style", "run": "false", "blocking": False},
    ])
    r = mlci("check", "-c", cfg, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["passed"] is True and out["unstable"] is True and out["result"] == "unstable"
    assert out["failed_non_blocking"] == ["style"] and out["failed_blocking"] == []
    assert out["note"].startswith("UNSTABLE: non-blocking checks failed: style")
    assert results(tmp_path)["unstable"] is True
    assert "(non-blocking)" in r.stderr


def test_timeout_kills_the_process_group_and_reports_elapsed(tmp_path, mlci):
    # a shell whose background child would outlive a plain kill of the shell; the child leaves
    # a file if its 30 s sleep ever ends, the shell a line if its wait does
    cfg = project(tmp_path, [{
        "name": "hang", "shell": True, "timeout": 1,
        "run": "(sleep 30; touch slept) & echo $! > child.pid; echo $$ > shell.pid; echo started; wait; "
               "echo finished",
    }])
    r = mlci("check", "-c", cfg, "--json", cwd=tmp_path)
    assert r.returncode == 1
    rec = by_name(json.loads(r.stdout))["hang"]
    assert rec["status"] == "timeout"
    assert rec["duration_s"] >= 1.0  # ran to its limit
    assert re.fullmatch(r"timed out after \d+\.\d s \(limit 1 s\); killed its process group", rec["message"]), \
        rec["message"]
    assert rec["output_tail"] == ["started"]
    for pidfile in ("shell.pid", "child.pid"):
        pid = int((tmp_path / pidfile).read_text())
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), f"{pidfile} process {pid} survived the timeout"
    assert not (tmp_path / "slept").exists()  # killed mid-sleep, not waited for


def test_missing_command_is_a_clear_failure(tmp_path, mlci):
    cfg = project(tmp_path, [{"name": "lint", "run": "no-such-linter-xyz check src"}])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 1
    assert "command not found: no-such-linter-xyz" in r.stderr
    rec = by_name(results(tmp_path))["lint"]
    assert rec["status"] == "missing" and rec["exit_code"] is None


def test_independent_checks_run_in_parallel(tmp_path, mlci):
    # each check announces itself, then passes only once it has seen the other one running:
    # run one after the other, the first would wait in vain and fail
    def meets(me: str, other: str) -> dict:
        return {"name": me, "shell": True, "timeout": 60,
                "run": f"touch {me}.up; for i in $(seq 300); do [ -e {other}.up ] && exit 0; sleep 0.1; done; exit 1"}

    cfg = project(tmp_path, [meets("a", "b"), meets("b", "a")])
    r = mlci("check", "-c", cfg, "--jobs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a, b = by_name(results(tmp_path))["a"], by_name(results(tmp_path))["b"]
    assert a["status"] == b["status"] == "passed"
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]


def test_needs_orders_checks_and_skips_after_failure(tmp_path, mlci):
    cfg = project(tmp_path, [
        {"name": "build", "run": "sleep 0.3"},
        {"name": "unit", "run": "true", "needs": ["build"]},
        {"name": "lint", "run": "false", "blocking": False},
        {"name": "docs", "run": "true", "needs": ["lint"], "blocking": False},
    ])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    recs = by_name(results(tmp_path))
    assert recs["unit"]["started_at"] >= recs["build"]["finished_at"]
    assert recs["docs"]["status"] == "skipped"
    assert recs["docs"]["message"] == "not run: needs `lint`, which failed"
    assert results(tmp_path)["result"] == "unstable"


def test_parallel_output_lines_are_never_interleaved(tmp_path, mlci):
    script = f"{PY} -c \"import sys; [print(sys.argv[1] * 200, flush=True) for _ in range(3000)]\""
    cfg = project(tmp_path, [{"name": "a", "run": f"{script} A"}, {"name": "b", "run": f"{script} B"}])
    r = mlci("check", "-c", cfg, "--jobs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(("a | ", "b | ")) and "$" not in ln
             and "==>" not in ln]
    assert len(lines) == 6000
    for line in lines:
        assert line in ("a | " + "A" * 200, "b | " + "B" * 200), line[:80]


def test_only_runs_the_named_checks(tmp_path, mlci):
    cfg = project(tmp_path, [
        {"name": "lint", "run": "false"},
        {"name": "unit", "run": "true", "needs": ["lint"]},
        {"name": "docs", "run": "true"},
    ])
    r = mlci("check", "-c", cfg, "--only", "unit", "docs", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [c["name"] for c in results(tmp_path)["checks"]] == ["unit", "docs"]
    r = mlci("check", "-c", cfg, "--only", "unti", cwd=tmp_path)
    assert r.returncode == 2
    assert "--only: unknown check `unti` (did you mean `unit`?)" in r.stderr


def _write_junit_script(tmp_path: Path) -> str:
    (tmp_path / "fake_tests.py").write_text(
        "import pathlib\n"
        "pathlib.Path('reports').mkdir(exist_ok=True)\n"
        "pathlib.Path('reports/unit.xml').write_text('''<?xml version=\"1.0\"?>\n"
        "<testsuites><testsuite name=\"pytest\" tests=\"3\">\n"
        "<testcase classname=\"tests.test_features\" name=\"test_ratio\" time=\"0.01\"/>\n"
        "<testcase classname=\"tests.test_features\" name=\"test_columns\" time=\"0.02\"/>\n"
        "<testcase classname=\"tests.test_features\" name=\"test_zero\" time=\"0.01\">"
        "<failure message=\"assert 1 == 2\">trace</failure></testcase>\n"
        "</testsuite></testsuites>''')\n"
        "print('1 failed, 2 passed')\n"
        "raise SystemExit(1)\n")
    return f"{PY} fake_tests.py"


def test_merged_junit_parses_back_with_every_check(tmp_path, mlci):
    cfg = project(tmp_path, [
        {"name": "unit", "run": _write_junit_script(tmp_path), "junit": "reports/unit.xml",
         "blocking": False},
        {"name": "lint", "run": "echo all clean"},
        {"name": "style", "run": f"{PY} -c \"print('E501 line too long'); raise SystemExit(1)\"",
         "blocking": False},
        {"name": "typo", "run": "no-such-tool-xyz"},
    ])
    junit = tmp_path / "out" / "merged.xml"
    r = mlci("check", "-c", cfg, "--junit", junit, cwd=tmp_path)
    assert r.returncode == 1  # typo is blocking and missing
    assert_junit_10(junit)
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["unit.pytest", "lint", "style", "typo"]
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"test_ratio", "test_columns", "test_zero", "lint", "style", "typo"}
    assert cases["test_zero"].find("failure").get("message") == "assert 1 == 2"
    assert cases["lint"].find("failure") is None
    assert cases["lint"].find("system-out").text == "all clean"
    failure = cases["style"].find("failure")
    assert failure.get("message") == "exit code 1 (non-blocking)"
    assert "E501 line too long" in failure.text
    assert cases["typo"].find("error").get("message") == "command not found: no-such-tool-xyz"
    unit = by_name(results(tmp_path))["unit"]
    assert unit["tests"] == {"tests": 3, "failures": 1, "errors": 0, "skipped": 0}


def test_promised_junit_that_is_not_written_fails_and_stale_reports_are_removed(tmp_path, mlci):
    stale = tmp_path / "reports" / "unit.xml"
    stale.parent.mkdir()
    stale.write_text("<testsuite name='old'/>")
    cfg = project(tmp_path, [{"name": "unit", "run": "true", "junit": "reports/unit.xml"}])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 1
    assert "exited 0 but wrote no JUnit file at reports/unit.xml" in r.stderr
    assert not stale.exists()


def test_the_example_checks_pass_with_real_pyflakes_and_pytest(tmp_path, mlci):
    example = REPO / "examples" / "breast-cancer"
    cfg = project(tmp_path, [
        {"name": "lint", "cwd": str(example), "run": f"{PY} -m pyflakes features.py tests",
         "blocking": False},
        {"name": "unit", "cwd": str(example),
         "run": f"{PY} -m pytest -q -p no:cacheprovider tests --junitxml={tmp_path}/unit.xml",
         "junit": str(tmp_path / "unit.xml")},
    ])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert by_name(results(tmp_path))["lint"]["status"] == "passed"
    assert results(tmp_path)["unstable"] is False
    rec = by_name(results(tmp_path))["unit"]
    assert rec["tests"]["tests"] >= 3 and rec["tests"]["failures"] == 0
    root = ET.parse(tmp_path / ".mlci" / "checks" / "junit.xml").getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == ["lint", "unit.pytest"]


def test_run_is_not_given_to_a_shell(tmp_path, mlci):
    victim = tmp_path / "victim"
    victim.mkdir()
    cfg = project(tmp_path, [
        {"name": "literal", "run": f"echo safe ; rm -rf {victim} ; touch pwned $(id)"},
        {"name": "argv", "run": ["echo", f"; rm -rf {victim}"]},
    ])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert victim.is_dir() and not (tmp_path / "pwned").exists()
    assert f"literal | safe ; rm -rf {victim} ; touch pwned $(id)" in r.stderr
    assert f"argv    | ; rm -rf {victim}" in r.stderr


def test_shell_true_opts_into_pipelines(tmp_path, mlci):
    cfg = project(tmp_path, [{"name": "pipe", "shell": True, "run": "echo abc | tr a-c x-z && echo $GREETING",
                              "env": {"GREETING": "hi"}}])
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert by_name(results(tmp_path))["pipe"]["output_tail"] == ["xyz", "hi"]


def test_cwd_is_relative_to_the_config_and_env_is_merged(tmp_path, mlci):
    sub = tmp_path / "proj" / "src"
    sub.mkdir(parents=True)
    cfg_dir = tmp_path / "proj"
    cfg = project(cfg_dir, [{
        "name": "where", "cwd": "src", "env": {"SEED": 7, "CI": True},
        "run": f"{PY} -c \"import os; print(os.getcwd(), os.environ['SEED'], os.environ['CI'], os.environ['KEEP'])\"",
    }])
    r = mlci("check", "-c", cfg, cwd=tmp_path, env={"KEEP": "kept"})
    assert r.returncode == 0, r.stderr
    assert by_name(results(cfg_dir))["where"]["output_tail"] == [f"{sub} 7 true kept"]


def test_no_checks_configured_passes_quietly(tmp_path, mlci):
    cfg = project(tmp_path, [])
    r = mlci("check", "-c", cfg, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["passed"] is True and out["checks"] == [] and out["summary"] == "no checks configured"


@pytest.mark.parametrize("checks, message", [
    ([{"name": "lint", "run": "true"}, {"name": "lint", "run": "false"}],
     "checks: duplicate check name `lint` (checks[0] and checks[1])"),
    ([{"name": "lint", "run": "true", "timout": 5}],
     "checks[0].timout: unknown key `timout` (did you mean `timeout`?)"),
    ([{"name": "lint", "run": "true", "timeout": -5}],
     "checks[0].timeout: Input should be greater than 0"),
    ([{"name": "lint", "run": "true", "timeout": "soon"}],
     "checks[0].timeout: expected a number, got a string"),
    ([{"name": "unit", "run": "true", "needs": ["lnit"]}],
     "check `unit` needs `lnit`, which is not a check"),
    ([{"name": "a", "run": "true", "needs": ["b"]}, {"name": "b", "run": "true", "needs": ["a"]}],
     "checks need each other in a loop: a -> b -> a"),
    ([{"name": "lint", "run": "echo 'unbalanced"}],
     "cannot split `run` into arguments: No closing quotation"),
    ([{"name": "has space", "run": "true"}], "checks[0].name: 'has space' is not allowed"),
    ([{"name": "lint", "run": 123}],
     "checks[0].run: expected a command (a string) or a list of string arguments, got a number"),
    ([{"name": "lint", "run": ["ls", "-l"], "shell": True}],
     "check `lint`: `shell: true` needs `run` as one string"),
])
def test_config_errors_exit_2_with_the_field(tmp_path, mlci, checks, message):
    cfg = project(tmp_path, checks)
    r = mlci("check", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_run_checks_api_for_mlci_run(tmp_path):
    cfg = project(tmp_path, [{"name": "ok", "run": "true"},
                             {"name": "style", "run": "false", "blocking": False}])
    config = config_mod.load(cfg)
    seen: list[str] = []

    class Collect:
        def started(self, check, argv, cwd):
            seen.append(f"start {check.name}")

        def line(self, name, text):
            seen.append(f"{name}: {text}")

        def finished(self, record):
            seen.append(f"done {record['name']} {record['status']}")

    result = runner.run_checks(config, tmp_path / "run", reporter=Collect())
    assert result["passed"] is True and result["unstable"] is True
    assert (tmp_path / "run" / "checks.json").is_file() and (tmp_path / "run" / "junit.xml").is_file()
    assert "done style failed" in seen and "done ok passed" in seen
    inputs = checks_fingerprint_inputs(config)
    assert [c["name"] for c in inputs["checks"]] == ["ok", "style"]
    assert inputs["checks"][1]["blocking"] is False
    changed = config.model_copy(update={"checks": [config.checks[0]]})
    assert checks_fingerprint_inputs(changed) != inputs


def venv_seeing_our_packages(venv: Path) -> Path:
    """A new virtualenv whose python imports what this test run has (a .pth file naming our
    site-packages), whatever the machine's base interpreter has installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site_dir = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
    ours = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    (Path(site_dir) / "test_env.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def test_checks_use_the_virtualenv_mlci_runs_in(tmp_path):
    venv = tmp_path / "venv"
    python = venv_seeing_our_packages(venv)
    cfg = project(tmp_path, [{"name": "which", "run": "python -c \"import sys; print(sys.prefix)\""}])
    r = subprocess.run([python, "-m", "mlci", "check", "-c", cfg], cwd=tmp_path,
                       env=cli_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert by_name(results(tmp_path))["which"]["output_tail"] == [str(venv)]


def test_terminating_mlci_kills_the_running_checks(tmp_path):
    """Jenkins aborts a build with SIGTERM: the checks' process groups must not outlive mlci."""
    import signal

    cfg = project(tmp_path, [{"name": "hang", "shell": True, "run": "echo $$ > shell.pid; sleep 30"}])
    proc = subprocess.Popen([sys.executable, "-m", "mlci", "check", "-c", str(cfg)], cwd=tmp_path,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pidfile = tmp_path / "shell.pid"
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "mlci check: interrupted" in err
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
