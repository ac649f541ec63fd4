"""`mlci jenkins` against a local Jenkins REST fake (Jenkins itself cannot be installed here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests

from fake_jenkins import FakeJenkins, InputPlan, Plan

TOKEN = "alice-token-1"
PYTHON_SRC = Path(__file__).resolve().parents[3] / "python"


# Fixtures live here, not in a conftest.py: a second `conftest` module would shadow the shared
# tests/python/conftest.py that other test files import from.
@pytest.fixture(scope="session")
def _jenkins_server():
    """One local Jenkins REST fake per test session (see fake_jenkins.py; it is not a Jenkins)."""
    fake = FakeJenkins()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def jenkins(_jenkins_server):
    """The fake Jenkins, emptied for each test."""
    _jenkins_server.reset()
    return _jenkins_server


@pytest.fixture
def jenv(jenkins):
    """Environment for the CLI: alice's credentials, fast polling."""
    return {"JENKINS_URL": jenkins.url, "JENKINS_USER": "alice", "JENKINS_TOKEN": TOKEN,
            "MLCI_JENKINS_POLL": "0.01"}


REPO = "https://git.example.internal/ml/bc.git"


def write_config(tmp_path: Path, jenkins_yaml: str = "", name: str = "breast-cancer") -> Path:
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        name: {name}
        task: classification
        data: {{train: data/train.csv, target: diagnosis}}
        """) + textwrap.dedent(jenkins_yaml))
    return cfg


def no_secret(r: subprocess.CompletedProcess) -> None:
    assert TOKEN not in r.stdout and TOKEN not in r.stderr


@pytest.fixture
def run(mlci, jenv, tmp_path):
    def call(*args: str, env: dict | None = None):
        r = mlci("jenkins", *args, cwd=tmp_path, env={**jenv, **(env or {})}, timeout=60)
        no_secret(r)
        return r
    return call


# -- apply -------------------------------------------------------------------------------------

def test_apply_creates_folder_branch_and_nightly_jobs(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"""\
        promote: {{approvers: [ml-leads, carol]}}
        jenkins:
          folder: team
          scm: {{url: '{REPO}'}}
          library: {{name: mlci, version: v1.2}}
          parameters: {{DATA_DATE: ""}}
        """)
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "created folder `team`" in r.stdout
    assert "created multibranch `team/breast-cancer`" in r.stdout
    assert "created pipeline `team/breast-cancer-nightly`" in r.stdout
    assert f"{jenkins.url}job/team/job/breast-cancer-nightly/" in r.stdout

    assert "Folder" in jenkins.items["team"]["class"]
    branch = jenkins.config_of("team/breast-cancer")
    assert branch.findtext(".//jenkins.branch.BranchSource/source/remote") == REPO
    assert branch.find(".//hudson.triggers.TimerTrigger") is None

    nightly = jenkins.config_of("team/breast-cancer-nightly")
    assert nightly.findtext(".//hudson.triggers.TimerTrigger/spec") == "H 2 * * *"
    assert nightly.find("definition").get("class").endswith("CpsScmFlowDefinition")
    assert nightly.find(".//org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty") is None
    params = {p["name"]: p for p in jenkins.job_parameters("team/breast-cancer-nightly")}
    assert params["FORCE_RETRAIN"]["type"] == "BooleanParameterDefinition"
    assert params["FORCE_RETRAIN"]["defaultParameterValue"]["value"] is False
    # the schedule also as a parameter: mlciPipeline declares that timer, so Declarative keeps it
    assert params["MLCI_NIGHTLY_CRON"]["defaultParameterValue"]["value"] == "H 2 * * *"
    assert params["DATA_DATE"]["type"] == "StringParameterDefinition"
    assert "WARNING" not in r.stderr
    # created inside the folder with createItem (folder URL path)
    assert "/job/team/createItem" in jenkins.posts()


def test_apply_refuses_jobs_without_a_repository_before_contacting_jenkins(run, jenkins, tmp_path):
    # issue 20, defect 1: an inline-script job has no `scm`: `checkout scm` fails, no stage gets mlci.yaml
    cfg = write_config(tmp_path, "jenkins: {folder: team}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 2
    assert "jenkins.scm.url is required" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert jenkins.requests == [] and jenkins.items == {}


def _mlci_pipeline_build(jenkins, name: str) -> None:
    """A build of the repository's Jenkinsfile `mlciPipeline(...)` (nightly: false, as on every branch):
    what its Declarative options, triggers and parameters do to the job (vars/mlciPipeline.groovy)."""

    cron = next((p["defaultParameterValue"]["value"] for p in jenkins.job_parameters(name)
                 if p["name"] == "MLCI_NIGHTLY_CRON"), "")
    force = ET.fromstring("<hudson.model.BooleanParameterDefinition><name>FORCE_RETRAIN</name><description>Retrain "
                          "even when data, code and configuration are unchanged</description><defaultValue>false"
                          "</defaultValue></hudson.model.BooleanParameterDefinition>")
    discarder = ET.fromstring("<jenkins.model.BuildDiscarderProperty><strategy class=\"hudson.tasks.LogRotator\">"
                              "<daysToKeep>-1</daysToKeep><numToKeep>30</numToKeep><artifactDaysToKeep>-1"
                              "</artifactDaysToKeep><artifactNumToKeep>-1</artifactNumToKeep></strategy>"
                              "</jenkins.model.BuildDiscarderProperty>")
    jenkins.declarative_build(name, {"hudson.triggers.TimerTrigger": cron}, [force], [discarder])


def test_builds_keep_the_nightly_schedule_and_apply_converges(run, jenkins, tmp_path):
    # issue 20, defect 6: Declarative's merge of job properties against what apply configured
    cfg = write_config(tmp_path, f"jenkins: {{folder: team, scm: {{url: '{REPO}'}}, parameters: {{DATA_DATE: ''}}}}\n")
    assert run("apply", "-c", str(cfg)).returncode == 0
    for _ in range(3):
        _mlci_pipeline_build(jenkins, "team/breast-cancer-nightly")
        nightly = jenkins.config_of("team/breast-cancer-nightly")
        assert nightly.findtext(".//hudson.triggers.TimerTrigger/spec") == "H 2 * * *"
    assert {p["name"] for p in jenkins.job_parameters("team/breast-cancer-nightly")} == {
        "FORCE_RETRAIN", "MLCI_NIGHTLY_CRON", "DATA_DATE"}
    for _ in range(2):
        assert_apply_changes_nothing(run, jenkins, cfg)


def assert_apply_changes_nothing(run, jenkins, cfg) -> None:
    """`apply` again reports both jobs unchanged and posts nothing to Jenkins."""
    jenkins.requests.clear()
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "unchanged pipeline `team/breast-cancer-nightly`" in r.stdout
    assert "unchanged multibranch `team/breast-cancer`" in r.stdout
    assert not [p for p in jenkins.posts() if "crumb" not in p]


def test_an_update_after_builds_keeps_declaratives_tracker(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{folder: team, scm: {{url: '{REPO}'}}}}\n")
    assert run("apply", "-c", str(cfg)).returncode == 0
    _mlci_pipeline_build(jenkins, "team/breast-cancer-nightly")
    write_config(tmp_path, f"jenkins: {{folder: team, cron: 'H 4 * * *', scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert "updated pipeline `team/breast-cancer-nightly`" in r.stdout
    nightly = jenkins.config_of("team/breast-cancer-nightly")
    assert nightly.find("actions/org.jenkinsci.plugins.pipeline.modeldefinition.actions."
                        "DeclarativeJobPropertyTrackerAction") is not None
    _mlci_pipeline_build(jenkins, "team/breast-cancer-nightly")
    _mlci_pipeline_build(jenkins, "team/breast-cancer-nightly")
    assert jenkins.config_of("team/breast-cancer-nightly").findtext(".//hudson.triggers.TimerTrigger/spec") == "H 4 * * *"


def test_apply_twice_changes_nothing(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{folder: team, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert_apply_changes_nothing(run, jenkins, cfg)


def test_dry_run_shows_diff_and_changes_nothing(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{folder: team, scm: {{url: '{REPO}'}}}}\n")
    assert run("apply", "-c", str(cfg)).returncode == 0
    before = dict(jenkins.items)
    write_config(tmp_path, f"jenkins: {{folder: team, cron: 'H 4 * * 1-5', scm: {{url: '{REPO}'}}}}\n")
    jenkins.requests.clear()
    r = run("apply", "-c", str(cfg), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would update pipeline `team/breast-cancer-nightly`" in r.stderr
    assert "unchanged multibranch `team/breast-cancer`" in r.stderr
    assert "--- team/breast-cancer-nightly/config.xml (Jenkins)" in r.stdout
    assert "+++ team/breast-cancer-nightly/config.xml (mlci.yaml)" in r.stdout
    assert "-          <spec>H 2 * * *</spec>" in r.stdout
    assert "+          <spec>H 4 * * 1-5</spec>" in r.stdout
    assert "plugin=" not in r.stdout  # what Jenkins adds on save is not a difference
    assert jenkins.posts() == []
    assert jenkins.items == before


def test_dry_run_of_new_jobs_diffs_against_nothing(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{nightly: false, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would create multibranch `breast-cancer`" in r.stderr
    assert "--- /dev/null" in r.stdout and f"<remote>{REPO}</remote>" in r.stdout
    assert jenkins.items == {}


def test_apply_multibranch_with_repository_and_folder_library(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, """\
        jenkins:
          folder: ml/team
          scm: {url: 'https://git.example.internal/ml/bc.git', credentials_id: git-ro, branch: release}
          library: {version: '2.0', repository: 'https://git.example.internal/ml/mlci.git'}
        """)
    r = run("apply", "-c", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    assert '"action": "create"' in r.stdout
    assert set(jenkins.items) == {"ml", "ml/team", "ml/team/breast-cancer", "ml/team/breast-cancer-nightly"}
    mb = jenkins.config_of("ml/team/breast-cancer")
    assert mb.tag.endswith("WorkflowMultiBranchProject")
    assert mb.findtext(".//jenkins.branch.BranchSource/source/remote") == "https://git.example.internal/ml/bc.git"
    assert mb.findtext(".//jenkins.branch.BranchSource/source/credentialsId") == "git-ro"
    lib = mb.find(".//org.jenkinsci.plugins.workflow.libs.LibraryConfiguration")
    assert lib.findtext("name") == "mlci" and lib.findtext("defaultVersion") == "2.0"
    assert mb.findtext(".//factory/scriptPath") == "Jenkinsfile"
    nightly = jenkins.config_of("ml/team/breast-cancer-nightly")
    assert nightly.find("definition").get("class").endswith("CpsScmFlowDefinition")
    assert nightly.findtext(".//hudson.plugins.git.BranchSpec/name") == "*/release"


def test_values_are_escaped_for_xml(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, """\
        jenkins:
          scm: {url: "https://git.example.internal/a&b/<x>.git", branch: "it's"}
        """)
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert jenkins.config_of("breast-cancer-nightly").findtext(".//userRemoteConfigs//url") == (
        "https://git.example.internal/a&b/<x>.git")
    assert jenkins.config_of("breast-cancer-nightly").findtext(".//hudson.plugins.git.BranchSpec/name") == "*/it's"


def test_apply_config_error_names_field(run, tmp_path):
    cfg = write_config(tmp_path, "jenkins: {folder: 'bad name/x'}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 2
    assert "jenkins.folder" in r.stderr


# -- the data-change poll job (jenkins.data_poll) ------------------------------------------------

POLL = "team/breast-cancer-data-poll"


def test_the_data_poll_job_runs_the_nightly_jobs_jenkinsfile_on_its_own_timer(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"""\
        jenkins:
          folder: team
          data_poll: true
          scm: {{url: '{REPO}', branch: release, jenkinsfile: ci/Jenkinsfile}}
        """)
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert f"created pipeline `{POLL}`: {jenkins.url}job/team/job/breast-cancer-data-poll/" in r.stdout
    poll, nightly = jenkins.config_of(POLL), jenkins.config_of("team/breast-cancer-nightly")
    assert poll.findtext(".//hudson.triggers.TimerTrigger/spec") == "H/15 * * * *"
    assert nightly.findtext(".//hudson.triggers.TimerTrigger/spec") == "H 2 * * *"
    # the same repository, branch and Jenkinsfile as the nightly job
    assert ET.tostring(poll.find("definition")) == ET.tostring(nightly.find("definition"))
    assert poll.findtext(".//hudson.plugins.git.BranchSpec/name") == "*/release"
    assert poll.findtext("definition/scriptPath") == "ci/Jenkinsfile"
    # one parameter: the nightly job by its absolute path (what `build job:` gets; set, mlciPipeline only polls)
    params = jenkins.job_parameters(POLL)
    assert [(p["name"], p["type"]) for p in params] == [("MLCI_ON_DATA_CHANGE", "StringParameterDefinition")]
    assert params[0]["defaultParameterValue"]["value"] == "/team/breast-cancer-nightly"
    assert "MLCI_ON_DATA_CHANGE" not in {p["name"] for p in jenkins.job_parameters("team/breast-cancer-nightly")}


def test_the_data_poll_job_is_absent_unless_enabled_then_created_updated_and_left_alone(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{folder: team, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "data-poll" not in r.stdout and POLL not in jenkins.items

    write_config(tmp_path, f"jenkins: {{folder: team, data_poll: true, data_poll_job: bc-data, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "created pipeline `team/bc-data`" in r.stdout
    assert "unchanged pipeline `team/breast-cancer-nightly`" in r.stdout

    write_config(tmp_path, f"jenkins: {{folder: team, data_poll: true, scm: {{url: '{REPO}'}}}}\n")
    assert run("apply", "-c", str(cfg)).returncode == 0
    for _ in range(2):  # builds of the nightly job merge Declarative's properties; the poll job's run none
        _mlci_pipeline_build(jenkins, "team/breast-cancer-nightly")
    jenkins.requests.clear()
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert f"unchanged pipeline `{POLL}`" in r.stdout
    assert not [p for p in jenkins.posts() if "crumb" not in p]

    write_config(tmp_path, f"jenkins: {{folder: team, data_poll: true, data_poll_cron: 'H/5 * * * *', "
                           f"scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert f"updated pipeline `{POLL}`" in r.stdout
    assert "unchanged pipeline `team/breast-cancer-nightly`" in r.stdout
    assert jenkins.config_of(POLL).findtext(".//hudson.triggers.TimerTrigger/spec") == "H/5 * * * *"


def test_a_data_poll_without_a_nightly_job_to_build_is_refused(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{data_poll: true, nightly: false, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg))
    assert r.returncode == 2
    assert "jenkins.data_poll: the poll job builds the nightly job" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert jenkins.items == {}


# -- trigger -----------------------------------------------------------------------------------

def test_trigger_wait_follows_stages_and_exits_0(run, jenkins):
    jenkins.add_folder("team")
    jenkins.add_pipeline("team/model-nightly", [("FORCE_RETRAIN", "Boolean", False)])
    r = run("trigger", "team/model-nightly", "--param", "FORCE_RETRAIN=true", "--wait")
    assert r.returncode == 0, r.stderr
    assert "queued `team/model-nightly`" in r.stderr
    assert "waiting in the queue: In the quiet period" in r.stderr
    assert "stage Train: SUCCESS" in r.stderr and "stage Evaluate: SUCCESS" in r.stderr
    assert f"team/model-nightly #1 SUCCESS: {jenkins.url}job/team/job/model-nightly/1/" in r.stdout
    assert jenkins.builds["team/model-nightly"][1].params == {"FORCE_RETRAIN": "true"}
    assert "/job/team/job/model-nightly/buildWithParameters" in jenkins.posts()


def test_trigger_without_wait_returns_when_started(run, jenkins):
    jenkins.add_pipeline("plain")
    r = run("trigger", "plain")
    assert r.returncode == 0, r.stderr
    assert "plain #1 started" in r.stdout
    assert "/job/plain/build" in jenkins.posts()


def test_trigger_json(run, jenkins):
    import json

    jenkins.add_pipeline("plain")
    r = run("trigger", f"{jenkins.url}job/plain/", "--wait", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["result"] == "SUCCESS" and out["number"] == 1 and out["failures"] == []
    assert [s["name"] for s in out["stages"]] == ["Train", "Evaluate"]


def test_trigger_failed_build_exits_1_naming_stage(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(stages=[("Train", "SUCCESS"), ("Evaluate", "FAILED")], result="FAILURE")
    r = run("trigger", "m", "--wait")
    assert r.returncode == 1
    assert "build `m` #1 finished FAILURE in stage `Evaluate`" in r.stderr
    assert "ERROR: script returned exit code 1 in stage Evaluate" in r.stderr  # console tail
    import json

    r = run("trigger", "m", "--wait", "--json")
    assert r.returncode == 1
    failures = json.loads(r.stdout)["failures"]
    assert [f["name"] for f in failures] == ["Evaluate"] and "finished FAILURE" in failures[0]["detail"]


def test_trigger_unstable_exits_1(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(stages=[("Train", "UNSTABLE")], result="UNSTABLE")
    r = run("trigger", "m", "--wait")
    assert r.returncode == 1
    assert "finished UNSTABLE" in r.stderr


def test_trigger_unknown_parameter_is_bad_input(run, jenkins):
    jenkins.add_pipeline("m", [("FORCE_RETRAIN", "Boolean", False)])
    r = run("trigger", "m", "--param", "FORCE=1")
    assert r.returncode == 2
    assert "job `m` has no parameter `FORCE`; its parameters: FORCE_RETRAIN" in r.stderr
    assert jenkins.builds["m"] == {}


def test_trigger_disabled_job(run, jenkins):
    jenkins.add_pipeline("m", disabled=True)
    r = run("trigger", "m")
    assert r.returncode == 2 and "job `m` is disabled" in r.stderr


def test_trigger_cancelled_in_queue(run, jenkins):
    jenkins.add_pipeline("m-cancelled")
    r = run("trigger", "m-cancelled", "--wait")
    assert r.returncode == 1 and "was cancelled before it started" in r.stderr


def test_missing_job_and_missing_folder_are_named(run, jenkins):
    jenkins.add_folder("team")
    r = run("trigger", "team/nope")
    assert r.returncode == 2
    assert f"job `team/nope` not found on Jenkins at {jenkins.url}" in r.stderr
    r = run("trigger", "other/model-nightly")
    assert r.returncode == 2
    assert "folder `other` not found" in r.stderr and "looking for job `other/model-nightly`" in r.stderr
    r = run("pending", "team/nope", "3")
    assert r.returncode == 2 and "job `team/nope` not found" in r.stderr


def test_missing_build_is_named(run, jenkins):
    jenkins.add_pipeline("m")
    r = run("approve", "m", "7")
    assert r.returncode == 2
    assert "job `m` has no build #7" in r.stderr


# -- auth, crumb, infrastructure ---------------------------------------------------------------

def test_wrong_token_is_an_auth_error(run, jenkins):
    jenkins.add_pipeline("m")
    r = run("trigger", "m", env={"JENKINS_TOKEN": "wrong"})
    assert r.returncode == 2
    assert "rejected user `alice` (HTTP 401): check JENKINS_USER and JENKINS_TOKEN" in r.stderr
    assert "wrong" not in r.stderr


def test_user_without_permission(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{nightly: false, scm: {{url: '{REPO}'}}}}\n")
    r = run("apply", "-c", str(cfg), env={"JENKINS_USER": "carol", "JENKINS_TOKEN": "carol-token-3"})
    assert r.returncode == 2
    assert "user `carol` is not allowed to POST createItem (HTTP 403)" in r.stderr
    assert "carol-token-3" not in r.stderr + r.stdout


def test_anonymous_is_told_to_set_credentials(run, jenkins):
    r = run("pending", "m", env={"JENKINS_USER": "", "JENKINS_TOKEN": ""})
    assert r.returncode == 2
    assert "refused anonymous access" in r.stderr and "JENKINS_USER and JENKINS_TOKEN" in r.stderr


def test_half_credentials_and_credentials_in_url(run, jenkins):
    r = run("pending", "m", env={"JENKINS_TOKEN": ""})
    assert r.returncode == 2 and "JENKINS_TOKEN is not set" in r.stderr
    url = jenkins.url.replace("http://", "http://alice:secret@")
    r = run("pending", "m", env={"JENKINS_URL": url})
    assert r.returncode == 2 and "must not contain credentials" in r.stderr
    assert "secret" not in r.stderr


def test_fake_refuses_post_without_crumb(jenkins):
    # the fake enforces CSRF like Jenkins does; every POST the CLI makes above passed it
    jenkins.add_pipeline("m")
    r = requests.post(f"{jenkins.url}job/m/build", auth=("alice", TOKEN), timeout=5)
    assert r.status_code == 403 and "No valid crumb" in r.text


def test_works_without_csrf_protection(run, jenkins):
    jenkins.csrf = False  # crumbIssuer answers 404, as on a Jenkins with CSRF protection off
    jenkins.add_pipeline("m")
    r = run("trigger", "m", "--wait")
    assert r.returncode == 0, r.stderr


def test_without_stage_view_plugin(run, jenkins):
    jenkins.wfapi = False
    jenkins.add_pipeline("m")
    r = run("trigger", "m", "--wait")
    assert r.returncode == 0, r.stderr
    assert "stage " not in r.stderr and "m #1 SUCCESS" in r.stdout
    r = run("pending", "m", "1")
    assert r.returncode == 2 and "Pipeline: Stage View plugin" in r.stderr


def test_unreachable_jenkins_exits_3(run):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run("trigger", "m", env={"JENKINS_URL": f"http://127.0.0.1:{port}/"})
    assert r.returncode == 3
    assert f"Jenkins at http://127.0.0.1:{port}/ unreachable" in r.stderr
    assert "Connection refused" in r.stderr and "gave up after 2 attempts" in r.stderr


def test_transient_503_is_retried(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.fail_next.append(503)
    r = run("trigger", "m")
    assert r.returncode == 0, r.stderr
    assert "retry 1/1" in r.stderr


def test_missing_url(run, tmp_path):
    r = run("pending", "m", env={"JENKINS_URL": ""})
    assert r.returncode == 2 and "set JENKINS_URL" in r.stderr


def test_url_from_config_when_env_unset(run, jenkins, tmp_path):
    cfg = write_config(tmp_path, f"jenkins: {{url: '{jenkins.url}', scm: {{url: '{REPO}'}}}}\n")
    jenkins.add_pipeline("m")
    r = run("pending", "m", "-c", str(cfg), env={"JENKINS_URL": ""})
    assert r.returncode == 0, r.stderr
    assert "no pending inputs" in r.stdout


# -- promotion inputs --------------------------------------------------------------------------

def _start_waiting(mlci, jenv, tmp_path, jenkins, job: str):
    """Run `mlci jenkins trigger JOB --wait` in the background until the input is pending."""
    env = {**os.environ, **jenv, "MLCI_RETRIES": "2", "MLCI_RETRY_DELAY": "0.05",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PYTHON_SRC), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "mlci", "jenkins", "trigger", job, "--wait"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        build = jenkins.builds.get(job, {}).get(1)
        if build is not None and build.input_state == "pending":
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the build never reached its input")


def test_pending_approve_with_reason(mlci, run, jenv, tmp_path, jenkins):
    jenkins.add_folder("team")
    jenkins.add_pipeline("team/model")
    jenkins.plans["team/model"] = Plan(input=InputPlan())
    proc = _start_waiting(mlci, jenv, tmp_path, jenkins, "team/model")
    try:
        r = run("pending", "team/model")
        assert r.returncode == 0, r.stderr
        assert "team/model #1  input Promote: Promote to production?  (parameters: REASON)" in r.stdout
        r = run("approve", "team/model", "1", "--reason", "beats production by 2% AUC")
        assert r.returncode == 0, r.stderr
        assert "approved input `Promote` of `team/model` #1 as `alice` (reason: beats production by 2% AUC)" in r.stdout
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert jenkins.approvals == [{"job": "team/model", "build": 1, "input": "Promote", "user": "alice",
                                  "action": "proceed", "values": {"REASON": "beats production by 2% AUC"}}]
    assert proc.returncode == 0, err
    assert "waiting for input `Promote`: Promote to production?" in err
    assert "mlci jenkins approve team/model 1 --reason TEXT" in err
    assert "stage Promote: PAUSED_PENDING_INPUT" in err and "stage Promote: SUCCESS" in err
    assert "team/model #1 SUCCESS" in out


def test_abort_input_makes_the_build_aborted(mlci, run, jenv, tmp_path, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan())
    proc = _start_waiting(mlci, jenv, tmp_path, jenkins, "m")
    try:
        r = run("abort", "m", "1", "--input-id", "promote")  # Jenkins capitalizes input ids
        assert r.returncode == 0, r.stderr
        assert "aborted input `Promote` of `m` #1 as `alice`" in r.stdout
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "build `m` #1 was ABORTED" in err
    assert jenkins.approvals[0]["action"] == "abort"


def test_approve_by_someone_not_in_submitter(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan(submitter=["bob"]))
    _pause(jenkins, "m")
    r = run("approve", "m", "1", "--reason", "ok")
    assert r.returncode == 2
    assert "You need to be bob to submit this." in r.stderr
    assert jenkins.approvals == []
    r = run("approve", "m", "1", "--reason", "ok", env={"JENKINS_USER": "bob", "JENKINS_TOKEN": "bob-token-2"})
    assert r.returncode == 0, r.stderr
    assert jenkins.approvals[0]["user"] == "bob"


def test_an_administrator_can_always_approve_and_job_cancel_can_abort(run, jenkins):
    # pipeline-input-step: Overall/Administer settles any input; Job/Cancel may abort any input
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan(submitter=["bob"]))
    _pause(jenkins, "m")
    jenkins.admins.add("alice")
    r = run("approve", "m", "1", "--reason", "admin")
    assert r.returncode == 0, r.stderr
    assert jenkins.approvals[0]["user"] == "alice"


def test_job_cancel_can_abort_an_input_it_cannot_approve(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan(submitter=["bob"]))
    _pause(jenkins, "m")
    r = run("abort", "m", "1")
    assert r.returncode == 2
    assert "You need to be 'bob' (or have Job/Cancel permissions) to cancel this." in r.stderr
    jenkins.job_cancel.add("alice")
    r = run("abort", "m", "1")
    assert r.returncode == 0, r.stderr
    assert jenkins.approvals[0] == {"job": "m", "build": 1, "input": "Promote", "user": "alice", "action": "abort",
                                    "values": {}}


def test_approve_without_reason_parameter_refuses_to_drop_reason(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan(parameters=[]))
    _pause(jenkins, "m")
    r = run("approve", "m", "1", "--reason", "because")
    assert r.returncode == 2 and "the reason would be lost" in r.stderr
    r = run("approve", "m", "1")
    assert r.returncode == 0, r.stderr
    assert jenkins.approvals[0]["action"] == "proceedEmpty"


def test_approve_sends_defaults_of_other_parameters(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan(parameters=[
        {"name": "REASON", "type": "TextParameterDefinition"},
        {"name": "ALIAS", "type": "StringParameterDefinition", "default": "production"},
        {"name": "CANARY", "type": "BooleanParameterDefinition", "default": True}]))
    _pause(jenkins, "m")
    r = run("approve", "m", "1", "--reason", "ok", "--param", "CANARY=false")
    assert r.returncode == 0, r.stderr
    assert jenkins.approvals[0]["values"] == {"REASON": "ok", "ALIAS": "production", "CANARY": "false"}
    _pause(jenkins, "m")
    r = run("approve", "m", "1", "--param", "NOPE=1")
    assert r.returncode == 2 and "has no parameter `NOPE`" in r.stderr


def test_approve_when_nothing_is_pending(run, jenkins):
    jenkins.add_pipeline("m")
    _pause(jenkins, "m", pending=False)
    r = run("approve", "m", "1")
    assert r.returncode == 2
    assert "build `m` #1 has no pending input `Promote` (nothing is waiting" in r.stderr


def test_approve_wrong_input_id_lists_pending(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan())
    _pause(jenkins, "m")
    r = run("approve", "m", "1", "--input-id", "Deploy")
    assert r.returncode == 2 and "pending: `Promote`" in r.stderr


def test_pending_json(run, jenkins):
    import json

    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan())
    _pause(jenkins, "m")
    r = run("pending", "m", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"job": "m", "build": 1, "input_id": "Promote",
                                     "message": "Promote to production?", "proceed_text": "Promote",
                                     "parameters": [{"name": "REASON", "type": "StringParameterDefinition"}]}]


def _pause(jenkins, job: str, pending: bool = True) -> None:
    """Put build #1 of JOB at its input (or finished) without a CLI run."""
    from fake_jenkins import Build

    plan = jenkins.plans.get(job, Plan())
    build = Build(job, 1, plan, {})
    if pending:
        build.tick = 2 * len(plan.stages)
        build.input_state = "pending"
    else:
        build.result = "SUCCESS"
    jenkins.builds.setdefault(job, {})[1] = build


