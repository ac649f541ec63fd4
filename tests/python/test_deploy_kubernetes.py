"""`mlci deploy` to Kubernetes: rendered manifests checked structurally, and the kubectl calls.

No cluster can run here, so kubectl is a fake script put first on PATH that records its argv
(and can be told to fail the rollout or to be unreachable). The registry is a local store
with versions whose `images` record a digest the way `mlci image push` records it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

DIGEST = "sha256:" + "ab" * 32
REPO = "registry.example:5000/ml/bc"

FAKE_KUBECTL = r'''#!/usr/bin/env python3
import json, os, sys
log = os.environ["FAKE_KUBECTL_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
mode = os.environ.get("FAKE_KUBECTL_MODE", "ok")
args = sys.argv[1:]
if mode == "unreachable":
    sys.stderr.write("The connection to the server 10.0.0.1:6443 was refused - "
                     "did you specify the right host or port?\n"
                     "Unable to connect to the server: dial tcp 10.0.0.1:6443: connect: connection refused\n")
    sys.exit(1)
if "apply" in args:
    d = args[args.index("-f") + 1]
    for name in sorted(os.listdir(d)):
        with open(os.path.join(log + ".applied"), "a") as f:
            f.write(open(os.path.join(d, name)).read() + "\n---\n")
    print("deployment.apps/x configured\nservice/x unchanged")
elif "rollout" in args and "status" in args:
    if mode == "rollout-fails":
        sys.stderr.write('error: deployment "x" exceeded its progress deadline\n')
        sys.exit(1)
    print('deployment "x" successfully rolled out')
elif "rollout" in args and "undo" in args:
    print("deployment.apps/x rolled back")
elif "get" in args:
    print(json.dumps({"metadata": {"labels": {"mlci.org/version": "2"},
                                   "annotations": {"mlci.org/image-digest": "%s"}},
                      "spec": {"replicas": 2}, "status": {"readyReplicas": 2}}))
''' % DIGEST


@pytest.fixture
def project(tmp_path):
    from mlci.registry import Registry
    from mlci.store import open_store
    from mlci.util import dumps

    config = {
        "name": "bc", "task": "classification", "data": {"train": "data/train.csv", "target": "y"},
        "image": {"repository": REPO, "port": 8080},
        "deploy": {
            "production": {"target": "kubernetes", "namespace": "ml", "context": "prod-cluster", "replicas": 3,
                           "gpus": 1, "cpus": 1.5, "memory": "2g", "port": 80, "rollout_timeout": 45,
                           "env": {"MLCI_WORKERS": "4"}, "image_pull_secret": "regcred"},
            "cpu": {"target": "kubernetes"},
        },
    }
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    registry = Registry(open_store(".mlci/store", tmp_path), "bc")
    for v in (1, 2):
        rec, _ = registry.register({"fingerprint": f"fp{v}", "run_id": f"r{v}", "blessed": True})
        rec["images"] = [{"repository": REPO, "digest": DIGEST.replace("ab", f"{v}b", 1) if v == 1 else DIGEST,
                          "tags": [f"v{v}"]}]
        registry.store.put_bytes(f"models/bc/versions/{v}.json", dumps(rec))
    registry.set_alias("production", 2, actor="lead", reason="test")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    kubectl = bindir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "kubectl.log"
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_KUBECTL_LOG": str(log)}
    return {"root": tmp_path, "cfg": tmp_path / "mlci.yaml", "env": env, "log": log, "registry": registry}


def calls(project) -> list[list[str]]:
    if not project["log"].exists():
        return []
    return [json.loads(line) for line in project["log"].read_text().splitlines()]


def test_render_only_writes_manifests_with_digest_probes_gpu_and_resources(project, mlci, tmp_path):
    out = tmp_path / "gitops"
    r = mlci("deploy", "-c", project["cfg"], "--env", "production", "--render-only", out, env=project["env"])
    assert r.returncode == 0, r.stderr
    assert calls(project) == []  # nothing applied
    dep = yaml.safe_load((out / "deployment.yaml").read_text())
    svc = yaml.safe_load((out / "service.yaml").read_text())
    assert dep["kind"] == "Deployment" and dep["metadata"]["name"] == "mlci-bc-production"
    assert dep["metadata"]["namespace"] == "ml" and dep["spec"]["replicas"] == 3
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["mlci.org/model"] == "bc" and labels["mlci.org/version"] == "2"  # the production alias
    assert labels["mlci.org/environment"] == "production"
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    [c] = pod["containers"]
    assert c["image"] == f"{REPO}@{DIGEST}"  # by digest, never a tag
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["resources"]["limits"] == {"cpu": "1500m", "memory": "2Gi", "nvidia.com/gpu": 1}
    assert c["resources"]["requests"] == {"cpu": "1500m", "memory": "2Gi"}
    assert c["env"] == [{"name": "MLCI_WORKERS", "value": "4"}]
    assert dep["metadata"]["annotations"]["mlci.org/image-digest"] == DIGEST
    assert svc["kind"] == "Service" and svc["spec"]["selector"] == {"app.kubernetes.io/name": "mlci-bc-production"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert "mlci.org/version" not in svc["metadata"]["labels"]  # the Service outlives versions


def test_without_gpus_or_limits_there_is_no_resources_block(project, mlci, tmp_path):
    r = mlci("deploy", "-c", project["cfg"], "--env", "cpu", "--model", "bc@1", "--render-only", tmp_path / "m",
             env=project["env"])
    assert r.returncode == 0, r.stderr
    dep = yaml.safe_load((tmp_path / "m" / "deployment.yaml").read_text())
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert "resources" not in c and "env" not in c
    assert c["image"].endswith("@" + DIGEST.replace("ab", "1b", 1))
    assert dep["metadata"]["namespace"] == "default"


def test_apply_then_rollout_status_and_a_deploy_event(project, mlci):
    r = mlci("deploy", "-c", project["cfg"], "--env", "production", env={**project["env"], "MLCI_ACTOR": "ci"})
    assert r.returncode == 0, r.stderr
    apply, status = calls(project)
    assert apply[:5] == ["--context", "prod-cluster", "--namespace", "ml", "apply"] and apply[5] == "-f"
    assert status == ["--context", "prod-cluster", "--namespace", "ml", "rollout", "status",
                      "deployment/mlci-bc-production", "--timeout=45s"]
    applied = (project["log"].parent / "kubectl.log.applied").read_text()
    assert f"{REPO}@{DIGEST}" in applied and "kind: Service" in applied
    [event] = [e for e in project["registry"].history() if e["event"] == "deploy"]
    assert event["environment"] == "production" and event["version"] == 2 and event["digest"] == DIGEST
    assert event["status"] == "succeeded" and event["target"] == "kubernetes" and event["actor"] == "ci"
    r = mlci("deploy", "status", "-c", project["cfg"], "--env", "production", "--json", env=project["env"])
    [row] = json.loads(r.stdout)["environments"]
    assert row["version"] == 2 and row["live"]["state"] == "healthy" and row["live"]["ready"] == "2/2"


def test_failed_rollout_is_undone_and_exits_1(project, mlci):
    r = mlci("deploy", "-c", project["cfg"], "--env", "production",
             env={**project["env"], "FAKE_KUBECTL_MODE": "rollout-fails"})
    assert r.returncode == 1
    assert "exceeded its progress deadline" in r.stderr and "kubectl rollout undo" in r.stderr
    assert calls(project)[-1][-3:] == ["rollout", "undo", "deployment/mlci-bc-production"]
    [event] = [e for e in project["registry"].history() if e["event"] == "deploy"]
    assert event["status"] == "failed" and "progress deadline" in event["reason"]


def test_unreachable_cluster_exits_3_and_missing_kubectl_exits_2(project, mlci, tmp_path):
    r = mlci("deploy", "-c", project["cfg"], "--env", "production",
             env={**project["env"], "FAKE_KUBECTL_MODE": "unreachable"})
    assert r.returncode == 3 and "Unable to connect to the server" in r.stderr
    assert len(calls(project)) == 2  # retried (MLCI_RETRIES=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    import sys

    r = mlci("deploy", "-c", project["cfg"], "--env", "production",
             env={"PATH": f"{empty}{os.pathsep}{Path(sys.executable).parent}"})
    assert r.returncode == 2 and "kubectl not found on PATH" in r.stderr and "--render-only" in r.stderr


def test_render_only_is_for_kubernetes_and_config_errors_name_the_field(project, mlci, tmp_path):
    doc = yaml.safe_load(project["cfg"].read_text())
    doc["deploy"]["staging"] = {"target": "docker"}
    docker_cfg = tmp_path / "docker.yaml"
    docker_cfg.write_text(yaml.safe_dump(doc))
    r = mlci("deploy", "-c", docker_cfg, "--env", "staging", "--render-only", tmp_path / "x")
    assert r.returncode == 2 and "--render-only is for kubernetes environments" in r.stderr
    doc["deploy"]["staging"] = {"target": "docker", "memory": "lots"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = mlci("deploy", "-c", bad, "--env", "production")
    assert r.returncode == 2 and "deploy.staging.memory" in r.stderr and "512m" in r.stderr
    doc["deploy"]["staging"] = {"target": "nomad"}
    bad.write_text(yaml.safe_dump(doc))
    r = mlci("deploy", "-c", bad, "--env", "production")
    assert r.returncode == 2 and "deploy.staging.target" in r.stderr
    del doc["deploy"]["staging"]
    doc["deploy"]["production"]["gpus"] = "all"
    bad.write_text(yaml.safe_dump(doc))
    r = mlci("deploy", "-c", bad, "--env", "production")
    assert r.returncode == 2 and "`all` works only for docker" in r.stderr
