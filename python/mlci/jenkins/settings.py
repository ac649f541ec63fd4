"""The ``jenkins:`` section of mlci.yaml: where the project's jobs live and how they are built.

Kept free of mlci.config imports (config.py imports this module), with the same rules as
``config.Section``: unknown keys are errors.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Jenkins item names may not contain these (Jenkins.checkGoodName); we are stricter: no spaces.
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Library(_Section):
    name: str = Field("mlci", description="name of the shared library as registered in Jenkins")
    version: str | None = Field(
        None, description="branch, tag or commit of the library; null: the library's default version")
    repository: str | None = Field(
        None, description="git URL of the library; when set, the branch job (multibranch) gets the "
                          "library as a folder library, so no global configuration is needed")
    credentials_id: str | None = Field(None, description="Jenkins credentials id to clone the library")

    @property
    def reference(self) -> str:
        """What goes into ``@Library('...')``."""
        return f"{self.name}@{self.version}" if self.version else self.name


class Scm(_Section):
    url: str | None = Field(
        None, description="git URL of the project (required by `mlci jenkins apply`): the branch job is a "
                          "multibranch project over it and the nightly job runs the Jenkinsfile of `branch`")
    credentials_id: str | None = Field(None, description="Jenkins credentials id to clone the project")
    branch: str = Field("main", description="branch the nightly job builds")
    jenkinsfile: str = Field("Jenkinsfile", description="path of the Jenkinsfile in the repository")


class Jenkins(_Section):
    url: str | None = Field(None, description="Jenkins URL; JENKINS_URL in the environment wins")
    folder: str | None = Field(None, description="folder path the jobs live in, e.g. `team` or `ml/team`")
    branch_job: str | None = Field(None, description="name of the branch pipeline job; default: the model name")
    nightly_job: str | None = Field(
        None, description="name of the nightly retraining job; default: `<model name>-nightly`")
    nightly: bool = Field(True, description="create the nightly retraining job")
    cron: str = Field("H 2 * * *", description="cron spec of the nightly job (Jenkins syntax, H allowed)")
    data_poll: bool = Field(
        False, description="create the data-change poll job: on its own timer it only computes the data "
                           "fingerprint (`mlci data status`) and builds the nightly job when the data changed")
    data_poll_cron: str = Field("H/15 * * * *", description="cron spec of the data-change poll job")
    data_poll_job: str | None = Field(
        None, description="name of the data-change poll job; default: `<model name>-data-poll`")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="extra nightly job parameters, name: default (bool -> checkbox, else string)")
    library: Library = Field(default_factory=Library)
    scm: Scm = Field(default_factory=Scm)
    promote_input: str = Field("Promote", description="id of the promotion input step")
    reason_parameter: str | None = Field(
        None, description="name of the input's reason parameter; default: the one named like `reason`")

    @field_validator("folder")
    @classmethod
    def _folder_path(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip("/")
        if not _FOLDER.match(v):
            raise ValueError(f"{v!r} is not a folder path: use names of letters, digits, '.', '_', '-' "
                             "separated by '/'")
        return v

    @field_validator("branch_job", "nightly_job", "data_poll_job")
    @classmethod
    def _job_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r} is not a job name: use letters, digits, '.', '_' and '-'")
        return v

    @field_validator("parameters")
    @classmethod
    def _identifiers(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"{key!r} is not a valid name: use letters, digits and '_'")
            if not isinstance(value, (str, bool, int, float)) and value is not None:
                raise ValueError(f"{key}: expected a string, number or boolean, got {type(value).__name__}")
        return v

    def job_names(self, model_name: str) -> tuple[str, str]:
        """(branch job, nightly job) as full paths including the folder."""
        return (self._in_folder(self.branch_job or model_name),
                self._in_folder(self.nightly_job or f"{model_name}-nightly"))

    def data_poll_job_name(self, model_name: str) -> str:
        """The data-change poll job as a full path including the folder."""
        return self._in_folder(self.data_poll_job or f"{model_name}-data-poll")

    def _in_folder(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder else name
