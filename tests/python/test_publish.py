"""Publishing: blobs first, the manifest last, the registry version after; a crash shows nothing."""

import json

import pytest

from mlci import config
from mlci.errors import NotFoundError
from mlci.evaluate import evaluate
from mlci.publish import publish
from mlci.registry import Registry
from mlci.runs import Project
from mlci.store.local import LocalStore
from projects import classification_project


@pytest.fixture
def trained(tmp_path):
    from mlci.train import train

    project = Project(config.load(classification_project(tmp_path)))
    out = train(project)
    run = project.run(out["run_id"])
    evaluate(project, run)
    return project, run


def test_a_crash_before_the_manifest_leaves_no_visible_run(trained, monkeypatch):
    project, run = trained
    calls = {"n": 0}
    real_put_file = LocalStore.put_file

    def flaky(self, key, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        return real_put_file(self, key, path)

    monkeypatch.setattr(LocalStore, "put_file", flaky)
    with pytest.raises(OSError):
        publish(project, run)
    store = project.open_store()
    with pytest.raises(NotFoundError):
        store.get_manifest(run.run_id)
    assert Registry(store, "bc").version_numbers() == []
    assert store.list("blobs/")  # the blobs that did arrive stay, unreferenced

    monkeypatch.setattr(LocalStore, "put_file", real_put_file)
    out = publish(project, run)
    assert out["status"] == "registered" and out["version"] == 1
    assert out["uploaded"] == out["files"] - 2  # the two blobs from the first try are reused
    manifest = store.get_manifest(run.run_id)
    assert "model/model.skops" in manifest["files"]


def test_published_files_verify_and_carry_lineage(trained, tmp_path):
    project, run = trained
    publish(project, run)
    store = project.open_store()
    rec = Registry(store, "bc").resolve("latest")
    assert rec["lineage"]["data"]["train"]["sha256"] == project.data_hashes["train"]
    assert rec["lineage"]["config"]["model"]["params"]["n_estimators"] == 20
    assert rec["metrics"]["roc_auc"] > 0.9
    store.download_run(run.run_id, tmp_path / "dl")
    assert (tmp_path / "dl" / "model" / "model.skops").read_bytes() == (run.path / "model" / "model.skops").read_bytes()
    # tamper with a blob: the download refuses it
    sha = store.get_manifest(run.run_id)["files"]["metrics.json"]["sha256"]
    blob = store.root / "blobs" / "sha256" / sha[:2] / sha[2:]
    blob.write_text(json.dumps({"accuracy": 1.0}))
    from mlci.errors import IntegrityError

    with pytest.raises(IntegrityError, match="is corrupt"):
        store.download_run(run.run_id, tmp_path / "dl2", only=["metrics.json"])
    assert not (tmp_path / "dl2" / "metrics.json").exists()


def test_tampered_model_file_is_refused_before_loading(trained):
    from mlci import model as model_io
    from mlci.errors import IntegrityError

    _, run = trained
    model_file = run.path / "model" / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        model_io.load(run.path / "model")


def test_keep_data_stores_the_training_data(tmp_path):
    from mlci.train import train

    project = Project(config.load(classification_project(tmp_path, store={"uri": "st", "keep_data": True})))
    run = project.run(train(project)["run_id"])
    evaluate(project, run)
    publish(project, run)
    files = project.open_store().get_manifest(run.run_id)["files"]
    assert files["data/train.csv"]["sha256"] == project.data_hashes["train"]


def test_reproduce_a_version_from_its_lineage(tmp_path, mlci):
    classification_project(tmp_path, store={"uri": "st", "keep_data": True})
    assert mlci("run", cwd=tmp_path).returncode == 0
    # the data on disk changes afterwards: the stored copy is used
    (tmp_path / "data" / "train.csv").write_text("patient_id,diagnosis\n1,0\n")
    r = mlci("reproduce", "bc@1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["identical"] is True and out["rows"] == out["matching_rows"] > 100
    assert out["model_file_identical"] is True  # the same fit saves the same bytes
    r = mlci("reproduce", "bc@1", cwd=tmp_path)
    assert "the model file is byte-identical" in r.stderr + r.stdout


def test_reproduce_without_stored_data_names_the_missing_file(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("run", cwd=tmp_path).returncode == 0
    (tmp_path / "data" / "train.csv").write_text("patient_id,diagnosis\n1,0\n")
    r = mlci("reproduce", "bc@1", cwd=tmp_path)
    assert r.returncode == 2
    assert "train data" in r.stderr and "store.keep_data: true" in r.stderr


def test_progress_counts_bytes_up_to_the_run_size(trained):
    project, run = trained
    totals, sent = [], []

    def on_bytes(n, total=None):
        (totals if total is not None else sent).append(total if total is not None else n)

    publish(project, run, on_bytes=on_bytes)
    manifest = project.open_store().get_manifest(run.run_id)
    size = sum(e["size"] for e in manifest["files"].values())
    assert totals == [size] and size > 100_000  # the forest's model file alone is bigger
    assert sum(sent) == size


def test_publish_remembers_the_run_files_hashes_in_the_workspace_cache(trained):
    import os
    import time

    from mlci.publish import run_files

    project, run = trained
    then = time.time() - 60  # written a minute before the publish
    for path in run_files(run).values():
        os.utime(path, (then, then))
    publish(project, run)
    cached = json.loads((project.workspace / "cache" / "hashes.json").read_text())
    manifest = project.open_store().get_manifest(run.run_id)
    for rel, path in run_files(run).items():
        assert cached[str(path.resolve())][2] == manifest["files"][rel]["sha256"]  # the next publish reads none
