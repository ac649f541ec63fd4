"""Write the example datasets from scikit-learn's bundled sets (nothing is downloaded).

  python examples/make_data.py breast-cancer   -> examples/breast-cancer/data/{train,test}.csv
  python examples/make_data.py diabetes        -> examples/diabetes/data/train.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def breast_cancer(out: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "diagnosis"})
    frame.insert(0, "patient_id", range(100000, 100000 + len(frame)))
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame["diagnosis"])
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)


def diabetes(out: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "female", 2.0: "male"})  # a categorical column
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / "train.parquet", index=False)


if __name__ == "__main__":
    makers = {"breast-cancer": breast_cancer, "diabetes": diabetes}
    for name in sys.argv[1:] or makers:
        target = HERE / name / "data"
        if not (target.exists() and any(target.iterdir())):
            makers[name](target)
        print(f"{name}: data in {target}", file=sys.stderr)
