"""Jobs as code: the project's Jenkins jobs rendered from jinja2 templates, compared, upserted.

Two jobs per project (mlci.yaml ``jenkins:``), three with ``jenkins.data_poll``, all running the
repository's Jenkinsfile from ``jenkins.scm.url`` (required: a job with an inline script has no ``scm``,
so ``checkout scm`` and Declarative's automatic checkout cannot get the code):
- the branch pipeline job: a multibranch project over the repository (the mlci library attached as
  a folder library when ``jenkins.library.repository`` is set);
- the nightly retraining job: a Pipeline job over ``scm.branch`` with a cron trigger, a FORCE_RETRAIN
  parameter, the schedule as the MLCI_NIGHTLY_CRON parameter (mlciPipeline declares that same timer,
  so Declarative's merge of job properties keeps it) and ``jenkins.parameters``;
- the data-change poll job: a Pipeline job over the same SCM with its own cron trigger and one parameter,
  MLCI_ON_DATA_CHANGE (the nightly job's absolute path). With it set, mlciPipeline runs no Declarative
  pipeline, only mlciDataPoll in a scripted node, so nothing merges into this job and it keeps its timer
  without an MLCI_NIGHTLY_CRON: pipeline-model-definition changes job properties only when `pipeline {}`
  runs (ModelInterpreter.call -> executeProperties -> Utils.updateJobProperties, the one writer of
  DeclarativeJobPropertyTrackerAction).

Comparison ignores what Jenkins adds when it saves a config (``plugin="..."`` attributes, the XML
declaration, whitespace) and what a Declarative build changes in the job (its tracker in
``<actions>``, which an update keeps; the order of properties, parameters and triggers), so an
unchanged job is reported unchanged and left alone, before and after builds.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree as ET

from mlci.errors import ConfigError

log = logging.getLogger(__name__)

FORCE_RETRAIN = "FORCE_RETRAIN"
NIGHTLY_CRON = "MLCI_NIGHTLY_CRON"
ON_DATA_CHANGE = "MLCI_ON_DATA_CHANGE"
DECLARATIVE_TRACKER = "org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobPropertyTrackerAction"
KEEP_BUILDS = 30


@dataclass
class JobSpec:
    name: str           # full path, e.g. team/model-nightly
    role: str           # "branch" | "nightly" | "data-poll" | "folder"
    kind: str           # "pipeline" | "multibranch" | "folder"
    config_xml: str


@dataclass
class JobChange:
    spec: JobSpec
    action: str          # "create" | "update" | "unchanged"
    diff: str = ""
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.spec.name, "role": self.spec.role, "kind": self.spec.kind,
                "action": self.action, "url": self.url}


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlci", "templates/jenkins"),
        autoescape=True,  # every value lands in XML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env


def config_path_in_repo(config_path: Path) -> str:
    """mlci.yaml's path relative to the git work tree (what the pipeline passes to `-c`)."""
    path = config_path.resolve()
    for parent in path.parents:
        if (parent / ".git").exists():
            return path.relative_to(parent).as_posix()
    return path.name


def _parameters(cfg: Any) -> list[dict[str, Any]]:
    # FORCE_RETRAIN exactly as mlciPipeline declares it, so Declarative's merge changes nothing
    params = [{"name": FORCE_RETRAIN, "kind": "bool", "default": False,
               "description": "Retrain even when data, code and configuration are unchanged"},
              {"name": NIGHTLY_CRON, "kind": "string", "default": cfg.jenkins.cron,
               "description": "schedule of this job (mlci jenkins apply); mlciPipeline declares this timer"}]
    reserved = {FORCE_RETRAIN: "use --param", NIGHTLY_CRON: "use jenkins.cron",
                ON_DATA_CHANGE: "set, it makes a build a data poll: use jenkins.data_poll"}
    for name, default in cfg.jenkins.parameters.items():
        if name in reserved:
            raise ConfigError(f"{cfg.path}: jenkins.parameters: {name} is set by mlci ({reserved[name]})")
        kind = "bool" if isinstance(default, bool) else "string"
        params.append({"name": name, "kind": kind, "description": "",
                       "default": default if kind == "bool" else ("" if default is None else str(default))})
    return params


def render_jobs(cfg: Any) -> list[JobSpec]:
    """The job specs (folders first) that mlci.yaml describes."""
    js = cfg.jenkins
    if not js.scm.url:
        raise ConfigError(
            f"{cfg.path}: jenkins.scm.url is required: the jobs run the repository's Jenkinsfile (a job "
            "with an inline script has no `scm`, so `checkout scm` fails and no stage gets the code)")
    env = _environment()
    branch_name, nightly_name = js.job_names(cfg.name)
    config_rel = config_path_in_repo(cfg.path)
    description = (f"Model `{cfg.name}`: managed by mlci (`mlci jenkins apply -c {config_rel}`); "
                   "changes made in Jenkins are overwritten.")
    specs: list[JobSpec] = []
    if js.folder:
        parts = js.folder.split("/")
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            specs.append(JobSpec(folder, "folder", "folder", env.get_template("folder.xml.j2").render(
                description="Created by mlci for its jobs.")))
    scm = js.scm
    digest = hashlib.sha256(f"{branch_name}|{scm.url}".encode()).hexdigest()
    lib_digest = hashlib.sha256(f"{js.library.name}|{js.library.repository}".encode()).hexdigest()
    xml = env.get_template("multibranch-job.xml.j2").render(
        description=description, scm=scm, library=js.library, keep_builds=KEEP_BUILDS,
        source_id=f"mlci-{digest[:12]}", library_source_id=f"mlci-lib-{lib_digest[:12]}")
    specs.append(JobSpec(branch_name, "branch", "multibranch", xml))
    if js.nightly:
        if nightly_name == branch_name:
            raise ConfigError(f"{cfg.path}: jenkins.nightly_job: `{nightly_name}` is also the branch job's name")
        xml = env.get_template("pipeline-job.xml.j2").render(
            description=description.replace("Model", "Nightly retraining of model", 1),
            scm=scm, parameters=_parameters(cfg), cron=js.cron, keep_builds=KEEP_BUILDS)
        specs.append(JobSpec(nightly_name, "nightly", "pipeline", xml))
    if js.data_poll:
        specs.append(_data_poll_job(cfg, env, description, nightly_name, branch_name))
    return specs


