"""mlci.preload: what later stages import is imported on a second thread while the model fits."""

from __future__ import annotations

import threading

from mlci import preload
from projects import classification_project


def test_registered_steps_run_on_a_second_thread_during_the_block_and_only_once():
    ran: list[str] = []
    inside = threading.Event()
    preload.later(lambda: ran.append(f"later on {threading.current_thread().name}, block running: {inside.is_set()}"))
    with preload.while_waiting(lambda: inside.wait(10)):
        inside.set()
    assert ran == ["later on mlci-preload, block running: True"]
    with preload.while_waiting():
        pass
    assert len(ran) == 1


def test_a_failing_step_changes_nothing_for_the_block_or_the_steps_after_it():
    ran: list[str] = []
    with preload.while_waiting(lambda: 1 / 0, lambda: ran.append("next")):
        result = "block ran"
    assert result == "block ran" and ran == ["next"]


def test_mlci_run_imports_the_report_while_the_model_fits(tmp_path, monkeypatch):
    """The report's imports (matplotlib, about 0.3 s) start on the preload thread once the
    fit has started, and are done before the model is saved."""
    import sklearn.pipeline

    from mlci import config, pipeline
    from mlci.runs import Project
    from mlci.train import train

    started = threading.Event()
    seen: list[str] = []
    real_fit = sklearn.pipeline.Pipeline.fit

    def fit(self, *args, **kwargs):
        seen.append(f"report imports started during the fit: {started.wait(10)}")
        return real_fit(self, *args, **kwargs)

    def prepare():
        started.set()
        seen.append(f"report imported on {threading.current_thread().name}")

    monkeypatch.setattr(preload, "_later", [])
    monkeypatch.setattr(sklearn.pipeline.Pipeline, "fit", fit)
    monkeypatch.setattr("mlci.report.prepare", prepare)
    preload.later(pipeline.prepare_report)  # as `mlci run` does unless --no-report
    out = train(Project(config.load(classification_project(tmp_path))))
    assert out["status"] == "trained"
    assert sorted(seen) == ["report imported on mlci-preload", "report imports started during the fit: True"]