def test_help_lists_subcommands(mlci):
    r = mlci("jenkins", "--help")
    assert r.returncode == 0
    for sub in ("apply", "trigger", "pending", "approve", "abort"):
        assert re.search(rf"^\s+{sub}\s", r.stdout, re.M)


# -- answers that are not Jenkins' (issue 19): one line, exit 2 or 3, never an internal error ----

LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Sign in [Jenkins]</title></head><body><form action=\"j_spring_"
              "security_check\"><input name=\"j_username\"></form></body></html>")


def _one_line_failure(r: subprocess.CompletedProcess) -> None:
    assert r.returncode in (2, 3), (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("body,ctype", [
    (LOGIN_PAGE, "text/html;charset=utf-8"),
    ('{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "m", "proper', "application/json"),
    ("[1, 2, 3]", "application/json"),
    ('{"_class": "x", "property": "none", "builds": 7, "lastBuild": "y"}', "application/json"),
], ids=["login page", "truncated JSON", "a list", "wrong fields"])
@pytest.mark.parametrize("command", [["trigger", "m", "--param", "FORCE_RETRAIN=true"], ["pending", "m"],
                                     ["approve", "m", "1", "--reason", "ok"]])
def test_a_job_answer_that_is_not_jenkins_json_is_one_line(run, jenkins, body, ctype, command):
    jenkins.add_pipeline("m", [("FORCE_RETRAIN", "Boolean", False)])
    jenkins.plans["m"] = Plan(input=InputPlan())
    _pause(jenkins, "m")
    jenkins.overrides["/job/m/api/json"] = (200, body, ctype)
    jenkins.overrides["/job/m/1/api/json"] = (200, body, ctype)
    jenkins.overrides["/job/m/1/wfapi/pendingInputActions"] = (200, body, ctype)
    _one_line_failure(run(*command, env={"MLCI_RETRIES": "1", "MLCI_RETRY_DELAY": "0.01"}))


@pytest.mark.parametrize("body,ctype", [
    (LOGIN_PAGE, "text/html;charset=utf-8"), ("[]", "application/json"), ('{"crumb": 7}', "application/json"),
    ('{"crum', "application/json")], ids=["login page", "a list", "wrong fields", "truncated"])
def test_a_crumb_issuer_redirected_to_a_login_page_is_one_line(run, jenkins, body, ctype):
    jenkins.add_pipeline("m")
    jenkins.overrides["/crumbIssuer/api/json"] = (302, f"{jenkins.url}sso/login", "")
    jenkins.overrides["/sso/login"] = (200, body, ctype)
    _one_line_failure(run("trigger", "m", env={"MLCI_RETRIES": "1", "MLCI_RETRY_DELAY": "0.01"}))


def test_whoami_of_the_wrong_shape_is_one_line(run, jenkins):
    jenkins.add_pipeline("m")
    jenkins.plans["m"] = Plan(input=InputPlan())
    _pause(jenkins, "m")
    jenkins.overrides["/me/api/json"] = (200, '["alice"]', "application/json")
    _one_line_failure(run("approve", "m", "1", "--reason", "ok"))
