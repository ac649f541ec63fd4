"""The cost of one 1-row request, without wrk or MLflow: the same model as bench/serve/run.sh
(bench/serve/model.py), timed two ways.

    PYTHONPATH=python python3 bench/serve/onerow.py [N]      (default N = 20000)

  in-process  App.handle for the 1-row dataframe_split body (wire parsing, the column
              contract, prediction, the JSON answer): no sockets, so the request path's own cost
  http        sequential keep-alive POSTs to `mlci serve --workers 1` from one client
              (adds the HTTP layer; a client in the same process pair, so noisier)

Prints the median and p99 in microseconds. Run it on two checkouts to compare a change.
"""

import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
HERE = Path(__file__).resolve().parent
work = Path(tempfile.mkdtemp(prefix="mlci-onerow-"))
model = Path(subprocess.run([sys.executable, str(HERE / "model.py"), str(work)], check=True,
                            capture_output=True, text=True).stdout.strip())
body = (work / "body.json").read_bytes()


def summary(name: str, times: list[float]) -> None:
    times.sort()
    print(f"{name}: median {statistics.median(times) * 1e6:.1f} us, p99 {times[int(len(times) * 0.99)] * 1e6:.1f} us "
          f"({len(times)} requests)")


from mlci.serve import build_app  # noqa: E402

app = build_app(model)
assert app.handle("POST", "/invocations", "application/json", body)[0] == 200
times = []
for _ in range(N):
    t0 = time.perf_counter()
    app.handle("POST", "/invocations", "application/json", body)
    times.append(time.perf_counter() - t0)
summary(f"in-process (engine {app.predictor.engine})", times)

proc = subprocess.Popen([sys.executable, "-m", "mlci", "serve", "--model", str(model), "--port", "0",
                         "--workers", "1"], stderr=subprocess.PIPE, text=True)
try:
    port = None
    while port is None:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("mlci serve did not start")
        m = re.search(r"on http://[^:]+:(\d+)", line)
        port = int(m.group(1)) if m else None
    time.sleep(0.5)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for i in range(N // 4 + 200):
        t0 = time.perf_counter()
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        out = resp.read()
        if i >= 200:  # warm-up
            times.append(time.perf_counter() - t0)
    assert resp.status == 200, out
    summary("http (1 worker, keep-alive)", times)
    print(json.dumps({"answer": json.loads(out)}))
finally:
    proc.terminate()
    proc.wait(30)
