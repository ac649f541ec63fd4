"""Jobs as code: the project's Jenkins jobs rendered from jinja2 templates, compared, upserted.

Two jobs per project (mlci.yaml ``jenkins:``):
- the branch pipeline job: a multibranch project over ``jenkins.scm.url`` (each branch runs the
  repository's Jenkinsfile, the mlci library attached as a folder library when
  ``jenkins.library.repository`` is set), or without a repository a pipeline job whose script is
  ``@Library('mlci') _`` + ``mlciPipeline(config: 'mlci.yaml')``;
- the nightly retraining job: a pipeline job with a cron trigger and a FORCE_RETRAIN parameter
  (plus ``jenkins.parameters``), running the same script (or the Jenkinsfile of ``scm.branch``).

Comparison ignores what Jenkins adds when it saves a config (``plugin="..."`` attributes, the
XML declaration, whitespace), so an unchanged job is reported unchanged and left alone.
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
KEEP_BUILDS = 30


@dataclass
class JobSpec:
    name: str           # full path, e.g. team/model-nightly
    role: str           # "branch" | "nightly" | "folder"
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


def groovy_literal(value: Any) -> str:
    """A Groovy literal for a config value; strings single-quoted (no interpolation)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(groovy_literal(v) for v in value) + "]"
    text = str(value)
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f"'{escaped}'"


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


def pipeline_script(cfg: Any, config_rel: str, nightly: bool = False) -> str:
    """The inline script: the library reference and one mlciPipeline call.

    Argument names are mlciPipeline's (vars/mlciPipeline.groovy). The nightly job also passes
    ``nightly: true`` and the cron spec, so the pipeline's own ``triggers`` directive keeps the
    schedule that the job config already has before the first run.
    """
    js = cfg.jenkins
    args: dict[str, Any] = {"config": config_rel}
    optional = {"agentLabel": js.agents.label, "gpuLabel": js.agents.gpu_label,
                "approvers": list(cfg.promote.approvers) or None,
                "storeCredentialsId": js.credentials.store,
                "registryCredentialsId": js.credentials.registry}
    args.update({k: v for k, v in optional.items() if v is not None})
    if nightly:
        args.update({"nightly": True, "cron": js.cron})
    args.update(js.pipeline_args)
    rendered = ", ".join(f"{k}: {groovy_literal(v)}" for k, v in args.items())
    return ("// Managed by `mlci jenkins apply` from mlci.yaml; changes made here are overwritten.\n"
            f"@Library({groovy_literal(js.library.reference)}) _\n"
            f"mlciPipeline({rendered})\n")


def _parameters(cfg: Any) -> list[dict[str, Any]]:
    params = [{"name": FORCE_RETRAIN, "kind": "bool", "default": False,
               "description": "retrain even when data, code and config are unchanged"}]
    for name, default in cfg.jenkins.parameters.items():
        if name == FORCE_RETRAIN:
            params[0]["default"] = bool(default)
            continue
        kind = "bool" if isinstance(default, bool) else "string"
        params.append({"name": name, "kind": kind, "description": "",
                       "default": default if kind == "bool" else ("" if default is None else str(default))})
    return params


def render_jobs(cfg: Any) -> list[JobSpec]:
    """The job specs (folders first) that mlci.yaml describes."""
    js = cfg.jenkins
    env = _environment()
    branch_name, nightly_name = js.job_names(cfg.name)
    config_rel = config_path_in_repo(cfg.path)
    script = pipeline_script(cfg, config_rel)
    if not js.scm.url and not cfg.promote.approvers and js.pipeline_args.get("promote") is not False:
        log.warning("promote.approvers is empty: mlciPipeline needs approvers for its promotion stage "
                    "(or set `jenkins.pipeline_args: {promote: false}`)")
    description = (f"Model `{cfg.name}`: managed by mlci (`mlci jenkins apply -c {config_rel}`); "
                   "changes made in Jenkins are overwritten.")
    specs: list[JobSpec] = []
    if js.folder:
        parts = js.folder.split("/")
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            specs.append(JobSpec(folder, "folder", "folder", env.get_template("folder.xml.j2").render(
                description="Created by mlci for its jobs.")))
    scm = js.scm if js.scm.url else None
    if scm:
        digest = hashlib.sha256(f"{branch_name}|{scm.url}".encode()).hexdigest()
        lib_digest = hashlib.sha256(f"{js.library.name}|{js.library.repository}".encode()).hexdigest()
        xml = env.get_template("multibranch-job.xml.j2").render(
            description=description, scm=scm, library=js.library, keep_builds=KEEP_BUILDS,
            source_id=f"mlci-{digest[:12]}", library_source_id=f"mlci-lib-{lib_digest[:12]}")
        specs.append(JobSpec(branch_name, "branch", "multibranch", xml))
    else:
        xml = env.get_template("pipeline-job.xml.j2").render(
            description=description, script=script, scm=None, parameters=[], cron=None,
            keep_builds=KEEP_BUILDS)
        specs.append(JobSpec(branch_name, "branch", "pipeline", xml))
    if js.nightly:
        if nightly_name == branch_name:
            raise ConfigError(f"{cfg.path}: jenkins.nightly_job: `{nightly_name}` is also the branch job's name")
        xml = env.get_template("pipeline-job.xml.j2").render(
            description=description.replace("Model", "Nightly retraining of model", 1),
            script=pipeline_script(cfg, config_rel, nightly=True), scm=scm, parameters=_parameters(cfg),
            cron=js.cron, keep_builds=KEEP_BUILDS)
        specs.append(JobSpec(nightly_name, "nightly", "pipeline", xml))
    return specs


def normalize_xml(text: str) -> str:
    """config.xml in one canonical layout, without what Jenkins adds when it saves."""
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError:
        return text.strip() + "\n"
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
            changes.append(JobChange(spec, "update", unified_diff(spec.name, current, spec.config_xml), url))
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
