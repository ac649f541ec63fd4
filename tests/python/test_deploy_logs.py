"""Prediction logs of a deployed server: a host directory the image's user can write, checked
before anything changes; and `mlci monitor drift` on a directory that holds nothing yet."""

from __future__ import annotations

import os

import pytest
import yaml

from mlci import config
from mlci.deploy import core
from mlci.deploy.docker import prediction_log_dir, run_options
from mlci.deploy.settings import LOG_MOUNT
from mlci.errors import UsageError
from mlci.image.build import UID


def load(tmp_path, logs: str | None):  # noqa: ANN201
    env = {"target": "docker", "canary": {}}
    if logs is not None:
        env["prediction_logs"] = logs
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "classification", "data": {"train": "t.csv", "target": "y"},
        "deploy": {"live": env}}))
    cfg = config.load(tmp_path / "mlci.yaml")
    return cfg, cfg.deploy["live"]


RELEASE = core.Release("m", 1, "r/m@sha256:" + "0" * 64, "r/m", "sha256:" + "0" * 64, {"version": 1})


def test_a_new_log_directory_is_made_for_the_images_user_and_mounted(tmp_path):
    cfg, env = load(tmp_path, "plogs")
    opts = run_options(cfg, "live", env, RELEASE, "model")
    path = tmp_path / "plogs"
    assert opts["volumes"] == {str(path): {"bind": LOG_MOUNT, "mode": "rw"}}
    assert opts["environment"]["MLCI_LOG_PREDICTIONS"] == LOG_MOUNT
    st = path.stat()
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (UID, UID)
    else:
        assert st.st_mode & 0o003 == 0o003


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory another user owns needs root")
def test_a_directory_the_image_cannot_write_is_refused_naming_the_fix(tmp_path):
    path = tmp_path / "plogs"
    path.mkdir(mode=0o755)
    os.chown(path, 0, 0)
    cfg, env = load(tmp_path, str(path))
    with pytest.raises(UsageError) as err:
        run_options(cfg, "live", env, RELEASE, "model")
    assert str(err.value) == (f"deploy.live.prediction_logs: {path} is owned by uid 0 (mode 0o755); the model "
                              f"image runs as uid {UID} and could not write a record there: `chown {UID} {path}`, "
                              "or name a directory mlci may create")
    os.chown(path, UID, 0)
    assert prediction_log_dir(cfg, "live", env) == path
    os.chown(path, 0, 0)
    path.chmod(0o777)
    assert prediction_log_dir(cfg, "live", env) == path


def test_without_prediction_logs_nothing_is_mounted(tmp_path):
    cfg, env = load(tmp_path, None)
    opts = run_options(cfg, "live", env, RELEASE, "model")
    assert "volumes" not in opts and "MLCI_LOG_PREDICTIONS" not in opts["environment"]


def test_monitor_drift_on_an_empty_log_directory_says_so(tmp_path, mlci):
    from projects import classification_project

    classification_project(tmp_path)
    assert mlci("run", "--promote", cwd=tmp_path).returncode == 0
    (tmp_path / "plogs").mkdir()
    r = mlci("monitor", "drift", "--model", "bc@production", "--current", tmp_path / "plogs", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"mlci monitor: error: --current {tmp_path / 'plogs'}: the directory is empty: "
                                "no prediction logs (*.jsonl) yet; is the server logging there (mlci serve "
                                "--log-predictions, MLCI_LOG_PREDICTIONS, deploy.<env>.prediction_logs)?")
