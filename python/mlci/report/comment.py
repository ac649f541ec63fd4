"""Post the report summary as a pull-request comment, or update the earlier one.

The comment carries a hidden marker (``<!-- mlci-report:<model> -->``; on Bitbucket Server,
which escapes HTML in Markdown, the CommonMark-invisible ``[//]: # (mlci-report:<model>)``),
so each build edits its own comment instead of adding another.

Endpoints used (the token comes from the environment, never argv, and is never logged):
  GitHub (and Enterprise, base .../api/v3)  Authorization: Bearer $GITHUB_TOKEN
    GET   /repos/{owner}/{repo}/issues/{n}/comments?per_page=100   (Link: rel="next")
    POST  /repos/{owner}/{repo}/issues/{n}/comments                {"body"}
    PATCH /repos/{owner}/{repo}/issues/comments/{id}               {"body"}
  GitLab (and self-hosted, base https://host[/api/v4])  PRIVATE-TOKEN: $GITLAB_TOKEN
    GET   /projects/{url-encoded path}/merge_requests/{iid}/notes?per_page=100  (X-Next-Page)
    POST  /projects/{path}/merge_requests/{iid}/notes              {"body"}
    PUT   /projects/{path}/merge_requests/{iid}/notes/{id}         {"body"}
  Bitbucket Server / Data Center (base https://host)  Authorization: Bearer $BITBUCKET_TOKEN
    GET   /rest/api/1.0/projects/{P}/repos/{r}/pull-requests/{n}/activities?start=&limit=
    POST  /rest/api/1.0/projects/{P}/repos/{r}/pull-requests/{n}/comments        {"text"}
    PUT   /rest/api/1.0/projects/{P}/repos/{r}/pull-requests/{n}/comments/{id}   {"text", "version"}
"""

from __future__ import annotations

import abc
import logging
import re
from typing import Any, Iterator, Mapping
from urllib.parse import quote

from mlci.errors import InfraError, NotFoundError, UsageError
from mlci.retry import retry

log = logging.getLogger(__name__)

TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "bitbucket-server": "BITBUCKET_TOKEN"}
FORGE_TOKEN_ENV = "MLCI_FORGE_TOKEN"
DEFAULT_URL = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}
HTML_MARKER = re.compile(r"<!--\s*mlci-report:([^>]*?)\s*-->")
REF_MARKER = re.compile(r"^\[//\]: # \(mlci-report:([^)]*)\)\s*$", re.M)
TIMEOUT = (10, 60)


class _Transient(Exception):
    """A 5xx or 429 answer: worth retrying."""


def marker_key(body: str) -> str:
    m = HTML_MARKER.search(body) or REF_MARKER.search(body)
    return m.group(1) if m else "summary"


def has_marker(body: str, key: str) -> bool:
    return any(m.group(1) == key for m in [*HTML_MARKER.finditer(body or ""), *REF_MARKER.finditer(body or "")])


