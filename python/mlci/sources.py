"""Data sources: where data.train, data.test and data.reference live, what they hold, and how
they are read.

A source is written in mlci.yaml as one of:

  data/train.parquet                          a local file (CSV or Parquet)
  data/events/                                a local directory: every .parquet/.csv file below it
  data/2026-*.csv                             a local glob (`*` within a folder, `**/` across folders)
  s3://bucket/train.parquet                   an object
  s3://bucket/events/                         a prefix: every .parquet/.csv object below it
  s3://bucket/events/date=2026-11-*/*.parquet  a glob over keys

A directory or prefix may hold hive-style partitions (``key=value/`` folders, as Spark, Hive and
pyarrow write them): each ``key`` becomes a column holding the folder's value. Names starting
with ``.`` or ``_`` (``_SUCCESS``, ``.crc`` files, ``_temporary/``) are not data, as in Spark.

What a source holds is its listing (``parts``): names, sizes, and for object storage the ETags
(and version ids). The fingerprint comes from the listing alone: object storage is never
downloaded to see whether it changed, and local files are hashed once per (size, mtime) through
the workspace's hash cache. Reading goes part by part through file objects (ranged GETs for
object storage), never through a full copy on disk; each object is read exactly as listed
(``If-Match`` its ETag, or its version id), so what was trained on is what the lineage records.

Object storage uses the store's conventions: the endpoint from AWS_ENDPOINT_URL (MinIO, Ceph,
SeaweedFS), credentials from the AWS chain, botocore's retries and then mlci's (exit 3 when
the endpoint stays down).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TypedDict
from urllib.parse import unquote

from mlci.errors import DataError, InfraError
from mlci.util import glob_regex


PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
COMPRESSED = {".gz", ".bz2", ".zst", ".lz4"}
GLOB_CHARS = re.compile(r"[*?\[]")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
READ_BLOCK = 8 << 20  # bytes per ranged GET when reading an object sequentially


def data_format(name: str) -> str | None:
    """"parquet", "csv" or None (not a data file), from a file or key name."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    while suffixes and suffixes[-1] in COMPRESSED:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    return None


def is_remote(spec: str) -> bool:
    return spec.startswith("s3://")


def _hidden(name: str) -> bool:
    return any(seg.startswith((".", "_")) for seg in name.split("/") if seg)


class PartRecord(TypedDict, total=False):
    """One part as the run's data.json records it (Part.record), as a mark keeps it (mlci data
    status) and as `mlci reproduce` pins it (Source.pinned)."""

    name: str          # relative to the source's root
    size: int
    key: str           # object storage: the object's key
    etag: str
    version_id: str    # versioned buckets: the version read
    sha256: str        # local files


class SourceSummary(TypedDict, total=False):
    """A source in run.json's `data` and the registry's lineage (Source.summary)."""

    path: str
    sha256: str        # the fingerprint (a single file's content hash, else the listing's digest)
    kind: str          # "s3" | "local", for a source of several parts
    parts: int
    bytes: int


@dataclass(frozen=True)
class Part:
    """One file or object of a source. ``name`` is relative to the source's root (partition
    folders included); ``location`` is the absolute local path or the object key."""

    name: str
    location: str
    size: int
    etag: str = ""             # object storage: the ETag listed (quotes removed)
    version_id: str = ""       # object storage: the version read (versioned buckets)
    mtime_ns: int = 0          # local files

    def record(self, sha256: str | None = None) -> PartRecord:
        out: PartRecord = {"name": self.name, "size": self.size}
        if self.etag:
            out["key"], out["etag"] = self.location, self.etag
            if self.version_id:
                out["version_id"] = self.version_id
        if sha256:
            out["sha256"] = sha256
        return out