def _data_poll_job(cfg: Any, env: Any, description: str, nightly_name: str, branch_name: str) -> JobSpec:
    js = cfg.jenkins
    name = js.data_poll_job_name(cfg.name)
    if not js.nightly:
        raise ConfigError(f"{cfg.path}: jenkins.data_poll: the poll job builds the nightly job when the data "
                          "changed; set jenkins.nightly: true (or data_poll: false)")
    if name in (branch_name, nightly_name):
        role = "branch" if name == branch_name else "nightly"
        raise ConfigError(f"{cfg.path}: jenkins.data_poll_job: `{name}` is also the {role} job's name")
    # absolute: `build` (pipeline-build-step, Jenkins.getItem) reads a leading / as a full name and anything else
    # relative to the poll job's folder first
    parameters = [{"name": ON_DATA_CHANGE, "kind": "string", "default": f"/{nightly_name}",
                   "description": "the job this one builds when the training data changed (mlci jenkins apply); "
                                  "while it is set, mlciPipeline only polls the data"}]
    xml = env.get_template("pipeline-job.xml.j2").render(
        description=description.replace("Model", "Data-change poll of model", 1),
        scm=js.scm, parameters=parameters, cron=js.data_poll_cron, keep_builds=KEEP_BUILDS)
    return JobSpec(name, "data-poll", "pipeline", xml)


def _canonical(root: ET.Element) -> None:
    """What a Declarative build may change without changing the job: its tracker in <actions>, and the
    order of properties, parameters and triggers (it removes and re-adds what it merges)."""
    actions = root.find("actions")
    if actions is not None:
        for child in list(actions):
            actions.remove(child)
    properties = root.find("properties")
    if properties is not None:
        properties[:] = sorted(properties, key=lambda el: el.tag)
    for definitions in root.iter("parameterDefinitions"):
        definitions[:] = sorted(definitions, key=lambda el: el.findtext("name") or "")
    for triggers in root.iter("triggers"):
        triggers[:] = sorted(triggers, key=lambda el: el.tag)


def keep_actions(current: str, desired: str) -> str:
    """The desired config.xml with the current job's <actions> (Declarative's tracker) kept."""
    try:
        cur = ET.fromstring(current.encode("utf-8"))
        new = ET.fromstring(desired.encode("utf-8"))
    except ET.ParseError:
        return desired
    cur_actions, new_actions = cur.find("actions"), new.find("actions")
    if cur_actions is None or new_actions is None or not len(cur_actions):
        return desired
    new_actions[:] = list(cur_actions)
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(new, encoding="unicode") + "\n"


def normalize_xml(text: str) -> str:
    """config.xml in one canonical layout, without what Jenkins adds when it saves."""
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError:
        return text.strip() + "\n"
    _canonical(root)
    for el in root.iter():
        el.attrib.pop("plugin", None)
        if el.text is not None and not el.text.strip():
            el.text = None
        el.tail = None
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def unified_diff(name: str, current: str | None, desired: str) -> str:
    old = normalize_xml(current).splitlines(keepends=True) if current is not None else []
    new = normalize_xml(desired).splitlines(keepends=True)
    return "".join(difflib.unified_diff(
        old, new, fromfile=f"{name}/config.xml (Jenkins)" if current is not None else "/dev/null",
        tofile=f"{name}/config.xml (mlci.yaml)"))


def plan(client: Any, specs: list[JobSpec]) -> list[JobChange]:
    """What apply would do for each spec, with the diff to the current config.xml."""
    changes = []
    for spec in specs:
        url = client.job_url(spec.name)
        if spec.kind == "folder":
            exists = client.job_info(spec.name, tree="name", missing_ok=True) is not None
            changes.append(JobChange(spec, "unchanged" if exists else "create", url=url))
            continue
        current = client.job_config(spec.name)
        if current is None:
            changes.append(JobChange(spec, "create", unified_diff(spec.name, None, spec.config_xml), url))
        elif normalize_xml(current) == normalize_xml(spec.config_xml):
            changes.append(JobChange(spec, "unchanged", url=url))
        else:
            kept = JobSpec(spec.name, spec.role, spec.kind, keep_actions(current, spec.config_xml))
            changes.append(JobChange(kept, "update", unified_diff(spec.name, current, spec.config_xml), url))
    return changes


def apply(client: Any, changes: list[JobChange],
          on_change: Callable[[JobChange], None] | None = None) -> None:
    """Create or update what ``plan`` found different; folders are only ever created."""
    for change in changes:
        if change.action == "create":
            client.create_job(change.spec.name, change.spec.config_xml)
        elif change.action == "update":
            client.reconfig_job(change.spec.name, change.spec.config_xml)
        if on_change:
            on_change(change)