class Forge(abc.ABC):
    name = ""

    def __init__(self, base: str, repo: str, pr: int, token: str):
        import requests

        self.base = base.rstrip("/")
        self.token_env = TOKEN_ENV[self.name]  # where the token came from, named in errors
        self.repo = repo
        self.pr = pr
        self.session = requests.Session()
        self.session.headers.update(self.auth_headers(token))
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "mlci-report"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        def call() -> Any:
            try:
                resp = self.session.request(method, url, timeout=TIMEOUT, **kw)
            except requests.RequestException as exc:
                errno = re.search(r"\[Errno [^\]]+\] [^)'\"]+", str(exc))
                raise ConnectionError(errno.group(0) if errno else type(exc).__name__) from None
            if resp.status_code >= 500 or resp.status_code == 429:
                raise _Transient(f"HTTP {resp.status_code}")
            return resp

        resp = retry(call, what=f"{self.name} {method} {_strip_query(url)}", on=(ConnectionError, _Transient))
        if resp.status_code in (401, 403):
            raise UsageError(f"{self.name} refused the token in {self.token_env} "
                             f"(HTTP {resp.status_code} on {method} {_strip_query(url)}): {_message(resp)}; "
                             "check the token and that it may comment on this repository")
        if resp.status_code == 404:
            raise NotFoundError(f"{self.name}: {_strip_query(url)} not found (HTTP 404): check --repo "
                                f"{self.repo}, --pr {self.pr} and --url (or the token cannot see the repository)")
        if resp.status_code >= 400:
            raise UsageError(f"{self.name} answered HTTP {resp.status_code} on {method} "
                             f"{_strip_query(url)}: {_message(resp)}")
        try:
            return resp, resp.json() if resp.content else None
        except ValueError:
            raise InfraError(f"{self.name}: {_strip_query(url)} did not answer JSON (is --url the API base?)") from None

    # each forge: comments() -> (id, body, extra); create(body) -> id; update(id, body, extra) -> id
    @abc.abstractmethod
    def comments(self) -> Iterator[tuple[Any, str, Any]]:
        """Yield (id, body, extra) for each comment on the pull request."""

    @abc.abstractmethod
    def create(self, body: str) -> Any:
        """Post a new comment."""

    @abc.abstractmethod
    def update(self, cid: Any, body: str, extra: Any) -> Any:
        """Replace the body of comment ``cid``."""

    def prepare(self, body: str) -> str:
        return body


class GitHub(Forge):
    name = "github"

    def __init__(self, base: str, repo: str, pr: int, token: str):
        super().__init__(base, repo, pr, token)
        self.session.headers["Accept"] = "application/vnd.github+json"
        self.session.headers["X-GitHub-Api-Version"] = "2022-11-28"
        owner, _, name = repo.partition("/")
        self.issue = f"{self.base}/repos/{quote(owner, safe='')}/{quote(name, safe='')}/issues"

    def comments(self) -> Iterator[tuple[Any, str, Any]]:
        url: str | None = f"{self.issue}/{self.pr}/comments?per_page=100"
        pages = 0
        while url and pages < 50:
            resp, data = self.request("GET", url)
            for c in data or []:
                yield c["id"], c.get("body") or "", None
            url = resp.links.get("next", {}).get("url")
            pages += 1

    def create(self, body: str) -> Any:
        _, data = self.request("POST", f"{self.issue}/{self.pr}/comments", json={"body": body})
        return data["id"]

    def update(self, cid: Any, body: str, extra: Any) -> Any:
        _, data = self.request("PATCH", f"{self.issue}/comments/{cid}", json={"body": body})
        return data["id"]


class GitLab(Forge):
    name = "gitlab"

    def __init__(self, base: str, repo: str, pr: int, token: str):
        super().__init__(base, repo, pr, token)
        api = self.base if self.base.endswith("/api/v4") else f"{self.base}/api/v4"
        self.notes = f"{api}/projects/{quote(repo, safe='')}/merge_requests/{pr}/notes"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def comments(self) -> Iterator[tuple[Any, str, Any]]:
        page: str | None = "1"
        while page:
            resp, data = self.request("GET", f"{self.notes}?per_page=100&sort=asc&page={page}")
            for n in data or []:
                if not n.get("system"):
                    yield n["id"], n.get("body") or "", None
            page = resp.headers.get("X-Next-Page") or None
            if page and int(page) > 50:
                break

    def create(self, body: str) -> Any:
        _, data = self.request("POST", self.notes, json={"body": body})
        return data["id"]

    def update(self, cid: Any, body: str, extra: Any) -> Any:
        _, data = self.request("PUT", f"{self.notes}/{cid}", json={"body": body})
        return data["id"]


