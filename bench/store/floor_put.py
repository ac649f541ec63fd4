#!/usr/bin/env python3
"""The floor for uploading many small files to S3 from Python: the least a client can do.

A fresh process, the standard library only (no botocore import, no client to build): N threads,
each with one keep-alive `http.client` connection, take the files in turn and send each as one
PutObject, SigV4-signed by hand (hmac/hashlib; `signature` is checked against botocore's signer
by bench_s3.py before it times anything). No retries, no checksums beyond SigV4's payload hash,
no store layout: what is left is the server's work and the sockets.

  AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. \\
      python floor_put.py BUCKET SRC_DIR KEY_PREFIX [THREADS]
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlparse


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(key: bytes, stamp: str, region: str, method: str, uri: str, host: str, payload_sha: str) -> str:
    """SigV4 of a request with no query string that signs host, x-amz-content-sha256 and x-amz-date."""
    canonical = (f"{method}\n{uri}\n\nhost:{host}\nx-amz-content-sha256:{payload_sha}\nx-amz-date:{stamp}\n\n"
                 f"host;x-amz-content-sha256;x-amz-date\n{payload_sha}")
    to_sign = (f"AWS4-HMAC-SHA256\n{stamp}\n{stamp[:8]}/{region}/s3/aws4_request\n"
               f"{hashlib.sha256(canonical.encode()).hexdigest()}")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def main() -> None:
    bucket, src, prefix = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 16
    host = urlparse(os.environ["AWS_ENDPOINT_URL"]).netloc
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    key = signing_key(os.environ["AWS_SECRET_ACCESS_KEY"], stamp[:8], region)
    credential = f"{os.environ['AWS_ACCESS_KEY_ID']}/{stamp[:8]}/{region}/s3/aws4_request"
    todo = sorted(p for p in src.rglob("*") if p.is_file())
    lock = threading.Lock()
    failed: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(host, timeout=60)
        while True:
            with lock:
                if not todo or failed:
                    return
                path = todo.pop()
            body = path.read_bytes()
            sha = hashlib.sha256(body).hexdigest()
            uri = quote(f"/{bucket}/{prefix}{path.relative_to(src).as_posix()}", safe="/~")
            sig = signature(key, stamp, region, "PUT", uri, host, sha)
            conn.request("PUT", uri, body, {
                "x-amz-content-sha256": sha, "x-amz-date": stamp,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
                                 f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                failed.append(f"PUT {uri}: HTTP {resp.status}")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failed:
        raise SystemExit(failed[0])


if __name__ == "__main__":
    main()
