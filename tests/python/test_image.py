"""`mlci image build|verify|push` against the real Docker daemon and registry.

Needs tests/setup.d: dockerd, the offline base image mlci-test/python:3.11-slim and
docker-registry on 127.0.0.1:5000. The tests share one project (trained, evaluated and
published once) and run in file order: build, rebuild, verify + push + pull, failures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
import docker_fixtures
from conftest import missing_part
from docker_fixtures import BASE, REGISTRY, free_port





@pytest.fixture(scope="module")
def docker_client():
    return docker_fixtures.docker_client()


def write_config(root: Path, name: str = "mlci.yaml", **image_overrides) -> Path:
    doc = yaml.safe_load((root / "mlci.yaml").read_text()) if (root / "mlci.yaml").exists() else None
    if doc is None:
        raise AssertionError("base config missing")
    for dotted, value in image_overrides.items():
        node = doc
        parts = dotted.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    path = root / name
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory, docker_client, request):
    """A trained, evaluated, published model with examples.json and a built image."""
    from conftest import run_cli
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("image-project")
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "train.csv", index=False)
    repo = f"{REGISTRY}/mlci-test/bc-{uuid.uuid4().hex[:8]}"
    config = {
        "name": "bc-image", "task": "classification",
        "data": {"train": "data/train.csv", "target": "target"},
        "model": {"estimator": "sklearn.ensemble.RandomForestClassifier",
                  "params": {"n_estimators": 10, "max_depth": 4}},
        "evaluate": {"baseline": None, "gates": [{"metric": "accuracy", "threshold": 0.5}]},
        "store": {"uri": ".mlci/store"},
        "image": {"repository": repo, "base": BASE, "workers": 1,
                  "verify": {"examples": "examples.json",
                             "load": {"seconds": 1.5, "concurrency": 2, "min_rps": 1, "max_p99_ms": 20000}}},
    }
    (root / "mlci.yaml").write_text(yaml.safe_dump(config))
    for stage in ("train", "evaluate", "publish"):
        r = run_cli(stage, "-c", "mlci.yaml", cwd=root)
        assert r.returncode == 0, (stage, r.stderr)
    run_id = (root / ".mlci" / "runs" / "LATEST").read_text().strip()
    run_dir = root / ".mlci" / "runs" / run_id

    import pandas as pd

    from mlci import model as model_io

    pipeline = model_io.load(run_dir / "model")
    test = pd.read_parquet(run_dir / "test.parquet").drop(columns=["target"]).iloc[:3]
    examples = [
        {"name": "three rows", "request": {"dataframe_split": {"columns": list(test.columns),
                                                               "data": test.values.tolist()}},
         "expected": pipeline.predict(test).tolist()},
        {"name": "probabilities", "request": {"inputs": test.values.tolist(), "params": {"proba": True}},
         "expected": {"predictions": pipeline.predict(test).tolist(),
                      "probabilities": pipeline.predict_proba(test).tolist()}},
        {"name": "a wrong shape is refused", "request": {"inputs": [[1.0, 2.0]]}, "status": 400},
    ]
    (root / "examples.json").write_text(json.dumps(examples))
    r = run_cli("image", "build", "-c", "mlci.yaml", cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    built = json.loads((run_dir / "image.json").read_text())
    yield {"root": root, "run_id": run_id, "run_dir": run_dir, "repo": repo, "built": built,
           "examples": examples, "test": test}
    # By id, so the first build (untagged by the rebuild test) goes too and no image is left behind.
    ids = {built["image_id"]} | {image.id for image in docker_client.images.list(name=repo)}
    for image_id in ids:
        try:
            docker_client.images.remove(image_id, force=True)
        except Exception:  # noqa: BLE001
            pass


def verify_containers(client):
    return client.containers.list(all=True, filters={"label": "org.mlci.verify=1"})


def test_build_makes_a_labelled_non_root_image_that_serves_by_default(project, docker_client):
    built = project["built"]
    assert built["tag"] == f"{project['repo']}:v1"
    image = docker_client.images.get(built["image_id"])
    cfg = image.attrs["Config"]
    labels = cfg["Labels"]
    assert labels["org.mlci.model.name"] == "bc-image" and labels["org.mlci.model.version"] == "1"
    assert labels["org.mlci.model.fingerprint"].startswith(project["run_id"])
    assert labels["org.opencontainers.image.version"] == "v1" and labels["org.opencontainers.image.created"]
    assert cfg["User"] == "10001:10001"
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert "/health" in " ".join(cfg["Healthcheck"]["Test"])
    assert cfg["Cmd"] == ["python", "-m", "mlci", "serve", "--model", "/opt/model"]
    # /health inside the image reports the registry's fingerprint (the label's), not a file hash
    assert f"MLCI_MODEL_FINGERPRINT={labels['org.mlci.model.fingerprint']}" in cfg["Env"]
    dockerfile = (project["run_dir"] / "Dockerfile").read_text()
    assert "--no-index" in dockerfile and dockerfile.index("COPY model/") > dockerfile.index("COPY app/")


def test_rebuild_after_retraining_reuses_every_layer_but_the_models(project, docker_client, mlci):
    root = project["root"]
    write_config(root, "retrained.yaml", model__params={"n_estimators": 12, "max_depth": 4})
    r = mlci("train", "-c", "retrained.yaml", cwd=root)
    assert r.returncode == 0, r.stderr
    run_id = (root / ".mlci" / "runs" / "LATEST").read_text().strip()
    assert run_id != project["run_id"]
    r = mlci("image", "build", "-c", "retrained.yaml", "--json", cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    rebuilt = json.loads(r.stdout)
    old, new = project["built"]["layers"], rebuilt["layers"]
    assert len(old) == len(new) and old[:-1] == new[:-1] and old[-1] != new[-1]
    assert rebuilt["cached_steps"] >= 8
    assert rebuilt["tag"] == f"{project['repo']}:run-{run_id}"


def test_verify_push_and_pull_back_by_digest(project, docker_client, mlci):
    root = project["root"]
    run = ("--run", project["run_id"])  # the rebuild test trained a newer run
    r = mlci("image", "verify", "-c", "mlci.yaml", *run, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "verify: passed" in r.stderr
    result = json.loads((project["run_dir"] / "image-verify.json").read_text())
    assert result["passed"] and [e["passed"] for e in result["examples"]] == [True, True, True]
    # the image's answers on the run's test rows equal the model's own (alone and in a batch)
    parity = result["parity"]
    assert parity["passed"] and parity["rows"] > 100 and parity["single_rows"] == 20, parity
    assert {"gate": "parity", "passed": True, "value": f"{parity['rows']} rows", "detail": None} in result["gates"]
    load = result["load"]
    assert load["requests"] > 0 and load["errors"] == 0 and load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"]
    assert sum(load["histogram"]["counts"]) == load["requests"]
    assert not verify_containers(docker_client)

    r = mlci("image", "push", "-c", "mlci.yaml", *run, "--tag", "candidate", cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    reference = r.stdout.strip().splitlines()[-1]
    repo, digest = reference.split("@")
    assert repo == project["repo"] and digest.startswith("sha256:")
    assert "recorded on bc-image v1" in r.stderr
    version = json.loads((root / ".mlci/store/models/bc-image/versions/1.json").read_text())
    assert version["images"][-1]["digest"] == digest and "candidate" in version["images"][-1]["tags"]
    events = [json.loads(p.read_text()) for p in sorted((root / ".mlci/store/models/bc-image/events").iterdir())]
    assert events[-1]["event"] == "image" and events[-1]["digest"] == digest

    # what a deployment does: pull by digest, run, predict
    for tag in ("v1", "candidate"):
        docker_client.images.remove(f"{repo}:{tag}")
    pulled = docker_client.images.pull(reference)
    assert pulled.id == project["built"]["image_id"]
    container = docker_client.containers.run(reference, detach=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        port = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            container.reload()
            bindings = container.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
            if bindings:
                port = int(bindings[0]["HostPort"])
                try:
                    body = json.dumps(project["examples"][0]["request"]).encode()
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                                 headers={"Content-Type": "application/json"})
                    answer = json.loads(urllib.request.urlopen(req, timeout=5).read())
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        else:
            raise AssertionError(container.logs().decode())
        assert answer == {"predictions": project["examples"][0]["expected"]}
    finally:
        container.remove(force=True)


def test_a_registered_version_builds_and_verifies_by_name(project, docker_client, mlci):
    root = project["root"]
    cfg = write_config(root, "quick.yaml", image__verify={"examples": "examples.json",
                                                           "load": {"seconds": 0.5, "concurrency": 1}})
    r = mlci("image", "build", "-c", cfg.name, "--model", "bc-image@1", cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    records = root / ".mlci" / "images" / "bc-image-v1"
    built = json.loads((records / "image.json").read_text())
    assert built["tag"] == f"{project['repo']}:v1" and built["model"]["version"] == 1
    # the model came from the store (owner-only files); the image's non-root user must read it
    r = mlci("image", "verify", "-c", cfg.name, "--model", "bc-image@1", cwd=root)
    assert r.returncode == 0, r.stderr
    verified = json.loads((records / "image-verify.json").read_text())
    assert verified["passed"] and verified["parity"]["passed"]  # on the version's test rows, from the store


def test_failing_examples_exit_1_remove_the_container_and_block_the_push(project, docker_client, mlci):
    root = project["root"]
    wrong = json.loads(json.dumps(project["examples"][:1]))
    wrong[0]["expected"] = [1 - v for v in wrong[0]["expected"]]
    (root / "wrong-examples.json").write_text(json.dumps(wrong))
    cfg = write_config(root, "wrong.yaml", image__verify={"examples": "wrong-examples.json",
                                                           "load": {"seconds": 0.5, "concurrency": 1}})
    r = mlci("image", "verify", "-c", cfg.name, "--run", project["run_id"], cwd=root)
    assert r.returncode == 1, r.stderr
    assert "FAIL" in r.stderr and "verify: FAILED" in r.stderr
    result = json.loads((project["run_dir"] / "image-verify.json").read_text())
    assert not result["passed"]
    assert result["examples"][0]["problem"].startswith("predictions[0]: expected")
    assert not verify_containers(docker_client)
    assert [f["name"] for f in result["failures"]] == ["examples"]
    r = mlci("image", "push", "-c", cfg.name, "--run", project["run_id"], "--json", cwd=root)
    assert r.returncode == 1 and "failed verification (examples); not pushing" in r.stderr
    assert [f["name"] for f in json.loads(r.stdout)["failures"]] == ["examples"]


def test_failing_load_gate_exits_1(project, docker_client, mlci):
    root = project["root"]
    cfg = write_config(root, "slow.yaml", image__verify={
        "load": {"seconds": 0.5, "concurrency": 1, "min_rps": 1e9, "max_requests": 50}})
    r = mlci("image", "verify", "-c", cfg.name, "--run", project["run_id"], "--json", cwd=root)
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout)
    gate = next(g for g in result["gates"] if g["gate"] == "min_rps")
    assert not gate["passed"] and gate["threshold"] == 1e9
    assert [f["name"] for f in result["failures"]] == ["min_rps"]
    assert result["load"]["requests"] <= 50
    assert not verify_containers(docker_client)


def test_daemon_unreachable_exits_3(project, mlci, tmp_path):
    dead = f"unix://{tmp_path}/no-docker.sock"
    r = mlci("image", "build", "-c", "mlci.yaml", cwd=project["root"], env={"DOCKER_HOST": dead})
    assert r.returncode == 3, r.stderr
    assert f"connecting to {dead}" in r.stderr and "gave up after 2 attempts" in r.stderr


def test_missing_base_image_exits_2(project, mlci):
    cfg = write_config(project["root"], "nobase.yaml", image__base="mlci-test/absent:1")
    r = mlci("image", "build", "-c", cfg.name, "--run", project["run_id"], cwd=project["root"], timeout=600)
    assert r.returncode == 2, r.stderr
    assert "image.base 'mlci-test/absent:1': not available to the Docker daemon" in r.stderr


def test_a_base_image_with_another_python_is_refused_by_name(project, mlci, docker_client, tmp_path):
    # a base whose python3 reports 3.12: the wheelhouse (host Python) would not install there
    (tmp_path / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN printf '#!/bin/sh\\nexec /usr/bin/python3 -c \"import sys; "
        "sys.version_info = (3, 12); exec(sys.argv[1])\" \"$2\"\\n' > /usr/local/bin/python3 "
        "&& chmod +x /usr/local/bin/python3\n")
    image, _ = docker_client.images.build(path=str(tmp_path), tag="mlci-test/otherpython:1", rm=True)
    try:
        cfg = write_config(project["root"], "otherpython.yaml", image__base="mlci-test/otherpython:1")
        r = mlci("image", "build", "-c", cfg.name, "--run", project["run_id"], cwd=project["root"], timeout=600)
        assert r.returncode == 2, r.stderr
        host = "%d.%d" % sys.version_info[:2]
        assert f"the base image mlci-test/otherpython:1 has Python 3.12 but the wheelhouse was built for {host}" \
            in r.stderr
    finally:
        docker_client.images.remove("mlci-test/otherpython:1", force=True)


def test_registry_unreachable_exits_3(project, mlci):
    cfg = write_config(project["root"], "noregistry.yaml", image__repository="127.0.0.1:9/mlci-test/bc")
    r = mlci("image", "push", "-c", cfg.name, "--run", project["run_id"], "--force", cwd=project["root"],
             timeout=600)
    assert r.returncode == 3, r.stderr
    assert "pushing 127.0.0.1:9/mlci-test/bc:v1" in r.stderr and "gave up after 2 attempts" in r.stderr




@pytest.fixture
def auth_registry(tmp_path):
    for program in ("docker-registry", "htpasswd"):
        if not shutil.which(program):
            missing_part(program, "tests/setup.d/25-registry.sh installs it")
    port = free_port()
    subprocess.run(["htpasswd", "-Bbc", str(tmp_path / "htpasswd"), "ci-bot", "s3cret-pw"], check=True,
                   capture_output=True)
    (tmp_path / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "mlci-test", "path": str(tmp_path / "htpasswd")}}}))
    proc = subprocess.Popen(["docker-registry", "serve", str(tmp_path / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            except urllib.error.HTTPError:  # 401: up and asking for credentials
                break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_registry_login_uses_env_credentials_and_never_echoes_them(project, mlci, auth_registry, docker_client):
    from mlci.image.push import _login

    _login(docker_client, {"username": "ci-bot", "password": "s3cret-pw"}, auth_registry)  # accepted
    cfg = write_config(project["root"], "auth.yaml", image__repository=f"{auth_registry}/ml/bc")
    env = {"MLCI_REGISTRY_USER": "ci-bot", "MLCI_REGISTRY_PASSWORD": "wrong-pw-123"}
    r = mlci("image", "push", "-c", cfg.name, "--run", project["run_id"], "--force", cwd=project["root"], env=env)
    assert r.returncode == 2, r.stderr
    assert f"login to {auth_registry} as ci-bot failed" in r.stderr
    assert "wrong-pw-123" not in r.stderr + r.stdout
    r = mlci("image", "push", "-c", cfg.name, "--run", project["run_id"], "--force", cwd=project["root"],
             env={"MLCI_REGISTRY_USER": "ci-bot"})
    assert r.returncode == 2 and "set both MLCI_REGISTRY_USER and MLCI_REGISTRY_PASSWORD" in r.stderr


@pytest.mark.parametrize("message, retry", [
    ("login attempt to http://127.0.0.1:50309/v2/ failed with status: 401 Unauthorized", False),  # port, not a 503
    ("push to 10.0.0.5:5030/ml/bc denied: requested access to the resource is denied", False),
    ("received unexpected HTTP status: 503 Service Unavailable", True),
    ("502 Bad Gateway", True),
    ("unexpected EOF", True),
    ('Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused', True),
])
def test_only_network_and_gateway_errors_are_retried(message, retry):
    from mlci.image.docker import transient

    assert transient(message) is retry
