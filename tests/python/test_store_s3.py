"""S3-specific behaviour: multipart, requests actually sent, retries through a faulty proxy,
clear errors for a missing bucket, denied access and an unreachable endpoint."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3_fixtures import dead_endpoint

from mlci.errors import ConfigError, FileChanged, InfraError, IntegrityError
from mlci.store import blob_key, open_store, sha256_file
from mlci.store import s3
from mlci.store.s3 import S3Store, parse_size
from mlci.util import HashCache

MiB = 1 << 20


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def count_sends(store: S3Store, operation: str) -> list[int]:
    """Count HTTP requests boto3 really sends for one S3 operation (retries included)."""
    sent: list[int] = []
    store.client.meta.events.register(f"before-send.s3.{operation}", lambda **kw: sent.append(1))
    return sent


def test_uri_and_settings_are_validated():
    with pytest.raises(ConfigError, match="bucket name 'A_B' is not a valid S3 bucket name"):
        S3Store("s3://A_B/x")
    with pytest.raises(ConfigError, match="expected auto, path or virtual"):
        S3Store("s3://bucket/x", addressing="dns")
    assert parse_size("8MB", "x") == parse_size("8MiB", "x") == 8 * MiB
    assert parse_size("1048576", "x") == MiB
    with pytest.raises(ConfigError, match="MLCI_S3_CHUNK_SIZE='lots': expected a size"):
        parse_size("lots", "MLCI_S3_CHUNK_SIZE")


def test_addressing_auto_is_path_style_for_a_custom_endpoint(s3_env, monkeypatch):
    assert S3Store("s3://bucket/p").addressing == "path"
    assert S3Store("s3://bucket/p", addressing="virtual").addressing == "virtual"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert S3Store("s3://bucket/p").addressing == "virtual"  # AWS itself


def test_republishing_unchanged_content_sends_no_object(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    files = {f"model/{i}.bin": write(tmp_path / f"{i}.bin", os.urandom(20_000)) for i in range(10)}
    first = store.publish_run("r1", files)
    # counted where they arrive: blobs go past botocore (mlci.store.s3_direct)
    assert first["uploaded"] == 10 and fault_proxy.count("PUT") == 12  # 10 blobs, the lease, the manifest
    assert fault_proxy.count("PUT", "/blobs/sha256/") == 10
    fault_proxy.requests.clear()
    second = store.publish_run("r2", files)
    assert second["uploaded"] == 0 and second["uploaded_bytes"] == 0
    assert fault_proxy.count("PUT") == 2  # only r2's lease and manifest


def test_republishing_an_unchanged_run_sends_only_its_lease_and_manifest(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    then = time.time() - 60
    files = {f"shard/{i}.bin": write(tmp_path / "run" / f"{i}.bin", os.urandom(2_000)) for i in range(40)}
    for path in files.values():
        os.utime(path, (then, then))
    cache = tmp_path / ".mlci" / "cache" / "hashes.json"
    store.publish_run("r1", files, hashes=HashCache(cache))
    fault_proxy.requests.clear()
    assert store.publish_run("r2", files, hashes=HashCache(cache))["uploaded"] == 0
    assert fault_proxy.count("PUT") == 2  # the publish lease and r2's manifest: no blob
    assert fault_proxy.count("PUT", "/runs/r2/manifest.json") == 1
    assert fault_proxy.count("HEAD") == 0 and fault_proxy.count("DELETE", "/leases/publish/") == 1
    assert len(fault_proxy.requests) == 5  # + one LIST for a gc in progress, one of the blob index


def test_many_files_are_checked_with_one_listing_not_a_head_each(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    files = {f"shard/{i}.bin": write(tmp_path / f"{i}.bin", os.urandom(2_000)) for i in range(40)}

    def sent() -> tuple[int, int, int]:
        counts = (fault_proxy.count("HEAD"), fault_proxy.count("GET", "list-type=2"), fault_proxy.count("PUT"))
        fault_proxy.requests.clear()
        return counts

    assert store.publish_run("r1", dict(list(files.items())[:20]))["uploaded"] == 20  # few: HEADs
    assert sent()[:2] == (20, 1)  # the one LIST: is a gc deleting blobs?
    manifest = store.publish_run("r2", files)
    assert manifest["uploaded"] == 20 and manifest["uploaded_bytes"] == 20 * 2_000
    assert sent() == (0, 2, 22)  # + the publish lease and the manifest
    assert store.publish_run("r3", files)["uploaded"] == 0
    assert sent() == (0, 2, 2)


def test_stores_of_a_process_share_one_client_per_setting(bucket, monkeypatch):
    made = []
    real = s3._make_client
    monkeypatch.setattr(s3, "_clients", {})
    monkeypatch.setattr(s3, "_make_client", lambda *a: made.append(a) or real(*a))
    first, second = open_store(f"s3://{bucket}/a"), open_store(f"s3://{bucket}/b")
    assert first.client is second.client and len(made) == 1
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")  # other settings: another client
    assert open_store(f"s3://{bucket}/a").client is not first.client and len(made) == 2


def test_making_a_client_leaves_the_collector_on_and_freezes_the_first(bucket, monkeypatch):
    """The client is made with the cyclic collector paused (botocore's model is many long-lived
    objects); it is on again afterwards, also when making the client fails."""
    monkeypatch.setattr(s3, "_clients", {})
    frozen = gc.get_freeze_count()
    assert open_store(f"s3://{bucket}/a").client is not None
    assert gc.isenabled() and gc.get_freeze_count() > frozen
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "not a number")  # another client, which cannot be made
    with pytest.raises(ValueError):
        open_store(f"s3://{bucket}/a").client
    assert gc.isenabled()


def test_a_small_put_is_one_round_trip(bucket, tmp_path, monkeypatch):
    """No `Expect: 100-continue`: botocore would wait for the server's go-ahead before each body
    (botocore sends a small file where the direct path does not: here, turned off)."""
    monkeypatch.setenv("MLCI_S3_DIRECT", "0")
    store = open_store(f"s3://{bucket}/p")
    headers: list[dict] = []
    store.client.meta.events.register("before-send.s3.PutObject", lambda request, **kw: headers.append(
        dict(request.headers)), unique_id="test-expect")
    try:
        store.put_file("blobs/x", write(tmp_path / "x.bin", os.urandom(20_000)))
    finally:
        store.client.meta.events.unregister("before-send.s3.PutObject", unique_id="test-expect")
    assert len(headers) == 1 and "Expect" not in headers[0]
    assert store.get_bytes("blobs/x") == (tmp_path / "x.bin").read_bytes()


def test_an_s3_command_imports_botocore_only_where_the_environment_does_not_say_all(bucket, s3_env, tmp_path):
    """With the endpoint and the credentials in the environment (Jenkins' withCredentials), an S3
    command makes its requests itself and never imports botocore; with an AWS config file, whose
    settings are botocore's to read, it imports botocore, and never boto3."""
    def imported(*args: str, **env: str) -> set[str]:
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlci", *args], cwd=tmp_path,
                           env={**os.environ, **s3_env, **env}, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}

    on_s3 = imported("registry", "list", "--store", f"s3://{bucket}/p")
    assert "mlci.store.s3" in on_s3 and not {"boto3", "botocore", "s3transfer"} & on_s3
    config = write(tmp_path / "aws-config", b"[default]\nregion = us-east-1\n")
    with_config = imported("registry", "list", "--store", f"s3://{bucket}/p", AWS_CONFIG_FILE=str(config))
    assert "botocore.client" in with_config and not {"boto3", "s3transfer"} & with_config
    local = imported("registry", "list", "--store", str(tmp_path / "store"))
    assert not {"boto3", "botocore", "s3transfer"} & local


