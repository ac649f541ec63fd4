"""Builds and promotion inputs: trigger and follow a build, list, approve and abort inputs.

The library reports progress through a callback (``on_event(kind, data)``) and returns data;
the command layer decides how to show it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mlci.errors import CheckFailed, InfraError, NotFoundError, UsageError
from mlci.results import Failure, failure

Event = Callable[[str, dict], None]

# wfapi stage statuses that will not change any more
STAGE_DONE = {"SUCCESS", "FAILED", "ABORTED", "UNSTABLE", "NOT_EXECUTED", "SKIPPED"}


def poll_interval() -> float:
    return float(os.environ.get("MLCI_JENKINS_POLL", "2"))


@dataclass
class BuildOutcome:
    job: str
    queue_id: int
    number: int | None = None
    url: str | None = None
    result: str | None = None          # SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT; None: running
    stages: list[dict] = field(default_factory=list)
    failed_stage: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "queue_id": self.queue_id, "number": self.number, "url": self.url,
                "result": self.result, "failed_stage": self.failed_stage,
                "stages": [{"name": s.get("name"), "status": s.get("status"),
                            "duration_ms": s.get("durationMillis")} for s in self.stages]}


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out


def job_parameters(info: dict) -> list[dict]:
    """Parameter definitions of a job from its api/json."""
    for prop in info.get("property") or []:
        if prop and prop.get("parameterDefinitions"):
            return prop["parameterDefinitions"]
    return []


def queue(client: Any, job: str, params: dict[str, str]) -> tuple[int, dict]:
    """Check the job and its parameters, queue a build; return (queue id, job info)."""
    info = client.job_info(job, tree="name,fullName,url,buildable,_class,"
                                      "property[parameterDefinitions[name,type,defaultParameterValue[value]]]")
    cls = info.get("_class", "")
    if "MultiBranchProject" in cls or cls.endswith(".Folder") or cls.endswith("OrganizationFolder"):
        raise UsageError(f"`{job}` is a folder or multibranch project, not a job; "
                         f"name a branch job, e.g. `{job}/main`")
    if info.get("buildable") is False:
        raise UsageError(f"job `{job}` is disabled on Jenkins at {client.url}")
    defs = job_parameters(info)
    known = [d.get("name") for d in defs]
    unknown = [k for k in params if k not in known]
    if unknown:
        expected = ", ".join(known) if known else "none (the job takes no parameters)"
        raise UsageError(f"job `{job}` has no parameter `{unknown[0]}`; its parameters: {expected}")
    queue_id = client.build(job, params if defs else None)
    return queue_id, info


def wait_for_start(client: Any, outcome: BuildOutcome, deadline: float, on_event: Event) -> None:
    """Follow the queue item until it becomes a build (or is cancelled)."""
    last_why = None
    while True:
        item = client.queue_item(outcome.queue_id)
        executable = item.get("executable")
        if executable and executable.get("number") is not None:
            outcome.number = int(executable["number"])
            outcome.url = executable.get("url")
            on_event("started", {"number": outcome.number, "url": outcome.url})
            return
        if item.get("cancelled"):
            outcome.result = "CANCELLED"
            raise CheckFailed(f"queue item {outcome.queue_id} of `{outcome.job}` was cancelled before it started")
        why = item.get("why")
        if why and why != last_why:
            on_event("waiting", {"why": why})
            last_why = why
        if time.monotonic() > deadline:
            raise InfraError(f"`{outcome.job}` still waiting in the queue (item {outcome.queue_id}): "
                             f"{why or 'no reason given'}")
        time.sleep(poll_interval())


def follow(client: Any, outcome: BuildOutcome, deadline: float, on_event: Event) -> None:
    """Follow a started build to its result, reporting stage changes and pending inputs."""
    seen: dict[str, str] = {}
    announced_inputs: set[str] = set()
    while True:
        info = client.build_info(outcome.job, outcome.number)
        outcome.url = info.get("url") or outcome.url
        desc = client.stages(outcome.job, outcome.number)
        if desc is not None:
            outcome.stages = desc.get("stages") or []
            for stage in outcome.stages:
                key, status = str(stage.get("id") or stage.get("name")), stage.get("status")
                if seen.get(key) != status:
                    seen[key] = status
                    on_event("stage", dict(stage))
                if status == "PAUSED_PENDING_INPUT":
                    for action in client.pending_inputs(outcome.job, outcome.number):
                        if action.get("id") not in announced_inputs:
                            announced_inputs.add(action.get("id"))
                            on_event("input", dict(action))
        if not info.get("building") and info.get("result"):
            outcome.result = info["result"]
            failed = [s.get("name") for s in outcome.stages if s.get("status") in ("FAILED", "UNSTABLE")]
            outcome.failed_stage = failed[0] if failed else None
            return
        if time.monotonic() > deadline:
            raise InfraError(f"`{outcome.job}` #{outcome.number} still running after the timeout; "
                             f"it goes on in Jenkins: {outcome.url}")
        time.sleep(poll_interval())


def trigger(client: Any, job: str, params: dict[str, str], wait: bool, timeout: float,
            on_event: Event) -> BuildOutcome:
    """Queue a build, follow it to its start (and with ``wait`` to its result)."""
    deadline = time.monotonic() + timeout
    queue_id, _ = queue(client, job, params)
    outcome = BuildOutcome(job=job, queue_id=queue_id)
    on_event("queued", {"queue_id": queue_id})
    wait_for_start(client, outcome, deadline, on_event)
    if wait:
        follow(client, outcome, deadline, on_event)
    return outcome


def _refusal(outcome: BuildOutcome) -> str | None:
    """Why a build did not succeed (UNSTABLE, FAILURE, ABORTED, NOT_BUILT), or None."""
    if outcome.result in (None, "SUCCESS"):
        return None
    where = f" in stage `{outcome.failed_stage}`" if outcome.failed_stage else ""
    ref = f"`{outcome.job}` #{outcome.number}"
    if outcome.result == "ABORTED":
        return f"build {ref} was ABORTED (stopped by a user, a timeout or a rejected input): {outcome.url}"
    return f"build {ref} finished {outcome.result}{where}: {outcome.url}"


def failures(outcome: BuildOutcome) -> list[Failure]:
    """The build that did not succeed, named by its failed stage (else job and number)."""
    why = _refusal(outcome)
    if why is None:
        return []
    return [failure(outcome.failed_stage or f"{outcome.job} #{outcome.number}", why)]


def result_exit(outcome: BuildOutcome) -> None:
    """Raise for a build that did not succeed: UNSTABLE, FAILURE, ABORTED, NOT_BUILT -> exit 1."""
    why = _refusal(outcome)
    if why is not None:
        raise CheckFailed(why, failures=failures(outcome))


# -- inputs ---------------------------------------------------------------------------------

@dataclass
class PendingInput:
    job: str
    number: int
    id: str
    message: str
    proceed_text: str | None
    parameters: list[dict]

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "build": self.number, "input_id": self.id, "message": self.message,
                "proceed_text": self.proceed_text,
                "parameters": [{"name": p.get("name"), "type": p.get("type")} for p in self.parameters]}


def pending(client: Any, job: str, number: int | None) -> list[PendingInput]:
    """Pending inputs of one build, or of every running build of the job."""
    numbers = [number] if number is not None else [int(b["number"]) for b in client.running_builds(job)]
    out = []
    for n in numbers:
        for action in client.pending_inputs(job, n):
            out.append(PendingInput(job, n, str(action.get("id")), str(action.get("message") or ""),
                                    action.get("proceedText"), list(action.get("inputs") or [])))
    return out


def find_input(client: Any, job: str, number: int, input_id: str) -> PendingInput:
    """The pending input ``input_id`` (Jenkins capitalizes ids: `promote` matches `Promote`)."""
    inputs = pending(client, job, number)
    for match in (lambda i: i.id == input_id, lambda i: i.id.lower() == input_id.lower()):
        for item in inputs:
            if match(item):
                return item
    if inputs:
        ids = ", ".join(f"`{i.id}`" for i in inputs)
        raise NotFoundError(f"build `{job}` #{number} has no pending input `{input_id}`; pending: {ids}")
    info = client.build_info(job, number)
    state = "still running" if info.get("building") else f"finished {info.get('result')}"
    raise NotFoundError(f"build `{job}` #{number} has no pending input `{input_id}` "
                        f"(nothing is waiting; the build {state})")


def reason_parameter(item: PendingInput, configured: str | None) -> str | None:
    """Which of the input's parameters takes the reason."""
    names = [str(p.get("name")) for p in item.parameters]
    if configured:
        return configured if configured in names else None
    for name in names:
        if name.lower() in ("reason", "promote_reason", "promotion_reason", "comment"):
            return name
    text = [str(p.get("name")) for p in item.parameters
            if p.get("type") in ("StringParameterDefinition", "TextParameterDefinition")]
    return text[0] if len(text) == 1 else None


