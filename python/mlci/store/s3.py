"""S3Store: the store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW).

``s3://bucket/prefix``. Configured the standard way: the endpoint from AWS_ENDPOINT_URL (unset:
AWS), credentials from the standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, instance roles), region from AWS_REGION, else AWS_DEFAULT_REGION. On a custom
endpoint the simple requests are mlci's own (s3_direct), without botocore where the environment
holds all of that; botocore (boto3's core) makes the rest, and takes over on any failure.
Tuning (all optional, sizes accept "8MB", "64MiB" or bytes):

  MLCI_S3_MULTIPART_THRESHOLD  files at least this big go multipart (default 16MiB)
  MLCI_S3_CHUNK_SIZE           multipart part size (default 16MiB)
  MLCI_S3_CONCURRENCY          parallel parts per file (default 10)
  AWS_MAX_ATTEMPTS             botocore's own retries per request (default 3, mode "standard")

Safety rests on three S3 properties: a PutObject or a completed multipart upload becomes
visible whole or not at all; ``If-None-Match: *`` creates a key only if it is absent; and
``If-Match: <ETag>`` replaces it only if nobody changed it since it was read.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urlparse

from mlci.errors import ConfigError, FileChanged, InfraError, IntegrityError, redact
from mlci.retry import retry
from mlci.store.base import KeyMissing, ObjectInfo, Store, blob_sha
from mlci.store.s3_direct import MISSING

log = logging.getLogger(__name__)
T = TypeVar("T")

MiB = 1 << 20
_UNSET = object()
MAX_DIRECT = MiB  # files up to this size may skip botocore's request machinery (s3_direct)
CREDENTIAL_VARS = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
_THROTTLE = {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded",
             "TooManyRequests", "RequestThrottled", "RequestTimeout", "InternalError",
             "ServiceUnavailable"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403",
           "ExpiredToken", "InvalidToken", "AllAccessDisabled"}
_CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def parse_size(text: str, what: str) -> int:
    """'16MiB', '8MB', '1048576' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]i?b?)?\s*", text.lower())
    if not m:
        raise ConfigError(f"{what}={text!r}: expected a size like 8MB, 64MiB or a number of bytes")
    unit = (m.group(2) or "").rstrip("b").rstrip("i")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": MiB, "g": 1 << 30}[unit]


@dataclass(frozen=True)
class TransferSettings:
    threshold: int = 16 * MiB
    chunk_size: int = 16 * MiB
    concurrency: int = 10

    @classmethod
    def from_env(cls) -> "TransferSettings":
        env = os.environ
        out = cls()
        return cls(
            threshold=parse_size(env["MLCI_S3_MULTIPART_THRESHOLD"], "MLCI_S3_MULTIPART_THRESHOLD")
            if env.get("MLCI_S3_MULTIPART_THRESHOLD") else out.threshold,
            chunk_size=max(5 * MiB, parse_size(env["MLCI_S3_CHUNK_SIZE"], "MLCI_S3_CHUNK_SIZE"))
            if env.get("MLCI_S3_CHUNK_SIZE") else out.chunk_size,
            concurrency=max(1, int(env.get("MLCI_S3_CONCURRENCY") or out.concurrency)),
        )


class _Transient(Exception):
    """A failure worth retrying: connection refused/reset, timeout, 5xx, throttling."""


def parse_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"store.uri: {redact(uri)!r} is not s3://bucket/prefix")
    if "@" in uri or ":" in parsed.netloc:  # s3://KEY:SECRET@bucket (a secret may hold a '/')
        raise ConfigError(f"store.uri: {redact(uri)!r} has credentials in it; put them in "
                          f"{CREDENTIAL_VARS}, never in the URI")
    bucket = parsed.netloc
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise ConfigError(f"store.uri: bucket name {bucket!r} is not a valid S3 bucket name "
                          "(3-63 lowercase letters, digits, '.' and '-')")
    return bucket, parsed.path.strip("/")


_clients: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_directs: dict[tuple[Any, ...], Any] = {}
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")  # botocore reads them once per client
_clients_lock = threading.Lock()


