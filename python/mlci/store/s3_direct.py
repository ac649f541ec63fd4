"""Small PutObjects and GetObjects without botocore's per-request machinery, for the many small
blobs of a publish or a fetch.

botocore spends 0.65-0.95 ms of CPU on each request (parameter checks, endpoint rules, a dozen
event hooks, its signer, response parsing), under one GIL: for 500 files of 20 KB that, not the
server, bounds the transfer. This sends the same requests, SigV4-signed here with the client's
own credentials (botocore still finds and refreshes them), over one keep-alive connection per
thread: 0.16-0.25 ms. A PUT's payload is signed by its sha256 (the caller's: a blob's name
already is that, and S3Store checks the bytes against it), so a server that compares the two
(AWS, MinIO) checks the body it receives; a GET's bytes are checked against the blob's name by
the caller.

It is used only where it sends exactly what botocore would: a custom endpoint (MinIO, Ceph,
SeaweedFS: AWS_ENDPOINT_URL) with path-style addressing, SigV4, no proxy for that endpoint, files
up to 1 MiB (s3.MAX_DIRECT; larger ones gain nothing measurable); MLCI_S3_DIRECT=0 turns it off.
Anything it does not expect (an error answer, a dropped connection twice) turns it off for the
rest of the process and hands the file to botocore, whose retries and error messages then apply
unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import os
import ssl
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

SIGNED = "host;x-amz-content-sha256;x-amz-date"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()  # the payload hash of a request without a body
ANSWER_LIMIT = 1 << 16  # what a PUT's answer may hold (an error document), read into memory at most


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def authorization(access_key: str, key: bytes, stamp: str, region: str, method: str, uri: str,
                  host: str, payload_sha: str, token: str | None = None) -> str:
    """The SigV4 Authorization header of a request without a query string (S3's rules: the path
    encoded once, the payload signed by its sha256)."""
    names = SIGNED + (";x-amz-security-token" if token else "")
    canonical = (f"{method}\n{uri}\n\nhost:{host}\nx-amz-content-sha256:{payload_sha}\nx-amz-date:{stamp}\n"
                 + (f"x-amz-security-token:{token}\n" if token else "") + f"\n{names}\n{payload_sha}")
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"


class Direct:
    def __init__(self, endpoint: str, credentials: Any, region: str, timeout: float,
                 context: ssl.SSLContext | None):
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.address = parts.netloc
        # the Host header http.client sends, and so the one signed: without a default port
        default = 443 if self.https else 80
        self.host = parts.netloc.rsplit(":", 1)[0] if parts.port == default else parts.netloc
        self.credentials = credentials
        self.region = region
        self.timeout = timeout
        self.context = context
        self.off = False
        self.why = ""  # why it is off
        self._local = threading.local()
        self._keys: dict[tuple[str, str], bytes] = {}

    @classmethod
    def for_client(cls, client: Any, session: Any, addressing: str) -> "Direct | None":
        """The direct path for this client, or None where it would not send what botocore sends."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if (os.environ.get("MLCI_S3_DIRECT", "1").lower() in ("0", "false", "no", "off")
                or not endpoint or addressing != "path"
                or client.meta.config.signature_version not in (None, "s3v4", "v4")):
            return None
        parts = urlsplit(endpoint)
        if (parts.scheme not in ("http", "https") or parts.username or parts.password or parts.query
                or parts.path not in ("", "/")):
            return None
        from botocore.utils import get_environ_proxies

        if get_environ_proxies(endpoint):  # a proxy is botocore's business
            return None
        credentials = session.get_credentials()
        if credentials is None:
            return None
        context = None
        if parts.scheme == "https":
            verify = session.get_config_variable("ca_bundle")  # AWS_CA_BUNDLE or the profile's
            if not verify:
                from botocore.httpsession import get_cert_path

                verify = get_cert_path(True)
            context = ssl.create_default_context(
                cafile=verify if verify and not os.path.isdir(verify) else None,
                capath=verify if verify and os.path.isdir(verify) else None)
        return cls(endpoint, credentials, client.meta.region_name or "us-east-1",
                   float(os.environ.get("MLCI_S3_READ_TIMEOUT") or 60), context)

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = (http.client.HTTPSConnection(self.address, timeout=self.timeout, context=self.context)
                    if self.https else http.client.HTTPConnection(self.address, timeout=self.timeout))
            self._local.conn = conn
        return conn

    def _headers(self, method: str, uri: str, sha: str) -> dict[str, str]:
        frozen = self.credentials.get_frozen_credentials()  # refreshed by botocore when due
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        cache = (frozen.secret_key, stamp[:8])
        key = self._keys.get(cache)
        if key is None:
            key = self._keys[cache] = signing_key(frozen.secret_key, stamp[:8], self.region)
        headers = {"x-amz-content-sha256": sha, "x-amz-date": stamp,
                   "Authorization": authorization(frozen.access_key, key, stamp, self.region, method, uri,
                                                  self.host, sha, frozen.token)}
        if frozen.token:
            headers["x-amz-security-token"] = frozen.token
        return headers

    def put(self, bucket: str, key: str, body: bytes, sha: str) -> bool:
        """PutObject ``body`` (whose sha256 is ``sha``) at ``key``; False: not sent, or not known
        to be stored, so botocore should send it."""
        return self._request("PUT", bucket, key, body, sha, ANSWER_LIMIT) is not None

    def get(self, bucket: str, key: str, size: int) -> bytes | None:
        """GetObject ``key``'s bytes, expected to be ``size``; None: botocore should get them (its
        errors say what is wrong: a missing key, access denied; a longer answer is not held in
        memory). The caller checks the bytes against their sha256."""
        return self._request("GET", bucket, key, None, EMPTY_SHA, size)

    def _request(self, method: str, bucket: str, key: str, body: bytes | None, sha: str,
                 limit: int) -> bytes | None:
        """The answer's body (at most ``limit`` bytes) if the server answered 200, else None (and the
        direct path is off)."""
        if self.off:
            return None
        uri = quote(f"/{bucket}/{key}", safe="/~")
        for attempt in range(2):
            conn = self._connection(fresh=attempt > 0)
            reused = conn.sock is not None
            try:
                conn.request(method, uri, body, self._headers(method, uri, sha))
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
            if response.status == 200:
                return answer
            return self._give_up(f"{method}: HTTP {response.status} {answer[:200]!r}")
        return None

    def _give_up(self, why: str) -> None:
        if not self.off:
            self.off, self.why = True, why
            log.debug("direct requests turned off for this process (%s); botocore makes the rest", why)
        return None
