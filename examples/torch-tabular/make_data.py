"""Write this example's data from scikit-learn's bundled breast cancer set (nothing is downloaded).

  python examples/torch-tabular/make_data.py   -> examples/torch-tabular/data/{train,test}.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(out: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "benign"})
    train, test = train_test_split(frame, test_size=0.25, random_state=11, stratify=frame["benign"])
    out.mkdir(parents=True, exist_ok=True)
    train.to_parquet(out / "train.parquet", index=False)
    test.to_parquet(out / "test.parquet", index=False)


if __name__ == "__main__":
    target = HERE / "data"
    if not (target / "train.parquet").is_file():
        main(target)
    print(f"torch-tabular: data in {target}", file=sys.stderr)