def shared_client(addressing: str, pool: int) -> Any:
    """The process's S3 client for these settings and the current AWS_* / MLCI_S3_* / proxy environment.

    Creating a client costs more than most commands' requests (botocore reads S3's model and the
    endpoint tables), so every S3Store of a process shares one; botocore clients are thread-safe.
    botocore is used without boto3 (boto3 adds its import, and s3transfer's, for nothing but
    multipart transfers, which import it when they run).
    """
    return _shared(addressing, pool)[0]


def _env() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items()
                        if k.startswith(("AWS_", "MLCI_S3_")) or k.lower() in _PROXY_VARS))


def _shared(addressing: str, pool: int) -> tuple[Any, Any]:
    """(client, its Direct or None: see s3_direct)."""
    key = (addressing, pool, _env())
    with _clients_lock:
        if key not in _clients:
            # botocore's modules and S3's model are some 80,000 objects that live as long as the
            # process, and the cyclic collector walked them again and again while they were made
            # and afterwards (30 ms of a 0.25 s command). So they are made with it paused, and the
            # process's first client then freezes what is alive out of its reach (gc.freeze).
            first, enabled = not _clients, gc.isenabled()
            gc.disable()
            try:
                _clients[key] = _make_client(addressing, pool)
            finally:
                if enabled:
                    gc.enable()
            if first:
                gc.freeze()
        return _clients[key]


def _env_direct(addressing: str) -> Any:
    """The process's botocore-free Direct for these settings, or None (s3_direct.Direct.from_environment)."""
    key = (addressing, _env())
    with _clients_lock:
        if key not in _directs:
            from mlci.store.s3_direct import Direct

            _directs[key] = Direct.from_environment(addressing)
        return _directs[key]


def _make_client(addressing: str, pool: int) -> tuple[Any, Any]:
    import botocore.session
    from botocore.config import Config
    from botocore.handlers import add_expect_header

    options: dict[str, Any] = {
        "retries": {"mode": os.environ.get("AWS_RETRY_MODE") or "standard",
                    "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS") or 3)},
        "s3": {"addressing_style": addressing},
        "max_pool_connections": pool,
        "connect_timeout": float(os.environ.get("MLCI_S3_CONNECT_TIMEOUT") or 10),
        "read_timeout": float(os.environ.get("MLCI_S3_READ_TIMEOUT") or 60),
    }
    # botocore >= 1.36 adds CRC checksums (aws-chunked bodies) by default, which older
    # MinIO/Ceph releases reject. Our own sha256 verifies every blob end to end, so ask
    # for checksums only where an API requires them, unless the user set the standard vars.
    if not os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
        options["request_checksum_calculation"] = "when_required"
    if not os.environ.get("AWS_RESPONSE_CHECKSUM_VALIDATION"):
        options["response_checksum_validation"] = "when_required"
    try:
        config = Config(**options)
    except TypeError:  # older botocore without the checksum options
        options.pop("request_checksum_calculation", None)
        options.pop("response_checksum_validation", None)
        config = Config(**options)
    session = botocore.session.Session()
    # Before it loads S3's model, botocore checks that "s3" is a known service by listing the
    # model directories of all ~400 services it ships. S3 is the one we load.
    session.get_component("data_loader").list_available_services = lambda type_name: ["s3"]
    # botocore parses every timestamp of a response with dateutil, 0.1 ms each: 50 ms for a listing
    # of 500 keys. mlci reads them only as epoch seconds (_epoch), so it takes the text, as awscli does.
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    # AWS_REGION first, as the AWS CLI v2 and the other SDKs read it (botocore reads only AWS_DEFAULT_REGION)
    region = os.environ.get("AWS_REGION") or session.get_config_variable("region") or "us-east-1"
    client = session.create_client("s3", region_name=region, config=config)
    # botocore sends every PUT body with `Expect: 100-continue` and waits for the server's go-ahead
    # before the body: a second round trip on each small PUT. Objects big enough for that wait to
    # matter go multipart (MLCI_S3_MULTIPART_THRESHOLD), in parts whose round trip is noise.
    client.meta.events.unregister("before-call.s3", add_expect_header)
    from mlci.store.s3_direct import Direct

    return client, Direct.for_client(client, session, addressing)