def test_large_file_goes_multipart_in_parallel_and_round_trips(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("MLCI_S3_MULTIPART_THRESHOLD", "5MiB")
    monkeypatch.setenv("MLCI_S3_CHUNK_SIZE", "5MiB")
    monkeypatch.setenv("MLCI_S3_CONCURRENCY", "4")
    store = open_store(f"s3://{bucket}/p")
    src = write(tmp_path / "big.bin", os.urandom(12 * MiB + 123))
    parts = count_sends(store, "UploadPart")
    progress: list[int] = []
    sha, uploaded = store.put_blob(src, callback=progress.append)
    assert uploaded and len(parts) == 3
    assert sum(progress) == src.stat().st_size
    ranged = count_sends(store, "GetObject")
    dest = tmp_path / "dl" / "big.bin"
    store.get_blob(sha, dest)
    assert sha256_file(dest) == sha
    assert len(ranged) == 3  # downloaded in parallel ranges too
    assert [p.name for p in dest.parent.iterdir()] == ["big.bin"]


def test_publish_survives_503s_and_dropped_connections(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    files = {f"model/{i}.bin": write(tmp_path / f"{i}.bin", os.urandom(30_000)) for i in range(5)}
    fault_proxy.fail(3, status=503, methods={"PUT"})
    fault_proxy.fail(1, status=500, methods={"HEAD"})
    fault_proxy.reset(2, methods={"PUT"})  # the body is cut off half way, no answer
    manifest = store.publish_run("r1", files)
    assert manifest["uploaded"] == 5
    assert fault_proxy.count("PUT") >= 5 + 1 + 3 + 2  # every fault was met and retried
    out = store.download_run("r1", tmp_path / "dl")
    assert all(sha256_file(out[rel]) == sha256_file(p) for rel, p in files.items())


def test_multipart_upload_survives_dropped_part(bucket, fault_proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("MLCI_S3_MULTIPART_THRESHOLD", "5MiB")
    monkeypatch.setenv("MLCI_S3_CHUNK_SIZE", "5MiB")
    store = open_store(f"s3://{bucket}/p")
    src = write(tmp_path / "big.bin", os.urandom(11 * MiB))
    fault_proxy.reset(1, methods={"PUT"}, path="partNumber=2")
    fault_proxy.fail(1, status=503, methods={"PUT"}, path="partNumber=3")
    sha, _ = store.put_blob(src)
    store.get_blob(sha, tmp_path / "dl.bin")
    assert sha256_file(tmp_path / "dl.bin") == sha


def test_outage_longer_than_retries_is_infra_error_and_nothing_is_visible(bucket, fault_proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # only our own retries: keeps the test short
    store = open_store(f"s3://{bucket}/p")
    files = {"model/a.bin": write(tmp_path / "a.bin", b"a" * 1000), "run.json": write(tmp_path / "run.json", b"{}")}
    fault_proxy.fail(1000, status=503, methods={"PUT"}, path="/runs/")  # blobs go, manifest never
    with pytest.raises(InfraError, match=r"PUT \(conditional\) s3://.*/runs/r1/manifest.json: .*gave up after 2 attempts"):
        store.publish_run("r1", files)
    fault_proxy.faults.clear()
    assert store.list("runs/") == []
    assert len(store.list("blobs/")) == 2  # they wait, unreferenced, for the next publish (or gc)
    assert store.publish_run("r1", files)["uploaded"] == 0


def test_conditional_create_whose_answer_was_lost_is_still_ours(bucket, fault_proxy):
    store = open_store(f"s3://{bucket}/p")
    # A create lands but its answer is lost; the retry then meets 412. Emulated: the object
    # already holds our bytes, and the first try of the create is answered 503.
    key = "models/m/versions/1.json"
    store.put_bytes(key, b"ours")
    fault_proxy.fail(1, status=503, methods={"PUT"})  # first try fails, the retry sees 412
    assert store.put_if_absent(key, b"ours") is True  # our own bytes: the write was ours
    fault_proxy.fail(1, status=503, methods={"PUT"})
    assert store.put_if_absent(key, b"someone else's") is False


def test_endpoint_down_is_infra_error_after_retries(s3_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_endpoint())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = open_store("s3://bucket/p")
    with pytest.raises(InfraError, match=r"HEAD s3://bucket/p/x: cannot reach http://127.0.0.1:\d+.*gave up after 2 attempts"):
        store.exists("x")


def test_missing_bucket_names_the_bucket(s3_env, tmp_path):
    store = open_store("s3://no-such-bucket-here/p")
    with pytest.raises(InfraError, match="bucket 'no-such-bucket-here' does not exist"):
        store.put_bytes("x", b"1")
    with pytest.raises(InfraError, match="bucket 'no-such-bucket-here' does not exist"):
        store.list("runs/")
    with pytest.raises(InfraError, match="bucket 'no-such-bucket-here' does not exist"):
        store.check()


def test_access_denied_names_the_key_and_the_credential_variables(bucket, fault_proxy):
    store = open_store(f"s3://{bucket}/p")
    fault_proxy.fail(5, status=403, code="AccessDenied")
    with pytest.raises(InfraError) as err:
        store.get_bytes("models/m/versions/1.json")
    msg = str(err.value)
    assert f"access denied to s3://{bucket}/p/models/m/versions/1.json" in msg
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in msg


def test_no_credentials_is_a_clear_error(bucket, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store(f"s3://{bucket}/p")
    with pytest.raises(InfraError, match="no usable S3 credentials .*AWS_ACCESS_KEY_ID"):
        store.exists("x")


def test_the_region_is_aws_region_else_aws_default_region_for_both_kinds_of_request(bucket, monkeypatch):
    """As the AWS CLI v2 reads them (botocore alone reads only AWS_DEFAULT_REGION): the region
    each request is signed for, by mlci and by botocore."""
    for env, region in (({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-east-2"}, "eu-west-3"),
                        ({"AWS_REGION": None, "AWS_DEFAULT_REGION": "eu-north-1"}, "eu-north-1"),
                        ({"AWS_REGION": None, "AWS_DEFAULT_REGION": None}, "us-east-1")):
        for k, v in env.items():
            monkeypatch.setenv(k, v) if v else monkeypatch.delenv(k, raising=False)
        store = S3Store(f"s3://{bucket}/p")
        assert (store.direct.region, store.client.meta.region_name) == (region, region)


def test_a_profile_that_does_not_exist_or_a_broken_config_file_is_a_config_error(s3_env, mlci, tmp_path):
    config = write(tmp_path / "config", b"[default]\nregion = us-east-1\n")
    env = {**s3_env, "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    r = mlci("registry", "list", "--store", "s3://bucket-x/p", env={**env, "AWS_PROFILE": "nightly"}, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"mlci registry: error: AWS_PROFILE: no profile 'nightly' in {config} "
                                f"or {tmp_path / 'none'}")
    config.write_text("[default\nregion = us-east-1\n")
    r = mlci("registry", "list", "--store", "s3://bucket-x/p", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith(f"mlci registry: error: {config}: not a valid AWS config file"), r.stderr


def test_incomplete_multipart_uploads_are_listed_and_aborted(bucket):
    store = open_store(f"s3://{bucket}/p")
    store.client.create_multipart_upload(Bucket=bucket, Key="p/" + blob_key("ab" * 32))
    [upload] = store.list_incomplete_uploads()
    assert upload.key == blob_key("ab" * 32) and upload.upload_id
    store.abort_upload(upload)
    assert store.list_incomplete_uploads() == []


# --- an endpoint that ignores conditional writes; credentials in URLs ------------------------
def test_publish_refuses_an_endpoint_that_ignores_conditional_writes(bucket, fault_proxy, mlci, tmp_path):
    """npm's s3rver (and MinIO before 2024) answer 200 to a PutObject whatever its If-None-Match
    or If-Match says; two publishes could then both create v1. The first publish finds out."""
    from projects import classification_project

    from mlci import config
    from mlci.evaluate import evaluate
    from mlci.registry import Registry
    from mlci.runs import Project
    from mlci.train import train

    cfg = classification_project(tmp_path / "p")
    project = Project(config.load(cfg))
    evaluate(project, project.run(train(project)["run_id"]))
    fault_proxy.strip = {"if-none-match", "if-match"}
    uri = f"s3://{bucket}/team"
    env = {"AWS_ENDPOINT_URL": fault_proxy.url, "MLCI_STORE": uri}
    r = mlci("publish", "-c", cfg, env=env, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "ignores If-None-Match and If-Match on PutObject" in lines[0]
    assert Registry(open_store(uri), "bc").version_numbers() == []
    assert open_store(uri).list("runs/") == []
    r = mlci("promote", "bc", "1", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2  # nothing was registered
    fault_proxy.strip = set()
    r = mlci("publish", "-c", cfg, "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_credentials_in_the_endpoint_or_the_store_uri_are_never_printed(s3_env, mlci, tmp_path):
    endpoint = dead_endpoint().replace("http://", "http://user:PASSWORD123@")
    r = mlci("fetch", "bc@1", "-o", tmp_path / "o", "--store", "s3://bucket-x/p",
             env={**s3_env, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1"}, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "PASSWORD123" not in r.stderr and "http://***@127.0.0.1" in r.stderr  # retry warnings too
    assert r.stderr.strip().splitlines()[-1].startswith("mlci fetch: error: ") and "Traceback" not in r.stderr
    r = mlci("fetch", "bc@1", "-o", tmp_path / "o", "--store", "s3://AKIAKEY:Sup3rS/ecret@bucket-x/p",
             env=s3_env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Sup3r" not in r.stderr and "ecret@" not in r.stderr and "AKIAKEY" not in r.stderr and "s3://***@bucket-x" in r.stderr
    assert "credentials in it" in r.stderr


def test_redact_hides_userinfo_in_any_url():
    from mlci.errors import redact

    assert redact("GET http://u:p@h:9000/x failed") == "GET http://***@h:9000/x failed"
    assert redact("s3://K:S/x+y@bucket/p and https://host/p") == "s3://***@bucket/p and https://host/p"
    assert redact("no url here, user@example.com") == "no url here, user@example.com"


# --- small files past botocore's request machinery (mlci/store/s3_direct.py) --------------------
def test_the_direct_signature_is_botocores():
    """Byte for byte what botocore's own SigV4 signer writes, for odd keys, ports, session tokens,
    listing queries and conditional headers."""
    import hashlib
    from urllib.parse import quote

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from mlci.store.s3_direct import EMPTY_SHA, authorization, canonical_query, signing_key

    body = b"x" * 100
    sha = hashlib.sha256(body).hexdigest()
    listing = {"list-type": "2", "prefix": "p/a b+c/é~(1)", "encoding-type": "url",
               "continuation-token": "1Xy/+z=="}
    for method, host, key, token, query, headers in (
            ("PUT", "127.0.0.1:8333", "team/blobs/sha256/ab/cd", None, {}, {}),
            ("PUT", "minio.example", "a b+c/é~(1).bin", None, {}, {}),
            ("PUT", "[::1]:9000", "p/blobs/x", "FwoGZXIvYXdzE//token+/=", {}, {}),
            ("GET", "127.0.0.1:8333", "a b+c/é~(1).bin", "token", {}, {}),
            ("GET", "127.0.0.1:8333", "", None, listing, {}),
            ("PUT", "127.0.0.1:8333", "p/runs/r1/manifest.json", None, {}, {"If-None-Match": "*"}),
            ("PUT", "127.0.0.1:8333", "p/registry/m.json", "token", {}, {"If-Match": '"9b2cf535f27731c974343645a3985328"'}),
            ("HEAD", "127.0.0.1:8333", "p/blobs/x", None, {}, {}),
            ("DELETE", "127.0.0.1:8333", "p/leases/publish/1.json", None, {}, {})):
        uri = quote(f"/bucket/{key}", safe="/~")
        payload = sha if method == "PUT" else EMPTY_SHA
        url = f"http://{host}{uri}" + (f"?{canonical_query(query)}" if query else "")
        request = AWSRequest(method, url, data=body if method == "PUT" else None,
                             headers={"x-amz-content-sha256": payload, **headers})
        S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token), "s3", "eu-central-1").add_auth(request)
        stamp = request.headers["X-Amz-Date"]
        mine = authorization("AKIDEXAMPLE", signing_key("wJalr/K7MDENG+bPxRfiCY", stamp[:8], "eu-central-1"),
                             stamp, "eu-central-1", method, uri, host, payload, token, canonical_query(query), headers)
        assert mine == request.headers["Authorization"], (method, host, key, query, headers)


def direct_used(store: S3Store) -> bool:
    return store.direct is not None and not store.direct.off


@pytest.mark.parametrize("credentials", ["environment", "botocore"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_mlcis_own_requests_reach_a_server_that_checks_every_signature(tls, credentials, monkeypatch, tmp_path):
    """SeaweedFS with an identity refuses a request whose SigV4 signature is wrong (403): so a
    publish and the download that gets it back, with every request mlci's own (the lease, the
    listings, the blobs, the conditional manifest write, the release), have signed each of them
    right, over HTTP and over HTTPS with the certificate checked. With the settings all in the
    environment no botocore client is made; with an AWS config file botocore finds the
    credentials and sends nothing."""
    from s3_fixtures import FAKE_ENV, make_bucket, seaweed_ca, start_seaweed

    endpoint = start_seaweed(tls=tls)
    for k, v in {**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(k, v)
    if tls:
        monkeypatch.setenv("AWS_CA_BUNDLE", seaweed_ca())
    if credentials == "botocore":
        monkeypatch.setenv("AWS_CONFIG_FILE", str(write(tmp_path / "aws-config", b"[default]\nregion = us-east-1\n")))
    bucket = make_bucket(endpoint, verify=seaweed_ca() if tls else None)
    store = open_store(f"s3://{bucket}/team")
    files = {f"model/{i}.bin": write(tmp_path / f"{i}.bin", os.urandom(3_000 + i)) for i in range(40)}
    files["odd name/a b+c é.bin"] = write(tmp_path / "odd.bin", b"odd")
    sent = count_sends(store, "*") if credentials == "botocore" else []
    store.check_conditional_writes()
    assert store.publish_run("r1", files)["uploaded"] == 41
    out = store.download_run("r1", tmp_path / "dl")
    assert {rel: out[rel].read_bytes() for rel in files} == {rel: p.read_bytes() for rel, p in files.items()}
    assert store.list("runs/") == ["runs/r1/manifest.json"] and store.list("leases/") == []
    assert sent == [] and direct_used(store)
    assert (store._client is None) == (credentials == "environment")


@pytest.mark.parametrize("server", ["seaweedfs", "moto"])
def test_mlcis_own_listing_pages_and_decodes_keys_as_botocore_does(server, monkeypatch):
    """1,001 keys (two pages) and keys with spaces, '+', '%' and non-ASCII: mlci's own listing
    gives the keys, sizes and times botocore's gives for the same store."""
    from s3_fixtures import s3_store_env

    bucket, _ = s3_store_env(server, monkeypatch)
    store = open_store(f"s3://{bucket}/p")
    odd = ["a b/c+d.json", "é~(1)/x%41.json", "k=v/a&b.json"]
    for key in odd + [f"many/{i:04d}.json" for i in range(1001)]:
        store.put_bytes(key, key.encode())
    mine = [(i.key, i.size, i.mtime) for i in store.list_info("")]
    assert direct_used(store) and store._client is None and len(mine) == 1004
    assert {k for k, _, _ in mine} >= set(odd)
    monkeypatch.setenv("MLCI_S3_DIRECT", "0")
    assert [(i.key, i.size, i.mtime) for i in open_store(f"s3://{bucket}/p").list_info("")] == mine


@pytest.mark.parametrize("server", ["seaweedfs", "moto"])
def test_mlcis_own_conditional_writes_and_reads(server, monkeypatch):
    """Create-if-absent, compare-and-swap, a missing key, a delete: each answered by mlci's own
    requests, botocore never needed (its client never made)."""
    from s3_fixtures import s3_store_env

    bucket, _ = s3_store_env(server, monkeypatch)
    store = open_store(f"s3://{bucket}/p")
    assert store.put_if_absent("reg/m.json", b"1") and not store.put_if_absent("reg/m.json", b"2")
    data, tag = store.get_versioned("reg/m.json")
    assert data == b"1" and not store.put_if_match("reg/m.json", b"3", '"00000000000000000000000000000000"')
    assert store.put_if_match("reg/m.json", b"4", tag) and not store.put_if_match("reg/m.json", b"5", tag)
    store.delete("reg/m.json")
    assert not store.put_if_match("reg/m.json", b"6", tag)  # deleted since it was read
    assert not store.exists("reg/m.json") and store.list("reg/") == []
    with pytest.raises(s3.KeyMissing):
        store.get_bytes("reg/m.json")
    assert direct_used(store) and store._client is None


@pytest.mark.parametrize("server", ["seaweedfs", "moto"])
def test_a_conditional_write_whose_connection_dropped_is_looked_into_not_guessed(server, monkeypatch):
    """The first attempt's connection is cut after the server stored it: the write went through
    (ours), and the second attempt's refusal (the server's own 412) must not make it "someone else's"."""
    from s3_fixtures import FaultProxy, s3_store_env

    bucket, env = s3_store_env(server, monkeypatch)
    proxy = FaultProxy(env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        store = open_store(f"s3://{bucket}/p")
        store.put_bytes("warm.json", b"{}")  # the connection is now kept alive
        proxy.lose(1, methods={"PUT"})
        assert store.put_if_absent("runs/r1/manifest.json", b"ours")
        assert store.get_bytes("runs/r1/manifest.json") == b"ours"
        assert not store.put_if_absent("runs/r1/manifest.json", b"theirs")
        assert proxy.count("PUT", "runs/r1/manifest.json") >= 3  # lost, sent again, refused, then the last
    finally:
        proxy.close()


def test_https_without_the_servers_certificate_is_refused_by_both_paths(monkeypatch, tmp_path):
    from s3_fixtures import FAKE_ENV, make_bucket, seaweed_ca, start_seaweed

    endpoint = start_seaweed(tls=True)
    bucket = make_bucket(endpoint, verify=seaweed_ca())
    for k, v in {**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    store = open_store(f"s3://{bucket}/team")
    with pytest.raises(InfraError, match="cannot reach https://127.0.0.1.*CERTIFICATE_VERIFY_FAILED"):
        store.put_file(blob_key(sha256_file(write(tmp_path / "a.bin", b"a"))), tmp_path / "a.bin")
    assert store.direct.off  # it tried, was refused, and left it to botocore, which was refused too


def test_a_wrong_secret_is_access_denied_as_before(monkeypatch, tmp_path):
    from s3_fixtures import FAKE_ENV, make_bucket, start_seaweed

    endpoint = start_seaweed()
    bucket = make_bucket(endpoint)
    for k, v in {**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}.items():
        monkeypatch.setenv(k, v)
    store = open_store(f"s3://{bucket}/team")
    path = write(tmp_path / "a.bin", b"a" * 100)
    key = blob_key(sha256_file(path))
    with pytest.raises(InfraError, match=f"access denied to s3://{bucket}/team/{key} .*AWS_SECRET_ACCESS_KEY"):
        store.put_file(key, path)
    assert store.direct.off


@pytest.mark.parametrize("direct", ["1", "0"])
def test_a_file_changed_after_it_was_hashed_is_refused_and_not_stored(direct, bucket, monkeypatch, tmp_path):
    monkeypatch.setenv("MLCI_S3_DIRECT", direct)
    store = open_store(f"s3://{bucket}/p")
    path = write(tmp_path / "weights.bin", b"as it was hashed")
    sha = sha256_file(path)
    path.write_bytes(b"rewritten since")
    with pytest.raises(IntegrityError, match=f"{path}: changed after it was hashed .*publish again"):
        store.put_blob(path, sha)
    assert not store.exists(blob_key(sha))  # no blob whose name is not its content


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_refused_then_hashed_again(bucket, tmp_path):
    """The workspace's hash cache trusts size and mtime; a file rewritten with both kept (cp -p,
    rsync -t) still has its old hash there. Publishing it to a store that lacks the old blob must
    not store the new bytes under the old name, and the next publish must hash the file again
    instead of failing for ever."""
    cache = tmp_path / ".mlci" / "cache" / "hashes.json"
    then = time.time() - 60
    path = write(tmp_path / "run" / "model.bin", b"first weights")
    os.utime(path, (then, then))
    open_store(f"s3://{bucket}/a").publish_run("r1", {"model.bin": path}, hashes=HashCache(cache))
    path.write_bytes(b"other weights")  # same size
    os.utime(path, (then, then))
    store = open_store(f"s3://{bucket}/b")
    with pytest.raises(FileChanged, match=f"{path}: changed after it was hashed"):
        store.publish_run("r1", {"model.bin": path}, hashes=HashCache(cache))
    assert store.list("runs/") == [] and store.list("blobs/") == []
    manifest = store.publish_run("r1", {"model.bin": path}, hashes=HashCache(cache))
    sha = manifest["files"]["model.bin"]["sha256"]
    assert sha == sha256_file(path) and store.get_bytes(blob_key(sha)) == b"other weights"


def test_a_kept_alive_connection_the_server_dropped_is_retried_once_directly(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    store.put_blob(write(tmp_path / "a.bin", b"a" * 1000))  # the thread's connection is now open
    fault_proxy.requests.clear()
    fault_proxy.reset(1, methods={"PUT"})
    sha, sent = store.put_blob(write(tmp_path / "b.bin", b"b" * 1000))
    assert sent and direct_used(store)
    assert fault_proxy.count("PUT", blob_key(sha)) == 2  # dropped, then sent again on a new connection
    assert store.get_bytes(blob_key(sha)) == b"b" * 1000


def test_an_error_answer_turns_the_direct_path_off_and_botocore_sends_the_file(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    fault_proxy.fail(1, status=503, methods={"PUT"}, path="/blobs/")
    puts = count_sends(store, "PutObject")
    first, _ = store.put_blob(write(tmp_path / "a.bin", b"a" * 500))
    assert store.direct.off and len(puts) == 1 and fault_proxy.count("PUT", blob_key(first)) == 2
    second, _ = store.put_blob(write(tmp_path / "b.bin", b"b" * 500))  # botocore's from now on
    assert len(puts) == 2 and fault_proxy.count("PUT", blob_key(second)) == 1
    assert store.get_bytes(blob_key(first)) == b"a" * 500 and store.get_bytes(blob_key(second)) == b"b" * 500


def test_the_direct_path_only_where_it_sends_what_botocore_sends(bucket, monkeypatch):
    def direct(addressing: str = "auto", **env: str | None) -> bool:
        for k, v in env.items():
            monkeypatch.setenv(k, v) if v is not None else monkeypatch.delenv(k, raising=False)
        return S3Store(f"s3://{bucket}/p", addressing=addressing).direct is not None

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    assert direct()
    monkeypatch.setenv("MLCI_S3_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("MLCI_S3_READ_TIMEOUT", "7")
    made = S3Store(f"s3://{bucket}/p").direct
    assert (made.connect_timeout, made.timeout) == (2.5, 7.0)  # the same limits as botocore's
    assert not direct(MLCI_S3_DIRECT="0")
    monkeypatch.delenv("MLCI_S3_DIRECT")
    assert not direct(HTTP_PROXY="http://proxy.internal:3128")  # the proxy is botocore's business
    assert direct(NO_PROXY="127.0.0.1")  # ... unless the endpoint bypasses it
    monkeypatch.delenv("HTTP_PROXY"), monkeypatch.delenv("NO_PROXY")
    assert not direct(AWS_ENDPOINT_URL=endpoint + "/s3")  # an endpoint with a path of its own
    assert not direct(addressing="virtual", AWS_ENDPOINT_URL=endpoint)  # bucket names in the host
    assert not direct(AWS_ENDPOINT_URL=None)  # AWS itself: virtual-host names, its endpoint rules


def test_botocore_is_left_out_only_where_the_environment_says_all(bucket, monkeypatch, tmp_path):
    def without_botocore(**env: str | None) -> bool:
        for k, v in env.items():
            monkeypatch.setenv(k, v) if v is not None else monkeypatch.delenv(k, raising=False)
        store = S3Store(f"s3://{bucket}/p")
        return store.direct is not None and store.direct.without_botocore

    assert without_botocore()
    assert without_botocore(AWS_SESSION_TOKEN="token")
    # where botocore would read more than the environment: a profile, a config file, an expiry
    config = str(write(tmp_path / "config", b"[default]\n[profile ci]\n"))
    assert not without_botocore(AWS_CONFIG_FILE=config)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(write(tmp_path / "credentials", b"[ci]\n")))
    assert not without_botocore(AWS_PROFILE="ci", AWS_CONFIG_FILE=str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE")
    assert not without_botocore(AWS_CREDENTIAL_EXPIRATION="2030-01-01T00:00:00Z")
    monkeypatch.delenv("AWS_CREDENTIAL_EXPIRATION")
    # ... or where the credentials are not there (an instance role, a credentials file)
    assert not without_botocore(AWS_SECRET_ACCESS_KEY=None)
    with pytest.raises(InfraError, match="no usable S3 credentials .*AWS_SECRET_ACCESS_KEY"):
        S3Store(f"s3://{bucket}/p").put_bytes("x.json", b"{}")  # botocore's message, exit 3 as before


@pytest.mark.parametrize("body", [b"<Error><Code>SlowDown</Code></Error>", b"<ListBucketResult><Contents>",
                                  b"<ListBucketResult><Contents><Key>a</Key><Size>many</Size></Contents></ListBucketResult>"],
                         ids=["an error document", "cut short", "junk in it"])
def test_a_listing_answered_200_with_something_else_is_never_taken_as_empty(body, bucket, fault_proxy):
    """gc and publish decide by listings: an answer that is not a whole ListBucketResult is handed
    to botocore, not read as "nothing there"."""
    store = open_store(f"s3://{bucket}/p")
    for key in ("runs/r1/manifest.json", "runs/r2/manifest.json"):
        store.put_bytes(key, b"{}")
    fault_proxy.answer(1, status=200, body=body, methods={"GET"}, path="list-type=2")
    assert store.list("runs/") == ["runs/r1/manifest.json", "runs/r2/manifest.json"]
    assert store.direct.off and store.direct.why.startswith("LIST: not a listing")


def test_a_download_whose_direct_get_fails_is_finished_by_botocore(bucket, fault_proxy, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    files = {f"{i}.bin": write(tmp_path / f"{i}.bin", os.urandom(700)) for i in range(3)}
    store.publish_run("r1", files)
    fault_proxy.fail(1, status=500, methods={"GET"}, path="/blobs/")
    gets = count_sends(store, "GetObject")
    out = store.download_run("r1", tmp_path / "dl")
    assert all(out[rel].read_bytes() == p.read_bytes() for rel, p in files.items())
    assert store.direct.off and 1 <= len(gets) <= 3  # each blob not yet got (the manifest came directly)
    assert [p.name for p in (tmp_path / "dl").iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_blob_whose_bytes_do_not_match_its_name_is_refused_on_the_direct_path(bucket, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    sha = "ab" * 32
    store.put_bytes(blob_key(sha), b"not what the name says")
    gets = count_sends(store, "GetObject")
    with pytest.raises(IntegrityError, match=f"blob {sha[:12]} is corrupt"):
        store.get_blob(sha, tmp_path / "x.bin", size=22)
    assert direct_used(store), store.direct.why
    assert gets == [] and not (tmp_path / "x.bin").exists()


def test_a_direct_answer_longer_than_the_blob_is_not_read_into_memory(bucket, tmp_path):
    store = open_store(f"s3://{bucket}/p")
    sha = "cd" * 32
    store.put_bytes(blob_key(sha), b"x" * 5000)  # the manifest says 100 bytes
    with pytest.raises(IntegrityError, match=f"blob {sha[:12]} is corrupt"):
        store.get_blob(sha, tmp_path / "x.bin", size=100)
    assert store.direct.off  # it stopped at the length and left the rest to botocore, which streams it
