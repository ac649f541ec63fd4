"""A local stand-in for the Jenkins REST endpoints `mlci jenkins` uses. It is NOT a Jenkins.

Jenkins cannot be installed here, so this threaded HTTP server on 127.0.0.1 answers with the
request and response shapes of Jenkins core (api/json, createItem, config.xml, build,
buildWithParameters, queue items, crumbIssuer, consoleText, me), the Pipeline Stage View plugin
(wfapi/describe, wfapi/pendingInputActions) and the Pipeline Input Step plugin
(input/<id>/proceed, proceedEmpty, abort):
- basic auth with user:token (401 on a wrong token, 403 for anonymous or read-only users);
- a CSRF crumb bound to the session cookie; a POST without it gets 403 "No valid crumb";
- folders (job/<folder>/job/<name>/), created items stored as XML the way Jenkins stores them
  (plugin="..." attributes added, XML 1.1 declaration);
- builds follow a scripted plan, one step per poll: queue item -> build -> stages ->
  optional input (PAUSED_PENDING_INPUT until answered) -> result.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree as ET

DECLARATIVE_TRACKER = "org.jenkinsci.plugins.pipeline.modeldefinition.actions.DeclarativeJobPropertyTrackerAction"
TRIGGERS_PROPERTY = "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"

ROOT_CLASSES = {
    "flow-definition": ("org.jenkinsci.plugins.workflow.job.WorkflowJob", "workflow-job@1436.vfa_244484591f"),
    "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject": (
        "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject", "workflow-multibranch@791.v28fb_f74dfca_e"),
    "com.cloudbees.hudson.plugins.folder.Folder": (
        "com.cloudbees.hudson.plugins.folder.Folder", "cloudbees-folder@6.928.v7c780211d66e"),
}


@dataclass
class InputPlan:
    id: str = "Promote"
    message: str = "Promote to production?"
    ok: str = "Promote"
    submitter: list[str] | None = None          # None: anyone with Job/Build
    parameters: list[dict] = field(default_factory=lambda: [
        {"name": "REASON", "type": "StringParameterDefinition", "description": "why"}])


@dataclass
class Plan:
    stages: list[tuple[str, str]] = field(default_factory=lambda: [("Train", "SUCCESS"), ("Evaluate", "SUCCESS")])
    result: str = "SUCCESS"
    input: InputPlan | None = None               # asked after the last stage, in stage "Promote"
    queue_polls: int = 2                         # polls of the queue item before the build starts


@dataclass
class Build:
    job: str
    number: int
    plan: Plan
    params: dict[str, str]
    tick: int = 0
    input_state: str | None = None               # None, "pending", "approved", "aborted"
    result: str | None = None
    console: list[str] = field(default_factory=list)

    def stage_list(self) -> list[tuple[str, str]]:
        stages = list(self.plan.stages)
        if self.plan.input:
            stages.append(("Promote", "INPUT"))
        return stages

    def advance(self) -> None:
        """One step of the build per poll."""
        if self.result:
            return
        if self.input_state == "pending":
            return
        self.tick += 1
        stages = self.stage_list()
        done = self.tick // 2                     # a stage takes two polls
        if self.plan.input and done >= len(stages) - 1 and self.input_state is None:
            self.input_state = "pending"
            self.console.append(f"[Pipeline] input\n{self.plan.input.message}\nProceed or Abort")
            return
        if done >= len(stages):
            failing = next((s for s in self.plan.stages if s[1] in ("FAILED", "UNSTABLE")), None)
            self.result = self.plan.result
            if failing and failing[1] == "FAILED":
                self.console.append(f"ERROR: script returned exit code 1 in stage {failing[0]}")
            self.console.append(f"Finished: {self.result}")

    def stages_json(self, base: str) -> list[dict]:
        out = []
        stages = self.stage_list()
        done = self.tick // 2
        for i, (name, status) in enumerate(stages):
            if self.result is None and i > done:
                break
            if name == "Promote" and status == "INPUT":
                st = {"pending": "PAUSED_PENDING_INPUT", "approved": "SUCCESS",
                      "aborted": "ABORTED"}.get(self.input_state or "", "IN_PROGRESS")
            elif i < done or self.result is not None:
                st = status
            else:
                st = "IN_PROGRESS"
            if self.result is not None and st == "IN_PROGRESS":
                st = "NOT_EXECUTED"
            node = str(6 + 4 * i)
            out.append({"_links": {"self": {"href": f"{base}execution/node/{node}/wfapi/describe"}},
                        "id": node, "name": name, "execNode": "", "status": st,
                        "startTimeMillis": 1700000000000 + i * 1000, "durationMillis": 1000 + i,
                        "pauseDurationMillis": 0})
        return out


class FakeJenkins:
    def __init__(self, users: dict[str, str] | None = None, read_only: set[str] | None = None):
        self.users = users or {"alice": "alice-token-1", "bob": "bob-token-2", "carol": "carol-token-3"}
        self.read_only = read_only or {"carol"}
        # Overall/Administer can always approve an input; Job/Cancel can always abort one (pipeline-input-step)
        self.admins: set[str] = set()
        self.job_cancel: set[str] = set()
        self.lock = threading.RLock()
        self.items: dict[str, dict[str, Any]] = {}        # full name -> {"xml": str, "root": tag}
        self.builds: dict[str, dict[int, Build]] = {}
        self.queue: dict[int, dict[str, Any]] = {}
        self.next_queue = 100
        self.plans: dict[str, Plan] = {}
        self.approvals: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str | None]] = []   # (method, path, user)
        self.sessions: dict[str, str] = {}                      # cookie -> crumb
        self.fail_next: list[int] = []                          # status codes to answer next
        self.csrf = True                                        # False: no crumb issuer (404)
        self.wfapi = True                                       # False: no Stage View plugin
        # path -> (status, body, content type): answered instead of Jenkins' own answer (a proxy's
        # login page, a truncated or foreign JSON body); a status 302 body is the Location
        self.overrides: dict[str, tuple[int, str, str]] = {}
        self.server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            jenkins = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.items.clear(); self.builds.clear(); self.queue.clear(); self.plans.clear()
            self.approvals.clear(); self.requests.clear(); self.fail_next.clear()
            self.admins.clear(); self.job_cancel.clear(); self.overrides.clear()
            self.csrf = True
            self.wfapi = True

    # -- test helpers -----------------------------------------------------------------------
    def add_folder(self, name: str) -> None:
        self.store(name, "<com.cloudbees.hudson.plugins.folder.Folder><description/>"
                         "<properties/></com.cloudbees.hudson.plugins.folder.Folder>")

    def add_pipeline(self, name: str, parameters: list[tuple[str, str, Any]] | None = None,
                     disabled: bool = False) -> None:
        params = "".join(
            f"<hudson.model.{kind}ParameterDefinition><name>{n}</name><defaultValue>{str(d).lower() if kind == 'Boolean' else d}"
            f"</defaultValue></hudson.model.{kind}ParameterDefinition>" for n, kind, d in (parameters or []))
        props = (f"<hudson.model.ParametersDefinitionProperty><parameterDefinitions>{params}"
                 "</parameterDefinitions></hudson.model.ParametersDefinitionProperty>") if params else ""
        self.store(name, f"<flow-definition><description>hand made</description><properties>{props}</properties>"
                         "<definition class=\"org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition\">"
                         f"<script>echo 'hi'</script><sandbox>true</sandbox></definition>"
                         f"<disabled>{'true' if disabled else 'false'}</disabled></flow-definition>")

    def store(self, name: str, xml: str) -> None:
        """Keep a config.xml the way Jenkins writes it back (plugin attributes, XML 1.1)."""
        root = ET.fromstring(xml.encode("utf-8"))
        cls, plugin = ROOT_CLASSES.get(root.tag, (root.tag, None))
        if plugin:
            root.set("plugin", plugin)
        for el in root.iter():
            if el.tag.startswith("hudson.triggers.TimerTrigger") or el.tag.startswith("hudson.model."):
                continue
            if el.tag.startswith("org.jenkinsci.plugins.workflow.job.properties."):
                el.set("plugin", "workflow-job@1436.vfa_244484591f")
        text = "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")
        with self.lock:
            self.items[name] = {"xml": text, "root": root.tag, "class": cls}
            self.builds.setdefault(name, {})

    def declarative_build(self, name: str, triggers: dict[str, str], parameters: list[ET.Element],
                          properties: list[ET.Element]) -> None:
        """A build of a Declarative Jenkinsfile: its triggers (class -> cron spec), parameters and properties
        (options) merged into the job's config the way pipeline-model-definition's
        Utils.updateJobProperties does, with the tracker action (what it declared) kept in <actions>.
        A trigger or property class declared by the previous build's Jenkinsfile is replaced (or removed);
        one set outside the Jenkinsfile is kept; declared parameters come first, then the job's others that
        no Jenkinsfile declared."""
        root = self.config_of(name)
        props = root.find("properties")
        actions = root.find("actions")
        if actions is None:
            actions = ET.Element("actions")
            root.insert(0, actions)
        tracker = actions.find(DECLARATIVE_TRACKER)
        previous: dict[str, set] = {kind: set() for kind in ("triggers", "parameters", "jobProperties")}
        if tracker is not None:
            for kind in previous:
                holder = tracker.find(kind)
                previous[kind] = {e.text for e in holder} if holder is not None else set()
        # triggers: a set keyed by class, existing first (a TreeSet keeps the element it already has)
        trig_prop = props.find(TRIGGERS_PROPERTY)
        existing = {t.tag: t for t in (trig_prop.find("triggers") if trig_prop is not None else [])}
        merged = {tag: t for tag, t in existing.items() if tag not in previous["triggers"]}
        for tag, spec in triggers.items():
            if tag not in merged:
                el = ET.Element(tag)
                ET.SubElement(el, "spec").text = spec
                merged[tag] = el
        if [ET.tostring(t) for t in merged.values()] != [ET.tostring(t) for t in existing.values()]:
            if trig_prop is not None:
                props.remove(trig_prop)
            if merged:
                trig_prop = ET.SubElement(props, TRIGGERS_PROPERTY)
                ET.SubElement(trig_prop, "triggers").extend(merged.values())
        # parameters: declared first, then the job's that no Jenkinsfile declared; replaced when different
        param_prop = props.find("hudson.model.ParametersDefinitionProperty")
        existing_params = list(param_prop.find("parameterDefinitions")) if param_prop is not None else []
        declared = {p.findtext("name") for p in parameters}
        to_apply = list(parameters) + [p for p in existing_params if p.findtext("name") not in declared
                                       and p.findtext("name") not in previous["parameters"]]
        if [ET.tostring(p) for p in to_apply] != [ET.tostring(p) for p in existing_params]:
            if param_prop is not None:
                props.remove(param_prop)
            if to_apply:
                param_prop = ET.SubElement(props, "hudson.model.ParametersDefinitionProperty")
                ET.SubElement(param_prop, "parameterDefinitions").extend(to_apply)
        # other properties: a declared class replaces the job's when it differs; a class the previous build
        # declared and this one does not is removed
        declared_props = {p.tag for p in properties}
        for el in list(props):
            if el.tag in previous["jobProperties"] and el.tag not in declared_props:
                props.remove(el)
        for prop in properties:
            current = props.find(prop.tag)
            if current is None or ET.tostring(current) != ET.tostring(prop):
                if current is not None:
                    props.remove(current)
                props.append(prop)
        if tracker is not None:
            actions.remove(tracker)
        tracker = ET.SubElement(actions, DECLARATIVE_TRACKER)
        for kind, names in (("jobProperties", declared_props), ("triggers", set(triggers)),
                            ("parameters", declared), ("options", set())):
            holder = ET.SubElement(tracker, kind)
            for n in sorted(names):
                ET.SubElement(holder, "string").text = n
        with self.lock:
            self.items[name]["xml"] = "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")

    def config_of(self, name: str) -> ET.Element:
        return ET.fromstring(self.items[name]["xml"].split("\n", 1)[1])

    def posts(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "POST"]

    def job_parameters(self, name: str) -> list[dict]:
        root = self.config_of(name)
        out = []
        for el in root.iter():
            m = re.match(r"hudson\.model\.(\w+)ParameterDefinition$", el.tag)
            if m:
                default = el.findtext("defaultValue")
                kind = m.group(1)
                value: Any = (default == "true") if kind == "Boolean" else default
                out.append({"_class": el.tag, "name": el.findtext("name"), "type": f"{kind}ParameterDefinition",
                            "description": el.findtext("description"),
                            "defaultParameterValue": {"_class": f"hudson.model.{kind}ParameterValue",
                                                      "name": el.findtext("name"), "value": value}})
        return out


def _job_parts(path: str) -> tuple[str | None, str]:
    """'/job/a/job/b/rest' -> ('a/b', 'rest'); no job prefix -> (None, path)."""
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    names = []
    while len(parts) >= 2 and parts[0] == "job":
        names.append(parts[1])
        parts = parts[2:]
    return ("/".join(names) if names else None), "/".join(parts)


class _Handler(BaseHTTPRequestHandler):
    jenkins: FakeJenkins
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -- responses --------------------------------------------------------------------------
    def _send(self, code: int, body: str | bytes = b"", ctype: str = "text/plain;charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Jenkins", "2.462.3")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, json.dumps(obj), "application/json;charset=utf-8")

    def _error(self, code: int, message: str) -> None:
        page = (f"<html><head><title>Jenkins</title></head><body><h1>Error</h1>"
                f"<p>{message}</p></body></html>")
        self._send(code, page, "text/html;charset=utf-8")

    # -- auth -------------------------------------------------------------------------------
    def _user(self) -> tuple[bool, str | None]:
        header = self.headers.get("Authorization")
        if not header:
            return True, None
        try:
            kind, value = header.split(" ", 1)
            user, _, token = base64.b64decode(value).decode().partition(":")
        except Exception:
            return False, None
        if kind != "Basic" or self.jenkins.users.get(user) != token:
            return False, None
        return True, user

    def _session(self) -> tuple[str, bool]:
        cookie = self.headers.get("Cookie") or ""
        m = re.search(r"JSESSIONID\.fake=(\w+)", cookie)
        if m and m.group(1) in self.jenkins.sessions:
            return m.group(1), False
        sid = secrets.token_hex(8)
        self.jenkins.sessions[sid] = secrets.token_hex(16)
        return sid, True

    # -- dispatch ---------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake = self.jenkins
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        ok, user = self._user()
        with fake.lock:
            fake.requests.append((method, url.path, user))
            if fake.fail_next:
                code = fake.fail_next.pop(0)
                return self._error(code, "Service Unavailable" if code == 503 else "Server Error")
            override = fake.overrides.get(url.path)
        if override is not None:
            code, text, ctype = override
            if code in (301, 302, 303, 307):
                return self._send(code, "", headers={"Location": text})
            return self._send(code, text, ctype)
        if not ok:
            return self._send(401, "Invalid password/token for user", headers={"WWW-Authenticate": 'Basic realm="Jenkins"'})
        if user is None:
            return self._error(403, "Authentication required")
        sid, new = self._session()
        extra = {"Set-Cookie": f"JSESSIONID.fake={sid}; Path=/; HttpOnly"} if new else {}
        if method == "POST" and fake.csrf:
            if fake.sessions.get(sid) != self.headers.get("Jenkins-Crumb") or new:
                return self._error(403, "No valid crumb was included in the request")
        if method == "POST" and user in fake.read_only:
            return self._error(403, f"{user} is missing the Job/Configure permission")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            with fake.lock:
                self._route(method, url.path, query, body, user, sid, extra)
        except _NotFound:
            self._error(404, "Not Found")

    def _route(self, method: str, path: str, query: dict, body: bytes, user: str, sid: str,
               extra: dict[str, str]) -> None:
        fake = self.jenkins
        if path == "/crumbIssuer/api/json" and method == "GET" and fake.csrf:
            return self._send(200, json.dumps({
                "_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": fake.sessions[sid],
                "crumbRequestField": "Jenkins-Crumb"}), "application/json;charset=utf-8", extra)
        if path == "/me/api/json":
            return self._json({"_class": "hudson.model.User", "id": user, "fullName": user.title(),
                               "absoluteUrl": f"{fake.url}user/{user}"})
        if path == "/api/json":
            return self._json({"_class": "hudson.model.Hudson", "mode": "NORMAL", "jobs": []})
        m = re.match(r"^/queue/item/(\d+)/api/json$", path)
        if m:
            return self._queue_item(int(m.group(1)))
        job, rest = _job_parts(path)
        if rest == "createItem" and method == "POST":
            return self._create(job, query, body)
        if job is None or job not in fake.items:
            raise _NotFound()
        item = fake.items[job]
        if rest == "api/json" and method == "GET":
            return self._job_json(job, item)
        if rest == "config.xml":
            if method == "GET":
                return self._send(200, item["xml"], "application/xml")
            try:
                ET.fromstring(body)
            except ET.ParseError as exc:
                return self._error(500, f"Failed to persist config.xml: {exc}")
            if ET.fromstring(body).tag != item["root"]:
                return self._error(400, "Cannot change the type of an item")
            fake.store(job, body.decode("utf-8"))
            return self._send(200, "")
        if rest in ("build", "buildWithParameters") and method == "POST":
            return self._build(job, rest, query, body)
        m = re.match(r"^(\d+)/(.*)$", rest)
        if m:
            number = int(m.group(1))
            build = fake.builds.get(job, {}).get(number)
            if build is None:
                raise _NotFound()
            return self._build_route(method, job, build, m.group(2), body, user)
        raise _NotFound()

    # -- items ------------------------------------------------------------------------------
    def _create(self, parent: str | None, query: dict, body: bytes) -> None:
        fake = self.jenkins
        name = query.get("name")
        if not name:
            return self._error(400, "Query parameter 'name' is required")
        if parent is not None and (parent not in fake.items or "Folder" not in fake.items[parent]["class"]):
            raise _NotFound()
        if "xml" not in (self.headers.get("Content-Type") or ""):
            return self._error(400, "No mode and no config.xml given")
        full = f"{parent}/{name}" if parent else name
        if full in fake.items:
            return self._error(400, f"A job already exists with the name ‘{name}’")
        try:
            ET.fromstring(body)
        except ET.ParseError as exc:
            return self._error(500, f"Failed to parse config.xml: {exc}")
        fake.store(full, body.decode("utf-8"))
        return self._send(200, "")

    def _job_json(self, job: str, item: dict) -> None:
        fake = self.jenkins
        base = fake.url + "".join(f"job/{p}/" for p in job.split("/"))
        out: dict[str, Any] = {"_class": item["class"], "name": job.split("/")[-1], "fullName": job, "url": base}
        if "Folder" in item["class"] or "MultiBranch" in item["class"]:
            prefix = job + "/"
            out["jobs"] = [{"name": n[len(prefix):], "url": fake.url} for n in fake.items
                           if n.startswith(prefix) and "/" not in n[len(prefix):]]
        else:
            builds = sorted(fake.builds.get(job, {}).values(), key=lambda b: -b.number)
            defs = fake.job_parameters(job)
            disabled = fake.config_of(job).findtext("disabled") == "true"
            out.update({"buildable": not disabled, "color": "disabled" if disabled else "blue",
                        "inQueue": False, "nextBuildNumber": (builds[0].number + 1) if builds else 1,
                        "builds": [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                                    "number": b.number, "url": f"{base}{b.number}/",
                                    "building": b.result is None, "result": b.result} for b in builds],
                        "property": ([{"_class": "hudson.model.ParametersDefinitionProperty",
                                       "parameterDefinitions": defs}] if defs else [])})
        return self._json(out)

    # -- builds -----------------------------------------------------------------------------
    def _build(self, job: str, endpoint: str, query: dict, body: bytes) -> None:
        fake = self.jenkins
        if "flow-definition" != fake.items[job]["root"]:
            return self._error(400, f"{job} is not buildable")
        defs = fake.job_parameters(job)
        if endpoint == "buildWithParameters" and not defs:
            return self._error(500, "java.lang.IllegalStateException: This build is not parameterized!")
        if endpoint == "build" and defs:
            return self._error(400, "This page expects a form submission")  # needs parameters
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()} if body else {}
        given = {**query, **form}
        params = {d["name"]: str(given.get(d["name"], d["defaultParameterValue"]["value"])).lower()
                  if d["type"] == "BooleanParameterDefinition" else given.get(d["name"], d["defaultParameterValue"]["value"])
                  for d in defs}
        qid = fake.next_queue
        fake.next_queue += 1
        fake.queue[qid] = {"job": job, "params": params, "polls": fake.plans.get(job, Plan()).queue_polls,
                           "number": None, "cancelled": job.endswith("cancelled")}
        return self._send(201, "", headers={"Location": f"{fake.url}queue/item/{qid}/"})

    def _queue_item(self, qid: int) -> None:
        fake = self.jenkins
        q = fake.queue.get(qid)
        if q is None:
            raise _NotFound()
        job = q["job"]
        base = fake.url + "".join(f"job/{p}/" for p in job.split("/"))
        task = {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": job.split("/")[-1],
                "url": base, "color": "blue"}
        params = "".join(f"\n{k}={v}" for k, v in q["params"].items())
        if q["cancelled"]:
            return self._json({"_class": "hudson.model.Queue$LeftItem", "id": qid, "cancelled": True,
                               "executable": None, "task": task, "params": params, "why": None})
        if q["number"] is None and q["polls"] > 0:
            q["polls"] -= 1
            return self._json({"_class": "hudson.model.Queue$WaitingItem", "id": qid, "blocked": False,
                               "buildable": False, "stuck": False, "inQueueSince": 1700000000000,
                               "why": "In the quiet period. Expires in 4.9 sec", "task": task,
                               "params": params, "actions": []})
        if q["number"] is None:
            builds = fake.builds.setdefault(job, {})
            number = max(builds, default=0) + 1
            builds[number] = Build(job, number, fake.plans.get(job, Plan()), q["params"])
            builds[number].console.append("Started by user alice\n[Pipeline] Start of Pipeline")
            q["number"] = number
        return self._json({"_class": "hudson.model.Queue$LeftItem", "id": qid, "blocked": False,
                           "buildable": False, "cancelled": False, "why": None, "task": task,
                           "params": params,
                           "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                                          "number": q["number"], "url": f"{base}{q['number']}/"}})

    def _build_route(self, method: str, job: str, build: Build, rest: str, body: bytes, user: str) -> None:
        fake = self.jenkins
        base_path = "/" + "".join(f"job/{p}/" for p in job.split("/")) + f"{build.number}/"
        base = fake.url.rstrip("/") + base_path
        if rest == "api/json" and method == "GET":
            build.advance()
            return self._json({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                               "number": build.number, "url": base, "displayName": f"#{build.number}",
                               "building": build.result is None, "result": build.result,
                               "duration": 0 if build.result is None else 4242,
                               "actions": [{"_class": "hudson.model.ParametersAction",
                                            "parameters": [{"name": k, "value": v} for k, v in build.params.items()]}]})
        if rest.startswith("wfapi/") and not fake.wfapi:
            raise _NotFound()
        if rest == "wfapi/describe" and method == "GET":
            stages = build.stages_json(base_path)
            status = ("PAUSED_PENDING_INPUT" if build.input_state == "pending" else
                      "IN_PROGRESS" if build.result is None else
                      {"FAILURE": "FAILED"}.get(build.result, build.result))
            links = {"self": {"href": f"{base_path}wfapi/describe"}}
            if build.input_state == "pending":
                links["pendingInputActions"] = {"href": f"{base_path}wfapi/pendingInputActions"}
            return self._json({"_links": links, "id": str(build.number), "name": f"#{build.number}",
                               "status": status, "startTimeMillis": 1700000000000, "endTimeMillis": 0,
                               "durationMillis": 1000 * build.tick, "queueDurationMillis": 5,
                               "pauseDurationMillis": 0, "stages": stages})
        if rest == "wfapi/pendingInputActions" and method == "GET":
            if build.input_state != "pending" or not build.plan.input:
                return self._json([])
            inp = build.plan.input
            return self._json([{"id": inp.id, "proceedText": inp.ok, "message": inp.message,
                                "inputs": [{"type": p["type"], "name": p["name"], "description": p.get("description"),
                                            "definition": ({"defaultVal": p["default"]} if "default" in p else {})}
                                           for p in inp.parameters],
                                "proceedUrl": f"{base_path}wfapi/inputSubmit?inputId={inp.id}",
                                "abortUrl": f"{base_path}input/{inp.id}/abort",
                                "redirectApprovalUrl": f"{base_path}input/"}])
        if rest == "consoleText" and method == "GET":
            return self._send(200, "\n".join(build.console) + "\n")
        if rest == "stop" and method == "POST":
            build.result = build.result or "ABORTED"
            return self._send(200, "")
        m = re.match(r"^input/([^/]+)/(proceed|proceedEmpty|abort)$", rest)
        if m and method == "POST":
            inp = build.plan.input
            if not inp or build.input_state != "pending" or unquote(m.group(1)) != inp.id:
                raise _NotFound()
            action = m.group(2)
            may_submit = not inp.submitter or user in inp.submitter or user in fake.admins
            may_cancel = user in fake.job_cancel or user in fake.admins
            if action == "abort" and not (may_submit or may_cancel):
                return self._error(400, f"You need to be '{','.join(inp.submitter or [])}' (or have Job/Cancel permissions) "
                                        "to cancel this.")
            if action != "abort" and not may_submit:
                return self._error(400, f"You need to be {','.join(inp.submitter or [])} to submit this.")
            if action == "abort":
                build.input_state = "aborted"
                build.result = "ABORTED"
                build.console.append(f"Rejected by {user}\nFinished: ABORTED")
                fake.approvals.append({"job": job, "build": build.number, "input": inp.id, "user": user,
                                       "action": "abort", "values": {}})
                return self._send(200, "")
            values: dict[str, Any] = {}
            if action == "proceed":
                form = parse_qs(body.decode("utf-8"))
                submitted = json.loads(form["json"][0])
                names = {p["name"] for p in inp.parameters}
                for p in submitted.get("parameter", []):
                    if p["name"] not in names:
                        return self._error(500, f"java.lang.IllegalArgumentException: No such parameter definition: {p['name']}")
                    values[p["name"]] = p["value"]
            # like Jenkins: what was not submitted is settled as null, not as its default
            values = {n["name"]: values.get(n["name"]) for n in inp.parameters}
            build.input_state = "approved"
            build.console.append(f"Approved by {user}")
            fake.approvals.append({"job": job, "build": build.number, "input": inp.id, "user": user,
                                   "action": action, "values": values})
            return self._send(200, "")
        raise _NotFound()


class _NotFound(Exception):
    pass
