"""mlci's own S3 requests for the simple operations (PutObject, conditional too, GetObject,
HeadObject, DeleteObject, ListObjectsV2) on a custom endpoint, without botocore's per-request
machinery and, where the environment says all, without botocore at all.

botocore spends 0.65-0.95 ms of CPU on each request (parameter checks, endpoint rules, a dozen
event hooks, its signer, response parsing), under one GIL: for 500 files of 20 KB that, not the
server, bounds the transfer; and importing it and building its client costs a command ~0.1 s
(more on a loaded agent). This sends the same requests, SigV4-signed here, over one keep-alive
connection per thread: 0.16-0.25 ms. A PUT's payload is signed by its sha256, so a server that
compares the two (AWS, MinIO) checks the body it receives; a blob's bytes are checked against
its name by the caller.

It is used only where it sends exactly what botocore would: a custom endpoint (MinIO, Ceph,
SeaweedFS: AWS_ENDPOINT_URL) with path-style addressing, SigV4, no proxy for that endpoint;
MLCI_S3_DIRECT=0 turns it off. Its credentials: from the environment alone (Direct.from_environment:
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, no profile, no AWS config file), else botocore's, found
and refreshed by botocore (Direct.for_client). It handles success and the answers that are
part of an operation's meaning (a missing key, a failed condition); anything else (an error
answer, a dropped connection twice) turns it off for the rest of the process and hands the
operation to botocore, whose retries and error messages then apply unchanged. Multipart
transfers, bucket checks and everything on AWS itself are botocore's.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import os
import re
import ssl
import threading
import time
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree import ElementTree

log = logging.getLogger(__name__)

EMPTY_SHA = hashlib.sha256(b"").hexdigest()  # the payload hash of a request without a body
ANSWER_LIMIT = 1 << 16  # what a PUT's answer may hold (an error document), read into memory at most
READ_LIMIT = 1 << 26  # a whole object or listing page read into memory (larger: botocore streams it)
MISSING = "missing"  # the answer to a request for a key that does not exist (S3's NoSuchKey)
_SAFE = "-_.~"  # what SigV4 leaves unencoded in a query


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in sorted(params.items()))


def authorization(access_key: str, key: bytes, stamp: str, region: str, method: str, uri: str,
                  host: str, payload_sha: str, token: str | None = None, query: str = "",
                  headers: dict[str, str] | None = None) -> str:
    """The SigV4 Authorization header of an S3 request (S3's rules: the path encoded once, the
    payload signed by its sha256), signing every header sent but the connection's own."""
    signed = {"host": host, "x-amz-content-sha256": payload_sha, "x-amz-date": stamp,
              **({"x-amz-security-token": token} if token else {}),
              **{k.lower(): v for k, v in (headers or {}).items()}}
    names = ";".join(sorted(signed))
    canonical = (f"{method}\n{uri}\n{query}\n" + "".join(f"{k}:{signed[k]}\n" for k in sorted(signed))
                 + f"\n{names}\n{payload_sha}")
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"


class EnvCredentials:
    """Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, as
    botocore's first provider reads them; they never change, so they are their own frozen copy."""

    def __init__(self, access_key: str, secret_key: str, token: str | None):
        self.access_key, self.secret_key, self.token = access_key, secret_key, token

    def get_frozen_credentials(self) -> "EnvCredentials":
        return self


