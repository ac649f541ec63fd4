"""The model both serving benchmarks (bench/serve, bench/monitor) load: a breast-cancer project
trained by `mlci train`, plus the request body (one row, dataframe_split) as body.json and as
wrk's post.lua.

    python3 bench/serve/model.py WORK     # prints the trained model directory

Model: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42) behind the
pipeline mlci builds (median imputer + forest).
"""

import json
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer

work = Path(sys.argv[1])
root = work / "project"
(root / "data").mkdir(parents=True, exist_ok=True)
frame = load_breast_cancer(as_frame=True).frame
frame.columns = [c.replace(" ", "_") for c in frame.columns]
frame.to_csv(root / "data" / "train.csv", index=False)
(root / "mlci.yaml").write_text("""name: breast-cancer
task: classification
data: {train: data/train.csv, target: target}
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params: {n_estimators: 100, max_depth: 8, random_state: 42}
""")
X = frame.drop(columns=["target"])
body = json.dumps({"dataframe_split": {"columns": list(X.columns), "data": X.iloc[:1].values.tolist()}})
(work / "body.json").write_text(body)
(work / "post.lua").write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                               f"wrk.body = {json.dumps(body)}\n")
subprocess.run([sys.executable, "-m", "mlci", "train", "-q"], cwd=root, check=True)
print(next((root / ".mlci" / "runs").glob("*/model")))