class BitbucketServer(Forge):
    name = "bitbucket-server"

    def __init__(self, base: str, repo: str, pr: int, token: str):
        super().__init__(base, repo, pr, token)
        project, _, slug = repo.partition("/")
        api = self.base if "/rest/api/" in self.base else f"{self.base}/rest/api/1.0"
        self.pull = (f"{api}/projects/{quote(project, safe='')}/repos/{quote(slug, safe='')}"
                     f"/pull-requests/{pr}")

    def prepare(self, body: str) -> str:
        # Bitbucket Server escapes raw HTML in Markdown: use a link reference definition instead,
        # which CommonMark renders as nothing
        body = HTML_MARKER.sub(lambda m: f"[//]: # (mlci-report:{m.group(1)})\n", body, count=1)
        return re.sub(r"<sub>(.*?)</sub>", r"_\1_", body)

    def comments(self) -> Iterator[tuple[Any, str, Any]]:
        start: int | None = 0
        pages = 0
        while start is not None and pages < 50:
            _, data = self.request("GET", f"{self.pull}/activities?start={start}&limit=100")
            for a in (data or {}).get("values", []):
                c = a.get("comment")
                if a.get("action") == "COMMENTED" and c:
                    yield c["id"], c.get("text") or "", c.get("version", 0)
            start = None if (data or {}).get("isLastPage", True) else data.get("nextPageStart")
            pages += 1

    def create(self, body: str) -> Any:
        _, data = self.request("POST", f"{self.pull}/comments", json={"text": body})
        return data["id"]

    def update(self, cid: Any, body: str, extra: Any) -> Any:
        _, data = self.request("PUT", f"{self.pull}/comments/{cid}", json={"text": body, "version": extra or 0})
        return data["id"]


FORGES = {"github": GitHub, "gitlab": GitLab, "bitbucket-server": BitbucketServer}


def post_comment(forge: str, repo: str, pr: int, body: str, base_url: str | None = None,
                 env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Create or update this model's comment. Returns {action: created|updated, id, forge}."""
    import os

    env = os.environ if env is None else env
    if forge not in FORGES:
        raise UsageError(f"--forge {forge!r}: expected one of {', '.join(FORGES)}")
    if "/" not in repo or repo.startswith("/") or repo.endswith("/"):
        raise UsageError(f"--repo {repo!r}: expected OWNER/NAME (GitHub), GROUP/PROJECT (GitLab) "
                         "or PROJECT/REPO (Bitbucket Server)")
    if forge == "bitbucket-server" and repo.count("/") != 1:
        raise UsageError(f"--repo {repo!r}: expected PROJECT/REPO for Bitbucket Server")
    if pr < 1:
        raise UsageError(f"--pr {pr}: expected a positive pull request number")
    base = base_url or DEFAULT_URL.get(forge)
    if not base:
        raise UsageError(f"--url is required for {forge} (e.g. https://bitbucket.example.com)")
    if not re.match(r"^https?://", base):
        raise UsageError(f"--url {base!r}: expected an http(s) URL")
    # the forge's own variable, or MLCI_FORGE_TOKEN (what mlciReport binds, whatever the forge)
    token_env = TOKEN_ENV[forge] if env.get(TOKEN_ENV[forge]) else FORGE_TOKEN_ENV
    token = env.get(token_env)
    if not token:
        raise UsageError(f"{TOKEN_ENV[forge]} is not set: the {forge} token is read from the environment "
                         f"({TOKEN_ENV[forge]} or {FORGE_TOKEN_ENV}; in Jenkins: mlciReport(comment: "
                         "[credentialsId: ...]) binds it)")
    client = FORGES[forge](base, repo, pr, token)
    client.token_env = token_env  # MLCI_FORGE_TOKEN when the forge's own variable is unset
    key = marker_key(body)
    body = client.prepare(body)
    existing = next(((cid, extra) for cid, text, extra in client.comments() if has_marker(text, key)), None)
    if existing is None:
        cid = client.create(body)
        action = "created"
    else:
        cid = client.update(existing[0], body, existing[1])
        action = "updated"
    log.info("%s %s comment %s on %s #%s", forge, action, cid, repo, pr)
    return {"forge": forge, "repo": repo, "pr": pr, "action": action, "id": cid, "marker": key}


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _message(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:200] or resp.reason or ""
    if isinstance(data, dict):
        if isinstance(data.get("errors"), list) and data["errors"] and isinstance(data["errors"][0], dict):
            return str(data["errors"][0].get("message", data["errors"][0]))[:200]
        return str(data.get("message") or data.get("error") or data)[:200]
    return str(data)[:200]
