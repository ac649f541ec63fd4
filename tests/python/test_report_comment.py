"""mlci report comment against a local HTTP server that implements the comment endpoints of
GitHub (and Enterprise under /api/v3), GitLab (self-hosted) and Bitbucket Server, with their
real request and response shapes (pagination included)."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

TOKEN = "s3cr3t-t0ken-value"
SUMMARY_V1 = "<!-- mlci-report:churn -->\n### churn: ✅ blessed\n\n| metric | production v1 | candidate |\n|---|---:|---:|\n| auc | 0.9000 | 0.9100 |\n\n<sub>mlci 0.1.0</sub>\n"
SUMMARY_V2 = SUMMARY_V1.replace("0.9100", "0.9200")


class Forge:
    """In-memory comments per forge, plus a log of (method, path, auth header)."""

    def __init__(self):
        self.comments: dict[str, list[dict]] = {"github": [], "gitlab": [], "bitbucket": []}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.next_id = 1000
        self.status: int | None = None  # force an error status

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class Handler(BaseHTTPRequestHandler):
    forge: Forge

    def log_message(self, *args):
        pass

    def _send(self, code: int, body=None, headers: dict[str, str] | None = None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def handle_any(self, method: str):
        f = self.forge
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        f.requests.append((method, self.path, {k: v for k, v in self.headers.items()}))
        if f.status:
            return self._send(f.status, {"message": "Bad credentials"})
        body = self._body() if method in ("POST", "PATCH", "PUT") else None

        # GitHub (Enterprise: /api/v3 prefix)
        m = re.fullmatch(r"(?:/api/v3)?/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", path)
        if m:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            items = f.comments["github"]
            if method == "GET":
                per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
                chunk = items[(page - 1) * per_page: page * per_page]
                headers = {}
                if page * per_page < len(items):
                    nxt = f"http://{self.headers['Host']}{path}?per_page={per_page}&page={page + 1}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                return self._send(200, chunk, headers)
            if method == "POST":
                c = {"id": f.new_id(), "body": body["body"], "user": {"login": "mlci-bot"}}
                items.append(c)
                return self._send(201, c)
        m = re.fullmatch(r"(?:/api/v3)?/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", path)
        if m and method == "PATCH":
            c = next((c for c in f.comments["github"] if c["id"] == int(m.group(3))), None)
            if c is None:
                return self._send(404, {"message": "Not Found"})
            c["body"] = body["body"]
            return self._send(200, c)

        # GitLab: project path URL-encoded in one segment
        m = re.fullmatch(r"/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes(?:/(\d+))?", path)
        if m:
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                return self._send(401, {"message": "401 Unauthorized"})
            assert unquote(m.group(1)) == "team/ml/churn"
            notes = f.comments["gitlab"]
            if method == "GET":
                per_page, page = int(query.get("per_page", ["20"])[0]), int(query.get("page", ["1"])[0])
                chunk = notes[(page - 1) * per_page: page * per_page]
                more = page * per_page < len(notes)
                return self._send(200, chunk, {"X-Next-Page": str(page + 1) if more else "", "X-Page": str(page)})
            if method == "POST":
                n = {"id": f.new_id(), "body": body["body"], "system": False}
                notes.append(n)
                return self._send(201, n)
            if method == "PUT" and m.group(3):
                n = next(n for n in notes if n["id"] == int(m.group(3)))
                n["body"] = body["body"]
                return self._send(200, n)

        # Bitbucket Server
        m = re.fullmatch(r"/rest/api/1\.0/projects/([^/]+)/repos/([^/]+)/pull-requests/(\d+)/(activities|comments)"
                         r"(?:/(\d+))?", path)
        if m:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"errors": [{"message": "Authentication failed. Please check your credentials"}]})
            comments = f.comments["bitbucket"]
            if m.group(4) == "activities" and method == "GET":
                start, limit = int(query.get("start", ["0"])[0]), int(query.get("limit", ["25"])[0])
                acts = [{"id": i, "action": "COMMENTED", "commentAction": "ADDED", "comment": c}
                        for i, c in enumerate(comments)]
                acts.insert(0, {"id": 99, "action": "OPENED"})
                chunk = acts[start:start + limit]
                last = start + limit >= len(acts)
                page = {"size": len(chunk), "limit": limit, "start": start, "isLastPage": last, "values": chunk}
                if not last:
                    page["nextPageStart"] = start + limit
                return self._send(200, page)
            if m.group(4) == "comments" and method == "POST" and not m.group(5):
                c = {"id": f.new_id(), "version": 0, "text": body["text"]}
                comments.append(c)
                return self._send(201, c)
            if m.group(4) == "comments" and method == "PUT" and m.group(5):
                c = next(c for c in comments if c["id"] == int(m.group(5)))
                if body.get("version") != c["version"]:
                    return self._send(409, {"errors": [{"message": "version mismatch"}]})
                c["text"] = body["text"]
                c["version"] += 1
                return self._send(200, c)
        return self._send(404, {"message": f"no route {method} {path}"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")


@pytest.fixture
def server():
    forge = Forge()
    handler = type("H", (Handler,), {"forge": forge})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    forge.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield forge
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def summaries(tmp_path):
    v1, v2 = tmp_path / "v1.md", tmp_path / "v2.md"
    v1.write_text(SUMMARY_V1)
    v2.write_text(SUMMARY_V2)
    return v1, v2


def post(mlci, tmp_path, forge, repo, summary, url, env=None):
    return mlci("report", "comment", "--forge", forge, "--repo", repo, "--pr", "7", "--url", url,
                "--summary", summary, "--json", cwd=tmp_path, env=env)


def no_token_in(r) -> None:
    assert TOKEN not in r.stdout and TOKEN not in r.stderr


def test_github_enterprise_creates_then_updates_its_own_comment(server, summaries, tmp_path, mlci):
    # 120 comments by others first: ours lands on the second page of the listing
    server.comments["github"].extend({"id": i, "body": f"lgtm {i}"} for i in range(1, 121))
    env = {"GITHUB_TOKEN": TOKEN}
    r = post(mlci, tmp_path, "github", "acme/churn", summaries[0], f"{server.url}/api/v3", env)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["action"] == "created"
    r = post(mlci, tmp_path, "github", "acme/churn", summaries[1], f"{server.url}/api/v3", env)
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    assert second == {**first, "action": "updated"}
    ours = [c for c in server.comments["github"] if "mlci-report:churn" in c["body"]]
    assert len(ours) == 1 and "0.9200" in ours[0]["body"] and ours[0]["id"] == first["id"]
    assert len(server.comments["github"]) == 121
    paths = [(m, p.split("?")[0]) for m, p, _ in server.requests]
    assert ("PATCH", f"/api/v3/repos/acme/churn/issues/comments/{first['id']}") in paths
    assert any("page=2" in p for _, p, _ in server.requests)  # followed the Link header
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in server.requests)
    no_token_in(r)


def test_gitlab_self_hosted_creates_then_updates(server, summaries, tmp_path, mlci):
    server.comments["gitlab"].append({"id": 1, "body": "added 1 commit", "system": True})
    env = {"GITLAB_TOKEN": TOKEN}
    r1 = post(mlci, tmp_path, "gitlab", "team/ml/churn", summaries[0], server.url, env)
    assert r1.returncode == 0, r1.stderr
    r2 = post(mlci, tmp_path, "gitlab", "team/ml/churn", summaries[1], server.url, env)
    assert r2.returncode == 0, r2.stderr
    a, b = json.loads(r1.stdout), json.loads(r2.stdout)
    assert (a["action"], b["action"], a["id"]) == ("created", "updated", b["id"])
    ours = [n for n in server.comments["gitlab"] if "mlci-report:churn" in n["body"]]
    assert len(ours) == 1 and "0.9200" in ours[0]["body"]
    assert all(h.get("PRIVATE-TOKEN") == TOKEN for _, _, h in server.requests)
    assert any(p.startswith("/api/v4/projects/team%2Fml%2Fchurn/merge_requests/7/notes") for _, p, _ in server.requests)
    no_token_in(r1)
    no_token_in(r2)


def test_bitbucket_server_creates_then_updates_with_version(server, summaries, tmp_path, mlci):
    server.comments["bitbucket"].extend({"id": i, "version": 0, "text": "nice"} for i in range(1, 130))
    env = {"BITBUCKET_TOKEN": TOKEN}
    results = []
    for summary in (summaries[0], summaries[1], summaries[1]):
        r = post(mlci, tmp_path, "bitbucket-server", "ML/churn", summary, server.url, env)
        assert r.returncode == 0, r.stderr
        no_token_in(r)
        results.append(json.loads(r.stdout))
    assert [x["action"] for x in results] == ["created", "updated", "updated"]
    assert len({x["id"] for x in results}) == 1
    ours = [c for c in server.comments["bitbucket"] if "mlci-report:churn" in c["text"]]
    assert len(ours) == 1 and ours[0]["version"] == 2
    # Bitbucket escapes HTML: the marker is a CommonMark link reference definition (invisible)
    assert ours[0]["text"].startswith("[//]: # (mlci-report:churn)\n")
    assert "<!--" not in ours[0]["text"] and "<sub>" not in ours[0]["text"]
    assert any("start=100" in p for _, p, _ in server.requests)  # followed nextPageStart
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in server.requests)


def test_rejected_token_is_a_clear_usage_error(server, summaries, tmp_path, mlci):
    r = post(mlci, tmp_path, "github", "acme/churn", summaries[0], server.url, {"GITHUB_TOKEN": "wrong-" + TOKEN})
    assert r.returncode == 2
    assert "refused the token in GITHUB_TOKEN (HTTP 401" in r.stderr
    assert "Traceback" not in r.stderr
    no_token_in(r)
    server.status = 403
    r = post(mlci, tmp_path, "gitlab", "team/ml/churn", summaries[0], server.url, {"GITLAB_TOKEN": TOKEN})
    assert r.returncode == 2 and "GITLAB_TOKEN (HTTP 403" in r.stderr
    no_token_in(r)


def test_the_one_variable_jenkins_binds_works_for_every_forge(server, summaries, tmp_path, mlci):
    env = {"MLCI_FORGE_TOKEN": TOKEN, "GITHUB_TOKEN": "", "GITLAB_TOKEN": ""}
    r = post(mlci, tmp_path, "gitlab", "team/ml/churn", summaries[0], server.url, env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["action"] == "created"
    assert all(h.get("PRIVATE-TOKEN") == TOKEN for _, _, h in server.requests)
    no_token_in(r)


def test_missing_token_and_bad_arguments(summaries, tmp_path, mlci):
    env = {"GITHUB_TOKEN": "", "BITBUCKET_TOKEN": TOKEN}
    r = post(mlci, tmp_path, "github", "acme/churn", summaries[0], "http://127.0.0.1:9", env)
    assert r.returncode == 2 and "GITHUB_TOKEN is not set" in r.stderr
    r = mlci("report", "comment", "--forge", "bitbucket-server", "--repo", "ML/churn", "--pr", "7",
             "--summary", summaries[0], cwd=tmp_path, env=env)
    assert r.returncode == 2 and "--url is required" in r.stderr
    r = post(mlci, tmp_path, "github", "no-slash", summaries[0], "http://127.0.0.1:9", {"GITHUB_TOKEN": TOKEN})
    assert r.returncode == 2 and "OWNER/NAME" in r.stderr


def test_unreachable_forge_exits_3_after_retries(summaries, tmp_path, mlci):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = post(mlci, tmp_path, "gitlab", "team/ml/churn", summaries[0], f"http://127.0.0.1:{port}", {"GITLAB_TOKEN": TOKEN})
    assert r.returncode == 3, r.stderr
    assert "gave up after 2 attempts" in r.stderr
    no_token_in(r)


def test_server_errors_are_retried(server, summaries, tmp_path, mlci):
    server.status = 502
    r = post(mlci, tmp_path, "github", "acme/churn", summaries[0], server.url, {"GITHUB_TOKEN": TOKEN})
    assert r.returncode == 3 and "HTTP 502" in r.stderr
    assert len(server.requests) == 2