def _endpoint_ok(addressing: str) -> str | None:
    """The custom endpoint, if requests to it can be made here at all (see the module's doc)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if (os.environ.get("MLCI_S3_DIRECT", "1").lower() in ("0", "false", "no", "off")
            or os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true"
            or not endpoint or addressing != "path"):
        return None
    parts = urlsplit(endpoint)
    if (parts.scheme not in ("http", "https") or parts.username or parts.password or parts.query
            or parts.path not in ("", "/")):
        return None
    from urllib.request import getproxies_environment, proxy_bypass_environment

    proxies = getproxies_environment()
    if (proxies.get(parts.scheme) or proxies.get("all")) and not proxy_bypass_environment(parts.hostname or ""):
        return None  # a proxy is botocore's business
    return endpoint


class Direct:
    def __init__(self, endpoint: str, credentials: Any, region: str, context: ssl.SSLContext | None):
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.address = parts.netloc
        # the Host header http.client sends, and so the one signed: without a default port
        default = 443 if self.https else 80
        self.host = parts.netloc.rsplit(":", 1)[0] if parts.port == default else parts.netloc
        self.credentials = credentials
        self.region = region
        # seconds, as botocore's client is given them (s3._make_client)
        self.connect_timeout = float(os.environ.get("MLCI_S3_CONNECT_TIMEOUT") or 10)
        self.timeout = float(os.environ.get("MLCI_S3_READ_TIMEOUT") or 60)  # for an answer
        self.context = context
        self.off = False
        self.why = ""  # why it is off
        self.without_botocore = isinstance(credentials, EnvCredentials)
        self._local = threading.local()
        self._keys: dict[tuple[str, str], bytes] = {}

    @classmethod
    def from_environment(cls, addressing: str) -> "Direct | None":
        """The direct path with no botocore at all, where the environment alone says everything
        botocore would use: the endpoint, the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
        as Jenkins' withCredentials sets them), the region, for HTTPS the CA bundle; and no AWS
        config file (~/.aws/config, AWS_CONFIG_FILE) or profile that could say otherwise."""
        env = os.environ
        endpoint = _endpoint_ok(addressing)
        if (endpoint is None or not env.get("AWS_ACCESS_KEY_ID") or not env.get("AWS_SECRET_ACCESS_KEY")
                or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or env.get("AWS_CREDENTIAL_EXPIRATION")
                or os.path.exists(os.path.expanduser(env.get("AWS_CONFIG_FILE") or "~/.aws/config"))):
            return None
        context = None
        if endpoint.startswith("https:"):
            if not env.get("AWS_CA_BUNDLE"):
                return None  # botocore's default bundle is botocore's to find
            context = _context(env["AWS_CA_BUNDLE"])
        token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None
        return cls(endpoint, EnvCredentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], token),
                   env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1", context)

    @classmethod
    def for_client(cls, client: Any, session: Any, addressing: str) -> "Direct | None":
        """The direct path for this botocore client (its credentials, region and CA bundle), or
        None where it would not send what botocore sends."""
        endpoint = _endpoint_ok(addressing)
        if endpoint is None or client.meta.config.signature_version not in (None, "s3v4", "v4"):
            return None
        credentials = session.get_credentials()
        if credentials is None:
            return None
        context = None
        if endpoint.startswith("https:"):
            verify = session.get_config_variable("ca_bundle")  # AWS_CA_BUNDLE or the profile's
            if not verify:
                from botocore.httpsession import get_cert_path

                verify = get_cert_path(True)
            context = _context(verify)
        return cls(endpoint, credentials, client.meta.region_name or "us-east-1", context)

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = (http.client.HTTPSConnection(self.address, timeout=self.connect_timeout, context=self.context)
                    if self.https else http.client.HTTPConnection(self.address, timeout=self.connect_timeout))
            self._local.conn = conn
        return conn

    def _headers(self, method: str, uri: str, sha: str, query: str, extra: dict[str, str]) -> dict[str, str]:
        frozen = self.credentials.get_frozen_credentials()  # refreshed by botocore when due
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        cache = (frozen.secret_key, stamp[:8])
        key = self._keys.get(cache)
        if key is None:
            key = self._keys[cache] = signing_key(frozen.secret_key, stamp[:8], self.region)
        headers = {**extra, "x-amz-content-sha256": sha, "x-amz-date": stamp,
                   "Authorization": authorization(frozen.access_key, key, stamp, self.region, method, uri,
                                                  self.host, sha, frozen.token, query, extra)}
        if frozen.token:
            headers["x-amz-security-token"] = frozen.token
        return headers

    # --- the requests -------------------------------------------------------------------------
    def put(self, bucket: str, key: str, body: bytes, sha: str, condition: dict[str, str] | None = None
            ) -> bool | None:
        """PutObject ``body`` (whose sha256 is ``sha``) at ``key``, with a ``condition``
        (If-None-Match / If-Match) or none. True: stored; False: the condition failed (412, or 409
        while another conditional write is under way); None: not sent, or not known to be stored,
        so botocore should send it. A conditional write refused after its connection dropped and
        it was sent again is None too: the first may have landed, and the caller must look. (If-Match
        on a key that is gone is False.)"""
        answer = self._send("PUT", bucket, key, body=body, sha=sha, headers=condition,
                            expect=(200, 404, 409, 412) if condition else (200,))
        if answer is None or (answer[0] != 200 and answer[3]):
            return None
        if answer[0] == 404:  # If-Match on a key deleted since it was read: the version did not match
            return False if self._missing(answer[2]) == MISSING else None
        return answer[0] == 200

    def get(self, bucket: str, key: str, size: int) -> bytes | None:
        """GetObject ``key``'s bytes, expected to be ``size``; None: botocore should get them (its
        errors say what is wrong: a missing key, access denied; a longer answer is not held in
        memory). The caller checks the bytes against their sha256."""
        answer = self._send("GET", bucket, key, limit=size)
        return None if answer is None else answer[2]

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | str | None:
        """GetObject: (bytes, ETag), MISSING, or None (botocore's turn)."""
        answer = self._send("GET", bucket, key, limit=READ_LIMIT, expect=(200, 404))
        if answer is None:
            return None
        if answer[0] == 404:
            return self._missing(answer[2])
        return answer[2], answer[1].getheader("ETag") or ""

    def head(self, bucket: str, key: str) -> bool | None:
        """HeadObject: does ``key`` exist (a 404, with no body to say more, is "no", as botocore's
        answer is taken)? None: botocore's turn."""
        answer = self._send("HEAD", bucket, key, expect=(200, 404))
        return None if answer is None else answer[0] == 200

    def delete(self, bucket: str, key: str) -> bool | None:
        return None if self._send("DELETE", bucket, key, expect=(200, 204)) is None else True

    def list_page(self, bucket: str, prefix: str, token: str | None
                  ) -> tuple[list[tuple[str, int, str]], str | None] | None:
        """One ListObjectsV2 page (up to 1000 keys): ([(key, size, LastModified text)], the next
        page's token or None); None: botocore's turn. Keys come URL-encoded and are decoded, as
        botocore asks for them and decodes them."""
        params = {"list-type": "2", "prefix": prefix, "encoding-type": "url",
                  **({"continuation-token": token} if token else {})}
        answer = self._send("GET", bucket, "", query=params, limit=READ_LIMIT)
        if answer is None:
            return None
        try:
            root = ElementTree.fromstring(answer[2])
            ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            if root.tag != f"{ns}ListBucketResult":  # never an empty listing by mistake (gc deletes by it)
                raise ValueError(f"<{root.tag[len(ns):]}> where <ListBucketResult> was expected")
            items = [(unquote_plus(c.findtext(f"{ns}Key") or ""), int(c.findtext(f"{ns}Size") or 0),
                      c.findtext(f"{ns}LastModified") or "") for c in root.iter(f"{ns}Contents")]
        except (ElementTree.ParseError, ValueError) as exc:
            return self._give_up(f"LIST: not a listing ({exc})")
        more = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
        following = root.findtext(f"{ns}NextContinuationToken") if more else None
        if more and not following:
            return self._give_up("LIST: a truncated listing without a continuation token")
        return items, following

    def _missing(self, answer: bytes) -> str | None:
        code = re.search(rb"<Code>([^<]*)</Code>", answer)
        if code and code.group(1) == b"NoSuchKey":
            return MISSING
        return self._give_up(f"HTTP 404 {answer[:200]!r}")  # no such bucket: botocore's message says so

    def _send(self, method: str, bucket: str, key: str, *, body: bytes | None = None, sha: str = EMPTY_SHA,
              query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
              limit: int = ANSWER_LIMIT, expect: tuple[int, ...] = (200,)
              ) -> tuple[int, http.client.HTTPResponse, bytes, bool] | None:
        """(status, response, the answer's body of at most ``limit`` bytes, whether it was sent
        twice) if the server answered one of ``expect``; else None, and the direct path is off."""
        if self.off:
            return None
        uri = quote(f"/{bucket}/{key}", safe="/~")
        qs = canonical_query(query) if query else ""
        target = f"{uri}?{qs}" if qs else uri
        for attempt in range(2):
            conn = self._connection(fresh=attempt > 0)
            reused = conn.sock is not None
            try:
                conn.request(method, target, body, self._headers(method, uri, sha, qs, headers or {}))
                if conn.sock is not None:  # connected (within the connect timeout): now wait for the answer
                    conn.sock.settimeout(self.timeout)
                response = conn.getresponse()
                answer = response.read(limit + 1) if (response.length or 0) <= limit else b""
                if len(answer) > limit or (response.length or 0) > limit:
                    conn.close()  # the rest of the answer is still on its way
                    return self._give_up(f"{method}: an answer over {limit} bytes")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # the server closed a kept-alive connection: once more, on a new one
                return self._give_up(f"{method}: {type(exc).__name__}: {exc}")
            if response.status in expect:
                return response.status, response, answer, attempt > 0
            return self._give_up(f"{method}: HTTP {response.status} {answer[:200]!r}")
        return None

    def _give_up(self, why: str) -> None:
        if not self.off:
            self.off, self.why = True, why
            log.debug("direct requests turned off for this process (%s); botocore makes the rest", why)
        return None


def _context(verify: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=verify if verify and not os.path.isdir(verify) else None,
                                      capath=verify if verify and os.path.isdir(verify) else None)
