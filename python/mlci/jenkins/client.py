"""A Jenkins REST client: python-jenkins underneath, mlci's errors, retries and names on top.

Every HTTP request goes through one place (``_Server.jenkins_request``), which
- retries what can safely be retried (connection failures; 502/503/504; timeouts of GETs),
  turning the last failure into ``InfraError`` (exit 3);
- maps 401/403 to ``AuthError`` (exit 2: bad credentials are bad input) and 400 to
  ``UsageError``, with Jenkins' own message;
- leaves 404 as python-jenkins' ``NotFoundException`` (python-jenkins relies on it for
  ``job_exists`` and the crumb probe); the methods below turn it into a message that names
  the missing job, folder or build.
The CSRF crumb is fetched once by python-jenkins (``crumbIssuer/api/json``) and sent as a header
with every request; the session keeps Jenkins' cookie, to which a crumb is bound.
The token is only ever read from the environment and never appears in messages.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from mlci.errors import InfraError, NotFoundError, UsageError
from mlci.retry import retry

log = logging.getLogger(__name__)

_RETRY_STATUS = {502, 503, 504}


class AuthError(UsageError):
    """Jenkins refused the credentials or the user lacks a permission (exit 2)."""


class _Transient(Exception):
    """A failure worth another attempt; its text is the short reason."""


@dataclass(frozen=True)
class Connection:
    url: str
    user: str | None
    token: str | None

    @classmethod
    def from_env(cls, configured_url: str | None = None) -> "Connection":
        """JENKINS_URL (else ``jenkins.url`` of mlci.yaml), JENKINS_USER, JENKINS_TOKEN."""
        url = os.environ.get("JENKINS_URL") or configured_url
        if not url:
            raise UsageError("no Jenkins URL: set JENKINS_URL (or `jenkins.url` in mlci.yaml)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"JENKINS_URL {url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise UsageError("JENKINS_URL must not contain credentials; "
                             "set JENKINS_USER and JENKINS_TOKEN instead")
        user = os.environ.get("JENKINS_USER") or None
        token = os.environ.get("JENKINS_TOKEN") or None
        if bool(user) != bool(token):
            missing = "JENKINS_TOKEN" if user else "JENKINS_USER"
            raise UsageError(f"{missing} is not set (JENKINS_USER and JENKINS_TOKEN go together)")
        return cls(url.rstrip("/") + "/", user, token)


def job_path(name: str) -> str:
    """'team/model-nightly' -> 'job/team/job/model-nightly/' (each part URL-quoted)."""
    return "".join(f"job/{quote(part, safe='')}/" for part in name.split("/"))


def normalize_job_name(name: str, base_url: str | None = None) -> str:
    """Accept 'team/model', '/team/model/', 'job/team/job/model' or a job URL; return 'team/model'."""
    text = name.strip()
    is_url = text.startswith(("http://", "https://"))
    if is_url:
        path = urlsplit(text).path
        if base_url:
            base_path = urlsplit(base_url).path
            if path.startswith(base_path):
                path = path[len(base_path):]
        text = path
    parts = [p for p in text.strip("/").split("/") if p]
    if parts and parts[0] == "job":
        if len(parts) % 2 or any(p != "job" for p in parts[0::2]):
            raise UsageError(f"job {name!r}: expected a path like job/FOLDER/job/NAME")
        # a URL path: names are URL-encoded there (a branch `feature/x` is the item `feature%2Fx`)
        parts = [unquote(p) for p in parts[1::2]]
    elif is_url:
        raise UsageError(f"job {name!r}: expected a job URL like {base_url or 'JENKINS_URL/'}job/NAME/")
    if not parts or any(p in (".", "..") for p in parts):
        raise UsageError(f"job {name!r}: expected a job name like `model` or `team/model`")
    return "/".join(parts)


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return type(exc).__name__


def message_of(body: str, limit: int = 300) -> str:
    """The readable part of a Jenkins error response (JSON, text or an HTML error page)."""
    body = body or ""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])[:limit]
    except ValueError:
        pass
    if "<" in body:
        m = re.search(r"<(?:p|h2|pre)[^>]*>(.*?)</(?:p|h2|pre)>", body, re.S | re.I)
        body = m.group(1) if m else re.sub(r"<title>.*?</title>", "", body, flags=re.S | re.I)
        body = html.unescape(re.sub(r"<[^>]+>", " ", body))
    text = " ".join(body.split())
    return text[:limit]


# The shapes of Jenkins' answers that mlci reads (Jenkins core's api/json, Stage View's wfapi), declared
# once: a dict maps a key to the shape of its value (a missing key or null is always allowed), a
# one-element list is a list of that shape, a type or a tuple of types is the value's type.
_OPT_STR = (str, type(None))
_NUM = (int, float)
PARAMETER_SHAPE = {"name": str, "type": str, "description": _OPT_STR, "defaultParameterValue": dict}
JOB_SHAPE = {"_class": str, "name": str, "fullName": str, "url": str, "buildable": bool,
             "property": [{"parameterDefinitions": [PARAMETER_SHAPE]}],
             "builds": [{"number": int, "url": str, "building": bool, "result": _OPT_STR}],
             "lastBuild": {"number": int, "url": str}}
BUILD_SHAPE = {"number": int, "url": str, "result": _OPT_STR, "building": bool, "duration": _NUM,
               "displayName": str}
QUEUE_ITEM_SHAPE = {"_class": str, "id": int, "cancelled": bool, "why": _OPT_STR, "blocked": bool,
                    "buildable": bool, "executable": {"number": int, "url": str}}
DESCRIBE_SHAPE = {"status": str, "stages": [{"id": (str, int), "name": str, "status": str,
                                            "durationMillis": _NUM}]}
PENDING_INPUTS_SHAPE = [{"id": str, "message": _OPT_STR, "proceedText": _OPT_STR,
                         "inputs": [{"name": str, "type": str, "definition": dict}]}]
CRUMB_SHAPE = {"crumb": str, "crumbRequestField": str}


def check_shape(value: Any, shape: Any, where: str = "") -> str | None:
    """Where VALUE departs from SHAPE (a path like `builds[0].number: expected int, got str`), or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where or 'the answer'}: expected an object, got {type(value).__name__}"
        for key, sub in shape.items():
            if value.get(key) is not None:
                problem = check_shape(value[key], sub, f"{where}.{key}" if where else key)
                if problem:
                    return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where or 'the answer'}: expected a list, got {type(value).__name__}"
        for i, item in enumerate(value):
            problem = check_shape(item, shape[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    types = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in types:
        return f"{where}: expected {'/'.join(t.__name__ for t in types)}, got bool"
    if not isinstance(value, types):
        return f"{where or 'the answer'}: expected {'/'.join(t.__name__ for t in types)}, got {type(value).__name__}"
    return None


def parse_answer(text: str, what: str, base_url: str, shape: Any, content_type: str = "") -> Any:
    """Jenkins' JSON answer to WHAT, checked against SHAPE. An HTML page (a proxy's or an SSO login
    page answering 200) is bad input (exit 2: JENKINS_URL or the proxy is wrong, retrying will not
    help); a body that is not JSON, or JSON of another shape, is an infrastructure failure (exit 3)."""
    stripped = text.lstrip()
    if "html" in content_type.lower() or stripped[:1] == "<":
        raise UsageError(f"Jenkins at {base_url} answered {what} with an HTML page, not its JSON API "
                         f"({message_of(text, 80)!r}): a login page of a proxy? Check JENKINS_URL")
    try:
        data = json.loads(text)
    except ValueError:
        raise InfraError(f"Jenkins at {base_url} answered {what} with JSON that does not parse "
                         f"(truncated?): {text[:60]!r}") from None
    problem = check_shape(data, shape)
    if problem:
        raise InfraError(f"Jenkins at {base_url} answered {what} with JSON of another shape ({problem}); "
                         "is JENKINS_URL a Jenkins?")
    return data


def _make_server_class() -> type:
    import jenkins
    import requests

    class _Server(jenkins.Jenkins):
        """python-jenkins with one request path that knows mlci's errors and retries."""

        def __init__(self, conn: Connection, timeout: float):
            super().__init__(conn.url, username=conn.user, password=conn.token, timeout=timeout)
            self._conn = conn

        def jenkins_request(self, req, add_crumb=True, resolve_auth=True, stream=None):
            what = f"{req.method} {self._describe(req.url)}"
            safe = req.method in ("GET", "HEAD")

            def once():
                if resolve_auth:
                    self._maybe_add_auth()
                if add_crumb:
                    self.maybe_add_crumb(req)
                try:
                    resp = self._request(req, stream)
                except requests.exceptions.ConnectTimeout as exc:
                    raise _Transient(_short_reason(exc)) from None
                except requests.exceptions.Timeout:
                    if safe:
                        raise _Transient("timed out") from None
                    raise InfraError(f"Jenkins at {self._conn.url}: {what}: timed out; "
                                     "the request may or may not have taken effect") from None
                except requests.exceptions.ConnectionError as exc:
                    raise _Transient(_short_reason(exc)) from None
                if resp.status_code in _RETRY_STATUS:
                    raise _Transient(f"HTTP {resp.status_code} {resp.reason}")
                return resp

            resp = retry(once, what=f"Jenkins at {self._conn.url} unreachable: {what}", on=(_Transient,))
            self._check(resp, what)
            return resp

        def maybe_add_crumb(self, req):
            """python-jenkins' crumb probe, with the answer checked: a redirect to a login page or a body
            that is not a crumb is one clear error (python-jenkins would fail with a KeyError)."""
            if self.crumb is None:
                try:
                    resp = self.jenkins_request(requests.Request("GET", self._build_url(jenkins.CRUMB_URL)),
                                                add_crumb=False)
                except jenkins.NotFoundException:
                    self.crumb = False
                else:
                    self.crumb = parse_answer(resp.text, "GET crumbIssuer/api/json", self._conn.url, CRUMB_SHAPE,
                                              resp.headers.get("Content-Type", "")) if resp.text else False
                    if self.crumb is not False and not (self.crumb.get("crumb") and self.crumb.get("crumbRequestField")):
                        raise InfraError(f"Jenkins at {self._conn.url} answered GET crumbIssuer/api/json without a "
                                         "crumb; is JENKINS_URL a Jenkins?")
            if self.crumb:
                req.headers[self.crumb["crumbRequestField"]] = self.crumb["crumb"]

        def _describe(self, url: str) -> str:
            path = url.split("?", 1)[0]
            return path[len(self.server):] if path.startswith(self.server) else path

        def _check(self, resp, what: str) -> None:
            code = resp.status_code
            if code < 400:
                return
            text = message_of(resp.text)
            if code == 401:
                who = f"user `{self._conn.user}`" if self._conn.user else "anonymous access"
                raise AuthError(f"Jenkins at {self._conn.url} rejected {who} (HTTP 401): "
                                "check JENKINS_USER and JENKINS_TOKEN")
            if code == 403:
                if "crumb" in text.lower():
                    raise AuthError(f"Jenkins refused {what}: no valid CSRF crumb (HTTP 403): {text}")
                if not self._conn.user:
                    raise AuthError(f"Jenkins at {self._conn.url} refused anonymous access to {what} "
                                    "(HTTP 403): set JENKINS_USER and JENKINS_TOKEN")
                raise AuthError(f"user `{self._conn.user}` is not allowed to {what} (HTTP 403)"
                                + (f": {text}" if text else ""))
            if code == 404:
                raise jenkins.NotFoundException(what)
            if code < 500:
                raise UsageError(f"Jenkins refused {what} (HTTP {code})" + (f": {text}" if text else ""))
            raise InfraError(f"Jenkins failed on {what} (HTTP {code})" + (f": {text}" if text else ""))

    return _Server


class JenkinsClient:
    """What the mlci commands need from Jenkins, with names in every error."""

    def __init__(self, conn: Connection, timeout: float | None = None):
        import jenkins
        import requests

        self._jenkins = jenkins
        self._requests = requests
        self.conn = conn
        self.url = conn.url
        timeout = timeout or float(os.environ.get("MLCI_JENKINS_TIMEOUT", "30"))
        self.server = _make_server_class()(conn, timeout)

    # -- plumbing -------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.url + path.lstrip("/")

    def request(self, method: str, path: str, **kwargs: Any):
        req = self._requests.Request(method, self._url(path), **kwargs)
        return self.server.jenkins_request(req)

    def get_json(self, path: str, params: dict[str, Any] | None = None, shape: Any = dict) -> Any:
        """GET a JSON answer and check it against ``shape`` (see ``check_shape``): a login page, a
        truncated body or JSON of another shape is one clear error, never an internal one."""
        resp = self.request("GET", path, params=params)
        return parse_answer(resp.text, f"GET {path.split('?', 1)[0]}", self.url, shape,
                            resp.headers.get("Content-Type", ""))

    def job_url(self, name: str) -> str:
        return self._url(job_path(name))

    def _missing_job(self, name: str) -> NotFoundError:
        """Name the first missing part of a job path: the folder or the job itself."""
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if self.job_info(folder, tree="name", missing_ok=True) is None:
                return NotFoundError(f"folder `{folder}` not found on Jenkins at {self.url} "
                                     f"(looking for job `{name}`)")
        return NotFoundError(f"job `{name}` not found on Jenkins at {self.url}")

    # -- jobs -----------------------------------------------------------------------------
    def job_info(self, name: str, tree: str | None = None, missing_ok: bool = False) -> dict | None:
        try:
            return self.get_json(job_path(name) + "api/json", params={"tree": tree} if tree else None,
                                 shape=JOB_SHAPE)
        except self._jenkins.NotFoundException:
            if missing_ok:
                return None
            raise self._missing_job(name) from None

    def job_config(self, name: str) -> str | None:
        """The job's config.xml, or None when the job does not exist."""
        try:
            return self.server.get_job_config(name)
        except self._jenkins.NotFoundException:
            return None

    def create_job(self, name: str, config_xml: str) -> None:
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        if parent and self.job_info(parent, tree="name", missing_ok=True) is None:
            raise self._missing_job(parent)
        try:
            self.server.create_job(name, config_xml)
        except self._jenkins.JenkinsException as exc:
            if isinstance(exc, self._jenkins.NotFoundException):
                raise self._missing_job(name) from None
            raise UsageError(f"could not create job `{name}`: {exc}") from None

    def reconfig_job(self, name: str, config_xml: str) -> None:
        try:
            self.server.reconfig_job(name, config_xml)
        except self._jenkins.NotFoundException:
            raise self._missing_job(name) from None

    def whoami(self) -> str:
        return str(self.get_json("me/api/json", params={"tree": "id"}, shape={"id": (str, type(None))}).get("id")
                   or "anonymous")

    # -- builds ---------------------------------------------------------------------------
    def build(self, name: str, parameters: dict[str, str] | None) -> int:
        """Queue a build; return the queue item id from the Location header."""
        path = job_path(name) + ("buildWithParameters" if parameters is not None else "build")
        try:
            resp = self.request("POST", path, data=parameters or None)
        except self._jenkins.NotFoundException:
            raise self._missing_job(name) from None
        location = resp.headers.get("Location", "")
        m = re.search(r"/queue/item/(\d+)/?$", location)
        if not m:
            raise InfraError(f"Jenkins queued `{name}` but sent no queue item (Location: {location!r})")
        return int(m.group(1))

    def queue_item(self, queue_id: int) -> dict:
        try:
            return self.get_json(f"queue/item/{queue_id}/api/json", shape=QUEUE_ITEM_SHAPE)
        except self._jenkins.NotFoundException:
            raise NotFoundError(f"queue item {queue_id} not found on Jenkins at {self.url} "
                                "(Jenkins forgets queue items a few minutes after they start)") from None

    def _build_path(self, name: str, number: int) -> str:
        return f"{job_path(name)}{int(number)}/"

    def _missing_build(self, name: str, number: int) -> NotFoundError:
        self.job_info(name, tree="name")  # raises when the job itself is missing
        return NotFoundError(f"job `{name}` has no build #{number} on Jenkins at {self.url}")

    def build_info(self, name: str, number: int) -> dict:
        try:
            return self.get_json(self._build_path(name, number) + "api/json",
                                 params={"tree": "number,url,result,building,duration,displayName"},
                                 shape=BUILD_SHAPE)
        except self._jenkins.NotFoundException:
            raise self._missing_build(name, number) from None

    def stages(self, name: str, number: int) -> dict | None:
        """wfapi/describe of a pipeline build; None when the stage view API is not there."""
        try:
            return self.get_json(self._build_path(name, number) + "wfapi/describe", shape=DESCRIBE_SHAPE)
        except self._jenkins.NotFoundException:
            return None

    def console_text(self, name: str, number: int) -> str:
        try:
            return self.request("GET", self._build_path(name, number) + "consoleText").text
        except self._jenkins.NotFoundException:
            return ""

    def running_builds(self, name: str, limit: int = 20) -> list[dict]:
        info = self.job_info(name, tree=f"builds[number,url,building,result]{{0,{limit}}}")
        return [b for b in (info or {}).get("builds", []) if b.get("building")]

    # -- inputs ---------------------------------------------------------------------------
    def pending_inputs(self, name: str, number: int) -> list[dict]:
        try:
            data = self.get_json(self._build_path(name, number) + "wfapi/pendingInputActions",
                                 shape=PENDING_INPUTS_SHAPE)
        except self._jenkins.NotFoundException:
            self.build_info(name, number)  # names a missing job or build
            raise UsageError(f"Jenkins at {self.url} does not serve wfapi/pendingInputActions for "
                             f"`{name}` #{number}: is it a Pipeline build, and is the Pipeline: "
                             "Stage View plugin installed?") from None
        return data if isinstance(data, list) else []

    def _input_post(self, name: str, number: int, input_id: str, action: str, data: Any = None) -> None:
        path = f"{self._build_path(name, number)}input/{quote(input_id, safe='')}/{action}"
        try:
            self.request("POST", path, data=data)
        except self._jenkins.NotFoundException:
            raise NotFoundError(f"build `{name}` #{number} has no pending input `{input_id}` "
                                "(already answered?)") from None

    def proceed(self, name: str, number: int, input_id: str, values: dict[str, Any] | None) -> None:
        """Approve an input: ``proceedEmpty`` without values, else ``proceed`` with the form's json."""
        if not values:
            self._input_post(name, number, input_id, "proceedEmpty")
            return
        form = {"json": json.dumps({"parameter": [{"name": k, "value": v} for k, v in values.items()]})}
        self._input_post(name, number, input_id, "proceed", data=form)

    def abort_input(self, name: str, number: int, input_id: str) -> None:
        self._input_post(name, number, input_id, "abort")

    def stop_build(self, name: str, number: int) -> None:
        try:
            self.request("POST", self._build_path(name, number) + "stop")
        except self._jenkins.NotFoundException:
            raise self._missing_build(name, number) from None