def approve(client: Any, job: str, number: int, input_id: str, reason: str | None,
            reason_param: str | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Answer the input with Proceed; the reason goes into the input's reason parameter.

    Jenkins settles every parameter left out of the submission as null (it does not apply the
    declared defaults), so each parameter is sent: the reason, ``params``, else its default.
    """
    item = find_input(client, job, number, input_id)
    names = [str(p.get("name")) for p in item.parameters]
    values: dict[str, Any] = {}
    for p in item.parameters:
        default = (p.get("definition") or {}).get("defaultVal")
        if default is not None:
            values[str(p.get("name"))] = default
    for key, value in (params or {}).items():
        if key not in names:
            listed = ", ".join(f"`{n}`" for n in names) or "none"
            raise UsageError(f"input `{item.id}` of `{job}` #{number} has no parameter `{key}` "
                             f"(its parameters: {listed})")
        values[key] = value
    if reason is not None:
        name = reason_parameter(item, reason_param)
        if name is None:
            listed = ", ".join(f"`{n}`" for n in names) or "none"
            wanted = f"`{reason_param}`" if reason_param else "a reason"
            raise UsageError(f"input `{item.id}` of `{job}` #{number} has no parameter for {wanted} "
                             f"(its parameters: {listed}); the reason would be lost")
        values[name] = reason
    approver = client.whoami()
    client.proceed(job, number, item.id, values or None)
    return {"job": job, "build": number, "input_id": item.id, "approver": approver,
            "reason": reason, "parameters": values}


def abort(client: Any, job: str, number: int, input_id: str) -> dict[str, Any]:
    item = find_input(client, job, number, input_id)
    who = client.whoami()
    client.abort_input(job, number, item.id)
    return {"job": job, "build": number, "input_id": item.id, "aborted_by": who}
