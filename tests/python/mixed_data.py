"""A generated project whose columns cover every role of the column-type contract (mlci.columns),
with missing values, dates as text with and without time zones, numbers with `?` placeholders,
an identifier column and an integer column listed in data.features.categorical."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from projects import write_config

COLORS = ["red", "green", "blue"]


def mixed_frame(n: int = 400, seed: int = 0, task: str = "classification") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    num = rng.normal(size=n)
    num[rng.random(n) < 0.1] = np.nan
    color = rng.choice(COLORS, size=n).astype(object)
    color[rng.random(n) < 0.15] = None
    flag = rng.random(n) < 0.5
    flag_col = np.where(rng.random(n) < 0.1, None, flag).astype(object)
    days = pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 700, n), unit="D") \
        + pd.to_timedelta(rng.integers(0, 24 * 60, n), unit="min")
    day: list[Any] = []
    for i, t in enumerate(days):
        if rng.random() < 0.1:
            day.append(None)
        elif i % 3 == 0:
            day.append(t.strftime("%Y-%m-%d"))
        elif i % 3 == 1:
            day.append(t.tz_convert("Europe/Berlin").isoformat())  # with an offset
        else:
            day.append(t.strftime("%Y-%m-%dT%H:%M:%S"))  # naive: read as UTC
    hp = np.round(rng.uniform(50, 200, n), 1).astype(object)
    hp[rng.random(n) < 0.06] = "?"
    code = rng.integers(1, 4, n)
    seconds = (days - pd.Timestamp("2021-01-01", tz="UTC")).total_seconds().to_numpy()
    score = (np.nan_to_num(num) + (color == "red") * 1.0 - (code == 2) * 0.8 + flag * 0.5
             + (seconds > 3e7) * 1.2 + rng.normal(scale=0.3, size=n))
    frame = pd.DataFrame({"row_id": [f"r-{i:05d}" for i in range(n)], "num": num, "color": color,
                          "flag": flag_col, "day": day, "hp": hp, "code": code})
    frame["label"] = np.where(score > 0.7, "yes", "no") if task == "classification" else score * 10
    return frame


def mixed_project(root: Path, task: str = "classification", n: int = 400, **data: Any) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    mixed_frame(n, task=task).to_csv(root / "data" / "train.csv", index=False)
    est = ("sklearn.ensemble.RandomForestClassifier" if task == "classification"
           else "sklearn.ensemble.RandomForestRegressor")
    return write_config(root, {
        "name": "mixed", "task": task,
        "data": {"train": "data/train.csv", "target": "label",
                 "features": {"categorical": ["code"]}, **data},
        "split": {"test_size": 0.25, "seed": 3},
        "model": {"estimator": est, "params": {"n_estimators": 30, "max_depth": 6}},
        "evaluate": {"metrics": ["accuracy"] if task == "classification" else ["rmse"]},
    })


def json_value(v: Any) -> Any:
    """A DataFrame cell as a JSON client sends it: missing values as null."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
