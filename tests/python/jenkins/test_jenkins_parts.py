"""The pure parts of `mlci jenkins`: job names, config.xml comparison, settings."""

from __future__ import annotations

import pytest

from mlci import config
from mlci.errors import ConfigError, UsageError
from mlci.jenkins.client import job_path, message_of, normalize_job_name
from mlci.jenkins.jobs import keep_actions, normalize_xml, render_jobs, unified_diff


@pytest.mark.parametrize("given,expected", [
    ("model", "model"),
    ("team/model-nightly", "team/model-nightly"),
    ("/team/model/", "team/model"),
    ("job/team/job/model-nightly", "team/model-nightly"),
    ("https://ci.example.org/jenkins/job/team/job/model%20x/", "team/model x"),
    # multibranch: the branch feature/x is the item `feature%2Fx`, URL-encoded once more in URLs
    ("team/bc/feature%2Fx", "team/bc/feature%2Fx"),
    ("https://ci.example.org/jenkins/job/team/job/bc/job/feature%252Fx/", "team/bc/feature%2Fx"),
])
def test_job_names(given, expected):
    assert normalize_job_name(given, "https://ci.example.org/jenkins/") == expected


@pytest.mark.parametrize("bad", ["", "/", "team/../x", "job/team/model", "https://ci.example.org/jenkins/view/x"])
def test_bad_job_names(bad):
    with pytest.raises(UsageError):
        normalize_job_name(bad)


def test_job_path_quotes_each_part():
    assert job_path("team/model x") == "job/team/job/model%20x/"
    assert job_path("team/bc/feature%2Fx") == "job/team/job/bc/job/feature%252Fx/"
    assert job_path("a/b#c") == "job/a/job/b%23c/"


def test_normalize_ignores_what_jenkins_adds():
    ours = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition>\n  <a>x</a><b></b></flow-definition>"
    theirs = ("<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job@1.0\">"
              "<a>x</a>\n\n<b/></flow-definition>")
    assert normalize_xml(ours) == normalize_xml(theirs)
    assert unified_diff("j", theirs, ours.replace(">x<", ">y<")).count("\n-") == 1


def test_normalize_ignores_what_a_declarative_build_changes():
    ours = ("<flow-definition><actions/><properties><b.Prop><x>1</x></b.Prop><a.Params><parameterDefinitions>"
            "<p><name>A</name></p><p><name>B</name></p></parameterDefinitions></a.Params></properties></flow-definition>")
    after_build = ("<flow-definition><actions><org.jenkinsci.plugins.pipeline.modeldefinition.actions."
                   "DeclarativeJobPropertyTrackerAction><triggers/></org.jenkinsci.plugins.pipeline.modeldefinition."
                   "actions.DeclarativeJobPropertyTrackerAction></actions><properties><a.Params><parameterDefinitions>"
                   "<p><name>B</name></p><p><name>A</name></p></parameterDefinitions></a.Params><b.Prop><x>1</x>"
                   "</b.Prop></properties></flow-definition>")
    assert normalize_xml(ours) == normalize_xml(after_build)
    assert normalize_xml(ours) != normalize_xml(ours.replace("<x>1</x>", "<x>2</x>"))


def test_an_update_keeps_declaratives_tracker():
    current = "<flow-definition><actions><Tracker><triggers/></Tracker></actions><spec>1</spec></flow-definition>"
    desired = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition><actions/><spec>2</spec></flow-definition>"
    kept = keep_actions(current, desired)
    assert "<Tracker><triggers /></Tracker>" in kept and "<spec>2</spec>" in kept


def test_message_of_jenkins_error_page():
    page = "<html><head><title>Jenkins</title></head><body><h1>Error</h1><p>You need to be <b>ml-leads</b> to submit this.</p></body></html>"
    assert message_of(page) == "You need to be ml-leads to submit this."
    assert message_of('{"message": "nope"}') == "nope"


BASE = {"name": "m", "task": "classification", "data": {"train": "a.csv", "target": "y"}}


def test_settings_defaults_and_job_names():
    cfg = config.parse(BASE)
    assert cfg.jenkins.cron == "H 2 * * *"
    assert cfg.jenkins.job_names("m") == ("m", "m-nightly")
    cfg = config.parse({**BASE, "jenkins": {"folder": "/ml/team/", "nightly_job": "retrain"}})
    assert cfg.jenkins.job_names("m") == ("ml/team/m", "ml/team/retrain")
    assert cfg.jenkins.data_poll is False and cfg.jenkins.data_poll_cron == "H/15 * * * *"
    assert cfg.jenkins.data_poll_job_name("m") == "ml/team/m-data-poll"


@pytest.mark.parametrize("section,message", [
    ({"data_poll": True, "data_poll_job": "m-nightly"}, "jenkins.data_poll_job: `m-nightly` is also the nightly job's name"),
    ({"data_poll": True, "data_poll_job": "m"}, "jenkins.data_poll_job: `m` is also the branch job's name"),
    ({"parameters": {"MLCI_ON_DATA_CHANGE": ""}}, "jenkins.parameters: MLCI_ON_DATA_CHANGE is set by mlci"),
])
def test_data_poll_settings_that_cannot_work_are_refused(section, message):
    cfg = config.parse({**BASE, "jenkins": {"scm": {"url": "https://git.example/m.git"}, **section}})
    with pytest.raises(ConfigError) as err:
        render_jobs(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize("section,where", [
    ({"folder": "a b"}, "jenkins.folder"),
    ({"cronn": "H 2 * * *"}, "did you mean `cron`"),
    ({"data_poll_job": "a b"}, "jenkins.data_poll_job"),
    ({"parameters": {"bad-name": 1}}, "jenkins.parameters"),
    ({"pipeline_args": {"x": [1]}}, "jenkins.pipeline_args"),
    ({"library": {"verison": "1"}}, "did you mean `version`"),
])
def test_settings_errors_name_the_field(section, where):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "jenkins": section})
    assert where in str(err.value)
