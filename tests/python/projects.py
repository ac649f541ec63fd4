"""Small example projects written into a temp dir (real files, scikit-learn's bundled data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def breast_cancer_frame(rows: int | None = None):  # noqa: ANN201
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "diagnosis"})
    frame.insert(0, "patient_id", range(len(frame)))
    return frame.head(rows) if rows else frame


def diabetes_frame():  # noqa: ANN201
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "female", 2.0: "male"})
    return frame


def write_config(root: Path, config: dict[str, Any], name: str = "mlci.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def classification_project(root: Path, **overrides: Any) -> Path:
    """A breast-cancer project with a fast model; returns the mlci.yaml path."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    breast_cancer_frame().to_csv(root / "data" / "train.csv", index=False)
    config: dict[str, Any] = {
        "name": "bc",
        "task": "classification",
        "data": {"train": "data/train.csv", "target": "diagnosis", "features": {"exclude": ["patient_id"]}},
        "split": {"test_size": 0.25, "seed": 7},
        "model": {"estimator": "sklearn.ensemble.RandomForestClassifier",
                  "params": {"n_estimators": 20, "max_depth": 4}},
        "evaluate": {"metrics": ["accuracy", "f1", "roc_auc"],
                     "gates": [{"metric": "roc_auc", "threshold": 0.9}, {"metric": "f1", "max_regression": 0.05}]},
    }
    config.update(overrides)
    return write_config(root, config)


def regression_project(root: Path, **overrides: Any) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    diabetes_frame().to_parquet(root / "data" / "train.parquet", index=False)
    config: dict[str, Any] = {
        "name": "diab",
        "task": "regression",
        "data": {"train": "data/train.parquet", "target": "target"},
        "model": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}},
        "evaluate": {"gates": [{"metric": "r2", "threshold": 0.2}]},
    }
    config.update(overrides)
    return write_config(root, config)