@dataclass
class Source:
    """A data source as mlci.yaml names it (``spec``), for the setting ``what`` (e.g. data.train).
    Relative local paths are taken from ``root``. ``pinned`` (records of Part.record) makes the
    source those exact parts (object versions), as `mlci reproduce` reads them."""

    spec: str
    what: str
    root: Path | None = None
    pinned: list[PartRecord] | None = None
    _parts: list[Part] | None = field(default=None, repr=False)
    _bucket: Any = field(default=None, repr=False)
    _versions: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.remote = is_remote(self.spec)
        if self.remote:
            rest = self.spec[len("s3://"):]
            self.bucket, _, self.key = rest.partition("/")
            if not self.bucket:
                raise DataError(f"{self.what}: {self.spec!r}: no bucket name; expected s3://bucket/key or "
                                "s3://bucket/prefix/")
            self.label = self.spec
        else:
            path = Path(self.spec).expanduser()
            if not path.is_absolute() and self.root is not None:
                path = self.root / path
            self.path = path
            self.label = str(path) + ("/" if self.spec.endswith("/") else "")

    # --- what it holds ---------------------------------------------------------------------
    @property
    def single_file(self) -> Path | None:
        """The local file when the source is exactly one local file (read as before)."""
        if self.remote or GLOB_CHARS.search(self.spec) or self.pinned is not None:
            return None
        return self.path if self.path.is_file() else None

    def parts(self) -> list[Part]:
        if self._parts is None:
            if self.pinned is not None:
                parts = [Part(r["name"], r.get("key") or r["name"], int(r["size"]), r.get("etag", ""),
                              r.get("version_id", "")) for r in self.pinned]
            else:
                parts = self._list_remote() if self.remote else self._list_local()
            parts.sort(key=lambda p: p.name)
            formats = {data_format(p.name) for p in parts}
            if len(formats) > 1:
                csv_part = next(p.name for p in parts if data_format(p.name) == "csv")
                pq_part = next(p.name for p in parts if data_format(p.name) == "parquet")
                raise DataError(f"{self.label}: mixes CSV ({csv_part}) and Parquet ({pq_part}) files "
                                f"({self.what}); keep one format per source")
            self._parts = parts
        return self._parts

    @property
    def format(self) -> str:
        """"parquet" or "csv": the one format of every part (parts() refuses a mix)."""
        return data_format(self.parts()[0].name) or "csv"

    def _empty(self, what_kind: str) -> DataError:
        return DataError(f"{self.label}: {what_kind} holds no CSV or Parquet files ({self.what})")

    def _list_local(self) -> list[Part]:
        def part(file: Path, name: str) -> Part:
            st = file.stat()
            return Part(name, str(file), st.st_size, mtime_ns=st.st_mtime_ns)

        if GLOB_CHARS.search(self.spec):
            text = str(self.path)
            m = GLOB_CHARS.search(text)
            assert m is not None
            base = Path(text[:m.start()].rsplit("/", 1)[0] or "/")
            rx = glob_regex(text[len(str(base)):].lstrip("/"))
            found = []
            if base.is_dir():
                for dirpath, dirnames, names in os.walk(base):
                    dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
                    for n in names:
                        rel = Path(dirpath, n).relative_to(base).as_posix()
                        if rx.match(rel) and not _hidden(rel) and data_format(n):
                            found.append(part(Path(dirpath, n), rel))
            if not found:
                raise DataError(f"{self.label}: no CSV or Parquet file matches ({self.what})")
            return found
        if not self.path.exists():
            raise DataError(f"{self.path}: file not found ({self.what})")
        if self.path.is_file():
            if self.path.stat().st_size == 0:
                raise DataError(f"{self.path}: file is empty ({self.what})")
            return [part(self.path, self.path.name)]
        found = []
        for dirpath, dirnames, names in os.walk(self.path):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            for n in names:
                if not n.startswith((".", "_")) and data_format(n):
                    file = Path(dirpath, n)
                    found.append(part(file, file.relative_to(self.path).as_posix()))
        if not found:
            raise self._empty("the directory")
        return found

    # --- object storage --------------------------------------------------------------------
    def _s3(self) -> Any:
        if self._bucket is None:
            from mlci.store.s3 import S3Store

            self._bucket = S3Store(f"s3://{self.bucket}")
        return self._bucket

    def _call(self, what: str, key: str, fn: Any) -> Any:
        """One S3 request with the store's retries; a missing bucket, missing or refused
        credentials become one line naming this source (exit 2)."""
        from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

        from mlci.store.s3 import _DENIED, CREDENTIAL_VARS

        store = self._s3()

        def once() -> Any:
            try:
                return fn(store.client)
            except (NoCredentialsError, PartialCredentialsError):
                raise DataError(f"{self.label}: no S3 credentials ({self.what}); set {CREDENTIAL_VARS}") from None
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code == "NoSuchBucket":
                    raise DataError(f"{self.label}: bucket {self.bucket!r} does not exist at "
                                    f"{store.shown_endpoint or 'AWS'} ({self.what})") from None
                if code in _DENIED or status == 403:
                    raise DataError(f"{self.label}: access denied ({code or status}) ({self.what}); check "
                                    f"{CREDENTIAL_VARS} and the bucket policy") from None
                raise

        return store._call(what, key, once)

    def _list_remote(self) -> list[Part]:
        key = self.key
        m = GLOB_CHARS.search(key)
        if m:
            base = key[:m.start()].rsplit("/", 1)[0]
            base = base + "/" if base else ""
            rx = glob_regex(key[len(base):])
            objects = self._list_prefix(base)
            found = [self._part(o, base) for o in objects if rx.match(o["Key"][len(base):])]
            found = [p for p in found if not _hidden(p.name) and data_format(p.name)]
            if not found:
                raise DataError(f"{self.label}: no CSV or Parquet object matches ({self.what})")
            return found
        if key and not key.endswith("/"):
            objects = self._list_prefix(key)
            exact = [o for o in objects if o["Key"] == key]
            if exact:
                if not int(exact[0]["Size"]):
                    raise DataError(f"{self.label}: object is empty ({self.what})")
                return [self._part(exact[0], key.rsplit("/", 1)[0] + "/" if "/" in key else "")]
            base = key + "/"
            objects = [o for o in objects if o["Key"].startswith(base)]
            if not objects:
                raise DataError(f"{self.label}: no such object or prefix in bucket {self.bucket!r} ({self.what})")
        else:
            base = key
            objects = self._list_prefix(base)
            if not objects:
                raise DataError(f"{self.label}: no such prefix: no objects in bucket {self.bucket!r} "
                                f"under {base or '/'} ({self.what})")
        found = [self._part(o, base) for o in objects if not o["Key"].endswith("/")]
        found = [p for p in found if not _hidden(p.name) and data_format(p.name)]
        if not found:
            raise self._empty("the prefix")
        return found

    @staticmethod
    def _part(obj: dict[str, Any], base: str) -> Part:
        return Part(obj["Key"][len(base):], obj["Key"], int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))

    def _list_prefix(self, prefix: str) -> list[dict[str, Any]]:
        def scan(client: Any) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                out += page.get("Contents", [])
            return out

        return self._call("LIST", prefix, scan)

    # --- fingerprint and lineage -----------------------------------------------------------
    def local_files(self) -> list[Path]:
        return [] if self.remote else [Path(p.location) for p in self.parts()]

    def fingerprint(self, hashes: Any) -> str:
        """A local file: its sha256 (as always). Several local files: their names, sizes and
        sha256 (cached by size and mtime). Object storage: keys, sizes and ETags from the listing."""
        from mlci.fingerprint import digest

        single = self.single_file
        if single is not None:
            return hashes.sha256(single)
        if self.remote:
            return digest([[p.name, p.size, p.etag] for p in self.parts()])
        return digest([[p.name, p.size, hashes.sha256(Path(p.location))] for p in self.parts()])

    def part_records(self, hashes: Any = None) -> list[PartRecord]:
        """What was read, part by part: names, sizes, ETags and version ids (once read), sha256 of
        local files."""
        out = []
        for p in self.parts():
            version = self._versions.get(p.location) or p.version_id
            rec = Part(p.name, p.location, p.size, p.etag, version).record(
                hashes.sha256(Path(p.location)) if hashes is not None and not self.remote else None)
            out.append(rec)
        return out

    def summary(self, fingerprint: str) -> SourceSummary:
        """The lineage entry of run.json and the registry (the parts go to the run's data.json)."""
        parts = self.parts()
        out: SourceSummary = {"path": self.label if self.remote else str(self.path), "sha256": fingerprint}
        if self.single_file is None:
            out.update(kind="s3" if self.remote else "local", parts=len(parts), bytes=sum(p.size for p in parts))
        return out

    # --- reading ---------------------------------------------------------------------------
    def display(self, part: Part) -> str:
        if self.remote:
            return f"s3://{self.bucket}/{part.location}"
        return part.location

    def open(self, part: Part) -> Any:
        """A binary file object over the part."""
        if not self.remote:
            return open(part.location, "rb")
        return io.BufferedReader(_ObjectReader(self, part), buffer_size=READ_BLOCK)

    def partition_values(self) -> dict[str, dict[str, Any]]:
        """part name -> {column: typed value} of the hive-style ``key=value`` folders; every part
        must have the same keys. Values are int64 when all are integers, float64 when all are
        numbers, else text; ``__HIVE_DEFAULT_PARTITION__`` is missing."""
        raw: dict[str, dict[str, str | None]] = {}
        for p in self.parts():
            keys: dict[str, str | None] = {}
            for seg in p.name.split("/")[:-1]:
                k, sep, v = seg.partition("=")
                if sep and k:
                    value = unquote(v)
                    keys[unquote(k)] = None if value == HIVE_NULL else value
            raw[p.name] = keys
        if not raw:
            return {}
        names = [list(k) for k in raw.values()]
        first = next(iter(raw))
        for name, keys in raw.items():
            if list(keys) != names[0]:
                raise DataError(f"{self.label}: partitions differ: {first} has "
                                f"{', '.join(names[0]) or 'no key=value folders'}, {name} has "
                                f"{', '.join(keys) or 'no key=value folders'} ({self.what})")
        typed: dict[str, dict[str, Any]] = {n: {} for n in raw}
        for column in names[0]:
            values = [keys[column] for keys in raw.values()]
            present = [v for v in values if v is not None]
            kind: type = str
            if present and all(re.fullmatch(r"[+-]?\d+", v) for v in present):
                kind = int
            elif present and all(_is_float(v) for v in present):
                kind = float
            for name, keys in raw.items():
                v = keys[column]
                typed[name][column] = None if v is None else kind(v)
        return typed


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class _ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one object through ranged GETs: the first pinned to the
    listed ETag (If-Match), every later one to the version the first returned (on versioned
    buckets) or again to the ETag, so the bytes read are exactly those listed."""

    def __init__(self, source: Source, part: Part):
        self.source, self.part, self.pos = source, part, 0
        self.version = part.version_id or source._versions.get(part.location, "")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.part.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.part.size - self.pos)
        if want <= 0:
            return 0
        data = self._get(self.pos, self.pos + want - 1)
        n = len(data)
        buffer[:n] = data
        self.pos += n
        return n

    def _get(self, start: int, end: int) -> bytes:
        from botocore.exceptions import ClientError

        src, part = self.source, self.part
        args: dict[str, Any] = {"Bucket": src.bucket, "Key": part.location, "Range": f"bytes={start}-{end}"}
        if self.version:
            args["VersionId"] = self.version
        elif part.etag:
            args["IfMatch"] = f'"{part.etag}"'

        def fetch(client: Any) -> tuple[bytes, str]:
            try:
                r = client.get_object(**args)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code == "PreconditionFailed" or status == 412:
                    raise InfraError(f"{src.display(part)}: changed while being read (listed ETag "
                                     f"{part.etag}); run again") from None
                if code in ("NoSuchKey", "NoSuchVersion", "404") or status == 404:
                    gone = f"version {self.version}" if self.version else "the object"
                    raise DataError(f"{src.display(part)}: {gone} no longer exists ({src.what})") from None
                raise
            return r["Body"].read(), str(r.get("VersionId") or "")

        data, version = src._call("GET", part.location, fetch)
        if version and version != "null" and not self.version:
            self.version = version
            src._versions[part.location] = version
        return data


def open_source(spec: str, root: Path | None, what: str, pinned: list[PartRecord] | None = None) -> Source:
    """The source mlci.yaml (or an option) names; relative local paths from ``root`` (else the
    current directory). Nothing is listed or read until asked."""
    return Source(str(spec), what, root, pinned)


def iter_parts(source: Source) -> Iterator[tuple[Part, Any]]:
    """(part, what to read it from) for each part: a local file's path (Arrow reads it natively),
    an object's open file (closed after use)."""
    for part in source.parts():
        if not source.remote:
            yield part, part.location
            continue
        with source.open(part) as fh:
            yield part, fh
