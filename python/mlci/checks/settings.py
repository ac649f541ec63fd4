"""The ``checks:`` section of mlci.yaml: one :class:`Check` per command, as pydantic models.

config.py imports this module for ``CheckList``; it imports nothing of mlci and nothing heavy
(running the checks is ``mlci.checks.runner``).
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


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