def _epoch(stamp: str) -> float:
    """An S3 listing's timestamp (ISO 8601, UTC: 2026-11-30T09:53:39.000Z) as epoch seconds."""
    parsed = datetime.fromisoformat(stamp)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


class S3Store(Store):
    workers = 16  # files in flight at once in publish_run/download_run (MLCI_STORE_WORKERS)

    def __init__(self, uri: str, addressing: str = "auto"):
        if addressing not in ("auto", "path", "virtual"):
            raise ConfigError(f"store.addressing: expected auto, path or virtual, got {addressing!r}")
        self.bucket, self.prefix = parse_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.shown_endpoint = redact(self.endpoint) if self.endpoint else None  # what messages show
        self._conditional_checked = False
        # MinIO and Ceph RGW answer path-style out of the box; virtual-host needs DNS set up.
        # So "auto" means path-style for a custom endpoint and virtual-host on AWS itself.
        self.addressing = addressing if addressing != "auto" else ("path" if self.endpoint else "virtual")
        self.transfer = TransferSettings.from_env()
        self._client: Any = None
        self._direct: Any = _UNSET

    # --- client and error handling ------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._shared()[0]
        return self._client

    @property
    def direct(self) -> Any:
        """mlci's own requests (s3_direct.Direct): without botocore where the environment says all,
        else with the botocore client's credentials; None where botocore makes them all."""
        if self._direct is _UNSET:
            try:
                self._direct = _env_direct(self.addressing) or self._shared()[1]
            except Exception:  # no client (no credentials, no such profile): botocore's call says so
                self._direct = None
        return self._direct

    def _shared(self) -> tuple[Any, Any]:
        return _shared(self.addressing, max(32, 4 * self.transfer.concurrency, self._workers()))

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise IntegrityError(f"{self.uri}: refusing the store key {key!r} (empty, absolute, or '..' in it)")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _display(self, key: str) -> str:
        return f"{self.uri}/{key}" if key else self.uri

    def _where(self) -> str:
        return f"{self.uri} (endpoint {self.shown_endpoint or 'AWS'})"

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        """Run one S3 operation: retry transient failures, translate the rest to clear errors.

        botocore retries each request itself (mode "standard": 5xx, throttling, resets,
        timeouts, with jittered backoff); retry() wraps that for longer outages and raises
        InfraError (exit 3) when the endpoint stays down.
        """
        from botocore.exceptions import (BotoCoreError, ClientError, ConfigParseError, ConnectionError as BotoConnError,
                                         HTTPClientError, IncompleteReadError, NoCredentialsError,
                                         PartialCredentialsError, ProfileNotFound)

        def once() -> T:
            try:
                return fn()
            except ClientError as exc:
                self._raise_client_error(exc, key, transient_ok=True)
                raise
            except ProfileNotFound as exc:
                files = " or ".join(os.path.expanduser(os.environ.get(var) or default) for var, default in (
                    ("AWS_CONFIG_FILE", "~/.aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")))
                raise ConfigError(f"AWS_PROFILE: no profile {exc.kwargs.get('profile')!r} in {files}") from None
            except ConfigParseError as exc:
                raise ConfigError(f"{exc.kwargs.get('path')}: not a valid AWS config file (INI sections and "
                                  "key = value lines)") from None
            except (NoCredentialsError, PartialCredentialsError) as exc:
                raise InfraError(f"{self._where()}: no usable S3 credentials ({exc}); "
                                 f"set {CREDENTIAL_VARS}") from None
            except (HTTPClientError, BotoConnError, IncompleteReadError, ConnectionError, TimeoutError) as exc:
                raise _Transient(redact(f"cannot reach {self.shown_endpoint or 'AWS S3'}: {exc}")) from None
            except BotoCoreError as exc:
                if type(exc).__name__ == "RetriesExceededError":
                    raise _Transient(str(exc)) from None
                raise
            except Exception as exc:  # boto3's and s3transfer's own errors (boto3 is imported only for multipart)
                if type(exc).__name__ == "S3UploadFailedError":  # wraps the failed request's error
                    cause = exc.__cause__ or exc.__context__
                    if isinstance(cause, ClientError):
                        self._raise_client_error(cause, key, transient_ok=True)
                    raise _Transient(str(exc)) from None
                if type(exc).__name__ == "RetriesExceededError":
                    raise _Transient(str(exc)) from None
                raise

        return retry(once, what=f"{what} {self._display(key)}", on=(_Transient,))

    def _raise_client_error(self, exc: Any, key: str, transient_ok: bool = False) -> None:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code == "NoSuchBucket":
            raise InfraError(f"{self._where()}: bucket {self.bucket!r} does not exist; "
                             "create it or fix store.uri / MLCI_STORE") from None
        if code in _DENIED or status == 403:
            raise InfraError(f"{self._where()}: access denied to {self._display(key)} "
                             f"({code}); check the credentials in {CREDENTIAL_VARS} "
                             "and the bucket policy") from None
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            raise KeyMissing(key)
        if transient_ok and (status >= 500 or code in _THROTTLE):
            raise _Transient(f"{code or status}: {err.get('Message', '')}".strip()) from None

    @staticmethod
    def _is_conflict(exc: Any) -> bool:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in _CONFLICT or status in (409, 412)

    # --- primitives -----------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        direct = self.direct
        found = direct.head(self.bucket, self._key(key)) if direct is not None else None
        if found is not None:
            return found
        try:
            self._call("HEAD", key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
            return True
        except KeyMissing:
            return False

    def _get(self, key: str) -> tuple[bytes, str]:
        direct = self.direct
        got = direct.get_object(self.bucket, self._key(key)) if direct is not None else None
        if got == MISSING:
            raise KeyMissing(key)
        if got is not None:
            return got

        def fetch() -> tuple[bytes, str]:
            r = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return r["Body"].read(), r["ETag"]

        return self._call("GET", key, fetch)

    def get_bytes(self, key: str) -> bytes:
        return self._get(key)[0]

    def put_bytes(self, key: str, data: bytes) -> None:
        # one PutObject: readers see the old object or the new one, never a part
        direct = self.direct
        if direct is not None and direct.put(self.bucket, self._key(key), data, hashlib.sha256(data).hexdigest()):
            return
        self._call("PUT", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data))

    def _conditional_put(self, key: str, data: bytes, **cond: str) -> bool:
        direct = self.direct
        if direct is not None:
            headers = {{"IfNoneMatch": "If-None-Match", "IfMatch": "If-Match"}[k]: v for k, v in cond.items()}
            done = direct.put(self.bucket, self._key(key), data, hashlib.sha256(data).hexdigest(), headers)
            if done is not None:
                return done
        # Handed over by mlci's own request, which may have landed: a refusal is then looked into.
        tries = {"n": 0 if direct is None else 1}

        from botocore.exceptions import ClientError

        def put() -> bool:
            tries["n"] += 1
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **cond)
                return True
            except ClientError as exc:
                if not self._is_conflict(exc):
                    raise
                retried = tries["n"] > 1 or exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
                if retried:
                    # Our earlier attempt may have landed and only its answer was lost: then
                    # the object holds exactly our bytes, and the write was ours.
                    try:
                        current = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
                    except ClientError as again:
                        if again.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                            return False  # gone again: it was not ours to keep
                        raise
                    return current == data
                return False

        return self._call("PUT (conditional)", key, put)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._conditional_put(key, data, IfNoneMatch="*")

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        return self._get(key)

    def put_if_match(self, key: str, data: bytes, token: str | None) -> bool:
        if token is None:
            return self.put_if_absent(key, data)
        try:
            return self._conditional_put(key, data, IfMatch=token)
        except KeyMissing:  # deleted since it was read: the version did not match
            return False

    def list(self, prefix: str) -> list[str]:
        return [info.key for info in self.list_info(prefix)]

    def list_info(self, prefix: str) -> list[ObjectInfo]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0

        direct = self.direct
        listed = self._direct_list(direct, full, None) if direct is not None else None
        items = [ObjectInfo(k[strip:], size, _epoch(stamp)) for k, size, stamp in listed] if listed is not None else None

        def scan() -> list[ObjectInfo]:
            out = []
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                for obj in page.get("Contents", []):
                    out.append(ObjectInfo(obj["Key"][strip:], int(obj["Size"]),
                                          _epoch(obj["LastModified"])))
            return out

        if items is None:
            items = self._call("LIST", prefix, scan)
        if prefix and not prefix.endswith("/"):  # a directory-like prefix, as LocalStore treats it
            items = [i for i in items if i.key == prefix or i.key.startswith(prefix.rstrip("/") + "/")]
        return sorted(items, key=lambda i: i.key)

    def known_blobs(self, shas: list[str]) -> set[str] | None:
        """For a publish of many files, one paginated LIST (1000 keys a page) can replace a HEAD
        per file. Listing stops, and we fall back to HEADs, when the store holds so many blobs
        that the listing would cost more requests than it saves."""
        if len(shas) < 32:
            return None
        budget = max(1, len(shas) // 50)
        base = self._key("blobs/sha256/")
        out: set[str] = set()
        direct = self.direct
        if direct is not None:
            listed = self._direct_list(direct, base, budget)
            if listed is not None:
                return set(shas) & {k[len(base):].replace("/", "") for k, _, _ in listed}
            if not direct.off:
                return None  # more pages than the budget

        def scan() -> bool:
            out.clear()
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            for i, page in enumerate(pages):
                if i >= budget:
                    return False
                for obj in page.get("Contents", []):
                    out.add(obj["Key"][len(base):].replace("/", ""))
            return True

        complete = self._call("LIST", "blobs/sha256/", scan)
        return set(shas) & out if complete else None

    def _direct_list(self, direct: Any, full: str, pages: int | None) -> list[tuple[str, int, str]] | None:
        """Every key under ``full`` by mlci's own ListObjectsV2 requests, in at most ``pages``
        pages; None when that is not enough, or the listing was handed over (``direct.off``)."""
        out: list[tuple[str, int, str]] = []
        token, read = None, 0
        while pages is None or read < pages:
            page = direct.list_page(self.bucket, full, token)
            if page is None:
                return None
            out += page[0]
            token, read = page[1], read + 1
            if token is None:
                return out
        return None

    def delete(self, key: str) -> None:
        direct = self.direct
        if direct is not None and direct.delete(self.bucket, self._key(key)):
            return
        self._call("DELETE", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def _transfer(self) -> Any:
        """boto3's S3Transfer over the shared client: multipart uploads and ranged downloads, parts
        in parallel. (The only use of boto3, imported here.)"""
        from boto3.s3.transfer import S3Transfer, TransferConfig

        return S3Transfer(self.client, TransferConfig(
            multipart_threshold=self.transfer.threshold, multipart_chunksize=self.transfer.chunk_size,
            max_concurrency=self.transfer.concurrency, use_threads=True))

    def put_file(self, key: str, path: Path, callback: Callable[[int], None] | None = None) -> None:
        size = path.stat().st_size
        if size <= MAX_DIRECT and size < self.transfer.threshold:
            body, sha = self._checked_body(key, path)
            direct = self.direct
            if direct is None or not direct.put(self.bucket, self._key(key), body, sha):
                self._call("PUT", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key),
                                                                      Body=body))
            if callback:
                callback(size)
            return
        if size < self.transfer.threshold:
            def put() -> None:
                with open(path, "rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

            self._call("PUT", key, put)
            if callback:
                callback(size)
            return
        # Multipart, parts in parallel; the object appears only when the upload completes.
        sent = {"n": 0}

        def cb(n: int) -> None:
            sent["n"] += n
            if callback:
                callback(n)

        def upload() -> None:
            if sent["n"] and callback:  # a retried upload starts over: rewind the bar
                callback(-sent["n"])
            sent["n"] = 0
            with self._transfer() as transfer:
                transfer.upload_file(str(path), self.bucket, self._key(key), callback=cb)

        self._call("PUT (multipart)", key, upload)

    @staticmethod
    def _checked_body(key: str, path: Path) -> tuple[bytes, str]:
        """A small file's bytes, refused if a blob's name (its sha256) does not match them: the file
        changed after it was hashed, and the blob would be stored under another content's name."""
        body = path.read_bytes()
        actual = hashlib.sha256(body).hexdigest()
        named = blob_sha(key)
        if named is not None and actual != named:
            raise FileChanged(f"{path}: changed after it was hashed (sha256 {named[:12]}, now {actual[:12]}); "
                              "nothing of it was stored: publish again once it is no longer being written", path)
        return body, actual

    def get_file(self, key: str, dest: Path, size: int | None = None,
                 callback: Callable[[int], None] | None = None) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.part-")
        os.close(fd)
        tmp = Path(name)
        try:
            if size is not None and size <= MAX_DIRECT and size < self.transfer.threshold:
                direct = self.direct
                data = direct.get(self.bucket, self._key(key), size) if direct is not None else None
                if data is not None:
                    tmp.write_bytes(data)
                    if callback:
                        callback(len(data))
                    os.replace(tmp, dest)
                    return
            if size is not None and size < self.transfer.threshold:
                def get() -> None:
                    r = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
                    with open(tmp, "wb") as f:
                        for chunk in r["Body"].iter_chunks(1 << 20):
                            f.write(chunk)
                            if callback:
                                callback(len(chunk))

                self._call("GET", key, get)
            else:
                def download() -> None:
                    with self._transfer() as transfer:
                        transfer.download_file(self.bucket, self._key(key), str(tmp), callback=callback)

                self._call("GET", key, download)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    # --- S3 housekeeping ----------------------------------------------------------------------
    def list_incomplete_uploads(self) -> list[ObjectInfo]:
        """Multipart uploads that were started and never completed (crashed publishes)."""
        strip = len(self.prefix) + 1 if self.prefix else 0

        def scan() -> list[ObjectInfo]:
            out = []
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=(self.prefix + "/") if self.prefix else "")
            for page in pages:
                for up in page.get("Uploads", []):
                    out.append(ObjectInfo(up["Key"][strip:], 0, _epoch(up["Initiated"]),
                                          upload_id=up["UploadId"]))
            return out

        return self._call("LIST uploads", "", scan)

    def abort_upload(self, info: ObjectInfo) -> None:
        self._call("ABORT", info.key, lambda: self.client.abort_multipart_upload(
            Bucket=self.bucket, Key=self._key(info.key), UploadId=info.upload_id))

    def check_conditional_writes(self) -> None:
        """Refuse an endpoint that ignores ``If-None-Match``/``If-Match`` on PutObject.

        On such an endpoint (npm's s3rver, old MinIO) two publishes could both "create" version
        n and alias moves could overwrite each other, silently. A probe key is created twice
        and replaced against a stale ETag: a compliant endpoint refuses both (412). Once per
        store object, so once per command.
        """
        if self._conditional_checked:
            return
        import uuid

        key = f"leases/probe/{uuid.uuid4().hex}.json"
        try:
            created = self.put_if_absent(key, b'{"probe": 1}')
            again = self.put_if_absent(key, b'{"probe": 2}')
            stale = self.put_if_match(key, b'{"probe": 3}', '"00000000000000000000000000000000"')
        finally:
            self.delete(key)
        if not created or again or stale:
            ignored = " and ".join(h for h, bad in (("If-None-Match", again), ("If-Match", stale)) if bad)
            raise InfraError(f"{self._where()}: the endpoint ignores {ignored or 'conditional writes'} on "
                             "PutObject, so version numbers and alias moves would not be safe; use an "
                             "endpoint that honours conditional writes (AWS S3, MinIO since 2024, "
                             "Ceph RGW, SeaweedFS)")
        self._conditional_checked = True

    def check(self) -> None:
        """Reach the bucket once (for `mlci doctor`): raises InfraError if not usable."""
        try:
            self._call("HEAD bucket", "", lambda: self.client.head_bucket(Bucket=self.bucket))
        except KeyMissing:
            raise InfraError(f"{self._where()}: bucket {self.bucket!r} does not exist; "
                             "create it or fix store.uri / MLCI_STORE") from None


__all__ = ["S3Store", "TransferSettings", "parse_size", "parse_uri", "InfraError"]
